//! `cargo xtask lint`: rustfmt and clippy over the host crates, the kernel, the stub and the components.

use anyhow::{bail, Result};

use crate::build::{self, Workspace};

/// Each step: a label and cargo arguments (run from the workspace root).
pub const STEPS: &[(&str, &[&str])] = &[
    ("rustfmt", &["fmt", "--all", "--check"]),
    (
        "clippy (host)",
        &["clippy", "--all-targets", "--", "-D", "warnings"],
    ),
    (
        "clippy (kernel)",
        &[
            "clippy",
            "-p",
            build::KERNEL_PACKAGE,
            "--target",
            build::KERNEL_TARGET,
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "clippy (boot stub)",
        &[
            "clippy",
            "-p",
            build::STUB_PACKAGE,
            "--target",
            build::STUB_TARGET,
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "clippy (components and runtime)",
        &[
            "clippy",
            "--target",
            build::COMPONENT_TARGET,
            "-p",
            "services_storage",
            "-p",
            "services_logger",
            "-p",
            "services_network",
            "-p",
            "cli_console",
            "-p",
            "pandagen-runtime",
            "-p",
            "testcases",
            "--",
            "-D",
            "warnings",
        ],
    ),
];

/// Runs every step (not stopping at the first failure) and fails if any failed.
pub fn run(ws: &Workspace) -> Result<()> {
    let mut failed = Vec::new();
    for (label, args) in STEPS {
        println!("xtask: lint: {label}: cargo {}", args.join(" "));
        if let Err(e) = build::run_cargo(ws, args) {
            println!("xtask: lint: {label} failed: {e:#}");
            failed.push(*label);
        }
    }
    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join(", "));
    }
    println!("xtask: lint: all clean");
    Ok(())
}
