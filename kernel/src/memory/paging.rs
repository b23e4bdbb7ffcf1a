//! The active page tables (from CR3), read and extended through the boot loader's higher-half direct map.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;
use x86_64::registers::control::Cr3;
use x86_64::registers::model_specific::{Efer, EferFlags};

use super::frames::{FrameAllocator, FRAME_SIZE};
pub use super::pagetable::PageFlags;
use super::pagetable::{
    self, ADDRESS_MASK, CACHE_DISABLE, HUGE, NO_EXECUTE, PRESENT, USER, WRITABLE, WRITE_THROUGH,
};
use super::{Mapping, Translate};

static HHDM_OFFSET: AtomicU64 = AtomicU64::new(0);
/// The PML4 the kernel runs on (CR3 at [`init`]); every process address space shares its
/// upper half.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
static READY: AtomicBool = AtomicBool::new(false);
/// Whether EFER.NXE is on, i.e. whether bit 63 of an entry means "no execute" (else reserved).
static NX_ENABLED: AtomicBool = AtomicBool::new(false);
/// Serialises changes to the page tables.
static MAP_LOCK: Mutex<()> = Mutex::new(());

/// Remembers where the HHDM is, so page tables can be reached by physical address. Until this
/// runs, [`translate`] answers `None` and [`map_page`] fails.
pub fn init(hhdm_offset: u64) {
    NX_ENABLED.store(
        Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE),
        Ordering::Relaxed,
    );
    HHDM_OFFSET.store(hhdm_offset, Ordering::Relaxed);
    KERNEL_ROOT.store(root(), Ordering::Relaxed);
    READY.store(true, Ordering::Release);
}

/// The physical address of the kernel's own PML4 (the one active when [`init`] ran), or
/// `None` before [`init`].
pub fn kernel_root() -> Option<u64> {
    hhdm().map(|_| KERNEL_ROOT.load(Ordering::Relaxed))
}

/// The HHDM offset (virtual = physical + offset for memory the HHDM maps), once [`init`] ran.
pub fn hhdm_offset() -> Option<u64> {
    hhdm()
}

pub(super) fn hhdm() -> Option<u64> {
    READY
        .load(Ordering::Acquire)
        .then(|| HHDM_OFFSET.load(Ordering::Relaxed))
}

/// The physical address of the active PML4.
pub(super) fn root() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// Reads the page-table entry at physical `phys`.
pub(super) fn read_entry(hhdm: u64, phys: u64) -> u64 {
    // SAFETY: (1) `phys` is an 8-aligned entry address inside a page table reached from CR3 (the
    // walk only follows present entries' address bits, which are 4 KiB aligned); (2) page tables
    // live in bootloader-reclaimable memory (Limine's) or usable memory (ours), both of which
    // the HHDM maps, so `hhdm + phys` is mapped readable; (3) a volatile read of an integer
    // cannot produce an invalid value, and the CPU may be changing accessed/dirty bits.
    unsafe { core::ptr::read_volatile((hhdm + phys) as *const u64) }
}

/// Writes the page-table entry at physical `phys`.
///
/// # Safety
/// `phys` must be an entry of a page table (or a freshly allocated frame becoming one) that the
/// HHDM maps, the caller must hold `MAP_LOCK`, and the new value must not remove or change a
/// mapping anything still relies on.
pub(super) unsafe fn write_entry(hhdm: u64, phys: u64, value: u64) {
    // SAFETY: the caller guarantees (see above) that the entry is HHDM-mapped table memory that
    // only this thread is changing, and that the change is sound for existing users.
    unsafe { core::ptr::write_volatile((hhdm + phys) as *mut u64, value) }
}

/// Where `virt` leads in the active address space, or `None` if it is unmapped (or paging has
/// not been initialised).
pub fn translate(virt: u64) -> Option<Mapping> {
    let hhdm = hhdm()?;
    pagetable::translate_with(root(), virt, |phys| read_entry(hhdm, phys))
}

/// How many of the 256 lower-half PML4 entries are present (0 until [`init`]).
pub fn lower_half_present_entries() -> usize {
    let Some(hhdm) = hhdm() else { return 0 };
    let pml4 = root();
    (0..256u64)
        .filter(|i| read_entry(hhdm, pml4 + i * 8) & PRESENT != 0)
        .count()
}

