//! xHCI (USB 3) host controllers: bring-up, root ports, device enumeration, control and bulk
//! transfers, all polled (no interrupts).
//!
//! The driver is generic over [`XhciHal`] (= [`crate::hal::MmioDmaHal`]) on the controller's
//! BAR0. Bring-up ([`Controller::init`], xHCI 1.2, 4.2): read the capability registers, take
//! the controller from the firmware through the USB Legacy Support extended capability (the
//! firmware gets [`Timeouts::handoff_us`] to let go; then its semaphore is cleared by force),
//! halt it (USBCMD.R/S = 0, wait for USBSTS.HCH), reset it (USBCMD.HCRST, wait for HCRST and
//! USBSTS.CNR to clear), give it a device context base address array, the scratchpad buffers
//! HCSPARAMS2 asks for, a command ring (one page, closed by a Link TRB that toggles the cycle
//! bit) and interrupter 0's event ring (one segment, its ERST, ERDP), with interrupts off, and
//! run it.
//!
//! Devices ([`Controller::enumerate_port`]): a connected root port is reset (USB 2 protocol
//! ports need PORTSC.PR; USB 3 ports enable themselves after link training) and its speed read;
//! then Enable Slot, Address Device with the default control endpoint's max packet size for that
//! speed (fixed up with Evaluate Context from the device descriptor for full speed), and
//! GET_DESCRIPTOR for the device and configuration descriptors. A class driver then calls
//! [`Controller::set_configuration`] and [`Controller::configure_endpoints`] (Configure
//! Endpoint, one transfer ring per endpoint) and moves data with [`Controller::control_in`],
//! [`Controller::control_out`] and [`Controller::bulk`] (Normal TRBs chained, none crossing a
//! 64 KiB boundary). A stalled or halted endpoint is recovered with
//! [`Controller::clear_halt`] (Reset Endpoint, Set TR Dequeue Pointer, CLEAR_FEATURE).
//!
//! Interrupt IN endpoints are polled without waiting ([`InterruptIn`]:
//! [`Controller::open_interrupt_in`], [`Controller::poll_interrupt_in`]). For that, transfer
//! events that arrive while the driver waits for another endpoint's are kept (a few per
//! endpoint) for that endpoint's next wait or poll, never dropped; a new TD on an endpoint
//! forgets what was kept for it (one TD is in flight per endpoint, so that is stale).
//!
//! Nothing waits without a deadline ([`Timeouts`]): a command or transfer that does not complete
//! gives a named timeout, and while a transfer waits the port's PORTSC.CCS is watched, so a
//! device that is unplugged gives [`TransferError::Disconnected`] at once.
//!
//! Devices behind a hub ([`Controller::enumerate_behind_hub`], after the hub driver in
//! [`crate::usb::hub`] reset the hub's port) get a route string, their hub's root port, and,
//! at full or low speed behind a high speed hub, that hub's transaction translator; hubs get
//! the Hub bit, port count, TT think time and MTT through [`Controller::set_hub`] and the next
//! Configure Endpoint. Only the root port's connection is watched while a transfer waits.

mod interrupt;
pub mod proto;

pub use interrupt::{InterruptIn, MAX_INTERRUPT_BYTES};

#[cfg(test)]
pub(crate) mod fake;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::hal::wait_until;
use crate::usb::desc::{
    self, dtype, parse_configuration, parse_device_descriptor, Configuration, DescriptorError,
    DeviceDescriptor, EndpointDescriptor, SetupPacket, TransferType,
};
use proto::{
    cap, code, ctrl, dci, ep_type, ext, op, portsc, rt, trb_type, CompletionCode, EndpointContext,
    SlotContext, Speed, Trb, RING_TRBS, TRB_BYTES,
};

/// DMA memory a HAL handed out (shared by the drivers: see [`crate::hal`]).
pub use crate::hal::DmaRegion;
/// The HAL the xHCI driver is generic over: [`MmioDmaHal`](crate::hal::MmioDmaHal) on one xHCI
/// controller's BAR0. `offset` stays below [`Controller::register_span`] (the capability,
/// operational and port registers, the extended capabilities, interrupter 0's runtime registers
/// and the doorbells of the enabled slots; DBOFF and RTSOFF can put the last two far into the
/// BAR, so map the whole BAR). When HCCPARAMS1.AC64 is clear, DMA memory must lie below 4 GiB:
/// the driver checks and refuses regions above (as out of DMA memory).
///
/// One [`Controller`] owns the handle; its disks reach it through a shared lock
/// ([`crate::usb::SharedController`]), so no clone of the handle is ever made.
pub use crate::hal::MmioDmaHal as XhciHal;

/// How long the driver waits for each thing, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The firmware's release of the BIOS Owned semaphore (then it is cleared by force).
    pub handoff_us: u64,
    /// USBSTS.HCH after R/S is cleared (the spec allows 16 ms), and HCH clearing after R/S set.
    pub halt_us: u64,
    /// USBCMD.HCRST and USBSTS.CNR clearing after a reset.
    pub reset_us: u64,
    /// Commands on the command ring.
    pub command_us: u64,
    /// A port reset (PORTSC.PRC), or a USB 3 port's link training (PORTSC.PED).
    pub port_reset_us: u64,
    /// Reset recovery after a port reset before the device is addressed (USB 2.0: 10 ms).
    pub reset_recovery_us: u64,
    /// Control transfers.
    pub control_us: u64,
    /// Bulk transfers.
    pub bulk_us: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handoff_us: 1_000_000,
            halt_us: 100_000,
            reset_us: 1_000_000,
            command_us: 1_000_000,
            port_reset_us: 500_000,
            reset_recovery_us: 10_000,
            control_us: 1_000_000,
            bulk_us: 5_000_000,
        }
    }
}

/// The most device slots the driver enables (CONFIG.MaxSlotsEn).
pub const MAX_SLOTS: u8 = 32;
/// The most bytes a configuration descriptor may have (longer ones are read truncated).
pub const MAX_CONFIG_BYTES: usize = 1024;
/// The most bytes one control transfer moves (its data goes through one DMA page).
pub const MAX_CONTROL_BYTES: usize = 4096;
/// The most bytes one Normal TRB moves (and the boundary none may cross).
pub const TRB_MAX_BYTES: usize = 64 * 1024;
/// Extended capabilities walked at most (a loop in the list ends there).
const MAX_EXT_CAPS: usize = 64;
/// Events consumed per wait at most before the wait gives up on a flood.
const MAX_EVENTS_PER_WAIT: usize = 4096;
/// Transfer events kept per endpoint for whoever waits on it later (see
/// [`Controller::keep_completion`]); beyond that the oldest of that endpoint is dropped.
const KEPT_PER_ENDPOINT: usize = 4;
/// Transfer events kept at most in all (a controller reporting on endpoints nobody uses cannot
/// make the list grow without bound); beyond that the oldest is dropped.
const KEPT_IN_ALL: usize = 64;

/// The capability registers, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub cap_length: u8,
    pub version: u16,
    pub max_slots: u8,
    pub max_interrupters: u16,
    pub max_ports: u8,
    pub max_scratchpads: u16,
    /// HCCPARAMS1.AC64: 64-bit DMA addresses.
    pub ac64: bool,
    /// HCCPARAMS1.CSZ: 64-byte contexts.
    pub csz: bool,
    /// HCCPARAMS1.PPC: port power control.
    pub ppc: bool,
    /// The first extended capability's byte offset (0: none).
    pub xecp: usize,
    pub dboff: usize,
    pub rtsoff: usize,
}

impl Capabilities {
    /// Decodes the capability registers from `read` (a register reader at BAR offsets).
    pub fn read(mut read: impl FnMut(usize) -> u32) -> Self {
        let w0 = read(cap::CAPLENGTH);
        let p1 = read(cap::HCSPARAMS1);
        let p2 = read(cap::HCSPARAMS2);
        let c1 = read(cap::HCCPARAMS1);
        Self {
            cap_length: w0 as u8,
            version: (w0 >> 16) as u16,
            max_slots: p1 as u8,
            max_interrupters: ((p1 >> 8) & 0x7ff) as u16,
            max_ports: (p1 >> 24) as u8,
            max_scratchpads: (((p2 >> 21) & 0x1f) << 5 | (p2 >> 27)) as u16,
            ac64: c1 & cap::HCC_AC64 != 0,
            csz: c1 & cap::HCC_CSZ != 0,
            ppc: c1 & cap::HCC_PPC != 0,
            xecp: ((c1 >> 16) as usize) << 2,
            dboff: (read(cap::DBOFF) & !3) as usize,
            rtsoff: (read(cap::RTSOFF) & !0x1f) as usize,
        }
    }

    /// Bytes per context: 64 with CSZ, else 32.
    pub fn context_bytes(&self) -> usize {
        if self.csz {
            64
        } else {
            32
        }
    }
}

/// What became of the firmware's hold on the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handoff {
    /// No USB Legacy Support capability.
    NoLegacyCapability,
    /// The firmware did not own the controller.
    NotOwned,
    /// The firmware released it when asked.
    Released,
    /// The firmware did not release it in time; its semaphore was cleared by force.
    Forced,
}

