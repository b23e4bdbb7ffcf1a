//! `cargo xtask bench net-throughput`, in QEMU (TCG, release build): TCP throughput through
//! `services_network`, measured with the console's `http` command against the host server of
//! [`crate::http_get_scenarios`] — receive (host → guest, `http get -o` of 64 MiB into the store)
//! and send (guest → host, `http put` of that file) — on virtio-net and on e1000e. Reports
//! numbers; asserts nothing about them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::atomic::copy_atomically;
use crate::bench_qemu::{build_both, image, Qemu};
use crate::build::Workspace;
use crate::description;
use crate::guest::{Guest, PROMPT};
use crate::http_get_scenarios::{Server, DATA_SIZE};
use crate::qemu::{self, Nic, QemuConfig, Serial};
use crate::sign::{SignArgs, SignConfig};
use crate::system_image::{self, SystemImage};

/// The file moved each way.
const LEN: u64 = 64 << 20;
/// The longest one transfer may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(900);

pub fn run(ws: &Workspace, dir: &Path) -> Result<()> {
    let q = Qemu {
        bin: qemu::find_qemu_on_host()?,
        ovmf: qemu::find_ovmf_on_host()?,
    };
    let default = description::path_or_default(&ws.root, None);
    let artifacts = build_both(ws, &default, &default)?;
    let signing = SignConfig::resolve(&ws.target_dir, &SignArgs::default())?;
    let server = Server::start()?;
    for nic in [Nic::VirtioNet, Nic::E1000e] {
        let img = dir.join(format!("net-{}.img", nic.device()));
        let spec = SystemImage {
            signing: Some(signing.clone()),
            ..image(&artifacts, &default, DATA_SIZE)
        };
        system_image::write_system_image(&spec, &img, false)?;
        let (rx, tx) = measure(&q, &img, dir, nic, server.port)?;
        println!(
            "bench: net-throughput (QEMU TCG, release, {}, user-mode network): receive {rx:.2} MiB/s (http get -o, 64 MiB), send {tx:.2} MiB/s (http put, 64 MiB)",
            nic.device()
        );
        let _ = std::fs::remove_file(&img);
    }
    Ok(())
}

/// Boots `img` with `nic`; MiB/s of the 64 MiB get and put, as the guest timed them.
fn measure(q: &Qemu, img: &Path, dir: &Path, nic: Nic, port: u16) -> Result<(f64, f64)> {
    let name = format!("net-{}", nic.device());
    let vars = dir.join(format!("{name}.vars.fd"));
    copy_atomically(&q.ovmf.vars, &vars)?;
    let serial = dir.join(format!("{name}.serial.log"));
    let mut config = QemuConfig::new(
        q.ovmf.code.clone(),
        vars,
        img.to_path_buf(),
        Serial::File(serial.clone()),
    );
    config.nics = vec![nic];
    let mut g = Guest::start(
        &q.bin,
        &config,
        &serial,
        &dir.join(format!("{name}.qemu.log")),
    )?;
    g.wait_for(PROMPT, Duration::from_secs(300))?;
    let base = format!("http://10.0.2.2:{port}");
    let rx = transfer(&mut g, &format!("http get {base}/64m -o f"), "saved ")?;
    let tx = transfer(&mut g, &format!("http put {base}/up f"), "sent ")?;
    g.kill();
    Ok((rx, tx))
}

/// Runs `command`; MiB/s from its last line, `<start>N bytes ... in T ms (...)`.
fn transfer(g: &mut Guest, command: &str, start: &str) -> Result<f64> {
    let t = Instant::now();
    let out = g.command(command, TRANSFER_TIMEOUT)?;
    let last = out.last().map_or("", String::as_str);
    let ms = last
        .strip_prefix(start)
        .and_then(|rest| rest.split(" in ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse::<f64>().ok());
    match ms {
        Some(ms) if last.contains(&format!("{LEN} bytes")) => {
            Ok(LEN as f64 / (1 << 20) as f64 / (ms.max(1.0) / 1000.0))
        }
        _ => bail!(
            "`{command}` printed {out:?} after {:.1} s",
            t.elapsed().as_secs_f64()
        ),
    }
}
