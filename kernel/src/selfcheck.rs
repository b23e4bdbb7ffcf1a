//! The boot-time self-check: are the boot loader's answers sane? Run at every boot; one line
//! of result. The checks are pure functions over [`Facts`] and an [`AddressSpace`], so they are
//! tested on the host against fakes.

use bootproto::memmap::{self, Entry};

pub use crate::memory::{Translate as AddressSpace, HIGHER_HALF};
const PAGE: u64 = 4096;

/// Everything the checks need to know besides the page tables.
pub struct Facts<'a> {
    pub hhdm_offset: Option<u64>,
    pub memory_map: Option<&'a [Entry]>,
    /// Entries the kernel could not keep (over its table size).
    pub memory_map_dropped: usize,
    /// (physical base, virtual base) from the executable-address response.
    pub executable_address: Option<(u64, u64)>,
    /// The address the kernel was linked at (`__kernel_start`).
    pub link_base: u64,
    /// `rsp` at entry (pointing at the pushed return address).
    pub entry_rsp: u64,
    pub stack_size_requested: u64,
    pub stack_size_answered: bool,
    /// An address inside the kernel's code, and one inside its writable data.
    pub code_address: u64,
    pub data_address: u64,
}

/// The first check that failed, with what was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    NoHhdm,
    HhdmOffsetBad {
        offset: u64,
    },
    HhdmNotMapping {
        virt: u64,
        expected_phys: u64,
        found: Option<u64>,
    },
    NoMemoryMap,
    MemoryMapTooLong {
        dropped: usize,
    },
    MemoryMapInvalid(memmap::MemmapError),
    NoUsableMemory,
    NoExecutableAddress,
    LinkAddressMismatch {
        reported: u64,
        linked: u64,
    },
    ExecutablePhysMismatch {
        reported: u64,
        found: Option<u64>,
    },
    LowerHalfMapped {
        entries: usize,
    },
    StackSizeNotAnswered,
    StackPageMissing {
        virt: u64,
    },
    StackPageReadOnly {
        virt: u64,
    },
    StackNotReclaimable {
        phys: u64,
        kind: Option<u64>,
    },
    CodeWritable {
        virt: u64,
    },
    DataExecutable {
        virt: u64,
    },
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoHhdm => write!(f, "hhdm: no HHDM response"),
            Self::HhdmOffsetBad { offset } => {
                write!(f, "hhdm: offset {offset:#x} is not a page-aligned higher-half address")
            }
            Self::HhdmNotMapping { virt, expected_phys, found } => write!(
                f,
                "hhdm: {virt:#x} should map physical {expected_phys:#x} but maps {found:#x?}"
            ),
            Self::NoMemoryMap => write!(f, "memmap: no memory map response"),
            Self::MemoryMapTooLong { dropped } => {
                write!(f, "memmap: {dropped} entries over the kernel's table size")
            }
            Self::MemoryMapInvalid(e) => write!(f, "memmap: {e}"),
            Self::NoUsableMemory => write!(f, "memmap: no usable memory"),
            Self::NoExecutableAddress => write!(f, "executable address: no response"),
            Self::LinkAddressMismatch { reported, linked } => write!(
                f,
                "executable address: virtual base {reported:#x} differs from link address {linked:#x}"
            ),
            Self::ExecutablePhysMismatch { reported, found } => write!(
                f,
                "executable address: physical base {reported:#x} but the page tables say {found:#x?}"
            ),
            Self::LowerHalfMapped { entries } => {
                write!(f, "lower half: {entries} PML4 entries present (expected none)")
            }
            Self::StackSizeNotAnswered => write!(f, "stack: no stack-size response"),
            Self::StackPageMissing { virt } => write!(f, "stack: page {virt:#x} is not mapped"),
            Self::StackPageReadOnly { virt } => write!(f, "stack: page {virt:#x} is read-only"),
            Self::StackNotReclaimable { phys, kind } => write!(
                f,
                "stack: physical page {phys:#x} is {} memory, not bootloader-reclaimable",
                kind.map_or("unlisted", memmap::kind_name)
            ),
            Self::CodeWritable { virt } => write!(f, "W^X: kernel code at {virt:#x} is writable"),
            Self::DataExecutable { virt } => {
                write!(f, "W^X: kernel data at {virt:#x} is executable")
            }
        }
    }
}

/// Runs every check in order; the first failure wins.
pub fn run(facts: &Facts<'_>, space: &dyn AddressSpace) -> Result<(), Failure> {
    let map = check_memory_map(facts)?;
    check_hhdm(facts, map, space)?;
    check_executable_address(facts, space)?;
    check_lower_half(space)?;
    check_stack(facts, map, space)?;
    check_wx(facts, space)
}

