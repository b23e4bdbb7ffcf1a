//! Where `arch` reaches up. The CPU enters the kernel through `arch` (timer interrupt, CPU
//! exception in ring 3, `syscall`, a new task's first instruction), but what happens next
//! belongs to the process core, a higher layer. Rather than naming it, `arch` calls the
//! handlers registered here; the process core registers them once, in `process::init`, before
//! it enables `syscall` or starts the timer. So `arch` depends on nothing above it (the one
//! exception is the boot entry, `entry.rs`, which jumps to `boot::kmain`).

use spin::Once;

use super::syscall::SyscallFrame;
use crate::fatal::{self, Outcome};
use crate::fault_report::ExceptionFrame;

/// The process core's handlers for the ways the CPU enters the kernel on a program's behalf.
#[derive(Clone, Copy)]
pub struct Hooks {
    /// A timer tick interrupted a program (ring 3): preempt it.
    pub timer: fn(),
    /// A CPU exception in ring 3 (not NMI, #DF or #MC): end that program and run another.
    pub user_fault: fn(&ExceptionFrame, Option<u64>) -> !,
    /// A program ran `syscall`: decode and serve it, results in `frame`.
    pub syscall: extern "C" fn(&mut SyscallFrame),
    /// A new task runs for the first time, on its kernel stack, before it enters ring 3.
    pub task_started: extern "C" fn(),
}

static HOOKS: Once<Hooks> = Once::new();

/// Why [`install`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyInstalled;

impl core::fmt::Display for AlreadyInstalled {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the arch hooks are already installed")
    }
}

/// Registers the process core's handlers. Once only: a second call changes nothing.
pub fn install(hooks: Hooks) -> Result<(), AlreadyInstalled> {
    let mut fresh = false;
    HOOKS.call_once(|| {
        fresh = true;
        hooks
    });
    if fresh {
        Ok(())
    } else {
        Err(AlreadyInstalled)
    }
}

/// The timer interrupt's ring-3 path (`lapic`). Without a handler (no process core yet,
/// so no program can have been running) it does nothing.
pub(super) fn timer_in_user_mode() {
    if let Some(h) = HOOKS.get() {
        (h.timer)();
    }
}

/// The exception path for a ring-3 fault (`exceptions`). Returns only if no handler is
/// registered; the caller then writes the full report and stops.
pub(super) fn user_fault(frame: &ExceptionFrame, cr2: Option<u64>) {
    if let Some(h) = HOOKS.get() {
        (h.user_fault)(frame, cr2);
    }
}

/// Called by the `syscall` entry stub (`syscall.rs`). `syscall` is enabled only after the
/// handlers are registered, so the missing-handler branch is a kernel bug: stop loudly.
pub(super) extern "C" fn syscall(frame: &mut SyscallFrame) {
    match HOOKS.get() {
        Some(h) => (h.syscall)(frame),
        None => {
            log::error!("syscall with no process core registered (arch::hooks)");
            fatal::stop(Outcome::Fail);
        }
    }
}

/// Called by the new-task trampoline (`context.rs`) before its first `iretq` to ring 3.
/// Tasks exist only once the process core is up, so a missing handler has nothing to do.
pub(super) extern "C" fn task_started() {
    if let Some(h) = HOOKS.get() {
        (h.task_started)();
    }
}
