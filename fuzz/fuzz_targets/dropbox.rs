//! Fuzzes the Dropbox adapter's parsing of error bodies, `Retry-After` and `list_folder` pages.
//! Input: two bytes of status, a header line, `\n`, then the body (seeds in `seeds/dropbox`).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod input;

fuzz_target!(|data: &[u8]| {
    let Some(r) = input::split(data) else {
        return;
    };
    let _ = cloudmirror_dropbox::fuzz_parse_error(r.status, &r.headers, r.body).to_string();
    let root_segments = usize::from(r.raw_status % 4);
    for meta in cloudmirror_dropbox::fuzz_parse_list_page(r.body, root_segments) {
        assert!(cloudmirror_contract::Key::parse(meta.key.as_str()).is_ok());
    }
});
