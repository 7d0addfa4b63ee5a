//! One function per S3 operation, each sent through the contract's one retry loop.
//!
//! The SDK's own retries are disabled so fault handling (and the fault-injection tests) behave the
//! same as in every other adapter: [`RetryPolicy::run`] decides, from the kinds `from_sdk` maps.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::client::customize::CustomizableOperation;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
};
use bytes::Bytes;
use cloudmirror_contract::{Error, ErrorKind, Result, RetryPolicy};
use secrecy::ExposeSecret;

use crate::error::{error, from_sdk};
use crate::S3Config;

/// How long to wait for a TCP/TLS connection before the attempt counts as transient.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A per-key failure reported inside a successful `DeleteObjects` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeleteFailure {
    pub(crate) key: String,
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
}

/// The SDK client, the bucket and the retry policy every call goes through.
#[derive(Clone)]
pub(crate) struct Client {
    s3: aws_sdk_s3::Client,
    bucket: Arc<str>,
    /// Scheme, host and port the requests go to, for "cannot connect to ..." messages.
    endpoint: Arc<str>,
    pub(crate) retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Skipping the `SigV4` payload hash where the body already carries a SHA-256 checksum header.
///
/// Signing the payload would hash every byte a second time (about 0.6 CPU seconds per GiB) for
/// nothing: the signed `x-amz-checksum-sha256` header already makes the server verify the body.
/// Without that header the payload stays signed, so every body keeps an integrity check.
trait PayloadSigning {
    fn disable_payload_signing_if(self, checksummed: bool) -> Self;
}

/// The SDK offers `disable_payload_signing` on the body-carrying operations only, one inherent
/// method per output type.
macro_rules! payload_signing_for {
    ($($output:ty),+) => {$(
        impl<E, B> PayloadSigning for CustomizableOperation<$output, E, B> {
            fn disable_payload_signing_if(self, checksummed: bool) -> Self {
                if checksummed {
                    self.disable_payload_signing()
                } else {
                    self
                }
            }
        }
    )+};
}

payload_signing_for!(PutObjectOutput, UploadPartOutput);

/// The SDK's rustls HTTP client with vectored HTTP/1 writes forced on.
///
/// Left to guess, hyper 0.14 sees a connection that does not advertise vectored writes and
/// "flattens" each request body into its own write buffer: a second copy of every part in flight
/// (16 MiB each at default settings). Queued writes send the part's `Bytes` as they are.
fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    let mut hyper = hyper014::Client::builder();
    hyper.http1_writev(true);
    aws_smithy_http_client::hyper_014::HyperClientBuilder::new()
        .hyper_builder(hyper)
        .build_https()
}

