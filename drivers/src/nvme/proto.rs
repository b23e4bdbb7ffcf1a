//! NVMe 1.4 data structures as plain bytes: controller registers and their fields, submission
//! and completion queue entries, status codes (decoded into names), PRP lists (and splitting a
//! transfer into them), and the IDENTIFY data structures the driver reads. Pure logic, tested
//! byte for byte.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The memory page size the driver programs (CC.MPS = 0): 4 KiB.
pub const PAGE_BYTES: usize = 4096;
/// Bytes of a submission queue entry (CC.IOSQES = 6).
pub const SQE_BYTES: usize = 64;
/// Bytes of a completion queue entry (CC.IOCQES = 4).
pub const CQE_BYTES: usize = 16;
/// Bytes of every IDENTIFY data structure.
pub const IDENTIFY_BYTES: usize = 4096;
/// PRP entries in one PRP list page.
pub const PRPS_PER_PAGE: usize = PAGE_BYTES / 8;

/// Controller register offsets from BAR0 (NVMe 1.4, 3.1) and their fields.
pub mod reg {
    /// Controller capabilities (64-bit).
    pub const CAP: usize = 0x00;
    /// Version.
    pub const VS: usize = 0x08;
    /// Interrupt mask set.
    pub const INTMS: usize = 0x0c;
    /// Interrupt mask clear.
    pub const INTMC: usize = 0x10;
    /// Controller configuration.
    pub const CC: usize = 0x14;
    /// Controller status.
    pub const CSTS: usize = 0x1c;
    /// Admin queue attributes.
    pub const AQA: usize = 0x24;
    /// Admin submission queue base address (64-bit).
    pub const ASQ: usize = 0x28;
    /// Admin completion queue base address (64-bit).
    pub const ACQ: usize = 0x30;
    /// The first doorbell (admin SQ tail).
    pub const DOORBELLS: usize = 0x1000;

    /// CC: enable.
    pub const CC_EN: u32 = 1 << 0;
    /// CC: I/O command set selected: NVM (bits 6:4 = 0).
    pub const CC_CSS_NVM: u32 = 0;
    /// CC: memory page size 2^(12 + MPS); 0 = 4 KiB (bits 10:7).
    pub const CC_MPS_4K: u32 = 0;
    /// CC: I/O submission queue entry size 2^6 = 64 bytes (bits 19:16).
    pub const CC_IOSQES_64: u32 = 6 << 16;
    /// CC: I/O completion queue entry size 2^4 = 16 bytes (bits 23:20).
    pub const CC_IOCQES_16: u32 = 4 << 20;

    /// CSTS: ready.
    pub const CSTS_RDY: u32 = 1 << 0;
    /// CSTS: controller fatal status.
    pub const CSTS_CFS: u32 = 1 << 1;

    /// The offset of queue `qid`'s submission queue tail doorbell, with CAP.DSTRD `dstrd`.
    pub const fn sq_tail_doorbell(qid: u16, dstrd: u8) -> usize {
        DOORBELLS + (2 * qid as usize) * (4 << dstrd)
    }

    /// The offset of queue `qid`'s completion queue head doorbell, with CAP.DSTRD `dstrd`.
    pub const fn cq_head_doorbell(qid: u16, dstrd: u8) -> usize {
        DOORBELLS + (2 * qid as usize + 1) * (4 << dstrd)
    }
}

/// The fields of CAP the driver uses (NVMe 1.4, 3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities(pub u64);

impl Capabilities {
    /// MQES: the largest queue the controller supports, in entries (CAP.MQES is 0-based).
    pub fn max_queue_entries(self) -> u32 {
        (self.0 & 0xffff) as u32 + 1
    }

    /// CQR: queues must be physically contiguous (the driver's always are).
    pub fn contiguous_queues_required(self) -> bool {
        self.0 & (1 << 16) != 0
    }

    /// TO: the worst-case time for CSTS.RDY to change after CC.EN does, in microseconds
    /// (CAP.TO counts 500 ms units).
    pub fn ready_timeout_us(self) -> u64 {
        ((self.0 >> 24) & 0xff) * 500_000
    }

    /// DSTRD: doorbells are `4 << dstrd` bytes apart.
    pub fn doorbell_stride(self) -> u8 {
        ((self.0 >> 32) & 0xf) as u8
    }

