//! `cargo xtask lint`: rustfmt and clippy over the host crates, the kernel, the stub and the components.

use anyhow::{bail, Result};

use crate::build::{self, Workspace};

/// Each step: a label, cargo arguments (run from the workspace root), and whether it checks the
/// components (run with [`build::COMPONENT_BUILD_ENV`] set, like their build: the runtime's
/// `_start`, panic handler and `mem*` exist only then).
pub const STEPS: &[(&str, &[&str], bool)] = &[
    ("rustfmt", &["fmt", "--all", "--check"], false),
    (
        "clippy (host)",
        &["clippy", "--all-targets", "--", "-D", "warnings"],
        false,
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
        false,
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
        false,
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
            "status_http",
            "-p",
            "cli_console",
            "-p",
            "services_fs_view",
            "-p",
            "services_editor_vi",
            "-p",
            "text_renderer_host",
            "-p",
            "pandagen-runtime",
            "-p",
            "testcases",
            // services_network's stack, checked as the components build it.
            "-p",
            "netstack",
            "--",
            "-D",
            "warnings",
        ],
        true,
    ),
];

/// Runs every step (not stopping at the first failure) and fails if any failed.
pub fn run(ws: &Workspace) -> Result<()> {
    let mut failed = Vec::new();
    for (label, args, components) in STEPS {
        let env = if *components {
            format!("{}=1 ", build::COMPONENT_BUILD_ENV)
        } else {
            String::new()
        };
        println!("xtask: lint: {label}: {env}cargo {}", args.join(" "));
        let result = if *components {
            build::run_cargo_components(ws, args)
        } else {
            build::run_cargo(ws, args)
        };
        if let Err(e) = result {
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
