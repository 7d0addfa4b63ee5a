//! Project tasks (placeholder until the ci task lands).
fn main() {}
