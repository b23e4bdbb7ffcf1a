//! Tasks, the scheduler and process lifetimes: spawn, switch, exit, fault, kill.
//!
//! Invariants that make a single spin lock ([`SCHED`]) enough on the one CPU that runs tasks:
//! 1. Kernel code runs with interrupts disabled; they are on only in ring 3 and while task 0
//!    halts in [`wait_until`]. A timer tick preempts only ring 3 (see `arch::lapic`).
//! 2. So a task is switched away from only at the explicit points in this file, none of which
//!    holds a lock across the switch.
//! 3. Task 0 (the boot context) is always either running or in the run queue, so a task
//!    that ends always has someone to switch to.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use bootproto::elf::{self, ElfError, Policy};
use spin::Mutex;

use super::queue::RunQueue;
use super::{fault_name, Exit, Pid, Status, USER_STACK_BOTTOM, USER_STACK_SIZE, USER_STACK_TOP};
use crate::arch::{context, gdt, lapic, syscall};
use crate::caps::Grants;
use crate::fault_report::ExceptionFrame;
use crate::memory::frames::FRAME_SIZE;
use crate::memory::kstack::{KernelStack, StackError};
use crate::memory::paging::{self, MapError, PageFlags};
use crate::memory::user::AddressSpace;
use crate::{memory, time};

/// The kernel's own task: the boot context that called [`init`].
const KERNEL_PID: Pid = 0;

/// Why [`init`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessError {
    /// [`init`] already ran.
    AlreadyInitialised,
    /// Memory management is not up.
    NoMemory,
    /// Giving the kernel's upper half its page tables failed.
    Map(MapError),
    /// The local APIC timer could not be started.
    Timer(lapic::LapicError),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyInitialised => write!(f, "the process core is already initialised"),
            Self::NoMemory => write!(f, "memory management is not initialised"),
            Self::Map(e) => write!(f, "preparing the kernel's page tables: {e}"),
            Self::Timer(e) => write!(f, "{e}"),
        }
    }
}

/// Why [`spawn`] did not start a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// [`init`] has not run.
    NotInitialised,
    /// The ELF file is not a valid component (see `bootproto::elf::Policy::COMPONENT`).
    Elf(ElfError),
    /// Mapping the program failed (usually: out of memory).
    Map(MapError),
    /// No frame left for the program's pages.
    OutOfMemory,
    /// No kernel stack for the task.
    KernelStack(StackError),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInitialised => write!(f, "the process core is not initialised"),
            Self::Elf(e) => write!(f, "{e}"),
            Self::Map(e) => write!(f, "mapping the program: {e}"),
            Self::OutOfMemory => write!(f, "out of physical memory for the program"),
            Self::KernelStack(e) => write!(f, "{e}"),
        }
    }
}

/// What a ring-3 task has besides its kernel stack pointer.
struct UserTask {
    space: AddressSpace,
    kstack: KernelStack,
    grants: Grants,
}

struct Task {
    name: String,
    /// The stack pointer `context::switch` saved when the task last stopped running.
    saved_rsp: u64,
    /// `None` for the kernel task.
    user: Option<UserTask>,
    /// Blocked in the kernel (an IPC call or receive): not in the run queue until [`wake`].
    blocked: bool,
    /// [`wake`] came while the task was not blocked: its next [`block_current`] returns at
    /// once (the waiter re-checks its condition, so an early wake is never lost).
    wake_pending: bool,
}

struct Record {
    status: Status,
}

struct Scheduler {
    /// Live tasks. Boxed so `saved_rsp` keeps its address while the map changes.
    tasks: BTreeMap<Pid, Box<Task>>,
    queue: RunQueue,
    current: Pid,
    next_pid: Pid,
    /// Every process ever started (status survives the process).
    records: BTreeMap<Pid, Record>,
    /// Kernel stacks of ended tasks, freed by the next task to run (a task cannot free the
    /// stack it runs on).
    dead_stacks: Vec<KernelStack>,
}

static SCHED: Mutex<Option<Scheduler>> = Mutex::new(None);

