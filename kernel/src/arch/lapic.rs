//! The local APIC of the boot CPU: its timer, calibrated against the TSC and run periodically,
//! drives preemption. Registers are reached uncached through the MMIO window (xAPIC mode) or
//! through MSRs (x2APIC mode, if the firmware switched to it). The legacy PICs stay masked.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;
use x86_64::registers::model_specific::Msr;

use crate::memory::mmio;
use crate::time;

/// The timer's interrupt vector (the first one above the CPU exceptions).
pub const TIMER_VECTOR: u8 = 0x20;
/// The spurious-interrupt vector (low 4 bits all ones, as older APICs require).
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Timer interrupts per second.
pub const TIMER_HZ: u64 = 100;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const APIC_BASE_ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// Register offsets (xAPIC MMIO; the x2APIC MSR is 0x800 + offset / 16).
const REG_TPR: u32 = 0x80;
const REG_EOI: u32 = 0xb0;
const REG_SVR: u32 = 0xf0;
const REG_LVT_TIMER: u32 = 0x320;
const REG_TIMER_INITIAL: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3e0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
/// Divide configuration 0b0011: the timer counts at the bus clock / 16.
const DIVIDE_BY_16: u32 = 0b0011;
/// How long calibration counts.
const CALIBRATION_US: u64 = 10_000;

#[derive(Clone, Copy)]
enum Access {
    /// xAPIC: registers at this (uncached) virtual address.
    Mmio(u64),
    /// x2APIC: registers are MSRs.
    Msr,
}

static ACCESS: Once<Access> = Once::new();
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Why the local APIC timer could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LapicError {
    /// Mapping the register page failed.
    Map(mmio::MmioError),
    /// The timer did not count during calibration.
    TimerStopped,
}

impl fmt::Display for LapicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Map(e) => write!(f, "local APIC registers: {e}"),
            Self::TimerStopped => write!(f, "the local APIC timer does not count"),
        }
    }
}

/// What [`init`] found and set up, for the boot log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerInfo {
    pub phys_base: u64,
    pub x2apic: bool,
    /// Timer counts per period (at the divided clock).
    pub counts_per_tick: u32,
}

fn read(reg: u32) -> u32 {
    match ACCESS.get() {
        Some(Access::Mmio(base)) => {
            // SAFETY: `base` maps the 4 KiB register page uncached (set up by `init`), and
            // `reg` is one of the 16-byte aligned register offsets above; a 32-bit volatile
            // read is how the registers are read.
            unsafe { core::ptr::read_volatile((base + u64::from(reg)) as *const u32) }
        }
        // SAFETY: in x2APIC mode the registers are the MSRs 0x800 + reg / 16; reading the
        // ones used here has no side effects.
        Some(Access::Msr) => unsafe { Msr::new(0x800 + reg / 16).read() as u32 },
        None => 0,
    }
}

fn write(reg: u32, value: u32) {
    match ACCESS.get() {
        Some(Access::Mmio(base)) => {
            // SAFETY: as in `read`; the writes in this module only program the timer, the
            // spurious vector, the task priority and EOI.
            unsafe { core::ptr::write_volatile((base + u64::from(reg)) as *mut u32, value) }
        }
        Some(Access::Msr) => {
            let mut msr = Msr::new(0x800 + reg / 16);
            // SAFETY: as above, through the x2APIC MSR of the same register.
            unsafe { msr.write(u64::from(value)) }
        }
        None => {}
    }
}

