//! The response head: the status line and the headers, collected from pieces of any size.

use alloc::string::String;
use alloc::vec::Vec;

use crate::HttpError;

/// The most bytes a response head (status line, headers, blank line) may take.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most headers a response may have.
pub const MAX_HEADERS: usize = 64;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code (100..=999).
    pub status: u16,
    /// The status line as sent (without its line end).
    pub status_line: String,
    /// The headers in order, names as sent, values trimmed.
    pub headers: Vec<(String, String)>,
    /// `Content-Length`, if present.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl Head {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Collects the head from the start of a response; see [`push`](Self::push).
#[derive(Debug, Default)]
pub struct HeadReader {
    buf: Vec<u8>,
}

impl HeadReader {
    /// A reader at the start of a response.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the response. `Ok(None)`: the head is not complete yet (all of
    /// `data` was taken). `Ok(Some((head, n)))`: the head ended after `n` bytes of `data`;
    /// the rest is body. Interim `1xx` heads (other than `101`) are skipped.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
        let mut taken = 0;
        while taken < data.len() {
            let from = self.buf.len().saturating_sub(3);
            let room = MAX_HEAD_BYTES - self.buf.len();
            let piece = &data[taken..data.len().min(taken + room.max(1))];
            self.buf.extend_from_slice(piece);
            let Some(end) = head_end(&self.buf, from) else {
                if self.buf.len() >= MAX_HEAD_BYTES {
                    return Err(HttpError::HeadTooLarge {
                        limit: MAX_HEAD_BYTES,
                    });
                }
                taken += piece.len();
                continue;
            };
            // `end` counts bytes of `buf`; those past it came from this piece.
            let used = piece.len() - (self.buf.len() - end);
            taken += used;
            let head = parse_head(&self.buf[..end])?;
            self.buf.clear();
            if (100..200).contains(&head.status) && head.status != 101 {
                continue;
            }
            return Ok(Some((head, taken)));
        }
        Ok(None)
    }
}

/// The index after the blank line ending the head in `buf`, searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len()).find_map(|i| {
        if buf[i] != b'\n' {
            return None;
        }
        match buf.get(i + 1) {
            Some(b'\n') => Some(i + 2),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => Some(i + 3),
            _ => None,
        }
    })
}

/// Parses a complete head (its blank line included).
fn parse_head(bytes: &[u8]) -> Result<Head, HttpError> {
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().ok_or(HttpError::BadStatusLine)?;
    let status = parse_status_line(first)?;
    let mut head = Head {
        status,
        status_line: String::from_utf8_lossy(first).into_owned(),
        headers: Vec::new(),
        content_length: None,
        chunked: false,
    };
    for line in lines.filter(|l| !l.is_empty()) {
        if head.headers.len() == MAX_HEADERS {
            return Err(HttpError::TooManyHeaders { limit: MAX_HEADERS });
        }
        let (name, value) = parse_header(line)?;
        head.note(&name, &value)?;
        head.headers.push((name, value));
    }
    Ok(head)
}

/// `HTTP/1.x NNN[ reason]` → the status.
fn parse_status_line(line: &[u8]) -> Result<u16, HttpError> {
    let rest = line
        .strip_prefix(b"HTTP/1.")
        .ok_or(HttpError::BadStatusLine)?;
    match rest {
        [minor, b' ', a, b, c, tail @ ..]
            if minor.is_ascii_digit()
                && [a, b, c].iter().all(|d| d.is_ascii_digit())
                && *a != b'0'
                && (tail.is_empty() || tail[0] == b' ') =>
        {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(HttpError::BadStatusLine),
    }
}

/// `name: value` (the name a token, the value trimmed).
fn parse_header(line: &[u8]) -> Result<(String, String), HttpError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::BadHeader)?;
    let name = &line[..colon];
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() || !name.iter().all(token) {
        return Err(HttpError::BadHeader);
    }
    let value = line[colon + 1..].trim_ascii();
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

impl Head {
    /// Takes note of the framing headers.
    fn note(&mut self, name: &str, value: &str) -> Result<(), HttpError> {
        if name.eq_ignore_ascii_case("content-length") {
            for v in value.split(',').map(str::trim) {
                let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
                let n = v.parse::<u64>().ok().filter(|_| ok);
                match (n, self.content_length) {
                    (None, _) => return Err(HttpError::BadContentLength),
                    (Some(n), Some(old)) if n != old => return Err(HttpError::BadContentLength),
                    (n, _) => self.content_length = n,
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if coding.eq_ignore_ascii_case("chunked") {
                    self.chunked = true;
                } else if !coding.eq_ignore_ascii_case("identity") {
                    return Err(HttpError::UnsupportedEncoding);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
