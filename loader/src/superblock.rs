//! Block 0: the spec's superblock fields, the project's fields in its reserved bytes, and their checks.
//!
//! Byte map of block 0 (all integers little-endian; see `docs/image-format.md`):
//!
//! | bytes     | field                                                     | owner   |
//! |-----------|-----------------------------------------------------------|---------|
//! | 0..8      | magic `PANDAGEN`                                          | spec    |
//! | 8..12     | format version (u32)                                      | spec    |
//! | 12..16    | kernel size in blocks (u32)                               | spec    |
//! | 16..24    | kernel start block (u64)                                  | spec    |
//! | 24..32    | manifest start block (u64)                                | spec    |
//! | 32..40    | data start block (u64)                                    | spec    |
//! | 40..48    | total blocks (u64)                                        | spec    |
//! | 48..64    | image id (16 bytes)                                       | project |
//! | 64..72    | manifest length in bytes (u64)                            | project |
//! | 72..80    | ESP start block (u64, 0 = none)                           | project |
//! | 80..88    | ESP length in blocks (u64, 0 = none)                      | project |
//! | 88..120   | SHA-256 of bytes 0..88                                    | project |
//! | 120..224  | manifest signature record, or zero ([`crate::signature`])  | project |
//! | 224..280  | slot table, or zero (one slot) ([`crate::slots`])          | project |
//! | 280..440  | zero                                                      | project |
//! | 440..512  | MBR: disk signature, partition table, `55 AA`             | packer  |
//! | 512..4096 | zero                                                      | project |

use crate::error::LoadError;
use crate::manifest::MAX_MANIFEST_BYTES;
use crate::signature::{ManifestSignature, RECORD_AT};
use crate::slots::SlotTable;
use sha2::{Digest, Sha256};

/// Bytes per block.
pub const BLOCK_SIZE: usize = 4096;
/// [`BLOCK_SIZE`] as a `u64`, for block arithmetic.
pub const BLOCK_SIZE_U64: u64 = BLOCK_SIZE as u64;
/// The first eight bytes of every image.
pub const MAGIC: [u8; 8] = *b"PANDAGEN";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The ESP starts on a 1 MiB boundary (256 blocks), which partitioning tools and firmware expect.
pub const ESP_ALIGN_BLOCKS: u64 = 256;

/// Offset of the SHA-256 of bytes `0..CHECKSUMMED_LEN`.
const CHECKSUM_AT: usize = 88;
/// Bytes covered by the superblock's own checksum.
const CHECKSUMMED_LEN: usize = 88;
/// First byte after the slot table; 280..440 must be zero.
const RESERVED_START: usize = crate::slots::RECORD_END;
/// Where the MBR's bytes (disk signature, partition table, boot signature) start; not ours to check.
pub const MBR_START: usize = 440;
/// Where the MBR ends; 512..4096 must be zero.
pub const MBR_END: usize = 512;

/// The decoded contents of block 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Superblock {
    /// Format version (bytes 8..12); [`FORMAT_VERSION`] after a successful decode.
    pub format_version: u32,
    /// Kernel size in blocks (bytes 12..16).
    pub kernel_blocks: u32,
    /// Kernel start block (bytes 16..24); always 1 in version 1.
    pub kernel_start: u64,
    /// Manifest start block (bytes 24..32): kernel start + kernel blocks.
    pub manifest_start: u64,
    /// First block of the user data region (bytes 32..40).
    pub data_start: u64,
    /// Blocks in the image (bytes 40..48).
    pub total_blocks: u64,
    /// The image's identity (bytes 48..64), derived from the manifest by [`crate::sha256::image_id`].
    pub image_id: [u8; 16],
    /// The manifest's exact length in bytes (bytes 64..72).
    pub manifest_bytes: u64,
    /// First block of the FAT boot partition (bytes 72..80); 0 when there is none.
    pub esp_start: u64,
    /// Length of the boot partition in blocks (bytes 80..88); 0 when there is none.
    pub esp_blocks: u64,
    /// The manifest signature record (bytes 120..224); `None` when they are zero (unsigned).
    /// Not covered by the self-checksum: the signature authenticates itself.
    pub signature: Option<ManifestSignature>,
    /// The slot table (bytes 224..280); `None` when they are zero (a one-slot image).
    pub slots: Option<SlotTable>,
}

/// Reads a little-endian `u32`; the caller has checked the length, the `0` fallback keeps this panic-free.
fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// Reads a little-endian `u64` (see [`u32_at`]).
fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Blocks needed to hold `bytes` bytes (rounded up).
pub fn blocks_for(bytes: u64) -> u64 {
    bytes.div_ceil(BLOCK_SIZE_U64)
}

