//! x86_64 4-level page-table formats and the translation walk, over an abstract physical-memory reader so the host can test them.

use super::Mapping;

/// Entry bits (Intel SDM vol. 3, tables 4-14 to 4-20).
pub const PRESENT: u64 = 1 << 0;
pub const WRITABLE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
/// Page-level write-through (PWT).
pub const WRITE_THROUGH: u64 = 1 << 3;
/// Page-level cache disable (PCD). With [`WRITE_THROUGH`] it selects PAT entry 3, which is
/// uncacheable (UC) in the power-on PAT that firmware leaves in place: the setting for MMIO.
pub const CACHE_DISABLE: u64 = 1 << 4;
/// In a PDPT or PD entry: this entry maps a 1 GiB or 2 MiB page instead of pointing to a table.
pub const HUGE: u64 = 1 << 7;
/// Bit 9, free for software: in a user page-table leaf, the frame is not the address space's
/// (device memory lent to it, the framebuffer): tearing the space down leaves it alone.
pub const BORROWED: u64 = 1 << 9;
pub const NO_EXECUTE: u64 = 1 << 63;
/// Bits 12..=51: the physical address of the next table or of a 4 KiB page.
pub const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

const GIB: u64 = 1 << 30;
const MIB2: u64 = 1 << 21;
const KIB4: u64 = 1 << 12;

/// Permissions for a new mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFlags {
    pub writable: bool,
    pub executable: bool,
    pub user: bool,
}

impl PageFlags {
    /// Kernel read-write data, not executable (the heap, stacks).
    pub const KERNEL_DATA: PageFlags = PageFlags {
        writable: true,
        executable: false,
        user: false,
    };

    /// The entry bits for a leaf with these permissions. `nx_enabled` says whether EFER.NXE is
    /// set: without it bit 63 is reserved and setting it would make every access fault.
    pub fn leaf_bits(self, nx_enabled: bool) -> u64 {
        let mut bits = PRESENT;
        if self.writable {
            bits |= WRITABLE;
        }
        if self.user {
            bits |= USER;
        }
        if !self.executable && nx_enabled {
            bits |= NO_EXECUTE;
        }
        bits
    }
}

/// The table index of `virt` at `level` (4 = PML4 … 1 = page table).
pub fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Whether `virt` is canonical (bits 63..=47 all equal) for 4-level paging.
pub fn is_canonical(virt: u64) -> bool {
    let top = virt >> 47;
    top == 0 || top == 0x1_ffff
}

