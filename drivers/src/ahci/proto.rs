//! AHCI 1.3.1 data structures as plain bytes: register offsets and bits, the host-to-device
//! register FIS, command headers, PRDT entries (and splitting a transfer into them). Pure
//! logic, tested byte for byte. What AHCI shares with IDE (ATA command codes, IDENTIFY DEVICE
//! parsing, the ATA error register) lives in [`crate::ata`] and is re-exported here.

use alloc::vec::Vec;
use core::fmt;

pub use crate::ata::command as ata;
pub use crate::ata::{
    identify_data, parse_identify, AtaErrorBits, IdentifyError, IdentifyInfo, DEVICE_LBA,
    MAX_SECTOR_BYTES,
};

/// HBA (generic host control) register offsets from ABAR (AHCI 1.3.1, 3.1).
pub mod hba {
    /// Host capabilities.
    pub const CAP: usize = 0x00;
    /// Global host control.
    pub const GHC: usize = 0x04;
    /// Interrupt status (one bit per port, write 1 to clear).
    pub const IS: usize = 0x08;
    /// Ports implemented (bitmap).
    pub const PI: usize = 0x0c;
    /// AHCI version (`0x00010301` = 1.3.1).
    pub const VS: usize = 0x10;
    /// Host capabilities extended.
    pub const CAP2: usize = 0x24;
    /// BIOS/OS handoff control and status.
    pub const BOHC: usize = 0x28;

    /// CAP: supports 64-bit addressing.
    pub const CAP_S64A: u32 = 1 << 31;
    /// CAP: supports staggered spin-up.
    pub const CAP_SSS: u32 = 1 << 27;
    /// CAP2: supports BIOS/OS handoff.
    pub const CAP2_BOH: u32 = 1 << 0;
    /// GHC: HBA reset (self-clearing).
    pub const GHC_HR: u32 = 1 << 0;
    /// GHC: interrupt enable.
    pub const GHC_IE: u32 = 1 << 1;
    /// GHC: AHCI enable.
    pub const GHC_AE: u32 = 1 << 31;
    /// BOHC: BIOS owned semaphore.
    pub const BOHC_BOS: u32 = 1 << 0;
    /// BOHC: OS owned semaphore.
    pub const BOHC_OOS: u32 = 1 << 1;
    /// BOHC: BIOS busy.
    pub const BOHC_BB: u32 = 1 << 4;

    /// The number of ports the HBA supports (CAP.NP + 1).
    pub fn ports(cap: u32) -> u32 {
        (cap & 0x1f) + 1
    }

    /// The number of command slots per port (CAP.NCS + 1).
    pub fn command_slots(cap: u32) -> u32 {
        ((cap >> 8) & 0x1f) + 1
    }
}

/// Port register offsets, relative to the port's block at `0x100 + port * 0x80` (AHCI 3.3).
pub mod port {
    pub const CLB: usize = 0x00;
    pub const CLBU: usize = 0x04;
    pub const FB: usize = 0x08;
    pub const FBU: usize = 0x0c;
    pub const IS: usize = 0x10;
    pub const IE: usize = 0x14;
    pub const CMD: usize = 0x18;
    pub const TFD: usize = 0x20;
    pub const SIG: usize = 0x24;
    pub const SSTS: usize = 0x28;
    pub const SCTL: usize = 0x2c;
    pub const SERR: usize = 0x30;
    pub const SACT: usize = 0x34;
    pub const CI: usize = 0x38;

    /// The offset of port `p`'s register `reg` from ABAR.
    pub const fn reg(p: u8, reg: usize) -> usize {
        0x100 + p as usize * 0x80 + reg
    }

    /// CMD: start (process the command list).
    pub const CMD_ST: u32 = 1 << 0;
    /// CMD: spin-up device.
    pub const CMD_SUD: u32 = 1 << 1;
    /// CMD: power on device.
    pub const CMD_POD: u32 = 1 << 2;
    /// CMD: command list override (clears BSY/DRQ).
    pub const CMD_CLO: u32 = 1 << 3;
    /// CMD: FIS receive enable.
    pub const CMD_FRE: u32 = 1 << 4;
    /// CMD: FIS receive running.
    pub const CMD_FR: u32 = 1 << 14;
    /// CMD: command list running.
    pub const CMD_CR: u32 = 1 << 15;