/// Starts the process core: gives every higher-half PML4 slot a table (so address spaces can
/// share the kernel half), enables `syscall`, starts the local APIC timer (ticks arrive only
/// when interrupts are on) and makes the caller kernel task 0. Call once, with interrupts off,
/// after memory and arch are up.
pub fn init() -> Result<(), ProcessError> {
    let mut slot = SCHED.lock();
    if slot.is_some() {
        return Err(ProcessError::AlreadyInitialised);
    }
    let tables = memory::with_frames(paging::populate_upper_half)
        .ok_or(ProcessError::NoMemory)?
        .map_err(ProcessError::Map)?;
    syscall::init();
    let timer = lapic::init().map_err(ProcessError::Timer)?;
    let mut tasks = BTreeMap::new();
    tasks.insert(
        KERNEL_PID,
        Box::new(Task {
            name: "kernel".to_string(),
            saved_rsp: 0,
            user: None,
            blocked: false,
            wake_pending: false,
        }),
    );
    *slot = Some(Scheduler {
        tasks,
        queue: RunQueue::new(),
        current: KERNEL_PID,
        next_pid: 1,
        records: BTreeMap::new(),
        dead_stacks: Vec::new(),
    });
    log::info!(
        "process core ready: local APIC {} at {:#x}, timer {} Hz ({} counts per tick), syscall/sysret on, {} kernel page tables added for sharing",
        if timer.x2apic { "(x2APIC)" } else { "(xAPIC)" },
        timer.phys_base,
        lapic::TIMER_HZ,
        timer.counts_per_tick,
        tables
    );
    Ok(())
}

/// Loads `elf` as a new process called `name` with `grants`. It starts running at the next
/// scheduling point (in [`wait_until`]).
pub fn spawn(name: &str, elf: &[u8], grants: Grants) -> Result<Pid, SpawnError> {
    if SCHED.lock().is_none() {
        return Err(SpawnError::NotInitialised);
    }
    let exe = elf::parse(elf, &Policy::COMPONENT).map_err(SpawnError::Elf)?;
    let mut space = memory::with_frames(AddressSpace::new)
        .ok_or(SpawnError::NotInitialised)?
        .map_err(SpawnError::Map)?;
    let loaded = load(&mut space, &exe, elf)
        .and_then(|()| KernelStack::new().map_err(SpawnError::KernelStack));
    let kstack = match loaded {
        Ok(k) => k,
        Err(e) => {
            memory::with_frames(|f| space.destroy(f));
            return Err(e);
        }
    };
    // SAFETY: (1) `kstack` was just made: mapped, writable, 32 KiB, 16-byte aligned top, and
    // nothing else uses it.
    let saved_rsp = unsafe { context::prepare_user_entry(kstack.top(), exe.entry, USER_STACK_TOP) };
    let mut guard = SCHED.lock();
    let Some(s) = guard.as_mut() else {
        return Err(SpawnError::NotInitialised);
    };
    let pid = s.next_pid;
    s.next_pid += 1;
    s.tasks.insert(
        pid,
        Box::new(Task {
            name: name.to_string(),
            saved_rsp,
            user: Some(UserTask {
                space,
                kstack,
                grants,
            }),
            blocked: false,
            wake_pending: false,
        }),
    );
    s.records.insert(
        pid,
        Record {
            status: Status {
                started_us: time::uptime_us(),
                ready_us: None,
                exit: None,
            },
        },
    );
    s.queue.push(pid);
    log::debug!(
        "process {name} (pid {pid}) loaded: entry {:#x}, {} segment(s)",
        exe.entry,
        exe.segments.len()
    );
    Ok(pid)
}

