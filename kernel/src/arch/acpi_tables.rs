//! Reading ACPI tables out of physical memory: the RSDP the boot loader found, the root table
//! (RSDT or XSDT) it points at, and any table the root lists, by signature. The parsing itself
//! is `crate::acpi` (pure, host-tested); this module only copies bytes. [`init`] records the
//! RSDP once at boot; [`find`] then answers a whole table (header and body) as a vector.

use alloc::vec::Vec;

use spin::Once;

use crate::acpi;
use crate::memory::{mmio, paging};

/// The RSDP's physical address, from the boot loader (`None`: it gave none).
static RSDP: Once<Option<u64>> = Once::new();

/// Records the RSDP's address (physical, or an HHDM address as Limine answers it). Once; later
/// calls change nothing.
pub fn init(rsdp: Option<u64>) {
    RSDP.call_once(|| {
        rsdp.map(|addr| match paging::hhdm_offset() {
            Some(h) if addr >= h => addr - h,
            _ => addr,
        })
    });
}

/// The first table with `signature` the root table lists, whole; `None` if there is no RSDP,
/// no such table, or it cannot be read.
pub fn find(signature: &[u8; 4]) -> Option<Vec<u8>> {
    let rsdp = (*RSDP.get()?)?;
    let r = acpi::parse_rsdp(&phys_bytes(rsdp, 36)?)?;
    let root = table(r.root)?;
    let at = acpi::root_entries(&root, r.xsdt)
        .filter(|p| *p != 0)
        .find(|p| phys_bytes(*p, 4).is_some_and(|h| h == signature))?;
    table(at)
}

/// A whole SDT at `phys` (header first, then its `length`).
pub fn table(phys: u64) -> Option<Vec<u8>> {
    let header = phys_bytes(phys, 36)?;
    let len = acpi::sdt_length(&header)? as usize;
    if len < 36 {
        return None;
    }
    phys_bytes(phys, len)
}

/// Copies `len` bytes of physical memory (ACPI tables): through the HHDM when it maps them,
/// else through the MMIO window.
fn phys_bytes(phys: u64, len: usize) -> Option<Vec<u8>> {
    if len == 0 || len > 1 << 20 {
        return None;
    }
    let last = phys.checked_add(len as u64 - 1)?;
    let virt = match paging::hhdm_offset() {
        Some(h)
            if paging::translate(h.checked_add(phys)?).is_some()
                && paging::translate(h.checked_add(last)?).is_some() =>
        {
            h + phys
        }
        _ => mmio::map(phys, len as u64).ok()?,
    };
    let mut out = alloc::vec![0u8; len];
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: (1) `[virt, virt + len)` is mapped readable: both ends translate through the
        // HHDM (which maps whole ranges) or `mmio::map` just mapped the whole range; (2) a
        // volatile byte read of firmware tables has no side effects and any value is valid.
        *b = unsafe { core::ptr::read_volatile((virt + i as u64) as *const u8) };
    }
    Some(out)
}
