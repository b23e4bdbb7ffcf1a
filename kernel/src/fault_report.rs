//! CPU exception reports as pure functions (names, error-code decoding, frame-pointer walk, text) so the host can test them.

use core::fmt::{self, Write};
use core::ops::Range;

/// What the exception entry stubs leave on the stack, lowest address first: the general-purpose
/// registers (pushed rax first, so r15 ends up lowest), the vector number, the error code (a
/// dummy 0 for vectors without one), then what the CPU pushed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExceptionFrame {
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
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Size of [`ExceptionFrame`]; the entry stubs' layout depends on it (22 quadwords).
pub const FRAME_SIZE: usize = 22 * 8;
const _: () = assert!(core::mem::size_of::<ExceptionFrame>() == FRAME_SIZE);

/// The fixed facts about one exception vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorInfo {
    /// Short name such as `#PF` (or `NMI`, or `reserved`).
    pub mnemonic: &'static str,
    /// Long name such as `Page Fault`.
    pub name: &'static str,
    /// Whether the CPU pushes an error code for this vector.
    pub has_error_code: bool,
}

const fn v(mnemonic: &'static str, name: &'static str, has_error_code: bool) -> VectorInfo {
    VectorInfo {
        mnemonic,
        name,
        has_error_code,
    }
}

const RESERVED: VectorInfo = v("reserved", "Reserved", false);

/// Every architectural exception vector, 0 to 31 (Intel SDM vol. 3, table 6-1; AMD APM vol. 2
/// for #VC and #SX).
pub const VECTORS: [VectorInfo; 32] = [
    v("#DE", "Divide Error", false),
    v("#DB", "Debug", false),
    v("NMI", "Non-Maskable Interrupt", false),
    v("#BP", "Breakpoint", false),
    v("#OF", "Overflow", false),
    v("#BR", "Bound Range Exceeded", false),
    v("#UD", "Invalid Opcode", false),
    v("#NM", "Device Not Available", false),
    v("#DF", "Double Fault", true),
    v("CSO", "Coprocessor Segment Overrun", false),
    v("#TS", "Invalid TSS", true),
    v("#NP", "Segment Not Present", true),
    v("#SS", "Stack-Segment Fault", true),
    v("#GP", "General Protection", true),
    v("#PF", "Page Fault", true),
    RESERVED,
    v("#MF", "x87 Floating-Point Exception", false),
    v("#AC", "Alignment Check", true),
    v("#MC", "Machine Check", false),
    v("#XM", "SIMD Floating-Point Exception", false),
    v("#VE", "Virtualization Exception", false),
    v("#CP", "Control Protection", true),
    RESERVED,
    RESERVED,
    RESERVED,
    RESERVED,
    RESERVED,
    RESERVED,
    v("#HV", "Hypervisor Injection", false),
    v("#VC", "VMM Communication", true),
    v("#SX", "Security Exception", true),
    RESERVED,
];

/// Vector numbers the kernel treats specially.
pub mod vector {
    pub const NMI: u64 = 2;
    pub const BREAKPOINT: u64 = 3;
    pub const DOUBLE_FAULT: u64 = 8;
    pub const INVALID_TSS: u64 = 10;
    pub const SEGMENT_NOT_PRESENT: u64 = 11;
    pub const STACK_SEGMENT: u64 = 12;
    pub const GENERAL_PROTECTION: u64 = 13;
    pub const PAGE_FAULT: u64 = 14;
    pub const MACHINE_CHECK: u64 = 18;
    pub const CONTROL_PROTECTION: u64 = 21;
}

/// The facts about `vector`; anything past 31 is not an exception and reads as "reserved".
pub fn vector_info(vector: u64) -> VectorInfo {
    usize::try_from(vector)
        .ok()
        .and_then(|i| VECTORS.get(i))
        .copied()
        .unwrap_or(RESERVED)
}

/// A page-fault error code, displayed as e.g. `write, not-present, kernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFaultCode(pub u64);

