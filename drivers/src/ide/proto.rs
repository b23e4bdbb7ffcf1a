//! IDE (parallel ATA over PCI: PIIX3/PIIX4 and compatibles) as plain values: the channels'
//! register offsets and bits, where a PCI IDE function's channels live (legacy or native
//! ports, bus master), the task-file writes of a command, LBA28/LBA48 choice, and the
//! bus-master PRD table. Pure logic, host-tested; ATA itself (commands, status bits, IDENTIFY)
//! is [`crate::ata`].

use alloc::vec::Vec;
use core::fmt;

use crate::pci::{Bar, BarKind};

/// Command block registers: offsets from [`ChannelPorts::command`].
pub mod reg {
    /// 16-bit data port (PIO).
    pub const DATA: u16 = 0;
    /// Read: error register.
    pub const ERROR: u16 = 1;
    /// Write: features.
    pub const FEATURES: u16 = 1;
    pub const SECTOR_COUNT: u16 = 2;
    pub const LBA_LOW: u16 = 3;
    pub const LBA_MID: u16 = 4;
    pub const LBA_HIGH: u16 = 5;
    /// Device (drive select, LBA mode, LBA28 bits 27:24).
    pub const DEVICE: u16 = 6;
    /// Read: status (reading it acknowledges the device's interrupt).
    pub const STATUS: u16 = 7;
    /// Write: command.
    pub const COMMAND: u16 = 7;
}

/// The control port ([`ChannelPorts::control`]): alternate status when read (no side effects),
/// device control when written.
pub mod ctl {
    /// Device control: interrupts off (the device never asserts INTRQ).
    pub const NIEN: u8 = 1 << 1;
    /// Device control: software reset of both devices on the channel.
    pub const SRST: u8 = 1 << 2;
    /// Device control: high-order byte: task-file reads give the previous (LBA48 high) bytes.
    pub const HOB: u8 = 1 << 7;
}

/// The device register: bits 7 and 5 are obsolete and set, 6 is LBA mode, 4 selects device 1.
pub const DEVICE_BASE: u8 = 0xa0 | crate::ata::DEVICE_LBA;
/// The device register's device-1 (slave) bit.
pub const DEVICE_SLAVE: u8 = 1 << 4;

/// Bus-master IDE registers (PIIX, SFF-8038i): offsets from [`ChannelPorts::bus_master`].
pub mod bm {
    pub const COMMAND: u16 = 0;
    /// Write 1 to clear [`ST_ERROR`] and [`ST_INTERRUPT`].
    pub const STATUS: u16 = 2;
    /// 32-bit physical address of the PRD table.
    pub const PRDT: u16 = 4;
    /// The secondary channel's registers follow the primary's.
    pub const CHANNEL_STRIDE: u16 = 8;

    /// Command: start (cleared: the engine stops and forgets the transfer).
    pub const CMD_START: u8 = 1 << 0;
    /// Command: direction: the bus master writes memory (a disk read).
    pub const CMD_TO_MEMORY: u8 = 1 << 3;
    /// Status: the engine is transferring (clears when the last PRD is done or START is).
    pub const ST_ACTIVE: u8 = 1 << 0;
    /// Status: a PCI error (target or master abort) during the transfer.
    pub const ST_ERROR: u8 = 1 << 1;
    /// Status: the device asserted INTRQ. Never set while nIEN keeps INTRQ off (QEMU, real
    /// PIIX), so the driver does not wait for it.
    pub const ST_INTERRUPT: u8 = 1 << 2;
    /// Status: firmware-set "device 0/1 is DMA capable" bits, preserved on writes.
    pub const ST_DRIVE_DMA: u8 = 0x60;
}

/// Compatibility ("legacy") ports of the two channels.
pub const LEGACY_PRIMARY: (u16, u16) = (0x1f0, 0x3f6);
pub const LEGACY_SECONDARY: (u16, u16) = (0x170, 0x376);
/// In native mode the control block BAR decodes 4 bytes; the control port is its third.
pub const NATIVE_CONTROL_OFFSET: u16 = 2;

/// Prog-if bits of class 01:01 (PCI IDE Controller Specification 1.0).
pub mod prog_if {
    /// The primary channel is in native-PCI mode (BAR0/BAR1).
    pub const PRIMARY_NATIVE: u8 = 1 << 0;
    /// The secondary channel is in native-PCI mode (BAR2/BAR3).
    pub const SECONDARY_NATIVE: u8 = 1 << 2;
    /// Bus-master IDE: BAR4 holds the bus-master registers.
    pub const BUS_MASTER: u8 = 1 << 7;
}

