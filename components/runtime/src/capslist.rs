//! Turning the CAPS list into one log line.
//!
//! The record format is the capability system's to define; until then this accepts what is most
//! likely: the capability strings of the manifest (`console`, `port_range:1024-65535`, ...),
//! separated by newlines, NULs or commas. Anything that is not UTF-8 is shown as a byte count.

use core::fmt::{self, Write};

/// Writes the capability list `list` (the bytes CAPS wrote; `full_len` is what CAPS returned)
/// as `a, b, c`, `(none)` when empty, with `, ...` when the list was cut.
pub fn write_caps(out: &mut impl Write, list: &[u8], full_len: usize) -> fmt::Result {
    let shown = &list[..list.len().min(full_len)];
    let Ok(text) = core::str::from_utf8(shown) else {
        return write!(out, "<{full_len} bytes, not text>");
    };
    let mut first = true;
    for cap in text
        .split(['\n', '\0', ','])
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        if !first {
            out.write_str(", ")?;
        }
        out.write_str(cap)?;
        first = false;
    }
    if full_len > shown.len() {
        out.write_str(if first { "..." } else { ", ..." })?;
    } else if first {
        out.write_str("(none)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StackWriter;

    fn show(list: &[u8], full_len: usize) -> String {
        let mut w = StackWriter::<128>::new();
        write_caps(&mut w, list, full_len).unwrap();
        w.finish().to_string()
    }

    #[test]
    fn separators() {
        assert_eq!(show(b"a\nb\n", 4), "a, b");
        assert_eq!(show(b"a\0b\0", 4), "a, b");
        assert_eq!(show(b"a, b", 4), "a, b");
        assert_eq!(show(b"console", 7), "console");
    }

    #[test]
    fn empty_and_cut() {
        assert_eq!(show(b"", 0), "(none)");
        assert_eq!(show(b"\n", 1), "(none)");
        assert_eq!(
            show(b"block_device\npersis", 40),
            "block_device, persis, ..."
        );
        assert_eq!(show(b"", 40), "...");
    }

    #[test]
    fn not_text() {
        assert_eq!(show(&[0xff, 0xfe], 2), "<2 bytes, not text>");
    }
}
