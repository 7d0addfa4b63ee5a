//! Where the contract suite and the demo run: each provider's fake (started in this process), or a
//! real account described by `CLOUDMIRROR_LIVE_<PROVIDER>_*` variables.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use cloudmirror::config::destinations;
use cloudmirror::config::{Config, ConfigOrigin};
use cloudmirror_azure::testserver::{Azurite, ACCOUNT, CONTAINER, KEY};
use cloudmirror_contract::Store;
use cloudmirror_fakes::{
    dropbox::FakeDropbox, gdrive::FakeGdrive, s3::FakeS3, supabase::FakeSupabase,
};
use cloudmirror_sftp::testserver::Sshd;
use cloudmirror_webdav::testserver::{Wsgidav, PASSWORD, USER};

/// Every provider, in table order.
pub(crate) const PROVIDERS: &[&str] = &[
    "local", "s3", "dropbox", "gdrive", "supabase", "sftp", "webdav", "azure",
];

/// The four provider fakes, running on the caller's tokio runtime until dropped, and a real
/// OpenSSH `sshd` for SFTP and a real Azure Blob service (Azurite) where they are installed.
pub(crate) struct Fakes {
    pub(crate) s3: FakeS3,
    pub(crate) dropbox: FakeDropbox,
    pub(crate) gdrive: FakeGdrive,
    pub(crate) supabase: FakeSupabase,
    /// A real SFTP server (no fake: `sshd` on 127.0.0.1 with generated keys), or why there is none.
    pub(crate) sftp: std::result::Result<Sshd, String>,
    /// A real WebDAV server (`wsgidav` on 127.0.0.1, stopped on drop), or why there is none.
    pub(crate) webdav: std::result::Result<Wsgidav, String>,
    /// Azurite on 127.0.0.1 (stopped on drop), or why it is not running.
    pub(crate) azurite: std::result::Result<Azurite, String>,
}

impl Fakes {
    /// Starts every fake on 127.0.0.1.
    pub(crate) async fn start() -> Self {
        let (s3, dropbox, gdrive, supabase) = tokio::join!(
            FakeS3::start(),
            FakeDropbox::start(),
            FakeGdrive::start(),
            FakeSupabase::start()
        );
        let sftp = tokio::task::spawn_blocking(|| match Sshd::find() {
            Some(binary) => Sshd::start(binary).map_err(|e| format!("starting sshd: {e}")),
            None => Err("sshd is not installed (apt-get install openssh-server)".to_owned()),
        })
        .await
        .unwrap_or_else(|e| Err(format!("starting sshd: {e}")));
        let webdav = tokio::task::spawn_blocking(|| match Wsgidav::find() {
            Some(binary) => Wsgidav::start(binary).map_err(|e| format!("starting wsgidav: {e}")),
            None => Err("wsgidav is not installed (`cargo xtask ci` installs it)".to_owned()),
        })
        .await
        .unwrap_or_else(|e| Err(format!("starting wsgidav: {e}")));
        let azurite = match Azurite::find() {
            Some(binary) => Azurite::start(&binary)
                .await
                .map_err(|e| format!("Azurite did not start: {e}")),
            None => Err("Azurite is not installed (`cargo xtask ci` installs it)".to_owned()),
        };
        Self {
            s3,
            dropbox,
            gdrive,
            supabase,
            sftp,
            webdav,
            azurite,
        }
    }

    /// The settings of one provider's column: its fake's table, or why it is skipped (no `sshd`).
    pub(crate) fn settings(&self, provider: &str, name: &str, dir: &Path) -> LiveSettings {
        let missing = match provider {
            "sftp" => self.sftp.as_ref().err(),
            "webdav" => self.webdav.as_ref().err(),
            "azure" => self.azurite.as_ref().err(),
            _ => None,
        };
        match missing {
            // Under CI every real server is provisioned: one that is missing is a failure.
            Some(why) if std::env::var("CI").as_deref() == Ok("true") => {
                LiveSettings::Incomplete(format!("CI=true: {why}"))
            }
            Some(why) => LiveSettings::Unset(why.clone()),
            None => LiveSettings::Table(self.destination_toml(provider, name, dir)),
        }
    }

