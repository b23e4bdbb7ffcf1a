//! The PandaGen system image: which boot loader, the kernel and its limine.conf, on a disk.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::image::{self, DiskLayout, DiskSpec, EspFile};
use crate::limine_conf::{self, LimineConf, CONF_ESP_PATH, KERNEL_ESP_PATH};

/// Where UEFI firmware looks for a removable-media boot loader on x86_64.
pub const BOOT_EFI_ESP_PATH: &str = "/EFI/BOOT/BOOTX64.EFI";
/// The file a Limine binary release ships for x86_64 UEFI.
pub const LIMINE_EFI_NAME: &str = "BOOTX64.EFI";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootLoader {
    /// PandaGen's own UEFI stub (the built `bootstub.efi`).
    Stub(PathBuf),
    /// A Limine 10.x binary release directory holding `BOOTX64.EFI`.
    Limine(PathBuf),
}

impl BootLoader {
    pub fn describe(&self) -> String {
        match self {
            BootLoader::Stub(_) => "PandaGen bootstub (Limine protocol)".into(),
            BootLoader::Limine(dir) => format!("Limine from {}", dir.display()),
        }
    }

    pub fn efi_path(&self) -> PathBuf {
        match self {
            BootLoader::Stub(p) => p.clone(),
            BootLoader::Limine(dir) => dir.join(LIMINE_EFI_NAME),
        }
    }
}

/// A deliberate change to the generated limine.conf, for negative tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfTweak {
    None,
    /// The kernel's `#hash` with one hex digit changed.
    WrongKernelHash,
}

#[derive(Debug, thiserror::Error)]
pub enum BootLoaderError {
    #[error(
        "{} not found: --limine/LIMINE_DIR must point at a Limine 10.x binary release \
         (the directory that contains {LIMINE_EFI_NAME})",
        .0.display()
    )]
    LimineEfiMissing(PathBuf),
}

/// Fails unless `dir` holds Limine's `BOOTX64.EFI` (checked before building anything).
pub fn check_limine_dir(dir: &Path) -> Result<(), BootLoaderError> {
    let efi = dir.join(LIMINE_EFI_NAME);
    if efi.is_file() {
        Ok(())
    } else {
        Err(BootLoaderError::LimineEfiMissing(efi))
    }
}

/// Inputs of one system image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemImage {
    pub kernel: PathBuf,
    pub boot_loader: BootLoader,
    pub cmdline: String,
    pub tweak: ConfTweak,
}

/// The limine.conf text for `kernel` (its bytes) under `tweak`.
pub fn limine_conf_text(kernel: &[u8], cmdline: &str, tweak: ConfTweak) -> Result<String> {
    let mut conf = LimineConf::for_kernel(kernel, cmdline);
    if tweak == ConfTweak::WrongKernelHash {
        if let Some(hash) = conf.kernel_hash.as_mut() {
            limine_conf::corrupt_hash(hash);
        }
    }
    Ok(limine_conf::render(&conf)?)
}

/// The disk spec: boot loader, limine.conf and kernel on the ESP; block 0 left zero.
pub fn disk_spec(img: &SystemImage) -> Result<DiskSpec> {
    let efi = img.boot_loader.efi_path();
    if let BootLoader::Limine(dir) = &img.boot_loader {
        check_limine_dir(dir)?;
    }
    let efi_data = fs::read(&efi).with_context(|| format!("reading {}", efi.display()))?;
    let kernel = fs::read(&img.kernel)
        .with_context(|| format!("reading the kernel {}", img.kernel.display()))?;
    let conf = limine_conf_text(&kernel, &img.cmdline, img.tweak)?;
    Ok(DiskSpec::with_files(vec![
        EspFile {
            path: BOOT_EFI_ESP_PATH.into(),
            data: efi_data,
        },
        EspFile {
            path: CONF_ESP_PATH.into(),
            data: conf.into_bytes(),
        },
        EspFile {
            path: KERNEL_ESP_PATH.into(),
            data: kernel,
        },
    ]))
}

/// Writes the image to `output` (atomically).
pub fn write_system_image(img: &SystemImage, output: &Path) -> Result<DiskLayout> {
    image::write_disk_image(&disk_spec(img)?, output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Slice;
    use crate::testutil::TempDir;
    use fatfs::{FileSystem, FsOptions};
    use std::io::Read;

    fn read_back(img: &Path, layout: &DiskLayout, path: &str) -> Vec<u8> {
        let part = Slice::new(
            fs::File::open(img).unwrap(),
            layout.esp_start,
            layout.esp_size,
        )
        .unwrap();
        let fs = FileSystem::new(part, FsOptions::new()).unwrap();
        let mut out = Vec::new();
        fs.root_dir()
            .open_file(path.trim_start_matches('/'))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn stub_image_carries_stub_conf_and_kernel() {
        let dir = TempDir::new("sysimg");
        let kernel = dir.path().join("kernel_bootstrap");
        let stub = dir.path().join("bootstub.efi");
        fs::write(&kernel, b"\x7fELF fake kernel").unwrap();
        fs::write(&stub, b"MZ fake stub").unwrap();
        let img = SystemImage {
            kernel: kernel.clone(),
            boot_loader: BootLoader::Stub(stub),
            cmdline: "test=boot".into(),
            tweak: ConfTweak::None,
        };
        let out = dir.path().join("system.img");
        let layout = write_system_image(&img, &out).unwrap();
        assert_eq!(read_back(&out, &layout, BOOT_EFI_ESP_PATH), b"MZ fake stub");
        assert_eq!(
            read_back(&out, &layout, KERNEL_ESP_PATH),
            b"\x7fELF fake kernel"
        );
        let conf = String::from_utf8(read_back(&out, &layout, CONF_ESP_PATH)).unwrap();
        let hash = limine_conf::hex(&limine_conf::blake2b512(b"\x7fELF fake kernel"));
        assert!(conf.contains(&format!("path: boot():/boot/kernel_bootstrap#{hash}\n")));
        assert!(conf.contains("cmdline: test=boot\n"));

        let bad = limine_conf_text(b"\x7fELF fake kernel", "", ConfTweak::WrongKernelHash).unwrap();
        assert!(!bad.contains(&hash));
    }

    #[test]
    fn limine_dir_without_efi_is_a_clear_error() {
        let dir = TempDir::new("sysimg-limine");
        let kernel = dir.path().join("kernel_bootstrap");
        fs::write(&kernel, b"k").unwrap();
        let img = SystemImage {
            kernel,
            boot_loader: BootLoader::Limine(dir.path().join("limine")),
            cmdline: String::new(),
            tweak: ConfTweak::None,
        };
        let err = disk_spec(&img).unwrap_err();
        assert!(err.downcast_ref::<BootLoaderError>().is_some());
        assert!(err.to_string().contains("BOOTX64.EFI"));

        fs::create_dir(dir.path().join("limine")).unwrap();
        fs::write(dir.path().join("limine/BOOTX64.EFI"), b"MZ limine").unwrap();
        let spec = disk_spec(&img).unwrap();
        assert_eq!(spec.esp_files[0].data, b"MZ limine");
        assert_eq!(
            img.boot_loader.describe(),
            format!("Limine from {}", dir.path().join("limine").display())
        );
    }
}
