//! The crash record (`PGCRASH1`): what ended a boot that ended in a kernel panic or a kernel
//! CPU exception, with the last kernel log lines, kept for the next boot (which shows it once),
//! the console's `lastcrash` and `cargo xtask inspect`.
//!
//! One record, [`RECORD_BLOCKS`] blocks (region blocks `abi::userdata::CRASH_BLOCKS`), written
//! by a dying kernel in one write and flushed; no second copy (a torn record is reported as
//! damaged, never trusted):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `PGCRASH1` |
//! | 8 | 2 | version, u16 LE = 1 |
//! | 10 | 2 | kind, u16 LE: 1 kernel panic, 2 kernel CPU exception |
//! | 12 | 4 | summary length S, u32 LE, 0..=[`SUMMARY_MAX`] |
//! | 16 | 4 | log length L, u32 LE, S + L ≤ [`TEXT_MAX`] |
//! | 20 | 4 | reserved, zero |
//! | 24 | 8 | boot number of the boot that crashed, u64 LE (0: not known) |
//! | 32 | 8 | uptime at the crash, µs since kernel entry, u64 LE |
//! | 40 | 8 | boot number at which the next boots showed it, u64 LE (0: not shown yet) |
//! | 48 | 16 | reserved, zero |
//! | 64 | S | summary, UTF-8: the panic message with its location, or the exception report's first lines |
//! | 64 + S | L | the last kernel log lines, UTF-8, `\n`-separated, oldest first |
//! | 64 + S + L | … | zero up to byte 12284 |
//! | 12284 | 4 | CRC-32C over bytes 0..12284, u32 LE |
//!
//! All zeros is "no record". All multi-byte fields are little-endian.
use core::fmt::{self, Write};

use crate::block::{crc32c, BLOCK_SIZE};

/// The record's magic.
pub const MAGIC: [u8; 8] = *b"PGCRASH1";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Blocks the record takes.
pub const RECORD_BLOCKS: usize = 3;
/// The record's size in bytes.
pub const RECORD_LEN: usize = RECORD_BLOCKS * BLOCK_SIZE;
/// The header before the texts.
pub const HEADER_LEN: usize = 64;
/// Where the checksum lies.
const CRC_AT: usize = RECORD_LEN - 4;
/// The most bytes of summary and log together.
pub const TEXT_MAX: usize = CRC_AT - HEADER_LEN;
/// The longest summary, in bytes.
pub const SUMMARY_MAX: usize = 1024;
const _: () = assert!(SUMMARY_MAX < TEXT_MAX);

/// A record as bytes.
pub type RecordBytes = [u8; RECORD_LEN];

/// What ended the boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A kernel panic.
    Panic,
    /// A CPU exception in the kernel (or NMI, #DF, #MC).
    Exception,
}

impl Kind {
    const fn code(self) -> u16 {
        match self {
            Self::Panic => 1,
            Self::Exception => 2,
        }
    }

    fn from_code(code: u16) -> Option<Self> {
        match code {
            1 => Some(Self::Panic),
            2 => Some(Self::Exception),
            _ => None,
        }
    }

    /// `a kernel panic` / `a kernel exception`.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Panic => "a kernel panic",
            Self::Exception => "a kernel exception",
        }
    }
}

/// A record read back ([`decode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crash<'a> {
    /// What ended the boot.
    pub kind: Kind,
    /// The boot that crashed (0: not known).
    pub boot: u64,
    /// µs since that boot's kernel entry.
    pub uptime_us: u64,
    /// The boot that first showed it (0: not yet).
    pub shown_at: u64,
    /// The panic message or the exception report's first lines.
    pub summary: &'a str,
    /// The last kernel log lines, `\n`-separated, oldest first.
    pub log: &'a str,
}

