//! Byte-level reading and writing of `network_api` messages (the same rules as
//! `protocol`'s: little-endian integers, length-prefixed fields with limits, exact
//! consumption), and the error for all of it.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::str;

use super::MAX_MESSAGE;

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The message ended early (decoding) or the buffer is too small (encoding).
    Truncated,
    /// Bytes left over after a complete message.
    Trailing,
    /// An unknown op, reply tag or error code.
    UnknownTag(u8),
    /// A string that is not UTF-8.
    NotUtf8,
    /// A field over its limit (data, name, list).
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
pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.bytes(1)?[0])
    }

    pub fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::BadValue),
        }
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn ip(&mut self) -> Result<Ipv4Addr, WireError> {
        Ok(Ipv4Addr::from(self.array::<4>()?))
    }

    pub fn addr(&mut self) -> Result<SocketAddrV4, WireError> {
        Ok(SocketAddrV4::new(self.ip()?, self.u16()?))
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
        let n = usize::from(self.u16()?);
        if n > max {
            return Err(WireError::TooLong);
        }
        str::from_utf8(self.bytes(n)?).map_err(|_| WireError::NotUtf8)
    }

    pub fn end(&self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing)
        }
    }
}

/// Writes a message into a caller's buffer; every write checks the room left.
pub(crate) struct Writer<'b> {
    pub buf: &'b mut [u8],
    pub pos: usize,
}

impl<'b> Writer<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        let cap = buf.len().min(MAX_MESSAGE);
        Writer {
            buf: &mut buf[..cap],
            pos: 0,
        }
    }

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

    pub fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.bytes(&[v])
    }

    pub fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    pub fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    pub fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    pub fn ip(&mut self, a: Ipv4Addr) -> Result<(), WireError> {
        self.bytes(&a.octets())
    }

    pub fn addr(&mut self, a: SocketAddrV4) -> Result<(), WireError> {
        self.ip(*a.ip())?;
        self.u16(a.port())
    }

    pub fn blob32(&mut self, b: &[u8], max: usize) -> Result<(), WireError> {
        if b.len() > max {
            return Err(WireError::TooLong);
        }
        self.u32(b.len() as u32)?;
        self.bytes(b)
    }

    pub fn str(&mut self, s: &str, max: usize) -> Result<(), WireError> {
        if s.len() > max {
            return Err(WireError::TooLong);
        }
        self.u16(s.len() as u16)?;
        self.bytes(s.as_bytes())
    }
}
