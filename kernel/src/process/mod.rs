//! The process core: components run as isolated ring-3 programs, each in its own address
//! space, preempted by the local APIC timer and served through `syscall`.
//!
//! * [`init`] starts the timer, enables `syscall` and makes the calling (boot) context kernel
//!   task 0;
//! * [`spawn`] validates and loads a component ELF; it runs from the next scheduling point;
//! * [`wait_until`] is where task 0 lets the others run (interrupts on only there and in ring
//!   3: all kernel code runs with interrupts off, so no kernel lock is ever held across a
//!   switch);
//! * [`status`] and [`kill`] for the supervisor;
//! * inter-component calls (`IPC_*`, see `crate::ipc` and `docs/ipc.md`): a caller or
//!   receiver blocks in the kernel (out of the run queue) until woken by a reply, a call, a
//!   timeout or its provider's end;
//! * a fault in ring 3 ends only that program ([`on_user_fault`]).
//!
//! Pure parts (syscall decoding, the run queue, fault naming) build and are tested on the host.
#![allow(unsafe_code)]

pub mod args;
pub mod budget;
pub mod console_read;
pub mod net;
pub mod queue;
pub mod slot_calls;
pub mod slot_io;

#[cfg(target_os = "none")]
mod ipc_calls;
#[cfg(target_os = "none")]
mod net_calls;
#[cfg(target_os = "none")]
mod sched;
#[cfg(target_os = "none")]
mod screen_calls;
#[cfg(target_os = "none")]
mod syscalls;

#[cfg(target_os = "none")]
pub use ipc_calls::{bind_entry, init_ipc};
#[cfg(target_os = "none")]
pub use net_calls::set_network;
#[cfg(target_os = "none")]
pub use sched::{
    init, kill, on_user_fault, preempt, process_count, spawn, status, task_started, wait_until,
    ProcessError,
};
#[cfg(target_os = "none")]
pub use sched::{switch_stats, SwitchStats};
#[cfg(target_os = "none")]
pub use syscalls::{
    mark_slot_successful, on_syscall, read_kernel_block, save_crash_record, set_boot_count,
    set_slot_preparer, set_user_data, user_data_from_disk, write_kernel_block,
};

use alloc::boxed::Box;

use crate::userdata::{Region, RegionError};
use drivers::block::BlockDevice;
use loader::superblock::BLOCK_SIZE;

/// A process id. 0 is the kernel's own task (the boot context); programs get 1, 2, ...
pub type Pid = u32;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It called EXIT with this code.
    Code(i32),
    /// A CPU exception in ring 3 ended it; `addr` is the faulting address for page faults.
    Fault {
        fault: FaultKind,
        rip: u64,
        addr: Option<u64>,
    },
    /// [`kill`] ended it, for this reason.
    Killed(KillReason),
}

impl core::fmt::Display for Exit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Code(c) => write!(f, "exit code {c}"),
            Self::Fault { fault, rip, addr } => {
                write!(f, "{fault} at RIP {rip:#x}")?;
                match addr {
                    Some(a) => write!(f, ", address {a:#x}"),
                    None => Ok(()),
                }
            }
            Self::Killed(why) => write!(f, "killed: {why}"),
        }
    }
}

/// The CPU exception that ended a ring-3 program ([`Exit::Fault`]). `Display` gives the name
/// the logs and the state table show (`#PF page fault`, `stack overflow (guard page)`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A page fault in the unmapped guard area below the stack.
    StackOverflow,
    /// `#PF`.
    PageFault,
    /// `#GP`.
    GeneralProtection,
    /// `#SS`.
    StackSegment,
    /// `#DE`.
    DivideError,
    /// `#BP`.
    Breakpoint,
    /// `#OF`.
    Overflow,
    /// `#BR`.
    BoundRange,
    /// `#UD`.
    InvalidOpcode,
    /// `#NM`.
    DeviceNotAvailable,
    /// `#MF`.
    X87,
    /// `#AC`.
    AlignmentCheck,
    /// `#XM`.
    Simd,
    /// Any other vector, named as the fault report names it.
    Other(u8),
}

