//! Installing one slot's boot files: its kernel (and slot A's module), limine.conf re-pinned to
//! them, and the boot loader with the new config's hash enrolled, in an order that leaves a
//! bootable ESP after a power cut at any point (docs/esp.md).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use bootproto::config::{self, RepinError};
use bootproto::enroll::{self, EnrollError, Slot};
use bootproto::files;
use bootproto::hash::{blake2b512, Hasher};

use crate::fat::{Blocks, Fat, FatError, File, IoError, NewFile, BLOCK};

/// The largest limine.conf read.
const MAX_CONF: u32 = 1 << 20;
/// The largest boot loader read.
const MAX_EFI: u32 = 32 << 20;
/// Bytes of a slot read per call.
const CHUNK: usize = 64 << 10;

/// The verified slot's bytes, read at byte offsets.
pub trait SlotBytes {
    /// Fills `buf` (at most 64 KiB) with the slot's bytes from `offset` on.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
}

/// Which slot's boot files to install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Slot A: [`files::KERNEL_A`] and, with a module, [`files::MODULE`].
    A,
    /// Slot B: [`files::KERNEL_B`].
    B,
}

/// Slot A's system image module: the slot's bytes `0..len` with the first block replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Its length in bytes.
    pub len: u64,
    /// Its first 4096 bytes (the module's own block 0).
    pub block0: [u8; BLOCK],
}

/// What to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The slot whose files are replaced (marked unbootable by the caller meanwhile).
    pub target: Target,
    /// Where the kernel is in the slot's bytes.
    pub kernel_offset: u64,
    /// The kernel's length.
    pub kernel_len: u64,
    /// Slot A's module (only for [`Target::A`]).
    pub module: Option<Module>,
}

/// What [`install`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The ESP already pins these files, and no cluster was lost: nothing was written.
    Unchanged,
    /// Files were switched (0 when only lost clusters were collected).
    Installed {
        /// Files switched (kernel, module, limine.conf, boot loader).
        files: usize,
        /// Bytes of new file content written.
        bytes_written: u64,
        /// Lost clusters freed first.
        lost_collected: u32,
    },
}

/// Why an install stopped. `Display` prints one line saying what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallError {
    /// The ESP's file system failed or is damaged.
    Fat(FatError),
    /// A boot file is missing (or its chain is damaged).
    File {
        /// Its ESP path.
        path: &'static str,
        /// What is wrong.
        error: FatError,
    },
    /// A boot file is larger than a boot file can be.
    TooLarge {
        /// Its ESP path.
        path: &'static str,
        /// Its size.
        size: u32,
    },
    /// Reading the slot failed.
    Source {
        /// The byte offset in the slot.
        offset: u64,
    },
    /// limine.conf is not UTF-8 text.
    ConfNotText,
    /// The boot loader has no usable config-hash slot.
    Enroll(EnrollError),
    /// The hash enrolled in the boot loader is not limine.conf's: the ESP does not boot as it is.
    Inconsistent,
    /// The directory entries of limine.conf and the boot loader are not in one sector.
    NotOneSector,
    /// limine.conf does not pin a file this slot needs.
    Repin(RepinError),
    /// A module was given for slot B.
    ModuleForB,
    /// The slot's bytes changed between the two reads.
    SourceChanged {
        /// The file being written.
        path: &'static str,
    },
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fat(e) => write!(f, "{e}"),
            Self::File { path, error } => write!(f, "{path}: {error}"),
            Self::TooLarge { path, size } => {
                write!(f, "{path} is {size} bytes, too large for a boot file: rebuild the image")
            }
            Self::Source { offset } => {
                write!(f, "reading the slot at byte {offset} failed: check the disk")
            }
            Self::ConfNotText => write!(f, "{} is not UTF-8 text: rebuild the image", files::CONF),
            Self::Enroll(e) => write!(f, "{}: {e}", files::BOOT_EFI),
            Self::Inconsistent => write!(
                f,
                "the hash enrolled in {} is not {}'s: the ESP is inconsistent, rebuild the image",
                files::BOOT_EFI,
                files::CONF
            ),
            Self::NotOneSector => write!(
                f,
                "{} and {} have their directory entries in different sectors: rebuild the image",
                files::CONF,
                files::BOOT_EFI
            ),
            Self::Repin(e) => write!(f, "{e}"),
            Self::ModuleForB => f.write_str("slot B has no module: a bug in the caller"),
            Self::SourceChanged { path } => write!(
                f,
                "the slot's bytes for {path} changed while being installed: verify the slot and retry"
            ),
        }
    }
}

impl core::error::Error for InstallError {}

impl From<FatError> for InstallError {
    fn from(e: FatError) -> Self {
        Self::Fat(e)
    }
}

/// A file of the slot: where it is in the slot's bytes, and its block 0 if replaced.
struct Piece<'a> {
    path: &'static str,
    offset: u64,
    len: u64,
    block0: Option<&'a [u8; BLOCK]>,
}

