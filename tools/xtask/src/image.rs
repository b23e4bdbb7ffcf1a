//! The raw disk image: block 0 (PandaGen superblock area + classic MBR), regions, FAT ESP, data.
//!
//! Layout (4096-byte blocks; the MBR and the FAT count in the disk's sectors, [`SectorSize`]):
//! - bytes `0..440` of block 0: supplied by the caller (the PandaGen superblock);
//! - bytes `440..446`: the MBR disk signature (caller-supplied) and two zero bytes;
//! - bytes `446..512`: MBR partition table with one EFI System partition (type 0xEF) and `55 AA`;
//! - the rest of block 0: zero;
//! - from block 1 (byte 4096) up to the ESP: caller-supplied regions (kernel, manifest, binaries);
//! - the ESP: at the caller's start (the superblock's `esp_start`), or at 1 MiB / the first MiB
//!   boundary after the last region;
//! - the data region: `data_size` bytes after the ESP, left sparse (never written byte by byte).
//!
//! Only two things depend on the sector size: the partition entry's LBA and sector count (in
//! sectors) and the FAT's sectors (its BPB's bytes per sector, hidden sectors and everything it
//! counts in sectors). Every byte offset above is the same for both sizes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result};
use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};
use mbrman::{MBRHeader, MBRPartitionEntry, BOOT_INACTIVE, CHS};

pub const BLOCK_SIZE: u64 = 4096;
/// Where the MBR's disk signature starts; the caller owns the bytes below (the "bootstrap code" area).
pub const MBR_BOOTSTRAP_LEN: usize = 440;
/// Where the MBR partition table starts.
pub const MBR_TABLE_OFFSET: usize = 446;
pub const MIB: u64 = 1024 * 1024;
/// The ESP starts here unless regions push it further (or the caller places it).
pub const DEFAULT_ESP_START: u64 = MIB;
pub const DEFAULT_ESP_SIZE: u64 = 64 * MIB;
/// Smallest ESP we format on a 512-byte-sector disk ([`SectorSize::min_esp_size`]).
pub const MIN_ESP_SIZE: u64 = SectorSize::S512.min_esp_size();
/// Clusters of the smallest ESP: twice the 4085 a FAT16 needs at least, as a power of two.
const MIN_ESP_CLUSTERS: u64 = 8192;
/// The smallest FAT16 cluster fatfs picks (it also makes a cluster at least one sector).
const MIN_FAT16_CLUSTER: u64 = 1024;
/// From this size on the ESP is FAT32, below it FAT16.
pub const FAT32_THRESHOLD: u64 = 512 * MIB;
pub const EFI_SYSTEM_PARTITION_TYPE: u8 = 0xEF;
/// Images larger than this print progress lines while they are written.
pub const PROGRESS_THRESHOLD: u64 = 64 * MIB;
/// Regions are written in pieces of this size, so progress can be reported inside a big binary.
const WRITE_CHUNK: usize = 8 * MIB as usize;

/// The logical sector size of the disk an image is laid out for: the unit of its MBR partition
/// entry and of its FAT ESP (the BPB's bytes per sector). UEFI firmware reads the partition
/// table in the disk's own sectors and needs the FAT's sector to be the disk's, so a disk with
/// 4096-byte logical sectors ("4Kn") needs an image laid out for it; the PandaGen blocks and
/// every region's byte offset are the same for both sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SectorSize {
    /// 512-byte sectors: SATA and virtio disks, USB sticks, most NVMe namespaces.
    #[default]
    S512,
    /// 4096-byte sectors (4Kn): e.g. an NVMe namespace formatted with 4 KiB LBAs.
    S4096,
}

impl SectorSize {
    /// Every sector size an image can be laid out for.
    pub const ALL: [SectorSize; 2] = [SectorSize::S512, SectorSize::S4096];

    /// Bytes per sector as the FAT BPB stores it.
    pub const fn bpb_bytes(self) -> u16 {
        match self {
            SectorSize::S512 => 512,
            SectorSize::S4096 => 4096,
        }
    }

    /// Bytes per sector.
    pub const fn bytes(self) -> u64 {
        self.bpb_bytes() as u64
    }

    /// The sector size of `bytes` bytes, if it is one an image can be laid out for.
    pub fn from_bytes(bytes: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.bytes() == bytes)
    }

    /// `--sector-size`: `512` or `4096`.
    pub fn parse(text: &str) -> Result<Self, SectorSizeError> {
        text.trim()
            .parse()
            .ok()
            .and_then(Self::from_bytes)
            .ok_or_else(|| SectorSizeError::Unsupported(text.to_owned()))
    }

    /// The smallest ESP formatted for this sector size: [`MIN_ESP_CLUSTERS`] clusters of the
    /// smallest FAT16 cluster, which is at least one sector (8 MiB for 512, 32 MiB for 4096).
    pub const fn min_esp_size(self) -> u64 {
        let cluster = if self.bytes() > MIN_FAT16_CLUSTER {
            self.bytes()
        } else {
            MIN_FAT16_CLUSTER
        };
        MIN_ESP_CLUSTERS * cluster
    }

    /// The sector size a FAT boot sector (the first bytes of a volume) says it was formatted
    /// for: its BPB's bytes per sector (offset 0x0B), when it ends in `55 AA` and is one of ours.
    pub fn of_boot_sector(boot: &[u8]) -> Option<Self> {
        let sig = boot.get(BOOT_SIGNATURE_OFFSET..BOOT_SIGNATURE_OFFSET + 2)?;
        let bps = boot.get(BPB_BYTES_PER_SECTOR..BPB_BYTES_PER_SECTOR + 2)?;
        if sig != [0x55, 0xAA] {
            return None;
        }
        Self::from_bytes(u64::from(u16::from_le_bytes([bps[0], bps[1]])))
    }
}

