//! PCI enumeration over configuration mechanism #1 (ports `0xCF8`/`0xCFC`), which every x86 PC
//! chipset QEMU models (q35 and i440fx) provides; no ECAM (MMCONFIG) mapping is needed.
//!
//! [`enumerate`] walks bus 0, follows PCI-to-PCI bridges to their secondary buses, honours the
//! multi-function bit, and stops probing a device at vendor `0xFFFF`, so it costs a few hundred
//! port accesses on a QEMU machine instead of the 65 536 a brute-force scan would make. For each
//! function it reads the identity, class, header type, BARs (sizes probed with decoding
//! disabled, 32/64-bit memory and I/O) and the capabilities list.

use alloc::vec::Vec;
use core::fmt;

use crate::hal::PortIo;

/// The configuration-address port of mechanism #1.
pub const CONFIG_ADDRESS: u16 = 0xcf8;
/// The configuration-data port of mechanism #1.
pub const CONFIG_DATA: u16 = 0xcfc;

/// Configuration-space register offsets (PCI Local Bus 3.0, 6.1).
pub mod reg {
    pub const VENDOR_DEVICE: u8 = 0x00;
    pub const COMMAND_STATUS: u8 = 0x04;
    pub const CLASS_REVISION: u8 = 0x08;
    pub const HEADER_TYPE_DWORD: u8 = 0x0c;
    pub const BAR0: u8 = 0x10;
    /// Type 1 (bridge) header: primary, secondary and subordinate bus numbers.
    pub const BRIDGE_BUSES: u8 = 0x18;
    pub const CAPABILITIES_POINTER: u8 = 0x34;
    /// Type 2 (CardBus) header: the capabilities pointer lives elsewhere.
    pub const CARDBUS_CAPABILITIES_POINTER: u8 = 0x14;
    pub const INTERRUPT: u8 = 0x3c;
}

/// Command-register bits.
pub mod command {
    pub const IO_SPACE: u16 = 1 << 0;
    pub const MEMORY_SPACE: u16 = 1 << 1;
    pub const BUS_MASTER: u16 = 1 << 2;
}

/// Status-register bit: the function has a capabilities list.
const STATUS_CAPABILITIES: u16 = 1 << 4;
/// Header-type bit: the device has more than one function.
const MULTIFUNCTION: u8 = 0x80;
/// At most this many capabilities are followed (the 192 bytes after the header hold at most 48),
/// so a looping list cannot hang enumeration.
pub const MAX_CAPABILITIES: usize = 48;

/// A bus/device/function address, shown as `bb:dd.f` (hex, hex, decimal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    pub bus: u8,
    /// 0..=31.
    pub device: u8,
    /// 0..=7.
    pub function: u8,
}

impl PciAddress {
    pub const fn new(bus: u8, device: u8, function: u8) -> Self {
        Self {
            bus,
            device,
            function,
        }
    }

