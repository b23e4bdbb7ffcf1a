//! USB mass storage, Bulk-Only Transport (USB MSC BOT 1.0) with the SCSI transparent command
//! set, as a [`BlockDevice`]: [`UsbDisk`].
//!
//! Every command is a Command Block Wrapper (31 bytes, signature `USBC`, a fresh tag) on the
//! bulk OUT endpoint, an optional data phase on bulk IN or OUT, and a Command Status Wrapper
//! (13 bytes, signature `USBS`, the same tag) on bulk IN. A stalled data phase is cleared
//! (Reset Endpoint, Set TR Dequeue Pointer, CLEAR_FEATURE(ENDPOINT_HALT)) and the CSW read
//! anyway; a CSW that is invalid (length, signature, tag) or reports a phase error leads to
//! reset recovery (Bulk-Only Mass Storage Reset, then clearing both bulk endpoints) and a
//! protocol error; a CSW reporting failure leads to REQUEST SENSE, and the sense key, ASC and
//! ASCQ are reported ([`MscError::CheckCondition`]). A UNIT ATTENTION is retried once.
//!
//! Opening ([`UsbDisk::open`]): INQUIRY (devices that are not direct-access block devices give
//! [`MscError::NotDirectAccess`]), TEST UNIT READY until ready ([`MscTimeouts`]), READ CAPACITY
//! (10) and, if that answers `0xFFFFFFFF`, READ CAPACITY (16). Blocks of 512 or 4096 bytes.
//! Requests: READ/WRITE (10), or (16) past 32-bit LBAs, at most [`MAX_TRANSFER_BYTES`] each,
//! through a DMA bounce buffer; SYNCHRONIZE CACHE (10) for [`BlockDevice::flush`].
//!
//! Bounded waits: every transfer waits at most the controller's [`Timeouts`] (control 1 s,
//! bulk 5 s by default), while it watches the port's connection: an unplugged device gives
//! [`MscError::Disconnected`] at once, and every later request fails at once with it too.
//!
//! [`Timeouts`]: crate::usb::xhci::Timeouts

use alloc::string::String;
use core::fmt;

use crate::block::{check_request, BlockDevice, BlockError, DeviceFailure};
use crate::usb::desc::{request, SetupPacket};
use crate::usb::scsi::{key, Capacity, Cdb, Inquiry, Sense, INQUIRY_BYTES, SENSE_BYTES};
use crate::usb::xhci::{DmaRegion, TransferError, XhciHal};
use crate::usb::SharedController;

/// CBW signature, "USBC" little-endian.
pub const CBW_SIGNATURE: u32 = 0x4342_5355;
/// CSW signature, "USBS" little-endian.
pub const CSW_SIGNATURE: u32 = 0x5342_5355;
pub const CBW_BYTES: usize = 31;
pub const CSW_BYTES: usize = 13;
/// The most one READ or WRITE moves (the bounce buffer's size): 128 KiB, which takes two or
/// three Normal TRBs.
pub const MAX_TRANSFER_BYTES: usize = 128 * 1024;
/// Where things live in the disk's command page: CBW, CSW, small data-in answers.
const CBW_OFFSET: usize = 0;
const CSW_OFFSET: usize = 64;
const SMALL_OFFSET: usize = 128;
const SMALL_BYTES: usize = 256;

/// A Command Block Wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cbw {
    pub tag: u32,
    pub data_len: u32,
    pub data_in: bool,
    pub lun: u8,
    pub cdb: Cdb,
}

impl Cbw {
    pub fn to_bytes(&self) -> [u8; CBW_BYTES] {
        let mut b = [0u8; CBW_BYTES];
        b[0..4].copy_from_slice(&CBW_SIGNATURE.to_le_bytes());
        b[4..8].copy_from_slice(&self.tag.to_le_bytes());
        b[8..12].copy_from_slice(&self.data_len.to_le_bytes());
        b[12] = if self.data_in { 0x80 } else { 0 };
        b[13] = self.lun & 0xf;
        b[14] = self.cdb.len & 0x1f;
        b[15..31].copy_from_slice(&self.cdb.bytes);
        b
    }

    /// Parses a CBW (for fakes); `None` if the length or signature is wrong.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() != CBW_BYTES || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != CBW_SIGNATURE {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&b[15..31]);
        Some(Self {
            tag: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            data_len: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            data_in: b[12] & 0x80 != 0,
            lun: b[13] & 0xf,
            cdb: Cdb {
                bytes,
                len: b[14] & 0x1f,
            },
        })
    }
}

