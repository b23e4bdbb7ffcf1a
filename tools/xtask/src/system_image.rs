//! The PandaGen system image: which boot loader, the kernel and its limine.conf, on a disk.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::description;
use crate::image::{self, EspFile};
use crate::limine_conf::{self, LimineConf, CONF_ESP_PATH, KERNEL_ESP_PATH};
use crate::pack::{self, PackInput, Packed};

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
    /// The system description (`system/pandagen.json`).
    pub description: PathBuf,
    /// Where the built services and components are (each entry's binary is `DIR/<name>`).
    pub components_dir: PathBuf,
    /// User data region in bytes.
    pub data_size: u64,
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

/// The ESP's files: the boot loader, limine.conf (kernel BLAKE2b pinned) and the kernel.
pub fn esp_files(img: &SystemImage, kernel: &[u8]) -> Result<Vec<EspFile>> {
    let efi = img.boot_loader.efi_path();
    if let BootLoader::Limine(dir) = &img.boot_loader {
        check_limine_dir(dir)?;
    }
    let efi_data = fs::read(&efi).with_context(|| format!("reading {}", efi.display()))?;
    let conf = limine_conf_text(kernel, &img.cmdline, img.tweak)?;
    Ok(vec![
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
            data: kernel.to_vec(),
        },
    ])
}

/// Reads the description (refusing an invalid one, every problem on its own line), the kernel and
/// every binary, and measures them into a manifest ready for [`pack::pack`].
pub fn pack_input(img: &SystemImage) -> Result<PackInput> {
    let (_, mut manifest) = description::load_checked(&img.description)?;
    let kernel = fs::read(&img.kernel)
        .with_context(|| format!("reading the kernel {}", img.kernel.display()))?;
    let mut binaries = Vec::new();
    for entry in manifest.entries() {
        let path = img
            .components_dir
            .join(description::binary_file(entry.binary.as_str()));
        binaries.push(fs::read(&path).with_context(|| {
            format!(
                "reading {} (the binary of `{}`)",
                path.display(),
                entry.name
            )
        })?);
    }
    description::measure(&mut manifest, &kernel, &binaries)?;
    Ok(PackInput {
        manifest,
        esp_files: esp_files(img, &kernel)?,
        kernel,
        binaries,
        esp_size: image::DEFAULT_ESP_SIZE,
        data_size: img.data_size,
    })
}

/// Writes the image to `output` (atomically, verified before it is renamed into place).
pub fn write_system_image(img: &SystemImage, output: &Path, progress: bool) -> Result<Packed> {
    pack::pack_checked(pack_input(img)?, output, progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Slice;
    use crate::testutil::TempDir;
    use fatfs::{FileSystem, FsOptions};
    use std::io::Read;

    fn read_back(img: &Path, start: u64, size: u64, path: &str) -> Vec<u8> {
        let part = Slice::new(fs::File::open(img).unwrap(), start, size).unwrap();
        let fs = FileSystem::new(part, FsOptions::new()).unwrap();
        let mut out = Vec::new();
        fs.root_dir()
            .open_file(path.trim_start_matches('/'))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// A fake build: kernel, stub and the four components in `dir`.
    pub fn fake_build(dir: &Path) -> SystemImage {
        let kernel = dir.join("kernel_bootstrap");
        let stub = dir.join("bootstub.efi");
        fs::write(&kernel, b"\x7fELF fake kernel").unwrap();
        fs::write(&stub, b"MZ fake stub").unwrap();
        for (i, name) in [
            "services_storage",
            "services_logger",
            "services_network",
            "cli_console",
        ]
        .iter()
        .enumerate()
        {
            fs::write(dir.join(name), vec![i as u8 + 1; 1000 * (i + 1)]).unwrap();
        }
        SystemImage {
            kernel,
            boot_loader: BootLoader::Stub(stub),
            cmdline: "test=boot".into(),
            tweak: ConfTweak::None,
            description: crate::build::Workspace::locate()
                .root
                .join(description::DEFAULT_PATH),
            components_dir: dir.to_path_buf(),
            data_size: image::MIB,
        }
    }

    #[test]
    fn stub_image_carries_stub_conf_kernel_and_components() {
        let dir = TempDir::new("sysimg");
        let img = fake_build(dir.path());
        let out = dir.path().join("system.img");
        let packed = write_system_image(&img, &out, false).unwrap();
        let (start, size) = (packed.layout.esp_start, packed.layout.esp_size);
        assert_eq!(
            read_back(&out, start, size, BOOT_EFI_ESP_PATH),
            b"MZ fake stub"
        );
        assert_eq!(
            read_back(&out, start, size, KERNEL_ESP_PATH),
            b"\x7fELF fake kernel"
        );
        let conf = String::from_utf8(read_back(&out, start, size, CONF_ESP_PATH)).unwrap();
        let hash = limine_conf::hex(&limine_conf::blake2b512(b"\x7fELF fake kernel"));
        assert!(conf.contains(&format!("path: boot():/boot/kernel_bootstrap#{hash}\n")));
        assert!(conf.contains("cmdline: test=boot\n"));
        let cli = packed.manifest.find("cli_console").unwrap();
        assert_eq!(cli.size_bytes, 4000);
        assert!(pack::verify_path(&out).unwrap().is_ok());

        let bad = limine_conf_text(b"\x7fELF fake kernel", "", ConfTweak::WrongKernelHash).unwrap();
        assert!(!bad.contains(&hash));
    }

    #[test]
    fn a_missing_component_is_named() {
        let dir = TempDir::new("sysimg-missing");
        let img = fake_build(dir.path());
        fs::remove_file(dir.path().join("services_network")).unwrap();
        let err = format!("{:#}", pack_input(&img).unwrap_err());
        assert!(err.contains("services_network"), "{err}");
    }

    #[test]
    fn limine_dir_without_efi_is_a_clear_error() {
        let dir = TempDir::new("sysimg-limine");
        let mut img = fake_build(dir.path());
        img.boot_loader = BootLoader::Limine(dir.path().join("limine"));
        let err = esp_files(&img, b"k").unwrap_err();
        assert!(err.downcast_ref::<BootLoaderError>().is_some());
        assert!(err.to_string().contains("BOOTX64.EFI"));

        fs::create_dir(dir.path().join("limine")).unwrap();
        fs::write(dir.path().join("limine/BOOTX64.EFI"), b"MZ limine").unwrap();
        let files = esp_files(&img, b"k").unwrap();
        assert_eq!(files[0].data, b"MZ limine");
        assert_eq!(
            img.boot_loader.describe(),
            format!("Limine from {}", dir.path().join("limine").display())
        );
    }
}
