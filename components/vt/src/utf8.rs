//! An incremental UTF-8 decoder: bytes in, characters out, every malformed sequence becoming
//! one U+FFFD.

/// What one byte did to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The byte started or continued a sequence.
    Pending,
    /// The byte completed this character.
    Char(char),
    /// The byte made the sequence malformed (a bad start byte, or an overlong, surrogate or
    /// out-of-range result): show U+FFFD.
    Invalid,
}

/// The decoder's state between bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utf8 {
    code: u32,
    /// Continuation bytes still expected.
    need: u8,
    /// The smallest code point the sequence's length may encode (below it is overlong).
    min: u32,
}

impl Utf8 {
    /// A decoder between characters.
    pub(crate) const fn new() -> Utf8 {
        Utf8 {
            code: 0,
            need: 0,
            min: 0,
        }
    }

    /// Whether a sequence is in progress (so a byte that is not a continuation breaks it).
    pub(crate) fn pending(&self) -> bool {
        self.need > 0
    }

    /// Forgets a sequence in progress.
    pub(crate) fn reset(&mut self) {
        *self = Utf8::new();
    }

    /// Takes a byte that is not plain ASCII, or a continuation byte of a pending sequence.
    /// A caller seeing a non-continuation byte while [`pending`](Self::pending) must first
    /// [`reset`](Self::reset) and show U+FFFD for the broken sequence.
    pub(crate) fn feed(&mut self, byte: u8) -> Step {
        if self.need == 0 {
            return self.start(byte);
        }
        if byte & 0xC0 != 0x80 {
            self.reset();
            return Step::Invalid;
        }
        self.code = (self.code << 6) | u32::from(byte & 0x3F);
        self.need -= 1;
        if self.need > 0 {
            return Step::Pending;
        }
        let (code, min) = (self.code, self.min);
        self.reset();
        match char::from_u32(code) {
            Some(c) if code >= min => Step::Char(c),
            _ => Step::Invalid,
        }
    }

    fn start(&mut self, byte: u8) -> Step {
        let (need, mask, min) = match byte {
            0x00..=0x7F => return Step::Char(char::from(byte)),
            0xC2..=0xDF => (1, 0x1F, 0x80),
            0xE0..=0xEF => (2, 0x0F, 0x800),
            0xF0..=0xF4 => (3, 0x07, 0x1_0000),
            _ => return Step::Invalid,
        };
        *self = Utf8 {
            code: u32::from(byte & mask),
            need,
            min,
        };
        Step::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Decodes `bytes` the way the parser drives the decoder.
    fn decode(bytes: &[u8]) -> Vec<char> {
        let mut d = Utf8::new();
        let mut out = Vec::new();
        for &b in bytes {
            if d.pending() && b & 0xC0 != 0x80 {
                d.reset();
                out.push('\u{FFFD}');
            }
            match d.feed(b) {
                Step::Pending => {}
                Step::Char(c) => out.push(c),
                Step::Invalid => out.push('\u{FFFD}'),
            }
        }
        if d.pending() {
            out.push('\u{FFFD}');
        }
        out
    }

    #[test]
    fn valid_text() {
        let s = "aé€😀ÿ";
        assert_eq!(decode(s.as_bytes()), s.chars().collect::<Vec<_>>());
    }

    #[test]
    fn invalid_sequences() {
        let r = '\u{FFFD}';
        // Lone continuation, bad start bytes.
        assert_eq!(decode(b"\x80a\xC0\xF8"), [r, 'a', r, r]);
        // Truncated sequence followed by ASCII: the ASCII survives.
        assert_eq!(decode(b"\xE2\x82a"), [r, 'a']);
        // Overlong "/" and a surrogate, each one replacement.
        assert_eq!(decode(b"\xE0\x80\xAF"), [r]);
        assert_eq!(decode(b"\xED\xA0\x80"), [r]);
        // Above U+10FFFF.
        assert_eq!(decode(b"\xF4\x90\x80\x80"), [r]);
        // Truncated at the end.
        assert_eq!(decode(b"\xF0\x9F"), [r]);
    }

    #[test]
    fn agrees_with_std_on_valid_and_invalid_counts() {
        // Every two-byte input: valid ones decode as core does.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let bytes = [a, b];
                if let Ok(s) = core::str::from_utf8(&bytes) {
                    assert_eq!(decode(&bytes), s.chars().collect::<Vec<_>>());
                }
            }
        }
    }
}
