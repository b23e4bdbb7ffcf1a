//! The PS/2 keyboard as console input, beside the serial port.
//!
//! [`init`] (once, at boot, interrupts off) brings the i8042 controller and its keyboard up
//! (`drivers::ps2`, through `arch::i8042::I8042Ports`), finds where ISA IRQ 1 arrives from the
//! ACPI MADT (its interrupt source override, else GSI 1, edge, active high) and which I/O APIC
//! takes that GSI, and routes it to `arch::i8042::KEYBOARD_VECTOR` on the boot CPU's local
//! APIC. It logs one line: the layout and the route, or why there is no PS/2 keyboard. When
//! the controller works but the interrupt cannot be routed (no MADT, say), the keyboard is
//! polled instead.
//!
//! Decoding happens at read time, not in the interrupt handler: the handler only queues raw
//! scancodes (`arch::i8042::SCANCODES`, lock-free, no allocation); [`read_available`] runs them
//! through a `drivers::ps2::Keyboard` for the chosen layout and hands out the console's bytes
//! (UTF-8, `\r`, `0x7f`, control codes, VT100 sequences), keeping whatever does not fit for the
//! next read.
//!
//! [`read_available`] also empties the controller itself (`arch::i8042::poll`, interrupts
//! off, so it never runs beside the handler and the ring keeps one producer at a time). That is
//! the polled mode, and the safety net of the interrupt-driven one: IRQ 1 is edge-triggered, so
//! a byte whose interrupt was lost (one that arrived before the local APIC was enabled, say)
//! would hold the line high and silence the keyboard for good; reading it re-arms the edge.

use core::fmt;

use drivers::ps2::{self, Keyboard, Layout, Ps2Error, ScancodeSet};
use spin::Mutex;

use crate::acpi::{self, Polarity, Trigger};
use crate::arch::i8042::{self, I8042Ports, KEYBOARD_VECTOR};
use crate::arch::ioapic::{IoApic, IoApicError};
use crate::arch::{acpi_tables, lapic};

/// The keyboard's ISA interrupt.
const KEYBOARD_IRQ: u8 = 1;

/// Why there is no PS/2 keyboard, or why it is not interrupt-driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyboardError {
    /// The controller or the keyboard did not come up.
    Controller(Ps2Error),
    /// No ACPI MADT: the I/O APIC that takes IRQ 1 is unknown.
    NoMadt,
    /// IRQ 1 could not be routed through the I/O APIC.
    Route(IoApicError),
}

impl fmt::Display for KeyboardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Controller(e) => write!(f, "{e}"),
            Self::NoMadt => write!(
                f,
                "no ACPI MADT (APIC table): cannot find the I/O APIC for IRQ {KEYBOARD_IRQ}"
            ),
            Self::Route(e) => write!(f, "IRQ {KEYBOARD_IRQ}: {e}"),
        }
    }
}

/// Where the keyboard's interrupt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Route {
    gsi: u32,
    io_apic: u8,
    polarity: Polarity,
    trigger: Trigger,
    overridden: bool,
}

/// The decoder (with the bytes of the last key not yet handed out), once the keyboard is up.
static STATE: Mutex<Option<Keyboard>> = Mutex::new(None);

/// Brings up the PS/2 keyboard with `layout` (see the module documentation) and logs the
/// outcome in one line. Call once, at boot, with interrupts off; later calls do nothing.
pub fn init(layout: Layout) {
    if STATE.lock().is_some() {
        return;
    }
    let set = match ps2::init(
        &mut I8042Ports::new(),
        ps2::Config::default(),
        &ps2::Timeouts::default(),
    ) {
        Ok(info) => info.scancode_set,
        Err(e) => {
            let line = KeyboardError::Controller(e);
            if e == Ps2Error::NoController {
                log::info!("keyboard: {line}; no PS/2 keyboard");
            } else {
                log::warn!("keyboard: {line}; no PS/2 keyboard");
            }
            return;
        }
    };
    let set_name = match set {
        ScancodeSet::One => "scancode set 1 (translated)",
        ScancodeSet::Two => "scancode set 2",
    };
    *STATE.lock() = Some(Keyboard::new(layout, set));
    match x86_64::instructions::interrupts::without_interrupts(route_irq) {
        Ok(r) => log::info!(
            "keyboard: PS/2 on i8042, layout {layout}, {set_name}, IRQ {KEYBOARD_IRQ} → GSI {} → vector {KEYBOARD_VECTOR:#x} (I/O APIC {}, {}, {}{})",
            r.gsi,
            r.io_apic,
            match r.trigger {
                Trigger::Edge => "edge",
                Trigger::Level => "level",
            },
            match r.polarity {
                Polarity::ActiveHigh => "active high",
                Polarity::ActiveLow => "active low",
            },
            if r.overridden { ", MADT override" } else { "" },
        ),
        Err(e) => log::warn!("keyboard: PS/2 on i8042, layout {layout}, {set_name}, polled: {e}"),
    }
}

/// Routes IRQ 1 to the keyboard vector on this CPU, then empties the controller once (a byte
/// already waiting would keep the edge-triggered line high and no interrupt would come).
/// Interrupts must be off. On a routing error the entry is masked again.
fn route_irq() -> Result<Route, KeyboardError> {
    let madt = acpi_tables::find(b"APIC").ok_or(KeyboardError::NoMadt)?;
    let isa = acpi::isa_route(&madt, KEYBOARD_IRQ);
    let entry = acpi::io_apic_for(&madt, isa.gsi)
        .ok_or(KeyboardError::Route(IoApicError::NoIoApic { gsi: isa.gsi }))?;
    let mut io = IoApic::open(&entry).map_err(KeyboardError::Route)?;
    let routed = io.route(
        isa.gsi,
        KEYBOARD_VECTOR,
        lapic::this_cpu_id(),
        isa.polarity,
        isa.trigger,
    );
    if let Err(e) = routed {
        let _ = io.mask(isa.gsi);
        return Err(KeyboardError::Route(e));
    }
    i8042::poll();
    Ok(Route {
        gsi: isa.gsi,
        io_apic: io.id(),
        polarity: isa.polarity,
        trigger: isa.trigger,
        overridden: isa.overridden,
    })
}

/// Switches the PS/2 keyboard (if one is up) to `layout` from the next key on.
pub fn set_layout(layout: Layout) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(keyboard) = STATE.lock().as_mut() {
            keyboard.set_layout(layout);
        }
    });
}

/// Whether a PS/2 keyboard is up (interrupt-driven or polled).
pub fn present() -> bool {
    STATE.lock().is_some()
}

/// Copies the console bytes typed on the PS/2 keyboard since the last call into `buf`, without
/// blocking; returns how many (0 when nothing was typed, or there is no PS/2 keyboard). A key
/// whose bytes do not all fit is finished by the next call.
pub fn read_available(buf: &mut [u8]) -> usize {
    let mut guard = STATE.lock();
    let Some(keyboard) = guard.as_mut() else {
        return 0;
    };
    i8042::poll();
    keyboard.read(|| i8042::SCANCODES.pop(), buf)
}
