//! The `logger_api` protocol and line format, shared by the runtime (the sender) and
//! `services_logger` (the receiver).
//!
//! A request is one byte of level (the [`LogLevel`] raw value, 0 `ERROR` … 4 `TRACE`) followed
//! by the message as UTF-8. The reply is empty when the message was logged; otherwise it is a
//! short UTF-8 reason (the message was not logged, and the sender may log it some other way).
//!
//! `services_logger` prints each message as one console line in the kernel's own log shape:
//! `[   12.345678] INFO  cli_console: text\r\n` (uptime in seconds with microseconds, right
//! aligned in 5 digits; the level padded to 5 characters; the calling component's name).

use core::fmt::{self, Write};

use abi::{Error, LogLevel};

/// The IPC endpoint `services_logger` provides.
pub const ENDPOINT: &str = "logger_api";

/// Writes the request for `msg` at `level` into `buf`; returns its length. `msg` is cut at a
/// character boundary if it does not fit.
pub fn encode(level: LogLevel, msg: &str, buf: &mut [u8]) -> usize {
    let Some((first, rest)) = buf.split_first_mut() else {
        return 0;
    };
    // Levels are 0..=4.
    *first = level.to_raw() as u8;
    let msg = crate::writer::truncate(msg, rest.len());
    rest[..msg.len()].copy_from_slice(msg.as_bytes());
    1 + msg.len()
}

/// Why a `logger_api` request was refused (the reply text is its `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadMessage {
    /// The request is empty (no level byte).
    Empty,
    /// The level byte is not 0..=4.
    Level(u8),
    /// The text is not UTF-8.
    NotUtf8,
}

impl fmt::Display for BadMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadMessage::Empty => f.write_str("empty message"),
            BadMessage::Level(l) => write!(f, "unknown log level {l}"),
            BadMessage::NotUtf8 => f.write_str("text is not UTF-8"),
        }
    }
}

impl From<BadMessage> for Error {
    fn from(_: BadMessage) -> Error {
        Error::BadLength
    }
}

/// Decodes a request into its level and text.
pub fn decode(msg: &[u8]) -> Result<(LogLevel, &str), BadMessage> {
    let (&level, text) = msg.split_first().ok_or(BadMessage::Empty)?;
    let level = LogLevel::try_from(u64::from(level)).map_err(|_| BadMessage::Level(level))?;
    let text = core::str::from_utf8(text).map_err(|_| BadMessage::NotUtf8)?;
    Ok((level, text))
}

/// Writes one log line, `[sssss.uuuuuu] LEVEL name: text\r\n`, as the kernel formats its own.
/// Control characters in `text` (and `name`) are escaped (`\n`, `\u{1b}`, ...) so that a
/// message cannot forge other lines or move the cursor.
pub fn write_line(
    out: &mut impl Write,
    uptime_us: u64,
    level: LogLevel,
    name: &str,
    text: &str,
) -> fmt::Result {
    write!(
        out,
        "[{:5}.{:06}] {:5} {}: {}\r\n",
        uptime_us / 1_000_000,
        uptime_us % 1_000_000,
        level.as_str(),
        Printable(name),
        Printable(text)
    )
}

/// Text with its control characters escaped.
struct Printable<'a>(&'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 64];
        let n = encode(LogLevel::Warn, "disk full", &mut buf);
        assert_eq!(&buf[..n], b"\x01disk full");
        assert_eq!(decode(&buf[..n]), Ok((LogLevel::Warn, "disk full")));
        for level in LogLevel::ALL {
            let n = encode(level, "", &mut buf);
            assert_eq!(decode(&buf[..n]), Ok((level, "")));
        }
    }

    #[test]
    fn encode_cuts_at_a_character_boundary() {
        let mut buf = [0u8; 5];
        let n = encode(LogLevel::Info, "aéé", &mut buf);
        assert_eq!(decode(&buf[..n]), Ok((LogLevel::Info, "aé")));
        assert_eq!(encode(LogLevel::Info, "x", &mut []), 0);
    }

    #[test]
    fn bad_messages() {
        assert_eq!(decode(b""), Err(BadMessage::Empty));
        assert_eq!(decode(b"\x05hi"), Err(BadMessage::Level(5)));
        assert_eq!(decode(b"\xffhi"), Err(BadMessage::Level(255)));
        assert_eq!(decode(b"\x02\xff\xfe"), Err(BadMessage::NotUtf8));
        assert_eq!(BadMessage::Level(9).to_string(), "unknown log level 9");
    }

    #[test]
    fn line_format_matches_the_kernel() {
        let mut s = String::new();
        write_line(&mut s, 12_345_678, LogLevel::Info, "cli_console", "hello").unwrap();
        assert_eq!(s, "[   12.345678] INFO  cli_console: hello\r\n");
        let mut s = String::new();
        write_line(&mut s, 123_456, LogLevel::Error, "x", "boom").unwrap();
        assert_eq!(s, "[    0.123456] ERROR x: boom\r\n");
        let mut s = String::new();
        write_line(&mut s, 100_000_000_000, LogLevel::Debug, "x", "").unwrap();
        assert_eq!(s, "[100000.000000] DEBUG x: \r\n");
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut s = String::new();
        write_line(
            &mut s,
            0,
            LogLevel::Warn,
            "x",
            "a\r\n[    0.000000] INFO  kernel: forged\x1b[2J",
        )
        .unwrap();
        assert_eq!(
            s,
            "[    0.000000] WARN  x: a\\r\\n[    0.000000] INFO  kernel: forged\\u{1b}[2J\r\n"
        );
        assert_eq!(s.matches("\r\n").count(), 1);
    }
}
