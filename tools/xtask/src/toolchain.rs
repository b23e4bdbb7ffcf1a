//! The cross targets: checks, once per run, that the active Rust toolchain has the standard
//! library for every target xtask builds for, and adds the missing ones with rustup.
//!
//! The components' target, `x86_64-unknown-linux-gnu`, is also the host's: its standard library
//! comes with the toolchain, and the host's `cc` links the components. On any other host
//! xtask stops with [`host_message`] (it would need an x86_64 Linux cross linker).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

use crate::build::{self, Workspace};

/// Every target xtask compiles for besides the host (duplicates are checked once).
pub const REQUIRED_TARGETS: &[&str] = &[
    build::KERNEL_TARGET,
    build::STUB_TARGET,
    build::COMPONENT_TARGET,
];

/// What to do about the required targets.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan<'a> {
    /// Every target is installed.
    Ready,
    /// `rustup target add` these.
    Add(Vec<&'a str>),
    /// These are missing and there is no rustup to add them.
    Missing(Vec<&'a str>),
}

/// The decision: which of `required` are not in `installed`, and whether rustup can add them.
pub fn plan<'a>(required: &[&'a str], installed: &[String], have_rustup: bool) -> Plan<'a> {
    let mut missing: Vec<&str> = Vec::new();
    for t in required {
        if !installed.iter().any(|i| i == t) && !missing.contains(t) {
            missing.push(t);
        }
    }
    match (missing.is_empty(), have_rustup) {
        (true, _) => Plan::Ready,
        (false, true) => Plan::Add(missing),
        (false, false) => Plan::Missing(missing),
    }
}

/// The targets whose `core` is in `sysroot`: the `lib/rustlib/<target>/lib` directories holding
/// a `libcore-*.rlib`.
pub fn installed_targets(sysroot: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sysroot.join("lib/rustlib")) else {
        return Vec::new();
    };
    let mut targets: Vec<String> = entries
        .flatten()
        .filter(|e| has_libcore(&e.path().join("lib")))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    targets.sort();
    targets
}

fn has_libcore(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("libcore-") && name.ends_with(".rlib")
    })
}

/// The one line when targets are missing and rustup is not there to add them.
pub fn missing_message(missing: &[&str], sysroot: &Path) -> String {
    format!(
        "the Rust toolchain at {} has no standard library for {}: install rustup (./setup.sh, or https://rustup.rs) and run `cargo xtask` again, or install that toolchain's rust-std for {}",
        sysroot.display(),
        missing.join(", "),
        missing.join(" and ")
    )
}

