//! Tests of config loading: discovery, expansion, destinations, errors naming file, line and field.

use super::vars::expand;
use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "BUCKET" => Some("acme".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, Error> {
    Config::parse(
        text,
        ConfigOrigin::File("cm.toml".into()),
        PathBuf::from("/etc/cm"),
        &env,
    )
}

#[test]
fn retry_for_is_global_with_per_destination_overrides() {
    use std::time::Duration;
    let c = parse(
        "[backup]\nretry_for = \"2m\"\n[[destinations]]\nname='a'\ntype='local'\npath='x'\n\
         [[destinations]]\nname='b'\ntype='local'\npath='y'\nretry_for = 15\n",
    )
    .unwrap();
    let budget =
        |i: usize| crate::config::destinations::retry_policy(&c, &c.destinations[i]).budget;
    assert_eq!(budget(0), Duration::from_mins(2));
    assert_eq!(budget(1), Duration::from_secs(15));
    let d = parse("[[destinations]]\nname='a'\ntype='local'\npath='x'\n").unwrap();
    assert_eq!(
        crate::config::destinations::retry_policy(&d, &d.destinations[0]).budget,
        cloudmirror_contract::DEFAULT_RETRY_FOR
    );
    let err = parse("[[destinations]]\nname='a'\ntype='local'\npath='x'\nretry_for='soon'\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cm.toml:5:") && err.contains("retry_for"),
        "{err}"
    );
}

#[test]
fn embedded_default_is_one_local_destination() {
    let c = Config::parse(
        EMBEDDED_DEFAULT,
        ConfigOrigin::Embedded,
        PathBuf::from("."),
        &env,
    )
    .unwrap();
    assert_eq!(c.destinations.len(), 1);
    assert_eq!(c.destinations[0].kind, "local");
    assert_eq!(c.backup.compress, Compression::Gzip);
}

#[test]
fn expands_variables() {
    assert_eq!(expand("a-${BUCKET}-b", &env).unwrap(), "a-acme-b");
    assert_eq!(expand("$${BUCKET} $5", &env).unwrap(), "${BUCKET} $5");
    assert_eq!(expand("${NOPE}", &env).unwrap_err(), "NOPE");
}

#[test]
fn destinations_parse_with_prefix_and_settings() {
    let c = parse(
        "[[destinations]]\nname = \"s3\"\ntype = \"s3\"\nbucket = \"${BUCKET}\"\nprefix = \"db\"\n",
    )
    .unwrap();
    let d = &c.destinations[0];
    assert_eq!(d.prefix.as_str(), "db/");
    assert_eq!(d.settings["bucket"].as_str(), Some("acme"));
    assert!(!d.settings.contains_key("name"));
}

#[test]
fn errors_name_file_line_and_field() {
    let cases = [
        (
            "[backup]\ncompress = \"zip\"\n[[destinations]]\nname='a'\ntype='local'\npath='x'\n",
            "cm.toml:2:",
            "compress",
        ),
        (
            "[backup]\nnmae = 'x'\n[[destinations]]\nname='a'\ntype='local'\npath='x'\n",
            "cm.toml:2:",
            "nmae",
        ),
        (
            "[[destinations]]\nname='a'\ntype='ftp'\n",
            "cm.toml:3:",
            "unknown type \"ftp\"",
        ),
        (
            "[[destinations]]\nname='a'\ntype='local'\n[[destinations]]\nname='a'\ntype='local'\n",
            "cm.toml:5:",
            "duplicate destination name",
        ),
        (
            "[[destinations]]\nname='a'\ntype='local'\npath='${NOPE}'\n",
            "cm.toml:4:",
            "NOPE is not set",
        ),
        (
            "[[destinations]]\nname='a'\ntype='local'\nprefix='../x'\n",
            "cm.toml:4:",
            "prefix",
        ),
        ("[[destinations]]\nname = \n", "cm.toml:2:", "invalid TOML"),
        (
            "colour = 1\n[[destinations]]\nname='a'\ntype='local'\n",
            "cm.toml:1:",
            "colour",
        ),
        ("", "cm.toml", "no [[destinations]]"),
        (
            "[[destinations]]\ntype='local'\n",
            "cm.toml:1:",
            "no `name`",
        ),
    ];
    for (text, loc, frag) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.starts_with(loc), "{err:?} should start with {loc:?}");
        assert!(err.contains(frag), "{err:?} should mention {frag:?}");
    }
}

#[test]
fn adapter_settings_errors_name_destination_and_field() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Local {
        path: String,
        depth: Option<u32>,
    }
    let c = parse("[[destinations]]\nname='a'\ntype='local'\npath='x'\npaht='y'\n").unwrap();
    let err = c
        .adapter_settings::<Local>(&c.destinations[0])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cm.toml:5:"), "{err}");
    assert!(
        err.contains("destination \"a\"") && err.contains("paht"),
        "{err}"
    );
    let c = parse("[[destinations]]\nname='a'\ntype='local'\npath='x'\ndepth='secret-value'\n")
        .unwrap();
    let err = c
        .adapter_settings::<Local>(&c.destinations[0])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cm.toml:5:") && err.contains("depth"),
        "{err}"
    );
    assert!(
        !err.contains("secret-value"),
        "values are not echoed: {err}"
    );
}

#[test]
fn enum_values_are_not_echoed() {
    // Found by `cargo xtask fuzz` (config target): a `${VAR}` value in an enum field was
    // echoed by serde's "unknown variant" message.
    let env = |n: &str| (n == "S").then(|| "secret-from-env".to_owned());
    let err = Config::parse(
        "[backup]\ncompress = \"${S}\"\n[[destinations]]\nname='a'\ntype='local'\n",
        ConfigOrigin::File("cm.toml".into()),
        PathBuf::from("."),
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("cm.toml:2:") && err.contains("compress"),
        "{err}"
    );
    assert!(err.contains("expected one of"), "{err}");
    assert!(!err.contains("secret-from-env"), "{err}");
}

#[test]
fn select_checks_names() {
    let c = parse(
        "[[destinations]]\nname='a'\ntype='local'\n[[destinations]]\nname='b'\ntype='local'\n",
    )
    .unwrap();
    assert_eq!(c.select(&[]).unwrap().len(), 2);
    assert_eq!(c.select(&["b".into()]).unwrap()[0].name, "b");
    let err = c.select(&["zzz".into()]).unwrap_err().to_string();
    assert!(err.contains("zzz") && err.contains("a, b"), "{err}");
}
