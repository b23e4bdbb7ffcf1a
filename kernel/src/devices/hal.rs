//! The kernel's implementations of `virtio_drivers::Hal` ([`KernelHal`]), of
//! `drivers::hal::MmioDmaHal` for AHCI, NVMe, xHCI and e1000e ([`KernelMmioDmaHal`]) and of
//! `drivers::ide::IdeHal` ([`KernelIdeHal`]): DMA memory from the frame allocator, device
//! registers through the MMIO window, port I/O, buffer sharing, and the clock.
//!
//! Besides `arch` and `memory`, this is the only place in the kernel with `unsafe` code; the
//! memory work itself is done (safely, from here) by `memory::dma` and `memory::mmio`.
//!
//! [`KernelHal`] (virtio):
//!
//! - `dma_alloc`: physically contiguous zeroed frames (`FrameAllocator::alloc_contiguous`),
//!   addressed through the HHDM; `dma_dealloc` returns them as one run.
//! - `mmio_phys_to_virt`: `memory::mmio::map` (uncached, no-execute), which answers from its
//!   table when the range is already mapped. `devices::probe` maps every memory BAR up front, so
//!   a failure is reported there as an error; one that still happens here panics, because the
//!   trait gives no way to fail.
//! - `share`: a buffer whose pages are physically contiguous (always true for one within a page,
//!   for the stack and for the heap in practice, whose frames come from one bump run) is given
//!   to the device as is (zero-copy: DMA is cache-coherent on x86). Otherwise the data goes
//!   through a bounce buffer of fresh DMA frames (copied in for driver-to-device, copied back in
//!   `unshare` for device-to-driver), freed in `unshare`. Out of memory for a bounce buffer
//!   panics (the trait gives no way to fail); `VirtioBlock` caps requests at 256 KiB, so a
//!   bounce never needs more than 65 frames.
#![allow(unsafe_code)]

use core::ptr::NonNull;
use core::sync::atomic::{fence, Ordering};

use drivers::ahci::{AhciHal, DmaRegion};
use drivers::hal::{DmaHal, PortIo};
use drivers::virtio_blk::{BufferDirection, Hal, PhysAddr};

use crate::arch::port::Ports;
use crate::memory::{dma, frames::FRAME_SIZE, mmio, paging};

/// The HAL the kernel gives `virtio-drivers`.
pub struct KernelHal;

fn pages_for(len: usize) -> u64 {
    (len as u64).div_ceil(FRAME_SIZE).max(1)
}

// SAFETY: the implementation duties hold: (1) `dma_alloc` returns HHDM pointers to zeroed frames
// that the frame allocator handed out exclusively (so they alias nothing until `dma_dealloc`
// returns them) and that are page aligned; (2) `mmio_phys_to_virt` returns addresses in the
// MMIO window, which only device memory is mapped into and which nothing else references;
// (3) `share` gives the device either the buffer's own physical pages (contiguous, checked) or a
// private bounce buffer, and `unshare` copies back and frees exactly what `share` set up.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match dma::alloc_zeroed(pages as u64) {
            Some(buf) => match NonNull::new(buf.virt as *mut u8) {
                Some(ptr) => (buf.phys, ptr),
                None => (0, NonNull::dangling()),
            },
            None => {
                log::warn!("virtio: no {pages} contiguous free frames for DMA");
                // virtio-drivers treats physical address 0 as an allocation failure.
                (0, NonNull::dangling())
            }
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        match dma::free(paddr, pages as u64) {
            Ok(()) => 0,
            Err(e) => {
                log::error!("virtio: freeing {pages} DMA frames at {paddr:#x}: {e}");
                -1
            }
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        match mmio::map(paddr, size as u64) {
            Ok(virt) => NonNull::new(virt as *mut u8)
                .unwrap_or_else(|| panic!("MMIO window returned a null address")),
            Err(e) => panic!("virtio: cannot map {size:#x} bytes of MMIO at {paddr:#x}: {e}"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        let len = buffer.len();
        if let Some(phys) = dma::contiguous_phys(virt, len as u64) {
            return phys;
        }
        let pages = pages_for(len);
        BOUNCED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let Some(bounce) = dma::alloc_zeroed(pages) else {
            panic!("virtio: no {pages} contiguous free frames to bounce a {len}-byte buffer");
        };
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: (1) the caller guarantees `buffer` is valid for reads of `len` bytes and
            // not used by anyone else during this call; (2) the bounce buffer was just allocated
            // with at least `len` bytes, HHDM-mapped, so it cannot overlap `buffer`.
            unsafe {
                core::ptr::copy_nonoverlapping(virt as *const u8, bounce.virt as *mut u8, len)
            };
        }
        bounce.phys
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        let len = buffer.len();
        // Shared in place: `share` returned the buffer's own physical address. A bounce
        // buffer's frames are never the (in-use) buffer's own.
        if paging::translate(virt).map(|m| m.phys) == Some(paddr) {
            return;
        }
        let Some(hhdm) = paging::hhdm_offset() else {
            return;
        };
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: (1) `paddr` is the bounce buffer `share` allocated for this buffer (the
            // caller passes back what `share` returned), at least `len` bytes, HHDM-mapped;
            // (2) the caller guarantees `buffer` is valid for writes of `len` bytes and not used
            // by anyone else during this call; (3) the two do not overlap.
            unsafe {
                core::ptr::copy_nonoverlapping((hhdm + paddr) as *const u8, virt as *mut u8, len)
            };
        }
        if let Err(e) = dma::free(paddr, pages_for(len)) {
            log::error!("virtio: freeing the bounce buffer at {paddr:#x}: {e}");
        }
    }
}

