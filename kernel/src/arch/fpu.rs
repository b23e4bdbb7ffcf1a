//! x87/SSE/AVX register state: enabling it for ring 3, and one save area per process.
//!
//! [`init`] sets CR0.MP and CR0.NE and clears CR0.EM and CR0.TS (x87 instructions run, errors
//! are reported as #MF), sets CR4.OSFXSR and CR4.OSXMMEXCPT (SSE instructions run, SIMD
//! errors are #XM), and, when the CPU has XSAVE, CR4.OSXSAVE with XCR0 = x87 | SSE (| AVX when
//! CPUID reports it). What it chose (see [`layout::plan`]) fixes the size of every
//! [`FpuState`].
//!
//! The kernel itself never touches these registers: it is built for `x86_64-unknown-none`,
//! whose soft-float ABI keeps the compiler away from x87/SSE, so the registers always hold the
//! state of the last program that ran. The process core saves it into that program's
//! [`FpuState`] and loads the next program's before that one returns to ring 3 (see
//! `process::sched`). CR0.TS stays clear: no lazy switching through #NM.

pub mod layout;

use alloc::boxed::Box;
use alloc::vec;

use spin::Once;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

pub use layout::{Mechanism, Plan};

static PLAN: Once<Plan> = Once::new();

/// What CPUID reports about XSAVE and AVX.
fn cpu_features() -> layout::CpuFeatures {
    use core::arch::x86_64::__cpuid_count;
    let max_leaf = __cpuid_count(0, 0).eax;
    let leaf1 = __cpuid_count(1, 0);
    let xsave = leaf1.ecx & (1 << 26) != 0;
    if !xsave || max_leaf < 0xd {
        return layout::CpuFeatures::default();
    }
    let d0 = __cpuid_count(0xd, 0);
    let d1 = __cpuid_count(0xd, 1);
    let d2 = __cpuid_count(0xd, 2);
    layout::CpuFeatures {
        xsave,
        avx: leaf1.ecx & (1 << 28) != 0,
        xsaveopt: d1.eax & 1 != 0,
        xcr0_supported: (u64::from(d0.edx) << 32) | u64::from(d0.eax),
        avx_area: (d2.ebx, d2.eax),
    }
}

/// Enables the FPU, SSE and (where present) XSAVE/AVX state for ring 3 and decides how it is
/// saved. Must run once, early, on the boot CPU, before any process is created.
pub fn init() -> Plan {
    *PLAN.call_once(|| {
        let mut plan = layout::plan(&cpu_features());
        // SAFETY: (1) MP/NE/!EM/!TS only change how x87/SSE instructions behave (run them,
        // report errors as #MF), and the kernel executes none outside this module; (2) CR4
        // OSFXSR/OSXMMEXCPT enable FXSAVE/SSE and #XM, which the CPU has (every x86_64 CPU
        // does); (3) OSXSAVE is set only when CPUID reports XSAVE.
        unsafe {
            Cr0::update(|f| {
                f.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR);
                f.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            });
            Cr4::update(|f| {
                f.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
                if plan.mechanism != Mechanism::Fxsave {
                    f.insert(Cr4Flags::OSXSAVE);
                }
            });
        }
        if plan.mechanism != Mechanism::Fxsave {
            // SAFETY: CR4.OSXSAVE is set (above), and `plan.xcr0` is x87 | SSE, with AVX only
            // when CPUID says XCR0 supports it: a valid XCR0 value, so `xsetbv` cannot fault.
            unsafe {
                core::arch::asm!(
                    "xsetbv",
                    in("ecx") 0u32,
                    in("eax") plan.xcr0 as u32,
                    in("edx") (plan.xcr0 >> 32) as u32,
                    options(nomem, nostack, preserves_flags),
                );
            }
            // With XCR0 set, CPUID.(0DH,0):EBX is the exact size for what is enabled.
            let enabled = core::arch::x86_64::__cpuid_count(0xd, 0).ebx as usize;
            plan.size = plan.size.max(enabled.next_multiple_of(plan.align));
        }
        plan
    })
}

