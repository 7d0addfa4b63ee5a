//! A 20 s outage in the middle of a multipart upload: parts S3 already holds are not sent again,
//! the upload is not restarted, and the object lands intact.

use std::time::Duration;

use cloudmirror_contract::testkit::data;
use cloudmirror_contract::{ByteSize, Key, RetryPolicy, StoreExt};
use cloudmirror_fakes::s3::{FakeS3, S3Op};
use cloudmirror_s3::{S3Config, S3Store};

const PART: usize = 5 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_second_outage_mid_multipart_upload_is_ridden_out_without_resending_parts() {
    let fake = FakeS3::start().await;
    let o = fake.options();
    let mut c = S3Config::new(o.bucket.clone());
    c.region = Some(o.region.clone());
    c.endpoint = Some(fake.uri());
    c.access_key_id = Some(o.access_key_id.clone());
    c.secret_access_key = Some(o.secret_access_key.clone().into());
    c.part_size = Some(ByteSize(PART as u64));
    let policy = RetryPolicy {
        budget: Duration::from_secs(90),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let store = S3Store::new(c)
        .await
        .expect("store")
        .with_retry_policy(policy);
    let body = data(22, 4 * PART + 1234);
    // CreateMultipartUpload and the first part go through; then S3 is down for 20 s.
    fake.outage_after(2, Duration::from_secs(20));
    let started = std::time::Instant::now();
    let key = Key::parse("daily/outage.bin").expect("key");
    store
        .upload_bytes(&key, body.clone())
        .await
        .expect("the upload rides the outage out");
    assert!(started.elapsed() >= Duration::from_secs(20));
    assert!(fake.outage_refusals() >= 3, "{}", fake.outage_refusals());
    assert_eq!(
        fake.object("daily/outage.bin").expect("stored"),
        body.to_vec()
    );
    assert_eq!(
        fake.request_count(S3Op::CreateMultipartUpload),
        1,
        "not restarted"
    );
    assert_eq!(
        fake.request_count(S3Op::UploadPart),
        5,
        "each part reached S3 once: parts already sent were not resent"
    );
    assert!(fake.open_multipart_uploads().is_empty());
}
