//! Re-chunks a body stream into fixed-size chunks, knowing which one is last, with bounded memory.

use std::fmt;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::{ByteStream, Result};

/// One chunk cut from a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Offset of the chunk's first byte in the whole body.
    pub offset: u64,
    /// The bytes; exactly the chunk size except for the last chunk, which may be shorter or empty.
    pub data: Bytes,
    /// Whether this is the body's last chunk (nothing follows it).
    pub last: bool,
}

/// Cuts a [`ByteStream`] into chunks of one size, holding at most one chunk plus one incoming item.
///
/// Every adapter's chunked path (upload sessions, multipart parts, resumable chunks, TUS patches)
/// reads its body through this, so the chunk size bounds its memory. An empty body yields exactly
/// one empty, last chunk.
pub struct ChunkReader {
    body: ByteStream,
    chunk_size: usize,
    buf: BytesMut,
    offset: u64,
    ended: bool,
    done: bool,
}

impl fmt::Debug for ChunkReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkReader")
            .field("chunk_size", &self.chunk_size)
            .field("offset", &self.offset)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl ChunkReader {
    /// Reads `body` in chunks of `chunk_size` bytes (at least 1).
    pub fn new(body: ByteStream, chunk_size: usize) -> Self {
        Self {
            body,
            chunk_size: chunk_size.max(1),
            buf: BytesMut::new(),
            offset: 0,
            ended: false,
            done: false,
        }
    }

    /// The chunk size.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Changes the size of the chunks cut from now on (at least 1): an adapter whose parts grow
    /// (S3 bodies of unknown length) sets each part's size before reading it. Memory stays
    /// bounded by the largest size set.
    pub fn set_chunk_size(&mut self, chunk_size: usize) {
        self.chunk_size = chunk_size.max(1);
    }

    /// Bytes handed out so far.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// The next chunk, or `None` after the last one. A producer error is returned as is.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        while !self.ended && self.buf.len() < self.chunk_size {
            self.pull().await?;
        }
        let take = self.buf.len().min(self.chunk_size);
        let data = self.buf.split_to(take).freeze();
        // What is left (the rest of the last item read) would otherwise share, and so keep alive,
        // the whole chunk's allocation until the next chunk is cut: a sequential uploader would
        // hold two chunks instead of one. An item bigger than a chunk is cut in place instead
        // (copying its rest at every chunk would be quadratic).
        if self.buf.len() < self.chunk_size {
            self.buf = BytesMut::from(&self.buf[..]);
        }
        // Look one item ahead so the caller knows whether this chunk is the last.
        if self.buf.is_empty() && !self.ended {
            self.pull().await?;
        }
        let last = self.ended && self.buf.is_empty();
        let chunk = Chunk {
            offset: self.offset,
            data,
            last,
        };
        self.offset += chunk.data.len() as u64;
        self.done = last;
        Ok(Some(chunk))
    }

    async fn pull(&mut self) -> Result<()> {
        loop {
            match self.body.next().await {
                None => {
                    self.ended = true;
                    return Ok(());
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) if b.is_empty() => {}
                Some(Ok(b)) => {
                    let free = self.buf.capacity() - self.buf.len();
                    if b.len() > free {
                        // Allocate once per chunk, exactly: a small body reserves only what it
                        // brings; a second item means a full chunk is coming, so reserve the
                        // rest of it now instead of growing by doubling (which copies, and leaves
                        // freed buffers of every size behind in the allocator).
                        let want = if self.buf.is_empty() {
                            b.len().max(64 * 1024).min(self.chunk_size).max(b.len())
                        } else {
                            self.chunk_size.max(self.buf.len() + b.len())
                        };
                        self.buf.reserve(want - self.buf.len());
                    }
                    self.buf.extend_from_slice(&b);
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorKind};
    use futures::stream;

    fn body(parts: Vec<&'static [u8]>) -> ByteStream {
        stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p)))).boxed()
    }

    async fn collect(mut r: ChunkReader) -> Vec<(u64, Vec<u8>, bool)> {
        let mut out = Vec::new();
        while let Some(c) = r.next_chunk().await.unwrap() {
            out.push((c.offset, c.data.to_vec(), c.last));
        }
        out
    }

    #[tokio::test]
    async fn a_chunk_owns_its_buffer_alone() {
        // Items that do not divide the chunk size: the leftover of the item that crosses a chunk
        // boundary must not pin the handed-out chunk's allocation.
        let items = (0..20)
            .map(|i| Ok(Bytes::from(vec![i; 3000])))
            .collect::<Vec<_>>();
        let mut r = ChunkReader::new(futures::stream::iter(items).boxed(), 8192);
        let mut total = 0;
        while let Some(c) = r.next_chunk().await.unwrap() {
            assert!(
                c.data.is_unique(),
                "chunk at {} shares its buffer",
                c.offset
            );
            assert!(c.data.len() == 8192 || c.last);
            total += c.data.len();
        }
        assert_eq!(total, 60_000);
    }

    #[tokio::test]
    async fn an_item_bigger_than_a_chunk_is_cut_in_place() {
        let item = Bytes::from((0..50_000u32).map(|i| i as u8).collect::<Vec<_>>());
        let got = collect(ChunkReader::new(body_owned(vec![item.clone()]), 8192)).await;
        assert_eq!(got.len(), 7);
        assert!(got.iter().all(|(off, data, last)| {
            *data == item[*off as usize..*off as usize + data.len()] && (*last == (*off == 49_152))
        }));
    }

    fn body_owned(parts: Vec<Bytes>) -> ByteStream {
        stream::iter(parts.into_iter().map(Ok)).boxed()
    }

    #[tokio::test]
    async fn empty_body_is_one_empty_last_chunk() {
        let got = collect(ChunkReader::new(body(vec![]), 4)).await;
        assert_eq!(got, vec![(0, vec![], true)]);
    }

    #[tokio::test]
    async fn exact_multiple_marks_last_without_trailing_empty_chunk() {
        let got = collect(ChunkReader::new(body(vec![b"ab", b"cd", b"efgh"]), 4)).await;
        assert_eq!(
            got,
            vec![(0, b"abcd".to_vec(), false), (4, b"efgh".to_vec(), true)]
        );
    }

    #[tokio::test]
    async fn the_chunk_size_can_grow_between_chunks() {
        let mut r = ChunkReader::new(body(vec![b"abcdefghij", b"klmnop"]), 2);
        let a = r.next_chunk().await.unwrap().unwrap();
        r.set_chunk_size(4);
        let b = r.next_chunk().await.unwrap().unwrap();
        r.set_chunk_size(100);
        let c = r.next_chunk().await.unwrap().unwrap();
        assert_eq!((a.offset, &a.data[..], a.last), (0, &b"ab"[..], false));
        assert_eq!((b.offset, &b.data[..], b.last), (2, &b"cdef"[..], false));
        assert_eq!(
            (c.offset, &c.data[..], c.last),
            (6, &b"ghijklmnop"[..], true)
        );
        assert!(r.next_chunk().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn uneven_items_are_recut() {
        let got = collect(ChunkReader::new(body(vec![b"abcdefghij", b"", b"k"]), 4)).await;
        assert_eq!(
            got,
            vec![
                (0, b"abcd".to_vec(), false),
                (4, b"efgh".to_vec(), false),
                (8, b"ijk".to_vec(), true)
            ]
        );
    }

    #[tokio::test]
    async fn producer_error_surfaces() {
        let s = stream::iter(vec![
            Ok(Bytes::from_static(b"abcd")),
            Err(Error::new(ErrorKind::Other, "source", "died")),
        ])
        .boxed();
        let mut r = ChunkReader::new(s, 4);
        assert!(r.next_chunk().await.is_err());
    }
}
