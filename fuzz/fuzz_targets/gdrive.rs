//! Fuzzes the Drive adapter's parsing of error bodies, `files.list` pages and resumable `Range`s.
//! Input: two bytes of status, a header line, `\n`, then the body (seeds in `seeds/gdrive`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, header, body)) = split(data) else {
        return;
    };
    let _ = cloudmirror_gdrive::fuzz_parse_error(status, header, body).to_string();
    let _ = cloudmirror_gdrive::fuzz_parse_list_page(body);
    if let Some(n) = cloudmirror_gdrive::fuzz_parse_range(header) {
        assert!(n > 0);
    }
});

fn split(data: &[u8]) -> Option<(u16, &[u8], &[u8])> {
    let (status, rest) = data.split_at_checked(2)?;
    let status = u16::from_be_bytes([status[0], status[1]]);
    let nl = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (header, body) = rest.split_at(nl);
    Some((status, header, body.get(1..).unwrap_or_default()))
}
