//! `cargo xtask run`: pack the system image and hand the terminal to QEMU.

use std::process::Command;

use anyhow::{Context, Result};

use crate::atomic::copy_atomically;
use crate::build::{self, Profile, Workspace};
use crate::qemu::{self, Accel, Attach, Machine, QemuConfig, Serial};

pub const IMAGE_NAME: &str = "pandagen-system.img";
pub const ISO_NAME: &str = "pandagen-boot.iso";
pub const VARS_NAME: &str = "pandagen-ovmf-vars.fd";

pub struct RunOptions {
    pub profile: Profile,
    pub image: crate::ImageOptions,
    pub machine: Machine,
    pub attach: Attach,
    pub kvm: bool,
    pub no_build: bool,
    /// Guest TCP ports reached from free host ports (`--forward`).
    pub forward: Vec<u16>,
}

pub fn run(ws: &Workspace, opts: &RunOptions) -> Result<()> {
    // Find the tools first: no point building for a machine we cannot start.
    let qemu_bin = qemu::find_qemu_on_host()?;
    let ovmf = qemu::find_ovmf_on_host()?;
    let xorriso = match opts.attach {
        Attach::Cdrom => Some(crate::iso::find_xorriso_on_host()?),
        _ => None,
    };
    let desc = crate::description::Description::load(&opts.image.description)?;
    let artifacts = if opts.no_build {
        build::existing_artifacts(ws, opts.profile, &desc.binaries())?
    } else {
        build::build_all(ws, opts.profile, &desc.packages(), &desc.binaries())?
    };
    let image = match &xorriso {
        Some(xorriso) => {
            let iso = ws.target_dir.join(ISO_NAME);
            crate::pack_iso(xorriso, &artifacts, &opts.image, &iso)?;
            iso
        }
        None => {
            let image = ws.target_dir.join(IMAGE_NAME);
            crate::pack_image(&artifacts, &opts.image, &image)?;
            image
        }
    };
    let vars = ws.target_dir.join(VARS_NAME);
    copy_atomically(&ovmf.vars, &vars)?;

    let mut config = QemuConfig::new(ovmf.code, vars, image, Serial::MonStdio);
    config.machine = opts.machine;
    config.disks[0].attach = opts.attach;
    config.accel = if opts.kvm { Accel::Kvm } else { Accel::Tcg };
    for &guest in &opts.forward {
        let f = qemu::Forward::free_host_port(guest).context("finding a free host port")?;
        println!(
            "xtask: host 127.0.0.1:{} -> guest port {guest} (e.g. http://127.0.0.1:{}/)",
            f.host, f.host
        );
        config.forwards.push(f);
    }
    let args = qemu::qemu_args(&config);
    println!("xtask: serial console on this terminal; press Ctrl-A X to quit QEMU");
    println!(
        "xtask: {} {}",
        qemu_bin.display(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut cmd = Command::new(&qemu_bin);
    cmd.args(&args);
    exec(cmd).with_context(|| format!("running {}", qemu_bin.display()))
}

#[cfg(unix)]
fn exec(mut cmd: Command) -> Result<()> {
    use std::os::unix::process::CommandExt;
    // Only returns on failure.
    Err(cmd.exec().into())
}

#[cfg(not(unix))]
fn exec(mut cmd: Command) -> Result<()> {
    let status = cmd.status()?;
    if !status.success() {
        anyhow::bail!("QEMU exited with {status}");
    }
    Ok(())
}
