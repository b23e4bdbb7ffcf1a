//! Streaming verification of a whole image from a block source, with a fixed buffer and no heap.

use crate::error::{bounded, Label, LoadError};
use crate::graph;
use crate::manifest::{self, Manifest, MAX_MANIFEST_BYTES};
use crate::sha256::{self, Sha256Digest};
use crate::superblock::{blocks_for, Superblock, BLOCK_SIZE, BLOCK_SIZE_U64};
use sha2::{Digest, Sha256};

/// A device the image is read from, a block ([`BLOCK_SIZE`] bytes) at a time.
pub trait BlockSource {
    /// The device's own error; [`verify_image`] reports it as [`LoadError::Io`] naming the blocks.
    type Error;

    /// Number of whole blocks on the device. Never fails.
    fn block_count(&self) -> u64;

    /// Reads `buf.len() / BLOCK_SIZE` blocks starting at `first_block` into `buf`.
    ///
    /// The loader only calls it with a `buf` whose length is a multiple of [`BLOCK_SIZE`] and with
    /// blocks below [`BlockSource::block_count`].
    ///
    /// # Errors
    /// An implementation returns an error when `buf.len()` is not a multiple of [`BLOCK_SIZE`],
    /// when a block is at or past [`BlockSource::block_count`], or when the device fails. After an
    /// error the contents of `buf` are unspecified.
    fn read_blocks(&mut self, first_block: u64, buf: &mut [u8]) -> Result<(), Self::Error>;
}

/// Told about each step of [`verify_image`] as it succeeds, so the kernel can log it with its time.
///
/// Every method does nothing by default; `()` is an observer that ignores everything.
pub trait Observer {
    /// Block 0 decoded and its regions checked.
    fn superblock_ok(&mut self, _superblock: &Superblock) {}
    /// The manifest parsed, its graph and layout checked.
    fn manifest_ok(&mut self, _manifest: &Manifest) {}
    /// `name` (`kernel` or an entry) at `start_block` hashed to its manifest checksum.
    fn entry_verified(&mut self, _name: &str, _start_block: u64, _size_bytes: u64) {}
}

impl Observer for () {}

/// What [`verify_image`] found in an image it accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedImage {
    /// Block 0.
    pub superblock: Superblock,
    /// The manifest.
    pub manifest: Manifest,
    /// Bytes read from the source (whole blocks).
    pub bytes_read: u64,
    /// Bytes of the kernel and the binaries hashed (their exact `size_bytes`).
    pub bytes_hashed: u64,
}

/// What [`verify_image_into`] found, beside the manifest it filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Block 0.
    pub superblock: Superblock,
    /// SHA-256 of the manifest's exact bytes, as parsed: what its signature covers.
    pub manifest_sha256: Sha256Digest,
    /// Bytes read from the source (whole blocks).
    pub bytes_read: u64,
    /// Bytes of the kernel and the binaries hashed (their exact `size_bytes`).
    pub bytes_hashed: u64,
}

/// Reads blocks, mapping the source's error to [`LoadError::Io`].
fn read<S: BlockSource>(src: &mut S, first_block: u64, buf: &mut [u8]) -> Result<(), LoadError> {
    src.read_blocks(first_block, buf)
        .map_err(|_| LoadError::Io {
            block: first_block,
            count: (buf.len() / BLOCK_SIZE) as u64,
        })
}

/// Hashes `size_bytes` bytes starting at block `start_block`, reading through `buf` in chunks of
/// whole blocks (a 64 KiB buffer reads 16 blocks at a time).
///
/// # Errors
/// [`LoadError::ShortBlock`] when `buf` is shorter than one block; [`LoadError::Io`] when a read fails
/// (including reads past the device's end).
pub fn hash_region<S: BlockSource>(
    src: &mut S,
    start_block: u64,
    size_bytes: u64,
    buf: &mut [u8],
) -> Result<[u8; 32], LoadError> {
    hash_counted(src, start_block, size_bytes, buf).map(|(digest, _)| digest)
}

