//! Links `kernel_bootstrap` with the repository's linker script when building for the bare-metal target.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let script = std::path::Path::new(&manifest_dir).join("../linker.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if target_os == "none" {
        println!(
            "cargo:rustc-link-arg-bin=kernel_bootstrap=-T{}",
            script.display()
        );
        println!("cargo:rustc-link-arg-bin=kernel_bootstrap=-no-pie");
        println!("cargo:rustc-link-arg-bin=kernel_bootstrap=-z");
        println!("cargo:rustc-link-arg-bin=kernel_bootstrap=max-page-size=0x1000");
    }
}
