//! Devices: PCI discovery and disks (virtio-blk, AHCI/SATA, NVMe), on top of the `drivers` crate;
//! the network cards are [`net`]'s.
//!
//! [`probe`] is the boot path's entry point: it enumerates PCI (every function logged at debug
//! level, storage controllers at info level), brings up the disks of every function a driver in
//! [`DISK_DRIVERS`] takes — every virtio block device, then every SATA disk on every AHCI
//! controller (class 01:06:01), then every namespace of every NVMe controller (01:08:02) — and returns the PCI functions (the boot path looks for network
//! devices among them) and the disks that work, virtio first, each as a [`Disk`] with its kind
//! and location. A controller, port or device that fails is logged with its location and why,
//! and skipped; a disk whose logical sector size is neither 512 nor 4096 is logged ("sector size
//! N not supported") and reported in [`Probe::failed`], never used. Nothing here panics on a
//! device's behaviour.

pub mod hal;
pub mod net;
pub mod ps2;
pub mod usb_input;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use drivers::ahci::{self, AhciDisk, AhciError, PortError};
use drivers::block::BlockDevice;
use drivers::ide;
use drivers::nvme::{self, NamespaceError, NvmeError};
use drivers::pci::{self, PciAddress, PciDevice};
use drivers::usb;
use drivers::virtio_blk::{self, PciRoot, VirtioBlockError};

pub use hal::{KernelHal, KernelMmioDmaHal};

/// Switches every keyboard (PS/2 and USB, those found later too) to `layout`.
pub fn set_keyboard_layout(layout: drivers::ps2::Layout) {
    ps2::set_layout(layout);
    usb_input::set_layout(layout);
}

use crate::memory::mmio::{self, MmioError};

/// BARs up to this size are mapped before the virtio transport asks for them, so that a mapping
/// failure is an error here rather than a panic inside the HAL.
pub(crate) const PREMAP_LIMIT: u64 = 16 * 1024 * 1024;

/// What kind of disk a [`Disk`] is (its driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskKind {
    /// A virtio block device.
    VirtioBlk,
    /// A SATA disk on an AHCI port.
    Ahci,
    /// A namespace of an NVMe controller.
    Nvme,
    /// An ATA disk on an IDE (PIIX) controller.
    Ide,
    /// A USB mass storage device (Bulk-Only Transport) behind an xHCI controller.
    UsbMsc,
    /// The system image the boot loader loaded as a module, in RAM.
    BootModule,
}

impl fmt::Display for DiskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::VirtioBlk => "virtio-blk",
            Self::Ahci => "ahci",
            Self::Nvme => "nvme",
            Self::Ide => "ide",
            Self::UsbMsc => "usb-msc",
            Self::BootModule => "boot module (RAM)",
        })
    }
}

/// A disk found by [`probe`].
pub struct Disk {
    /// The PCI function of its controller (the virtio device itself, or the AHCI HBA).
    pub address: PciAddress,
    /// What it is.
    pub kind: DiskKind,
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
    /// An NVMe controller has no usable memory BAR0.
    NoNvmeBar,
    /// An NVMe controller failed to come up.
    Nvme(NvmeError),
    /// A namespace of an NVMe controller failed to give a disk.
    NvmeNamespace(NamespaceError),
    /// A drive on an IDE controller failed to give a disk.
    Ide(ide::ProbeError),
    /// An xHCI controller has no usable memory BAR0.
    NoXhciBar,
    /// An xHCI controller failed to come up.
    Xhci(usb::xhci::XhciError),
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
            Self::NoNvmeBar => write!(f, "NVMe controller without a memory BAR0"),
            Self::Nvme(e) => write!(f, "{e}"),
            Self::NvmeNamespace(e) => write!(f, "{e}"),
            Self::Ide(e) => write!(f, "{e}"),
            Self::NoXhciBar => write!(f, "xHCI controller without a memory BAR0"),
            Self::Xhci(e) => write!(f, "{e}"),
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
    pub failed: Failures,
}

/// The PCI configuration access the disk drivers share.
pub type PciConfig = pci::PortConfig<crate::arch::port::Ports>;

/// Disks that did not come up: their controller's address and why.
pub type Failures = Vec<(PciAddress, DiskError)>;