/// bCSWStatus values.
pub mod csw_status {
    pub const PASSED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const PHASE_ERROR: u8 = 2;
}

/// A Command Status Wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Csw {
    pub tag: u32,
    pub residue: u32,
    pub status: u8,
}

impl Csw {
    pub fn to_bytes(&self) -> [u8; CSW_BYTES] {
        let mut b = [0u8; CSW_BYTES];
        b[0..4].copy_from_slice(&CSW_SIGNATURE.to_le_bytes());
        b[4..8].copy_from_slice(&self.tag.to_le_bytes());
        b[8..12].copy_from_slice(&self.residue.to_le_bytes());
        b[12] = self.status;
        b
    }

    /// Parses and checks the CSW answering the CBW with `tag` for command `op`.
    ///
    /// # Errors
    /// [`MscError::CswLength`], [`MscError::CswSignature`], [`MscError::CswTag`],
    /// [`MscError::CswStatus`] (a status above 2).
    pub fn parse(b: &[u8], tag: u32, op: u8) -> Result<Self, MscError> {
        if b.len() != CSW_BYTES {
            return Err(MscError::CswLength { op, len: b.len() });
        }
        let signature = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if signature != CSW_SIGNATURE {
            return Err(MscError::CswSignature { op, signature });
        }
        let got = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        if got != tag {
            return Err(MscError::CswTag {
                op,
                expected: tag,
                got,
            });
        }
        if b[12] > csw_status::PHASE_ERROR {
            return Err(MscError::CswStatus { op, status: b[12] });
        }
        Ok(Self {
            tag,
            residue: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            status: b[12],
        })
    }
}

/// How the mass storage driver waits for a device to become ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MscTimeouts {
    /// TEST UNIT READY tries while the device says it is not ready (or reports a unit
    /// attention).
    pub ready_tries: u32,
    /// The pause between those tries, in microseconds.
    pub ready_pause_us: u64,
}

impl Default for MscTimeouts {
    fn default() -> Self {
        Self {
            ready_tries: 20,
            ready_pause_us: 100_000,
        }
    }
}

/// Why a mass storage command or device failed. `op` is the SCSI operation code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MscError {
    /// A USB transfer of the command failed.
    Transfer { op: u8, error: TransferError },
    /// The device was unplugged (its port reports no connection). Every later request fails
    /// at once with this.
    Disconnected { port: u8 },
    /// The CSW was not 13 bytes.
    CswLength { op: u8, len: usize },
    /// The CSW's signature is not `USBS`.
    CswSignature { op: u8, signature: u32 },
    /// The CSW answers another CBW.
    CswTag { op: u8, expected: u32, got: u32 },
    /// The CSW's status is not 0, 1 or 2.
    CswStatus { op: u8, status: u8 },
    /// The device reported a phase error (then reset recovery was done).
    PhaseError { op: u8 },
    /// The command failed with this sense data (CHECK CONDITION, then REQUEST SENSE).
    CheckCondition { op: u8, sense: Sense },
    /// The command failed and REQUEST SENSE gave nothing usable.
    Failed { op: u8 },
    /// A data-in answer was shorter than the command needs.
    ShortData { op: u8, len: usize },
    /// The device stayed not ready through every TEST UNIT READY try.
    NotReady { sense: Sense },
    /// INQUIRY says the logical unit is not a direct-access block device (e.g. a CD-ROM:
    /// type 5), or is not present.
    NotDirectAccess { peripheral: u8 },
    /// READ CAPACITY answered a block size other than 512 or 4096.
    UnsupportedBlockSize { bytes: u32 },
    /// No DMA memory for the command page or bounce buffer.
    OutOfDmaMemory,
    /// The USB interface has no bulk IN or bulk OUT endpoint.
    NoBulkEndpoints,
    /// Setting up the interface failed (SET_CONFIGURATION or Configure Endpoint).
    Setup(TransferError),
}

/// How many times a read or write is repeated after a transport error.
pub const RW_RETRIES: u32 = 2;