/// Why a controller could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XhciError {
    /// The capability registers make no sense (all ones: nothing answers; no slots or ports;
    /// registers overlapping).
    BadCapabilities { caps: Capabilities },
    /// The controller does not take 4 KiB pages (PAGESIZE).
    PageSizeUnsupported { pagesize: u32 },
    /// USBSTS.HCH did not set after R/S was cleared.
    HaltTimeout { usbsts: u32 },
    /// USBCMD.HCRST or USBSTS.CNR did not clear after the reset.
    ResetTimeout { usbcmd: u32, usbsts: u32 },
    /// USBSTS.HCH did not clear after R/S was set.
    StartTimeout { usbsts: u32 },
    /// USBSTS.HSE or HCE: the controller reported a host system or internal error.
    HostError { usbsts: u32 },
    /// No DMA memory (below 4 GiB, without AC64) for the controller's structures.
    OutOfDmaMemory,
}

impl fmt::Display for XhciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCapabilities { caps } => write!(
                f,
                "xHCI capability registers make no sense (CAPLENGTH {:#x}, {} slots, {} ports, DBOFF {:#x}, RTSOFF {:#x})",
                caps.cap_length, caps.max_slots, caps.max_ports, caps.dboff, caps.rtsoff
            ),
            Self::PageSizeUnsupported { pagesize } => {
                write!(f, "xHCI controller does not take 4 KiB pages (PAGESIZE {pagesize:#x})")
            }
            Self::HaltTimeout { usbsts } => {
                write!(f, "xHCI controller did not halt (USBSTS {usbsts:#010x})")
            }
            Self::ResetTimeout { usbcmd, usbsts } => write!(
                f,
                "xHCI controller did not finish its reset (USBCMD {usbcmd:#010x}, USBSTS {usbsts:#010x})"
            ),
            Self::StartTimeout { usbsts } => {
                write!(f, "xHCI controller did not start running (USBSTS {usbsts:#010x})")
            }
            Self::HostError { usbsts } => write!(
                f,
                "xHCI controller reported a host system or controller error (USBSTS {usbsts:#010x})"
            ),
            Self::OutOfDmaMemory => write!(f, "out of DMA memory for the xHCI controller"),
        }
    }
}

/// Why a command on the command ring failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The command completed with a code other than success.
    Failed { command: u8, code: CompletionCode },
    /// The command did not complete in time.
    Timeout { command: u8 },
    /// The controller stopped (HSE, HCE or halted) while the command waited.
    ControllerFailed { command: u8, usbsts: u32 },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { command, code } => {
                write!(
                    f,
                    "xHCI {} command failed: {code}",
                    trb_type::name(*command)
                )
            }
            Self::Timeout { command } => {
                write!(f, "xHCI {} command timed out", trb_type::name(*command))
            }
            Self::ControllerFailed { command, usbsts } => write!(
                f,
                "xHCI controller stopped during {} (USBSTS {usbsts:#010x})",
                trb_type::name(*command)
            ),
        }
    }
}

/// Why a transfer failed. `endpoint` is the endpoint address (0 for the control endpoint, the
/// direction in bit 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferError {
    /// The device stalled the endpoint (STALL handshake). The endpoint is halted until
    /// [`Controller::clear_halt`].
    Stall { slot: u8, endpoint: u8 },
    /// A USB transaction error (CRC, timeout on the bus, bad PID) after the retries. The
    /// endpoint is halted until [`Controller::clear_halt`].
    Transaction { slot: u8, endpoint: u8 },
    /// The device sent more than asked (babble). The endpoint is halted.
    Babble { slot: u8, endpoint: u8 },
    /// Another completion code.
    Failed {
        slot: u8,
        endpoint: u8,
        code: CompletionCode,
    },
    /// The transfer did not complete in time (it was then stopped and skipped).
    Timeout { slot: u8, endpoint: u8 },
    /// The device's port reports nothing connected (PORTSC.CCS clear): it was unplugged.
    Disconnected { port: u8 },
    /// The controller stopped (HSE, HCE or halted).
    ControllerFailed { usbsts: u32 },
    /// The slot or endpoint is not set up (a driver bug, or a device that was removed).
    NoSuchEndpoint { slot: u8, endpoint: u8 },
    /// The transfer is longer than the driver moves at once (a driver bug).
    TooLong { bytes: usize },
    /// No DMA memory for the transfer.
    OutOfDmaMemory,
    /// A command the transfer or its recovery needed failed.
    Command(CommandError),
}

impl TransferError {
    /// Whether the endpoint is halted and [`Controller::clear_halt`] may bring it back.
    pub fn is_halt(&self) -> bool {
        matches!(
            self,
            Self::Stall { .. } | Self::Transaction { .. } | Self::Babble { .. }
        )
    }

    /// Whether the device or controller is gone: retrying is pointless.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            Self::Disconnected { .. } | Self::ControllerFailed { .. }
        )
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stall { slot, endpoint } => {
                write!(f, "USB device (slot {slot}) stalled endpoint {endpoint:#04x}")
            }
            Self::Transaction { slot, endpoint } => write!(
                f,
                "USB transaction error on endpoint {endpoint:#04x} (slot {slot}): check the cable or device"
            ),
            Self::Babble { slot, endpoint } => {
                write!(f, "USB babble on endpoint {endpoint:#04x} (slot {slot})")
            }
            Self::Failed {
                slot,
                endpoint,
                code,
            } => write!(
                f,
                "USB transfer on endpoint {endpoint:#04x} (slot {slot}) failed: {code}"
            ),
            Self::Timeout { slot, endpoint } => write!(
                f,
                "USB transfer on endpoint {endpoint:#04x} (slot {slot}) timed out"
            ),
            Self::Disconnected { port } => write!(f, "USB device on port {port} was unplugged"),
            Self::ControllerFailed { usbsts } => {
                write!(f, "xHCI controller stopped (USBSTS {usbsts:#010x})")
            }
            Self::NoSuchEndpoint { slot, endpoint } => write!(
                f,
                "USB endpoint {endpoint:#04x} of slot {slot} is not configured"
            ),
            Self::TooLong { bytes } => {
                write!(f, "USB transfer of {bytes} bytes is longer than the driver moves")
            }
            Self::OutOfDmaMemory => write!(f, "out of DMA memory for a USB transfer"),
            Self::Command(e) => write!(f, "{e}"),
        }
    }
}

impl From<CommandError> for TransferError {
    fn from(e: CommandError) -> Self {
        Self::Command(e)
    }
}

/// Why a device on a port could not be enumerated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnumError {
    /// Nothing is connected to the port.
    NotConnected { port: u8 },
    /// The port did not finish its reset or did not become enabled.
    PortResetTimeout { port: u8, portsc: u32 },
    /// The port reports a speed the driver does not know.
    UnknownSpeed { port: u8, psi: u8 },
    /// The controller has no free device slot.
    NoSlots,
    /// No DMA memory for the device's contexts or rings.
    OutOfDmaMemory,
    /// A command (Enable Slot, Address Device, Evaluate Context…) failed.
    Command(CommandError),
    /// A GET_DESCRIPTOR request failed.
    Transfer(TransferError),
    /// A descriptor is malformed.
    Descriptor(DescriptorError),
    /// The device descriptor's bMaxPacketSize0 is not valid for the speed.
    BadMaxPacket { max_packet0: u8 },
    /// The slot is not a hub the driver set up.
    NoSuchHub { slot: u8 },
    /// The device would be more than five hubs deep (or the hub port number is out of range).
    TooDeep { hub_slot: u8, port: u8 },
}

impl fmt::Display for EnumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConnected { port } => write!(f, "nothing connected to port {port}"),
            Self::PortResetTimeout { port, portsc } => write!(
                f,
                "port {port} did not come out of reset enabled (PORTSC {portsc:#010x})"
            ),
            Self::UnknownSpeed { port, psi } => {
                write!(f, "port {port} reports unknown speed ID {psi}")
            }
            Self::NoSlots => write!(f, "the xHCI controller has no free device slot"),
            Self::OutOfDmaMemory => write!(f, "out of DMA memory for a USB device"),
            Self::Command(e) => write!(f, "{e}"),
            Self::Transfer(e) => write!(f, "reading descriptors: {e}"),
            Self::Descriptor(e) => write!(f, "{e}"),
            Self::BadMaxPacket { max_packet0 } => {
                write!(
                    f,
                    "device descriptor gives invalid bMaxPacketSize0 {max_packet0}"
                )
            }
            Self::NoSuchHub { slot } => write!(f, "slot {slot} is not a hub"),
            Self::TooDeep { hub_slot, port } => write!(
                f,
                "port {port} of the hub in slot {hub_slot} cannot be routed (too deep or bad port)"
            ),
        }
    }
}

impl From<CommandError> for EnumError {
    fn from(e: CommandError) -> Self {
        Self::Command(e)
    }
}

impl From<TransferError> for EnumError {
    fn from(e: TransferError) -> Self {
        Self::Transfer(e)
    }
}

impl From<DescriptorError> for EnumError {
    fn from(e: DescriptorError) -> Self {
        Self::Descriptor(e)
    }
}

/// A root port's state, from PORTSC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortStatus {
    pub port: u8,
    pub portsc: u32,
    /// The port belongs to a USB 3 Supported Protocol capability.
    pub usb3: bool,
}

impl PortStatus {
    pub fn connected(&self) -> bool {
        self.portsc & portsc::CCS != 0
    }

    pub fn enabled(&self) -> bool {
        self.portsc & portsc::PED != 0
    }

    pub fn speed(&self) -> Option<Speed> {
        Speed::from_psi(portsc::speed(self.portsc))
    }
}