/// Maps the segments of `exe` (bytes from `file`) and the stack into `space`.
fn load(space: &mut AddressSpace, exe: &elf::Executable, file: &[u8]) -> Result<(), SpawnError> {
    for seg in &exe.segments {
        let flags = PageFlags {
            writable: seg.flags.write,
            executable: seg.flags.exec,
            user: true,
        };
        let first = seg.vaddr & !(FRAME_SIZE - 1);
        let file_end = seg.vaddr + seg.file_size;
        let mut page = first;
        while page < seg.end() {
            map_fresh(space, page, flags, |frame| {
                // The part of [page, page + 4K) that comes from the file.
                let from = page.max(seg.vaddr);
                let to = (page + FRAME_SIZE).min(file_end);
                if from < to {
                    // parse checked that the segment's file range lies inside the file.
                    let src = (seg.file_offset + (from - seg.vaddr)) as usize;
                    let len = (to - from) as usize;
                    let dst = (from - page) as usize;
                    if let (Some(d), Some(s)) =
                        (frame.get_mut(dst..dst + len), file.get(src..src + len))
                    {
                        d.copy_from_slice(s);
                    }
                }
            })?;
            page += FRAME_SIZE;
        }
    }
    let stack = PageFlags {
        writable: true,
        executable: false,
        user: true,
    };
    let mut page = USER_STACK_BOTTOM;
    while page < USER_STACK_BOTTOM + USER_STACK_SIZE {
        map_fresh(space, page, stack, |_| {})?;
        page += FRAME_SIZE;
    }
    Ok(())
}

/// Maps a zeroed frame at `virt`, filled by `fill` first.
fn map_fresh(
    space: &mut AddressSpace,
    virt: u64,
    flags: PageFlags,
    fill: impl FnOnce(&mut [u8]),
) -> Result<(), SpawnError> {
    memory::with_frames(|frames| {
        space
            .map_new_page(virt, flags, fill, frames)
            .map_err(|e| match e {
                MapError::OutOfFrames => SpawnError::OutOfMemory,
                e => SpawnError::Map(e),
            })
    })
    .unwrap_or(Err(SpawnError::NotInitialised))
}

/// A snapshot of process `pid`, if it was ever spawned.
pub fn status(pid: Pid) -> Option<Status> {
    let guard = SCHED.lock();
    guard.as_ref()?.records.get(&pid).map(|r| r.status)
}

/// Live processes (not counting the kernel task).
pub fn process_count() -> usize {
    SCHED
        .lock()
        .as_ref()
        .map_or(0, |s| s.tasks.len().saturating_sub(1))
}

/// Ends process `pid` (if it is still running) with [`Exit::Killed`]: its memory is freed at
/// once. Killing the kernel task, or the task that calls this, does nothing.
pub fn kill(pid: Pid, reason: &'static str) {
    let task = {
        let mut guard = SCHED.lock();
        let Some(s) = guard.as_mut() else { return };
        if pid == KERNEL_PID || pid == s.current {
            return;
        }
        let Some(task) = s.tasks.remove(&pid) else {
            return;
        };
        s.queue.remove(pid);
        if let Some(r) = s.records.get_mut(&pid) {
            r.status.exit.get_or_insert(Exit::Killed(reason));
        }
        task
    };
    log::warn!("process {} (pid {pid}) killed: {reason}", task.name);
    super::ipc_calls::process_ended(pid);
    if let Some(user) = task.user {
        // Not running (it is not current), so neither its address space nor its kernel
        // stack is in use.
        memory::with_frames(|f| user.space.destroy(f));
        // SAFETY: the task is not running and never will: nothing uses its stack.
        unsafe { user.kstack.free() };
    }
}

/// Lets the other tasks run until `done()` is true or the uptime reaches `deadline_us`;
/// returns `done()`. `done` runs with interrupts off. Before [`init`] it only polls.
pub fn wait_until(deadline_us: u64, done: &mut dyn FnMut() -> bool) -> bool {
    let started = SCHED.lock().is_some();
    loop {
        if started {
            super::ipc_calls::expire_calls();
        }
        if done() {
            return true;
        }
        if time::uptime_us() >= deadline_us {
            return done();
        }
        if !started {
            core::hint::spin_loop();
            continue;
        }
        if !yield_now() {
            // Nothing else to run: sleep until the next tick (at most 1 / TIMER_HZ).
            x86_64::instructions::interrupts::enable_and_hlt();
            x86_64::instructions::interrupts::disable();
        }
    }
}

