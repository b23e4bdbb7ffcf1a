//! ATA (ATA/ATAPI-8) pieces the AHCI and IDE drivers share: command codes, the status and
//! error registers, device signatures, and IDENTIFY DEVICE parsing. Pure logic.

use alloc::string::String;
use core::fmt;

/// ATA command codes used by the drivers.
pub mod command {
    pub const IDENTIFY_DEVICE: u8 = 0xec;
    pub const IDENTIFY_PACKET_DEVICE: u8 = 0xa1;
    pub const READ_SECTORS: u8 = 0x20;
    pub const READ_SECTORS_EXT: u8 = 0x24;
    pub const WRITE_SECTORS: u8 = 0x30;
    pub const WRITE_SECTORS_EXT: u8 = 0x34;
    pub const READ_DMA: u8 = 0xc8;
    pub const WRITE_DMA: u8 = 0xca;
    pub const READ_DMA_EXT: u8 = 0x25;
    pub const WRITE_DMA_EXT: u8 = 0x35;
    pub const FLUSH_CACHE: u8 = 0xe7;
    pub const FLUSH_CACHE_EXT: u8 = 0xea;

    /// The command's name, for errors and logs.
    pub fn name(command: u8) -> &'static str {
        match command {
            IDENTIFY_DEVICE => "IDENTIFY DEVICE",
            IDENTIFY_PACKET_DEVICE => "IDENTIFY PACKET DEVICE",
            READ_SECTORS => "READ SECTORS",
            READ_SECTORS_EXT => "READ SECTORS EXT",
            WRITE_SECTORS => "WRITE SECTORS",
            WRITE_SECTORS_EXT => "WRITE SECTORS EXT",
            READ_DMA => "READ DMA",
            WRITE_DMA => "WRITE DMA",
            READ_DMA_EXT => "READ DMA EXT",
            WRITE_DMA_EXT => "WRITE DMA EXT",
            FLUSH_CACHE => "FLUSH CACHE",
            FLUSH_CACHE_EXT => "FLUSH CACHE EXT",
            _ => "ATA command",
        }
    }
}

/// Status register bits.
pub mod status {
    /// Busy: the other bits are not valid.
    pub const BSY: u8 = 1 << 7;
    /// Device ready (accepts commands).
    pub const DRDY: u8 = 1 << 6;
    /// Device fault.
    pub const DF: u8 = 1 << 5;
    /// Data request: the device is ready to transfer a DRQ block.
    pub const DRQ: u8 = 1 << 3;
    /// Error: the error register says which.
    pub const ERR: u8 = 1 << 0;
}

/// The device register's LBA-mode bit.
pub const DEVICE_LBA: u8 = 1 << 6;

/// What a device's signature (the LBA mid and high registers after a reset, also in AHCI's
/// PxSIG) says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// `00h/00h`: an ATA device (a disk).
    Ata,
    /// `14h/EBh`: an ATAPI (packet) device, e.g. a CD-ROM drive.
    Atapi,
    /// `69h/96h`: a SATA port multiplier.
    PortMultiplier,
    /// `3Ch/C3h`: a SATA enclosure management bridge.
    Semb,
    /// Anything else.
    Unknown,
}

impl DeviceKind {
    /// Classifies the signature in LBA mid (`mid`) and LBA high (`high`).
    pub fn from_signature(mid: u8, high: u8) -> Self {
        match (mid, high) {
            (0x00, 0x00) => Self::Ata,
            (0x14, 0xeb) => Self::Atapi,
            (0x69, 0x96) => Self::PortMultiplier,
            (0x3c, 0xc3) => Self::Semb,
            _ => Self::Unknown,
        }
    }

    /// What it is, for the log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ata => "ATA device",
            Self::Atapi => "ATAPI device",
            Self::PortMultiplier => "port multiplier",
            Self::Semb => "enclosure management bridge",
            Self::Unknown => "unknown device",
        }
    }
}

/// The ATA error register: IDE's error register, AHCI's high byte of PxTFD or D2H FIS error
/// field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtaErrorBits(pub u8);