fn check_memory_map<'a>(facts: &Facts<'a>) -> Result<&'a [Entry], Failure> {
    let map = facts.memory_map.ok_or(Failure::NoMemoryMap)?;
    if facts.memory_map_dropped > 0 {
        return Err(Failure::MemoryMapTooLong {
            dropped: facts.memory_map_dropped,
        });
    }
    memmap::check(map).map_err(Failure::MemoryMapInvalid)?;
    if memmap::total_of(map, memmap::USABLE) == 0 {
        return Err(Failure::NoUsableMemory);
    }
    Ok(map)
}

fn check_hhdm(facts: &Facts<'_>, map: &[Entry], space: &dyn AddressSpace) -> Result<(), Failure> {
    let offset = facts.hhdm_offset.ok_or(Failure::NoHhdm)?;
    if offset < HIGHER_HALF || offset % PAGE != 0 {
        return Err(Failure::HhdmOffsetBad { offset });
    }
    // Every usable entry must be reachable through the HHDM: probe its first and last page.
    for e in map.iter().filter(|e| e.kind == memmap::USABLE) {
        for phys in [e.base, e.base + e.length - PAGE] {
            let virt = offset.wrapping_add(phys);
            let found = space.translate(virt).map(|m| m.phys);
            if found != Some(phys) {
                return Err(Failure::HhdmNotMapping {
                    virt,
                    expected_phys: phys,
                    found,
                });
            }
        }
    }
    Ok(())
}

fn check_executable_address(facts: &Facts<'_>, space: &dyn AddressSpace) -> Result<(), Failure> {
    let (phys, virt) = facts
        .executable_address
        .ok_or(Failure::NoExecutableAddress)?;
    if virt != facts.link_base {
        return Err(Failure::LinkAddressMismatch {
            reported: virt,
            linked: facts.link_base,
        });
    }
    let found = space.translate(virt).map(|m| m.phys);
    if found != Some(phys) {
        return Err(Failure::ExecutablePhysMismatch {
            reported: phys,
            found,
        });
    }
    Ok(())
}

fn check_lower_half(space: &dyn AddressSpace) -> Result<(), Failure> {
    match space.lower_half_entries() {
        0 => Ok(()),
        entries => Err(Failure::LowerHalfMapped { entries }),
    }
}

fn check_stack(facts: &Facts<'_>, map: &[Entry], space: &dyn AddressSpace) -> Result<(), Failure> {
    if !facts.stack_size_answered {
        return Err(Failure::StackSizeNotAnswered);
    }
    // The return address 0 sits at entry_rsp; the stack's top is just above it.
    let top = facts.entry_rsp.wrapping_add(8);
    let bottom = top.wrapping_sub(facts.stack_size_requested) & !(PAGE - 1);
    let mut page = bottom;
    while page < top {
        let m = space
            .translate(page)
            .ok_or(Failure::StackPageMissing { virt: page })?;
        if !m.writable {
            return Err(Failure::StackPageReadOnly { virt: page });
        }
        let kind = memmap::kind_at(map, m.phys);
        if kind != Some(memmap::BOOTLOADER_RECLAIMABLE) {
            return Err(Failure::StackNotReclaimable { phys: m.phys, kind });
        }
        page += PAGE;
    }
    Ok(())
}