/// [`hash_region`], also returning the bytes read.
fn hash_counted<S: BlockSource>(
    src: &mut S,
    start_block: u64,
    size_bytes: u64,
    buf: &mut [u8],
) -> Result<([u8; 32], u64), LoadError> {
    let chunk_blocks = (buf.len() / BLOCK_SIZE) as u64;
    if chunk_blocks == 0 {
        return Err(LoadError::ShortBlock { len: buf.len() });
    }
    let mut hasher = Sha256::new();
    let mut remaining = size_bytes;
    let mut block = start_block;
    let mut read_bytes = 0u64;
    while remaining > 0 {
        let blocks = blocks_for(remaining).min(chunk_blocks);
        // blocks <= chunk_blocks, so this is at most buf.len().
        let len = (blocks * BLOCK_SIZE_U64) as usize;
        let chunk = buf.get_mut(..len).unwrap_or_default();
        read(src, block, chunk)?;
        let used = remaining.min(len as u64);
        hasher.update(chunk.get(..used as usize).unwrap_or_default());
        remaining -= used;
        read_bytes += len as u64;
        block = block.checked_add(blocks).ok_or(LoadError::Io {
            block,
            count: blocks,
        })?;
    }
    Ok((hasher.finalize().into(), read_bytes))
}

/// Verifies a whole image: block 0, the manifest, the graph, the layout, then every checksum.
///
/// Steps, each reported to `observer` when it succeeds:
/// 1. read block 0, [`Superblock::decode`] and [`Superblock::validate`] against the device size;
/// 2. read the manifest blocks, check its length, zero padding and image id, [`manifest::parse`],
///    compare `format_version`, [`graph::check`], then check the layout (kernel at block 1 filling
///    its blocks; each entry after the manifest, before the ESP/data, not overlapping another);
/// 3. hash the kernel and each service and component (services first, manifest order), streaming
///    through `buf`, and compare with the manifest.
///
/// `buf` is the only buffer: it holds block 0, then the manifest, then the chunks being hashed.
///
/// The returned value holds the ~75 KiB manifest; a kernel on a small stack should call
/// [`verify_image_into`] with a manifest kept in a static instead.
///
/// # Errors
/// Any [`LoadError`] but [`LoadError::JsonBufferFull`]; the first problem found, in the order above.
pub fn verify_image<S: BlockSource>(
    src: &mut S,
    buf: &mut [u8; MAX_MANIFEST_BYTES],
    observer: &mut impl Observer,
) -> Result<VerifiedImage, LoadError> {
    let mut image = VerifiedImage {
        superblock: Superblock::default(),
        manifest: Manifest::default(),
        bytes_read: 0,
        bytes_hashed: 0,
    };
    let v = verify_image_into(src, buf, observer, &mut image.manifest)?;
    image.superblock = v.superblock;
    image.bytes_read = v.bytes_read;
    image.bytes_hashed = v.bytes_hashed;
    Ok(image)
}

/// [`verify_image`], parsing the manifest into `manifest` in place. On error `manifest` holds an
/// unspecified part of the image's manifest and must not be used.
///
/// # Errors
/// As [`verify_image`].
pub fn verify_image_into<S: BlockSource>(
    src: &mut S,
    buf: &mut [u8; MAX_MANIFEST_BYTES],
    observer: &mut impl Observer,
    manifest: &mut Manifest,
) -> Result<Verified, LoadError> {
    let device_blocks = src.block_count();
    if device_blocks == 0 {
        return Err(LoadError::ImageEmpty);
    }
    let (block0, _) = buf.split_at_mut(BLOCK_SIZE);
    read(src, 0, block0)?;
    let mut bytes_read = BLOCK_SIZE_U64;
    let superblock = Superblock::decode(block0)?;
    superblock.validate(Some(device_blocks))?;
    observer.superblock_ok(&superblock);

    let manifest_sha256 = read_manifest(src, &superblock, buf, &mut bytes_read, manifest)?;
    check_layout(&superblock, manifest)?;
    observer.manifest_ok(manifest);

    let kernel = &manifest.kernel;
    let mut bytes_hashed = 0u64;
    let mut check = |label: Label, start_block: u64, size_bytes: u64, expected: &Sha256Digest| {
        let (digest, read) = hash_counted(src, start_block, size_bytes, buf)?;
        bytes_read = bytes_read.saturating_add(read);
        if digest != expected.0 {
            return Err(LoadError::ChecksumMismatch {
                entry: label,
                start_block,
            });
        }
        bytes_hashed = bytes_hashed.saturating_add(size_bytes);
        observer.entry_verified(&label, start_block, size_bytes);
        Ok(())
    };
    check(
        bounded("kernel"),
        kernel.start_block,
        kernel.size_bytes,
        &kernel.checksum,
    )?;
    for entry in manifest.entries() {
        check(
            bounded(&entry.name),
            entry.start_block,
            entry.size_bytes,
            &entry.checksum,
        )?;
    }
    Ok(Verified {
        superblock,
        manifest_sha256,
        bytes_read,
        bytes_hashed,
    })
}