/// The plan [`init`] chose ([`Plan::FXSAVE`] before it ran).
pub fn plan() -> Plan {
    PLAN.get().copied().unwrap_or(Plan::FXSAVE)
}

/// 64 bytes aligned to 64: the unit of a save area, so every area is aligned for XSAVE.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// One process's x87/SSE/AVX state, while it is not in the registers.
///
/// Invariant: the area holds the clean state ([`layout::write_clean`]) or what [`save`] stored
/// with the current [`plan`], so [`restore`] never faults.
///
/// [`save`]: FpuState::save
/// [`restore`]: FpuState::restore
pub struct FpuState {
    area: Box<[Block]>,
}

impl FpuState {
    /// A state as a new process starts with it: every register zero, the x87 stack empty,
    /// control word 0x37F, MXCSR 0x1F80.
    pub fn new() -> Self {
        // At least 512 bytes (FXSAVE), a multiple of 64 for XSAVE.
        let blocks = plan().size.div_ceil(64);
        let mut area = vec![Block([0; 64]); blocks].into_boxed_slice();
        // The clean image differs from zero only in the first block (FCW and MXCSR).
        layout::write_clean(&mut area[0].0);
        FpuState { area }
    }

    fn ptr(&self) -> *const u8 {
        self.area.as_ptr().cast()
    }

    /// Stores the registers (the state of the program that ran last) here.
    pub fn save(&mut self) {
        let plan = plan();
        let p = self.area.as_mut_ptr().cast::<u8>();
        let (lo, hi) = (plan.xcr0 as u32, (plan.xcr0 >> 32) as u32);
        // SAFETY: `p` is 64-byte aligned (`Block`) and the area has at least `plan.size`
        // bytes, which CPUID gave for the enabled components; the instruction matches what
        // `init` enabled (CR4.OSFXSR, and CR4.OSXSAVE with XCR0 = `plan.xcr0` for the XSAVE
        // forms), so it cannot fault; it writes only the area.
        unsafe {
            match plan.mechanism {
                Mechanism::Fxsave => core::arch::asm!(
                    "fxsave64 [{}]",
                    in(reg) p,
                    options(nostack, preserves_flags),
                ),
                Mechanism::Xsave => core::arch::asm!(
                    "xsave64 [{}]",
                    in(reg) p,
                    in("eax") lo,
                    in("edx") hi,
                    options(nostack, preserves_flags),
                ),
                Mechanism::Xsaveopt => core::arch::asm!(
                    "xsaveopt64 [{}]",
                    in(reg) p,
                    in("eax") lo,
                    in("edx") hi,
                    options(nostack, preserves_flags),
                ),
            }
        }
    }

    /// Loads this state into the registers, replacing all of the previous program's.
    pub fn restore(&self) {
        let plan = plan();
        let p = self.ptr();
        let (lo, hi) = (plan.xcr0 as u32, (plan.xcr0 >> 32) as u32);
        // SAFETY: the area is aligned and large enough (as in `save`), and by the type's
        // invariant holds either the clean state (FCW 0x37F, MXCSR 0x1F80 without reserved
        // bits, a zero XSAVE header) or what the same instruction family saved, so the restore
        // cannot fault. It only reads the area.
        unsafe {
            match plan.mechanism {
                Mechanism::Fxsave => core::arch::asm!(
                    "fxrstor64 [{}]",
                    in(reg) p,
                    options(nostack, preserves_flags, readonly),
                ),
                Mechanism::Xsave | Mechanism::Xsaveopt => core::arch::asm!(
                    "xrstor64 [{}]",
                    in(reg) p,
                    in("eax") lo,
                    in("edx") hi,
                    options(nostack, preserves_flags, readonly),
                ),
            }
        }
    }
}

impl Default for FpuState {
    fn default() -> Self {
        Self::new()
    }
}
