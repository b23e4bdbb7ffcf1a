//! `cargo xtask build-netboot`: a TFTP root for booting over the network (PXE): the same boot
//! files as the ISO and the ESP (boot loader with limine.conf's hash enrolled, limine.conf with
//! the kernel and module pinned, the kernel, the system image module), at the same paths, so
//! the firmware's boot file is `/EFI/BOOT/BOOTX64.EFI` and limine.conf's `boot():` paths name
//! files under the TFTP root.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use loader::Manifest;

use crate::atomic::write_atomically;
use crate::image::EspFile;
use crate::limine_conf::MODULE_ESP_PATH;
use crate::pack;

/// What [`write_tftp_root`] wrote.
#[derive(Debug)]
pub struct TftpRoot {
    /// The files' paths under the root (with their leading `/`) and sizes, in order.
    pub files: Vec<(String, u64)>,
    pub verified: loader::Verified,
}

/// Writes `files` under `dir` (created if missing; each file replaced atomically), then reads
/// the module back and verifies it, as `build-iso` does.
pub fn write_tftp_root(files: &[EspFile], dir: &Path) -> Result<TftpRoot> {
    let mut written = Vec::new();
    for f in files {
        let path = dir.join(f.path.trim_start_matches('/'));
        write_atomically(&path, |out| {
            use std::io::Write;
            out.write_all(&f.data)
                .with_context(|| format!("writing {}", path.display()))
        })?;
        written.push((f.path.clone(), f.data.len() as u64));
    }
    let module = dir.join(MODULE_ESP_PATH.trim_start_matches('/'));
    let bytes = fs::read(&module).with_context(|| format!("reading back {}", module.display()))?;
    let mut manifest = Box::<Manifest>::default();
    let verified = pack::verify_module(&bytes, &mut manifest).map_err(|e| {
        anyhow::anyhow!(
            "the TFTP root's module {} does not verify: {e}",
            module.display()
        )
    })?;
    Ok(TftpRoot {
        files: written,
        verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso::tests::small_boot_files;
    use crate::limine_conf::{CONF_ESP_PATH, KERNEL_ESP_PATH};
    use crate::system_image::BOOT_EFI_ESP_PATH;

    #[test]
    fn tftp_root_holds_the_esp_files_at_the_same_paths() {
        let dir = crate::testutil::TempDir::new("netboot-root");
        let files = small_boot_files(dir.path());
        let root = dir.path().join("tftp");
        let summary = write_tftp_root(&files, &root).unwrap();
        for f in &files {
            let on_disk = fs::read(root.join(f.path.trim_start_matches('/'))).unwrap();
            assert_eq!(on_disk, f.data, "{}", f.path);
        }
        let paths: Vec<&str> = summary.files.iter().map(|(p, _)| p.as_str()).collect();
        for wanted in [
            BOOT_EFI_ESP_PATH,
            CONF_ESP_PATH,
            KERNEL_ESP_PATH,
            MODULE_ESP_PATH,
        ] {
            assert!(paths.contains(&wanted), "{wanted} missing from {paths:?}");
        }
        // limine.conf's paths are `boot():` paths: the boot resource, i.e. the TFTP server.
        let conf = fs::read_to_string(root.join(CONF_ESP_PATH.trim_start_matches('/'))).unwrap();
        assert!(
            conf.contains(&format!("boot():{KERNEL_ESP_PATH}#")),
            "{conf}"
        );
        assert!(
            conf.contains(&format!("boot():{MODULE_ESP_PATH}#")),
            "{conf}"
        );
    }

    #[test]
    fn a_damaged_module_is_refused() {
        let dir = crate::testutil::TempDir::new("netboot-bad");
        let mut files = small_boot_files(dir.path());
        let module = files
            .iter_mut()
            .find(|f| f.path == MODULE_ESP_PATH)
            .unwrap();
        module.data[0] ^= 0xFF;
        let err = write_tftp_root(&files, &dir.path().join("tftp")).unwrap_err();
        assert!(format!("{err:#}").contains("does not verify"), "{err:#}");
    }
}
