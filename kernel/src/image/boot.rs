//! The boot-time image check: pick the disk, verify it with the loader, log every step.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use bootlog::msg::{
    DISK_START, FROM_MODULE_RAM_END, FROM_MODULE_START, IMAGE_FOUND_START, IMAGE_VERIFIED_START,
    NOT_THE_IMAGE_END, NO_IMAGE_START, PASSED_OVER_MIDDLE, SAME_AS_MODULE_END, START_ORDER_START,
    UNDECODABLE_MIDDLE, USING_THE_MODULE,
};
use loader::error::LoadError;
use loader::manifest::{Manifest, MAX_MANIFEST_BYTES};
use loader::sha256::Sha256Digest;
use loader::superblock::{Superblock, BLOCK_SIZE};
use loader::verify::{self, Observer};

use super::choice::{self, Source, Verdict};
use super::module_disk::{ModuleDisk, ModuleError};
use super::signatures::{self, SignatureError};
use super::slots::{self, SlotDisk};
use super::source::{DiskSource, SourceError};
use crate::devices::Disk;
use crate::time;
use crate::userdata::security::Stored;
use bootslots::meta::Slot;

/// Why the image could not be used. `Display` is the one line the kernel prints.
#[derive(Debug)]
pub enum ImageError {
    /// No disk carries the PANDAGEN magic in block 0.
    NoImage { checked: usize, skipped: String },
    /// The chosen disk cannot serve 4096-byte blocks.
    Source { disk: String, error: SourceError },
    /// The loader rejected the image.
    Load { disk: String, error: Box<LoadError> },
    /// The kernel file the boot loader loaded is not the kernel in the image.
    KernelFileMismatch {
        disk: String,
        loaded_bytes: u64,
        image_bytes: u64,
    },
    /// The boot loader gave no executable-file response, or its memory is not mapped.
    NoKernelFile,
    /// The boot module cannot serve as a disk.
    Module(ModuleError),
    /// Verified boot refused the image (policy `enforce`).
    Signature(Box<Refused>),
    /// A two-slot image's slot metadata cannot be read.
    SlotMetadata(crate::userdata::RegionError),
}

