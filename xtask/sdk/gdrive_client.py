"""Google's official Drive client (google-api-python-client + google-auth) against our Drive fake.

Run by `cargo xtask sdk gdrive`. Drives the operations the cloudmirror adapter relies on, as a
service account whose backup folder lives in a shared drive: the JWT bearer token grant, a
resumable upload in 256 KiB chunks, a multipart upload, a media update of an existing file, a
paged listing of the shared drive's folder, a download (whole, then in ranged chunks), metadata
with md5Checksum, and a delete. Exits non-zero, naming the operation and the reason, when the
client fails or gets an answer that disagrees with what it sent.

Nothing reaches the internet: the key's token_uri is the fake's token endpoint, and the bundled
(static) Drive v3 discovery document is used with its rootUrl pointed at the fake.
"""

import hashlib
import io
import json
import os
import pathlib
import sys

import googleapiclient
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseDownload, MediaIoBaseUpload

URL = os.environ["FAKE_GDRIVE_URL"].rstrip("/") + "/"
KEY_FILE = os.environ["FAKE_GDRIVE_SERVICE_ACCOUNT_JSON"]
FOLDER = os.environ["FAKE_GDRIVE_FOLDER_ID"]
DRIVE = os.environ["FAKE_GDRIVE_SHARED_DRIVE_ID"]
SCOPE = "https://www.googleapis.com/auth/drive"
CHUNK = 256 * 1024
FIELDS = "id,name,size,md5Checksum,modifiedTime,driveId"


def fail(operation, reason):
    print(f"gdrive_client.py: {operation} failed: {reason}", file=sys.stderr)
    sys.exit(1)


def step(operation, call):
    try:
        return call()
    except HttpError as e:
        fail(operation, f"HTTP {e.resp.status}: {e.content[:300]!r}")
    except Exception as e:  # noqa: BLE001 -- any client failure is the finding
        fail(operation, f"{type(e).__name__}: {e}")


def drive_service():
    doc_path = pathlib.Path(googleapiclient.__file__).parent / "discovery_cache/documents/drive.v3.json"
    doc = json.loads(doc_path.read_text())
    doc["rootUrl"] = URL
    doc["mtlsRootUrl"] = URL
    creds = service_account.Credentials.from_service_account_file(KEY_FILE, scopes=[SCOPE])
    if not creds._token_uri.startswith(URL):  # noqa: SLF001 -- make sure we never reach Google
        fail("credentials", f"token_uri {creds._token_uri} is not the fake's")
    return build_from_document(doc, credentials=creds)


def upload(drive, name, data, resumable):
    media = MediaIoBaseUpload(
        io.BytesIO(data), mimetype="application/octet-stream", chunksize=CHUNK, resumable=resumable
    )
    request = drive.files().create(
        body={"name": name, "parents": [FOLDER]},
        media_body=media,
        fields=FIELDS,
        supportsAllDrives=True,
    )
    if not resumable:
        return request.execute()
    response = None
    chunks = 0
    while response is None:
        _, response = request.next_chunk()
        chunks += 1
    if chunks < 2:
        fail(f"resumable upload of {name}", f"{chunks} request(s), wanted several chunks")
    return response


def check_file(operation, f, data):
    if int(f.get("size", -1)) != len(data):
        fail(operation, f"size {f.get('size')!r}, wanted {len(data)}")
    if f.get("md5Checksum") != hashlib.md5(data).hexdigest():  # noqa: S324 -- Drive's checksum
        fail(operation, f"md5Checksum {f.get('md5Checksum')!r} is not the content's")
    if f.get("driveId") != DRIVE:
        fail(operation, f"driveId {f.get('driveId')!r}, wanted {DRIVE!r}")


def main():
    drive = drive_service()
    big = bytes((i * 7 + 3) % 251 for i in range(3 * CHUNK + 1000))
    small = b"manifest\n" * 50

    f = step("resumable upload", lambda: upload(drive, "sdk-backup.bin", big, True))
    check_file("resumable upload", f, big)
    g = step("multipart upload", lambda: upload(drive, "sdk-manifest.json", small, False))
    check_file("multipart upload", g, small)

    newer = small + b"v2\n"
    media = MediaIoBaseUpload(io.BytesIO(newer), mimetype="application/octet-stream", resumable=False)
    u = step(
        "media update",
        lambda: drive.files()
        .update(fileId=g["id"], media_body=media, fields=FIELDS, supportsAllDrives=True)
        .execute(),
    )
    check_file("media update", u, newer)

    names = []
    request = drive.files().list(
        q=f"'{FOLDER}' in parents and trashed = false",
        corpora="drive",
        driveId=DRIVE,
        includeItemsFromAllDrives=True,
        supportsAllDrives=True,
        pageSize=1,
        orderBy="name",
        fields=f"nextPageToken,files({FIELDS})",
    )
    pages = 0
    while request is not None:
        page = step("files.list", request.execute)
        pages += 1
        names += [x["name"] for x in page.get("files", [])]
        request = drive.files().list_next(request, page)
    if names != ["sdk-backup.bin", "sdk-manifest.json"] or pages < 2:
        fail("files.list", f"got {names} in {pages} page(s)")

    whole = step(
        "files.get (media)",
        lambda: drive.files().get_media(fileId=f["id"], supportsAllDrives=True).execute(),
    )
    if whole != big:
        fail("files.get (media)", f"{len(whole)} bytes that differ from the upload")

    # MediaIoBaseDownload asks for ranges (Range: bytes=a-b) and reads Content-Range.
    out = io.BytesIO()
    downloader = MediaIoBaseDownload(
        out, drive.files().get_media(fileId=f["id"], supportsAllDrives=True), chunksize=CHUNK
    )
    done = False
    parts = 0
    while not done:
        _, done = step("ranged download", downloader.next_chunk)
        parts += 1
    if out.getvalue() != big or parts < 2:
        fail("ranged download", f"{len(out.getvalue())} bytes in {parts} part(s)")

    meta = step(
        "files.get",
        lambda: drive.files().get(fileId=f["id"], fields=FIELDS, supportsAllDrives=True).execute(),
    )
    check_file("files.get", meta, big)

    for x in (f, g):
        step("files.delete", lambda x=x: drive.files().delete(fileId=x["id"], supportsAllDrives=True).execute())
    try:
        drive.files().get(fileId=f["id"], supportsAllDrives=True).execute()
        fail("files.get after delete", "the file is still there")
    except HttpError as e:
        if e.resp.status != 404:
            fail("files.get after delete", f"HTTP {e.resp.status}, wanted 404")
    print("gdrive_client.py: every operation worked")


if __name__ == "__main__":
    main()
