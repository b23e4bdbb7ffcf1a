//! The little ACPI the kernel needs to reset and power off the machine: the RSDP, the
//! RSDT/XSDT entry list, the FADT's PM1a control block and reset register, and the `_S5_`
//! sleep type in the DSDT's AML. Pure parsing of byte slices (host-tested); `arch::power`
//! reads the tables from physical memory.

/// What the RSDP says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// Physical address of the root table.
    pub root: u64,
    /// Whether `root` is an XSDT (64-bit entries) rather than an RSDT (32-bit).
    pub xsdt: bool,
}

/// Parses an RSDP (at least 20 bytes; 36 for revision 2+). `None` if the signature or the
/// checksum is wrong.
pub fn parse_rsdp(b: &[u8]) -> Option<Rsdp> {
    if b.get(..8)? != b"RSD PTR " || checksum(b.get(..20)?) != 0 {
        return None;
    }
    let revision = *b.get(15)?;
    if revision >= 2 && b.len() >= 36 {
        let x = u64_at(b, 24)?;
        if x != 0 {
            return Some(Rsdp {
                root: x,
                xsdt: true,
            });
        }
    }
    Some(Rsdp {
        root: u64::from(u32_at(b, 16)?),
        xsdt: false,
    })
}

/// The length field of an SDT header (bytes 4..8), if there are 36 header bytes.
pub fn sdt_length(header: &[u8]) -> Option<u32> {
    if header.len() < 36 {
        return None;
    }
    u32_at(header, 4)
}

/// The physical addresses of the tables a root table (`table`, whole) lists.
pub fn root_entries(table: &[u8], xsdt: bool) -> impl Iterator<Item = u64> + '_ {
    let width = if xsdt { 8 } else { 4 };
    let body = table.get(36..).unwrap_or(&[]);
    body.chunks_exact(width).map(move |c| {
        if xsdt {
            u64_at(c, 0).unwrap_or(0)
        } else {
            u64::from(u32_at(c, 0).unwrap_or(0))
        }
    })
}

/// The generic address structure's address spaces we can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// System memory.
    Memory,
    /// I/O ports.
    Io,
}

/// The FADT's fields that matter here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fadt {
    /// PM1a control block I/O port.
    pub pm1a_cnt: Option<u16>,
    /// The DSDT's physical address.
    pub dsdt: Option<u64>,
    /// The reset register (space, address) and the value to write, if the FADT says it is
    /// supported (flag `RESET_REG_SUP`).
    pub reset: Option<(Space, u64, u8)>,
}

/// Parses a FADT (`FACP`, whole table).
pub fn parse_fadt(t: &[u8]) -> Option<Fadt> {
    if t.get(..4)? != b"FACP" {
        return None;
    }
    let pm1a = u32_at(t, 64).filter(|p| *p != 0 && *p <= 0xffff);
    let x_dsdt = u64_at(t, 140).filter(|d| *d != 0);
    let dsdt = x_dsdt.or(u32_at(t, 40).map(u64::from).filter(|d| *d != 0));
    let flags = u32_at(t, 112).unwrap_or(0);
    let reset = if flags & (1 << 10) != 0 {
        let space = match t.get(116)? {
            0 => Some(Space::Memory),
            1 => Some(Space::Io),
            _ => None,
        };
        match (space, u64_at(t, 120), t.get(128)) {
            (Some(s), Some(addr), Some(value)) if addr != 0 => Some((s, addr, *value)),
            _ => None,
        }
    } else {
        None
    };
    Some(Fadt {
        pm1a_cnt: pm1a.map(|p| p as u16),
        dsdt,
        reset,
    })
}

/// `SLP_TYPa` of the `_S5_` package in AML bytes (the DSDT), found the usual simple way:
/// `_S5_`, `PackageOp` (0x12), a package length, the element count, then the first element as
/// a `BytePrefix` (0x0a) constant, `ZeroOp` or `OneOp`.
pub fn s5_slp_typ(aml: &[u8]) -> Option<u8> {
    let at = aml.windows(4).position(|w| w == b"_S5_")?;
    let mut i = at + 4;
    if *aml.get(i)? != 0x12 {
        return None;
    }
    i += 1;
    // PkgLength: the top two bits of the lead byte say how many bytes follow.
    let follow = usize::from(aml.get(i)? >> 6);
    i += 1 + follow;
    i += 1; // NumElements
    match *aml.get(i)? {
        0x0a => aml.get(i + 1).copied(),
        0x00 => Some(0),
        0x01 => Some(1),
        _ => None,
    }
}

