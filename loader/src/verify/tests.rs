//! Verification of whole images built by `pack::place`, and one broken image per error.

use super::*;
use crate::mem::MemSource;
use crate::testimage::{self, build, filler, rewrite_manifest, rewrite_superblock, standard, Part};
use proptest::prelude::*;

fn l(s: &str) -> Label {
    bounded(s)
}

/// Verifies into a boxed manifest (a 75 KiB result per call would overflow the test thread's stack).
fn verify(image: &[u8]) -> Result<(Verified, Box<Manifest>), LoadError> {
    let mut buf = vec![0u8; MAX_MANIFEST_BYTES];
    let buf: &mut [u8; MAX_MANIFEST_BYTES] = buf.as_mut_slice().try_into().unwrap();
    let mut manifest = Box::<Manifest>::default();
    let v = verify_image_into(&mut MemSource(image), buf, &mut (), &mut manifest)?;
    Ok((v, manifest))
}

/// Records every observer call.
#[derive(Default)]
struct Log(Vec<String>);

impl Observer for Log {
    fn superblock_ok(&mut self, sb: &Superblock) {
        self.0.push(format!("superblock {}", sb.total_blocks));
    }
    fn manifest_ok(&mut self, m: &Manifest) {
        self.0.push(format!("manifest {}", m.entries().count()));
    }
    fn entry_verified(&mut self, name: &str, start_block: u64, size_bytes: u64) {
        self.0.push(format!("{name}@{start_block}:{size_bytes}"));
    }
}

#[test]
fn a_packed_image_verifies() {
    let (image, sb, manifest) = standard();
    let mut log = Log::default();
    let mut buf: Box<[u8; MAX_MANIFEST_BYTES]> = vec![0u8; MAX_MANIFEST_BYTES]
        .into_boxed_slice()
        .try_into()
        .unwrap();
    let v = verify_image(&mut MemSource(&image), &mut buf, &mut log).unwrap();
    assert_eq!(v.superblock, sb);
    assert_eq!(&v.manifest, &*manifest);
    assert_eq!(sb.esp_start % 256, 0);
    assert_eq!(v.bytes_hashed, (3 * 4096 - 7) + 5000 + 4096 + 100);
    assert_eq!(v.bytes_read, 4096 * (1 + 3 + 1 + 2 + 1 + 1));
    assert_eq!(
        log.0,
        [
            format!("superblock {}", sb.total_blocks),
            "manifest 3".to_string(),
            "kernel@1:12281".to_string(),
            "services_storage@5:5000".to_string(),
            "services_network@7:4096".to_string(),
            "cli_console@8:100".to_string(),
        ]
    );
    // The MBR bytes are the packer's: verify does not look at them.
    let mut with_mbr = image.clone();
    with_mbr[446..510].fill(0x5a);
    assert!(verify(&with_mbr).is_ok());
}

#[test]
fn a_larger_device_is_fine() {
    let (mut image, _, _) = standard();
    image.extend_from_slice(&[0xff; 8192]);
    assert!(verify(&image).is_ok());
}

#[test]
fn image_without_esp_verifies() {
    let parts = [Part {
        name: "only",
        bytes: filler(4, 1),
        depends_on: &[],
        capabilities: &[],
        component: true,
    }];
    let (image, sb, _) = build(&filler(5, 1), &parts, 0);
    assert_eq!((sb.esp_start, sb.esp_blocks, sb.data_start), (0, 0, 4));
    assert!(verify(&image).is_ok());
}

#[test]
fn a_long_manifest_spans_blocks() {
    let names: Vec<String> = (0..16)
        .map(|i| format!("service_with_a_long_name_{i:02}"))
        .collect();
    let caps = [
        "network_device:eth0",
        "port_range:1024-65535",
        "console",
        "serial",
        "block_device",
    ];
    let parts: Vec<Part> = names
        .iter()
        .map(|n| Part {
            name: n,
            bytes: filler(6, 10),
            depends_on: &[],
            capabilities: &caps,
            component: false,
        })
        .collect();
    let (image, sb, _) = build(&filler(5, 1), &parts, 0);
    assert!(sb.manifest_bytes > 4096, "{}", sb.manifest_bytes);
    assert!(verify(&image).is_ok());
}

#[test]
fn empty_device() {
    assert_eq!(verify(&[]), Err(LoadError::ImageEmpty));
}

/// A source whose reads fail from block `bad` on.
struct Failing<'a>(MemSource<'a>, u64);

impl BlockSource for Failing<'_> {
    type Error = ();
    fn block_count(&self) -> u64 {
        self.0.block_count()
    }
    fn read_blocks(&mut self, first: u64, buf: &mut [u8]) -> Result<(), ()> {
        if first + (buf.len() / BLOCK_SIZE) as u64 > self.1 {
            return Err(());
        }
        self.0.read_blocks(first, buf).map_err(|_| ())
    }
}

