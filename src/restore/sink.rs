//! Where a restore's decoded bytes go: any [`Write`], and whole inflated members without a copy
//! where the writer can keep them ([`super::write_behind::WriteBehind`], the restore's output
//! thread).

use std::io::{self, Write};

/// A [`Write`] that can also take a whole buffer of decoded bytes.
pub trait OutputSink: Write {
    /// Writes `buf[start..]`, taking `buf`; hands back an emptied buffer to reuse when it has
    /// one. By default it copies, and hands `buf` itself back.
    fn put_owned(&mut self, buf: Vec<u8>, start: usize) -> io::Result<Option<Vec<u8>>> {
        self.write_all(&buf[start..])?;
        Ok(Some(buf))
    }
}

impl OutputSink for Vec<u8> {}

impl OutputSink for io::Sink {}

impl<W: Write> OutputSink for io::BufWriter<W> {}

impl OutputSink for crate::backup::archive::Extractor {}