impl FaultKind {
    /// The fault for exception `vector` with faulting address `cr2`: a page fault in the guard
    /// area below the stack is a stack overflow.
    pub fn of(vector: u64, cr2: Option<u64>) -> FaultKind {
        use crate::fault_report::vector as v;
        let guard = USER_STACK_BOTTOM - USER_STACK_GUARD..USER_STACK_BOTTOM;
        match vector {
            v::PAGE_FAULT if cr2.is_some_and(|a| guard.contains(&a)) => Self::StackOverflow,
            v::PAGE_FAULT => Self::PageFault,
            v::GENERAL_PROTECTION => Self::GeneralProtection,
            v::STACK_SEGMENT => Self::StackSegment,
            0 => Self::DivideError,
            3 => Self::Breakpoint,
            4 => Self::Overflow,
            5 => Self::BoundRange,
            6 => Self::InvalidOpcode,
            7 => Self::DeviceNotAvailable,
            16 => Self::X87,
            17 => Self::AlignmentCheck,
            19 => Self::Simd,
            other => Self::Other(u8::try_from(other).unwrap_or(u8::MAX)),
        }
    }
}

impl core::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::StackOverflow => "stack overflow (guard page)",
            Self::PageFault => "#PF page fault",
            Self::GeneralProtection => "#GP general protection fault",
            Self::StackSegment => "#SS stack-segment fault",
            Self::DivideError => "#DE divide error",
            Self::Breakpoint => "#BP breakpoint",
            Self::Overflow => "#OF overflow",
            Self::BoundRange => "#BR bound range exceeded",
            Self::InvalidOpcode => "#UD invalid opcode",
            Self::DeviceNotAvailable => "#NM device not available",
            Self::X87 => "#MF x87 floating-point exception",
            Self::AlignmentCheck => "#AC alignment check",
            Self::Simd => "#XM SIMD floating-point exception",
            Self::Other(vector) => crate::fault_report::vector_info(u64::from(*vector)).name,
        })
    }
}

/// Why the kernel ended a process ([`Exit::Killed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// It did not signal READY within its start timeout (the supervisor).
    StartTimeout,
    /// A MEMORY_GROW would have taken it past its `memory_limit`.
    MemoryLimitReached,
    /// An operator asked for it (no kernel path does yet; the supervisor's tests use it).
    Operator,
}

impl core::fmt::Display for KillReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::StartTimeout => "start timeout",
            Self::MemoryLimitReached => bootlog::msg::MEMORY_LIMIT_REACHED,
            Self::Operator => "operator",
        })
    }
}

/// Why [`spawn`] did not start a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// [`init`] has not run.
    NotInitialised,
    /// The ELF file is not a valid component (see `bootproto::elf::Policy::COMPONENT`).
    Elf(bootproto::elf::ElfError),
    /// Mapping the program failed (usually: out of memory).
    #[cfg(target_os = "none")]
    Map(crate::memory::paging::MapError),
    /// No frame left for the program's pages.
    OutOfMemory,
    /// No kernel stack for the task.
    #[cfg(target_os = "none")]
    KernelStack(crate::memory::kstack::StackError),
    /// Its segments and stack need more than its `memory_limit` (nothing was mapped).
    OverMemoryLimit(budget::OverLimit),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotInitialised => write!(f, "the process core is not initialised"),
            Self::Elf(e) => write!(f, "{e}"),
            #[cfg(target_os = "none")]
            Self::Map(e) => write!(f, "mapping the program: {e}"),
            Self::OutOfMemory => write!(f, "out of physical memory for the program"),
            #[cfg(target_os = "none")]
            Self::KernelStack(e) => write!(f, "{e}"),
            Self::OverMemoryLimit(e) => write!(f, "{e}"),
        }
    }
}

/// A snapshot of a process: when (µs since kernel entry) it was started and signalled READY,
/// and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub started_us: u64,
    pub ready_us: Option<u64>,
    pub exit: Option<Exit>,
}

/// Where a program's stack ends (exclusive): 64 KiB below the end of the user half, so
/// nothing is ever mapped next to the non-canonical boundary.
pub const USER_STACK_TOP: u64 = abi::layout::USER_END - 0x1_0000;
/// Size of a program's stack.
pub const USER_STACK_SIZE: u64 = 64 * 1024;
/// Lowest stack address.
pub const USER_STACK_BOTTOM: u64 = USER_STACK_TOP - USER_STACK_SIZE;
/// Where MEMORY_GROW's area ends: the top of what a component's segments may use, below the
/// stack's guard area.
pub const GROWTH_END: u64 = bootproto::elf::Policy::COMPONENT.max_vaddr;
/// The unmapped area below the stack: a page fault here is a stack overflow.
pub const USER_STACK_GUARD: u64 = 64 * 1024;

const _: () = assert!(USER_STACK_TOP < abi::layout::USER_END);
const _: () =
    assert!(USER_STACK_TOP.is_multiple_of(4096) && USER_STACK_BOTTOM.is_multiple_of(4096));
