//! `cargo xtask bench`: (a) the loader's verification throughput against raw SHA-256, (b) the
//! pack step of `build-image` on 256 MiB of component bytes against `cat` + `sha256sum` of the
//! same files, and (c) `cargo xtask fs put`/`get` of a 64 MiB file into/out of a fresh image
//! (against a plain file copy). Prints numbers; asserts nothing about time.
//!
//! A debug build of xtask would measure unoptimised hashing, so from a debug build this re-runs
//! itself as `cargo run --release -p xtask -- bench`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use loader::manifest::{Entry, Manifest, Name};
use loader::{MemSource, Sha256Digest};

use crate::build::{self, Workspace};
use crate::description::measure;
use crate::image::{self, EspFile, MIB};
use crate::pack::{self, loader_buffer, PackInput};

/// 16 components of 16 MiB: 256 MiB of component bytes.
const COMPONENTS: usize = 16;
const COMPONENT_BYTES: usize = 16 * MIB as usize;
const KERNEL_BYTES: usize = 4 * MIB as usize;

fn mib_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MIB as f64 / secs.max(1e-9)
}

/// xorshift bytes: incompressible enough, deterministic, fast.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Which benchmarks `cargo xtask bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Every one below.
    All,
    /// The loader's verification and the pack step.
    Pack,
    /// `fs put`/`fs get`.
    Fs,
    /// The benchmarks that boot QEMU.
    Qemu,
    /// The screen's drawing ([`crate::bench_screen`]).
    Screen,
    /// status_http's requests per second from the host, in QEMU.
    StatusHttp,
    /// TCP throughput each way through the console's `http` command ([`crate::bench_net`]).
    NetThroughput,
    /// Delta updates of real source changes: sizes, host and QEMU apply ([`crate::bench_update`]).
    Update,
}

