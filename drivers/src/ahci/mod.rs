//! AHCI (SATA) host bus adapters and the disks on them, as [`BlockDevice`]s.
//!
//! The driver is generic over [`AhciHal`], which gives it the HBA's registers (ABAR = BAR5), DMA
//! memory and a microsecond clock; the kernel implements it over its MMIO window and frame
//! allocator, tests over a fake HBA that executes commands against RAM disks.
//!
//! Bring-up: [`Controller::init`] takes the HBA from the firmware (BIOS/OS handoff when
//! CAP2.BOH), enables AHCI mode and resets the HBA (GHC.HR, with a timeout); then
//! [`Controller::open_port`] (or [`Controller::open_ports`] for every implemented port) checks
//! that a device is attached (SSTS.DET = 3 and IPM = 1), stops the port, gives it a command
//! list and a received-FIS area in DMA memory, turns FIS reception on, waits for the device's
//! first D2H FIS (BSY clear, PxSIG set), checks that it is a SATA disk (signature
//! `0x00000101`), starts the port and sends IDENTIFY DEVICE. The answer is an [`AhciDisk`].
//!
//! Requests: one command at a time in slot 0, data through a per-port bounce buffer of DMA
//! memory (caller buffers may not be physically contiguous), described by a PRDT (each entry at
//! most 4 MiB). READ DMA EXT, WRITE DMA EXT and FLUSH CACHE EXT; completion by polling PxCI and
//! PxIS against a deadline. Nothing waits without a deadline: a device that does not answer
//! gives [`CommandError::Timeout`] and a port reset (COMRESET); a task-file error gives
//! [`CommandError::Device`] with the ATA error register decoded, and the port is restarted
//! (AHCI 1.3.1, 6.2.2.1) so the next request can succeed.

pub mod proto;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use core::fmt;

use crate::block::{check_request, BlockDevice, BlockError, DeviceFailure};
use crate::hal::wait_until;
use proto::{
    ata, build_prdt, d2h_lba, hba, port as preg, sig, AtaErrorBits, CommandHeader, H2dFis,
    IdentifyError, IdentifyInfo, Prd, PrdtError, FIS_TYPE_REG_D2H, PRDT_OFFSET, PRD_BYTES,
    RFIS_D2H_OFFSET,
};

/// DMA memory a HAL handed out (shared by the drivers: see [`crate::hal`]).
pub use crate::hal::DmaRegion;
/// The HAL the AHCI driver is generic over: [`MmioDmaHal`](crate::hal::MmioDmaHal) (one
/// device's registers, DMA memory, a clock), under the name the kernel implements. Here the
/// registers are one AHCI HBA's ABAR: `offset` is below `0x1100` (32 ports).
///
/// The driver divides the HBA between the handle's clones (the duty item 2 of the trait's
/// safety section leaves to each driver):
/// - The HBA-global registers (CAP, GHC, PI, VS, CAP2, BOHC) are accessed, and every port's
///   spin-up bits (PxCMD.SUD/POD) written, only by [`Controller::init`], before any disk
///   exists (the controller caches CAP, PI and VS).
/// - A port's registers, its DMA region (command list, received-FIS area, command table) and
///   its bounce buffer belong to the one [`AhciDisk`] opened on it, from
///   [`Controller::open_port`] until the disk is dropped: no other handle writes them. A
///   controller opens each port at most once ([`PortError::InUse`]), so no two disks share a
///   port, and a disk touches no register outside its port.
/// - Besides `open_port`'s check of PxSSTS before the disk exists, the controller only reads
///   PxSSTS and PxSIG ([`Controller::port_status`]): read-only status registers, whose reads
///   change nothing.
///
/// So disks on different ports share no register and no DMA memory and need no lock between
/// them; one disk's requests are serialised by its `&mut self`. The driver frees a region only
/// after the port that used it has stopped (PxCMD.CR and FR clear), and leaks it otherwise.
pub use crate::hal::MmioDmaHal as AhciHal;

/// Whether a PCI function is an AHCI HBA: mass storage, SATA, AHCI 1.0 programming interface
/// (class 01:06:01).
pub fn is_ahci_function(dev: &crate::pci::PciDevice) -> bool {
    (dev.class, dev.subclass, dev.prog_if) == (0x01, 0x06, 0x01)
}

/// How long the driver waits for each thing, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// BIOS/OS handoff: BOS to clear (25 ms, AHCI 10.6.3) and then, if the BIOS is busy, more.
    pub handoff_us: u64,
    /// GHC.HR to clear (the HBA must reset within 1 s, AHCI 10.4.3).
    pub hba_reset_us: u64,
    /// Links to come up (SSTS.DET = 3) after an HBA reset or COMRESET.
    pub link_us: u64,
    /// PxCMD.CR / FR to clear after clearing ST / FRE (500 ms, AHCI 10.1.2).
    pub stop_us: u64,
    /// The device to drop BSY and DRQ before the port starts.
    pub ready_us: u64,
    /// IDENTIFY DEVICE, READ and WRITE DMA EXT.
    pub data_us: u64,
    /// FLUSH CACHE (EXT), which may write a whole cache to the medium.
    pub flush_us: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handoff_us: 2_000_000,
            hba_reset_us: 1_000_000,
            link_us: 50_000,
            stop_us: 500_000,
            ready_us: 5_000_000,
            data_us: 5_000_000,
            flush_us: 30_000_000,
        }
    }
}

