//! The contract suite and Dropbox-specific behaviour, against the stateful fake on 127.0.0.1.

use bytes::Bytes;
use cloudmirror_contract::testkit::{body_in_pieces, data, Fixture};
use cloudmirror_contract::{
    ByteSize, Digests, ErrorKind, Key, Prefix, RetryPolicy, Store, StoreExt,
};
use cloudmirror_dropbox::{DropboxConfig, DropboxStore};
use cloudmirror_fakes::dropbox::{
    FakeDropbox, FakeDropboxOptions, APP_KEY, APP_SECRET, FOLDER, MEMBER_IDS, REFRESH_TOKEN,
    TEAM_ROOT_NAMESPACE_ID,
};

const MIB: usize = 1024 * 1024;

/// A config pointing at `fake`, with 4 MiB chunks and small list pages.
fn config(fake: &FakeDropbox) -> DropboxConfig {
    let mut c = DropboxConfig::new(FOLDER, APP_KEY, APP_SECRET, REFRESH_TOKEN);
    c.chunk_size = Some(ByteSize::mib(4));
    c.list_page_size = Some(5);
    c.api_url = Some(fake.uri());
    c.content_url = Some(fake.uri());
    c.token_url = Some(fake.token_url());
    c
}

fn store(c: DropboxConfig) -> DropboxStore {
    DropboxStore::new(c)
        .expect("valid config")
        .with_retry_policy(RetryPolicy::fast())
}

async fn fixture() -> Fixture {
    let fake = FakeDropbox::start_with(FakeDropboxOptions {
        max_page_size: Some(5),
        ..FakeDropboxOptions::default()
    })
    .await;
    let s = store(config(&fake));
    Fixture::with_guard(s, fake)
}

mod contract {
    use super::fixture;
    cloudmirror_contract::contract_suite!(fixture);
}

fn key(k: &str) -> Key {
    Key::parse(k).expect("valid test key")
}

/// 2.5 chunks of 4 MiB: start, append, finish.
fn large() -> Bytes {
    data(7, 10 * MIB + 123)
}

#[tokio::test]
async fn token_refresh_mid_upload_resumes_the_session() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    // Every token dies right after the first append: the next request gets 401.
    fake.expire_tokens_after_next("files/upload_session/append_v2");
    let body = large();
    let meta = s
        .upload(&key("big.bin"), body_in_pieces(&body, MIB), None)
        .await
        .expect("upload survives token expiry");
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(fake.token_requests(), 2, "one refresh after the 401");
    assert_eq!(fake.unauthorized_responses(), 1);
    assert_eq!(fake.requests("files/upload_session/start"), 1);
    assert_eq!(
        fake.requests("files/upload_session/finish"),
        2,
        "the 401 and the retry"
    );
    assert_eq!(fake.open_sessions(), 0);
    assert!(fake.object("/database-backups/BIG.BIN").unwrap() == body.to_vec());
}

#[tokio::test]
async fn tokens_are_cached_and_refreshed_on_expiry() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    for i in 0..3 {
        s.upload_bytes(&key(&format!("t{i}")), "x".into())
            .await
            .unwrap();
    }
    assert_eq!(fake.token_requests(), 1, "one token for many calls");
    fake.expire_tokens();
    assert_eq!(s.list_all(&Prefix::root()).await.unwrap().len(), 3);
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn team_space_placement_with_root_namespace_id() {
    let fake = FakeDropbox::start_with(FakeDropboxOptions::team()).await;
    let mut c = config(&fake);
    c.select_user = Some(MEMBER_IDS[0].to_owned());
    c.root_namespace_id = Some(TEAM_ROOT_NAMESPACE_ID.to_owned());
    let s = store(c);
    s.upload_bytes(&key("daily/db.gz"), "team".into())
        .await
        .unwrap();
    assert_eq!(
        fake.paths_in(TEAM_ROOT_NAMESPACE_ID),
        ["/DATABASE-BACKUPS/daily/db.gz"]
    );
    assert!(fake.paths_in(&fake.home_namespace_id()).is_empty());
    let listed = s.list_all(&Prefix::root()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key.as_str(), "daily/db.gz");

    // Without root_namespace_id the same member writes to its home namespace.
    let mut c = config(&fake);
    c.select_user = Some(MEMBER_IDS[0].to_owned());
    let home = store(c);
    home.upload_bytes(&key("home.txt"), "home".into())
        .await
        .unwrap();
    assert_eq!(
        fake.paths_in(&fake.home_namespace_id()),
        ["/DATABASE-BACKUPS/home.txt"]
    );
    assert_eq!(fake.paths_in(TEAM_ROOT_NAMESPACE_ID).len(), 1);
}

