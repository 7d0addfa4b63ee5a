//! Fuzzes the Supabase adapter's parsing of error bodies and listing pages (object-name decoding).
//! Input: two bytes of status, a header line, `\n`, then the body (seeds in `seeds/supabase`).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod input;

fuzz_target!(|data: &[u8]| {
    let Some(r) = input::split(data) else {
        return;
    };
    let _ = cloudmirror_supabase::fuzz_parse_error(r.status, &r.headers, r.body).to_string();
    let _ = cloudmirror_supabase::fuzz_parse_list_page(r.body);
});