/// Busy-waits `us` microseconds.
fn delay<H: AhciHal>(hal: &mut H, us: u64) {
    wait_until(hal, us, |_| false);
}

/// Why a controller could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AhciError {
    /// GHC.HR did not clear within the timeout.
    HbaResetTimeout { ghc: u32 },
    /// PI says no port is implemented.
    NoPorts,
}

impl fmt::Display for AhciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HbaResetTimeout { ghc } => {
                write!(f, "HBA reset did not complete (GHC {ghc:#010x})")
            }
            Self::NoPorts => write!(f, "the HBA implements no ports"),
        }
    }
}

/// Why a port gave no disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortError {
    /// The port number is not in PI.
    NotImplemented { port: u8 },
    /// SSTS.DET is not 3: nothing attached (0), or no PHY communication (1), or the PHY is
    /// offline (4).
    NoDevice { port: u8, det: u32 },
    /// A device is attached but the link is in a power-saving state (SSTS.IPM not 1).
    LinkInactive { port: u8, ipm: u32 },
    /// The device is not a SATA disk (ATAPI, port multiplier, …).
    NotSataDisk { port: u8, signature: u32 },
    /// PxCMD.CR or FR did not clear when the port was stopped.
    StopTimeout { port: u8, cmd: u32 },
    /// The device kept BSY or DRQ set, even after a COMRESET.
    DeviceBusy { port: u8, tfd: u32 },
    /// No DMA memory for the command list, received FISes or the bounce buffer.
    OutOfDmaMemory { port: u8 },
    /// DMA memory lies above 4 GiB and the HBA cannot address it (CAP.S64A = 0).
    DmaNotReachable { port: u8, phys: u64 },
    /// IDENTIFY DEVICE failed.
    Identify(CommandError),
    /// IDENTIFY DEVICE's answer makes no sense.
    BadIdentify { port: u8, error: IdentifyError },
    /// The disk lacks the 48-bit feature set (READ/WRITE DMA EXT).
    NoLba48 { port: u8 },
    /// This controller already gave a disk on the port (each port is opened at most once, so
    /// that one disk owns it).
    InUse { port: u8 },
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotImplemented { port } => write!(f, "port {port} is not implemented"),
            Self::NoDevice { port, det } => write!(
                f,
                "port {port}: no device (SSTS.DET {det}: {})",
                match det {
                    0 => "nothing attached",
                    1 => "device present, no PHY communication",
                    4 => "PHY offline",
                    _ => "unknown",
                }
            ),
            Self::LinkInactive { port, ipm } => {
                write!(f, "port {port}: link in power state {ipm}, not active")
            }
            Self::NotSataDisk { port, signature } => write!(
                f,
                "port {port}: {} (signature {signature:#010x}), not a SATA disk",
                sig::name(*signature)
            ),
            Self::StopTimeout { port, cmd } => {
                write!(f, "port {port}: did not stop (PxCMD {cmd:#010x})")
            }
            Self::DeviceBusy { port, tfd } => {
                write!(f, "port {port}: device stays busy (PxTFD {tfd:#06x})")
            }
            Self::OutOfDmaMemory { port } => write!(f, "port {port}: out of DMA memory"),
            Self::DmaNotReachable { port, phys } => write!(
                f,
                "port {port}: DMA memory at {phys:#x} is above 4 GiB and the HBA has 32-bit addressing"
            ),
            Self::Identify(e) => write!(f, "{e}"),
            Self::BadIdentify { port, error } => write!(f, "port {port}: {error}"),
            Self::NoLba48 { port } => {
                write!(f, "port {port}: the disk lacks 48-bit LBA (READ/WRITE DMA EXT)")
            }
            Self::InUse { port } => write!(f, "port {port}: already opened by this controller"),
        }
    }
}

