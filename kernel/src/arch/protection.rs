//! The CPU protections the kernel turns on when the CPU has them (CR4):
//! - SMEP: ring 0 never executes a user page;
//! - SMAP: ring 0 never reads or writes a user page;
//! - UMIP: ring 3 cannot read descriptor-table registers (`sgdt`, `sidt`, `sldt`, `smsw`, `str`).
//!
//! The kernel never touches user memory through a user address: user copies
//! (`memory::user::AddressSpace::read`/`write`) walk the process's page tables and copy through
//! the HHDM, whose pages are supervisor pages. So SMAP needs no window: nothing ever runs
//! `stac`, and RFLAGS.AC is never set in ring 0 on purpose. A program can set AC itself
//! (`popf`); every way into the kernel clears it, so a program cannot switch SMAP off for the
//! kernel code that serves it: `syscall` through SFMASK (`syscall.rs`), interrupts and
//! exceptions in their entry stubs ([`crate::clear_ac`]), and `iretq` restores the program's own
//! flags on the way back. Should the kernel ever dereference a user address, that access must be
//! bracketed by `stac`/`clac` (which exist only on CPUs with SMAP, see [`Protections::smap`]).

use core::fmt;

use x86_64::registers::control::{Cr4, Cr4Flags};

use crate::memory::user::AddressSpace;

/// Which protections are on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Protections {
    pub smep: bool,
    pub smap: bool,
    pub umip: bool,
}

impl fmt::Display for Protections {
    /// `SMEP on, SMAP off, UMIP on`: the names and words of [`bootlog::msg::PROTECTIONS`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use bootlog::msg::{PROTECTIONS, PROTECTION_OFF, PROTECTION_ON};
        for (i, (name, on)) in PROTECTIONS
            .iter()
            .zip([self.smep, self.smap, self.umip])
            .enumerate()
        {
            let sep = if i == 0 { "" } else { ", " };
            let state = if on { PROTECTION_ON } else { PROTECTION_OFF };
            write!(f, "{sep}{name}{state}")?;
        }
        Ok(())
    }
}

/// CPUID leaf 7 (structured extended features), sub-leaf 0: EBX bit 7 SMEP, bit 20 SMAP;
/// ECX bit 2 UMIP.
const LEAF_EXTENDED_FEATURES: u32 = 7;
const EBX_SMEP: u32 = 1 << 7;
const EBX_SMAP: u32 = 1 << 20;
const ECX_UMIP: u32 = 1 << 2;

/// What the CPU supports.
fn supported() -> Protections {
    let max_leaf = core::arch::x86_64::__cpuid(0).eax;
    if max_leaf < LEAF_EXTENDED_FEATURES {
        return Protections::default();
    }
    let leaf = core::arch::x86_64::__cpuid_count(LEAF_EXTENDED_FEATURES, 0);
    Protections {
        smep: leaf.ebx & EBX_SMEP != 0,
        smap: leaf.ebx & EBX_SMAP != 0,
        umip: leaf.ecx & ECX_UMIP != 0,
    }
}

/// Turns on every protection the CPU has and returns which are on. Call once from
/// `arch::init`, before any program runs.
pub fn init() -> Protections {
    let has = supported();
    let mut flags = Cr4Flags::empty();
    flags.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, has.smep);
    flags.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, has.smap);
    flags.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, has.umip);
    // SAFETY: (1) each bit is set only if CPUID reports the feature, so the write cannot #GP;
    // (2) SMEP: the kernel runs only from its own (supervisor) text, never from a user page;
    // (3) SMAP: the kernel reaches user memory only through the HHDM (see the module doc), and
    // every entry path clears RFLAGS.AC, so no legitimate access is to a user page; (4) UMIP
    // only affects ring 3, where no component uses the instructions it restricts (one that
    // does gets #GP and ends like any other faulting program).
    unsafe { Cr4::update(|f| f.insert(flags)) };
    active()
}

/// Which protections CR4 has on now.
pub fn active() -> Protections {
    let cr4 = Cr4::read();
    Protections {
        smep: cr4.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION),
        smap: cr4.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
        umip: cr4.contains(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION),
    }
}

/// Why [`read_user_page_directly`] did not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAUserPage {
    pub addr: u64,
}

impl fmt::Display for NotAUserPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x} is not a readable user page of the address space",
            self.addr
        )
    }
}

/// The bug SMAP exists to catch, on purpose (`test=smap`): makes `space` the active address
/// space and reads the quadword at its user address `addr` from ring 0, outside any user copy.
/// With SMAP on this is a page fault (the exception report names SMAP and the kernel stops);
/// without it the read succeeds and the previous address space comes back.
pub fn read_user_page_directly(space: &AddressSpace, addr: u64) -> Result<u64, NotAUserPage> {
    let mapped = space
        .translate(addr)
        .is_some_and(|m| m.user && addr.is_multiple_of(8));
    if !mapped {
        return Err(NotAUserPage { addr });
    }
    let previous = super::context::current_root();
    // SAFETY: `space` was made by `AddressSpace::new`, whose upper half is the kernel's, entry
    // by entry, so the code, stack and data in use stay mapped (`load_root`'s condition 1).
    unsafe { super::context::load_root(space.root()) };
    // SAFETY: (1) `addr` is 8-aligned and mapped present in the now active tables (checked
    // above), so only a protection check can fault, and the page-fault handler reports and
    // stops instead of returning here; (2) the page is a frame from the allocator that the
    // address space owns, RAM, so the read has no side effects; (3) an integer read cannot
    // produce an invalid value.
    let value = unsafe { core::ptr::read_volatile(addr as *const u64) };
    // SAFETY: `previous` was the active root a moment ago: the kernel's or a process's, both
    // of which map the kernel's upper half.
    unsafe { super::context::load_root(previous) };
    Ok(value)
}
