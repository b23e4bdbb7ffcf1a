//! Devices: PCI discovery and disks (virtio-blk, AHCI/SATA), on top of the `drivers` crate.
//!
//! [`probe`] is the boot path's entry point: it enumerates PCI (every function logged at debug
//! level, storage controllers at info level), brings up every virtio block device and every SATA
//! disk on every AHCI controller (class 01:06:01), and returns the PCI functions (the boot path
//! looks for network devices among them) and the disks that work, virtio first, each as a
//! [`Disk`] with its kind and location. A controller, port or device that fails is logged with
//! its location and why, and skipped; a disk whose logical sector size is neither 512 nor 4096 is
//! logged ("sector size N not supported") and reported in [`Probe::failed`], never used. Nothing
//! here panics on a device's behaviour.

pub mod hal;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use bootlog::msg::{DISK_PATTERN_END, DISK_PATTERN_MIDDLE, DISK_TEST_START, DISK_THROUGHPUT_START};

use drivers::ahci::{self, AhciDisk, AhciError, PortError};
use drivers::block::{read_bytes_at, BlockDevice, BlockError, Blocks4K};
use drivers::pci::{self, PciAddress, PciDevice};
use drivers::virtio_blk::{self, PciRoot, VirtioBlockError};

pub use hal::{KernelAhciHal, KernelHal};

use crate::memory::mmio::{self, MmioError};

/// BARs up to this size are mapped before the virtio transport asks for them, so that a mapping
/// failure is an error here rather than a panic inside the HAL.
const PREMAP_LIMIT: u64 = 16 * 1024 * 1024;

/// A disk found by [`probe`].
pub struct Disk {
    /// The PCI function of its controller (the virtio device itself, or the AHCI HBA).
    pub address: PciAddress,
    /// What it is: `"virtio-blk"` or `"ahci"`.
    pub kind: &'static str,
    /// Where it is, for logs: `00:04.0` (virtio) or `00:1f.2 port 0` (AHCI).
    pub location: String,
    /// The model string the disk reports (AHCI: IDENTIFY words 27-46), if any.
    pub model: Option<String>,
    /// The device, in its native block size (512 bytes for virtio-blk, the logical sector size
    /// — 512 or 4096 — for AHCI).
    pub device: Box<dyn BlockDevice + Send>,
}

impl fmt::Display for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.device.num_blocks() * self.device.block_size() as u64;
        write!(f, "{} {}", self.location, self.kind)?;
        if let Some(model) = &self.model {
            write!(f, " \"{model}\"")?;
        }
        write!(
            f,
            ": {} ({} blocks of {} bytes){}",
            Size(bytes),
            self.device.num_blocks(),
            self.device.block_size(),
            if self.device.is_read_only() {
                ", read-only"
            } else {
                ""
            }
        )
    }
}

/// A byte count in the largest binary unit that keeps a fractional digit meaningful.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n >= 1 << shift {
                let tenths = (n * 10) >> shift;
                return write!(f, "{}.{} {unit}", tenths / 10, tenths % 10);
            }
        }
        write!(f, "{n} bytes")
    }
}

/// Why a disk was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// A memory BAR could not be mapped into the MMIO window.
    MapBar {
        bar: usize,
        phys: u64,
        size: u64,
        error: MmioError,
    },
    /// The virtio transport or device failed to come up.
    Virtio(VirtioBlockError),
    /// An AHCI controller has no usable ABAR (BAR5).
    NoAbar,
    /// An AHCI controller failed to come up.
    Ahci(AhciError),
    /// A port of an AHCI controller failed to give a disk.
    AhciPort(PortError),
    /// The disk works, but its logical sector size is neither 512 nor 4096 bytes.
    UnsupportedSectorSize { location: String, bytes: usize },
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MapBar {
                bar,
                phys,
                size,
                error,
            } => write!(
                f,
                "mapping BAR{bar} ({size:#x} bytes at {phys:#x}): {error}"
            ),
            Self::Virtio(e) => write!(f, "{e}"),
            Self::NoAbar => write!(f, "AHCI controller without a memory BAR5 (ABAR)"),
            Self::Ahci(e) => write!(f, "{e}"),
            Self::AhciPort(e) => write!(f, "{e}"),
            Self::UnsupportedSectorSize { location, bytes } => write!(
                f,
                "{location}: sector size {bytes} not supported (only 512 and 4096)"
            ),
        }
    }
}

