//! Leaving QEMU with a status through the isa-debug-exit device (tests only).

use x86_64::instructions::port::Port;

/// The I/O port the test harness configures: `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
pub const PORT: u16 = bootlog::harness::EXIT_PORT;

/// What the kernel reports to the harness. QEMU exits with `(code << 1) | 1`: 33 and 35.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Pass = bootlog::harness::EXIT_VALUE_PASS,
    Fail = bootlog::harness::EXIT_VALUE_FAIL,
}

/// Asks QEMU to exit. Returns only if no isa-debug-exit device is present at [`PORT`].
pub fn exit(code: ExitCode) {
    let mut port: Port<u32> = Port::new(PORT);
    // SAFETY: writing to port 0xf4 either hits QEMU's isa-debug-exit device (which ends the
    // VM) or, with no device there, is ignored by the chipset; no memory is touched.
    unsafe { port.write(code as u32) };
}