/// A device that was addressed and described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub slot: u8,
    /// The root port (for a device behind a hub: the hub's).
    pub port: u8,
    /// The route string below the root port (0: on the root port itself).
    pub route: u32,
    pub speed: Speed,
    pub descriptor: DeviceDescriptor,
    pub configuration: Configuration,
}

/// A transfer ring or the command ring: one page of TRBs, the last a Link TRB back to the
/// start that toggles the cycle bit.
struct Ring {
    mem: DmaRegion,
    enqueue: usize,
    cycle: bool,
    /// Whether the last TRB pushed had CH set (a Link TRB inside a TD must have it too).
    chained: bool,
}

impl Ring {
    fn new(mem: DmaRegion) -> Self {
        Self {
            mem,
            enqueue: 0,
            cycle: true,
            chained: false,
        }
    }

    /// The address of the next TRB to be written, with the cycle state in bit 0 (for CRCR and
    /// endpoint contexts' TR Dequeue Pointer).
    fn dequeue_pointer(&self) -> u64 {
        self.phys_at(self.enqueue) | u64::from(self.cycle)
    }

    fn phys_at(&self, index: usize) -> u64 {
        self.mem.phys() + (index * TRB_BYTES) as u64
    }

    /// Writes `trb` with the ring's cycle bit and answers its address. The control dword (with
    /// the cycle bit, which hands the TRB to the controller) is written last.
    fn push<H: XhciHal>(&mut self, hal: &mut H, mut trb: Trb) -> u64 {
        trb.control = (trb.control & !ctrl::CYCLE) | u32::from(self.cycle);
        let at = self.phys_at(self.enqueue);
        let bytes = trb.to_bytes();
        let offset = self.enqueue * TRB_BYTES;
        hal.dma_write(&self.mem, offset, &bytes[..12]);
        hal.dma_write(&self.mem, offset + 12, &bytes[12..]);
        self.chained = trb.control & ctrl::CH != 0;
        self.enqueue += 1;
        if self.enqueue == RING_TRBS - 1 {
            let chain = if self.chained { ctrl::CH } else { 0 };
            let link = Trb::new(trb_type::LINK, self.mem.phys(), 0, ctrl::TC | chain);
            let control = (link.control & !ctrl::CYCLE) | u32::from(self.cycle);
            let offset = self.enqueue * TRB_BYTES;
            hal.dma_write(&self.mem, offset, &link.to_bytes()[..12]);
            hal.dma_write(&self.mem, offset + 12, &control.to_le_bytes());
            self.enqueue = 0;
            self.cycle = !self.cycle;
        }
        at
    }
}

/// Interrupter 0's event ring: one segment of one page, and its one-entry ERST.
struct EventRing {
    segment: DmaRegion,
    #[allow(
        dead_code,
        reason = "the controller reads the ERST; the driver only keeps it allocated"
    )]
    erst: DmaRegion,
    dequeue: usize,
    cycle: bool,
}

/// One enabled device slot.
struct Slot {
    /// The root port (for a device behind a hub: the hub's).
    port: u8,
    speed: Speed,
    /// The slot context as the driver sets it up (route, speed, TT, hub fields); commands
    /// send it with the current context entries.
    ctx: SlotContext,
    /// The output device context (the controller's).
    output: DmaRegion,
    /// The input context (the driver's, for commands).
    input: DmaRegion,
    /// Transfer rings by DCI (index 1 is the control endpoint).
    rings: Vec<Option<Ring>>,
    max_packet0: u16,
    /// Endpoint contexts as configured, by DCI (for Configure Endpoint's slot context).
    configured: Vec<Option<EndpointContext>>,
}

/// A Supported Protocol capability's ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolPorts {
    pub major: u8,
    pub first: u8,
    pub count: u8,
}

/// A running xHCI controller.
pub struct Controller<H: XhciHal> {
    hal: H,
    caps: Capabilities,
    timeouts: Timeouts,
    handoff: Handoff,
    op: usize,
    rt: usize,
    max_slots: u8,
    protocols: Vec<ProtocolPorts>,
    dcbaa: DmaRegion,
    scratchpad_array: Option<DmaRegion>,
    scratchpads: Vec<DmaRegion>,
    commands: Ring,
    events: EventRing,
    /// Data stage buffer for control transfers.
    control_buf: DmaRegion,
    /// Slots by ID (index 0 unused).
    slots: Vec<Option<Slot>>,
    /// Set when the controller stopped (HSE, HCE, halted): every later request fails at once.
    failed: Option<u32>,
    /// The last extended capability's end, for [`register_span`](Self::register_span).
    ext_end: usize,
    /// Transfer events that arrived while the driver waited for something else (an interrupt
    /// endpoint's report during a disk transfer, say), oldest first: kept for the endpoint's
    /// next wait or poll instead of dropped (at most [`KEPT_PER_ENDPOINT`] per endpoint).
    completions: Vec<Trb>,
}

/// Writes a 64-bit register as two 32-bit halves, low first.
fn write64<H: XhciHal>(hal: &mut H, offset: usize, value: u64) {
    hal.write32(offset, value as u32);
    hal.write32(offset + 4, (value >> 32) as u32);
}

/// DMA memory the controller can reach: below 4 GiB unless `ac64`. A region above is given
/// back and `None` answered.
fn alloc_dma<H: XhciHal>(hal: &mut H, ac64: bool, len: usize) -> Option<DmaRegion> {
    let region = hal.dma_alloc(len)?;
    if !ac64 && region.phys() + region.len() as u64 > 1 << 32 {
        hal.dma_free(region);
        return None;
    }
    Some(region)
}

/// Walks the extended capability list from byte offset `xecp`, calling `visit(offset, id)` on
/// each, and answers the end of the last one (its offset + 16). Bounded: at most
/// [`MAX_EXT_CAPS`] entries, each after the previous.
fn walk_ext_caps<H: XhciHal>(
    hal: &mut H,
    xecp: usize,
    mut visit: impl FnMut(&mut H, usize, u8),
) -> usize {
    let mut at = xecp;
    let mut end = 0;
    for _ in 0..MAX_EXT_CAPS {
        if at == 0 {
            break;
        }
        let head = hal.read32(at);
        if head == u32::MAX {
            break;
        }
        end = at + 16;
        visit(hal, at, head as u8);
        let next = ((head >> 8) & 0xff) as usize;
        if next == 0 {
            break;
        }
        at += next << 2;
    }
    end
}

