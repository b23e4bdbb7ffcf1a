//! Layout for the host packer: where the manifest, the binaries, the ESP and the data region go.
//!
//! The manifest holds the binaries' start blocks and the binaries start after the manifest, so the
//! manifest's length and the layout depend on each other; [`place`] settles both.

use crate::error::LoadError;
use crate::manifest::{Manifest, MAX_MANIFEST_BYTES};
use crate::sha256;
use crate::superblock::{blocks_for, Superblock, BLOCK_SIZE_U64, ESP_ALIGN_BLOCKS, FORMAT_VERSION};

/// The largest kernel an image holds: block 0 counts its blocks in 32 bits.
pub const MAX_KERNEL_BYTES: u64 = u32::MAX as u64 * BLOCK_SIZE_U64;

/// How big the regions the packer fills itself are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Regions {
    /// Length of the FAT boot partition in blocks (0: no ESP).
    pub esp_blocks: u64,
    /// Length of the user data region in blocks.
    pub data_blocks: u64,
}

/// Where [`place`] put things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Block 0's fields (write them with [`Superblock::write_to`], then the MBR at 440..512).
    pub superblock: Superblock,
    /// Length of the manifest JSON written at the start of the caller's buffer.
    pub manifest_len: usize,
}

/// Lays out an image and writes its manifest JSON into `json`.
///
/// Before calling, fill in `manifest` completely except block numbers: `kernel.size_bytes`,
/// `kernel.checksum`, and each entry's `size_bytes` and `checksum`. `place` sets `kernel.start_block`
/// to 1 and every entry's `start_block` (services then components, in manifest order, each on its own
/// block right after the previous one), then derives the superblock: kernel blocks, manifest start and
/// length, ESP (aligned to 256 blocks = 1 MiB, after the last binary), data start, total blocks and
/// the image id. The caller then writes `json[..manifest_len]` at `manifest_start`, each binary at its
/// `start_block`, zero padding everywhere else, its ESP and data region, and the MBR.
///
/// # Errors
/// [`LoadError::KernelEmpty`] for an empty kernel; [`LoadError::KernelTooLarge`] for one over
/// [`MAX_KERNEL_BYTES`]; [`LoadError::JsonBufferFull`]
/// when `json` is too small; [`LoadError::ManifestTooLarge`]; [`LoadError::RegionOutsideImage`] when
/// the block numbers overflow.
pub fn place(
    manifest: &mut Manifest,
    regions: Regions,
    json: &mut [u8],
) -> Result<Placement, LoadError> {
    let bytes = manifest.kernel.size_bytes;
    let kernel_blocks =
        u32::try_from(blocks_for(bytes)).map_err(|_| LoadError::KernelTooLarge {
            bytes,
            max: MAX_KERNEL_BYTES,
        })?;
    if kernel_blocks == 0 {
        return Err(LoadError::KernelEmpty);
    }
    manifest.kernel.start_block = 1;
    let manifest_start = 1 + u64::from(kernel_blocks);
    let overflow = |region| LoadError::RegionOutsideImage {
        region,
        end: u64::MAX,
        total: u64::MAX,
    };
    // Start numbers only grow with the guess, so the manifest only grows: this settles in a few rounds.
    let mut manifest_blocks = 1u64;
    loop {
        let mut next = manifest_start
            .checked_add(manifest_blocks)
            .ok_or(overflow("manifest"))?;
        for entry in manifest
            .services
            .iter_mut()
            .chain(manifest.components.iter_mut())
        {
            entry.start_block = next;
            next = next
                .checked_add(blocks_for(entry.size_bytes))
                .ok_or(overflow("binaries"))?;
        }
        let len = manifest.to_json(json)?;
        if len > MAX_MANIFEST_BYTES {
            return Err(LoadError::ManifestTooLarge {
                bytes: len as u64,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let needed = blocks_for(len as u64);
        if needed > manifest_blocks {
            manifest_blocks = needed;
            continue;
        }
        // A manifest that came out shorter than the guess leaves zero blocks before the first binary.
        let binaries_end = next;
        let (esp_start, esp_end) = if regions.esp_blocks == 0 {
            (0, binaries_end)
        } else {
            let start = binaries_end
                .checked_next_multiple_of(ESP_ALIGN_BLOCKS)
                .ok_or(overflow("esp"))?;
            (
                start,
                start
                    .checked_add(regions.esp_blocks)
                    .ok_or(overflow("esp"))?,
            )
        };
        let data_start = esp_end;
        let total_blocks = data_start
            .checked_add(regions.data_blocks)
            .ok_or(overflow("data"))?;
        let text = json.get(..len).unwrap_or_default();
        let superblock = Superblock {
            format_version: FORMAT_VERSION,
            kernel_blocks,
            kernel_start: 1,
            manifest_start,
            data_start,
            total_blocks,
            image_id: sha256::image_id(text),
            manifest_bytes: len as u64,
            esp_start,
            esp_blocks: regions.esp_blocks,
            signature: None,
            slots: None,
        };
        return Ok(Placement {
            superblock,
            manifest_len: len,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_refuses_an_empty_kernel_and_a_small_buffer() {
        let mut m = Manifest::default();
        let mut json = [0u8; 4096];
        assert_eq!(
            place(&mut m, Regions::default(), &mut json),
            Err(LoadError::KernelEmpty)
        );
        m.kernel.size_bytes = 1;
        assert_eq!(
            place(&mut m, Regions::default(), &mut json[..10]),
            Err(LoadError::JsonBufferFull { len: 10 })
        );
    }

    #[test]
    fn place_names_an_oversized_kernel() {
        let mut m = Manifest::default();
        let mut json = [0u8; 4096];
        m.kernel.size_bytes = MAX_KERNEL_BYTES + 1;
        let err = place(&mut m, Regions::default(), &mut json).unwrap_err();
        assert_eq!(
            err,
            LoadError::KernelTooLarge {
                bytes: MAX_KERNEL_BYTES + 1,
                max: MAX_KERNEL_BYTES
            }
        );
        assert!(err
            .to_string()
            .starts_with("the kernel is 17592186040321 bytes;"));
        // The largest kernel the format holds is placed.
        m.kernel.size_bytes = MAX_KERNEL_BYTES;
        let p = place(&mut m, Regions::default(), &mut json).unwrap();
        assert_eq!(p.superblock.kernel_blocks, u32::MAX);
    }

    #[test]
    fn place_aligns_the_esp_and_sets_the_kernel_start() {
        let mut m = Manifest::default();
        m.kernel.size_bytes = 4097;
        let mut json = [0u8; 4096];
        let p = place(
            &mut m,
            Regions {
                esp_blocks: 10,
                data_blocks: 5,
            },
            &mut json,
        )
        .unwrap();
        let sb = p.superblock;
        assert_eq!(
            (m.kernel.start_block, sb.kernel_blocks, sb.manifest_start),
            (1, 2, 3)
        );
        assert_eq!(
            (sb.esp_start, sb.esp_blocks, sb.data_start, sb.total_blocks),
            (256, 10, 266, 271)
        );
        assert_eq!(sb.validate(Some(271)), Ok(()));
        assert_eq!(sb.image_id, sha256::image_id(&json[..p.manifest_len]));
    }
}