impl fmt::Display for SectorSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bytes())
    }
}

/// Where a FAT boot sector keeps its bytes per sector.
const BPB_BYTES_PER_SECTOR: usize = 0x0B;
/// Where a FAT boot sector keeps its hidden sectors (the partition's first LBA).
const BPB_HIDDEN_SECTORS: u64 = 0x1C;
/// Where a FAT32 boot sector keeps the sector of its backup copy.
const BPB_FAT32_BACKUP_SECTOR: u64 = 0x32;
/// Where a boot sector (and the MBR) end in `55 AA`.
const BOOT_SIGNATURE_OFFSET: usize = 510;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SectorSizeError {
    #[error("sector size {0:?} is not supported: use 512 (the default) or 4096 (a disk with 4096-byte logical sectors, 4Kn)")]
    Unsupported(String),
    #[error("an ISO is read in 2048-byte CD sectors and its El Torito boot image keeps 512-byte FAT sectors: --sector-size 4096 is for build-image (a disk image for a 4Kn disk)")]
    NotForIso,
    #[error("the ESP at byte {start} is not a FAT volume with {expected}-byte sectors (its boot sector says {found})")]
    EspNotFormattedFor {
        start: u64,
        expected: SectorSize,
        found: String,
    },
}

/// Bytes placed at an absolute disk offset between block 1 and the ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub offset: u64,
    pub data: Vec<u8>,
}

/// A file put on the ESP at an absolute `/`-separated path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspFile {
    pub path: String,
    pub data: Vec<u8>,
}

/// Everything that goes on the disk.
#[derive(Debug, Clone, Default)]
pub struct DiskSpec {
    /// Bytes `0..440` of block 0 (at most 440; zero-padded): the PandaGen superblock.
    pub block0: Vec<u8>,
    /// MBR bytes 440..444.
    pub disk_signature: [u8; 4],
    /// Regions at or after block 1 (byte 4096), before the ESP; must not overlap.
    pub regions: Vec<Region>,
    /// Byte offset of the ESP (a multiple of 1 MiB, after every region); `None` places it at
    /// 1 MiB or the first MiB boundary after the last region.
    pub esp_start: Option<u64>,
    /// ESP size in bytes (a multiple of the sector size, at least
    /// [`SectorSize::min_esp_size`]).
    pub esp_size: u64,
    pub esp_files: Vec<EspFile>,
    /// Bytes of the user data region after the ESP (a multiple of 4096), left zero and sparse.
    pub data_size: u64,
    /// The sector size of the disk the image is for: the unit of the MBR's partition entry and
    /// of the FAT ESP.
    pub sector_size: SectorSize,
}

#[cfg(test)]
impl DiskSpec {
    /// A spec with the default ESP size, an all-zero block 0, no regions and no data region.
    pub fn with_files(esp_files: Vec<EspFile>) -> Self {
        DiskSpec {
            esp_size: DEFAULT_ESP_SIZE,
            esp_files,
            ..DiskSpec::default()
        }
    }
}

/// Where things ended up (byte offsets and sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLayout {
    pub esp_start: u64,
    pub esp_size: u64,
    pub data_start: u64,
    pub data_size: u64,
    pub total_size: u64,
    pub fat_type: FatType,
    /// The sector size the MBR and the ESP are laid out for.
    pub sector_size: SectorSize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error(
        "block 0 prefix is {0} bytes; at most {MBR_BOOTSTRAP_LEN} fit below the MBR disk signature"
    )]
    BootBlockPrefixTooLong(usize),
    #[error("region at byte {0} starts before block 1 (byte {BLOCK_SIZE})")]
    RegionInBlock0(u64),
    #[error("regions at bytes {0} and {1} overlap")]
    RegionsOverlap(u64, u64),
    #[error("ESP start {0} is not a multiple of 1 MiB")]
    EspStartUnaligned(u64),
    #[error("regions end at byte {end}, past the ESP start {esp_start}")]
    RegionsPastEsp { end: u64, esp_start: u64 },
    #[error("ESP size {size} is not a multiple of the {sector}-byte sector")]
    EspSizeUnaligned { size: u64, sector: SectorSize },
    #[error("ESP size {size} is below the minimum of {} bytes for {sector}-byte sectors", sector.min_esp_size())]
    EspTooSmall { size: u64, sector: SectorSize },
    #[error("data region size {0} is not a multiple of {BLOCK_SIZE} bytes")]
    DataSizeUnaligned(u64),
    #[error(
        "an ESP ending at byte {end} is too far out for an MBR partition table with \
         {sector}-byte sectors (2^32 sectors)"
    )]
    DiskTooLarge { end: u64, sector: SectorSize },
    #[error("ESP path {0:?} must be absolute, without empty, `.` or `..` components")]
    BadEspPath(String),
}

/// FAT16 below [`FAT32_THRESHOLD`], FAT32 from it on.
pub fn fat_type_for(esp_size: u64) -> FatType {
    if esp_size >= FAT32_THRESHOLD {
        FatType::Fat32
    } else {
        FatType::Fat16
    }
}

