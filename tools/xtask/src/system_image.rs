//! The PandaGen system image: which boot loader, the kernel and its limine.conf, on a disk.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::description;
use crate::enroll;
use crate::image::{self, EspFile, SectorSize};
use crate::limine_conf::{
    self, LimineConf, Module, CONF_ESP_PATH, KERNEL_B_ESP_PATH, KERNEL_ESP_PATH, MODULE_ESP_PATH,
    MODULE_STRING,
};
use crate::pack::{self, PackInput, PackOptions, Packed, SlotSystem, BLOCK};
use crate::sign::SignConfig;

/// Where UEFI firmware looks for a removable-media boot loader on x86_64.
pub use bootproto::files::BOOT_EFI as BOOT_EFI_ESP_PATH;
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
    /// No system image module on the ESP and no `module_path` in limine.conf (the kernel then
    /// finds its image on a disk only, as before the module existed).
    NoModule,
    /// The module with one byte of [`crate::corrupt::CHANGED_ENTRY`]'s binary changed, pinned by
    /// the hash of the changed bytes (the boot loader loads it; the kernel must refuse it).
    CorruptModule,
    /// limine.conf changed (its kernel command line) after its hash was enrolled into the boot
    /// loader: the boot loader must refuse it.
    EditedConf,
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
#[derive(Debug, Clone)]
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
    /// How the image is signed and what its kernel trusts (`None`: the kernel keeps its empty
    /// placeholder and nothing is signed; host tests with fake kernels only).
    pub signing: Option<SignConfig>,
}

/// The limine.conf text for `kernel` (its bytes) and the system image `module` (its bytes, at
/// [`MODULE_ESP_PATH`]) under `tweak`; every path is pinned by its BLAKE2b-512 hash. With
/// `kernel_b` (a two-slot image), two entries, slot A's (with the module; `tweak` applies to
/// it) and slot B's ([`LimineConf::for_slots`]).
pub fn limine_conf_text(
    kernel: &[u8],
    module: Option<&[u8]>,
    kernel_b: Option<&[u8]>,
    cmdline: &str,
    tweak: ConfTweak,
) -> Result<String> {
    let mut conf = match kernel_b {
        Some(kernel_b) => LimineConf::for_slots(kernel, kernel_b, cmdline),
        None => LimineConf::for_kernel(kernel, cmdline),
    };
    let first = &mut conf.entries[0];
    if tweak == ConfTweak::WrongKernelHash {
        if let Some(hash) = first.kernel_hash.as_mut() {
            limine_conf::corrupt_hash(hash);
        }
    }
    if let Some(module) = module {
        first
            .modules
            .push(Module::pinned(MODULE_ESP_PATH, module, MODULE_STRING));
    }
    Ok(limine_conf::render(&conf)?)
}

/// The module file the boot volume carries under `tweak` (`None` for [`ConfTweak::NoModule`]).
pub fn module_for(
    tweak: ConfTweak,
    manifest: &loader::Manifest,
    kernel: &[u8],
    binaries: &[Vec<u8>],
    signing: Option<&SignConfig>,
) -> Result<Option<Vec<u8>>> {
    if tweak == ConfTweak::NoModule {
        return Ok(None);
    }
    let module = pack::module_image(manifest, kernel, binaries, signing)?;
    anyhow::ensure!(
        pack::is_module_file(&module.superblock, module.bytes.len() as u64),
        "the module image is not laid out as a module: {:?}",
        module.superblock
    );
    let mut bytes = module.bytes;
    if tweak == ConfTweak::CorruptModule {
        let mut placed = Box::<loader::Manifest>::default();
        loader::manifest::parse_into(&module.json, &mut placed)
            .map_err(|e| anyhow::anyhow!("re-reading the module's manifest: {e}"))?;
        let entry = placed
            .find(crate::corrupt::CHANGED_ENTRY)
            .with_context(|| {
                format!("the system has no entry {}", crate::corrupt::CHANGED_ENTRY)
            })?;
        let at = usize::try_from(entry.start_block * BLOCK + entry.size_bytes / 2)?;
        bytes[at] ^= 0xFF;
    }
    Ok(Some(bytes))
}

