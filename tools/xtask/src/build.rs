//! Cargo invocations: building the kernel, the boot stub and the components for their targets.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub const KERNEL_PACKAGE: &str = "pandagen-kernel";
pub const KERNEL_BIN: &str = "kernel_bootstrap";
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";
pub const STUB_PACKAGE: &str = "bootstub";
pub const STUB_TARGET: &str = "x86_64-unknown-uefi";
/// The components' target: a hard-float one (SSE2 is part of its baseline), so components can
/// use floats and SIMD. They are freestanding static executables all the same: `#![no_std]`,
/// `#![no_main]`, no libc, linked by `components/link.rs` with `components/link.ld` in a build
/// that sets [`COMPONENT_BUILD_ENV`] (docs/processes.md, "CPU state").
pub const COMPONENT_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The variable (value `1`) that makes `components/link.rs` link a freestanding component and
/// the runtime define `_start`, the panic handler and `memcpy`...: set for every cargo run that
/// builds or checks the components for [`COMPONENT_TARGET`]. Without it the same triple is an
/// ordinary host build (the host tests of `runtime` and `testcases`).
pub const COMPONENT_BUILD_ENV: &str = "PANDAGEN_COMPONENT_BUILD";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    pub fn from_release(release: bool) -> Self {
        if release {
            Profile::Release
        } else {
            Profile::Debug
        }
    }

    pub fn dir_name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// The workspace: its root and where cargo puts build output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
}

/// What `build` produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    pub kernel: PathBuf,
    pub stub: PathBuf,
    /// The services and components (always release), one binary per description entry.
    pub components_dir: PathBuf,
}

impl Workspace {
    /// The workspace this xtask was compiled in; `CARGO_TARGET_DIR` (if set) moves the
    /// build output as it does for cargo itself.
    pub fn locate() -> Self {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir
            .ancestors()
            .nth(2)
            .expect("tools/xtask lies two levels below the workspace root")
            .to_path_buf();
        // Like cargo, a relative CARGO_TARGET_DIR is relative to the current directory.
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .filter(|v| !v.is_empty())
            .map(|t| match std::env::current_dir() {
                Ok(cwd) => cwd.join(t).into_os_string(),
                Err(_) => t,
            });
        Self::new(root, target_dir)
    }

    pub fn new(root: PathBuf, target_dir: Option<OsString>) -> Self {
        let target_dir = match target_dir {
            Some(t) => root.join(t), // `join` keeps an absolute path as it is
            None => root.join("target"),
        };
        Workspace { root, target_dir }
    }

    pub fn kernel_path(&self, profile: Profile) -> PathBuf {
        self.target_dir
            .join(KERNEL_TARGET)
            .join(profile.dir_name())
            .join(KERNEL_BIN)
    }

    pub fn stub_path(&self) -> PathBuf {
        self.target_dir
            .join(STUB_TARGET)
            .join("release")
            .join(format!("{STUB_PACKAGE}.efi"))
    }

    /// Where the components' binaries land (`x86_64-unknown-linux-gnu/release`).
    pub fn components_dir(&self) -> PathBuf {
        self.target_dir.join(COMPONENT_TARGET).join("release")
    }

    pub fn artifacts(&self, profile: Profile) -> Artifacts {
        Artifacts {
            kernel: self.kernel_path(profile),
            stub: self.stub_path(),
            components_dir: self.components_dir(),
        }
    }

    /// `$CARGO` (or `cargo`) with the workspace root as working directory and the target
    /// directory pinned, so the artifacts land where [`Workspace::artifacts`] looks.
    pub fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target_dir);
        cmd
    }
}

pub fn kernel_build_args(profile: Profile) -> Vec<&'static str> {
    let mut args = vec![
        "build",
        "-p",
        KERNEL_PACKAGE,
        "--bin",
        KERNEL_BIN,
        "--target",
        KERNEL_TARGET,
    ];
    if profile == Profile::Release {
        args.push("--release");
    }
    args
}

pub fn stub_build_args() -> Vec<&'static str> {
    vec![
        "build",
        "-p",
        STUB_PACKAGE,
        "--target",
        STUB_TARGET,
        "--release",
    ]
}

/// `cargo build --target x86_64-unknown-linux-gnu --release -p NAME...`: one package per
/// description entry (package name = binary name = entry name); run with [`COMPONENT_BUILD_ENV`]
/// set ([`run_cargo_components`]).
pub fn components_build_args<'a>(packages: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["build", "--target", COMPONENT_TARGET, "--release"];
    for p in packages {
        args.extend(["-p", p]);
    }
    args
}

/// Runs `cargo ARGS` in the workspace root; fails on a non-zero exit.
pub fn run_cargo(ws: &Workspace, args: &[&str]) -> Result<()> {
    run_cargo_with(ws, args, false)
}

/// [`run_cargo`] for a build or check of the components: with [`COMPONENT_BUILD_ENV`]`=1`.
pub fn run_cargo_components(ws: &Workspace, args: &[&str]) -> Result<()> {
    run_cargo_with(ws, args, true)
}

