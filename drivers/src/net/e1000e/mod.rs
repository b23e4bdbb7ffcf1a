//! Intel 82574L (e1000e) Gigabit Ethernet controllers as [`NetDevice`]s, polled.
//!
//! The driver is generic over [`E1000eHal`], which gives it the controller's registers (BAR0,
//! memory-mapped, 128 KiB), DMA memory and a microsecond clock; the kernel implements it over
//! its MMIO window and frame allocator, tests over a fake 82574L.
//!
//! Bring-up ([`E1000e::init`]): interrupts masked (IMC; the driver polls), receive and transmit
//! off, a global reset (CTRL.RST, waited for against a deadline, then the NVM auto-read,
//! EECD.AUTO_RD), the MAC address from RAL0/RAH0 (or the EEPROM through EERD when the registers
//! hold none), the multicast table cleared, a receive ring and a transmit ring of legacy
//! descriptors with 2048-byte buffers in DMA memory, and link-up requested (CTRL.SLU;
//! auto-negotiation is the PHY's). [`E1000e::wait_for_link`] waits for STATUS.LU.
//!
//! Frames: [`NetDevice::transmit`] copies the frame into the next transmit buffer, writes its
//! descriptor (EOP, IFCS, RS) and bumps TDT; completed descriptors (DD) are reclaimed lazily, and
//! only a full ring waits, against a deadline. [`NetDevice::receive`] looks at the next receive
//! descriptor's DD, copies the frame out and gives the descriptor back (RDT); it never waits.
//! Not done (yet): interrupts, checksum offload, TSO, VLANs, multicast filters beyond broadcast,
//! multiple queues, jumbo frames.

pub mod regs;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use super::{check_frame_len, DeviceFailure, MacAddress, NetDevice, NetError};
use crate::hal::{wait_until, DmaRegion};
use regs::*;

/// The HAL the e1000e driver is generic over: [`MmioDmaHal`](crate::hal::MmioDmaHal) (one
/// device's registers, DMA memory, a clock). Here the registers are one 82574L's BAR0:
/// `offset` is below [`regs::BAR0_BYTES`]. The driver keeps a single handle (no clones), so
/// it owns the whole controller; DMA addresses are 64-bit.
pub use crate::hal::MmioDmaHal as E1000eHal;

/// Intel's PCI vendor ID.
pub const INTEL_VENDOR_ID: u16 = 0x8086;
/// The device IDs this driver takes: 82574L (QEMU q35's default NIC). The 82540EM (`0x100e`,
/// QEMU pc's e1000) is not among them: its EERD register has another layout.
pub const DEVICE_IDS: &[u16] = &[0x10d3];

/// Whether a PCI function is a controller this driver takes.
pub fn is_e1000e_function(dev: &crate::pci::PciDevice) -> bool {
    dev.vendor_id == INTEL_VENDOR_ID && DEVICE_IDS.contains(&dev.device_id)
}

/// Receive descriptors (a multiple of 8: ring lengths are multiples of 128 bytes).
pub const RX_DESCRIPTORS: usize = 32;
/// Transmit descriptors (a multiple of 8); one stays empty, so 31 frames may be in flight.
pub const TX_DESCRIPTORS: usize = 32;
/// Bytes per frame buffer (RCTL.BSIZE = 2048).
pub const BUFFER_BYTES: usize = 2048;
/// Where the rings lie in their DMA region.
const RX_RING_OFFSET: usize = 0;
const TX_RING_OFFSET: usize = 2048;
/// How long pending DMA gets to finish after receive and transmit are turned off.
const QUIESCE_US: u64 = 10_000;
/// How long the driver leaves the device alone after setting CTRL.RST.
const RESET_SETTLE_US: u64 = 1_000;

/// How long the driver waits for each thing, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// CTRL.RST to clear after a global reset.
    pub reset_us: u64,
    /// One EEPROM word read (EERD.DONE).
    pub eeprom_us: u64,
    /// A full transmit ring to free a slot.
    pub tx_us: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            reset_us: 100_000,
            eeprom_us: 10_000,
            tx_us: 500_000,
        }
    }
}

