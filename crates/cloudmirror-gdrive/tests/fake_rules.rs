//! The Drive fake refuses what Drive refuses (so the adapter's passing tests mean something).

// Reason: test helpers outside #[test] fns; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use cloudmirror_fakes::gdrive::{FakeGdrive, FakeGdriveOptions, DRIVE_SCOPE};

/// The parameters a listing of a shared drive needs (with `driveId`).
const ALL_DRIVES: [(&str, &str); 3] = [
    ("supportsAllDrives", "true"),
    ("includeItemsFromAllDrives", "true"),
    ("corpora", "drive"),
];

async fn token(fake: &FakeGdrive, scope: &str) -> Result<String, yup_oauth2::Error> {
    let key = yup_oauth2::parse_service_account_key(fake.service_account_json()).unwrap();
    let auth = yup_oauth2::ServiceAccountAuthenticator::builder(key)
        .build()
        .await
        .unwrap();
    auth.token(&[scope])
        .await
        .map(|t| t.token().unwrap().to_owned())
}

#[tokio::test]
async fn tokens_scopes_and_bearer_checks() {
    // A My Drive folder: a plain listing needs no shared-drive parameters.
    let fake = FakeGdrive::start_with(FakeGdriveOptions {
        shared_drive_id: None,
        ..FakeGdriveOptions::default()
    })
    .await;
    let http = reqwest::Client::new();
    let files = format!("{}/drive/v3/files", fake.uri());
    let anon = http.get(&files).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    let bad = http
        .get(&files)
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(
        token(&fake, "https://www.googleapis.com/auth/gmail.readonly")
            .await
            .is_err()
    );
    let t = token(&fake, DRIVE_SCOPE).await.unwrap();
    let ok = http.get(&files).bearer_auth(&t).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    fake.expire_tokens();
    let expired = http.get(&files).bearer_auth(&t).send().await.unwrap();
    assert_eq!(expired.status(), 401);
}

#[tokio::test]
async fn queries_chunks_and_multipart_bodies_are_checked() {
    let fake = FakeGdrive::start().await;
    let http = reqwest::Client::new();
    let t = token(&fake, DRIVE_SCOPE).await.unwrap();
    let files = format!("{}/drive/v3/files", fake.uri());
    let unsupported = http
        .get(&files)
        .bearer_auth(&t)
        .query(&[("q", "name contains 'x'")])
        .query(&ALL_DRIVES)
        .query(&[("driveId", fake.shared_drive_id().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(unsupported.status(), 400);

    let upload = format!("{}/upload/drive/v3/files", fake.uri());
    let broken = http
        .post(&upload)
        .bearer_auth(&t)
        .query(&[("uploadType", "multipart")])
        .header("Content-Type", "multipart/related; boundary=b")
        .body("--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400, "one part only");

    let start = http
        .post(&upload)
        .bearer_auth(&t)
        .query(&[("uploadType", "resumable"), ("supportsAllDrives", "true")])
        .json(&serde_json::json!({"name": "x", "parents": [fake.folder_id()]}))
        .send()
        .await
        .unwrap();
    let session = start.headers()["location"].to_str().unwrap().to_owned();
    let odd = http
        .put(&session)
        .header("Content-Range", "bytes 0-99999/*")
        .body(vec![0u8; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(
        odd.status(),
        400,
        "non-final chunks are multiples of 256 KiB"
    );
    let gap = http
        .put(&session)
        .header("Content-Range", "bytes 262144-524287/*")
        .body(vec![0u8; 262_144])
        .send()
        .await
        .unwrap();
    assert_eq!(gap.status(), 400, "chunks start where the server is");
    let probe = http
        .put(&session)
        .header("Content-Range", "bytes */*")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 308);
    assert!(probe.headers().get("range").is_none(), "nothing stored yet");
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn shared_drive_mode_needs_all_drives_parameters() {
    let fake = FakeGdrive::start_with(FakeGdriveOptions {
        shared_drive_id: Some("0ADrive".into()),
        ..FakeGdriveOptions::default()
    })
    .await;
    let http = reqwest::Client::new();
    let t = token(&fake, DRIVE_SCOPE).await.unwrap();
    let files = format!("{}/drive/v3/files", fake.uri());
    let plain = http.get(&files).bearer_auth(&t).send().await.unwrap();
    assert_eq!(plain.status(), 400);
    let meta = http
        .get(format!("{files}/{}", fake.folder_id()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(meta.status(), 404, "without supportsAllDrives");
}
