//! xHCI data structures and register layout (xHCI 1.2): capability, operational, runtime and
//! doorbell registers, extended capabilities, TRBs and their types, completion codes, and
//! the slot/endpoint contexts. Plain data: no register access here.

use core::fmt;

/// Capability registers (offsets from BAR0).
pub mod cap {
    /// CAPLENGTH (bits 7:0) and HCIVERSION (bits 31:16).
    pub const CAPLENGTH: usize = 0x00;
    /// HCSPARAMS1: MaxSlots 7:0, MaxIntrs 18:8, MaxPorts 31:24.
    pub const HCSPARAMS1: usize = 0x04;
    /// HCSPARAMS2: IST 3:0, ERST Max 7:4, Max Scratchpad Hi 25:21, SPR 26, Lo 31:27.
    pub const HCSPARAMS2: usize = 0x08;
    pub const HCSPARAMS3: usize = 0x0c;
    /// HCCPARAMS1: AC64 0, CSZ 2, PPC 3, xECP 31:16 (in dwords).
    pub const HCCPARAMS1: usize = 0x10;
    /// DBOFF: the doorbell array's offset (bits 31:2).
    pub const DBOFF: usize = 0x14;
    /// RTSOFF: the runtime registers' offset (bits 31:5).
    pub const RTSOFF: usize = 0x18;

    pub const HCC_AC64: u32 = 1 << 0;
    pub const HCC_CSZ: u32 = 1 << 2;
    pub const HCC_PPC: u32 = 1 << 3;
}

/// Operational registers (offsets from CAPLENGTH).
pub mod op {
    pub const USBCMD: usize = 0x00;
    pub const USBSTS: usize = 0x04;
    pub const PAGESIZE: usize = 0x08;
    pub const DNCTRL: usize = 0x14;
    /// CRCR, 64 bits.
    pub const CRCR: usize = 0x18;
    /// DCBAAP, 64 bits.
    pub const DCBAAP: usize = 0x30;
    pub const CONFIG: usize = 0x38;
    /// Port register sets: PORTSC of port `n` (1-based) is at `PORTS + 0x10 * (n - 1)`.
    pub const PORTS: usize = 0x400;

    pub const CMD_RUN: u32 = 1 << 0;
    pub const CMD_HCRST: u32 = 1 << 1;
    pub const CMD_INTE: u32 = 1 << 2;

    pub const STS_HCH: u32 = 1 << 0;
    pub const STS_HSE: u32 = 1 << 2;
    pub const STS_EINT: u32 = 1 << 3;
    pub const STS_PCD: u32 = 1 << 4;
    pub const STS_CNR: u32 = 1 << 11;
    pub const STS_HCE: u32 = 1 << 12;

    pub const CRCR_RCS: u64 = 1 << 0;

    /// The byte offset (from the operational base) of port `n`'s PORTSC.
    pub fn portsc(port: u8) -> usize {
        PORTS + 0x10 * (usize::from(port) - 1)
    }
}

/// PORTSC bits.
pub mod portsc {
    pub const CCS: u32 = 1 << 0;
    /// Port enabled; writing 1 *disables* the port.
    pub const PED: u32 = 1 << 1;
    pub const PR: u32 = 1 << 4;
    pub const PP: u32 = 1 << 9;
    pub const SPEED_SHIFT: u32 = 10;
    pub const SPEED_MASK: u32 = 0xf << SPEED_SHIFT;
    pub const CSC: u32 = 1 << 17;
    pub const PEC: u32 = 1 << 18;
    pub const WRC: u32 = 1 << 19;
    pub const OCC: u32 = 1 << 20;
    pub const PRC: u32 = 1 << 21;
    pub const PLC: u32 = 1 << 22;
    pub const CEC: u32 = 1 << 23;
    pub const WPR: u32 = 1 << 31;
    /// The write-1-to-clear change bits.
    pub const CHANGE_BITS: u32 = CSC | PEC | WRC | OCC | PRC | PLC | CEC;

    /// What to write back to change nothing: the value read without PED, the change bits,
    /// PR, LWS (16) and WPR, which act when written as 1.
    pub fn preserve(value: u32) -> u32 {
        value & !(PED | CHANGE_BITS | PR | 1 << 16 | WPR)
    }

    /// The Port Speed field.
    pub fn speed(value: u32) -> u8 {
        ((value & SPEED_MASK) >> SPEED_SHIFT) as u8
    }
}

/// Runtime registers: interrupter 0's set at `RTSOFF + IR0`.
pub mod rt {
    pub const IR0: usize = 0x20;
    pub const IMAN: usize = 0x00;
    pub const IMOD: usize = 0x04;
    pub const ERSTSZ: usize = 0x08;
    /// ERSTBA, 64 bits.
    pub const ERSTBA: usize = 0x10;
    /// ERDP, 64 bits; bit 3 is EHB (write 1 to clear).
    pub const ERDP: usize = 0x18;
    pub const IMAN_IP: u32 = 1 << 0;
    pub const IMAN_IE: u32 = 1 << 1;
    pub const ERDP_EHB: u64 = 1 << 3;
}