    /// CSS bit 0: the NVM command set.
    pub fn supports_nvm(self) -> bool {
        self.0 & (1 << 37) != 0
    }

    /// MPSMIN: the smallest memory page is 2^(12 + MPSMIN) bytes.
    pub fn min_page_shift(self) -> u8 {
        ((self.0 >> 48) & 0xf) as u8
    }

    /// MPSMAX: the largest memory page is 2^(12 + MPSMAX) bytes.
    pub fn max_page_shift(self) -> u8 {
        ((self.0 >> 52) & 0xf) as u8
    }
}

/// Admin command opcodes (NVMe 1.4, 5).
pub mod admin {
    pub const DELETE_IO_SQ: u8 = 0x00;
    pub const CREATE_IO_SQ: u8 = 0x01;
    pub const GET_LOG_PAGE: u8 = 0x02;
    pub const DELETE_IO_CQ: u8 = 0x04;
    pub const CREATE_IO_CQ: u8 = 0x05;
    pub const IDENTIFY: u8 = 0x06;
    pub const ABORT: u8 = 0x08;
    pub const SET_FEATURES: u8 = 0x09;
    pub const GET_FEATURES: u8 = 0x0a;

    /// IDENTIFY CNS values: a namespace, the controller, the active namespace list.
    pub const CNS_NAMESPACE: u32 = 0x00;
    pub const CNS_CONTROLLER: u32 = 0x01;
    pub const CNS_ACTIVE_NAMESPACES: u32 = 0x02;

    /// Set/Get Features: Number of Queues.
    pub const FEATURE_NUMBER_OF_QUEUES: u32 = 0x07;

    /// A command's name, for messages.
    pub fn name(opcode: u8) -> &'static str {
        match opcode {
            DELETE_IO_SQ => "DELETE I/O SQ",
            CREATE_IO_SQ => "CREATE I/O SQ",
            GET_LOG_PAGE => "GET LOG PAGE",
            DELETE_IO_CQ => "DELETE I/O CQ",
            CREATE_IO_CQ => "CREATE I/O CQ",
            IDENTIFY => "IDENTIFY",
            ABORT => "ABORT",
            SET_FEATURES => "SET FEATURES",
            GET_FEATURES => "GET FEATURES",
            _ => "admin command",
        }
    }
}

/// NVM command set I/O opcodes (NVMe 1.4, 6).
pub mod io {
    pub const FLUSH: u8 = 0x00;
    pub const WRITE: u8 = 0x01;
    pub const READ: u8 = 0x02;

    /// A command's name, for messages.
    pub fn name(opcode: u8) -> &'static str {
        match opcode {
            FLUSH => "FLUSH",
            WRITE => "WRITE",
            READ => "READ",
            _ => "I/O command",
        }
    }
}

/// A submission queue entry (NVMe 1.4, 4.2), PRP data pointer (PSDT = 0), not fused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Command {
    pub opcode: u8,
    /// Command identifier: set by the queue when the command is submitted.
    pub cid: u16,
    pub nsid: u32,
    pub prp1: u64,
    pub prp2: u64,
    /// Command dwords 10 to 15.
    pub cdw: [u32; 6],
}

impl Command {
    /// A command with no data pointer and zero command dwords.
    pub fn new(opcode: u8, nsid: u32) -> Self {
        Self {
            opcode,
            nsid,
            ..Self::default()
        }
    }

    /// READ or WRITE of `blocks` (1 ..= 65536) blocks at `lba` (SLBA in CDW10-11, NLB 0-based in
    /// CDW12).
    pub fn read_write(opcode: u8, nsid: u32, lba: u64, blocks: u32) -> Self {
        let mut c = Self::new(opcode, nsid);
        c.cdw[0] = lba as u32;
        c.cdw[1] = (lba >> 32) as u32;
        c.cdw[2] = blocks.saturating_sub(1) & 0xffff;
        c
    }

    /// The starting LBA of a READ or WRITE (CDW10-11).
    pub fn lba(&self) -> u64 {
        u64::from(self.cdw[0]) | u64::from(self.cdw[1]) << 32
    }