/// The HAL (`drivers::hal::MmioDmaHal`) one AHCI HBA or NVMe controller gets: its register
/// BAR (AHCI: ABAR = BAR5; NVMe: BAR0) through the MMIO window, DMA memory from the frame
/// allocator (HHDM-addressed), and [`crate::time::uptime_us`] as the clock.
///
/// For NVMe the same holds with the controller's registers: `nvme::Controller::init` alone
/// programs the controller-wide registers and the admin queue, before any disk exists; each
/// opened namespace uses only its own I/O queue pair, its doorbells and its bounce buffer.
///
/// Clones share the HBA: [`ahci_hal`] makes one handle per HBA, which goes to one
/// `ahci::Controller`; the controller gives a clone to each disk it opens. The driver divides
/// the ABAR between them (see `AhciHal`'s safety section): the HBA-global registers are written
/// only by `Controller::init`, before any disk exists; each port's registers, command list,
/// received-FIS area and bounce buffer are used only by the one disk opened on that port (a
/// port is opened at most once). A clone holds nothing but the ABAR's address, so clones share
/// no state and disks on different ports need no lock between them.
///
/// - Registers: 32-bit volatile accesses at `abar + offset`, bounds-checked against the
///   mapping (an out-of-range offset is logged, not accessed, and reads as all ones). A full
///   fence orders them with the plain memory copies to and from DMA memory (command tables,
///   data).
/// - DMA: `dma_alloc(len)` is `memory::dma::alloc_zeroed` of `len` rounded up to frames (so
///   4096-byte aligned, physically contiguous, zeroed); `dma_read`/`dma_write` copy through
///   raw pointers into the HHDM (never a Rust reference: the HBA may write the memory at any
///   time), bounds-checked against the region.
#[derive(Clone, Debug)]
pub struct KernelMmioDmaHal {
    abar: u64,
    len: usize,
    /// DMA regions end at or below this physical address (`u64::MAX`: anywhere).
    dma_limit: u64,
}

impl KernelMmioDmaHal {
    /// # Safety
    /// `abar` is the virtual address at which `len` bytes of an AHCI HBA's ABAR (or an NVMe
    /// controller's BAR0) are mapped uncached (`memory::mmio::map`, which never unmaps), and
    /// this handle and its clones go to one `ahci::Controller` (or `nvme::Controller`) and the
    /// disks it opens and to nothing else: the device is programmed by no other handle (not
    /// the firmware, not a second controller over the same device).
    pub unsafe fn new(abar: u64, len: usize) -> Self {
        Self {
            abar,
            len,
            dma_limit: u64::MAX,
        }
    }

    /// The same handle, handing out DMA regions only below `limit` (a controller with 32-bit
    /// DMA addresses).
    pub fn with_dma_limit(self, limit: u64) -> Self {
        Self {
            dma_limit: limit,
            ..self
        }
    }

    /// The register at `offset`, if it is 4-aligned and inside the mapping. A driver asking
    /// for one outside (e.g. an NVMe doorbell stride the BAR does not decode) gets `None`: the
    /// access is logged and reads as all ones (what a device that is not there answers), so the
    /// driver ends in a named error (a fatal status, a timeout) instead of the kernel panicking.
    fn register(&self, offset: usize) -> Option<*mut u32> {
        if offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.len) {
            return Some((self.abar + offset as u64) as *mut u32);
        }
        log::error!(
            "register offset {offset:#x} outside the {:#x}-byte register BAR: not accessed",
            self.len
        );
        None
    }
}