/// Checks the targets the first time it is called in this run (later calls do nothing).
pub fn ensure_targets(ws: &Workspace) -> Result<()> {
    static CHECKED: AtomicBool = AtomicBool::new(false);
    if !CHECKED.load(Ordering::Relaxed) {
        check_targets(ws)?;
        CHECKED.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Whether the components can be built on `host` (the `host:` of `rustc -vV`): only on the
/// components' own target, whose `cc` links them.
pub fn host_supported(host: &str) -> bool {
    host == build::COMPONENT_TARGET
}

/// The one line when the host cannot build the components.
pub fn host_message(host: &str) -> String {
    format!(
        "the components are built for {} and linked by that host's `cc` (components/link.rs); this toolchain's host is {host}: build on an x86_64 Linux (glibc) machine, e.g. in a container",
        build::COMPONENT_TARGET
    )
}

fn check_targets(ws: &Workspace) -> Result<()> {
    let host = host_triple(ws)?;
    if !host_supported(&host) {
        bail!("{}", host_message(&host));
    }
    let sysroot = sysroot(ws)?;
    let installed = installed_targets(&sysroot);
    match plan(REQUIRED_TARGETS, &installed, have_rustup()) {
        Plan::Ready => Ok(()),
        Plan::Missing(missing) => bail!("{}", missing_message(&missing, &sysroot)),
        Plan::Add(missing) => add_targets(ws, &sysroot, &missing),
    }
}

/// `rustup target add MISSING...` in the workspace root, so rustup picks the toolchain cargo
/// builds with (`rust-toolchain.toml`, or `RUSTUP_TOOLCHAIN` for `cargo +X`); then checks again.
fn add_targets(ws: &Workspace, sysroot: &Path, missing: &[&str]) -> Result<()> {
    let toolchain = sysroot.file_name().unwrap_or(sysroot.as_os_str());
    println!(
        "xtask: toolchain {} lacks {}: rustup target add {}",
        toolchain.to_string_lossy(),
        missing.join(", "),
        missing.join(" ")
    );
    let status = Command::new("rustup")
        .current_dir(&ws.root)
        .args(["target", "add"])
        .args(missing)
        .status()
        .context("starting rustup")?;
    if !status.success() {
        bail!(
            "rustup target add {} failed ({status}); run it yourself in {}",
            missing.join(" "),
            ws.root.display()
        );
    }
    let installed = installed_targets(sysroot);
    if let Plan::Add(still) = plan(missing, &installed, true) {
        bail!(
            "rustup added {} but the toolchain at {} still lacks them; is that toolchain managed by rustup?",
            still.join(", "),
            sysroot.display()
        );
    }
    Ok(())
}

/// The sysroot of the rustc the workspace builds with (`$RUSTC`, else `rustc`, run in the
/// workspace root so that `rust-toolchain.toml` applies).
pub fn sysroot(ws: &Workspace) -> Result<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let out = Command::new(&rustc)
        .current_dir(&ws.root)
        .args(["--print", "sysroot"])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| {
            format!(
                "starting {}: install Rust (./setup.sh, or https://rustup.rs)",
                rustc.to_string_lossy()
            )
        })?;
    if !out.status.success() {
        bail!(
            "`rustc --print sysroot` failed ({}); run it in {} to see why",
            out.status,
            ws.root.display()
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The host triple of the rustc the workspace builds with (the `host:` line of `rustc -vV`).
pub fn host_triple(ws: &Workspace) -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let out = Command::new(&rustc)
        .current_dir(&ws.root)
        .arg("-vV")
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {} -vV", rustc.to_string_lossy()))?;
    if !out.status.success() {
        bail!("`rustc -vV` failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .context("`rustc -vV` printed no `host:` line")
}

fn have_rustup() -> bool {
    Command::new("rustup")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    const NONE: &str = "x86_64-unknown-none";
    const UEFI: &str = "x86_64-unknown-uefi";
    const LINUX: &str = "x86_64-unknown-linux-gnu";

    fn installed(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn required_targets_are_the_build_targets() {
        assert_eq!(REQUIRED_TARGETS, &[NONE, UEFI, LINUX]);
    }

    #[test]
    fn all_present() {
        let have = installed(&["x86_64-unknown-linux-gnu", NONE, UEFI]);
        assert_eq!(plan(REQUIRED_TARGETS, &have, true), Plan::Ready);
        assert_eq!(plan(REQUIRED_TARGETS, &have, false), Plan::Ready);
    }

    #[test]
    fn missing_one() {
        let have = installed(&["x86_64-unknown-linux-gnu", NONE]);
        assert_eq!(plan(REQUIRED_TARGETS, &have, true), Plan::Add(vec![UEFI]));
    }

    #[test]
    fn missing_both_each_named_once() {
        let have = installed(&["x86_64-unknown-linux-gnu"]);
        assert_eq!(
            plan(REQUIRED_TARGETS, &have, true),
            Plan::Add(vec![NONE, UEFI])
        );
    }

    #[test]
    fn no_rustup() {
        let have = installed(&[NONE, LINUX]);
        let Plan::Missing(missing) = plan(REQUIRED_TARGETS, &have, false) else {
            panic!("expected Missing");
        };
        assert_eq!(missing, [UEFI]);
        let msg = missing_message(&missing, Path::new("/usr"));
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(msg.contains("/usr") && msg.contains(UEFI) && msg.contains("rustup"));
    }

    #[test]
    fn installed_targets_need_libcore() {
        let dir = TempDir::new("toolchain");
        let rustlib = dir.path().join("lib/rustlib");
        for (target, file) in [
            (NONE, "libcore-0123abcd.rlib"),
            (UEFI, "liballoc-0123abcd.rlib"),
            ("x86_64-unknown-linux-gnu", "libcore-4567.rlib"),
        ] {
            std::fs::create_dir_all(rustlib.join(target).join("lib")).unwrap();
            std::fs::write(rustlib.join(target).join("lib").join(file), b"").unwrap();
        }
        std::fs::create_dir_all(rustlib.join("etc")).unwrap();
        std::fs::write(rustlib.join("rust-installer-version"), b"3").unwrap();
        assert_eq!(
            installed_targets(dir.path()),
            ["x86_64-unknown-linux-gnu", NONE]
        );
        assert!(installed_targets(&dir.path().join("nowhere")).is_empty());
    }

    #[test]
    fn components_need_an_x86_64_linux_host() {
        assert!(host_supported(LINUX));
        for other in [
            "aarch64-unknown-linux-gnu",
            "x86_64-apple-darwin",
            "x86_64-unknown-linux-musl",
        ] {
            assert!(!host_supported(other));
            let msg = host_message(other);
            assert!(
                !msg.contains('\n') && msg.contains(other) && msg.contains(LINUX),
                "{msg}"
            );
        }
    }

    #[test]
    fn workspace_host_has_the_component_target() {
        // The machines this project builds on: the component target is the host's, and its
        // standard library is installed with the toolchain.
        let ws = Workspace::locate();
        let host = host_triple(&ws).unwrap();
        assert_eq!(host, LINUX);
        assert!(installed_targets(&sysroot(&ws).unwrap())
            .iter()
            .any(|t| t == LINUX));
    }

    #[test]
    fn workspace_sysroot_has_the_host_core() {
        let ws = Workspace::locate();
        let sysroot = sysroot(&ws).unwrap();
        assert!(
            !installed_targets(&sysroot).is_empty(),
            "{}",
            sysroot.display()
        );
    }
}