/// One of a controller's two channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Primary,
    Secondary,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Primary, Channel::Secondary];

    /// 0 for primary, 1 for secondary.
    pub fn index(self) -> usize {
        match self {
            Self::Primary => 0,
            Self::Secondary => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Secondary => "secondary",
        }
    }
}

/// One of a channel's two devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drive {
    /// Device 0.
    Master,
    /// Device 1.
    Slave,
}

impl Drive {
    pub const ALL: [Drive; 2] = [Drive::Master, Drive::Slave];

    /// The device register's select bit for this drive.
    pub fn select_bit(self) -> u8 {
        match self {
            Self::Master => 0,
            Self::Slave => DEVICE_SLAVE,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Slave => "slave",
        }
    }
}

/// Where a drive sits: "primary master", "secondary slave", …
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub channel: Channel,
    pub drive: Drive,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.channel.name(), self.drive.name())
    }
}

/// The I/O ports of one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelPorts {
    /// The command block: 8 ports ([`reg`]).
    pub command: u16,
    /// The control port ([`ctl`]): alternate status / device control.
    pub control: u16,
    /// The channel's 8 bus-master ports ([`bm`]), if the function does bus-master DMA.
    pub bus_master: Option<u16>,
    /// Native-PCI mode (ports from BARs) rather than the compatibility ports.
    pub native: bool,
}

/// Why a channel's ports could not be worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortsError {
    /// The channel is in native mode but its BAR `bar` is missing or unassigned.
    MissingBar { bar: u8 },
    /// BAR `bar` is a memory BAR, or an I/O BAR beyond the 16-bit port space.
    NotIoBar { bar: u8 },
}

impl fmt::Display for PortsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingBar { bar } => write!(
                f,
                "native-mode channel without an assigned BAR{bar} (firmware left it unprogrammed)"
            ),
            Self::NotIoBar { bar } => write!(f, "BAR{bar} is not an I/O port range"),
        }
    }
}

/// Both channels' ports, or why a channel has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerPorts {
    pub primary: Result<ChannelPorts, PortsError>,
    pub secondary: Result<ChannelPorts, PortsError>,
}

impl fmt::Display for ChannelPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.native { "native" } else { "legacy" };
        write!(f, "{mode} ports {:#x}/{:#x}", self.command, self.control)?;
        match self.bus_master {
            Some(bm) => write!(f, ", bus master {bm:#x}"),
            None => write!(f, ", no bus master (PIO)"),
        }
    }
}

/// For logs: `primary legacy ports 0x1f0/0x3f6, bus master 0xc040; secondary …`.
impl fmt::Display for ControllerPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, channel) in [("primary", &self.primary), ("secondary", &self.secondary)] {
            if name == "secondary" {
                f.write_str("; ")?;
            }
            match channel {
                Ok(ports) => write!(f, "{name} {ports}")?,
                Err(e) => write!(f, "{name} unusable: {e}")?,
            }
        }
        Ok(())
    }
}

impl ControllerPorts {
    /// The ports of a PCI IDE function with programming interface `prog_if` and base address
    /// registers `bars` ([`crate::pci::PciDevice`]'s fields): per channel, BAR0/BAR1
    /// (primary) or BAR2/BAR3 (secondary) in native mode, the compatibility ports otherwise;
    /// the bus-master block at BAR4 (+8 for the secondary channel) when prog-if bit 7 says
    /// so and BAR4 is an assigned I/O BAR of at least 16 ports (else no DMA: PIO only).
    pub fn from_pci(prog_if: u8, bars: &[Option<Bar>; 6]) -> Self {
        let bus_master = io_bar(bars, 4)
            .ok()
            .filter(|_| prog_if & prog_if::BUS_MASTER != 0)
            .filter(|&(_, size)| size >= 16)
            .map(|(base, _)| base);
        let channel = |ch: Channel| {
            let native_bit = match ch {
                Channel::Primary => prog_if::PRIMARY_NATIVE,
                Channel::Secondary => prog_if::SECONDARY_NATIVE,
            };
            let bm = bus_master.map(|b| b + ch.index() as u16 * bm::CHANNEL_STRIDE);
            if prog_if & native_bit == 0 {
                return Ok(Self::legacy_channel(ch, bm));
            }
            let first = 2 * ch.index() as u8;
            let (command, _) = io_bar(bars, first)?;
            let (control, _) = io_bar(bars, first + 1)?;
            Ok(ChannelPorts {
                command,
                control: control + NATIVE_CONTROL_OFFSET,
                bus_master: bm,
                native: true,
            })
        };
        Self {
            primary: channel(Channel::Primary),
            secondary: channel(Channel::Secondary),
        }
    }