/// The boot volume's files: the boot loader (with limine.conf's BLAKE2b-512 enrolled), limine.conf
/// (kernels and module BLAKE2b pinned), the kernel, the system image module and, in a two-slot
/// image, slot B's kernel `kernel_b` (slot B has no module).
pub fn esp_files(
    img: &SystemImage,
    kernel: &[u8],
    module: Option<&[u8]>,
    kernel_b: Option<&[u8]>,
) -> Result<Vec<EspFile>> {
    let efi = img.boot_loader.efi_path();
    if let BootLoader::Limine(dir) = &img.boot_loader {
        check_limine_dir(dir)?;
    }
    let mut efi_data = fs::read(&efi).with_context(|| format!("reading {}", efi.display()))?;
    let mut conf = limine_conf_text(kernel, module, kernel_b, &img.cmdline, img.tweak)?;
    enroll::enroll_config(&efi, &mut efi_data, conf.as_bytes())?;
    if img.tweak == ConfTweak::EditedConf {
        conf = enroll::edit_after_enrollment(&conf)?;
    }
    let mut files = vec![
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
    ];
    if let Some(module) = module {
        files.push(EspFile {
            path: MODULE_ESP_PATH.into(),
            data: module.to_vec(),
        });
    }
    if let Some(kernel_b) = kernel_b {
        files.push(EspFile {
            path: KERNEL_B_ESP_PATH.into(),
            data: kernel_b.to_vec(),
        });
    }
    Ok(files)
}

/// Bytes of FAT overhead allowed per file and for the file system itself when checking that
/// the boot files fit a FAT volume (clusters of up to 64 KiB, FATs, directories).
const FAT_SLACK_PER_FILE: u64 = 64 * 1024;
const FAT_SLACK: u64 = 2 * image::MIB;

/// The smallest FAT volume size (a multiple of 1 MiB) comfortably holding `files`.
pub fn fat_size_for(files: &[EspFile]) -> u64 {
    fat_size_for_lens(files.iter().map(|f| f.data.len() as u64))
}

/// [`fat_size_for`] files of these lengths.
fn fat_size_for_lens(lens: impl IntoIterator<Item = u64>) -> u64 {
    let bytes: u64 = lens.into_iter().map(|len| len + FAT_SLACK_PER_FILE).sum();
    (bytes + bytes / 16 + FAT_SLACK).div_ceil(image::MIB) * image::MIB
}

/// The ESP's size for `files` (at least the default). A two-slot image's ESP also holds one
/// slot's new boot files while the running system installs them beside the old ones
/// (docs/esp.md): the larger of slot A's kernel and module and slot B's kernel, grown by the
/// slots' headroom, and a new limine.conf and boot loader.
pub fn esp_size_for(files: &[EspFile], two_slots: bool) -> u64 {
    let size = |path: &str| {
        let f = files.iter().find(|f| f.path == path);
        f.map_or(0, |f| f.data.len() as u64)
    };
    let mut lens: Vec<u64> = files.iter().map(|f| f.data.len() as u64).collect();
    if two_slots {
        let a = size(KERNEL_ESP_PATH) + size(MODULE_ESP_PATH);
        let set = a.max(size(KERNEL_B_ESP_PATH));
        let grown = set + set * pack::SLOT_HEADROOM_PERCENT / 100;
        lens.extend([grown, size(CONF_ESP_PATH), size(BOOT_EFI_ESP_PATH)]);
    }
    fat_size_for_lens(lens).max(image::DEFAULT_ESP_SIZE)
}