impl<H: XhciHal> Controller<H> {
    /// Takes the controller from the firmware, resets it and starts it with a command ring and
    /// an event ring, interrupts off.
    ///
    /// # Errors
    /// Every [`XhciError`]. DMA memory allocated before the error is leaked (the controller
    /// may hold its address).
    pub fn init(mut hal: H, timeouts: Timeouts) -> Result<Self, XhciError> {
        let caps = Capabilities::read(|o| hal.read32(o));
        let cap_length = usize::from(caps.cap_length);
        if caps.cap_length == 0xff
            || cap_length < 0x20
            || caps.max_slots == 0
            || caps.max_ports == 0
            || caps.dboff < cap_length
            || caps.rtsoff < cap_length
        {
            return Err(XhciError::BadCapabilities { caps });
        }
        let op = cap_length;
        // Firmware handoff and the ports' protocols.
        let mut handoff = Handoff::NoLegacyCapability;
        let mut protocols = Vec::new();
        let mut legacy = None;
        let ext_end = walk_ext_caps(&mut hal, caps.xecp, |h, at, id| match id {
            ext::LEGACY => legacy = Some(at),
            ext::PROTOCOL => {
                let head = h.read32(at);
                let ports = h.read32(at + 8);
                protocols.push(ProtocolPorts {
                    major: (head >> 24) as u8,
                    first: ports as u8,
                    count: (ports >> 8) as u8,
                });
            }
            _ => {}
        });
        if let Some(at) = legacy {
            handoff = take_from_firmware(&mut hal, at, timeouts.handoff_us);
        }
        // Wait for the controller to be ready, halt it, reset it.
        let not_ready = |h: &mut H| h.read32(op + op::USBSTS) & op::STS_CNR == 0;
        if !wait_until(&mut hal, timeouts.reset_us, not_ready) {
            let usbcmd = hal.read32(op + op::USBCMD);
            let usbsts = hal.read32(op + op::USBSTS);
            return Err(XhciError::ResetTimeout { usbcmd, usbsts });
        }
        let cmd = hal.read32(op + op::USBCMD);
        hal.write32(op + op::USBCMD, cmd & !(op::CMD_RUN | op::CMD_INTE));
        if !wait_until(&mut hal, timeouts.halt_us, |h| {
            h.read32(op + op::USBSTS) & op::STS_HCH != 0
        }) {
            let usbsts = hal.read32(op + op::USBSTS);
            return Err(XhciError::HaltTimeout { usbsts });
        }
        hal.write32(op + op::USBCMD, op::CMD_HCRST);
        let reset_done = |h: &mut H| {
            h.read32(op + op::USBCMD) & op::CMD_HCRST == 0
                && h.read32(op + op::USBSTS) & op::STS_CNR == 0
        };
        if !wait_until(&mut hal, timeouts.reset_us, reset_done) {
            let usbcmd = hal.read32(op + op::USBCMD);
            let usbsts = hal.read32(op + op::USBSTS);
            return Err(XhciError::ResetTimeout { usbcmd, usbsts });
        }
        let pagesize = hal.read32(op + op::PAGESIZE);
        if pagesize & 1 == 0 {
            return Err(XhciError::PageSizeUnsupported { pagesize });
        }
        // The controller's structures.
        let ac64 = caps.ac64;
        let alloc = |h: &mut H, len| alloc_dma(h, ac64, len).ok_or(XhciError::OutOfDmaMemory);
        let max_slots = caps.max_slots.min(MAX_SLOTS);
        let dcbaa = alloc(&mut hal, 4096)?;
        let mut scratchpads = Vec::new();
        let mut scratchpad_array = None;
        if caps.max_scratchpads > 0 {
            let array = alloc(&mut hal, usize::from(caps.max_scratchpads) * 8)?;
            for i in 0..usize::from(caps.max_scratchpads) {
                let page = alloc(&mut hal, 4096)?;
                hal.dma_write(&array, i * 8, &page.phys().to_le_bytes());
                scratchpads.push(page);
            }
            hal.dma_write(&dcbaa, 0, &array.phys().to_le_bytes());
            scratchpad_array = Some(array);
        }
        let commands = Ring::new(alloc(&mut hal, 4096)?);
        let segment = alloc(&mut hal, 4096)?;
        let erst = alloc(&mut hal, 64)?;
        let control_buf = alloc(&mut hal, MAX_CONTROL_BYTES)?;
        let mut entry = [0u8; 16];
        entry[0..8].copy_from_slice(&segment.phys().to_le_bytes());
        entry[8..12].copy_from_slice(&(RING_TRBS as u32).to_le_bytes());
        hal.dma_write(&erst, 0, &entry);
        // Program it.
        let config = hal.read32(op + op::CONFIG);
        hal.write32(op + op::CONFIG, (config & !0xff) | u32::from(max_slots));
        write64(&mut hal, op + op::DCBAAP, dcbaa.phys());
        write64(&mut hal, op + op::CRCR, commands.dequeue_pointer());
        let ir = caps.rtsoff + rt::IR0;
        hal.write32(ir + rt::IMAN, rt::IMAN_IP);
        hal.write32(ir + rt::ERSTSZ, 1);
        write64(&mut hal, ir + rt::ERDP, segment.phys() | rt::ERDP_EHB);
        write64(&mut hal, ir + rt::ERSTBA, erst.phys());
        hal.write32(op + op::DNCTRL, 0);
        hal.write32(op + op::USBCMD, op::CMD_RUN);
        if !wait_until(&mut hal, timeouts.halt_us, |h| {
            h.read32(op + op::USBSTS) & op::STS_HCH == 0
        }) {
            let usbsts = hal.read32(op + op::USBSTS);
            return Err(XhciError::StartTimeout { usbsts });
        }
        let usbsts = hal.read32(op + op::USBSTS);
        if usbsts & (op::STS_HSE | op::STS_HCE) != 0 {
            return Err(XhciError::HostError { usbsts });
        }
        let mut ctrl = Self {
            hal,
            caps,
            timeouts,
            handoff,
            op,
            rt: caps.rtsoff,
            max_slots,
            protocols,
            dcbaa,
            scratchpad_array,
            scratchpads,
            commands,
            events: EventRing {
                segment,
                erst,
                dequeue: 0,
                cycle: true,
            },
            control_buf,
            slots: (0..=max_slots).map(|_| None).collect(),
            failed: None,
            ext_end,
            completions: Vec::new(),
        };
        ctrl.power_ports();
        Ok(ctrl)
    }

    /// With port power control, powers every port that is off (and waits 20 ms for power to
    /// settle).
    fn power_ports(&mut self) {
        if !self.caps.ppc {
            return;
        }
        let mut powered = false;
        for port in 1..=self.caps.max_ports {
            let at = self.op + op::portsc(port);
            let v = self.hal.read32(at);
            if v & portsc::PP == 0 {
                self.hal.write32(at, portsc::preserve(v) | portsc::PP);
                powered = true;
            }
        }
        if powered {
            wait_until(&mut self.hal, 20_000, |_| false);
        }
    }

    /// The capability registers.
    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// What became of the firmware's hold on the controller.
    pub fn handoff(&self) -> Handoff {
        self.handoff
    }

    /// The Supported Protocol capabilities' port ranges.
    pub fn protocols(&self) -> &[ProtocolPorts] {
        &self.protocols
    }

    /// The device slots the driver enabled (CONFIG.MaxSlotsEn).
    pub fn max_slots(&self) -> u8 {
        self.max_slots
    }

    /// How many bytes of BAR0 the driver touches at most: the kernel's mapping must cover them
    /// (mapping the whole BAR does).
    pub fn register_span(&self) -> usize {
        span_of(&self.caps, self.max_slots, self.ext_end)
    }

    /// The HAL, for tests and the kernel's diagnostics.
    pub fn hal(&mut self) -> &mut H {
        &mut self.hal
    }

    /// The root ports' count (1-based numbers `1..=ports()`).
    pub fn ports(&self) -> u8 {
        self.caps.max_ports
    }

    /// Port `port`'s PORTSC and protocol.
    /// A port number outside `1..=ports()` reads as nothing connected.
    pub fn port_status(&mut self, port: u8) -> PortStatus {
        let portsc = if (1..=self.caps.max_ports).contains(&port) {
            self.hal.read32(self.op + op::portsc(port))
        } else {
            0
        };
        let usb3 = self
            .protocols
            .iter()
            .any(|p| p.major >= 3 && (p.first..p.first.saturating_add(p.count)).contains(&port));
        PortStatus { port, portsc, usb3 }
    }

    /// The ports with a device connected (PORTSC.CCS).
    pub fn connected_ports(&mut self) -> Vec<u8> {
        (1..=self.caps.max_ports)
            .filter(|&p| self.port_status(p).connected())
            .collect()
    }

    /// Resets port `port` if it needs it (USB 2 ports always; USB 3 ports only if link training
    /// did not enable them) and answers its speed.
    ///
    /// # Errors
    /// [`EnumError::NotConnected`], [`EnumError::PortResetTimeout`],
    /// [`EnumError::UnknownSpeed`].
    pub fn reset_port(&mut self, port: u8) -> Result<Speed, EnumError> {
        let status = self.port_status(port);
        if !status.connected() {
            return Err(EnumError::NotConnected { port });
        }
        let at = self.op + op::portsc(port);
        let enabled = |h: &mut H| h.read32(at) & portsc::PED != 0;
        let mut ok = status.usb3 && wait_until(&mut self.hal, self.timeouts.port_reset_us, enabled);
        if !ok {
            let v = self.hal.read32(at);
            self.hal.write32(at, portsc::preserve(v) | portsc::PR);
            let reset_done = |h: &mut H| {
                let v = h.read32(at);
                v & portsc::PRC != 0 && v & portsc::PR == 0
            };
            ok = wait_until(&mut self.hal, self.timeouts.port_reset_us, reset_done);
            let v = self.hal.read32(at);
            self.hal
                .write32(at, portsc::preserve(v) | (v & portsc::CHANGE_BITS));
            ok = ok && v & portsc::PED != 0;
            wait_until(&mut self.hal, self.timeouts.reset_recovery_us, |_| false);
        }
        let v = self.hal.read32(at);
        if !ok || v & portsc::PED == 0 {
            return Err(EnumError::PortResetTimeout { port, portsc: v });
        }
        if v & portsc::CHANGE_BITS != 0 {
            self.hal
                .write32(at, portsc::preserve(v) | (v & portsc::CHANGE_BITS));
        }
        let psi = portsc::speed(v);
        Speed::from_psi(psi).ok_or(EnumError::UnknownSpeed { port, psi })
    }

    /// Whether the controller has stopped; also notes it for later requests.
    fn check_controller(&mut self) -> Option<u32> {
        if self.failed.is_none() {
            let usbsts = self.hal.read32(self.op + op::USBSTS);
            if usbsts & (op::STS_HSE | op::STS_HCE | op::STS_HCH) != 0 || usbsts == u32::MAX {
                self.failed = Some(usbsts);
            }
        }
        self.failed
    }

    /// The next event, if the controller wrote one; moves ERDP past it.
    fn pop_event(&mut self) -> Option<Trb> {
        let ev = &mut self.events;
        let mut b = [0u8; TRB_BYTES];
        self.hal
            .dma_read(&ev.segment, ev.dequeue * TRB_BYTES, &mut b);
        let trb = Trb::from_bytes(&b);
        if trb.cycle() != ev.cycle {
            return None;
        }
        ev.dequeue += 1;
        if ev.dequeue == RING_TRBS {
            ev.dequeue = 0;
            ev.cycle = !ev.cycle;
        }
        let erdp = ev.segment.phys() + (ev.dequeue * TRB_BYTES) as u64;
        write64(
            &mut self.hal,
            self.rt + rt::IR0 + rt::ERDP,
            erdp | rt::ERDP_EHB,
        );
        Some(trb)
    }