/// Why a command failed. Every variant names the port, the ATA command and the first LBA of
/// the request (0 for commands without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The command did not complete within its timeout. The port was reset (COMRESET).
    Timeout { port: u8, command: u8, lba: u64 },
    /// The device ended the command with an error (PxIS.TFES / PxTFD.ERR): `status` and `error`
    /// are the ATA status and error registers, `reported_lba` the LBA the device's D2H FIS
    /// gives (for UNC/IDNF: the first failing sector).
    Device {
        port: u8,
        command: u8,
        lba: u64,
        status: u8,
        error: AtaErrorBits,
        reported_lba: u64,
    },
    /// The HBA reported a host bus or interface error (PxIS), with PxSERR.
    Hba {
        port: u8,
        command: u8,
        lba: u64,
        interrupt_status: u32,
        serror: u32,
    },
    /// A read completed with fewer bytes than asked (PRDBC).
    ShortTransfer {
        port: u8,
        command: u8,
        lba: u64,
        expected: u32,
        transferred: u32,
    },
    /// The device was still busy (BSY/DRQ) before the command, and a reset did not help.
    Busy {
        port: u8,
        command: u8,
        lba: u64,
        tfd: u32,
    },
    /// An earlier recovery failed; the port takes no more commands.
    PortFailed { port: u8, command: u8, lba: u64 },
    /// The transfer could not be described in the PRDT (a driver limit).
    Prdt {
        port: u8,
        command: u8,
        lba: u64,
        error: PrdtError,
    },
}

impl CommandError {
    /// The port, command and LBA every variant carries.
    pub fn context(&self) -> (u8, u8, u64) {
        match *self {
            Self::Timeout { port, command, lba }
            | Self::Device {
                port, command, lba, ..
            }
            | Self::Hba {
                port, command, lba, ..
            }
            | Self::ShortTransfer {
                port, command, lba, ..
            }
            | Self::Busy {
                port, command, lba, ..
            }
            | Self::PortFailed { port, command, lba }
            | Self::Prdt {
                port, command, lba, ..
            } => (port, command, lba),
        }
    }

    /// The [`BlockError`] a caller of [`BlockDevice`] sees.
    pub fn to_block_error(&self) -> BlockError {
        let (_, _, lba) = self.context();
        let failure = match *self {
            Self::Device { reported_lba, .. } => {
                return BlockError::Io {
                    lba: if reported_lba >= lba {
                        reported_lba
                    } else {
                        lba
                    },
                }
            }
            Self::Timeout { .. } => DeviceFailure::Timeout,
            Self::Hba { .. } | Self::ShortTransfer { .. } => DeviceFailure::Protocol,
            Self::Busy { .. } | Self::PortFailed { .. } => DeviceFailure::NotReady,
            Self::Prdt { .. } => DeviceFailure::Unsupported,
        };
        BlockError::Device { lba, failure }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (port, command, lba) = self.context();
        write!(f, "port {port}: {} at LBA {lba}: ", ata::name(command))?;
        match self {
            Self::Timeout { .. } => write!(f, "timed out; port reset"),
            Self::Device {
                status,
                error,
                reported_lba,
                ..
            } => write!(
                f,
                "device error {error} (status {status:#04x}, error {:#04x}, device reports LBA {reported_lba})",
                error.0
            ),
            Self::Hba {
                interrupt_status,
                serror,
                ..
            } => write!(
                f,
                "HBA error (PxIS {interrupt_status:#010x}, PxSERR {serror:#010x})"
            ),
            Self::ShortTransfer {
                expected,
                transferred,
                ..
            } => write!(f, "transferred {transferred} of {expected} bytes"),
            Self::Busy { tfd, .. } => write!(f, "device busy before the command (PxTFD {tfd:#06x})"),
            Self::PortFailed { .. } => write!(f, "port out of service after a failed reset"),
            Self::Prdt { error, .. } => write!(f, "{error}"),
        }
    }
}

/// An HBA after reset, in AHCI mode, ready to open ports.
pub struct Controller<H: AhciHal> {
    hal: H,
    cap: u32,
    ports_implemented: u32,
    version: u32,
    timeouts: Timeouts,
    /// The firmware kept BOS set after the handoff timeout (the driver took over anyway).
    handoff_forced: bool,
    /// Ports that gave a disk: each is that disk's alone, never opened again.
    opened: u32,
}