/// Why a record cannot be read: named, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashError {
    /// Neither all zeros nor `PGCRASH1`.
    BadMagic,
    /// A version this code does not read.
    UnsupportedVersion(u16),
    /// The checksum does not match (a torn write or damage).
    BadChecksum {
        /// The stored CRC-32C.
        stored: u32,
        /// The CRC-32C of the bytes.
        computed: u32,
    },
    /// The lengths do not fit the record.
    BadLength,
    /// An unknown kind code.
    BadKind(u16),
    /// A text is not UTF-8.
    NotUtf8,
    /// A reserved field or the padding is not zero.
    NonZeroPadding,
}

impl fmt::Display for CrashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => write!(f, "not a crash record (magic is not PGCRASH1)"),
            Self::UnsupportedVersion(v) => write!(f, "crash record version {v} is not supported"),
            Self::BadChecksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Self::BadLength => write!(f, "text lengths do not fit the record"),
            Self::BadKind(k) => write!(f, "unknown kind {k}"),
            Self::NotUtf8 => write!(f, "text is not UTF-8"),
            Self::NonZeroPadding => write!(f, "reserved bytes are not zero"),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Reads a record: `Ok(None)` when the blocks are all zeros (no record).
///
/// # Errors
/// A [`CrashError`] naming what is wrong.
pub fn decode(b: &RecordBytes) -> Result<Option<Crash<'_>>, CrashError> {
    if b.iter().all(|&x| x == 0) {
        return Ok(None);
    }
    if b[..8] != MAGIC {
        return Err(CrashError::BadMagic);
    }
    let version = u16_at(b, 8);
    if version != VERSION {
        return Err(CrashError::UnsupportedVersion(version));
    }
    let (stored, computed) = (u32_at(b, CRC_AT), crc32c(&b[..CRC_AT]));
    if stored != computed {
        return Err(CrashError::BadChecksum { stored, computed });
    }
    let kind = Kind::from_code(u16_at(b, 10)).ok_or(CrashError::BadKind(u16_at(b, 10)))?;
    let s = u32_at(b, 12) as usize;
    let l = u32_at(b, 16) as usize;
    if s > SUMMARY_MAX || l > TEXT_MAX - s {
        return Err(CrashError::BadLength);
    }
    let end = HEADER_LEN + s + l;
    let zero = |r: core::ops::Range<usize>| b[r].iter().all(|&x| x == 0);
    if !zero(20..24) || !zero(48..HEADER_LEN) || !zero(end..CRC_AT) {
        return Err(CrashError::NonZeroPadding);
    }
    let text = |r: core::ops::Range<usize>| core::str::from_utf8(&b[r]).ok();
    let summary = text(HEADER_LEN..HEADER_LEN + s).ok_or(CrashError::NotUtf8)?;
    let log = text(HEADER_LEN + s..end).ok_or(CrashError::NotUtf8)?;
    Ok(Some(Crash {
        kind,
        boot: u64_at(b, 24),
        uptime_us: u64_at(b, 32),
        shown_at: u64_at(b, 40),
        summary,
        log,
    }))
}

/// Records that the boot `boot` showed the record (and reseals it).
///
/// # Errors
/// As [`decode`]; [`CrashError::BadMagic`] for blocks with no record.
pub fn mark_shown(b: &mut RecordBytes, boot: u64) -> Result<(), CrashError> {
    decode(b)?.ok_or(CrashError::BadMagic)?;
    b[40..48].copy_from_slice(&boot.to_le_bytes());
    seal(b);
    Ok(())
}

fn seal(b: &mut RecordBytes) {
    let crc = crc32c(&b[..CRC_AT]);
    b[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
}

/// Builds a record in place without allocating (a dying kernel has no heap to trust): the
/// summary first, then [`Builder::start_log`] and the log lines; texts that do not fit are cut
/// on a character boundary (the summary at [`SUMMARY_MAX`]). `\r` is dropped.
pub struct Builder<'a> {
    buf: &'a mut RecordBytes,
    summary: usize,
    log: usize,
    in_log: bool,
}