    /// Polls for an event `wanted` accepts, for `timeout_us` (0: only what is already there),
    /// watching the controller and, if given, `port`'s connection. The transfer events kept
    /// from earlier waits are looked at first; transfer events nobody wants now are kept
    /// ([`keep_completion`](Self::keep_completion)), other events are dropped (port status
    /// changes, completions of commands that timed out).
    fn wait_event(
        &mut self,
        timeout_us: u64,
        port: Option<u8>,
        mut wanted: impl FnMut(&Trb) -> bool,
    ) -> Result<Trb, Wait> {
        if let Some(i) = self.completions.iter().position(&mut wanted) {
            return Ok(self.completions.remove(i));
        }
        let start = self.hal.now_us();
        let mut seen = 0;
        loop {
            while let Some(ev) = self.pop_event() {
                if wanted(&ev) {
                    return Ok(ev);
                }
                self.keep_completion(ev);
                seen += 1;
                if seen > MAX_EVENTS_PER_WAIT {
                    return Err(Wait::Timeout);
                }
            }
            if let Some(usbsts) = self.check_controller() {
                return Err(Wait::ControllerFailed(usbsts));
            }
            if let Some(p) = port {
                if !self.port_status(p).connected() {
                    return Err(Wait::Disconnected(p));
                }
            }
            if self.hal.now_us().saturating_sub(start) >= timeout_us {
                return Err(Wait::Timeout);
            }
            core::hint::spin_loop();
        }
    }

    /// Keeps a transfer event nobody waits for yet, for its endpoint's next wait; drops any
    /// other event. An endpoint with [`KEPT_PER_ENDPOINT`] events kept loses its oldest (a
    /// driver only ever has one TD in flight per endpoint, so more are stale anyway), and so
    /// does the list when it holds [`KEPT_IN_ALL`].
    fn keep_completion(&mut self, ev: Trb) {
        if ev.trb_type() != trb_type::TRANSFER_EVENT {
            log::trace!("xhci: dropping {}", trb_type::name(ev.trb_type()));
            return;
        }
        let same = |k: &Trb| k.slot_id() == ev.slot_id() && k.endpoint_id() == ev.endpoint_id();
        if self.completions.iter().filter(|k| same(k)).count() >= KEPT_PER_ENDPOINT {
            if let Some(i) = self.completions.iter().position(same) {
                self.completions.remove(i);
                log::trace!(
                    "xhci: slot {} endpoint {}: dropping a stale transfer event",
                    ev.slot_id(),
                    ev.endpoint_id()
                );
            }
        }
        if self.completions.len() >= KEPT_IN_ALL {
            self.completions.remove(0);
        }
        self.completions.push(ev);
    }

    /// Forgets the transfer events kept for `slot`'s endpoint `index` (all its endpoints if
    /// `None`): they belong to TDs that nobody will wait for any more.
    fn forget_completions(&mut self, slot: u8, index: Option<u8>) {
        self.completions
            .retain(|k| k.slot_id() != slot || index.is_some_and(|i| k.endpoint_id() != i));
    }

    /// How many transfer events are kept for later waits (for tests and diagnostics).
    pub fn kept_completions(&self) -> usize {
        self.completions.len()
    }

    /// Runs a command and answers its completion event.
    fn command(&mut self, trb: Trb) -> Result<Trb, CommandError> {
        let command = trb.trb_type();
        if let Some(usbsts) = self.failed {
            return Err(CommandError::ControllerFailed { command, usbsts });
        }
        let at = self.commands.push(&mut self.hal, trb);
        self.hal.write32(self.caps.dboff, 0);
        let done = self.wait_event(self.timeouts.command_us, None, |ev| {
            ev.trb_type() == trb_type::COMMAND_COMPLETION && ev.parameter == at
        });
        match done {
            Ok(ev) if ev.completion_code() == code::SUCCESS => Ok(ev),
            Ok(ev) => Err(CommandError::Failed {
                command,
                code: CompletionCode(ev.completion_code()),
            }),
            Err(Wait::ControllerFailed(usbsts)) => {
                Err(CommandError::ControllerFailed { command, usbsts })
            }
            Err(_) => Err(CommandError::Timeout { command }),
        }
    }

    /// Resets `port`, enables a slot for its device, addresses it and reads its device and
    /// configuration descriptors.
    ///
    /// # Errors
    /// Every [`EnumError`]; the slot is disabled again on error.
    pub fn enumerate_port(&mut self, port: u8) -> Result<Device, EnumError> {
        let speed = self.reset_port(port)?;
        let ctx = SlotContext {
            speed: speed.psi(),
            root_port: port,
            ..Default::default()
        };
        self.enumerate(ctx, speed)
    }

    /// Enumerates the device on port `hub_port` of the hub in `hub_slot`, which the hub driver
    /// has reset and found running at `speed` ([`crate::usb::hub`]): its route string extends
    /// the hub's, and a full or low speed device behind a high speed hub is given that hub's
    /// transaction translator.
    ///
    /// # Errors
    /// [`EnumError::NoSuchHub`], [`EnumError::TooDeep`] (routes go five hubs deep), and as
    /// [`enumerate_port`](Self::enumerate_port).
    pub fn enumerate_behind_hub(
        &mut self,
        hub_slot: u8,
        hub_port: u8,
        speed: Speed,
    ) -> Result<Device, EnumError> {
        let (hub, hub_speed) = self
            .slot(hub_slot)
            .filter(|s| s.ctx.hub)
            .map(|s| (s.ctx, s.speed))
            .ok_or(EnumError::NoSuchHub { slot: hub_slot })?;
        let tier = hub.tier();
        if tier >= 5 || hub_port == 0 || hub_port > 15 {
            return Err(EnumError::TooDeep {
                hub_slot,
                port: hub_port,
            });
        }
        let mut ctx = SlotContext {
            route: hub.route | u32::from(hub_port) << (4 * tier),
            speed: speed.psi(),
            root_port: hub.root_port,
            ..Default::default()
        };
        if matches!(speed, Speed::Low | Speed::Full) {
            if hub_speed == Speed::High {
                (ctx.tt_hub_slot, ctx.tt_port, ctx.mtt) = (hub_slot, hub_port, hub.mtt);
            } else {
                (ctx.tt_hub_slot, ctx.tt_port, ctx.mtt) = (hub.tt_hub_slot, hub.tt_port, hub.mtt);
            }
        }
        self.enumerate(ctx, speed)
    }

    /// Enable Slot, Address Device with `ctx`, descriptors.
    fn enumerate(&mut self, ctx: SlotContext, speed: Speed) -> Result<Device, EnumError> {
        let port = ctx.root_port;
        let ev = self
            .command(Trb::new(trb_type::ENABLE_SLOT, 0, 0, 0))
            .map_err(|e| match e {
                CommandError::Failed { code, .. } if code.0 == code::NO_SLOTS => EnumError::NoSlots,
                e => EnumError::Command(e),
            })?;
        let slot = ev.slot_id();
        if slot == 0 || slot > self.max_slots {
            return Err(EnumError::NoSlots);
        }
        match self.set_up_device(slot, ctx, speed) {
            Ok(device) => Ok(device),
            Err(e) => {
                self.disable_slot(slot);
                log::debug!("xhci: port {port}: {e}");
                Err(e)
            }
        }
    }

    /// Marks `slot` as a hub with `ports` downstream ports (TT think time `ttt`, multi-TT
    /// `mtt`); the controller learns it with the next
    /// [`configure_endpoints`](Self::configure_endpoints).
    pub fn set_hub(&mut self, slot: u8, ports: u8, ttt: u8, mtt: bool) {
        if let Some(s) = self
            .slots
            .get_mut(usize::from(slot))
            .and_then(Option::as_mut)
        {
            s.ctx.hub = true;
            s.ctx.ports = ports;
            s.ctx.ttt = ttt;
            s.ctx.mtt = mtt;
        }
    }

