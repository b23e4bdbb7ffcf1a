//! x87/SSE/AVX register probes for `t_fpu_keep_*` and `t_fpu_clean` (docs/processes.md, "CPU
//! state").
//!
//! Components are built for `x86_64-unknown-linux-gnu`, a hard-float target: the compiler
//! itself uses the XMM registers (for `f64`, and for copies and fills of memory), and the SysV
//! ABI gives them no meaning across calls. So a test that wants values to *stay* in the
//! registers does everything in one `asm!` block ([`hold`]): load the values, save them, wait
//! (YIELDs, or spinning until preempted), save them again, and reset FCW/MXCSR and the x87
//! stack before Rust code runs again; the block declares every vector and x87 register
//! clobbered (`clobber_abi("C")`). Between load and check only the kernel can change them.
//!
//! [`float_series`] is the other half: ordinary Rust `f64` code (compiled to SSE2 `divsd`,
//! `addsd`...) that keeps its running sum in an XMM register while it is preempted, and checks
//! the result bit for bit.
use core::arch::asm;
use core::mem::offset_of;

/// Offsets in an FXSAVE image.
const FCW: usize = 0;
const FSW: usize = 2;
const FTW: usize = 4;
const MXCSR: usize = 24;
const MXCSR_MASK: usize = 28;
const ST0: usize = 32;
const XMM0: usize = 160;
const XMM_END: usize = XMM0 + 16 * 16;

/// The x87 control word and MXCSR a program starts with.
pub const FCW_CLEAN: u16 = 0x037f;
pub const MXCSR_CLEAN: u32 = 0x1f80;

/// A 512-byte FXSAVE image of the registers.
#[repr(C, align(16))]
pub struct FxImage(pub [u8; 512]);

impl FxImage {
    fn u16_at(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.0[at], self.0[at + 1]])
    }
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }
    /// The x87 control word.
    pub fn fcw(&self) -> u16 {
        self.u16_at(FCW)
    }
    /// The x87 status word.
    pub fn fsw(&self) -> u16 {
        self.u16_at(FSW)
    }
    /// The abridged x87 tag byte (one bit per register, 1 = holds a value).
    pub fn ftw(&self) -> u8 {
        self.0[FTW]
    }
    /// MXCSR.
    pub fn mxcsr(&self) -> u32 {
        self.u32_at(MXCSR)
    }
    /// XMM`i`.
    pub fn xmm(&self, i: usize) -> &[u8] {
        &self.0[XMM0 + 16 * i..XMM0 + 16 * (i + 1)]
    }
    /// The eight x87 registers (80 bits each in 16-byte slots), as FXSAVE stores them.
    pub fn x87(&self) -> &[u8] {
        &self.0[ST0..XMM0]
    }
    /// Everything FXSAVE stores about x87 and SSE but MXCSR_MASK (a constant of the CPU):
    /// control, status, tags, opcode, pointers, MXCSR, ST0-7, XMM0-15.
    pub fn state(&self) -> impl Iterator<Item = (usize, u8)> + '_ {
        self.0[..XMM_END]
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| !(MXCSR_MASK..MXCSR_MASK + 4).contains(i))
    }
}

/// The registers as they are now (`fxsave64`, which ring 3 may execute). The image is not
/// zeroed by Rust code first (which may use an XMM register to do it): `fxsave64` writes bytes
/// 0..464, the same `asm!` block zeroes the rest (which FXSAVE leaves alone).
pub fn fxsave() -> FxImage {
    let mut image = core::mem::MaybeUninit::<FxImage>::uninit();
    // SAFETY: `fxsave64` writes bytes 0..464 of the 16-byte aligned `image` (FxImage is
    // `align(16)`, 512 bytes); it needs CR4.OSFXSR for the XMM part, which the kernel sets, and
    // changes no register. The six stores write bytes 464..512. So every byte is initialized.
    unsafe {
        asm!(
            "fxsave64 [{i}]",
            "mov qword ptr [{i} + 464], 0",
            "mov qword ptr [{i} + 472], 0",
            "mov qword ptr [{i} + 480], 0",
            "mov qword ptr [{i} + 488], 0",
            "mov qword ptr [{i} + 496], 0",
            "mov qword ptr [{i} + 504], 0",
            i = in(reg) image.as_mut_ptr(),
            options(nostack, preserves_flags),
        );
        image.assume_init()
    }
}