/// Gives the CPU to the next ready task, if any; returns whether it did (once this task
/// runs again).
pub(super) fn yield_now() -> bool {
    let (save, load) = {
        let mut guard = SCHED.lock();
        let Some(s) = guard.as_mut() else {
            return false;
        };
        let current = s.current;
        let Some(next) = s.queue.rotate(current) else {
            return false;
        };
        let Some(load) = enter(s, next) else {
            return false;
        };
        let Some(task) = s.tasks.get_mut(&current) else {
            return false;
        };
        (&raw mut task.saved_rsp, load)
    };
    // SAFETY: (1) interrupts are off (kernel code, invariant 1) and the lock is released;
    // (2) `save` points into the current task's box, which stays alive while the task lives
    // (only `exit_current`, which runs on this task, or `kill` of a non-current task remove
    // it); (3) `load` is the saved stack pointer of the ready task `next`; (4) `enter` made
    // its address space and stacks current.
    unsafe { context::switch(save, load) };
    reap();
    true
}

/// The timer preempted a program (ring 3): round-robin to the next ready task.
pub fn preempt() {
    super::ipc_calls::expire_calls();
    yield_now();
}

/// Blocks the running (ring-3) task until [`wake`]: it leaves the CPU and is not runnable
/// meanwhile. Returns at once if a wake came first. Callers re-check what they wait for
/// after it returns (a wake may be early or spurious).
pub(super) fn block_current() {
    let (save, load) = {
        let mut guard = SCHED.lock();
        let Some(s) = guard.as_mut() else { return };
        let current = s.current;
        let Some(task) = s.tasks.get_mut(&current) else {
            return;
        };
        if task.user.is_none() {
            // The kernel task never blocks (invariant 3).
            return;
        }
        if core::mem::take(&mut task.wake_pending) {
            return;
        }
        task.blocked = true;
        // Invariant 3: task 0 is queued while a program runs, so there is a next task.
        let Some(next) = s.queue.pop() else {
            if let Some(task) = s.tasks.get_mut(&current) {
                task.blocked = false;
            }
            return;
        };
        let Some(load) = enter(s, next) else {
            // `next` vanished (cannot happen: queued tasks exist); stay runnable.
            if let Some(task) = s.tasks.get_mut(&current) {
                task.blocked = false;
            }
            return;
        };
        let Some(task) = s.tasks.get_mut(&current) else {
            return;
        };
        (&raw mut task.saved_rsp, load)
    };
    // SAFETY: as in `yield_now`: (1) interrupts are off and the lock is released; (2) `save`
    // points into the blocking task's box, alive while the task lives; (3) `load` is the
    // saved stack pointer of `next`, which `enter` (4) made current with its address space
    // and stacks. The blocked task is in no queue: only `wake` puts it back.
    unsafe { context::switch(save, load) };
    reap();
}

/// Makes a task blocked by [`block_current`] runnable again (queued at the back). A task that
/// is not blocked remembers the wake for its next block. Unknown pids are ignored.
pub(super) fn wake(pid: Pid) {
    let mut guard = SCHED.lock();
    let Some(s) = guard.as_mut() else { return };
    let Some(task) = s.tasks.get_mut(&pid) else {
        return;
    };
    if task.blocked {
        task.blocked = false;
        s.queue.push(pid);
    } else if task.user.is_some() {
        task.wake_pending = true;
    }
}

/// Makes `next` the current task: CPU state for it (CR3, TSS.RSP0, syscall stack) and its
/// saved stack pointer, to switch to. `None` (nothing changes) if it does not exist.
fn enter(s: &mut Scheduler, next: Pid) -> Option<u64> {
    let task = s.tasks.get(&next)?;
    let root = match &task.user {
        Some(user) => {
            gdt::set_kernel_stack(user.kstack.top());
            syscall::set_kernel_stack(user.kstack.top());
            user.space.root()
        }
        None => paging::kernel_root()?,
    };
    // SAFETY: (1) `root` is the kernel's PML4 or a process PML4 whose upper half was copied
    // from it after `populate_upper_half`, so the kernel (this code, this stack) stays mapped.
    unsafe { context::load_root(root) };
    s.current = next;
    Some(task.saved_rsp)
}

