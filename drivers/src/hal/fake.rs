//! Test-only pieces the device fakes share: DMA memory (a bump-allocated vector) and a clock
//! ([`FakeDma`]), the shared handle that makes a fake device a HAL ([`Shared`]: [`DmaHal`] for
//! every [`HasFakeDma`], [`MmioDmaHal`] for every [`HasFakeRegisters`]), and [`storage_function`],
//! a PCI function to ask the drivers' `is_*_function` about.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{RefCell, RefMut};

use super::{DmaHal, DmaRegion, MmioDmaHal};
use crate::pci::{HeaderType, PciAddress, PciDevice};

/// How far the clock moves per [`FakeDma::tick`] (one `now_us` call).
pub const TICK_US: u64 = 50;

/// Fake DMA memory: a vector that stands for physical memory from `mem_base` up, handed out by
/// a bump allocator in 4096-byte pages (never reused), with a budget; plus a clock that moves
/// [`TICK_US`] per tick, so timeouts end.
pub struct FakeDma {
    pub mem: Vec<u8>,
    pub mem_base: u64,
    /// Bytes of DMA memory that may be handed out in total.
    pub dma_limit: usize,
    pub dma_in_use: usize,
    pub frees: usize,
    pub clock: u64,
}

impl Default for FakeDma {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeDma {
    /// Empty memory at physical `0x10_0000`, no budget limit, the clock at 0.
    pub fn new() -> Self {
        Self {
            mem: Vec::new(),
            mem_base: 0x10_0000,
            dma_limit: usize::MAX,
            dma_in_use: 0,
            frees: 0,
            clock: 0,
        }
    }

    /// `DmaHal::dma_alloc`: `len` rounded up to pages, fresh and zeroed, or `None` past
    /// `dma_limit`.
    pub fn alloc(&mut self, len: usize) -> Option<DmaRegion> {
        let len = len.next_multiple_of(4096);
        if self.dma_in_use + len > self.dma_limit {
            return None;
        }
        self.dma_in_use += len;
        let at = self.mem.len().next_multiple_of(4096);
        self.mem.resize(at + len, 0);
        let phys = self.mem_base + at as u64;
        // SAFETY: `phys .. phys + len` is a fresh, zeroed part of the fake's memory vector,
        // 4096-aligned (every `mem_base` the tests use is page-aligned), and handed out once:
        // the bump allocator never reuses it. `virt` is unused by this fake.
        Some(unsafe { DmaRegion::new(phys, at, len) })
    }

    /// `DmaHal::dma_free`: counts the region back out of the budget (the bytes stay).
    pub fn free(&mut self, region: DmaRegion) {
        self.dma_in_use -= region.len();
        self.frees += 1;
    }

    /// `DmaHal::dma_read`; panics if the range exceeds the region.
    pub fn read(&self, region: &DmaRegion, offset: usize, buf: &mut [u8]) {
        assert!(offset + buf.len() <= region.len());
        let i = self.phys_to_index(region.phys() + offset as u64, buf.len());
        buf.copy_from_slice(&self.mem[i..i + buf.len()]);
    }

    /// `DmaHal::dma_write`; panics if the range exceeds the region.
    pub fn write(&mut self, region: &DmaRegion, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= region.len());
        self.write_mem(region.phys() + offset as u64, data);
    }

    /// What the device reads: `len` bytes at physical `phys`.
    pub fn read_mem(&self, phys: u64, len: usize) -> Vec<u8> {
        let i = self.phys_to_index(phys, len);
        self.mem[i..i + len].to_vec()
    }

    /// What the device writes: `data` at physical `phys`.
    pub fn write_mem(&mut self, phys: u64, data: &[u8]) {
        let i = self.phys_to_index(phys, data.len());
        self.mem[i..i + data.len()].copy_from_slice(data);
    }

    /// `DmaHal::now_us`: advances the clock by [`TICK_US`] and answers it.
    pub fn tick(&mut self) -> u64 {
        self.clock += TICK_US;
        self.clock
    }

    fn phys_to_index(&self, phys: u64, len: usize) -> usize {
        let i = phys
            .checked_sub(self.mem_base)
            .expect("DMA below fake memory") as usize;
        assert!(i + len <= self.mem.len(), "DMA beyond fake memory");
        i
    }
}

/// A PCI function at 00:1f.2 with these IDs and class code (`(class, subclass, prog_if)`), no
/// BARs or capabilities.
pub fn storage_function(vendor_id: u16, device_id: u16, class: (u8, u8, u8)) -> PciDevice {
    let (class, subclass, prog_if) = class;
    PciDevice {
        address: PciAddress {
            bus: 0,
            device: 0x1f,
            function: 2,
        },
        vendor_id,
        device_id,
        revision: 0,
        class,
        subclass,
        prog_if,
        header_type: HeaderType::Standard,
        multifunction: false,
        bars: [None; 6],
        capabilities: Vec::new(),
        interrupt_line: 0,
        interrupt_pin: 0,
        secondary_bus: None,
    }
}

/// A fake device with DMA memory and a clock.
pub trait HasFakeDma {
    fn dma(&mut self) -> &mut FakeDma;
}

/// A fake device with memory-mapped 32-bit registers.
pub trait HasFakeRegisters: HasFakeDma {
    fn read_register(&mut self, offset: usize) -> u32;
    fn write_register(&mut self, offset: usize, value: u32);
}

/// A fake device as a HAL: a shared handle, so that the driver's controller, its disks and the
/// test all reach the same device.
pub struct Shared<D>(pub Rc<RefCell<D>>);

impl<D> Clone for Shared<D> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<D> Shared<D> {
    pub fn new(device: D) -> Self {
        Self(Rc::new(RefCell::new(device)))
    }

    /// The device, to look at or poke.
    pub fn dev(&self) -> RefMut<'_, D> {
        self.0.borrow_mut()
    }
}

// SAFETY: nothing here is real memory: DMA goes to the device's `FakeDma`, whose "memory" is a
// vector indexed by `phys - mem_base` (bounds asserted), whose regions are handed out once each
// from a bump allocator, and whose clock only moves forward.
unsafe impl<D: HasFakeDma> DmaHal for Shared<D> {
    fn dma_alloc(&mut self, len: usize) -> Option<DmaRegion> {
        self.dev().dma().alloc(len)
    }

    fn dma_free(&mut self, region: DmaRegion) {
        self.dev().dma().free(region)
    }

    fn dma_read(&mut self, region: &DmaRegion, offset: usize, buf: &mut [u8]) {
        self.dev().dma().read(region, offset, buf)
    }

    fn dma_write(&mut self, region: &DmaRegion, offset: usize, data: &[u8]) {
        self.dev().dma().write(region, offset, data)
    }

    fn now_us(&mut self) -> u64 {
        self.dev().dma().tick()
    }
}

// SAFETY: nothing here is real hardware: registers are fields of the fake device, reached by
// this handle and its clones only.
unsafe impl<D: HasFakeRegisters> MmioDmaHal for Shared<D> {
    fn read32(&mut self, offset: usize) -> u32 {
        self.dev().read_register(offset)
    }

    fn write32(&mut self, offset: usize, value: u32) {
        self.dev().write_register(offset, value)
    }
}