impl MscError {
    /// Whether the transport failed (a USB transfer error, a CSW out of step, a phase error, a
    /// short answer), rather than the device reporting on the data or going away: such a
    /// request may succeed when repeated.
    pub fn is_transport(&self) -> bool {
        match self {
            Self::Transfer { error, .. } => !error.is_gone(),
            Self::CswLength { .. }
            | Self::CswSignature { .. }
            | Self::CswTag { .. }
            | Self::CswStatus { .. }
            | Self::PhaseError { .. }
            | Self::ShortData { .. } => true,
            _ => false,
        }
    }

    /// The [`BlockError`] a [`BlockDevice`] caller sees for a request at `lba`: medium and
    /// hardware errors, stalls and bus errors are [`BlockError::Io`]; write protection is
    /// [`BlockError::ReadOnly`]; the rest a [`BlockError::Device`] (an unplugged device is
    /// [`DeviceFailure::Removed`]).
    pub fn to_block_error(&self, lba: u64) -> BlockError {
        let failure = match self {
            Self::CheckCondition { sense, .. } => match sense.key {
                key::MEDIUM_ERROR | key::HARDWARE_ERROR => return BlockError::Io { lba },
                key::DATA_PROTECT => return BlockError::ReadOnly,
                key::NOT_READY | key::UNIT_ATTENTION => DeviceFailure::NotReady,
                key::ILLEGAL_REQUEST => DeviceFailure::Unsupported,
                _ => return BlockError::Io { lba },
            },
            Self::Failed { .. } => return BlockError::Io { lba },
            Self::Transfer { error, .. } => match error {
                TransferError::Timeout { .. } => DeviceFailure::Timeout,
                TransferError::OutOfDmaMemory => DeviceFailure::OutOfDmaMemory,
                TransferError::Disconnected { .. } => DeviceFailure::Removed,
                e if e.is_gone() => DeviceFailure::NotReady,
                e if e.is_halt() => return BlockError::Io { lba },
                _ => DeviceFailure::Protocol,
            },
            Self::Disconnected { .. } => DeviceFailure::Removed,
            Self::NotReady { .. } => DeviceFailure::NotReady,
            Self::OutOfDmaMemory => DeviceFailure::OutOfDmaMemory,
            Self::UnsupportedBlockSize { .. } | Self::NotDirectAccess { .. } => {
                DeviceFailure::Unsupported
            }
            Self::CswLength { .. }
            | Self::CswSignature { .. }
            | Self::CswTag { .. }
            | Self::CswStatus { .. }
            | Self::PhaseError { .. }
            | Self::ShortData { .. }
            | Self::NoBulkEndpoints
            | Self::Setup(_) => DeviceFailure::Protocol,
        };
        BlockError::Device { lba, failure }
    }
}

impl fmt::Display for MscError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::usb::scsi::op::name;
        match self {
            Self::Transfer { op, error } => write!(f, "{}: {error}", name(*op)),
            Self::Disconnected { port } => {
                write!(f, "USB storage device on port {port} was unplugged")
            }
            Self::CswLength { op, len } => write!(
                f,
                "{}: USB storage status wrapper of {len} bytes, not 13 (device reset)",
                name(*op)
            ),
            Self::CswSignature { op, signature } => write!(
                f,
                "{}: USB storage status wrapper with bad signature {signature:#010x} (device reset)",
                name(*op)
            ),
            Self::CswTag { op, expected, got } => write!(
                f,
                "{}: USB storage status wrapper for tag {got:#x}, expected {expected:#x} (device reset)",
                name(*op)
            ),
            Self::CswStatus { op, status } => write!(
                f,
                "{}: USB storage status wrapper with invalid status {status} (device reset)",
                name(*op)
            ),
            Self::PhaseError { op } => {
                write!(f, "{}: USB storage phase error (device reset)", name(*op))
            }
            Self::CheckCondition { op, sense } => write!(f, "{} failed: {sense}", name(*op)),
            Self::Failed { op } => write!(f, "{} failed without sense data", name(*op)),
            Self::ShortData { op, len } => {
                write!(f, "{}: device answered only {len} bytes", name(*op))
            }
            Self::NotReady { sense } => write!(f, "USB storage device never became ready: {sense}"),
            Self::NotDirectAccess { peripheral } => write!(
                f,
                "not a direct-access block device (SCSI peripheral type {:#04x}, qualifier {})",
                peripheral & 0x1f,
                peripheral >> 5
            ),
            Self::UnsupportedBlockSize { bytes } => {
                write!(f, "{bytes}-byte blocks are not supported (only 512 and 4096)")
            }
            Self::OutOfDmaMemory => write!(f, "out of DMA memory for a USB storage device"),
            Self::NoBulkEndpoints => {
                write!(f, "USB storage interface lacks a bulk IN or bulk OUT endpoint")
            }
            Self::Setup(e) => write!(f, "configuring the USB storage interface: {e}"),
        }
    }
}