/// Whether the kernel enabled AVX for programs: CPUID.1:ECX has AVX and OSXSAVE, and XCR0
/// (read with `xgetbv`, allowed in ring 3 once OSXSAVE is set) has SSE and AVX state.
pub fn avx_enabled() -> bool {
    let leaf1 = core::arch::x86_64::__cpuid_count(1, 0);
    if leaf1.ecx & (1 << 27) == 0 || leaf1.ecx & (1 << 28) == 0 {
        return false;
    }
    let (lo, _hi): (u32, u32);
    // SAFETY: CPUID.1:ECX.OSXSAVE is set, so `xgetbv` with ECX = 0 is allowed in ring 3 and
    // only reads XCR0.
    unsafe {
        asm!(
            "xgetbv",
            in("ecx") 0u32,
            out("eax") lo,
            out("edx") _hi,
            options(nomem, nostack, preserves_flags),
        );
    }
    lo & 0b110 == 0b110
}

/// Reads the upper halves of YMM0-15 (call only when [`avx_enabled`]).
pub fn ymm_upper() -> [[u8; 16]; 16] {
    let mut out = [[0u8; 16]; 16];
    // SAFETY: AVX is enabled (the caller checked `avx_enabled`); `vextractf128` to memory
    // writes 16 bytes at each of the 16 slots of `out` (256 bytes, exclusively borrowed) and
    // changes no register.
    unsafe {
        asm!(
            "vextractf128 xmmword ptr [{o} + 0], ymm0, 1",
            "vextractf128 xmmword ptr [{o} + 16], ymm1, 1",
            "vextractf128 xmmword ptr [{o} + 32], ymm2, 1",
            "vextractf128 xmmword ptr [{o} + 48], ymm3, 1",
            "vextractf128 xmmword ptr [{o} + 64], ymm4, 1",
            "vextractf128 xmmword ptr [{o} + 80], ymm5, 1",
            "vextractf128 xmmword ptr [{o} + 96], ymm6, 1",
            "vextractf128 xmmword ptr [{o} + 112], ymm7, 1",
            "vextractf128 xmmword ptr [{o} + 128], ymm8, 1",
            "vextractf128 xmmword ptr [{o} + 144], ymm9, 1",
            "vextractf128 xmmword ptr [{o} + 160], ymm10, 1",
            "vextractf128 xmmword ptr [{o} + 176], ymm11, 1",
            "vextractf128 xmmword ptr [{o} + 192], ymm12, 1",
            "vextractf128 xmmword ptr [{o} + 208], ymm13, 1",
            "vextractf128 xmmword ptr [{o} + 224], ymm14, 1",
            "vextractf128 xmmword ptr [{o} + 240], ymm15, 1",
            o = in(reg) out.as_mut_ptr(),
            options(nostack, preserves_flags),
        );
    }
    out
}

/// What a program puts in its registers.
#[repr(C)]
pub struct Values {
    pub xmm: [[u8; 16]; 16],
    /// Upper halves of YMM0-15 (loaded only when AVX is enabled).
    pub ymm_upper: [[u8; 16]; 16],
    /// ST0..ST7 (pushed with `fild`, so exact integers).
    pub st: [i64; 8],
    pub fcw: u16,
    pub mxcsr: u32,
}

impl Values {
    /// Values derived from `name` (FNV-1a, then xorshift): different for different names.
    /// The control words keep every exception masked and differ from the clean ones in the
    /// rounding (MXCSR) and precision (FCW) fields.
    pub fn from_name(name: &str) -> Values {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut next = || {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            h
        };
        let mut v = Values {
            xmm: [[0; 16]; 16],
            ymm_upper: [[0; 16]; 16],
            st: [0; 8],
            fcw: 0,
            mxcsr: 0,
        };
        for reg in v.xmm.iter_mut().chain(v.ymm_upper.iter_mut()) {
            reg[..8].copy_from_slice(&next().to_le_bytes());
            reg[8..].copy_from_slice(&next().to_le_bytes());
        }
        for st in &mut v.st {
            *st = (next() >> 1) as i64;
        }
        let pick = next();
        // Precision control 53 or 24 bits (not the clean 64); rounding down or up.
        v.fcw = if pick & 1 == 0 { 0x027f } else { 0x007f };
        v.mxcsr = if pick & 2 == 0 { 0x3f80 } else { 0x5f80 };
        v
    }
}