/// Everything [`probe`] found.
pub struct Probe {
    /// Every PCI function, sorted by address.
    pub pci: Vec<PciDevice>,
    /// The disks that came up.
    pub disks: Vec<Disk>,
    /// The disks that did not, with why.
    pub failed: Vec<(PciAddress, DiskError)>,
}

/// Enumerates PCI, logs what is there, and brings up every virtio block device, then every
/// AHCI controller's SATA disks.
pub fn probe() -> Probe {
    let mut cfg = hal::pci_config();
    let pci = pci::enumerate(&mut cfg);
    for dev in &pci {
        if dev.is_storage() {
            log::info!("pci: {dev}");
        } else {
            log::debug!("pci: {dev}");
        }
    }
    let mut root = PciRoot::new(cfg);
    let mut disks = Vec::new();
    let mut failed = Vec::new();
    for dev in virtio_blk::find_virtio_block_devices(&pci) {
        match open_virtio_block(&mut root, dev) {
            Ok(disk) => {
                log::info!("disk: {disk}");
                disks.push(disk);
            }
            Err(e) => {
                log::error!("disk: {} skipped: {e}", dev.address);
                failed.push((dev.address, e));
            }
        }
    }
    for dev in pci.iter().filter(|d| is_ahci(d)) {
        probe_ahci(dev, &mut disks, &mut failed);
    }
    log::info!(
        "pci: {} functions, {} storage controller(s), {} disk(s) ready, {} failed",
        pci.len(),
        pci.iter().filter(|d| d.is_storage()).count(),
        disks.len(),
        failed.len()
    );
    Probe { pci, disks, failed }
}

fn open_virtio_block(
    root: &mut PciRoot<drivers::pci::PortConfig<crate::arch::port::Ports>>,
    dev: &PciDevice,
) -> Result<Disk, DiskError> {
    for (i, bar) in dev.bars.iter().enumerate() {
        let Some(bar) = bar else { continue };
        if bar.is_memory() && bar.address != 0 && bar.size <= PREMAP_LIMIT {
            mmio::map(bar.address, bar.size).map_err(|error| DiskError::MapBar {
                bar: i,
                phys: bar.address,
                size: bar.size,
                error,
            })?;
        }
    }
    let blk = virtio_blk::open_pci::<KernelHal, _>(root, dev).map_err(DiskError::Virtio)?;
    if !blk.has_flush() {
        log::debug!(
            "disk: {} offers no flush (no write-back cache)",
            dev.address
        );
    }
    Ok(Disk {
        address: dev.address,
        kind: dev.kind_name().unwrap_or("virtio"),
        location: alloc::format!("{}", dev.address),
        model: None,
        device: Box::new(blk),
    })
}

/// Mass storage, SATA, AHCI 1.0 programming interface.
fn is_ahci(dev: &PciDevice) -> bool {
    (dev.class, dev.subclass, dev.prog_if) == (0x01, 0x06, 0x01)
}