impl ImageError {
    /// Where verification failed, short enough for the boot journal: the entry whose bytes or
    /// signature failed (`(manifest)` for the manifest's), `ROLLBACK`, or `None`.
    pub fn failed_at(&self) -> Option<String> {
        match self {
            Self::Load { error, .. } => error.entry().map(String::from),
            Self::Signature(r) => match &r.error {
                SignatureError::Refused(refusal) => Some(String::from(refusal.entry.as_str())),
                SignatureError::Rollback { .. } => Some(String::from(bootlog::msg::VBOOT_ROLLBACK)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// An image verified boot refused: why, and where (for the boot journal).
#[derive(Debug)]
pub struct Refused {
    pub error: SignatureError,
    /// Index of the image's disk.
    pub disk: usize,
    /// The disk's block 0 (its data region holds the journal).
    pub superblock: Superblock,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoImage { checked, skipped } => write!(
                f,
                "{NO_IMAGE_START} ({checked} disk(s) checked{skipped}): attach the image built by `cargo xtask build-image`"
            ),
            Self::Source { disk, error } => write!(f, "disk {disk}: {error}"),
            Self::Load { disk, error } => write!(f, "{error} (disk {disk})"),
            Self::KernelFileMismatch { disk, loaded_bytes, image_bytes } => write!(
                f,
                "the running kernel ({loaded_bytes} bytes, as the boot loader loaded it) is not the kernel in the image on disk {disk} ({image_bytes} bytes): the boot partition and the image disagree; rebuild the image"
            ),
            Self::Module(e) => write!(f, "{e}"),
            Self::Signature(r) => write!(f, "{}", r.error),
            Self::SlotMetadata(e) => write!(f, "slots: the slot metadata cannot be read: {e}"),
            Self::NoKernelFile => write!(
                f,
                "the boot loader gave no readable executable-file response: cannot compare the running kernel with the image"
            ),
        }
    }
}

/// What the boot path keeps from a verified image.
pub struct VerifiedBoot {
    /// Index of the image's disk in the list given to [`find_and_verify`] (the boot module,
    /// appended to it, when that is the source).
    pub disk: usize,
    /// Whether the image is the boot module (the user-data region is then in RAM).
    pub from_module: bool,
    /// The image's own block 0 (for slot B, in blocks counted from its first block).
    pub superblock: Superblock,
    /// The block 0 whose data region is the user data on the disk (the disk's block 0).
    pub region: Superblock,
    /// The image's first block on the disk (4096-byte blocks; 0 but for slot B).
    pub window: u64,
    pub manifest: Box<Manifest>,
    /// Entries verified boot refuses (policy `enforce`): the supervisor refuses them.
    pub vetoes: Vec<signing::image::Refusal>,
    /// The security record to write once every entry has come up.
    pub commit: Option<signatures::Commit>,
}

/// Logs each verification step as it succeeds (the log line carries the time).
struct StepLog;

impl Observer for StepLog {
    fn superblock_ok(&mut self, sb: &Superblock) {
        log::info!(
            "image: superblock valid: format {}, kernel {} blocks at block {}, manifest {} bytes at block {}, data blocks {}..{} ({} MiB), image id {}",
            sb.format_version,
            sb.kernel_blocks,
            sb.kernel_start,
            sb.manifest_bytes,
            sb.manifest_start,
            sb.data_start,
            sb.total_blocks,
            (sb.total_blocks - sb.data_start) * BLOCK_SIZE as u64 / (1024 * 1024),
            Hex(&sb.image_id)
        );
    }

    fn manifest_ok(&mut self, m: &Manifest) {
        log::info!(
            "image: manifest parsed and checked: format {}, {} service(s), {} component(s), dependency graph acyclic",
            m.format_version,
            m.services.len(),
            m.components.len()
        );
    }

    fn entry_verified(&mut self, name: &str, start_block: u64, size_bytes: u64) {
        log::info!("image: {name}: {size_bytes} bytes at block {start_block}, SHA-256 matches the manifest");
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The boot module as the image source: a read-only RAM disk with the user-data region in RAM.
fn module_disk(module: &'static [u8]) -> Result<Disk, ImageError> {
    let name = || String::from("boot module");
    let sb = module
        .get(..BLOCK_SIZE)
        .ok_or(ImageError::Load {
            disk: name(),
            error: Box::new(LoadError::ShortBlock { len: module.len() }),
        })
        .and_then(|b| {
            Superblock::decode(b).map_err(|e| ImageError::Load {
                disk: name(),
                error: Box::new(e),
            })
        })?;
    let device = ModuleDisk::new(module, &sb).map_err(ImageError::Module)?;
    Ok(Disk {
        address: drivers::pci::PciAddress {
            bus: 0,
            device: 0,
            function: 0,
        },
        kind: crate::devices::DiskKind::BootModule,
        location: name(),
        model: None,
        device: Box::new(device),
    })
}

/// Picks the image's source (see [`choice`]) and logs what each disk is. A module chosen as the
/// source is appended to `disks`. Returns the index of the source and whether it is the module.
fn pick_source(
    disks: &mut Vec<Disk>,
    module: Option<&'static [u8]>,
    block: &mut [u8],
) -> Result<(usize, bool), ImageError> {
    let wanted = choice::Module::of(module);
    let devices = disks
        .iter_mut()
        .map(|d| &mut *d.device as &mut dyn drivers::block::BlockDevice);
    let verdicts = choice::survey(devices, wanted, block);
    let source = choice::choose(&verdicts, wanted);
    log_verdicts(disks, &verdicts, source);
    let candidates = verdicts
        .iter()
        .filter(|v| **v == Verdict::Candidate)
        .count();
    match (source, module) {
        (Some(Source::Disk(i)), _) => {
            if candidates > 1 {
                log::warn!(
                    "image: {candidates} disks carry a PANDAGEN superblock; using {}, the first on the PCI bus",
                    disks[i].location
                );
            }
            let same = if matches!(wanted, choice::Module::Image(_)) {
                SAME_AS_MODULE_END
            } else {
                ""
            };
            log::info!("{IMAGE_FOUND_START}{}{same}", disks[i]);
            Ok((i, false))
        }
        (Some(Source::Module), Some(m)) => {
            disks.push(module_disk(m)?);
            log::info!("{FROM_MODULE_START}{} bytes){FROM_MODULE_RAM_END}", m.len());
            Ok((disks.len() - 1, true))
        }
        _ => Err(ImageError::NoImage {
            checked: disks.len(),
            skipped: unreadable(disks, &verdicts),
        }),
    }
}

/// One line per disk that is not the image, saying why.
fn log_verdicts(disks: &[Disk], verdicts: &[Verdict], source: Option<Source>) {
    for (disk, verdict) in disks.iter().zip(verdicts) {
        let at = &disk.location;
        match verdict {
            Verdict::NoImage => {
                log::info!("{DISK_START}{at}{NOT_THE_IMAGE_END}")
            }
            Verdict::OtherImage(id) => log::info!(
                "image: disk {at} carries another PANDAGEN image (id {}), not the one booted",
                Hex(id)
            ),
            Verdict::PassedOver(e) => {
                let using = match source {
                    Some(Source::Disk(i)) => format!("disk {}", disks[i].location),
                    _ => String::from(USING_THE_MODULE),
                };
                log::warn!("{DISK_START}{at}{UNDECODABLE_MIDDLE}{e}){PASSED_OVER_MIDDLE}{using}");
            }
            Verdict::Unreadable(_) | Verdict::Candidate => {}
        }
    }
}

/// The disks whose block 0 could not be read, for [`ImageError::NoImage`].
fn unreadable(disks: &[Disk], verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for (disk, verdict) in disks.iter().zip(verdicts) {
        if let Verdict::Unreadable(e) = verdict {
            let _ = write!(out, "; {} unreadable: {e}", disk.location);
        }
    }
    out
}

/// Where the image to verify is: the disk (or the module, appended to the list), and for a
/// two-slot disk the booted slot.
pub struct Picked {
    pub disk: usize,
    pub from_module: bool,
    pub slots: Option<SlotDisk>,
}

/// Finds the image — a disk whose block 0 has the PANDAGEN magic and, when the boot loader
/// loaded the image as a module too, the same image id; else that module. On a two-slot disk
/// the booted slot (`slot`, A when not said) is the one verified; its metadata and the other
/// slot's epoch are read now. A module chosen as the source is appended to `disks`.
pub fn pick(
    disks: &mut Vec<Disk>,
    module: Option<&'static [u8]>,
    slot: Option<Slot>,
) -> Result<Picked, ImageError> {
    let mut block = alloc::vec![0u8; BLOCK_SIZE];
    let (disk, from_module) = pick_source(disks, module, &mut block)?;
    let device = &mut *disks[disk].device;
    let slots = match choice::read_block0(device, &mut block) {
        Ok(choice::Block0::Image(sb)) if !from_module => match sb.slots {
            Some(table) => Some(slot_disk(device, sb, table, slot.unwrap_or(Slot::A))?),
            None => None,
        },
        _ => None,
    };
    if let (None, Some(s)) = (&slots, slot) {
        log::warn!(
            "slots: the command line says slot={s}, but the image has one system slot: booting it"
        );
    }
    Ok(Picked {
        disk,
        from_module,
        slots,
    })
}

/// The booted slot of the two-slot disk whose block 0 is `sb`.
fn slot_disk(
    device: &mut dyn drivers::block::BlockDevice,
    sb: Superblock,
    table: loader::slots::SlotTable,
    booted: Slot,
) -> Result<SlotDisk, ImageError> {
    let stored = slots::read_meta(device, &sb).map_err(ImageError::SlotMetadata)?;
    let mut disk = SlotDisk {
        booted,
        table,
        disk: sb,
        stored,
        other_epoch: None,
    };
    let other = booted.other();
    if stored.meta.slot(other).is_bootable() {
        disk.other_epoch = slots::epoch_at(device, disk.start_of(other));
    }
    Ok(disk)
}

/// Verifies the picked image (through a window at the booted slot's first block), compares
/// the kernel in it with `kernel_file` (what the boot loader loaded), checks its signatures,
/// and logs the start order and a summary line.
pub fn verify(
    disks: &mut [Disk],
    picked: &Picked,
    kernel_file: Option<&[u8]>,
) -> Result<VerifiedBoot, ImageError> {
    let started = time::uptime_us();
    let chosen = picked.disk;
    let name = disks[chosen].location.clone();
    // 64 KiB: a debug build may build the array on the 1 MiB boot stack first; it fits.
    let mut buf: Box<[u8; MAX_MANIFEST_BYTES]> = Box::new([0u8; MAX_MANIFEST_BYTES]);
    let mut manifest: Box<Manifest> = Box::default();
    let start = picked.slots.map_or(0, |s| s.start_of(s.booted));
    let mut win = slots::window(&mut *disks[chosen].device, start);
    let mut src = DiskSource::new(&mut win).map_err(|error| ImageError::Source {
        disk: name.clone(),
        error,
    })?;
    let verified = verify::verify_image_into(&mut src, &mut buf, &mut StepLog, &mut manifest)
        .map_err(|error| ImageError::Load {
            disk: name.clone(),
            error: Box::new(error),
        })?;
    check_kernel_file(kernel_file, &manifest, name)?;
    // The user-data region: the disk's, for either slot.
    let region = picked.slots.map_or(verified.superblock, |s| s.disk);
    let stored = security_record(&mut disks[chosen], &region);
    let fallback = picked.slots.and_then(|s| s.other_epoch);
    let checked =
        signatures::check(&verified, &manifest, stored.as_ref(), fallback).map_err(|error| {
            ImageError::Signature(Box::new(Refused {
                error,
                disk: chosen,
                superblock: region,
            }))
        })?;
    log_summary(&verified, started, &manifest);
    Ok(VerifiedBoot {
        from_module: picked.from_module,
        disk: chosen,
        superblock: verified.superblock,
        region,
        window: start,
        manifest,
        vetoes: checked.vetoes,
        commit: checked.commit,
    })
}

/// Verified boot's security record on the image's disk; `None` (said) when it cannot be read.
fn security_record(disk: &mut Disk, sb: &Superblock) -> Option<Stored> {
    match crate::userdata::boot::read_security(&mut *disk.device, sb) {
        Ok(s) => {
            if s.damaged {
                log::warn!("verified boot: one copy of the security record is damaged; using the other (generation {})", s.generation);
            }
            Some(s)
        }
        Err(e) => {
            log::warn!("verified boot: the security record cannot be read ({e}): no rollback check this boot");
            None
        }
    }
}

/// Checks that `kernel_file` (what the boot loader loaded) is the kernel the manifest names.
fn check_kernel_file(
    kernel_file: Option<&[u8]>,
    manifest: &Manifest,
    disk: String,
) -> Result<(), ImageError> {
    let kernel_file = kernel_file.ok_or(ImageError::NoKernelFile)?;
    if Sha256Digest::of(kernel_file) != manifest.kernel.checksum {
        return Err(ImageError::KernelFileMismatch {
            disk,
            loaded_bytes: kernel_file.len() as u64,
            image_bytes: manifest.kernel.size_bytes,
        });
    }
    log::info!(
        "image: the running kernel ({} bytes, loaded by the boot loader) is the kernel in the image",
        kernel_file.len()
    );
    Ok(())
}

/// The verification's summary line (bytes, time and rate since `started`) and the start order.
fn log_summary(verified: &verify::Verified, started: u64, manifest: &Manifest) {
    let elapsed_us = time::uptime_us().saturating_sub(started).max(1);
    let mib_s_x100 =
        verified.bytes_read as u128 * 100 * 1_000_000 / (elapsed_us as u128 * 1024 * 1024);
    log::info!(
        "{IMAGE_VERIFIED_START}read {} bytes, hashed {} bytes in {}.{:03} ms ({}.{:02} MiB/s); {} ms since kernel entry",
        verified.bytes_read,
        verified.bytes_hashed,
        elapsed_us / 1000,
        elapsed_us % 1000,
        mib_s_x100 / 100,
        mib_s_x100 % 100,
        time::uptime_us() / 1000
    );
    let mut order = String::new();
    for (i, name) in manifest.init_sequence.iter().enumerate() {
        let _ = write!(order, "{}{name}", if i == 0 { "" } else { ", " });
    }
    log::info!("{START_ORDER_START}{order}");
}