/// Extended capability IDs and the USB Legacy Support bits.
pub mod ext {
    pub const LEGACY: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    /// USBLEGSUP: HC BIOS Owned Semaphore.
    pub const BIOS_OWNED: u32 = 1 << 16;
    /// USBLEGSUP: HC OS Owned Semaphore.
    pub const OS_OWNED: u32 = 1 << 24;
    /// USBLEGCTLSTS: the SMI enables (bits 0, 4, 13, 14, 15) and the RW1C events (29..31).
    pub const LEGCTL_SMI_ENABLES: u32 = 1 | 1 << 4 | 0x7 << 13;
    pub const LEGCTL_SMI_EVENTS: u32 = 0x7 << 29;
}

/// TRB types (control bits 15:10).
pub mod trb_type {
    pub const NORMAL: u8 = 1;
    pub const SETUP: u8 = 2;
    pub const DATA: u8 = 3;
    pub const STATUS: u8 = 4;
    pub const LINK: u8 = 6;
    pub const ENABLE_SLOT: u8 = 9;
    pub const DISABLE_SLOT: u8 = 10;
    pub const ADDRESS_DEVICE: u8 = 11;
    pub const CONFIGURE_ENDPOINT: u8 = 12;
    pub const EVALUATE_CONTEXT: u8 = 13;
    pub const RESET_ENDPOINT: u8 = 14;
    pub const STOP_ENDPOINT: u8 = 15;
    pub const SET_TR_DEQUEUE: u8 = 16;
    pub const NOOP_COMMAND: u8 = 23;
    pub const TRANSFER_EVENT: u8 = 32;
    pub const COMMAND_COMPLETION: u8 = 33;
    pub const PORT_STATUS_CHANGE: u8 = 34;
    pub const HOST_CONTROLLER: u8 = 37;

    /// A name for logs and errors.
    pub fn name(t: u8) -> &'static str {
        match t {
            NORMAL => "Normal",
            SETUP => "Setup Stage",
            DATA => "Data Stage",
            STATUS => "Status Stage",
            LINK => "Link",
            ENABLE_SLOT => "Enable Slot",
            DISABLE_SLOT => "Disable Slot",
            ADDRESS_DEVICE => "Address Device",
            CONFIGURE_ENDPOINT => "Configure Endpoint",
            EVALUATE_CONTEXT => "Evaluate Context",
            RESET_ENDPOINT => "Reset Endpoint",
            STOP_ENDPOINT => "Stop Endpoint",
            SET_TR_DEQUEUE => "Set TR Dequeue Pointer",
            NOOP_COMMAND => "No Op",
            TRANSFER_EVENT => "Transfer Event",
            COMMAND_COMPLETION => "Command Completion Event",
            PORT_STATUS_CHANGE => "Port Status Change Event",
            HOST_CONTROLLER => "Host Controller Event",
            _ => "unknown TRB",
        }
    }
}

/// TRB control bits.
pub mod ctrl {
    pub const CYCLE: u32 = 1 << 0;
    /// Link TRB: toggle cycle. (Other TRBs: evaluate next TRB.)
    pub const TC: u32 = 1 << 1;
    pub const ISP: u32 = 1 << 2;
    pub const CH: u32 = 1 << 4;
    pub const IOC: u32 = 1 << 5;
    pub const IDT: u32 = 1 << 6;
    /// Data/Status stage: direction IN.
    pub const DIR_IN: u32 = 1 << 16;
    /// Address Device: Block Set Address Request.
    pub const BSR: u32 = 1 << 9;
    /// Setup stage: Transfer Type (bits 17:16): no data, OUT data, IN data.
    pub const TRT_NONE: u32 = 0;
    pub const TRT_OUT: u32 = 2 << 16;
    pub const TRT_IN: u32 = 3 << 16;
}

/// Bytes in a TRB.
pub const TRB_BYTES: usize = 16;
/// TRBs in a one-page ring segment (the last is the Link TRB for command and transfer rings).
pub const RING_TRBS: usize = 256;

/// A Transfer Request Block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trb {
    pub parameter: u64,
    pub status: u32,
    pub control: u32,
}

impl Trb {
    /// A TRB of type `t` (cycle bit clear; the ring sets it).
    pub fn new(t: u8, parameter: u64, status: u32, control: u32) -> Self {
        Self {
            parameter,
            status,
            control: control | u32::from(t) << 10,
        }
    }

    pub fn trb_type(&self) -> u8 {
        ((self.control >> 10) & 0x3f) as u8
    }