    /// The mechanism #1 address for dword register `offset` (its low two bits are ignored).
    pub fn config_address(self, offset: u8) -> u32 {
        0x8000_0000
            | u32::from(self.bus) << 16
            | u32::from(self.device & 0x1f) << 11
            | u32::from(self.function & 0x7) << 8
            | u32::from(offset & 0xfc)
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

impl From<PciAddress> for virtio_drivers::transport::pci::bus::DeviceFunction {
    fn from(a: PciAddress) -> Self {
        Self {
            bus: a.bus,
            device: a.device,
            function: a.function,
        }
    }
}

/// Access to the 256-byte configuration space of every function. Offsets are byte offsets of
/// dword registers; implementations ignore their low two bits. A function that does not exist
/// reads as all ones (so vendor `0xFFFF`).
pub trait ConfigSpace {
    /// Reads the dword register at `offset` of `addr`.
    fn read32(&mut self, addr: PciAddress, offset: u8) -> u32;
    /// Writes the dword register at `offset` of `addr`.
    fn write32(&mut self, addr: PciAddress, offset: u8, value: u32);

    /// Reads the 16-bit register at `offset` (2-aligned) through its dword.
    fn read16(&mut self, addr: PciAddress, offset: u8) -> u16 {
        (self.read32(addr, offset) >> ((offset & 2) * 8)) as u16
    }

    /// Reads the byte register at `offset` through its dword.
    fn read8(&mut self, addr: PciAddress, offset: u8) -> u8 {
        (self.read32(addr, offset) >> ((offset & 3) * 8)) as u8
    }
}

impl<C: ConfigSpace + ?Sized> ConfigSpace for &mut C {
    fn read32(&mut self, addr: PciAddress, offset: u8) -> u32 {
        (**self).read32(addr, offset)
    }
    fn write32(&mut self, addr: PciAddress, offset: u8, value: u32) {
        (**self).write32(addr, offset, value)
    }
}

/// Configuration mechanism #1 over port I/O: write the address to `0xCF8`, then read or write
/// the dword at `0xCFC`. The two steps are not atomic: one `PortConfig` (or clones of it) must
/// be used by one CPU at a time with nothing else touching `0xCF8` in between (true in the
/// kernel today: one CPU, no interrupt handler uses PCI).
#[derive(Clone, Debug)]
pub struct PortConfig<P> {
    ports: P,
}

impl<P: PortIo> PortConfig<P> {
    pub fn new(ports: P) -> Self {
        Self { ports }
    }
}

impl<P: PortIo> ConfigSpace for PortConfig<P> {
    fn read32(&mut self, addr: PciAddress, offset: u8) -> u32 {
        self.ports
            .write32(CONFIG_ADDRESS, addr.config_address(offset));
        self.ports.read32(CONFIG_DATA)
    }

    fn write32(&mut self, addr: PciAddress, offset: u8, value: u32) {
        self.ports
            .write32(CONFIG_ADDRESS, addr.config_address(offset));
        self.ports.write32(CONFIG_DATA, value);
    }
}

/// Lets `virtio-drivers`' `PciRoot` (and so its `PciTransport`) use mechanism #1. Each call
/// works on a clone of the port handle, hence `P: Clone` (the kernel's handle is a zero-sized
/// token).
impl<P: PortIo + Clone> virtio_drivers::transport::pci::bus::ConfigurationAccess for PortConfig<P> {
    fn read_word(
        &self,
        device_function: virtio_drivers::transport::pci::bus::DeviceFunction,
        register_offset: u8,
    ) -> u32 {
        let addr = PciAddress::new(
            device_function.bus,
            device_function.device,
            device_function.function,
        );
        PortConfig::new(self.ports.clone()).read32(addr, register_offset)
    }

    fn write_word(
        &mut self,
        device_function: virtio_drivers::transport::pci::bus::DeviceFunction,
        register_offset: u8,
        data: u32,
    ) {
        let addr = PciAddress::new(
            device_function.bus,
            device_function.device,
            device_function.function,
        );
        ConfigSpace::write32(self, addr, register_offset, data)
    }

    /// Clones the port handle. The trait's contract (the clone only reads read-only registers)
    /// is `virtio-drivers`' to keep; for mechanism #1 a clone is just another handle to the same
    /// two ports, with the single-user rule of [`PortConfig`].
    unsafe fn unsafe_clone(&self) -> Self {
        self.clone()
    }
}

/// The layout of a function's configuration header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderType {
    /// Type 0: an endpoint, 6 BARs.
    Standard,
    /// Type 1: a PCI-to-PCI bridge, 2 BARs.
    PciBridge,
    /// Type 2: a CardBus bridge.
    CardBusBridge,
    /// Anything else (the BARs are not read).
    Unknown(u8),
}

impl HeaderType {
    fn from_bits(bits: u8) -> Self {
        match bits & !MULTIFUNCTION {
            0 => Self::Standard,
            1 => Self::PciBridge,
            2 => Self::CardBusBridge,
            other => Self::Unknown(other),
        }
    }

    /// How many BARs this header has.
    pub fn bar_count(self) -> usize {
        match self {
            Self::Standard => 6,
            Self::PciBridge => 2,
            Self::CardBusBridge | Self::Unknown(_) => 0,
        }
    }
}

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// I/O ports.
    Io,
    /// Memory below 4 GiB.
    Memory32,
    /// Memory below 1 MiB (legacy type 01b).
    Memory1M,
    /// Memory anywhere in the 64-bit space; the BAR uses this slot and the next.
    Memory64,
}

/// One base address register, sizes probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    pub kind: BarKind,
    /// The base the firmware assigned (0 if unassigned).
    pub address: u64,
    /// The size of the decoded range in bytes (a power of two).
    pub size: u64,
    /// Memory BARs: reads have no side effects (may be mapped write-combining).
    pub prefetchable: bool,
}

impl Bar {
    pub fn is_memory(&self) -> bool {
        self.kind != BarKind::Io
    }
}

impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            BarKind::Io => "io",
            BarKind::Memory32 => "mem32",
            BarKind::Memory1M => "mem1m",
            BarKind::Memory64 => "mem64",
        };
        let pf = if self.prefetchable { " pf" } else { "" };
        write!(f, "{kind}{pf} {:#x} {}", self.address, Size(self.size))
    }
}

/// A byte count shown with a binary unit when it divides evenly.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n >= 1 << shift && n.is_multiple_of(1 << shift) {
                return write!(f, "{} {unit}", n >> shift);
            }
        }
        write!(f, "{n} B")
    }
}

/// One entry of a function's capabilities list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// The capability ID (e.g. `0x09` vendor-specific, `0x11` MSI-X).
    pub id: u8,
    /// Where it starts in configuration space.
    pub offset: u8,
}

impl Capability {
    pub const POWER_MANAGEMENT: u8 = 0x01;
    pub const MSI: u8 = 0x05;
    pub const VENDOR: u8 = 0x09;
    pub const PCI_EXPRESS: u8 = 0x10;
    pub const MSI_X: u8 = 0x11;
    pub const SATA: u8 = 0x12;