/// The time-stamp counter (ring 3 may read it).
fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` only reads the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// UPTIME (µs) and the TSC at the same moment: the best of five reads bracketed by `rdtsc`
/// (the narrowest bracket, so a preemption in the middle of one does not skew it).
fn clock_pair() -> (u64, u64) {
    let mut best = (0, 0, u64::MAX);
    for _ in 0..5 {
        let before = rdtsc();
        let us = runtime::uptime().unwrap_or(0);
        let after = rdtsc();
        if after - before < best.2 {
            best = (us, before + (after - before) / 2, after - before);
        }
    }
    (best.0, best.1)
}

/// TSC ticks per millisecond, measured against UPTIME over at least 20 ms (system calls:
/// registers must survive them too). Preemptions on the way do not matter: both ends are
/// (uptime, TSC) pairs read together.
fn tsc_per_ms() -> u64 {
    let (us0, tsc0) = clock_pair();
    while runtime::uptime().unwrap_or(u64::MAX) < us0 + 20_000 {}
    let (us1, tsc1) = clock_pair();
    (tsc1 - tsc0) * 1000 / (us1.saturating_sub(us0)).max(1)
}

/// How [`hold`] waits with its values in the registers.
#[derive(Clone, Copy)]
pub enum Wait {
    /// Call YIELD this many times.
    Yields(u64),
    /// Spin without a system call until this program has been off the CPU for at least 5 ms
    /// (half a timer tick) this many times — preemptions during which another program ran
    /// (one that only passes through the idle kernel task is back within microseconds) — or
    /// [`PREEMPTION_LIMIT_MS`] have passed. Needs the TSC rate ([`tsc_per_ms`]).
    Preemptions { wanted: u64, per_ms: u64 },
}

/// What [`hold`] saw.
pub struct Held {
    /// FXSAVE right after loading the values.
    pub before: FxImage,
    /// FXSAVE after the wait.
    pub after: FxImage,
    /// The upper halves of YMM0-15 after the wait (zero without AVX).
    pub upper: [[u8; 16]; 16],
    /// YIELDs made, or preemptions seen.
    pub waited: u64,
}

/// The block [`hold`] hands its assembly (one register, `r12`, points at it).
#[repr(C)]
struct HoldArgs {
    values: *const Values,
    before: *mut FxImage,
    after: *mut FxImage,
    upper: *mut [[u8; 16]; 16],
    avx: u64,
    /// 0: YIELD `count` times; else spin until `count` gaps of `gap` TSC ticks, at most `span`.
    spin: u64,
    count: u64,
    gap: u64,
    span: u64,
    mxcsr_clean: u32,
}

/// In one `asm!` block: loads `values` (`fninit`, the control word, ST7..ST0 — eight `fild`s:
/// the x87 stack is full —, MXCSR, XMM0-15 and, with `avx`, the upper halves of YMM0-15),
/// saves them (`before`), waits as `wait` says, saves them again (`after`, `upper`), and
/// leaves the x87 stack empty, FCW and MXCSR clean (and, with AVX, the upper halves zero) for
/// the Rust code that follows. Between the two saves no instruction of this program touches
/// those registers; only the kernel could.
pub fn hold(values: &Values, avx: bool, wait: Wait) -> Held {
    let mut before = FxImage([0; 512]);
    let mut after = FxImage([0; 512]);
    let mut upper = [[0u8; 16]; 16];
    let (spin, count, gap, span) = match wait {
        Wait::Yields(n) => (0, n, 0, 0),
        Wait::Preemptions { wanted, per_ms } => {
            (1, wanted, per_ms * 5, per_ms * PREEMPTION_LIMIT_MS)
        }
    };
    let args = HoldArgs {
        values,
        before: &mut before,
        after: &mut after,
        upper: &mut upper,
        avx: u64::from(avx),
        spin,
        count,
        gap,
        span,
        mxcsr_clean: MXCSR_CLEAN,
    };
    let waited: u64;
    // SAFETY: every memory access is inside `args` (live, read only), `*args.values` (read
    // only) or the three outputs (exclusively borrowed, `FxImage` 16-byte aligned, `upper`
    // 256 bytes), at the offsets given by `offset_of!`. The AVX instructions run only with
    // `avx` (the kernel enabled AVX: CPUID and XCR0 say so). `syscall` with rax = YIELD is the
    // kernel's YIELD, which clobbers only rax, rcx and r11. The registers the block changes are
    // declared: r13 (the result), r14, r15, and everything the C ABI lets a call clobber
    // (rax, rcx, rdx, r11, XMM0-15 and YMM, ST0-7, the flags); the control words it changes
    // (FCW, MXCSR) are reset to the clean values the code around expects before it ends, and
    // the x87 stack is left empty (`fninit`). The values keep every exception masked, so
    // nothing traps.
    unsafe {
        asm!(
            "mov rax, [r12 + {a_values}]",
            "fninit",
            "fldcw word ptr [rax + {fcw}]",
            "fild qword ptr [rax + {st} + 56]",
            "fild qword ptr [rax + {st} + 48]",
            "fild qword ptr [rax + {st} + 40]",
            "fild qword ptr [rax + {st} + 32]",
            "fild qword ptr [rax + {st} + 24]",
            "fild qword ptr [rax + {st} + 16]",
            "fild qword ptr [rax + {st} + 8]",
            "fild qword ptr [rax + {st}]",
            "ldmxcsr dword ptr [rax + {mxcsr}]",
            "movdqu xmm0, xmmword ptr [rax + {x} + 0]",
            "movdqu xmm1, xmmword ptr [rax + {x} + 16]",
            "movdqu xmm2, xmmword ptr [rax + {x} + 32]",
            "movdqu xmm3, xmmword ptr [rax + {x} + 48]",
            "movdqu xmm4, xmmword ptr [rax + {x} + 64]",
            "movdqu xmm5, xmmword ptr [rax + {x} + 80]",
            "movdqu xmm6, xmmword ptr [rax + {x} + 96]",
            "movdqu xmm7, xmmword ptr [rax + {x} + 112]",
            "movdqu xmm8, xmmword ptr [rax + {x} + 128]",
            "movdqu xmm9, xmmword ptr [rax + {x} + 144]",
            "movdqu xmm10, xmmword ptr [rax + {x} + 160]",
            "movdqu xmm11, xmmword ptr [rax + {x} + 176]",
            "movdqu xmm12, xmmword ptr [rax + {x} + 192]",
            "movdqu xmm13, xmmword ptr [rax + {x} + 208]",
            "movdqu xmm14, xmmword ptr [rax + {x} + 224]",
            "movdqu xmm15, xmmword ptr [rax + {x} + 240]",
            "cmp qword ptr [r12 + {a_avx}], 0",
            "je 2f",
            "lea rcx, [rax + {u}]",
            "vinsertf128 ymm0, ymm0, xmmword ptr [rcx + 0], 1",
            "vinsertf128 ymm1, ymm1, xmmword ptr [rcx + 16], 1",
            "vinsertf128 ymm2, ymm2, xmmword ptr [rcx + 32], 1",
            "vinsertf128 ymm3, ymm3, xmmword ptr [rcx + 48], 1",
            "vinsertf128 ymm4, ymm4, xmmword ptr [rcx + 64], 1",
            "vinsertf128 ymm5, ymm5, xmmword ptr [rcx + 80], 1",
            "vinsertf128 ymm6, ymm6, xmmword ptr [rcx + 96], 1",
            "vinsertf128 ymm7, ymm7, xmmword ptr [rcx + 112], 1",
            "vinsertf128 ymm8, ymm8, xmmword ptr [rcx + 128], 1",
            "vinsertf128 ymm9, ymm9, xmmword ptr [rcx + 144], 1",
            "vinsertf128 ymm10, ymm10, xmmword ptr [rcx + 160], 1",
            "vinsertf128 ymm11, ymm11, xmmword ptr [rcx + 176], 1",
            "vinsertf128 ymm12, ymm12, xmmword ptr [rcx + 192], 1",
            "vinsertf128 ymm13, ymm13, xmmword ptr [rcx + 208], 1",
            "vinsertf128 ymm14, ymm14, xmmword ptr [rcx + 224], 1",
            "vinsertf128 ymm15, ymm15, xmmword ptr [rcx + 240], 1",
            "2:",
            "mov rax, [r12 + {a_before}]",
            "fxsave64 [rax]",
            "xor r13d, r13d",
            "cmp qword ptr [r12 + {a_spin}], 0",
            "jne 4f",
            // YIELD `count` times.
            "3:",
            "cmp r13, [r12 + {a_count}]",
            "jae 6f",
            "mov eax, {yield_nr}",
            "syscall",
            "inc r13",
            "jmp 3b",
            // Spin: r14 = the last TSC read, r15 = when to give up.
            "4:",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "mov r14, rax",
            "mov r15, rax",
            "add r15, [r12 + {a_span}]",
            "5:",
            "cmp r13, [r12 + {a_count}]",
            "jae 6f",
            "cmp r14, r15",
            "jae 6f",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "mov rcx, rax",
            "sub rcx, r14",
            "mov r14, rax",
            "cmp rcx, [r12 + {a_gap}]",
            "jb 5b",
            "inc r13",
            "jmp 5b",
            "6:",
            "mov rax, [r12 + {a_after}]",
            "fxsave64 [rax]",
            "cmp qword ptr [r12 + {a_avx}], 0",
            "je 7f",
            "mov rax, [r12 + {a_upper}]",
            "vextractf128 xmmword ptr [rax + 0], ymm0, 1",
            "vextractf128 xmmword ptr [rax + 16], ymm1, 1",
            "vextractf128 xmmword ptr [rax + 32], ymm2, 1",
            "vextractf128 xmmword ptr [rax + 48], ymm3, 1",
            "vextractf128 xmmword ptr [rax + 64], ymm4, 1",
            "vextractf128 xmmword ptr [rax + 80], ymm5, 1",
            "vextractf128 xmmword ptr [rax + 96], ymm6, 1",
            "vextractf128 xmmword ptr [rax + 112], ymm7, 1",
            "vextractf128 xmmword ptr [rax + 128], ymm8, 1",
            "vextractf128 xmmword ptr [rax + 144], ymm9, 1",
            "vextractf128 xmmword ptr [rax + 160], ymm10, 1",
            "vextractf128 xmmword ptr [rax + 176], ymm11, 1",
            "vextractf128 xmmword ptr [rax + 192], ymm12, 1",
            "vextractf128 xmmword ptr [rax + 208], ymm13, 1",
            "vextractf128 xmmword ptr [rax + 224], ymm14, 1",
            "vextractf128 xmmword ptr [rax + 240], ymm15, 1",
            "vzeroupper",
            "7:",
            "fninit",
            "ldmxcsr dword ptr [r12 + {a_mxcsr}]",
            in("r12") &args,
            out("r13") waited,
            out("r14") _,
            out("r15") _,
            a_values = const offset_of!(HoldArgs, values),
            a_before = const offset_of!(HoldArgs, before),
            a_after = const offset_of!(HoldArgs, after),
            a_upper = const offset_of!(HoldArgs, upper),
            a_avx = const offset_of!(HoldArgs, avx),
            a_spin = const offset_of!(HoldArgs, spin),
            a_count = const offset_of!(HoldArgs, count),
            a_gap = const offset_of!(HoldArgs, gap),
            a_span = const offset_of!(HoldArgs, span),
            a_mxcsr = const offset_of!(HoldArgs, mxcsr_clean),
            fcw = const offset_of!(Values, fcw),
            st = const offset_of!(Values, st),
            mxcsr = const offset_of!(Values, mxcsr),
            x = const offset_of!(Values, xmm),
            u = const offset_of!(Values, ymm_upper),
            yield_nr = const YIELD,
            clobber_abi("C"),
            options(nostack),
        );
    }
    Held {
        before,
        after,
        upper,
        waited,
    }
}

/// The YIELD system call's number.
const YIELD: u64 = runtime::abi::Syscall::Yield.number();

/// `1/1² + 1/2² + ... + 1/k²` for `k` in `1..=n`, summed in this order in `f64` (SSE2
/// `cvtsi2sd`, `mulsd`, `divsd`, `addsd`): the reference for [`float_series`].
fn series(n: u64) -> f64 {
    let mut sum = 0.0;
    for k in 1..=core::hint::black_box(n) {
        let k = k as f64;
        sum += 1.0 / (k * k);
    }
    sum
}

/// `t_fpu_keep_*`'s floating-point half: sums `1/k²` for k = 1, 2, 3... in ordinary Rust
/// `f64` code (the running sum lives in an XMM register), spinning without a system call
/// until preempted in favour of another program `wanted` times (as [`Wait::Preemptions`]).
/// Then checks the sum bit for bit against [`series`] of the same length, and against
/// π²/6 − 1/n (the tail of the series is about 1/n). Logs `<name>: f64 sum of 1/k² for k ≤ n
/// kept across N preemptions (...)` and returns true, or ERROR lines and false.
pub fn float_series(name: &str, per_ms: u64, wanted: u64) -> bool {
    let start = rdtsc();
    let end = start + per_ms * PREEMPTION_LIMIT_MS;
    let gap = per_ms * 5;
    let (mut last, mut seen) = (start, 0);
    let (mut sum, mut n) = (0.0f64, 0u64);
    while seen < wanted && last < end {
        // A few terms between TSC reads.
        for _ in 0..64 {
            n += 1;
            let k = n as f64;
            sum += 1.0 / (k * k);
        }
        let now = rdtsc();
        if now - last >= gap {
            seen += 1;
        }
        last = now;
    }
    let mut ok = true;
    if seen < wanted {
        runtime::error!(
            "{name}: only {seen} preemptions by another program in {PREEMPTION_LIMIT_MS} ms (f64 series): the check proves nothing"
        );
        ok = false;
    }
    let reference = series(n);
    if sum.to_bits() != reference.to_bits() {
        runtime::error!(
            "{name}: f64 sum of 1/k² for k ≤ {n} is {sum:e} across preemptions, {reference:e} without"
        );
        ok = false;
    }
    let nf = n as f64;
    let expected = core::f64::consts::PI * core::f64::consts::PI / 6.0 - 1.0 / nf;
    // The rest of the tail (1/2n² and less) and the rounding of n additions.
    let tolerance = 1.0 / (nf * nf) + 2.0 * nf * f64::EPSILON;
    if !(-tolerance..=tolerance).contains(&(sum - expected)) {
        runtime::error!(
            "{name}: f64 sum of 1/k² for k ≤ {n} is {sum:e}, expected about {expected:e}"
        );
        ok = false;
    }
    if ok {
        runtime::info!(
            "{name}: f64 sum of 1/k² for k ≤ {n} kept across {seen} preemptions ({sum})"
        );
    }
    ok
}

