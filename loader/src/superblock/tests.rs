//! Unit and property tests for block 0: decoding, encoding and region checks.

use super::*;
use proptest::prelude::*;

/// A superblock that passes `validate`: kernel 3 blocks, manifest 1 block, ESP at 256, data at 512.
fn good() -> Superblock {
    Superblock {
        format_version: FORMAT_VERSION,
        kernel_blocks: 3,
        kernel_start: 1,
        manifest_start: 4,
        data_start: 512,
        total_blocks: 600,
        image_id: [7; 16],
        manifest_bytes: 100,
        esp_start: 256,
        esp_blocks: 256,
        signature: None,
        slots: None,
    }
}

#[test]
fn encode_decode_round_trip_keeps_mbr_bytes() {
    let mut block = [0xeeu8; BLOCK_SIZE];
    good().write_to(&mut block);
    assert_eq!(block[MBR_START..MBR_END], [0xee; MBR_END - MBR_START]);
    assert_eq!(Superblock::decode(&block), Ok(good()));
    assert_eq!(Superblock::decode(&good().encode()), Ok(good()));
    assert_eq!(good().validate(Some(600)), Ok(()));
}

#[test]
fn documented_offsets() {
    let b = good().encode();
    assert_eq!(&b[0..8], b"PANDAGEN");
    assert_eq!(b[8..12], 1u32.to_le_bytes());
    assert_eq!(b[12..16], 3u32.to_le_bytes());
    assert_eq!(b[16..24], 1u64.to_le_bytes());
    assert_eq!(b[24..32], 4u64.to_le_bytes());
    assert_eq!(b[32..40], 512u64.to_le_bytes());
    assert_eq!(b[40..48], 600u64.to_le_bytes());
    assert_eq!(b[48..64], [7; 16]);
    assert_eq!(b[64..72], 100u64.to_le_bytes());
    assert_eq!(b[72..80], 256u64.to_le_bytes());
    assert_eq!(b[80..88], 256u64.to_le_bytes());
    let sum: [u8; 32] = Sha256::digest(&b[..88]).into();
    assert_eq!(b[88..120], sum);
    assert!(b[120..].iter().all(|&x| x == 0));
}

#[test]
fn decode_short_block() {
    assert_eq!(
        Superblock::decode(&[0; 512]),
        Err(LoadError::ShortBlock { len: 512 })
    );
}

#[test]
fn decode_bad_magic() {
    let mut b = good().encode();
    b[0] = b'p';
    assert_eq!(
        Superblock::decode(&b),
        Err(LoadError::BadMagic {
            found: *b"pANDAGEN"
        })
    );
}

#[test]
fn decode_unsupported_version() {
    let sb = Superblock {
        format_version: 2,
        ..good()
    };
    assert_eq!(
        Superblock::decode(&sb.encode()),
        Err(LoadError::UnsupportedVersion { found: 2 })
    );
}

#[test]
fn decode_checksum_mismatch() {
    let mut b = good().encode();
    b[40] ^= 1;
    assert_eq!(
        Superblock::decode(&b),
        Err(LoadError::SuperblockChecksumMismatch)
    );
    let mut b = good().encode();
    b[100] ^= 1;
    assert_eq!(
        Superblock::decode(&b),
        Err(LoadError::SuperblockChecksumMismatch)
    );
}

#[test]
fn decode_reserved_not_zero() {
    for offset in [120, 439, 512, 4095] {
        let mut b = good().encode();
        b[offset] = 1;
        assert_eq!(
            Superblock::decode(&b),
            Err(LoadError::ReservedNotZero { offset })
        );
    }
}

#[test]
fn validate_kernel_start() {
    let sb = Superblock {
        kernel_start: 2,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::KernelStartNotOne { found: 2 })
    );
}

#[test]
fn validate_kernel_empty() {
    let sb = Superblock {
        kernel_blocks: 0,
        manifest_start: 1,
        ..good()
    };
    assert_eq!(sb.validate(None), Err(LoadError::KernelEmpty));
}

#[test]
fn validate_manifest_start() {
    let sb = Superblock {
        manifest_start: 5,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::ManifestStartMismatch {
            expected: 4,
            found: 5
        })
    );
    let sb = Superblock {
        kernel_blocks: u32::MAX,
        manifest_start: 0,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::ManifestStartMismatch {
            expected: 1 + u64::from(u32::MAX),
            found: 0
        })
    );
}

