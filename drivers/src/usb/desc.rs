//! USB 2.0/3.x chapter 9: setup packets, standard requests, and the device and configuration
//! descriptors (with their interfaces and endpoints), parsed without trusting their lengths.

use alloc::vec::Vec;
use core::fmt;

/// Standard request codes.
pub mod request {
    pub const CLEAR_FEATURE: u8 = 0x01;
    pub const SET_ADDRESS: u8 = 0x05;
    pub const GET_DESCRIPTOR: u8 = 0x06;
    pub const SET_CONFIGURATION: u8 = 0x09;
    /// Mass storage Bulk-Only: Bulk-Only Mass Storage Reset (class, interface).
    pub const BOT_RESET: u8 = 0xff;
    /// Mass storage Bulk-Only: Get Max LUN (class, interface).
    pub const GET_MAX_LUN: u8 = 0xfe;
    /// The ENDPOINT_HALT feature selector.
    pub const ENDPOINT_HALT: u16 = 0;
}

/// Descriptor types.
pub mod dtype {
    pub const DEVICE: u8 = 1;
    pub const CONFIGURATION: u8 = 2;
    pub const INTERFACE: u8 = 4;
    pub const ENDPOINT: u8 = 5;
}

/// An 8-byte SETUP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupPacket {
    pub request_type: u8,
    pub request: u8,
    pub value: u16,
    pub index: u16,
    pub length: u16,
}

impl SetupPacket {
    /// bmRequestType bit 7: device to host.
    pub const DIR_IN: u8 = 0x80;

    /// GET_DESCRIPTOR of `dtype` (index 0), `length` bytes.
    pub fn get_descriptor(dtype: u8, length: u16) -> Self {
        Self {
            request_type: Self::DIR_IN,
            request: request::GET_DESCRIPTOR,
            value: u16::from(dtype) << 8,
            index: 0,
            length,
        }
    }

    /// SET_CONFIGURATION `value`.
    pub fn set_configuration(value: u8) -> Self {
        Self {
            request_type: 0,
            request: request::SET_CONFIGURATION,
            value: u16::from(value),
            index: 0,
            length: 0,
        }
    }

    /// CLEAR_FEATURE(ENDPOINT_HALT) on endpoint address `ep` (with the direction bit).
    pub fn clear_halt(ep: u8) -> Self {
        Self {
            request_type: 0x02,
            request: request::CLEAR_FEATURE,
            value: request::ENDPOINT_HALT,
            index: u16::from(ep),
            length: 0,
        }
    }

    /// A class request to interface `interface` (host to device unless `in_`).
    pub fn class_interface(request: u8, interface: u8, in_: bool, length: u16) -> Self {
        Self {
            request_type: 0x21 | if in_ { Self::DIR_IN } else { 0 },
            request,
            value: 0,
            index: u16::from(interface),
            length,
        }
    }

    pub fn is_in(&self) -> bool {
        self.request_type & Self::DIR_IN != 0
    }

    /// The packet as the setup stage TRB's immediate data.
    pub fn to_u64(&self) -> u64 {
        u64::from(self.request_type)
            | u64::from(self.request) << 8
            | u64::from(self.value) << 16
            | u64::from(self.index) << 32
            | u64::from(self.length) << 48
    }

    pub fn from_u64(v: u64) -> Self {
        Self {
            request_type: v as u8,
            request: (v >> 8) as u8,
            value: (v >> 16) as u16,
            index: (v >> 32) as u16,
            length: (v >> 48) as u16,
        }
    }
}

/// Why a descriptor could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// Fewer bytes than the descriptor needs.
    TooShort { dtype: u8, len: usize },
    /// The descriptor's type byte is not the one asked for.
    WrongType { expected: u8, got: u8 },
    /// A descriptor inside a configuration has a length below 2 or running past the end.
    BadLength { offset: usize, length: u8 },
    /// An endpoint descriptor came before any interface descriptor.
    EndpointOutsideInterface { offset: usize },
    /// An endpoint descriptor has endpoint number 0 or max packet size 0.
    BadEndpoint { address: u8 },
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { dtype, len } => {
                write!(f, "descriptor of type {dtype} is too short ({len} bytes)")
            }
            Self::WrongType { expected, got } => {
                write!(f, "expected descriptor type {expected}, got {got}")
            }
            Self::BadLength { offset, length } => write!(
                f,
                "malformed configuration descriptor: length {length} at byte {offset}"
            ),
            Self::EndpointOutsideInterface { offset } => write!(
                f,
                "malformed configuration descriptor: endpoint before any interface at byte {offset}"
            ),
            Self::BadEndpoint { address } => {
                write!(f, "malformed endpoint descriptor (address {address:#04x})")
            }
        }
    }
}

/// The device descriptor's fields the driver uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceDescriptor {
    pub usb_version: u16,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub max_packet0: u8,
    pub vendor_id: u16,
    pub product_id: u16,
    pub configurations: u8,
}

/// Bytes in a device descriptor.
pub const DEVICE_DESCRIPTOR_BYTES: usize = 18;

/// Parses a device descriptor. With only the first 8 bytes, the IDs and configuration count
/// read 0.
///
/// # Errors
/// [`DescriptorError::TooShort`] below 8 bytes, [`DescriptorError::WrongType`].
pub fn parse_device_descriptor(b: &[u8]) -> Result<DeviceDescriptor, DescriptorError> {
    if b.len() < 8 {
        return Err(DescriptorError::TooShort {
            dtype: dtype::DEVICE,
            len: b.len(),
        });
    }
    if b[1] != dtype::DEVICE {
        return Err(DescriptorError::WrongType {
            expected: dtype::DEVICE,
            got: b[1],
        });
    }
    let word = |i: usize| {
        b.get(i..i + 2)
            .map_or(0, |w| u16::from_le_bytes([w[0], w[1]]))
    };
    Ok(DeviceDescriptor {
        usb_version: word(2),
        class: b[4],
        subclass: b[5],
        protocol: b[6],
        max_packet0: b[7],
        vendor_id: word(8),
        product_id: word(10),
        configurations: b.get(17).copied().unwrap_or(0),
    })
}

