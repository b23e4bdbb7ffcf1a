//! An entry's `memory_limit`: how much memory its process may use, written `"16M"` (binary
//! units `K`, `M`, `G`) or as plain bytes (`"65536"`), a whole number of 4 KiB pages.
//!
//! The kernel counts a process's user pages — its ELF segments, its stack and whatever it
//! grows by later — against the limit: an ELF whose segments and stack exceed it is refused
//! before anything is mapped, and a process that grows past it is stopped.

use core::fmt;

/// The limit of an entry that does not set one.
pub const DEFAULT_MEMORY_LIMIT: MemoryLimit = MemoryLimit(64 * 1024 * 1024);
/// The longest spelling accepted (`18446744073709547520` has 20 digits).
pub const MAX_MEMORY_LIMIT_TEXT: usize = 20;
/// The unit of a limit: one page.
pub const PAGE: u64 = 4096;

/// A limit in bytes: non-zero, a multiple of [`PAGE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemoryLimit(u64);

/// Why a `memory_limit` text is not a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryLimitError {
    /// Not digits with an optional `K`, `M` or `G`.
    Syntax,
    /// Zero, or not a whole number of 4 KiB pages.
    NotPages,
    /// Does not fit in 64 bits.
    TooLarge,
}

impl fmt::Display for MemoryLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "not a number of bytes with an optional K, M or G (e.g. \"16M\")",
            Self::NotPages => "not a positive whole number of 4 KiB pages",
            Self::TooLarge => "larger than 2^64 bytes",
        })
    }
}

impl MemoryLimit {
    /// Parses `"16M"`, `"512K"`, `"1G"` or `"65536"`.
    ///
    /// # Errors
    /// [`MemoryLimitError`] says what is wrong.
    pub fn parse(text: &str) -> Result<Self, MemoryLimitError> {
        let (digits, unit) = match text.as_bytes().last() {
            Some(b'K') => (&text[..text.len() - 1], 1u64 << 10),
            Some(b'M') => (&text[..text.len() - 1], 1 << 20),
            Some(b'G') => (&text[..text.len() - 1], 1 << 30),
            _ => (text, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MemoryLimitError::Syntax);
        }
        let n: u64 = digits.parse().map_err(|_| MemoryLimitError::TooLarge)?;
        Self::from_bytes(n.checked_mul(unit).ok_or(MemoryLimitError::TooLarge)?)
    }

    /// A limit of `bytes`.
    ///
    /// # Errors
    /// [`MemoryLimitError::NotPages`] for zero or a partial page.
    pub fn from_bytes(bytes: u64) -> Result<Self, MemoryLimitError> {
        if bytes == 0 || !bytes.is_multiple_of(PAGE) {
            return Err(MemoryLimitError::NotPages);
        }
        Ok(Self(bytes))
    }

    /// The limit in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// The limit in 4 KiB pages.
    pub fn pages(self) -> u64 {
        self.0 / PAGE
    }
}

/// The shortest spelling: `16M`, `1G`, `12K` or plain bytes; [`MemoryLimit::parse`] reads it
/// back.
impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, suffix) in [(1u64 << 30, 'G'), (1 << 20, 'M'), (1 << 10, 'K')] {
            if self.0.is_multiple_of(unit) {
                return write!(f, "{}{suffix}", self.0 / unit);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl serde::Serialize for MemoryLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = heapless::String::<MAX_MEMORY_LIMIT_TEXT>::new();
        // Cannot fail: the longest spelling (plain bytes of a u64) has 20 digits.
        let _ = fmt::write(&mut text, format_args!("{self}"));
        s.serialize_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn spellings() {
        for (text, bytes) in [
            ("16M", 16 << 20),
            ("1G", 1 << 30),
            ("512K", 512 << 10),
            ("65536", 65536),
            ("4096", 4096),
            ("3G", 3 << 30),
        ] {
            let limit = MemoryLimit::parse(text).unwrap();
            assert_eq!(limit.bytes(), bytes, "{text}");
            assert_eq!(MemoryLimit::parse(&limit.to_string()), Ok(limit));
        }
        assert_eq!(MemoryLimit::parse("65536").unwrap().to_string(), "64K");
        assert_eq!(DEFAULT_MEMORY_LIMIT.to_string(), "64M");
        assert_eq!(MemoryLimit::parse("16M").unwrap().pages(), 4096);
    }

    #[test]
    fn refusals() {
        use MemoryLimitError::*;
        for (text, e) in [
            ("", Syntax),
            ("M", Syntax),
            ("16 M", Syntax),
            ("16m", Syntax),
            ("-1", Syntax),
            ("1.5G", Syntax),
            ("16MB", Syntax),
            ("0", NotPages),
            ("0M", NotPages),
            ("100", NotPages),
            ("1K", NotPages),
            ("99999999999999999999", TooLarge),
            ("17179869184G", TooLarge),
        ] {
            assert_eq!(MemoryLimit::parse(text), Err(e), "{text:?}");
        }
        let max = u64::MAX - (PAGE - 1);
        let text = max.to_string();
        assert!(text.len() <= MAX_MEMORY_LIMIT_TEXT);
        assert_eq!(MemoryLimit::parse(&text).map(MemoryLimit::bytes), Ok(max));
    }
}
