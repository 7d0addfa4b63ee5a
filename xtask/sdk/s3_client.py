"""AWS's official Python SDK (boto3) against our S3 fake.

Run by `cargo xtask sdk s3`. Drives the operations the cloudmirror adapter relies on: a multipart
upload with SHA-256 checksums (create, two parts, complete), a PutObject with a SHA-256
checksum, ListObjectsV2 with paging, GetObject (whole and ranged), HeadObject, DeleteObject and
DeleteObjects. Exits non-zero, naming the operation and the reason, when the client fails or
gets an answer that disagrees with what it sent. Nothing reaches the internet: endpoint_url is
the fake's, path-style addressing.
"""

import base64
import hashlib
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["FAKE_S3_URL"]
BUCKET = os.environ["FAKE_S3_BUCKET"]
PART = 5 * 1024 * 1024


def fail(operation, reason):
    print(f"s3_client.py: {operation} failed: {reason}", file=sys.stderr)
    sys.exit(1)


def step(operation, call):
    try:
        return call()
    except ClientError as e:
        fail(operation, f"{e.response.get('Error')} (HTTP {e.response['ResponseMetadata'].get('HTTPStatusCode')})")
    except Exception as e:  # noqa: BLE001 -- any client failure is the finding
        fail(operation, f"{type(e).__name__}: {e}")


def b64_sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def main():
    s3 = boto3.client(
        "s3",
        endpoint_url=URL,
        region_name=os.environ["FAKE_S3_REGION"],
        aws_access_key_id=os.environ["FAKE_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["FAKE_S3_SECRET_ACCESS_KEY"],
        config=Config(
            s3={"addressing_style": "path"},
            # The adapter computes its own checksums; the fake does not take aws-chunked bodies.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 1},
        ),
    )
    key = "sdk/daily/backup.bin"
    parts_data = [bytes([i]) * PART for i in (1, 2)] + [b"tail" * 1000]
    up = step(
        "create_multipart_upload",
        lambda: s3.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="SHA256"),
    )
    done = []
    for n, data in enumerate(parts_data, start=1):
        r = step(
            f"upload_part {n}",
            lambda n=n, data=data: s3.upload_part(
                Bucket=BUCKET, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=data,
                ChecksumAlgorithm="SHA256", ChecksumSHA256=b64_sha256(data),
            ),
        )
        if r.get("ChecksumSHA256") != b64_sha256(data):
            fail(f"upload_part {n}", f"ChecksumSHA256 {r.get('ChecksumSHA256')!r} is not the part's")
        done.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    c = step(
        "complete_multipart_upload",
        lambda: s3.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": done}
        ),
    )
    if not c.get("ETag", "").endswith('-3"'):
        fail("complete_multipart_upload", f"ETag {c.get('ETag')!r}, wanted a 3-part ETag")
    whole = b"".join(parts_data)

    small = b"manifest\n" * 10
    step(
        "put_object",
        lambda: s3.put_object(
            Bucket=BUCKET, Key="sdk/daily/manifest.json", Body=small,
            ChecksumAlgorithm="SHA256", ChecksumSHA256=b64_sha256(small),
        ),
    )
    step("put_object", lambda: s3.put_object(Bucket=BUCKET, Key="sdk/other.txt", Body=b"x"))

    keys = []
    pages = 0
    token = None
    while True:
        args = {"Bucket": BUCKET, "Prefix": "sdk/daily/", "MaxKeys": 1}
        if token:
            args["ContinuationToken"] = token
        page = step("list_objects_v2", lambda args=args: s3.list_objects_v2(**args))
        pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    if keys != [key, "sdk/daily/manifest.json"] or pages < 2:
        fail("list_objects_v2", f"got {keys} in {pages} page(s)")

    got = step("get_object", lambda: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    if got != whole:
        fail("get_object", f"{len(got)} bytes that differ from the upload")
    ranged = step("get_object (Range)", lambda: s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=5-104"))
    if ranged["Body"].read() != whole[5:105] or ranged.get("ContentRange") != f"bytes 5-104/{len(whole)}":
        fail("get_object (Range)", f"ContentRange {ranged.get('ContentRange')!r}")
    head = step("head_object", lambda: s3.head_object(Bucket=BUCKET, Key="sdk/daily/manifest.json"))
    if head["ContentLength"] != len(small):
        fail("head_object", f"ContentLength {head['ContentLength']}")

    step("delete_object", lambda: s3.delete_object(Bucket=BUCKET, Key="sdk/other.txt"))
    r = step(
        "delete_objects",
        lambda: s3.delete_objects(
            Bucket=BUCKET, Delete={"Objects": [{"Key": key}, {"Key": "sdk/daily/manifest.json"}]}
        ),
    )
    if r.get("Errors") or len(r.get("Deleted", [])) != 2:
        fail("delete_objects", f"{r}")
    left = step("list_objects_v2", lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="sdk/"))
    if left.get("KeyCount") != 0:
        fail("list_objects_v2 after delete", f"{left.get('Contents')}")
    print("s3_client.py: every operation worked")


if __name__ == "__main__":
    main()