    pub fn to_bytes(&self) -> [u8; SQE_BYTES] {
        let mut b = [0u8; SQE_BYTES];
        b[0] = self.opcode;
        b[2..4].copy_from_slice(&self.cid.to_le_bytes());
        b[4..8].copy_from_slice(&self.nsid.to_le_bytes());
        b[24..32].copy_from_slice(&self.prp1.to_le_bytes());
        b[32..40].copy_from_slice(&self.prp2.to_le_bytes());
        for (i, dw) in self.cdw.iter().enumerate() {
            b[40 + 4 * i..44 + 4 * i].copy_from_slice(&dw.to_le_bytes());
        }
        b
    }

    /// The inverse of [`to_bytes`](Self::to_bytes) (for fakes; flags in DW0 are ignored).
    pub fn from_bytes(b: &[u8; SQE_BYTES]) -> Self {
        let mut cdw = [0u32; 6];
        for (i, dw) in cdw.iter_mut().enumerate() {
            *dw = le32(b, 40 + 4 * i);
        }
        Self {
            opcode: b[0],
            cid: le16(b, 2),
            nsid: le32(b, 4),
            prp1: le64(b, 24),
            prp2: le64(b, 32),
            cdw,
        }
    }
}

/// A completion queue entry (NVMe 1.4, 4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// Command specific (DW0).
    pub result: u32,
    pub sq_head: u16,
    pub sqid: u16,
    pub cid: u16,
    /// The phase tag.
    pub phase: bool,
    pub status: Status,
}

impl Completion {
    pub fn from_bytes(b: &[u8; CQE_BYTES]) -> Self {
        let dw3 = le32(b, 12);
        Self {
            result: le32(b, 0),
            sq_head: le16(b, 8),
            sqid: le16(b, 10),
            cid: dw3 as u16,
            phase: dw3 & (1 << 16) != 0,
            status: Status((dw3 >> 17) as u16),
        }
    }

    pub fn to_bytes(&self) -> [u8; CQE_BYTES] {
        let mut b = [0u8; CQE_BYTES];
        b[0..4].copy_from_slice(&self.result.to_le_bytes());
        b[8..10].copy_from_slice(&self.sq_head.to_le_bytes());
        b[10..12].copy_from_slice(&self.sqid.to_le_bytes());
        let dw3 = u32::from(self.cid)
            | u32::from(self.phase) << 16
            | u32::from(self.status.0 & 0x7fff) << 17;
        b[12..16].copy_from_slice(&dw3.to_le_bytes());
        b
    }
}

/// Status code types (NVMe 1.4, 4.6.1.2).
pub mod sct {
    pub const GENERIC: u8 = 0;
    pub const COMMAND_SPECIFIC: u8 = 1;
    pub const MEDIA: u8 = 2;
    pub const PATH: u8 = 3;
    pub const VENDOR: u8 = 7;
}

/// Generic command status codes (SCT 0) the driver names.
pub mod generic {
    pub const SUCCESS: u8 = 0x00;
    pub const INVALID_OPCODE: u8 = 0x01;
    pub const INVALID_FIELD: u8 = 0x02;
    pub const DATA_TRANSFER_ERROR: u8 = 0x04;
    pub const INTERNAL_ERROR: u8 = 0x06;
    pub const ABORT_REQUESTED: u8 = 0x07;
    pub const INVALID_NAMESPACE: u8 = 0x0b;
    pub const PRP_OFFSET_INVALID: u8 = 0x13;
    pub const WRITE_PROTECTED: u8 = 0x20;
    pub const LBA_OUT_OF_RANGE: u8 = 0x80;
    pub const CAPACITY_EXCEEDED: u8 = 0x81;
    pub const NAMESPACE_NOT_READY: u8 = 0x82;
    pub const FORMAT_IN_PROGRESS: u8 = 0x84;
}

/// Media and data integrity errors (SCT 2).
pub mod media {
    pub const WRITE_FAULT: u8 = 0x80;
    pub const UNRECOVERED_READ_ERROR: u8 = 0x81;
    pub const GUARD_CHECK_ERROR: u8 = 0x82;
    pub const APPLICATION_TAG_CHECK_ERROR: u8 = 0x83;
    pub const REFERENCE_TAG_CHECK_ERROR: u8 = 0x84;
    pub const COMPARE_FAILURE: u8 = 0x85;
    pub const ACCESS_DENIED: u8 = 0x86;
    pub const DEALLOCATED_OR_UNWRITTEN: u8 = 0x87;
}

