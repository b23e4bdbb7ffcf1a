//! `cargo xtask bench`, in QEMU (TCG, release kernel): the filesystem's throughput next to the
//! raw disk's in the same boot (`t_fsbench`, system `system/tests/fsbench.json`), and the
//! storage service's mount time with 10 and 10,000 files; and status_http's requests per second
//! from the host ([`status_http`]). Reports numbers; asserts nothing about them.

use crate::sign::{SignArgs, SignConfig};
use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::atomic::copy_atomically;
use crate::build::{self, Artifacts, Profile, Workspace};
use crate::description::{self, Description};
use crate::guest::Guest;
use crate::image::MIB;
use crate::qemu::{self, Ovmf, QemuConfig, Serial};
use crate::system_image::{self, BootLoader, ConfTweak, SystemImage};

const FSBENCH_SYSTEM: &str = "system/tests/fsbench.json";
/// The fsbench line, and what the benchmark component logs when something failed.
const FSBENCH_LINE: &str = "t_fsbench: 64 MiB";
const FSBENCH_ERROR: &str = "ERROR proc: [t_fsbench]";
const FSBENCH_FAILED: &str = "t_fsbench failed";
/// What the storage service logs after mounting (the rest of the line says when).
fn mount_line() -> String {
    format!("services_storage: {}", storage_server::msg::MOUNTED)
}

pub(crate) struct Qemu {
    pub(crate) bin: std::path::PathBuf,
    pub(crate) ovmf: Ovmf,
}

pub fn run(ws: &Workspace, dir: &Path) -> Result<()> {
    let q = Qemu {
        bin: qemu::find_qemu_on_host()?,
        ovmf: qemu::find_ovmf_on_host()?,
    };
    let default = description::path_or_default(&ws.root, None);
    let fsbench = ws.root.join(FSBENCH_SYSTEM);
    let artifacts = build_both(ws, &default, &fsbench)?;
    let signing = SignConfig::resolve(&ws.target_dir, &SignArgs::default())?;
    let image = |description: &Path, data_size| SystemImage {
        signing: Some(signing.clone()),
        ..image(&artifacts, description, data_size)
    };
    let img = dir.join("fsbench.img");
    system_image::write_system_image(&image(&fsbench, 256 * MIB), &img, false)?;
    let line = boot_until(
        &q,
        &img,
        dir,
        &[FSBENCH_LINE, FSBENCH_ERROR, FSBENCH_FAILED],
        900,
    )?;
    println!("bench: QEMU (TCG, release kernel, virtio-blk): {line}");
    for files in [10, 10_000] {
        let data = dir.join(format!("files-{files}"));
        fs::create_dir_all(&data)?;
        for i in 0..files {
            fs::write(data.join(format!("file-{i:05}.txt")), format!("file {i}\n"))?;
        }
        let scanned = crate::fs::DataDir::scan(&data)?;
        let img = dir.join(format!("mount-{files}.img"));
        let spec = image(&default, 64 * MIB);
        system_image::write_system_image_filled(&spec, None, &img, false, |file, sb| {
            crate::fs::fill_image(file, sb, &scanned).map(drop)
        })?;
        let line = boot_until(&q, &img, dir, &[&mount_line()], 120)?;
        println!("bench: QEMU mount with {files} files: {line}");
    }
    Ok(())
}

/// Requests timed on one keep-alive connection, and on a new connection each.
const HTTP_KEEP_ALIVE: usize = 200;
const HTTP_NEW_CONNECTION: usize = 50;

