//! Fuzzes the Drive adapter's parsing of error bodies, `files.list` pages and resumable `Range`s.
//! Input: two bytes of status, a header line, `\n`, then the body (seeds in `seeds/gdrive`).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod input;

fuzz_target!(|data: &[u8]| {
    let Some(r) = input::split(data) else {
        return;
    };
    let _ = cloudmirror_gdrive::fuzz_parse_error(r.status, &r.headers, r.body).to_string();
    let _ = cloudmirror_gdrive::fuzz_parse_list_page(r.body);
    if let Some(n) = cloudmirror_gdrive::fuzz_parse_range(r.header) {
        assert!(n > 0);
    }
});