    /// A short name for the log.
    pub fn name(&self) -> Option<&'static str> {
        Some(match self.id {
            Self::POWER_MANAGEMENT => "pm",
            Self::MSI => "msi",
            Self::VENDOR => "vendor",
            Self::PCI_EXPRESS => "pcie",
            Self::MSI_X => "msix",
            Self::SATA => "sata",
            _ => return None,
        })
    }
}

/// The PCI vendor ID of virtio devices (Red Hat / Qumranet).
pub const VIRTIO_VENDOR: u16 = 0x1af4;

/// One PCI function, as found by [`enumerate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDevice {
    pub address: PciAddress,
    pub vendor_id: u16,
    pub device_id: u16,
    pub revision: u8,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub header_type: HeaderType,
    /// Function 0's multi-function bit (set on every function of such a device).
    pub multifunction: bool,
    /// `bars[i]` is BAR *i*; `None` for an unimplemented BAR and for the upper half of a 64-bit
    /// BAR.
    pub bars: [Option<Bar>; 6],
    pub capabilities: Vec<Capability>,
    /// The legacy interrupt line (as the firmware routed it) and pin (0 = none, 1 = INTA#).
    pub interrupt_line: u8,
    pub interrupt_pin: u8,
    /// Bridges: the bus behind it.
    pub secondary_bus: Option<u8>,
}

impl PciDevice {
    /// Mass-storage class (`0x01`): IDE, SATA, NVMe, virtio-blk…
    pub fn is_storage(&self) -> bool {
        self.class == 0x01
    }

    /// Whether this is a virtio block device (transitional `0x1001` or modern `0x1042`).
    pub fn is_virtio_block(&self) -> bool {
        self.vendor_id == VIRTIO_VENDOR && matches!(self.device_id, 0x1001 | 0x1042)
    }

    /// The capability with `id`, if listed.
    pub fn capability(&self, id: u8) -> Option<Capability> {
        self.capabilities.iter().copied().find(|c| c.id == id)
    }

    /// The class's name, e.g. `"mass storage"`.
    pub fn class_name(&self) -> &'static str {
        match self.class {
            0x00 => "unclassified",
            0x01 => "mass storage",
            0x02 => "network",
            0x03 => "display",
            0x04 => "multimedia",
            0x05 => "memory",
            0x06 => "bridge",
            0x07 => "communication",
            0x08 => "system peripheral",
            0x09 => "input",
            0x0c => "serial bus",
            0x0d => "wireless",
            0xff => "vendor-specific",
            _ => "other",
        }
    }

    /// A more precise name when one is known, e.g. `"virtio-blk"`, `"AHCI"`, `"PCI bridge"`.
    pub fn kind_name(&self) -> Option<&'static str> {
        if self.vendor_id == VIRTIO_VENDOR {
            let name = match self.device_id {
                0x1000 | 0x1041 => "virtio-net",
                0x1001 | 0x1042 => "virtio-blk",
                0x1002 | 0x1045 => "virtio-balloon",
                0x1003 | 0x1043 => "virtio-console",
                0x1004 | 0x1048 => "virtio-scsi",
                0x1005 | 0x1044 => "virtio-rng",
                0x1009 | 0x1049 => "virtio-9p",
                0x1050 => "virtio-gpu",
                0x1052 => "virtio-input",
                0x1053 => "virtio-vsock",
                _ => "virtio",
            };
            return Some(name);
        }
        Some(match (self.class, self.subclass, self.prog_if) {
            (0x01, 0x00, _) => "SCSI",
            (0x01, 0x01, _) => "IDE",
            (0x01, 0x05, _) => "ATA",
            (0x01, 0x06, 0x01) => "AHCI",
            (0x01, 0x06, _) => "SATA",
            (0x01, 0x08, 0x02) => "NVMe",
            (0x01, 0x08, _) => "NVM",
            (0x02, 0x00, _) => "Ethernet",
            (0x03, 0x00, _) => "VGA",
            (0x06, 0x00, _) => "host bridge",
            (0x06, 0x01, _) => "ISA bridge",
            (0x06, 0x04, _) => "PCI bridge",
            (0x0c, 0x03, 0x30) => "xHCI",
            (0x0c, 0x05, _) => "SMBus",
            _ => return None,
        })
    }
}

impl fmt::Display for PciDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:04x}:{:04x} {}",
            self.address,
            self.vendor_id,
            self.device_id,
            self.class_name()
        )?;
        match self.kind_name() {
            Some(name) => write!(f, " ({name})")?,
            None => write!(
                f,
                " ({:02x}.{:02x}.{:02x})",
                self.class, self.subclass, self.prog_if
            )?,
        }
        for (i, bar) in self.bars.iter().enumerate() {
            if let Some(bar) = bar {
                write!(f, " BAR{i} {bar}")?;
            }
        }
        if let Some(bus) = self.secondary_bus {
            write!(f, " -> bus {bus:02x}")?;
        }
        if !self.capabilities.is_empty() {
            write!(f, " caps")?;
            for (i, cap) in self.capabilities.iter().enumerate() {
                let sep = if i == 0 { " " } else { "," };
                match cap.name() {
                    Some(name) => write!(f, "{sep}{name}")?,
                    None => write!(f, "{sep}{:#04x}", cap.id)?,
                }
            }
        }
        Ok(())
    }
}