/// Checks the spec and computes the layout, without touching any file.
pub fn layout(spec: &DiskSpec) -> Result<DiskLayout, LayoutError> {
    if spec.block0.len() > MBR_BOOTSTRAP_LEN {
        return Err(LayoutError::BootBlockPrefixTooLong(spec.block0.len()));
    }
    let mut regions: Vec<&Region> = spec.regions.iter().collect();
    regions.sort_by_key(|r| r.offset);
    let mut end = BLOCK_SIZE;
    let mut prev: Option<u64> = None;
    for r in regions {
        if r.offset < BLOCK_SIZE {
            return Err(LayoutError::RegionInBlock0(r.offset));
        }
        if let Some(p) = prev.filter(|_| r.offset < end) {
            return Err(LayoutError::RegionsOverlap(p, r.offset));
        }
        end = end.max(r.offset + r.data.len() as u64);
        prev = Some(r.offset);
    }
    let (size, sector) = (spec.esp_size, spec.sector_size);
    if !size.is_multiple_of(sector.bytes()) {
        return Err(LayoutError::EspSizeUnaligned { size, sector });
    }
    if size < sector.min_esp_size() {
        return Err(LayoutError::EspTooSmall { size, sector });
    }
    if !spec.data_size.is_multiple_of(BLOCK_SIZE) {
        return Err(LayoutError::DataSizeUnaligned(spec.data_size));
    }
    for f in &spec.esp_files {
        esp_path_components(&f.path)?;
    }
    let esp_start = match spec.esp_start {
        Some(start) if !start.is_multiple_of(MIB) || start == 0 => {
            return Err(LayoutError::EspStartUnaligned(start))
        }
        Some(start) if start < end => {
            return Err(LayoutError::RegionsPastEsp {
                end,
                esp_start: start,
            })
        }
        Some(start) => start,
        None => DEFAULT_ESP_START.max(end.div_ceil(MIB) * MIB),
    };
    let data_start = esp_start + spec.esp_size;
    if data_start / sector.bytes() > u64::from(u32::MAX) {
        return Err(LayoutError::DiskTooLarge {
            end: data_start,
            sector,
        });
    }
    Ok(DiskLayout {
        esp_start,
        esp_size: spec.esp_size,
        data_start,
        data_size: spec.data_size,
        total_size: data_start + spec.data_size,
        fat_type: fat_type_for(spec.esp_size),
        sector_size: sector,
    })
}

fn esp_path_components(path: &str) -> Result<Vec<&str>, LayoutError> {
    let bad = || LayoutError::BadEspPath(path.to_owned());
    let rest = path.strip_prefix('/').ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(bad());
    }
    Ok(parts)
}

/// Progress lines for big images: one each time the write position crosses another 10 %.
#[derive(Debug)]
pub struct Progress {
    total: u64,
    step: u64,
    next: u64,
    enabled: bool,
}

impl Progress {
    /// Reports on images over [`PROGRESS_THRESHOLD`] bytes; silent for smaller ones.
    pub fn for_image(total: u64) -> Self {
        let step = total.div_ceil(10).max(1);
        Progress {
            total,
            step,
            next: step,
            enabled: total > PROGRESS_THRESHOLD,
        }
    }

    /// Never prints.
    pub fn quiet() -> Self {
        Progress {
            enabled: false,
            ..Progress::for_image(0)
        }
    }

    /// The image is written up to byte `pos`: prints a line per 10 % mark passed.
    pub fn advance_to(&mut self, pos: u64) {
        if let Some(line) = self.lines_for(pos).last() {
            println!("{line}");
        }
    }

    /// The lines for reaching `pos` (the last one is printed: a big jump prints one line).
    fn lines_for(&mut self, pos: u64) -> Vec<String> {
        let mut lines = Vec::new();
        while self.enabled && self.next <= self.total && pos >= self.next {
            lines.push(format!(
                "xtask: image: {:>3}% written ({} of {} MiB)",
                (self.next.min(self.total) * 100 / self.total.max(1)),
                pos.min(self.total) / MIB,
                self.total / MIB
            ));
            self.next = if self.next >= self.total {
                u64::MAX
            } else {
                (self.next + self.step).min(self.total)
            };
        }
        lines
    }
}

/// Writes the whole image to `output` atomically.
#[cfg(test)]
pub fn write_disk_image(spec: &DiskSpec, output: &std::path::Path) -> Result<DiskLayout> {
    use crate::atomic::write_atomically;
    let layout = layout(spec)?;
    write_atomically(output, |file| {
        write_disk_image_into(spec, &layout, file, &mut Progress::quiet())?;
        Ok(layout)
    })
    .with_context(|| format!("writing disk image {}", output.display()))
}

/// Writes the image into `file` (fresh and empty): sizes it (the data region stays a hole),
/// then the regions in order, the ESP and block 0, reporting the position to `progress`.
pub fn write_disk_image_into(
    spec: &DiskSpec,
    layout: &DiskLayout,
    file: &mut File,
    progress: &mut Progress,
) -> Result<()> {
    file.set_len(0)?;
    file.set_len(layout.total_size)?;
    let mut regions: Vec<&Region> = spec.regions.iter().collect();
    regions.sort_by_key(|r| r.offset);
    for r in regions {
        file.seek(SeekFrom::Start(r.offset))?;
        let mut at = r.offset;
        for chunk in r.data.chunks(WRITE_CHUNK) {
            file.write_all(chunk)?;
            at += chunk.len() as u64;
            progress.advance_to(at);
        }
    }
    write_esp(spec, layout, file).context("building the FAT file system of the ESP")?;
    progress.advance_to(layout.data_start);
    write_block0(spec, layout, file).context("writing block 0 and the MBR partition table")?;
    file.flush()?;
    progress.advance_to(layout.total_size);
    Ok(())
}

fn write_esp(spec: &DiskSpec, layout: &DiskLayout, file: &mut File) -> Result<()> {
    format_and_fill(
        Slice::new(&mut *file, layout.esp_start, layout.esp_size)?,
        Some(layout.fat_type),
        layout.sector_size,
        &spec.esp_files,
    )?;
    patch_hidden_sectors(file, layout)
}

/// A stand-alone FAT volume of `size` bytes holding `files` (the El Torito EFI boot image of
/// an ISO, always 512-byte FAT sectors); fatfs picks FAT12/16/32 for the size.
pub fn write_fat_image(file: &mut File, size: u64, files: &[EspFile]) -> Result<()> {
    file.set_len(0)?;
    file.set_len(size)?;
    format_and_fill(
        Slice::new(&mut *file, 0, size)?,
        None,
        SectorSize::S512,
        files,
    )
}