/// A disk driver: which PCI functions it takes, and how it brings up the disks behind one.
pub struct DiskDriver {
    /// The driver's name (what docs and lists of drivers call it).
    pub name: &'static str,
    /// Whether the driver takes this PCI function.
    pub matches: fn(&PciDevice) -> bool,
    /// Brings up the disks behind a function the driver takes: those that work go to the
    /// `Vec<Disk>`, failures to [`Failures`], each logged with its location and why.
    pub probe: fn(&PciDevice, &mut PciRoot<PciConfig>, &mut Vec<Disk>, &mut Failures),
}

/// The disk drivers, in probe order: [`probe`] gives every PCI function (in address order) to
/// the first driver, then to the next, and so on, so disks are listed driver by driver. A new
/// controller type is one entry here and one function (or module) behind it.
pub const DISK_DRIVERS: &[DiskDriver] = &[
    DiskDriver {
        name: "virtio-blk",
        matches: PciDevice::is_virtio_block,
        probe: probe_virtio_block,
    },
    DiskDriver {
        name: "ahci",
        matches: ahci::is_ahci_function,
        probe: probe_ahci,
    },
    DiskDriver {
        name: "nvme",
        matches: nvme::is_nvme_function,
        probe: probe_nvme,
    },
    DiskDriver {
        name: "ide",
        matches: ide::is_ide_function,
        probe: probe_ide,
    },
    DiskDriver {
        name: "usb-msc",
        matches: usb::is_xhci_function,
        probe: probe_xhci,
    },
];