impl PageFaultCode {
    const PRESENT: u64 = 1 << 0;
    const WRITE: u64 = 1 << 1;
    const USER: u64 = 1 << 2;
    const RESERVED_BIT: u64 = 1 << 3;
    const FETCH: u64 = 1 << 4;
    const PROTECTION_KEY: u64 = 1 << 5;
    const SHADOW_STACK: u64 = 1 << 6;
    const SGX: u64 = 1 << 15;

    /// Why ring 0 faulted on a present page, when the error code and whether the page is a
    /// user page (`None`: not known) tell: a user page read or written from ring 0 is SMAP, one
    /// executed is SMEP. A ring-0 read of a present page has no other cause, so it is SMAP even
    /// when the page is not known; a write or fetch could also be a read-only or no-execute
    /// kernel page, so those need the page.
    pub fn protection_cause(self, user_page: Option<bool>) -> Option<&'static str> {
        let c = self.0;
        let other = Self::RESERVED_BIT | Self::PROTECTION_KEY | Self::SHADOW_STACK | Self::SGX;
        if c & Self::PRESENT == 0 || c & Self::USER != 0 || c & other != 0 {
            return None;
        }
        match (c & Self::FETCH != 0, user_page) {
            (true, Some(true)) => Some(bootlog::msg::EXCEPTION_SMEP),
            (false, Some(true)) => Some(bootlog::msg::EXCEPTION_SMAP),
            (false, None) if c & Self::WRITE == 0 => Some(bootlog::msg::EXCEPTION_SMAP),
            _ => None,
        }
    }
}

/// What the report knows about a page fault's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultAddress {
    /// CR2: the address whose access faulted.
    pub cr2: u64,
    /// Whether the active page tables map it as a user page (`None`: not mapped, or not known).
    pub user_page: Option<bool>,
}

impl fmt::Display for PageFaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let access = if c & Self::FETCH != 0 {
            "instruction fetch"
        } else if c & Self::WRITE != 0 {
            "write"
        } else {
            "read"
        };
        let presence = if c & Self::PRESENT != 0 {
            "protection violation"
        } else {
            "not-present"
        };
        let mode = if c & Self::USER != 0 {
            "user"
        } else {
            "kernel"
        };
        write!(f, "{access}, {presence}, {mode}")?;
        for (bit, what) in [
            (Self::RESERVED_BIT, "reserved bit set"),
            (Self::PROTECTION_KEY, "protection key"),
            (Self::SHADOW_STACK, "shadow stack"),
            (Self::SGX, "SGX"),
        ] {
            if c & bit != 0 {
                write!(f, ", {what}")?;
            }
        }
        Ok(())
    }
}

/// A segment-selector error code (#TS, #NP, #SS, #GP), displayed as e.g. `GDT index 5, external`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectorCode(pub u64);

impl fmt::Display for SelectorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        if c == 0 {
            // #GP and #SS push 0 when the fault is not about a particular selector.
            return write!(f, "no selector");
        }
        let table = if c & 0b010 != 0 {
            "IDT"
        } else if c & 0b100 != 0 {
            "LDT"
        } else {
            "GDT"
        };
        let index = (c >> 3) & 0x1fff;
        if table == "IDT" {
            write!(f, "IDT vector {index}")?;
        } else {
            write!(f, "{table} index {index} (selector {:#06x})", c & 0xfff8)?;
        }
        if c & 1 != 0 {
            write!(f, ", external")?;
        }
        Ok(())
    }
}

/// A control-protection (#CP) error code: which CET check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlProtectionCode(pub u64);

impl fmt::Display for ControlProtectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.0 & 0x7fff {
            1 => "near return",
            2 => "far return or iret",
            3 => "missing endbranch",
            4 => "rstorssp",
            5 => "setssbsy",
            _ => "unknown",
        };
        write!(f, "{what}")?;
        if self.0 & (1 << 15) != 0 {
            write!(f, ", in an enclave")?;
        }
        Ok(())
    }
}