/// Where a command's data goes: nowhere, in from the device, or out to it; in the disk's
/// small buffer or its bounce buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    None,
    /// `len` bytes in: into the small buffer, or the bounce buffer if `bulk`.
    In {
        len: usize,
        bulk: bool,
    },
    /// `len` bytes out of the bounce buffer.
    Out {
        len: usize,
    },
}

/// The interface a [`UsbDisk`] drives: device slot and bulk endpoint addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BotInterface {
    pub slot: u8,
    pub port: u8,
    pub interface: u8,
    pub bulk_in: u8,
    pub bulk_out: u8,
}

/// A USB mass storage logical unit (LUN 0) as a [`BlockDevice`].
pub struct UsbDisk<H: XhciHal> {
    ctrl: SharedController<H>,
    iface: BotInterface,
    tag: u32,
    inquiry: Inquiry,
    block_size: usize,
    num_blocks: u64,
    use_16: bool,
    /// CBW, CSW and small answers.
    page: Option<DmaRegion>,
    bounce: Option<DmaRegion>,
    bounce_len: usize,
    gone: bool,
    last_error: Option<MscError>,
    /// Whether a transfer timed out: DMA memory is then leaked rather than freed.
    timed_out: bool,
    /// Reads and writes repeated after a transport error ([`RW_RETRIES`]).
    retried: u64,
    /// Whether the last command's reset recovery failed (then repeating it is pointless: the
    /// device does not answer on its control endpoint either).
    recovery_failed: core::cell::Cell<bool>,
}

impl<H: XhciHal> UsbDisk<H> {
    /// Opens LUN 0 of a configured Bulk-Only interface: INQUIRY, TEST UNIT READY (retried
    /// while not ready), READ CAPACITY.
    ///
    /// # Errors
    /// Every [`MscError`]; [`MscError::NotDirectAccess`] for other device types.
    pub fn open(
        ctrl: SharedController<H>,
        iface: BotInterface,
        timeouts: MscTimeouts,
    ) -> Result<Self, MscError> {
        let (page, bounce, bounce_len) = {
            let mut c = ctrl.lock();
            let page = c.alloc_dma(4096).ok_or(MscError::OutOfDmaMemory)?;
            let mut len = MAX_TRANSFER_BYTES;
            let bounce = loop {
                if let Some(b) = c.alloc_dma(len) {
                    break b;
                }
                if len <= 4096 {
                    c.free_dma(page);
                    return Err(MscError::OutOfDmaMemory);
                }
                len /= 2;
            };
            (page, bounce, len)
        };
        let mut disk = Self {
            ctrl,
            iface,
            tag: 0,
            inquiry: Inquiry::default(),
            block_size: 0,
            num_blocks: 0,
            use_16: false,
            page: Some(page),
            bounce: Some(bounce),
            bounce_len,
            gone: false,
            last_error: None,
            timed_out: false,
            retried: 0,
            recovery_failed: core::cell::Cell::new(false),
        };
        disk.inquiry = disk.inquire()?;
        if !disk.inquiry.is_direct_access() {
            return Err(MscError::NotDirectAccess {
                peripheral: disk.inquiry.peripheral,
            });
        }
        disk.wait_ready(timeouts)?;
        disk.read_capacity()?;
        Ok(disk)
    }

    /// INQUIRY data.
    pub fn inquiry(&self) -> &Inquiry {
        &self.inquiry
    }

    /// "vendor product" from INQUIRY.
    pub fn model(&self) -> String {
        self.inquiry.model()
    }

    /// The interface the disk drives.
    pub fn interface(&self) -> BotInterface {
        self.iface
    }

    /// The error of the last failed request.
    pub fn last_error(&self) -> Option<&MscError> {
        self.last_error.as_ref()
    }

    /// How many reads and writes were repeated after a transport error.
    pub fn retried(&self) -> u64 {
        self.retried
    }

    /// Whether the device was unplugged.
    pub fn is_gone(&self) -> bool {
        self.gone
    }

    /// Whether READ/WRITE (16) are used (READ CAPACITY (10) could not give the size).
    pub fn uses_16_byte_commands(&self) -> bool {
        self.use_16
    }

