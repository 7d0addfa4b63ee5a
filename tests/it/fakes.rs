//! The four provider fakes (S3, Dropbox, Drive, Supabase) with distinctive secrets, on their own
//! runtime, and configs pointing the binary at them (plus a local folder).

use cloudmirror_fakes::dropbox::{FakeDropbox, FakeDropboxOptions};
use cloudmirror_fakes::gdrive::FakeGdrive;
use cloudmirror_fakes::s3::{FakeS3, FakeS3Options};
use cloudmirror_fakes::supabase::{FakeSupabase, FakeSupabaseOptions};

pub const DROPBOX_APP_SECRET: &str = "dbx-app-secret-Q7vLm2";
pub const DROPBOX_REFRESH_TOKEN: &str = "dbx-refresh-token-Z9pKw4";
pub const S3_SECRET: &str = "s3-secret-access-key-H3nRt8";
pub const SUPABASE_KEY: &str = "sb_secret_supabase-service-key-W5xJc1";

/// The four fakes with distinctive secrets, on their own runtime for as long as the test holds them.
pub struct Fakes {
    pub s3: FakeS3,
    pub dropbox: FakeDropbox,
    pub gdrive: FakeGdrive,
    pub supabase: FakeSupabase,
    _rt: tokio::runtime::Runtime,
}

impl Fakes {
    pub fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime for the fakes");
        let (s3, dropbox, gdrive, supabase) = rt.block_on(async {
            tokio::join!(
                FakeS3::start_with(FakeS3Options {
                    secret_access_key: S3_SECRET.into(),
                    ..FakeS3Options::default()
                }),
                FakeDropbox::start_with(FakeDropboxOptions {
                    app_secret: DROPBOX_APP_SECRET.into(),
                    refresh_token: DROPBOX_REFRESH_TOKEN.into(),
                    ..FakeDropboxOptions::default()
                }),
                FakeGdrive::start(),
                FakeSupabase::start_with(FakeSupabaseOptions {
                    service_role_key: SUPABASE_KEY.into(),
                    ..FakeSupabaseOptions::default()
                }),
            )
        });
        Self {
            s3,
            dropbox,
            gdrive,
            supabase,
            _rt: rt,
        }
    }

    /// Local + the four fakes, with working credentials (and short retry budgets).
    pub fn config(&self) -> String {
        format!(
            "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"local\"\n\n{}\n{}\n{}\n{}\n",
            quick_retries(self.s3.destination_toml("s3")),
            quick_retries(self.dropbox.destination_toml("dropbox")),
            quick_retries(self.gdrive.destination_toml("drive")),
            quick_retries(self.supabase.destination_toml("supabase")),
        )
    }

    /// The same secrets, every endpoint a closed loopback port.
    pub fn unreachable_config(&self) -> String {
        let mut c = self.config();
        for uri in [
            self.s3.uri(),
            self.dropbox.uri(),
            self.gdrive.uri(),
            self.supabase.uri(),
        ] {
            c = c.replace(&uri, "http://127.0.0.1:1");
        }
        c
    }
}

/// A `[[destinations]]` table with a 5 s retry budget: tests that make a fake fail every request
/// would otherwise wait out the default five minutes.
pub fn quick_retries(table: String) -> String {
    format!("{table}retry_for = \"5s\"\n")
}