/// Enumerates PCI, logs what is there, and brings up the disks of every function a driver in
/// [`DISK_DRIVERS`] takes, driver by driver (virtio block devices, then AHCI controllers).
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
    for driver in DISK_DRIVERS {
        for dev in pci.iter().filter(|d| (driver.matches)(d)) {
            (driver.probe)(dev, &mut root, &mut disks, &mut failed);
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

/// Brings up the virtio block device `dev`.
fn probe_virtio_block(
    dev: &PciDevice,
    root: &mut PciRoot<PciConfig>,
    disks: &mut Vec<Disk>,
    failed: &mut Failures,
) {
    match open_virtio_block(root, dev) {
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

fn open_virtio_block(root: &mut PciRoot<PciConfig>, dev: &PciDevice) -> Result<Disk, DiskError> {
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
        kind: DiskKind::VirtioBlk,
        location: alloc::format!("{}", dev.address),
        model: None,
        device: Box::new(blk),
    })
}

/// Brings up the AHCI controller `dev` and every SATA disk on it: disks that work go to
/// `disks`, failures (the controller's, a port's, an unsupported sector size) to `failed`, each
/// logged. Empty ports are logged at debug level, non-disk devices (ATAPI…) at info level.
fn probe_ahci(
    dev: &PciDevice,
    _root: &mut PciRoot<PciConfig>,
    disks: &mut Vec<Disk>,
    failed: &mut Failures,
) {
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

fn open_ahci(dev: &PciDevice) -> Result<ahci::Controller<KernelMmioDmaHal>, DiskError> {
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
    disk: AhciDisk<KernelMmioDmaHal>,
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
        kind: DiskKind::Ahci,
        location,
        model: Some(info.model.clone()),
        device: Box::new(disk),
    })
}

/// Brings up the NVMe controller `dev` and every active namespace on it: namespaces that work
/// go to `disks`, failures (the controller's, a namespace's) to `failed`, each logged.
fn probe_nvme(
    dev: &PciDevice,
    _root: &mut PciRoot<PciConfig>,
    disks: &mut Vec<Disk>,
    failed: &mut Failures,
) {
    let addr = dev.address;
    let mut controller = match open_nvme(dev) {
        Ok(c) => c,
        Err(e) => {
            log::error!("nvme: {addr} skipped: {e}");
            failed.push((addr, e));
            return;
        }
    };
    let info = controller.info();
    log::info!(
        "nvme: {addr}: NVMe {}, \"{}\" serial {} firmware {}, {} namespace(s)",
        controller.version_string(),
        info.model,
        info.serial,
        info.firmware,
        controller.namespaces().len()
    );
    let model = Some(info.model.clone());
    for (nsid, result) in controller.open_namespaces() {
        let location = alloc::format!("{addr} namespace {nsid}");
        match result {
            Ok(disk) => {
                let disk = Disk {
                    address: addr,
                    kind: DiskKind::Nvme,
                    location,
                    model: model.clone(),
                    device: Box::new(disk),
                };
                log::info!("disk: {disk}");
                disks.push(disk);
            }
            Err(e) => {
                log::error!("nvme: {location}: {e}; skipped");
                failed.push((addr, DiskError::NvmeNamespace(e)));
            }
        }
    }
}

fn open_nvme(dev: &PciDevice) -> Result<nvme::Controller<KernelMmioDmaHal>, DiskError> {
    let Some(bar) = dev.bars[0].filter(|b| b.is_memory() && b.address != 0 && b.size >= 0x2000)
    else {
        return Err(DiskError::NoNvmeBar);
    };
    let mut cfg = hal::pci_config();
    pci::enable(
        &mut cfg,
        dev.address,
        pci::command::MEMORY_SPACE | pci::command::BUS_MASTER,
    );
    let hal = hal::nvme_hal(bar.address, bar.size).map_err(|error| DiskError::MapBar {
        bar: 0,
        phys: bar.address,
        size: bar.size,
        error,
    })?;
    nvme::Controller::init(hal, nvme::Timeouts::default()).map_err(DiskError::Nvme)
}

/// Brings up the IDE controller `dev` and the ATA disks on its two channels: disks that work go
/// to `disks`, failures to `failed`, each logged; absent drives at debug level, ATAPI and other
/// non-disks at info level.
fn probe_ide(
    dev: &PciDevice,
    _root: &mut PciRoot<PciConfig>,
    disks: &mut Vec<Disk>,
    failed: &mut Failures,
) {
    let addr = dev.address;
    let ports = ide::ControllerPorts::from_pci(dev.prog_if, &dev.bars);
    log::info!("ide: {addr}: {ports}");
    pci::enable(
        &mut hal::pci_config(),
        addr,
        pci::command::IO_SPACE | pci::command::BUS_MASTER,
    );
    let controller = ide::Controller::new(hal::ide_hal(), ports, ide::Timeouts::default());
    for result in controller.probe() {
        match result {
            Ok(disk) => {
                let disk_mode = disk.transfer_mode();
                let disk = Disk {
                    address: addr,
                    kind: DiskKind::Ide,
                    location: alloc::format!("{addr} {}", disk.location()),
                    model: Some(disk.info().model.clone()),
                    device: Box::new(disk),
                };
                log::info!("disk: {disk}; {disk_mode}");
                disks.push(disk);
            }
            Err(e) if e.is_absent() => log::debug!("ide: {addr}: {e}"),
            Err(e) if e.is_skipped() => log::info!("ide: {addr}: {e}"),
            Err(e) => {
                log::error!("ide: {addr}: {e}; skipped");
                failed.push((addr, DiskError::Ide(e)));
            }
        }
    }
}

/// Brings up the xHCI controller `dev`, enumerates the devices on its ports (logging each) and
/// opens the USB mass storage devices among them: disks go to `disks`; a controller that fails
/// goes to `failed`. Devices that are not storage (keyboards…) are logged and left configured.
fn probe_xhci(
    dev: &PciDevice,
    _root: &mut PciRoot<PciConfig>,
    disks: &mut Vec<Disk>,
    failed: &mut Failures,
) {
    let addr = dev.address;
    let report = match open_xhci(dev) {
        Ok(r) => r,
        Err(e) => {
            log::error!("usb: {addr} skipped: {e}");
            failed.push((addr, e));
            return;
        }
    };
    if report.ports.is_empty() {
        log::info!("usb: {addr}: xHCI up, no device connected");
    }
    for port in &report.ports {
        log::info!("usb: {addr} {port}");
    }
    usb_input::register(addr, &report.controller, &report.ports);
    for found in report.disks {
        let disk = Disk {
            address: addr,
            kind: DiskKind::UsbMsc,
            location: alloc::format!("{addr} {}", found.location),
            model: Some(found.model),
            device: Box::new(found.disk),
        };
        log::info!("disk: {disk}");
        disks.push(disk);
    }
}

fn open_xhci(dev: &PciDevice) -> Result<usb::ProbeReport<KernelMmioDmaHal>, DiskError> {
    let Some(bar) = dev.bars[0].filter(|b| b.is_memory() && b.address != 0 && b.size >= 0x1000)
    else {
        return Err(DiskError::NoXhciBar);
    };
    pci::enable(
        &mut hal::pci_config(),
        dev.address,
        pci::command::MEMORY_SPACE | pci::command::BUS_MASTER,
    );
    let hal = hal::xhci_hal(bar.address, bar.size).map_err(|error| DiskError::MapBar {
        bar: 0,
        phys: bar.address,
        size: bar.size,
        error,
    })?;
    usb::probe(
        hal,
        usb::xhci::Timeouts::default(),
        usb::msc::MscTimeouts::default(),
    )
    .map_err(DiskError::Xhci)
}
