//! The byte-level reading and writing every IPC protocol shares (`storage_api`, `fs_view`,
//! the editor's, and `netstack`'s `network_api`): little-endian integers, `u16`/`u32`-length-
//! prefixed fields with limits, IPv4 addresses, exact consumption, and the one error type for
//! all of it.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::str;

use crate::MAX_MESSAGE;

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The message ended early (decoding) or the buffer is too small (encoding).
    Truncated,
    /// Bytes left over after a complete message.
    Trailing,
    /// An unknown op, tag, kind, flag or error code.
    UnknownTag(u8),
    /// A string that is not UTF-8.
    NotUtf8,
    /// A field over its limit (path, chunk, name, cursor, message).
    TooLong,
    /// A field with a value it cannot have (a flag other than 0/1, a prefix over 32).
    BadValue,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("message truncated"),
            WireError::Trailing => f.write_str("trailing bytes after message"),
            WireError::UnknownTag(t) => write!(f, "unknown tag {t:#04x}"),
            WireError::NotUtf8 => f.write_str("string is not UTF-8"),
            WireError::TooLong => f.write_str("field over its limit"),
            WireError::BadValue => f.write_str("field value out of range"),
        }
    }
}

/// Reads a message front to back; every read checks the length left.
#[derive(Clone)]
pub struct Reader<'a> {
    /// What is left to read.
    pub buf: &'a [u8],
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reader({} bytes left)", self.buf.len())
    }
}

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.bytes(1)?[0])
    }

    /// A flag byte: 0 or 1, anything else [`WireError::BadValue`].
    pub fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::BadValue),
        }
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Four address bytes, most significant first.
    pub fn ip(&mut self) -> Result<Ipv4Addr, WireError> {
        Ok(Ipv4Addr::from(self.array::<4>()?))
    }

    /// An address, then a `u16` port.
    pub fn addr(&mut self) -> Result<SocketAddrV4, WireError> {
        Ok(SocketAddrV4::new(self.ip()?, self.u16()?))
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `u16 len` + bytes, rejecting `len > max`.
    pub fn blob(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let n = usize::from(self.u16()?);
        if n > max {
            return Err(WireError::TooLong);
        }
        self.bytes(n)
    }

    /// `u32 len` + bytes, rejecting `len > max`.
    pub fn blob32(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(WireError::TooLong);
        }
        self.bytes(n)
    }

    /// `u16 len` + UTF-8, rejecting `len > max`.
    pub fn str(&mut self, max: usize) -> Result<&'a str, WireError> {
        str::from_utf8(self.blob(max)?).map_err(|_| WireError::NotUtf8)
    }

    /// Checks that the whole message was read.
    pub fn end(&self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing)
        }
    }
}

/// Writes a message into a caller's buffer; every write checks the room left.
pub struct Writer<'b> {
    /// The buffer (at most [`MAX_MESSAGE`] bytes of it).
    pub buf: &'b mut [u8],
    /// Bytes written.
    pub pos: usize,
}

impl<'b> Writer<'b> {
    /// A writer over `buf` (at most [`MAX_MESSAGE`] bytes of it).
    pub fn new(buf: &'b mut [u8]) -> Self {
        let cap = buf.len().min(MAX_MESSAGE);
        Writer {
            buf: &mut buf[..cap],
            pos: 0,
        }
    }

    /// `b` as it is.
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), WireError> {
        let end = self.pos.checked_add(b.len()).ok_or(WireError::Truncated)?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(WireError::Truncated)?;
        dst.copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.bytes(&[v])
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Four address bytes, most significant first.
    pub fn ip(&mut self, a: Ipv4Addr) -> Result<(), WireError> {
        self.bytes(&a.octets())
    }

    /// An address, then a `u16` port.
    pub fn addr(&mut self, a: SocketAddrV4) -> Result<(), WireError> {
        self.ip(*a.ip())?;
        self.u16(a.port())
    }

    /// `u16 len` + `b`, refusing `b` over `max` bytes.
    pub fn blob(&mut self, b: &[u8], max: usize) -> Result<(), WireError> {
        if b.len() > max {
            return Err(WireError::TooLong);
        }
        self.u16(b.len() as u16)?;
        self.bytes(b)
    }

    /// `u16 len` + the UTF-8 bytes of `s`, refusing `s` over `max` bytes.
    pub fn str(&mut self, s: &str, max: usize) -> Result<(), WireError> {
        self.blob(s.as_bytes(), max)
    }

    /// `u32 len` + `b`, refusing `b` over `max` bytes.
    pub fn blob32(&mut self, b: &[u8], max: usize) -> Result<(), WireError> {
        if b.len() > max {
            return Err(WireError::TooLong);
        }
        self.u32(b.len() as u32)?;
        self.bytes(b)
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends at a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