/// Frame counters since bring-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub tx_frames: u64,
    pub rx_frames: u64,
    /// Received frames thrown away: receive errors, or frames spread over several buffers.
    pub rx_dropped: u64,
}

/// The DMA memory the device uses: both descriptor rings in one page, and the frame buffers.
struct Dma {
    rings: DmaRegion,
    rx_buffers: DmaRegion,
    tx_buffers: DmaRegion,
}

/// An 82574L after bring-up: receive and transmit on, interrupts masked.
pub struct E1000e<H: E1000eHal> {
    hal: H,
    mac: MacAddress,
    timeouts: Timeouts,
    /// `None` only once dropped.
    dma: Option<Dma>,
    rx_next: usize,
    tx_tail: usize,
    /// The oldest transmit descriptor not yet seen done.
    tx_clean: usize,
    stats: Stats,
}

impl<H: E1000eHal> E1000e<H> {
    /// Resets the controller and brings it up (see the module documentation). Does not wait
    /// for the link: see [`Self::wait_for_link`].
    ///
    /// # Errors
    /// [`NetError::Removed`], [`NetError::Device`] (reset or EEPROM timeout, no MAC address,
    /// no DMA memory).
    pub fn init(mut hal: H, timeouts: Timeouts) -> Result<Self, NetError> {
        if hal.read32(STATUS) == u32::MAX {
            return Err(NetError::Removed);
        }
        reset(&mut hal, timeouts.reset_us)?;
        wait_nvm_loaded(&mut hal, timeouts.eeprom_us);
        let mac = read_mac(&mut hal, timeouts.eeprom_us)?;
        let dma = alloc_dma(&mut hal)?;
        let mut dev = Self {
            hal,
            mac,
            timeouts,
            dma: Some(dma),
            rx_next: 0,
            tx_tail: 0,
            tx_clean: 0,
            stats: Stats::default(),
        };
        dev.setup_receive();
        dev.setup_transmit();
        let ctrl = dev.hal.read32(CTRL);
        dev.hal.write32(CTRL, ctrl | CTRL_SLU);
        Ok(dev)
    }

    /// Waits up to `timeout_us` for STATUS.LU.
    ///
    /// # Errors
    /// [`NetError::LinkDown`] when the link stays down, [`NetError::Removed`].
    pub fn wait_for_link(&mut self, timeout_us: u64) -> Result<(), NetError> {
        wait_until(&mut self.hal, timeout_us, |h| {
            h.read32(STATUS) & STATUS_LU != 0
        });
        self.check_link()
    }

    /// Frame counters since bring-up.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// STATUS, or [`NetError::Removed`] when it reads all ones.
    fn status(&mut self) -> Result<u32, NetError> {
        match self.hal.read32(STATUS) {
            u32::MAX => Err(NetError::Removed),
            status => Ok(status),
        }
    }

    fn check_link(&mut self) -> Result<(), NetError> {
        if self.status()? & STATUS_LU == 0 {
            return Err(NetError::LinkDown);
        }
        Ok(())
    }

    /// Clears the multicast table, hands every receive descriptor a buffer and turns receive on.
    fn setup_receive(&mut self) {
        for i in 0..MTA_LEN {
            self.hal.write32(MTA + 4 * i, 0);
        }
        let Some(dma) = &self.dma else { return };
        for i in 0..RX_DESCRIPTORS {
            let d = rx_descriptor(dma.rx_buffers.phys() + (i * BUFFER_BYTES) as u64);
            self.hal
                .dma_write(&dma.rings, RX_RING_OFFSET + i * DESC_BYTES, &d);
        }
        let base = dma.rings.phys() + RX_RING_OFFSET as u64;
        let rx = [RDBAL, RDBAH, RDLEN, RDH, RDT];
        self.program_ring(rx, base, RX_DESCRIPTORS, (RX_DESCRIPTORS - 1) as u32);
        self.hal
            .write32(RCTL, RCTL_EN | RCTL_BAM | RCTL_BSIZE_2048 | RCTL_SECRC);
    }