impl<H: AhciHal> Controller<H> {
    /// Takes the HBA from the firmware (when CAP2.BOH), enables AHCI mode, resets the HBA and
    /// waits (up to [`Timeouts::link_us`]) for the links of implemented ports to come up.
    /// Interrupts stay off (the driver polls).
    ///
    /// # Errors
    /// [`AhciError::HbaResetTimeout`], [`AhciError::NoPorts`].
    pub fn init(mut hal: H, timeouts: Timeouts) -> Result<Self, AhciError> {
        let mut handoff_forced = false;
        if hal.read32(hba::CAP2) & hba::CAP2_BOH != 0 {
            let bohc = hal.read32(hba::BOHC);
            if bohc & hba::BOHC_BOS != 0 || bohc & hba::BOHC_OOS == 0 {
                hal.write32(hba::BOHC, bohc | hba::BOHC_OOS);
                // BOS clears within 25 ms unless the BIOS says it is busy (BB); then it gets
                // the rest of the handoff timeout.
                let released = |h: &mut H| h.read32(hba::BOHC) & hba::BOHC_BOS == 0;
                let mut ok = wait_until(&mut hal, 25_000, released);
                if !ok && hal.read32(hba::BOHC) & hba::BOHC_BB != 0 {
                    ok = wait_until(&mut hal, timeouts.handoff_us, released);
                }
                if !ok {
                    log::warn!("firmware kept the HBA after the handoff timeout; taking it");
                    handoff_forced = true;
                }
            }
        }
        let ghc = hal.read32(hba::GHC);
        hal.write32(hba::GHC, ghc | hba::GHC_AE);
        hal.write32(hba::GHC, (ghc | hba::GHC_AE) & !hba::GHC_IE | hba::GHC_HR);
        if !wait_until(&mut hal, timeouts.hba_reset_us, |h| {
            h.read32(hba::GHC) & hba::GHC_HR == 0
        }) {
            return Err(AhciError::HbaResetTimeout {
                ghc: hal.read32(hba::GHC),
            });
        }
        // The reset clears AE (unless the HBA is AHCI-only); interrupts stay off.
        hal.write32(hba::GHC, hba::GHC_AE);
        let cap = hal.read32(hba::CAP);
        let ports_implemented = hal.read32(hba::PI);
        if ports_implemented == 0 {
            return Err(AhciError::NoPorts);
        }
        let version = hal.read32(hba::VS);
        // Spin up every port (matters with staggered spin-up) and wait for their links.
        for p in (0..32u8).filter(|p| ports_implemented & (1 << p) != 0) {
            let cmd = hal.read32(preg::reg(p, preg::CMD));
            hal.write32(preg::reg(p, preg::CMD), cmd | preg::CMD_SUD | preg::CMD_POD);
        }
        wait_until(&mut hal, timeouts.link_us, |h| {
            (0..32u8)
                .filter(|p| ports_implemented & (1 << p) != 0)
                .all(|p| preg::det(h.read32(preg::reg(p, preg::SSTS))) == preg::DET_PRESENT)
        });
        Ok(Self {
            hal,
            cap,
            ports_implemented,
            version,
            timeouts,
            handoff_forced,
            opened: 0,
        })
    }

    /// CAP, the host capabilities.
    pub fn capabilities(&self) -> u32 {
        self.cap
    }

    /// PI, the bitmap of implemented ports.
    pub fn ports_implemented(&self) -> u32 {
        self.ports_implemented
    }

    /// VS, e.g. `0x00010301` for AHCI 1.3.1.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The version as `major.minor[.sub]`.
    pub fn version_string(&self) -> alloc::string::String {
        let (major, minor, sub) = (
            self.version >> 16,
            (self.version >> 8) & 0xff,
            self.version & 0xff,
        );
        if sub == 0 {
            alloc::format!("{major}.{minor:x}")
        } else {
            alloc::format!("{major}.{minor:x}.{sub:x}")
        }
    }

    /// Whether the HBA addresses 64-bit DMA memory (CAP.S64A).
    pub fn supports_64bit_dma(&self) -> bool {
        self.cap & hba::CAP_S64A != 0
    }

    /// Whether the firmware held on to the HBA past the handoff timeout.
    pub fn handoff_forced(&self) -> bool {
        self.handoff_forced
    }

    /// The implemented ports, lowest first.
    pub fn ports(&self) -> impl Iterator<Item = u8> + '_ {
        (0..32u8).filter(|p| self.ports_implemented & (1 << p) != 0)
    }

    /// PxSSTS and PxSIG of `port`, for the log (reads only: a disk may own the port).
    pub fn port_status(&mut self, port: u8) -> (u32, u32) {
        (
            self.hal.read32(preg::reg(port, preg::SSTS)),
            self.hal.read32(preg::reg(port, preg::SIG)),
        )
    }
}

impl<H: AhciHal + Clone> Controller<H> {
    /// [`open_port`](Self::open_port) on every implemented port, lowest first.
    pub fn open_ports(&mut self) -> Vec<(u8, Result<AhciDisk<H>, PortError>)> {
        let ports: Vec<u8> = self.ports().collect();
        ports.into_iter().map(|p| (p, self.open_port(p))).collect()
    }

