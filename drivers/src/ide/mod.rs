//! IDE (parallel ATA) controllers — Intel PIIX3/PIIX4 and compatibles, PCI class 01:01 — and
//! the ATA disks on them, as [`BlockDevice`]s.
//!
//! The driver is generic over [`IdeHal`]: port I/O ([`PortIo`]) on the controller's ports, DMA
//! memory below 4 GiB and a microsecond clock ([`DmaHal`]). The kernel implements it over the
//! `in`/`out` instructions and its frame allocator; tests over a fake channel pair with a
//! bus-master engine that executes commands against RAM disks.
//!
//! Ports: [`ControllerPorts::from_pci`] works out each channel's command block, control port
//! and bus-master block from the PCI function's prog-if and BARs (native-PCI or compatibility
//! ports `0x1F0`/`0x3F6`, `0x170`/`0x376`; BAR4 for bus mastering).
//!
//! Bring-up: [`Controller::probe`] checks each channel for a floating bus (nothing there,
//! answered at once), soft-resets it (SRST, interrupts off with nIEN), and for the master and
//! the slave reads the signature: ATAPI devices are skipped ([`ProbeFailure::Atapi`]), ATA
//! devices get IDENTIFY DEVICE (PIO). The answer per drive is an [`IdeDisk`] or a
//! [`ProbeError`] naming its [`Location`] ("primary master", …).
//!
//! Requests: polled, one command at a time per channel (the two drives of a channel share its
//! registers through a lock), at most [`MAX_COMMAND_BYTES`] per command, larger requests split.
//! 28-bit commands while the range allows them (below LBA `0x0FFFFFFF`, at most 256 sectors),
//! 48-bit (EXT) ones beyond, on disks that have them. With a bus-master block and a DMA-capable
//! drive: READ/WRITE DMA (EXT) through a bounce buffer described by a PRD table; otherwise, and
//! for good after any DMA failure (logged, [`IdeDisk::transfer_mode`]), READ/WRITE SECTORS
//! (EXT) by PIO through the 16-bit data port. FLUSH CACHE (EXT) for flushes.
//!
//! Nothing waits without a deadline ([`Timeouts`]): a command that does not complete gives
//! [`CommandFailure::Timeout`] after a soft reset of the channel; a device error gives
//! [`CommandFailure::Device`] with the error register and the LBA the device reports. A soft
//! reset that fails takes the channel out of service ([`CommandFailure::ChannelFailed`]).

pub mod proto;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::ata::{command as ata, status, AtaErrorBits, DeviceKind, IdentifyError, IdentifyInfo};
use crate::block::{check_request, BlockDevice, BlockError, DeviceFailure};
use crate::hal::{wait_until, DmaHal, PortIo};
use proto::{bm, build_prdt, ctl, prdt_bytes, reg, PrdtError, TaskFile, DEVICE_BASE, PRD_BYTES};

/// DMA memory a HAL handed out (shared by the drivers: see [`crate::hal`]).
pub use crate::hal::DmaRegion;
pub use proto::{Channel, ChannelPorts, ControllerPorts, Drive, Location, PortsError};

/// What the IDE driver needs from the machine: port I/O on one controller's ports, DMA memory
/// below 4 GiB and a clock. There is no blanket implementation: implementing it is the promise
/// below, made once per controller (the kernel's type says `unsafe impl IdeHal for … {}`).
///
/// # Safety
/// [`DmaHal`]'s duties, and:
/// 1. The handle and its clones go to one [`Controller`] and the disks its probe gives, and to
///    nothing else. The driver touches only the ports in the [`ControllerPorts`] it was given:
///    per channel the 8 command-block ports, the control port, and the 8 bus-master ports.
///    Whoever implements the trait and calls [`Controller::new`] vouches that those ports are
///    that controller's (its I/O decoding enabled in the PCI command register, and bus
///    mastering too if DMA is to work), and that nothing else — another driver, the firmware,
///    an interrupt handler — touches them while the controller or any of its disks exists.
/// 2. Every region `dma_alloc` gives lies wholly below 4 GiB (`phys + len <= 2^32`): the
///    bus master's PRD entries and PRD-table pointer are 32-bit. (The driver checks, and uses
///    PIO for a drive whose region breaks this, but relies on it to be true.)
/// 3. `PortIo` accesses happen in program order, each exactly once, with `dma_read` and
///    `dma_write` ordered with them.
///
/// The driver divides the ports between the handle's clones: [`Controller::probe`] uses every
/// port before any disk exists; afterwards the two disks of a channel use that channel's ports
/// (and its bus-master block) one command at a time, under a lock they share; disks on
/// different channels share no port. Each disk's DMA region (PRD table and bounce buffer) is
/// its own; the bus master is stopped before a region is freed.
pub unsafe trait IdeHal: PortIo + DmaHal {}

/// Whether a PCI function is an IDE controller: mass storage, IDE (class 01:01; any prog-if).
pub fn is_ide_function(dev: &crate::pci::PciDevice) -> bool {
    (dev.class, dev.subclass) == (0x01, 0x01)
}

/// The most one command transfers (and the bounce buffer's size, tried first).
pub const MAX_COMMAND_BYTES: usize = 128 * 1024;
/// The PRD table's place at the start of a disk's DMA region; the bounce buffer follows.
const PRDT_AREA: usize = 4096;
/// PRD entries that fit the PRD table's area.
const MAX_PRDS: usize = PRDT_AREA / PRD_BYTES;