/// The status field of a completion (DW3 bits 31:17): SC, SCT, CRD, More, DNR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status(pub u16);

impl Status {
    /// Status code type `sct` (3 bits), status code `sc`.
    pub const fn new(sct: u8, sc: u8) -> Self {
        Self((sct as u16 & 7) << 8 | sc as u16)
    }

    pub fn sc(self) -> u8 {
        self.0 as u8
    }

    pub fn sct(self) -> u8 {
        ((self.0 >> 8) & 7) as u8
    }

    /// Do Not Retry.
    pub fn dnr(self) -> bool {
        self.0 & (1 << 14) != 0
    }

    pub fn is_success(self) -> bool {
        self.sct() == sct::GENERIC && self.sc() == generic::SUCCESS
    }

    /// A media or data integrity error, or a generic data transfer error: the data (not the
    /// command) is at fault.
    pub fn is_media_error(self) -> bool {
        self.sct() == sct::MEDIA
            || (self.sct() == sct::GENERIC && self.sc() == generic::DATA_TRANSFER_ERROR)
    }

    /// The status's name from the specification (or its type's, for codes not listed).
    pub fn name(self) -> &'static str {
        match self.sct() {
            sct::GENERIC => generic_name(self.sc()),
            sct::COMMAND_SPECIFIC => command_specific_name(self.sc()),
            sct::MEDIA => media_name(self.sc()),
            sct::PATH => "path related error",
            sct::VENDOR => "vendor specific error",
            _ => "reserved status code type",
        }
    }
}

fn generic_name(sc: u8) -> &'static str {
    match sc {
        0x00 => "successful completion",
        0x01 => "invalid command opcode",
        0x02 => "invalid field in command",
        0x03 => "command ID conflict",
        0x04 => "data transfer error",
        0x05 => "commands aborted due to power loss notification",
        0x06 => "internal error",
        0x07 => "command abort requested",
        0x08 => "command aborted due to SQ deletion",
        0x09 => "command aborted due to failed fused command",
        0x0a => "command aborted due to missing fused command",
        0x0b => "invalid namespace or format",
        0x0c => "command sequence error",
        0x0d..=0x11 | 0x16 | 0x1e => "invalid SGL",
        0x12 => "invalid use of controller memory buffer",
        0x13 => "PRP offset invalid",
        0x14 => "atomic write unit exceeded",
        0x15 => "operation denied",
        0x1b => "command aborted due to preempt and abort",
        0x1c => "sanitize failed",
        0x1d => "sanitize in progress",
        0x20 => "namespace is write protected",
        0x21 => "command interrupted",
        0x22 => "transient transport error",
        0x80 => "LBA out of range",
        0x81 => "capacity exceeded",
        0x82 => "namespace not ready",
        0x83 => "reservation conflict",
        0x84 => "format in progress",
        _ => "generic command error",
    }
}

fn command_specific_name(sc: u8) -> &'static str {
    match sc {
        0x00 => "completion queue invalid",
        0x01 => "invalid queue identifier",
        0x02 => "invalid queue size",
        0x03 => "abort command limit exceeded",
        0x05 => "asynchronous event request limit exceeded",
        0x08 => "invalid interrupt vector",
        0x0c => "invalid queue deletion",
        0x80 => "conflicting attributes",
        0x81 => "invalid protection information",
        0x82 => "attempted write to read only range",
        _ => "command specific error",
    }
}

fn media_name(sc: u8) -> &'static str {
    match sc {
        media::WRITE_FAULT => "write fault",
        media::UNRECOVERED_READ_ERROR => "unrecovered read error",
        media::GUARD_CHECK_ERROR => "end-to-end guard check error",
        media::APPLICATION_TAG_CHECK_ERROR => "end-to-end application tag check error",
        media::REFERENCE_TAG_CHECK_ERROR => "end-to-end reference tag check error",
        media::COMPARE_FAILURE => "compare failure",
        media::ACCESS_DENIED => "access denied",
        media::DEALLOCATED_OR_UNWRITTEN => "deallocated or unwritten logical block",
        _ => "media error",
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (type {:#x}, code {:#04x}{})",
            self.name(),
            self.sct(),
            self.sc(),
            if self.dnr() { ", do not retry" } else { "" }
        )
    }
}