    pub fn cycle(&self) -> bool {
        self.control & ctrl::CYCLE != 0
    }

    /// Events: the completion code (status bits 31:24).
    pub fn completion_code(&self) -> u8 {
        (self.status >> 24) as u8
    }

    /// Events and slot commands: the slot ID (control bits 31:24).
    pub fn slot_id(&self) -> u8 {
        (self.control >> 24) as u8
    }

    /// Transfer events and endpoint commands: the endpoint ID (DCI, control bits 20:16).
    pub fn endpoint_id(&self) -> u8 {
        ((self.control >> 16) & 0x1f) as u8
    }

    /// Transfer events: the bytes not transferred (status bits 23:0).
    pub fn residue(&self) -> u32 {
        self.status & 0x00ff_ffff
    }

    /// Little-endian bytes, as the controller reads them.
    pub fn to_bytes(&self) -> [u8; TRB_BYTES] {
        let mut b = [0u8; TRB_BYTES];
        b[0..8].copy_from_slice(&self.parameter.to_le_bytes());
        b[8..12].copy_from_slice(&self.status.to_le_bytes());
        b[12..16].copy_from_slice(&self.control.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; TRB_BYTES]) -> Self {
        let dword = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self {
            parameter: u64::from(dword(0)) | u64::from(dword(4)) << 32,
            status: dword(8),
            control: dword(12),
        }
    }
}

/// Completion codes (xHCI 1.2, 6.4.5), the ones the driver names.
pub mod code {
    pub const SUCCESS: u8 = 1;
    pub const DATA_BUFFER: u8 = 2;
    pub const BABBLE: u8 = 3;
    pub const TRANSACTION: u8 = 4;
    pub const TRB: u8 = 5;
    pub const STALL: u8 = 6;
    pub const RESOURCE: u8 = 7;
    pub const BANDWIDTH: u8 = 8;
    pub const NO_SLOTS: u8 = 9;
    pub const SLOT_NOT_ENABLED: u8 = 11;
    pub const ENDPOINT_NOT_ENABLED: u8 = 12;
    pub const SHORT_PACKET: u8 = 13;
    pub const PARAMETER: u8 = 17;
    pub const CONTEXT_STATE: u8 = 19;
    pub const COMMAND_ABORTED: u8 = 25;
    pub const STOPPED: u8 = 26;
}

/// A completion code, decoded for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletionCode(pub u8);

impl fmt::Display for CompletionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "invalid",
            code::SUCCESS => "success",
            code::DATA_BUFFER => "data buffer error",
            code::BABBLE => "babble detected",
            code::TRANSACTION => "USB transaction error",
            code::TRB => "TRB error",
            code::STALL => "stall",
            code::RESOURCE => "resource error",
            code::BANDWIDTH => "bandwidth error",
            code::NO_SLOTS => "no slots available",
            code::SLOT_NOT_ENABLED => "slot not enabled",
            code::ENDPOINT_NOT_ENABLED => "endpoint not enabled",
            code::SHORT_PACKET => "short packet",
            code::PARAMETER => "parameter error",
            code::CONTEXT_STATE => "context state error",
            code::COMMAND_ABORTED => "command aborted",
            code::STOPPED => "stopped",
            _ => "other completion code",
        };
        write!(f, "{name} (code {})", self.0)
    }
}

/// Port speeds (PORTSC Port Speed, default protocol speed IDs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    Full,
    Low,
    High,
    Super,
    SuperPlus,
}

impl Speed {
    /// From the PORTSC speed field; `None` for an undefined ID.
    pub fn from_psi(psi: u8) -> Option<Self> {
        Some(match psi {
            1 => Self::Full,
            2 => Self::Low,
            3 => Self::High,
            4 => Self::Super,
            5 => Self::SuperPlus,
            _ => return None,
        })
    }

    /// The speed ID for the slot context.
    pub fn psi(self) -> u8 {
        match self {
            Self::Full => 1,
            Self::Low => 2,
            Self::High => 3,
            Self::Super => 4,
            Self::SuperPlus => 5,
        }
    }

    /// The default control endpoint's max packet size before the device descriptor is read
    /// (full speed devices may have 8, 16, 32 or 64: fixed up from the descriptor).
    pub fn default_max_packet(self) -> u16 {
        match self {
            Self::Low | Self::Full => 8,
            Self::High => 64,
            Self::Super | Self::SuperPlus => 512,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full speed",
            Self::Low => "low speed",
            Self::High => "high speed",
            Self::Super => "SuperSpeed",
            Self::SuperPlus => "SuperSpeedPlus",
        }
    }
}

/// Endpoint context types.
pub mod ep_type {
    pub const BULK_OUT: u32 = 2;
    pub const CONTROL: u32 = 4;
    pub const BULK_IN: u32 = 6;
    pub const INTERRUPT_IN: u32 = 7;
    pub const INTERRUPT_OUT: u32 = 3;
}