/// How long the driver waits for each thing, in microseconds. The ATA maximum for a reset is
/// 31 s; these are shorter because the firmware has spun the disks up before the kernel runs,
/// and an absent device must not stall the boot. A missing controller or empty channel (a
/// floating bus) is recognised without waiting at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// BSY to clear after a software reset.
    pub reset_us: u64,
    /// A selected drive to drop BSY and DRQ before a command.
    pub ready_us: u64,
    /// IDENTIFY DEVICE's data to be ready.
    pub identify_us: u64,
    /// Each DRQ block of a PIO transfer; a whole DMA command.
    pub data_us: u64,
    /// FLUSH CACHE (EXT), which may write a whole cache to the medium.
    pub flush_us: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            reset_us: 2_000_000,
            ready_us: 1_000_000,
            identify_us: 2_000_000,
            data_us: 5_000_000,
            flush_us: 30_000_000,
        }
    }
}

impl Timeouts {
    /// How long a drive waits for its channel while the other drive runs a command: the
    /// longest command plus a reset.
    fn lock_us(&self) -> u64 {
        self.flush_us
            .max(self.data_us)
            .saturating_add(self.reset_us)
            .saturating_add(self.ready_us)
    }
}

/// How a command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandFailure {
    /// The device did not finish within its timeout (last status given). The channel was
    /// soft-reset.
    Timeout { status: u8 },
    /// The device ended the command with ERR: `error` is the error register, `reported_lba`
    /// the LBA the task file gives (for UNC/IDNF: the first failing sector).
    Device {
        status: u8,
        error: AtaErrorBits,
        reported_lba: u64,
    },
    /// The device set DF (device fault).
    DeviceFault { status: u8 },
    /// The bus master reported an error (`bm_status` bit 1), or the DMA transfer did not
    /// complete although the device did.
    Dma { bm_status: u8, status: u8 },
    /// The device broke the PIO protocol (e.g. still asks for data after the last block).
    Protocol { status: u8 },
    /// The drive kept BSY or DRQ set before the command, even after a soft reset.
    Busy { status: u8 },
    /// An earlier soft reset failed; the channel takes no more commands.
    ChannelFailed,
    /// The other drive of the channel held it for longer than any command may take.
    ChannelBusy,
    /// The transfer could not be described in a PRD table.
    Prdt(PrdtError),
}

impl CommandFailure {
    /// Whether DMA itself may be to blame, so the command is worth repeating by PIO: anything
    /// but a media error or a device fault.
    fn dma_may_be_at_fault(&self) -> bool {
        match self {
            Self::Device { error, .. } => !error.is_media_error(),
            Self::DeviceFault { .. } | Self::ChannelFailed | Self::ChannelBusy => false,
            _ => true,
        }
    }
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { status } => {
                write!(f, "timed out (status {status:#04x}); channel reset")
            }
            Self::Device {
                status,
                error,
                reported_lba,
            } => write!(
                f,
                "device error {error} (status {status:#04x}, error {:#04x}, device reports LBA {reported_lba})",
                error.0
            ),
            Self::DeviceFault { status } => write!(f, "device fault (status {status:#04x})"),
            Self::Dma { bm_status, status } => write!(
                f,
                "bus-master DMA failed (bus-master status {bm_status:#04x}, status {status:#04x})"
            ),
            Self::Protocol { status } => {
                write!(f, "device broke the PIO protocol (status {status:#04x})")
            }
            Self::Busy { status } => {
                write!(f, "drive busy before the command (status {status:#04x})")
            }
            Self::ChannelFailed => write!(f, "channel out of service after a failed reset"),
            Self::ChannelBusy => write!(f, "the other drive of the channel never released it"),
            Self::Prdt(e) => write!(f, "{e}"),
        }
    }
}

/// A failed command: where, which, from which LBA (0 for commands without one), and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandError {
    pub location: Location,
    pub command: u8,
    pub lba: u64,
    pub failure: CommandFailure,
}

impl CommandError {
    /// The [`BlockError`] a caller of [`BlockDevice`] sees: device errors and faults are
    /// [`BlockError::Io`] (at the LBA the device reports, if it lies in the request),
    /// timeouts [`DeviceFailure::Timeout`], DMA and protocol errors
    /// [`DeviceFailure::Protocol`], a busy or failed channel [`DeviceFailure::NotReady`].
    pub fn to_block_error(&self) -> BlockError {
        let lba = self.lba;
        let failure = match self.failure {
            CommandFailure::Device { reported_lba, .. } => {
                return BlockError::Io {
                    lba: reported_lba.max(lba),
                }
            }
            CommandFailure::DeviceFault { .. } => return BlockError::Io { lba },
            CommandFailure::Timeout { .. } => DeviceFailure::Timeout,
            CommandFailure::Dma { .. } | CommandFailure::Protocol { .. } => DeviceFailure::Protocol,
            CommandFailure::Busy { .. }
            | CommandFailure::ChannelFailed
            | CommandFailure::ChannelBusy => DeviceFailure::NotReady,
            CommandFailure::Prdt(_) => DeviceFailure::Unsupported,
        };
        BlockError::Device { lba, failure }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at LBA {}: {}",
            self.location,
            ata::name(self.command),
            self.lba,
            self.failure
        )
    }
}