    /// The timeouts the controller was brought up with.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn set_up_device(
        &mut self,
        slot: u8,
        ctx: SlotContext,
        speed: Speed,
    ) -> Result<Device, EnumError> {
        let port = ctx.root_port;
        self.address_device(slot, ctx, speed)?;
        let mut head = [0u8; 8];
        let n = self.control_in(
            slot,
            SetupPacket::get_descriptor(dtype::DEVICE, 8),
            &mut head,
        )?;
        let first = parse_device_descriptor(&head[..n])?;
        let mps = match speed {
            Speed::Super | Speed::SuperPlus if (5..=15).contains(&first.max_packet0) => {
                1u16 << first.max_packet0
            }
            Speed::Low | Speed::Full | Speed::High
                if matches!(first.max_packet0, 8 | 16 | 32 | 64) =>
            {
                u16::from(first.max_packet0)
            }
            _ => {
                return Err(EnumError::BadMaxPacket {
                    max_packet0: first.max_packet0,
                })
            }
        };
        if mps != self.slot(slot).map_or(0, |s| s.max_packet0) {
            self.evaluate_max_packet(slot, mps)?;
        }
        let mut full = [0u8; desc::DEVICE_DESCRIPTOR_BYTES];
        let n = self.control_in(
            slot,
            SetupPacket::get_descriptor(dtype::DEVICE, full.len() as u16),
            &mut full,
        )?;
        let descriptor = parse_device_descriptor(&full[..n])?;
        let mut header = [0u8; desc::CONFIG_HEADER_BYTES];
        let n = self.control_in(
            slot,
            SetupPacket::get_descriptor(dtype::CONFIGURATION, header.len() as u16),
            &mut header,
        )?;
        let total = parse_configuration(&header[..n])?.total_length;
        let len = usize::from(total).clamp(desc::CONFIG_HEADER_BYTES, MAX_CONFIG_BYTES);
        let mut bytes = vec![0u8; len];
        let n = self.control_in(
            slot,
            SetupPacket::get_descriptor(dtype::CONFIGURATION, len as u16),
            &mut bytes,
        )?;
        let configuration = parse_configuration(&bytes[..n])?;
        Ok(Device {
            slot,
            port,
            route: ctx.route,
            speed,
            descriptor,
            configuration,
        })
    }

    fn slot(&self, slot: u8) -> Option<&Slot> {
        self.slots.get(usize::from(slot)).and_then(Option::as_ref)
    }

    /// Writes context `index` (0 = input control, 1 = slot, 1 + DCI = endpoint) of `slot`'s
    /// input context.
    fn write_input(&mut self, slot: u8, index: usize, dwords: &[u32]) {
        let csz = self.caps.context_bytes();
        if let Some(s) = self.slots.get(usize::from(slot)).and_then(Option::as_ref) {
            let mut bytes = vec![0u8; csz];
            let d = proto::dwords_to_bytes(dwords);
            bytes[..d.len()].copy_from_slice(&d);
            self.hal.dma_write(&s.input, index * csz, &bytes);
        }
    }

    /// Allocates the slot's contexts and control ring and runs Address Device.
    fn address_device(
        &mut self,
        slot: u8,
        ctx: SlotContext,
        speed: Speed,
    ) -> Result<(), EnumError> {
        let port = ctx.root_port;
        let ac64 = self.caps.ac64;
        let oom = EnumError::OutOfDmaMemory;
        let output = alloc_dma(&mut self.hal, ac64, 4096).ok_or(oom)?;
        let input = alloc_dma(&mut self.hal, ac64, 4096).ok_or(oom)?;
        let ring = Ring::new(alloc_dma(&mut self.hal, ac64, 4096).ok_or(oom)?);
        self.hal.dma_write(
            &self.dcbaa,
            usize::from(slot) * 8,
            &output.phys().to_le_bytes(),
        );
        let max_packet0 = speed.default_max_packet();
        let ep0 = EndpointContext {
            error_count: 3,
            ep_type: ep_type::CONTROL,
            max_packet: max_packet0,
            dequeue: ring.dequeue_pointer(),
            average_trb: 8,
            ..Default::default()
        };
        let mut rings: Vec<Option<Ring>> = (0..32).map(|_| None).collect();
        rings[1] = Some(ring);
        let mut configured = vec![None; 32];
        configured[1] = Some(ep0);
        self.slots[usize::from(slot)] = Some(Slot {
            port,
            speed,
            ctx,
            output,
            input,
            rings,
            max_packet0,
            configured,
        });
        let slot_ctx = SlotContext {
            context_entries: 1,
            ..ctx
        };
        self.write_input(slot, 0, &[0, 0b11]);
        self.write_input(slot, 1, &slot_ctx.to_dwords());
        self.write_input(slot, 2, &ep0.to_dwords());
        let input = self.slot(slot).map_or(0, |s| s.input.phys());
        let trb = Trb::new(trb_type::ADDRESS_DEVICE, input, 0, u32::from(slot) << 24);
        self.command(trb)?;
        Ok(())
    }

    /// Evaluate Context with the control endpoint's max packet size `mps`.
    fn evaluate_max_packet(&mut self, slot: u8, mps: u16) -> Result<(), EnumError> {
        let Some(s) = self
            .slots
            .get_mut(usize::from(slot))
            .and_then(Option::as_mut)
        else {
            return Err(EnumError::NoSlots);
        };
        s.max_packet0 = mps;
        let mut ep0 = s.configured[1].unwrap_or_default();
        ep0.max_packet = mps;
        s.configured[1] = Some(ep0);
        self.write_input(slot, 0, &[0, 0b10]);
        self.write_input(slot, 2, &ep0.to_dwords());
        let input = self.slot(slot).map_or(0, |s| s.input.phys());
        let trb = Trb::new(trb_type::EVALUATE_CONTEXT, input, 0, u32::from(slot) << 24);
        self.command(trb)?;
        Ok(())
    }

    /// Disable Slot, best effort; frees the slot's memory if the controller let go of it.
    pub fn disable_slot(&mut self, slot: u8) {
        let trb = Trb::new(trb_type::DISABLE_SLOT, 0, 0, u32::from(slot) << 24);
        let freed = self.command(trb).is_ok();
        self.forget_completions(slot, None);
        if let Some(s) = self.slots.get_mut(usize::from(slot)).and_then(Option::take) {
            self.hal
                .dma_write(&self.dcbaa, usize::from(slot) * 8, &[0; 8]);
            if freed {
                self.hal.dma_free(s.output);
                self.hal.dma_free(s.input);
                for ring in s.rings.into_iter().flatten() {
                    self.hal.dma_free(ring.mem);
                }
            }
        }
    }

    /// SET_CONFIGURATION `value`.
    ///
    /// # Errors
    /// The control transfer's [`TransferError`].
    pub fn set_configuration(&mut self, slot: u8, value: u8) -> Result<(), TransferError> {
        self.control_out(slot, SetupPacket::set_configuration(value), &[])
    }

    /// Configure Endpoint: adds a transfer ring and endpoint context for each of `endpoints`
    /// (bulk and interrupt; others are skipped).
    ///
    /// # Errors
    /// [`TransferError::OutOfDmaMemory`], [`TransferError::NoSuchEndpoint`] (no such slot),
    /// [`TransferError::Command`].
    pub fn configure_endpoints(
        &mut self,
        slot: u8,
        endpoints: &[EndpointDescriptor],
    ) -> Result<(), TransferError> {
        let ac64 = self.caps.ac64;
        let no_slot = TransferError::NoSuchEndpoint { slot, endpoint: 0 };
        let speed = self.slot(slot).map(|s| s.speed).ok_or(no_slot)?;
        let mut add = 1u32;
        let mut contexts = Vec::new();
        for e in endpoints {
            let (ep_type, interval) = match (e.transfer, e.is_in()) {
                (TransferType::Bulk, true) => (ep_type::BULK_IN, 0),
                (TransferType::Bulk, false) => (ep_type::BULK_OUT, 0),
                (TransferType::Interrupt, true) => {
                    (ep_type::INTERRUPT_IN, interrupt_interval(speed, e.interval))
                }
                (TransferType::Interrupt, false) => (
                    ep_type::INTERRUPT_OUT,
                    interrupt_interval(speed, e.interval),
                ),
                _ => continue,
            };
            let index = dci(e.number(), e.is_in());
            let ring = Ring::new(
                alloc_dma(&mut self.hal, ac64, 4096).ok_or(TransferError::OutOfDmaMemory)?,
            );
            let interrupt = e.transfer == TransferType::Interrupt;
            let ctx = EndpointContext {
                interval,
                error_count: 3,
                ep_type,
                max_packet: e.max_packet,
                dequeue: ring.dequeue_pointer(),
                average_trb: if interrupt { e.max_packet } else { 3072 },
                max_esit_payload: if interrupt { e.max_packet } else { 0 },
                ..Default::default()
            };
            if let Some(s) = self
                .slots
                .get_mut(usize::from(slot))
                .and_then(Option::as_mut)
            {
                if let Some(old) = s.rings[usize::from(index)].replace(ring) {
                    self.hal.dma_free(old.mem);
                }
                s.configured[usize::from(index)] = Some(ctx);
            }
            add |= 1 << index;
            contexts.push((index, ctx));
        }
        let entries = self
            .slot(slot)
            .and_then(|s| s.configured.iter().rposition(Option::is_some))
            .unwrap_or(1) as u8;
        let base = self.slot(slot).map(|s| s.ctx).unwrap_or_default();
        let slot_ctx = SlotContext {
            context_entries: entries,
            ..base
        };
        self.write_input(slot, 0, &[0, add]);
        self.write_input(slot, 1, &slot_ctx.to_dwords());
        for (index, ctx) in contexts {
            self.write_input(slot, 1 + usize::from(index), &ctx.to_dwords());
        }
        Ok(self.configure_endpoint(slot)?)
    }

    /// Configure Endpoint with the input context already written for `slot`.
    fn configure_endpoint(&mut self, slot: u8) -> Result<(), CommandError> {
        let input = self.slot(slot).map_or(0, |s| s.input.phys());
        let trb = Trb::new(
            trb_type::CONFIGURE_ENDPOINT,
            input,
            0,
            u32::from(slot) << 24,
        );
        self.command(trb).map(drop)
    }

    /// Pushes TRBs on `slot`'s ring `index` and rings its doorbell; answers the TRBs' addresses.
    fn submit(&mut self, slot: u8, index: u8, trbs: &[Trb]) -> Result<Vec<u64>, TransferError> {
        let endpoint = endpoint_address(index);
        if let Some(usbsts) = self.failed {
            return Err(TransferError::ControllerFailed { usbsts });
        }
        let port = self
            .slot(slot)
            .map(|s| s.port)
            .ok_or(TransferError::NoSuchEndpoint { slot, endpoint })?;
        if !self.port_status(port).connected() {
            return Err(TransferError::Disconnected { port });
        }
        // One TD in flight per endpoint: whatever was kept for this one is stale (the status
        // stage of a short control read, a TD that timed out or was skipped).
        self.forget_completions(slot, Some(index));
        let ring = self
            .slots
            .get_mut(usize::from(slot))
            .and_then(Option::as_mut)
            .and_then(|s| s.rings.get_mut(usize::from(index)))
            .and_then(Option::as_mut)
            .ok_or(TransferError::NoSuchEndpoint { slot, endpoint })?;
        let at = trbs.iter().map(|t| ring.push(&mut self.hal, *t)).collect();
        self.hal
            .write32(self.caps.dboff + 4 * usize::from(slot), u32::from(index));
        Ok(at)
    }

    /// Waits for the TD whose TRBs are at `at` to finish: an event on its last TRB, or an
    /// error or short packet on any. Answers the bytes not transferred (`residue`), counting
    /// the TRBs after a short one as not transferred (`lengths`: each TRB's length).
    fn finish(
        &mut self,
        slot: u8,
        index: u8,
        at: &[u64],
        lengths: &[usize],
        timeout_us: u64,
    ) -> Result<usize, TransferError> {
        let endpoint = endpoint_address(index);
        let port = self.slot(slot).map(|s| s.port);
        let Some(&last) = at.last() else {
            return Ok(0);
        };
        let done = self.wait_event(timeout_us, port, |ev| {
            ev.trb_type() == trb_type::TRANSFER_EVENT
                && ev.slot_id() == slot
                && ev.endpoint_id() == index
                && at.contains(&ev.parameter)
                && (ev.parameter == last || ev.completion_code() != code::SUCCESS)
        });
        let ev = match done {
            Ok(ev) => ev,
            Err(Wait::Disconnected(port)) => return Err(TransferError::Disconnected { port }),
            Err(Wait::ControllerFailed(usbsts)) => {
                return Err(TransferError::ControllerFailed { usbsts })
            }
            Err(Wait::Timeout) => {
                self.abandon(slot, index);
                return Err(TransferError::Timeout { slot, endpoint });
            }
        };
        let k = at.iter().position(|&a| a == ev.parameter).unwrap_or(0);
        let after: usize = lengths.iter().skip(k + 1).sum();
        let residue = (ev.residue() as usize).min(lengths.get(k).copied().unwrap_or(0)) + after;
        match ev.completion_code() {
            code::SUCCESS | code::SHORT_PACKET => Ok(residue),
            code::STALL => Err(TransferError::Stall { slot, endpoint }),
            code::TRANSACTION => Err(TransferError::Transaction { slot, endpoint }),
            code::BABBLE => Err(TransferError::Babble { slot, endpoint }),
            c => Err(TransferError::Failed {
                slot,
                endpoint,
                code: CompletionCode(c),
            }),
        }
    }

    /// After a timeout: Stop Endpoint and move the dequeue pointer past the abandoned TD, best
    /// effort.
    fn abandon(&mut self, slot: u8, index: u8) {
        let stop = Trb::new(
            trb_type::STOP_ENDPOINT,
            0,
            0,
            u32::from(slot) << 24 | u32::from(index) << 16,
        );
        if let Err(e) = self.command(stop) {
            log::warn!("xhci: slot {slot} endpoint {index}: {e}");
            return;
        }
        if let Err(e) = self.set_dequeue(slot, index) {
            log::warn!("xhci: slot {slot} endpoint {index}: {e}");
        }
    }

    /// Set TR Dequeue Pointer to the ring's enqueue position (skipping whatever is on it).
    fn set_dequeue(&mut self, slot: u8, index: u8) -> Result<(), CommandError> {
        let ptr = self
            .slot(slot)
            .and_then(|s| s.rings.get(usize::from(index)))
            .and_then(Option::as_ref)
            .map_or(0, Ring::dequeue_pointer);
        let trb = Trb::new(
            trb_type::SET_TR_DEQUEUE,
            ptr,
            0,
            u32::from(slot) << 24 | u32::from(index) << 16,
        );
        self.command(trb).map(|_| ())
    }

    /// A control transfer reading up to `buf.len()` bytes (at most [`MAX_CONTROL_BYTES`]);
    /// answers how many came.
    ///
    /// # Errors
    /// Every [`TransferError`]; after [`TransferError::Stall`] the control endpoint is reset
    /// (a stalled control request clears on the next SETUP).
    pub fn control_in(
        &mut self,
        slot: u8,
        setup: SetupPacket,
        buf: &mut [u8],
    ) -> Result<usize, TransferError> {
        let len = buf.len().min(usize::from(setup.length));
        let n = self.control(slot, setup, len, true, &[])?;
        self.hal.dma_read(&self.control_buf, 0, &mut buf[..n]);
        Ok(n)
    }

    /// A control transfer writing `data` (at most [`MAX_CONTROL_BYTES`]).
    ///
    /// # Errors
    /// As [`control_in`](Self::control_in).
    pub fn control_out(
        &mut self,
        slot: u8,
        setup: SetupPacket,
        data: &[u8],
    ) -> Result<(), TransferError> {
        self.control(slot, setup, data.len(), false, data)
            .map(|_| ())
    }

    fn control(
        &mut self,
        slot: u8,
        mut setup: SetupPacket,
        len: usize,
        in_: bool,
        data: &[u8],
    ) -> Result<usize, TransferError> {
        if len > MAX_CONTROL_BYTES {
            return Err(TransferError::TooLong { bytes: len });
        }
        setup.length = len as u16;
        if !in_ && len > 0 {
            self.hal.dma_write(&self.control_buf, 0, data);
        }
        let trt = match (len, in_) {
            (0, _) => ctrl::TRT_NONE,
            (_, true) => ctrl::TRT_IN,
            (_, false) => ctrl::TRT_OUT,
        };
        let mut trbs = vec![Trb::new(
            trb_type::SETUP,
            setup.to_u64(),
            8,
            ctrl::IDT | trt,
        )];
        let mut lengths = vec![0];
        if len > 0 {
            let dir = if in_ { ctrl::DIR_IN } else { 0 };
            trbs.push(Trb::new(
                trb_type::DATA,
                self.control_buf.phys(),
                len as u32,
                dir | ctrl::ISP,
            ));
            lengths.push(len);
        }
        // The status stage goes the other way from the data (IN without data).
        let status_dir = if len == 0 || !in_ { ctrl::DIR_IN } else { 0 };
        trbs.push(Trb::new(trb_type::STATUS, 0, 0, status_dir | ctrl::IOC));
        lengths.push(0);
        let at = self.submit(slot, 1, &trbs)?;
        // A short data stage reports on the data TRB (ISP), then the status stage completes.
        let residue = match self.finish(slot, 1, &at, &lengths, self.timeouts.control_us) {
            Ok(residue) => residue,
            Err(e) => {
                if e.is_halt() {
                    self.recover_control(slot);
                }
                return Err(e);
            }
        };
        if residue > 0 {
            let status = at[at.len() - 1];
            let port = self.slot(slot).map(|s| s.port);
            // The status stage's own event; its absence is not an error (stale events of this
            // TD are dropped by later waits).
            let _ = self.wait_event(self.timeouts.control_us, port, |ev| {
                ev.trb_type() == trb_type::TRANSFER_EVENT && ev.parameter == status
            });
        }
        Ok(len - residue.min(len))
    }

    /// After a halt of the control endpoint: Reset Endpoint and Set TR Dequeue Pointer.
    fn recover_control(&mut self, slot: u8) {
        let reset = Trb::new(
            trb_type::RESET_ENDPOINT,
            0,
            0,
            u32::from(slot) << 24 | 1 << 16,
        );
        let done = self.command(reset).and_then(|_| self.set_dequeue(slot, 1));
        if let Err(e) = done {
            log::warn!("xhci: slot {slot}: control endpoint recovery failed: {e}");
        }
    }

    /// A bulk (or interrupt) transfer of `len` bytes at `offset` of `region` on endpoint
    /// address `endpoint` (IN if bit 7): Normal TRBs, none crossing a 64 KiB boundary, chained,
    /// interrupt on the last and on a short packet. Answers the bytes transferred.
    ///
    /// # Errors
    /// Every [`TransferError`]. After a halt ([`TransferError::is_halt`]) the endpoint stays
    /// halted until [`clear_halt`](Self::clear_halt).
    pub fn bulk(
        &mut self,
        slot: u8,
        endpoint: u8,
        region: &DmaRegion,
        offset: usize,
        len: usize,
    ) -> Result<usize, TransferError> {
        if offset + len > region.len() {
            return Err(TransferError::TooLong { bytes: len });
        }
        let index = dci(endpoint & 0x0f, endpoint & 0x80 != 0);
        let max_packet = self
            .slot(slot)
            .and_then(|s| s.configured.get(usize::from(index)).copied().flatten())
            .map_or(512, |c| usize::from(c.max_packet.max(1)));
        let pieces = split_at_64k(region.phys() + offset as u64, len);
        let mut trbs = Vec::with_capacity(pieces.len());
        let mut remaining = len;
        for (i, &(addr, n)) in pieces.iter().enumerate() {
            remaining -= n;
            let last = i + 1 == pieces.len();
            let td_size = remaining.div_ceil(max_packet).min(31) as u32;
            let flags = if last { ctrl::IOC } else { ctrl::CH } | ctrl::ISP;
            trbs.push(Trb::new(
                trb_type::NORMAL,
                addr,
                n as u32 | td_size << 17,
                flags,
            ));
        }
        let lengths: Vec<usize> = pieces.iter().map(|p| p.1).collect();
        let at = self.submit(slot, index, &trbs)?;
        let residue = self.finish(slot, index, &at, &lengths, self.timeouts.bulk_us)?;
        Ok(len - residue.min(len))
    }

    /// Brings an endpoint back to a clean state and clears its halt on the device: a halted
    /// endpoint gets Reset Endpoint (which also resets the host's data toggle or sequence
    /// number) and Set TR Dequeue Pointer past the failed TD; an endpoint that is not halted
    /// (running, or stopped after a timeout) is stopped and dropped and added again with
    /// Configure Endpoint, the way to reset its toggle, with its dequeue pointer past
    /// whatever is on its ring. Then CLEAR_FEATURE(ENDPOINT_HALT) to the device, which resets
    /// the device's toggle.
    ///
    /// # Errors
    /// A [`TransferError`] of the commands or the control transfer.
    pub fn clear_halt(&mut self, slot: u8, endpoint: u8) -> Result<(), TransferError> {
        let index = dci(endpoint & 0x0f, endpoint & 0x80 != 0);
        let target = u32::from(slot) << 24 | u32::from(index) << 16;
        let reset = Trb::new(trb_type::RESET_ENDPOINT, 0, 0, target);
        match self.command(reset) {
            Err(CommandError::Failed { code, .. }) if code.0 == code::CONTEXT_STATE => {
                let stop = Trb::new(trb_type::STOP_ENDPOINT, 0, 0, target);
                match self.command(stop) {
                    // Already stopped.
                    Err(CommandError::Failed { code, .. }) if code.0 == code::CONTEXT_STATE => {}
                    r => {
                        r?;
                    }
                }
                self.readd_endpoint(slot, index)?;
            }
            r => {
                r?;
                self.set_dequeue(slot, index)?;
            }
        }
        self.control_out(slot, SetupPacket::clear_halt(endpoint), &[])
    }

    /// Configure Endpoint dropping and adding endpoint `index` with its context as configured
    /// and its dequeue pointer at the ring's enqueue position.
    fn readd_endpoint(&mut self, slot: u8, index: u8) -> Result<(), TransferError> {
        let endpoint = endpoint_address(index);
        let missing = TransferError::NoSuchEndpoint { slot, endpoint };
        let s = self.slot(slot).ok_or(missing)?;
        let mut ctx = s
            .configured
            .get(usize::from(index))
            .copied()
            .flatten()
            .ok_or(missing)?;
        ctx.dequeue = s
            .rings
            .get(usize::from(index))
            .and_then(Option::as_ref)
            .map(Ring::dequeue_pointer)
            .ok_or(missing)?;
        let entries = s.configured.iter().rposition(Option::is_some).unwrap_or(1) as u8;
        let slot_ctx = SlotContext {
            context_entries: entries,
            ..s.ctx
        };
        self.write_input(slot, 0, &[1 << index, 1 << index | 1]);
        self.write_input(slot, 1, &slot_ctx.to_dwords());
        self.write_input(slot, 1 + usize::from(index), &ctx.to_dwords());
        Ok(self.configure_endpoint(slot)?)
    }

    /// Whether `slot`'s device is still connected (its port's PORTSC.CCS).
    pub fn is_connected(&mut self, slot: u8) -> bool {
        match self.slot(slot).map(|s| s.port) {
            Some(port) => self.port_status(port).connected(),
            None => false,
        }
    }

    /// The port `slot`'s device is on.
    pub fn slot_port(&self, slot: u8) -> Option<u8> {
        self.slot(slot).map(|s| s.port)
    }

    /// Reads `slot`'s output slot context (what the controller says about the device).
    pub fn slot_context(&mut self, slot: u8) -> Option<SlotContext> {
        let mut b = [0u8; 16];
        let s = self.slots.get(usize::from(slot)).and_then(Option::as_ref)?;
        self.hal.dma_read(&s.output, 0, &mut b);
        Some(SlotContext::from_dwords(proto::bytes_to_dwords(&b)))
    }

    /// Allocates DMA memory the controller can reach (below 4 GiB without AC64), for class
    /// drivers' buffers.
    pub fn alloc_dma(&mut self, len: usize) -> Option<DmaRegion> {
        alloc_dma(&mut self.hal, self.caps.ac64, len)
    }

    /// Gives back memory from [`alloc_dma`](Self::alloc_dma).
    pub fn free_dma(&mut self, region: DmaRegion) {
        self.hal.dma_free(region)
    }

    /// Copies from DMA memory.
    pub fn dma_read(&mut self, region: &DmaRegion, offset: usize, buf: &mut [u8]) {
        self.hal.dma_read(region, offset, buf)
    }

    /// Copies to DMA memory.
    pub fn dma_write(&mut self, region: &DmaRegion, offset: usize, data: &[u8]) {
        self.hal.dma_write(region, offset, data)
    }

    /// The scratchpad buffers given to the controller (HCSPARAMS2).
    pub fn scratchpad_count(&self) -> usize {
        self.scratchpads.len() * usize::from(self.scratchpad_array.is_some())
    }
}

