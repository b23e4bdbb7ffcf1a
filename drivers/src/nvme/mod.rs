//! NVMe controllers and their namespaces, as [`BlockDevice`]s.
//!
//! The driver is generic over [`NvmeHal`] (= [`crate::hal::MmioDmaHal`]), which gives it the
//! controller's registers (BAR0), DMA memory and a microsecond clock; the kernel implements it
//! over its MMIO window and frame allocator, tests over a fake controller that executes
//! commands against RAM disks.
//!
//! Bring-up ([`Controller::init`], NVMe 1.4, 7.6.1): read CAP (the NVM command set and 4 KiB
//! pages must be supported), disable the controller (CC.EN = 0, wait for CSTS.RDY = 0 within
//! CAP.TO), give it an admin queue pair in DMA memory (AQA, ASQ, ACQ), enable it with 64-byte
//! submission and 16-byte completion entries and 4 KiB pages, wait for CSTS.RDY (CSTS.CFS is
//! [`NvmeError::ControllerFatal`]), mask interrupts (the driver polls), IDENTIFY the controller
//! (model, serial, firmware, MDTS), ask for I/O queues (Set Features, Number of Queues) and read
//! the active namespace list. Then [`Controller::open_namespace`] (or
//! [`Controller::open_namespaces`]) identifies a namespace (its size and LBA format: 512- or
//! 4096-byte blocks without metadata; others are refused), and creates an I/O completion queue
//! and an I/O submission queue for it alone. The answer is an [`NvmeDisk`].
//!
//! Requests: one command at a time, data through a per-disk bounce buffer of DMA memory (caller
//! buffers may not be physically contiguous) described by PRP1/PRP2 or a PRP list, split at
//! the controller's MDTS. READ, WRITE and FLUSH; completion by polling the completion queue's
//! phase tag against a deadline. Nothing waits without a deadline: a command that does not
//! complete gives [`CommandError::Timeout`] (or [`CommandError::ControllerFatal`] if CSTS.CFS
//! is set) and takes the disk's queue out of service, so that later requests fail at once with
//! [`CommandError::QueueFailed`] instead of waiting again; a status other than success gives
//! [`CommandError::Status`] with the status decoded, and the queue stays usable.

pub mod proto;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::block::{check_request, BlockDevice, BlockError, DeviceFailure};
use crate::hal::wait_until;
use proto::{
    admin, build_prps, generic, io, reg, Capabilities, Command, Completion, ControllerInfo,
    NamespaceDataError, NamespaceInfo, PrpError, Status, CQE_BYTES, IDENTIFY_BYTES, PAGE_BYTES,
    SQE_BYTES,
};

/// DMA memory a HAL handed out (shared by the drivers: see [`crate::hal`]).
pub use crate::hal::DmaRegion;
/// The HAL the NVMe driver is generic over: [`MmioDmaHal`](crate::hal::MmioDmaHal), the same
/// trait as [`crate::ahci::AhciHal`]. Here the registers are one NVMe controller's BAR0:
/// `offset` is below `0x1000` or one of the doorbells after it (`0x1000 + 2 * (4 << DSTRD)`
/// per queue pair in use).
///
/// The driver divides the controller between the handle's clones (the duty item 2 of the
/// trait's safety section leaves to each driver):
/// - The controller registers (CC, AQA, ASQ, ACQ, INTMS) are written, the admin queue pair and
///   its doorbells used, only by the [`Controller`]: by [`Controller::init`], by
///   [`Controller::open_namespace`] (which creates I/O queues with admin commands) and, when
///   the controller is dropped before any disk was opened, by its `Drop`, which disables it.
/// - An I/O queue pair (its DMA memory and its two doorbells) and a bounce buffer belong to the
///   one [`NvmeDisk`] they were created for: no other handle writes them. A controller opens
///   each namespace at most once ([`NamespaceError::InUse`]) and never reuses a queue ID.
/// - Besides that, every handle reads CSTS, a read-only status register.
///
/// So disks share no doorbell and no DMA memory and need no lock between them; one disk's
/// requests are serialised by its `&mut self`. Memory the controller may still write (a queue
/// with a command outstanding after a timeout) is leaked, never freed.
pub use crate::hal::MmioDmaHal as NvmeHal;

/// Whether a PCI function is an NVMe controller: mass storage, non-volatile memory
/// controller, NVM Express programming interface (class 01:08:02).
pub fn is_nvme_function(dev: &crate::pci::PciDevice) -> bool {
    (dev.class, dev.subclass, dev.prog_if) == (0x01, 0x08, 0x02)
}

/// How long the driver waits for each thing, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The least time CSTS.RDY gets to follow CC.EN, whatever CAP.TO says (the wait is the
    /// larger of the two).
    pub ready_min_us: u64,
    /// Admin commands (IDENTIFY, queue creation, Set Features).
    pub admin_us: u64,
    /// READ and WRITE.
    pub io_us: u64,
    /// FLUSH, which may write a whole cache to the medium.
    pub flush_us: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            ready_min_us: 500_000,
            admin_us: 5_000_000,
            io_us: 5_000_000,
            flush_us: 30_000_000,
        }
    }
}