pub fn run(ws: &Workspace, part: Part) -> Result<()> {
    if cfg!(debug_assertions) {
        println!(
            "xtask: bench: re-running xtask built in release (debug hashing is not representative)"
        );
        let part = clap::ValueEnum::to_possible_value(&part)
            .expect("every part has a name")
            .get_name()
            .to_string();
        return build::run_cargo(
            ws,
            &[
                "run",
                "--release",
                "--quiet",
                "-p",
                "xtask",
                "--",
                "bench",
                &part,
            ],
        );
    }
    let dir = ws.target_dir.join("bench");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let wants = |p: Part| part == Part::All || part == p;
    let result = Ok(())
        .and_then(|()| {
            if wants(Part::Pack) {
                bench_in(&dir)
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if wants(Part::Fs) {
                fs_bench(&dir)
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if wants(Part::Qemu) {
                crate::bench_qemu::run(ws, &dir)
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if wants(Part::NetThroughput) {
                crate::bench_net::run(ws, &dir)
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if wants(Part::Update) {
                crate::bench_update::run(ws, &dir)
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if wants(Part::Screen) {
                crate::bench_screen::run()
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if wants(Part::StatusHttp) {
                crate::bench_qemu::status_http(ws, &dir)
            } else {
                Ok(())
            }
        });
    let _ = fs::remove_dir_all(&dir);
    result
}

fn bench_in(dir: &Path) -> Result<()> {
    // Synthetic inputs, as files (build-image reads the built binaries from disk).
    let kernel_path = dir.join("kernel_bootstrap");
    fs::write(&kernel_path, random_bytes(1, KERNEL_BYTES))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for i in 0..COMPONENTS {
        let p = dir.join(format!("bench_{i}"));
        fs::write(&p, random_bytes(i as u64 + 2, COMPONENT_BYTES))?;
        files.push(p);
    }
    let component_bytes = (COMPONENTS * COMPONENT_BYTES) as u64;
    println!(
        "bench: {} components, {} MiB of component bytes (+ {} MiB kernel), files in {}",
        COMPONENTS,
        component_bytes / MIB,
        KERNEL_BYTES as u64 / MIB,
        dir.display()
    );

    // (b) pack: read the files, measure (SHA-256), lay out, write, re-verify: build-image's path.
    let output = dir.join("bench-system.img");
    let start = Instant::now();
    let kernel = fs::read(&kernel_path)?;
    let binaries: Vec<Vec<u8>> = files.iter().map(fs::read).collect::<Result<_, _>>()?;
    let read_s = start.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut manifest = Box::<Manifest>::default();
    manifest.format_version = loader::FORMAT_VERSION;
    manifest.kernel.binary = "kernel_bootstrap".try_into().expect("short");
    manifest.kernel.entry_point = "_start".try_into().expect("short");
    for i in 0..COMPONENTS {
        let name: Name = format!("bench_{i}").as_str().try_into().expect("short");
        let entry = Entry {
            name: name.clone(),
            kind: "native".try_into().expect("short"),
            binary: "bench.elf".try_into().expect("short"),
            ..Entry::default()
        };
        let _ = manifest.services.push(entry);
        let _ = manifest.init_sequence.push(name);
    }
    measure(&mut manifest, &kernel, &binaries)?;
    let measure_s = t.elapsed().as_secs_f64();
    let input = PackInput {
        manifest,
        esp_files: vec![
            EspFile {
                path: "/EFI/BOOT/BOOTX64.EFI".into(),
                data: b"MZ bench".to_vec(),
            },
            EspFile {
                path: "/boot/kernel_bootstrap".into(),
                data: kernel.clone(),
            },
        ],
        kernel,
        binaries,
        esp_size: image::DEFAULT_ESP_SIZE,
        data_size: pack::DEFAULT_DATA_SIZE,
        signing: None,
        slot_b: None,
    };
    let packed = pack::pack_checked(input, &output, false)?;
    let pack_s = start.elapsed().as_secs_f64();
    println!(
        "bench: pack (build-image's path, no cargo): {:.0} MiB/s of component bytes ({:.3} s: read {:.3}, SHA-256 {:.3}, write {:.3}, re-verify {:.3}, fsync + rename {:.3})",
        mib_per_s(component_bytes, pack_s),
        pack_s,
        read_s,
        measure_s,
        packed.write_time.as_secs_f64(),
        packed.verify_time.as_secs_f64(),
        (packed.total_time - packed.write_time - packed.verify_time).as_secs_f64()
    );
    let baseline = |program: &str, out: Option<&Path>| -> Result<f64> {
        let mut cmd = Command::new(program);
        cmd.args(&files).stdin(Stdio::null());
        match out {
            Some(p) => cmd.stdout(fs::File::create(p)?),
            None => cmd.stdout(Stdio::null()),
        };
        let start = Instant::now();
        let status = cmd.status().with_context(|| format!("running {program}"))?;
        if !status.success() {
            bail!("{program} failed: {status}");
        }
        Ok(start.elapsed().as_secs_f64())
    };
    let cat_s = baseline("cat", Some(&dir.join("cat.out")))?;
    let sha_s = baseline("sha256sum", None)?;
    println!(
        "bench: cat FILES > out: {:.0} MiB/s ({cat_s:.3} s) | sha256sum FILES: {:.0} MiB/s ({sha_s:.3} s) | both: {:.0} MiB/s ({:.3} s)",
        mib_per_s(component_bytes, cat_s),
        mib_per_s(component_bytes, sha_s),
        mib_per_s(component_bytes, cat_s + sha_s),
        cat_s + sha_s
    );

    // (a) verify throughput: the loader over the packed image (file, then memory) vs raw SHA-256.
    let hashed = packed.bytes_hashed;
    for round in 1..=2 {
        let start = Instant::now();
        let v = pack::verify_path(&output)?.map_err(|e| anyhow::anyhow!("{e}"))?;
        let file_s = start.elapsed().as_secs_f64();
        let raw = fs::read(&output)?;
        let start = Instant::now();
        let mut manifest = Box::<Manifest>::default();
        loader::verify_image_into(
            &mut MemSource(&raw),
            &mut loader_buffer(),
            &mut (),
            &mut manifest,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mem_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let end = ((v.superblock.esp_start) * pack::BLOCK) as usize;
        std::hint::black_box(Sha256Digest::of(&raw[..end]));
        let sha_s = start.elapsed().as_secs_f64();
        println!(
            "bench: round {round}: loader verify_image (file) {:.0} MiB/s | (memory) {:.0} MiB/s ({} MiB hashed) | raw sha2 {:.0} MiB/s ({} MiB)",
            mib_per_s(hashed, file_s),
            mib_per_s(hashed, mem_s),
            hashed / MIB,
            mib_per_s(end as u64, sha_s),
            end as u64 / MIB
        );
    }
    Ok(())
}

/// The file `fs put`/`fs get` move.
const FS_FILE_BYTES: usize = 64 * MIB as usize;

/// (c) `fs put` of a 64 MiB file into a fresh image with an 80 MiB user-data region (formatted
/// by the put), then `fs get` of it back: the host tool's whole path (open, mount, copy, sync).
fn fs_bench(dir: &Path) -> Result<()> {
    let kernel = random_bytes(9, 8192);
    let binaries = vec![random_bytes(10, 8192)];
    let mut manifest = Box::<Manifest>::default();
    manifest.format_version = loader::FORMAT_VERSION;
    manifest.kernel.binary = "kernel_bootstrap".try_into().expect("short");
    manifest.kernel.entry_point = "_start".try_into().expect("short");
    let name: Name = "bench_fs".try_into().expect("short");
    let _ = manifest.services.push(Entry {
        name: name.clone(),
        kind: "native".try_into().expect("short"),
        binary: "bench.elf".try_into().expect("short"),
        ..Entry::default()
    });
    let _ = manifest.init_sequence.push(name);
    measure(&mut manifest, &kernel, &binaries)?;
    let input = PackInput {
        manifest,
        esp_files: vec![EspFile {
            path: "/EFI/BOOT/BOOTX64.EFI".into(),
            data: b"MZ bench".to_vec(),
        }],
        kernel,
        binaries,
        esp_size: image::MIN_ESP_SIZE,
        data_size: 80 * MIB,
        signing: None,
        slot_b: None,
    };
    let img = dir.join("bench-fs.img");
    pack::pack_checked(input, &img, false)?;
    let host = dir.join("fs-put.bin");
    let data = random_bytes(11, FS_FILE_BYTES);
    fs::write(&host, &data)?;
    let bytes = FS_FILE_BYTES as u64;

    let start = Instant::now();
    fs::copy(&host, dir.join("copy.bin"))?;
    fs::File::open(dir.join("copy.bin"))?.sync_all()?;
    let copy_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    crate::fs::put_file(&img, &host, "/bench/fs-put.bin")?;
    let put_s = start.elapsed().as_secs_f64();
    let back = dir.join("fs-get.bin");
    let start = Instant::now();
    crate::fs::get_file(&img, "/bench/fs-put.bin", &back)?;
    let get_s = start.elapsed().as_secs_f64();
    if fs::read(&back)? != data {
        bail!("fs get returned different bytes from what fs put stored");
    }
    println!(
        "bench: fs put 64 MiB into a fresh image (80 MiB region, formatted by the put, synced): {:.0} MiB/s ({put_s:.3} s) | fs get: {:.0} MiB/s ({get_s:.3} s) | plain copy + fsync: {:.0} MiB/s ({copy_s:.3} s)",
        mib_per_s(bytes, put_s),
        mib_per_s(bytes, get_s),
        mib_per_s(bytes, copy_s)
    );
    Ok(())
}
