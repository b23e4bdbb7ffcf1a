//! The IDT: one assembly entry stub per CPU exception (0-31), all funnelling into
//! [`exceptions::exception_dispatch`] with an [`ExceptionFrame`] on the stack.
//!
//! The stubs are plain `global_asm!` because the `x86-interrupt` ABI is nightly-only.

use spin::Once;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;
use x86_64::VirtAddr;

use super::exceptions::{self, ExceptionFrame};
use super::gdt;
use crate::fault_report::{self, vector};

// The common tail of every stub. On entry the stack holds (from the top) the vector, the error
// code (real or dummy) and the CPU's 5-quadword frame; the CPU aligned rsp to 16 before pushing
// that frame, so after 7 quadwords here plus 15 registers (22 in all, an even number) rsp is
// 16-byte aligned again, as the System V ABI wants at a `call`. `cld` because the ABI also wants
// the direction flag clear and the interrupted code may have set it; AC cleared because with it
// set ring 0 would be exempt from SMAP (`clear_ac!`; `iretq` restores the interrupted flags).
core::arch::global_asm!(
    ".pushsection .text.exception_stubs, \"ax\"",
    ".global pandagen_exception_common",
    "pandagen_exception_common:",
    crate::push_all_gprs!(),
    crate::clear_ac!(),
    "    mov rdi, rsp",
    "    cld",
    "    call {dispatch}",
    // Only #BP gets here: restore everything, drop vector and error code, return.
    crate::pop_all_gprs!(),
    "    add rsp, 16",
    "    iretq",
    ".popsection",
    dispatch = sym exceptions::exception_dispatch,
);

// The layout the stubs build must be the one `ExceptionFrame` describes.
const _: () = assert!(core::mem::size_of::<ExceptionFrame>() == fault_report::FRAME_SIZE);
const _: () = assert!(core::mem::offset_of!(ExceptionFrame, vector) == 15 * 8);
const _: () = assert!(core::mem::offset_of!(ExceptionFrame, rip) == 17 * 8);

/// Emits one entry stub per `vector kind name` triple (`kind` is `err` if the CPU pushes an error
/// code, `noerr` if the stub must push a dummy 0 to keep the frame uniform), declares them to
/// Rust, and collects them in `STUBS`, indexed by vector.
macro_rules! exception_stubs {
    ($($vector:literal $kind:ident $name:ident),* $(,)?) => {
        $(exception_stubs!(@stub $vector $kind $name);)*
        unsafe extern "C" {
            $(fn $name();)*
        }
        const STUBS: [unsafe extern "C" fn(); 32] = [$($name),*];
    };
    (@stub $vector:literal noerr $name:ident) => {
        exception_stubs!(@emit $vector $name "push 0");
    };
    (@stub $vector:literal err $name:ident) => {
        exception_stubs!(@emit $vector $name "");
    };
    (@emit $vector:literal $name:ident $dummy:literal) => {
        core::arch::global_asm!(
            ".pushsection .text.exception_stubs, \"ax\"",
            concat!(".global ", stringify!($name)),
            concat!(stringify!($name), ":"),
            $dummy,
            concat!("push ", stringify!($vector)),
            "jmp pandagen_exception_common",
            ".popsection",
        );
    };
}

exception_stubs! {
    0 noerr pandagen_exception_stub_0,
    1 noerr pandagen_exception_stub_1,
    2 noerr pandagen_exception_stub_2,
    3 noerr pandagen_exception_stub_3,
    4 noerr pandagen_exception_stub_4,
    5 noerr pandagen_exception_stub_5,
    6 noerr pandagen_exception_stub_6,
    7 noerr pandagen_exception_stub_7,
    8 err pandagen_exception_stub_8,
    9 noerr pandagen_exception_stub_9,
    10 err pandagen_exception_stub_10,
    11 err pandagen_exception_stub_11,
    12 err pandagen_exception_stub_12,
    13 err pandagen_exception_stub_13,
    14 err pandagen_exception_stub_14,
    15 noerr pandagen_exception_stub_15,
    16 noerr pandagen_exception_stub_16,
    17 err pandagen_exception_stub_17,
    18 noerr pandagen_exception_stub_18,
    19 noerr pandagen_exception_stub_19,
    20 noerr pandagen_exception_stub_20,
    21 err pandagen_exception_stub_21,
    22 noerr pandagen_exception_stub_22,
    23 noerr pandagen_exception_stub_23,
    24 noerr pandagen_exception_stub_24,
    25 noerr pandagen_exception_stub_25,
    26 noerr pandagen_exception_stub_26,
    27 noerr pandagen_exception_stub_27,
    28 noerr pandagen_exception_stub_28,
    29 err pandagen_exception_stub_29,
    30 err pandagen_exception_stub_30,
    31 noerr pandagen_exception_stub_31,
}

/// One 16-byte IDT gate (Intel SDM vol. 3, figure 6-8).
#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    /// Bits 0-2: IST slot (1-7; 0 = stay on the current stack).
    ist: u8,
    /// Present, DPL, gate type.
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

/// Present, DPL 0, 64-bit interrupt gate (interrupts stay off in the handler).
const INTERRUPT_GATE: u8 = 0x8e;

impl Gate {
    const MISSING: Gate = Gate {
        offset_low: 0,
        selector: 0,
        ist: 0,
        type_attr: 0,
        offset_mid: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// A gate to `handler` in the kernel code segment; `ist_slot` is the 0-based TSS slot.
    fn new(handler: u64, ist_slot: Option<usize>) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector: gdt::KERNEL_CODE,
            ist: ist_slot.map_or(0, |slot| slot as u8 + 1),
            type_attr: INTERRUPT_GATE,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

/// All 256 vectors, so later interrupt sources only add gates; absent gates raise #GP (→ #DF
/// until the exception handlers are in).
#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: Once<Idt> = Once::new();

/// The IST slot each exception runs on: #DF always gets a fresh stack (it is usually a kernel
/// stack overflow), NMI and #MC can arrive at any instruction, including on a broken stack.
fn ist_for(vec: u64) -> Option<usize> {
    match vec {
        vector::DOUBLE_FAULT => Some(gdt::DOUBLE_FAULT_IST),
        vector::NMI | vector::MACHINE_CHECK => Some(gdt::NMI_MCE_IST),
        _ => None,
    }
}

fn build() -> Idt {
    let mut idt = Idt([Gate::MISSING; 256]);
    for (vec, stub) in STUBS.iter().enumerate() {
        idt.0[vec] = Gate::new(*stub as usize as u64, ist_for(vec as u64));
    }
    // Device interrupts: the local APIC timer and the spurious vector (gates exist before the
    // APIC is programmed, so nothing ever arrives at a missing gate).
    for (vec, stub) in super::lapic::gates() {
        idt.0[usize::from(vec)] = Gate::new(stub, None);
    }
    // The PS/2 keyboard (IRQ 1 through the I/O APIC, once `devices::ps2` routes it).
    for (vec, stub) in super::i8042::gates() {
        idt.0[usize::from(vec)] = Gate::new(stub, None);
    }
    idt
}

/// Builds the IDT and loads it. Needs [`gdt::init`] first (gates name the kernel code segment
/// and IST slots of the kernel's TSS).
pub fn init() {
    let idt: &'static Idt = IDT.call_once(build);
    let pointer = DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: (1) `idt` is 'static and never modified after `call_once`, so the CPU may read it
    // at any time; (2) every present gate points at an entry stub above, in the kernel code
    // segment of the GDT that `gdt::init` loaded, with IST slots that TSS has filled in.
    unsafe { lidt(&pointer) };
}
