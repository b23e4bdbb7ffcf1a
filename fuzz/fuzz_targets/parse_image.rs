//! Arbitrary bytes through every loader entry point: superblock, manifest, graph, and a whole verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loader::manifest::{self, Manifest, MAX_MANIFEST_BYTES};
use loader::{graph, verify_image_into, MemSource, Superblock, BLOCK_SIZE};

fuzz_target!(|data: &[u8]| {
    // The bytes as block 0.
    if let Ok(sb) = Superblock::decode(data) {
        let _ = sb.validate(Some((data.len() / BLOCK_SIZE) as u64));
    }
    // The bytes as a manifest, then its graph.
    let mut m = Box::<Manifest>::default();
    if manifest::parse_into(data, &mut m).is_ok() {
        let _ = graph::check(&m);
        let mut all = 0usize;
        graph::check_all(&m, &mut |_| all += 1);
    }
    // The bytes as a whole image.
    let mut buf: Box<[u8; MAX_MANIFEST_BYTES]> =
        vec![0u8; MAX_MANIFEST_BYTES].into_boxed_slice().try_into().unwrap();
    let _ = verify_image_into(&mut MemSource(data), &mut buf, &mut (), &mut m);
});
