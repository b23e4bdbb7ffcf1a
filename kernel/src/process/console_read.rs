//! CONSOLE_READ's order of operations, apart from the machine so that it is host-tested: the
//! caller's buffer is checked before any input is taken, so a bad pointer costs the caller an
//! error, never the bytes the user typed. Also the console's input sources besides serial
//! (keyboards), which `boot` registers ([`register_source`]): `process` never calls `devices`.

use alloc::vec;

use abi::Error;

/// A console input source: fills the front of the buffer with bytes typed since the last call
/// (never blocking) and says how many.
pub type Source = fn(&mut [u8]) -> usize;

/// The sources registered so far, read in this order after serial.
static SOURCES: spin::RwLock<[Option<Source>; MAX_SOURCES]> =
    spin::RwLock::new([None; MAX_SOURCES]);
/// How many sources may be registered (PS/2 and USB keyboards, with room to spare).
pub const MAX_SOURCES: usize = 4;

/// Registers a console input source. Answers false (and registers nothing) when all
/// [`MAX_SOURCES`] places are taken.
pub fn register_source(source: Source) -> bool {
    let mut sources = SOURCES.write();
    match sources.iter_mut().find(|s| s.is_none()) {
        Some(place) => {
            *place = Some(source);
            true
        }
        None => false,
    }
}

/// Fills `buf` from the registered sources, in order; returns how many bytes.
pub fn take_from_sources(buf: &mut [u8]) -> usize {
    let mut n = 0;
    for source in SOURCES.read().iter().flatten() {
        if n == buf.len() {
            break;
        }
        n += source(&mut buf[n..]);
    }
    n
}

/// Most bytes one CONSOLE_READ returns (a larger capacity is fine, only this much is written).
pub const CONSOLE_READ_MAX: u64 = 4096;

/// What CONSOLE_READ works with: the caller's memory and the console input.
pub trait ConsoleInput {
    /// Checks, without writing, that `len` bytes at user `ptr` are writable for the caller.
    ///
    /// # Errors
    /// [`Error::BadPointer`] when they are not.
    fn check_writable(&self, ptr: u64, len: u64) -> Result<(), Error>;
    /// Takes the input bytes waiting, at most `buf.len()`; returns how many.
    fn take(&mut self, buf: &mut [u8]) -> usize;
    /// Copies `data` to user `ptr`.
    ///
    /// # Errors
    /// [`Error::BadPointer`] when the memory is not writable for the caller.
    fn copy_out(&mut self, ptr: u64, data: &[u8]) -> Result<(), Error>;
}

/// CONSOLE_READ of up to `cap` bytes into user `ptr`: checks the first
/// `min(cap, CONSOLE_READ_MAX)` bytes are writable, then takes what is waiting and copies it
/// out. Returns how many bytes were read (0: none waiting).
///
/// # Errors
/// [`Error::BadPointer`] from the check, with no input taken.
pub fn console_read(io: &mut impl ConsoleInput, ptr: u64, cap: u64) -> Result<u64, Error> {
    let len = cap.min(CONSOLE_READ_MAX);
    io.check_writable(ptr, len)?;
    let mut buf = vec![0u8; len as usize];
    let n = io.take(&mut buf);
    // The check above holds here: the caller's page tables do not change while the kernel
    // serves its call.
    io.copy_out(ptr, &buf[..n])?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;

    const P: u64 = 0x40_1000;

    /// Typed bytes and a caller whose writable memory is `P..P + writable`.
    struct Fake {
        typed: VecDeque<u8>,
        writable: u64,
        out: Vec<u8>,
    }

    impl Fake {
        fn new(typed: &[u8], writable: u64) -> Self {
            Self {
                typed: typed.iter().copied().collect(),
                writable,
                out: Vec::new(),
            }
        }

        fn fits(&self, ptr: u64, len: u64) -> bool {
            ptr >= P && ptr + len <= P + self.writable
        }
    }

    impl ConsoleInput for Fake {
        fn check_writable(&self, ptr: u64, len: u64) -> Result<(), Error> {
            self.fits(ptr, len).then_some(()).ok_or(Error::BadPointer)
        }
        fn take(&mut self, buf: &mut [u8]) -> usize {
            let n = buf.len().min(self.typed.len());
            for (slot, b) in buf.iter_mut().zip(self.typed.drain(..n)) {
                *slot = b;
            }
            n
        }
        fn copy_out(&mut self, ptr: u64, data: &[u8]) -> Result<(), Error> {
            if !self.fits(ptr, data.len() as u64) {
                return Err(Error::BadPointer);
            }
            self.out.extend_from_slice(data);
            Ok(())
        }
    }

    #[test]
    fn a_bad_buffer_keeps_the_typed_bytes() {
        let mut io = Fake::new(b"ls\r", 0);
        assert_eq!(console_read(&mut io, P, 64), Err(Error::BadPointer));
        assert_eq!(io.typed.len(), 3, "nothing was taken");
        // Writable for 2 bytes but 64 claimed: refused too, though only 3 are waiting.
        io.writable = 2;
        assert_eq!(console_read(&mut io, P, 64), Err(Error::BadPointer));
        assert_eq!(io.typed.len(), 3);
        // The next good call gets them all.
        io.writable = 64;
        assert_eq!(console_read(&mut io, P, 64), Ok(3));
        assert_eq!(io.out, b"ls\r");
    }

    #[test]
    fn reads_at_most_the_capacity_and_the_limit() {
        let mut io = Fake::new(b"hello", 4096);
        assert_eq!(console_read(&mut io, P, 2), Ok(2));
        assert_eq!(io.out, b"he");
        assert_eq!(console_read(&mut io, P, 0), Ok(0));
        assert_eq!(console_read(&mut io, P, 100), Ok(3));
        assert_eq!(io.out, b"hello");
        assert_eq!(console_read(&mut io, P, 100), Ok(0), "nothing waiting");
        // A capacity over the limit needs only the limit writable.
        let mut io = Fake::new(&[b'x'; 5000], CONSOLE_READ_MAX);
        assert_eq!(console_read(&mut io, P, 1 << 20), Ok(CONSOLE_READ_MAX));
        assert_eq!(io.typed.len(), 5000 - 4096);
    }

    fn typed_a(buf: &mut [u8]) -> usize {
        buf[0] = b'a';
        1
    }

    fn typed_bc(buf: &mut [u8]) -> usize {
        let n = buf.len().min(2);
        buf[..n].copy_from_slice(&b"bc"[..n]);
        n
    }

    #[test]
    fn sources_are_read_in_order_and_never_overfill() {
        assert!(register_source(typed_a));
        assert!(register_source(typed_bc));
        let mut buf = [0u8; 8];
        assert_eq!(take_from_sources(&mut buf), 3);
        assert_eq!(&buf[..3], b"abc");
        let mut two = [0u8; 2];
        assert_eq!(take_from_sources(&mut two), 2);
        assert_eq!(&two, b"ab");
        while register_source(typed_a) {}
        assert!(!register_source(typed_a), "all places taken");
    }
}