/// Where things live in a queue pair's DMA memory: the submission queue, the completion queue
/// (each page-aligned, as ASQ/ACQ and physically contiguous I/O queues must be), and a page of
/// scratch: IDENTIFY data for the admin queue, the PRP list for an I/O queue.
const SQ_OFFSET: usize = 0;
const CQ_OFFSET: usize = PAGE_BYTES;
const SCRATCH_OFFSET: usize = 2 * PAGE_BYTES;
const QUEUE_MEM_BYTES: usize = 3 * PAGE_BYTES;
/// Entries per queue (fewer if CAP.MQES says so): 32 submission entries fill half a page.
pub const QUEUE_ENTRIES: u16 = 32;
/// The bounce buffer's size, tried first; halved while DMA memory is short.
pub const BOUNCE_BYTES: usize = 256 * 1024;
/// The most one command moves whatever MDTS allows: one page of PRP list entries, plus PRP1.
pub const MAX_TRANSFER_BYTES: usize = 2 * 1024 * 1024;
/// I/O queue pairs the driver asks for (each opened namespace takes one).
pub const WANTED_IO_QUEUES: u16 = 16;
/// Namespace IDs probed (1 ..= this) when the controller gives no active namespace list.
const MAX_PROBED_NAMESPACES: u32 = 64;

/// Why a controller could not be brought up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NvmeError {
    /// CAP makes no sense (all ones: no device answers; or queues of one entry).
    BadCapabilities { cap: u64 },
    /// CAP.CSS lacks the NVM command set.
    NoNvmCommandSet { cap: u64 },
    /// The controller's smallest memory page is larger than 4 KiB.
    PageSizeUnsupported { min_page_bytes: u64 },
    /// CSTS.RDY did not clear within CAP.TO after CC.EN was cleared.
    DisableTimeout { csts: u32 },
    /// CSTS.RDY did not set within CAP.TO after CC.EN was set.
    EnableTimeout { csts: u32 },
    /// CSTS.CFS: the controller reported a fatal error while coming up.
    ControllerFatal { csts: u32 },
    /// No DMA memory for the admin queues.
    OutOfDmaMemory,
    /// The controller does not take 64-byte submission or 16-byte completion entries.
    EntrySizeUnsupported { sqes: u8, cqes: u8 },
    /// An admin command (IDENTIFY, Set Features) failed.
    Admin(CommandError),
}

impl fmt::Display for NvmeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCapabilities { cap } => {
                write!(f, "controller capabilities make no sense (CAP {cap:#018x})")
            }
            Self::NoNvmCommandSet { cap } => write!(
                f,
                "controller lacks the NVM command set (CAP {cap:#018x})"
            ),
            Self::PageSizeUnsupported { min_page_bytes } => write!(
                f,
                "controller's smallest memory page is {min_page_bytes} bytes, not 4 KiB"
            ),
            Self::DisableTimeout { csts } => {
                write!(f, "controller did not stop (CSTS {csts:#010x})")
            }
            Self::EnableTimeout { csts } => {
                write!(f, "controller did not become ready (CSTS {csts:#010x})")
            }
            Self::ControllerFatal { csts } => {
                write!(f, "controller fatal status while starting (CSTS {csts:#010x})")
            }
            Self::OutOfDmaMemory => write!(f, "out of DMA memory for the admin queues"),
            Self::EntrySizeUnsupported { sqes, cqes } => write!(
                f,
                "controller does not take 64/16-byte queue entries (SQES {sqes:#04x}, CQES {cqes:#04x})"
            ),
            Self::Admin(e) => write!(f, "{e}"),
        }
    }
}

/// Why a namespace gave no disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceError {
    /// The namespace ID is not active (IDENTIFY NAMESPACE reports size 0).
    Inactive { nsid: u32 },
    /// This controller already gave a disk for the namespace.
    InUse { nsid: u32 },
    /// An earlier admin command failed for good: the controller opens nothing more.
    ControllerFailed { nsid: u32 },
    /// IDENTIFY NAMESPACE's answer makes no sense.
    BadIdentify {
        nsid: u32,
        error: NamespaceDataError,
    },
    /// The namespace's blocks are neither 512 nor 4096 bytes.
    UnsupportedBlockSize { nsid: u32, bytes: u64 },
    /// The namespace's format carries metadata, which the driver does not handle.
    Metadata { nsid: u32, bytes: u16 },
    /// Every I/O queue pair the controller granted is in use.
    NoQueuesLeft { nsid: u32, queues: u16 },
    /// No DMA memory for the I/O queues or the bounce buffer.
    OutOfDmaMemory { nsid: u32 },
    /// IDENTIFY NAMESPACE or the creation of an I/O queue failed.
    Command { nsid: u32, error: CommandError },
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inactive { nsid } => write!(f, "namespace {nsid}: not active"),
            Self::InUse { nsid } => {
                write!(f, "namespace {nsid}: already opened by this controller")
            }
            Self::ControllerFailed { nsid } => write!(
                f,
                "namespace {nsid}: controller out of service after a failed admin command"
            ),
            Self::BadIdentify { nsid, error } => write!(f, "namespace {nsid}: {error}"),
            Self::UnsupportedBlockSize { nsid, bytes } => write!(
                f,
                "namespace {nsid}: {bytes}-byte blocks are not supported (only 512 and 4096)"
            ),
            Self::Metadata { nsid, bytes } => write!(
                f,
                "namespace {nsid}: {bytes} bytes of metadata per block are not supported"
            ),
            Self::NoQueuesLeft { nsid, queues } => write!(
                f,
                "namespace {nsid}: all {queues} I/O queue pairs are in use"
            ),
            Self::OutOfDmaMemory { nsid } => write!(f, "namespace {nsid}: out of DMA memory"),
            Self::Command { nsid, error } => write!(f, "namespace {nsid}: {error}"),
        }
    }
}

/// Which command failed: the queue (0 = admin), its opcode and the first LBA (0 for commands
/// without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandContext {
    pub qid: u16,
    pub opcode: u8,
    pub lba: u64,
}

