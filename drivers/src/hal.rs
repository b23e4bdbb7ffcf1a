//! What the drivers need from the machine, as traits the kernel implements and tests fake.
//!
//! Only port I/O lives here. Mapping device memory (MMIO) and allocating DMA memory go through
//! [`virtio_drivers::Hal`] (re-exported as [`crate::virtio_blk::Hal`]), whose documentation
//! lists the implementer's and the caller's duties; the kernel implements it once.

/// x86 port I/O (`in`/`out`), 8, 16 and 32 bits wide.
///
/// The methods are safe to call: whoever *creates* a value implementing this trait for real
/// hardware vouches that the code it hands the value to may drive the ports it will touch (for
/// this crate: the PCI configuration ports `0xCF8..=0xCFF`). The kernel's implementation
/// (`arch::port::Ports`) therefore has an `unsafe` constructor. A fake (tests) simply models
/// devices behind ports.
///
/// Accesses are performed in program order and are not combined or elided: a read may have
/// side effects on the device, so implementations must not cache values.
pub trait PortIo {
    /// Reads a byte from `port`.
    fn read8(&mut self, port: u16) -> u8;
    /// Reads 16 bits from `port`.
    fn read16(&mut self, port: u16) -> u16;
    /// Reads 32 bits from `port`.
    fn read32(&mut self, port: u16) -> u32;
    /// Writes a byte to `port`.
    fn write8(&mut self, port: u16, value: u8);
    /// Writes 16 bits to `port`.
    fn write16(&mut self, port: u16, value: u16);
    /// Writes 32 bits to `port`.
    fn write32(&mut self, port: u16, value: u32);
}

impl<P: PortIo + ?Sized> PortIo for &mut P {
    fn read8(&mut self, port: u16) -> u8 {
        (**self).read8(port)
    }
    fn read16(&mut self, port: u16) -> u16 {
        (**self).read16(port)
    }
    fn read32(&mut self, port: u16) -> u32 {
        (**self).read32(port)
    }
    fn write8(&mut self, port: u16, value: u8) {
        (**self).write8(port, value)
    }
    fn write16(&mut self, port: u16, value: u16) {
        (**self).write16(port, value)
    }
    fn write32(&mut self, port: u16, value: u32) {
        (**self).write32(port, value)
    }
}
