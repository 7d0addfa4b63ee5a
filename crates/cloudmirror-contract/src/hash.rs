//! One-pass hashing of stored bytes: SHA-256, MD5 and Dropbox's content hash.

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::Checksum;

/// Dropbox hashes content in blocks of this many bytes (4 MiB).
pub const DROPBOX_BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Incremental hashers for every checksum a provider may report, fed once.
#[derive(Clone, Default)]
pub struct Hashes {
    sha256: Sha256,
    md5: Md5,
    dropbox_block: Sha256,
    dropbox_block_len: usize,
    dropbox_blocks: Sha256,
    len: u64,
}

impl std::fmt::Debug for Hashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashes")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// The finished digests (lower-case hex) and the number of bytes hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// SHA-256 of the content.
    pub sha256: String,
    /// MD5 of the content.
    pub md5: String,
    /// Dropbox's content hash of the content.
    pub dropbox_content_hash: String,
    /// Bytes hashed.
    pub len: u64,
}

impl Hashes {
    /// Fresh hashers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more content.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        self.sha256.update(data);
        self.md5.update(data);
        while !data.is_empty() {
            let room = DROPBOX_BLOCK_SIZE - self.dropbox_block_len;
            let take = room.min(data.len());
            self.dropbox_block.update(&data[..take]);
            self.dropbox_block_len += take;
            data = &data[take..];
            if self.dropbox_block_len == DROPBOX_BLOCK_SIZE {
                let block = std::mem::take(&mut self.dropbox_block).finalize();
                self.dropbox_blocks.update(block);
                self.dropbox_block_len = 0;
            }
        }
    }

    /// Finishes all digests.
    pub fn finish(mut self) -> Digests {
        if self.dropbox_block_len > 0 {
            let block = self.dropbox_block.finalize();
            self.dropbox_blocks.update(block);
        }
        Digests {
            sha256: hex::encode(self.sha256.finalize()),
            md5: hex::encode(self.md5.finalize()),
            dropbox_content_hash: hex::encode(self.dropbox_blocks.finalize()),
            len: self.len,
        }
    }
}

impl Digests {
    /// Digests of an in-memory buffer.
    pub fn of(data: &[u8]) -> Self {
        let mut h = Hashes::new();
        h.update(data);
        h.finish()
    }

    /// Whether a provider's checksum agrees with these digests.
    pub fn matches(&self, checksum: &Checksum) -> bool {
        let expected = match checksum {
            Checksum::Sha256(_) => &self.sha256,
            Checksum::Md5(_) => &self.md5,
            Checksum::DropboxContentHash(_) => &self.dropbox_content_hash,
        };
        expected.eq_ignore_ascii_case(checksum.value())
    }
}

/// Dropbox's content hash of an in-memory buffer.
pub fn dropbox_content_hash(data: &[u8]) -> String {
    Digests::of(data).dropbox_content_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the protocol notes (computed with Dropbox's published algorithm).
    #[test]
    fn dropbox_vectors() {
        assert_eq!(
            dropbox_content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            dropbox_content_hash(b"hello"),
            "9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50"
        );
        let zeros = vec![0u8; DROPBOX_BLOCK_SIZE];
        assert_eq!(
            dropbox_content_hash(&zeros),
            "c7e946d101855255d919ef0c70718633adf77d3dfb3adeeecf5d0cb4e951be58"
        );
        let mut h = Hashes::new();
        for piece in vec![0u8; DROPBOX_BLOCK_SIZE + 1].chunks(999_999) {
            h.update(piece);
        }
        assert_eq!(
            h.finish().dropbox_content_hash,
            "14a4d47f23a30177885d9820122f17d2d3a55fe63f7f5c27b95f689e0b2accd6"
        );
    }

    #[test]
    fn sha256_md5_and_matching() {
        let d = Digests::of(b"hello");
        assert_eq!(
            d.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(d.md5, "5d41402abc4b2a76b9719d911017c592");
        assert!(d.matches(&Checksum::Md5("5D41402ABC4B2A76B9719D911017C592".into())));
        assert!(!d.matches(&Checksum::Sha256(d.md5.clone())));
        assert_eq!(d.len, 5);
    }
}