    /// IS: task file error status.
    pub const IS_TFES: u32 = 1 << 30;
    /// IS: host bus fatal error.
    pub const IS_HBFS: u32 = 1 << 29;
    /// IS: host bus data error.
    pub const IS_HBDS: u32 = 1 << 28;
    /// IS: interface fatal error.
    pub const IS_IFS: u32 = 1 << 27;
    /// IS: interface non-fatal error.
    pub const IS_INFS: u32 = 1 << 26;
    /// IS: overflow.
    pub const IS_OFS: u32 = 1 << 24;
    /// The IS bits that end a command with an error.
    pub const IS_ERRORS: u32 = IS_TFES | IS_HBFS | IS_HBDS | IS_IFS | IS_OFS;

    /// TFD status: error.
    pub const TFD_ERR: u32 = 1 << 0;
    /// TFD status: data request.
    pub const TFD_DRQ: u32 = 1 << 3;
    /// TFD status: busy.
    pub const TFD_BSY: u32 = 1 << 7;

    /// SSTS.DET: device present and PHY communication established.
    pub const DET_PRESENT: u32 = 3;
    /// SSTS.IPM: interface in the active state.
    pub const IPM_ACTIVE: u32 = 1;

    /// SSTS.DET (device detection).
    pub fn det(ssts: u32) -> u32 {
        ssts & 0xf
    }

    /// SSTS.IPM (interface power management).
    pub fn ipm(ssts: u32) -> u32 {
        (ssts >> 8) & 0xf
    }

    /// SSTS.SPD (negotiated speed: 1 = 1.5, 2 = 3, 3 = 6 Gb/s).
    pub fn spd(ssts: u32) -> u32 {
        (ssts >> 4) & 0xf
    }
}

/// Port signatures (PxSIG) after the device's first D2H register FIS.
pub mod sig {
    pub const SATA: u32 = 0x0000_0101;
    pub const ATAPI: u32 = 0xeb14_0101;
    pub const ENCLOSURE: u32 = 0xc33c_0101;
    pub const PORT_MULTIPLIER: u32 = 0x9669_0101;

    /// What a signature says, for the log.
    pub fn name(signature: u32) -> &'static str {
        match signature {
            SATA => "SATA disk",
            ATAPI => "ATAPI device",
            ENCLOSURE => "enclosure management bridge",
            PORT_MULTIPLIER => "port multiplier",
            0xffff_ffff => "no signature received",
            _ => "unknown device",
        }
    }
}

/// FIS types.
pub const FIS_TYPE_REG_H2D: u8 = 0x27;
pub const FIS_TYPE_REG_D2H: u8 = 0x34;
/// Where the D2H register FIS lands in the received-FIS area.
pub const RFIS_D2H_OFFSET: usize = 0x40;
/// The size of the received-FIS area (256-byte aligned).
pub const RFIS_BYTES: usize = 256;
/// The size of one command header; a command list holds 32 (1 KiB, 1 KiB aligned).
pub const COMMAND_HEADER_BYTES: usize = 32;
pub const COMMAND_LIST_BYTES: usize = 32 * COMMAND_HEADER_BYTES;
/// Where the PRDT starts in a command table (the table is 128-byte aligned).
pub const PRDT_OFFSET: usize = 0x80;
pub const PRD_BYTES: usize = 16;
/// The most one PRD can describe: its 22-bit byte count holds count - 1.
pub const MAX_PRD_BYTES: usize = 4 * 1024 * 1024;

/// A host-to-device register FIS carrying a command (SATA 3.x, 10.5.5): 20 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct H2dFis {
    pub command: u8,
    pub features: u16,
    /// 48 bits.
    pub lba: u64,
    pub device: u8,
    pub count: u16,
}

impl H2dFis {
    /// A 48-bit command addressing `lba` (LBA mode) for `count` sectors.
    pub fn lba48(command: u8, lba: u64, count: u16) -> Self {
        Self {
            command,
            features: 0,
            lba,
            device: DEVICE_LBA,
            count,
        }
    }

    /// A command without address or count (IDENTIFY, FLUSH CACHE EXT).
    pub fn plain(command: u8) -> Self {
        Self {
            command,
            ..Self::default()
        }
    }