impl fmt::Display for CommandContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.qid == 0 {
            write!(f, "{}", admin::name(self.opcode))
        } else {
            write!(
                f,
                "{} at LBA {} (queue {})",
                io::name(self.opcode),
                self.lba,
                self.qid
            )
        }
    }
}

/// Why a command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The controller completed the command with an error status.
    Status { cmd: CommandContext, status: Status },
    /// The command did not complete in time. The queue takes no more commands.
    Timeout { cmd: CommandContext },
    /// CSTS.CFS: the controller reported a fatal error. The queue takes no more commands.
    ControllerFatal { cmd: CommandContext, csts: u32 },
    /// CSTS.RDY was clear: the controller is not running. The queue takes no more commands.
    NotReady { cmd: CommandContext, csts: u32 },
    /// An earlier command on the queue timed out or the controller failed: not submitted.
    QueueFailed { cmd: CommandContext },
    /// The completion names another command (`cid`) or queue (`sqid`). The queue takes no more
    /// commands.
    WrongCompletion {
        cmd: CommandContext,
        cid: u16,
        sqid: u16,
    },
    /// The transfer could not be described by PRPs (a driver limit). Not submitted.
    Prp {
        cmd: CommandContext,
        error: PrpError,
    },
}

impl CommandError {
    /// The command every variant names.
    pub fn context(&self) -> CommandContext {
        match *self {
            Self::Status { cmd, .. }
            | Self::Timeout { cmd }
            | Self::ControllerFatal { cmd, .. }
            | Self::NotReady { cmd, .. }
            | Self::QueueFailed { cmd }
            | Self::WrongCompletion { cmd, .. }
            | Self::Prp { cmd, .. } => cmd,
        }
    }

    /// Whether the controller answered with an error status (the queue still works).
    pub fn is_status(&self) -> bool {
        matches!(self, Self::Status { .. })
    }

    /// The [`BlockError`] a caller of [`BlockDevice`] sees: media and data transfer errors are
    /// [`BlockError::Io`], everything else a [`BlockError::Device`].
    pub fn to_block_error(&self) -> BlockError {
        let lba = self.context().lba;
        let failure = match *self {
            Self::Status { status, .. } if status.is_media_error() => {
                return BlockError::Io { lba }
            }
            Self::Status { status, .. } => status_failure(status),
            Self::Timeout { .. } => DeviceFailure::Timeout,
            Self::ControllerFatal { .. } | Self::NotReady { .. } | Self::QueueFailed { .. } => {
                DeviceFailure::NotReady
            }
            Self::WrongCompletion { .. } => DeviceFailure::Protocol,
            Self::Prp { .. } => DeviceFailure::Unsupported,
        };
        BlockError::Device { lba, failure }
    }
}

/// The [`DeviceFailure`] for an error status that is not a media error.
fn status_failure(status: Status) -> DeviceFailure {
    if status.sct() != proto::sct::GENERIC {
        return DeviceFailure::Protocol;
    }
    match status.sc() {
        generic::INVALID_OPCODE
        | generic::INVALID_FIELD
        | generic::INVALID_NAMESPACE
        | generic::WRITE_PROTECTED => DeviceFailure::Unsupported,
        generic::NAMESPACE_NOT_READY | generic::FORMAT_IN_PROGRESS => DeviceFailure::NotReady,
        _ => DeviceFailure::Protocol,
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NVMe {}: ", self.context())?;
        match self {
            Self::Status { status, .. } => write!(f, "{status}"),
            Self::Timeout { .. } => write!(f, "timed out; queue out of service"),
            Self::ControllerFatal { csts, .. } => {
                write!(f, "controller fatal status (CSTS {csts:#010x})")
            }
            Self::NotReady { csts, .. } => {
                write!(f, "controller not ready (CSTS {csts:#010x})")
            }
            Self::QueueFailed { .. } => {
                write!(f, "not sent: queue out of service after an earlier failure")
            }
            Self::WrongCompletion { cid, sqid, .. } => write!(
                f,
                "completion for command {cid} of queue {sqid} instead; queue out of service"
            ),
            Self::Prp { error, .. } => write!(f, "{error}"),
        }
    }
}

/// Reads a 64-bit register as two 32-bit halves, low first.
fn read64<H: NvmeHal>(hal: &mut H, offset: usize) -> u64 {
    u64::from(hal.read32(offset)) | u64::from(hal.read32(offset + 4)) << 32
}

/// Writes a 64-bit register as two 32-bit halves, low first.
fn write64<H: NvmeHal>(hal: &mut H, offset: usize, value: u64) {
    hal.write32(offset, value as u32);
    hal.write32(offset + 4, (value >> 32) as u32);
}

/// One submission queue and its completion queue, with one command in flight at most.
struct Queue {
    qid: u16,
    entries: u16,
    dstrd: u8,
    /// Submission queue, completion queue, scratch page (see [`SQ_OFFSET`]).
    mem: DmaRegion,
    sq_tail: u16,
    cq_head: u16,
    /// The phase tag that marks a new completion entry (starts at 1: the queue is zeroed).
    phase: bool,
    next_cid: u16,
    /// A command did not complete, or the controller failed: no more commands.
    failed: bool,
    commands: u64,
}

impl Queue {
    fn new(qid: u16, entries: u16, dstrd: u8, mem: DmaRegion) -> Self {
        Self {
            qid,
            entries,
            dstrd,
            mem,
            sq_tail: 0,
            cq_head: 0,
            phase: true,
            next_cid: 0,
            failed: false,
            commands: 0,
        }
    }