#[tokio::test]
async fn root_namespace_auto_is_looked_up_once() {
    let fake = FakeDropbox::start_with(FakeDropboxOptions::team()).await;
    let mut c = config(&fake);
    c.select_user = Some(MEMBER_IDS[1].to_owned());
    c.root_namespace_id = Some("auto".to_owned());
    let s = store(c);
    s.upload_bytes(&key("a.txt"), "1".into()).await.unwrap();
    s.upload_bytes(&key("b.txt"), "2".into()).await.unwrap();
    assert_eq!(s.list_all(&Prefix::root()).await.unwrap().len(), 2);
    assert_eq!(fake.requests("users/get_current_account"), 1);
    assert_eq!(
        fake.paths_in(TEAM_ROOT_NAMESPACE_ID),
        ["/DATABASE-BACKUPS/a.txt", "/DATABASE-BACKUPS/b.txt"]
    );
}

#[tokio::test]
async fn wrong_root_namespace_id_names_the_setting_and_the_right_id() {
    let fake = FakeDropbox::start_with(FakeDropboxOptions::team()).await;
    let mut c = config(&fake);
    c.select_user = Some(MEMBER_IDS[0].to_owned());
    c.root_namespace_id = Some("999".to_owned());
    let err = store(c)
        .upload_bytes(&key("a.txt"), "x".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("root_namespace_id = \"{TEAM_ROOT_NAMESPACE_ID}\"")),
        "{err}"
    );
}

#[tokio::test]
async fn team_token_without_a_member_fails_clearly() {
    let fake = FakeDropbox::start_with(FakeDropboxOptions::team()).await;
    let mut c = config(&fake);
    c.select_user = Some(String::new()); // `${DROPBOX_API_SELECT_USER}` set but empty
    let err = store(c).list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("set select_user"), "{err}");

    let mut c = config(&fake);
    c.select_user = Some("dbmid:AANotInThisTeam".to_owned());
    let err = store(c).list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("select_user"), "{err}");
}

#[tokio::test]
async fn rate_limits_honour_retry_after_then_succeed() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    fake.throttle_next("files/upload", 2, 1);
    s.upload_bytes(&key("a.txt"), "x".into()).await.unwrap();
    assert_eq!(fake.requests("files/upload"), 3);

    // too_many_write_operations as a 409 route error is retried too.
    fake.fail_next("files/delete_v2", 1, 409);
    s.delete(&key("a.txt")).await.unwrap();
    assert_eq!(fake.requests("files/delete_v2"), 2);
    assert!(fake.object_keys().is_empty());

    // When attempts run out, the provider's hint is in the error.
    let s = DropboxStore::new(config(&fake))
        .unwrap()
        .with_retry_policy(RetryPolicy::none());
    fake.throttle_next("files/list_folder", 1, 7);
    let err = s.list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(7))
        }
    );
}

#[tokio::test]
async fn server_errors_are_retried_including_the_token_route() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    fake.fail_next("oauth2/token", 2, 503);
    fake.fail_next("files/list_folder", 2, 500);
    assert!(s.list_all(&Prefix::root()).await.unwrap().is_empty());
    assert_eq!(fake.requests("oauth2/token"), 3);
    assert_eq!(fake.requests("files/list_folder"), 3);
}

#[tokio::test]
async fn incorrect_offset_after_a_lost_response_is_recovered() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    // The first append lands but its answer is lost: the retry is told the correct offset.
    fake.lose_next_response("files/upload_session/append_v2", 503);
    let body = large();
    s.upload(
        &key("lost.bin"),
        body_in_pieces(&body, MIB),
        Some(body.len() as u64),
    )
    .await
    .unwrap();
    assert_eq!(fake.requests("files/upload_session/append_v2"), 2);
    assert!(fake.object("/DATABASE-BACKUPS/lost.bin").unwrap() == body.to_vec());
}