impl<H: XhciHal> Drop for Controller<H> {
    /// Halts the controller and, once it has halted, gives the devices' and scratchpad memory
    /// back (all leaked if it will not halt: it may still write there).
    fn drop(&mut self) {
        let cmd = self.hal.read32(self.op + op::USBCMD);
        self.hal
            .write32(self.op + op::USBCMD, cmd & !(op::CMD_RUN | op::CMD_INTE));
        let op = self.op;
        if !wait_until(&mut self.hal, self.timeouts.halt_us, |h| {
            h.read32(op + op::USBSTS) & op::STS_HCH != 0
        }) {
            log::warn!("xhci: controller did not halt; leaking its memory");
            return;
        }
        let mut regions = Vec::new();
        for slot in self.slots.iter_mut().filter_map(Option::take) {
            regions.push(slot.output);
            regions.push(slot.input);
            regions.extend(slot.rings.into_iter().flatten().map(|r| r.mem));
        }
        regions.append(&mut self.scratchpads);
        regions.extend(self.scratchpad_array.take());
        for region in regions {
            self.hal.dma_free(region);
        }
        // The DCBAA, command and event rings, ERST and control buffer (five pages) stay
        // allocated: they are plain fields, and a dropped controller is rare enough (the
        // kernel keeps it for as long as it runs) not to make them all optional.
    }
}