    /// Checks that the queue takes commands and the controller runs (CSTS), so that nothing is
    /// written to the queue, its scratch page or a bounce buffer the controller may still use.
    fn check<H: NvmeHal>(&mut self, hal: &mut H, cmd: CommandContext) -> Result<(), CommandError> {
        if self.failed {
            return Err(CommandError::QueueFailed { cmd });
        }
        let csts = hal.read32(reg::CSTS);
        if csts & reg::CSTS_CFS != 0 {
            self.failed = true;
            return Err(CommandError::ControllerFatal { cmd, csts });
        }
        if csts & reg::CSTS_RDY == 0 {
            self.failed = true;
            return Err(CommandError::NotReady { cmd, csts });
        }
        Ok(())
    }

    /// Submits `command` and polls for its completion; an error status is an error.
    fn execute<H: NvmeHal>(
        &mut self,
        hal: &mut H,
        mut command: Command,
        lba: u64,
        timeout_us: u64,
    ) -> Result<Completion, CommandError> {
        let cmd = CommandContext {
            qid: self.qid,
            opcode: command.opcode,
            lba,
        };
        self.check(hal, cmd)?;
        command.cid = self.next_cid;
        self.next_cid = self.next_cid.wrapping_add(1);
        let slot = SQ_OFFSET + usize::from(self.sq_tail) * SQE_BYTES;
        hal.dma_write(&self.mem, slot, &command.to_bytes());
        self.sq_tail = (self.sq_tail + 1) % self.entries;
        self.commands += 1;
        hal.write32(
            reg::sq_tail_doorbell(self.qid, self.dstrd),
            u32::from(self.sq_tail),
        );
        let Some(done) = self.poll(hal, timeout_us) else {
            self.failed = true;
            let csts = hal.read32(reg::CSTS);
            if csts & reg::CSTS_CFS != 0 {
                return Err(CommandError::ControllerFatal { cmd, csts });
            }
            return Err(CommandError::Timeout { cmd });
        };
        if done.cid != command.cid || done.sqid != self.qid {
            self.failed = true;
            let (cid, sqid) = (done.cid, done.sqid);
            return Err(CommandError::WrongCompletion { cmd, cid, sqid });
        }
        if !done.status.is_success() {
            return Err(CommandError::Status {
                cmd,
                status: done.status,
            });
        }
        Ok(done)
    }

    /// Waits until the entry at the completion queue's head carries the current phase tag,
    /// consumes it and rings the head doorbell. `None` after `timeout_us`.
    fn poll<H: NvmeHal>(&mut self, hal: &mut H, timeout_us: u64) -> Option<Completion> {
        let at = CQ_OFFSET + usize::from(self.cq_head) * CQE_BYTES;
        let mut entry = [0u8; CQE_BYTES];
        let (mem, phase) = (&self.mem, self.phase);
        let arrived = wait_until(hal, timeout_us, |h| {
            h.dma_read(mem, at, &mut entry);
            Completion::from_bytes(&entry).phase == phase
        });
        if !arrived {
            return None;
        }
        // Read the whole entry again now that its phase tag is visible.
        hal.dma_read(&self.mem, at, &mut entry);
        self.cq_head += 1;
        if self.cq_head == self.entries {
            self.cq_head = 0;
            self.phase = !self.phase;
        }
        hal.write32(
            reg::cq_head_doorbell(self.qid, self.dstrd),
            u32::from(self.cq_head),
        );
        Some(Completion::from_bytes(&entry))
    }
}

/// Clears CC.EN and waits for CSTS.RDY to clear, first letting an enable in progress finish
/// (EN set, RDY not yet): some controllers misbehave when EN is cleared then.
fn disable<H: NvmeHal>(hal: &mut H, ready_us: u64) -> Result<(), NvmeError> {
    let cc = hal.read32(reg::CC);
    if cc & reg::CC_EN != 0 && hal.read32(reg::CSTS) & reg::CSTS_RDY == 0 {
        wait_until(hal, ready_us, |h| {
            h.read32(reg::CSTS) & (reg::CSTS_RDY | reg::CSTS_CFS) != 0
        });
    }
    hal.write32(reg::CC, cc & !reg::CC_EN);
    if wait_until(hal, ready_us, |h| h.read32(reg::CSTS) & reg::CSTS_RDY == 0) {
        Ok(())
    } else {
        Err(NvmeError::DisableTimeout {
            csts: hal.read32(reg::CSTS),
        })
    }
}

/// Checks what the driver needs of CAP.
fn check_capabilities(cap: Capabilities) -> Result<(), NvmeError> {
    if cap.0 == u64::MAX || cap.max_queue_entries() < 2 {
        return Err(NvmeError::BadCapabilities { cap: cap.0 });
    }
    if !cap.supports_nvm() {
        return Err(NvmeError::NoNvmCommandSet { cap: cap.0 });
    }
    if cap.min_page_shift() != 0 {
        return Err(NvmeError::PageSizeUnsupported {
            min_page_bytes: 1 << (12 + u32::from(cap.min_page_shift())),
        });
    }
    Ok(())
}

/// Whether an entry-size field (required size in bits 3:0, maximum in 7:4, as powers of 2)
/// allows 2^`shift`; a zero field (controllers before NVMe 1.1) says nothing and allows it.
fn entry_size_ok(field: u8, shift: u8) -> bool {
    field == 0 || (field & 0xf..=field >> 4).contains(&shift)
}

