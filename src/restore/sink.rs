//! Where a restore's decoded bytes go: any [`Write`], and whole inflated members without a copy
//! where the writer can keep them ([`super::write_behind::WriteBehind`], the restore's output
//! thread).

use std::io::{self, Write};

pub use crate::backup::compress::pool::OutputSink;

impl OutputSink for Vec<u8> {}

impl<W: Write> OutputSink for io::BufWriter<W> {}

impl OutputSink for crate::backup::archive::Extractor {}