impl AtaErrorBits {
    /// Interface CRC error.
    pub const ICRC: u8 = 1 << 7;
    /// Uncorrectable data error.
    pub const UNC: u8 = 1 << 6;
    /// Media changed.
    pub const MC: u8 = 1 << 5;
    /// ID (address) not found.
    pub const IDNF: u8 = 1 << 4;
    /// Media change request.
    pub const MCR: u8 = 1 << 3;
    /// Command aborted.
    pub const ABRT: u8 = 1 << 2;
    /// Track 0 not found (obsolete) / end of media.
    pub const TK0NF: u8 = 1 << 1;
    /// Address mark not found (obsolete) / media error.
    pub const AMNF: u8 = 1 << 0;

    const NAMES: [(u8, &'static str); 8] = [
        (Self::ICRC, "ICRC (interface CRC error)"),
        (Self::UNC, "UNC (uncorrectable data)"),
        (Self::MC, "MC (media changed)"),
        (Self::IDNF, "IDNF (address not found)"),
        (Self::MCR, "MCR (media change request)"),
        (Self::ABRT, "ABRT (command aborted)"),
        (Self::TK0NF, "TK0NF (end of media)"),
        (Self::AMNF, "AMNF (media error)"),
    ];

    /// Whether the error concerns the medium or the transfer of data (an I/O error) rather than
    /// the command itself (ABRT alone: refused).
    pub fn is_media_error(self) -> bool {
        self.0 & (Self::UNC | Self::IDNF | Self::ICRC | Self::AMNF | Self::TK0NF) != 0
    }
}

impl fmt::Display for AtaErrorBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return write!(f, "no error bits");
        }
        let mut first = true;
        for (bit, name) in Self::NAMES {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// What IDENTIFY DEVICE says about a disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentifyInfo {
    /// Words 27-46, trimmed.
    pub model: String,
    /// Words 10-19, trimmed.
    pub serial: String,
    /// Words 23-26, trimmed.
    pub firmware: String,
    /// Word 49 bit 9: LBA addressing (else only CHS, which no driver here speaks).
    pub lba: bool,
    /// Word 49 bit 8: DMA (READ/WRITE DMA and, with `lba48`, their EXT forms).
    pub dma: bool,
    /// Word 83 bit 10: the 48-bit feature set (READ/WRITE DMA EXT).
    pub lba48: bool,
    /// Words 60-61: the sectors 28-bit commands can address.
    pub lba28_sectors: u32,
    /// Addressable logical sectors: words 100-103 with 48-bit LBA, else words 60-61.
    pub sectors: u64,
    /// Bytes per logical sector: words 117-118 (in words) when word 106 bit 12 says so, else 512.
    pub logical_sector_size: u32,
    /// Bytes per physical sector (word 106 bits 3:0 as log2 of logical sectors per physical).
    pub physical_sector_size: u32,
    /// Word 83 bit 13: FLUSH CACHE EXT.
    pub flush_ext: bool,
    /// Word 83 bit 12: FLUSH CACHE.
    pub flush: bool,
    /// Word 85 bit 5: the volatile write cache is on.
    pub write_cache_enabled: bool,
}

/// Why [`parse_identify`] refused the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyError {
    /// Word 0 bit 15 is set: not an ATA device.
    NotAta { word0: u16 },
    /// Words 117-118 give a logical sector size that is odd, below 512 or absurdly large.
    BadSectorSize { bytes: u64 },
}

impl fmt::Display for IdentifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAta { word0 } => {
                write!(f, "IDENTIFY word 0 is {word0:#06x}: not an ATA device")
            }
            Self::BadSectorSize { bytes } => {
                write!(
                    f,
                    "IDENTIFY gives an impossible logical sector size of {bytes} bytes"
                )
            }
        }
    }
}

/// The largest logical sector the driver accepts (it must fit the bounce buffer).
pub const MAX_SECTOR_BYTES: u64 = 64 * 1024;

/// ATA string: each word holds two characters, the first in the high byte.
fn ata_string(words: &[u16]) -> String {
    let mut s = String::with_capacity(words.len() * 2);
    for w in words {
        for b in [(w >> 8) as u8, *w as u8] {
            s.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                ' '
            });
        }
    }
    String::from(s.trim())
}