/// Reads and checks the manifest region, parses it and checks its graph; returns its SHA-256.
fn read_manifest<S: BlockSource>(
    src: &mut S,
    superblock: &Superblock,
    buf: &mut [u8; MAX_MANIFEST_BYTES],
    bytes_read: &mut u64,
    manifest: &mut Manifest,
) -> Result<Sha256Digest, LoadError> {
    // validate() bounds manifest_bytes by MAX_MANIFEST_BYTES, so the blocks fit `buf`.
    let len = (blocks_for(superblock.manifest_bytes) * BLOCK_SIZE_U64) as usize;
    let region = buf.get_mut(..len).ok_or(LoadError::ManifestTooLarge {
        bytes: superblock.manifest_bytes,
        limit: MAX_MANIFEST_BYTES,
    })?;
    read(src, superblock.manifest_start, region)?;
    *bytes_read += len as u64;
    let found = region.iter().position(|&b| b == 0).unwrap_or(region.len());
    if found as u64 != superblock.manifest_bytes {
        return Err(LoadError::ManifestLengthMismatch {
            superblock: superblock.manifest_bytes,
            found: found as u64,
        });
    }
    let (json, padding) = region.split_at(found);
    if let Some(at) = padding.iter().position(|&b| b != 0) {
        return Err(LoadError::ManifestPaddingNotZero {
            offset: (found + at) as u64,
        });
    }
    // Integrity before interpretation: a damaged manifest is reported as damaged.
    let digest = Sha256Digest::of(json);
    if sha256::image_id_of(&digest) != superblock.image_id {
        return Err(LoadError::ImageIdMismatch);
    }
    manifest::parse_into(json, manifest)?;
    if manifest.format_version != superblock.format_version {
        return Err(LoadError::FormatVersionMismatch {
            superblock: superblock.format_version,
            manifest: manifest.format_version,
        });
    }
    graph::check(manifest)?;
    Ok(digest)
}

/// Checks where the kernel and the binaries lie against block 0's regions.
///
/// # Errors
/// [`LoadError::KernelStartMismatch`], [`LoadError::KernelSizeMismatch`], [`LoadError::EntryEmpty`],
/// [`LoadError::EntryOutsideRegion`], [`LoadError::EntriesOverlap`].
pub fn check_layout(superblock: &Superblock, manifest: &Manifest) -> Result<(), LoadError> {
    let kernel = &manifest.kernel;
    if kernel.start_block != superblock.kernel_start {
        return Err(LoadError::KernelStartMismatch {
            superblock: superblock.kernel_start,
            manifest: kernel.start_block,
        });
    }
    if kernel.size_bytes == 0
        || blocks_for(kernel.size_bytes) != u64::from(superblock.kernel_blocks)
    {
        return Err(LoadError::KernelSizeMismatch {
            size_bytes: kernel.size_bytes,
            kernel_blocks: superblock.kernel_blocks,
        });
    }
    let first = superblock.manifest_end().unwrap_or(u64::MAX);
    let last = superblock.binaries_end();
    let span = |e: &manifest::Entry| {
        (
            e.start_block,
            e.start_block.checked_add(blocks_for(e.size_bytes)),
        )
    };
    for entry in manifest.entries() {
        let label = || bounded(&entry.name);
        if entry.size_bytes == 0 {
            return Err(LoadError::EntryEmpty { entry: label() });
        }
        match span(entry) {
            (start, Some(end)) if start >= first && end <= last => {}
            _ => {
                return Err(LoadError::EntryOutsideRegion {
                    entry: label(),
                    start_block: entry.start_block,
                    blocks: blocks_for(entry.size_bytes),
                })
            }
        }
    }
    for (i, a) in manifest.entries().enumerate() {
        for b in manifest.entries().skip(i + 1) {
            let ((a_start, a_end), (b_start, b_end)) = (span(a), span(b));
            // Ends were checked above; the fallback only keeps this panic-free.
            if a_start < b_end.unwrap_or(u64::MAX) && b_start < a_end.unwrap_or(u64::MAX) {
                return Err(LoadError::EntriesOverlap {
                    first: bounded(&a.name),
                    second: bounded(&b.name),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
