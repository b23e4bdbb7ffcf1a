//! `cargo xtask bench update`: delta updates on real builds (docs/update-format.md,
//! "Measured"). A copy of the workspace's committed sources (`git archive HEAD`) is built in
//! release three times into two-slot images — as it is, with one more log line in
//! services_logger, with one word changed in the kernel's `boot complete` message. A delta from
//! the first to each is made and sized against the changed binary compressed (`zstd -19`) and
//! the whole image, applied on the host (`apply-delta`) and in QEMU by the console's `update`
//! (TCG, the time the console prints), and the updated slot is booted to see the change.
//! Reports numbers; asserts nothing about them.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

use crate::atomic::copy_atomically;
use crate::bench_qemu::Qemu;
use crate::build::Workspace;
use crate::guest::{Guest, PROMPT};
use crate::qemu::{self, QemuConfig, Serial};

/// One source change: the file, the text replaced and its replacement, the binary it changes
/// (under the copy's target directory), and a text the updated system logs.
struct Change {
    name: &'static str,
    file: &'static str,
    old: &'static str,
    new: &'static str,
    binary: &'static str,
    seen: &'static str,
}

const CHANGES: [Change; 2] = [
    Change {
        name: "services_logger with one more log line",
        file: "components/services_logger/src/main.rs",
        old: "    runtime::announce(NAME);\n",
        new: "    runtime::announce(NAME);\n    runtime::info!(\"services_logger: one more line for the delta benchmark\");\n",
        binary: "x86_64-unknown-linux-gnu/release/services_logger",
        seen: "one more line for the delta benchmark",
    },
    Change {
        name: "the kernel with one word changed",
        file: "kernel/src/boot/mod.rs",
        old: "\"boot complete after {} ms; idling\"",
        new: "\"boot complete after {} ms; now idling\"",
        binary: "x86_64-unknown-none/release/kernel_bootstrap",
        seen: "ms; now idling",
    },
];

/// How long an update or a boot may take in QEMU.
const QEMU_TIMEOUT: Duration = Duration::from_secs(300);

pub fn run(ws: &Workspace, dir: &Path) -> Result<()> {
    let q = Qemu {
        bin: qemu::find_qemu_on_host()?,
        ovmf: qemu::find_ovmf_on_host()?,
    };
    let src = dir.join("update-src");
    export_head(ws, &src)?;
    // Kept between runs (the first builds every dependency; later ones only what changed).
    let target = ws.target_dir.join("bench-update");
    let old = dir.join("update-old.img");
    build_image(&src, &target, &old)?;
    let key_path = crate::keys::development_key(&target)?.secret;
    let key = crate::keys::read_secret(&key_path)?;
    let image_len = fs::metadata(&old)?.len();
    for change in &CHANGES {
        let before = fs::read(target.join(change.binary))?;
        edit(&src, change, true)?;
        let new = dir.join("update-new.img");
        let built = build_image(&src, &target, &new);
        edit(&src, change, false)?;
        built?;
        let delta = dir.join("update.pgdelta");
        let made = crate::update::write_delta(&old, &new, Some(&key), &delta)?;
        let size = made.encoded.bytes.len();
        let zstd = zstd::bulk::compress(&before, 19)?.len();
        let host = host_apply(&old, &delta, dir)?;
        let (ms, seen) = qemu_apply(&q, &old, &delta, dir, change.seen)?;
        println!(
            "bench: update, {}: delta {size} bytes = {:.0} % of the binary with zstd -19 ({zstd} bytes), {:.4} % of the image ({image_len} bytes); host apply-delta {:.1} MiB/s ({} bytes of slot in {:.2} s); QEMU (TCG, release) `update` {ms} ms; the updated slot boots {}",
            change.name,
            size as f64 * 100.0 / zstd as f64,
            size as f64 * 100.0 / image_len as f64,
            host.0 as f64 / (1 << 20) as f64 / host.1,
            host.0,
            host.1,
            if seen { "and shows the change" } else { "WITHOUT the change" },
        );
        let _ = fs::remove_file(&new);
    }
    let _ = fs::remove_dir_all(&src);
    Ok(())
}