/// Parses the 256 words IDENTIFY DEVICE returns (`data` is the 512 bytes as received).
///
/// # Errors
/// [`IdentifyError::NotAta`], [`IdentifyError::BadSectorSize`].
pub fn parse_identify(data: &[u8; 512]) -> Result<IdentifyInfo, IdentifyError> {
    let mut w = [0u16; 256];
    for (i, word) in w.iter_mut().enumerate() {
        *word = u16::from_le_bytes([data[2 * i], data[2 * i + 1]]);
    }
    if w[0] & 0x8000 != 0 {
        return Err(IdentifyError::NotAta { word0: w[0] });
    }
    let lba48 = w[83] & (1 << 10) != 0;
    let lba28_sectors = u32::from(w[60]) | u32::from(w[61]) << 16;
    let sectors = if lba48 {
        u64::from(w[100])
            | u64::from(w[101]) << 16
            | u64::from(w[102]) << 32
            | u64::from(w[103]) << 48
    } else {
        u64::from(lba28_sectors)
    };
    let w106_valid = w[106] & 0xc000 == 0x4000;
    let mut logical: u64 = 512;
    let mut per_physical_log2 = 0;
    if w106_valid {
        if w[106] & (1 << 12) != 0 {
            logical = (u64::from(w[117]) | u64::from(w[118]) << 16) * 2;
            if !(512..=MAX_SECTOR_BYTES).contains(&logical) {
                return Err(IdentifyError::BadSectorSize { bytes: logical });
            }
        }
        if w[106] & (1 << 13) != 0 {
            per_physical_log2 = u32::from(w[106] & 0xf);
        }
    }
    let physical = (logical << per_physical_log2.min(8)) as u32;
    Ok(IdentifyInfo {
        model: ata_string(&w[27..47]),
        serial: ata_string(&w[10..20]),
        firmware: ata_string(&w[23..27]),
        lba: w[49] & (1 << 9) != 0,
        dma: w[49] & (1 << 8) != 0,
        lba48,
        lba28_sectors,
        sectors,
        logical_sector_size: logical as u32,
        physical_sector_size: physical,
        flush_ext: w[83] & (1 << 13) != 0 && w[83] & 0xc000 == 0x4000,
        flush: w[83] & (1 << 12) != 0 && w[83] & 0xc000 == 0x4000,
        write_cache_enabled: w[85] & (1 << 5) != 0,
    })
}