#[tokio::test]
async fn incorrect_offset_inside_a_chunk_resends_the_rest() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    // The connection drops after 1000 bytes of the first append reached Dropbox.
    fake.accept_partial_next_append(1000);
    let body = large();
    let meta = s
        .upload(&key("partial.bin"), body_in_pieces(&body, 3 * MIB), None)
        .await
        .unwrap();
    assert_eq!(
        meta.checksum
            .as_ref()
            .map(|c| Digests::of(&body).matches(c)),
        Some(true)
    );
    // The partial append, the retry told `incorrect_offset`, and the resend from 4 MiB + 1000.
    assert_eq!(fake.requests("files/upload_session/append_v2"), 3);
    assert!(fake.object("/DATABASE-BACKUPS/partial.bin").unwrap() == body.to_vec());
}

#[tokio::test]
async fn an_offset_before_the_chunk_in_hand_fails_clearly_and_stores_nothing() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    // Dropbox "loses" 10 bytes of the first append: the bytes it wants are no longer in memory.
    fake.truncate_sessions_after_next("files/upload_session/append_v2", 10);
    let body = large();
    let err = s
        .upload(&key("lost-data.bin"), body_in_pieces(&body, MIB), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other, "{err}");
    assert!(err.to_string().contains("cannot resume"), "{err}");
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn a_failed_body_never_finishes_the_session() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    let head = data(3, 5 * MIB);
    let body = futures::StreamExt::boxed(futures::stream::iter(vec![
        Ok(head),
        Err(cloudmirror_contract::Error::new(
            ErrorKind::Other,
            "source",
            "pg_dump died",
        )),
    ]));
    let err = s.upload(&key("broken.gz"), body, None).await.unwrap_err();
    assert!(err.to_string().contains("pg_dump died"), "{err}");
    assert_eq!(fake.requests("files/upload_session/start"), 1);
    assert_eq!(fake.requests("files/upload_session/finish"), 0);
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn unicode_names_round_trip_through_the_ascii_header() {
    let fake = FakeDropbox::start().await;
    let s = store(config(&fake));
    let k = key("Résumé ü/😀 データ\u{2028}.sql.gz");
    s.upload_bytes(&k, "unicode".into()).await.unwrap();
    assert_eq!(s.download_bytes(&k).await.unwrap(), "unicode");
    let listed = s
        .list_all(&Prefix::parse("Résumé ü/").unwrap())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, k);
    assert_eq!(
        fake.object_keys(),
        ["/DATABASE-BACKUPS/Résumé ü/😀 データ\u{2028}.sql.gz"]
    );
}

#[tokio::test]
async fn the_fake_rejects_raw_non_ascii_in_dropbox_api_arg() {
    let fake = FakeDropbox::start().await;
    let token: serde_json::Value = reqwest::Client::new()
        .post(fake.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", REFRESH_TOKEN),
            ("client_id", APP_KEY),
            ("client_secret", APP_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let raw = reqwest::header::HeaderValue::from_bytes("{\"path\":\"/é\"}".as_bytes()).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/2/files/upload", fake.uri()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Arg", raw)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("ASCII"));
    assert!(fake.object_keys().is_empty());
}

#[tokio::test]
async fn invalid_refresh_token_is_unauthorized_naming_the_setting() {
    let fake = FakeDropbox::start().await;
    let mut c = config(&fake);
    c.refresh_token = "not-the-token".to_owned().into();
    let err = store(c).list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("refresh_token"), "{err}");
    assert!(
        !err.to_string().contains("not-the-token"),
        "no secret in {err}"
    );

    let s = store(config(&fake));
    let shown = format!("{s:?}");
    assert!(
        !shown.contains(REFRESH_TOKEN) && !shown.contains(APP_SECRET),
        "secrets in Debug: {shown}"
    );
    fake.revoke_refresh_token();
    let Err(err) = s.download(&key("x")).await else {
        panic!("download with a revoked refresh token must fail");
    };
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("refresh_token"), "{err}");

    let mut c = config(&fake);
    c.app_secret = Some("wrong-secret".to_owned().into());
    let err = store(c).list_all(&Prefix::root()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("app_key and app_secret"), "{err}");
    assert!(
        !err.to_string().contains("wrong-secret"),
        "no secret in {err}"
    );
}