/// Brings up the AHCI controller `dev` and every SATA disk on it: disks that work go to
/// `disks`, failures (the controller's, a port's, an unsupported sector size) to `failed`, each
/// logged. Empty ports are logged at debug level, non-disk devices (ATAPI…) at info level.
fn probe_ahci(dev: &PciDevice, disks: &mut Vec<Disk>, failed: &mut Vec<(PciAddress, DiskError)>) {
    let addr = dev.address;
    let mut controller = match open_ahci(dev) {
        Ok(c) => c,
        Err(e) => {
            log::error!("ahci: {addr} skipped: {e}");
            failed.push((addr, e));
            return;
        }
    };
    log::info!(
        "ahci: {addr}: AHCI {}, {} port(s) implemented (PI {:#x}), {} command slots, {}-bit DMA{}",
        controller.version_string(),
        controller.ports_implemented().count_ones(),
        controller.ports_implemented(),
        ahci::proto::hba::command_slots(controller.capabilities()),
        if controller.supports_64bit_dma() {
            64
        } else {
            32
        },
        if controller.handoff_forced() {
            "; taken from a firmware that would not let go"
        } else {
            ""
        }
    );
    for (port, result) in controller.open_ports() {
        let location = alloc::format!("{addr} port {port}");
        match result {
            Ok(disk) => match ahci_disk(addr, location, disk) {
                Ok(disk) => {
                    log::info!("disk: {disk}");
                    disks.push(disk);
                }
                Err(e) => {
                    log::error!("disk: {e}; skipped");
                    failed.push((addr, e));
                }
            },
            Err(e @ PortError::NoDevice { .. }) => log::debug!("ahci: {addr}: {e}"),
            Err(e @ PortError::NotSataDisk { .. }) => log::info!("ahci: {addr}: {e}; skipped"),
            Err(e) => {
                log::error!("ahci: {addr}: {e}; skipped");
                failed.push((addr, DiskError::AhciPort(e)));
            }
        }
    }
}

fn open_ahci(dev: &PciDevice) -> Result<ahci::Controller<KernelAhciHal>, DiskError> {
    let Some(bar) = dev.bars[5].filter(|b| b.is_memory() && b.address != 0 && b.size >= 0x180)
    else {
        return Err(DiskError::NoAbar);
    };
    let mut cfg = hal::pci_config();
    pci::enable(
        &mut cfg,
        dev.address,
        pci::command::MEMORY_SPACE | pci::command::BUS_MASTER,
    );
    let hal = hal::ahci_hal(bar.address, bar.size).map_err(|error| DiskError::MapBar {
        bar: 5,
        phys: bar.address,
        size: bar.size,
        error,
    })?;
    ahci::Controller::init(hal, ahci::Timeouts::default()).map_err(DiskError::Ahci)
}

fn ahci_disk(
    address: PciAddress,
    location: String,
    disk: AhciDisk<KernelAhciHal>,
) -> Result<Disk, DiskError> {
    let info = disk.info();
    let bytes = info.logical_sector_size as usize;
    if bytes != 512 && bytes != 4096 {
        return Err(DiskError::UnsupportedSectorSize { location, bytes });
    }
    if info.physical_sector_size != info.logical_sector_size {
        log::debug!(
            "disk: {location}: {}-byte physical sectors",
            info.physical_sector_size
        );
    }
    Ok(Disk {
        address,
        kind: "ahci",
        location,
        model: Some(info.model.clone()),
        device: Box::new(disk),
    })
}

/// Bytes as hex pairs and printable ASCII, for the log.
fn hex_ascii(bytes: &[u8]) -> String {
    let mut s = String::new();
    for b in bytes {
        let _ = write!(s, "{b:02x} ");
    }
    s.push('|');
    s.extend(bytes.iter().map(|&b| {
        if (0x20..0x7f).contains(&b) {
            b as char
        } else {
            '.'
        }
    }));
    s.push('|');
    s
}

/// How much the `test=disk` throughput measurement reads, and in what request size.
const MEASURE_BYTES: u64 = 16 * 1024 * 1024;
const MEASURE_REQUEST: usize = 64 * 1024;
/// How much the write measurement writes (on disks that are not the image), ending where the
/// pattern area starts.
const MEASURE_WRITE_BYTES: u64 = 4 * 1024 * 1024;
/// The pattern written, flushed and read back at the end of every disk that is not the image.
pub const PATTERN_BYTES: usize = 64 * 1024;
/// The pattern's first 16 bytes; byte `i >= 16` is [`pattern_byte`]`(i)`.
pub const PATTERN_HEADER: &[u8; 16] = b"PANDAGEN-DISKTST";

/// Byte `i` of the `test=disk` write pattern (after its 16-byte header).
pub fn pattern_byte(i: usize) -> u8 {
    (i.wrapping_mul(7) + i / 4096 + 0x5a) as u8
}

/// A throughput sample: bytes moved in microseconds.
#[derive(Clone, Copy, Default)]
struct Rate {
    bytes: u64,
    us: u64,
}