impl Superblock {
    /// Decodes block 0: checks magic, version, the self-checksum and the zero bytes.
    ///
    /// Only the first [`BLOCK_SIZE`] bytes of `block0` are looked at. The region fields are not
    /// checked here; call [`Superblock::validate`].
    ///
    /// # Errors
    /// [`LoadError::ShortBlock`], [`LoadError::BadMagic`], [`LoadError::UnsupportedVersion`],
    /// [`LoadError::SuperblockChecksumMismatch`], [`LoadError::ReservedNotZero`].
    pub fn decode(block0: &[u8]) -> Result<Superblock, LoadError> {
        let b = block0
            .get(..BLOCK_SIZE)
            .ok_or(LoadError::ShortBlock { len: block0.len() })?;
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[..8]);
        if magic != MAGIC {
            return Err(LoadError::BadMagic { found: magic });
        }
        // Version before checksum: a later version may move the checksum.
        let format_version = u32_at(b, 8);
        if format_version != FORMAT_VERSION {
            return Err(LoadError::UnsupportedVersion {
                found: format_version,
            });
        }
        let computed: [u8; 32] = Sha256::digest(&b[..CHECKSUMMED_LEN]).into();
        if b[CHECKSUM_AT..CHECKSUM_AT + 32] != computed {
            return Err(LoadError::SuperblockChecksumMismatch);
        }
        let signature = ManifestSignature::decode(b).map_err(|reason| match reason {
            crate::signature::RecordError::NotARecord { offset } => {
                LoadError::ReservedNotZero { offset }
            }
            crate::signature::RecordError::BadKeyId => LoadError::BadSignatureRecord,
        })?;
        let slots = SlotTable::decode(b).map_err(|reason| LoadError::BadSlotTable { reason })?;
        let reserved = (RESERVED_START..MBR_START).chain(MBR_END..BLOCK_SIZE);
        if let Some(offset) = reserved.into_iter().find(|&i| b[i] != 0) {
            return Err(LoadError::ReservedNotZero { offset });
        }
        Ok(Self {
            signature,
            slots,
            ..Self::fields(b)
        })
    }

    /// Block 0's fields as they are, without any check: for tools that show what a damaged
    /// image claims. `block0` shorter than [`BLOCK_SIZE`] reads as zeros past its end.
    pub fn fields(block0: &[u8]) -> Superblock {
        let mut b = [0u8; BLOCK_SIZE];
        let n = block0.len().min(BLOCK_SIZE);
        b[..n].copy_from_slice(&block0[..n]);
        let mut image_id = [0u8; 16];
        image_id.copy_from_slice(&b[48..64]);
        Superblock {
            format_version: u32_at(&b, 8),
            kernel_blocks: u32_at(&b, 12),
            kernel_start: u64_at(&b, 16),
            manifest_start: u64_at(&b, 24),
            data_start: u64_at(&b, 32),
            total_blocks: u64_at(&b, 40),
            image_id,
            manifest_bytes: u64_at(&b, 64),
            esp_start: u64_at(&b, 72),
            esp_blocks: u64_at(&b, 80),
            signature: ManifestSignature::decode(&b).ok().flatten(),
            slots: SlotTable::decode(&b).ok().flatten(),
        }
    }

    /// Writes bytes 0..440 and 512..4096 of block 0 (fields, checksum, zeros), leaving the MBR bytes
    /// 440..512 as they are so the packer can write the partition table before or after.
    pub fn write_to(&self, block0: &mut [u8; BLOCK_SIZE]) {
        block0[..8].copy_from_slice(&MAGIC);
        block0[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        block0[12..16].copy_from_slice(&self.kernel_blocks.to_le_bytes());
        block0[16..24].copy_from_slice(&self.kernel_start.to_le_bytes());
        block0[24..32].copy_from_slice(&self.manifest_start.to_le_bytes());
        block0[32..40].copy_from_slice(&self.data_start.to_le_bytes());
        block0[40..48].copy_from_slice(&self.total_blocks.to_le_bytes());
        block0[48..64].copy_from_slice(&self.image_id);
        block0[64..72].copy_from_slice(&self.manifest_bytes.to_le_bytes());
        block0[72..80].copy_from_slice(&self.esp_start.to_le_bytes());
        block0[80..88].copy_from_slice(&self.esp_blocks.to_le_bytes());
        let sum: [u8; 32] = Sha256::digest(&block0[..CHECKSUMMED_LEN]).into();
        block0[CHECKSUM_AT..CHECKSUM_AT + 32].copy_from_slice(&sum);
        block0[RECORD_AT..MBR_START].fill(0);
        if let Some(signature) = &self.signature {
            signature.write_to(block0);
        }
        if let Some(slots) = &self.slots {
            slots.write_to(block0);
        }
        block0[MBR_END..].fill(0);
    }

    /// Block 0 with this superblock and an all-zero MBR area.
    pub fn encode(&self) -> [u8; BLOCK_SIZE] {
        let mut block = [0u8; BLOCK_SIZE];
        self.write_to(&mut block);
        block
    }

    /// One past the manifest's last block (`None` on overflow).
    pub fn manifest_end(&self) -> Option<u64> {
        self.manifest_start
            .checked_add(blocks_for(self.manifest_bytes))
    }

    /// Whether the image has a boot partition.
    pub fn has_esp(&self) -> bool {
        self.esp_blocks != 0 || self.esp_start != 0
    }

    /// One past the last block service and component binaries may use: the ESP start, or the data
    /// start when there is no ESP.
    pub fn binaries_end(&self) -> u64 {
        if self.has_esp() {
            self.esp_start
        } else {
            self.data_start
        }
    }

    /// Checks the regions: kernel at block 1, manifest right after it, then ESP and data in order,
    /// all inside `total_blocks`, and (when known) the device at least as long as the image.
    ///
    /// A device longer than `total_blocks` is accepted: an image written to a bigger disk is still whole.
    ///
    /// # Errors
    /// [`LoadError::KernelStartNotOne`], [`LoadError::KernelEmpty`], [`LoadError::ManifestStartMismatch`],
    /// [`LoadError::ManifestEmpty`], [`LoadError::ManifestTooLarge`], [`LoadError::EspMisaligned`],
    /// [`LoadError::RegionOutOfOrder`], [`LoadError::RegionOutsideImage`], [`LoadError::ImageTruncated`].
    pub fn validate(&self, image_blocks: Option<u64>) -> Result<(), LoadError> {
        let total = self.total_blocks;
        if self.kernel_start != 1 {
            return Err(LoadError::KernelStartNotOne {
                found: self.kernel_start,
            });
        }
        if self.kernel_blocks == 0 {
            return Err(LoadError::KernelEmpty);
        }
        let expected = 1 + u64::from(self.kernel_blocks);
        if self.manifest_start != expected {
            return Err(LoadError::ManifestStartMismatch {
                expected,
                found: self.manifest_start,
            });
        }
        if self.manifest_bytes == 0 {
            return Err(LoadError::ManifestEmpty);
        }
        if self.manifest_bytes > MAX_MANIFEST_BYTES as u64 {
            return Err(LoadError::ManifestTooLarge {
                bytes: self.manifest_bytes,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        // Cannot overflow: manifest_start <= 2^32 and the manifest is at most 16 blocks.
        let manifest_end = self.manifest_end().unwrap_or(u64::MAX);
        let mut previous_end = manifest_end;
        if self.has_esp() {
            if self.esp_blocks == 0 || !self.esp_start.is_multiple_of(ESP_ALIGN_BLOCKS) {
                return Err(LoadError::EspMisaligned {
                    start: self.esp_start,
                    blocks: self.esp_blocks,
                });
            }
            if self.esp_start < previous_end {
                return Err(LoadError::RegionOutOfOrder {
                    region: "esp",
                    start: self.esp_start,
                    previous_end,
                });
            }
            previous_end = match self.esp_start.checked_add(self.esp_blocks) {
                Some(end) if end <= total => end,
                end => {
                    return Err(LoadError::RegionOutsideImage {
                        region: "esp",
                        end: end.unwrap_or(u64::MAX),
                        total,
                    })
                }
            };
        }
        if self.data_start < previous_end {
            return Err(LoadError::RegionOutOfOrder {
                region: "data",
                start: self.data_start,
                previous_end,
            });
        }
        if self.data_start > total {
            return Err(LoadError::RegionOutsideImage {
                region: "data",
                end: self.data_start,
                total,
            });
        }
        if let Some(table) = &self.slots {
            table
                .check_within(self)
                .map_err(|reason| LoadError::BadSlotTable { reason })?;
        }
        if let Some(actual_blocks) = image_blocks {
            if actual_blocks < total {
                return Err(LoadError::ImageTruncated {
                    total_blocks: total,
                    actual_blocks,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