fn run_cargo_with(ws: &Workspace, args: &[&str], components: bool) -> Result<()> {
    let mut cmd = ws.cargo();
    if components {
        cmd.env(COMPONENT_BUILD_ENV, "1");
    } else {
        cmd.env_remove(COMPONENT_BUILD_ENV);
    }
    let status = cmd
        .args(args)
        .status()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn expect_file(path: &Path, what: &str) -> Result<()> {
    if !path.is_file() {
        bail!("{what} was built but {} does not exist", path.display());
    }
    Ok(())
}

/// Checks the cross targets ([`crate::toolchain`]), builds the kernel (in `profile`), the stub
/// and the components named by `packages` (always release), one line per step, then checks that
/// every one of `binaries` (file names under the components' target directory) exists.
pub fn build_all(
    ws: &Workspace,
    profile: Profile,
    packages: &[&str],
    binaries: &[&str],
) -> Result<Artifacts> {
    crate::toolchain::ensure_targets(ws)?;
    let artifacts = ws.artifacts(profile);
    println!(
        "xtask: building kernel ({KERNEL_BIN}, {KERNEL_TARGET}, {})",
        profile.dir_name()
    );
    run_cargo(ws, &kernel_build_args(profile))?;
    expect_file(&artifacts.kernel, "the kernel")?;
    println!("xtask: building boot stub ({STUB_PACKAGE}.efi, {STUB_TARGET}, release)");
    run_cargo(ws, &stub_build_args())?;
    expect_file(&artifacts.stub, "the boot stub")?;
    if !packages.is_empty() {
        println!(
            "xtask: building components ({}, {COMPONENT_TARGET}, release)",
            packages.join(", ")
        );
        run_cargo_components(ws, &components_build_args(packages))?;
        for b in binaries {
            expect_file(&artifacts.components_dir.join(b), b)?;
        }
    }
    println!("xtask: kernel     {}", artifacts.kernel.display());
    println!("xtask: boot stub  {}", artifacts.stub.display());
    println!("xtask: components {}", artifacts.components_dir.display());
    Ok(artifacts)
}

/// The artifacts of an earlier build (for `--no-build`); fails if one is missing.
pub fn existing_artifacts(
    ws: &Workspace,
    profile: Profile,
    binaries: &[&str],
) -> Result<Artifacts> {
    let artifacts = ws.artifacts(profile);
    let components: Vec<(PathBuf, &str)> = binaries
        .iter()
        .map(|p| (artifacts.components_dir.join(p), *p))
        .collect();
    let fixed = [
        (artifacts.kernel.clone(), "kernel"),
        (artifacts.stub.clone(), "boot stub"),
    ];
    for (path, what) in fixed.iter().chain(components.iter()) {
        if !path.is_file() {
            bail!(
                "--no-build: the {what} {} does not exist; run `cargo xtask build` first",
                path.display()
            );
        }
    }
    Ok(artifacts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let ws = Workspace::new("/ws".into(), None);
        assert_eq!(
            ws.kernel_path(Profile::Debug),
            Path::new("/ws/target/x86_64-unknown-none/debug/kernel_bootstrap")
        );
        assert_eq!(
            ws.kernel_path(Profile::Release),
            Path::new("/ws/target/x86_64-unknown-none/release/kernel_bootstrap")
        );
        assert_eq!(
            ws.stub_path(),
            Path::new("/ws/target/x86_64-unknown-uefi/release/bootstub.efi")
        );
        let ws = Workspace::new("/ws".into(), Some("/elsewhere".into()));
        assert_eq!(ws.target_dir, Path::new("/elsewhere"));
        let ws = Workspace::new("/ws".into(), Some("out".into()));
        assert_eq!(ws.target_dir, Path::new("/ws/out"));
    }

    #[test]
    fn located_workspace_has_the_root_manifest() {
        let ws = Workspace::locate();
        assert!(ws.root.join("Cargo.toml").is_file());
        assert!(ws.root.join("tools/xtask/Cargo.toml").is_file());
    }

    #[test]
    fn build_args() {
        assert_eq!(
            kernel_build_args(Profile::Debug).join(" "),
            "build -p pandagen-kernel --bin kernel_bootstrap --target x86_64-unknown-none"
        );
        assert!(kernel_build_args(Profile::Release).ends_with(&["--release"]));
        assert_eq!(
            stub_build_args().join(" "),
            "build -p bootstub --target x86_64-unknown-uefi --release"
        );
        assert_eq!(
            components_build_args(&["services_storage", "cli_console"]).join(" "),
            "build --target x86_64-unknown-linux-gnu --release -p services_storage -p cli_console"
        );
        let ws = Workspace::new("/ws".into(), None);
        assert_eq!(
            ws.artifacts(Profile::Debug).components_dir,
            Path::new("/ws/target/x86_64-unknown-linux-gnu/release")
        );
    }
}