    /// The most one READ or WRITE moves.
    pub fn max_transfer_bytes(&self) -> usize {
        self.bounce_len
    }

    fn inquire(&mut self) -> Result<Inquiry, MscError> {
        let cdb = Cdb::inquiry(INQUIRY_BYTES);
        let n = self.command(
            cdb,
            Data::In {
                len: usize::from(INQUIRY_BYTES),
                bulk: false,
            },
        )?;
        let data = self.small(n);
        Inquiry::parse(&data).ok_or(MscError::ShortData {
            op: cdb.opcode(),
            len: n,
        })
    }

    /// TEST UNIT READY until the device is ready, at most `timeouts.ready_tries` times.
    fn wait_ready(&mut self, timeouts: MscTimeouts) -> Result<(), MscError> {
        let mut last = Sense::default();
        for _ in 0..timeouts.ready_tries.max(1) {
            match self.command(Cdb::test_unit_ready(), Data::None) {
                Ok(_) => return Ok(()),
                Err(MscError::CheckCondition { sense, .. })
                    if matches!(sense.key, key::NOT_READY | key::UNIT_ATTENTION) =>
                {
                    last = sense;
                    let mut c = self.ctrl.lock();
                    crate::hal::wait_until(c.hal(), timeouts.ready_pause_us, |_| false);
                }
                Err(e) => return Err(e),
            }
        }
        Err(MscError::NotReady { sense: last })
    }

    fn read_capacity(&mut self) -> Result<(), MscError> {
        let cdb = Cdb::read_capacity_10();
        let n = self.command(
            cdb,
            Data::In {
                len: 8,
                bulk: false,
            },
        )?;
        let mut cap = Capacity::parse_10(&self.small(n)).ok_or(MscError::ShortData {
            op: cdb.opcode(),
            len: n,
        })?;
        if cap.needs_16() {
            let cdb = Cdb::read_capacity_16();
            let n = self.command(
                cdb,
                Data::In {
                    len: 32,
                    bulk: false,
                },
            )?;
            cap = Capacity::parse_16(&self.small(n)).ok_or(MscError::ShortData {
                op: cdb.opcode(),
                len: n,
            })?;
            self.use_16 = true;
        }
        if cap.block_size != 512 && cap.block_size != 4096 {
            return Err(MscError::UnsupportedBlockSize {
                bytes: cap.block_size,
            });
        }
        self.block_size = cap.block_size as usize;
        self.num_blocks = cap.last_lba.saturating_add(1);
        if self.num_blocks > u64::from(u32::MAX) {
            self.use_16 = true;
        }
        Ok(())
    }

    /// The first `n` bytes of the small answer buffer.
    fn small(&mut self, n: usize) -> alloc::vec::Vec<u8> {
        let mut data = alloc::vec![0u8; n.min(SMALL_BYTES)];
        if let Some(page) = &self.page {
            self.ctrl.lock().dma_read(page, SMALL_OFFSET, &mut data);
        }
        data
    }

    /// Runs a command; on CHECK CONDITION asks REQUEST SENSE and retries once after a UNIT
    /// ATTENTION. Answers the data bytes moved.
    fn command(&mut self, cdb: Cdb, data: Data) -> Result<usize, MscError> {
        let result = match self.transport(cdb, data) {
            Err(MscError::CheckCondition { sense, .. }) if sense.key == key::UNIT_ATTENTION => {
                self.transport(cdb, data)
            }
            r => r,
        };
        if let Err(e) = &result {
            if matches!(e, MscError::Disconnected { .. }) {
                self.gone = true;
            }
            self.last_error = Some(e.clone());
        }
        result
    }

    /// One command through the Bulk-Only Transport, with sense data on failure.
    fn transport(&mut self, cdb: Cdb, data: Data) -> Result<usize, MscError> {
        let op = cdb.opcode();
        match self.bot(cdb, data)? {
            (n, csw_status::PASSED) => Ok(n),
            _ => {
                let sense_cdb = Cdb::request_sense(SENSE_BYTES);
                let len = usize::from(SENSE_BYTES);
                match self.bot(sense_cdb, Data::In { len, bulk: false })? {
                    (n, csw_status::PASSED) => match Sense::parse(&self.small(n)) {
                        Some(sense) => Err(MscError::CheckCondition { op, sense }),
                        None => Err(MscError::Failed { op }),
                    },
                    _ => Err(MscError::Failed { op }),
                }
            }
        }
    }

