//! The little ACPI the kernel needs: the RSDP, the RSDT/XSDT entry list, the FADT's PM1a
//! control block and reset register and the `_S5_` sleep type in the DSDT's AML (to reset and
//! power off the machine), and the MADT's I/O APICs and interrupt source overrides (to route
//! ISA interrupts such as the keyboard's). Pure parsing of byte slices (host-tested);
//! `arch::acpi_tables` reads the tables from physical memory.

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

/// An I/O APIC the MADT lists (entry type 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApicEntry {
    /// Its APIC id.
    pub id: u8,
    /// Physical address of its registers.
    pub address: u32,
    /// The first global system interrupt (GSI) its input 0 receives.
    pub gsi_base: u32,
}

/// An interrupt line's polarity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    ActiveHigh,
    ActiveLow,
}

/// An interrupt line's trigger mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Edge,
    Level,
}

/// An interrupt source override (MADT entry type 2): ISA IRQ `irq` arrives at `gsi`, with
/// the polarity and trigger mode given (`None`: as the bus says, for ISA active high and edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceOverride {
    pub irq: u8,
    pub gsi: u32,
    pub polarity: Option<Polarity>,
    pub trigger: Option<Trigger>,
}

/// One MADT entry this kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadtEntry {
    IoApic(IoApicEntry),
    Override(SourceOverride),
}

/// Where an ISA IRQ arrives: its GSI and how it signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaRoute {
    pub gsi: u32,
    pub polarity: Polarity,
    pub trigger: Trigger,
    /// Whether an interrupt source override said so (else: identity, edge, active high).
    pub overridden: bool,
}

/// The MADT's entries this kernel uses (I/O APICs and interrupt source overrides), in table
/// order, from a whole MADT (`APIC`). Malformed or truncated entries end the walk; other entry
/// types are skipped. Empty if `t` is not a MADT.
pub fn madt_entries(t: &[u8]) -> impl Iterator<Item = MadtEntry> + '_ {
    let body = if t.get(..4) == Some(b"APIC") {
        t.get(44..).unwrap_or(&[])
    } else {
        &[]
    };
    let mut rest = body;
    core::iter::from_fn(move || loop {
        let (&kind, &len) = (rest.first()?, rest.get(1)?);
        let entry = rest.get(..usize::from(len)).filter(|_| len >= 2)?;
        rest = &rest[usize::from(len)..];
        if let Some(e) = madt_entry(kind, entry) {
            return Some(e);
        }
    })
}

/// Decodes one MADT entry (`e` whole, type and length first).
fn madt_entry(kind: u8, e: &[u8]) -> Option<MadtEntry> {
    match kind {
        1 if e.len() >= 12 => Some(MadtEntry::IoApic(IoApicEntry {
            id: e[2],
            address: u32_at(e, 4)?,
            gsi_base: u32_at(e, 8)?,
        })),
        2 if e.len() >= 10 => {
            let flags = u16::from_le_bytes([e[8], e[9]]);
            Some(MadtEntry::Override(SourceOverride {
                irq: e[3],
                gsi: u32_at(e, 4)?,
                polarity: match flags & 0b11 {
                    0b01 => Some(Polarity::ActiveHigh),
                    0b11 => Some(Polarity::ActiveLow),
                    _ => None,
                },
                trigger: match (flags >> 2) & 0b11 {
                    0b01 => Some(Trigger::Edge),
                    0b11 => Some(Trigger::Level),
                    _ => None,
                },
            }))
        }
        _ => None,
    }
}

/// Where ISA IRQ `irq` arrives, per a whole MADT: its override if there is one (bus 0),
/// else GSI `irq`, edge-triggered, active high (ISA's conventions).
pub fn isa_route(madt: &[u8], irq: u8) -> IsaRoute {
    let found = madt_entries(madt).find_map(|e| match e {
        MadtEntry::Override(o) if o.irq == irq => Some(o),
        _ => None,
    });
    match found {
        Some(o) => IsaRoute {
            gsi: o.gsi,
            polarity: o.polarity.unwrap_or(Polarity::ActiveHigh),
            trigger: o.trigger.unwrap_or(Trigger::Edge),
            overridden: true,
        },
        None => IsaRoute {
            gsi: u32::from(irq),
            polarity: Polarity::ActiveHigh,
            trigger: Trigger::Edge,
            overridden: false,
        },
    }
}

