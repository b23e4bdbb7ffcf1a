//! `klog`'s fixed buffers, pure so they are tested on the host: [`LineBuf`], a line formatted
//! on the stack (no heap before memory is up), and [`Early`], the log lines kept until the
//! mirror (the screen) exists (the same ring keeps the last lines for a crash record).

use core::fmt::{self, Write};

use bootlog::line::Level;

/// How many bytes of lines [`Early`] keeps (about 40 lines); the oldest lines are dropped first
/// when it is full.
pub const EARLY_BYTES: usize = 4096;

/// The longest line the mirror gets; longer ones are cut (the serial line has them whole).
pub const MIRROR_LINE_MAX: usize = 512;

/// A line formatted on the stack, cut at [`MIRROR_LINE_MAX`] bytes on a character boundary.
pub struct LineBuf {
    bytes: [u8; MIRROR_LINE_MAX],
    len: usize,
}

impl LineBuf {
    pub const fn new() -> LineBuf {
        LineBuf {
            bytes: [0; MIRROR_LINE_MAX],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        LineBuf::new()
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let n = c.len_utf8();
            if self.len + n > MIRROR_LINE_MAX {
                break;
            }
            c.encode_utf8(&mut self.bytes[self.len..self.len + n]);
            self.len += n;
        }
        Ok(())
    }
}

/// Each record's level, by its code.
const LEVELS: [Level; 5] = [
    Level::Error,
    Level::Warn,
    Level::Info,
    Level::Debug,
    Level::Trace,
];

/// Lines logged before the mirror exists: records of (level code, length as u16 LE, text).
pub struct Early {
    bytes: [u8; EARLY_BYTES],
    len: usize,
    /// Lines dropped because the buffer was full.
    dropped: usize,
    /// No mirror will come: lines are no longer kept.
    closed: bool,
}

impl Early {
    pub const fn new() -> Early {
        Early {
            bytes: [0; EARLY_BYTES],
            len: 0,
            dropped: 0,
            closed: false,
        }
    }

    /// Keeps a line (cut to [`MIRROR_LINE_MAX`] bytes), dropping the oldest ones until it
    /// fits; nothing once [`close`](Self::close)d.
    pub fn push(&mut self, level: Level, text: &str) {
        if self.closed {
            return;
        }
        let mut cut = text.len().min(MIRROR_LINE_MAX);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = &text.as_bytes()[..cut];
        let need = 3 + text.len();
        while self.len + need > EARLY_BYTES {
            let first = 3 + usize::from(u16::from_le_bytes([self.bytes[1], self.bytes[2]]));
            self.bytes.copy_within(first..self.len, 0);
            self.len -= first;
            self.dropped += 1;
        }
        let code = LEVELS.iter().position(|l| *l == level).unwrap_or(2);
        // Below 5, and at most MIRROR_LINE_MAX bytes: both fit.
        self.bytes[self.len] = code as u8;
        self.bytes[self.len + 1..self.len + 3].copy_from_slice(&(text.len() as u16).to_le_bytes());
        self.bytes[self.len + 3..self.len + need].copy_from_slice(text);
        self.len += need;
    }

    /// Hands every kept line to `sink`, oldest first (after a note of how many were dropped),
    /// and empties the buffer.
    pub fn replay(&mut self, sink: &mut dyn FnMut(Level, &str)) {
        if self.dropped > 0 {
            let mut note = LineBuf::new();
            let _ = write!(
                note,
                "({} earlier log lines not kept for the screen)",
                self.dropped
            );
            sink(Level::Warn, note.as_str());
        }
        self.for_each(sink);
        self.len = 0;
        self.dropped = 0;
    }

    /// Hands every kept line to `sink`, oldest first, and keeps them.
    pub fn for_each(&self, sink: &mut dyn FnMut(Level, &str)) {
        let mut at = 0;
        while at + 3 <= self.len {
            let level = LEVELS[usize::from(self.bytes[at]) % LEVELS.len()];
            let len = usize::from(u16::from_le_bytes([self.bytes[at + 1], self.bytes[at + 2]]));
            let text = &self.bytes[at + 3..at + 3 + len];
            sink(level, core::str::from_utf8(text).unwrap_or("<cut line>"));
            at += 3 + len;
        }
    }

    /// Forgets the kept lines and keeps no more (no mirror will come).
    pub fn close(&mut self) {
        self.closed = true;
        self.len = 0;
        self.dropped = 0;
    }
}

impl Default for Early {
    fn default() -> Self {
        Early::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    fn replayed(early: &mut Early) -> Vec<(Level, String)> {
        let mut out = Vec::new();
        early.replay(&mut |level, text| out.push((level, text.to_string())));
        out
    }

    #[test]
    fn lines_come_back_in_order_with_their_levels() {
        let mut e = Early::new();
        e.push(Level::Info, "first");
        e.push(Level::Error, "second é");
        e.push(Level::Trace, "");
        assert_eq!(
            replayed(&mut e),
            [
                (Level::Info, "first".to_string()),
                (Level::Error, "second é".to_string()),
                (Level::Trace, String::new()),
            ]
        );
        assert!(replayed(&mut e).is_empty(), "replay empties it");
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_says_so() {
        let mut e = Early::new();
        let line = "x".repeat(100);
        for i in 0..100 {
            e.push(Level::Info, &alloc::format!("{i:03}{line}"));
        }
        let out = replayed(&mut e);
        // 106 bytes a record: 38 fit in 4096 bytes.
        let kept = EARLY_BYTES / 106;
        assert_eq!(out.len(), kept + 1);
        assert_eq!(
            out[0],
            (
                Level::Warn,
                alloc::format!("({} earlier log lines not kept for the screen)", 100 - kept)
            )
        );
        assert!(out[1].1.starts_with(&alloc::format!("{:03}", 100 - kept)));
        assert!(out[kept].1.starts_with("099"));
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let mut e = Early::new();
        let long = "é".repeat(MIRROR_LINE_MAX);
        e.push(Level::Warn, &long);
        let out = replayed(&mut e);
        assert_eq!(out[0].1, "é".repeat(MIRROR_LINE_MAX / 2));
        let mut buf = LineBuf::new();
        write!(buf, "a{long}").unwrap();
        assert_eq!(buf.as_str().len(), MIRROR_LINE_MAX - 1);
    }

    #[test]
    fn for_each_sees_the_lines_and_keeps_them() {
        let mut e = Early::new();
        e.push(Level::Info, "one");
        e.push(Level::Warn, "two");
        let mut seen = Vec::new();
        e.for_each(&mut |_, text| seen.push(text.to_string()));
        assert_eq!(seen, ["one", "two"]);
        assert_eq!(replayed(&mut e).len(), 2, "for_each keeps them");
    }

    #[test]
    fn closed_keeps_nothing() {
        let mut e = Early::new();
        e.push(Level::Info, "before");
        e.close();
        e.push(Level::Info, "after");
        assert!(replayed(&mut e).is_empty());
    }
}
