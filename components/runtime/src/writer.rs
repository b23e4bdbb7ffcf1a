//! A `fmt::Write` into a fixed buffer on the stack, for logging without a heap.

use core::fmt;

/// The longest prefix of `s` that is at most `max` bytes and ends at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Collects formatted text in an `N`-byte array. Text that does not fit is dropped (never
/// splitting a character) and remembered, so [`finish`](Self::finish) can mark the cut.
pub struct StackWriter<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> StackWriter<N> {
    /// Marker [`finish`](Self::finish) puts at the end of a cut message.
    pub const ELLIPSIS: &'static str = "...";

    /// An empty writer.
    pub const fn new() -> Self {
        StackWriter {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters are ever copied in, so this cannot fail.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// Whether some text did not fit.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The text, ending in [`ELLIPSIS`](Self::ELLIPSIS) if some of it did not fit.
    pub fn finish(&mut self) -> &str {
        if self.truncated && N >= Self::ELLIPSIS.len() {
            let keep = truncate(self.as_str(), N - Self::ELLIPSIS.len()).len();
            self.buf[keep..keep + Self::ELLIPSIS.len()].copy_from_slice(Self::ELLIPSIS.as_bytes());
            self.len = keep + Self::ELLIPSIS.len();
            self.truncated = false;
        }
        self.as_str()
    }
}

impl<const N: usize> Default for StackWriter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StackWriter<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated {
            return Ok(());
        }
        let part = truncate(s, N - self.len);
        self.buf[self.len..self.len + part.len()].copy_from_slice(part.as_bytes());
        self.len += part.len();
        if part.len() < s.len() {
            self.truncated = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn fits() {
        let mut w = StackWriter::<16>::new();
        write!(w, "a{}c", 1).unwrap();
        assert_eq!(w.finish(), "a1c");
        assert!(!w.is_truncated());
    }

    #[test]
    fn exact_fit_is_not_truncated() {
        let mut w = StackWriter::<4>::new();
        w.write_str("abcd").unwrap();
        assert!(!w.is_truncated());
        assert_eq!(w.finish(), "abcd");
    }

    #[test]
    fn cut_gets_ellipsis() {
        let mut w = StackWriter::<8>::new();
        w.write_str("0123456789").unwrap();
        assert!(w.is_truncated());
        assert_eq!(w.finish(), "01234...");
    }

    #[test]
    fn never_splits_a_character() {
        for n in 0..12 {
            let s = "ééééé€x";
            let t = truncate(s, n);
            assert!(t.len() <= n && s.starts_with(t));
        }
        let mut w = StackWriter::<8>::new();
        write!(w, "a{}", "€".repeat(3)).unwrap();
        assert_eq!(w.as_str(), "a€€");
        assert_eq!(w.finish(), "a€...");
        assert!(w.finish().len() <= 8);
    }

    #[test]
    fn nothing_after_a_cut() {
        let mut w = StackWriter::<4>::new();
        w.write_str("abc€").unwrap();
        w.write_str("d").unwrap();
        assert_eq!(w.as_str(), "abc");
    }

    #[test]
    fn tiny_buffers() {
        let mut w = StackWriter::<2>::new();
        w.write_str("abc").unwrap();
        assert_eq!(w.finish(), "ab");
        let mut w = StackWriter::<0>::new();
        w.write_str("abc").unwrap();
        assert_eq!(w.finish(), "");
    }
}