/// Formats the volume (labelled `PANDAGEN`, `sector`-byte FAT sectors) and writes `files` into
/// it, creating directories.
fn format_and_fill<T: Read + Write + Seek>(
    mut part: Slice<T>,
    fat_type: Option<FatType>,
    sector: SectorSize,
    files: &[EspFile],
) -> Result<()> {
    for f in files {
        esp_path_components(&f.path)?;
    }
    let mut options = FormatVolumeOptions::new()
        .volume_label(*b"PANDAGEN   ")
        .bytes_per_sector(sector.bpb_bytes());
    if let Some(t) = fat_type {
        options = options.fat_type(t);
    }
    fatfs::format_volume(&mut part, options)?;
    part.seek(SeekFrom::Start(0))?;
    let fs = FileSystem::new(part, FsOptions::new())?;
    for f in files {
        let parts = esp_path_components(&f.path)?;
        let (name, dirs) = parts.split_last().expect("split yields at least one part");
        let mut dir = fs.root_dir();
        for d in dirs {
            dir = dir
                .create_dir(d)
                .with_context(|| format!("creating directory {d} for {}", f.path))?;
        }
        let mut out = dir
            .create_file(name)
            .with_context(|| format!("creating {}", f.path))?;
        out.truncate()?;
        out.write_all(&f.data)
            .with_context(|| format!("writing {}", f.path))?;
        out.flush()?;
    }
    fs.unmount()?;
    Ok(())
}

/// fatfs formats as if the volume started at sector 0; record the partition's real start (in
/// the layout's sectors) in the BPB "hidden sectors" field of the boot sector and its FAT32
/// backup.
fn patch_hidden_sectors(file: &mut File, layout: &DiskLayout) -> Result<()> {
    let sector = layout.sector_size.bytes();
    let start_lba = u32::try_from(layout.esp_start / sector)?;
    let mut sectors = vec![0u64];
    if layout.fat_type == FatType::Fat32 {
        let mut backup = [0u8; 2];
        file.seek(SeekFrom::Start(layout.esp_start + BPB_FAT32_BACKUP_SECTOR))?;
        file.read_exact(&mut backup)?;
        let backup = u16::from_le_bytes(backup);
        if backup != 0 && backup != 0xFFFF {
            sectors.push(u64::from(backup));
        }
    }
    for s in sectors {
        file.seek(SeekFrom::Start(
            layout.esp_start + s * sector + BPB_HIDDEN_SECTORS,
        ))?;
        file.write_all(&start_lba.to_le_bytes())?;
    }
    Ok(())
}

/// The one partition-table entry: the ESP in the layout's sectors, not bootable-flagged (UEFI
/// ignores the flag).
pub fn esp_partition_entry(layout: &DiskLayout) -> MBRPartitionEntry {
    let sector = layout.sector_size.bytes();
    let first = layout.esp_start / sector;
    let sectors = layout.esp_size / sector;
    let last = first + sectors - 1;
    MBRPartitionEntry {
        boot: BOOT_INACTIVE,
        first_chs: chs_for(first),
        sys: EFI_SYSTEM_PARTITION_TYPE,
        last_chs: chs_for(last),
        starting_lba: u32::try_from(first).expect("checked by layout()"),
        sectors: u32::try_from(sectors).expect("checked by layout()"),
    }
}

/// CHS with the usual 255 heads x 63 sectors geometry (of the disk's own sectors), or
/// 1023/254/63 ("use LBA") past it; UEFI reads only the LBA fields.
fn chs_for(lba: u64) -> CHS {
    u32::try_from(lba)
        .ok()
        .and_then(|lba| CHS::from_lba_exact(lba, 1023, 255, 63).ok())
        .unwrap_or(CHS::new(1023, 254, 63))
}

/// Block 0's first sector: the caller's bytes 0..440, the disk signature, the partition table
/// and `55 AA`. Bytes 512..4096 stay as `set_len` left them (zero).
fn write_block0(spec: &DiskSpec, layout: &DiskLayout, file: &mut File) -> Result<()> {
    let mut header = MBRHeader::new(spec.disk_signature);
    header.bootstrap_code = [0; MBR_BOOTSTRAP_LEN];
    header.bootstrap_code[..spec.block0.len()].copy_from_slice(&spec.block0);
    header.copy_protected = [0; 2];
    header.partition_1 = esp_partition_entry(layout);
    file.seek(SeekFrom::Start(0))?;
    header.write_into(file)?;
    Ok(())
}

/// The ESP of a written image (`disk`) as a FAT file system, after checking that its boot
/// sector is formatted for the layout's sector size.
pub fn open_esp<T: Read + Write + Seek>(
    disk: T,
    layout: &DiskLayout,
) -> Result<FileSystem<Slice<T>>> {
    let mut part = Slice::new(disk, layout.esp_start, layout.esp_size)?;
    let mut boot = [0u8; BOOT_SIGNATURE_OFFSET + 2];
    part.read_exact(&mut boot)?;
    let found = SectorSize::of_boot_sector(&boot);
    if found != Some(layout.sector_size) {
        return Err(SectorSizeError::EspNotFormattedFor {
            start: layout.esp_start,
            expected: layout.sector_size,
            found: found.map_or("no supported bytes per sector".into(), |s| {
                format!("{s}-byte sectors")
            }),
        }
        .into());
    }
    part.seek(SeekFrom::Start(0))?;
    Ok(FileSystem::new(part, FsOptions::new())?)
}

/// A window `[start, start + len)` of a seekable stream, seen as a stream of its own.
pub struct Slice<T> {
    inner: T,
    start: u64,
    len: u64,
    pos: u64,
}

