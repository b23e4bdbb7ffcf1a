//! The SCSI commands USB mass storage devices take (SPC-4, SBC-3): command blocks for INQUIRY,
//! TEST UNIT READY, REQUEST SENSE, READ CAPACITY (10)/(16), READ/WRITE (10)/(16) and
//! SYNCHRONIZE CACHE (10), and the parsers for their answers, fixed-format sense data included.

use alloc::string::String;
use core::fmt;

/// Operation codes.
pub mod op {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const REQUEST_SENSE: u8 = 0x03;
    pub const INQUIRY: u8 = 0x12;
    pub const READ_CAPACITY_10: u8 = 0x25;
    pub const READ_10: u8 = 0x28;
    pub const WRITE_10: u8 = 0x2a;
    pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
    pub const READ_16: u8 = 0x88;
    pub const WRITE_16: u8 = 0x8a;
    /// SERVICE ACTION IN (16), service action 0x10 = READ CAPACITY (16).
    pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
    pub const SA_READ_CAPACITY_16: u8 = 0x10;

    /// A name for messages.
    pub fn name(op: u8) -> &'static str {
        match op {
            TEST_UNIT_READY => "TEST UNIT READY",
            REQUEST_SENSE => "REQUEST SENSE",
            INQUIRY => "INQUIRY",
            READ_CAPACITY_10 => "READ CAPACITY (10)",
            READ_10 => "READ (10)",
            WRITE_10 => "WRITE (10)",
            SYNCHRONIZE_CACHE_10 => "SYNCHRONIZE CACHE (10)",
            READ_16 => "READ (16)",
            WRITE_16 => "WRITE (16)",
            SERVICE_ACTION_IN_16 => "READ CAPACITY (16)",
            _ => "SCSI command",
        }
    }
}

/// A command descriptor block: up to 16 bytes and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cdb {
    pub bytes: [u8; 16],
    pub len: u8,
}

impl Cdb {
    fn new(len: u8, opcode: u8) -> Self {
        let mut bytes = [0u8; 16];
        bytes[0] = opcode;
        Self { bytes, len }
    }

    pub fn opcode(&self) -> u8 {
        self.bytes[0]
    }

    pub fn test_unit_ready() -> Self {
        Self::new(6, op::TEST_UNIT_READY)
    }

    /// INQUIRY, standard data, `len` bytes.
    pub fn inquiry(len: u8) -> Self {
        let mut c = Self::new(6, op::INQUIRY);
        c.bytes[4] = len;
        c
    }

    /// REQUEST SENSE, fixed format, `len` bytes.
    pub fn request_sense(len: u8) -> Self {
        let mut c = Self::new(6, op::REQUEST_SENSE);
        c.bytes[4] = len;
        c
    }

    pub fn read_capacity_10() -> Self {
        Self::new(10, op::READ_CAPACITY_10)
    }

    /// READ CAPACITY (16), 32 bytes of answer.
    pub fn read_capacity_16() -> Self {
        let mut c = Self::new(16, op::SERVICE_ACTION_IN_16);
        c.bytes[1] = op::SA_READ_CAPACITY_16;
        c.bytes[13] = 32;
        c
    }