/// The Device Context Index of endpoint `number` (1..=15) in direction `in_`; 1 is EP0.
pub fn dci(number: u8, in_: bool) -> u8 {
    number * 2 + u8::from(in_)
}

/// A slot context (the first 16 bytes; the rest is zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotContext {
    /// The route string: the hub port at each tier below the root port, 4 bits each.
    pub route: u32,
    pub speed: u8,
    /// Multi-TT: the transaction translator serving this (full/low speed) device, or this hub,
    /// has one TT per port.
    pub mtt: bool,
    /// The device is a hub.
    pub hub: bool,
    pub context_entries: u8,
    pub root_port: u8,
    /// Hubs: their number of downstream ports.
    pub ports: u8,
    /// Full/low speed devices behind a high speed hub: that hub's slot and port (the TT).
    pub tt_hub_slot: u8,
    pub tt_port: u8,
    /// High speed hubs: TT think time (0..=3: 8 to 32 FS bit times).
    pub ttt: u8,
    pub address: u8,
    pub state: u8,
}

impl SlotContext {
    pub fn to_dwords(&self) -> [u32; 4] {
        [
            (self.route & 0xf_ffff)
                | u32::from(self.speed) << 20
                | u32::from(self.mtt) << 25
                | u32::from(self.hub) << 26
                | u32::from(self.context_entries) << 27,
            u32::from(self.root_port) << 16 | u32::from(self.ports) << 24,
            u32::from(self.tt_hub_slot)
                | u32::from(self.tt_port) << 8
                | u32::from(self.ttt & 3) << 16,
            u32::from(self.address) | u32::from(self.state) << 27,
        ]
    }

    pub fn from_dwords(d: [u32; 4]) -> Self {
        Self {
            route: d[0] & 0xf_ffff,
            speed: ((d[0] >> 20) & 0xf) as u8,
            mtt: d[0] & 1 << 25 != 0,
            hub: d[0] & 1 << 26 != 0,
            context_entries: (d[0] >> 27) as u8,
            root_port: ((d[1] >> 16) & 0xff) as u8,
            ports: (d[1] >> 24) as u8,
            tt_hub_slot: d[2] as u8,
            tt_port: (d[2] >> 8) as u8,
            ttt: ((d[2] >> 16) & 3) as u8,
            address: d[3] as u8,
            state: (d[3] >> 27) as u8,
        }
    }

    /// How many hub tiers the route string goes down (0: on a root port).
    pub fn tier(&self) -> u32 {
        (32 - (self.route & 0xf_ffff).leading_zeros()).div_ceil(4)
    }
}

/// An endpoint context (the first 20 bytes; the rest is zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointContext {
    pub state: u8,
    pub interval: u8,
    pub error_count: u8,
    pub ep_type: u32,
    pub max_burst: u8,
    pub max_packet: u16,
    /// The transfer ring's dequeue pointer with the DCS in bit 0.
    pub dequeue: u64,
    pub average_trb: u16,
    pub max_esit_payload: u16,
}

impl EndpointContext {
    pub fn to_dwords(&self) -> [u32; 5] {
        [
            u32::from(self.state) | u32::from(self.interval) << 16,
            u32::from(self.error_count) << 1
                | self.ep_type << 3
                | u32::from(self.max_burst) << 8
                | u32::from(self.max_packet) << 16,
            self.dequeue as u32,
            (self.dequeue >> 32) as u32,
            u32::from(self.average_trb) | u32::from(self.max_esit_payload) << 16,
        ]
    }

    pub fn from_dwords(d: [u32; 5]) -> Self {
        Self {
            state: (d[0] & 7) as u8,
            interval: ((d[0] >> 16) & 0xff) as u8,
            error_count: ((d[1] >> 1) & 3) as u8,
            ep_type: (d[1] >> 3) & 7,
            max_burst: ((d[1] >> 8) & 0xff) as u8,
            max_packet: (d[1] >> 16) as u16,
            dequeue: u64::from(d[2]) | u64::from(d[3]) << 32,
            average_trb: d[4] as u16,
            max_esit_payload: (d[4] >> 16) as u16,
        }
    }
}

/// Encodes dwords as little-endian bytes.
pub fn dwords_to_bytes(d: &[u32]) -> alloc::vec::Vec<u8> {
    d.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes `N` little-endian dwords from the start of `b` (zeros past its end).
pub fn bytes_to_dwords<const N: usize>(b: &[u8]) -> [u32; N] {
    let mut d = [0u32; N];
    for (i, x) in d.iter_mut().enumerate() {
        if let Some(c) = b.get(i * 4..i * 4 + 4) {
            *x = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
    d
}
