//! Reset and power-off (the REBOOT and POWEROFF calls).
//!
//! [`init`] records the boot loader's RSDP for [`super::acpi_tables`], reads the FADT and the
//! DSDT through it once at boot, and keeps the FADT's PM1a control port, its reset register
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

use super::acpi_tables;
use crate::acpi::{self, Fadt, Space};

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

/// Reads the ACPI tables from the RSDP at `rsdp` (physical, or an HHDM address) and logs
/// what reset and power-off will use.
pub fn init(rsdp: Option<u64>) {
    acpi_tables::init(rsdp);
    let found = acpi_tables::find(b"FACP")
        .and_then(|t| acpi::parse_fadt(&t))
        .map(|fadt| {
            let slp = fadt
                .dsdt
                .and_then(acpi_tables::table)
                .and_then(|d| acpi::s5_slp_typ(&d));
            (fadt, slp)
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