    /// Brings up the SATA disk on `port`: checks the link and signature, stops the port, gives
    /// it a command list and received-FIS area, starts it and identifies the disk.
    ///
    /// # Errors
    /// Every [`PortError`]: no device or not a SATA disk (nothing touched), the port already
    /// gave a disk ([`PortError::InUse`], nothing touched), the port or device does not
    /// cooperate, no DMA memory, IDENTIFY fails or the disk lacks 48-bit LBA. DMA memory is
    /// given back (or leaked, if the port would not stop) on error.
    pub fn open_port(&mut self, port: u8) -> Result<AhciDisk<H>, PortError> {
        if port >= 32 || self.ports_implemented & (1 << port) == 0 {
            return Err(PortError::NotImplemented { port });
        }
        if self.opened & (1 << port) != 0 {
            return Err(PortError::InUse { port });
        }
        let hal = &mut self.hal;
        let ssts = hal.read32(preg::reg(port, preg::SSTS));
        let det = preg::det(ssts);
        if det != preg::DET_PRESENT {
            return Err(PortError::NoDevice { port, det });
        }
        let ipm = preg::ipm(ssts);
        if ipm != preg::IPM_ACTIVE {
            return Err(PortError::LinkInactive { port, ipm });
        }
        let mut disk = AhciDisk {
            hal: self.hal.clone(),
            port,
            s64a: self.cap & hba::CAP_S64A != 0,
            mem: None,
            bounce: None,
            info: IdentifyInfo {
                logical_sector_size: 512,
                physical_sector_size: 512,
                ..IdentifyInfo::default()
            },
            timeouts: self.timeouts,
            failed: false,
            last_error: None,
            commands: 0,
        };
        disk.setup()?;
        self.opened |= 1 << port;
        Ok(disk)
    }
}

/// Where things live in a port's 4 KiB page of DMA memory: the command list (1 KiB aligned),
/// the received-FIS area (256-byte aligned), the command table of slot 0 (128-byte aligned).
const CL_OFFSET: usize = 0;
const RFIS_OFFSET: usize = 0x400;
const CT_OFFSET: usize = 0x500;
/// PRDT entries in slot 0's command table (it ends well inside the page).
pub const MAX_PRDS: usize = 64;
const PORT_MEM_BYTES: usize = 4096;
/// The bounce buffer's size, tried first; halved while DMA memory is short.
pub const BOUNCE_BYTES: usize = 256 * 1024;

/// A SATA disk on an AHCI port, as a [`BlockDevice`] of its logical sector size.
///
/// [`BlockDevice::block_size`] is whatever IDENTIFY reports (any even size from 512 bytes to
/// 64 KiB; 4096 for 4Kn disks): callers that need 512 or 4096 check it (the kernel's probe
/// refuses other sizes). Errors: range and buffer checks first (nothing sent), then
/// [`CommandError::to_block_error`] of the failed command — device errors as
/// [`BlockError::Io`] at the LBA the device reports, timeouts as [`DeviceFailure::Timeout`],
/// HBA errors and short transfers as [`DeviceFailure::Protocol`], a port out of service as
/// [`DeviceFailure::NotReady`]; [`AhciDisk::last_error`] keeps the full detail, and each failure
/// is logged at error level.
pub struct AhciDisk<H: AhciHal> {
    hal: H,
    port: u8,
    s64a: bool,
    /// Command list, received FISes, command table.
    mem: Option<DmaRegion>,
    bounce: Option<DmaRegion>,
    info: IdentifyInfo,
    timeouts: Timeouts,
    /// A recovery failed: no more commands.
    failed: bool,
    last_error: Option<CommandError>,
    commands: u64,
}

impl<H: AhciHal> AhciDisk<H> {
    /// The port the disk is on.
    pub fn port(&self) -> u8 {
        self.port
    }

    /// What IDENTIFY DEVICE said.
    pub fn info(&self) -> &IdentifyInfo {
        &self.info
    }

    /// The last command error, with the full detail (ATA error bits, device LBA) that a
    /// [`BlockError`] does not carry.
    pub fn last_error(&self) -> Option<CommandError> {
        self.last_error
    }

    /// Whether a failed recovery took the port out of service.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// How many commands were issued.
    pub fn commands_issued(&self) -> u64 {
        self.commands
    }

    /// The bounce buffer's size: the most one command transfers.
    pub fn max_transfer_bytes(&self) -> usize {
        self.bounce.as_ref().map_or(0, |b| b.len())
    }

    fn reg(&mut self, reg: usize) -> u32 {
        self.hal.read32(preg::reg(self.port, reg))
    }

    fn set_reg(&mut self, reg: usize, value: u32) {
        self.hal.write32(preg::reg(self.port, reg), value)
    }

    fn alloc(&mut self, len: usize) -> Result<Option<DmaRegion>, PortError> {
        let Some(region) = self.hal.dma_alloc(len) else {
            return Ok(None);
        };
        let end = region.phys().saturating_add(region.len() as u64);
        if !self.s64a && end > 1 << 32 {
            let phys = region.phys();
            self.hal.dma_free(region);
            return Err(PortError::DmaNotReachable {
                port: self.port,
                phys,
            });
        }
        Ok(Some(region))
    }

    /// Clears ST and FRE and waits for CR and FR to clear.
    fn stop(&mut self) -> bool {
        let port = self.port;
        let t = self.timeouts.stop_us;
        let cmd = self.reg(preg::CMD);
        if cmd & preg::CMD_ST != 0 {
            self.set_reg(preg::CMD, cmd & !preg::CMD_ST);
        }
        let cr_clear = wait_until(&mut self.hal, t, |h| {
            h.read32(preg::reg(port, preg::CMD)) & preg::CMD_CR == 0
        });
        let cmd = self.reg(preg::CMD);
        if cmd & preg::CMD_FRE != 0 {
            self.set_reg(preg::CMD, cmd & !preg::CMD_FRE);
        }
        let fr_clear = wait_until(&mut self.hal, t, |h| {
            h.read32(preg::reg(port, preg::CMD)) & preg::CMD_FR == 0
        });
        cr_clear && fr_clear
    }

