//! The kernel's log line: `[{secs:5}.{micros:06}] {LEVEL} {module}: {message}`.
//!
//! [`Prefix`] writes everything before the message; [`parse`] takes a line apart again.

use core::fmt;

/// A log level as the line shows it (five columns, padded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    /// The five-column tag.
    pub const fn tag(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Warn => "WARN ",
            Self::Info => "INFO ",
            Self::Debug => "DEBUG",
            Self::Trace => "TRACE",
        }
    }

    const ALL: [Level; 5] = [
        Self::Error,
        Self::Warn,
        Self::Info,
        Self::Debug,
        Self::Trace,
    ];
}

/// The start of a kernel log line, up to and including `module: `.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix<'a> {
    /// Microseconds since kernel entry.
    pub uptime_us: u64,
    pub level: Level,
    /// The last path segment of the logging module (`boot`, `supervisor`, ...).
    pub module: &'a str,
}

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:5}.{:06}] {} {}: ",
            self.uptime_us / 1_000_000,
            self.uptime_us % 1_000_000,
            self.level.tag(),
            self.module
        )
    }
}

/// A kernel log line taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub prefix: Prefix<'a>,
    /// What was logged, without the prefix and line end.
    pub message: &'a str,
}

/// Takes a kernel log line apart (`None` for any other line: firmware, stub, console output).
/// The line end (`\r`, `\n`) may or may not be there.
pub fn parse(line: &str) -> Option<Parsed<'_>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = line.strip_prefix('[')?;
    let (stamp, rest) = rest.split_once("] ")?;
    let (secs, micros) = stamp.trim_start().split_once('.')?;
    if micros.len() != 6 {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let micros: u64 = micros.parse().ok()?;
    let level = Level::ALL.into_iter().find(|l| rest.starts_with(l.tag()))?;
    let rest = rest[level.tag().len()..].strip_prefix(' ')?;
    let (module, message) = rest.split_once(": ")?;
    if module.is_empty() || module.contains(' ') {
        return None;
    }
    Some(Parsed {
        prefix: Prefix {
            uptime_us: secs.checked_mul(1_000_000)?.checked_add(micros)?,
            level,
            module,
        },
        message,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn round_trip() {
        for (us, level, module, msg) in [
            (15_354, Level::Info, "boot", "TSC runs at 2597.527 MHz"),
            (3_600_000_001, Level::Warn, "supervisor", "x: y: z"),
            (0, Level::Error, "image", ""),
            (12, Level::Trace, "m", "  spaced  "),
        ] {
            let prefix = Prefix {
                uptime_us: us,
                level,
                module,
            };
            let line = format!("{prefix}{msg}\r\n");
            let parsed = parse(&line).unwrap();
            assert_eq!(parsed.prefix, prefix);
            assert_eq!(parsed.message, msg);
        }
    }

    #[test]
    fn the_kernel_shape() {
        let p = Prefix {
            uptime_us: 15_354,
            level: Level::Info,
            module: "boot",
        };
        assert_eq!(format!("{p}"), "[    0.015354] INFO  boot: ");
    }

    #[test]
    fn other_lines_are_not_kernel_lines() {
        for line in [
            "bootstub: PandaGen bootstub 0.1.0",
            "BdsDxe: loading Boot0001",
            "[    0.015354] INFO boot: one space too few",
            "[    0.01535] INFO  boot: five digits",
            "[    x.015354] INFO  boot: not a number",
            "[    0.015354] NOTE  boot: no such level",
            "[    0.015354] INFO  two words: module",
            "pandagen> ls",
            "",
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }
}