impl<T: Seek> Slice<T> {
    pub fn new(mut inner: T, start: u64, len: u64) -> io::Result<Self> {
        inner.seek(SeekFrom::Start(start))?;
        Ok(Slice {
            inner,
            start,
            len,
            pos: 0,
        })
    }

    fn remaining(&self) -> usize {
        usize::try_from(self.len.saturating_sub(self.pos)).unwrap_or(usize::MAX)
    }
}

impl<T: Read + Seek> Read for Slice<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.remaining());
        if n == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let n = self.inner.read(&mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<T: Write + Seek> Write for Slice<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.remaining());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let n = self.inner.write(&buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T> Seek for Slice<T> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the partition")
        })?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use mbrman::MBR;
    use std::fs;
    use std::path::Path;

    fn read_esp_file(image: &Path, layout: &DiskLayout, path: &str) -> Vec<u8> {
        let fs = open_esp(File::open(image).unwrap(), layout).unwrap();
        let mut f = fs
            .root_dir()
            .open_file(path.trim_start_matches('/'))
            .unwrap();
        let mut out = Vec::new();
        f.read_to_end(&mut out).unwrap();
        out
    }

    fn sample_files() -> Vec<EspFile> {
        vec![
            EspFile {
                path: "/EFI/BOOT/BOOTX64.EFI".into(),
                data: b"MZ fake efi".to_vec(),
            },
            EspFile {
                path: "/boot/limine/limine.conf".into(),
                data: b"timeout: 0\n".to_vec(),
            },
            EspFile {
                path: "/boot/kernel_bootstrap".into(),
                data: (0..100_000u32).map(|i| (i * 7) as u8).collect(),
            },
        ]
    }

    #[test]
    fn default_layout() {
        let l = layout(&DiskSpec::with_files(vec![])).unwrap();
        assert_eq!(l.esp_start, MIB);
        assert_eq!(l.esp_size, 64 * MIB);
        assert_eq!(l.total_size, 65 * MIB);
        assert_eq!(l.fat_type, FatType::Fat16);
        assert_eq!(fat_type_for(512 * MIB), FatType::Fat32);
    }

    #[test]
    fn regions_push_the_esp_to_the_next_mib() {
        let mut spec = DiskSpec::with_files(vec![]);
        spec.regions = vec![
            Region {
                offset: BLOCK_SIZE,
                data: vec![1; 4096],
            },
            Region {
                offset: MIB - 100,
                data: vec![2; 200],
            },
        ];
        assert_eq!(layout(&spec).unwrap().esp_start, 2 * MIB);
        spec.regions.truncate(1);
        assert_eq!(layout(&spec).unwrap().esp_start, MIB);
    }

    #[test]
    fn layout_rejects_bad_specs() {
        let mut spec = DiskSpec::with_files(vec![]);
        spec.block0 = vec![0; 441];
        assert_eq!(layout(&spec), Err(LayoutError::BootBlockPrefixTooLong(441)));

        let mut spec = DiskSpec::with_files(vec![]);
        spec.regions = vec![Region {
            offset: 512,
            data: vec![1],
        }];
        assert_eq!(layout(&spec), Err(LayoutError::RegionInBlock0(512)));

        spec.regions = vec![
            Region {
                offset: 8192,
                data: vec![1; 10],
            },
            Region {
                offset: 4096,
                data: vec![1; 4097],
            },
        ];
        assert_eq!(layout(&spec), Err(LayoutError::RegionsOverlap(4096, 8192)));

        let mut spec = DiskSpec::with_files(vec![]);
        spec.esp_size = MIB;
        assert_eq!(
            layout(&spec),
            Err(LayoutError::EspTooSmall {
                size: MIB,
                sector: SectorSize::S512
            })
        );
        spec.esp_size = 64 * MIB + 1;
        assert!(matches!(
            layout(&spec),
            Err(LayoutError::EspSizeUnaligned { .. })
        ));

        for bad in ["EFI/x", "/a//b", "/a/../b", "/"] {
            let spec = DiskSpec::with_files(vec![EspFile {
                path: bad.into(),
                data: vec![],
            }]);
            assert_eq!(layout(&spec), Err(LayoutError::BadEspPath(bad.into())));
        }
    }

    #[test]
    fn image_has_mbr_esp_and_files() {
        let dir = TempDir::new("image");
        let img = dir.path().join("disk.img");
        let mut spec = DiskSpec::with_files(sample_files());
        spec.block0 = (0..48u8).collect();
        spec.regions = vec![Region {
            offset: BLOCK_SIZE,
            data: vec![0xAB; 10],
        }];
        let layout = write_disk_image(&spec, &img).unwrap();

        let raw = fs::read(&img).unwrap();
        assert_eq!(raw.len() as u64, 65 * MIB);
        assert_eq!(&raw[..48], spec.block0.as_slice());
        assert!(raw[48..446].iter().all(|&b| b == 0));
        assert_eq!(&raw[510..512], &[0x55, 0xAA]);
        assert!(raw[512..4096].iter().all(|&b| b == 0), "rest of block 0");
        assert_eq!(&raw[4096..4106], &[0xAB; 10]);
        // The raw partition entry, byte by byte.
        let entry = &raw[446..462];
        assert_eq!(entry[0], 0x00, "not active");
        assert_eq!(entry[4], 0xEF, "EFI System type");
        assert_eq!(u32::from_le_bytes(entry[8..12].try_into().unwrap()), 2048);
        assert_eq!(
            u32::from_le_bytes(entry[12..16].try_into().unwrap()),
            (64 * MIB / 512) as u32
        );
        assert!(raw[462..510].iter().all(|&b| b == 0), "one partition only");
        // Hidden sectors patched into the FAT boot sector.
        let bpb = MIB as usize;
        assert_eq!(&raw[bpb + 0x1C..bpb + 0x20], &2048u32.to_le_bytes());
        assert_eq!(&raw[bpb + 510..bpb + 512], &[0x55, 0xAA]);

        let mut f = File::open(&img).unwrap();
        let mbr = MBR::read_from(&mut f, 512).unwrap();
        let p = &mbr[1];
        assert_eq!(p.sys, 0xEF);
        assert_eq!(p.starting_lba, 2048);
        assert_eq!(p.sectors, 131072);
        assert!(mbr[2].is_unused() && mbr[3].is_unused() && mbr[4].is_unused());

        {
            let part =
                Slice::new(File::open(&img).unwrap(), layout.esp_start, layout.esp_size).unwrap();
            let fs = FileSystem::new(part, FsOptions::new()).unwrap();
            assert_eq!(fs.fat_type(), FatType::Fat16);
        }
        for file in sample_files() {
            assert_eq!(
                read_esp_file(&img, &layout, &file.path),
                file.data,
                "{}",
                file.path
            );
        }
    }

    #[test]
    fn fat32_image_reads_back() {
        let dir = TempDir::new("image32");
        let img = dir.path().join("disk.img");
        let mut spec = DiskSpec::with_files(sample_files());
        spec.esp_size = 512 * MIB;
        let layout = write_disk_image(&spec, &img).unwrap();
        assert_eq!(layout.fat_type, FatType::Fat32);
        let raw_bpb = {
            let mut f = File::open(&img).unwrap();
            let mut b = [0u8; 512];
            f.seek(SeekFrom::Start(MIB + 6 * 512)).unwrap();
            f.read_exact(&mut b).unwrap();
            b
        };
        assert_eq!(&raw_bpb[0x1C..0x20], &2048u32.to_le_bytes(), "backup BPB");
        let data = read_esp_file(&img, &layout, "/boot/kernel_bootstrap");
        assert_eq!(data, sample_files()[2].data);
    }

    #[test]
    fn caller_placed_esp_and_sparse_data_region() {
        let mut spec = DiskSpec::with_files(vec![]);
        spec.esp_size = MIN_ESP_SIZE;
        spec.regions = vec![Region {
            offset: BLOCK_SIZE,
            data: vec![1; 3 * MIB as usize],
        }];
        spec.esp_start = Some(4 * MIB);
        spec.data_size = 2 * MIB;
        let l = layout(&spec).unwrap();
        assert_eq!(
            (l.esp_start, l.data_start, l.data_size, l.total_size),
            (4 * MIB, 12 * MIB, 2 * MIB, 14 * MIB)
        );
        spec.esp_start = Some(2 * MIB);
        assert_eq!(
            layout(&spec),
            Err(LayoutError::RegionsPastEsp {
                end: 3 * MIB + BLOCK_SIZE,
                esp_start: 2 * MIB
            })
        );
        spec.esp_start = Some(4 * MIB + 4096);
        assert_eq!(
            layout(&spec),
            Err(LayoutError::EspStartUnaligned(4 * MIB + 4096))
        );
        spec.esp_start = Some(4 * MIB);
        spec.data_size = 100;
        assert_eq!(layout(&spec), Err(LayoutError::DataSizeUnaligned(100)));

        spec.data_size = 2 * MIB;
        let dir = TempDir::new("image-data");
        let img = dir.path().join("d.img");
        write_disk_image(&spec, &img).unwrap();
        let raw = fs::read(&img).unwrap();
        assert_eq!(raw.len() as u64, 14 * MIB);
        assert!(raw[(12 * MIB) as usize..].iter().all(|&b| b == 0));
        assert_eq!(&raw[454..458], &((4 * MIB / 512) as u32).to_le_bytes());
    }

    #[test]
    fn progress_only_for_big_images_one_line_per_mark() {
        let mut p = Progress::for_image(64 * MIB);
        assert!(p.lines_for(64 * MIB).is_empty(), "64 MiB is not big");
        let mut p = Progress::for_image(100 * MIB);
        assert!(p.lines_for(5 * MIB).is_empty());
        let lines = p.lines_for(25 * MIB);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], "xtask: image:  20% written (25 of 100 MiB)");
        assert!(p.lines_for(25 * MIB).is_empty(), "no repeats");
        let lines = p.lines_for(100 * MIB);
        assert_eq!(lines.len(), 8);
        assert_eq!(lines[7], "xtask: image: 100% written (100 of 100 MiB)");
        assert!(p.lines_for(100 * MIB).is_empty());
        assert!(Progress::quiet().lines_for(u64::MAX).is_empty());
    }

    #[test]
    fn slice_bounds() {
        let mut backing = io::Cursor::new(vec![0u8; 100]);
        let mut s = Slice::new(&mut backing, 10, 20).unwrap();
        assert_eq!(s.write(&[1; 30]).unwrap(), 20);
        assert_eq!(s.write(&[1]).unwrap_err().kind(), io::ErrorKind::WriteZero);
        assert_eq!(s.seek(SeekFrom::End(-5)).unwrap(), 15);
        let mut buf = [0u8; 10];
        assert_eq!(s.read(&mut buf).unwrap(), 5);
        assert!(s.seek(SeekFrom::Current(-100)).is_err());
        let v = backing.into_inner();
        assert_eq!(&v[..10], &[0; 10]);
        assert_eq!(&v[10..30], &[1; 20]);
        assert_eq!(&v[30..], &[0; 70]);
    }

    /// A disk with `sector`-byte logical sectors, as firmware sees it: it reads whole sectors at
    /// sector-aligned offsets only. Seen here is the partition of `sectors` sectors from `first_lba`.
    struct SectorView {
        disk: File,
        sector: u64,
        first_lba: u64,
        sectors: u64,
        pos: u64,
    }

    impl Read for SectorView {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let lba = self.pos / self.sector;
            if lba >= self.sectors || buf.is_empty() {
                return Ok(0);
            }
            let mut whole = vec![0u8; self.sector as usize];
            self.disk
                .seek(SeekFrom::Start((self.first_lba + lba) * self.sector))?;
            self.disk.read_exact(&mut whole)?;
            let at = (self.pos % self.sector) as usize;
            let n = buf.len().min(whole.len() - at);
            buf[..n].copy_from_slice(&whole[at..at + n]);
            self.pos += n as u64;
            Ok(n)
        }
    }

    impl Write for SectorView {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("the sector view is read-only"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for SectorView {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            let len = self.sectors * self.sector;
            self.pos = match to {
                SeekFrom::Start(p) => Some(p),
                SeekFrom::End(d) => len.checked_add_signed(d),
                SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            }
            .ok_or_else(|| io::Error::other("seek before the partition"))?;
            Ok(self.pos)
        }
    }

    /// Mounts the partition MBR entry 1 names, in `sector`-byte sectors, as firmware would;
    /// returns every sample file read from it.
    fn files_through_the_mbr(image: &Path, sector: SectorSize) -> (FatType, Vec<Vec<u8>>) {
        let mut disk = File::open(image).unwrap();
        let mbr = MBR::read_from(&mut disk, sector.bytes() as u32).unwrap();
        let p = &mbr[1];
        assert_eq!(p.sys, EFI_SYSTEM_PARTITION_TYPE);
        let view = SectorView {
            disk,
            sector: sector.bytes(),
            first_lba: u64::from(p.starting_lba),
            sectors: u64::from(p.sectors),
            pos: 0,
        };
        let fs = FileSystem::new(view, FsOptions::new()).unwrap();
        let files = sample_files()
            .iter()
            .map(|f| {
                let mut out = Vec::new();
                fs.root_dir()
                    .open_file(f.path.trim_start_matches('/'))
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                out
            })
            .collect();
        (fs.fat_type(), files)
    }

    /// The spec of the golden images: block 0 bytes, two regions, two files, 64 KiB of data.
    fn golden_spec(esp_size: u64) -> DiskSpec {
        let mut spec = DiskSpec::with_files(vec![
            EspFile {
                path: "/EFI/BOOT/BOOTX64.EFI".into(),
                data: b"MZ fake efi".to_vec(),
            },
            EspFile {
                path: "/boot/kernel_bootstrap".into(),
                data: (0..100_000u32).map(|i| (i * 7) as u8).collect(),
            },
        ]);
        spec.block0 = (0..48u8).collect();
        spec.disk_signature = [1, 2, 3, 4];
        spec.regions = vec![
            Region {
                offset: BLOCK_SIZE,
                data: vec![0xAB; 10],
            },
            Region {
                offset: 3 * BLOCK_SIZE,
                data: (0..5000u32).map(|i| (i * 13) as u8).collect(),
            },
        ];
        spec.esp_size = esp_size;
        spec.data_size = 64 * 1024;
        spec
    }

    /// The FAT's first directory byte: after the reserved sectors and the FATs (the directory
    /// entries after it carry the write time).
    fn fat_metadata_end(esp: &[u8]) -> usize {
        let u16_at = |at: usize| usize::from(u16::from_le_bytes([esp[at], esp[at + 1]]));
        let per_fat = match u16_at(0x16) {
            0 => u32::from_le_bytes(esp[0x24..0x28].try_into().unwrap()) as usize,
            n => n,
        };
        (u16_at(0x0E) + usize::from(esp[0x10]) * per_fat) * u16_at(0x0B)
    }

    #[test]
    fn the_default_layout_is_byte_for_byte_as_before() {
        // SHA-256 of bytes 0 .. the ESP's first directory byte, as written before 4Kn layouts
        // existed (block 0 + MBR, regions, the FAT boot sector, FSInfo and both FATs).
        for (esp_size, len, end, digest) in [
            (
                MIN_ESP_SIZE,
                9_502_720,
                1_081_856,
                "sha256:5449e25a9aaaf872ebf5cea2e4f3bcb0f1b8a295b9161226c738a0a030d7bd45",
            ),
            (
                FAT32_THRESHOLD,
                537_985_024,
                2_100_224,
                "sha256:a69279f176844d904a8d54f804b56762d01582d250efd090f280dcdc838eb6c5",
            ),
        ] {
            let dir = TempDir::new("image-golden");
            let img = dir.path().join("g.img");
            let spec = golden_spec(esp_size);
            assert_eq!(spec.sector_size, SectorSize::S512, "the default");
            write_disk_image(&spec, &img).unwrap();
            let raw = fs::read(&img).unwrap();
            assert_eq!(raw.len(), len);
            let metadata_end = MIB as usize + fat_metadata_end(&raw[MIB as usize..]);
            assert_eq!(metadata_end, end);
            assert_eq!(
                loader::Sha256Digest::of(&raw[..end]).to_string(),
                digest,
                "ESP of {esp_size} bytes"
            );
        }
    }

    #[test]
    fn sector_sizes_parse_and_others_are_refused() {
        assert_eq!(SectorSize::parse("512"), Ok(SectorSize::S512));
        assert_eq!(SectorSize::parse("4096"), Ok(SectorSize::S4096));
        assert_eq!(SectorSize::default(), SectorSize::S512);
        for bad in ["1024", "2048", "0", "", "4k", "-512", "8192"] {
            let err = SectorSize::parse(bad).unwrap_err();
            assert_eq!(err, SectorSizeError::Unsupported(bad.into()));
            let line = err.to_string();
            assert!(line.contains("use 512 (the default) or 4096"), "{line}");
            assert_eq!(line.lines().count(), 1);
        }
        assert_eq!(SectorSize::from_bytes(4096), Some(SectorSize::S4096));
        assert_eq!(SectorSize::from_bytes(1024), None);
        assert_eq!(SectorSize::S512.min_esp_size(), 8 * MIB);
        assert_eq!(SectorSize::S4096.min_esp_size(), 32 * MIB);
    }

    #[test]
    fn a_4kn_layout_refuses_what_4096_byte_sectors_cannot_hold() {
        let mut spec = DiskSpec::with_files(vec![]);
        spec.sector_size = SectorSize::S4096;
        spec.esp_size = MIN_ESP_SIZE;
        let sector = SectorSize::S4096;
        assert_eq!(
            layout(&spec),
            Err(LayoutError::EspTooSmall {
                size: MIN_ESP_SIZE,
                sector
            })
        );
        spec.esp_size = 64 * MIB + 512;
        assert_eq!(
            layout(&spec),
            Err(LayoutError::EspSizeUnaligned {
                size: 64 * MIB + 512,
                sector
            })
        );
        assert!(layout(&DiskSpec {
            sector_size: SectorSize::S512,
            ..spec.clone()
        })
        .is_ok());
        // An MBR with 4096-byte sectors reaches 16 TiB, eight times 512's 2 TiB.
        spec.esp_size = 64 * MIB;
        spec.esp_start = Some(4 << 40);
        assert!(layout(&spec).is_ok());
        assert!(matches!(
            layout(&DiskSpec {
                sector_size: SectorSize::S512,
                ..spec.clone()
            }),
            Err(LayoutError::DiskTooLarge { .. })
        ));
        spec.esp_start = Some(16 << 40);
        let err = layout(&spec).unwrap_err();
        assert!(matches!(err, LayoutError::DiskTooLarge { sector: s, .. } if s == sector));
        assert!(err.to_string().contains("4096-byte sectors"), "{err}");
    }

    #[test]
    fn a_4kn_image_boots_through_its_mbr_in_4096_byte_sectors() {
        let dir = TempDir::new("image-4kn");
        for (esp_size, fat_type) in [
            (SectorSize::S4096.min_esp_size(), FatType::Fat16),
            (DEFAULT_ESP_SIZE, FatType::Fat16),
            (256 * MIB, FatType::Fat16),
            (FAT32_THRESHOLD, FatType::Fat32),
        ] {
            let mut spec = golden_spec(esp_size);
            spec.esp_files = sample_files();
            let img512 = dir.path().join("512.img");
            let l512 = write_disk_image(&spec, &img512).unwrap();
            spec.sector_size = SectorSize::S4096;
            let img = dir.path().join("4kn.img");
            let l = write_disk_image(&spec, &img).unwrap();
            // The same byte layout; only the sector size differs.
            assert_eq!(
                l,
                DiskLayout {
                    sector_size: SectorSize::S4096,
                    ..l512
                }
            );
            let raw = fs::read(&img).unwrap();
            let raw512 = fs::read(&img512).unwrap();
            assert_eq!(raw.len() as u64 % 4096, 0);
            assert_eq!(raw.len(), raw512.len());
            // Block 0: the caller's bytes, the signature, one entry in 4096-byte sectors, 55 AA.
            assert_eq!(&raw[..440], &raw512[..440]);
            assert_eq!(&raw[440..446], &[1, 2, 3, 4, 0, 0]);
            let entry = &raw[446..462];
            assert_eq!(entry[4], EFI_SYSTEM_PARTITION_TYPE);
            let lba = u64::from(u32::from_le_bytes(entry[8..12].try_into().unwrap()));
            let sectors = u64::from(u32::from_le_bytes(entry[12..16].try_into().unwrap()));
            assert_eq!((lba * 4096, sectors * 4096), (l.esp_start, esp_size));
            assert!(raw[462..510].iter().all(|&b| b == 0));
            assert_eq!(&raw[510..512], &[0x55, 0xAA]);
            assert!(raw[512..4096].iter().all(|&b| b == 0), "rest of block 0");
            // Everything before the ESP is the 512 layout's, byte for byte.
            let esp = l.esp_start as usize;
            assert_eq!(&raw[4096..esp], &raw512[4096..esp]);
            // The BPB: 4096 bytes per sector, hidden sectors = the partition's LBA.
            let bpb = &raw[esp..esp + 4096];
            assert_eq!(SectorSize::of_boot_sector(bpb), Some(SectorSize::S4096));
            assert_eq!(&bpb[0x1C..0x20], &(lba as u32).to_le_bytes());
            if fat_type == FatType::Fat32 {
                let backup = u16::from_le_bytes([bpb[0x32], bpb[0x33]]) as usize;
                let at = esp + backup * 4096;
                assert_eq!(&raw[at + 0x1C..at + 0x20], &(lba as u32).to_le_bytes());
                assert_eq!(
                    &raw[at + 510..at + 512],
                    &[0x55, 0xAA],
                    "backup boot sector"
                );
            }
            // The data region: zero.
            assert!(raw[l.data_start as usize..].iter().all(|&b| b == 0));
            // Firmware's view: MBR LBAs x 4096, a FAT with 4096-byte sectors, the same files.
            let (got_type, files) = files_through_the_mbr(&img, SectorSize::S4096);
            assert_eq!(got_type, fat_type, "ESP of {esp_size} bytes");
            let (_, files512) = files_through_the_mbr(&img512, SectorSize::S512);
            let want: Vec<Vec<u8>> = sample_files().into_iter().map(|f| f.data).collect();
            assert_eq!(files, want);
            assert_eq!(files512, want);
            // Read back through the layout; a layout of the other sector size is refused.
            for f in sample_files() {
                assert_eq!(read_esp_file(&img, &l, &f.path), f.data);
            }
            let err = open_esp(File::open(&img).unwrap(), &l512).err().unwrap();
            assert!(
                err.to_string()
                    .contains("not a FAT volume with 512-byte sectors (its boot sector says 4096-byte sectors)"),
                "{err}"
            );
        }
    }
}