    fn busy(&mut self) -> bool {
        self.reg(preg::TFD) & (preg::TFD_BSY | preg::TFD_DRQ) != 0
    }

    /// Waits for BSY and DRQ to clear and for the device's signature to arrive.
    fn wait_ready(&mut self) -> bool {
        let port = self.port;
        wait_until(&mut self.hal, self.timeouts.ready_us, |h| {
            h.read32(preg::reg(port, preg::TFD)) & (preg::TFD_BSY | preg::TFD_DRQ) == 0
                && h.read32(preg::reg(port, preg::SIG)) != u32::MAX
        })
    }

    /// COMRESET (SCTL.DET = 1 for at least 1 ms, then 0) and waits for the link. The port must
    /// be stopped (ST clear).
    fn comreset(&mut self) -> bool {
        let sctl = self.reg(preg::SCTL);
        // DET = 1 (reset); IPM = 3: no transitions to partial or slumber.
        self.set_reg(preg::SCTL, (sctl & !0xf0f) | 0x301);
        delay(&mut self.hal, 1_000);
        self.set_reg(preg::SCTL, (sctl & !0xf0f) | 0x300);
        let port = self.port;
        let up = wait_until(&mut self.hal, self.timeouts.link_us.max(10_000), |h| {
            preg::det(h.read32(preg::reg(port, preg::SSTS))) == preg::DET_PRESENT
        });
        self.set_reg(preg::SERR, u32::MAX);
        up
    }

    /// Sets FRE (if needed) and ST.
    fn start(&mut self) {
        let cmd = self.reg(preg::CMD);
        if cmd & preg::CMD_FRE == 0 {
            self.set_reg(preg::CMD, cmd | preg::CMD_FRE);
        }
        let cmd = self.reg(preg::CMD);
        self.set_reg(preg::CMD, cmd | preg::CMD_ST);
    }

    /// Port setup and IDENTIFY.
    fn setup(&mut self) -> Result<(), PortError> {
        let port = self.port;
        let cmd = self.reg(preg::CMD);
        if !self.stop() {
            return Err(PortError::StopTimeout { port, cmd });
        }
        let mem = self
            .alloc(PORT_MEM_BYTES)?
            .ok_or(PortError::OutOfDmaMemory { port })?;
        let base = mem.phys();
        self.mem = Some(mem);
        let mut size = BOUNCE_BYTES;
        while self.bounce.is_none() {
            self.bounce = self.alloc(size)?;
            if size == 4096 {
                break;
            }
            size /= 2;
        }
        if self.bounce.is_none() {
            return Err(PortError::OutOfDmaMemory { port });
        }
        let (cl, fb) = (base + CL_OFFSET as u64, base + RFIS_OFFSET as u64);
        self.set_reg(preg::CLB, cl as u32);
        self.set_reg(preg::CLBU, (cl >> 32) as u32);
        self.set_reg(preg::FB, fb as u32);
        self.set_reg(preg::FBU, (fb >> 32) as u32);
        let cmd = self.reg(preg::CMD);
        self.set_reg(preg::CMD, cmd | preg::CMD_FRE);
        self.set_reg(preg::IE, 0);
        self.set_reg(preg::SERR, u32::MAX);
        self.set_reg(preg::IS, u32::MAX);
        // The device's first D2H register FIS (which sets PxSIG and clears BSY) arrives once
        // FIS reception is on.
        let ready = self.wait_ready() || (self.comreset() && self.wait_ready());
        let signature = self.reg(preg::SIG);
        if ready && signature != sig::SATA {
            return Err(PortError::NotSataDisk { port, signature });
        }
        if !ready {
            let tfd = self.reg(preg::TFD);
            return Err(PortError::DeviceBusy { port, tfd });
        }
        self.start();

        self.issue(
            H2dFis::plain(ata::IDENTIFY_DEVICE),
            false,
            512,
            self.timeouts.data_us,
        )
        .map_err(PortError::Identify)?;
        let mut data = [0u8; 512];
        self.copy_out(0, &mut data);
        let info =
            proto::parse_identify(&data).map_err(|error| PortError::BadIdentify { port, error })?;
        if !info.lba48 {
            return Err(PortError::NoLba48 { port });
        }
        if info.logical_sector_size as usize > self.max_transfer_bytes() {
            return Err(PortError::OutOfDmaMemory { port });
        }
        self.info = info;
        Ok(())
    }

    fn copy_out(&mut self, offset: usize, buf: &mut [u8]) {
        if let Some(b) = &self.bounce {
            self.hal.dma_read(b, offset, buf);
        }
    }

