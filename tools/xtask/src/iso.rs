//! `cargo xtask build-iso`: a UEFI-bootable ISO 9660 image (El Torito EFI boot image = a FAT
//! volume holding the boot files; the same files also as plain ISO 9660 files), written by
//! `xorriso`; and reading an ISO back (`verify`/`inspect`): a walk of the ISO 9660 directory
//! records (Rock Ridge names first) to the system image module.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use loader::Manifest;

use crate::atomic::{produce_atomically, temp_path_for, write_atomically};
use crate::image::EspFile;
use crate::limine_conf::MODULE_ESP_PATH;
use crate::pack;
use crate::system_image::fat_size_for;

pub const XORRISO: &str = "xorriso";
/// The El Torito EFI boot image, at the ISO's root.
pub const EFI_BOOT_IMAGE: &str = "efiboot.img";
/// The ISO's volume id.
pub const VOLUME_ID: &str = "PANDAGEN";
pub const SECTOR: u64 = 2048;
/// Byte 1 of the first volume descriptor (sector 16): the ISO 9660 standard identifier.
pub const ISO_MAGIC_OFFSET: u64 = 16 * SECTOR + 1;
pub const ISO_MAGIC: &[u8; 5] = b"CD001";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IsoToolError {
    #[error(
        "{XORRISO} was not found on PATH; it writes the ISO 9660 image. Install it:\n  \
         Debian/Ubuntu: sudo apt-get install xorriso\n  \
         Fedora:        sudo dnf install xorriso\n  \
         Arch:          sudo pacman -S libisoburn\n  \
         macOS:         brew install xorriso"
    )]
    XorrisoNotFound,
}

/// Finds `xorriso` in the `PATH`-style list `path_var`.
pub fn find_xorriso(
    path_var: Option<&OsStr>,
    exists: impl Fn(&Path) -> bool,
) -> Result<PathBuf, IsoToolError> {
    crate::qemu::find_on_path(XORRISO, path_var, exists).ok_or(IsoToolError::XorrisoNotFound)
}

/// [`find_xorriso`] with the real `PATH`.
pub fn find_xorriso_on_host() -> Result<PathBuf, IsoToolError> {
    find_xorriso(std::env::var_os("PATH").as_deref(), |p| p.is_file())
}

/// The xorriso arguments: Rock Ridge and Joliet names, the FAT image as a no-emulation El Torito
/// boot image for UEFI (`-e` sets platform 0xEF), and a GPT partition over that same image behind
/// a protective MBR, so the ISO also boots under UEFI when written to a USB stick.
/// (`-isohybrid-gpt-basdat` would need an isohybrid BIOS MBR, which a UEFI-only ISO has not.)
pub fn xorriso_args(staging: &Path, output: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-as",
        "mkisofs",
        "-quiet",
        "-R",
        "-J",
        "-joliet-long",
        "-V",
        VOLUME_ID,
        "-e",
        EFI_BOOT_IMAGE,
        "-no-emul-boot",
        "-efi-boot-part",
        "--efi-boot-image",
        "--protective-msdos-label",
        "-o",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(output.into());
    args.push(staging.into());
    args
}

/// What [`write_iso`] wrote.
#[derive(Debug)]
pub struct IsoSummary {
    pub iso_bytes: u64,
    pub efi_image_bytes: u64,
    pub found: FoundFile,
    pub verified: loader::Verified,
}