impl Rate {
    fn add(&mut self, other: Rate) {
        self.bytes += other.bytes;
        self.us += other.us;
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.us.max(1);
        let mib_x100 = self.bytes as u128 * 100 * 1_000_000 / (us as u128 * 1024 * 1024);
        write!(
            f,
            "{} KiB in {}.{:03} ms ({}.{:02} MiB/s)",
            self.bytes / 1024,
            us / 1000,
            us % 1000,
            mib_x100 / 100,
            mib_x100 % 100
        )
    }
}

/// What `check_disk` measured.
#[derive(Default)]
struct DiskRates {
    read: Option<Rate>,
    write: Option<Rate>,
}

/// The `test=disk` scenario: probe, then on every disk read block 0 (logging its first 16
/// bytes), check the unaligned-read helper and the 4 KiB adapter against it, and time reading up
/// to 16 MiB in 64 KiB requests. On every writable disk that is not the PANDAGEN image (block 0
/// without the magic) also time writing up to 4 MiB, then write a 64 KiB pattern
/// ([`PATTERN_HEADER`], [`pattern_byte`]) over the last 64 KiB, flush, and read it back. Ends
/// with read and write throughput per controller. True if at least one disk was found, no disk
/// failed to come up and every check passed.
pub fn disk_test() -> bool {
    let probe = probe();
    if probe.disks.is_empty() {
        log::error!("test=disk: no disk found");
        return false;
    }
    let mut ok = probe.failed.is_empty();
    // Per controller: (address, kind, read, write).
    let mut controllers: Vec<(PciAddress, &'static str, Rate, Rate)> = Vec::new();
    for mut disk in probe.disks {
        match check_disk(&mut disk) {
            Ok(rates) => {
                let i = match controllers.iter().position(|c| c.0 == disk.address) {
                    Some(i) => i,
                    None => {
                        controllers.push((
                            disk.address,
                            disk.kind,
                            Rate::default(),
                            Rate::default(),
                        ));
                        controllers.len() - 1
                    }
                };
                if let Some(r) = rates.read {
                    controllers[i].2.add(r);
                }
                if let Some(w) = rates.write {
                    controllers[i].3.add(w);
                }
            }
            Err(e) => {
                log::error!("test=disk: {}: {e}", disk.location);
                ok = false;
            }
        }
    }
    for (address, kind, read, write) in &controllers {
        let write = if write.bytes > 0 {
            alloc::format!("{write}")
        } else {
            String::from("not measured (no writable non-image disk)")
        };
        log::info!("{DISK_THROUGHPUT_START}{address} ({kind}): read {read}; write {write}");
    }
    log::info!(
        "test=disk: {} buffer(s) bounced (not physically contiguous)",
        hal::BOUNCED.load(core::sync::atomic::Ordering::Relaxed)
    );
    ok
}

fn check_disk(disk: &mut Disk) -> Result<DiskRates, String> {
    let loc = disk.location.clone();
    let dev = &mut *disk.device;
    let bs = dev.block_size();
    let mut rates = DiskRates::default();
    let mut block = vec![0u8; bs];
    dev.read_blocks(0, &mut block)
        .map_err(|e| alloc::format!("reading block 0: {e}"))?;
    log::info!("test=disk: {loc} block 0: {}", hex_ascii(&block[..16]));

    let mut few = [0u8; 5];
    read_bytes_at(dev, 3, &mut few).map_err(|e| alloc::format!("read_bytes_at: {e}"))?;
    if few[..] != block[3..8] {
        return Err(alloc::format!("read_bytes_at(3, 5) gave {few:02x?}"));
    }
    let beyond = dev.num_blocks();
    match dev.read_blocks(beyond, &mut block) {
        Err(BlockError::OutOfRange { .. }) => {}
        other => return Err(alloc::format!("reading past the end gave {other:?}")),
    }
    if let Ok(mut big) = Blocks4K::new(&mut *dev) {
        if big.num_blocks() > 0 {
            let mut page = vec![0u8; 4096];
            big.read_blocks(0, &mut page)
                .map_err(|e| alloc::format!("4 KiB block 0: {e}"))?;
            if page[..bs] != block[..] {
                return Err("4 KiB block 0 does not start with block 0".into());
            }
        }
    }

    let capacity = dev.num_blocks() * bs as u64;
    let total = capacity.min(MEASURE_BYTES) / MEASURE_REQUEST as u64 * MEASURE_REQUEST as u64;
    let mut buf = vec![0u8; MEASURE_REQUEST];
    let per_request = (MEASURE_REQUEST / bs) as u64;
    if total > 0 {
        let start = crate::time::uptime_us();
        for i in 0..total / MEASURE_REQUEST as u64 {
            dev.read_blocks(i * per_request, &mut buf)
                .map_err(|e| alloc::format!("throughput read {i}: {e}"))?;
        }
        let rate = Rate {
            bytes: total,
            us: (crate::time::uptime_us() - start).max(1),
        };
        log::info!(
            "test=disk: {loc} read {rate} in {} KiB requests",
            MEASURE_REQUEST / 1024
        );
        rates.read = Some(rate);
    }

    if block.starts_with(&loader::superblock::MAGIC) {
        log::info!("test=disk: {loc} carries the PANDAGEN image: not written");
        return Ok(rates);
    }
    if dev.is_read_only() {
        return match dev.write_blocks(0, &block) {
            Err(BlockError::ReadOnly) => {
                log::info!("test=disk: {loc} is read-only: writes refused as they should be");
                Ok(rates)
            }
            other => Err(alloc::format!("writing a read-only disk gave {other:?}")),
        };
    }
    if capacity < 2 * PATTERN_BYTES as u64 {
        log::info!("test=disk: {loc} is too small for the write test");
        return Ok(rates);
    }
    let pattern_lba = dev.num_blocks() - (PATTERN_BYTES / bs) as u64;

    // Write throughput: up to 4 MiB in 64 KiB requests, ending where the pattern starts.
    let room = capacity - PATTERN_BYTES as u64;
    let wtotal = room.min(MEASURE_WRITE_BYTES) / MEASURE_REQUEST as u64 * MEASURE_REQUEST as u64;
    if wtotal > 0 {
        let first = pattern_lba - wtotal / bs as u64;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8) ^ 0xa5;
        }
        let start = crate::time::uptime_us();
        for i in 0..wtotal / MEASURE_REQUEST as u64 {
            dev.write_blocks(first + i * per_request, &buf)
                .map_err(|e| alloc::format!("throughput write {i}: {e}"))?;
        }
        let rate = Rate {
            bytes: wtotal,
            us: (crate::time::uptime_us() - start).max(1),
        };
        log::info!(
            "test=disk: {loc} wrote {rate} in {} KiB requests at LBA {first}",
            MEASURE_REQUEST / 1024
        );
        rates.write = Some(rate);
    }

    // The pattern: write, flush, read back.
    let mut pattern: Vec<u8> = (0..PATTERN_BYTES).map(pattern_byte).collect();
    pattern[..16].copy_from_slice(PATTERN_HEADER);
    dev.write_blocks(pattern_lba, &pattern)
        .map_err(|e| alloc::format!("writing the pattern at LBA {pattern_lba}: {e}"))?;
    let start = crate::time::uptime_us();
    dev.flush().map_err(|e| alloc::format!("flush: {e}"))?;
    let flush_us = crate::time::uptime_us() - start;
    let mut back = vec![0u8; PATTERN_BYTES];
    dev.read_blocks(pattern_lba, &mut back)
        .map_err(|e| alloc::format!("reading the pattern back: {e}"))?;
    if back != pattern {
        let at = back
            .iter()
            .zip(&pattern)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(alloc::format!(
            "pattern read back differs at byte {at} (LBA {pattern_lba})"
        ));
    }
    log::info!(
        "{DISK_TEST_START}{loc} wrote, flushed ({}.{:03} ms) and read back the {}{DISK_PATTERN_MIDDLE}{pattern_lba} (last {} KiB){DISK_PATTERN_END}",
        flush_us / 1000,
        flush_us % 1000,
        PATTERN_BYTES / 1024,
        PATTERN_BYTES / 1024
    );
    Ok(rates)
}