/// Reads the description (refusing an invalid one, every problem on its own line), the kernel and
/// every binary, and measures them into a manifest (signed when `img.signing` is set).
pub fn measure_system(img: &SystemImage) -> Result<SlotSystem> {
    let (desc, mut manifest) = description::load_checked(&img.description)?;
    let mut kernel = fs::read(&img.kernel)
        .with_context(|| format!("reading the kernel {}", img.kernel.display()))?;
    if let Some(signing) = &img.signing {
        signing.enroll_into_kernel(&mut kernel)?;
    }
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
    if let Some(signing) = &img.signing {
        signing.carry_ring_update(&mut manifest)?;
        signing.sign_entries(&mut manifest, &desc)?;
    }
    Ok(SlotSystem {
        manifest,
        kernel,
        binaries,
        signing: img.signing.clone(),
    })
}

/// [`measure_system`], then the module and the boot volume's files: everything
/// [`pack::pack`] needs.
pub fn pack_input(img: &SystemImage) -> Result<PackInput> {
    pack_input_slots(img, None)
}

/// [`pack_input`] for a two-slot image when `slot_b` is given: slot A is `img`'s system, slot B
/// `slot_b`'s (its description, kernel, components and signing; the boot loader, command line,
/// tweak and data size are `img`'s).
pub fn pack_input_slots(img: &SystemImage, slot_b: Option<&SystemImage>) -> Result<PackInput> {
    let a = measure_system(img)?;
    let module = module_for(
        img.tweak,
        &a.manifest,
        &a.kernel,
        &a.binaries,
        img.signing.as_ref(),
    )?;
    let b = slot_b.map(measure_system).transpose()?;
    let kernel_b = b.as_ref().map(|b| b.kernel.as_slice());
    let esp_files = esp_files(img, &a.kernel, module.as_deref(), kernel_b)?;
    // Two debug kernels and a module outgrow the default: the ESP grows to fit (a release
    // two-slot image fits the default), with room for an update's new boot files.
    let esp_size = esp_size_for(&esp_files, b.is_some());
    Ok(PackInput {
        manifest: a.manifest,
        esp_files,
        kernel: a.kernel,
        binaries: a.binaries,
        esp_size,
        data_size: img.data_size,
        signing: a.signing,
        slot_b: b.map(Box::new),
    })
}