/// A directory tree removed when dropped.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes the ISO to `output` atomically: a staging tree beside it with `files` (the boot files,
/// module included) and [`EFI_BOOT_IMAGE`] (a FAT volume with the same files), then `xorriso`;
/// the result is read back, its module found and verified before it is renamed into place.
pub fn write_iso(xorriso: &Path, files: &[EspFile], output: &Path) -> Result<IsoSummary> {
    let module = files
        .iter()
        .find(|f| f.path == MODULE_ESP_PATH)
        .with_context(|| format!("no {MODULE_ESP_PATH} among the boot files"))?;
    let mut staging_name = temp_path_for(output).into_os_string();
    staging_name.push(".staging");
    let staging = TempTree(PathBuf::from(staging_name));
    for f in files {
        let path = staging.0.join(f.path.trim_start_matches('/'));
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::write(&path, &f.data).with_context(|| format!("writing {}", path.display()))?;
    }
    let efi_image = staging.0.join(EFI_BOOT_IMAGE);
    let efi_image_bytes = fat_size_for(files);
    write_atomically(&efi_image, |file| {
        crate::image::write_fat_image(file, efi_image_bytes, files)
    })
    .context("building the El Torito EFI boot image (FAT)")?;

    produce_atomically(output, |tmp| {
        let out = Command::new(xorriso)
            .args(xorriso_args(&staging.0, tmp))
            .output()
            .with_context(|| format!("running {}", xorriso.display()))?;
        if !out.status.success() {
            bail!(
                "{} failed ({}):\n{}",
                xorriso.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut iso = File::open(tmp).with_context(|| format!("opening {}", tmp.display()))?;
        let found = find_module(&mut iso)?;
        let bytes = read_found(&mut iso, &found)?;
        ensure!(
            bytes == module.data,
            "the module read back from the ISO differs from the one written"
        );
        let mut manifest = Box::<Manifest>::default();
        let verified = pack::verify_module(&bytes, &mut manifest)
            .map_err(|e| anyhow::anyhow!("the ISO's module does not verify: {e}"))?;
        Ok(IsoSummary {
            iso_bytes: iso.metadata()?.len(),
            efi_image_bytes,
            found,
            verified,
        })
    })
    .with_context(|| format!("writing the ISO image {}", output.display()))
}

/// Whether `file` starts like an ISO 9660 image (`CD001` at byte 0x8001).
pub fn is_iso9660(file: &mut File) -> Result<bool> {
    if file.metadata()?.len() < ISO_MAGIC_OFFSET + 5 {
        return Ok(false);
    }
    let mut magic = [0u8; 5];
    file.seek(SeekFrom::Start(ISO_MAGIC_OFFSET))?;
    file.read_exact(&mut magic)?;
    Ok(&magic == ISO_MAGIC)
}

/// A file found in an ISO: the name it was found by, where its bytes are and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    pub name: String,
    pub offset: u64,
    pub len: u64,
}

/// One directory record.
#[derive(Debug)]
struct Record {
    /// The Rock Ridge name, else the ISO 9660 identifier without `;1` and a trailing `.`.
    name: String,
    extent: u64,
    len: u64,
    is_dir: bool,
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(
        b[at..at + 4].try_into().expect("4 bytes"),
    ))
}

/// Decodes one directory record (`rec` is exactly its bytes); `None` for `.` and `..`.
fn parse_record(rec: &[u8]) -> Option<Record> {
    if rec.len() < 34 {
        return None;
    }
    let name_len = usize::from(rec[32]);
    let ident = rec.get(33..33 + name_len)?;
    if ident == [0] || ident == [1] {
        return None;
    }
    // System use area (Rock Ridge): after the identifier and its padding byte.
    let mut su = 33 + name_len + usize::from(name_len % 2 == 0);
    let mut rr_name: Option<String> = None;
    while su + 4 <= rec.len() {
        let (sig, len) = (&rec[su..su + 2], usize::from(rec[su + 2]));
        if len < 4 || su + len > rec.len() {
            break;
        }
        if sig == b"NM" && len >= 5 {
            let part = String::from_utf8_lossy(&rec[su + 5..su + len]);
            rr_name.get_or_insert_with(String::new).push_str(&part);
        }
        su += len;
    }
    let name = rr_name.unwrap_or_else(|| {
        let s = String::from_utf8_lossy(ident);
        let s = s.split(';').next().unwrap_or_default();
        s.strip_suffix('.').unwrap_or(s).to_string()
    });
    Some(Record {
        name,
        extent: le32(rec, 2),
        len: le32(rec, 10),
        is_dir: rec[25] & 0x02 != 0,
    })
}

/// Whether a name in the ISO is the wanted path component: case-insensitive, and an ISO 9660
/// identifier's `_` also stands for a `-` it could not hold.
fn same_name(found: &str, wanted: &str) -> bool {
    let norm = |s: &str| s.to_ascii_uppercase().replace('-', "_");
    found.eq_ignore_ascii_case(wanted) || norm(found) == norm(wanted)
}

/// The records of the directory at `extent` (`len` bytes).
fn read_dir(file: &mut File, extent: u64, len: u64) -> Result<Vec<Record>> {
    ensure!(len <= 16 << 20, "an ISO 9660 directory of {len} bytes");
    let mut buf = vec![0u8; usize::try_from(len)?];
    file.seek(SeekFrom::Start(extent * SECTOR))?;
    file.read_exact(&mut buf)
        .context("reading an ISO 9660 directory")?;
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let rec_len = usize::from(buf[at]);
        if rec_len == 0 {
            // Records do not cross sectors: the rest of this one is padding.
            at = (at / SECTOR as usize + 1) * SECTOR as usize;
            continue;
        }
        let Some(rec) = buf.get(at..at + rec_len) else {
            break;
        };
        out.extend(parse_record(rec));
        at += rec_len;
    }
    Ok(out)
}