fn checksum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn with_checksum(mut b: Vec<u8>, over: usize) -> Vec<u8> {
        b[8] = 0;
        let sum = checksum(&b[..over]);
        b[8] = 0u8.wrapping_sub(sum);
        b
    }

    #[test]
    fn rsdp_v1_and_v2() {
        let mut b = vec![0u8; 36];
        b[..8].copy_from_slice(b"RSD PTR ");
        b[16..20].copy_from_slice(&0x7fe_1234u32.to_le_bytes());
        let v1 = with_checksum(b.clone(), 20);
        assert_eq!(
            parse_rsdp(&v1),
            Some(Rsdp {
                root: 0x7fe_1234,
                xsdt: false
            })
        );
        b[15] = 2;
        b[24..32].copy_from_slice(&0x7fe_5678u64.to_le_bytes());
        let v2 = with_checksum(b, 20);
        assert_eq!(
            parse_rsdp(&v2),
            Some(Rsdp {
                root: 0x7fe_5678,
                xsdt: true
            })
        );
        let mut bad = v2.clone();
        bad[9] ^= 1;
        assert_eq!(parse_rsdp(&bad), None);
        assert_eq!(parse_rsdp(b"RSD PTR"), None);
    }

    #[test]
    fn root_table_entries() {
        let mut t = vec![0u8; 36];
        t.extend_from_slice(&0x1000u32.to_le_bytes());
        t.extend_from_slice(&0x2000u32.to_le_bytes());
        assert_eq!(
            root_entries(&t, false).collect::<Vec<_>>(),
            [0x1000, 0x2000]
        );
        assert_eq!(
            root_entries(&t, true).collect::<Vec<_>>(),
            [0x2000_0000_1000]
        );
        assert_eq!(root_entries(&t[..10], true).count(), 0);
        assert_eq!(sdt_length(&t), Some(0));
    }

    #[test]
    fn fadt_fields() {
        let mut t = vec![0u8; 244];
        t[..4].copy_from_slice(b"FACP");
        t[40..44].copy_from_slice(&0x7fe_0000u32.to_le_bytes());
        t[64..68].copy_from_slice(&0x604u32.to_le_bytes());
        let f = parse_fadt(&t).unwrap();
        assert_eq!(f.pm1a_cnt, Some(0x604));
        assert_eq!(f.dsdt, Some(0x7fe_0000));
        assert_eq!(f.reset, None);
        t[112..116].copy_from_slice(&(1u32 << 10).to_le_bytes());
        t[116] = 1;
        t[120..128].copy_from_slice(&0xcf9u64.to_le_bytes());
        t[128] = 0x0f;
        t[140..148].copy_from_slice(&0x8000_0000u64.to_le_bytes());
        let f = parse_fadt(&t).unwrap();
        assert_eq!(f.reset, Some((Space::Io, 0xcf9, 0x0f)));
        assert_eq!(f.dsdt, Some(0x8000_0000));
        // Short tables parse what they have.
        assert_eq!(parse_fadt(&t[..68]).unwrap().pm1a_cnt, Some(0x604));
        assert_eq!(parse_fadt(b"APIC"), None);
    }

    #[test]
    fn s5_package() {
        // QEMU's: Name(_S5_, Package(4) { 5, 0, 0, 0 }) -> 08 5F 53 35 5F 12 06 04 0A 05 00 ...
        let aml = [
            0xaa, 0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00,
        ];
        assert_eq!(s5_slp_typ(&aml), Some(5));
        let zero = [b'_', b'S', b'5', b'_', 0x12, 0x04, 0x02, 0x00, 0x00];
        assert_eq!(s5_slp_typ(&zero), Some(0));
        assert_eq!(s5_slp_typ(b"_S5_"), None);
        assert_eq!(s5_slp_typ(b"nothing"), None);
        assert_eq!(
            s5_slp_typ(&[b'_', b'S', b'5', b'_', 0x12, 0x46, 0x00]),
            None
        );
    }
}
