//! Which config keys hold secrets written literally in the file (not `${VAR}` references), so the
//! binary can warn when such a file is readable by every user.

/// Keys whose values are credentials, in any destination type.
pub(crate) const SECRET_KEYS: &[&str] = &[
    "access_key",
    "app_secret",
    "password",
    "refresh_token",
    "sas_token",
    "secret_access_key",
    "session_token",
    "service_role_key",
    "service_account_json",
];

/// The dotted paths (`destinations[1].refresh_token`) of secret keys whose value in `text` is
/// written literally rather than only through `${VAR}` references. Unparsable text gives nothing
/// (the config loader reports that error itself).
pub fn literal_secret_fields(text: &str) -> Vec<String> {
    let Ok(value) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(&toml::Value::Table(value), "", &mut found);
    found
}

/// The warning to print when the config file `origin` is readable by every user and holds literal
/// secrets (Unix only; `None` otherwise). Names the file and the fields, never their values.
pub fn world_readable_warning(origin: &crate::config::ConfigOrigin) -> Option<String> {
    let crate::config::ConfigOrigin::File(path) = origin else {
        return None;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if !world_readable(mode) {
            return None;
        }
        let fields = literal_secret_fields(&std::fs::read_to_string(path).ok()?);
        if fields.is_empty() {
            return None;
        }
        Some(format!(
            "config file {} is readable by every user (mode {:o}) and holds secrets ({}): run `chmod o-r {}` or move them to ${{VAR}} references",
            path.display(),
            mode & 0o777,
            fields.join(", "),
            path.display()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Whether a file with these Unix permission bits can be read by every user (`o+r`).
pub(crate) fn world_readable(mode: u32) -> bool {
    mode & 0o004 != 0
}

fn walk(value: &toml::Value, path: &str, found: &mut Vec<String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if SECRET_KEYS.contains(&k.as_str()) {
                    if let toml::Value::String(s) = v {
                        if is_literal(s) {
                            found.push(here.clone());
                        }
                    }
                }
                walk(v, &here, found);
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// True when something other than `${VAR}` references and whitespace remains.
fn is_literal(s: &str) -> bool {
    let mut rest = s;
    let mut literal = String::new();
    while let Some(i) = rest.find("${") {
        literal.push_str(&rest[..i]);
        if let Some(end) = rest[i..].find('}') {
            rest = &rest[i + end + 1..];
        } else {
            literal.push_str(&rest[i..]);
            rest = "";
        }
    }
    literal.push_str(rest);
    !literal.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literal_secrets_only() {
        let text = r#"
[[destinations]]
name = "a"
type = "dropbox"
app_secret = "${DBX_SECRET}"
refresh_token = "literal-token"

[[destinations]]
name = "b"
type = "s3"
secret_access_key = "${A}${B}"
session_token = ""

[[destinations]]
name = "c"
type = "supabase"
service_role_key = "pre-${KEY}"

[[destinations]]
name = "d"
type = "azure"
access_key = "a2V5"
sas_token = "${SAS}"
"#;
        assert_eq!(
            literal_secret_fields(text),
            vec![
                "destinations[0].refresh_token".to_owned(),
                "destinations[2].service_role_key".to_owned(),
                "destinations[3].access_key".to_owned()
            ]
        );
        assert!(literal_secret_fields("not [ toml").is_empty());
        assert!(world_readable(0o644));
        assert!(!world_readable(0o640));
        assert!(!world_readable(0o600));
    }
}