fn region_range(region: &DmaRegion, offset: usize, len: usize) -> usize {
    assert!(
        offset
            .checked_add(len)
            .is_some_and(|end| end <= region.len()),
        "DMA access {offset:#x}+{len:#x} outside a {:#x}-byte region",
        region.len()
    );
    region.virt() + offset
}

// SAFETY: the `MmioDmaHal` duties hold: (1) registers: `new`'s caller vouched that `abar`
// maps the controller's register BAR uncached; accesses are volatile, 32-bit and
// bounds-checked, so they are neither cached, combined, elided nor outside the BAR; (2) `new`'s
// caller vouched that the handle and its clones go to one controller and its disks only (the
// driver then keeps each port or queue to one disk). The `DmaHal` duties: see its impl below.
unsafe impl AhciHal for KernelMmioDmaHal {
    fn read32(&mut self, offset: usize) -> u32 {
        let Some(reg) = self.register(offset) else {
            return u32::MAX;
        };
        // SAFETY: `reg` is a 4-aligned register inside the BAR mapping (checked in `register`;
        // the mapping's validity is `new`'s contract); a volatile read of device memory.
        let value = unsafe { reg.read_volatile() };
        fence(Ordering::SeqCst);
        value
    }

    fn write32(&mut self, offset: usize, value: u32) {
        let Some(reg) = self.register(offset) else {
            return;
        };
        fence(Ordering::SeqCst);
        // SAFETY: as in `read32`; a volatile write of device memory.
        unsafe { reg.write_volatile(value) };
    }
}

// SAFETY: the `DmaHal` duties hold: (1) `new`'s caller vouched that the handle goes to one
// controller and its disks; (2) `dma_alloc` is [`alloc_region`] below the handle's limit (none
// for AHCI, whose driver checks CAP.S64A itself, and NVMe; 4 GiB for an xHCI controller
// without AC64); (3) and (4):
// see [`alloc_region`], [`copy_from_region`], [`copy_to_region`] and `uptime_us` (TSC,
// monotonic).
unsafe impl DmaHal for KernelMmioDmaHal {
    fn dma_alloc(&mut self, len: usize) -> Option<DmaRegion> {
        alloc_region(len, self.dma_limit)
    }

    fn dma_free(&mut self, region: DmaRegion) {
        free_region(region);
    }

    fn dma_read(&mut self, region: &DmaRegion, offset: usize, buf: &mut [u8]) {
        copy_from_region(region, offset, buf);
    }

    fn dma_write(&mut self, region: &DmaRegion, offset: usize, data: &[u8]) {
        copy_to_region(region, offset, data);
    }

    fn now_us(&mut self) -> u64 {
        crate::time::uptime_us()
    }
}

/// Zeroed, physically contiguous, page-aligned frames for `len` bytes ending at or below
/// physical `limit`, as a [`DmaRegion`] reached through the HHDM. The frames are the
/// allocator's to give (exclusively ours until [`free_region`]) and RAM every device can reach
/// below `limit`.
fn alloc_region(len: usize, limit: u64) -> Option<DmaRegion> {
    let pages = pages_for(len);
    let buf = dma::alloc_zeroed_below(pages, limit)?;
    // SAFETY: `buf` is `pages` frames the allocator just handed out (exclusively ours until
    // `free_region`), zeroed, physically contiguous and page aligned at `buf.phys`, reachable
    // at `buf.virt` through the HHDM.
    Some(unsafe { DmaRegion::new(buf.phys, buf.virt as usize, (pages * FRAME_SIZE) as usize) })
}

/// Gives back a region from [`alloc_region`].
fn free_region(region: DmaRegion) {
    let pages = region.len() as u64 / FRAME_SIZE;
    if let Err(e) = dma::free(region.phys(), pages) {
        log::error!(
            "devices: freeing {pages} DMA frames at {:#x}: {e}",
            region.phys()
        );
    }
}

/// Copies bytes `offset ..` of `region` into `buf` (bounds-checked: a driver bug panics).
fn copy_from_region(region: &DmaRegion, offset: usize, buf: &mut [u8]) {
    let at = region_range(region, offset, buf.len());
    fence(Ordering::SeqCst);
    // SAFETY: (1) `at .. at + buf.len()` lies inside the region (checked), which is HHDM-
    // mapped RAM that `alloc_region` gave out and no Rust reference points to; (2) `buf` is a
    // distinct, caller-owned buffer, so the two do not overlap.
    unsafe { core::ptr::copy_nonoverlapping(at as *const u8, buf.as_mut_ptr(), buf.len()) };
}