impl<'a> Builder<'a> {
    /// Starts a record (the whole buffer is overwritten).
    pub fn new(buf: &'a mut RecordBytes, kind: Kind, boot: u64, uptime_us: u64) -> Self {
        buf.fill(0);
        buf[..8].copy_from_slice(&MAGIC);
        buf[8..10].copy_from_slice(&VERSION.to_le_bytes());
        buf[10..12].copy_from_slice(&kind.code().to_le_bytes());
        buf[24..32].copy_from_slice(&boot.to_le_bytes());
        buf[32..40].copy_from_slice(&uptime_us.to_le_bytes());
        Builder {
            buf,
            summary: 0,
            log: 0,
            in_log: false,
        }
    }

    /// What follows goes into the log text.
    pub fn start_log(&mut self) {
        self.in_log = true;
    }

    /// Adds one log line (a `\n` before it unless it is the first).
    pub fn log_line(&mut self, line: &str) {
        self.in_log = true;
        if self.log > 0 {
            let _ = self.write_str("\n");
        }
        let _ = self.write_str(line);
    }

    /// Writes the lengths and the checksum: the record is complete.
    pub fn finish(self) {
        // Both are at most TEXT_MAX, far below u32::MAX.
        self.buf[12..16].copy_from_slice(&(self.summary as u32).to_le_bytes());
        self.buf[16..20].copy_from_slice(&(self.log as u32).to_le_bytes());
        seal(self.buf);
    }
}

impl Write for Builder<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars().filter(|&c| c != '\r') {
            let n = c.len_utf8();
            let used = self.summary + self.log;
            let room = if self.in_log {
                TEXT_MAX - used
            } else {
                SUMMARY_MAX - self.summary
            };
            if n > room {
                break;
            }
            let at = HEADER_LEN + used;
            c.encode_utf8(&mut self.buf[at..at + n]);
            if self.in_log {
                self.log += n;
            } else {
                self.summary += n;
            }
        }
        Ok(())
    }
}

impl Crash<'_> {
    /// The summary's first line.
    pub fn first_line(&self) -> &str {
        self.summary.lines().next().unwrap_or("")
    }

    /// One line for the boot warning: `a kernel panic in boot #5, 12.345678 s after kernel
    /// entry: kernel panicked at ...`.
    pub fn headline(&self) -> Headline<'_> {
        Headline(self)
    }
}

/// [`Crash::headline`]'s text.
pub struct Headline<'a>(&'a Crash<'a>);

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(f, "{}", c.kind.describe())?;
        if c.boot != 0 {
            write!(f, " in boot #{}", c.boot)?;
        }
        write!(
            f,
            ", {}.{:06} s after kernel entry: {}",
            c.uptime_us / 1_000_000,
            c.uptime_us % 1_000_000,
            c.first_line()
        )
    }
}

