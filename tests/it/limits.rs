//! Each destination's largest object: a known-length backup over it fails there before a byte is
//! sent; an unknown-length one fails as soon as it crosses it. The Supabase fake's bucket is
//! configured down to 1 MiB (`file_size_limit`, which the adapter reads from the API).

use crate::common::Scratch;
use crate::fakes::{quick_retries, Fakes};

const MIB: usize = 1024 * 1024;

fn setup(fakes: &Fakes) -> Scratch {
    fakes
        .supabase
        .set_bucket_file_size_limit("backups", Some(MIB as u64));
    let s = Scratch::new();
    s.write(
        "cloudmirror.toml",
        format!(
            "[backup]\ncompress = \"none\"\n\n[[destinations]]\nname = \"local\"\ntype = \"local\"\n\
             path = \"local\"\n\n{}",
            quick_retries(fakes.supabase.destination_toml("supabase"))
        ),
    );
    s
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn a_known_length_backup_over_a_limit_fails_there_before_any_byte_is_sent() {
    let fakes = Fakes::start();
    let s = setup(&fakes);
    s.write("db.bin", data(3 * MIB));
    let before = fakes.supabase.counts();
    let run = s
        .run(&["--json", "backup", "db.bin", "--name", "db.bin"])
        .expect_code(1);
    let v = run.json();
    let dests = v["destinations"].as_array().unwrap();
    let supabase = dests
        .iter()
        .find(|d| d["destination"] == "supabase")
        .unwrap();
    let local = dests.iter().find(|d| d["destination"] == "local").unwrap();
    assert_eq!(local["ok"], true, "{v}");
    assert_eq!(supabase["ok"], false, "{v}");
    let err = supabase["error"].as_str().unwrap();
    assert!(err.contains("the backup is 3145728 bytes (3.0 MiB), over this destination's largest object of 1048576 bytes"), "{err}");
    let after = fakes.supabase.counts();
    assert_eq!(
        after.standard_uploads, before.standard_uploads,
        "no upload request"
    );
    assert_eq!(after.tus_creates, before.tus_creates, "no upload request");
}

#[test]
fn an_unknown_length_backup_fails_as_soon_as_it_crosses_a_limit() {
    let fakes = Fakes::start();
    let s = setup(&fakes);
    let input = data(12 * MIB);
    let run = s
        .run_with_stdin(&["--json", "backup", "-", "--name", "db.bin"], &input)
        .expect_code(1);
    let v = run.json();
    let dests = v["destinations"].as_array().unwrap();
    let supabase = dests
        .iter()
        .find(|d| d["destination"] == "supabase")
        .unwrap();
    let err = supabase["error"].as_str().unwrap();
    assert!(err.contains("passed 1048576 bytes"), "{err}");
    let counts = fakes.supabase.counts();
    assert!(
        counts.tus_patch_bytes <= 2 * MIB as u64,
        "sent {} bytes of a 12 MiB stream to a 1 MiB bucket",
        counts.tus_patch_bytes
    );
    assert!(fakes.supabase.object_keys("backups").is_empty());
}
