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
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bootproto::elf::{self, Policy};
use spin::Mutex;

use super::budget::{Budget, GrowError, Growth};
use super::queue::RunQueue;
use super::{
    Exit, FaultKind, KillReason, Pid, SpawnError, Status, GROWTH_END, USER_STACK_BOTTOM,
    USER_STACK_SIZE, USER_STACK_TOP,
};
use crate::arch::fpu::FpuState;
use crate::arch::{context, cpu, gdt, lapic, syscall};
use crate::caps::Grants;
use crate::fault_report::ExceptionFrame;
use crate::memory::frames::FRAME_SIZE;
use crate::memory::kstack::{self, KernelStack, StackError};
use crate::memory::paging::{self, MapError, PageFlags};
use crate::memory::user::AddressSpace;
use crate::{memory, time};
use loader::manifest::MemoryLimit;

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
    /// The kernel-stack area's page tables could not be made.
    KernelStacks(StackError),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyInitialised => write!(f, "the process core is already initialised"),
            Self::NoMemory => write!(f, "memory management is not initialised"),
            Self::Map(e) => write!(f, "preparing the kernel's page tables: {e}"),
            Self::Timer(e) => write!(f, "{e}"),
            Self::KernelStacks(e) => write!(f, "preparing the kernel-stack area: {e}"),
        }
    }
}