/// Why a drive position gave no disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The channel's ports could not be worked out from the PCI function.
    Ports(PortsError),
    /// The status register floats (`0xFF`/`0x7F`): no controller decodes the ports, or no
    /// device is on the channel.
    FloatingBus { status: u8 },
    /// No device at this position (status `0x00`, or floating for a slave).
    NoDevice { status: u8 },
    /// An ATAPI (packet) device, e.g. a CD-ROM drive: skipped, not an error.
    Atapi,
    /// A device with another signature (port multiplier, enclosure bridge, unknown).
    NotAta { kind: DeviceKind, mid: u8, high: u8 },
    /// The channel kept BSY set after a software reset.
    ResetTimeout { status: u8 },
    /// The drive kept BSY or DRQ set after the reset.
    Busy { status: u8 },
    /// IDENTIFY DEVICE failed.
    Identify(CommandError),
    /// IDENTIFY DEVICE's answer makes no sense.
    BadIdentify(IdentifyError),
    /// The disk lacks LBA addressing (CHS only).
    NoLba,
    /// The logical sector size is neither 512 nor 4096 bytes.
    UnsupportedSectorSize(u32),
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ports(e) => write!(f, "{e}"),
            Self::FloatingBus { status } => write!(
                f,
                "nothing on the channel (floating bus, status {status:#04x})"
            ),
            Self::NoDevice { status } => write!(f, "no device (status {status:#04x})"),
            Self::Atapi => write!(f, "ATAPI device skipped (only ATA disks are supported)"),
            Self::NotAta { kind, mid, high } => write!(
                f,
                "{} (signature {mid:#04x}/{high:#04x}) skipped: not an ATA disk",
                kind.name()
            ),
            Self::ResetTimeout { status } => write!(
                f,
                "channel still busy after a software reset (status {status:#04x})"
            ),
            Self::Busy { status } => write!(f, "drive stays busy (status {status:#04x})"),
            Self::Identify(e) => write!(f, "IDENTIFY DEVICE failed: {}", e.failure),
            Self::BadIdentify(e) => write!(f, "{e}"),
            Self::NoLba => write!(f, "the disk lacks LBA addressing (CHS only)"),
            Self::UnsupportedSectorSize(n) => write!(
                f,
                "{n}-byte logical sectors are not supported (only 512 and 4096)"
            ),
        }
    }
}

/// A drive position that gave no disk, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeError {
    pub location: Location,
    pub failure: ProbeFailure,
}

impl ProbeError {
    /// Whether nothing is there (an empty position or channel): worth a debug line only.
    pub fn is_absent(&self) -> bool {
        matches!(
            self.failure,
            ProbeFailure::FloatingBus { .. } | ProbeFailure::NoDevice { .. }
        )
    }

    /// Whether a device was found and deliberately skipped (ATAPI and other non-disks):
    /// worth an info line, not an error.
    pub fn is_skipped(&self) -> bool {
        matches!(
            self.failure,
            ProbeFailure::Atapi | ProbeFailure::NotAta { .. }
        )
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.failure)
    }
}

/// Why a disk moves data by PIO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PioReason {
    /// The function has no bus-master block (prog-if bit 7 clear, or BAR4 missing).
    NoBusMaster,
    /// IDENTIFY says the drive does not do DMA.
    NoDeviceDma,
    /// No DMA memory for the PRD table and bounce buffer.
    OutOfDmaMemory,
    /// The HAL gave DMA memory the 32-bit bus master cannot reach.
    DmaAboveFourGiB { phys: u64 },
    /// A DMA command failed; the drive stays on PIO.
    DmaFailed(CommandError),
}

/// How a disk moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferMode {
    /// Bus-master DMA.
    Dma,
    /// PIO through the data port, and why.
    Pio(PioReason),
}

impl fmt::Display for TransferMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self {
            Self::Dma => return write!(f, "DMA"),
            Self::Pio(reason) => reason,
        };
        write!(f, "PIO (")?;
        match reason {
            PioReason::NoBusMaster => write!(f, "no bus-master DMA on the controller"),
            PioReason::NoDeviceDma => write!(f, "the drive does not do DMA"),
            PioReason::OutOfDmaMemory => write!(f, "no DMA memory for a bounce buffer"),
            PioReason::DmaAboveFourGiB { phys } => {
                write!(
                    f,
                    "DMA memory at {phys:#x} is beyond the bus master's 4 GiB"
                )
            }
            PioReason::DmaFailed(e) => write!(f, "DMA failed: {e}"),
        }?;
        write!(f, ")")
    }
}

/// Whether a status byte is what an undriven bus reads.
fn floating(status: u8) -> bool {
    status == 0xff || status == 0x7f
}

/// What the two drives of a channel share: a lock (one command at a time on the channel's
/// registers) and whether a failed reset took the channel out of service.
#[derive(Debug, Default)]
struct ChannelState {
    busy: AtomicBool,
    failed: AtomicBool,
}

/// The channel, held by one drive until dropped.
struct ChannelLock(Arc<ChannelState>);

impl Drop for ChannelLock {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

/// Takes `state`'s lock, polling for up to `timeout_us`.
fn lock_channel<H: DmaHal>(
    hal: &mut H,
    state: &Arc<ChannelState>,
    timeout_us: u64,
) -> Option<ChannelLock> {
    let take = |_: &mut H| {
        state
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    };
    wait_until(hal, timeout_us, take).then(|| ChannelLock(Arc::clone(state)))
}

/// One channel's registers, over a borrowed HAL.
struct ChannelIo<'a, H: IdeHal> {
    hal: &'a mut H,
    ports: ChannelPorts,
}