    /// The `[[destinations]]` table of one provider's fake (`local` gets a folder under `dir`).
    pub(crate) fn destination_toml(&self, provider: &str, name: &str, dir: &Path) -> String {
        match provider {
            "s3" => self.s3.destination_toml(name),
            "dropbox" => self.dropbox.destination_toml(name),
            "gdrive" => self.gdrive.destination_toml(name),
            "supabase" => self.supabase.destination_toml(name),
            "sftp" => self
                .sftp
                .as_ref()
                .map(|s| s.destination_toml(name))
                .unwrap_or_default(),
            "webdav" => self
                .webdav
                .as_ref()
                .map(|d| {
                    format!(
                        "[[destinations]]\nname = \"{name}\"\ntype = \"webdav\"\nurl = \"{}\"\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\n",
                        d.url()
                    )
                })
                .unwrap_or_default(),
            // The emulator's well-known key is public (Microsoft documents it).
            "azure" => match &self.azurite {
                Ok(server) => format!(
                    "[[destinations]]\nname = \"{name}\"\ntype = \"azure\"\naccount = \"{ACCOUNT}\"\ncontainer = \"{CONTAINER}\"\naccess_key = \"{KEY}\"\nendpoint = \"{}\"\n",
                    Azurite::endpoint_on(server.port())
                ),
                Err(_) => String::new(),
            },
            _ => format!(
                "[[destinations]]\nname = \"{name}\"\ntype = \"local\"\npath = {:?}\n",
                dir.join(name).display().to_string()
            ),
        }
    }

    /// A whole `cloudmirror.toml` mirroring to a local folder under `dir` and every fake.
    pub(crate) fn config_toml(&self, dir: &Path) -> String {
        let mut out = String::from(
            "# Generated by cargo xtask: local + the four provider fakes on 127.0.0.1 (+ sshd, wsgidav, Azurite).\n\n",
        );
        for (provider, name) in self.destinations() {
            out.push_str(&self.destination_toml(provider, name, dir));
            out.push('\n');
        }
        out
    }

    /// (provider, destination name) of every destination `config_toml` writes.
    pub(crate) fn destinations(&self) -> Vec<(&'static str, &'static str)> {
        let mut all = vec![
            ("local", "local"),
            ("s3", "s3"),
            ("dropbox", "dropbox"),
            ("gdrive", "drive"),
            ("supabase", "supabase"),
        ];
        if self.sftp.is_ok() {
            all.push(("sftp", "sftp"));
        }
        if self.webdav.is_ok() {
            all.push(("webdav", "webdav"));
        }
        if self.azurite.is_ok() {
            all.push(("azure", "azure"));
        }
        all
    }
}

/// Variables each provider's live run reads: (setting, variable suffix, required).
fn live_settings(provider: &str) -> &'static [(&'static str, &'static str, bool)] {
    match provider {
        "s3" => &[
            ("bucket", "BUCKET", true),
            ("region", "REGION", false),
            ("endpoint", "ENDPOINT", false),
            ("access_key_id", "ACCESS_KEY_ID", false),
            ("secret_access_key", "SECRET_ACCESS_KEY", false),
        ],
        "dropbox" => &[
            ("folder", "FOLDER", true),
            ("app_key", "APP_KEY", true),
            ("app_secret", "APP_SECRET", false),
            ("refresh_token", "REFRESH_TOKEN", true),
            ("select_user", "SELECT_USER", false),
            ("root_namespace_id", "ROOT_NAMESPACE_ID", false),
        ],
        "gdrive" => &[
            ("folder_id", "FOLDER_ID", true),
            ("service_account_json", "SERVICE_ACCOUNT_JSON", true),
            ("shared_drive_id", "SHARED_DRIVE_ID", false),
            ("subject", "SUBJECT", false),
        ],
        "supabase" => &[
            ("url", "URL", true),
            ("service_role_key", "SERVICE_ROLE_KEY", true),
            ("bucket", "BUCKET", true),
        ],
        "azure" => &[
            ("account", "ACCOUNT", true),
            ("container", "CONTAINER", true),
            ("access_key", "ACCESS_KEY", false),
            ("sas_token", "SAS_TOKEN", false),
            ("endpoint", "ENDPOINT", false),
        ],
        "webdav" => &[
            ("url", "URL", true),
            ("user", "USER", false),
            ("password", "PASSWORD", false),
        ],
        "sftp" => &[
            ("host", "HOST", true),
            ("port", "PORT", false),
            ("user", "USER", true),
            ("path", "PATH", true),
            ("private_key", "PRIVATE_KEY", false),
            ("password", "PASSWORD", false),
            ("known_hosts", "KNOWN_HOSTS", false),
        ],
        _ => &[],
    }
}

/// What the `CLOUDMIRROR_LIVE_<PROVIDER>_*` variables say about one provider's live run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LiveSettings {
    /// None of the provider's variables is set (or it needs no account): the provider is skipped.
    Unset(String),
    /// Some variables are set but a required one is missing: "set but wrong", the run fails.
    Incomplete(String),
    /// The destination table. Values stay in the environment: the table refers to them as
    /// `${VAR}`, so they are never printed.
    Table(String),
}