    /// CBW, data, CSW. Answers the bytes moved and the CSW status (passed or failed; a phase
    /// error is an error).
    fn bot(&mut self, cdb: Cdb, data: Data) -> Result<(usize, u8), MscError> {
        let op = cdb.opcode();
        self.recovery_failed.set(false);
        if self.gone {
            return Err(MscError::Disconnected {
                port: self.iface.port,
            });
        }
        let (Some(page), Some(bounce)) = (self.page.as_ref(), self.bounce.as_ref()) else {
            return Err(MscError::OutOfDmaMemory);
        };
        self.tag = self.tag.wrapping_add(1);
        let tag = self.tag;
        let (data_len, data_in) = match data {
            Data::None => (0, false),
            Data::In { len, .. } => (len, true),
            Data::Out { len } => (len, false),
        };
        let cbw = Cbw {
            tag,
            data_len: data_len as u32,
            data_in,
            lun: 0,
            cdb,
        };
        let iface = self.iface;
        let mut c = self.ctrl.lock();
        let transfer = |error: TransferError| match error {
            TransferError::Disconnected { port } => MscError::Disconnected { port },
            error => MscError::Transfer { op, error },
        };
        c.dma_write(page, CBW_OFFSET, &cbw.to_bytes());
        if let Err(e) = c.bulk(iface.slot, iface.bulk_out, page, CBW_OFFSET, CBW_BYTES) {
            if e.is_halt() {
                self.recovery_failed.set(!reset_recovery(&mut c, iface));
            }
            self.timed_out |= matches!(e, TransferError::Timeout { .. });
            return Err(transfer(e));
        }
        let moved = match data {
            Data::None => Ok(0),
            Data::In { len, bulk: false } => c.bulk(
                iface.slot,
                iface.bulk_in,
                page,
                SMALL_OFFSET,
                len.min(SMALL_BYTES),
            ),
            Data::In { len, bulk: true } => c.bulk(iface.slot, iface.bulk_in, bounce, 0, len),
            Data::Out { len } => c.bulk(iface.slot, iface.bulk_out, bounce, 0, len),
        };
        let moved = match moved {
            Ok(n) => n,
            Err(e) if e.is_halt() => {
                // A stalled data phase: clear the halt, then the CSW says what happened.
                let ep = if data_in {
                    iface.bulk_in
                } else {
                    iface.bulk_out
                };
                if let Err(e) = c.clear_halt(iface.slot, ep) {
                    self.recovery_failed.set(!reset_recovery(&mut c, iface));
                    return Err(transfer(e));
                }
                0
            }
            Err(e) => {
                self.timed_out |= matches!(e, TransferError::Timeout { .. });
                if !e.is_gone() {
                    self.recovery_failed.set(!reset_recovery(&mut c, iface));
                }
                return Err(transfer(e));
            }
        };
        // The CSW; a stall here is cleared and the CSW read once more (BOT 6.7.2).
        let mut csw_read = c.bulk(iface.slot, iface.bulk_in, page, CSW_OFFSET, CSW_BYTES);
        if matches!(csw_read, Err(e) if e.is_halt()) {
            if let Err(e) = c.clear_halt(iface.slot, iface.bulk_in) {
                self.recovery_failed.set(!reset_recovery(&mut c, iface));
                return Err(transfer(e));
            }
            csw_read = c.bulk(iface.slot, iface.bulk_in, page, CSW_OFFSET, CSW_BYTES);
        }
        let n = match csw_read {
            Ok(n) => n,
            Err(e) => {
                self.timed_out |= matches!(e, TransferError::Timeout { .. });
                if !e.is_gone() {
                    self.recovery_failed.set(!reset_recovery(&mut c, iface));
                }
                return Err(transfer(e));
            }
        };
        let mut raw = [0u8; CSW_BYTES];
        c.dma_read(page, CSW_OFFSET, &mut raw[..n.min(CSW_BYTES)]);
        let csw = match Csw::parse(&raw[..n.min(CSW_BYTES)], tag, op) {
            Ok(csw) => csw,
            Err(e) => {
                self.recovery_failed.set(!reset_recovery(&mut c, iface));
                return Err(e);
            }
        };
        if csw.status == csw_status::PHASE_ERROR {
            self.recovery_failed.set(!reset_recovery(&mut c, iface));
            return Err(MscError::PhaseError { op });
        }
        Ok((moved, csw.status))
    }