/// Why [`map_page`] did not map a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// [`init`] has not run.
    NotInitialised,
    /// `virt` or `phys` is not 4 KiB aligned.
    Misaligned { virt: u64, phys: u64 },
    /// `virt` is not a canonical address.
    NonCanonical { virt: u64 },
    /// Something is already mapped at `virt`.
    AlreadyMapped { virt: u64 },
    /// A huge page (1 GiB at level 3, 2 MiB at level 2) already covers `virt`.
    HugeParent { virt: u64, level: u32 },
    /// An existing intermediate entry withholds a permission the mapping asks for (changing it
    /// would silently widen the permissions of its other pages).
    ParentPermissions { virt: u64, level: u32 },
    /// No frame left for an intermediate table.
    OutOfFrames,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInitialised => write!(f, "paging is not initialised"),
            Self::Misaligned { virt, phys } => {
                write!(f, "{virt:#x} -> {phys:#x} is not 4 KiB aligned")
            }
            Self::NonCanonical { virt } => write!(f, "{virt:#x} is not a canonical address"),
            Self::AlreadyMapped { virt } => write!(f, "{virt:#x} is already mapped"),
            Self::HugeParent { virt, level } => {
                write!(f, "{virt:#x} lies in a huge page (level {level} entry)")
            }
            Self::ParentPermissions { virt, level } => write!(
                f,
                "{virt:#x}: the level {level} entry above it withholds a requested permission"
            ),
            Self::OutOfFrames => write!(f, "out of physical frames for page tables"),
        }
    }
}

/// How the CPU may cache a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// Normal memory (write-back, subject to the MTRRs).
    WriteBack,
    /// Device memory: PCD and PWT set, so uncacheable (UC) whatever the MTRRs say.
    Uncached,
}

/// Maps the 4 KiB page at `virt` to the frame at `phys` with `flags` in the active tables,
/// allocating (zeroed) intermediate tables from `frames`. Never replaces an existing mapping.
pub fn map_page(
    virt: u64,
    phys: u64,
    flags: PageFlags,
    frames: &mut FrameAllocator,
) -> Result<(), MapError> {
    map_page_with(virt, phys, flags, Caching::WriteBack, frames)
}

/// [`map_page`] with a choice of [`Caching`] (e.g. uncached for device registers).
pub fn map_page_with(
    virt: u64,
    phys: u64,
    flags: PageFlags,
    caching: Caching,
    frames: &mut FrameAllocator,
) -> Result<(), MapError> {
    map_in(root(), virt, phys, flags, caching, 0, frames)
}

/// [`map_page_with`] into the tables rooted at physical `root` (the active PML4 or one of a
/// process address space, see `memory::user`), with the software bits `extra` (0 or
/// [`pagetable::BORROWED`]) in the leaf. Intermediate tables come zeroed from `frames`.
pub(super) fn map_in(
    root: u64,
    virt: u64,
    phys: u64,
    flags: PageFlags,
    caching: Caching,
    extra: u64,
    frames: &mut FrameAllocator,
) -> Result<(), MapError> {
    let hhdm = hhdm().ok_or(MapError::NotInitialised)?;
    if !virt.is_multiple_of(FRAME_SIZE)
        || !phys.is_multiple_of(FRAME_SIZE)
        || phys & !ADDRESS_MASK != 0
    {
        return Err(MapError::Misaligned { virt, phys });
    }
    if !pagetable::is_canonical(virt) {
        return Err(MapError::NonCanonical { virt });
    }
    let nx = NX_ENABLED.load(Ordering::Relaxed);
    let _guard = MAP_LOCK.lock();
    let mut table = root & ADDRESS_MASK;
    for level in (2..=4).rev() {
        let slot = table + pagetable::index(virt, level) as u64 * 8;
        let entry = read_entry(hhdm, slot);
        if entry & PRESENT == 0 {
            let new = frames.alloc().ok_or(MapError::OutOfFrames)?;
            // SAFETY: `new` is a usable frame just handed out by the allocator, so nothing else
            // uses it, and the HHDM maps all usable memory; zeroing it makes every entry
            // not-present before the table becomes reachable.
            unsafe { core::ptr::write_bytes((hhdm + new) as *mut u8, 0, FRAME_SIZE as usize) };
            // Intermediate entries allow everything the leaf may ask for; the leaf restricts.
            let mut bits = new | PRESENT | WRITABLE;
            if flags.user {
                bits |= USER;
            }
            // SAFETY: (1) `slot` is an entry of a table reached from `root` (the active PML4
            // or a process PML4 owned by the caller), mapped by the HHDM; (2) we hold MAP_LOCK;
            // (3) the entry was not present, so no mapping changes.
            unsafe { write_entry(hhdm, slot, bits) };
            table = new;
            continue;
        }
        if level < 4 && entry & HUGE != 0 {
            return Err(MapError::HugeParent { virt, level });
        }
        let withheld = (flags.writable && entry & WRITABLE == 0)
            || (flags.user && entry & USER == 0)
            || (flags.executable && entry & NO_EXECUTE != 0);
        if withheld {
            return Err(MapError::ParentPermissions { virt, level });
        }
        table = entry & ADDRESS_MASK;
    }
    let slot = table + pagetable::index(virt, 1) as u64 * 8;
    if read_entry(hhdm, slot) & PRESENT != 0 {
        return Err(MapError::AlreadyMapped { virt });
    }
    let cache_bits = match caching {
        Caching::WriteBack => 0,
        Caching::Uncached => CACHE_DISABLE | WRITE_THROUGH,
    };
    // SAFETY: (1) `slot` is an entry of a page table reached from `root`, mapped by the HHDM;
    // (2) we hold MAP_LOCK; (3) the entry was not present, so no existing mapping changes.
    unsafe {
        write_entry(
            hhdm,
            slot,
            phys | flags.leaf_bits(nx) | cache_bits | (extra & pagetable::BORROWED),
        )
    };
    // The TLB does not cache not-present translations, so this is not strictly required; it is
    // cheap and stays correct if the walk above ever learns to replace entries.
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(virt));
    Ok(())
}

