//! Build script shared by every component and the runtime (`build = "../link.rs"` in their
//! Cargo.toml). It acts only in a component build — `PANDAGEN_COMPONENT_BUILD=1`, which
//! `cargo xtask` sets when it builds or lints the components for `x86_64-unknown-linux-gnu`
//! (docs/components.md):
//!
//! * links the crate's binaries with `components/link.ld` (lower half, W^X segments) as
//!   freestanding static non-PIE executables: no C runtime, no libc, no dynamic linker;
//! * sets `--cfg pandagen_component`, under which the runtime defines `_start`, the panic
//!   handler and `memcpy`/`memmove`/`memset`/`memcmp`/`bcmp`.
//!
//! Any other build (the host tests of `runtime` and `testcases`, which compile for the same
//! triple) is left alone: an ordinary host library, linked against the host's libc.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest_dir.join("../link.ld");
    let script = script.canonicalize().unwrap_or(script);
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=../link.rs");
    println!("cargo:rerun-if-env-changed=PANDAGEN_COMPONENT_BUILD");
    println!("cargo::rustc-check-cfg=cfg(pandagen_component)");

    if std::env::var("PANDAGEN_COMPONENT_BUILD").as_deref() != Ok("1") {
        return;
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" {
        panic!(
            "PANDAGEN_COMPONENT_BUILD=1 builds components for x86_64-unknown-linux-gnu only, not {target:?}: use `cargo xtask build`"
        );
    }
    println!("cargo:rustc-cfg=pandagen_component");
    // Cargo rejects link arguments for binaries from a package without any (the runtime).
    if !manifest_dir.join("src/main.rs").is_file() && !manifest_dir.join("src/bin").is_dir() {
        return;
    }
    for arg in [
        format!("-T{}", script.display()),
        "-nostartfiles".into(),
        "-nostdlib".into(),
        "-static".into(),
        "-no-pie".into(),
        "-Wl,-z,max-page-size=0x1000".into(),
        "-Wl,--build-id=none".into(),
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
