//! The `log` facade on COM1: every line carries uptime, level and the module that logged it
//! ([`bootlog::line`], the format the test harness parses).

use bootlog::line;
use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::{arch::serial, cmdline::LogLevel, time};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

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
        serial::write_fmt(format_args!("{prefix}{}\r\n", record.args()));
    }

    fn flush(&self) {}
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