/// Enables the local APIC (spurious vector [`SPURIOUS_VECTOR`]), calibrates its timer against
/// the TSC and starts it periodic at [`TIMER_HZ`] on [`TIMER_VECTOR`]. Interrupts must be
/// disabled; ticks arrive once they are enabled. The IDT must have gates for both vectors.
pub fn init() -> Result<TimerInfo, LapicError> {
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no side effects.
    let mut base = unsafe { base_msr.read() };
    if base & APIC_BASE_ENABLE == 0 {
        base |= APIC_BASE_ENABLE;
        // SAFETY: setting the global enable bit turns the APIC on at its current base; its
        // interrupts stay off until SVR enables them below and IF is set.
        unsafe { base_msr.write(base) };
    }
    let phys_base = base & APIC_BASE_ADDRESS;
    let x2apic = base & APIC_BASE_X2APIC != 0;
    let access = if x2apic {
        Access::Msr
    } else {
        Access::Mmio(mmio::map(phys_base, 0x1000).map_err(LapicError::Map)?)
    };
    ACCESS.call_once(|| access);

    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE | u32::from(SPURIOUS_VECTOR));

    // Calibrate: count down from the maximum for CALIBRATION_US, masked (no interrupt).
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INITIAL, u32::MAX);
    let start = time::uptime_us();
    while time::uptime_us() - start < CALIBRATION_US {
        core::hint::spin_loop();
    }
    let counted = u32::MAX - read(REG_TIMER_CURRENT);
    write(REG_TIMER_INITIAL, 0);
    let per_tick = u64::from(counted) * 1_000_000 / (CALIBRATION_US * TIMER_HZ);
    let counts_per_tick = u32::try_from(per_tick).unwrap_or(u32::MAX);
    if counts_per_tick == 0 {
        return Err(LapicError::TimerStopped);
    }
    write(REG_LVT_TIMER, LVT_PERIODIC | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INITIAL, counts_per_tick);
    Ok(TimerInfo {
        phys_base,
        x2apic,
        counts_per_tick,
    })
}

/// The local APIC id of the CPU running this (CPUID: the x2APIC id from leaf 0xB when the CPU
/// has that leaf, else the 8-bit initial APIC id from leaf 1). Works before [`init`].
pub fn this_cpu_id() -> u32 {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    let max_leaf = __cpuid(0).eax;
    if max_leaf >= 0xb {
        let topology = __cpuid_count(0xb, 0);
        if topology.ebx != 0 {
            return topology.edx;
        }
    }
    __cpuid(1).ebx >> 24
}

/// Signals the end of the interrupt being handled.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// Timer interrupts so far.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// What the interrupt stubs below leave on the stack, lowest address first: the
/// general-purpose registers (as in `ExceptionFrame`), then what the CPU pushed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct InterruptFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<InterruptFrame>() == 20 * 8);

// The timer stub saves every general-purpose register (the interrupted code may be anything),
// calls `timer_interrupt` and restores them. The CPU aligned rsp to 16 before its 5-quadword
// frame; 15 more quadwords make 20, so rsp is aligned at the call. AC is cleared (a program
// may have set it; with it set ring 0 would be exempt from SMAP) and `iretq` restores it. The
// spurious vector needs no EOI and no work.
core::arch::global_asm!(
    ".pushsection .text.pandagen_interrupts, \"ax\"",
    ".global pandagen_timer_entry",
    "pandagen_timer_entry:",
    crate::push_all_gprs!(),
    crate::clear_ac!(),
    "    mov rdi, rsp",
    "    cld",
    "    call {handler}",
    crate::pop_all_gprs!(),
    "    iretq",
    "",
    ".global pandagen_spurious_entry",
    "pandagen_spurious_entry:",
    "    iretq",
    ".popsection",
    handler = sym timer_interrupt,
);

unsafe extern "C" {
    fn pandagen_timer_entry();
    fn pandagen_spurious_entry();
}

/// The entry stubs for the IDT: (vector, address).
pub fn gates() -> [(u8, u64); 2] {
    [
        (TIMER_VECTOR, pandagen_timer_entry as *const () as u64),
        (SPURIOUS_VECTOR, pandagen_spurious_entry as *const () as u64),
    ]
}

/// A timer tick: acknowledge it, then let the registered handler (the scheduler, see
/// [`super::hooks`]) preempt a program (ring 3). A tick in ring 0 (the kernel idling in
/// `hlt`) only wakes it up.
extern "C" fn timer_interrupt(frame: &InterruptFrame) {
    TICKS.fetch_add(1, Ordering::Relaxed);
    eoi();
    if frame.cs & 3 == 3 {
        super::hooks::timer_in_user_mode();
    }
}
