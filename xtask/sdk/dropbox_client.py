"""Dropbox's official Python SDK (`dropbox` on PyPI) against cloudmirror's Dropbox fake.

Run by `cargo xtask sdk dropbox`, which starts the fake and sets FAKE_DROPBOX_*. The SDK is used
as any app would use it: refresh-token auth, upload sessions with a content hash per call,
`files/upload`, list_folder with pagination, download, get_metadata and delete_v2, plus the
route errors our adapter relies on (`content_hash_mismatch`, `incorrect_offset`, `path` at
finish, `not_found`), which the SDK's generated deserializers must decode into the right union
members. Exits non-zero naming the operation that failed.

The SDK only speaks https to api.dropboxapi.com / content.dropboxapi.com. It takes a
`requests.Session` (its documented `session=` parameter); the one given here has a transport
adapter mounted for https:// that sends each request to the fake over http instead. Nothing of
the SDK's request serialisation or response parsing is touched.
"""

import hashlib
import os
import sys
import traceback
import urllib.parse

import dropbox
import requests
from dropbox import files
from dropbox.exceptions import ApiError

FAKE_URL = os.environ["FAKE_DROPBOX_URL"].rstrip("/")
TOKEN_URL = os.environ["FAKE_DROPBOX_TOKEN_URL"]
APP_KEY = os.environ["FAKE_DROPBOX_APP_KEY"]
APP_SECRET = os.environ["FAKE_DROPBOX_APP_SECRET"]
REFRESH_TOKEN = os.environ["FAKE_DROPBOX_REFRESH_TOKEN"]
FOLDER = os.environ["FAKE_DROPBOX_FOLDER"].rstrip("/") + "/sdk"

BLOCK = 4 * 1024 * 1024
CHUNK = 4 * 1024 * 1024


class ToFake(requests.adapters.HTTPAdapter):
    """Sends the SDK's https requests for the Dropbox hosts to the fake over http."""

    HOSTS = {"api.dropboxapi.com", "content.dropboxapi.com"}

    def send(self, request, **kwargs):
        url = urllib.parse.urlsplit(request.url)
        if url.hostname not in self.HOSTS:
            raise RuntimeError(f"unexpected host in {request.url}")
        if url.path == "/oauth2/token":
            request.url = TOKEN_URL
        else:
            request.url = FAKE_URL + url.path + (f"?{url.query}" if url.query else "")
        return super().send(request, **kwargs)


def content_hash(data: bytes) -> str:
    """Dropbox's content hash (https://www.dropbox.com/developers/reference/content-hash)."""
    blocks = b"".join(
        hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)
    )
    return hashlib.sha256(blocks).hexdigest()


def body(seed: int, size: int) -> bytes:
    out = bytearray()
    block = hashlib.sha256(bytes([seed])).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


STEP = ["start"]


def step(name: str):
    STEP[0] = name
    print(f"dropbox sdk: {name}", flush=True)


def expect_api_error(what, call, check):
    try:
        call()
    except ApiError as e:
        if not check(e.error):
            raise AssertionError(f"{what}: unexpected route error {e.error!r}") from e
        return e.error
    raise AssertionError(f"{what}: the fake accepted it")