/// When a probe signals READY.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Before its loop (so the next entry starts and runs alongside). [`keep`] then spins
    /// forever after its check, so the next one is always preempted in its favour.
    First,
    /// After its check (so the entries after it start once it is done); then it exits.
    Last,
}

/// How long `t_fpu_keep_*` waits for its preemptions before it gives up.
const PREEMPTION_LIMIT_MS: u64 = 5000;

/// `t_fpu_keep_*`: first [`float_series`] until preempted in favour of another program
/// `preemptions` times; then loads values derived from `name` and spins until preempted
/// `preemptions` times more ([`hold`]), and compares. Logs `<name>: registers kept across N
/// preemptions (...)`; returns 1 after ERROR lines if a register or the sum changed or the
/// preemptions did not come. With [`Ready::First`] it signals READY first (so the next entry
/// runs alongside) and spins forever at the end; with [`Ready::Last`] it signals READY at the
/// end and returns 0.
pub fn keep(name: &str, ready: Ready, preemptions: u64) -> i32 {
    crate::start(name);
    let avx = avx_enabled();
    let values = Values::from_name(name);
    if ready == Ready::First && !crate::ready(name) {
        return 1;
    }
    let per_ms = tsc_per_ms();
    let float_ok = float_series(name, per_ms, preemptions);
    let held = hold(
        &values,
        avx,
        Wait::Preemptions {
            wanted: preemptions,
            per_ms,
        },
    );
    let seen = held.waited;
    let mut ok = still_there(name, &values, &held, avx) && float_ok;
    if seen < preemptions {
        runtime::error!(
            "{name}: only {seen} preemptions by another program in {PREEMPTION_LIMIT_MS} ms: the check proves nothing"
        );
        ok = false;
    }
    if !ok {
        return 1;
    }
    runtime::info!(
        "{name}: registers kept across {seen} preemptions ({}XMM0-15, ST0-7, FCW, MXCSR)",
        if avx { "YMM0-15, " } else { "" }
    );
    match ready {
        Ready::First => loop {
            core::hint::spin_loop();
        },
        Ready::Last if crate::ready(name) => 0,
        Ready::Last => 1,
    }
}

