//! x86 port I/O for drivers, behind the `drivers` crate's [`PortIo`] trait.

use drivers::hal::PortIo;
use x86_64::instructions::port::Port;

/// A handle for `in`/`out` instructions on any port. Zero-sized and `Copy`; the constructor is
/// where the unsafety of port I/O is vouched for.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    _private: (),
}

impl Ports {
    /// # Safety
    /// The caller must hand the handle only to code that drives ports it is entitled to (the PCI
    /// configuration mechanism `0xCF8..=0xCFF`, a driver's own I/O BAR), one user at a time: port
    /// writes can reprogram any device, including the interrupt controllers and the firmware's.
    pub unsafe fn new() -> Self {
        Self { _private: () }
    }
}

impl PortIo for Ports {
    fn read8(&mut self, port: u16) -> u8 {
        // SAFETY: `Ports::new`'s caller vouched for the ports this handle is used on; an `in`
        // touches no memory.
        unsafe { Port::<u8>::new(port).read() }
    }

    fn read16(&mut self, port: u16) -> u16 {
        // SAFETY: as in `read8`.
        unsafe { Port::<u16>::new(port).read() }
    }

    fn read32(&mut self, port: u16) -> u32 {
        // SAFETY: as in `read8`.
        unsafe { Port::<u32>::new(port).read() }
    }

    fn write8(&mut self, port: u16, value: u8) {
        // SAFETY: `Ports::new`'s caller vouched for the ports this handle is used on; an `out`
        // touches no memory.
        unsafe { Port::<u8>::new(port).write(value) }
    }

    fn write16(&mut self, port: u16, value: u16) {
        // SAFETY: as in `write8`.
        unsafe { Port::<u16>::new(port).write(value) }
    }

    fn write32(&mut self, port: u16, value: u32) {
        // SAFETY: as in `write8`.
        unsafe { Port::<u32>::new(port).write(value) }
    }
}