/// Walks the primary volume's directory records to `path` (`/`-separated, case-insensitive).
pub fn find_file(file: &mut File, path: &str) -> Result<Option<FoundFile>> {
    let size = file.metadata()?.len();
    // The primary volume descriptor: type 1, among the descriptors from sector 16 on.
    let mut pvd = None;
    for sector in 16..64u64 {
        if (sector + 1) * SECTOR > size {
            break;
        }
        let mut d = vec![0u8; SECTOR as usize];
        file.seek(SeekFrom::Start(sector * SECTOR))?;
        file.read_exact(&mut d)?;
        if &d[1..6] != ISO_MAGIC {
            break;
        }
        match d[0] {
            1 => {
                pvd = Some(d);
                break;
            }
            255 => break,
            _ => {}
        }
    }
    let pvd = pvd.context("no ISO 9660 primary volume descriptor")?;
    let root = &pvd[156..156 + 34];
    let (mut extent, mut len) = (le32(root, 2), le32(root, 10));
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut walked = String::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let entries = read_dir(file, extent, len)?;
        let Some(rec) = entries
            .iter()
            .find(|r| r.is_dir != last && same_name(&r.name, part))
        else {
            return Ok(None);
        };
        walked.push('/');
        walked.push_str(&rec.name);
        if last {
            ensure!(
                rec.extent * SECTOR + rec.len <= size,
                "{walked} runs past the end of the ISO"
            );
            return Ok(Some(FoundFile {
                name: walked,
                offset: rec.extent * SECTOR,
                len: rec.len,
            }));
        }
        (extent, len) = (rec.extent, rec.len);
    }
    Ok(None)
}

/// Finds the system image module in an ISO: by name ([`MODULE_ESP_PATH`]), else the first
/// 2048-byte sector that starts a module image (`PANDAGEN` magic, decoding block 0 without an ESP).
pub fn find_module(file: &mut File) -> Result<FoundFile> {
    if let Some(found) = find_file(file, MODULE_ESP_PATH)? {
        return Ok(found);
    }
    let size = file.metadata()?.len();
    let mut block0 = [0u8; loader::BLOCK_SIZE];
    let mut sector = 0u64;
    while (sector * SECTOR) + block0.len() as u64 <= size {
        file.seek(SeekFrom::Start(sector * SECTOR))?;
        file.read_exact(&mut block0)?;
        if block0.starts_with(&loader::MAGIC) {
            if let Ok(sb) = loader::Superblock::decode(&block0) {
                let len = sb.data_start * pack::BLOCK;
                if !sb.has_esp() && sector * SECTOR + len <= size {
                    return Ok(FoundFile {
                        name: format!("(no {MODULE_ESP_PATH}; a module image at sector {sector})"),
                        offset: sector * SECTOR,
                        len,
                    });
                }
            }
        }
        sector += 1;
    }
    bail!("no {MODULE_ESP_PATH} and no PANDAGEN module image in this ISO 9660 image")
}