/// `t_fpu_yield_*`: loads values derived from `name`, calls YIELD `yields` times (each one a
/// switch to the next ready task and back), then checks every register ([`hold`]). Logs
/// `<name>: registers kept across N yields (C TSC cycles per yield)` and returns 0, or ERROR
/// lines and 1. The cycles per yield (a syscall and the switches until this program runs
/// again) is a user-side measure of the switch cost. With [`Ready::First`] it signals READY
/// before (so the next entry yields alongside), with [`Ready::Last`] after.
pub fn yield_keep(name: &str, ready: Ready, yields: u64) -> i32 {
    crate::start(name);
    let avx = avx_enabled();
    let values = Values::from_name(name);
    if ready == Ready::First && !crate::ready(name) {
        return 1;
    }
    let start = rdtsc();
    let held = hold(&values, avx, Wait::Yields(yields));
    let per_yield = (rdtsc() - start) / yields.max(1);
    if !still_there(name, &values, &held, avx) {
        return 1;
    }
    runtime::info!(
        "{name}: registers kept across {yields} yields ({per_yield} TSC cycles per yield)"
    );
    if ready == Ready::Last && !crate::ready(name) {
        return 1;
    }
    0
}

/// Whether the registers after the wait still held `values` (and the x87 state saved right
/// after loading them); an ERROR line for each difference.
fn still_there(name: &str, values: &Values, held: &Held, avx: bool) -> bool {
    let (before, after) = (&held.before, &held.after);
    let mut ok = true;
    for (i, (xmm, upper)) in values.xmm.iter().zip(&held.upper).enumerate() {
        if after.xmm(i) != xmm {
            runtime::error!("{name}: XMM{i} changed: {:02x?}", after.xmm(i));
            ok = false;
        }
        if avx && upper != &values.ymm_upper[i] {
            runtime::error!("{name}: upper half of YMM{i} changed: {upper:02x?}");
            ok = false;
        }
    }
    if after.x87() != before.x87() || after.ftw() != 0xff || after.fsw() != before.fsw() {
        runtime::error!(
            "{name}: x87 registers changed (tags {:#04x}, status {:#06x}; were {:#04x}, {:#06x})",
            after.ftw(),
            after.fsw(),
            before.ftw(),
            before.fsw()
        );
        ok = false;
    }
    if after.fcw() != values.fcw || after.mxcsr() != values.mxcsr {
        runtime::error!(
            "{name}: control words changed: FCW {:#06x} (set {:#06x}), MXCSR {:#06x} (set {:#06x})",
            after.fcw(),
            values.fcw,
            after.mxcsr(),
            values.mxcsr
        );
        ok = false;
    }
    ok
}

