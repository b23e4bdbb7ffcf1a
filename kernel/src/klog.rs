//! The `log` facade on COM1, mirrored to a registered sink (the screen): every line carries
//! uptime, level and the module that logged it ([`bootlog::line`], the format the test
//! harness parses). Lines logged before a mirror exists wait in a small buffer and are
//! replayed when one is registered, so the screen shows the log from the first line.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use bootlog::line;
use log::{Level, LevelFilter, Log, Metadata, Record};
use spin::{Mutex, Once};

use crate::klog_buffers::{Early, LineBuf};
pub use crate::klog_buffers::{EARLY_BYTES, MIRROR_LINE_MAX};
use crate::{arch::serial, cmdline::LogLevel, time};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

/// Where log lines go besides COM1, registered once by a higher layer (boot, for the screen).
#[derive(Clone, Copy)]
pub struct Mirror {
    /// Takes one whole log line (prefix included, no line end).
    pub line: fn(line::Level, &str),
    /// Takes a piece of a fatal report (panic, exception, the final verdict): text with its own
    /// line ends. Called with interrupts off from any state, so it must not wait for a lock.
    pub emergency: fn(&str),
}

/// The mirror, once registered.
static MIRROR: Once<Mirror> = Once::new();

/// The lines logged before the mirror exists ([`EARLY_BYTES`] of them at most).
static EARLY: Mutex<Early> = Mutex::new(Early::new());

/// Set by a dying kernel ([`dying`]): lines go the emergency way, waiting for no lock.
static DYING: AtomicBool = AtomicBool::new(false);

/// The last lines logged ([`EARLY_BYTES`] of them at most), for the crash record.
static RECENT: Mutex<Early> = Mutex::new(Early::new());

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let us = time::uptime_us();
        let module = record.target().rsplit("::").next().unwrap_or("");
        let level = match record.level() {
            Level::Error => line::Level::Error,
            Level::Warn => line::Level::Warn,
            Level::Info => line::Level::Info,
            Level::Debug => line::Level::Debug,
            Level::Trace => line::Level::Trace,
        };
        let prefix = line::Prefix {
            uptime_us: us,
            level,
            module,
        };
        if DYING.load(Ordering::Relaxed) {
            emergency(format_args!("{prefix}{}\r\n", record.args()));
            return;
        }
        serial::write_fmt(format_args!("{prefix}{}\r\n", record.args()));
        let mut text = LineBuf::new();
        let _ = write!(text, "{prefix}{}", record.args());
        mirror_line(level, text.as_str());
    }

    fn flush(&self) {}
}

/// Gives a line to the mirror, or keeps it for the mirror to come.
fn mirror_line(level: line::Level, text: &str) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        RECENT.lock().push(level, text);
        let mut early = EARLY.lock();
        match MIRROR.get() {
            Some(m) => {
                drop(early);
                (m.line)(level, text);
            }
            None => early.push(level, text),
        }
    });
}

/// Registers the mirror (the first call wins) and replays the lines logged so far into it.
pub fn set_mirror(mirror: Mirror) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut early = EARLY.lock();
        if MIRROR.is_completed() {
            return;
        }
        early.replay(&mut |level, text| (mirror.line)(level, text));
        MIRROR.call_once(|| mirror);
    });
}

/// No mirror will be registered (no screen): stop keeping lines for it.
pub fn no_mirror() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        EARLY.lock().close();
    });
}

/// Writes a piece of a fatal report to COM1 (breaking its lock if need be) and to the
/// mirror's emergency path: for panics, CPU exceptions and the final verdict.
pub fn emergency(args: fmt::Arguments<'_>) {
    serial::write_fmt_emergency(args);
    if let Some(m) = MIRROR.get() {
        let mut text = LineBuf::new();
        let _ = text.write_fmt(args);
        (m.emergency)(text.as_str());
    }
}

/// Hands the last lines logged to `sink`, oldest first, without waiting for the lock (a fatal
/// path may have interrupted a writer); `false` when the lock was held.
pub fn recent_lines(sink: &mut dyn FnMut(&str)) -> bool {
    match RECENT.try_lock() {
        Some(recent) => {
            recent.for_each(&mut |_, text| sink(text));
            true
        }
        None => false,
    }
}

/// From now on every log line takes [`emergency`]'s path (serial with its lock broken, the
/// mirror's `try_lock` path), not the locks a crashed writer may hold: for code that runs
/// after a panic or exception report (the crash record's disk write).
pub fn dying() {
    DYING.store(true, Ordering::Relaxed);
}

/// Installs the serial logger. The first call wins; later calls only change the level.
pub fn init(level: LogLevel) {
    let _ = log::set_logger(&LOGGER);
    set_level(level);
}

/// Changes the log level (after the command line has been read).
pub fn set_level(level: LogLevel) {
    log::set_max_level(match level {
        LogLevel::Error => LevelFilter::Error,
        LogLevel::Warn => LevelFilter::Warn,
        LogLevel::Info => LevelFilter::Info,
        LogLevel::Debug => LevelFilter::Debug,
        LogLevel::Trace => LevelFilter::Trace,
    });
}