    /// Both channels at the compatibility ports, with the bus-master block at `bus_master`
    /// (16 ports) if given.
    pub fn legacy(bus_master: Option<u16>) -> Self {
        let bm = |ch: Channel| bus_master.map(|b| b + ch.index() as u16 * bm::CHANNEL_STRIDE);
        Self {
            primary: Ok(Self::legacy_channel(Channel::Primary, bm(Channel::Primary))),
            secondary: Ok(Self::legacy_channel(
                Channel::Secondary,
                bm(Channel::Secondary),
            )),
        }
    }

    fn legacy_channel(ch: Channel, bus_master: Option<u16>) -> ChannelPorts {
        let (command, control) = match ch {
            Channel::Primary => LEGACY_PRIMARY,
            Channel::Secondary => LEGACY_SECONDARY,
        };
        ChannelPorts {
            command,
            control,
            bus_master,
            native: false,
        }
    }

    /// The ports of `channel`.
    pub fn get(&self, channel: Channel) -> Result<ChannelPorts, PortsError> {
        match channel {
            Channel::Primary => self.primary,
            Channel::Secondary => self.secondary,
        }
    }
}

/// BAR `i` as an I/O base and size.
fn io_bar(bars: &[Option<Bar>; 6], i: u8) -> Result<(u16, u64), PortsError> {
    let bar = bars[usize::from(i)]
        .filter(|b| b.address != 0)
        .ok_or(PortsError::MissingBar { bar: i })?;
    if bar.kind != BarKind::Io {
        return Err(PortsError::NotIoBar { bar: i });
    }
    let base = u16::try_from(bar.address).map_err(|_| PortsError::NotIoBar { bar: i })?;
    Ok((base, bar.size))
}

/// The first LBA past what 28-bit commands address safely: some drives mishandle LBA
/// `0x0FFFFFFF`, so a request reaching it uses a 48-bit command (as Linux does).
pub const LBA28_LIMIT: u64 = 0x0fff_ffff;
/// The most sectors one 28-bit command moves (count 0 means 256).
pub const LBA28_MAX_SECTORS: u32 = 256;
/// The most sectors one 48-bit command moves (count 0 means 65536).
pub const LBA48_MAX_SECTORS: u32 = 65536;

/// Whether `count` sectors at `lba` need a 48-bit command.
pub fn needs_lba48(lba: u64, count: u32) -> bool {
    count > LBA28_MAX_SECTORS || lba.saturating_add(u64::from(count)) >= LBA28_LIMIT
}

/// The read or write command for a transfer: PIO or DMA, 28- or 48-bit.
pub fn rw_command(write: bool, dma: bool, ext: bool) -> u8 {
    use crate::ata::command::*;
    match (write, dma, ext) {
        (false, false, false) => READ_SECTORS,
        (false, false, true) => READ_SECTORS_EXT,
        (false, true, false) => READ_DMA,
        (false, true, true) => READ_DMA_EXT,
        (true, false, false) => WRITE_SECTORS,
        (true, false, true) => WRITE_SECTORS_EXT,
        (true, true, false) => WRITE_DMA,
        (true, true, true) => WRITE_DMA_EXT,
    }
}

/// The registers of one command, before the command byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskFile {
    pub command: u8,
    pub drive: Drive,
    pub lba: u64,
    /// Sectors: 1..=256 for 28-bit commands, 1..=65536 for 48-bit; 0 for non-data commands.
    pub count: u32,
    /// A 48-bit (EXT) command: registers are written twice, high bytes first.
    pub ext: bool,
}

impl TaskFile {
    /// A command without address or count (IDENTIFY DEVICE, FLUSH CACHE).
    pub fn plain(command: u8, drive: Drive) -> Self {
        Self {
            command,
            drive,
            lba: 0,
            count: 0,
            ext: false,
        }
    }

