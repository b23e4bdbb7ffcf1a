//! A JSON syntax check before serde runs: gives byte offsets for errors and bounds the nesting depth.
//!
//! serde-json-core reports no position and recurses once per nesting level of ignored values, so a
//! manifest of 60 000 `[` would exhaust the stack; this iterative pass refuses it first.

use super::MAX_DEPTH;
use crate::error::LoadError;

/// What may come next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Any value.
    Value,
    /// A value or `]` (just after `[`).
    ValueOrEnd,
    /// A key (after `,` in an object).
    Key,
    /// A key or `}` (just after `{`).
    KeyOrEnd,
    /// `:` after a key.
    Colon,
    /// `,` or the end of the innermost container.
    CommaOrEnd,
    /// Only whitespace: the top-level value is complete.
    Done,
}

fn not_json(offset: usize, detail: &'static str) -> LoadError {
    LoadError::ManifestNotJson { offset, detail }
}

/// What follows a complete value at `depth`.
fn after_value(depth: usize) -> Want {
    if depth == 0 {
        Want::Done
    } else {
        Want::CommaOrEnd
    }
}

/// Checks that `text` is exactly one JSON value, nested at most [`MAX_DEPTH`] deep.
///
/// # Errors
/// [`LoadError::ManifestNotJson`] with the offset of the first bad byte; [`LoadError::ManifestTooDeep`].
pub(super) fn check(text: &str) -> Result<(), LoadError> {
    let b = text.as_bytes();
    let mut stack = [0u8; MAX_DEPTH];
    let mut depth = 0usize;
    let mut want = Want::Value;
    let mut i = 0usize;
    loop {
        while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return match want {
                Want::Done => Ok(()),
                _ => Err(not_json(i, "the manifest ends in the middle of a value")),
            };
        };
        match want {
            Want::Done => return Err(not_json(i, "text after the end of the top-level object")),
            Want::Colon => {
                if c != b':' {
                    return Err(not_json(i, "expected `:` after an object key"));
                }
                i += 1;
                want = Want::Value;
            }
            Want::Key | Want::KeyOrEnd => {
                if c == b'}' && want == Want::KeyOrEnd {
                    depth = depth.saturating_sub(1);
                    i += 1;
                    want = after_value(depth);
                } else if c == b'"' {
                    i = string(b, i)?;
                    want = Want::Colon;
                } else {
                    return Err(not_json(i, "expected a string key"));
                }
            }
            Want::CommaOrEnd => {
                let open = depth.checked_sub(1).and_then(|d| stack.get(d)).copied();
                match (c, open) {
                    (b',', Some(b'{')) => want = Want::Key,
                    (b',', _) => want = Want::Value,
                    (b'}', Some(b'{')) | (b']', Some(b'[')) => {
                        depth = depth.saturating_sub(1);
                        want = after_value(depth);
                    }
                    (_, Some(b'{')) => return Err(not_json(i, "expected `,` or `}`")),
                    _ => return Err(not_json(i, "expected `,` or `]`")),
                }
                i += 1;
            }
            Want::Value | Want::ValueOrEnd => {
                if c == b']' && want == Want::ValueOrEnd {
                    depth = depth.saturating_sub(1);
                    i += 1;
                    want = after_value(depth);
                    continue;
                }
                match c {
                    b'{' | b'[' => {
                        let slot = stack.get_mut(depth).ok_or(LoadError::ManifestTooDeep {
                            offset: i,
                            limit: MAX_DEPTH,
                        })?;
                        *slot = c;
                        depth += 1;
                        i += 1;
                        want = if c == b'{' {
                            Want::KeyOrEnd
                        } else {
                            Want::ValueOrEnd
                        };
                    }
                    b'"' => {
                        i = string(b, i)?;
                        want = after_value(depth);
                    }
                    b'-' | b'0'..=b'9' => {
                        i = number(b, i)?;
                        want = after_value(depth);
                    }
                    b't' | b'f' | b'n' => {
                        let word: &[u8] = match c {
                            b't' => b"true",
                            b'f' => b"false",
                            _ => b"null",
                        };
                        if b.get(i..i + word.len()) != Some(word) {
                            return Err(not_json(i, "expected `true`, `false` or `null`"));
                        }
                        i += word.len();
                        want = after_value(depth);
                    }
                    _ => return Err(not_json(i, "expected a value")),
                }
            }
        }
    }
}

