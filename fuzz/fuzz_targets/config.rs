//! Fuzzes the config loader: any text gives a config or an error naming the file, never a panic,
//! and an error never echoes a `${VAR}` value (values may be secrets).
#![no_main]

use std::path::PathBuf;

use cloudmirror::config::{Config, ConfigOrigin};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-value-7Hq";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "S").then(|| SECRET.to_owned());
    match Config::parse(
        text,
        ConfigOrigin::File(PathBuf::from("fuzz.toml")),
        PathBuf::from("."),
        &env,
    ) {
        Ok(config) => {
            for dest in &config.destinations {
                let _ = config.destination_error(dest, Some("x"), "m");
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("fuzz.toml"), "{message}");
            if !text.contains(SECRET) {
                assert!(!message.contains(SECRET), "secret echoed: {message}");
            }
        }
    }
    let _ = cloudmirror::config::secrets::literal_secret_fields(text);
    let _ = cloudmirror::config::duration::parse(text);
});
