//! COM1 through `uart_16550`: the kernel's log and report channel.

use core::fmt::{self, Write};
use spin::Mutex;
use uart_16550::SerialPort;

/// COM1's I/O base, where QEMU's `-serial` and most PC serial headers are.
const COM1: u16 = 0x3f8;

static PORT: Mutex<Option<SerialPort>> = Mutex::new(None);

/// Initialises COM1 (115200 8N1). Safe to call more than once.
pub fn init() {
    // SAFETY: 0x3f8 is COM1 on every PC-compatible machine; nothing else in the kernel
    // drives these ports, and the port is only used under the `PORT` lock.
    let mut port = unsafe { SerialPort::new(COM1) };
    port.init();
    *PORT.lock() = Some(port);
}

/// Writes formatted text to COM1 (no-op before [`init`]).
pub fn write_fmt(args: fmt::Arguments<'_>) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(port) = PORT.lock().as_mut() {
            let _ = port.write_fmt(args);
        }
    });
}

/// Writes even if the lock is held — for panics and CPU exceptions, which may have interrupted
/// a writer on this very CPU. Output may interleave; that is better than a silent deadlock.
pub fn write_fmt_emergency(args: fmt::Arguments<'_>) {
    if PORT.is_locked() {
        // SAFETY: single CPU, and the holder was interrupted by the fault that brought us here
        // and will never resume; forcing the lock open cannot race with a live writer.
        unsafe { PORT.force_unlock() };
    }
    if PORT.lock().is_none() {
        init();
    }
    write_fmt(args);
}

/// Writes bytes to COM1 as they are (no translation, no prefix): the CONSOLE_WRITE call.
pub fn write_raw(bytes: &[u8]) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(port) = PORT.lock().as_mut() {
            for &b in bytes {
                port.send_raw(b);
            }
        }
    });
}

/// Reads the bytes waiting in COM1's receive FIFO into `buf` without blocking; returns how
/// many (0 when none wait, or before [`init`]).
pub fn read_available(buf: &mut [u8]) -> usize {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut guard = PORT.lock();
        let Some(port) = guard.as_mut() else {
            return 0;
        };
        let mut n = 0;
        while n < buf.len() {
            match port.try_receive() {
                Ok(b) => {
                    buf[n] = b;
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    })
}