    fn copy_in(&mut self, offset: usize, data: &[u8]) {
        if let Some(b) = &self.bounce {
            self.hal.dma_write(b, offset, data);
        }
    }

    /// Non-queued error recovery (AHCI 6.2.2.1): stop the port, clear errors, COMRESET if the
    /// device is stuck (or `force_reset`), start again. On failure the port goes out of service.
    fn recover(&mut self, force_reset: bool) -> bool {
        let mut ok = self.stop_st();
        self.set_reg(preg::SERR, u32::MAX);
        self.set_reg(preg::IS, u32::MAX);
        if ok && (force_reset || self.busy()) {
            ok = self.comreset() && self.wait_ready();
        }
        if ok {
            self.start();
        } else {
            log::error!(
                "port {}: recovery failed; port taken out of service",
                self.port
            );
            self.failed = true;
        }
        ok
    }

    /// Clears ST only (FIS reception stays on) and waits for CR.
    fn stop_st(&mut self) -> bool {
        let port = self.port;
        let cmd = self.reg(preg::CMD);
        self.set_reg(preg::CMD, cmd & !preg::CMD_ST);
        wait_until(&mut self.hal, self.timeouts.stop_us, |h| {
            h.read32(preg::reg(port, preg::CMD)) & preg::CMD_CR == 0
        })
    }

    /// Issues `fis` in slot 0 with the first `bytes` bytes of the bounce buffer as data, and
    /// polls for completion. Returns the bytes the HBA transferred (PRDBC).
    fn issue(
        &mut self,
        fis: H2dFis,
        write: bool,
        bytes: usize,
        timeout_us: u64,
    ) -> Result<u32, CommandError> {
        let prds = self.prepare(&fis, bytes)?;
        self.submit(&fis, write, &prds)?;
        let (is, tfd) = self.wait_done(&fis, timeout_us)?;
        self.check_status(&fis, is, tfd)?;
        self.transferred(&fis, write, bytes)
    }

    /// Checks that the port takes commands, describes the first `bytes` bytes of the bounce
    /// buffer in a PRDT, and makes sure the device is not busy (resetting the port if it is).
    fn prepare(&mut self, fis: &H2dFis, bytes: usize) -> Result<Vec<Prd>, CommandError> {
        let (port, command, lba) = (self.port, fis.command, fis.lba);
        if self.failed {
            return Err(CommandError::PortFailed { port, command, lba });
        }
        let (Some(_), Some(bounce)) = (&self.mem, &self.bounce) else {
            return Err(CommandError::PortFailed { port, command, lba });
        };
        let segment = (bounce.phys(), bounce.len());
        let prds = build_prdt(&[segment], bytes, MAX_PRDS).map_err(|error| CommandError::Prdt {
            port,
            command,
            lba,
            error,
        })?;
        let ready = !self.busy() || (self.recover(true) && !self.busy());
        if !ready {
            let tfd = self.reg(preg::TFD);
            return Err(CommandError::Busy {
                port,
                command,
                lba,
                tfd,
            });
        }
        Ok(prds)
    }

    /// Writes slot 0's command table (the FIS and `prds`) and header, clears the port's error
    /// and interrupt status, and sets PxCI bit 0.
    fn submit(&mut self, fis: &H2dFis, write: bool, prds: &[Prd]) -> Result<(), CommandError> {
        let (port, command, lba) = (self.port, fis.command, fis.lba);
        let Some(mem) = &self.mem else {
            return Err(CommandError::PortFailed { port, command, lba });
        };
        let header = CommandHeader {
            fis_dwords: 5,
            write,
            prdt_len: prds.len() as u16,
            table: mem.phys() + CT_OFFSET as u64,
        };
        self.hal.dma_write(mem, CT_OFFSET, &fis.to_bytes());
        for (i, prd) in prds.iter().enumerate() {
            self.hal.dma_write(
                mem,
                CT_OFFSET + PRDT_OFFSET + i * PRD_BYTES,
                &prd.to_bytes(),
            );
        }
        self.hal.dma_write(mem, CL_OFFSET, &header.to_bytes());
        self.set_reg(preg::SERR, u32::MAX);
        self.set_reg(preg::IS, u32::MAX);
        self.commands += 1;
        self.set_reg(preg::CI, 1);
        Ok(())
    }

    /// Polls until slot 0 completes or PxIS reports an error; returns PxIS and PxTFD. A
    /// command that does neither within `timeout_us` is logged and the port reset.
    fn wait_done(&mut self, fis: &H2dFis, timeout_us: u64) -> Result<(u32, u32), CommandError> {
        let (port, command, lba) = (self.port, fis.command, fis.lba);
        let mut is = 0;
        let done = wait_until(&mut self.hal, timeout_us, |h| {
            is = h.read32(preg::reg(port, preg::IS));
            is & preg::IS_ERRORS != 0 || h.read32(preg::reg(port, preg::CI)) & 1 == 0
        });
        let tfd = self.reg(preg::TFD);
        if !done {
            log::error!(
                "port {port}: {} at LBA {lba} timed out after {} ms; resetting the port",
                ata::name(command),
                timeout_us / 1000
            );
            self.recover(true);
            return Err(CommandError::Timeout { port, command, lba });
        }
        Ok((is, tfd))
    }