    /// Points the device at the (zeroed) transmit ring and turns transmit on.
    fn setup_transmit(&mut self) {
        let Some(dma) = &self.dma else { return };
        let base = dma.rings.phys() + TX_RING_OFFSET as u64;
        self.program_ring([TDBAL, TDBAH, TDLEN, TDH, TDT], base, TX_DESCRIPTORS, 0);
        self.hal.write32(TIPG, TIPG_COPPER);
        let tctl = TCTL_EN | TCTL_PSP | (TCTL_CT << TCTL_CT_SHIFT) | (TCTL_COLD << TCTL_COLD_SHIFT);
        self.hal.write32(TCTL, tctl);
    }

    /// Points a ring's registers — base low, base high, length, head, tail, in that order — at
    /// `descriptors` descriptors from `base`, head 0 and the given tail.
    fn program_ring(&mut self, regs: [usize; 5], base: u64, descriptors: usize, tail: u32) {
        let [bal, bah, len, head, tail_reg] = regs;
        self.hal.write32(bal, base as u32);
        self.hal.write32(bah, (base >> 32) as u32);
        self.hal.write32(len, (descriptors * DESC_BYTES) as u32);
        self.hal.write32(head, 0);
        self.hal.write32(tail_reg, tail);
    }

    /// Advances `tx_clean` past every transmit descriptor the device has marked done.
    fn reclaim_tx(&mut self) {
        let Some(dma) = &self.dma else { return };
        while self.tx_clean != self.tx_tail && tx_done(&mut self.hal, &dma.rings, self.tx_clean) {
            self.tx_clean = (self.tx_clean + 1) % TX_DESCRIPTORS;
        }
    }

    fn tx_ring_full(&self) -> bool {
        (self.tx_tail + 1) % TX_DESCRIPTORS == self.tx_clean
    }

    /// Waits (up to [`Timeouts::tx_us`]) for the oldest transmit descriptor to complete.
    fn wait_tx_slot(&mut self) -> Result<(), NetError> {
        let Some(dma) = &self.dma else {
            return Err(NetError::Removed);
        };
        let clean = self.tx_clean;
        let done = wait_until(&mut self.hal, self.timeouts.tx_us, |h| {
            tx_done(h, &dma.rings, clean) || h.read32(STATUS) == u32::MAX
        });
        self.status()?;
        if !done {
            let head = self.hal.read32(TDH);
            let tail = self.hal.read32(TDT);
            log::error!("e1000e: transmit stalled (TDH {head}, TDT {tail})");
            return Err(NetError::TxTimeout { head, tail });
        }
        self.reclaim_tx();
        Ok(())
    }

    /// Gives receive descriptor `i` back to the device with its buffer.
    fn recycle_rx(&mut self, i: usize) {
        let Some(dma) = &self.dma else { return };
        let d = rx_descriptor(dma.rx_buffers.phys() + (i * BUFFER_BYTES) as u64);
        self.hal
            .dma_write(&dma.rings, RX_RING_OFFSET + i * DESC_BYTES, &d);
        self.hal.write32(RDT, i as u32);
        self.rx_next = (i + 1) % RX_DESCRIPTORS;
    }

    /// The next receive descriptor, if the device has filled it: its status, errors and length.
    fn next_rx(&mut self) -> Result<Option<(u8, u8, usize)>, NetError> {
        let Some(dma) = &self.dma else {
            return Err(NetError::Removed);
        };
        let mut d = [0u8; DESC_BYTES];
        self.hal.dma_read(
            &dma.rings,
            RX_RING_OFFSET + self.rx_next * DESC_BYTES,
            &mut d,
        );
        if d[DESC_STATUS] & STA_DD == 0 {
            self.status()?;
            return Ok(None);
        }
        let len = u16::from_le_bytes([d[DESC_LENGTH], d[DESC_LENGTH + 1]]) as usize;
        Ok(Some((d[DESC_STATUS], d[RX_DESC_ERRORS], len)))
    }
}