impl<H: IdeHal> ChannelIo<'_, H> {
    fn read(&mut self, r: u16) -> u8 {
        self.hal.read8(self.ports.command + r)
    }

    fn write(&mut self, r: u16, value: u8) {
        self.hal.write8(self.ports.command + r, value)
    }

    /// The status register (acknowledges the device's interrupt).
    fn status(&mut self) -> u8 {
        self.read(reg::STATUS)
    }

    /// The alternate status register (no side effects).
    fn alt_status(&mut self) -> u8 {
        self.hal.read8(self.ports.control)
    }

    /// Four alternate-status reads: the 400 ns a device may take to show a new status after a
    /// command or drive select.
    fn settle(&mut self) {
        for _ in 0..4 {
            self.alt_status();
        }
    }

    fn select(&mut self, drive: Drive) {
        self.write(reg::DEVICE, DEVICE_BASE | drive.select_bit());
        self.settle();
    }

    /// Polls the alternate status until `done` says yes (`Ok(status)`) or `timeout_us` pass
    /// (`Err(last status)`).
    fn wait(&mut self, timeout_us: u64, done: impl Fn(u8) -> bool) -> Result<u8, u8> {
        let control = self.ports.control;
        let mut last = 0;
        let ok = wait_until(self.hal, timeout_us, |h| {
            last = h.read8(control);
            done(last)
        });
        if ok {
            Ok(last)
        } else {
            Err(last)
        }
    }

    /// Waits for BSY and DRQ to clear.
    fn wait_idle(&mut self, timeout_us: u64) -> Result<u8, u8> {
        self.wait(timeout_us, |s| s & (status::BSY | status::DRQ) == 0)
    }

    /// Software reset of both drives (SRST for at least 5 µs, then 2 ms before looking),
    /// leaving interrupts off (nIEN) and the master selected; waits up to `timeout_us` for BSY
    /// to clear. `Err(status)` if it does not.
    fn soft_reset(&mut self, timeout_us: u64) -> Result<(), u8> {
        self.hal.write8(self.ports.control, ctl::NIEN | ctl::SRST);
        wait_until(self.hal, 5, |_| false);
        self.hal.write8(self.ports.control, ctl::NIEN);
        wait_until(self.hal, 2_000, |_| false);
        self.select(Drive::Master);
        self.wait(timeout_us, |s| s & status::BSY == 0).map(|_| ())
    }

    /// Writes the task file and the command byte.
    fn issue(&mut self, tf: &TaskFile) {
        for (r, value) in tf.writes() {
            self.write(r, value);
        }
        self.write(reg::COMMAND, tf.command);
        self.settle();
    }

    /// What an ERR or DF `status` means: the error register and the LBA the task file reports
    /// (high bytes read with HOB for 48-bit commands).
    fn failure(&mut self, tf: &TaskFile, status: u8) -> CommandFailure {
        if status & status::ERR == 0 {
            return CommandFailure::DeviceFault { status };
        }
        let error = AtaErrorBits(self.read(reg::ERROR));
        let low = [reg::LBA_LOW, reg::LBA_MID, reg::LBA_HIGH].map(|r| self.read(r));
        let device = self.read(reg::DEVICE);
        let mut high = [0; 3];
        if tf.ext {
            self.hal.write8(self.ports.control, ctl::NIEN | ctl::HOB);
            high = [reg::LBA_LOW, reg::LBA_MID, reg::LBA_HIGH].map(|r| self.read(r));
            self.hal.write8(self.ports.control, ctl::NIEN);
        }
        CommandFailure::Device {
            status,
            error,
            reported_lba: proto::reported_lba(low, high, device, tf.ext),
        }
    }

    /// Waits for BSY to clear and checks the final status (read from the status register, which
    /// acknowledges the command): ERR, DF, or a leftover DRQ are failures.
    fn finish(&mut self, tf: &TaskFile, timeout_us: u64) -> Result<(), CommandFailure> {
        self.wait(timeout_us, |s| s & status::BSY == 0)
            .map_err(|status| CommandFailure::Timeout { status })?;
        let s = self.status();
        if s & (status::ERR | status::DF) != 0 {
            return Err(self.failure(tf, s));
        }
        if s & status::DRQ != 0 {
            return Err(CommandFailure::Protocol { status: s });
        }
        Ok(())
    }

    /// Waits for the device to ask for the next DRQ block (or to fail).
    fn wait_drq(&mut self, tf: &TaskFile, timeout_us: u64) -> Result<(), CommandFailure> {
        let s = self
            .wait(timeout_us, |s| {
                s & status::BSY == 0 && s & (status::DRQ | status::ERR | status::DF) != 0
            })
            .map_err(|status| CommandFailure::Timeout { status })?;
        if s & (status::ERR | status::DF) != 0 {
            return Err(self.failure(tf, s));
        }
        Ok(())
    }

    /// Issues a PIO data-in command and reads `buf` in DRQ blocks of `block` bytes.
    fn pio_in(
        &mut self,
        tf: &TaskFile,
        buf: &mut [u8],
        block: usize,
        timeout_us: u64,
    ) -> Result<(), CommandFailure> {
        self.issue(tf);
        let data = self.ports.command + reg::DATA;
        for chunk in buf.chunks_mut(block) {
            self.wait_drq(tf, timeout_us)?;
            for pair in chunk.chunks_exact_mut(2) {
                pair.copy_from_slice(&self.hal.read16(data).to_le_bytes());
            }
        }
        self.settle();
        self.finish(tf, timeout_us)
    }

    /// Issues a PIO data-out command and writes `buf` in DRQ blocks of `block` bytes.
    fn pio_out(
        &mut self,
        tf: &TaskFile,
        buf: &[u8],
        block: usize,
        timeout_us: u64,
    ) -> Result<(), CommandFailure> {
        self.issue(tf);
        let data = self.ports.command + reg::DATA;
        for chunk in buf.chunks(block) {
            self.wait_drq(tf, timeout_us)?;
            for pair in chunk.chunks_exact(2) {
                self.hal
                    .write16(data, u16::from_le_bytes([pair[0], pair[1]]));
            }
            self.settle();
        }
        self.finish(tf, timeout_us)
    }

    /// Runs a bus-master DMA command over `bytes` bytes of `region` from `offset`, with the PRD
    /// table at the region's start, and stops the engine again whatever happened.
    fn dma(
        &mut self,
        tf: &TaskFile,
        region: &DmaRegion,
        (offset, bytes): (usize, usize),
        to_memory: bool,
        timeout_us: u64,
    ) -> Result<(), CommandFailure> {
        let Some(base) = self.ports.bus_master else {
            return Err(CommandFailure::Dma {
                bm_status: 0,
                status: 0,
            });
        };
        let prds = build_prdt(region.phys() + offset as u64, bytes, MAX_PRDS)
            .map_err(CommandFailure::Prdt)?;
        self.hal.dma_write(region, 0, &prdt_bytes(&prds));
        let direction = if to_memory { bm::CMD_TO_MEMORY } else { 0 };
        self.start_dma(tf, base, region.phys() as u32, direction);
        let polled = self.poll_dma(base, timeout_us);
        self.hal.write8(base + bm::COMMAND, direction);
        self.clear_bm_status(base);
        let s = self.status();
        self.dma_outcome(tf, polled, s)
    }

    /// Stops the engine, points it at the PRD table at `prdt`, clears its error and interrupt
    /// bits, sets the direction, issues the command and starts the engine (in that order:
    /// PIIX and QEMU start moving data once both the command and START are there).
    fn start_dma(&mut self, tf: &TaskFile, base: u16, prdt: u32, direction: u8) {
        self.hal.write8(base + bm::COMMAND, 0);
        self.hal.write32(base + bm::PRDT, prdt);
        self.clear_bm_status(base);
        self.hal.write8(base + bm::COMMAND, direction);
        self.issue(tf);
        self.hal
            .write8(base + bm::COMMAND, direction | bm::CMD_START);
    }

    /// Polls until the device drops BSY with the engine idle (or the device reports an error),
    /// or the engine reports an error. Not the engine's interrupt bit: nIEN keeps it clear.
    /// Answers whether that happened within `timeout_us`, and the last bus-master status.
    fn poll_dma(&mut self, base: u16, timeout_us: u64) -> (bool, u8) {
        let (control, mut bm_status) = (self.ports.control, 0);
        let done = wait_until(self.hal, timeout_us, |h| {
            let s = h.read8(control);
            bm_status = h.read8(base + bm::STATUS);
            bm_status & bm::ST_ERROR != 0
                || (s & status::BSY == 0
                    && (bm_status & bm::ST_ACTIVE == 0 || s & (status::ERR | status::DF) != 0))
        });
        (done, bm_status)
    }

    /// What a stopped DMA command's polling result and final `status` mean.
    fn dma_outcome(
        &mut self,
        tf: &TaskFile,
        (done, bm_status): (bool, u8),
        s: u8,
    ) -> Result<(), CommandFailure> {
        if !done {
            return Err(CommandFailure::Timeout { status: s });
        }
        if bm_status & bm::ST_ERROR != 0 {
            return Err(CommandFailure::Dma {
                bm_status,
                status: s,
            });
        }
        if s & (status::ERR | status::DF) != 0 {
            return Err(self.failure(tf, s));
        }
        if s & status::DRQ != 0 || bm_status & bm::ST_ACTIVE != 0 {
            // The device or the engine still wanted to move data.
            return Err(CommandFailure::Dma {
                bm_status,
                status: s,
            });
        }
        Ok(())
    }

    /// Clears the bus master's error and interrupt bits (write 1), keeping the firmware's
    /// drive-DMA-capable bits.
    fn clear_bm_status(&mut self, base: u16) {
        let st = self.hal.read8(base + bm::STATUS);
        self.hal.write8(
            base + bm::STATUS,
            (st & bm::ST_DRIVE_DMA) | bm::ST_ERROR | bm::ST_INTERRUPT,
        );
    }
}