/// status_http in the default system (release kernel, TCG, e1000e, port 8080 forwarded from a
/// free host port): `GET /services.json` requests per second, keep-alive and one connection
/// per request, after 5 warm-up requests.
pub fn status_http(ws: &Workspace, dir: &Path) -> Result<()> {
    use crate::http_scenarios::{get, requests_per_second, GUEST_PORT, SERVING};
    let q = Qemu {
        bin: qemu::find_qemu_on_host()?,
        ovmf: qemu::find_ovmf_on_host()?,
    };
    let default = description::path_or_default(&ws.root, None);
    let artifacts = build_both(ws, &default, &default)?;
    let img = dir.join("status-http.img");
    system_image::write_system_image(&image(&artifacts, &default, 64 * MIB), &img, false)?;
    let vars = dir.join("status-http.vars.fd");
    copy_atomically(&q.ovmf.vars, &vars)?;
    let serial = dir.join("status-http.serial.log");
    let mut config = QemuConfig::new(q.ovmf.code.clone(), vars, img, Serial::File(serial.clone()));
    let fwd = qemu::Forward::free_host_port(GUEST_PORT)?;
    config.forwards = vec![fwd];
    let mut g = Guest::start(&q.bin, &config, &serial, &dir.join("status-http.qemu.log"))?;
    g.wait_for(SERVING, Duration::from_secs(120))?;
    g.wait_for(crate::guest::PROMPT, Duration::from_secs(60))?;
    for _ in 0..5 {
        get(fwd.host, "/services.json")?;
    }
    let keep = requests_per_second(fwd.host, HTTP_KEEP_ALIVE)?;
    let start = std::time::Instant::now();
    for _ in 0..HTTP_NEW_CONNECTION {
        get(fwd.host, "/services.json")?;
    }
    let fresh = HTTP_NEW_CONNECTION as f64 / start.elapsed().as_secs_f64();
    g.kill();
    println!(
        "bench: QEMU status_http GET /services.json: {keep:.1} requests/s keep-alive \
         ({HTTP_KEEP_ALIVE} on one connection), {fresh:.1} requests/s with a new connection \
         each ({HTTP_NEW_CONNECTION})"
    );
    Ok(())
}

pub(crate) fn build_both(ws: &Workspace, a: &Path, b: &Path) -> Result<Artifacts> {
    let descs = [Description::load(a)?, Description::load(b)?];
    let mut packages: Vec<&str> = descs.iter().flat_map(|d| d.packages()).collect();
    let mut binaries: Vec<&str> = descs.iter().flat_map(|d| d.binaries()).collect();
    packages.sort_unstable();
    packages.dedup();
    binaries.sort_unstable();
    binaries.dedup();
    build::build_all(ws, Profile::Release, &packages, &binaries)
}

pub(crate) fn image(artifacts: &Artifacts, description: &Path, data_size: u64) -> SystemImage {
    SystemImage {
        kernel: artifacts.kernel.clone(),
        boot_loader: BootLoader::Stub(artifacts.stub.clone()),
        cmdline: String::new(),
        tweak: ConfTweak::None,
        description: description.to_path_buf(),
        components_dir: artifacts.components_dir.clone(),
        data_size,
        signing: None,
    }
}

/// Boots `img` until one of `needles` appears; returns the rest of that line (the first
/// needle) or fails with it (any other).
fn boot_until(q: &Qemu, img: &Path, dir: &Path, needles: &[&str], secs: u64) -> Result<String> {
    let name = img.file_stem().and_then(|s| s.to_str()).unwrap_or("bench");
    let vars = dir.join(format!("{name}.vars.fd"));
    copy_atomically(&q.ovmf.vars, &vars)?;
    let serial = dir.join(format!("{name}.serial.log"));
    let config = QemuConfig::new(
        q.ovmf.code.clone(),
        vars,
        img.to_path_buf(),
        Serial::File(serial.clone()),
    );
    let qemu_log = dir.join(format!("{name}.qemu.log"));
    let mut g = Guest::start(&q.bin, &config, &serial, &qemu_log)?;
    let (which, _) = g
        .wait_any(needles, Duration::from_secs(secs))
        .with_context(|| format!("booting {}", img.display()))?;
    let rest = g.wait_for("\n", Duration::from_secs(10))?;
    g.kill();
    let line = format!("{}{}", needles[which], rest.trim_end());
    if which != 0 {
        bail!("{line}");
    }
    Ok(line)
}