impl Client {
    /// Builds the SDK client: static keys when configured (no environment read at all), else the
    /// default AWS chain; SDK retries off, checksums only where required (S3-compatible stores
    /// reject the SDK's default CRC32 trailers), path-style for custom endpoints.
    pub(crate) async fn connect(config: &S3Config) -> Result<Self> {
        let region = match &config.region {
            Some(r) => Some(Region::new(r.trim().to_owned())),
            None => {
                aws_config::meta::region::RegionProviderChain::default_provider()
                    .region()
                    .await
            }
        };
        let region =
            match (region, &config.endpoint) {
                (Some(r), _) => r,
                (None, Some(_)) => Region::from_static("us-east-1"),
                (None, None) => return Err(error(
                    ErrorKind::InvalidInput,
                    "region is not set and the default AWS chain has none: set region = \"...\" \
                     (or AWS_REGION)",
                )),
            };
        let mut builder =
            if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
                aws_sdk_s3::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .credentials_provider(Credentials::new(
                        id.trim(),
                        secret.expose_secret(),
                        config
                            .session_token
                            .as_ref()
                            .map(|t| t.expose_secret().to_owned()),
                        None,
                        "cloudmirror-config",
                    ))
            } else {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(region.clone())
                    .load()
                    .await;
                aws_sdk_s3::config::Builder::from(&shared)
            };
        let region_name = region.to_string();
        builder = builder
            .http_client(http_client())
            .region(region)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .force_path_style(config.path_style());
        let endpoint = match &config.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{region_name}.amazonaws.com"),
        };
        if config.endpoint.is_some() {
            builder = builder.endpoint_url(&endpoint);
        }
        Ok(Self {
            endpoint: Arc::from(endpoint.as_str()),
            s3: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: Arc::from(config.bucket.as_str()),
            retry: RetryPolicy::default(),
        })
    }

    /// The bucket name.
    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `PutObject`, with the body's SHA-256 (base64) when given so the server verifies what it received.
    pub(crate) async fn put_object(
        &self,
        key: &str,
        data: Bytes,
        sha256_b64: Option<&str>,
    ) -> Result<PutObjectOutput> {
        self.retry
            .run("PutObject", || async {
                tracing::debug!(bucket = %self.bucket, key, len = data.len(), "PutObject");
                self.s3
                    .put_object()
                    .bucket(&*self.bucket)
                    .key(key)
                    .content_length(i64::try_from(data.len()).unwrap_or(i64::MAX))
                    .set_checksum_sha256(sha256_b64.map(str::to_owned))
                    .body(SdkBody::from(data.clone()))
                    .customize()
                    .disable_payload_signing_if(sha256_b64.is_some())
                    .send()
                    .await
                    .map_err(|e| from_sdk(&self.endpoint, &format!("PutObject {key}"), e))
            })
            .await
    }

    /// `CreateMultipartUpload` (announcing SHA-256 part checksums when `sha256`); returns the upload id.
    pub(crate) async fn create_multipart(&self, key: &str, sha256: bool) -> Result<String> {
        let out = self
            .retry
            .run("CreateMultipartUpload", || async {
                tracing::debug!(bucket = %self.bucket, key, "CreateMultipartUpload");
                self.s3
                    .create_multipart_upload()
                    .bucket(&*self.bucket)
                    .key(key)
                    .set_checksum_algorithm(sha256.then_some(ChecksumAlgorithm::Sha256))
                    .send()
                    .await
                    .map_err(|e| {
                        from_sdk(&self.endpoint, &format!("CreateMultipartUpload {key}"), e)
                    })
            })
            .await?;
        out.upload_id.filter(|id| !id.is_empty()).ok_or_else(|| {
            error(
                ErrorKind::Other,
                "CreateMultipartUpload returned no upload id",
            )
        })
    }

    /// `UploadPart`, with the part's SHA-256 (base64) when given; returns the part for the completion list.
    pub(crate) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        data: Bytes,
        sha256_b64: Option<&str>,
    ) -> Result<CompletedPart> {
        let out = self
            .retry
            .run("UploadPart", || async {
                tracing::debug!(key, part_number, len = data.len(), "UploadPart");
                self.s3
                    .upload_part()
                    .bucket(&*self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(part_number)
                    .content_length(i64::try_from(data.len()).unwrap_or(i64::MAX))
                    .set_checksum_sha256(sha256_b64.map(str::to_owned))
                    .body(SdkBody::from(data.clone()))
                    .customize()
                    .disable_payload_signing_if(sha256_b64.is_some())
                    .send()
                    .await
                    .map_err(|e| {
                        from_sdk(
                            &self.endpoint,
                            &format!("UploadPart {part_number} of {key}"),
                            e,
                        )
                    })
            })
            .await?;
        let e_tag = out.e_tag.ok_or_else(|| {
            error(
                ErrorKind::Other,
                format!("UploadPart {part_number} of {key}: the response has no ETag"),
            )
        })?;
        Ok(CompletedPart::builder()
            .part_number(part_number)
            .e_tag(e_tag)
            .set_checksum_sha256(sha256_b64.map(str::to_owned))
            .build())
    }

    /// `CompleteMultipartUpload` with the parts in ascending order.
    pub(crate) async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<CompleteMultipartUploadOutput> {
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        self.retry
            .run("CompleteMultipartUpload", || async {
                tracing::debug!(key, "CompleteMultipartUpload");
                self.s3
                    .complete_multipart_upload()
                    .bucket(&*self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .multipart_upload(parts.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        from_sdk(&self.endpoint, &format!("CompleteMultipartUpload {key}"), e)
                    })
            })
            .await
    }

    /// `AbortMultipartUpload`; an upload that is already gone counts as aborted.
    pub(crate) async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        let res = self
            .retry
            .run("AbortMultipartUpload", || async {
                tracing::debug!(key, "AbortMultipartUpload");
                self.s3
                    .abort_multipart_upload()
                    .bucket(&*self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await
                    .map_err(|e| {
                        from_sdk(&self.endpoint, &format!("AbortMultipartUpload {key}"), e)
                    })
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One `ListObjectsV2` page under `prefix`.
    pub(crate) async fn list_page(
        &self,
        prefix: &str,
        continuation_token: Option<&str>,
        max_keys: usize,
    ) -> Result<ListObjectsV2Output> {
        self.retry
            .run("ListObjectsV2", || async {
                tracing::debug!(bucket = %self.bucket, prefix, "ListObjectsV2");
                let mut req = self
                    .s3
                    .list_objects_v2()
                    .bucket(&*self.bucket)
                    .max_keys(i32::try_from(max_keys).unwrap_or(1000))
                    .set_continuation_token(continuation_token.map(str::to_owned));
                if !prefix.is_empty() {
                    req = req.prefix(prefix);
                }
                req.send()
                    .await
                    .map_err(|e| from_sdk(&self.endpoint, &format!("ListObjectsV2 {prefix:?}"), e))
            })
            .await
    }

    /// `GetObject`: the response headers have arrived; the body streams from `out.body`.
    pub(crate) async fn get_object(&self, key: &str) -> Result<GetObjectOutput> {
        self.retry
            .run("GetObject", || async {
                tracing::debug!(bucket = %self.bucket, key, "GetObject");
                self.s3
                    .get_object()
                    .bucket(&*self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| from_sdk(&self.endpoint, &format!("GetObject {key}"), e))
            })
            .await
    }

    /// `DeleteObject`; a missing key is not an error (S3 answers 204, some compatibles 404).
    pub(crate) async fn delete_object(&self, key: &str) -> Result<()> {
        let res = self
            .retry
            .run("DeleteObject", || async {
                tracing::debug!(bucket = %self.bucket, key, "DeleteObject");
                self.s3
                    .delete_object()
                    .bucket(&*self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| from_sdk(&self.endpoint, &format!("DeleteObject {key}"), e))
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && !e.message().contains("NoSuchBucket") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `DeleteObjects` for at most 1,000 keys (quiet mode); returns the keys that failed.
    pub(crate) async fn delete_objects(&self, keys: &[&str]) -> Result<Vec<DeleteFailure>> {
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| error(ErrorKind::InvalidInput, format!("DeleteObjects: {e}")))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| error(ErrorKind::InvalidInput, format!("DeleteObjects: {e}")))?;
        let out = self
            .retry
            .run("DeleteObjects", || async {
                tracing::debug!(bucket = %self.bucket, keys = keys.len(), "DeleteObjects");
                self.s3
                    .delete_objects()
                    .bucket(&*self.bucket)
                    .delete(delete.clone())
                    .send()
                    .await
                    .map_err(|e| from_sdk(&self.endpoint, "DeleteObjects", e))
            })
            .await?;
        Ok(out
            .errors()
            .iter()
            .filter(|e| e.code() != Some("NoSuchKey"))
            .map(|e| DeleteFailure {
                key: e.key().unwrap_or_default().to_owned(),
                code: e.code().map(str::to_owned),
                message: e.message().map(str::to_owned),
            })
            .collect())
    }
}

/// Wraps a failure to read a download body.
pub(crate) fn body_error(key: &str, err: impl std::error::Error + Send + Sync + 'static) -> Error {
    error(
        ErrorKind::Transient,
        format!("GetObject {key}: reading the body failed: {err}"),
    )
    .with_source(err)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use cloudmirror_fakes::s3::FakeS3;

    use super::*;

    /// A TCP connector that sends every request to one address whatever host the URL names: the
    /// DNS a test cannot have (`{bucket}.localhost` resolves nowhere on most machines). The
    /// request itself, `Host` header included, is the one the SDK built.
    #[derive(Clone)]
    struct AllTo(std::net::SocketAddr);

    type Connecting = Pin<Box<dyn Future<Output = std::io::Result<tokio::net::TcpStream>> + Send>>;

    impl hyper014::service::Service<hyper014::Uri> for AllTo {
        type Response = tokio::net::TcpStream;
        type Error = std::io::Error;
        type Future = Connecting;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: hyper014::Uri) -> Self::Future {
            let addr = self.0;
            Box::pin(async move { tokio::net::TcpStream::connect(addr).await })
        }
    }

    /// A client for `fake` through `endpoint`, connecting to the fake whatever the host.
    async fn client_via(fake: &FakeS3, endpoint: &str, path_style: Option<bool>) -> Client {
        let o = fake.options();
        let mut config = S3Config::new(o.bucket.clone());
        config.region = Some(o.region.clone());
        config.endpoint = Some(endpoint.to_owned());
        config.force_path_style = path_style;
        config.access_key_id = Some(o.access_key_id.clone());
        config.secret_access_key = Some(o.secret_access_key.clone().into());
        let mut client = Client::connect(&config).await.expect("client");
        let addr: std::net::SocketAddr = fake
            .uri()
            .trim_start_matches("http://")
            .parse()
            .expect("fake address");
        let http = aws_smithy_http_client::hyper_014::HyperClientBuilder::new().build(AllTo(addr));
        client.s3 = aws_sdk_s3::Client::from_conf(
            client.s3.config().to_builder().http_client(http).build(),
        );
        client.retry = RetryPolicy::fast();
        client
    }

    /// `force_path_style = false` puts the bucket in the host name (virtual-hosted style), which
    /// a fake that routes by `Host` serves; unset, a custom endpoint gets path-style requests.
    #[tokio::test]
    async fn force_path_style_false_sends_virtual_hosted_requests() {
        let fake = FakeS3::start().await;
        let port = fake.uri().rsplit(':').next().unwrap_or_default().to_owned();
        let endpoint = format!("http://localhost:{port}");

        let virtual_hosted = client_via(&fake, &endpoint, Some(false)).await;
        virtual_hosted
            .put_object("db/a.json.gz", Bytes::from_static(b"hello"), None)
            .await
            .expect("a virtual-hosted PutObject");
        assert_eq!(fake.object("db/a.json.gz").as_deref(), Some(&b"hello"[..]));
        assert_eq!(fake.virtual_hosted_requests(), 1);

        let path_style = client_via(&fake, &endpoint, None).await;
        path_style
            .put_object("db/b.json.gz", Bytes::from_static(b"world"), None)
            .await
            .expect("a path-style PutObject");
        assert_eq!(fake.object("db/b.json.gz").as_deref(), Some(&b"world"[..]));
        assert_eq!(
            fake.virtual_hosted_requests(),
            1,
            "a custom endpoint defaults to path style"
        );
    }
}