/// Finds every function reachable from bus 0, sorted by address. Multiple host bridges (a
/// multi-function 00:00.0) are scanned as buses 0..=7; bridges are followed to their secondary
/// bus, each bus at most once.
pub fn enumerate<C: ConfigSpace>(cfg: &mut C) -> Vec<PciDevice> {
    let mut devices = Vec::new();
    let mut seen = [false; 256];
    let mut pending: Vec<u8> = Vec::new();
    let host = PciAddress::new(0, 0, 0);
    let multiple_roots = vendor(cfg, host) != 0xffff
        && cfg.read8(host, reg::HEADER_TYPE_DWORD + 2) & MULTIFUNCTION != 0;
    if multiple_roots {
        // Each function of the host bridge is the root of the bus of the same number.
        for function in (0..8u8).rev() {
            if vendor(cfg, PciAddress::new(0, 0, function)) != 0xffff {
                pending.push(function);
            }
        }
    } else {
        pending.push(0);
    }
    while let Some(bus) = pending.pop() {
        if core::mem::replace(&mut seen[usize::from(bus)], true) {
            continue;
        }
        for device in 0..32u8 {
            let first = PciAddress::new(bus, device, 0);
            if vendor(cfg, first) == 0xffff {
                continue;
            }
            let multifunction = cfg.read8(first, reg::HEADER_TYPE_DWORD + 2) & MULTIFUNCTION != 0;
            let functions = if multifunction { 8 } else { 1 };
            for function in 0..functions {
                let addr = PciAddress::new(bus, device, function);
                if function > 0 && vendor(cfg, addr) == 0xffff {
                    continue;
                }
                let dev = probe_function(cfg, addr, multifunction);
                if let Some(secondary) = dev.secondary_bus {
                    if secondary != 0 && !seen[usize::from(secondary)] {
                        pending.push(secondary);
                    }
                }
                devices.push(dev);
            }
        }
    }
    devices.sort_by_key(|d| d.address);
    devices
}

fn vendor<C: ConfigSpace>(cfg: &mut C, addr: PciAddress) -> u16 {
    cfg.read16(addr, reg::VENDOR_DEVICE)
}

/// Reads everything [`PciDevice`] holds about the (present) function at `addr`.
pub fn probe_function<C: ConfigSpace>(
    cfg: &mut C,
    addr: PciAddress,
    multifunction: bool,
) -> PciDevice {
    let id = cfg.read32(addr, reg::VENDOR_DEVICE);
    let class = cfg.read32(addr, reg::CLASS_REVISION);
    let header_type = HeaderType::from_bits(cfg.read8(addr, reg::HEADER_TYPE_DWORD + 2));
    let (class_code, subclass) = ((class >> 24) as u8, (class >> 16) as u8);
    let interrupt = cfg.read32(addr, reg::INTERRUPT);
    let secondary_bus =
        (header_type == HeaderType::PciBridge).then(|| cfg.read8(addr, reg::BRIDGE_BUSES + 1));
    // Disabling decode on a host bridge can cut the CPU off from memory (Linux never does it).
    let host_bridge = class_code == 0x06 && subclass == 0x00;
    PciDevice {
        address: addr,
        vendor_id: id as u16,
        device_id: (id >> 16) as u16,
        revision: class as u8,
        class: class_code,
        subclass,
        prog_if: (class >> 8) as u8,
        header_type,
        multifunction,
        bars: probe_bars(cfg, addr, header_type.bar_count(), !host_bridge),
        capabilities: capabilities(cfg, addr, header_type),
        interrupt_line: interrupt as u8,
        interrupt_pin: (interrupt >> 8) as u8,
        secondary_bus,
    }
}

