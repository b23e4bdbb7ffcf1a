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
pub mod queue;

#[cfg(target_os = "none")]
mod ipc_calls;
#[cfg(target_os = "none")]
mod sched;
#[cfg(target_os = "none")]
mod syscalls;

#[cfg(target_os = "none")]
pub use ipc_calls::{bind_entry, init_ipc};
#[cfg(target_os = "none")]
pub use sched::{
    init, kill, on_user_fault, preempt, process_count, spawn, status, task_started, wait_until,
    ProcessError, SpawnError,
};
#[cfg(target_os = "none")]
pub use sched::{switch_stats, SwitchStats};
#[cfg(target_os = "none")]
pub use syscalls::{
    on_syscall, set_boot_count, set_manifest_json, set_user_data, user_data_from_disk,
};

use alloc::boxed::Box;

use crate::userdata::{Region, RegionError};
use drivers::block::BlockDevice;

/// A process id. 0 is the kernel's own task (the boot context); programs get 1, 2, ...
pub type Pid = u32;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It called EXIT with this code.
    Code(i32),
    /// A CPU exception in ring 3 ended it. `fault` names it (e.g. `#PF page fault`); `addr`
    /// is the faulting address for page faults.
    Fault {
        fault: &'static str,
        rip: u64,
        addr: Option<u64>,
    },
    /// [`kill`] ended it, for this reason.
    Killed(&'static str),
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

/// The name of a ring-3 fault for logs and [`Exit::Fault`]: a page fault in the guard area
/// below the stack is a stack overflow.
pub fn fault_name(vector: u64, cr2: Option<u64>) -> &'static str {
    use crate::fault_report::vector as v;
    let guard = USER_STACK_BOTTOM - USER_STACK_GUARD..USER_STACK_BOTTOM;
    match vector {
        v::PAGE_FAULT if cr2.is_some_and(|a| guard.contains(&a)) => "stack overflow (guard page)",
        v::PAGE_FAULT => "#PF page fault",
        v::GENERAL_PROTECTION => "#GP general protection fault",
        v::STACK_SEGMENT => "#SS stack-segment fault",
        0 => "#DE divide error",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range exceeded",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        16 => "#MF x87 floating-point exception",
        17 => "#AC alignment check",
        19 => "#XM SIMD floating-point exception",
        _ => crate::fault_report::vector_info(vector).name,
    }
}

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
}

/// A boxed store, as [`set_user_data`] takes it.
pub type BoxedUserData = Box<dyn UserDataStore>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names() {
        assert_eq!(fault_name(14, Some(0)), "#PF page fault");
        assert_eq!(
            fault_name(14, Some(USER_STACK_BOTTOM - 8)),
            "stack overflow (guard page)"
        );
        assert_eq!(
            fault_name(14, Some(USER_STACK_BOTTOM - USER_STACK_GUARD)),
            "stack overflow (guard page)"
        );
        assert_eq!(fault_name(14, Some(USER_STACK_BOTTOM)), "#PF page fault");
        assert_eq!(fault_name(13, None), "#GP general protection fault");
        assert_eq!(fault_name(6, None), "#UD invalid opcode");
        assert_eq!(fault_name(0, None), "#DE divide error");
        assert_eq!(fault_name(21, None), "Control Protection");
    }

    #[test]
    fn exit_display() {
        assert_eq!(Exit::Code(3).to_string(), "exit code 3");
        assert_eq!(
            Exit::Fault {
                fault: "#PF page fault",
                rip: 0x401000,
                addr: Some(0)
            }
            .to_string(),
            "#PF page fault at RIP 0x401000, address 0x0"
        );
        assert_eq!(
            Exit::Fault {
                fault: "#UD invalid opcode",
                rip: 0x401000,
                addr: None
            }
            .to_string(),
            "#UD invalid opcode at RIP 0x401000"
        );
        assert_eq!(Exit::Killed("timeout").to_string(), "killed: timeout");
    }
}