/// Checks the string starting with the `"` at `start`; returns the index after its closing quote.
fn string(b: &[u8], start: usize) -> Result<usize, LoadError> {
    let mut i = start + 1;
    loop {
        match b.get(i) {
            None => return Err(not_json(start, "unterminated string")),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = b.get(i + 2..i + 6).unwrap_or_default();
                    if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(not_json(i, "`\\u` must be followed by four hex digits"));
                    }
                    i += 6;
                }
                _ => return Err(not_json(i, "unknown escape sequence")),
            },
            Some(&c) if c < 0x20 => {
                return Err(not_json(
                    i,
                    "control character in a string (write it as an escape)",
                ))
            }
            Some(_) => i += 1,
        }
    }
}

/// Skips ASCII digits from `i`; returns the index after them and whether there was at least one.
fn digits(b: &[u8], mut i: usize) -> (usize, bool) {
    let start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    (i, i > start)
}

/// Checks the number starting at `start` (JSON grammar); returns the index after it.
fn number(b: &[u8], start: usize) -> Result<usize, LoadError> {
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i).0,
        _ => return Err(not_json(i, "malformed number")),
    }
    if b.get(i) == Some(&b'.') {
        let (end, any) = digits(b, i + 1);
        if !any {
            return Err(not_json(end, "malformed number: no digits after `.`"));
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (end, any) = digits(b, i);
        if !any {
            return Err(not_json(end, "malformed number: no digits in the exponent"));
        }
        i = end;
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(text: &str) -> Option<usize> {
        match check(text) {
            Ok(()) => None,
            Err(LoadError::ManifestNotJson { offset, .. }) => Some(offset),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn accepts_json() {
        for ok in [
            "{}",
            " { \"a\" : [1, -2.5e+3, 0, true, false, null, \"x\\\"\\u00e9\", {\"b\": []}] } \n",
            "[]",
            "\"s\"",
            "0",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn offsets_of_errors() {
        assert_eq!(offset(""), Some(0));
        assert_eq!(offset("{"), Some(1));
        assert_eq!(offset("{\"a\" 1}"), Some(5));
        assert_eq!(offset("{\"a\":1,}"), Some(7));
        assert_eq!(offset("[1,]"), Some(3));
        assert_eq!(offset("[1 2]"), Some(3));
        assert_eq!(offset("{\"a\":1]"), Some(6));
        assert_eq!(offset("[1}"), Some(2));
        assert_eq!(offset("{} x"), Some(3));
        assert_eq!(offset("{1:2}"), Some(1));
        assert_eq!(offset("[tru]"), Some(1));
        assert_eq!(offset("[01]"), Some(2));
        assert_eq!(offset("[1.]"), Some(3));
        assert_eq!(offset("[1e]"), Some(3));
        assert_eq!(offset("[-]"), Some(2));
        assert_eq!(offset("[\"a\\x\"]"), Some(3));
        assert_eq!(offset("[\"\\u12g4\"]"), Some(2));
        assert_eq!(offset("[\"a\nb\"]"), Some(3));
        assert_eq!(offset("[\"abc"), Some(1));
        assert_eq!(offset("[+1]"), Some(1));
    }

    #[test]
    fn depth_is_bounded() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(check(&ok), Ok(()));
        let deep = "[".repeat(60_000);
        assert_eq!(
            check(&deep),
            Err(LoadError::ManifestTooDeep {
                offset: MAX_DEPTH,
                limit: MAX_DEPTH
            })
        );
    }
}
