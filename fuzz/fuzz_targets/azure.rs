//! Fuzzes the Azure adapter's parsing of error answers and List Blobs pages (encoded names, MD5s).
//! Input: two bytes of status, a header line, `\n`, then the body (seeds in `seeds/azure`).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod input;

fuzz_target!(|data: &[u8]| {
    let Some(r) = input::split(data) else {
        return;
    };
    let _ = cloudmirror_azure::fuzz_parse_error(r.status, &r.headers, r.body).to_string();
    let _ = cloudmirror_azure::fuzz_parse_list_blobs(r.body);
});