/// An IDE controller (one PCI function, up to two channels), before its drives are probed.
pub struct Controller<H: IdeHal> {
    hal: H,
    ports: ControllerPorts,
    timeouts: Timeouts,
}

impl<H: IdeHal> Controller<H> {
    /// A controller on `ports` (see [`ControllerPorts::from_pci`]). Touches nothing.
    pub fn new(hal: H, ports: ControllerPorts, timeouts: Timeouts) -> Self {
        Self {
            hal,
            ports,
            timeouts,
        }
    }

    /// The ports the controller uses.
    pub fn ports(&self) -> &ControllerPorts {
        &self.ports
    }
}

impl<H: IdeHal + Clone> Controller<H> {
    /// Probes both channels: for each of primary master, primary slave, secondary master,
    /// secondary slave (in that order) an [`IdeDisk`], or a [`ProbeError`] saying why not —
    /// [`ProbeError::is_absent`] for empty positions, [`ProbeError::is_skipped`] for ATAPI
    /// and other non-disks. Consumes the controller: from here on the disks own the ports.
    pub fn probe(mut self) -> Vec<Result<IdeDisk<H>, ProbeError>> {
        let mut out = Vec::with_capacity(4);
        for channel in Channel::ALL {
            out.extend(self.probe_channel(channel));
        }
        out
    }

    fn probe_channel(&mut self, channel: Channel) -> Vec<Result<IdeDisk<H>, ProbeError>> {
        let at = |drive| Location { channel, drive };
        let both = |failure| {
            Drive::ALL
                .iter()
                .map(|&d| {
                    Err(ProbeError {
                        location: at(d),
                        failure,
                    })
                })
                .collect()
        };
        let ports = match self.ports.get(channel) {
            Ok(ports) => ports,
            Err(e) => return both(ProbeFailure::Ports(e)),
        };
        if let Err(failure) = self.reset_channel(ports) {
            return both(failure);
        }
        // Both signatures first: the task-file writes of a command reach both drives.
        let kinds = Drive::ALL.map(|d| self.classify(ports, d));
        let state = Arc::new(ChannelState::default());
        Drive::ALL
            .iter()
            .zip(kinds)
            .map(|(&d, kind)| {
                let location = at(d);
                let info = kind
                    .and_then(|()| self.identify(ports, location))
                    .map_err(|failure| ProbeError { location, failure })?;
                Ok(IdeDisk::new(
                    self.hal.clone(),
                    location,
                    ports,
                    Arc::clone(&state),
                    info,
                    self.timeouts,
                ))
            })
            .collect()
    }

