//! Throughput of `verify_image` over a synthetic 256 MiB image in memory, against raw SHA-256 of the same bytes.
//!
//! `cargo run -p loader --release --example verify_bench`. Prints numbers; asserts nothing about time.

use loader::manifest::{Entry, Kernel, Manifest, Name, MAX_MANIFEST_BYTES};
use loader::pack::{place, Regions};
use loader::{verify_image, MemSource, Sha256Digest, BLOCK_SIZE};
use sha2::{Digest, Sha256};
use std::time::Instant;

const MIB: usize = 1024 * 1024;
/// 16 binaries of 16 MiB minus a bit, plus a 4 MiB kernel: about 256 MiB of hashed bytes.
const ENTRIES: usize = 15;
const ENTRY_BYTES: usize = 16 * MIB - 1000;
const KERNEL_BYTES: usize = 16 * MIB - 7;

fn filler(seed: u8, len: usize) -> Vec<u8> {
    let mut x = u32::from(seed) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn main() {
    let kernel = filler(1, KERNEL_BYTES);
    let binaries: Vec<Vec<u8>> = (0..ENTRIES)
        .map(|i| filler(i as u8 + 2, ENTRY_BYTES))
        .collect();
    let mut manifest = Box::new(Manifest {
        format_version: 1,
        kernel: Kernel {
            binary: "kernel_bootstrap".try_into().unwrap(),
            entry_point: "_start".try_into().unwrap(),
            start_block: 1,
            size_bytes: kernel.len() as u64,
            checksum: Sha256Digest::of(&kernel),
        },
        ..Manifest::default()
    });
    for (i, bytes) in binaries.iter().enumerate() {
        let name: Name = format!("service_{i}").as_str().try_into().unwrap();
        manifest
            .services
            .push(Entry {
                name: name.clone(),
                kind: "native".try_into().unwrap(),
                binary: "s.elf".try_into().unwrap(),
                size_bytes: bytes.len() as u64,
                checksum: Sha256Digest::of(bytes),
                ..Entry::default()
            })
            .unwrap();
        manifest.init_sequence.push(name).unwrap();
    }
    let mut json = vec![0u8; MAX_MANIFEST_BYTES];
    let placed = place(
        &mut manifest,
        Regions {
            esp_blocks: 0,
            data_blocks: 0,
        },
        &mut json,
    )
    .unwrap();
    let sb = placed.superblock;
    let mut image = vec![0u8; sb.total_blocks as usize * BLOCK_SIZE];
    image[..BLOCK_SIZE].copy_from_slice(&sb.encode());
    let put = |image: &mut Vec<u8>, block: u64, bytes: &[u8]| {
        let at = block as usize * BLOCK_SIZE;
        image[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut image, 1, &kernel);
    put(&mut image, sb.manifest_start, &json[..placed.manifest_len]);
    for (entry, bytes) in manifest.services.iter().zip(&binaries) {
        put(&mut image, entry.start_block, bytes);
    }
    println!(
        "image: {} MiB, {} blocks",
        image.len() / MIB,
        sb.total_blocks
    );

    let mut buf: Box<[u8; MAX_MANIFEST_BYTES]> = vec![0u8; MAX_MANIFEST_BYTES]
        .into_boxed_slice()
        .try_into()
        .unwrap();
    for round in 1..=3 {
        let start = Instant::now();
        let v = verify_image(&mut MemSource(&image), &mut buf, &mut ()).expect("image verifies");
        let verify_s = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let digest = Sha256::digest(&image);
        let raw_s = start.elapsed().as_secs_f64();
        std::hint::black_box(digest);

        let mb = |bytes: u64, s: f64| bytes as f64 / 1e6 / s;
        println!(
            "round {round}: verify_image {:.0} MB/s ({} MB hashed in {:.3} s) | raw sha2 {:.0} MB/s ({} MB in {:.3} s)",
            mb(v.bytes_hashed, verify_s),
            v.bytes_hashed / 1_000_000,
            verify_s,
            mb(image.len() as u64, raw_s),
            image.len() / 1_000_000,
            raw_s,
        );
    }
}