#[test]
fn validate_manifest_length() {
    let sb = Superblock {
        manifest_bytes: 0,
        ..good()
    };
    assert_eq!(sb.validate(None), Err(LoadError::ManifestEmpty));
    let sb = Superblock {
        manifest_bytes: 65537,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::ManifestTooLarge {
            bytes: 65537,
            limit: 65536
        })
    );
    let sb = Superblock {
        manifest_bytes: 65536,
        ..good()
    };
    assert_eq!(sb.validate(None), Ok(()));
}

#[test]
fn validate_esp() {
    let sb = Superblock {
        esp_start: 257,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::EspMisaligned {
            start: 257,
            blocks: 256
        })
    );
    let sb = Superblock {
        esp_blocks: 0,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::EspMisaligned {
            start: 256,
            blocks: 0
        })
    );
    let sb = Superblock {
        esp_start: 0,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::RegionOutOfOrder {
            region: "esp",
            start: 0,
            previous_end: 5
        })
    );
    let sb = Superblock {
        kernel_blocks: 300,
        manifest_start: 301,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::RegionOutOfOrder {
            region: "esp",
            start: 256,
            previous_end: 302
        })
    );
    let sb = Superblock {
        esp_start: 1 << 63,
        esp_blocks: 1 << 63,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::RegionOutsideImage {
            region: "esp",
            end: u64::MAX,
            total: 600
        })
    );
    let sb = Superblock {
        esp_start: 512,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::RegionOutsideImage {
            region: "esp",
            end: 768,
            total: 600
        })
    );
    let none = Superblock {
        esp_start: 0,
        esp_blocks: 0,
        data_start: 5,
        ..good()
    };
    assert_eq!(none.validate(Some(600)), Ok(()));
    assert_eq!(none.binaries_end(), 5);
}

#[test]
fn validate_data() {
    let sb = Superblock {
        data_start: 500,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::RegionOutOfOrder {
            region: "data",
            start: 500,
            previous_end: 512
        })
    );
    let sb = Superblock {
        total_blocks: 511,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::RegionOutsideImage {
            region: "esp",
            end: 512,
            total: 511
        })
    );
    let sb = Superblock {
        esp_start: 0,
        esp_blocks: 0,
        data_start: 700,
        ..good()
    };
    assert_eq!(
        sb.validate(None),
        Err(LoadError::RegionOutsideImage {
            region: "data",
            end: 700,
            total: 600
        })
    );
}

#[test]
fn validate_device_size() {
    assert_eq!(
        good().validate(Some(599)),
        Err(LoadError::ImageTruncated {
            total_blocks: 600,
            actual_blocks: 599
        })
    );
    // A bigger disk holding the image is fine.
    assert_eq!(good().validate(Some(10_000)), Ok(()));
}

prop_compose! {
    fn any_superblock()(
        kernel_blocks: u32, kernel_start: u64, manifest_start: u64, data_start: u64, total_blocks: u64,
        image_id: [u8; 16], manifest_bytes: u64, esp_start: u64, esp_blocks: u64,
    ) -> Superblock {
        Superblock {
            format_version: FORMAT_VERSION, kernel_blocks, kernel_start, manifest_start, data_start,
            total_blocks, image_id, manifest_bytes, esp_start, esp_blocks, signature: None, slots: None,
        }
    }
}

proptest! {
    #[test]
    fn round_trip(sb in any_superblock()) {
        prop_assert_eq!(Superblock::decode(&sb.encode()), Ok(sb));
        // validate never panics, whatever the numbers.
        let _ = sb.validate(Some(sb.total_blocks / 2));
    }

    #[test]
    fn arbitrary_block_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..=BLOCK_SIZE + 16)) {
        if let Ok(sb) = Superblock::decode(&bytes) {
            let _ = sb.validate(None);
        }
    }

    #[test]
    fn damaged_header_is_caught(at in 0usize..120, bit in 0u8..8) {
        let mut b = good().encode();
        b[at] ^= 1 << bit;
        prop_assert!(Superblock::decode(&b).is_err());
    }
}

#[test]
fn fields_read_what_a_damaged_block_claims() {
    let mut block = good().encode();
    block[0] = b'X';
    block[CHECKSUM_AT] ^= 1;
    assert!(Superblock::decode(&block).is_err());
    assert_eq!(Superblock::fields(&block), good());
    // A short buffer reads as zeros past its end instead of failing.
    assert_eq!(Superblock::fields(&block[..16]).kernel_start, 0);
    assert_eq!(
        Superblock::fields(&block[..16]).kernel_blocks,
        good().kernel_blocks
    );
}