/// The I/O APIC that receives `gsi`, per a whole MADT: the one with the highest GSI base not
/// above it (the caller checks the GSI against that I/O APIC's entry count).
pub fn io_apic_for(madt: &[u8], gsi: u32) -> Option<IoApicEntry> {
    madt_entries(madt)
        .filter_map(|e| match e {
            MadtEntry::IoApic(a) if a.gsi_base <= gsi => Some(a),
            _ => None,
        })
        .max_by_key(|a| a.gsi_base)
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

    /// A MADT with QEMU's entries: a local APIC, the I/O APIC at 0xfec00000 (GSI base 0), the
    /// IRQ 0 → GSI 2 override and a level/active-high override for IRQ 9.
    fn qemu_madt() -> Vec<u8> {
        let mut t = vec![0u8; 44];
        t[..4].copy_from_slice(b"APIC");
        t[36..40].copy_from_slice(&0xfee0_0000u32.to_le_bytes());
        t[40..44].copy_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]); // local APIC 0
        t.extend_from_slice(&[1, 12, 0, 0]); // I/O APIC id 0
        t.extend_from_slice(&0xfec0_0000u32.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&[2, 10, 0, 0]); // IRQ 0 -> GSI 2, conforming
        t.extend_from_slice(&2u32.to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&[2, 10, 0, 9]); // IRQ 9 -> GSI 9, level, active high
        t.extend_from_slice(&9u32.to_le_bytes());
        t.extend_from_slice(&0b1101u16.to_le_bytes());
        t.extend_from_slice(&[4, 6, 0xff, 0, 0, 1]); // local APIC NMI
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        t
    }

    #[test]
    fn madt_entries_and_isa_routes() {
        let t = qemu_madt();
        let io = IoApicEntry {
            id: 0,
            address: 0xfec0_0000,
            gsi_base: 0,
        };
        let entries: Vec<_> = madt_entries(&t).collect();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0], MadtEntry::IoApic(io));
        assert_eq!(
            entries[2],
            MadtEntry::Override(SourceOverride {
                irq: 9,
                gsi: 9,
                polarity: Some(Polarity::ActiveHigh),
                trigger: Some(Trigger::Level),
            })
        );
        // The keyboard (IRQ 1): no override, identity, edge, active high.
        assert_eq!(
            isa_route(&t, 1),
            IsaRoute {
                gsi: 1,
                polarity: Polarity::ActiveHigh,
                trigger: Trigger::Edge,
                overridden: false
            }
        );
        // The timer: overridden to GSI 2, conforming = ISA defaults.
        let timer = isa_route(&t, 0);
        assert_eq!((timer.gsi, timer.overridden), (2, true));
        assert_eq!(timer.trigger, Trigger::Edge);
        assert_eq!(isa_route(&t, 9).trigger, Trigger::Level);
        assert_eq!(io_apic_for(&t, 1), Some(io));
    }

    #[test]
    fn madt_two_io_apics_and_active_low_override() {
        let mut t = qemu_madt();
        t.extend_from_slice(&[1, 12, 1, 0]);
        t.extend_from_slice(&0xfec0_1000u32.to_le_bytes());
        t.extend_from_slice(&24u32.to_le_bytes());
        t.extend_from_slice(&[2, 10, 0, 1]); // IRQ 1 -> GSI 25, edge, active low
        t.extend_from_slice(&25u32.to_le_bytes());
        t.extend_from_slice(&0b0111u16.to_le_bytes());
        let r = isa_route(&t, 1);
        assert_eq!(
            (r.gsi, r.polarity, r.trigger),
            (25, Polarity::ActiveLow, Trigger::Edge)
        );
        assert_eq!(io_apic_for(&t, 25).map(|a| a.id), Some(1));
        assert_eq!(io_apic_for(&t, 23).map(|a| a.id), Some(0));
    }

    #[test]
    fn madt_malformed() {
        let t = qemu_madt();
        // Not a MADT, or no room for entries: nothing.
        assert_eq!(madt_entries(b"FACP").count(), 0);
        assert_eq!(madt_entries(&t[..40]).count(), 0);
        assert_eq!(io_apic_for(b"APIC", 1), None);
        // A zero-length entry ends the walk instead of looping forever.
        let mut bad = t[..44].to_vec();
        bad.extend_from_slice(&[1, 0, 0, 0]);
        assert_eq!(madt_entries(&bad).count(), 0);
        // A truncated entry ends it too; entries before it stay.
        let mut cut = t.clone();
        cut.extend_from_slice(&[1, 12, 0]);
        assert_eq!(madt_entries(&cut).count(), 3);
        // Short I/O APIC / override entries are skipped.
        let mut short = t[..44].to_vec();
        short.extend_from_slice(&[1, 4, 0, 0, 2, 4, 0, 1]);
        assert_eq!(madt_entries(&short).count(), 0);
        // Without the MADT, ISA defaults.
        assert_eq!(isa_route(&[], 1).gsi, 1);
    }
}