/// An NVMe controller, enabled, with its admin queues, ready to open namespaces.
pub struct Controller<H: NvmeHal> {
    hal: H,
    cap: Capabilities,
    version: u32,
    timeouts: Timeouts,
    /// How long CSTS.RDY may take to follow CC.EN.
    ready_us: u64,
    /// `None` only while being dropped.
    admin: Option<Queue>,
    info: ControllerInfo,
    namespaces: Vec<u32>,
    /// I/O queue pairs the controller granted.
    io_queues: u16,
    next_qid: u16,
    /// Namespaces that gave a disk: each is that disk's alone, never opened again.
    opened: Vec<u32>,
}

impl<H: NvmeHal> Controller<H> {
    /// Resets and enables the controller with an admin queue pair, identifies it, asks for I/O
    /// queues and lists its active namespaces. Interrupts stay masked (the driver polls).
    ///
    /// # Errors
    /// Every [`NvmeError`]. DMA memory is given back on error once the controller is disabled
    /// (or leaked, if it will not stop).
    pub fn init(mut hal: H, timeouts: Timeouts) -> Result<Self, NvmeError> {
        let cap = Capabilities(read64(&mut hal, reg::CAP));
        check_capabilities(cap)?;
        let ready_us = cap.ready_timeout_us().max(timeouts.ready_min_us);
        disable(&mut hal, ready_us)?;
        let mem = hal
            .dma_alloc(QUEUE_MEM_BYTES)
            .ok_or(NvmeError::OutOfDmaMemory)?;
        let entries = queue_entries(cap);
        let admin = Queue::new(0, entries, cap.doorbell_stride(), mem);
        // From here on, an error drops the controller, whose `Drop` disables it and frees the
        // admin queues.
        let mut ctrl = Self {
            hal,
            cap,
            version: 0,
            timeouts,
            ready_us,
            admin: Some(admin),
            info: ControllerInfo::default(),
            namespaces: Vec::new(),
            io_queues: 0,
            next_qid: 1,
            opened: Vec::new(),
        };
        ctrl.enable()?;
        ctrl.version = ctrl.hal.read32(reg::VS);
        ctrl.identify_controller()?;
        ctrl.io_queues = ctrl.request_io_queues().map_err(NvmeError::Admin)?;
        ctrl.namespaces = ctrl.active_namespaces().map_err(NvmeError::Admin)?;
        Ok(ctrl)
    }

    /// Programs the admin queues and CC, sets CC.EN and waits for CSTS.RDY, then masks
    /// interrupts.
    fn enable(&mut self) -> Result<(), NvmeError> {
        let Some(admin) = &self.admin else {
            return Err(NvmeError::OutOfDmaMemory);
        };
        let (size, base) = (u32::from(admin.entries) - 1, admin.mem.phys());
        self.hal.write32(reg::AQA, size << 16 | size);
        write64(&mut self.hal, reg::ASQ, base + SQ_OFFSET as u64);
        write64(&mut self.hal, reg::ACQ, base + CQ_OFFSET as u64);
        // MPS, CSS, AMS and SHN stay 0: 4 KiB pages, the NVM command set, round robin.
        let cc = reg::CC_IOCQES_16 | reg::CC_IOSQES_64 | reg::CC_EN;
        self.hal.write32(reg::CC, cc);
        let settled = wait_until(&mut self.hal, self.ready_us, |h| {
            h.read32(reg::CSTS) & (reg::CSTS_RDY | reg::CSTS_CFS) != 0
        });
        let csts = self.hal.read32(reg::CSTS);
        if csts & reg::CSTS_CFS != 0 {
            return Err(NvmeError::ControllerFatal { csts });
        }
        if !settled || csts & reg::CSTS_RDY == 0 {
            return Err(NvmeError::EnableTimeout { csts });
        }
        self.hal.write32(reg::INTMS, u32::MAX);
        Ok(())
    }

    /// Runs an admin command.
    fn admin_command(&mut self, command: Command) -> Result<Completion, CommandError> {
        let Some(admin) = self.admin.as_mut() else {
            let cmd = CommandContext {
                qid: 0,
                opcode: command.opcode,
                lba: 0,
            };
            return Err(CommandError::QueueFailed { cmd });
        };
        admin.execute(&mut self.hal, command, 0, self.timeouts.admin_us)
    }

    /// IDENTIFY with `cns` for `nsid`, into the admin scratch page; returns the data.
    fn identify(&mut self, cns: u32, nsid: u32) -> Result<Vec<u8>, CommandError> {
        let mut command = Command::new(admin::IDENTIFY, nsid);
        command.prp1 = self
            .admin
            .as_ref()
            .map_or(0, |a| a.mem.phys() + SCRATCH_OFFSET as u64);
        command.cdw[0] = cns;
        self.admin_command(command)?;
        let mut data = vec![0u8; IDENTIFY_BYTES];
        if let Some(admin) = &self.admin {
            self.hal.dma_read(&admin.mem, SCRATCH_OFFSET, &mut data);
        }
        Ok(data)
    }

    fn identify_controller(&mut self) -> Result<(), NvmeError> {
        let data = self
            .identify(admin::CNS_CONTROLLER, 0)
            .map_err(NvmeError::Admin)?;
        let info = proto::parse_identify_controller(&data);
        if !entry_size_ok(info.sqes, 6) || !entry_size_ok(info.cqes, 4) {
            return Err(NvmeError::EntrySizeUnsupported {
                sqes: info.sqes,
                cqes: info.cqes,
            });
        }
        self.info = info;
        Ok(())
    }