impl Piece<'_> {
    /// Calls `f` on the file's bytes in order, `CHUNK` at a time.
    fn stream<S: SlotBytes>(
        &self,
        src: &mut S,
        mut f: impl FnMut(&[u8]) -> Result<(), InstallError>,
    ) -> Result<(), InstallError> {
        let mut buf = vec![0u8; CHUNK];
        let mut pos = 0u64;
        while pos < self.len {
            let n = (self.len - pos).min(CHUNK as u64) as usize;
            let offset = self.offset.saturating_add(pos);
            src.read(offset, &mut buf[..n])
                .map_err(|_| InstallError::Source { offset })?;
            if let Some(b0) = self.block0.filter(|_| pos < BLOCK as u64) {
                let k = (BLOCK - pos as usize).min(n);
                buf[..k].copy_from_slice(&b0[pos as usize..pos as usize + k]);
            }
            f(&buf[..n])?;
            pos += n as u64;
        }
        Ok(())
    }

    fn hash<S: SlotBytes>(&self, src: &mut S) -> Result<[u8; 64], InstallError> {
        let mut h = Hasher::new();
        self.stream(src, |d| {
            h.update(d);
            Ok(())
        })?;
        Ok(h.finish())
    }
}

/// The slot's files the request names.
fn pieces(req: &Request) -> Result<Vec<Piece<'_>>, InstallError> {
    let kernel = |path| Piece {
        path,
        offset: req.kernel_offset,
        len: req.kernel_len,
        block0: None,
    };
    match (req.target, &req.module) {
        (Target::B, Some(_)) => Err(InstallError::ModuleForB),
        (Target::B, None) => Ok(vec![kernel(files::KERNEL_B)]),
        (Target::A, None) => Ok(vec![kernel(files::KERNEL_A)]),
        (Target::A, Some(m)) => Ok(vec![
            kernel(files::KERNEL_A),
            Piece {
                path: files::MODULE,
                offset: 0,
                len: m.len,
                block0: Some(&m.block0),
            },
        ]),
    }
}

fn find<B: Blocks>(fat: &mut Fat<B>, path: &'static str) -> Result<File, InstallError> {
    fat.find(path)
        .map_err(|error| InstallError::File { path, error })
}

/// Reads a whole boot file of at most `max` bytes.
fn read_all<B: Blocks>(
    fat: &mut Fat<B>,
    path: &'static str,
    max: u32,
) -> Result<(File, Vec<u8>), InstallError> {
    let file = find(fat, path)?;
    if file.size() > max {
        let size = file.size();
        return Err(InstallError::TooLarge { path, size });
    }
    let mut data = vec![0u8; file.size() as usize];
    fat.read(&file, 0, &mut data)
        .map_err(|error| InstallError::File { path, error })?;
    Ok((file, data))
}

/// The ESP's limine.conf and boot loader as found, checked to agree.
struct Boot {
    conf_file: File,
    conf: String,
    efi_file: File,
    efi: Vec<u8>,
    enrolled: bool,
}

fn read_boot<B: Blocks>(fat: &mut Fat<B>) -> Result<Boot, InstallError> {
    let (conf_file, conf) = read_all(fat, files::CONF, MAX_CONF)?;
    let (efi_file, efi) = read_all(fat, files::BOOT_EFI, MAX_EFI)?;
    let conf = String::from_utf8(conf).map_err(|_| InstallError::ConfNotText)?;
    let enrolled = match enroll::enrolled(&efi).map_err(InstallError::Enroll)? {
        Slot::NotEnrolled => false,
        Slot::Enrolled(d) if d == blake2b512(conf.as_bytes()) => true,
        Slot::Enrolled(_) => return Err(InstallError::Inconsistent),
    };
    if enrolled && !fat.same_sector(&[&conf_file, &efi_file]) {
        return Err(InstallError::NotOneSector);
    }
    Ok(Boot {
        conf_file,
        conf,
        efi_file,
        efi,
        enrolled,
    })
}

/// Installs the request's files from `src` onto the ESP (docs/esp.md has the order of writes
/// and why a power cut anywhere leaves a bootable ESP). Nothing is written when the ESP already
/// pins these files and no cluster is lost, nor when an error is found before the first write.
pub fn install<B: Blocks, S: SlotBytes>(
    fat: &mut Fat<B>,
    src: &mut S,
    req: &Request,
) -> Result<Outcome, InstallError> {
    let boot = read_boot(fat)?;
    let mut changed = Vec::new();
    for piece in pieces(req)? {
        let hash = piece.hash(src)?;
        let pin = config::pinned(&boot.conf, piece.path);
        let pin = pin.ok_or(InstallError::Repin(RepinError::NotPinned {
            path: piece.path,
        }))?;
        if hash != pin {
            let old = find(fat, piece.path)?;
            changed.push((piece, hash, old));
        }
    }
    if changed.is_empty() {
        return collect_only(fat);
    }
    let lost_collected = fat.collect_lost()?;
    let (files, bytes_written) = replace(fat, src, boot, &changed)?;
    Ok(Outcome::Installed {
        files,
        bytes_written,
        lost_collected,
    })
}