#[test]
fn io_errors_name_the_blocks() {
    let (image, _, _) = standard();
    let mut buf: Box<[u8; MAX_MANIFEST_BYTES]> = vec![0u8; MAX_MANIFEST_BYTES]
        .into_boxed_slice()
        .try_into()
        .unwrap();
    assert_eq!(
        verify_image(&mut Failing(MemSource(&image), 0), &mut buf, &mut ()).map(|_| ()),
        Err(LoadError::Io { block: 0, count: 1 })
    );
    assert_eq!(
        verify_image(&mut Failing(MemSource(&image), 6), &mut buf, &mut ()).map(|_| ()),
        Err(LoadError::Io { block: 5, count: 2 })
    );
}

#[test]
fn hash_region_streams_in_chunks() {
    let (image, _, manifest) = standard();
    let e = manifest.find("services_storage").unwrap();
    for chunk in [4096, 8192, 3 * 4096 + 100] {
        let mut buf = vec![0u8; chunk];
        let digest = hash_region(
            &mut MemSource(&image),
            e.start_block,
            e.size_bytes,
            &mut buf,
        )
        .unwrap();
        assert_eq!(digest, e.checksum.0);
    }
    let mut tiny = [0u8; 100];
    assert_eq!(
        hash_region(&mut MemSource(&image), 1, 1, &mut tiny),
        Err(LoadError::ShortBlock { len: 100 })
    );
    assert_eq!(
        hash_region(&mut MemSource(&image), u64::MAX, 1, &mut [0u8; 4096]),
        Err(LoadError::Io {
            block: u64::MAX,
            count: 1
        })
    );
    assert_eq!(
        hash_region(&mut MemSource(&image), 0, 0, &mut [0u8; 4096]),
        Ok(Sha256Digest::of(b"").0)
    );
}

#[test]
fn superblock_errors_come_through() {
    let (mut image, sb, _) = standard();
    image.truncate(image.len() - BLOCK_SIZE);
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::ImageTruncated {
            total_blocks: sb.total_blocks,
            actual_blocks: sb.total_blocks - 1
        })
    );
    let (mut image, _, _) = standard();
    image[0] = b'X';
    assert!(matches!(verify(&image), Err(LoadError::BadMagic { .. })));
}

#[test]
fn manifest_length_mismatch() {
    let (mut image, mut sb, _) = standard();
    sb.manifest_bytes -= 1;
    rewrite_superblock(&mut image, &sb);
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::ManifestLengthMismatch {
            superblock: sb.manifest_bytes,
            found: sb.manifest_bytes + 1
        })
    );
}

#[test]
fn manifest_padding_not_zero() {
    let (mut image, sb, _) = standard();
    let at = sb.manifest_start as usize * BLOCK_SIZE + BLOCK_SIZE - 1;
    image[at] = b' ';
    let len = sb.manifest_bytes;
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::ManifestPaddingNotZero { offset: 4095 })
    );
    assert!(len < 4095);
}

#[test]
fn image_id_mismatch() {
    let (mut image, sb, _) = standard();
    let at = sb.manifest_start as usize * BLOCK_SIZE + 20;
    image[at] ^= 0x01;
    assert_eq!(verify(&image).map(|_| ()), Err(LoadError::ImageIdMismatch));
}

#[test]
fn manifest_errors_come_through() {
    let (mut image, _, _) = standard();
    testimage::replace_manifest_text(&mut image, b"{\"format_version\":1,");
    assert!(matches!(
        verify(&image),
        Err(LoadError::ManifestNotJson { .. })
    ));
}

#[test]
fn format_version_mismatch() {
    let (mut image, _, mut manifest) = standard();
    manifest.format_version = 2;
    rewrite_manifest(&mut image, &manifest);
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::FormatVersionMismatch {
            superblock: 1,
            manifest: 2
        })
    );
}

#[test]
fn graph_errors_come_through() {
    let (mut image, _, mut manifest) = standard();
    manifest.init_sequence.swap(0, 2);
    rewrite_manifest(&mut image, &manifest);
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::StartedBeforeDependency {
            entry: l("cli_console"),
            dependency: l("services_storage")
        })
    );
}

#[test]
fn kernel_start_mismatch() {
    let (mut image, _, mut manifest) = standard();
    manifest.kernel.start_block = 2;
    rewrite_manifest(&mut image, &manifest);
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::KernelStartMismatch {
            superblock: 1,
            manifest: 2
        })
    );
}

#[test]
fn kernel_size_mismatch() {
    for size in [0, 2 * 4096, 3 * 4096 + 1] {
        let (mut image, _, mut manifest) = standard();
        manifest.kernel.size_bytes = size;
        rewrite_manifest(&mut image, &manifest);
        assert_eq!(
            verify(&image).map(|_| ()),
            Err(LoadError::KernelSizeMismatch {
                size_bytes: size,
                kernel_blocks: 3
            })
        );
    }
}

#[test]
fn entry_empty() {
    let (mut image, _, mut manifest) = standard();
    manifest.components[0].size_bytes = 0;
    rewrite_manifest(&mut image, &manifest);
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::EntryEmpty {
            entry: l("cli_console")
        })
    );
}

