//! One-pass hashing of stored bytes: SHA-256, MD5 and Dropbox's content hash.

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::Checksum;

mod threads;
pub use threads::DigestThreads;

/// Dropbox hashes content in blocks of this many bytes (4 MiB).
pub const DROPBOX_BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Which digests a [`Hashes`] computes: each costs a pass of CPU over every byte (SHA-256 about
/// 0.6 s per GiB here, MD5 about 1.5 s), so a caller asks only for those it compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSet {
    /// SHA-256.
    pub sha256: bool,
    /// MD5.
    pub md5: bool,
    /// Dropbox's content hash.
    pub dropbox: bool,
}

impl DigestSet {
    /// Every digest (what a manifest records).
    pub const ALL: Self = Self {
        sha256: true,
        md5: true,
        dropbox: true,
    };
    /// SHA-256 only.
    pub const SHA256: Self = Self {
        sha256: true,
        md5: false,
        dropbox: false,
    };
    /// MD5 only.
    pub const MD5: Self = Self {
        sha256: false,
        md5: true,
        dropbox: false,
    };
    /// Dropbox's content hash only.
    pub const DROPBOX: Self = Self {
        sha256: false,
        md5: false,
        dropbox: true,
    };
}

/// Incremental hashers for the checksums a provider may report, fed once.
#[derive(Clone)]
pub struct Hashes {
    sha256: Option<Sha256>,
    md5: Option<Md5>,
    dropbox: Option<DropboxHasher>,
    len: u64,
}

impl Default for Hashes {
    fn default() -> Self {
        Self::with(DigestSet::ALL)
    }
}

/// Dropbox's content hash: the SHA-256 of the SHA-256 of every 4 MiB block.
#[derive(Clone, Default)]
struct DropboxHasher {
    block: Sha256,
    block_len: usize,
    blocks: Sha256,
}

impl DropboxHasher {
    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = DROPBOX_BLOCK_SIZE - self.block_len;
            let take = room.min(data.len());
            self.block.update(&data[..take]);
            self.block_len += take;
            data = &data[take..];
            if self.block_len == DROPBOX_BLOCK_SIZE {
                let block = std::mem::take(&mut self.block).finalize();
                self.blocks.update(block);
                self.block_len = 0;
            }
        }
    }

    fn finish(mut self) -> String {
        if self.block_len > 0 {
            let block = self.block.finalize();
            self.blocks.update(block);
        }
        hex::encode(self.blocks.finalize())
    }
}

impl std::fmt::Debug for Hashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashes")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// The finished digests (lower-case hex) and the number of bytes hashed. A digest that was not
/// asked for (see [`DigestSet`]) is the empty string, and never matches.
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
    /// Fresh hashers for every digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fresh hashers for the digests in `set` only.
    pub fn with(set: DigestSet) -> Self {
        Self {
            sha256: set.sha256.then(Sha256::new),
            md5: set.md5.then(Md5::new),
            dropbox: set.dropbox.then(DropboxHasher::default),
            len: 0,
        }
    }

    /// Feeds more content.
    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
        if let Some(h) = &mut self.dropbox {
            h.update(data);
        }
    }

    /// Finishes the digests.
    pub fn finish(self) -> Digests {
        Digests {
            sha256: self
                .sha256
                .map(|h| hex::encode(h.finalize()))
                .unwrap_or_default(),
            md5: self
                .md5
                .map(|h| hex::encode(h.finalize()))
                .unwrap_or_default(),
            dropbox_content_hash: self.dropbox.map(DropboxHasher::finish).unwrap_or_default(),
            len: self.len,
        }
    }
}

impl Digests {
    /// Every digest of an in-memory buffer.
    pub fn of(data: &[u8]) -> Self {
        let mut h = Hashes::new();
        h.update(data);
        h.finish()
    }

    /// Whether a provider's checksum agrees with these digests (never for a digest not computed).
    pub fn matches(&self, checksum: &Checksum) -> bool {
        let expected = match checksum {
            Checksum::Sha256(_) => &self.sha256,
            Checksum::Md5(_) => &self.md5,
            Checksum::DropboxContentHash(_) => &self.dropbox_content_hash,
        };
        !expected.is_empty() && expected.eq_ignore_ascii_case(checksum.value())
    }
}

/// Dropbox's content hash of an in-memory buffer.
pub fn dropbox_content_hash(data: &[u8]) -> String {
    let mut h = Hashes::with(DigestSet::DROPBOX);
    h.update(data);
    h.finish().dropbox_content_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the protocol notes (computed with Dropbox's published algorithm).
    #[test]
    fn a_digest_set_computes_only_what_it_names() {
        let data = vec![42u8; DROPBOX_BLOCK_SIZE + 3];
        let all = Digests::of(&data);
        for (set, field) in [
            (DigestSet::SHA256, 0),
            (DigestSet::MD5, 1),
            (DigestSet::DROPBOX, 2),
        ] {
            let mut h = Hashes::with(set);
            h.update(&data[..10]);
            h.update(&data[10..]);
            let got = h.finish();
            assert_eq!(got.len, all.len);
            let fields = [&got.sha256, &got.md5, &got.dropbox_content_hash];
            let want = [&all.sha256, &all.md5, &all.dropbox_content_hash];
            for i in 0..3 {
                if i == field {
                    assert_eq!(fields[i], want[i]);
                } else {
                    assert!(fields[i].is_empty(), "digest {i} computed for {set:?}");
                }
            }
        }
        // A digest not computed never matches, not even an empty checksum.
        let sha_only = {
            let mut h = Hashes::with(DigestSet::SHA256);
            h.update(&data);
            h.finish()
        };
        assert!(!sha_only.matches(&Checksum::Md5(all.md5.clone())));
        assert!(!sha_only.matches(&Checksum::Md5(String::new())));
        assert!(sha_only.matches(&Checksum::Sha256(all.sha256.clone())));
        assert_eq!(dropbox_content_hash(&data), all.dropbox_content_hash);
    }

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