#[tokio::test]
async fn chunk_size_is_validated_with_the_field_name() {
    let fake = FakeDropbox::start().await;
    for bad in ["0", "152MiB", "157286401"] {
        let mut c = config(&fake);
        c.chunk_size = Some(bad.parse().unwrap());
        let err = DropboxStore::new(c).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("chunk_size"), "{err}");
    }
    let mut c = config(&fake);
    c.chunk_size = Some(ByteSize::mib(48));
    let s = DropboxStore::new(c).unwrap();
    assert_eq!(s.capabilities().chunk_size, Some(48 * MIB as u64));
}

/// Sequential upload sessions take appends of any length: Dropbox requires multiples of 4 MiB
/// (4,194,304 bytes) only in concurrent sessions (dropbox-api-spec `files.stone`, route
/// `upload_session/start`: "the length of the uploaded data in a call to `upload_session/append:2`
/// ... must be a multiple of 2^22 (4,194,304) bytes" applies to sessions started with
/// `session_type = concurrent`), so a chunk size that is not a multiple uploads whole.
#[tokio::test]
async fn a_chunk_size_that_is_not_a_multiple_of_4_mib_uploads_through_a_sequential_session() {
    let fake = FakeDropbox::start().await;
    let mut c = config(&fake);
    c.chunk_size = Some(ByteSize(3_000_001));
    let s = store(c);
    let body = data(9, 7 * MIB + 5);
    s.upload_bytes(&key("odd.bin"), body.clone()).await.unwrap();
    assert!(
        fake.requests("files/upload_session/append_v2") >= 1,
        "the body went through a session"
    );
    assert_eq!(s.download_bytes(&key("odd.bin")).await.unwrap(), body);
}

#[tokio::test]
async fn folder_case_differences_still_list_relative_keys() {
    let fake = FakeDropbox::start().await;
    fake.put_object("/Database-Backups/Daily/DB.gz", b"abc");
    let mut c = config(&fake);
    c.folder = "/database-backups/".to_owned();
    let s = store(c);
    let listed = s.list_all(&Prefix::root()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key.as_str(), "Daily/DB.gz");
    assert_eq!(s.download_bytes(&key("daily/db.gz")).await.unwrap(), "abc");
    // Deleting a folder's name is a no-op: delete never removes folders.
    s.delete(&key("Daily")).await.unwrap();
    assert_eq!(fake.object_keys().len(), 1);
}

#[tokio::test]
async fn destination_toml_configures_a_working_store() {
    let fake = FakeDropbox::start_with(FakeDropboxOptions::team()).await;
    let doc: toml::Table = toml::from_str(&fake.destination_toml("dropbox")).unwrap();
    let mut table = doc["destinations"].as_array().unwrap()[0]
        .as_table()
        .unwrap()
        .clone();
    assert_eq!(table.remove("name").unwrap().as_str(), Some("dropbox"));
    assert_eq!(table.remove("type").unwrap().as_str(), Some("dropbox"));
    let c: DropboxConfig = table.try_into().unwrap();
    let s = store(c);
    s.upload_bytes(&key("x.gz"), "x".into()).await.unwrap();
    assert_eq!(fake.object_keys(), ["/DATABASE-BACKUPS/x.gz"]);
}

/// `app_secret` is optional for apps authorized with PKCE: the refresh then carries the app key
/// alone, which Dropbox accepts for a PKCE refresh token (the official Python SDK sends
/// `client_secret` only when it has one). For a refresh token from the secret-based flow the
/// missing secret is refused, naming the settings to check.
#[tokio::test]
async fn a_pkce_app_refreshes_without_an_app_secret() {
    let fake = FakeDropbox::start_with(FakeDropboxOptions {
        pkce: true,
        ..FakeDropboxOptions::default()
    })
    .await;
    let mut c = config(&fake);
    c.app_secret = None;
    let s = store(c);
    s.upload_bytes(&key("pkce.txt"), Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 1);
    assert_eq!(
        s.download_bytes(&key("pkce.txt")).await.unwrap(),
        Bytes::from_static(b"hello")
    );

    let fake = FakeDropbox::start().await;
    let mut c = config(&fake);
    c.app_secret = None;
    let err = store(c)
        .upload_bytes(&key("pkce.txt"), Bytes::from_static(b"hello"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("app_secret"), "{err}");
}