/// The live destination table of `provider` from `CLOUDMIRROR_LIVE_<PROVIDER>_*` (read through
/// `env`), or why it is skipped or broken.
pub(crate) fn live_destination(
    provider: &str,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> LiveSettings {
    let settings = live_settings(provider);
    if settings.is_empty() {
        return LiveSettings::Unset(format!("{provider} has no live mode (it needs no account)"));
    }
    let upper = provider.to_ascii_uppercase();
    let var = |suffix: &str| format!("CLOUDMIRROR_LIVE_{upper}_{suffix}");
    let set = |suffix: &str| env(&var(suffix)).is_some_and(|v| !v.is_empty());
    if !settings.iter().any(|(_, s, _)| set(s)) {
        return LiveSettings::Unset(format!(
            "no credentials (no CLOUDMIRROR_LIVE_{upper}_* set)"
        ));
    }
    let missing: Vec<String> = settings
        .iter()
        .filter(|(_, s, required)| *required && !set(s))
        .map(|(_, s, _)| var(s))
        .collect();
    if !missing.is_empty() {
        return LiveSettings::Incomplete(format!(
            "some settings are set but {} {} not",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        ));
    }
    let mut table = format!("[[destinations]]\nname = \"{name}\"\ntype = \"{provider}\"\n");
    for (key, suffix, _) in settings {
        if !set(suffix) {
            continue;
        }
        // A port is a TOML integer, which `${VAR}` (expanded in strings) cannot give; it is no secret.
        let number = (*key == "port")
            .then(|| env(&var(suffix)).and_then(|v| v.trim().parse::<u16>().ok()))
            .flatten();
        match number {
            Some(n) => {
                let _ = writeln!(table, "{key} = {n}");
            }
            None => {
                let _ = writeln!(table, "{key} = \"${{{}}}\"", var(suffix));
            }
        }
    }
    LiveSettings::Table(table)
}

/// Opens the store a one-destination config table describes, the way the binary does.
pub(crate) async fn open_store(table: &str, base: &Path) -> Result<Arc<dyn Store>> {
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::parse(table, ConfigOrigin::Embedded, base.to_path_buf(), &env)
        .map_err(|e| anyhow!("{e}"))
        .context("building the destination")?;
    let dest = config
        .destinations
        .first()
        .ok_or_else(|| anyhow!("no destination"))?;
    Ok(destinations::open(&config, dest)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_provider_with_no_settings_is_skipped() {
        let got = live_destination("supabase", "supabase", &env_of(&[]));
        assert!(matches!(got, LiveSettings::Unset(_)), "{got:?}");
        let got = live_destination("local", "local", &env_of(&[]));
        assert!(matches!(got, LiveSettings::Unset(_)), "{got:?}");
    }

    #[test]
    fn a_provider_with_some_settings_but_a_required_one_missing_fails() {
        let env = env_of(&[("CLOUDMIRROR_LIVE_SUPABASE_URL", "https://x.supabase.co")]);
        match live_destination("supabase", "supabase", &env) {
            LiveSettings::Incomplete(why) => {
                assert!(
                    why.contains("CLOUDMIRROR_LIVE_SUPABASE_SERVICE_ROLE_KEY"),
                    "{why}"
                );
                assert!(why.contains("CLOUDMIRROR_LIVE_SUPABASE_BUCKET"), "{why}");
                assert!(
                    !why.contains("x.supabase.co"),
                    "values are never printed: {why}"
                );
            }
            other => panic!("expected Incomplete, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_provider_refers_to_its_variables_without_their_values() {
        let env = env_of(&[
            ("CLOUDMIRROR_LIVE_S3_BUCKET", "b"),
            ("CLOUDMIRROR_LIVE_S3_SECRET_ACCESS_KEY", "hunter2"),
        ]);
        match live_destination("s3", "s3", &env) {
            LiveSettings::Table(t) => {
                assert!(
                    t.contains("bucket = \"${CLOUDMIRROR_LIVE_S3_BUCKET}\""),
                    "{t}"
                );
                assert!(!t.contains("hunter2"), "{t}");
                assert!(
                    !t.contains("region"),
                    "unset optional settings are left out: {t}"
                );
            }
            other => panic!("expected a table, got {other:?}"),
        }
    }

    #[test]
    fn sftp_port_is_a_number_and_secrets_stay_references() {
        let vars = [
            ("CLOUDMIRROR_LIVE_SFTP_HOST", "nas"),
            ("CLOUDMIRROR_LIVE_SFTP_PORT", "23"),
            ("CLOUDMIRROR_LIVE_SFTP_USER", "u"),
            ("CLOUDMIRROR_LIVE_SFTP_PATH", "backups"),
            ("CLOUDMIRROR_LIVE_SFTP_PASSWORD", "pw-secret"),
        ];
        let env = env_of(&vars);
        match live_destination("sftp", "sftp", &env) {
            LiveSettings::Table(t) => {
                assert!(t.contains("type = \"sftp\"\n"), "{t}");
                assert!(t.contains("port = 23\n"), "{t}");
                assert!(
                    t.contains("password = \"${CLOUDMIRROR_LIVE_SFTP_PASSWORD}\""),
                    "{t}"
                );
                assert!(!t.contains("pw-secret"), "{t}");
            }
            other => panic!("{other:?}"),
        }
    }
}