/// The bytes of a found file.
pub fn read_found(file: &mut File, found: &FoundFile) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(found.len)?];
    file.seek(SeekFrom::Start(found.offset))?;
    file.read_exact(&mut bytes)
        .with_context(|| format!("reading {} from the ISO", found.name))?;
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::image::Slice;
    use crate::testutil::TempDir;
    use fatfs::{FileSystem, FsOptions};

    /// xorriso, or `None` with a printed note (the ISO tests then skip).
    pub fn xorriso_or_skip(test: &str) -> Option<PathBuf> {
        match find_xorriso_on_host() {
            Ok(p) => Some(p),
            Err(_) => {
                eprintln!("note: {test} skipped: {XORRISO} is not installed (.ci/run installs it)");
                None
            }
        }
    }

    /// Boot files for a small system (fake stub and kernel, the checked-in description).
    pub fn small_boot_files(dir: &Path) -> Vec<EspFile> {
        let img = crate::system_image::tests::fake_build(dir);
        crate::system_image::pack_input(&img).unwrap().esp_files
    }

    #[test]
    fn xorriso_is_named_when_missing() {
        let err = find_xorriso(None, |_| true).unwrap_err();
        assert!(err.to_string().contains("apt-get install xorriso"), "{err}");
        let path = std::env::join_paths(["/a", "/b"]).unwrap();
        assert_eq!(
            find_xorriso(Some(&path), |p| p == Path::new("/b/xorriso")),
            Ok(PathBuf::from("/b/xorriso"))
        );
    }

    #[test]
    fn xorriso_command_line() {
        let args: Vec<String> = xorriso_args(Path::new("/s"), Path::new("/o.iso"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args.join(" "),
            "-as mkisofs -quiet -R -J -joliet-long -V PANDAGEN -e efiboot.img -no-emul-boot \
             -efi-boot-part --efi-boot-image --protective-msdos-label -o /o.iso /s"
        );
    }

    #[test]
    fn not_an_iso() {
        let dir = TempDir::new("iso-not");
        let p = dir.path().join("x");
        fs::write(&p, vec![0u8; 40000]).unwrap();
        assert!(!is_iso9660(&mut File::open(&p).unwrap()).unwrap());
        fs::write(&p, b"short").unwrap();
        assert!(!is_iso9660(&mut File::open(&p).unwrap()).unwrap());
    }

    #[test]
    fn iso_holds_the_boot_files_and_a_verifying_module() {
        let Some(xorriso) = xorriso_or_skip("iso_holds_the_boot_files_and_a_verifying_module")
        else {
            return;
        };
        let dir = TempDir::new("iso");
        let files = small_boot_files(dir.path());
        let out = dir.path().join("boot.iso");
        let summary = write_iso(&xorriso, &files, &out).unwrap();
        let mut iso = File::open(&out).unwrap();
        assert!(is_iso9660(&mut iso).unwrap());
        assert_eq!(summary.iso_bytes, iso.metadata().unwrap().len());
        // Every boot file is a plain ISO 9660 file too, found by its (Rock Ridge) name.
        for f in &files {
            let found = find_file(&mut iso, &f.path).unwrap().unwrap();
            assert_eq!(found.name, f.path, "Rock Ridge keeps the names");
            assert_eq!(read_found(&mut iso, &found).unwrap(), f.data, "{}", f.path);
        }
        // Upper case, as an ISO 9660 reader without Rock Ridge would ask.
        assert!(find_file(&mut iso, "/BOOT/PANDAGEN-SYSTEM.MOD")
            .unwrap()
            .is_some());
        assert!(find_file(&mut iso, "/boot/nothing").unwrap().is_none());
        assert!(
            find_file(&mut iso, "/boot").unwrap().is_none(),
            "a directory"
        );
        let found = find_module(&mut iso).unwrap();
        assert_eq!(found, summary.found);
        let module = read_found(&mut iso, &found).unwrap();
        assert!(pack::verify_module(&module, &mut Box::default()).is_ok());

        // The El Torito boot image (default entry of the boot catalog, platform EFI) is the FAT
        // volume with the same files.
        let mut vd = vec![0u8; SECTOR as usize];
        iso.seek(SeekFrom::Start(17 * SECTOR)).unwrap();
        iso.read_exact(&mut vd).unwrap();
        assert_eq!(vd[0], 0, "boot record");
        assert!(vd[7..].starts_with(b"EL TORITO SPECIFICATION"));
        let catalog = le32(&vd, 0x47);
        let mut cat = vec![0u8; 64];
        iso.seek(SeekFrom::Start(catalog * SECTOR)).unwrap();
        iso.read_exact(&mut cat).unwrap();
        assert_eq!(cat[0], 1, "validation entry");
        assert_eq!(cat[1], 0xEF, "platform: EFI");
        assert_eq!(cat[32], 0x88, "bootable");
        assert_eq!(cat[33], 0, "no emulation");
        let boot_lba = le32(&cat, 40);
        let efi = find_file(&mut iso, EFI_BOOT_IMAGE).unwrap().unwrap();
        assert_eq!(efi.offset, boot_lba * SECTOR);
        assert_eq!(efi.len, summary.efi_image_bytes);
        let part = Slice::new(File::open(&out).unwrap(), efi.offset, efi.len).unwrap();
        let fat = FileSystem::new(part, FsOptions::new()).unwrap();
        for f in &files {
            let mut data = Vec::new();
            fat.root_dir()
                .open_file(f.path.trim_start_matches('/'))
                .unwrap()
                .read_to_end(&mut data)
                .unwrap();
            assert_eq!(data, f.data, "{} in the FAT image", f.path);
        }
        // Hybrid: a protective MBR and a GPT, for a USB stick.
        let mut mbr = [0u8; 1024];
        iso.seek(SeekFrom::Start(0)).unwrap();
        iso.read_exact(&mut mbr).unwrap();
        assert_eq!(&mbr[510..512], &[0x55, 0xAA]);
        assert_eq!(&mbr[512..520], b"EFI PART");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
