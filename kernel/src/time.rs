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

/// Microseconds since kernel entry.
pub fn uptime_us() -> u64 {
    let ticks = cpu::rdtsc().saturating_sub(START_TSC.load(Ordering::Relaxed));
    let hz = TSC_HZ.load(Ordering::Relaxed).max(1);
    ((ticks as u128 * 1_000_000) / hz as u128) as u64
}