    /// Checks for a floating bus with the master selected (answered at once: nothing there),
    /// then soft-resets the channel.
    fn reset_channel(&mut self, ports: ChannelPorts) -> Result<(), ProbeFailure> {
        let mut io = ChannelIo {
            hal: &mut self.hal,
            ports,
        };
        io.select(Drive::Master);
        let status = io.status();
        if floating(status) && floating(io.alt_status()) {
            return Err(ProbeFailure::FloatingBus { status });
        }
        io.soft_reset(self.timeouts.reset_us).map_err(|status| {
            if floating(status) {
                ProbeFailure::FloatingBus { status }
            } else {
                ProbeFailure::ResetTimeout { status }
            }
        })
    }

    /// Classifies `drive` after a reset by its status and signature: `Ok` for an ATA device.
    fn classify(&mut self, ports: ChannelPorts, drive: Drive) -> Result<(), ProbeFailure> {
        let mut io = ChannelIo {
            hal: &mut self.hal,
            ports,
        };
        io.select(drive);
        let mut status = io.alt_status();
        if floating(status) {
            return Err(ProbeFailure::NoDevice { status });
        }
        if status & status::BSY != 0 {
            // While BSY is set the other registers (the signature) mean nothing.
            status = io
                .wait(self.timeouts.ready_us, |s| s & status::BSY == 0)
                .map_err(|status| ProbeFailure::Busy { status })?;
        }
        let (mid, high) = (io.read(reg::LBA_MID), io.read(reg::LBA_HIGH));
        match DeviceKind::from_signature(mid, high) {
            DeviceKind::Atapi => Err(ProbeFailure::Atapi),
            // An absent slave reads 0x00 (ATA lets device 0 answer for it), signature and all.
            _ if status == 0 => Err(ProbeFailure::NoDevice { status }),
            DeviceKind::Ata => Ok(()),
            kind => Err(ProbeFailure::NotAta { kind, mid, high }),
        }
    }

    /// Sends IDENTIFY DEVICE to the ATA device at `location` and checks what it says.
    fn identify(
        &mut self,
        ports: ChannelPorts,
        location: Location,
    ) -> Result<IdentifyInfo, ProbeFailure> {
        let t = self.timeouts;
        let mut io = ChannelIo {
            hal: &mut self.hal,
            ports,
        };
        io.select(location.drive);
        io.wait_idle(t.ready_us)
            .map_err(|status| ProbeFailure::Busy { status })?;
        let tf = TaskFile::plain(ata::IDENTIFY_DEVICE, location.drive);
        let mut data = [0u8; 512];
        if let Err(failure) = io.pio_in(&tf, &mut data, 512, t.identify_us) {
            if let CommandFailure::Timeout { .. } = failure {
                // Whatever the device's state, leave the channel reset for the other drive.
                let _ = io.soft_reset(t.reset_us);
            } else if DeviceKind::from_signature(io.read(reg::LBA_MID), io.read(reg::LBA_HIGH))
                == DeviceKind::Atapi
            {
                // An ATAPI device aborts IDENTIFY DEVICE and shows its signature again.
                return Err(ProbeFailure::Atapi);
            }
            return Err(ProbeFailure::Identify(CommandError {
                location,
                command: tf.command,
                lba: 0,
                failure,
            }));
        }
        let info = crate::ata::parse_identify(&data).map_err(ProbeFailure::BadIdentify)?;
        if !info.lba {
            return Err(ProbeFailure::NoLba);
        }
        match info.logical_sector_size {
            512 | 4096 => Ok(info),
            n => Err(ProbeFailure::UnsupportedSectorSize(n)),
        }
    }
}

/// The data of one command, in or out.
enum Data<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

impl Data<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Read(b) => b.len(),
            Self::Write(b) => b.len(),
        }
    }

    fn is_write(&self) -> bool {
        matches!(self, Self::Write(_))
    }
}

/// An ATA disk on an IDE channel, as a [`BlockDevice`] of its logical sector size (512 or
/// 4096 bytes; the probe refuses others).
///
/// Errors: range and buffer checks first (nothing sent), then
/// [`CommandError::to_block_error`] of the failed command; [`IdeDisk::last_error`] keeps the
/// full detail, and each failure is logged at error level. The disk is `Send` when the HAL is;
/// the two disks of a channel may be used from different threads (they take turns).
pub struct IdeDisk<H: IdeHal> {
    hal: H,
    location: Location,
    ports: ChannelPorts,
    channel: Arc<ChannelState>,
    info: IdentifyInfo,
    timeouts: Timeouts,
    /// The PRD table (first [`PRDT_AREA`] bytes) and the bounce buffer, when DMA is set up.
    dma: Option<DmaRegion>,
    mode: TransferMode,
    last_error: Option<CommandError>,
    commands: u64,
}

impl<H: IdeHal> IdeDisk<H> {
    /// A disk after a successful IDENTIFY, with DMA set up if the controller and drive can.
    fn new(
        hal: H,
        location: Location,
        ports: ChannelPorts,
        channel: Arc<ChannelState>,
        info: IdentifyInfo,
        timeouts: Timeouts,
    ) -> Self {
        let mut disk = Self {
            hal,
            location,
            ports,
            channel,
            info,
            timeouts,
            dma: None,
            mode: TransferMode::Pio(PioReason::NoBusMaster),
            last_error: None,
            commands: 0,
        };
        disk.mode = disk.setup_dma();
        disk
    }

