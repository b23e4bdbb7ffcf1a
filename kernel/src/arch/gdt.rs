//! The kernel's own GDT and TSS: flat 64-bit segments in `sysret` order, and separate stacks
//! (IST) for the exceptions that can strike on a broken stack.

use core::cell::UnsafeCell;

use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, FS, GS, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// Selectors of the kernel's GDT. The order is the one `syscall`/`sysret` require: kernel code,
/// kernel data (= kernel code + 8), then user data and user code (= user data + 8).
pub const KERNEL_CODE: u16 = 0x08;
pub const KERNEL_DATA: u16 = 0x10;
pub const USER_DATA: u16 = 0x18 | 3;
pub const USER_CODE: u16 = 0x20 | 3;
pub const TSS: u16 = 0x28;

/// TSS interrupt-stack-table slots (0-based, as in `TaskStateSegment::interrupt_stack_table`;
/// an IDT gate names slot `n` as IST `n + 1`).
pub const DOUBLE_FAULT_IST: usize = 0;
pub const NMI_MCE_IST: usize = 1;

const IST_STACK_SIZE: usize = 16 * 1024;

/// A stack for the CPU to switch to. It lives in `.bss` (writable) because it is a `static mut`;
/// Rust code never touches it, only the CPU through the TSS.
#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut NMI_MCE_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

/// The TSS. The CPU reads it (RSP0 on every interrupt from ring 3, the IST pointers) and the
/// scheduler changes RSP0 at every task switch ([`set_kernel_stack`]), hence a cell.
struct TssCell(UnsafeCell<TaskStateSegment>);

// SAFETY: the TSS is written only by `init` (once, before it is loaded) and by
// `set_kernel_stack`, which runs on the boot CPU with interrupts disabled; no reference to the
// contents is ever handed out.
unsafe impl Sync for TssCell {}

static TSS_CELL: TssCell = TssCell(UnsafeCell::new(TaskStateSegment::new()));
static GDT: Once<GlobalDescriptorTable> = Once::new();

/// The (16-byte aligned) top of an IST stack; stacks grow down.
fn top_of(stack: *const IstStack) -> VirtAddr {
    VirtAddr::new(stack as u64 + IST_STACK_SIZE as u64)
}

/// The IST stacks' address ranges (for the backtrace's kernel-stack bounds).
pub fn ist_stacks() -> [core::ops::Range<u64>; 2] {
    [&raw const DOUBLE_FAULT_STACK, &raw const NMI_MCE_STACK]
        .map(|stack| stack as u64..top_of(stack).as_u64())
}

fn build_tss() -> TaskStateSegment {
    let mut tss = TaskStateSegment::new();
    tss.interrupt_stack_table[DOUBLE_FAULT_IST] = top_of(&raw const DOUBLE_FAULT_STACK);
    tss.interrupt_stack_table[NMI_MCE_IST] = top_of(&raw const NMI_MCE_STACK);
    tss
}

fn build_gdt(tss: *const TaskStateSegment) -> GlobalDescriptorTable {
    let mut gdt = GlobalDescriptorTable::new();
    let selectors = [
        gdt.append(Descriptor::kernel_code_segment()),
        gdt.append(Descriptor::kernel_data_segment()),
        gdt.append(Descriptor::user_data_segment()),
        gdt.append(Descriptor::user_code_segment()),
        // SAFETY: `tss` points at the 'static TSS_CELL, valid for as long as the GDT is used.
        gdt.append(unsafe { Descriptor::tss_segment_unchecked(tss) }),
    ];
    // The constants above are what the rest of the kernel (and the IDT) use; keep them honest.
    let expected = [KERNEL_CODE, KERNEL_DATA, USER_DATA, USER_CODE, TSS];
    for (got, want) in selectors.iter().zip(expected) {
        assert_eq!(
            got.0, want,
            "GDT layout differs from its selector constants"
        );
    }
    gdt
}

/// Loads the kernel's GDT, reloads every segment register and loads the TSS. Call once, on the
/// boot CPU, with interrupts disabled; later calls do nothing.
pub fn init() {
    if GDT.is_completed() {
        return;
    }
    let tss = TSS_CELL.0.get();
    // SAFETY: the GDT (and so the TSS descriptor) is not loaded yet, so neither the CPU nor
    // any other code reads the TSS while it is written; `is_completed` above makes this run
    // once.
    unsafe { tss.write(build_tss()) };
    let gdt: &'static GlobalDescriptorTable = GDT.call_once(|| build_gdt(tss));
    gdt.load();
    // SAFETY: (1) the GDT just loaded is 'static and holds a 64-bit kernel code segment at
    // KERNEL_CODE and a data segment at KERNEL_DATA, so the far return in `CS::set_reg` and the
    // data-segment loads reference valid descriptors; (2) FS and GS get the null selector, which
    // is allowed in 64-bit mode, and nothing in the kernel uses them yet; (3) TSS points at
    // an available 64-bit TSS descriptor whose TSS is 'static, and `ltr` runs only once because
    // of the `is_completed` check above (a second `ltr` on the now-busy descriptor would #GP).
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CODE));
        SS::set_reg(SegmentSelector(KERNEL_DATA));
        DS::set_reg(SegmentSelector(KERNEL_DATA));
        ES::set_reg(SegmentSelector(KERNEL_DATA));
        FS::set_reg(SegmentSelector::NULL);
        GS::set_reg(SegmentSelector::NULL);
        load_tss(SegmentSelector(TSS));
    }
}

/// Sets the stack the CPU switches to on an interrupt or exception from ring 3 (TSS.RSP0).
/// Call with interrupts disabled (the scheduler does, at every switch to a user task).
pub fn set_kernel_stack(top: u64) {
    let tss = TSS_CELL.0.get();
    // SAFETY: (1) `tss` points at the 'static TSS; (2) interrupts are off and only the boot
    // CPU runs kernel code, so no other writer exists, and the CPU reads RSP0 only when an
    // interrupt from ring 3 arrives, which cannot happen during this write; (3) the TSS is
    // packed, so the field may be unaligned: written with `write_unaligned` through a raw
    // pointer, never a reference.
    unsafe {
        core::ptr::addr_of_mut!((*tss).privilege_stack_table)
            .cast::<VirtAddr>()
            .write_unaligned(VirtAddr::new(top));
    }
}