#[test]
fn entry_outside_region() {
    let (image, sb, manifest) = standard();
    let cases = [
        (sb.manifest_start, 2), // on the manifest
        (3, 2),                 // on the kernel
        (sb.esp_start - 1, 2),  // into the ESP
        (u64::MAX - 1, 2),      // overflow
    ];
    for (start, blocks) in cases {
        let (mut image, mut manifest) = (image.clone(), manifest.clone());
        manifest.services[0].start_block = start;
        rewrite_manifest(&mut image, &manifest);
        assert_eq!(
            verify(&image).map(|_| ()),
            Err(LoadError::EntryOutsideRegion {
                entry: l("services_storage"),
                start_block: start,
                blocks
            }),
            "start {start}"
        );
    }
}

#[test]
fn entries_overlap() {
    let (mut image, _, mut manifest) = standard();
    manifest.components[0].start_block = manifest.services[0].start_block + 1;
    rewrite_manifest(&mut image, &manifest);
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::EntriesOverlap {
            first: l("services_storage"),
            second: l("cli_console")
        })
    );
}

#[test]
fn checksum_mismatch() {
    let (mut image, _, manifest) = standard();
    image[BLOCK_SIZE + 5] ^= 1;
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::ChecksumMismatch {
            entry: l("kernel"),
            start_block: 1
        })
    );
    let (mut image, _, _) = standard();
    let e = manifest.find("services_network").unwrap();
    image[e.start_block as usize * BLOCK_SIZE + 4095] ^= 1;
    assert_eq!(
        verify(&image).map(|_| ()),
        Err(LoadError::ChecksumMismatch {
            entry: l("services_network"),
            start_block: e.start_block
        })
    );
    // Bytes past size_bytes (padding) are not hashed.
    let (mut image, _, _) = standard();
    let e = manifest.find("cli_console").unwrap();
    image[e.start_block as usize * BLOCK_SIZE + 200] ^= 1;
    assert!(verify(&image).is_ok());
}

/// A small image (no ESP) for the mutation tests: 10 blocks.
fn small() -> Vec<u8> {
    let parts = [
        Part {
            name: "a",
            bytes: filler(1, 5000),
            depends_on: &[],
            capabilities: &["console"],
            component: false,
        },
        Part {
            name: "b",
            bytes: filler(2, 10),
            depends_on: &["a"],
            capabilities: &[],
            component: true,
        },
    ];
    build(&filler(3, 4097), &parts, 0).0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_mutations_never_panic(
        edits in proptest::collection::vec((0usize..6 * BLOCK_SIZE, any::<u8>()), 1..8),
        keep_checksum in any::<bool>(),
    ) {
        let mut image = small();
        for (at, byte) in edits {
            image[at] = byte;
        }
        if keep_checksum {
            // Re-seal block 0 so the mutation reaches the region checks too.
            if let Ok(sb) = Superblock::decode(&image) { rewrite_superblock(&mut image, &sb); }
            else {
                let mut b = [0u8; BLOCK_SIZE];
                b.copy_from_slice(&image[..BLOCK_SIZE]);
                let sum: [u8; 32] = sha2::Sha256::digest(&b[..88]).into();
                image[88..120].copy_from_slice(&sum);
            }
        }
        let _ = verify(&image);
    }

    #[test]
    fn random_superblock_fields_never_panic(
        kernel_blocks: u32, manifest_start: u64, data_start: u64, total_blocks: u64,
        manifest_bytes in 0u64..70_000, esp_start: u64, esp_blocks: u64, small_numbers: bool,
    ) {
        let mut image = small();
        let mut sb = Superblock::decode(&image).unwrap();
        let m = |v: u64| if small_numbers { v % 16 } else { v };
        sb.kernel_blocks = if small_numbers { kernel_blocks % 4 } else { kernel_blocks };
        sb.manifest_start = m(manifest_start);
        sb.data_start = m(data_start);
        sb.total_blocks = m(total_blocks);
        sb.manifest_bytes = manifest_bytes;
        sb.esp_start = m(esp_start);
        sb.esp_blocks = m(esp_blocks);
        rewrite_superblock(&mut image, &sb);
        let _ = verify(&image);
    }
}

/// The kernel verifies before it has a heap, on a small stack: `verify_image_into` must not need the
/// manifest's 75 KiB on the stack. Measured: under 48 KiB optimized; unoptimized serde code needs
/// between 192 and 256 KiB.
#[test]
fn verify_into_fits_a_small_stack() {
    let (image, _, _) = standard();
    let run = std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(move || verify(&image).map(|_| ()))
        .unwrap();
    assert_eq!(run.join().unwrap(), Ok(()));
}

#[cfg(not(debug_assertions))]
const SMALL_STACK: usize = 64 * 1024;
#[cfg(debug_assertions)]
const SMALL_STACK: usize = 256 * 1024;