/// Copies `data` to bytes `offset ..` of `region` (bounds-checked: a driver bug panics).
fn copy_to_region(region: &DmaRegion, offset: usize, data: &[u8]) {
    let at = region_range(region, offset, data.len());
    // SAFETY: as in `copy_from_region`, with the copy going the other way.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), at as *mut u8, data.len()) };
    fence(Ordering::SeqCst);
}

/// The HAL (`drivers::ide::IdeHal`) one IDE controller gets: port I/O ([`Ports`]) on the
/// ports its PCI function decodes, DMA memory below 4 GiB (the bus master's PRD entries are
/// 32-bit), and [`crate::time::uptime_us`] as the clock. Made only by [`ide_hal`].
#[derive(Clone, Debug)]
pub struct KernelIdeHal {
    ports: Ports,
}

/// Below this physical address every IDE DMA region lies.
const IDE_DMA_LIMIT: u64 = 1 << 32;

impl PortIo for KernelIdeHal {
    fn read8(&mut self, port: u16) -> u8 {
        self.ports.read8(port)
    }
    fn read16(&mut self, port: u16) -> u16 {
        self.ports.read16(port)
    }
    fn read32(&mut self, port: u16) -> u32 {
        self.ports.read32(port)
    }
    fn write8(&mut self, port: u16, value: u8) {
        self.ports.write8(port, value)
    }
    fn write16(&mut self, port: u16, value: u16) {
        self.ports.write16(port, value)
    }
    fn write32(&mut self, port: u16, value: u32) {
        self.ports.write32(port, value)
    }
}

// SAFETY: the `DmaHal` duties hold: (1) `ide_hal`'s caller gives the handle to one controller;
// (2) `dma_alloc` is [`alloc_region`] below 4 GiB; (3) and (4) as for `KernelMmioDmaHal`.
unsafe impl DmaHal for KernelIdeHal {
    fn dma_alloc(&mut self, len: usize) -> Option<DmaRegion> {
        alloc_region(len, IDE_DMA_LIMIT)
    }

    fn dma_free(&mut self, region: DmaRegion) {
        free_region(region);
    }

    fn dma_read(&mut self, region: &DmaRegion, offset: usize, buf: &mut [u8]) {
        copy_from_region(region, offset, buf);
    }

    fn dma_write(&mut self, region: &DmaRegion, offset: usize, data: &[u8]) {
        copy_to_region(region, offset, data);
    }

    fn now_us(&mut self) -> u64 {
        crate::time::uptime_us()
    }
}

// SAFETY: the `IdeHal` duties hold: (1) `ide_hal` is called once per IDE function per probe and
// its caller gives the handle to that function's one `ide::Controller` only, after enabling the
// function's I/O decoding; the driver touches only the ports `ControllerPorts::from_pci`
// derives from that function's prog-if and BARs, which no other kernel code drives (the
// firmware let go at exit-boot-services; the kernel has no IDE interrupt handler: the driver
// runs with nIEN set); (2) `dma_alloc` gives regions ending at or below 4 GiB; (3) `Ports`
// performs each `in`/`out` once, in program order, and the region copies are fenced.
unsafe impl drivers::ide::IdeHal for KernelIdeHal {}

/// The HAL for one IDE controller. Only the IDE entry of `devices`' driver table calls this,
/// once per IDE function per probe, and gives the handle to that function's controller.
pub(super) fn ide_hal() -> KernelIdeHal {
    // SAFETY: the handle goes only to one `ide::Controller`, which drives its own function's
    // command, control and bus-master ports and nothing else (see the `IdeHal` impl above).
    let ports = unsafe { Ports::new() };
    KernelIdeHal { ports }
}

/// How many buffers `share` had to bounce (not physically contiguous), for the log.
pub static BOUNCED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Maps an AHCI HBA's ABAR (BAR5 at physical `phys`, `size` bytes) and makes its HAL. Only the
/// AHCI entry of `devices`' driver table calls this, once per AHCI function per probe (and
/// `devices::probe` runs once per boot); the handle then goes to that function's controller,
/// which gives clones to its disks only.
///
/// # Errors
/// What [`mmio::map`] says.
pub(super) fn ahci_hal(phys: u64, size: u64) -> Result<KernelMmioDmaHal, mmio::MmioError> {
    // An HBA decodes at most 0x1100 bytes of registers (32 ports); BAR5 may be larger.
    let len = size.min(0x2000);
    let virt = mmio::map(phys, len)?;
    // SAFETY: `virt` maps `len` bytes of the HBA's ABAR uncached, just above, for good; the
    // caller gives the handle to one `ahci::Controller`, which clones it only for the disks it
    // opens; nothing else programs the HBA: this function runs once per HBA (one probe per
    // boot), the firmware gave the machine up at exit-boot-services and the BIOS/OS handoff in
    // `Controller::init` takes the HBA from it.
    Ok(unsafe { KernelMmioDmaHal::new(virt, len as usize) })
}