/// The files are in place: collect lost clusters, if any, else write nothing.
fn collect_only<B: Blocks>(fat: &mut Fat<B>) -> Result<Outcome, InstallError> {
    if fat.count_lost()? == 0 {
        return Ok(Outcome::Unchanged);
    }
    let lost_collected = fat.collect_lost()?;
    fat.flush()?;
    Ok(Outcome::Installed {
        files: 0,
        bytes_written: 0,
        lost_collected,
    })
}

/// A changed slot file: where its bytes are, their pass-1 hash, its current file.
type Changed<'a> = (Piece<'a>, [u8; 64], File);

/// Writes every new file into new chains, switches the slot's files, then limine.conf and the
/// boot loader together, then frees the old chains. Returns (files switched, bytes written).
fn replace<B: Blocks, S: SlotBytes>(
    fat: &mut Fat<B>,
    src: &mut S,
    boot: Boot,
    changed: &[Changed<'_>],
) -> Result<(usize, u64), InstallError> {
    let pins: Vec<(&'static str, [u8; 64])> =
        changed.iter().map(|(p, h, _)| (p.path, *h)).collect();
    let conf = config::repin(&boot.conf, &pins).map_err(InstallError::Repin)?;
    let mut efi = boot.efi;
    if boot.enrolled {
        enroll::enroll(&mut efi, conf.as_bytes()).map_err(InstallError::Enroll)?;
    }
    let mut sizes: Vec<u64> = changed.iter().map(|(p, _, _)| p.len).collect();
    sizes.push(conf.len() as u64);
    if boot.enrolled {
        sizes.push(efi.len() as u64);
    }
    let mut news = allocate_all(fat, &sizes)?;
    if let Err(e) = write_all(fat, src, changed, &conf, &efi, &mut news) {
        discard_all(fat, news);
        return Err(e);
    }
    fat.flush()?;
    for ((_, _, old), new) in changed.iter().zip(&news) {
        fat.switch(&[(old, new)])?;
    }
    fat.flush()?;
    let n = changed.len();
    let mut pair = vec![(&boot.conf_file, &news[n])];
    if boot.enrolled {
        pair.push((&boot.efi_file, &news[n + 1]));
    }
    fat.switch(&pair)?;
    fat.flush()?;
    let olds = changed.iter().map(|(_, _, old)| old);
    let olds: Vec<&File> = olds.chain([&boot.conf_file, &boot.efi_file]).collect();
    for old in &olds[..news.len()] {
        fat.free_chain(old.first_cluster())?;
    }
    fat.flush()?;
    Ok((news.len(), sizes.iter().sum()))
}

/// New chains for every size, or none: a shortage is found before any is taken.
fn allocate_all<B: Blocks>(fat: &mut Fat<B>, sizes: &[u64]) -> Result<Vec<NewFile>, InstallError> {
    let cluster = u64::from(fat.cluster_bytes());
    let needed: u64 = sizes.iter().map(|s| s.div_ceil(cluster)).sum();
    let free = fat.free_clusters();
    if needed > u64::from(free) {
        let needed = u32::try_from(needed).unwrap_or(u32::MAX);
        return Err(FatError::NoSpace { needed, free }.into());
    }
    let mut news = Vec::new();
    for &size in sizes {
        match fat.allocate(size) {
            Ok(new) => news.push(new),
            Err(e) => {
                discard_all(fat, news);
                return Err(e.into());
            }
        }
    }
    Ok(news)
}

/// Frees new chains after an error (best effort: what stays allocated is collected as lost
/// by the next run).
fn discard_all<B: Blocks>(fat: &mut Fat<B>, news: Vec<NewFile>) {
    for new in news {
        let _ = fat.discard(new);
    }
    let _ = fat.flush();
}

/// Writes the slot's files (hashing them again: they must hash as in pass 1), then
/// limine.conf and the boot loader, into their new chains.
fn write_all<B: Blocks, S: SlotBytes>(
    fat: &mut Fat<B>,
    src: &mut S,
    changed: &[Changed<'_>],
    conf: &str,
    efi: &[u8],
    news: &mut [NewFile],
) -> Result<(), InstallError> {
    for ((piece, hash, _), new) in changed.iter().zip(news.iter_mut()) {
        let mut h = Hasher::new();
        piece.stream(src, |d| {
            h.update(d);
            fat.write(new, d).map_err(InstallError::Fat)
        })?;
        if h.finish() != *hash {
            return Err(InstallError::SourceChanged { path: piece.path });
        }
    }
    let n = changed.len();
    fat.write(&mut news[n], conf.as_bytes())?;
    if let Some(new) = news.get_mut(n + 1) {
        fat.write(new, efi)?;
    }
    Ok(())
}