    /// Set Features, Number of Queues: asks for [`WANTED_IO_QUEUES`] pairs and answers how many
    /// the controller granted. A controller that refuses the command (with a status) is taken
    /// to have one pair.
    fn request_io_queues(&mut self) -> Result<u16, CommandError> {
        let mut command = Command::new(admin::SET_FEATURES, 0);
        command.cdw[0] = admin::FEATURE_NUMBER_OF_QUEUES;
        let wanted = u32::from(WANTED_IO_QUEUES - 1);
        command.cdw[1] = wanted << 16 | wanted;
        match self.admin_command(command) {
            Ok(done) => {
                let granted = (done.result & 0xffff).min(done.result >> 16) + 1;
                Ok(granted.min(u32::from(WANTED_IO_QUEUES)) as u16)
            }
            Err(e) if e.is_status() => {
                log::warn!("{e}; assuming one I/O queue pair");
                Ok(1)
            }
            Err(e) => Err(e),
        }
    }

    /// The active namespace list (IDENTIFY CNS 02h, NVMe 1.1 and later), or IDs 1 ..= NN
    /// (at most [`MAX_PROBED_NAMESPACES`]) when the controller has none.
    fn active_namespaces(&mut self) -> Result<Vec<u32>, CommandError> {
        if self.version >= 0x0001_0100 {
            match self.identify(admin::CNS_ACTIVE_NAMESPACES, 0) {
                Ok(data) => return Ok(proto::parse_namespace_list(&data)),
                Err(e) if e.is_status() => log::debug!("{e}; probing namespace IDs instead"),
                Err(e) => return Err(e),
            }
        }
        Ok((1..=self.info.namespaces.min(MAX_PROBED_NAMESPACES)).collect())
    }

    /// CAP, the controller capabilities.
    pub fn capabilities(&self) -> Capabilities {
        self.cap
    }

    /// VS, e.g. `0x00010400` for NVMe 1.4.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The version as `major.minor[.tertiary]`.
    pub fn version_string(&self) -> alloc::string::String {
        let (major, minor, ter) = (
            self.version >> 16,
            (self.version >> 8) & 0xff,
            self.version & 0xff,
        );
        if ter == 0 {
            alloc::format!("{major}.{minor}")
        } else {
            alloc::format!("{major}.{minor}.{ter}")
        }
    }

    /// What IDENTIFY CONTROLLER said (model, serial, firmware, MDTS…).
    pub fn info(&self) -> &ControllerInfo {
        &self.info
    }

    /// The active namespace IDs, in increasing order.
    pub fn namespaces(&self) -> &[u32] {
        &self.namespaces
    }

    /// How many I/O queue pairs the controller granted (one per opened namespace).
    pub fn io_queue_pairs(&self) -> u16 {
        self.io_queues
    }

    /// Whether an admin command failed for good (timeout, fatal status): no namespace opens.
    pub fn is_failed(&self) -> bool {
        self.admin.as_ref().is_none_or(|a| a.failed)
    }
}

/// Entries per queue: [`QUEUE_ENTRIES`], or fewer if CAP.MQES says so.
fn queue_entries(cap: Capabilities) -> u16 {
    cap.max_queue_entries().min(u32::from(QUEUE_ENTRIES)) as u16
}

impl<H: NvmeHal + Clone> Controller<H> {
    /// [`open_namespace`](Self::open_namespace) on every active namespace, lowest ID first.
    pub fn open_namespaces(&mut self) -> Vec<(u32, Result<NvmeDisk<H>, NamespaceError>)> {
        let ids = self.namespaces.clone();
        ids.into_iter()
            .map(|nsid| (nsid, self.open_namespace(nsid)))
            .collect()
    }

    /// Identifies namespace `nsid` and gives it an I/O queue pair and a bounce buffer.
    ///
    /// # Errors
    /// Every [`NamespaceError`]: the namespace is inactive, already open, or of a format the
    /// driver does not handle (nothing allocated); no queue pair or DMA memory is left; an
    /// admin command fails. DMA memory is given back on error unless the controller may
    /// still use it (then it is leaked).
    pub fn open_namespace(&mut self, nsid: u32) -> Result<NvmeDisk<H>, NamespaceError> {
        if self.opened.contains(&nsid) {
            return Err(NamespaceError::InUse { nsid });
        }
        if self.is_failed() {
            return Err(NamespaceError::ControllerFailed { nsid });
        }
        let info = self.identify_namespace(nsid)?;
        let qid = self.next_qid;
        if qid > self.io_queues {
            let queues = self.io_queues;
            return Err(NamespaceError::NoQueuesLeft { nsid, queues });
        }
        let (mem, bounce) = self.alloc_io(nsid)?;
        // Queue IDs are never reused, even after a failed creation.
        self.next_qid += 1;
        let queue = Queue::new(
            qid,
            queue_entries(self.cap),
            self.cap.doorbell_stride(),
            mem,
        );
        if let Err((error, unused)) = self.create_io_queues(&queue) {
            if unused {
                self.hal.dma_free(queue.mem);
                self.hal.dma_free(bounce);
            } else {
                log::warn!("nvme: namespace {nsid}: leaking the DMA memory of queue {qid}");
            }
            return Err(NamespaceError::Command { nsid, error });
        }
        self.opened.push(nsid);
        let bs = info.lba_bytes as usize;
        let limit = [
            bounce.len(),
            MAX_TRANSFER_BYTES,
            self.info.max_transfer_bytes().unwrap_or(usize::MAX),
        ]
        .into_iter()
        .min()
        .unwrap_or(PAGE_BYTES);
        Ok(NvmeDisk {
            hal: self.hal.clone(),
            nsid,
            info,
            queue: Some(queue),
            bounce: Some(bounce),
            max_transfer: (limit / bs).max(1) * bs,
            timeouts: self.timeouts,
            last_error: None,
        })
    }

