//! Reset and power-off (the REBOOT and POWEROFF calls).
//!
//! [`init`] reads the ACPI tables once at boot (RSDP from the boot loader, RSDT/XSDT, FADT,
//! DSDT) through the MMIO window, and keeps the FADT's PM1a control port, its reset register
//! and the `_S5_` sleep type. Assumptions, when the tables say nothing:
//! * power-off: `SLP_TYPa` = 0 when the DSDT's `_S5_` cannot be read (QEMU's `_S5_` is
//!   `Package { 0, 0, 0, 0 }` on both q35 and pc, and its PM1 emulation treats sleep type 0
//!   with `SLP_EN` — the well-known value 0x2000 — as soft-off); with no FADT at all, QEMU's
//!   PM1a control ports are tried: 0x604 (q35/ICH9) then 0xb004 (pc/PIIX4);
//! * reset: the FADT reset register if it is an I/O port (QEMU q35: 0xcf9 ← 0x06), else the
//!   8042 keyboard controller pulse (`out 0x64, 0xfe`), else a triple fault (an empty IDT and
//!   an interrupt).

use alloc::vec::Vec;

use spin::Mutex;
use x86_64::instructions::port::Port;

use crate::acpi::{self, Fadt, Space};
use crate::memory::{mmio, paging};

/// QEMU's `_S5_` SLP_TYP, used when the DSDT cannot be read.
const DEFAULT_SLP_TYP: u8 = 0;
/// `SLP_EN` in PM1 control.
const SLP_EN: u16 = 1 << 13;
/// QEMU's PM1a control ports (q35, pc), tried when there is no FADT.
const QEMU_PM1A_CNT: [u16; 2] = [0x604, 0xb004];

/// What [`init`] found.
#[derive(Clone, Copy, Debug, Default)]
struct Power {
    fadt: Option<Fadt>,
    slp_typ: Option<u8>,
}

static POWER: Mutex<Power> = Mutex::new(Power {
    fadt: None,
    slp_typ: None,
});

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

/// A whole SDT at `phys` (header first, then its `length`).
fn table(phys: u64) -> Option<Vec<u8>> {
    let header = phys_bytes(phys, 36)?;
    let len = acpi::sdt_length(&header)? as usize;
    if len < 36 {
        return None;
    }
    phys_bytes(phys, len)
}

/// Reads the ACPI tables from the RSDP at `rsdp` (physical, or an HHDM address) and logs
/// what reset and power-off will use.
pub fn init(rsdp: Option<u64>) {
    let found = rsdp.and_then(|addr| {
        let phys = match paging::hhdm_offset() {
            Some(h) if addr >= h => addr - h,
            _ => addr,
        };
        let r = acpi::parse_rsdp(&phys_bytes(phys, 36)?)?;
        let root = table(r.root)?;
        let fadt = acpi::root_entries(&root, r.xsdt)
            .filter(|p| *p != 0)
            .filter_map(|p| {
                let header = phys_bytes(p, 36)?;
                (header.get(..4) == Some(b"FACP")).then_some(p)
            })
            .next()
            .and_then(table)
            .and_then(|t| acpi::parse_fadt(&t))?;
        let slp = fadt.dsdt.and_then(table).and_then(|d| acpi::s5_slp_typ(&d));
        Some((fadt, slp))
    });
    let mut p = POWER.lock();
    match found {
        Some((fadt, slp)) => {
            log::info!(
                "ACPI: PM1a control {}, S5 sleep type {}, reset register {}",
                fadt.pm1a_cnt.map_or_else(
                    || alloc::string::String::from("none"),
                    |p| alloc::format!("{p:#x}")
                ),
                slp.map_or_else(
                    || alloc::format!("{DEFAULT_SLP_TYP} (assumed)"),
                    |s| alloc::format!("{s}")
                ),
                fadt.reset.map_or_else(
                    || alloc::string::String::from("none"),
                    |(s, a, v)| alloc::format!("{s:?} {a:#x} <- {v:#x}")
                ),
            );
            p.fadt = Some(fadt);
            p.slp_typ = slp;
        }
        None => log::warn!("ACPI: no usable FADT; power-off will try QEMU's PM1a ports"),
    }
}

/// Logs `poweroff`, then enters ACPI S5. Returns only if the machine is still on (after an
/// error line).
pub fn poweroff() {
    log::info!("poweroff");
    let p = *POWER.lock();
    let value = (u16::from(p.slp_typ.unwrap_or(DEFAULT_SLP_TYP)) << 10) | SLP_EN;
    let ports: Vec<u16> = match p.fadt.and_then(|f| f.pm1a_cnt) {
        Some(port) => alloc::vec![port],
        None => QEMU_PM1A_CNT.to_vec(),
    };
    for port in ports {
        // SAFETY: (1) `port` is the FADT's PM1a control block (or QEMU's, when there is no
        // FADT); (2) writing SLP_TYP|SLP_EN there requests S5, which is what the caller (who
        // holds `console`) asked for; no memory is touched.
        unsafe { Port::<u16>::new(port).write(value) };
        spin_ms(50);
    }
    log::error!("poweroff: the machine did not switch off (ACPI S5 through PM1a control)");
}

/// Logs `reboot`, then resets the machine. Returns only if every method failed (after an
/// error line) — in practice the triple fault does not return.
pub fn reboot() {
    log::info!("reboot");
    let p = *POWER.lock();
    if let Some((Space::Io, addr, value)) = p.fadt.and_then(|f| f.reset) {
        if let Ok(port) = u16::try_from(addr) {
            // SAFETY: (1) the FADT names this I/O port as the reset register and `value` as
            // what to write; (2) resetting is what the caller asked for; no memory is touched.
            unsafe { Port::<u8>::new(port).write(value) };
            spin_ms(50);
        }
    }
    // SAFETY: (1) 0x64 is the 8042 controller's command port on every PC; command 0xfe pulses
    // the CPU reset line; (2) resetting is what the caller asked for; no memory is touched.
    unsafe { Port::<u8>::new(0x64).write(0xfe) };
    spin_ms(50);
    triple_fault();
    log::error!("reboot: the machine did not reset");
}

/// Loads an empty IDT and raises an interrupt: the CPU cannot deliver it and resets.
fn triple_fault() {
    let empty = x86_64::structures::DescriptorTablePointer {
        limit: 0,
        base: x86_64::VirtAddr::new(0),
    };
    // SAFETY: (1) the IDT is replaced only to reset the machine: the `int3` right after cannot
    // be delivered (#GP, then #DF, then a triple fault resets the CPU); (2) nothing runs after
    // it, so no code relies on the old IDT again.
    unsafe {
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3", options(nomem, nostack));
    }
}

/// Busy-waits about `ms` milliseconds (interrupts stay as they are).
fn spin_ms(ms: u64) {
    let until = crate::time::uptime_us().saturating_add(ms * 1000);
    while crate::time::uptime_us() < until {
        core::hint::spin_loop();
    }
}