/// Reads a file back from the ESP of a written disk image, laid out for either sector size
/// (`layout.sector_size`, checked against the ESP's FAT boot sector).
pub fn read_esp_file(image: &Path, layout: &image::DiskLayout, path: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = fs::File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let fat =
        image::open_esp(file, layout).with_context(|| format!("the ESP of {}", image.display()))?;
    let mut out = Vec::new();
    fat.root_dir()
        .open_file(path.trim_start_matches('/'))
        .with_context(|| format!("{path} on the ESP of {}", image.display()))?
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Writes the image to `output` (atomically, verified before it is renamed into place).
pub fn write_system_image(img: &SystemImage, output: &Path, progress: bool) -> Result<Packed> {
    pack::pack_checked(pack_input(img)?, output, progress)
}

/// [`write_system_image`] (or, with `slot_b`, a two-slot image: slot B packed from `slot_b`), with `fill` writing the
/// user-data region of the verified temp file before it is renamed into place
/// (`build-image --data-dir`).
pub fn write_system_image_filled(
    img: &SystemImage,
    slot_b: Option<&SystemImage>,
    output: &Path,
    progress: bool,
    fill: impl FnOnce(&mut fs::File, &loader::Superblock) -> Result<()>,
) -> Result<Packed> {
    write_system_image_with(img, slot_b, output, PackOptions::progress(progress), fill)
}

/// [`write_system_image_filled`] with every [`PackOptions`]: `options.sector_size` lays the MBR
/// and the ESP out for a disk with 512- or 4096-byte (4Kn) logical sectors.
pub fn write_system_image_with(
    img: &SystemImage,
    slot_b: Option<&SystemImage>,
    output: &Path,
    options: PackOptions,
    fill: impl FnOnce(&mut fs::File, &loader::Superblock) -> Result<()>,
) -> Result<Packed> {
    pack::pack_checked_with(pack_input_slots(img, slot_b)?, output, options, fill)
}

/// [`write_system_image`] (or, with `slot_b`, a two-slot image: slot B packed from `slot_b`) for a disk with
/// `sector_size`-byte logical sectors: `SectorSize::S4096` for a 4Kn disk (e.g. QEMU's
/// `-device nvme,...,logical_block_size=4096,physical_block_size=4096`).
pub fn write_system_image_for(
    img: &SystemImage,
    slot_b: Option<&SystemImage>,
    sector_size: SectorSize,
    output: &Path,
) -> Result<Packed> {
    let options = PackOptions {
        sector_size,
        ..PackOptions::default()
    };
    write_system_image_with(img, slot_b, output, options, |_, _| Ok(()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn a_two_slot_esp_has_room_for_one_slot_s_new_boot_files() {
        let file = |path: &str, mib: usize| EspFile {
            path: path.into(),
            data: vec![0; mib << 20],
        };
        let files = [
            file(BOOT_EFI_ESP_PATH, 0),
            file(CONF_ESP_PATH, 0),
            file(KERNEL_ESP_PATH, 30),
            file(MODULE_ESP_PATH, 32),
            file(KERNEL_B_ESP_PATH, 30),
        ];
        let one = esp_size_for(&files, false);
        let two = esp_size_for(&files, true);
        assert!(one >= fat_size_for(&files));
        // Slot A's kernel and module, with the slots' 50 % headroom.
        assert!(two >= one + (62 << 20) * 3 / 2, "{one} {two}");
    }

    fn read_back(img: &Path, layout: &image::DiskLayout, path: &str) -> Vec<u8> {
        read_esp_file(img, layout, path).unwrap()
    }

    /// A fake boot loader binary: `text`, then an empty config-hash slot.
    fn fake_efi(text: &[u8]) -> Vec<u8> {
        [text, &bootproto::enroll::EMPTY_MARKER[..], b"\0rest"].concat()
    }

    /// `efi` as it goes on the ESP: `conf`'s hash enrolled.
    fn enrolled(mut efi: Vec<u8>, conf: &[u8]) -> Vec<u8> {
        bootproto::enroll::enroll(&mut efi, conf).unwrap();
        efi
    }

    /// A fake build: kernel, stub and the default system's components in `dir`.
    pub fn fake_build(dir: &Path) -> SystemImage {
        let kernel = dir.join("kernel_bootstrap");
        let stub = dir.join("bootstub.efi");
        fs::write(&kernel, b"\x7fELF fake kernel").unwrap();
        fs::write(&stub, fake_efi(b"MZ fake stub")).unwrap();
        for (i, name) in [
            "services_storage",
            "services_logger",
            "services_network",
            "cli_console",
            "services_fs_view",
            "services_editor_vi",
            "text_renderer_host",
            "status_http",
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
            signing: None,
        }
    }

    #[test]
    fn stub_image_carries_stub_conf_kernel_and_components() {
        let dir = TempDir::new("sysimg");
        let img = fake_build(dir.path());
        let out = dir.path().join("system.img");
        let packed = write_system_image(&img, &out, false).unwrap();
        assert_eq!(
            read_back(&out, &packed.layout, KERNEL_ESP_PATH),
            b"\x7fELF fake kernel"
        );
        let conf = String::from_utf8(read_back(&out, &packed.layout, CONF_ESP_PATH)).unwrap();
        // The stub on the ESP carries the hash of exactly the limine.conf beside it.
        assert_eq!(
            read_back(&out, &packed.layout, BOOT_EFI_ESP_PATH),
            enrolled(fake_efi(b"MZ fake stub"), conf.as_bytes())
        );
        let hash = limine_conf::hex(&limine_conf::blake2b512(b"\x7fELF fake kernel"));
        assert!(conf.contains(&format!("path: boot():/boot/kernel_bootstrap#{hash}\n")));
        assert!(conf.contains("cmdline: test=boot\n"));
        let cli = packed.manifest.find("cli_console").unwrap();
        assert_eq!(cli.size_bytes, 4000);
        assert!(pack::verify_path(&out).unwrap().is_ok());

        // The module: on the ESP, pinned in limine.conf by its hash, verifying as a module image
        // with the disk image's identity.
        let module = read_back(&out, &packed.layout, MODULE_ESP_PATH);
        let module_hash = limine_conf::hex(&limine_conf::blake2b512(&module));
        assert!(conf.contains(&format!(
            "    module_path: boot():/boot/pandagen-system.mod#{module_hash}\n    module_string: pandagen-system-image\n"
        )));
        let mut m = Box::<loader::Manifest>::default();
        let v = pack::verify_module(&module, &mut m).unwrap();
        assert_eq!(v.superblock.image_id, packed.superblock.image_id);
        assert_eq!(*m, *packed.manifest);

        let bad = limine_conf_text(
            b"\x7fELF fake kernel",
            None,
            None,
            "",
            ConfTweak::WrongKernelHash,
        )
        .unwrap();
        assert!(!bad.contains(&hash));
        assert!(!bad.contains("module_path"));
    }

    #[test]
    fn a_two_slot_image_boots_either_kernel_and_may_hold_another_system() {
        let dir = TempDir::new("sysimg-slots");
        let a = fake_build(dir.path());
        let b_kernel = dir.path().join("kernel_b");
        fs::write(&b_kernel, b"\x7fELF slot B kernel").unwrap();
        let b = SystemImage {
            kernel: b_kernel,
            description: crate::build::Workspace::locate()
                .root
                .join("system/tests/epoch2.json"),
            ..a.clone()
        };
        let out = dir.path().join("two.img");
        let packed = write_system_image_for(&a, Some(&b), SectorSize::S512, &out).unwrap();
        let slot_b = packed.slot_b.as_ref().unwrap();
        assert_eq!(slot_b.manifest.security_epoch, 2);
        assert_ne!(slot_b.json, packed.json);
        let read = |path| read_back(&out, &packed.layout, path);
        assert_eq!(read(KERNEL_B_ESP_PATH), b"\x7fELF slot B kernel");
        assert_eq!(read(KERNEL_ESP_PATH), b"\x7fELF fake kernel");
        let conf = String::from_utf8(read(CONF_ESP_PATH)).unwrap();
        // The stub carries the hash of the two-entry config; only slot A has the module.
        assert_eq!(
            read(BOOT_EFI_ESP_PATH),
            enrolled(fake_efi(b"MZ fake stub"), conf.as_bytes())
        );
        let hash = limine_conf::hex(&limine_conf::blake2b512(b"\x7fELF slot B kernel"));
        assert!(conf.contains(&format!(
            "/PandaGen slot B\n    protocol: limine\n    path: boot():/boot/kernel_bootstrap_b#{hash}\n    cmdline: slot=B test=boot\n"
        )), "{conf}");
        assert!(conf.contains("/PandaGen slot A\n"), "{conf}");
        assert!(
            conf.contains("    cmdline: slot=A test=boot\n    module_path: "),
            "{conf}"
        );
        assert_eq!(conf.matches("module_path").count(), 1, "{conf}");
        // The module is slot A's system.
        let mut m = Box::<loader::Manifest>::default();
        let v = pack::verify_module(&read(MODULE_ESP_PATH), &mut m).unwrap();
        assert_eq!(v.superblock.image_id, packed.superblock.image_id);
    }

    #[test]
    fn module_tweaks() {
        let dir = TempDir::new("sysimg-tweaks");
        let mut img = fake_build(dir.path());
        img.tweak = ConfTweak::NoModule;
        let input = pack_input(&img).unwrap();
        assert_eq!(input.esp_files.len(), 3);
        let conf = String::from_utf8(input.esp_files[1].data.clone()).unwrap();
        assert!(!conf.contains("module"), "{conf}");

        img.tweak = ConfTweak::CorruptModule;
        let input = pack_input(&img).unwrap();
        let module = &input.esp_files[3];
        assert_eq!(module.path, MODULE_ESP_PATH);
        let conf = String::from_utf8(input.esp_files[1].data.clone()).unwrap();
        // Pinned over the corrupted bytes: the boot loader loads it, the kernel must refuse it.
        let hash = limine_conf::hex(&limine_conf::blake2b512(&module.data));
        assert!(conf.contains(&hash));
        let err = pack::verify_module(&module.data, &mut Box::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains(crate::scenarios::corruption_substring(
                    crate::corrupt::Corruption::ServiceBytesChanged
                )),
            "{err}"
        );
    }

    #[test]
    fn edited_conf_differs_from_the_enrolled_one_by_its_cmdline() {
        let dir = TempDir::new("sysimg-edited");
        let mut img = fake_build(dir.path());
        let module = Some(&b"module"[..]);
        let good = esp_files(&img, b"k", module, None).unwrap();
        img.tweak = ConfTweak::EditedConf;
        let edited = esp_files(&img, b"k", module, None).unwrap();
        // The same binary, enrolled with the config as generated...
        assert_eq!(edited[0].data, good[0].data);
        assert_eq!(
            bootproto::enroll::enrolled(&edited[0].data).unwrap(),
            bootproto::enroll::Slot::Enrolled(limine_conf::blake2b512(&good[1].data))
        );
        // ...beside a config whose command line was changed afterwards.
        assert_ne!(edited[1].data, good[1].data);
        let (good, edited) = (
            String::from_utf8(good[1].data.clone()).unwrap(),
            String::from_utf8(edited[1].data.clone()).unwrap(),
        );
        assert_eq!(
            edited,
            good.replace(
                "cmdline: test=boot\n",
                &format!("cmdline: test=boot{}\n", enroll::EDIT)
            )
        );
    }

    #[test]
    fn a_boot_loader_without_a_slot_is_named() {
        let dir = TempDir::new("sysimg-noslot");
        let img = fake_build(dir.path());
        let BootLoader::Stub(stub) = &img.boot_loader else {
            unreachable!()
        };
        fs::write(stub, b"MZ stub without a slot").unwrap();
        let err = format!("{:#}", esp_files(&img, b"k", None, None).unwrap_err());
        assert!(err.contains(&stub.display().to_string()), "{err}");
        assert!(err.contains("no config-hash slot"), "{err}");
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
        let err = esp_files(&img, b"k", None, None).unwrap_err();
        assert!(err.downcast_ref::<BootLoaderError>().is_some());
        assert!(err.to_string().contains("BOOTX64.EFI"));

        fs::create_dir(dir.path().join("limine")).unwrap();
        fs::write(dir.path().join("limine/BOOTX64.EFI"), b"MZ limine").unwrap();
        let err = format!("{:#}", esp_files(&img, b"k", None, None).unwrap_err());
        assert!(err.contains("BOOTX64.EFI"), "{err}");
        assert!(err.contains("no config-hash slot"), "{err}");

        fs::write(
            dir.path().join("limine/BOOTX64.EFI"),
            fake_efi(b"MZ limine"),
        )
        .unwrap();
        let files = esp_files(&img, b"k", Some(b"m"), None).unwrap();
        assert_eq!(files.len(), 4);
        assert_eq!(
            files[0].data,
            enrolled(fake_efi(b"MZ limine"), &files[1].data)
        );
        assert_eq!(
            img.boot_loader.describe(),
            format!("Limine from {}", dir.path().join("limine").display())
        );
    }

    /// Bytes `0..len` of the file at `path`.
    fn head(path: &Path, len: u64) -> Vec<u8> {
        let mut out = fs::read(path).unwrap();
        out.truncate(usize::try_from(len).unwrap());
        out
    }

    #[test]
    fn a_4kn_image_is_the_512_image_with_its_mbr_and_esp_in_4096_byte_sectors() {
        let dir = TempDir::new("sysimg-4kn");
        let img = fake_build(dir.path());
        let (out512, out) = (dir.path().join("512.img"), dir.path().join("4kn.img"));
        let p512 = write_system_image(&img, &out512, false).unwrap();
        let packed = write_system_image_for(&img, None, SectorSize::S4096, &out).unwrap();
        assert_eq!(p512.layout.sector_size, SectorSize::S512);
        assert_eq!(packed.layout.sector_size, SectorSize::S4096);
        // The same system, placed identically: block 0's fields, the manifest, the image id.
        let sb = packed.superblock;
        assert_eq!(sb, p512.superblock);
        assert_eq!(packed.json, p512.json);
        assert!(pack::verify_path(&out).unwrap().is_ok());
        // Every region the superblock names starts and ends on a 4096-byte boundary (they are
        // counted in 4096-byte blocks); so does the file.
        let raw_len = fs::metadata(&out).unwrap().len();
        assert_eq!(raw_len, sb.total_blocks * BLOCK);
        assert_eq!(raw_len % 4096, 0);
        for (what, bytes) in [
            ("ESP start", packed.layout.esp_start),
            ("ESP size", packed.layout.esp_size),
            ("data start", packed.layout.data_start),
            ("data size", packed.layout.data_size),
        ] {
            assert_eq!(bytes % 4096, 0, "{what}");
        }
        assert_eq!(packed.layout.esp_start, sb.esp_start * BLOCK);
        assert_eq!(packed.layout.data_start, sb.data_start * BLOCK);
        // Blocks 1 up to the ESP (kernel, manifest, binaries) are the 512 image's, and so is
        // block 0 below the MBR's partition table.
        let (a, b) = (
            head(&out, packed.layout.esp_start),
            head(&out512, packed.layout.esp_start),
        );
        assert_eq!(a[BLOCK as usize..], b[BLOCK as usize..]);
        assert_eq!(a[..image::MBR_TABLE_OFFSET], b[..image::MBR_TABLE_OFFSET]);
        // The partition entry counts 4096-byte sectors: the superblock's own block numbers.
        let entry = image::esp_partition_entry(&packed.layout);
        assert_eq!(
            (u64::from(entry.starting_lba), u64::from(entry.sectors)),
            (sb.esp_start, sb.esp_blocks)
        );
        // The ESP's files are byte-identical to the 512 layout's.
        for path in [
            BOOT_EFI_ESP_PATH,
            CONF_ESP_PATH,
            KERNEL_ESP_PATH,
            MODULE_ESP_PATH,
        ] {
            assert_eq!(
                read_back(&out, &packed.layout, path),
                read_back(&out512, &p512.layout, path),
                "{path}"
            );
        }
        // A layout of the other sector size does not read it.
        let err = format!(
            "{:#}",
            read_esp_file(&out, &p512.layout, KERNEL_ESP_PATH).unwrap_err()
        );
        assert!(err.contains("4096-byte sectors"), "{err}");
    }

    #[test]
    fn a_two_slot_image_may_be_laid_out_for_4kn() {
        let dir = TempDir::new("sysimg-4kn-slots");
        let a = fake_build(dir.path());
        let out = dir.path().join("two.img");
        let packed = write_system_image_for(&a, Some(&a), SectorSize::S4096, &out).unwrap();
        let b = packed.slot_b.as_ref().unwrap();
        assert_eq!(b.json, packed.json);
        assert_eq!(packed.layout.sector_size, SectorSize::S4096);
        assert_eq!(packed.layout.esp_start % 4096, 0);
        assert_eq!(
            read_back(&out, &packed.layout, KERNEL_B_ESP_PATH),
            b"\x7fELF fake kernel"
        );
        let file = fs::File::open(&out).unwrap();
        let v = pack::verify_window(&file, b.table.b_start, &mut Box::default()).unwrap();
        assert_eq!(v.superblock, b.superblock);
    }
}
