//! Fuzzes the S3 adapter's mapping of error codes and listing entries (the SDK parses the XML).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, Option<&str>, &str, i64, i64, u32, &str)| {
    let (status, code, key, size, secs, nanos, prefix) = input;
    let _ = cloudmirror_s3::fuzz_parse_error(status, code);
    if let Some(meta) = cloudmirror_s3::fuzz_list_entry(key, size, secs, nanos, prefix) {
        assert_eq!(meta.key.as_str(), key);
    }
});
