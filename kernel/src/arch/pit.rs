//! Measuring the TSC frequency against the legacy PIT (channel 2, the speaker gate), so log
//! lines can carry wall-clock uptime.

use x86_64::instructions::port::Port;

const PIT_HZ: u64 = 1_193_182;
/// Calibration window: 10 ms is long enough for 0.1 % precision and short enough for boot.
const WINDOW_HZ: u64 = 100;
/// Upper bound on polling iterations, so a machine without a PIT cannot hang the boot.
const MAX_POLLS: u64 = 50_000_000;

/// Returns the TSC frequency in Hz, or `None` if the PIT never signalled (no PIT present).
pub fn measure_tsc_hz() -> Option<u64> {
    let mut gate: Port<u8> = Port::new(0x61);
    let mut command: Port<u8> = Port::new(0x43);
    let mut channel2: Port<u8> = Port::new(0x42);
    let count = PIT_HZ / WINDOW_HZ;
    // SAFETY: ports 0x61/0x43/0x42 are the PC speaker gate and PIT channel 2, present on every
    // PC-compatible machine (q35, i440fx, real chipsets); channel 2 only drives the speaker,
    // which we keep disconnected (bit 1 cleared), so programming it disturbs nothing else.
    unsafe {
        let value = gate.read();
        gate.write((value & !0x02) | 0x01);
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write((count & 0xff) as u8);
        channel2.write((count >> 8) as u8);
        // Restart the count by pulsing the gate.
        let value = gate.read() & !0x01;
        gate.write(value);
        gate.write(value | 0x01);
    }
    let start = super::cpu::rdtsc();
    let mut polls = 0u64;
    // SAFETY: as above; reading the gate port has no side effects.
    while unsafe { gate.read() } & 0x20 == 0 {
        polls += 1;
        if polls > MAX_POLLS {
            return None;
        }
    }
    let end = super::cpu::rdtsc();
    Some(end.saturating_sub(start).saturating_mul(WINDOW_HZ))
}