    /// Allocates the PRD table and bounce buffer (halving the buffer while memory is short,
    /// down to one sector), or says why the disk uses PIO.
    fn setup_dma(&mut self) -> TransferMode {
        if self.ports.bus_master.is_none() {
            return TransferMode::Pio(PioReason::NoBusMaster);
        }
        if !self.info.dma {
            return TransferMode::Pio(PioReason::NoDeviceDma);
        }
        let sector = self.block_size();
        let mut size = MAX_COMMAND_BYTES;
        let region = loop {
            if let Some(region) = self.hal.dma_alloc(PRDT_AREA + size) {
                break region;
            }
            if size <= sector {
                return TransferMode::Pio(PioReason::OutOfDmaMemory);
            }
            size /= 2;
        };
        let phys = region.phys();
        if region.len() < PRDT_AREA + size {
            // Less than asked for (a HAL breaking its contract): not worth the risk.
            self.hal.dma_free(region);
            return TransferMode::Pio(PioReason::OutOfDmaMemory);
        }
        if phys.saturating_add(region.len() as u64) > 1 << 32 {
            self.hal.dma_free(region);
            return TransferMode::Pio(PioReason::DmaAboveFourGiB { phys });
        }
        self.dma = Some(region);
        TransferMode::Dma
    }

    /// Where the disk is.
    pub fn location(&self) -> Location {
        self.location
    }

    /// What IDENTIFY DEVICE said.
    pub fn info(&self) -> &IdentifyInfo {
        &self.info
    }

    /// DMA or PIO, and why PIO.
    pub fn transfer_mode(&self) -> TransferMode {
        self.mode
    }

    /// The last command error, with the full detail a [`BlockError`] does not carry.
    pub fn last_error(&self) -> Option<CommandError> {
        self.last_error
    }

    /// How many commands were issued (a DMA command repeated by PIO counts twice).
    pub fn commands_issued(&self) -> u64 {
        self.commands
    }

    /// The most one command transfers: [`MAX_COMMAND_BYTES`], or less with a smaller bounce
    /// buffer.
    pub fn max_transfer_bytes(&self) -> usize {
        let bounce = match (&self.mode, &self.dma) {
            (TransferMode::Dma, Some(region)) => region.len().saturating_sub(PRDT_AREA),
            _ => MAX_COMMAND_BYTES,
        };
        bounce.min(MAX_COMMAND_BYTES)
    }

    /// Sectors per command: what fits [`max_transfer_bytes`](Self::max_transfer_bytes), at
    /// most 256 (the most a 28-bit command moves).
    fn chunk_sectors(&self) -> usize {
        (self.max_transfer_bytes() / self.block_size()).clamp(1, 256)
    }

