//! The I/O APIC: routes a device's global system interrupt (GSI) to a vector on a local APIC.
//! The legacy PICs stay masked; ISA interrupts (the PS/2 keyboard's IRQ 1) reach the CPU only
//! through here.
//!
//! The MADT (`crate::acpi`) names each I/O APIC's register address and first GSI; [`IoApic::open`]
//! maps its registers uncached through the MMIO window and reads how many inputs it has.
//! [`IoApic::route`] writes one redirection entry: fixed delivery, physical destination (one
//! local APIC id), the line's polarity and trigger mode, unmasked. Registers are reached
//! indirectly: the register number goes to IOREGSEL (offset 0x00), the value through IOWIN
//! (offset 0x10). Only the entries the kernel routes are touched; the firmware's others stay as
//! they are (masked, on the machines we boot).

use core::fmt;

use crate::acpi::{IoApicEntry, Polarity, Trigger};
use crate::memory::mmio;

/// IOREGSEL and IOWIN offsets.
const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
/// How much of the register page is mapped (IOREGSEL .. IOWIN + 4).
const REGISTERS_LEN: u64 = 0x20;
/// The version register: bits 16-23 hold the highest redirection entry's index.
const REG_VERSION: u32 = 0x01;
/// Redirection entry `n` is registers `0x10 + 2n` (low half) and `0x11 + 2n` (high half).
const REG_REDIRECTION: u32 = 0x10;

/// Redirection entry bits (low half).
const ACTIVE_LOW: u32 = 1 << 13;
const LEVEL: u32 = 1 << 15;
const MASKED: u32 = 1 << 16;

/// Why an interrupt could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoApicError {
    /// The MADT lists no I/O APIC whose inputs start at or below this GSI.
    NoIoApic { gsi: u32 },
    /// The register page could not be mapped.
    Map(mmio::MmioError),
    /// The I/O APIC that should take `gsi` has fewer inputs.
    NoSuchInput { gsi: u32, id: u8, inputs: u32 },
    /// The destination local APIC id does not fit an I/O APIC's 8-bit destination field.
    Destination(u32),
}

impl fmt::Display for IoApicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoIoApic { gsi } => write!(f, "the ACPI MADT lists no I/O APIC for GSI {gsi}"),
            Self::Map(e) => write!(f, "I/O APIC registers: {e}"),
            Self::NoSuchInput { gsi, id, inputs } => write!(
                f,
                "GSI {gsi} is beyond I/O APIC {id}'s {inputs} inputs (MADT and hardware disagree)"
            ),
            Self::Destination(id) => write!(
                f,
                "the boot CPU's local APIC id {id} does not fit an I/O APIC destination (needs interrupt remapping)"
            ),
        }
    }
}

/// One I/O APIC, its registers mapped.
#[derive(Debug)]
pub struct IoApic {
    /// Virtual address of IOREGSEL (uncached).
    base: u64,
    id: u8,
    gsi_base: u32,
    inputs: u32,
}

impl IoApic {
    /// Maps the registers of the I/O APIC the MADT describes and reads its input count.
    pub fn open(entry: &IoApicEntry) -> Result<Self, IoApicError> {
        let base = mmio::map(u64::from(entry.address), REGISTERS_LEN).map_err(IoApicError::Map)?;
        let mut io = Self {
            base,
            id: entry.id,
            gsi_base: entry.gsi_base,
            inputs: 0,
        };
        io.inputs = ((io.read(REG_VERSION) >> 16) & 0xff) + 1;
        Ok(io)
    }

    /// The APIC id the MADT gives it.
    pub fn id(&self) -> u8 {
        self.id
    }

    /// Routes `gsi` to `vector` on the local APIC `destination` (fixed delivery, physical
    /// mode) with the line's `polarity` and `trigger`, and unmasks it.
    pub fn route(
        &mut self,
        gsi: u32,
        vector: u8,
        destination: u32,
        polarity: Polarity,
        trigger: Trigger,
    ) -> Result<(), IoApicError> {
        let input = self.input(gsi)?;
        let dest = u8::try_from(destination).map_err(|_| IoApicError::Destination(destination))?;
        let mut low = u32::from(vector);
        if polarity == Polarity::ActiveLow {
            low |= ACTIVE_LOW;
        }
        if trigger == Trigger::Level {
            low |= LEVEL;
        }
        let reg = REG_REDIRECTION + 2 * input;
        // Masked while the halves change, so no half-written entry can deliver.
        self.write(reg, MASKED);
        self.write(reg + 1, u32::from(dest) << 24);
        self.write(reg, low);
        Ok(())
    }

    /// Masks `gsi` (its entry otherwise unchanged).
    pub fn mask(&mut self, gsi: u32) -> Result<(), IoApicError> {
        let reg = REG_REDIRECTION + 2 * self.input(gsi)?;
        let low = self.read(reg);
        self.write(reg, low | MASKED);
        Ok(())
    }

    /// The input pin `gsi` arrives at.
    fn input(&self, gsi: u32) -> Result<u32, IoApicError> {
        gsi.checked_sub(self.gsi_base)
            .filter(|i| *i < self.inputs)
            .ok_or(IoApicError::NoSuchInput {
                gsi,
                id: self.id,
                inputs: self.inputs,
            })
    }

    fn read(&mut self, reg: u32) -> u32 {
        // SAFETY: (1) `base` maps this I/O APIC's IOREGSEL..IOWIN+4 uncached (`open`, through
        // the MMIO window, which maps device memory only); both registers are 32-bit aligned;
        // (2) selecting a register and reading it has no effect beyond the selection, which
        // only this module (under `&mut self`) makes.
        unsafe {
            core::ptr::write_volatile((self.base + IOREGSEL) as *mut u32, reg);
            core::ptr::read_volatile((self.base + IOWIN) as *const u32)
        }
    }

    fn write(&mut self, reg: u32, value: u32) {
        // SAFETY: as in `read`; the writes in this module only program redirection entries of
        // the GSIs the kernel routes (checked by `input`), which nothing else uses.
        unsafe {
            core::ptr::write_volatile((self.base + IOREGSEL) as *mut u32, reg);
            core::ptr::write_volatile((self.base + IOWIN) as *mut u32, value);
        }
    }
}