/// Reads and sizes the first `count` BARs. With `quiesce`, memory and I/O decoding are off while
/// the all-ones pattern is in a BAR (so the device cannot claim a bogus range), then the command
/// register is restored. Every BAR gets its original value back.
pub fn probe_bars<C: ConfigSpace>(
    cfg: &mut C,
    addr: PciAddress,
    count: usize,
    quiesce: bool,
) -> [Option<Bar>; 6] {
    let mut bars = [None; 6];
    let count = count.min(6);
    if count == 0 {
        return bars;
    }
    let command = cfg.read16(addr, reg::COMMAND_STATUS);
    let decode = command::IO_SPACE | command::MEMORY_SPACE;
    let toggled = quiesce && command & decode != 0;
    if toggled {
        write_command(cfg, addr, command & !decode);
    }
    let mut i = 0;
    while i < count {
        let offset = reg::BAR0 + 4 * i as u8;
        let orig = cfg.read32(addr, offset);
        cfg.write32(addr, offset, 0xffff_ffff);
        let mask = cfg.read32(addr, offset);
        cfg.write32(addr, offset, orig);
        if orig & 1 == 1 {
            // I/O: bits 31..2 are address; a 16-bit decoder leaves the top half zero.
            let m = mask & !0x3;
            if m != 0 {
                let m = if m & 0xffff_0000 == 0 {
                    m | 0xffff_0000
                } else {
                    m
                };
                bars[i] = Some(Bar {
                    kind: BarKind::Io,
                    address: u64::from(orig & !0x3),
                    size: u64::from((!m).wrapping_add(1)),
                    prefetchable: false,
                });
            }
            i += 1;
            continue;
        }
        let prefetchable = orig & 0x8 != 0;
        match (orig >> 1) & 0x3 {
            0b10 if i + 1 < count => {
                let high_offset = offset + 4;
                let high = cfg.read32(addr, high_offset);
                cfg.write32(addr, high_offset, 0xffff_ffff);
                let high_mask = cfg.read32(addr, high_offset);
                cfg.write32(addr, high_offset, high);
                let m = u64::from(high_mask) << 32 | u64::from(mask & !0xf);
                if m != 0 {
                    bars[i] = Some(Bar {
                        kind: BarKind::Memory64,
                        address: u64::from(high) << 32 | u64::from(orig & !0xf),
                        size: (!m).wrapping_add(1),
                        prefetchable,
                    });
                }
                i += 2;
            }
            kind @ (0b00 | 0b01) => {
                let m = mask & !0xf;
                if m != 0 {
                    bars[i] = Some(Bar {
                        kind: if kind == 0 {
                            BarKind::Memory32
                        } else {
                            BarKind::Memory1M
                        },
                        address: u64::from(orig & !0xf),
                        size: u64::from((!m).wrapping_add(1)),
                        prefetchable,
                    });
                }
                i += 1;
            }
            // A 64-bit BAR in the last slot, or the reserved type 11b: unusable.
            _ => i += 1,
        }
    }
    if toggled {
        write_command(cfg, addr, command);
    }
    bars
}

/// Writes the command register, leaving the status register's write-one-to-clear bits alone.
fn write_command<C: ConfigSpace>(cfg: &mut C, addr: PciAddress, command: u16) {
    cfg.write32(addr, reg::COMMAND_STATUS, u32::from(command));
}

/// Sets `bits` (see [`command`]) in the command register of `addr`, e.g. memory decoding and
/// bus mastering before a driver uses the device. Returns the previous command value.
pub fn enable<C: ConfigSpace>(cfg: &mut C, addr: PciAddress, bits: u16) -> u16 {
    let old = cfg.read16(addr, reg::COMMAND_STATUS);
    if old & bits != bits {
        write_command(cfg, addr, old | bits);
    }
    old
}

/// Walks the capabilities list (at most [`MAX_CAPABILITIES`] entries; pointers into the header
/// end the walk).
pub fn capabilities<C: ConfigSpace>(
    cfg: &mut C,
    addr: PciAddress,
    header_type: HeaderType,
) -> Vec<Capability> {
    let mut caps = Vec::new();
    let status = (cfg.read32(addr, reg::COMMAND_STATUS) >> 16) as u16;
    if status & STATUS_CAPABILITIES == 0 {
        return caps;
    }
    let pointer = match header_type {
        HeaderType::Standard | HeaderType::PciBridge => reg::CAPABILITIES_POINTER,
        HeaderType::CardBusBridge => reg::CARDBUS_CAPABILITIES_POINTER,
        HeaderType::Unknown(_) => return caps,
    };
    let mut offset = cfg.read8(addr, pointer) & 0xfc;
    while offset >= 0x40 && caps.len() < MAX_CAPABILITIES {
        let header = cfg.read32(addr, offset);
        caps.push(Capability {
            id: header as u8,
            offset,
        });
        offset = (header >> 8) as u8 & 0xfc;
    }
    caps
}

#[cfg(test)]
pub(crate) mod fake {
    //! A fake configuration space: functions with registers and BARs that answer size probes.

    use super::*;
    use std::collections::BTreeMap;

    /// One fake function: 64 dword registers; `bar_masks[i]` is the writable-bits mask of BAR
    /// *i* (0 = unimplemented), with the read-only low type bits kept from the initial value.
    #[derive(Clone)]
    pub struct FakeFunction {
        pub regs: [u32; 64],
        pub bar_masks: [u32; 6],
    }

    impl FakeFunction {
        pub fn new(vendor: u16, device: u16, class: u8, subclass: u8, prog_if: u8) -> Self {
            let mut regs = [0u32; 64];
            regs[0] = u32::from(device) << 16 | u32::from(vendor);
            regs[2] = u32::from(class) << 24 | u32::from(subclass) << 16 | u32::from(prog_if) << 8;
            regs[1] = u32::from(command::MEMORY_SPACE | command::IO_SPACE);
            Self {
                regs,
                bar_masks: [0; 6],
            }
        }