/// Transfer types (bmAttributes bits 1:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferType {
    Control,
    Isochronous,
    Bulk,
    Interrupt,
}

/// An endpoint descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointDescriptor {
    /// bEndpointAddress: number in bits 3:0, IN in bit 7.
    pub address: u8,
    pub transfer: TransferType,
    pub max_packet: u16,
    pub interval: u8,
}

impl EndpointDescriptor {
    pub fn number(&self) -> u8 {
        self.address & 0x0f
    }

    pub fn is_in(&self) -> bool {
        self.address & 0x80 != 0
    }
}

/// An interface descriptor (one alternate setting) with its endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub number: u8,
    pub alternate: u8,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub endpoints: Vec<EndpointDescriptor>,
}

impl Interface {
    /// The first endpoint of `transfer` type in direction `in_`.
    pub fn endpoint(&self, transfer: TransferType, in_: bool) -> Option<EndpointDescriptor> {
        self.endpoints
            .iter()
            .copied()
            .find(|e| e.transfer == transfer && e.is_in() == in_)
    }
}

/// A configuration descriptor with its interfaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configuration {
    pub value: u8,
    pub total_length: u16,
    pub interfaces: Vec<Interface>,
}

/// Bytes in a configuration descriptor's header.
pub const CONFIG_HEADER_BYTES: usize = 9;

/// Parses a configuration descriptor and the descriptors after it (interfaces, endpoints; others
/// are skipped), `b` being the first `wTotalLength` bytes (or fewer, if the device sent fewer:
/// what is there is parsed).
///
/// # Errors
/// Every [`DescriptorError`]: nothing in `b` is trusted.
pub fn parse_configuration(b: &[u8]) -> Result<Configuration, DescriptorError> {
    if b.len() < CONFIG_HEADER_BYTES {
        return Err(DescriptorError::TooShort {
            dtype: dtype::CONFIGURATION,
            len: b.len(),
        });
    }
    if b[1] != dtype::CONFIGURATION {
        return Err(DescriptorError::WrongType {
            expected: dtype::CONFIGURATION,
            got: b[1],
        });
    }
    let total_length = u16::from_le_bytes([b[2], b[3]]);
    let end = b.len().min(usize::from(total_length));
    let mut config = Configuration {
        value: b[5],
        total_length,
        interfaces: Vec::new(),
    };
    let mut at = usize::from(b[0]).max(CONFIG_HEADER_BYTES).min(end);
    while at + 2 <= end {
        let length = b[at];
        let len = usize::from(length);
        if len < 2 || at + len > end {
            return Err(DescriptorError::BadLength { offset: at, length });
        }
        let d = &b[at..at + len];
        match d[1] {
            dtype::INTERFACE if len >= 9 => config.interfaces.push(Interface {
                number: d[2],
                alternate: d[3],
                class: d[5],
                subclass: d[6],
                protocol: d[7],
                endpoints: Vec::new(),
            }),
            dtype::ENDPOINT if len >= 7 => {
                let address = d[2];
                let max_packet = u16::from_le_bytes([d[4], d[5]]) & 0x7ff;
                if address & 0x0f == 0 || max_packet == 0 {
                    return Err(DescriptorError::BadEndpoint { address });
                }
                let transfer = match d[3] & 3 {
                    0 => TransferType::Control,
                    1 => TransferType::Isochronous,
                    2 => TransferType::Bulk,
                    _ => TransferType::Interrupt,
                };
                let ep = EndpointDescriptor {
                    address,
                    transfer,
                    max_packet,
                    interval: d[6],
                };
                match config.interfaces.last_mut() {
                    Some(i) => i.endpoints.push(ep),
                    None => return Err(DescriptorError::EndpointOutsideInterface { offset: at }),
                }
            }
            dtype::INTERFACE | dtype::ENDPOINT => {
                return Err(DescriptorError::BadLength { offset: at, length })
            }
            _ => {}
        }
        at += len;
    }
    Ok(config)
}

/// Interface classes the driver names.
pub mod class {
    pub const HID: u8 = 0x03;
    pub const MASS_STORAGE: u8 = 0x08;
    pub const HUB: u8 = 0x09;
    /// Mass storage subclass: SCSI transparent command set.
    pub const MSC_SCSI: u8 = 0x06;
    /// Mass storage protocol: Bulk-Only Transport.
    pub const MSC_BOT: u8 = 0x50;
}

/// A one-line description of an interface's class, subclass and protocol, e.g. "HID keyboard
/// (boot protocol)".
pub fn describe_interface(class: u8, subclass: u8, protocol: u8) -> alloc::string::String {
    use alloc::format;
    match (class, subclass, protocol) {
        (class::HID, 1, 1) => "HID keyboard (boot protocol)".into(),
        (class::HID, 1, 2) => "HID mouse (boot protocol)".into(),
        (class::HID, _, _) => "HID device".into(),
        (class::MASS_STORAGE, class::MSC_SCSI, class::MSC_BOT) => {
            "mass storage (SCSI, bulk-only)".into()
        }
        (class::MASS_STORAGE, s, p) => {
            format!("mass storage with unsupported subclass {s:#04x} protocol {p:#04x}")
        }
        (class::HUB, _, _) => "hub".into(),
        (c, s, p) => format!("class {c:#04x} subclass {s:#04x} protocol {p:#04x}"),
    }
}