/// `t_fpu_clean`: the registers as the program finds them, before anything else: every XMM
/// (and YMM) register and ST register zero, the x87 stack empty, FCW 0x37F, MXCSR 0x1F80.
/// Logs `<name>: registers clean at start` and returns 0, or ERROR lines and 1.
pub fn clean(name: &str) -> i32 {
    let image = fxsave();
    let avx = avx_enabled();
    let upper = if avx { ymm_upper() } else { [[0; 16]; 16] };
    crate::start(name);
    let mut expected = FxImage([0; 512]);
    expected.0[FCW..FCW + 2].copy_from_slice(&FCW_CLEAN.to_le_bytes());
    expected.0[MXCSR..MXCSR + 4].copy_from_slice(&MXCSR_CLEAN.to_le_bytes());
    let mut ok = true;
    for ((at, got), (_, want)) in image.state().zip(expected.state()) {
        if got != want {
            runtime::error!(
                "{name}: FXSAVE byte {at} is {got:#04x}, not {want:#04x} (FCW {:#06x}, FSW {:#06x}, tags {:#04x}, MXCSR {:#06x})",
                image.fcw(),
                image.fsw(),
                image.ftw(),
                image.mxcsr()
            );
            ok = false;
            break;
        }
    }
    if let Some(i) = upper.iter().position(|u| u.iter().any(|&b| b != 0)) {
        runtime::error!(
            "{name}: upper half of YMM{i} is not zero: {:02x?}",
            upper[i]
        );
        ok = false;
    }
    if !ok {
        return 1;
    }
    runtime::info!(
        "{name}: registers clean at start ({}XMM0-15, ST0-7 zero, x87 stack empty, FCW {:#06x}, MXCSR {:#06x})",
        if avx { "YMM0-15, " } else { "" },
        image.fcw(),
        image.mxcsr()
    );
    if crate::ready(name) {
        0
    } else {
        1
    }
}
