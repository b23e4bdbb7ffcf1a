//! The text console (COM1), raw: no log prefix, no translation. Both calls need the `console`
//! capability ([`Error::Denied`] without it).

use core::fmt;

use crate::{input_ptr, raw};
use abi::{Error, Syscall, CONSOLE_MAX_LEN};

/// Writes `bytes` (at most [`CONSOLE_MAX_LEN`]) to the console as they are (CONSOLE_WRITE);
/// returns how many were written. Use [`write_all`] for longer output.
pub fn write(bytes: &[u8]) -> Result<usize, Error> {
    // SAFETY: CONSOLE_WRITE only reads `len` bytes at `ptr`, the live borrowed `bytes`.
    let ret = unsafe {
        raw::syscall2(
            Syscall::ConsoleWrite.number(),
            input_ptr(bytes),
            bytes.len() as u64,
        )
    };
    abi::decode_return(ret).map(|n| n as usize)
}

/// Writes all of `bytes`, in pieces of at most [`CONSOLE_MAX_LEN`].
pub fn write_all(mut bytes: &[u8]) -> Result<(), Error> {
    while !bytes.is_empty() {
        let n = write(&bytes[..bytes.len().min(CONSOLE_MAX_LEN)])?;
        if n == 0 {
            return Err(Error::Unsupported);
        }
        bytes = &bytes[n.min(bytes.len())..];
    }
    Ok(())
}

/// Reads the bytes waiting on the console into `buf` (CONSOLE_READ); returns how many.
/// Does not block: 0 means nothing is waiting (poll again after [`crate::yield_now`]).
pub fn read(buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: CONSOLE_READ writes at most `cap` bytes at `ptr`, the exclusively borrowed
    // `buf`; any byte pattern is a valid `u8`.
    let ret = unsafe {
        raw::syscall2(
            Syscall::ConsoleRead.number(),
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    abi::decode_return(ret).map(|n| (n as usize).min(buf.len()))
}

/// A [`fmt::Write`] to the console: `write!(Console, "{n} files\r\n")`. Output is sent as
/// it is formatted (one CONSOLE_WRITE per piece); a failing write ends the formatting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Formats `args` to the console: what [`crate::print!`] calls.
pub fn write_fmt(args: fmt::Arguments<'_>) -> Result<(), Error> {
    if let Some(s) = args.as_str() {
        return write_all(s.as_bytes());
    }
    fmt::write(&mut Console, args).map_err(|_| Error::Unsupported)
}

/// A [`fmt::Write`] to the console that collects output in an `N`-byte buffer and writes it
/// when the buffer is full and on [`flush`](Self::flush), so that a line usually goes out in one
/// CONSOLE_WRITE (and is not interleaved with other components' output). Nothing is cut.
/// Dropping it without `flush` loses what is buffered.
#[derive(Debug)]
pub struct Buffered<const N: usize> {
    buf: [u8; N],
    len: usize,
    error: Option<Error>,
}

impl<const N: usize> Buffered<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Buffered {
            buf: [0; N],
            len: 0,
            error: None,
        }
    }

    /// Appends bytes, writing out the buffer whenever it fills.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.len == N {
                self.write_out();
                if N == 0 {
                    // No buffer at all: write directly.
                    self.record(write_all(bytes));
                    return;
                }
            }
            let n = bytes.len().min(N - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
    }

    fn record(&mut self, r: Result<(), Error>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    fn write_out(&mut self) {
        let r = write_all(&self.buf[..self.len]);
        self.record(r);
        self.len = 0;
    }

    /// Writes out what is buffered; returns the first error any write had.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.len > 0 {
            self.write_out();
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<const N: usize> Default for Buffered<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for Buffered<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}