    /// READ (10) or WRITE (10) of `blocks` blocks at `lba` (which must fit 32 bits).
    pub fn rw10(write: bool, lba: u32, blocks: u16) -> Self {
        let mut c = Self::new(10, if write { op::WRITE_10 } else { op::READ_10 });
        c.bytes[2..6].copy_from_slice(&lba.to_be_bytes());
        c.bytes[7..9].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    /// READ (16) or WRITE (16).
    pub fn rw16(write: bool, lba: u64, blocks: u32) -> Self {
        let mut c = Self::new(16, if write { op::WRITE_16 } else { op::READ_16 });
        c.bytes[2..10].copy_from_slice(&lba.to_be_bytes());
        c.bytes[10..14].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    /// SYNCHRONIZE CACHE (10) of the whole medium.
    pub fn synchronize_cache() -> Self {
        Self::new(10, op::SYNCHRONIZE_CACHE_10)
    }

    /// The LBA and block count of a READ/WRITE (10)/(16), for fakes and messages.
    pub fn lba_and_blocks(&self) -> Option<(u64, u32)> {
        let b = &self.bytes;
        match b[0] {
            op::READ_10 | op::WRITE_10 => Some((
                u64::from(u32::from_be_bytes([b[2], b[3], b[4], b[5]])),
                u32::from(u16::from_be_bytes([b[7], b[8]])),
            )),
            op::READ_16 | op::WRITE_16 => {
                let mut lba = [0u8; 8];
                lba.copy_from_slice(&b[2..10]);
                Some((
                    u64::from_be_bytes(lba),
                    u32::from_be_bytes([b[10], b[11], b[12], b[13]]),
                ))
            }
            _ => None,
        }
    }
}

/// Sense keys.
pub mod key {
    pub const NO_SENSE: u8 = 0x0;
    pub const RECOVERED_ERROR: u8 = 0x1;
    pub const NOT_READY: u8 = 0x2;
    pub const MEDIUM_ERROR: u8 = 0x3;
    pub const HARDWARE_ERROR: u8 = 0x4;
    pub const ILLEGAL_REQUEST: u8 = 0x5;
    pub const UNIT_ATTENTION: u8 = 0x6;
    pub const DATA_PROTECT: u8 = 0x7;
    pub const ABORTED_COMMAND: u8 = 0xb;
}

/// Sense data: key, additional sense code and qualifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

/// Bytes of fixed-format sense data the driver asks for.
pub const SENSE_BYTES: u8 = 18;

impl Sense {
    /// Parses fixed (0x70/0x71) or descriptor (0x72/0x73) format sense data; `None` if it is
    /// neither or too short.
    pub fn parse(b: &[u8]) -> Option<Self> {
        match b.first()? & 0x7f {
            0x70 | 0x71 if b.len() >= 14 => Some(Self {
                key: b[2] & 0xf,
                asc: b[12],
                ascq: b[13],
            }),
            0x72 | 0x73 if b.len() >= 4 => Some(Self {
                key: b[1] & 0xf,
                asc: b[2],
                ascq: b[3],
            }),
            _ => None,
        }
    }

    /// Fixed-format sense data (18 bytes), for fakes.
    pub fn to_fixed(&self) -> [u8; SENSE_BYTES as usize] {
        let mut b = [0u8; SENSE_BYTES as usize];
        b[0] = 0x70;
        b[2] = self.key;
        b[7] = 10;
        b[12] = self.asc;
        b[13] = self.ascq;
        b
    }

    pub fn key_name(&self) -> &'static str {
        match self.key {
            key::NO_SENSE => "no sense",
            key::RECOVERED_ERROR => "recovered error",
            key::NOT_READY => "not ready",
            key::MEDIUM_ERROR => "medium error",
            key::HARDWARE_ERROR => "hardware error",
            key::ILLEGAL_REQUEST => "illegal request",
            key::UNIT_ATTENTION => "unit attention",
            key::DATA_PROTECT => "data protect",
            key::ABORTED_COMMAND => "aborted command",
            _ => "other sense key",
        }
    }

    /// A few common additional sense codes, named.
    pub fn asc_name(&self) -> Option<&'static str> {
        Some(match (self.asc, self.ascq) {
            (0x04, 0x01) => "becoming ready",
            (0x04, _) => "logical unit not ready",
            (0x11, _) => "unrecovered read error",
            (0x0c, _) => "write error",
            (0x20, 0x00) => "invalid command operation code",
            (0x21, 0x00) => "LBA out of range",
            (0x24, 0x00) => "invalid field in CDB",
            (0x27, _) => "write protected",
            (0x28, 0x00) => "medium may have changed",
            (0x29, _) => "power on or reset occurred",
            (0x3a, _) => "medium not present",
            _ => return None,
        })
    }
}

impl fmt::Display for Sense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (sense key {:#x}, ASC {:#04x}, ASCQ {:#04x}",
            self.key_name(),
            self.key,
            self.asc,
            self.ascq
        )?;
        if let Some(name) = self.asc_name() {
            write!(f, ": {name}")?;
        }
        f.write_str(")")
    }
}

/// Bytes of standard INQUIRY data the driver asks for.
pub const INQUIRY_BYTES: u8 = 36;

/// Standard INQUIRY data, the fields the driver uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inquiry {
    /// Peripheral qualifier (bits 7:5) and device type (4:0); type 0 is a direct-access block
    /// device.
    pub peripheral: u8,
    pub removable: bool,
    pub vendor: String,
    pub product: String,
    pub revision: String,
}

impl Inquiry {
    /// Peripheral device type 0x00: direct-access block device (disk, flash drive).
    pub const DIRECT_ACCESS: u8 = 0x00;

    /// Parses standard INQUIRY data; `None` below 5 bytes. Strings missing from a short answer
    /// read empty.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 5 {
            return None;
        }
        Some(Self {
            peripheral: b[0],
            removable: b[1] & 0x80 != 0,
            vendor: ascii(b.get(8..16).unwrap_or(&[])),
            product: ascii(b.get(16..32).unwrap_or(&[])),
            revision: ascii(b.get(32..36).unwrap_or(&[])),
        })
    }

    pub fn device_type(&self) -> u8 {
        self.peripheral & 0x1f
    }

    /// Whether a logical unit of a block device type is present here (qualifier 0, type 0).
    pub fn is_direct_access(&self) -> bool {
        self.peripheral == Self::DIRECT_ACCESS
    }

    /// "vendor product", trimmed.
    pub fn model(&self) -> String {
        let mut s = String::from(self.vendor.as_str());
        if !s.is_empty() && !self.product.is_empty() {
            s.push(' ');
        }
        s.push_str(&self.product);
        s
    }
}

/// Printable ASCII, trimmed; other bytes become '?'.
fn ascii(b: &[u8]) -> String {
    let s: String = b
        .iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '?'
            }
        })
        .collect();
    String::from(s.trim())
}

/// What READ CAPACITY answered: the last LBA and the block size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub last_lba: u64,
    pub block_size: u32,
}

impl Capacity {
    /// Parses READ CAPACITY (10) data (8 bytes).
    pub fn parse_10(b: &[u8]) -> Option<Self> {
        let b = b.get(..8)?;
        Some(Self {
            last_lba: u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            block_size: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// Parses READ CAPACITY (16) data (at least 12 bytes).
    pub fn parse_16(b: &[u8]) -> Option<Self> {
        let b = b.get(..12)?;
        let mut lba = [0u8; 8];
        lba.copy_from_slice(&b[..8]);
        Some(Self {
            last_lba: u64::from_be_bytes(lba),
            block_size: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        })
    }

    /// Whether READ CAPACITY (10) said "too big for me: use (16)".
    pub fn needs_16(&self) -> bool {
        self.last_lba == u64::from(u32::MAX)
    }
}