/// The committed sources of the workspace, unpacked into `dest`.
fn export_head(ws: &Workspace, dest: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(dest);
    fs::create_dir_all(dest)?;
    let tar = dest.with_extension("tar");
    let status = Command::new("git")
        .args(["archive", "--format=tar", "-o"])
        .arg(&tar)
        .arg("HEAD")
        .current_dir(&ws.root)
        .status()
        .context("running git archive (the benchmark builds the committed sources)")?;
    ensure!(
        status.success(),
        "git archive HEAD failed in {}",
        ws.root.display()
    );
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(dest)
        .status()?;
    ensure!(status.success(), "unpacking {} failed", tar.display());
    let _ = fs::remove_file(&tar);
    Ok(())
}

/// `cargo xtask build-image --slots 2` of the sources in `src` (release), built in `target`.
fn build_image(src: &Path, target: &Path, out: &Path) -> Result<()> {
    println!(
        "xtask: bench: building {} from {}",
        out.display(),
        src.display()
    );
    let ws = Workspace {
        root: src.to_path_buf(),
        target_dir: target.to_path_buf(),
    };
    let status = ws
        .cargo()
        .args(["xtask", "build-image", "--slots", "2", "--output"])
        .arg(out)
        .status()?;
    ensure!(status.success(), "building {} failed", out.display());
    Ok(())
}

/// Applies `change` to the sources (or undoes it).
fn edit(src: &Path, change: &Change, apply: bool) -> Result<()> {
    let path = src.join(change.file);
    let text = fs::read_to_string(&path)?;
    let (from, to) = match apply {
        true => (change.old, change.new),
        false => (change.new, change.old),
    };
    ensure!(
        text.matches(from).count() == 1,
        "{} no longer has `{from}` once: update the benchmark's change",
        path.display()
    );
    fs::write(&path, text.replacen(from, to, 1))?;
    Ok(())
}

/// `apply-delta` on a copy of `old`: bytes of slot written and seconds.
fn host_apply(old: &Path, delta: &Path, dir: &Path) -> Result<(u64, f64)> {
    let img = dir.join("update-host.img");
    copy_sparse(old, &img)?;
    let done = crate::update::apply_delta(&img, delta)?;
    let _ = fs::remove_file(&img);
    Ok((done.written, done.elapsed.as_secs_f64()))
}

/// The console's `update` of the delta in a copy of `old`: the milliseconds it printed, and
/// whether the next boot (the updated slot) logs `seen`.
fn qemu_apply(q: &Qemu, old: &Path, delta: &Path, dir: &Path, seen: &str) -> Result<(u64, bool)> {
    let img = dir.join("update-qemu.img");
    copy_sparse(old, &img)?;
    crate::fs::put_file(&img, delta, "/u.pgdelta")?;
    let vars = dir.join("update-qemu.vars.fd");
    copy_atomically(&q.ovmf.vars, &vars)?;
    let boot = |n: usize| -> Result<Guest> {
        let serial = dir.join(format!("update-qemu.boot{n}.log"));
        let config = QemuConfig::new(
            q.ovmf.code.clone(),
            vars.clone(),
            img.clone(),
            Serial::File(serial.clone()),
        );
        Guest::start(&q.bin, &config, &serial, &dir.join("update-qemu.qemu.log"))
    };
    let mut g = boot(1)?;
    g.wait_for(PROMPT, QEMU_TIMEOUT)?;
    g.type_line("update /u.pgdelta")?;
    let (i, _) = g.wait_any(&["reboot to try it", "error: update"], QEMU_TIMEOUT)?;
    let line = g
        .log()
        .lines()
        .rev()
        .find(|l| l.contains("update: slot") || l.contains("error: update"))
        .unwrap_or_default()
        .to_string();
    if i != 0 {
        bail!("the console's update failed: {line}");
    }
    let ms = ms_of(&line).with_context(|| format!("no time in `{line}`"))?;
    g.type_line("reboot")?;
    g.wait_exit(QEMU_TIMEOUT)?;
    let mut g = boot(2)?;
    g.wait_for(PROMPT, QEMU_TIMEOUT)?;
    let shown = g.log().contains(seen);
    g.kill();
    let _ = fs::remove_file(&img);
    Ok((ms, shown))
}

/// `N` of `... in N ms; ...`.
fn ms_of(line: &str) -> Option<u64> {
    let at = line.find(" in ")? + 4;
    line[at..].split(' ').next()?.parse().ok()
}

fn copy_sparse(from: &Path, to: &Path) -> Result<()> {
    crate::atomic::write_atomically(to, |f| {
        crate::corrupt::copy_sparse(&mut fs::File::open(from)?, f)
    })
}