impl<H: E1000eHal> NetDevice for E1000e<H> {
    fn mac_address(&self) -> MacAddress {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        self.check_link().is_ok()
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        let len = frame.len();
        check_frame_len(len)?;
        self.check_link()?;
        self.reclaim_tx();
        if self.tx_ring_full() {
            self.wait_tx_slot()?;
        }
        let Some(dma) = &self.dma else {
            return Err(NetError::Removed);
        };
        let slot = self.tx_tail;
        let at = slot * BUFFER_BYTES;
        self.hal.dma_write(&dma.tx_buffers, at, frame);
        let d = tx_descriptor(dma.tx_buffers.phys() + at as u64, len as u16);
        self.hal
            .dma_write(&dma.rings, TX_RING_OFFSET + slot * DESC_BYTES, &d);
        self.tx_tail = (slot + 1) % TX_DESCRIPTORS;
        self.hal.write32(TDT, self.tx_tail as u32);
        self.stats.tx_frames += 1;
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>, NetError> {
        for _ in 0..RX_DESCRIPTORS {
            let Some((status, errors, len)) = self.next_rx()? else {
                return Ok(None);
            };
            let i = self.rx_next;
            if status & RX_STA_EOP == 0 || errors != 0 || len == 0 || len > BUFFER_BYTES {
                log::warn!(
                    "e1000e: dropped a received frame (status {status:#04x}, \
                     errors {errors:#04x}, {len} bytes)"
                );
                self.stats.rx_dropped += 1;
                self.recycle_rx(i);
                continue;
            }
            if len > buf.len() {
                return Err(NetError::BufferTooSmall {
                    len: buf.len(),
                    need: len,
                });
            }
            if let Some(dma) = &self.dma {
                self.hal
                    .dma_read(&dma.rx_buffers, i * BUFFER_BYTES, &mut buf[..len]);
            }
            self.recycle_rx(i);
            self.stats.rx_frames += 1;
            return Ok(Some(len));
        }
        Ok(None)
    }
}

impl<H: E1000eHal> Drop for E1000e<H> {
    /// Resets the controller (which stops its DMA), then gives the DMA memory back; if the reset
    /// does not complete, the memory is leaked (the device may still write to it).
    fn drop(&mut self) {
        let Some(dma) = self.dma.take() else { return };
        if let Err(e) = reset(&mut self.hal, self.timeouts.reset_us) {
            log::warn!("e1000e: {e}; leaking its DMA memory");
            return;
        }
        self.hal.dma_free(dma.rings);
        self.hal.dma_free(dma.rx_buffers);
        self.hal.dma_free(dma.tx_buffers);
    }
}

/// Whether transmit descriptor `i` has DD set.
fn tx_done<H: E1000eHal>(hal: &mut H, rings: &DmaRegion, i: usize) -> bool {
    let mut sta = [0u8; 1];
    hal.dma_read(
        rings,
        TX_RING_OFFSET + i * DESC_BYTES + DESC_STATUS,
        &mut sta,
    );
    sta[0] & STA_DD != 0
}

/// Masks interrupts, stops receive and transmit, lets pending DMA finish, and resets the
/// controller (CTRL.RST), waiting up to `timeout_us` for the bit to clear.
fn reset<H: E1000eHal>(hal: &mut H, timeout_us: u64) -> Result<(), NetError> {
    hal.write32(IMC, u32::MAX);
    hal.write32(RCTL, 0);
    hal.write32(TCTL, TCTL_PSP);
    hal.read32(STATUS);
    wait_until(hal, QUIESCE_US, |_| false);
    let ctrl = hal.read32(CTRL);
    hal.write32(CTRL, ctrl | CTRL_RST);
    wait_until(hal, RESET_SETTLE_US, |_| false);
    let done = wait_until(hal, timeout_us, |h| h.read32(CTRL) & CTRL_RST == 0);
    let ctrl = hal.read32(CTRL);
    if ctrl == u32::MAX {
        return Err(NetError::Removed);
    }
    if !done {
        return Err(DeviceFailure::ResetTimeout { ctrl }.into());
    }
    hal.write32(IMC, u32::MAX);
    hal.read32(ICR);
    Ok(())
}

/// Waits (up to `timeout_us`) for the device to load RAL0/RAH0 and the rest from its NVM after
/// a reset. Not an error if it does not: [`read_mac`] then asks the EEPROM itself.
fn wait_nvm_loaded<H: E1000eHal>(hal: &mut H, timeout_us: u64) {
    if !wait_until(hal, timeout_us, |h| h.read32(EECD) & EECD_AUTO_RD != 0) {
        log::warn!("e1000e: the NVM auto-read did not complete");
    }
}

/// The station address: RAL0/RAH0 as the device loaded them, else EEPROM words 0-2 (then
/// written to RAL0/RAH0 with AV, so the device accepts frames for it).
fn read_mac<H: E1000eHal>(hal: &mut H, eeprom_us: u64) -> Result<MacAddress, NetError> {
    let (ral, rah) = (hal.read32(RAL0), hal.read32(RAH0));
    let mut mac = [0u8; 6];
    if ral != 0 || rah & 0xffff != 0 {
        mac[..4].copy_from_slice(&ral.to_le_bytes());
        mac[4..].copy_from_slice(&(rah as u16).to_le_bytes());
    } else {
        for word in 0..3u8 {
            let w = eeprom_read(hal, word, eeprom_us)?.to_le_bytes();
            mac[2 * word as usize..2 * word as usize + 2].copy_from_slice(&w);
        }
    }
    // All zeros, all ones (an empty EEPROM) or a group address: not a station address.
    if mac == [0; 6] || mac[0] & 1 != 0 {
        return Err(DeviceFailure::NoMacAddress.into());
    }
    let ral = u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]);
    let rah = u16::from_le_bytes([mac[4], mac[5]]) as u32;
    hal.write32(RAL0, ral);
    hal.write32(RAH0, rah | RAH_AV);
    Ok(MacAddress(mac))
}

