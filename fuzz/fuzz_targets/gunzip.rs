//! Fuzzes restore's gzip decoder (cloudmirror's members inflated on several threads, anything else
//! streamed): any bytes give output or an error, never a panic or a hang, and what decodes on two
//! threads decodes the same on one.
#![no_main]

use cloudmirror::restore::gunzip::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut two = Vec::new();
    let parallel = decode(data, &mut two, 2);
    let mut one = Vec::new();
    let inline = decode(data, &mut one, 1);
    match (parallel, inline) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert!(one == two, "thread counts disagree");
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("thread counts disagree: {a:?} vs {b:?}"),
    }
});