fn check_wx(facts: &Facts<'_>, space: &dyn AddressSpace) -> Result<(), Failure> {
    if space
        .translate(facts.code_address)
        .is_some_and(|m| m.writable)
    {
        return Err(Failure::CodeWritable {
            virt: facts.code_address,
        });
    }
    if space
        .translate(facts.data_address)
        .is_some_and(|m| m.executable)
    {
        return Err(Failure::DataExecutable {
            virt: facts.data_address,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Mapping;

    const HHDM: u64 = HIGHER_HALF;
    const LINK: u64 = 0xffff_ffff_8000_0000;
    const KPHYS: u64 = 0x20_0000;
    const STACK_PHYS: u64 = 0x10_0000;
    const STACK_SIZE: u64 = 0x4000;

    /// A fake address space: the HHDM over the first 16 MiB, the kernel at LINK, lower half as given.
    struct Fake {
        lower: usize,
        code_writable: bool,
        hole: Option<u64>,
    }

    impl AddressSpace for Fake {
        fn translate(&self, virt: u64) -> Option<Mapping> {
            if Some(virt & !(PAGE - 1)) == self.hole {
                return None;
            }
            if (HHDM..HHDM + 0x100_0000).contains(&virt) {
                return Some(Mapping {
                    phys: virt - HHDM,
                    writable: true,
                    executable: false,
                    user: false,
                });
            }
            if (LINK..LINK + 0x10_0000).contains(&virt) {
                let code = virt < LINK + 0x1000;
                return Some(Mapping {
                    phys: virt - LINK + KPHYS,
                    writable: !code || self.code_writable,
                    executable: code,
                    user: false,
                });
            }
            None
        }
        fn lower_half_entries(&self) -> usize {
            self.lower
        }
    }

    fn map() -> [Entry; 3] {
        [
            Entry {
                base: 0,
                length: STACK_PHYS,
                kind: memmap::USABLE,
            },
            Entry {
                base: STACK_PHYS,
                length: 0x10_0000,
                kind: memmap::BOOTLOADER_RECLAIMABLE,
            },
            Entry {
                base: KPHYS,
                length: 0x10_0000,
                kind: memmap::EXECUTABLE_AND_MODULES,
            },
        ]
    }

    fn facts(map: &[Entry]) -> Facts<'_> {
        Facts {
            hhdm_offset: Some(HHDM),
            memory_map: Some(map),
            memory_map_dropped: 0,
            executable_address: Some((KPHYS, LINK)),
            link_base: LINK,
            entry_rsp: HHDM + STACK_PHYS + STACK_SIZE - 8,
            stack_size_requested: STACK_SIZE,
            stack_size_answered: true,
            code_address: LINK + 0x10,
            data_address: LINK + 0x2000,
        }
    }

    fn good() -> Fake {
        Fake {
            lower: 0,
            code_writable: false,
            hole: None,
        }
    }

    #[test]
    fn a_sane_boot_passes() {
        let m = map();
        assert_eq!(run(&facts(&m), &good()), Ok(()));
    }

    #[test]
    fn missing_answers_fail() {
        let m = map();
        let mut f = facts(&m);
        f.hhdm_offset = None;
        assert_eq!(run(&f, &good()), Err(Failure::NoHhdm));
        let mut f = facts(&m);
        f.memory_map = None;
        assert_eq!(run(&f, &good()), Err(Failure::NoMemoryMap));
        let mut f = facts(&m);
        f.executable_address = None;
        assert_eq!(run(&f, &good()), Err(Failure::NoExecutableAddress));
        let mut f = facts(&m);
        f.stack_size_answered = false;
        assert_eq!(run(&f, &good()), Err(Failure::StackSizeNotAnswered));
    }

    #[test]
    fn bad_hhdm_offset_fails() {
        let m = map();
        let mut f = facts(&m);
        f.hhdm_offset = Some(0x1000);
        assert_eq!(
            run(&f, &good()),
            Err(Failure::HhdmOffsetBad { offset: 0x1000 })
        );
    }

    #[test]
    fn unmapped_usable_memory_fails() {
        let m = [Entry {
            base: 0,
            length: 0x200_0000,
            kind: memmap::USABLE,
        }];
        let f = facts(&m);
        assert!(matches!(
            run(&f, &good()),
            Err(Failure::HhdmNotMapping { .. })
        ));
    }

    #[test]
    fn unsorted_memory_map_fails() {
        let mut m = map();
        m.swap(0, 1);
        assert!(matches!(
            run(&facts(&m), &good()),
            Err(Failure::MemoryMapInvalid(_))
        ));
    }

    #[test]
    fn wrong_link_address_fails() {
        let m = map();
        let mut f = facts(&m);
        f.link_base = LINK + 0x1000;
        assert!(matches!(
            run(&f, &good()),
            Err(Failure::LinkAddressMismatch { .. })
        ));
        let mut f = facts(&m);
        f.executable_address = Some((KPHYS + 0x1000, LINK));
        assert!(matches!(
            run(&f, &good()),
            Err(Failure::ExecutablePhysMismatch { .. })
        ));
    }

    #[test]
    fn lower_half_mapping_fails() {
        let m = map();
        let space = Fake { lower: 1, ..good() };
        assert_eq!(
            run(&facts(&m), &space),
            Err(Failure::LowerHalfMapped { entries: 1 })
        );
    }

    #[test]
    fn short_stack_fails() {
        let m = map();
        let mut f = facts(&m);
        f.stack_size_requested = STACK_SIZE * 2;
        // The extra pages below lie in usable memory, not bootloader-reclaimable.
        assert!(matches!(
            run(&f, &good()),
            Err(Failure::StackNotReclaimable { .. })
        ));
        let hole = HHDM + STACK_PHYS + 0x1000;
        let space = Fake {
            hole: Some(hole),
            ..good()
        };
        assert_eq!(
            run(&facts(&m), &space),
            Err(Failure::StackPageMissing { virt: hole })
        );
    }

    #[test]
    fn writable_code_fails() {
        let m = map();
        let space = Fake {
            code_writable: true,
            ..good()
        };
        assert!(matches!(
            run(&facts(&m), &space),
            Err(Failure::CodeWritable { .. })
        ));
    }
}