/// How a wait ended without the event.
enum Wait {
    Timeout,
    Disconnected(u8),
    ControllerFailed(u32),
}

/// The largest BAR0 offset (exclusive) the driver touches.
pub fn span_of(caps: &Capabilities, max_slots: u8, ext_end: usize) -> usize {
    let ports = usize::from(caps.cap_length) + op::portsc(caps.max_ports.max(1)) + 0x10;
    let doorbells = caps.dboff + 4 * (usize::from(max_slots) + 1);
    let runtime = caps.rtsoff + rt::IR0 + 0x20;
    ports.max(doorbells).max(runtime).max(ext_end)
}

/// The endpoint address (0 for the control endpoint, bit 7 for IN) of DCI `index`.
fn endpoint_address(index: u8) -> u8 {
    if index <= 1 {
        0
    } else {
        (index / 2) | if index % 2 == 1 { 0x80 } else { 0 }
    }
}

/// The endpoint context's Interval for an interrupt endpoint's bInterval: exponent of 125 µs
/// units. Full/low speed bInterval is in frames (1 ms = 8 units); high/SuperSpeed bInterval is
/// already an exponent plus one.
fn interrupt_interval(speed: Speed, b_interval: u8) -> u8 {
    match speed {
        Speed::Low | Speed::Full => {
            let units = u32::from(b_interval.max(1)) * 8;
            (31 - units.leading_zeros()).clamp(3, 10) as u8
        }
        _ => b_interval.clamp(1, 16) - 1,
    }
}

/// Splits `len` bytes at physical `addr` into pieces none of which crosses a 64 KiB boundary.
pub fn split_at_64k(addr: u64, len: usize) -> Vec<(u64, usize)> {
    let mut pieces = Vec::new();
    let (mut at, mut left) = (addr, len);
    while left > 0 {
        let to_boundary = (TRB_MAX_BYTES as u64 - (at % TRB_MAX_BYTES as u64)) as usize;
        let n = left.min(to_boundary);
        pieces.push((at, n));
        at += n as u64;
        left -= n;
    }
    if pieces.is_empty() {
        pieces.push((addr, 0));
    }
    pieces
}

/// The USB Legacy Support handoff: sets the OS Owned semaphore, waits for the firmware to clear
/// its own, clears it by force after `timeout_us`, and turns the SMIs off.
fn take_from_firmware<H: XhciHal>(hal: &mut H, at: usize, timeout_us: u64) -> Handoff {
    let v = hal.read32(at);
    let outcome = if v & ext::BIOS_OWNED == 0 {
        hal.write32(at, v | ext::OS_OWNED);
        Handoff::NotOwned
    } else {
        hal.write32(at, v | ext::OS_OWNED);
        if wait_until(hal, timeout_us, |h| h.read32(at) & ext::BIOS_OWNED == 0) {
            Handoff::Released
        } else {
            log::warn!("xhci: firmware did not release the controller; taking it");
            let v = hal.read32(at);
            hal.write32(at, (v & !ext::BIOS_OWNED) | ext::OS_OWNED);
            Handoff::Forced
        }
    };
    let ctl = hal.read32(at + 4);
    hal.write32(
        at + 4,
        (ctl & !ext::LEGCTL_SMI_ENABLES) | ext::LEGCTL_SMI_EVENTS,
    );
    outcome
}
