//! `init`: writes a commented starter config with one destination per named type, every secret a
//! `${VAR}` reference named as in the provider docs, mode 0600, never over an existing file.

use std::io::Write;
use std::path::Path;

use cloudmirror::Error;

/// One destination type's starter table and the variables it reads.
struct Template {
    kind: &'static str,
    table: &'static str,
    vars: &'static [&'static str],
}

/// The tables follow `docs/providers/<type>.md` (same keys, same variable names).
const TEMPLATES: &[Template] = &[
    Template {
        kind: "local",
        table: "[[destinations]]\nname = \"local\"\ntype = \"local\"\npath = \"backups\"                      # a folder; created if missing\n",
        vars: &[],
    },
    Template {
        kind: "s3",
        table: "[[destinations]]\nname = \"s3\"\ntype = \"s3\"\nbucket = \"my-backups\"                   # change me\nregion = \"eu-west-1\"                     # change me\n# endpoint = \"https://s3.example.com\"    # S3-compatible stores (MinIO, R2, B2)\naccess_key_id = \"${AWS_ACCESS_KEY_ID}\"\nsecret_access_key = \"${AWS_SECRET_ACCESS_KEY}\"\n",
        vars: &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    },
    Template {
        kind: "dropbox",
        table: "[[destinations]]\nname = \"dropbox\"\ntype = \"dropbox\"\nfolder = \"/backups\"                     # change me\napp_key = \"${DROPBOX_APP_KEY}\"\napp_secret = \"${DROPBOX_APP_SECRET}\"\nrefresh_token = \"${DROPBOX_REFRESH_TOKEN}\"\n",
        vars: &["DROPBOX_APP_KEY", "DROPBOX_APP_SECRET", "DROPBOX_REFRESH_TOKEN"],
    },
    Template {
        kind: "gdrive",
        table: "[[destinations]]\nname = \"drive\"\ntype = \"gdrive\"\nfolder_id = \"${GOOGLE_DRIVE_BACKUP_FOLDER_ID}\"   # share it with the service account's e-mail\nservice_account_json = \"${GOOGLE_SERVICE_ACCOUNT_JSON}\" # the key file's contents\n",
        vars: &["GOOGLE_DRIVE_BACKUP_FOLDER_ID", "GOOGLE_SERVICE_ACCOUNT_JSON"],
    },
    Template {
        kind: "supabase",
        table: "[[destinations]]\nname = \"supabase\"\ntype = \"supabase\"\nurl = \"${SUPABASE_URL}\"                 # https://<project-ref>.supabase.co\nservice_role_key = \"${SUPABASE_SERVICE_ROLE_KEY}\"\nbucket = \"backups\"\n",
        vars: &["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"],
    },
    Template {
        kind: "webdav",
        table: "[[destinations]]\nname = \"webdav\"\ntype = \"webdav\"\nurl = \"https://cloud.example.com/remote.php/dav/files/alice/backups/\"   # change me; must exist\nuser = \"alice\"                            # change me\npassword = \"${WEBDAV_PASSWORD}\"\n",
        vars: &["WEBDAV_PASSWORD"],
    },
    Template {
        kind: "sftp",
        table: "[[destinations]]\nname = \"sftp\"\ntype = \"sftp\"\nhost = \"nas.example.com\"                 # change me\n# port = 22                                 # a Hetzner Storage Box serves SFTP on 23\nuser = \"backup\"                           # change me\npath = \"backups\"                          # must exist; relative to the login folder or absolute\nprivate_key = \"~/.ssh/id_ed25519\"         # or password = \"${SFTP_PASSWORD}\"\n# known_hosts = \"~/.ssh/known_hosts\"      # add the host first: ssh-keyscan -p 22 nas.example.com >> ~/.ssh/known_hosts\n",
        vars: &[],
    },
    Template {
        kind: "azure",
        table: "[[destinations]]\nname = \"azure\"\ntype = \"azure\"\naccount = \"myaccount\"                  # change me\ncontainer = \"backups\"                   # must exist\naccess_key = \"${AZURE_STORAGE_KEY}\"     # or sas_token = \"${AZURE_SAS_TOKEN}\"\n# endpoint = \"http://127.0.0.1:10000/devstoreaccount1\"   # Azurite, sovereign clouds\n",
        vars: &["AZURE_STORAGE_KEY"],
    },
];

const HEADER: &str = "# cloudmirror configuration (written by `cloudmirror init`).\n\
# Secrets are ${VAR} references, read from the environment when cloudmirror runs.\n\
# Reference: docs/configuration.md and docs/providers/<type>.md.\n\n\
[backup]\n\
# exec = \"pg_dump --format=custom $DATABASE_URL\"   # what `backup` and `daemon` back up\n\
compress = \"gzip\"                                  # gzip, zstd or none\n\n\
# [retention]\n\
# keep_daily = 7\n\
# keep_weekly = 4\n\n";

/// Writes the config for `with` (destination types) to `path`; prints what to do next.
pub(crate) fn run(with: &[String], path: &Path) -> Result<(), Error> {
    let mut chosen: Vec<&Template> = Vec::new();
    for kind in with {
        let kind = kind.trim();
        let t = TEMPLATES.iter().find(|t| t.kind == kind).ok_or_else(|| {
            let known: Vec<&str> = TEMPLATES.iter().map(|t| t.kind).collect();
            Error::Usage(format!(
                "--with: unknown destination type {kind:?} (one of {})",
                known.join(", ")
            ))
        })?;
        if !chosen.iter().any(|c| c.kind == t.kind) {
            chosen.push(t);
        }
    }
    if chosen.is_empty() {
        return Err(Error::Usage(
            "--with: name at least one destination type, e.g. --with s3,dropbox".into(),
        ));
    }
    let mut text = HEADER.to_owned();
    for t in &chosen {
        text.push_str(t.table);
        text.push('\n');
    }
    write_new(path, &text)?;
    println!("wrote {} (mode 0600)", path.display());
    let vars: Vec<&str> = chosen.iter().flat_map(|t| t.vars.iter().copied()).collect();
    if !vars.is_empty() {
        println!("set these variables before running cloudmirror:");
        for v in &vars {
            println!("  export {v}=...");
        }
    }
    println!(
        "edit the `change me` values, then test every destination with: cloudmirror --config {} check",
        path.display()
    );
    Ok(())
}

/// Creates `path` with mode 0600; an existing file is never touched.
fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Usage(format!(
                "{} already exists; not overwriting it (give another --path)",
                path.display()
            ))
        } else {
            Error::Input(format!("cannot create {}: {e}", path.display()))
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))
}