        pub fn header(mut self, header: u8) -> Self {
            self.regs[3] = u32::from(header) << 16;
            self
        }

        /// A BAR with initial value `value` (address | type bits) decoding `size` bytes.
        pub fn bar(mut self, i: usize, value: u32, size: u64) -> Self {
            self.regs[4 + i] = value;
            let io = value & 1 == 1;
            let low_bits = if io { 0x3 } else { 0xf };
            self.bar_masks[i] = !((size as u32).wrapping_sub(1)) & !low_bits;
            if io {
                // A 16-bit I/O decoder.
                self.bar_masks[i] &= 0xffff;
            }
            self
        }

        /// A 64-bit memory BAR in slots `i` and `i + 1`.
        pub fn bar64(mut self, i: usize, address: u64, size: u64, prefetchable: bool) -> Self {
            let mask = !(size - 1);
            let pf = if prefetchable { 0x8 } else { 0 };
            self.regs[4 + i] = address as u32 | 0x4 | pf;
            self.regs[5 + i] = (address >> 32) as u32;
            self.bar_masks[i] = mask as u32 & !0xf;
            self.bar_masks[i + 1] = (mask >> 32) as u32;
            self
        }

        /// Capabilities `(id, offset)`, chained in order.
        pub fn caps(mut self, caps: &[(u8, u8)]) -> Self {
            self.regs[1] |= u32::from(STATUS_CAPABILITIES) << 16;
            self.regs[0x34 / 4] = caps.first().map_or(0, |c| u32::from(c.1));
            for (i, &(id, off)) in caps.iter().enumerate() {
                let next = caps.get(i + 1).map_or(0, |c| c.1);
                self.regs[usize::from(off) / 4] = u32::from(next) << 8 | u32::from(id);
            }
            self
        }

        pub fn secondary_bus(mut self, bus: u8) -> Self {
            self.regs[6] = u32::from(bus) << 8;
            self
        }
    }

    #[derive(Default, Clone)]
    pub struct FakeConfig {
        pub functions: BTreeMap<PciAddress, FakeFunction>,
        /// Every access, for "how much did enumeration cost" assertions.
        pub reads: usize,
        /// Devices that answer on every function number although not multi-function (some
        /// real hardware does): keyed by (bus, device).
        pub echo: BTreeMap<(u8, u8), FakeFunction>,
    }

    impl FakeConfig {
        pub fn with(mut self, addr: PciAddress, f: FakeFunction) -> Self {
            self.functions.insert(addr, f);
            self
        }

        fn get(&mut self, addr: PciAddress) -> Option<&mut FakeFunction> {
            if self.functions.contains_key(&addr) {
                return self.functions.get_mut(&addr);
            }
            self.echo.get_mut(&(addr.bus, addr.device))
        }
    }

    impl ConfigSpace for FakeConfig {
        fn read32(&mut self, addr: PciAddress, offset: u8) -> u32 {
            self.reads += 1;
            self.get(addr)
                .map_or(0xffff_ffff, |f| f.regs[usize::from(offset) / 4])
        }

        fn write32(&mut self, addr: PciAddress, offset: u8, value: u32) {
            let Some(f) = self.get(addr) else { return };
            let i = usize::from(offset) / 4;
            match i {
                // Command is writable; status bits are write-one-to-clear (ignored here).
                1 => f.regs[1] = f.regs[1] & 0xffff_0000 | value & 0xffff,
                4..=9 => {
                    let m = f.bar_masks[i - 4];
                    let low = if f.regs[i] & 1 == 1 { 0x3 } else { 0xf };
                    // The low type bits of the first dword of a BAR are read-only; the upper
                    // half of a 64-bit BAR has none (its mask covers whatever it decodes).
                    let upper_half = i > 4 && f.regs[i - 1] & 0x7 == 0x4;
                    f.regs[i] = if upper_half {
                        value & m
                    } else {
                        value & m | f.regs[i] & low
                    };
                    if m != 0 && f.regs[1] & 0x3 != 0 && value == 0xffff_ffff {
                        panic!("BAR {i} probed with decoding enabled");
                    }
                }
                _ => {}
            }
        }
    }

    /// The same space behind fake mechanism #1 ports.
    pub struct FakePorts {
        pub space: FakeConfig,
        pub address: u32,
    }

    impl PortIo for FakePorts {
        fn read8(&mut self, _port: u16) -> u8 {
            0xff
        }
        fn read16(&mut self, _port: u16) -> u16 {
            0xffff
        }
        fn read32(&mut self, port: u16) -> u32 {
            match port {
                CONFIG_ADDRESS => self.address,
                CONFIG_DATA if self.address & 0x8000_0000 != 0 => {
                    let (addr, offset) = decode(self.address);
                    self.space.read32(addr, offset)
                }
                _ => 0xffff_ffff,
            }
        }
        fn write8(&mut self, _port: u16, _value: u8) {}
        fn write16(&mut self, _port: u16, _value: u16) {}
        fn write32(&mut self, port: u16, value: u32) {
            match port {
                CONFIG_ADDRESS => self.address = value,
                CONFIG_DATA if self.address & 0x8000_0000 != 0 => {
                    let (addr, offset) = decode(self.address);
                    self.space.write32(addr, offset, value)
                }
                _ => {}
            }
        }
    }

