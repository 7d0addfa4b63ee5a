//! cloudmirror binary (being written).
fn main() {}