    /// Turns a task-file error (PxIS.TFES or PxTFD.ERR) into [`CommandError::Device`] with the
    /// LBA the device's D2H FIS reports, and any other PxIS error into [`CommandError::Hba`];
    /// either way the port is recovered for the next command.
    fn check_status(&mut self, fis: &H2dFis, is: u32, tfd: u32) -> Result<(), CommandError> {
        let (port, command, lba) = (self.port, fis.command, fis.lba);
        if is & preg::IS_TFES != 0 || tfd & preg::TFD_ERR != 0 {
            let mut d2h = [0u8; 20];
            if let Some(mem) = &self.mem {
                self.hal
                    .dma_read(mem, RFIS_OFFSET + RFIS_D2H_OFFSET, &mut d2h);
            }
            let reported_lba = if d2h[0] == FIS_TYPE_REG_D2H {
                d2h_lba(&d2h)
            } else {
                lba
            };
            self.recover(false);
            return Err(CommandError::Device {
                port,
                command,
                lba,
                status: tfd as u8,
                error: AtaErrorBits((tfd >> 8) as u8),
                reported_lba,
            });
        }
        if is & preg::IS_ERRORS != 0 {
            let serror = self.reg(preg::SERR);
            self.recover(true);
            return Err(CommandError::Hba {
                port,
                command,
                lba,
                interrupt_status: is,
                serror,
            });
        }
        Ok(())
    }

    /// The bytes slot 0 transferred (PRDBC); a read that moved fewer than `bytes` is a
    /// [`CommandError::ShortTransfer`].
    fn transferred(
        &mut self,
        fis: &H2dFis,
        write: bool,
        bytes: usize,
    ) -> Result<u32, CommandError> {
        let mut prdbc = [0u8; 4];
        if let Some(mem) = &self.mem {
            self.hal.dma_read(mem, CL_OFFSET + 4, &mut prdbc);
        }
        let transferred = u32::from_le_bytes(prdbc);
        if !write && transferred as usize != bytes {
            return Err(CommandError::ShortTransfer {
                port: self.port,
                command: fis.command,
                lba: fis.lba,
                expected: bytes as u32,
                transferred,
            });
        }
        Ok(transferred)
    }

    fn fail(&mut self, e: CommandError) -> BlockError {
        log::error!("{e}");
        self.last_error = Some(e);
        e.to_block_error()
    }

    /// Sectors per command.
    fn chunk_sectors(&self) -> usize {
        (self.max_transfer_bytes() / self.info.logical_sector_size as usize).clamp(1, 0xffff)
    }
}

impl<H: AhciHal> BlockDevice for AhciDisk<H> {
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
        let bs = self.block_size();
        check_request(bs, self.info.sectors, lba, buf.len())?;
        let chunk = self.chunk_sectors() * bs;
        for (i, part) in buf.chunks_mut(chunk).enumerate() {
            let at = lba + (i * chunk / bs) as u64;
            let fis = H2dFis::lba48(ata::READ_DMA_EXT, at, (part.len() / bs) as u16);
            if let Err(e) = self.issue(fis, false, part.len(), self.timeouts.data_us) {
                return Err(self.fail(e));
            }
            self.copy_out(0, part);
        }
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let bs = self.block_size();
        check_request(bs, self.info.sectors, lba, buf.len())?;
        let chunk = self.chunk_sectors() * bs;
        for (i, part) in buf.chunks(chunk).enumerate() {
            let at = lba + (i * chunk / bs) as u64;
            self.copy_in(0, part);
            let fis = H2dFis::lba48(ata::WRITE_DMA_EXT, at, (part.len() / bs) as u16);
            if let Err(e) = self.issue(fis, true, part.len(), self.timeouts.data_us) {
                return Err(self.fail(e));
            }
        }
        Ok(())
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
        match self.issue(H2dFis::plain(command), false, 0, self.timeouts.flush_us) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl<H: AhciHal> Drop for AhciDisk<H> {
    /// Stops the port, then gives its DMA memory back; if the port will not stop, the memory
    /// is leaked (the HBA may still write to it).
    fn drop(&mut self) {
        if self.mem.is_none() && self.bounce.is_none() {
            return;
        }
        if !self.stop() {
            log::warn!("port {} did not stop; leaking its DMA memory", self.port);
            return;
        }
        if let Some(m) = self.mem.take() {
            self.hal.dma_free(m);
        }
        if let Some(b) = self.bounce.take() {
            self.hal.dma_free(b);
        }
    }
}