/// The data pointer of one command: PRP1, PRP2 and, for transfers over two pages, the PRP list
/// PRP2 points to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prps {
    pub prp1: u64,
    pub prp2: u64,
    /// The entries to store at the list's address (empty when PRP2 is a page or unused).
    pub list: Vec<u64>,
}

/// Why a transfer could not be described by PRPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrpError {
    /// The list would need more than one page of entries (the driver never chains lists).
    TooLong { bytes: usize },
    /// The list's address is not 8-byte aligned.
    UnalignedList { address: u64 },
}

impl fmt::Display for PrpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { bytes } => {
                write!(f, "{bytes} bytes need more than one PRP list page")
            }
            Self::UnalignedList { address } => {
                write!(f, "PRP list at {address:#x} is not 8-byte aligned")
            }
        }
    }
}

/// Describes `bytes` of physically contiguous memory at `base` (NVMe 1.4, 4.3): PRP1 is `base`
/// (any dword-aligned offset); each further page is PRP2 itself if there is one more, or an
/// entry of a PRP list at `list_address` (one page at most).
///
/// # Errors
/// [`PrpError::TooLong`], [`PrpError::UnalignedList`].
pub fn build_prps(base: u64, bytes: usize, list_address: u64) -> Result<Prps, PrpError> {
    let first = PAGE_BYTES - (base % PAGE_BYTES as u64) as usize;
    let mut prps = Prps {
        prp1: base,
        ..Prps::default()
    };
    if bytes <= first {
        return Ok(prps);
    }
    let next = base - (base % PAGE_BYTES as u64) + PAGE_BYTES as u64;
    let pages = (bytes - first).div_ceil(PAGE_BYTES);
    if pages == 1 {
        prps.prp2 = next;
        return Ok(prps);
    }
    if pages > PRPS_PER_PAGE {
        return Err(PrpError::TooLong { bytes });
    }
    if !list_address.is_multiple_of(8) {
        return Err(PrpError::UnalignedList {
            address: list_address,
        });
    }
    prps.prp2 = list_address;
    prps.list = (0..pages as u64)
        .map(|i| next + i * PAGE_BYTES as u64)
        .collect();
    Ok(prps)
}

/// What IDENTIFY CONTROLLER (CNS 01h) says that the driver uses (NVMe 1.4, 5.15.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerInfo {
    pub vendor_id: u16,
    pub serial: String,
    pub model: String,
    pub firmware: String,
    /// MDTS: the largest transfer is 2^mdts minimum pages; 0 = no limit.
    pub mdts: u8,
    pub controller_id: u16,
    /// VER (0 before NVMe 1.2).
    pub version: u32,
    /// SQES and CQES: required (bits 3:0) and maximum (bits 7:4) entry sizes, as powers of 2.
    pub sqes: u8,
    pub cqes: u8,
    /// NN: the largest namespace ID.
    pub namespaces: u32,
    /// VWC bit 0: a volatile write cache is present (FLUSH makes writes durable).
    pub volatile_write_cache: bool,
}

impl ControllerInfo {
    /// The largest transfer in bytes for 4 KiB minimum pages, or `None` without a limit.
    pub fn max_transfer_bytes(&self) -> Option<usize> {
        match self.mdts {
            0 => None,
            // Past 2^40 pages the limit is no limit (and the shift cannot overflow).
            n => Some(usize::try_from((PAGE_BYTES as u64) << n.min(40)).unwrap_or(usize::MAX)),
        }
    }
}

/// Parses IDENTIFY CONTROLLER data (bytes past the end of `d` read as zero).
pub fn parse_identify_controller(d: &[u8]) -> ControllerInfo {
    ControllerInfo {
        vendor_id: le16(d, 0),
        serial: ascii(d, 4, 20),
        model: ascii(d, 24, 40),
        firmware: ascii(d, 64, 8),
        mdts: byte(d, 77),
        controller_id: le16(d, 78),
        version: le32(d, 80),
        sqes: byte(d, 512),
        cqes: byte(d, 513),
        namespaces: le32(d, 516),
        volatile_write_cache: byte(d, 525) & 1 != 0,
    }
}