/// Ends the running (ring-3) task with `exit` and switches to the next one. Its memory is
/// freed at once, its kernel stack by the next task.
pub(super) fn exit_current(exit: Exit) -> ! {
    let mut dummy = 0u64;
    // Its callers and its pending calls first (this wakes callers: they are queued before the
    // next task is picked below).
    // (The pid is read in its own statement: the scheduler lock must be released before
    // `process_ended` wakes callers.)
    let current = SCHED.lock().as_ref().map(|s| s.current);
    if let Some(pid) = current {
        super::ipc_calls::process_ended(pid);
    }
    let load = {
        let mut guard = SCHED.lock();
        let s = guard
            .as_mut()
            .expect("a task is running, so the scheduler exists");
        let pid = s.current;
        let task = s
            .tasks
            .remove(&pid)
            .expect("the running task is in the task table");
        if let Some(r) = s.records.get_mut(&pid) {
            r.status.exit.get_or_insert(exit);
        }
        log::debug!("process {} (pid {pid}) ended: {exit}", task.name);
        let Some(user) = task.user else {
            panic!("the kernel task tried to exit ({exit})");
        };
        // Leave the address space before freeing it; the kernel half stays the same.
        if let Some(root) = paging::kernel_root() {
            // SAFETY: (1) the kernel's own PML4 maps the kernel exactly as every process PML4.
            unsafe { context::load_root(root) };
        }
        memory::with_frames(|f| user.space.destroy(f));
        s.dead_stacks.push(user.kstack);
        // Invariant 3: task 0 is queued (it is not the current task), so `next` exists.
        let next = s
            .queue
            .pop()
            .expect("the kernel task is always ready when a program runs");
        enter(s, next).expect("queued tasks exist")
    };
    // SAFETY: (1) interrupts are off and the lock is released; (2) `dummy` lives on this
    // stack, which is freed only after the switch (by the next task, in `reap`); (3) `load`
    // is the saved stack pointer of the task `enter` made current; (4) `enter` loaded its
    // address space and stacks.
    unsafe { context::switch(&raw mut dummy, load) };
    unreachable!("an ended task was resumed");
}

/// Frees the kernel stacks of ended tasks; runs on another task's stack after every switch.
fn reap() {
    let stacks = match SCHED.lock().as_mut() {
        Some(s) if !s.dead_stacks.is_empty() => core::mem::take(&mut s.dead_stacks),
        _ => return,
    };
    for stack in stacks {
        // SAFETY: the task that ran on it has ended and switched away for good (it was put
        // here by `exit_current` just before its final switch), and this code runs on
        // another stack.
        unsafe { stack.free() };
    }
}

/// Called on a new task's kernel stack, between its first switch and its entry into ring 3.
pub extern "C" fn task_started() {
    reap();
}

/// The running task's name, pid and grants (for syscalls and fault reports).
pub(super) fn with_current<R>(f: impl FnOnce(Pid, &str, &Grants, &AddressSpace) -> R) -> Option<R> {
    let guard = SCHED.lock();
    let s = guard.as_ref()?;
    let task = s.tasks.get(&s.current)?;
    let user = task.user.as_ref()?;
    Some(f(s.current, &task.name, &user.grants, &user.space))
}

/// Records READY for the running task (the first time only).
pub(super) fn mark_ready() {
    let mut guard = SCHED.lock();
    if let Some(s) = guard.as_mut() {
        let pid = s.current;
        if let Some(r) = s.records.get_mut(&pid) {
            r.status.ready_us.get_or_insert_with(time::uptime_us);
        }
    }
}

/// A CPU exception in ring 3: log one line, end the program, run the next task.
pub fn on_user_fault(frame: &ExceptionFrame, cr2: Option<u64>) -> ! {
    let fault = fault_name(frame.vector, cr2);
    let exit = Exit::Fault {
        fault,
        rip: frame.rip,
        addr: cr2,
    };
    let who = with_current(|pid, name, _, _| (pid, name.to_string()));
    match who {
        Some((pid, name)) => log::error!("process {name} (pid {pid}) killed: {exit}"),
        None => log::error!("a ring-3 fault with no process running: {exit}"),
    }
    exit_current(exit)
}
