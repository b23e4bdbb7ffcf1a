//! Devices: PCI discovery and disks (virtio-blk), on top of the `drivers` crate.
//!
//! [`probe_block_devices`] is the boot path's entry point: it enumerates PCI (every function
//! logged at debug level, storage controllers at info level), brings up every virtio block
//! device and returns the ones that work. A device that fails is logged with its PCI address
//! and skipped; nothing here panics on a device's behaviour.

pub mod hal;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use drivers::block::{read_bytes_at, BlockDevice, BlockError, Blocks4K};
use drivers::pci::{self, PciAddress, PciDevice};
use drivers::virtio_blk::{self, PciRoot, VirtioBlockError};

pub use hal::KernelHal;

use crate::memory::mmio::{self, MmioError};

/// BARs up to this size are mapped before the virtio transport asks for them, so that a mapping
/// failure is an error here rather than a panic inside the HAL.
const PREMAP_LIMIT: u64 = 16 * 1024 * 1024;

/// A disk found by [`probe_block_devices`].
pub struct Disk {
    /// Where it sits on PCI.
    pub address: PciAddress,
    /// What it is, for the log (e.g. `"virtio-blk"`).
    pub kind: &'static str,
    /// The device, in its native block size (512 bytes for virtio-blk).
    pub device: Box<dyn BlockDevice + Send>,
}

impl fmt::Display for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.device.num_blocks() * self.device.block_size() as u64;
        write!(
            f,
            "{} {}: {} blocks of {} bytes ({} KiB){}",
            self.address,
            self.kind,
            self.device.num_blocks(),
            self.device.block_size(),
            bytes / 1024,
            if self.device.is_read_only() {
                ", read-only"
            } else {
                ""
            }
        )
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

/// Enumerates PCI, logs what is there, and brings up every virtio block device.
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
    log::info!(
        "pci: {} functions, {} storage controller(s), {} disk(s) ready, {} failed",
        pci.len(),
        pci.iter().filter(|d| d.is_storage()).count(),
        disks.len(),
        failed.len()
    );
    Probe { pci, disks, failed }
}

/// The boot path's entry point: [`probe`], keeping only the disks that came up (failures are
/// logged with their PCI address).
pub fn probe_block_devices() -> Vec<Disk> {
    probe().disks
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
    Ok(Disk {
        address: dev.address,
        kind: dev.kind_name().unwrap_or("virtio"),
        device: Box::new(blk),
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

/// The `test=disk` scenario: probe, then on every disk read block 0 (logging its first 16
/// bytes), check the unaligned-read helper and the 4 KiB adapter against it, and time reading up
/// to 16 MiB in 64 KiB requests. True if at least one disk was found and every check passed.
pub fn disk_test() -> bool {
    let probe = probe();
    if probe.disks.is_empty() {
        log::error!("test=disk: no disk found");
        return false;
    }
    let mut ok = probe.failed.is_empty();
    for mut disk in probe.disks {
        if let Err(e) = check_disk(&mut disk) {
            log::error!("test=disk: {}: {e}", disk.address);
            ok = false;
        }
    }
    log::info!(
        "test=disk: {} buffer(s) bounced (not physically contiguous)",
        hal::BOUNCED.load(core::sync::atomic::Ordering::Relaxed)
    );
    ok
}

fn check_disk(disk: &mut Disk) -> Result<(), String> {
    let addr = disk.address;
    let dev = &mut *disk.device;
    let bs = dev.block_size();
    let mut block = vec![0u8; bs];
    dev.read_blocks(0, &mut block)
        .map_err(|e| alloc::format!("reading block 0: {e}"))?;
    log::info!("test=disk: {addr} block 0: {}", hex_ascii(&block[..16]));

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
    if total == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; MEASURE_REQUEST];
    let per_request = (MEASURE_REQUEST / bs) as u64;
    let start = crate::time::uptime_us();
    for i in 0..total / MEASURE_REQUEST as u64 {
        dev.read_blocks(i * per_request, &mut buf)
            .map_err(|e| alloc::format!("throughput read {i}: {e}"))?;
    }
    let us = (crate::time::uptime_us() - start).max(1);
    let kib_per_s = total / 1024 * 1_000_000 / us;
    log::info!(
        "test=disk: {addr} read {} KiB in {}.{:03} ms ({}.{:02} MiB/s) in {} KiB requests",
        total / 1024,
        us / 1000,
        us % 1000,
        kib_per_s / 1024,
        kib_per_s % 1024 * 100 / 1024,
        MEASURE_REQUEST / 1024
    );
    Ok(())
}