// Component images must end below the guard area (bootproto's component policy).
const _: () =
    assert!(bootproto::elf::Policy::COMPONENT.max_vaddr <= USER_STACK_BOTTOM - USER_STACK_GUARD);
const _: () = assert!(bootproto::elf::Policy::COMPONENT.min_vaddr == abi::layout::COMPONENT_BASE);

/// The user-data region as the `USERDATA_*` syscalls use it: region-relative 4096-byte blocks,
/// bounds-checked. Implemented by [`Region`] over any block device.
pub trait UserDataStore: Send {
    /// Blocks in the region.
    fn blocks(&self) -> u64;
    /// Reads whole blocks from `first` on into `buf`.
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), RegionError>;
    /// Writes whole blocks from `first` on.
    fn write(&mut self, first: u64, buf: &[u8]) -> Result<(), RegionError>;
    /// Makes written blocks durable.
    fn flush(&mut self) -> Result<(), RegionError>;
    /// Writes and flushes one of the kernel's own blocks, before the region (kernel only).
    fn write_kernel_block(&mut self, block: u64, buf: &[u8; BLOCK_SIZE])
        -> Result<(), RegionError>;
    /// Reads one of the kernel's own blocks, before the region (kernel only).
    fn read_kernel_block(
        &mut self,
        block: u64,
        buf: &mut [u8; BLOCK_SIZE],
    ) -> Result<(), RegionError>;
    /// The whole disk in 4096-byte blocks, for SLOT_READ and SLOT_WRITE, which check every
    /// access against the slots' rooms first (`slot_io::place`; kernel only).
    fn disk(&mut self) -> &mut dyn BlockDevice;
}

impl<D: BlockDevice + Send> UserDataStore for Region<D> {
    fn blocks(&self) -> u64 {
        Region::blocks(self)
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), RegionError> {
        Region::read(self, first, buf)
    }
    fn write(&mut self, first: u64, buf: &[u8]) -> Result<(), RegionError> {
        Region::write(self, first, buf)
    }
    fn flush(&mut self) -> Result<(), RegionError> {
        Region::flush(self)
    }
    fn write_kernel_block(
        &mut self,
        block: u64,
        buf: &[u8; BLOCK_SIZE],
    ) -> Result<(), RegionError> {
        Region::write_kernel_block(self, block, buf)
    }
    fn read_kernel_block(
        &mut self,
        block: u64,
        buf: &mut [u8; BLOCK_SIZE],
    ) -> Result<(), RegionError> {
        Region::read_kernel_block(self, block, buf)
    }
    fn disk(&mut self) -> &mut dyn BlockDevice {
        Region::<D>::device(self)
    }
}

/// A boxed store, as [`set_user_data`] takes it.
pub type BoxedUserData = Box<dyn UserDataStore>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_kinds() {
        let name = |vector, cr2| FaultKind::of(vector, cr2).to_string();
        assert_eq!(FaultKind::of(14, Some(0)), FaultKind::PageFault);
        assert_eq!(name(14, Some(0)), "#PF page fault");
        assert_eq!(
            name(14, Some(USER_STACK_BOTTOM - 8)),
            "stack overflow (guard page)"
        );
        assert_eq!(
            name(14, Some(USER_STACK_BOTTOM - USER_STACK_GUARD)),
            "stack overflow (guard page)"
        );
        assert_eq!(name(14, Some(USER_STACK_BOTTOM)), "#PF page fault");
        assert_eq!(name(13, None), "#GP general protection fault");
        assert_eq!(name(6, None), "#UD invalid opcode");
        assert_eq!(name(0, None), "#DE divide error");
        assert_eq!(FaultKind::of(21, None), FaultKind::Other(21));
        assert_eq!(name(21, None), "Control Protection");
    }

    #[test]
    fn exit_display() {
        assert_eq!(Exit::Code(3).to_string(), "exit code 3");
        assert_eq!(
            Exit::Fault {
                fault: FaultKind::PageFault,
                rip: 0x401000,
                addr: Some(0)
            }
            .to_string(),
            "#PF page fault at RIP 0x401000, address 0x0"
        );
        assert_eq!(
            Exit::Fault {
                fault: FaultKind::InvalidOpcode,
                rip: 0x401000,
                addr: None
            }
            .to_string(),
            "#UD invalid opcode at RIP 0x401000"
        );
        assert_eq!(
            Exit::Killed(KillReason::StartTimeout).to_string(),
            "killed: start timeout"
        );
        assert_eq!(
            Exit::Killed(KillReason::MemoryLimitReached).to_string(),
            "killed: memory limit reached"
        );
    }
}