def main():
    session = requests.Session()
    session.mount("https://", ToFake())
    dbx = dropbox.Dropbox(
        oauth2_refresh_token=REFRESH_TOKEN,
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        session=session,
        max_retries_on_error=0,
    )

    step("refresh the access token")
    dbx.check_and_refresh_access_token()
    assert dbx._oauth2_access_token, "no access token after refresh"

    step("users/get_current_account")
    account = dbx.users_get_current_account()
    assert account.root_info.root_namespace_id, account

    step("upload session with a content hash per call")
    data = body(1, 2 * CHUNK + 12345)
    parts = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    start = dbx.files_upload_session_start(parts[0], content_hash=content_hash(parts[0]))
    cursor = files.UploadSessionCursor(session_id=start.session_id, offset=len(parts[0]))

    step("append_v2 with the whole file's hash is refused (content_hash_mismatch)")
    expect_api_error(
        "append_v2 with a whole-file hash",
        lambda: dbx.files_upload_session_append_v2(
            parts[1], cursor, content_hash=content_hash(data)
        ),
        lambda err: err.is_content_hash_mismatch(),
    )

    step("append_v2 at a wrong offset is refused with correct_offset")
    wrong = files.UploadSessionCursor(session_id=start.session_id, offset=1)
    err = expect_api_error(
        "append_v2 at offset 1",
        lambda: dbx.files_upload_session_append_v2(parts[1], wrong),
        lambda err: err.is_incorrect_offset(),
    )
    assert err.get_incorrect_offset().correct_offset == len(parts[0]), err

    step("append_v2 with its own body's hash")
    dbx.files_upload_session_append_v2(parts[1], cursor, content_hash=content_hash(parts[1]))
    cursor.offset += len(parts[1])

    path = f"{FOLDER}/big.bin"
    commit = files.CommitInfo(path=path, mode=files.WriteMode.overwrite)
    step("finish with the whole file's hash is refused (content_hash_mismatch)")
    expect_api_error(
        "finish with a whole-file hash",
        lambda: dbx.files_upload_session_finish(
            parts[2], cursor, commit, content_hash=content_hash(data)
        ),
        lambda err: err.is_content_hash_mismatch(),
    )

    step("finish with its own body's hash")
    meta = dbx.files_upload_session_finish(
        parts[2], cursor, commit, content_hash=content_hash(parts[2])
    )
    assert isinstance(meta, files.FileMetadata), meta
    assert meta.size == len(data), meta
    assert meta.content_hash == content_hash(data), (meta.content_hash, content_hash(data))

    step("finish on a finished session is refused (lookup_failed)")
    expect_api_error(
        "finish again",
        lambda: dbx.files_upload_session_finish(b"", cursor, commit),
        lambda err: err.is_lookup_failed(),
    )

    step("files/upload (the SDK adds the body's content hash itself)")
    names = [f"small-{i}.txt" for i in range(7)]
    for i, name in enumerate(names):
        one = f"file {i}\n".encode()
        meta = dbx.files_upload(one, f"{FOLDER}/sub/{name}", mode=files.WriteMode.overwrite)
        assert meta.content_hash == content_hash(one), meta

    step("finish into a path under a file is refused (path/conflict), its bytes stay appended")
    first = body(2, 1000)
    last = body(3, 500)
    start = dbx.files_upload_session_start(first)
    cursor = files.UploadSessionCursor(session_id=start.session_id, offset=len(first))
    blocked = files.CommitInfo(path=f"{FOLDER}/sub/{names[0]}/x.bin", mode=files.WriteMode.overwrite)
    err = expect_api_error(
        "finish under a file",
        lambda: dbx.files_upload_session_finish(last, cursor, blocked),
        lambda err: err.is_path() and err.get_path().is_conflict(),
    )
    assert err.get_path().get_conflict().is_file_ancestor(), err
    step("finish again at the old offset is refused with the updated offset")
    err = expect_api_error(
        "finish at the old offset",
        lambda: dbx.files_upload_session_finish(last, cursor, commit),
        lambda err: err.is_lookup_failed() and err.get_lookup_failed().is_incorrect_offset(),
    )
    updated = err.get_lookup_failed().get_incorrect_offset().correct_offset
    assert updated == len(first) + len(last), updated
    step("finish with an empty body at the updated offset")
    cursor.offset = updated
    retry = files.CommitInfo(path=f"{FOLDER}/retried.bin", mode=files.WriteMode.overwrite)
    meta = dbx.files_upload_session_finish(b"", cursor, retry)
    assert meta.content_hash == content_hash(first + last), meta

    step("files/upload refused by a write error names the session that holds its bytes")
    one = body(4, 777)
    err = expect_api_error(
        "upload under a file",
        lambda: dbx.files_upload(one, f"{FOLDER}/sub/{names[0]}/y.bin"),
        lambda err: err.is_path() and err.get_path().reason.is_conflict(),
    )
    held = files.UploadSessionCursor(session_id=err.get_path().upload_session_id, offset=len(one))
    dest = files.CommitInfo(path=f"{FOLDER}/held.bin", mode=files.WriteMode.overwrite)
    meta = dbx.files_upload_session_finish(b"", held, dest)
    assert meta.content_hash == content_hash(one), meta
    for done in ("retried.bin", "held.bin"):
        dbx.files_delete_v2(f"{FOLDER}/{done}")

    step("files/upload with a wrong content_hash is refused (content_hash_mismatch)")
    expect_api_error(
        "upload with a wrong hash",
        lambda: dbx.files_upload(
            b"abc", f"{FOLDER}/bad.txt", content_hash=content_hash(b"abd")
        ),
        lambda err: err.is_content_hash_mismatch(),
    )

    step("list_folder with pagination (limit=3, then list_folder/continue)")
    page = dbx.files_list_folder(FOLDER, recursive=True, limit=3)
    entries = list(page.entries)
    pages = 1
    while page.has_more:
        page = dbx.files_list_folder_continue(page.cursor)
        entries += page.entries
        pages += 1
    assert pages >= 3, f"only {pages} pages"
    listed = sorted(e.name for e in entries if isinstance(e, files.FileMetadata))
    assert listed == sorted(names + ["big.bin"]), listed
    assert any(isinstance(e, files.FolderMetadata) for e in entries), entries

    step("list_folder of a missing folder (path/not_found)")
    expect_api_error(
        "list a missing folder",
        lambda: dbx.files_list_folder(f"{FOLDER}/missing"),
        lambda err: err.is_path() and err.get_path().is_not_found(),
    )

    step("download")
    meta, resp = dbx.files_download(path)
    got = resp.content
    assert got == data, "downloaded bytes differ"
    assert meta.content_hash == content_hash(data), meta

    step("get_metadata")
    meta = dbx.files_get_metadata(path)
    assert isinstance(meta, files.FileMetadata) and meta.size == len(data), meta

    step("delete_v2")
    deleted = dbx.files_delete_v2(path, parent_rev=meta.rev)
    assert deleted.metadata.path_lower == path.lower(), deleted
    expect_api_error(
        "get_metadata after delete",
        lambda: dbx.files_get_metadata(path),
        lambda err: err.is_path() and err.get_path().is_not_found(),
    )
    expect_api_error(
        "delete_v2 again",
        lambda: dbx.files_delete_v2(path),
        lambda err: err.is_path_lookup() and err.get_path_lookup().is_not_found(),
    )
    for name in names:
        dbx.files_delete_v2(f"{FOLDER}/sub/{name}")
    print("dropbox sdk: every operation worked against the fake")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report the operation, then fail
        traceback.print_exc()
        print(f"dropbox sdk: FAILED at {STEP[0]!r}: {e!r}", file=sys.stderr)
        sys.exit(1)