    /// The (register offset, value) writes that load the task file, in order; the device
    /// register last. The command byte is not included.
    pub fn writes(&self) -> Vec<(u16, u8)> {
        let l = self.lba.to_le_bytes();
        // A count of 256 (28-bit) or 65536 (48-bit) is written as 0.
        let c = self.count.to_le_bytes();
        let select = DEVICE_BASE | self.drive.select_bit();
        if self.ext {
            alloc::vec![
                (reg::FEATURES, 0),
                (reg::FEATURES, 0),
                (reg::SECTOR_COUNT, c[1]),
                (reg::SECTOR_COUNT, c[0]),
                (reg::LBA_LOW, l[3]),
                (reg::LBA_MID, l[4]),
                (reg::LBA_HIGH, l[5]),
                (reg::LBA_LOW, l[0]),
                (reg::LBA_MID, l[1]),
                (reg::LBA_HIGH, l[2]),
                (reg::DEVICE, select),
            ]
        } else {
            alloc::vec![
                (reg::FEATURES, 0),
                (reg::SECTOR_COUNT, c[0]),
                (reg::LBA_LOW, l[0]),
                (reg::LBA_MID, l[1]),
                (reg::LBA_HIGH, l[2]),
                (reg::DEVICE, select | (l[3] & 0x0f)),
            ]
        }
    }
}

/// The LBA the task file reports after an error: `low` = LBA low/mid/high as read with HOB
/// clear, `high` = the same with HOB set (48-bit commands), `device` = the device register
/// (bits 27:24 for 28-bit commands).
pub fn reported_lba(low: [u8; 3], high: [u8; 3], device: u8, ext: bool) -> u64 {
    let low = u64::from(low[0]) | u64::from(low[1]) << 8 | u64::from(low[2]) << 16;
    if ext {
        low | (u64::from(high[0]) | u64::from(high[1]) << 8 | u64::from(high[2]) << 16) << 24
    } else {
        low | u64::from(device & 0x0f) << 24
    }
}

/// One physical region descriptor: 8 bytes in the PRD table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prd {
    /// Physical address (32 bits: the bus master addresses only the low 4 GiB), even.
    pub address: u32,
    /// Bytes, even, 2..=65536, and the region does not cross a 64 KiB boundary.
    pub bytes: u32,
}

/// The most bytes one PRD moves.
pub const PRD_MAX_BYTES: u64 = 0x1_0000;
/// Bytes per PRD.
pub const PRD_BYTES: usize = 8;
/// PRD byte 7 bit 7: end of table.
pub const PRD_EOT: u8 = 0x80;

/// Why [`build_prdt`] could not describe a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrdtError {
    /// A byte of the buffer lies at or above 4 GiB.
    AboveFourGiB { address: u64 },
    /// The buffer address or length is odd (the bus master moves words).
    Unaligned { address: u64, len: usize },
    /// Nothing to describe.
    Empty,
    /// More than `max` PRDs would be needed.
    TooManyEntries { max: usize },
}

impl fmt::Display for PrdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AboveFourGiB { address } => write!(
                f,
                "DMA buffer at {address:#x} reaches above 4 GiB (the bus master is 32-bit)"
            ),
            Self::Unaligned { address, len } => {
                write!(
                    f,
                    "DMA buffer of {len} bytes at {address:#x} is not word aligned"
                )
            }
            Self::Empty => write!(f, "empty DMA transfer"),
            Self::TooManyEntries { max } => write!(f, "transfer needs more than {max} PRDs"),
        }
    }
}

/// Describes `len` physically contiguous bytes at `address` as PRDs: split so that no entry
/// crosses a 64 KiB boundary (which also keeps each at most 64 KiB).
///
/// # Errors
/// Every [`PrdtError`].
pub fn build_prdt(address: u64, len: usize, max: usize) -> Result<Vec<Prd>, PrdtError> {
    if len == 0 {
        return Err(PrdtError::Empty);
    }
    if !address.is_multiple_of(2) || !len.is_multiple_of(2) {
        return Err(PrdtError::Unaligned { address, len });
    }
    let end = address.saturating_add(len as u64);
    if end > 1 << 32 {
        return Err(PrdtError::AboveFourGiB { address });
    }
    let mut prds = Vec::new();
    let mut at = address;
    while at < end {
        let boundary = (at / PRD_MAX_BYTES + 1) * PRD_MAX_BYTES;
        let next = boundary.min(end);
        if prds.len() == max {
            return Err(PrdtError::TooManyEntries { max });
        }
        prds.push(Prd {
            address: at as u32,
            bytes: (next - at) as u32,
        });
        at = next;
    }
    Ok(prds)
}

/// The PRD table's bytes: per entry the address, the byte count (0 for 64 KiB), and the
/// end-of-table bit on the last.
pub fn prdt_bytes(prds: &[Prd]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prds.len() * PRD_BYTES);
    for (i, p) in prds.iter().enumerate() {
        out.extend_from_slice(&p.address.to_le_bytes());
        out.extend_from_slice(&(p.bytes as u16).to_le_bytes());
        out.push(0);
        out.push(if i + 1 == prds.len() { PRD_EOT } else { 0 });
    }
    out
}