    /// IDENTIFY NAMESPACE, and the checks that the driver can use the namespace.
    fn identify_namespace(&mut self, nsid: u32) -> Result<NamespaceInfo, NamespaceError> {
        let data = self
            .identify(admin::CNS_NAMESPACE, nsid)
            .map_err(|error| NamespaceError::Command { nsid, error })?;
        let info = match proto::parse_identify_namespace(&data) {
            Ok(info) => info,
            Err(NamespaceDataError::Inactive) => return Err(NamespaceError::Inactive { nsid }),
            Err(error) => return Err(NamespaceError::BadIdentify { nsid, error }),
        };
        if info.metadata_bytes != 0 {
            let bytes = info.metadata_bytes;
            return Err(NamespaceError::Metadata { nsid, bytes });
        }
        if info.lba_bytes != 512 && info.lba_bytes != 4096 {
            let bytes = info.lba_bytes;
            return Err(NamespaceError::UnsupportedBlockSize { nsid, bytes });
        }
        Ok(info)
    }

    /// Queue memory and a bounce buffer ([`BOUNCE_BYTES`], halved down to one page while DMA
    /// memory is short).
    fn alloc_io(&mut self, nsid: u32) -> Result<(DmaRegion, DmaRegion), NamespaceError> {
        let mem = self
            .hal
            .dma_alloc(QUEUE_MEM_BYTES)
            .ok_or(NamespaceError::OutOfDmaMemory { nsid })?;
        let mut size = BOUNCE_BYTES;
        loop {
            if let Some(bounce) = self.hal.dma_alloc(size) {
                return Ok((mem, bounce));
            }
            if size <= PAGE_BYTES {
                self.hal.dma_free(mem);
                return Err(NamespaceError::OutOfDmaMemory { nsid });
            }
            size /= 2;
        }
    }

    /// CREATE I/O COMPLETION QUEUE, then CREATE I/O SUBMISSION QUEUE, both physically
    /// contiguous, without interrupts. On error, also says whether the controller is known
    /// not to use the queue memory (so that it can be freed).
    fn create_io_queues(&mut self, queue: &Queue) -> Result<(), (CommandError, bool)> {
        let size = u32::from(queue.entries - 1) << 16 | u32::from(queue.qid);
        let base = queue.mem.phys();
        let mut cq = Command::new(admin::CREATE_IO_CQ, 0);
        cq.prp1 = base + CQ_OFFSET as u64;
        cq.cdw[0] = size;
        cq.cdw[1] = 1; // PC: physically contiguous; IEN clear: no interrupts.
        if let Err(e) = self.admin_command(cq) {
            return Err((e, e.is_status()));
        }
        let mut sq = Command::new(admin::CREATE_IO_SQ, 0);
        sq.prp1 = base + SQ_OFFSET as u64;
        sq.cdw[0] = size;
        sq.cdw[1] = u32::from(queue.qid) << 16 | 1; // CQID; PC.
        if let Err(e) = self.admin_command(sq) {
            let mut delete = Command::new(admin::DELETE_IO_CQ, 0);
            delete.cdw[0] = u32::from(queue.qid);
            let deleted = e.is_status() && self.admin_command(delete).is_ok();
            return Err((e, deleted));
        }
        Ok(())
    }
}

impl<H: NvmeHal> Drop for Controller<H> {
    /// With no disk opened, disables the controller and gives back the admin queues (leaking
    /// them if it will not stop). Once disks exist, the controller must keep running for them,
    /// and an enabled controller keeps its admin queues: their memory is left to it.
    fn drop(&mut self) {
        let Some(admin) = self.admin.take() else {
            return;
        };
        if !self.opened.is_empty() {
            return;
        }
        match disable(&mut self.hal, self.ready_us) {
            Ok(()) => self.hal.dma_free(admin.mem),
            Err(e) => log::warn!("nvme: {e}; leaking the admin queues' DMA memory"),
        }
    }
}

/// One namespace of an NVMe controller, as a [`BlockDevice`] of its LBA format's block size
/// (512 or 4096 bytes), with an I/O queue pair and a bounce buffer of its own.
///
/// Errors: range and buffer checks first (nothing sent), then
/// [`CommandError::to_block_error`] of the failed command — media and data transfer errors as
/// [`BlockError::Io`], timeouts as [`DeviceFailure::Timeout`], a failed controller or queue as
/// [`DeviceFailure::NotReady`]; [`NvmeDisk::last_error`] keeps the full detail, and each
/// failure is logged at error level.
pub struct NvmeDisk<H: NvmeHal> {
    hal: H,
    nsid: u32,
    info: NamespaceInfo,
    /// `None` only while being dropped.
    queue: Option<Queue>,
    bounce: Option<DmaRegion>,
    /// The most one command moves: a whole number of blocks.
    max_transfer: usize,
    timeouts: Timeouts,
    last_error: Option<CommandError>,
}

impl<H: NvmeHal> NvmeDisk<H> {
    /// The namespace ID.
    pub fn nsid(&self) -> u32 {
        self.nsid
    }

    /// What IDENTIFY NAMESPACE said.
    pub fn info(&self) -> &NamespaceInfo {
        &self.info
    }

    /// The I/O queue pair's ID.
    pub fn queue_id(&self) -> u16 {
        self.queue.as_ref().map_or(0, |q| q.qid)
    }

