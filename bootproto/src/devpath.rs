//! UEFI device paths as bytes: does the firmware's console output (the `ConOut` variable, a list
//! of device paths) already reach a serial port?
//!
//! A device path is a run of nodes, each `type: u8, sub_type: u8, length: u16` (little-endian,
//! header included, at least 4) followed by its data. Several paths in one variable are separated
//! by an end-of-instance node (`0x7f`/`0x01`); the list ends with an end-of-path node
//! (`0x7f`/`0xff`). A path reaches a serial port when it runs through a UART node (messaging
//! `0x03`/`0x0e`) or names a serial terminal type (a messaging vendor node, `0x03`/`0x0a`, whose
//! GUID is one of [`TERMINAL_GUIDS`]): the firmware's terminal driver then writes what goes to
//! the console to that port.

use alloc::vec::Vec;
use core::fmt;

/// Messaging device path nodes.
pub const MESSAGING: u8 = 0x03;
/// Messaging sub-type: a UART (serial port).
pub const MSG_UART: u8 = 0x0e;
/// Messaging sub-type: vendor-defined (a GUID follows the header).
pub const MSG_VENDOR: u8 = 0x0a;
/// End nodes.
pub const END: u8 = 0x7f;
/// End sub-type: end of the whole list.
pub const END_ENTIRE: u8 = 0xff;
/// End sub-type: end of one path, another follows.
pub const END_INSTANCE: u8 = 0x01;

/// A GUID written as text (`e0c14753-f9be-11d2-9a0c-0090273fc14d`, lowercase) in the byte order
/// a device path stores it: the first three groups little-endian, the other two as written.
/// Meant for constants: a malformed text fails the build.
pub const fn guid(text: &str) -> [u8; 16] {
    // Where in the text each stored byte's two hex digits start.
    const AT: [usize; 16] = [6, 4, 2, 0, 11, 9, 16, 14, 19, 21, 24, 26, 28, 30, 32, 34];
    let t = text.as_bytes();
    assert!(t.len() == 36, "a GUID is 36 characters");
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = (hex_digit(t[AT[i]]) << 4) | hex_digit(t[AT[i] + 1]);
        i += 1;
    }
    out
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("a GUID digit is 0-9 or a-f"),
    }
}

/// The terminal types a messaging vendor node names on a serial console: PC-ANSI, VT-100,
/// VT-100+ and VT-UTF8 (UEFI), then EDK II's TTY, Linux, xterm R6, VT400 and SCO terminals.
pub const TERMINAL_GUIDS: [[u8; 16]; 9] = [
    guid("e0c14753-f9be-11d2-9a0c-0090273fc14d"),
    guid("dfa66065-b419-11d3-9a2d-0090273fc14d"),
    guid("7baec70b-57e0-4c76-8e87-2f9e28088343"),
    guid("ad15a0d6-8bec-4acf-a073-d01de77e2d88"),
    guid("7d916d80-5bb1-458c-a48f-e25fdd51ef94"),
    guid("e4364a7f-f825-430e-9d3a-9c9be6817ca5"),
    guid("fbfca56b-bb36-4b78-aaab-be1b97ec7ccb"),
    guid("8e46dddd-3d49-4a9d-b875-3c086f6aa2bd"),
    guid("fc7dd6e0-813c-434d-b4da-3bd649e9e15a"),
];

/// Why a device-path list could not be read to the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevicePathError {
    /// At `offset` fewer bytes than a node header are left, or the node there claims a length
    /// under the header's 4 bytes.
    ShortNode {
        /// Where the node starts.
        offset: usize,
    },
    /// A node at `offset` says it is `length` bytes, past the end of the data.
    NodePastEnd {
        /// Where the node starts.
        offset: usize,
        /// Its stated length.
        length: usize,
    },
    /// The data ends without an end-of-path node.
    NoEnd,
}

impl fmt::Display for DevicePathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShortNode { offset } => {
                write!(
                    f,
                    "device path node at byte {offset} is shorter than its 4-byte header"
                )
            }
            Self::NodePastEnd { offset, length } => write!(
                f,
                "device path node at byte {offset} claims {length} bytes, past the end of the list"
            ),
            Self::NoEnd => write!(f, "device path list has no end node"),
        }
    }
}

/// One node: its type, sub-type and data (after the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    /// Node type (hardware 1, ACPI 2, messaging 3, media 4, BBS 5, end 0x7f).
    pub kind: u8,
    /// Sub-type within the type.
    pub sub_type: u8,
    /// The bytes after the 4-byte header.
    pub data: &'a [u8],
}

/// Every node of the device-path list `bytes`, up to (not including) the end-of-path node,
/// end-of-instance nodes included.
///
/// # Errors
/// The first defect: a node too short or running past the data, or no end-of-path node.
pub fn nodes(bytes: &[u8]) -> Result<Vec<Node<'_>>, DevicePathError> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let header = bytes.get(at..at + 4).ok_or(if at == bytes.len() {
            DevicePathError::NoEnd
        } else {
            DevicePathError::ShortNode { offset: at }
        })?;
        let length = usize::from(u16::from_le_bytes([header[2], header[3]]));
        if length < 4 {
            return Err(DevicePathError::ShortNode { offset: at });
        }
        let data = bytes
            .get(at + 4..at + length)
            .ok_or(DevicePathError::NodePastEnd { offset: at, length })?;
        if header[0] == END && header[1] == END_ENTIRE {
            return Ok(out);
        }
        out.push(Node {
            kind: header[0],
            sub_type: header[1],
            data,
        });
        at += length;
    }
}

/// Whether `node` is a serial port or a serial terminal.
pub fn is_serial(node: &Node<'_>) -> bool {
    match (node.kind, node.sub_type) {
        (MESSAGING, MSG_UART) => true,
        (MESSAGING, MSG_VENDOR) => node
            .data
            .get(..16)
            .is_some_and(|g| TERMINAL_GUIDS.iter().any(|t| t == g)),
        _ => false,
    }
}

/// Whether the console-output device-path list `con_out` (the `ConOut` variable) includes a
/// serial port: `Ok(true)` means the firmware already copies console text to one.
///
/// # Errors
/// A malformed list; the caller cannot tell, and should assume it does not.
pub fn reaches_serial(con_out: &[u8]) -> Result<bool, DevicePathError> {
    Ok(nodes(con_out)?.iter().any(is_serial))
}

#[cfg(test)]
mod tests;
