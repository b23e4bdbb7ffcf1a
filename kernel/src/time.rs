//! Uptime since kernel entry, from the TSC calibrated against the PIT.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::{cpu, pit};

static START_TSC: AtomicU64 = AtomicU64::new(0);
/// Until calibration, assume 1 GHz: uptimes are then approximate, never absent.
static TSC_HZ: AtomicU64 = AtomicU64::new(1_000_000_000);

/// Records the entry time. Call first thing at boot.
pub fn mark_entry() {
    START_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
}

/// Calibrates the TSC; returns the frequency, or `None` if the PIT did not answer (the
/// 1 GHz assumption then stays).
pub fn calibrate() -> Option<u64> {
    let hz = pit::measure_tsc_hz().filter(|hz| *hz > 1_000_000)?;
    TSC_HZ.store(hz, Ordering::Relaxed);
    Some(hz)
}

/// Unix time (seconds) at boot, from the boot loader; 0 until set (and if it gave none).
static BOOT_UNIX_TIME: AtomicU64 = AtomicU64::new(0);

/// Records the boot loader's date at boot (Unix seconds).
pub fn set_boot_unix_time(secs: u64) {
    BOOT_UNIX_TIME.store(secs, Ordering::Relaxed);
}

/// Microseconds since 1970-01-01 UTC: the date at boot plus the uptime; `None` without a date.
pub fn wall_clock_us() -> Option<u64> {
    let boot = BOOT_UNIX_TIME.load(Ordering::Relaxed);
    (boot != 0).then(|| boot.saturating_mul(1_000_000).saturating_add(uptime_us()))
}

/// Microseconds since kernel entry.
pub fn uptime_us() -> u64 {
    let ticks = cpu::rdtsc().saturating_sub(START_TSC.load(Ordering::Relaxed));
    let hz = TSC_HZ.load(Ordering::Relaxed).max(1);
    ((ticks as u128 * 1_000_000) / hz as u128) as u64
}
