//! The jump into the kernel, in the machine state Limine's PROTOCOL.md describes: Limine's GDT
//! layout loaded, 64-bit code/data segments, IF=0, DF=0, NX and WP on, the final page tables,
//! `rsp` on the boot stack with a return address of 0 pushed, all other GPRs zero.

/// Limine's GDT: null, 16-bit code/data, 32-bit code/data, 64-bit code/data.
pub const GDT: [u64; 7] = [
    0,
    0x0000_9a00_0000_ffff, // 16-bit code, base 0, limit 0xffff, readable
    0x0000_9200_0000_ffff, // 16-bit data, writable
    0x00cf_9a00_0000_ffff, // 32-bit code, base 0, limit 4 GiB, readable
    0x00cf_9200_0000_ffff, // 32-bit data, writable
    0x0020_9a00_0000_0000, // 64-bit code (L bit)
    0x0000_9200_0000_0000, // 64-bit data
];

/// Selectors of the 64-bit descriptors above.
pub const CODE64: u64 = 5 * 8;
pub const DATA64: u64 = 6 * 8;

// Stage 1 runs identity-mapped (firmware tables, then the temporary tables that also map this
// page); it turns on NXE and WP, switches to the temporary tables and jumps to stage 2 through
// the HHDM. Stage 2 runs in the higher half, where the final tables (no lower half) map it.
// Arguments (System V): rdi = temporary CR3, rsi = final CR3, rdx = stack top (HHDM),
// rcx = kernel entry, r8 = HHDM address of stage 2, r9 = HHDM address of the GDTR.
core::arch::global_asm!(
    ".section .text",
    ".balign 4096",
    ".global pandagen_handoff",
    "pandagen_handoff:",
    "    cli",
    "    cld",
    "    mov r10, rcx",
    "    mov r11, rdx",
    "    mov ecx, 0xC0000080",
    "    rdmsr",
    "    or eax, 0x800",
    "    wrmsr",
    "    mov rax, cr0",
    "    or rax, 0x10000",
    "    mov cr0, rax",
    "    mov cr3, rdi",
    "    jmp r8",
    ".global pandagen_handoff_stage2",
    "pandagen_handoff_stage2:",
    "    mov cr3, rsi",
    "    lgdt [r9]",
    "    mov rsp, r11",
    "    mov eax, {data}",
    "    mov ds, eax",
    "    mov es, eax",
    "    mov fs, eax",
    "    mov gs, eax",
    "    mov ss, eax",
    "    push {code}",
    "    lea rax, [rip + 2f]",
    "    push rax",
    "    retfq",
    "2:",
    "    push 0",
    "    push r10",
    "    xor eax, eax",
    "    xor ebx, ebx",
    "    xor ecx, ecx",
    "    xor edx, edx",
    "    xor esi, esi",
    "    xor edi, edi",
    "    xor ebp, ebp",
    "    xor r8d, r8d",
    "    xor r9d, r9d",
    "    xor r10d, r10d",
    "    xor r11d, r11d",
    "    xor r12d, r12d",
    "    xor r13d, r13d",
    "    xor r14d, r14d",
    "    xor r15d, r15d",
    "    ret",
    data = const DATA64,
    code = const CODE64,
);

unsafe extern "sysv64" {
    fn pandagen_handoff(
        temp_cr3: u64,
        final_cr3: u64,
        stack_top: u64,
        entry: u64,
        stage2: u64,
        gdtr: u64,
    ) -> !;
    static pandagen_handoff_stage2: u8;
}

/// Physical addresses of the pages holding stage 1 (to identity-map them for one jump).
pub fn stage1_pages() -> [u64; 2] {
    let start = pandagen_handoff as *const () as u64 & !0xfff;
    [start, start + 0x1000]
}

/// Physical address of stage 2 (its HHDM alias is where stage 1 jumps).
pub fn stage2_phys() -> u64 {
    core::ptr::addr_of!(pandagen_handoff_stage2) as u64
}

/// Everything the jump needs.
pub struct Handoff {
    pub temp_cr3: u64,
    pub final_cr3: u64,
    pub stack_top: u64,
    pub entry: u64,
    pub stage2_virt: u64,
    pub gdtr_virt: u64,
}

/// Masks the legacy PICs and jumps into the kernel. Never returns.
///
/// # Safety
/// Boot services must have been exited; `h` must describe page tables that map the kernel,
/// the stack, the GDT(R) and stage 2 through the HHDM, and temporary tables that additionally
/// identity-map [`stage1_pages`].
pub unsafe fn enter(h: &Handoff) -> ! {
    // SAFETY: ports 0x21/0xa1 are the 8259 PICs' mask registers; masking every line is what
    // the Limine protocol promises the kernel and has no memory effects.
    unsafe {
        core::arch::asm!("mov al, 0xff", "out 0x21, al", "out 0xa1, al", out("al") _, options(nomem, nostack));
    }
    // SAFETY: the caller guarantees the tables and addresses are consistent (see above);
    // `pandagen_handoff` follows the System V ABI declared here and never returns.
    unsafe {
        pandagen_handoff(
            h.temp_cr3,
            h.final_cr3,
            h.stack_top,
            h.entry,
            h.stage2_virt,
            h.gdtr_virt,
        )
    }
}