/// What a ring-3 task has besides its kernel stack pointer.
struct UserTask {
    space: AddressSpace,
    kstack: KernelStack,
    /// Its x87/SSE/AVX registers while another program's are loaded (see [`switch_fpu`]).
    fpu: FpuState,
    grants: Grants,
    /// Its `memory_limit` and the pages it uses.
    budget: Budget,
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
    /// The program whose x87/SSE/AVX state is in the registers (pids are never reused; a
    /// pid no longer in `tasks` ended, and its state is simply dropped).
    fpu_owner: Option<Pid>,
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
    crate::arch::hooks::install(crate::arch::hooks::Hooks {
        timer: preempt,
        user_fault: on_user_fault,
        syscall: super::syscalls::on_syscall,
        task_started,
    })
    .map_err(|_| ProcessError::AlreadyInitialised)?;
    let tables = memory::with_frames(paging::populate_upper_half)
        .ok_or(ProcessError::NoMemory)?
        .map_err(ProcessError::Map)?;
    kstack::prepare_tables().map_err(ProcessError::KernelStacks)?;
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
        fpu_owner: None,
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
pub fn spawn(
    name: &str,
    elf: &[u8],
    grants: Grants,
    limit: MemoryLimit,
) -> Result<Pid, SpawnError> {
    if SCHED.lock().is_none() {
        return Err(SpawnError::NotInitialised);
    }
    let exe = elf::parse(elf, &Policy::COMPONENT).map_err(SpawnError::Elf)?;
    let budget = Budget::for_executable(
        exe.segments.iter().map(|s| (s.vaddr, s.end())),
        USER_STACK_SIZE,
        limit.bytes(),
        GROWTH_END,
    )
    .map_err(SpawnError::OverMemoryLimit)?;
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
    // SAFETY: (1) `kstack` was just made: mapped, writable, 128 KiB, 16-byte aligned top, and
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
                fpu: FpuState::new(),
                grants,
                budget,
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

/// MEMORY_GROW for the running task: maps `bytes` of zeroed, writable pages after its last
/// growth and returns their address. A growth past its `memory_limit` ends the task.
///
/// # Errors
/// [`abi::Error::BadLength`] for a bad size; [`abi::Error::NoMemory`] when the machine (or the
/// growth area) has no room: nothing is mapped then.
pub(super) fn grow_current(bytes: u64) -> Result<u64, abi::Error> {
    let over_limit = {
        let mut guard = SCHED.lock();
        let s = guard.as_mut().ok_or(abi::Error::Unsupported)?;
        let pid = s.current;
        let task = s.tasks.get_mut(&pid).ok_or(abi::Error::Unsupported)?;
        let user = task.user.as_mut().ok_or(abi::Error::Unsupported)?;
        match user.budget.plan(bytes) {
            Ok(growth) => return grow(user, growth),
            Err(GrowError::BadLength) => return Err(abi::Error::BadLength),
            Err(GrowError::NoAddressSpace) => return Err(abi::Error::NoMemory),
            Err(GrowError::OverLimit { used, asked, limit }) => {
                (task.name.clone(), pid, used, asked, limit)
            }
        }
    };
    // The scheduler lock is released before the task ends.
    let (name, pid, used, asked, limit) = over_limit;
    log::warn!(
        "process {name} (pid {pid}) stopped: MEMORY_GROW of {} KiB would take it past its memory_limit of {} KiB ({} KiB in use)",
        asked * 4,
        limit * 4,
        used * 4
    );
    exit_current(Exit::Killed(KillReason::MemoryLimitReached))
}

/// Maps a planned growth into `user`'s address space and records it in its budget, all or
/// nothing as far as the frame supply goes: that is checked first, under the frame lock,
/// against the pages and the page tables they may need.
fn grow(user: &mut UserTask, growth: Growth) -> Result<u64, abi::Error> {
    let flags = PageFlags {
        writable: true,
        executable: false,
        user: true,
    };
    let mapped = memory::with_frames(|frames| {
        // Each 512 pages may need a page table, plus up to three levels above the first one.
        let reserve = growth.pages + growth.pages.div_ceil(512) + 3;
        if frames.free_frames() < reserve {
            return Err(abi::Error::NoMemory);
        }
        for i in 0..growth.pages {
            let virt = growth.start + i * FRAME_SIZE;
            if let Err(e) = user.space.map_new_page(virt, flags, |_| {}, frames) {
                log::error!("MEMORY_GROW: mapping page {virt:#x} failed after the check: {e}");
                return Ok(i);
            }
        }
        Ok(growth.pages)
    })
    .unwrap_or(Err(abi::Error::Unsupported))?;
    user.budget.commit(growth, mapped);
    if mapped < growth.pages {
        return Err(abi::Error::NoMemory);
    }
    Ok(growth.start)
}

/// Maps `pages` pages of memory the running task does not own (the framebuffer) from `phys`
/// on at `virt`, writable and not executable, outside its `memory_limit`; all or nothing as
/// far as the frame supply for page tables goes.
///
/// # Errors
/// [`abi::Error::NoMemory`] when the page tables cannot be had; [`abi::Error::Unsupported`]
/// for any other mapping failure (logged).
pub(super) fn map_borrowed_current(virt: u64, phys: u64, pages: u64) -> Result<(), abi::Error> {
    let flags = PageFlags {
        writable: true,
        executable: false,
        user: true,
    };
    let mut guard = SCHED.lock();
    let s = guard.as_mut().ok_or(abi::Error::Unsupported)?;
    let pid = s.current;
    let task = s.tasks.get_mut(&pid).ok_or(abi::Error::Unsupported)?;
    let user = task.user.as_mut().ok_or(abi::Error::Unsupported)?;
    memory::with_frames(|frames| {
        if frames.free_frames() < pages.div_ceil(512) + 3 {
            return Err(abi::Error::NoMemory);
        }
        for i in 0..pages {
            let (v, p) = (virt + i * FRAME_SIZE, phys + i * FRAME_SIZE);
            if let Err(e) = user.space.map_borrowed(v, p, flags, frames) {
                log::error!("mapping lent page {v:#x} -> {p:#x} failed: {e}");
                return Err(abi::Error::Unsupported);
            }
        }
        Ok(())
    })
    .unwrap_or(Err(abi::Error::Unsupported))
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
pub fn kill(pid: Pid, reason: KillReason) {
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
    super::net_calls::process_ended(pid);
    crate::screen::process_ended(pid);
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
            super::net_calls::wake_due();
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
    let started = cpu::rdtsc();
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
    SWITCH_STARTED.store(started, Ordering::Relaxed);
    // SAFETY: (1) interrupts are off (kernel code, invariant 1) and the lock is released;
    // (2) `save` points into the current task's box, which stays alive while the task lives
    // (only `exit_current`, which runs on this task, or `kill` of a non-current task remove
    // it); (3) `load` is the saved stack pointer of the ready task `next`; (4) `enter` made
    // its address space and stacks current.
    unsafe { context::switch(save, load) };
    switch_done();
    reap();
    true
}

/// The timer preempted a program (ring 3): round-robin to the next ready task.
pub fn preempt() {
    super::ipc_calls::expire_calls();
    super::net_calls::wake_due();
    yield_now();
}

/// Blocks the running (ring-3) task until [`wake`]: it leaves the CPU and is not runnable
/// meanwhile. Returns at once if a wake came first. Callers re-check what they wait for
/// after it returns (a wake may be early or spurious).
pub(super) fn block_current() {
    let started = cpu::rdtsc();
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
    SWITCH_STARTED.store(started, Ordering::Relaxed);
    // SAFETY: as in `yield_now`: (1) interrupts are off and the lock is released; (2) `save`
    // points into the blocking task's box, alive while the task lives; (3) `load` is the
    // saved stack pointer of `next`, which `enter` (4) made current with its address space
    // and stacks. The blocked task is in no queue: only `wake` puts it back.
    unsafe { context::switch(save, load) };
    switch_done();
    reap();
}

/// Makes a task blocked by [`block_current`] runnable again (queued at the back). A task that
/// is not blocked remembers the wake for its next block. Unknown pids are ignored.
pub(super) fn wake(pid: Pid) {
    wake_at(pid, false);
}

/// [`wake`], putting `pid` first in the run queue: the other side of an IPC call or reply,
/// which the current task is about to wait for (a direct hand-off; preemption still shares
/// the CPU with everyone else).
pub(super) fn wake_next(pid: Pid) {
    wake_at(pid, true);
}

fn wake_at(pid: Pid, first: bool) {
    let mut guard = SCHED.lock();
    let Some(s) = guard.as_mut() else { return };
    let Some(task) = s.tasks.get_mut(&pid) else {
        return;
    };
    if task.blocked {
        task.blocked = false;
        if first {
            s.queue.push_front(pid);
        } else {
            s.queue.push(pid);
        }
    } else if task.user.is_some() {
        task.wake_pending = true;
    }
}

/// Makes `next` the current task: CPU state for it (CR3, TSS.RSP0, syscall stack) and its
/// saved stack pointer, to switch to. `None` (nothing changes) if it does not exist.
fn enter(s: &mut Scheduler, next: Pid) -> Option<u64> {
    let from_program = s.tasks.get(&s.current).is_some_and(|t| t.user.is_some());
    switch_fpu(s, next);
    let task = s.tasks.get(&next)?;
    SWITCH_BETWEEN_PROGRAMS.store(from_program && task.user.is_some(), Ordering::Relaxed);
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

/// Gives the registers' x87/SSE/AVX state to `next`, if it is a program whose state they do
/// not hold: the owner's state is saved into its [`FpuState`] (unless it ended) and `next`'s
/// loaded, so a program never sees another's registers and finds its own as it left them.
/// The kernel task leaves them alone: kernel code never uses them, so after program → kernel
/// → the same program nothing needs saving or loading.
fn switch_fpu(s: &mut Scheduler, next: Pid) {
    if s.fpu_owner == Some(next) || s.tasks.get(&next).is_none_or(|t| t.user.is_none()) {
        return;
    }
    let started = cpu::rdtsc();
    let owner = s.fpu_owner.and_then(|pid| s.tasks.get_mut(&pid));
    if let Some(user) = owner.and_then(|t| t.user.as_mut()) {
        user.fpu.save();
    }
    if let Some(user) = s.tasks.get(&next).and_then(|t| t.user.as_ref()) {
        user.fpu.restore();
        s.fpu_owner = Some(next);
    }
    count(2, cpu::rdtsc().wrapping_sub(started));
}

/// The time-stamp counter when the switch now under way began (0: none, or it was counted).
static SWITCH_STARTED: AtomicU64 = AtomicU64::new(0);
/// Whether the switch under way goes from one program to another.
static SWITCH_BETWEEN_PROGRAMS: AtomicBool = AtomicBool::new(false);
/// How many times something took how many TSC cycles.
struct Counter {
    n: AtomicU64,
    cycles: AtomicU64,
    fewest: AtomicU64,
}

impl Counter {
    const fn new() -> Self {
        Counter {
            n: AtomicU64::new(0),
            cycles: AtomicU64::new(0),
            fewest: AtomicU64::new(u64::MAX),
        }
    }

    /// (count, cycles in all, fewest cycles or 0).
    fn read(&self) -> (u64, u64, u64) {
        let n = self.n.load(Ordering::Relaxed);
        let fewest = self.fewest.load(Ordering::Relaxed);
        (
            n,
            self.cycles.load(Ordering::Relaxed),
            if n == 0 { 0 } else { fewest },
        )
    }
}

/// All switches, program-to-program switches, FPU state changes ([`switch_fpu`] saving and
/// loading).
static SWITCH_COUNTS: [Counter; 3] = [Counter::new(), Counter::new(), Counter::new()];

/// Counts one event of kind `k` (an index of [`SWITCH_COUNTS`]) that took `cycles`.
fn count(k: usize, cycles: u64) {
    let c = &SWITCH_COUNTS[k];
    c.n.fetch_add(1, Ordering::Relaxed);
    c.cycles.fetch_add(cycles, Ordering::Relaxed);
    c.fewest.fetch_min(cycles, Ordering::Relaxed);
}

/// Counts the switch that just resumed this task: TSC cycles from the scheduling call in the
/// task that left (`yield_now`, `block_current`) to here, FPU state and CR3 included.
fn switch_done() {
    let started = SWITCH_STARTED.swap(0, Ordering::Relaxed);
    if started == 0 {
        return;
    }
    let cycles = cpu::rdtsc().wrapping_sub(started);
    let kinds: &[usize] = if SWITCH_BETWEEN_PROGRAMS.load(Ordering::Relaxed) {
        &[0, 1]
    } else {
        &[0]
    };
    for &k in kinds {
        count(k, cycles);
    }
}

/// What the scheduler measured of its task switches since boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchStats {
    /// Switches counted, their TSC cycles, and the cycles of the fastest.
    pub all: (u64, u64, u64),
    /// The part of `all` that went from one program to another (FPU state saved and loaded).
    pub between_programs: (u64, u64, u64),
    /// The FPU state changes (save and load) within those switches, and their cycles.
    pub fpu_changes: (u64, u64, u64),
    /// How FPU state is saved, and the size of one save area.
    pub fpu: (&'static str, usize),
}

/// The switch costs measured so far.
pub fn switch_stats() -> SwitchStats {
    let read = |k: usize| SWITCH_COUNTS[k].read();
    let plan = crate::arch::fpu::plan();
    SwitchStats {
        all: read(0),
        between_programs: read(1),
        fpu_changes: read(2),
        fpu: (plan.mechanism.name(), plan.size),
    }
}

impl fmt::Display for SwitchStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let avg = |(n, c, _): (u64, u64, u64)| c.checked_div(n).unwrap_or(0);
        write!(
            f,
            "scheduler: {} task switches, TSC cycles each: {} on average, {} at least; {} of them between programs: {} on average, {} at least; FPU state ({}, {} bytes per process) saved and loaded {} times: {} on average, {} at least",
            self.all.0,
            avg(self.all),
            self.all.2,
            self.between_programs.0,
            avg(self.between_programs),
            self.between_programs.2,
            self.fpu.0,
            self.fpu.1,
            self.fpu_changes.0,
            avg(self.fpu_changes),
            self.fpu_changes.2
        )
    }
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
        super::net_calls::process_ended(pid);
        crate::screen::process_ended(pid);
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
    switch_done();
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
    let fault = FaultKind::of(frame.vector, cr2);
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
