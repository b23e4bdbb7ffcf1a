//! What the drivers need from the machine, as traits the kernel implements and tests fake.
//!
//! - [`PortIo`]: x86 port I/O (PCI configuration, IDE channels).
//! - [`DmaHal`] and [`DmaRegion`]: DMA memory and a clock, for the drivers that program a
//!   controller themselves.
//! - [`MmioDmaHal`]: [`DmaHal`] plus one device's memory-mapped registers (AHCI, which calls it
//!   [`crate::ahci::AhciHal`], and NVMe, [`crate::nvme::NvmeHal`]).
//! - [`crate::ide::IdeHal`]: [`DmaHal`] plus [`PortIo`] on one IDE controller's ports, with
//!   DMA memory below 4 GiB.
//!
//! virtio-blk maps device memory and allocates DMA memory through [`virtio_drivers::Hal`]
//! (re-exported as [`crate::virtio_blk::Hal`]), whose documentation lists the implementer's and
//! the caller's duties; the kernel implements it once.

#[cfg(test)]
pub(crate) mod fake;

/// x86 port I/O (`in`/`out`), 8, 16 and 32 bits wide.
///
/// The methods are safe to call: whoever *creates* a value implementing this trait for real
/// hardware vouches that the code it hands the value to may drive the ports it will touch (for
/// this crate: the PCI configuration ports `0xCF8..=0xCFF`, and an IDE controller's channel
/// and bus-master ports, see [`crate::ide::IdeHal`]). The kernel's implementation
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

/// DMA memory a HAL handed out: `len` bytes, physically contiguous at `phys`, zeroed when
/// allocated, 4096-byte aligned. Only a HAL can make one ([`DmaRegion::new`] is `unsafe`), so
/// a region always stands for memory that the HAL's `dma_read`/`dma_write` may touch. Not
/// `Clone`: the region is given back to [`DmaHal::dma_free`] once.
#[derive(Debug, PartialEq, Eq)]
pub struct DmaRegion {
    phys: u64,
    virt: usize,
    len: usize,
}

impl DmaRegion {
    /// # Safety
    /// The caller (a [`DmaHal`] implementation) vouches that `len` bytes at physical
    /// `phys` are memory it owns exclusively for this region's lifetime, physically contiguous
    /// and 4096-byte aligned, and that `virt` is what its own `dma_read`/`dma_write` need to
    /// reach them (for a kernel: the mapped virtual address).
    pub unsafe fn new(phys: u64, virt: usize, len: usize) -> Self {
        Self { phys, virt, len }
    }

    /// The physical (bus) address the device uses.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// The address the HAL reaches the memory at.
    pub fn virt(&self) -> usize {
        self.virt
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// DMA memory and a clock: what every driver that programs a controller itself needs from the
/// machine, whatever it reaches the controller's registers through. [`MmioDmaHal`] adds
/// memory-mapped registers (AHCI, NVMe); [`crate::ide::IdeHal`] adds port I/O (IDE).
///
/// # Safety
/// The driver programs its controller with the physical addresses of the regions this trait
/// hands out, so the controller will read and write them at any time while it runs.
/// Implementers guarantee:
/// 1. The handle and its clones go to one driver controller (`ahci::Controller`,
///    `nvme::Controller`, `ide::Controller`, `net::e1000e::E1000e`) and the disks it opens,
///    and to nothing else, so
///    that the regions they hand out are given to that one device.
/// 2. `dma_alloc(len)` answers `None` or a region of at least `len` bytes that is zeroed,
///    physically contiguous, 4096-byte aligned, reachable by the controller's DMA at `phys`,
///    and used by nothing else until it is passed to `dma_free`. (Drivers whose controller
///    addresses less than 64 bits say so in their HAL's contract, e.g. [`crate::ide::IdeHal`]:
///    below 4 GiB.)
/// 3. `dma_read`/`dma_write` copy between `buf` and bytes `offset .. offset + buf.len()` of the
///    region (never through a Rust reference to the region, which the device may write
///    concurrently), ordered with the register or port accesses around them; they may panic
///    if the range exceeds the region (a driver bug).
/// 4. `now_us` never goes backwards and advances with real time (a polling loop that reads it
///    ends).
pub unsafe trait DmaHal {
    /// Zeroed, physically contiguous, 4096-byte aligned DMA memory of at least `len` bytes.
    fn dma_alloc(&mut self, len: usize) -> Option<DmaRegion>;
    /// Gives back a region from [`dma_alloc`](Self::dma_alloc).
    fn dma_free(&mut self, region: DmaRegion);
    /// Copies `buf.len()` bytes at `offset` of `region` into `buf`.
    fn dma_read(&mut self, region: &DmaRegion, offset: usize, buf: &mut [u8]);
    /// Copies `data` to `offset` of `region`.
    fn dma_write(&mut self, region: &DmaRegion, offset: usize, data: &[u8]);
    /// A monotonic clock in microseconds.
    fn now_us(&mut self) -> u64;
}

/// What a driver that programs a memory-mapped controller needs from the machine: that
/// controller's registers, on top of [`DmaHal`]'s DMA memory and clock. AHCI
/// ([`crate::ahci::AhciHal`]), NVMe ([`crate::nvme::NvmeHal`]) and e1000e
/// ([`crate::net::e1000e::E1000eHal`]) drivers use it under their own names (re-exports of this
/// trait).
///
/// # Safety
/// [`DmaHal`]'s duties, and:
/// 1. `read32`/`write32` access the 32-bit register at byte `offset` of *one* controller's
///    register BAR (mapped uncached), in program order, never cached, combined or elided.
///    `offset` is 4-aligned and inside the registers the driver documents (AHCI: below
///    `0x1100`; NVMe: below `0x1000` plus its doorbells; e1000e: below `0x2_0000`, its
///    128 KiB BAR 0); implementations may panic otherwise
///    (a driver bug).
/// 2. The handle and its clones go to one driver controller (`ahci::Controller`,
///    `nvme::Controller`, `net::e1000e::E1000e`) and the disks it opens, and to nothing else: no second controller over
///    the same device, and nothing outside the driver (not the firmware after any handoff, not
///    another driver) programs it. Clones all reach the whole register BAR; each driver divides
///    it between them as its HAL re-export documents.
pub unsafe trait MmioDmaHal: DmaHal {
    /// Reads the register at byte `offset` of the register BAR.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes the register at byte `offset` of the register BAR.
    fn write32(&mut self, offset: usize, value: u32);
}

/// Polls `done` until it answers true or `timeout_us` have passed (then one last check).
pub(crate) fn wait_until<H: DmaHal + ?Sized>(
    hal: &mut H,
    timeout_us: u64,
    mut done: impl FnMut(&mut H) -> bool,
) -> bool {
    let start = hal.now_us();
    loop {
        if done(hal) {
            return true;
        }
        if hal.now_us().saturating_sub(start) >= timeout_us {
            return done(hal);
        }
        core::hint::spin_loop();
    }
}