/// Writes the error-code decoding for `vector` (in brackets, after a space), or nothing if the
/// code carries no structure worth decoding. `user_page` is what [`FaultAddress::user_page`]
/// says for a page fault.
fn write_error_decoding(
    w: &mut impl Write,
    vector: u64,
    code: u64,
    user_page: Option<bool>,
) -> fmt::Result {
    match vector {
        vector::PAGE_FAULT => {
            let code = PageFaultCode(code);
            match code.protection_cause(user_page) {
                Some(cause) => write!(w, " [{code}: {cause}]"),
                None => write!(w, " [{code}]"),
            }
        }
        vector::INVALID_TSS
        | vector::SEGMENT_NOT_PRESENT
        | vector::STACK_SEGMENT
        | vector::GENERAL_PROTECTION => write!(w, " [{}]", SelectorCode(code)),
        vector::CONTROL_PROTECTION => write!(w, " [{}]", ControlProtectionCode(code)),
        _ => Ok(()),
    }
}

/// Most frames a backtrace shows (including frame #0, the faulting instruction).
pub const MAX_FRAMES: usize = 32;

/// Where the higher half begins; frame pointers of kernel code live above it.
const HIGHER_HALF: u64 = 0xffff_8000_0000_0000;

/// Whether a frame pointer is worth dereferencing: 8-aligned, canonical, in the higher half
/// (a higher-half address at or above [`HIGHER_HALF`] is canonical by construction), and with
/// room for the two words read from it.
pub fn plausible_frame_pointer(rbp: u64) -> bool {
    rbp.is_multiple_of(8) && (HIGHER_HALF..=u64::MAX - 15).contains(&rbp)
}

/// Where the kernel's code and stacks lie: a backtrace follows only frames on a kernel stack
/// whose return address is kernel code, so it never walks a program's frames (a user rbp) or
/// reads the MMIO window (a stale or garbage rbp that happens to point there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelBounds<'a> {
    /// The kernel's executable code.
    pub text: Range<u64>,
    /// Every kernel stack (a task's stack area, the boot stack, the IST stacks).
    pub stacks: &'a [Range<u64>],
}

impl KernelBounds<'_> {
    /// Whether `addr` is kernel code.
    pub fn in_text(&self, addr: u64) -> bool {
        self.text.contains(&addr)
    }

    /// Whether the `len` bytes at `addr` lie within one kernel stack.
    pub fn on_stack(&self, addr: u64, len: u64) -> bool {
        addr.checked_add(len)
            .is_some_and(|end| self.stacks.iter().any(|s| s.start <= addr && end <= s.end))
    }
}

/// Walks the frame-pointer chain: `out(0, rip)` first, then `out(n, return address)` for each
/// frame found from `rbp` on. `read(addr)` returns the quadword at `addr`, or `None` if it is not
/// mapped; it is only asked for words on a kernel stack of `bounds`. The walk stops at a null
/// or implausible frame pointer, one whose frame is not on a kernel stack, an unreadable word,
/// a return address outside kernel text (null included), a frame pointer that does not
/// increase (the stack grows down, so callers' frames lie above), or after [`MAX_FRAMES`]
/// frames.
pub fn walk_frames(
    rip: u64,
    mut rbp: u64,
    bounds: &KernelBounds<'_>,
    read: impl Fn(u64) -> Option<u64>,
    out: &mut impl FnMut(usize, u64),
) {
    out(0, rip);
    for n in 1..MAX_FRAMES {
        if rbp == 0 || !plausible_frame_pointer(rbp) || !bounds.on_stack(rbp, 16) {
            return;
        }
        let (Some(saved_rbp), Some(ret)) = (read(rbp), read(rbp + 8)) else {
            return;
        };
        if !bounds.in_text(ret) {
            return;
        }
        out(n, ret);
        if saved_rbp <= rbp {
            return;
        }
        rbp = saved_rbp;
    }
}

