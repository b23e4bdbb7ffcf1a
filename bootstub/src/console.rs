//! Where the stub speaks: the firmware's text console (`ConOut`: the screen, and any serial port
//! the firmware mirrors it to) and, when limine.conf says `serial: yes` or for errors, COM1
//! directly — unless the firmware's console already reaches a serial port ([`init`]), so that
//! each line appears there once.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use bootproto::devpath::{self, DevicePathError};
use uefi::runtime::{self, VariableVendor};
use uefi::{cstr16, Status};

static SERIAL: AtomicBool = AtomicBool::new(false);
/// Set by [`init`] when `ConOut` includes a serial port: COM1 is then not written while the
/// firmware console exists.
static FIRMWARE_SERIAL: AtomicBool = AtomicBool::new(false);
/// Set once boot services are gone: the firmware console may no longer be used.
static FIRMWARE_GONE: AtomicBool = AtomicBool::new(false);
static SERIAL_READY: AtomicU8 = AtomicU8::new(0);

const COM1: u16 = 0x3f8;

fn outb(port: u16, value: u8) {
    // SAFETY: the stub only touches COM1's registers (0x3f8..0x3ff), which no firmware
    // driver owns while the stub runs (OVMF's own serial console is on the same UART and
    // accepts interleaved bytes); `out` has no memory effects.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`; reading the line-status register has no side effects.
    unsafe {
        core::arch::asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

fn serial_init() {
    if SERIAL_READY.swap(1, Ordering::Relaxed) == 1 {
        return;
    }
    outb(COM1 + 1, 0x00); // no interrupts
    outb(COM1 + 3, 0x80); // DLAB on
    outb(COM1, 0x01); // divisor 1: 115200 baud
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8N1, DLAB off
    outb(COM1 + 2, 0xc7); // FIFO on, cleared
    outb(COM1 + 4, 0x0b); // DTR, RTS, OUT2
}

struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        serial_init();
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

fn put(b: u8) {
    // Bounded wait for the transmit holding register: a missing UART must not hang the boot.
    for _ in 0..100_000 {
        if inb(COM1 + 5) & 0x20 != 0 {
            break;
        }
    }
    outb(COM1, b);
}

/// Why [`init`] could not tell whether the firmware console reaches a serial port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConOutError {
    /// The `ConOut` variable could not be read (absent, or a firmware error).
    Unreadable(Status),
    /// It is not a well-formed device-path list.
    Malformed(DevicePathError),
}

impl fmt::Display for ConOutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(status) => {
                write!(f, "the ConOut variable cannot be read ({status:?})")
            }
            Self::Malformed(e) => write!(f, "the ConOut variable is malformed: {e}"),
        }
    }
}

/// Reads the firmware's `ConOut` device paths: when one runs through a serial port (a UART or
/// a serial terminal node), the firmware already copies console text there, and the stub stops
/// writing COM1 itself while the firmware console exists.
///
/// # Errors
/// When that cannot be told; the stub then writes COM1 too (a line may appear twice on serial,
/// none is lost).
pub fn init() -> Result<(), ConOutError> {
    let (bytes, _) =
        runtime::get_variable_boxed(cstr16!("ConOut"), &VariableVendor::GLOBAL_VARIABLE)
            .map_err(|e| ConOutError::Unreadable(e.status()))?;
    let mirrored = devpath::reaches_serial(&bytes).map_err(ConOutError::Malformed)?;
    FIRMWARE_SERIAL.store(mirrored, Ordering::Relaxed);
    Ok(())
}

/// Honours limine.conf's `serial:` option for ordinary messages.
pub fn set_serial(enabled: bool) {
    SERIAL.store(enabled, Ordering::Relaxed);
}

/// From now on only COM1 is used (boot services have been exited).
pub fn firmware_gone() {
    FIRMWARE_GONE.store(true, Ordering::Relaxed);
}

/// Prints a message line on screen and (if enabled) serial.
pub fn say(args: fmt::Arguments<'_>) {
    emit(args, SERIAL.load(Ordering::Relaxed));
}

/// Prints an error line on screen and always on serial.
pub fn shout(args: fmt::Arguments<'_>) {
    emit(args, true);
}

fn emit(args: fmt::Arguments<'_>, serial: bool) {
    let firmware = !FIRMWARE_GONE.load(Ordering::Relaxed);
    if firmware {
        uefi::system::with_stdout(|out| {
            let _ = out.write_fmt(args);
            // The firmware's writer turns "\n" into "\r\n".
            let _ = out.write_str("\n");
        });
    }
    if serial && !(firmware && FIRMWARE_SERIAL.load(Ordering::Relaxed)) {
        let _ = Serial.write_fmt(args);
        let _ = Serial.write_str("\n");
    }
}

/// `say!("…", args)`: a line on screen and serial (when enabled).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::console::say(format_args!($($arg)*)) };
}

/// `shout!("…", args)`: an error line on screen and always on serial.
#[macro_export]
macro_rules! shout {
    ($($arg:tt)*) => { $crate::console::shout(format_args!($($arg)*)) };
}