/// What IDENTIFY NAMESPACE (CNS 00h) says about a namespace's size and current format
/// (NVMe 1.4, 6.1.5 / Figure 245).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// NSZE: the size in logical blocks (0: the namespace is not active).
    pub blocks: u64,
    /// NCAP: the most blocks that may be allocated.
    pub capacity: u64,
    /// FLBAS bits 3:0: the LBA format in use.
    pub format_index: u8,
    /// The format's logical block size in bytes (2^LBADS).
    pub lba_bytes: u64,
    /// The format's metadata bytes per block (MS).
    pub metadata_bytes: u16,
    /// FLBAS bit 4: metadata is transferred at the end of each block's data.
    pub extended_metadata: bool,
}

/// Why IDENTIFY NAMESPACE data makes no sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceDataError {
    /// NSZE is 0: the namespace is not active (the data is all zeros).
    Inactive,
    /// FLBAS selects a format beyond NLBAF.
    FormatIndex { index: u8, formats: u8 },
    /// LBADS is below 9 (512 bytes) or too large to be a block size.
    BlockSizeShift { lbads: u8 },
}

impl fmt::Display for NamespaceDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inactive => write!(f, "namespace is not active (size 0)"),
            Self::FormatIndex { index, formats } => write!(
                f,
                "namespace uses LBA format {index} of only {formats} formats"
            ),
            Self::BlockSizeShift { lbads } => {
                write!(
                    f,
                    "namespace block size 2^{lbads} is not a valid block size"
                )
            }
        }
    }
}

/// Parses IDENTIFY NAMESPACE data (bytes past the end of `d` read as zero).
///
/// # Errors
/// Every [`NamespaceDataError`].
pub fn parse_identify_namespace(d: &[u8]) -> Result<NamespaceInfo, NamespaceDataError> {
    let blocks = le64(d, 0);
    if blocks == 0 {
        return Err(NamespaceDataError::Inactive);
    }
    let flbas = byte(d, 26);
    let index = flbas & 0xf;
    let formats = byte(d, 25).saturating_add(1);
    if index >= formats {
        return Err(NamespaceDataError::FormatIndex { index, formats });
    }
    let lbaf = le32(d, 128 + 4 * usize::from(index));
    let lbads = (lbaf >> 16) as u8;
    if !(9..32).contains(&lbads) {
        return Err(NamespaceDataError::BlockSizeShift { lbads });
    }
    Ok(NamespaceInfo {
        blocks,
        capacity: le64(d, 8),
        format_index: index,
        lba_bytes: 1 << lbads,
        metadata_bytes: lbaf as u16,
        extended_metadata: flbas & (1 << 4) != 0,
    })
}

/// Parses an active namespace ID list (CNS 02h): IDs in increasing order, ended by 0.
pub fn parse_namespace_list(d: &[u8]) -> Vec<u32> {
    (0..IDENTIFY_BYTES / 4)
        .map(|i| le32(d, 4 * i))
        .take_while(|&id| id != 0)
        .collect()
}

/// The byte at `at`, or 0 past the end.
fn byte(d: &[u8], at: usize) -> u8 {
    d.get(at).copied().unwrap_or(0)
}

fn le16(d: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([byte(d, at), byte(d, at + 1)])
}

fn le32(d: &[u8], at: usize) -> u32 {
    u32::from(le16(d, at)) | u32::from(le16(d, at + 2)) << 16
}

fn le64(d: &[u8], at: usize) -> u64 {
    u64::from(le32(d, at)) | u64::from(le32(d, at + 4)) << 32
}

/// An ASCII field of `len` bytes at `at`, without trailing spaces and NULs; bytes that are not
/// printable ASCII become `?`.
fn ascii(d: &[u8], at: usize, len: usize) -> String {
    let s: String = (at..at + len)
        .map(|i| match byte(d, i) {
            0 => ' ',
            b @ 0x20..=0x7e => char::from(b),
            _ => '?',
        })
        .collect();
    String::from(s.trim_end())
}