    pub fn to_bytes(&self) -> [u8; 20] {
        let l = self.lba.to_le_bytes();
        let f = self.features.to_le_bytes();
        let c = self.count.to_le_bytes();
        [
            FIS_TYPE_REG_H2D,
            0x80, // C: this FIS updates the command register; PMP 0
            self.command,
            f[0],
            l[0],
            l[1],
            l[2],
            self.device,
            l[3],
            l[4],
            l[5],
            f[1],
            c[0],
            c[1],
            0, // ICC
            0, // control
            0,
            0,
            0,
            0,
        ]
    }
}

/// A command header (AHCI 4.2.2): 32 bytes in the command list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandHeader {
    /// The command FIS length in dwords (5 for a register FIS).
    pub fis_dwords: u8,
    /// Data flows host to device.
    pub write: bool,
    /// Number of PRDT entries.
    pub prdt_len: u16,
    /// Physical address of the command table (128-byte aligned).
    pub table: u64,
}

impl CommandHeader {
    pub fn to_bytes(&self) -> [u8; 32] {
        let dw0 = u32::from(self.fis_dwords & 0x1f)
            | if self.write { 1 << 6 } else { 0 }
            | u32::from(self.prdt_len) << 16;
        let mut b = [0u8; 32];
        b[0..4].copy_from_slice(&dw0.to_le_bytes());
        // DW1 PRDBC: 0, the HBA counts the bytes it transfers.
        b[8..12].copy_from_slice(&(self.table as u32).to_le_bytes());
        b[12..16].copy_from_slice(&((self.table >> 32) as u32).to_le_bytes());
        b
    }
}

/// A physical region descriptor (AHCI 4.2.3.3): 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prd {
    /// Physical address, 2-byte aligned.
    pub address: u64,
    /// Byte count: even, 2..=4 MiB.
    pub bytes: u32,
}

impl Prd {
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&(self.address as u32).to_le_bytes());
        b[4..8].copy_from_slice(&((self.address >> 32) as u32).to_le_bytes());
        // DBC holds count - 1 (bit 0 always 1); I (interrupt on completion) stays 0: we poll.
        b[12..16].copy_from_slice(&((self.bytes - 1) & 0x3f_ffff).to_le_bytes());
        b
    }
}

/// Why [`build_prdt`] could not describe a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrdtError {
    /// A segment's address or length is odd (PRDs describe whole words).
    Unaligned { address: u64, len: usize },
    /// The segments hold fewer than the transfer's bytes.
    TooShort { bytes: usize, available: usize },
    /// More than `max` PRDs would be needed.
    TooManyEntries { max: usize },
}

impl fmt::Display for PrdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unaligned { address, len } => {
                write!(
                    f,
                    "DMA segment of {len} bytes at {address:#x} is not word aligned"
                )
            }
            Self::TooShort { bytes, available } => write!(
                f,
                "{bytes}-byte transfer but only {available} bytes of DMA memory"
            ),
            Self::TooManyEntries { max } => write!(f, "transfer needs more than {max} PRDs"),
        }
    }
}

/// Describes the first `bytes` bytes of the physically contiguous `segments` (address, length)
/// as PRDs: one per segment piece, each at most [`MAX_PRD_BYTES`], never spanning two segments.
///
/// # Errors
/// [`PrdtError::Unaligned`] for an odd segment address or length (among those used),
/// [`PrdtError::TooShort`], [`PrdtError::TooManyEntries`] beyond `max` entries.
pub fn build_prdt(
    segments: &[(u64, usize)],
    bytes: usize,
    max: usize,
) -> Result<Vec<Prd>, PrdtError> {
    let mut prds = Vec::new();
    let mut left = bytes;
    for &(address, len) in segments {
        if left == 0 {
            break;
        }
        if address % 2 != 0 || len % 2 != 0 {
            return Err(PrdtError::Unaligned { address, len });
        }
        let mut take = len.min(left);
        let mut at = address;
        left -= take;
        while take > 0 {
            let n = take.min(MAX_PRD_BYTES);
            if prds.len() == max {
                return Err(PrdtError::TooManyEntries { max });
            }
            prds.push(Prd {
                address: at,
                bytes: n as u32,
            });
            at += n as u64;
            take -= n;
        }
    }
    if left > 0 {
        return Err(PrdtError::TooShort {
            bytes,
            available: bytes - left,
        });
    }
    Ok(prds)
}

/// The LBA a D2H register FIS reports (48 bits, bytes 4-6 and 8-10).
pub fn d2h_lba(fis: &[u8; 20]) -> u64 {
    u64::from_le_bytes([fis[4], fis[5], fis[6], fis[8], fis[9], fis[10], 0, 0])
}