/// Writes the full report for `frame`: header, CPU-pushed state, CR2 (page faults only), every
/// general-purpose register and the backtrace. Lines end with `\r\n` (it goes to a serial port).
/// `bounds` and `read` are the backtrace's (see [`walk_frames`]).
pub fn write_report(
    w: &mut impl Write,
    frame: &ExceptionFrame,
    fault: Option<FaultAddress>,
    bounds: &KernelBounds<'_>,
    read: impl Fn(u64) -> Option<u64>,
) -> fmt::Result {
    let info = vector_info(frame.vector);
    write!(
        w,
        "{}{} ({} {})",
        bootlog::msg::EXCEPTION_START,
        frame.vector,
        info.mnemonic,
        info.name
    )?;
    if info.has_error_code {
        write!(w, " error code {:#06x}", frame.error_code)?;
        let user_page = fault.and_then(|f| f.user_page);
        write_error_decoding(w, frame.vector, frame.error_code, user_page)?;
    } else {
        write!(w, " (no error code)")?;
    }
    write!(w, "\r\n")?;
    write!(
        w,
        "{}{:#018x}  CS {:#04x}  RFLAGS {:#010x}  RSP {:#018x}  SS {:#04x}\r\n",
        bootlog::msg::EXCEPTION_RIP_START,
        frame.rip,
        frame.cs,
        frame.rflags,
        frame.rsp,
        frame.ss
    )?;
    if let Some(FaultAddress { cr2, .. }) = fault {
        write!(
            w,
            "{}{cr2:#018x} (the faulting address)\r\n",
            bootlog::msg::EXCEPTION_CR2_START
        )?;
    }
    let f = frame;
    let regs: [(&str, u64); 16] = [
        ("RAX", f.rax),
        ("RBX", f.rbx),
        ("RCX", f.rcx),
        ("RDX", f.rdx),
        ("RSI", f.rsi),
        ("RDI", f.rdi),
        ("RBP", f.rbp),
        ("RSP", f.rsp),
        ("R8 ", f.r8),
        ("R9 ", f.r9),
        ("R10", f.r10),
        ("R11", f.r11),
        ("R12", f.r12),
        ("R13", f.r13),
        ("R14", f.r14),
        ("R15", f.r15),
    ];
    for line in regs.chunks(4) {
        write!(w, " ")?;
        for (name, value) in line {
            write!(w, " {name} {value:#018x}")?;
        }
        write!(w, "\r\n")?;
    }
    write!(w, "{}\r\n", bootlog::msg::EXCEPTION_BACKTRACE)?;
    let mut result = Ok(());
    walk_frames(frame.rip, frame.rbp, bounds, read, &mut |n, addr| {
        if result.is_ok() {
            result = write!(w, "    #{n} {addr:#018x}\r\n");
        }
    });
    result
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::BTreeMap;
    use std::string::String;

    #[test]
    fn every_vector_has_a_name_and_error_codes_match_the_sdm() {
        let with_code = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];
        for vec in 0..32u64 {
            let info = vector_info(vec);
            assert!(!info.mnemonic.is_empty() && !info.name.is_empty());
            assert_eq!(
                info.has_error_code,
                with_code.contains(&vec),
                "vector {vec}"
            );
        }
        assert_eq!(vector_info(14).mnemonic, "#PF");
        assert_eq!(vector_info(13).name, "General Protection");
        assert_eq!(vector_info(15).mnemonic, "reserved");
        assert_eq!(vector_info(31).mnemonic, "reserved");
        assert_eq!(vector_info(28).mnemonic, "#HV");
        assert_eq!(vector_info(1000).mnemonic, "reserved");
    }

    #[test]
    fn page_fault_codes_decode() {
        assert_eq!(
            PageFaultCode(0b0010).to_string(),
            "write, not-present, kernel"
        );
        assert_eq!(
            PageFaultCode(0b0000).to_string(),
            "read, not-present, kernel"
        );
        assert_eq!(
            PageFaultCode(0b0101).to_string(),
            "read, protection violation, user"
        );
        assert_eq!(
            PageFaultCode(0b1_1001).to_string(),
            "instruction fetch, protection violation, kernel, reserved bit set"
        );
    }

    #[test]
    fn selector_codes_decode() {
        assert_eq!(SelectorCode(0).to_string(), "no selector");
        assert_eq!(
            SelectorCode(0x28).to_string(),
            "GDT index 5 (selector 0x0028)"
        );
        assert_eq!(
            SelectorCode(0x0c).to_string(),
            "LDT index 1 (selector 0x0008)"
        );
        assert_eq!(
            SelectorCode((13 << 3) | 0b11).to_string(),
            "IDT vector 13, external"
        );
    }

    /// A fake stack: a map of quadwords.
    fn reader(mem: &BTreeMap<u64, u64>) -> impl Fn(u64) -> Option<u64> + '_ {
        |a| mem.get(&a).copied()
    }

    /// Kernel text and one kernel stack, as the fake machine lays them out.
    const T: u64 = 0xffff_ffff_8000_0000;
    const S: u64 = 0xffff_8000_0010_0000;
    const STACK: Range<u64> = S..S + 0x2000;
    const BOUNDS: KernelBounds<'static> = KernelBounds {
        text: T..T + 0x10_0000,
        stacks: core::slice::from_ref(&STACK),
    };

    fn collect(rip: u64, rbp: u64, mem: &BTreeMap<u64, u64>) -> std::vec::Vec<(usize, u64)> {
        let mut v = std::vec::Vec::new();
        walk_frames(rip, rbp, &BOUNDS, reader(mem), &mut |n, a| v.push((n, a)));
        v
    }

    #[test]
    fn walks_a_chain_until_null_rbp() {
        let mut mem = BTreeMap::new();
        mem.insert(S, S + 0x40);
        mem.insert(S + 8, T + 0x1111);
        mem.insert(S + 0x40, 0);
        mem.insert(S + 0x48, T + 0x2222);
        let v = collect(T, S, &mem);
        assert_eq!(v, [(0, T), (1, T + 0x1111), (2, T + 0x2222)]);
    }

    #[test]
    fn stops_on_bad_frame_pointers() {
        let mem = BTreeMap::new();
        // Null, misaligned, lower half, non-canonical, unmapped: only frame #0.
        for rbp in [0, S + 4, 0x1000, 0x0000_8000_0000_0000, S] {
            assert_eq!(collect(1, rbp, &mem), [(0, 1)], "rbp {rbp:#x}");
        }
        // A loop (saved rbp pointing at itself) stops after one frame.
        let mut mem = BTreeMap::new();
        mem.insert(S, S);
        mem.insert(S + 8, T + 7);
        assert_eq!(collect(1, S, &mem), [(0, 1), (1, T + 7)]);
        // Return address word unmapped.
        let mut mem = BTreeMap::new();
        mem.insert(S, 0);
        assert_eq!(collect(1, S, &mem), [(0, 1)]);
        // A frame whose second word runs off the top of the stack.
        let top = S + 0x2000 - 8;
        let mut mem = BTreeMap::new();
        mem.insert(top, 0);
        mem.insert(top + 8, T);
        assert_eq!(collect(1, top, &mem), [(0, 1)]);
    }

    /// A reader that fails the test if asked for a word off the kernel stacks: the walk must
    /// check before it reads (a read of the MMIO window can have side effects).
    fn strict(mem: &BTreeMap<u64, u64>) -> impl Fn(u64) -> Option<u64> + '_ {
        |a| {
            assert!(BOUNDS.on_stack(a, 8), "read {a:#x} off the kernel stacks");
            mem.get(&a).copied()
        }
    }

    fn collect_strict(rbp: u64, mem: &BTreeMap<u64, u64>) -> std::vec::Vec<(usize, u64)> {
        let mut v = std::vec::Vec::new();
        walk_frames(T, rbp, &BOUNDS, strict(mem), &mut |n, a| v.push((n, a)));
        v
    }

    #[test]
    fn stops_where_the_chain_leaves_kernel_frames() {
        // The syscall entry's caller: a saved rbp that is the program's (a user stack address),
        // with a user return address above it. The walk stops at the kernel frame's end and
        // never reads the user stack.
        let user_rbp = 0x7fff_ffff_e000;
        let mut mem = BTreeMap::new();
        mem.insert(S, user_rbp);
        mem.insert(S + 8, T + 0x10);
        mem.insert(user_rbp, 0);
        mem.insert(user_rbp + 8, 0x40_1000);
        assert_eq!(collect_strict(S, &mem), [(0, T), (1, T + 0x10)]);
        // A kernel frame whose return address is a user address (a program's frame that
        // reached a kernel stack): not printed, and the walk ends there.
        let mut mem = BTreeMap::new();
        mem.insert(S, S + 0x40);
        mem.insert(S + 8, 0x40_1000);
        mem.insert(S + 0x40, 0);
        mem.insert(S + 0x48, T + 0x20);
        assert_eq!(collect_strict(S, &mem), [(0, T)]);
        // A saved rbp into the MMIO window (PML4 slot 508, a higher-half address the page
        // tables map): not a kernel stack, never read.
        let mmio = 0xffff_fe00_0000_0000;
        let mut mem = BTreeMap::new();
        mem.insert(S, mmio);
        mem.insert(S + 8, T + 0x30);
        mem.insert(mmio, mmio + 0x100);
        mem.insert(mmio + 8, T + 0x40);
        assert_eq!(collect_strict(S, &mem), [(0, T), (1, T + 0x30)]);
        assert_eq!(collect_strict(mmio, &mem), [(0, T)]);
        // A return address in the MMIO window (or anywhere else off the text) ends the walk.
        let mut mem = BTreeMap::new();
        mem.insert(S, S + 0x40);
        mem.insert(S + 8, mmio);
        assert_eq!(collect_strict(S, &mem), [(0, T)]);
    }

    #[test]
    fn loops_stop() {
        // Two frames pointing at each other: the second goes down, so the walk stops.
        let mut mem = BTreeMap::new();
        mem.insert(S, S + 0x40);
        mem.insert(S + 8, T + 1);
        mem.insert(S + 0x40, S);
        mem.insert(S + 0x48, T + 2);
        assert_eq!(collect_strict(S, &mem), [(0, T), (1, T + 1), (2, T + 2)]);
    }

    #[test]
    fn caps_the_frame_count() {
        let mut mem = BTreeMap::new();
        for i in 0..100u64 {
            mem.insert(S + i * 16, S + (i + 1) * 16);
            mem.insert(S + i * 16 + 8, T + i);
        }
        let v = collect(1, S, &mem);
        assert_eq!(v.len(), MAX_FRAMES);
        assert_eq!(v.last(), Some(&(MAX_FRAMES - 1, T + MAX_FRAMES as u64 - 2)));
    }

    #[test]
    fn page_faults_on_user_pages_name_smap_or_smep() {
        use bootlog::msg::{EXCEPTION_SMAP, EXCEPTION_SMEP};
        let cause = |code, user| PageFaultCode(code).protection_cause(user);
        // Read (0b001) and write (0b011) of a present user page from ring 0: SMAP.
        assert_eq!(cause(0b0_0001, Some(true)), Some(EXCEPTION_SMAP));
        assert_eq!(cause(0b0_0011, Some(true)), Some(EXCEPTION_SMAP));
        // A ring-0 read of a present page has no other cause.
        assert_eq!(cause(0b0_0001, None), Some(EXCEPTION_SMAP));
        // Fetch from a user page: SMEP.
        assert_eq!(cause(0b1_0001, Some(true)), Some(EXCEPTION_SMEP));
        // A write or fetch of a kernel page (read-only, no-execute), or unknown: no claim.
        for code in [0b0_0011, 0b1_0001] {
            assert_eq!(cause(code, Some(false)), None, "{code:#b}");
            assert_eq!(cause(code, None), None, "{code:#b}");
        }
        // Not present, from ring 3, or with a reserved bit / protection key: not SMAP.
        for code in [0b0_0000, 0b0_0101, 0b0_1001, 0b10_0001] {
            assert_eq!(cause(code, Some(true)), None, "{code:#b}");
        }
    }

    #[test]
    fn smap_report_header() {
        let frame = ExceptionFrame {
            vector: 14,
            error_code: 1,
            ..ExceptionFrame::default()
        };
        let fault = FaultAddress {
            cr2: 0x40_0000,
            user_page: Some(true),
        };
        let mut s = String::new();
        write_report(&mut s, &frame, Some(fault), &BOUNDS, |_| None).unwrap();
        let first = s.split("\r\n").next().unwrap();
        assert_eq!(
            first,
            "EXCEPTION: vector 14 (#PF Page Fault) error code 0x0001 [read, protection violation, kernel: supervisor access to a user page (SMAP)]"
        );
        assert!(first.starts_with(bootlog::msg::EXCEPTION_PAGE_FAULT_START));
    }

    #[test]
    fn report_has_every_part() {
        let frame = ExceptionFrame {
            vector: 14,
            error_code: 2,
            rip: 0xffff_ffff_8000_1234,
            cs: 8,
            rflags: 0x10046,
            rsp: 0xffff_8000_0ff7_fe98,
            ss: 0x10,
            rbp: S,
            rax: 0xaaaa,
            r15: 0xf15,
            ..ExceptionFrame::default()
        };
        let mut mem = BTreeMap::new();
        mem.insert(S, 0);
        mem.insert(S + 8, 0xffff_ffff_8000_5678);
        let fault = FaultAddress {
            cr2: 0x1000,
            user_page: None,
        };
        let mut s = String::new();
        write_report(&mut s, &frame, Some(fault), &BOUNDS, reader(&mem)).unwrap();
        let lines: std::vec::Vec<&str> = s.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "EXCEPTION: vector 14 (#PF Page Fault) error code 0x0002 [write, not-present, kernel]"
        );
        assert_eq!(
            lines[1],
            "  RIP 0xffffffff80001234  CS 0x08  RFLAGS 0x00010046  RSP 0xffff80000ff7fe98  SS 0x10"
        );
        assert_eq!(lines[2], "  CR2 0x0000000000001000 (the faulting address)");
        assert!(lines[3].starts_with("  RAX 0x000000000000aaaa RBX"));
        assert!(lines[6].ends_with("R15 0x0000000000000f15"));
        assert_eq!(lines[7], "  backtrace:");
        assert_eq!(lines[8], "    #0 0xffffffff80001234");
        assert_eq!(lines[9], "    #1 0xffffffff80005678");
        assert_eq!(lines[10], "");
        assert!(s.ends_with("\r\n"));
    }

    #[test]
    fn report_without_error_code_or_cr2() {
        let frame = ExceptionFrame {
            vector: 3,
            cs: 8,
            ..ExceptionFrame::default()
        };
        let mut s = String::new();
        write_report(&mut s, &frame, None, &BOUNDS, |_| None).unwrap();
        assert!(s.starts_with("EXCEPTION: vector 3 (#BP Breakpoint) (no error code)\r\n"));
        assert!(!s.contains("CR2"));
        let frame = ExceptionFrame {
            vector: 13,
            error_code: 0x28,
            ..frame
        };
        let mut s = String::new();
        write_report(&mut s, &frame, None, &BOUNDS, |_| None).unwrap();
        assert!(s.starts_with(
            "EXCEPTION: vector 13 (#GP General Protection) error code 0x0028 [GDT index 5 (selector 0x0028)]\r\n"
        ));
    }
}