/// The whole record as text (LASTCRASH, `lastcrash`, `cargo xtask inspect`): the headline,
/// whether it was shown, the summary's other lines, then the log lines.
impl fmt::Display for Crash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline())?;
        match self.shown_at {
            0 => writeln!(f, "not shown at a boot yet")?,
            n => writeln!(f, "first shown at boot #{n}")?,
        }
        for line in self.summary.lines().skip(1) {
            writeln!(f, "{line}")?;
        }
        write!(f, "last kernel log lines before it:")?;
        if self.log.is_empty() {
            write!(f, " none kept")?;
        }
        for line in self.log.lines() {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn record(kind: Kind, summary: &str, lines: &[&str]) -> RecordBytes {
        let mut buf = [0u8; RECORD_LEN];
        let mut b = Builder::new(&mut buf, kind, 5, 12_345_678);
        b.write_str(summary).unwrap();
        for l in lines {
            b.log_line(l);
        }
        b.finish();
        buf
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let buf = record(
            Kind::Exception,
            "EXCEPTION: vector 14 (#PF Page Fault)\r\n  RIP 0x1\r\n",
            &["[    0.1] INFO  boot: a", "[    0.2] WARN  boot: b é"],
        );
        let c = decode(&buf).unwrap().unwrap();
        assert_eq!(c.kind, Kind::Exception);
        assert_eq!((c.boot, c.uptime_us, c.shown_at), (5, 12_345_678, 0));
        assert_eq!(
            c.summary,
            "EXCEPTION: vector 14 (#PF Page Fault)\n  RIP 0x1\n"
        );
        assert_eq!(c.log, "[    0.1] INFO  boot: a\n[    0.2] WARN  boot: b é");
        assert_eq!(
            c.headline().to_string(),
            "a kernel exception in boot #5, 12.345678 s after kernel entry: EXCEPTION: vector 14 (#PF Page Fault)"
        );
        assert_eq!(
            c.to_string(),
            "a kernel exception in boot #5, 12.345678 s after kernel entry: EXCEPTION: vector 14 (#PF Page Fault)\n\
             not shown at a boot yet\n  RIP 0x1\nlast kernel log lines before it:\n  \
             [    0.1] INFO  boot: a\n  [    0.2] WARN  boot: b é"
        );
    }

    #[test]
    fn zeros_are_no_record_and_shown_is_kept() {
        assert_eq!(decode(&[0u8; RECORD_LEN]), Ok(None));
        let mut buf = record(Kind::Panic, "kernel panicked at a.rs:1:2: boom", &[]);
        mark_shown(&mut buf, 6).unwrap();
        let c = decode(&buf).unwrap().unwrap();
        assert_eq!(c.shown_at, 6);
        assert!(c.to_string().contains("first shown at boot #6"));
        assert!(c.to_string().ends_with("before it: none kept"));
        assert_eq!(
            mark_shown(&mut [0u8; RECORD_LEN], 1),
            Err(CrashError::BadMagic)
        );
    }

    #[test]
    fn long_texts_are_cut_to_fit() {
        let long = "é".repeat(SUMMARY_MAX);
        let line = "x".repeat(1000);
        let lines: Vec<&str> = (0..20).map(|_| line.as_str()).collect();
        let buf = record(Kind::Panic, &long, &lines);
        let c = decode(&buf).unwrap().unwrap();
        assert_eq!(c.summary.len(), SUMMARY_MAX);
        assert_eq!(c.summary.len() + c.log.len(), TEXT_MAX);
    }

    #[test]
    fn every_damage_is_named_never_a_panic() {
        let good = record(Kind::Panic, "kernel panicked at a.rs:1:2: boom", &["l"]);
        // Every single-byte change is caught.
        for at in (0..RECORD_LEN).step_by(7).chain([CRC_AT, RECORD_LEN - 1]) {
            let mut bad = good;
            bad[at] ^= 0x40;
            assert!(decode(&bad).is_err(), "byte {at}");
        }
        let mut bad = good;
        bad[..8].copy_from_slice(b"PGCRASH9");
        assert_eq!(decode(&bad), Err(CrashError::BadMagic));
        let mut bad = good;
        bad[8] = 2;
        assert_eq!(decode(&bad), Err(CrashError::UnsupportedVersion(2)));
        // Well sealed but wrong inside: each is named.
        for (at, value, err) in [
            (10, 9u8, CrashError::BadKind(9)),
            (14, 1, CrashError::BadLength),
            (50, 1, CrashError::NonZeroPadding),
            (HEADER_LEN, 0xff, CrashError::NotUtf8),
        ] {
            let mut bad = good;
            bad[at] = value;
            seal(&mut bad);
            assert_eq!(decode(&bad), Err(err), "byte {at}");
        }
        assert!(CrashError::BadKind(9)
            .to_string()
            .contains("unknown kind 9"));
    }
}