/// Translates `virt` by walking the tables rooted at physical `root` (CR3's address bits).
/// `read(phys)` returns the quadword at a physical address (an entry of some table). Returns
/// `None` for a non-canonical or unmapped address. Permissions combine every level: writable
/// only if every level allows writes, executable only if no level sets NX, user only if every
/// level allows user access.
pub fn translate_with(root: u64, virt: u64, read: impl Fn(u64) -> u64) -> Option<Mapping> {
    if !is_canonical(virt) {
        return None;
    }
    let mut table = root & ADDRESS_MASK;
    let (mut writable, mut executable, mut user) = (true, true, true);
    for level in (1..=4).rev() {
        let entry = read(table + index(virt, level) as u64 * 8);
        if entry & PRESENT == 0 {
            return None;
        }
        writable &= entry & WRITABLE != 0;
        executable &= entry & NO_EXECUTE == 0;
        user &= entry & USER != 0;
        let page_size = match level {
            3 if entry & HUGE != 0 => Some(GIB),
            2 if entry & HUGE != 0 => Some(MIB2),
            1 => Some(KIB4),
            _ => None,
        };
        if let Some(size) = page_size {
            // The mask also clears the PAT bit (bit 12) of huge-page entries.
            let base = entry & ADDRESS_MASK & !(size - 1);
            return Some(Mapping {
                phys: base + (virt & (size - 1)),
                writable,
                executable,
                user,
            });
        }
        table = entry & ADDRESS_MASK;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Fake physical memory: a map from physical address to quadword (absent = 0).
    struct Phys(BTreeMap<u64, u64>);

    impl Phys {
        fn set(&mut self, table: u64, idx: usize, entry: u64) {
            self.0.insert(table + idx as u64 * 8, entry);
        }
        fn read(&self) -> impl Fn(u64) -> u64 + '_ {
            |a| self.0.get(&a).copied().unwrap_or(0)
        }
    }

    const PML4: u64 = 0x1000;
    const PDPT: u64 = 0x2000;
    const PD: u64 = 0x3000;
    const PT: u64 = 0x4000;
    const TABLE: u64 = PRESENT | WRITABLE;

    fn setup(virt: u64) -> Phys {
        let mut p = Phys(BTreeMap::new());
        p.set(PML4, index(virt, 4), PDPT | TABLE);
        p.set(PDPT, index(virt, 3), PD | TABLE);
        p.set(PD, index(virt, 2), PT | TABLE);
        p
    }

    #[test]
    fn indices_split_the_address() {
        let v = 0xffff_ff00_0020_3000;
        assert_eq!(index(v, 4), 510);
        assert_eq!(index(v, 3), 0);
        assert_eq!(index(v, 2), 1);
        assert_eq!(index(v, 1), 3);
        assert!(is_canonical(v));
        assert!(!is_canonical(0x0000_8000_0000_0000));
        assert!(is_canonical(0x0000_7fff_ffff_f000));
    }

    #[test]
    fn four_kib_page_translates_with_offset() {
        let v = 0xffff_8000_0020_3abc;
        let mut p = setup(v);
        p.set(PT, index(v, 1), 0x12_3000 | PRESENT | WRITABLE | NO_EXECUTE);
        let m = translate_with(PML4, v, p.read()).unwrap();
        assert_eq!(
            m,
            Mapping {
                phys: 0x12_3abc,
                writable: true,
                executable: false,
                user: false
            }
        );
        // A neighbouring page is not mapped.
        assert_eq!(translate_with(PML4, v + 0x1000, p.read()), None);
        // Non-canonical addresses never translate.
        assert_eq!(translate_with(PML4, 0x0000_8000_0020_3abc, p.read()), None);
    }

    #[test]
    fn huge_pages_translate() {
        let v = 0xffff_8000_4020_1234;
        let mut p = Phys(BTreeMap::new());
        p.set(PML4, index(v, 4), PDPT | TABLE);
        // A 1 GiB page at 1 GiB physical; bit 12 (PAT) set to check it is masked off.
        p.set(PDPT, index(v, 3), 0x4000_0000 | 1 << 12 | TABLE | HUGE);
        assert_eq!(
            translate_with(PML4, v, p.read()).unwrap().phys,
            0x4000_0000 + (v & (GIB - 1))
        );
        // A 2 MiB page.
        let mut p = setup(v);
        p.set(PD, index(v, 2), 0x60_0000 | TABLE | HUGE);
        assert_eq!(
            translate_with(PML4, v, p.read()).unwrap().phys,
            0x60_0000 + (v & (MIB2 - 1))
        );
    }

    #[test]
    fn permissions_combine_across_levels() {
        let v = 0xffff_ffff_8000_0000;
        // Leaf says writable, user, executable; a parent withholds each in turn.
        let leaf = 0x20_0000 | PRESENT | WRITABLE | USER;
        let mut p = setup(v);
        p.set(PT, index(v, 1), leaf);
        p.set(PML4, index(v, 4), PDPT | TABLE | USER);
        p.set(PDPT, index(v, 3), PD | TABLE | USER);
        p.set(PD, index(v, 2), PT | TABLE | USER);
        let m = translate_with(PML4, v, p.read()).unwrap();
        assert!(m.writable && m.executable && m.user);
        p.set(PDPT, index(v, 3), PD | PRESENT | USER);
        assert!(!translate_with(PML4, v, p.read()).unwrap().writable);
        p.set(PDPT, index(v, 3), PD | TABLE | USER | NO_EXECUTE);
        assert!(!translate_with(PML4, v, p.read()).unwrap().executable);
        p.set(PDPT, index(v, 3), PD | TABLE);
        assert!(!translate_with(PML4, v, p.read()).unwrap().user);
    }

    #[test]
    fn not_present_levels_stop_the_walk() {
        let v = 0xffff_8000_0000_0000;
        let mut p = setup(v);
        assert_eq!(translate_with(PML4, v, p.read()), None);
        p.set(PD, index(v, 2), PT); // table pointer without PRESENT
        assert_eq!(translate_with(PML4, v, p.read()), None);
    }

    #[test]
    fn leaf_bits_follow_flags() {
        let f = PageFlags::KERNEL_DATA;
        assert_eq!(f.leaf_bits(true), PRESENT | WRITABLE | NO_EXECUTE);
        assert_eq!(f.leaf_bits(false), PRESENT | WRITABLE);
        let f = PageFlags {
            writable: false,
            executable: true,
            user: true,
        };
        assert_eq!(f.leaf_bits(true), PRESENT | USER);
    }
}
