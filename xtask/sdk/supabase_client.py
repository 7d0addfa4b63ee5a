"""Supabase's official Python storage client (storage3) against our Supabase Storage fake.

Run by `cargo xtask sdk supabase`. Drives the operations the cloudmirror adapter relies on:
the bucket lookup, an upload with upsert twice to the same name, listings (the legacy folder
listing with a prefix and the flat list-v2), the object info, a download, and a batch remove.
Exits non-zero, naming the operation and the reason, when the client fails or gets an answer
that disagrees with what it sent.
"""

import os
import sys

import storage3
from storage3.exceptions import StorageApiError

URL = os.environ["FAKE_SUPABASE_URL"].rstrip("/") + "/storage/v1/"
KEY = os.environ["FAKE_SUPABASE_SERVICE_ROLE_KEY"]
BUCKET = os.environ["FAKE_SUPABASE_BUCKET"]


def fail(operation, reason):
    print(f"supabase_client.py: {operation} failed: {reason}", file=sys.stderr)
    sys.exit(1)


def step(operation, call):
    try:
        return call()
    except StorageApiError as e:
        fail(operation, f"storage API error {e.status}: {e.message} ({e.code})")
    except Exception as e:  # noqa: BLE001 -- any client failure is the finding
        fail(operation, f"{type(e).__name__}: {e}")


def main():
    headers = {"apikey": KEY, "Authorization": f"Bearer {KEY}"}
    client = storage3.create_client(URL, headers, is_async=False)

    bucket = step("get_bucket", lambda: client.get_bucket(BUCKET))
    if bucket.id != BUCKET:
        fail("get_bucket", f"got bucket {bucket.id!r}, wanted {BUCKET!r}")

    files = client.from_(BUCKET)
    name = "sdk/daily/db-2026-12-04.sql.gz"
    first = b"first version\n" * 100
    second = b"second version, longer\n" * 200
    options = {"upsert": "true", "content-type": "application/octet-stream"}
    step("upload", lambda: files.upload(name, first, dict(options)))
    step("upload with upsert over the same name", lambda: files.upload(name, second, dict(options)))
    step("upload of a second object", lambda: files.upload("sdk/daily/other.txt", b"x", dict(options)))

    # Without upsert, the same name is a duplicate (409 in the body's statusCode).
    try:
        files.upload(name, first, {"content-type": "application/octet-stream"})
        fail("upload without upsert over an existing name", "the fake accepted it")
    except StorageApiError as e:
        if str(e.status) != "409":
            fail("upload without upsert over an existing name", f"status {e.status}, wanted 409")

    listed = step("list", lambda: files.list("sdk/daily", {"limit": 100, "offset": 0}))
    names = sorted(e["name"] for e in listed)
    if names != ["db-2026-12-04.sql.gz", "other.txt"]:
        fail("list", f"names {names}")
    entry = next(e for e in listed if e["name"] == "db-2026-12-04.sql.gz")
    if entry["metadata"]["size"] != len(second):
        fail("list", f"size {entry['metadata']['size']}, wanted {len(second)}")

    flat = step("list_v2", lambda: files.list_v2({"prefix": "sdk/", "limit": 1}))
    seen = [o.name for o in flat.objects]
    while flat.hasNext:
        cursor = flat.nextCursor
        flat = step("list_v2 next page", lambda: files.list_v2({"prefix": "sdk/", "limit": 1, "cursor": cursor}))
        seen += [o.name for o in flat.objects]
    if seen != ["sdk/daily/db-2026-12-04.sql.gz", "sdk/daily/other.txt"]:
        fail("list_v2", f"names {seen}")

    info = step("info", lambda: files.info(name))
    if info.get("size") != len(second):
        fail("info", f"size {info.get('size')}, wanted {len(second)}")

    body = step("download", lambda: files.download(name))
    if body != second:
        fail("download", f"got {len(body)} bytes that differ from the second upload")

    removed = step("remove", lambda: files.remove([name, "sdk/daily/other.txt", "sdk/never-there"]))
    removed_names = sorted(r["name"] for r in removed)
    if removed_names != [name, "sdk/daily/other.txt"]:
        fail("remove", f"answered {removed_names}")
    left = step("list after remove", lambda: files.list("sdk/daily"))
    if left:
        fail("list after remove", f"still listed {[e['name'] for e in left]}")
    print("supabase_client.py: storage3 worked against the fake")


if __name__ == "__main__":
    main()