    fn io(&mut self) -> ChannelIo<'_, H> {
        ChannelIo {
            hal: &mut self.hal,
            ports: self.ports,
        }
    }

    fn error(&self, tf: &TaskFile, failure: CommandFailure) -> CommandError {
        CommandError {
            location: self.location,
            command: tf.command,
            lba: tf.lba,
            failure,
        }
    }

    /// Takes the channel (waiting while the other drive uses it) unless it is out of service
    /// (checked before waiting, and again after: the other drive may have failed it).
    fn lock(&mut self, tf: &TaskFile) -> Result<ChannelLock, CommandError> {
        let failed = |d: &Self| d.channel.failed.load(Ordering::Acquire);
        if failed(self) {
            return Err(self.error(tf, CommandFailure::ChannelFailed));
        }
        let channel = Arc::clone(&self.channel);
        let lock = lock_channel(&mut self.hal, &channel, self.timeouts.lock_us())
            .ok_or_else(|| self.error(tf, CommandFailure::ChannelBusy))?;
        if failed(self) {
            return Err(self.error(tf, CommandFailure::ChannelFailed));
        }
        Ok(lock)
    }

    /// Soft-resets the channel; if that fails, takes it out of service for both drives.
    fn reset_channel(&mut self) {
        let reset_us = self.timeouts.reset_us;
        if let Err(status) = self.io().soft_reset(reset_us) {
            log::error!(
                "ide: {} channel still busy after a reset (status {status:#04x}); channel taken out of service",
                self.location.channel.name()
            );
            self.channel.failed.store(true, Ordering::Release);
        }
    }

    /// Selects the drive and waits for it to be idle, soft-resetting the channel once if it is
    /// not.
    fn prepare(&mut self, tf: &TaskFile) -> Result<(), CommandError> {
        let failed = |d: &Self| d.channel.failed.load(Ordering::Acquire);
        if failed(self) {
            return Err(self.error(tf, CommandFailure::ChannelFailed));
        }
        let (drive, ready_us) = (self.location.drive, self.timeouts.ready_us);
        self.io().select(drive);
        if self.io().wait_idle(ready_us).is_ok() {
            return Ok(());
        }
        self.reset_channel();
        if failed(self) {
            return Err(self.error(tf, CommandFailure::ChannelFailed));
        }
        self.io().select(drive);
        self.io()
            .wait_idle(ready_us)
            .map(|_| ())
            .map_err(|status| self.error(tf, CommandFailure::Busy { status }))
    }

    /// Runs one read or write command of `data.len()` bytes at `lba` (at most
    /// [`chunk_sectors`](Self::chunk_sectors)), by DMA if the disk uses it — falling back to
    /// PIO for good, and repeating the command by PIO, when DMA may be what failed.
    fn transfer(&mut self, lba: u64, data: &mut Data<'_>) -> Result<(), CommandError> {
        let count = (data.len() / self.block_size()) as u32;
        let ext = self.info.lba48 && proto::needs_lba48(lba, count);
        let tf = |dma| TaskFile {
            command: proto::rw_command(data.is_write(), dma, ext),
            drive: self.location.drive,
            lba,
            count,
            ext,
        };
        let (dma_tf, pio_tf) = (tf(true), tf(false));
        let _lock = self.lock(&pio_tf)?;
        if self.mode == TransferMode::Dma {
            self.prepare(&dma_tf)?;
            match self.dma_transfer(&dma_tf, data) {
                Ok(()) => return Ok(()),
                Err(f) if !f.dma_may_be_at_fault() => return Err(self.error(&dma_tf, f)),
                Err(f) => self.fall_back_to_pio(self.error(&dma_tf, f)),
            }
        }
        self.prepare(&pio_tf)?;
        self.pio_transfer(&pio_tf, data)
            .map_err(|f| self.after_failure(&pio_tf, f))
    }

    /// A DMA command failed in a way PIO may not: reset the channel (the device may still wait
    /// for data) and use PIO from now on.
    fn fall_back_to_pio(&mut self, e: CommandError) {
        log::warn!("ide: {e}; using PIO for this drive from now on");
        self.reset_channel();
        self.mode = TransferMode::Pio(PioReason::DmaFailed(e));
        if let Some(region) = self.dma.take() {
            // The engine was stopped at the end of the command; no PRD table points here.
            self.hal.dma_free(region);
        }
    }

    /// A failed command's error; after a timeout the channel is reset first.
    fn after_failure(&mut self, tf: &TaskFile, failure: CommandFailure) -> CommandError {
        if let CommandFailure::Timeout { .. } = failure {
            self.reset_channel();
        }
        self.error(tf, failure)
    }

    fn dma_transfer(&mut self, tf: &TaskFile, data: &mut Data<'_>) -> Result<(), CommandFailure> {
        let timeout = self.timeouts.data_us;
        self.commands += 1;
        let Self {
            hal, ports, dma, ..
        } = self;
        let Some(region) = dma.as_ref() else {
            return Err(CommandFailure::Dma {
                bm_status: 0,
                status: 0,
            });
        };
        let mut io = ChannelIo { hal, ports: *ports };
        let span = (PRDT_AREA, data.len());
        match data {
            Data::Read(buf) => {
                io.dma(tf, region, span, true, timeout)?;
                io.hal.dma_read(region, PRDT_AREA, buf);
            }
            Data::Write(buf) => {
                io.hal.dma_write(region, PRDT_AREA, buf);
                io.dma(tf, region, span, false, timeout)?;
            }
        }
        Ok(())
    }

    fn pio_transfer(&mut self, tf: &TaskFile, data: &mut Data<'_>) -> Result<(), CommandFailure> {
        let (block, timeout) = (self.block_size(), self.timeouts.data_us);
        self.commands += 1;
        match data {
            Data::Read(buf) => self.io().pio_in(tf, buf, block, timeout),
            Data::Write(buf) => self.io().pio_out(tf, buf, block, timeout),
        }
    }

    /// Splits a request into commands of at most [`chunk_sectors`](Self::chunk_sectors).
    fn run(&mut self, lba: u64, mut data: Data<'_>) -> Result<(), BlockError> {
        let bs = self.block_size();
        let mut done = 0;
        while done < data.len() {
            let n = (self.chunk_sectors() * bs).min(data.len() - done);
            let at = lba + (done / bs) as u64;
            let mut part = match &mut data {
                Data::Read(buf) => Data::Read(&mut buf[done..done + n]),
                Data::Write(buf) => Data::Write(&buf[done..done + n]),
            };
            if let Err(e) = self.transfer(at, &mut part) {
                log::error!("ide: {e}");
                self.last_error = Some(e);
                return Err(e.to_block_error());
            }
            done += n;
        }
        Ok(())
    }
}

impl<H: IdeHal> BlockDevice for IdeDisk<H> {
    fn block_size(&self) -> usize {
        self.info.logical_sector_size as usize
    }

    fn num_blocks(&self) -> u64 {
        self.info.sectors
    }

    fn is_read_only(&self) -> bool {
        false
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.block_size(), self.info.sectors, lba, buf.len())?;
        self.run(lba, Data::Read(buf))
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.block_size(), self.info.sectors, lba, buf.len())?;
        self.run(lba, Data::Write(buf))
    }

    /// FLUSH CACHE EXT (or FLUSH CACHE when only that is supported). A disk that supports
    /// neither has no volatile cache to flush: `Ok` without a command.
    fn flush(&mut self) -> Result<(), BlockError> {
        let command = if self.info.flush_ext {
            ata::FLUSH_CACHE_EXT
        } else if self.info.flush {
            ata::FLUSH_CACHE
        } else {
            return Ok(());
        };
        let tf = TaskFile::plain(command, self.location.drive);
        let result = self.lock(&tf).and_then(|_lock| {
            self.prepare(&tf)?;
            self.commands += 1;
            let timeout = self.timeouts.flush_us;
            let mut io = self.io();
            io.issue(&tf);
            io.finish(&tf, timeout)
                .map_err(|f| self.after_failure(&tf, f))
        });
        result.map_err(|e| {
            log::error!("ide: {e}");
            self.last_error = Some(e);
            e.to_block_error()
        })
    }
}

impl<H: IdeHal> Drop for IdeDisk<H> {
    /// Stops the channel's bus master (under the channel lock, so never during the other
    /// drive's command) and gives the DMA region back; if the lock cannot be had, the region
    /// is leaked rather than freed under a possibly running engine.
    fn drop(&mut self) {
        let Some(region) = self.dma.take() else {
            return;
        };
        let channel = Arc::clone(&self.channel);
        let Some(_lock) = lock_channel(&mut self.hal, &channel, self.timeouts.lock_us()) else {
            log::warn!(
                "ide: {}: channel never free; leaking its DMA memory",
                self.location
            );
            return;
        };
        if let Some(base) = self.ports.bus_master {
            self.hal.write8(base + bm::COMMAND, 0);
        }
        self.hal.dma_free(region);
    }
}
