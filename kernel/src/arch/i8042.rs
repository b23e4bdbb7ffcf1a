//! The i8042 PS/2 controller's two ports and the keyboard interrupt.
//!
//! [`I8042Ports`] is port I/O limited to `0x60`/`0x64` (with the uptime clock), for the
//! `drivers::ps2` bring-up. Once the controller is up and IRQ 1 is routed to
//! [`KEYBOARD_VECTOR`] (`arch::ioapic`), each interrupt runs [`keyboard_interrupt`]: it moves
//! every byte waiting in the controller's output buffer (at most [`DRAIN_LIMIT`]) into
//! [`SCANCODES`], a lock-free ring of [`RING_SIZE`] raw scancode bytes, and signals EOI to the
//! local APIC. Nothing is decoded or allocated in the handler: `devices::ps2` decodes when the
//! console reads.

use drivers::hal::PortIo;
use drivers::ps2::controller::command;
use drivers::ps2::{self, Ps2Hal, ScancodeRing, DATA_PORT, STATUS_PORT};
use x86_64::instructions::port::Port;

use super::lapic;

/// The keyboard's interrupt vector (the one after the local APIC timer's).
pub const KEYBOARD_VECTOR: u8 = 0x21;
/// Scancode bytes the ring holds: a key press and release are 2-4 bytes in set 1, so this
/// is 64 or more keystrokes typed while nobody reads.
pub const RING_SIZE: usize = 256;
/// At most this many bytes are read per interrupt (the controller buffers one byte; this
/// only bounds a controller whose status register misbehaves).
pub const DRAIN_LIMIT: usize = 16;

/// Raw scancodes from the keyboard, oldest first. Filled by the interrupt handler and by
/// [`poll`] (interrupts off) — never both at once, so the ring has one producer at a time
/// (single CPU). `devices::ps2` (under its own lock) is the only consumer.
pub static SCANCODES: ScancodeRing<RING_SIZE> = ScancodeRing::new();

/// The controller commands [`I8042Ports`] passes on: the ones `drivers::ps2` uses. Others
/// (the CPU-reset pulse `0xFE`, "write output port" `0xD1` with its A20 and reset lines, …)
/// are refused, which is what makes [`I8042Ports::new`] safe.
const ALLOWED_COMMANDS: [u8; 7] = [
    command::READ_CONFIG,
    command::WRITE_CONFIG,
    command::DISABLE_PORT2,
    command::SELF_TEST,
    command::TEST_PORT1,
    command::DISABLE_PORT1,
    command::ENABLE_PORT1,
];

/// Port I/O on the i8042's data and status ports only, and only the controller commands in
/// [`ALLOWED_COMMANDS`]. Anything else is a driver bug: reads answer `0xff` ("nothing there")
/// and writes are dropped, after a log line.
#[derive(Debug)]
pub struct I8042Ports {
    _private: (),
}

impl I8042Ports {
    /// A handle for the i8042's ports. Safe: the ports belong to the keyboard controller on
    /// every PC (reading them on a machine without one answers `0xff`); the commands that pass
    /// only configure, test and enable the controller and its ports, and bytes written to the
    /// data port go to the keyboard or are the configuration byte; the kernel has no other user
    /// of the ports but the keyboard interrupt (which reads only) and the reset path
    /// (`power::reboot`, which ends everything). The caller routes the keyboard interrupt only
    /// after it has finished configuring the controller through this handle.
    pub fn new() -> Self {
        Self { _private: () }
    }

    fn allowed(port: u16) -> bool {
        port == DATA_PORT || port == STATUS_PORT
    }

    fn allowed_write(port: u16, value: u8) -> bool {
        port == DATA_PORT || (port == STATUS_PORT && ALLOWED_COMMANDS.contains(&value))
    }
}

impl Default for I8042Ports {
    fn default() -> Self {
        Self::new()
    }
}

impl PortIo for I8042Ports {
    fn read8(&mut self, port: u16) -> u8 {
        if !Self::allowed(port) {
            log::error!("i8042: refused read of port {port:#x}");
            return 0xff;
        }
        // SAFETY: `port` is the i8042's data or status port (checked above); an `in` touches
        // no memory, and its only effect (taking a byte from the output buffer) is the one the
        // driver asks for.
        unsafe { Port::<u8>::new(port).read() }
    }

    fn read16(&mut self, port: u16) -> u16 {
        log::error!("i8042: refused 16-bit read of port {port:#x}");
        0xffff
    }

    fn read32(&mut self, port: u16) -> u32 {
        log::error!("i8042: refused 32-bit read of port {port:#x}");
        u32::MAX
    }

    fn write8(&mut self, port: u16, value: u8) {
        if !Self::allowed_write(port, value) {
            log::error!("i8042: refused write of {value:#x} to port {port:#x}");
            return;
        }
        // SAFETY: `port` is the i8042's data port or its command port with a command from
        // `ALLOWED_COMMANDS` (checked above): configuration, tests, port enable/disable, never
        // the output-port or reset commands; data bytes go to the keyboard or are the
        // configuration byte. An `out` touches no memory.
        unsafe { Port::<u8>::new(port).write(value) }
    }

    fn write16(&mut self, port: u16, value: u16) {
        log::error!("i8042: refused 16-bit write of {value:#x} to port {port:#x}");
    }

    fn write32(&mut self, port: u16, value: u32) {
        log::error!("i8042: refused 32-bit write of {value:#x} to port {port:#x}");
    }
}

impl Ps2Hal for I8042Ports {
    fn now_us(&mut self) -> u64 {
        crate::time::uptime_us()
    }
}

/// Moves the bytes waiting in the controller into [`SCANCODES`], with interrupts off (so never
/// beside the handler: the ring keeps one producer at a time). For the bring-up right after
/// routing IRQ 1 and for each console read: a byte already waiting holds the edge-triggered
/// line high, and no interrupt would ever come for the next one. Returns how many bytes moved.
pub fn poll() -> usize {
    x86_64::instructions::interrupts::without_interrupts(drain)
}

/// What the interrupt handler does (interrupts are off in it).
fn drain() -> usize {
    ps2::controller::drain(&mut I8042Ports::new(), &SCANCODES, DRAIN_LIMIT)
}

// The keyboard stub saves every general-purpose register, calls `keyboard_interrupt`, restores
// them and returns; the stack arithmetic, `cld` and AC handling are the timer stub's (see
// `lapic`).
core::arch::global_asm!(
    ".pushsection .text.pandagen_interrupts, \"ax\"",
    ".global pandagen_keyboard_entry",
    "pandagen_keyboard_entry:",
    crate::push_all_gprs!(),
    crate::clear_ac!(),
    "    mov rdi, rsp",
    "    cld",
    "    call {handler}",
    crate::pop_all_gprs!(),
    "    iretq",
    ".popsection",
    handler = sym keyboard_interrupt,
);

unsafe extern "C" {
    fn pandagen_keyboard_entry();
}

/// The entry stub for the IDT: (vector, address).
pub fn gates() -> [(u8, u64); 1] {
    [(KEYBOARD_VECTOR, pandagen_keyboard_entry as *const () as u64)]
}

/// IRQ 1: scancodes into the ring, then EOI. Runs with interrupts off (interrupt gate); takes
/// no lock and allocates nothing.
extern "C" fn keyboard_interrupt(_frame: &lapic::InterruptFrame) {
    drain();
    lapic::eoi();
}