    /// The last command error, with the full detail (the status) a [`BlockError`] lacks.
    pub fn last_error(&self) -> Option<CommandError> {
        self.last_error
    }

    /// Whether a timeout or controller failure took the queue out of service.
    pub fn is_failed(&self) -> bool {
        self.queue.as_ref().is_none_or(|q| q.failed)
    }

    /// How many commands were submitted.
    pub fn commands_issued(&self) -> u64 {
        self.queue.as_ref().map_or(0, |q| q.commands)
    }

    /// The most one command transfers: the bounce buffer, MDTS and one PRP list page allow it.
    pub fn max_transfer_bytes(&self) -> usize {
        self.max_transfer
    }

    fn context(&self, opcode: u8, lba: u64) -> CommandContext {
        CommandContext {
            qid: self.queue_id(),
            opcode,
            lba,
        }
    }

    /// Fails unless the queue takes commands (before the bounce buffer is touched).
    fn check(&mut self, opcode: u8, lba: u64) -> Result<(), CommandError> {
        let cmd = self.context(opcode, lba);
        match self.queue.as_mut() {
            Some(q) => q.check(&mut self.hal, cmd),
            None => Err(CommandError::QueueFailed { cmd }),
        }
    }

    /// READ or WRITE of the first `bytes` bytes of the bounce buffer at `lba`.
    fn transfer(&mut self, opcode: u8, lba: u64, bytes: usize) -> Result<(), CommandError> {
        self.check(opcode, lba)?;
        let blocks = (bytes / self.block_size()) as u32;
        let cmd = self.context(opcode, lba);
        let (Some(queue), Some(bounce)) = (self.queue.as_mut(), &self.bounce) else {
            return Err(CommandError::QueueFailed { cmd });
        };
        let list_at = queue.mem.phys() + SCRATCH_OFFSET as u64;
        let prps = build_prps(bounce.phys(), bytes, list_at)
            .map_err(|error| CommandError::Prp { cmd, error })?;
        if !prps.list.is_empty() {
            let list: Vec<u8> = prps.list.iter().flat_map(|a| a.to_le_bytes()).collect();
            self.hal.dma_write(&queue.mem, SCRATCH_OFFSET, &list);
        }
        let mut command = Command::read_write(opcode, self.nsid, lba, blocks);
        command.prp1 = prps.prp1;
        command.prp2 = prps.prp2;
        queue
            .execute(&mut self.hal, command, lba, self.timeouts.io_us)
            .map(|_| ())
    }

    fn read_chunk(&mut self, lba: u64, part: &mut [u8]) -> Result<(), CommandError> {
        self.transfer(io::READ, lba, part.len())?;
        if let Some(b) = &self.bounce {
            self.hal.dma_read(b, 0, part);
        }
        Ok(())
    }

    fn write_chunk(&mut self, lba: u64, part: &[u8]) -> Result<(), CommandError> {
        self.check(io::WRITE, lba)?;
        if let Some(b) = &self.bounce {
            self.hal.dma_write(b, 0, part);
        }
        self.transfer(io::WRITE, lba, part.len())
    }

    fn fail(&mut self, e: CommandError) -> BlockError {
        log::error!("nvme: namespace {}: {e}", self.nsid);
        self.last_error = Some(e);
        e.to_block_error()
    }
}

impl<H: NvmeHal> BlockDevice for NvmeDisk<H> {
    fn block_size(&self) -> usize {
        self.info.lba_bytes as usize
    }

    fn num_blocks(&self) -> u64 {
        self.info.blocks
    }

    fn is_read_only(&self) -> bool {
        false
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let bs = self.block_size();
        check_request(bs, self.info.blocks, lba, buf.len())?;
        let chunk = self.max_transfer;
        for (i, part) in buf.chunks_mut(chunk).enumerate() {
            let at = lba + (i * (chunk / bs)) as u64;
            if let Err(e) = self.read_chunk(at, part) {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let bs = self.block_size();
        check_request(bs, self.info.blocks, lba, buf.len())?;
        let chunk = self.max_transfer;
        for (i, part) in buf.chunks(chunk).enumerate() {
            let at = lba + (i * (chunk / bs)) as u64;
            if let Err(e) = self.write_chunk(at, part) {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    /// FLUSH of the namespace (mandatory; a controller without a volatile write cache completes
    /// it at once).
    fn flush(&mut self) -> Result<(), BlockError> {
        let command = Command::new(io::FLUSH, self.nsid);
        let timeout = self.timeouts.flush_us;
        let result = match self.queue.as_mut() {
            Some(q) => q.execute(&mut self.hal, command, 0, timeout).map(|_| ()),
            None => Err(CommandError::QueueFailed {
                cmd: self.context(io::FLUSH, 0),
            }),
        };
        result.map_err(|e| self.fail(e))
    }
}

impl<H: NvmeHal> Drop for NvmeDisk<H> {
    /// Gives back the queue memory and the bounce buffer when no command is outstanding (the
    /// controller reads a submission queue only up to its tail doorbell and writes a completion
    /// queue only to complete a command, so an idle queue's memory is not touched); after a
    /// timeout or controller failure they are leaked (the controller may still write them).
    fn drop(&mut self) {
        let (Some(queue), Some(bounce)) = (self.queue.take(), self.bounce.take()) else {
            return;
        };
        if queue.failed {
            log::warn!(
                "nvme: namespace {}: queue {} failed; leaking its DMA memory",
                self.nsid,
                queue.qid
            );
            return;
        }
        self.hal.dma_free(queue.mem);
        self.hal.dma_free(bounce);
    }
}
