//! Elapsed time for the log lines (the TSC, calibrated once against the firmware's Stall), and
//! sizes written for people.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

/// TSC ticks per millisecond, measured on first use (0: not yet).
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

fn tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter; every x86_64 CPU has it and the
    // firmware leaves it readable at CPL 0.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The current TSC value.
pub fn now() -> u64 {
    tsc()
}

fn ticks_per_ms() -> u64 {
    let known = TICKS_PER_MS.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    let start = tsc();
    uefi::boot::stall(Duration::from_millis(10));
    let measured = (tsc().wrapping_sub(start) / 10).max(1);
    TICKS_PER_MS.store(measured, Ordering::Relaxed);
    measured
}

/// Milliseconds since `start` (a value of [`now`]).
pub fn since(start: u64) -> u64 {
    let ticks = tsc().wrapping_sub(start);
    ticks / ticks_per_ms()
}

/// Milliseconds shown as `0.4 s` (or `37 ms` under a tenth of a second).
pub struct Elapsed(pub u64);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 100 {
            write!(f, "{} ms", self.0)
        } else {
            write!(f, "{}.{} s", self.0 / 1000, self.0 % 1000 / 100)
        }
    }
}

/// Bytes shown as `25.7 MiB`, `12.0 KiB` or `812 bytes`.
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * 1024;
        let (unit, name) = match self.0 {
            n if n >= MIB => (MIB, "MiB"),
            n if n >= KIB => (KIB, "KiB"),
            n => return write!(f, "{n} bytes"),
        };
        let tenths = self.0 * 10 / unit;
        write!(f, "{}.{} {name}", tenths / 10, tenths % 10)
    }
}
