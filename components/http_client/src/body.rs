//! The response body's framing, as a streaming state machine: `Content-Length` bytes, a
//! chunked body (sizes, extensions and trailers skipped), or everything until the server
//! closes the connection.

use crate::{Head, HttpError};

/// The longest chunk size line (digits and extensions) or trailer section, in bytes.
const MAX_CHUNK_LINE: u32 = 4096;
/// The most hex digits of a chunk size (a `u64`'s worth, leading zeros aside).
const MAX_SIZE_DIGITS: u8 = 16;

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// In the size's hex digits.
    Size { value: u64, digits: u8, len: u32 },
    /// After the digits: an extension (skipped) until the line end.
    Ext { value: u64, len: u32 },
    /// After the size line's `\r`.
    SizeLf { value: u64 },
    /// In a chunk's data.
    Data { left: u64 },
    /// After a chunk's data: its `\r\n`.
    DataCr,
    /// After a chunk's `\r`.
    DataLf,
    /// At the start of a trailer line (or the final blank line).
    TrailerStart { len: u32 },
    /// In a trailer line (skipped).
    Trailer { len: u32 },
    /// After the final blank line's `\r`.
    LastLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { left: u64 },
    Chunked(Chunked),
    UntilClose,
    Done,
}

/// A response body being received; feed it what arrives after the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Body {
    state: State,
    expected: Option<u64>,
    received: u64,
}

impl Body {
    /// The framing `head` announces (a response to a request that was not `HEAD`): none for
    /// `1xx`, `204` and `304`; chunked; `Content-Length`; else until the connection closes.
    pub fn new(head: &Head) -> Body {
        let state = match head {
            h if matches!(h.status, 100..=199 | 204 | 304) => State::Done,
            h if h.chunked => State::Chunked(Chunked::Size {
                value: 0,
                digits: 0,
                len: 0,
            }),
            Head {
                content_length: Some(0),
                ..
            } => State::Done,
            Head {
                content_length: Some(n),
                ..
            } => State::Length { left: *n },
            _ => State::UntilClose,
        };
        let expected = if head.chunked {
            None
        } else {
            head.content_length
        };
        Body {
            state,
            expected,
            received: 0,
        }
    }

    /// Whether the whole body has been received (never for an until-close body).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The body bytes handed out so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The body's length, when the head announced one.
    pub fn expected(&self) -> Option<u64> {
        self.expected
    }

    /// Takes bytes from the start of `data`: returns how many, and the body bytes among them
    /// (a part of `data`). Takes at least one byte unless `data` is empty or the body is done;
    /// call again with the rest.
    pub fn feed<'d>(&mut self, data: &'d [u8]) -> Result<(usize, &'d [u8]), HttpError> {
        let (used, body) = match &mut self.state {
            State::Done => (0, &data[..0]),
            State::UntilClose => (data.len(), data),
            State::Length { left } => {
                let n = take(data, left);
                if *left == 0 {
                    self.state = State::Done;
                }
                (n, &data[..n])
            }
            State::Chunked(c) => {
                let (used, body, ended) = feed_chunked(c, data)?;
                if ended {
                    self.state = State::Done;
                }
                (used, body)
            }
        };
        self.received += body.len() as u64;
        Ok((used, body))
    }

    /// The connection ended: `Ok` if that ends the body, else how it was cut.
    pub fn finish(&self) -> Result<(), HttpError> {
        match self.state {
            State::Done | State::UntilClose => Ok(()),
            _ => Err(HttpError::Truncated {
                expected: self.expected,
                got: self.received,
            }),
        }
    }
}

/// The bytes of `data` that fit in `left`, counted off it.
fn take(data: &[u8], left: &mut u64) -> usize {
    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
    *left -= n as u64;
    n
}

/// One step of the chunked decoder: a run of chunk data, or the framing bytes up to the next
/// data. Returns the bytes taken, the body bytes among them, and whether the body ended.
fn feed_chunked<'d>(c: &mut Chunked, data: &'d [u8]) -> Result<(usize, &'d [u8], bool), HttpError> {
    if let Chunked::Data { left } = c {
        let n = take(data, left);
        if *left == 0 {
            *c = Chunked::DataCr;
        }
        return Ok((n, &data[..n], false));
    }
    for (i, &b) in data.iter().enumerate() {
        match step(*c, b)? {
            Step::Next(next) => *c = next,
            Step::End => return Ok((i + 1, &data[..0], true)),
        }
        if matches!(c, Chunked::Data { .. }) {
            return Ok((i + 1, &data[..0], false));
        }
    }
    Ok((data.len(), &data[..0], false))
}

enum Step {
    Next(Chunked),
    End,
}

/// The decoder after one framing byte.
fn step(c: Chunked, b: u8) -> Result<Step, HttpError> {
    use Chunked::*;
    let next = match c {
        Size { value, digits, len } => match b {
            _ if len >= MAX_CHUNK_LINE => return Err(HttpError::BadChunk),
            b if b.is_ascii_hexdigit() => {
                let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                let digits = if digits == 0 && d == 0 { 0 } else { digits + 1 };
                if digits > MAX_SIZE_DIGITS {
                    return Err(HttpError::BadChunk);
                }
                // Leading zeros count as a digit seen (`len`), not as a size digit.
                Size {
                    value: value << 4 | d,
                    digits,
                    len: len + 1,
                }
            }
            _ if len == 0 => return Err(HttpError::BadChunk),
            b';' | b' ' | b'\t' => Ext {
                value,
                len: len + 1,
            },
            b'\r' => SizeLf { value },
            b'\n' => return Ok(size_line_end(value)),
            _ => return Err(HttpError::BadChunk),
        },
        Ext { value, len } => match b {
            _ if len >= MAX_CHUNK_LINE => return Err(HttpError::BadChunk),
            b'\r' => SizeLf { value },
            b'\n' => return Ok(size_line_end(value)),
            _ => Ext {
                value,
                len: len + 1,
            },
        },
        SizeLf { value } if b == b'\n' => return Ok(size_line_end(value)),
        DataCr if b == b'\r' => DataLf,
        DataCr | DataLf if b == b'\n' => Size {
            value: 0,
            digits: 0,
            len: 0,
        },
        TrailerStart { len } => match b {
            b'\r' => LastLf,
            b'\n' => return Ok(Step::End),
            _ => Trailer { len: len + 1 },
        },
        Trailer { len } => match b {
            _ if len >= MAX_CHUNK_LINE => return Err(HttpError::BadChunk),
            b'\n' => TrailerStart { len: len + 1 },
            _ => Trailer { len: len + 1 },
        },
        LastLf if b == b'\n' => return Ok(Step::End),
        _ => return Err(HttpError::BadChunk),
    };
    Ok(Step::Next(next))
}

fn size_line_end(value: u64) -> Step {
    match value {
        0 => Step::Next(Chunked::TrailerStart { len: 0 }),
        left => Step::Next(Chunked::Data { left }),
    }
}

#[cfg(test)]
mod tests;