/// One EEPROM word through EERD.
fn eeprom_read<H: E1000eHal>(hal: &mut H, word: u8, timeout_us: u64) -> Result<u16, NetError> {
    hal.write32(EERD, ((word as u32) << EERD_ADDR_SHIFT) | EERD_START);
    let mut eerd = 0;
    let done = wait_until(hal, timeout_us, |h| {
        eerd = h.read32(EERD);
        eerd & EERD_DONE != 0
    });
    if eerd == u32::MAX {
        return Err(NetError::Removed);
    }
    if !done {
        return Err(DeviceFailure::EepromTimeout { word }.into());
    }
    Ok((eerd >> EERD_DATA_SHIFT) as u16)
}

/// The rings' page and both buffer pools; on failure, whatever was allocated is given back
/// (the device, just reset, does not use it).
fn alloc_dma<H: E1000eHal>(hal: &mut H) -> Result<Dma, NetError> {
    let rings = hal.dma_alloc(4096);
    let rx = hal.dma_alloc(RX_DESCRIPTORS * BUFFER_BYTES);
    let tx = hal.dma_alloc(TX_DESCRIPTORS * BUFFER_BYTES);
    match (rings, rx, tx) {
        (Some(rings), Some(rx_buffers), Some(tx_buffers)) => Ok(Dma {
            rings,
            rx_buffers,
            tx_buffers,
        }),
        (rings, rx, tx) => {
            for region in [rings, rx, tx].into_iter().flatten() {
                hal.dma_free(region);
            }
            Err(DeviceFailure::OutOfDmaMemory.into())
        }
    }
}