/// Builds IDENTIFY DEVICE data (for tests and fakes): `model` and `serial` as ATA strings,
/// `sectors` in words 100-103 (48-bit) and 60-61, `logical` bytes per sector.
pub fn identify_data(model: &str, serial: &str, sectors: u64, logical: u32) -> [u8; 512] {
    let mut w = [0u16; 256];
    let put = |w: &mut [u16; 256], at: usize, words: usize, s: &str| {
        let mut bytes = alloc::vec![b' '; words * 2];
        for (d, c) in bytes.iter_mut().zip(s.bytes()) {
            *d = c;
        }
        for i in 0..words {
            w[at + i] = u16::from(bytes[2 * i]) << 8 | u16::from(bytes[2 * i + 1]);
        }
    };
    w[0] = 0x0040;
    put(&mut w, 10, 10, serial);
    put(&mut w, 23, 4, "1.0");
    put(&mut w, 27, 20, model);
    w[49] = 1 << 9 | 1 << 8;
    let s28 = sectors.min(0x0fff_ffff);
    w[60] = s28 as u16;
    w[61] = (s28 >> 16) as u16;
    w[83] = 0x4000 | 1 << 10 | 1 << 12 | 1 << 13;
    w[86] = 1 << 10 | 1 << 12 | 1 << 13;
    w[85] = 1 << 5;
    for i in 0..4 {
        w[100 + i] = (sectors >> (16 * i)) as u16;
    }
    w[106] = 0x4000;
    if logical != 512 {
        w[106] |= 1 << 12;
        let words = logical / 2;
        w[117] = words as u16;
        w[118] = (words >> 16) as u16;
    }
    let mut out = [0u8; 512];
    for (i, word) in w.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_classified() {
        assert_eq!(DeviceKind::from_signature(0, 0), DeviceKind::Ata);
        assert_eq!(DeviceKind::from_signature(0x14, 0xeb), DeviceKind::Atapi);
        assert_eq!(
            DeviceKind::from_signature(0x69, 0x96),
            DeviceKind::PortMultiplier
        );
        assert_eq!(DeviceKind::from_signature(0x3c, 0xc3), DeviceKind::Semb);
        assert_eq!(DeviceKind::from_signature(0xff, 0xff), DeviceKind::Unknown);
        assert_eq!(DeviceKind::Atapi.name(), "ATAPI device");
        assert_eq!(command::name(command::READ_SECTORS_EXT), "READ SECTORS EXT");
    }

    #[test]
    fn identify_parses_strings_and_sizes() {
        let data = identify_data("QEMU HARDDISK", "QM00001", 0x1_2345_6789, 512);
        let info = parse_identify(&data).unwrap();
        assert_eq!(info.model, "QEMU HARDDISK");
        assert_eq!(info.serial, "QM00001");
        assert_eq!(info.firmware, "1.0");
        assert!(info.lba48 && info.flush_ext && info.flush && info.write_cache_enabled);
        assert_eq!(info.sectors, 0x1_2345_6789);
        assert_eq!(
            (info.logical_sector_size, info.physical_sector_size),
            (512, 512)
        );
        // Model bytes are swapped within each word: "QE" is stored as 0x5145.
        assert_eq!(&data[54..58], b"EQUM");
    }

    #[test]
    fn identify_handles_4096_byte_logical_sectors_and_physical_size() {
        let data = identify_data("4Kn disk", "X", 1000, 4096);
        let info = parse_identify(&data).unwrap();
        assert_eq!(info.logical_sector_size, 4096);
        assert_eq!(info.sectors, 1000);

        // 512-byte logical, 4096-byte physical (512e): word 106 bit 13, ratio 2^3.
        let mut data = identify_data("512e", "X", 1000, 512);
        data[212..214].copy_from_slice(&(0x6003u16).to_le_bytes());
        let info = parse_identify(&data).unwrap();
        assert_eq!(
            (info.logical_sector_size, info.physical_sector_size),
            (512, 4096)
        );

        // Word 106 invalid (bits 15:14 not 01): defaults.
        let mut data = identify_data("old", "X", 1000, 4096);
        data[212..214].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(parse_identify(&data).unwrap().logical_sector_size, 512);

        // 520-byte sectors are parsed as they are (the kernel refuses them, loudly).
        let data = identify_data("odd", "X", 10, 520);
        assert_eq!(parse_identify(&data).unwrap().logical_sector_size, 520);
        // Zero or huge sizes are not.
        let mut data = identify_data("bad", "X", 10, 4096);
        data[234..238].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            parse_identify(&data),
            Err(IdentifyError::BadSectorSize { bytes: 0 })
        );
        data[234..238].copy_from_slice(&[0, 0, 1, 0]);
        assert!(matches!(
            parse_identify(&data),
            Err(IdentifyError::BadSectorSize { bytes: 131072 })
        ));
    }

    #[test]
    fn identify_without_lba48_uses_28_bit_count_and_rejects_atapi() {
        let mut data = identify_data("old", "X", 0x0123_4567, 512);
        data[166..168].copy_from_slice(&0x4000u16.to_le_bytes()); // word 83: no LBA48, no flush
        let info = parse_identify(&data).unwrap();
        assert!(!info.lba48 && !info.flush_ext);
        assert!(info.lba && info.dma);
        assert_eq!(info.sectors, 0x0123_4567);
        assert_eq!(info.lba28_sectors, 0x0123_4567);
        data[0..2].copy_from_slice(&0x85c0u16.to_le_bytes());
        assert_eq!(
            parse_identify(&data),
            Err(IdentifyError::NotAta { word0: 0x85c0 })
        );
    }

    #[test]
    fn ata_error_bits_decode() {
        let e = AtaErrorBits(AtaErrorBits::UNC | AtaErrorBits::ABRT);
        assert_eq!(
            e.to_string(),
            "UNC (uncorrectable data), ABRT (command aborted)"
        );
        assert!(e.is_media_error());
        assert!(!AtaErrorBits(AtaErrorBits::ABRT).is_media_error());
        assert!(AtaErrorBits(AtaErrorBits::IDNF)
            .to_string()
            .contains("IDNF"));
        assert!(AtaErrorBits(AtaErrorBits::ICRC)
            .to_string()
            .contains("ICRC"));
        assert_eq!(AtaErrorBits(0).to_string(), "no error bits");
    }
}
