//! Builds small valid images in memory so each test can break one thing.

use crate::manifest::{Entry, Kernel, Manifest, Name, MAX_MANIFEST_BYTES};
use crate::pack::{place, Regions};
use crate::sha256::Sha256Digest;
use crate::superblock::{Superblock, BLOCK_SIZE};

/// A service or component to put in a test image.
pub struct Part<'a> {
    pub name: &'a str,
    pub bytes: Vec<u8>,
    pub depends_on: &'a [&'a str],
    pub capabilities: &'a [&'a str],
    pub component: bool,
}

/// Deterministic filler bytes so checksums differ per part.
pub fn filler(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A manifest entry for `part` (block numbers filled in by `place`).
pub fn entry(part: &Part<'_>) -> Entry {
    Entry {
        name: part.name.try_into().unwrap(),
        kind: "native".try_into().unwrap(),
        binary: format!("{}.elf", part.name).as_str().try_into().unwrap(),
        capabilities: part
            .capabilities
            .iter()
            .map(|c| (*c).try_into().unwrap())
            .collect(),
        provides: heapless::Vec::new(),
        depends_on: part
            .depends_on
            .iter()
            .map(|d| Name::try_from(*d).unwrap())
            .collect(),
        start_block: 0,
        size_bytes: part.bytes.len() as u64,
        checksum: Sha256Digest::of(&part.bytes),
        start_timeout_ms: None,
        expected_state: None,
        memory_limit: None,
        signature: None,
        public_key_id: None,
        config: None,
    }
}

/// An image with `kernel`, `parts` started in order, an ESP of 256 blocks and 4 data blocks.
pub fn build(
    kernel: &[u8],
    parts: &[Part<'_>],
    esp_blocks: u64,
) -> (Vec<u8>, Superblock, Box<Manifest>) {
    let mut manifest = Box::new(Manifest {
        format_version: 1,
        kernel: Kernel {
            binary: "kernel_bootstrap".try_into().unwrap(),
            entry_point: "_start".try_into().unwrap(),
            start_block: 0,
            size_bytes: kernel.len() as u64,
            checksum: Sha256Digest::of(kernel),
        },
        services: parts.iter().filter(|p| !p.component).map(entry).collect(),
        components: parts.iter().filter(|p| p.component).map(entry).collect(),
        init_sequence: parts
            .iter()
            .map(|p| Name::try_from(p.name).unwrap())
            .collect(),
        security_epoch: 0,
        key_ring_update: None,
        keyboard_layout: None,
    });
    let mut json = vec![0u8; MAX_MANIFEST_BYTES];
    let placed = place(
        &mut manifest,
        Regions {
            esp_blocks,
            data_blocks: 4,
        },
        &mut json,
    )
    .unwrap();
    let sb = placed.superblock;
    let mut image = vec![0u8; sb.total_blocks as usize * BLOCK_SIZE];
    let mut block0 = [0u8; BLOCK_SIZE];
    sb.write_to(&mut block0);
    block0[510] = 0x55;
    block0[511] = 0xaa;
    image[..BLOCK_SIZE].copy_from_slice(&block0);
    let put = |image: &mut Vec<u8>, block: u64, bytes: &[u8]| {
        let at = block as usize * BLOCK_SIZE;
        image[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut image, 1, kernel);
    put(&mut image, sb.manifest_start, &json[..placed.manifest_len]);
    for part in parts {
        let e = manifest.find(part.name).unwrap();
        put(&mut image, e.start_block, &part.bytes);
    }
    (image, sb, manifest)
}

/// The standard test image: a 3-block kernel, two services and a component, with an ESP.
pub fn standard() -> (Vec<u8>, Superblock, Box<Manifest>) {
    let parts = [
        Part {
            name: "services_storage",
            bytes: filler(1, 5000),
            depends_on: &[],
            capabilities: &["block_device", "persistent_storage"],
            component: false,
        },
        Part {
            name: "services_network",
            bytes: filler(2, 4096),
            depends_on: &[],
            capabilities: &["network_device:eth0", "port_range:1024-65535"],
            component: false,
        },
        Part {
            name: "cli_console",
            bytes: filler(3, 100),
            depends_on: &["services_storage"],
            capabilities: &["console"],
            component: true,
        },
    ];
    build(&filler(9, 3 * BLOCK_SIZE - 7), &parts, 256)
}

/// Rewrites block 0 of `image` from `sb` (recomputing its checksum), keeping the MBR bytes.
pub fn rewrite_superblock(image: &mut [u8], sb: &Superblock) {
    let mut block0 = [0u8; BLOCK_SIZE];
    block0.copy_from_slice(&image[..BLOCK_SIZE]);
    sb.write_to(&mut block0);
    image[..BLOCK_SIZE].copy_from_slice(&block0);
}

/// Replaces the manifest of `image` with `manifest`'s JSON, fixing the superblock's length and image id
/// (the manifest must still fit its blocks).
pub fn rewrite_manifest(image: &mut [u8], manifest: &Manifest) {
    let mut json = vec![0u8; MAX_MANIFEST_BYTES];
    let len = manifest.to_json(&mut json).unwrap();
    replace_manifest_text(image, &json[..len]);
}

/// Replaces the manifest of `image` with raw `text`, fixing the superblock's length and image id.
pub fn replace_manifest_text(image: &mut [u8], text: &[u8]) {
    let mut sb = Superblock::decode(image).unwrap();
    let start = sb.manifest_start as usize * BLOCK_SIZE;
    let blocks = sb.manifest_bytes.div_ceil(BLOCK_SIZE as u64) as usize;
    assert!(
        text.len() <= blocks * BLOCK_SIZE,
        "test manifest must fit its blocks"
    );
    image[start..start + blocks * BLOCK_SIZE].fill(0);
    image[start..start + text.len()].copy_from_slice(text);
    sb.manifest_bytes = text.len() as u64;
    sb.image_id = crate::sha256::image_id(text);
    rewrite_superblock(image, &sb);
}