/// Removes the 4 KiB mapping at `virt` from the active tables and flushes it from the TLB;
/// returns the physical address it led to (the caller owns that frame now), or `None` if
/// nothing (or a huge page) was mapped there. Intermediate tables stay.
///
/// # Safety
/// Nothing may use the page at `virt` any more (no live references into it, no stack on it).
pub unsafe fn unmap_page(virt: u64) -> Option<u64> {
    let hhdm = hhdm()?;
    if !virt.is_multiple_of(FRAME_SIZE) || !pagetable::is_canonical(virt) {
        return None;
    }
    let _guard = MAP_LOCK.lock();
    let mut table = root();
    for level in (2..=4).rev() {
        let entry = read_entry(hhdm, table + pagetable::index(virt, level) as u64 * 8);
        if entry & PRESENT == 0 || (level < 4 && entry & HUGE != 0) {
            return None;
        }
        table = entry & ADDRESS_MASK;
    }
    let slot = table + pagetable::index(virt, 1) as u64 * 8;
    let entry = read_entry(hhdm, slot);
    if entry & PRESENT == 0 {
        return None;
    }
    // SAFETY: (1) `slot` is a leaf entry of a table reached from CR3, mapped by the HHDM;
    // (2) we hold MAP_LOCK; (3) the caller guarantees nothing uses the page any more.
    unsafe { write_entry(hhdm, slot, 0) };
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(virt));
    Some(entry & ADDRESS_MASK)
}

/// Gives every higher-half PML4 slot (256..512) of the kernel's tables a page table, so that
/// a PML4 copied from them later (a process address space) sees every kernel mapping made
/// afterwards too: those only ever change tables below the PML4. Returns how many tables it
/// allocated. Call before creating address spaces.
pub fn populate_upper_half(frames: &mut FrameAllocator) -> Result<usize, MapError> {
    let hhdm = hhdm().ok_or(MapError::NotInitialised)?;
    let pml4 = KERNEL_ROOT.load(Ordering::Relaxed);
    let _guard = MAP_LOCK.lock();
    let mut added = 0;
    for i in 256..512u64 {
        let slot = pml4 + i * 8;
        if read_entry(hhdm, slot) & PRESENT != 0 {
            continue;
        }
        let new = frames.alloc().ok_or(MapError::OutOfFrames)?;
        // SAFETY: `new` is a usable frame just handed out by the allocator (nothing else uses
        // it) and the HHDM maps all usable memory; zeroing makes every entry not-present.
        unsafe { core::ptr::write_bytes((hhdm + new) as *mut u8, 0, FRAME_SIZE as usize) };
        // SAFETY: (1) `slot` is a higher-half entry of the kernel's PML4, mapped by the HHDM;
        // (2) we hold MAP_LOCK; (3) it was not present, so no existing mapping changes.
        unsafe { write_entry(hhdm, slot, new | PRESENT | WRITABLE) };
        added += 1;
    }
    Ok(added)
}

/// The active page tables, as the boot self-check sees them.
pub struct ActiveTables;

impl Translate for ActiveTables {
    fn translate(&self, virt: u64) -> Option<Mapping> {
        translate(virt)
    }

    fn lower_half_entries(&self) -> usize {
        lower_half_present_entries()
    }
}