    fn decode(a: u32) -> (PciAddress, u8) {
        (
            PciAddress::new((a >> 16) as u8, (a >> 11) as u8 & 0x1f, (a >> 8) as u8 & 7),
            a as u8 & 0xfc,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    fn a(bus: u8, device: u8, function: u8) -> PciAddress {
        PciAddress::new(bus, device, function)
    }

    /// Roughly QEMU's q35 with two virtio disks, an AHCI controller in the multi-function LPC
    /// device, and a bridge with one device behind it.
    fn machine() -> FakeConfig {
        FakeConfig::default()
            .with(a(0, 0, 0), FakeFunction::new(0x8086, 0x29c0, 0x06, 0x00, 0))
            .with(
                a(0, 1, 0),
                FakeFunction::new(0x1234, 0x1111, 0x03, 0x00, 0)
                    .bar(0, 0xc000_0008, 16 << 20)
                    .bar(2, 0xfebd_0000, 4096),
            )
            .with(
                a(0, 3, 0),
                FakeFunction::new(VIRTIO_VENDOR, 0x1001, 0x01, 0x00, 0)
                    .bar(0, 0xc081, 128)
                    .bar(1, 0xfebd_1000, 4096)
                    .bar64(4, 0x80_0000_0000, 16 * 1024, true)
                    .caps(&[(0x11, 0x98), (0x09, 0x84), (0x09, 0x70)]),
            )
            .with(
                a(0, 0x1e, 0),
                FakeFunction::new(0x1b36, 0x0001, 0x06, 0x04, 0)
                    .header(1)
                    .secondary_bus(1),
            )
            .with(
                a(0, 0x1f, 0),
                FakeFunction::new(0x8086, 0x2918, 0x06, 0x01, 0).header(0x80),
            )
            .with(
                a(0, 0x1f, 2),
                FakeFunction::new(0x8086, 0x2922, 0x01, 0x06, 0x01).bar(5, 0xfebd_2000, 4096),
            )
            .with(
                a(0, 0x1f, 3),
                FakeFunction::new(0x8086, 0x2930, 0x0c, 0x05, 0).bar(4, 0x0701, 64),
            )
            .with(
                a(1, 0, 0),
                FakeFunction::new(VIRTIO_VENDOR, 0x1042, 0x01, 0x00, 0).bar64(
                    4,
                    0xfe00_0000,
                    16 * 1024,
                    true,
                ),
            )
    }

    #[test]
    fn mechanism_one_encodes_addresses() {
        assert_eq!(a(0, 0, 0).config_address(0), 0x8000_0000);
        assert_eq!(a(1, 3, 2).config_address(0x12), 0x8001_1a10);
        assert_eq!(a(0xff, 0x1f, 7).config_address(0xff), 0x80ff_fffc);
        let mut cfg = PortConfig::new(FakePorts {
            space: machine(),
            address: 0,
        });
        assert_eq!(cfg.read32(a(0, 3, 0), 0), 0x1001_1af4);
        assert_eq!(cfg.read16(a(0, 3, 0), 2), 0x1001);
        assert_eq!(cfg.read8(a(0, 0x1f, 2), 0x0b), 0x01);
        assert_eq!(cfg.read32(a(0, 4, 0), 0), 0xffff_ffff);
    }

    #[test]
    fn enumerates_bus_zero_bridges_and_functions() {
        let mut cfg = PortConfig::new(FakePorts {
            space: machine(),
            address: 0,
        });
        let devs = enumerate(&mut cfg);
        let addrs: Vec<_> = devs.iter().map(|d| d.address.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "00:00.0", "00:01.0", "00:03.0", "00:1e.0", "00:1f.0", "00:1f.2", "00:1f.3",
                "01:00.0"
            ]
        );
        let blk = &devs[2];
        assert!(blk.is_storage() && blk.is_virtio_block());
        assert_eq!(
            blk.bars[0],
            Some(Bar {
                kind: BarKind::Io,
                address: 0xc080,
                size: 128,
                prefetchable: false
            })
        );
        assert_eq!(
            blk.bars[1],
            Some(Bar {
                kind: BarKind::Memory32,
                address: 0xfebd_1000,
                size: 4096,
                prefetchable: false
            })
        );
        assert_eq!(
            blk.bars[4],
            Some(Bar {
                kind: BarKind::Memory64,
                address: 0x80_0000_0000,
                size: 16 * 1024,
                prefetchable: true
            })
        );
        assert_eq!(blk.bars[5], None);
        assert_eq!(
            blk.capabilities.iter().map(|c| c.id).collect::<Vec<_>>(),
            [0x11, 0x09, 0x09]
        );
        assert_eq!(
            blk.to_string(),
            "00:03.0 1af4:1001 mass storage (virtio-blk) BAR0 io 0xc080 128 B \
             BAR1 mem32 0xfebd1000 4 KiB BAR4 mem64 pf 0x8000000000 16 KiB caps msix,vendor,vendor"
        );
        assert_eq!(devs[1].bars[0].unwrap().size, 16 << 20);
        assert!(devs[1].bars[0].unwrap().prefetchable);
        assert_eq!(devs[3].secondary_bus, Some(1));
        assert_eq!(
            devs[3].to_string(),
            "00:1e.0 1b36:0001 bridge (PCI bridge) -> bus 01"
        );
        assert!(devs[5].multifunction);
        assert_eq!(devs[5].kind_name(), Some("AHCI"));
        assert_eq!(devs[6].bars[4].unwrap().size, 64);
        assert_eq!(devs[7].device_id, 0x1042);
        assert!(devs[7].is_virtio_block());
    }

    #[test]
    fn probing_restores_bars_and_command() {
        let before = machine();
        let mut cfg = machine();
        enumerate(&mut cfg);
        for (addr, f) in &before.functions {
            assert_eq!(cfg.functions[addr].regs, f.regs, "{addr}");
        }
    }

    #[test]
    fn single_function_devices_are_not_probed_past_function_zero() {
        let mut cfg = FakeConfig::default();
        cfg.echo
            .insert((0, 2), FakeFunction::new(0x8086, 0x100e, 0x02, 0x00, 0));
        let devs = enumerate(&mut cfg);
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].address, a(0, 2, 0));
        assert_eq!(devs[0].kind_name(), Some("Ethernet"));
    }

    #[test]
    fn empty_buses_cost_one_read_per_device() {
        let mut cfg = FakeConfig::default();
        assert!(enumerate(&mut cfg).is_empty());
        // 00:00.0 twice (host check + scan), then one vendor read per other slot.
        assert!(cfg.reads <= 33, "{} reads", cfg.reads);
    }

    #[test]
    fn bridge_loops_and_capability_loops_terminate() {
        let mut cfg = FakeConfig::default()
            .with(
                a(0, 1, 0),
                FakeFunction::new(0x1b36, 1, 0x06, 0x04, 0)
                    .header(1)
                    .secondary_bus(1),
            )
            .with(
                a(1, 0, 0),
                FakeFunction::new(0x1b36, 1, 0x06, 0x04, 0)
                    .header(1)
                    .secondary_bus(0),
            )
            .with(
                a(1, 1, 0),
                FakeFunction::new(0x1b36, 1, 0x06, 0x04, 0)
                    .header(1)
                    .secondary_bus(1),
            )
            .with(
                a(0, 2, 0),
                FakeFunction::new(0x1af4, 0x1005, 0xff, 0, 0).caps(&[(0x09, 0x40), (0x11, 0x50)]),
            );
        // Make the capability list loop: 0x50 points back to 0x40.
        cfg.functions.get_mut(&a(0, 2, 0)).unwrap().regs[0x50 / 4] = 0x40 << 8 | 0x11;
        let devs = enumerate(&mut cfg);
        assert_eq!(devs.len(), 4);
        assert_eq!(devs[1].capabilities.len(), MAX_CAPABILITIES);
        assert_eq!(devs[1].kind_name(), Some("virtio-rng"));
    }

    #[test]
    fn multiple_host_bridges_are_separate_roots() {
        let mut cfg = FakeConfig::default()
            .with(
                a(0, 0, 0),
                FakeFunction::new(0x8086, 1, 0x06, 0, 0).header(0x80),
            )
            .with(a(0, 0, 1), FakeFunction::new(0x8086, 1, 0x06, 0, 0))
            .with(a(1, 5, 0), FakeFunction::new(0x8086, 2, 0x01, 0x08, 0x02));
        let devs = enumerate(&mut cfg);
        let addrs: Vec<_> = devs.iter().map(|d| d.address).collect();
        assert_eq!(addrs, [a(0, 0, 0), a(0, 0, 1), a(1, 5, 0)]);
        assert_eq!(devs[2].to_string(), "01:05.0 8086:0002 mass storage (NVMe)");
    }

    #[test]
    fn enable_sets_command_bits() {
        let mut cfg = machine();
        let old = enable(
            &mut cfg,
            a(0, 3, 0),
            command::BUS_MASTER | command::MEMORY_SPACE,
        );
        assert_eq!(old, command::MEMORY_SPACE | command::IO_SPACE);
        assert_eq!(
            cfg.read16(a(0, 3, 0), reg::COMMAND_STATUS),
            command::MEMORY_SPACE | command::IO_SPACE | command::BUS_MASTER
        );
    }

    #[test]
    fn sizes_display_with_units() {
        assert_eq!(Size(4096).to_string(), "4 KiB");
        assert_eq!(Size(3 << 30).to_string(), "3 GiB");
        assert_eq!(Size(1536).to_string(), "1536 B");
        assert_eq!(Size(0).to_string(), "0 B");
    }
}