/// Maps an NVMe controller's BAR0 (physical `phys`, `size` bytes) and makes its HAL. Only the
/// NVMe entry of `devices`' driver table calls this, once per NVMe function per probe; the
/// handle then goes to that function's controller, which gives clones to its namespaces only.
///
/// # Errors
/// What [`mmio::map`] says.
pub(super) fn nvme_hal(phys: u64, size: u64) -> Result<KernelMmioDmaHal, mmio::MmioError> {
    // Registers at 0..0x1000, doorbells from 0x1000 (17 queue pairs at most: the admin pair
    // and the 16 the driver asks for, at any doorbell stride a BAR of this size decodes).
    let len = size.min(0x10000);
    let virt = mmio::map(phys, len)?;
    // SAFETY: `virt` maps `len` bytes of the controller's BAR0 uncached, just above, for good;
    // the caller gives the handle to one `nvme::Controller`, which clones it only for the
    // namespaces it opens; nothing else programs the controller: this function runs once per
    // controller (one probe per boot), and the firmware gave the machine up at
    // exit-boot-services (`Controller::init` disables and resets the controller first).
    Ok(unsafe { KernelMmioDmaHal::new(virt, len as usize) })
}

/// Maps an Intel 82574L's register BAR0 (physical `phys`, `size` bytes: its 128 KiB) and
/// makes its HAL. Only `devices::net` calls this, once per e1000e function per boot; the
/// handle then goes to that function's one `E1000e`, which never clones it.
///
/// # Errors
/// What [`mmio::map`] says.
pub(super) fn e1000e_hal(phys: u64, size: u64) -> Result<KernelMmioDmaHal, mmio::MmioError> {
    let len = size.min(0x2_0000);
    let virt = mmio::map(phys, len)?;
    // SAFETY: `virt` maps `len` bytes of the controller's BAR0 uncached, just above, for good;
    // the caller gives the handle to one `E1000e` and nothing else programs the controller:
    // this function runs once per controller (one bring-up per boot), the firmware gave the
    // machine up at exit-boot-services, and `E1000e::init` masks interrupts and resets it first.
    Ok(unsafe { KernelMmioDmaHal::new(virt, len as usize) })
}

/// Maps an xHCI controller's BAR0 (physical `phys`, `size` bytes: all of it, up to 1 MiB) and
/// makes its HAL, with DMA below 4 GiB unless HCCPARAMS1.AC64 says the controller takes 64-bit
/// addresses. Only the xHCI entry of `devices`' driver table calls this, once per xHCI function
/// per probe; the handle then goes to that function's controller and the disks it opens.
///
/// # Errors
/// What [`mmio::map`] says.
pub(super) fn xhci_hal(phys: u64, size: u64) -> Result<KernelMmioDmaHal, mmio::MmioError> {
    use drivers::usb::xhci::proto::cap;
    // The doorbells, runtime registers and extended capabilities can be anywhere in BAR0.
    let len = size.min(0x10_0000);
    let virt = mmio::map(phys, len)?;
    // SAFETY: `virt` maps `len` bytes of the controller's BAR0 uncached, just above, for good;
    // the caller gives the handle to one `usb::probe`, whose controller shares it (behind a
    // lock) only with the devices it enumerates; nothing else programs the controller: this
    // function runs once per controller (one probe per boot), and `Controller::init` takes it
    // from the firmware (USB legacy support handoff) and resets it first.
    let mut hal = unsafe { KernelMmioDmaHal::new(virt, len as usize) };
    let ac64 = hal.read32(cap::HCCPARAMS1) & cap::HCC_AC64 != 0;
    Ok(if ac64 {
        hal
    } else {
        hal.with_dma_limit(1 << 32)
    })
}

/// The PCI configuration mechanism #1 over the real ports.
pub fn pci_config() -> drivers::pci::PortConfig<crate::arch::port::Ports> {
    // SAFETY: the handle goes only into `PortConfig`, which touches the configuration ports
    // 0xCF8 and 0xCFC and nothing else; PCI configuration is used from one CPU, never from an
    // interrupt handler, so its address/data pairs are not interleaved.
    let ports = unsafe { crate::arch::port::Ports::new() };
    drivers::pci::PortConfig::new(ports)
}