    /// One READ or WRITE of `blocks` blocks at `lba` through the bounce buffer.
    fn rw(&mut self, write: bool, lba: u64, blocks: u32) -> Result<(), MscError> {
        let cdb = if self.use_16 || lba + u64::from(blocks) > u64::from(u32::MAX) {
            Cdb::rw16(write, lba, blocks)
        } else {
            Cdb::rw10(write, lba as u32, blocks as u16)
        };
        let len = blocks as usize * self.block_size;
        let data = if write {
            Data::Out { len }
        } else {
            Data::In { len, bulk: true }
        };
        let n = self.command(cdb, data)?;
        if n < len {
            let e = MscError::ShortData {
                op: cdb.opcode(),
                len: n,
            };
            self.last_error = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// [`rw`](Self::rw), repeated up to [`RW_RETRIES`] times after a transport error (the
    /// device was reset and its endpoints cleared already): USB links drop a transaction now
    /// and then, and a device that answered out of step is back in step after the reset. An
    /// error the device reports for the data (sense data), an unplug or lost memory is final.
    fn rw_retried(&mut self, write: bool, lba: u64, blocks: u32) -> Result<(), MscError> {
        let mut attempt = 0;
        loop {
            match self.rw(write, lba, blocks) {
                Err(e)
                    if attempt < RW_RETRIES && e.is_transport() && !self.recovery_failed.get() =>
                {
                    attempt += 1;
                    self.retried += 1;
                    log::warn!("usb-msc: block {lba}: {e}; trying again ({attempt}/{RW_RETRIES})");
                }
                r => return r,
            }
        }
    }

    fn blocks_per_request(&self) -> usize {
        (self.bounce_len / self.block_size).clamp(1, usize::from(u16::MAX))
    }
}

/// Bulk-Only Mass Storage Reset, then CLEAR_FEATURE(ENDPOINT_HALT) on both bulk endpoints (BOT
/// 5.3.4), best effort; answers whether it all went through.
fn reset_recovery<H: XhciHal>(
    c: &mut crate::usb::xhci::Controller<H>,
    iface: BotInterface,
) -> bool {
    let reset = SetupPacket::class_interface(request::BOT_RESET, iface.interface, false, 0);
    let result = c
        .control_out(iface.slot, reset, &[])
        .and_then(|()| c.clear_halt(iface.slot, iface.bulk_in))
        .and_then(|()| c.clear_halt(iface.slot, iface.bulk_out));
    if let Err(e) = &result {
        log::warn!("usb-msc: reset recovery failed: {e}");
    }
    result.is_ok()
}

impl<H: XhciHal> BlockDevice for UsbDisk<H> {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    fn is_read_only(&self) -> bool {
        false
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.block_size, self.num_blocks, lba, buf.len())?;
        let step = self.blocks_per_request() * self.block_size;
        for (i, chunk) in buf.chunks_mut(step).enumerate() {
            let at = lba + (i * step / self.block_size) as u64;
            let blocks = (chunk.len() / self.block_size) as u32;
            self.rw_retried(false, at, blocks)
                .map_err(|e| e.to_block_error(at))?;
            let mut c = self.ctrl.lock();
            if let Some(bounce) = &self.bounce {
                c.dma_read(bounce, 0, chunk);
            }
        }
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.block_size, self.num_blocks, lba, buf.len())?;
        let step = self.blocks_per_request() * self.block_size;
        for (i, chunk) in buf.chunks(step).enumerate() {
            let at = lba + (i * step / self.block_size) as u64;
            let blocks = (chunk.len() / self.block_size) as u32;
            if let Some(bounce) = &self.bounce {
                self.ctrl.lock().dma_write(bounce, 0, chunk);
            }
            self.rw_retried(true, at, blocks)
                .map_err(|e| e.to_block_error(at))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.command(Cdb::synchronize_cache(), Data::None)
            .map(|_| ())
            .map_err(|e| e.to_block_error(0))
    }
}

impl<H: XhciHal> Drop for UsbDisk<H> {
    fn drop(&mut self) {
        if self.timed_out {
            // The controller may still write these: leak them.
            return;
        }
        let mut c = self.ctrl.lock();
        if let Some(page) = self.page.take() {
            c.free_dma(page);
        }
        if let Some(bounce) = self.bounce.take() {
            c.free_dma(bounce);
        }
    }
}
