//! SLOT_READ and SLOT_WRITE: raw block I/O on the system slots' rooms for an updater holding
//! `update` (docs/slots.md, "Updating the running system"), and the verification a trial of
//! the inactive slot needs first. Pure: where an access lands, or the named refusal.
//!
//! A write reaches only the inactive slot's room: the running slot, the user data (the slot
//! metadata included) and anything past the room are refused, and a write of the disk's block 0
//! (slot A's, while B runs) may change only slot A's own fields in its first 512 bytes (the
//! geometry, the slot table and the MBR stay). So a component holding `update` can at worst
//! write garbage into the inactive slot, which verification refuses before the slot is tried,
//! and verified boot again at its boot.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use bootslots::Slot;
use drivers::block::BlockError;
use loader::superblock::BLOCK_SIZE;

pub use crate::sysinfo::SlotRooms;

/// Why a slot I/O call, or a trial of the inactive slot, was refused.
#[derive(Debug)]
pub enum SlotIoError {
    /// The image has one system slot.
    OneSlot,
    /// No disk was handed to the process core.
    NoRegion,
    /// The buffer is not a whole number of blocks.
    NotWholeBlocks { len: usize },
    /// The access reaches outside `slot`'s room (`room` blocks).
    OutsideRoom {
        slot: Slot,
        first: u64,
        count: u64,
        room: u64,
    },
    /// A write into the running slot (or a change that would take it out of service).
    RunningSlot { slot: Slot },
    /// A write of the disk's block 0 that would change more than slot A's own fields.
    Block0(Block0Change),
    /// The room overlaps the user-data region (a damaged slot table): nothing is written.
    UserData { first: u64 },
    /// The driver failed.
    Device(BlockError),
    /// The inactive slot does not verify: it is not tried.
    Unverified(Unverified),
    /// Its boot files could not be installed on the ESP (which boots as before).
    BootFiles(esp::install::InstallError),
    /// The disk's block 0 does not decode.
    DiskBlock0(Box<loader::LoadError>),
}

/// Why the inactive slot failed verification (before it may boot).
pub enum Unverified {
    /// Its block 0 does not decode, or a read failed.
    Image(Box<loader::LoadError>),
    /// Its manifest is not the one block 0 names, or does not parse.
    Manifest,
    /// A region's bytes do not match the manifest's SHA-256.
    Damaged { region: String },
    /// No manifest signature (under `enforce`).
    Unsigned,
    /// The manifest signature was refused by the key ring (its line).
    Refused(Box<dyn fmt::Display + Send>),
    /// Its `security_epoch` is below the security record's minimum.
    Rollback { epoch: u32, min: u32 },
}

impl fmt::Debug for Unverified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Unverified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Image(e) => write!(f, "{e}"),
            Self::Manifest => f.write_str("its manifest is not the one its block 0 names"),
            Self::Damaged { region } => write!(f, "`{region}` does not match its SHA-256"),
            Self::Unsigned => f.write_str("its manifest is not signed (policy enforce)"),
            Self::Refused(e) => write!(f, "{e}"),
            Self::Rollback { epoch, min } => {
                write!(f, "its security_epoch {epoch} is below the minimum {min}")
            }
        }
    }
}

impl SlotIoError {
    /// The ABI's error for it.
    pub fn to_abi(&self) -> abi::Error {
        match self {
            Self::OneSlot => abi::Error::NotFound,
            Self::NoRegion | Self::Device(_) | Self::DiskBlock0(_) => abi::Error::Unsupported,
            Self::NotWholeBlocks { .. } | Self::OutsideRoom { .. } => abi::Error::BadLength,
            Self::RunningSlot { .. }
            | Self::Block0(_)
            | Self::UserData { .. }
            | Self::Unverified(_)
            | Self::BootFiles(_) => abi::Error::Refused,
        }
    }
}

impl fmt::Display for SlotIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OneSlot => f.write_str("this image has one system slot"),
            Self::NoRegion => f.write_str("no disk: the slots are out of reach"),
            Self::NotWholeBlocks { len } => {
                write!(f, "{len} bytes are not a whole number of 4096-byte blocks")
            }
            Self::OutsideRoom {
                slot,
                first,
                count,
                room,
            } => write!(
                f,
                "blocks {first}..{} are outside slot {slot}'s room (0..{room}): refused",
                first.saturating_add(*count)
            ),
            Self::RunningSlot { slot } => write!(f, "slot {slot} is running: refused"),
            Self::Block0(what) => write!(
                f,
                "a write of the disk's block 0 may change only slot A's own fields, not {what}: refused"
            ),
            Self::UserData { first } => write!(
                f,
                "block {first} lies in the user-data region: refused (the slot table is damaged)"
            ),
            Self::Device(e) => write!(f, "{e}"),
            Self::Unverified(e) => write!(f, "the inactive slot does not verify: {e}"),
            Self::BootFiles(e) => write!(f, "the inactive slot's boot files: {e}"),
            Self::DiskBlock0(e) => write!(f, "the disk's block 0 does not read back: {e}"),
        }
    }
}

/// The disk block (4096-byte) where `len` bytes from block `first` of `slot`'s room start.
///
/// # Errors
/// [`SlotIoError::NotWholeBlocks`], [`SlotIoError::OutsideRoom`], [`SlotIoError::UserData`].
pub fn place(rooms: &SlotRooms, slot: Slot, first: u64, len: usize) -> Result<u64, SlotIoError> {
    if len == 0 || !len.is_multiple_of(BLOCK_SIZE) {
        return Err(SlotIoError::NotWholeBlocks { len });
    }
    let count = (len / BLOCK_SIZE) as u64;
    let (start, room) = rooms.room(slot);
    let outside = || SlotIoError::OutsideRoom {
        slot,
        first,
        count,
        room,
    };
    let end = first
        .checked_add(count)
        .filter(|&end| end <= room)
        .ok_or_else(outside)?;
    let (at, at_end) = (start + first, start + end);
    if at < rooms.total_blocks && at_end > rooms.data_start {
        return Err(SlotIoError::UserData {
            first: at.max(rooms.data_start),
        });
    }
    Ok(at)
}

/// Which slot a SLOT_WRITE reaches while `booted` runs: the other one.
pub fn writable(booted: Slot) -> Slot {
    match booted {
        Slot::A => Slot::B,
        Slot::B => Slot::A,
    }
}

/// What a write of the disk's block 0 would change beyond slot A's own fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block0Change {
    /// The new block 0 is not a superblock with a slot table.
    NotASuperblock,
    /// The data region, the disk's length, the ESP or the slot table.
    Geometry,
    /// The MBR's disk signature, partition table or boot signature (bytes 440..512).
    Mbr,
}

impl fmt::Display for Block0Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotASuperblock => {
                "its superblock (the new block does not decode: bytes past 512 must be zero)"
            }
            Self::Geometry => "the disk's geometry (data region, length, ESP, slot table)",
            Self::Mbr => "the MBR (bytes 440..512)",
        })
    }
}

/// Checks a write of the disk's block 0 (`new`, 4096 bytes) against the one on disk (`old`):
/// only slot A's own fields may change, all within the first 512 bytes, so that the write
/// changes one sector and a power cut leaves the old or the new block 0, both with the
/// disk's geometry (docs/slots.md).
///
/// # Errors
/// [`SlotIoError::Block0`] naming what would change.
pub fn check_block0(old: &[u8], new: &[u8]) -> Result<(), SlotIoError> {
    use loader::superblock::Superblock;
    let refuse = |what| Err(SlotIoError::Block0(what));
    let (Ok(old_sb), Ok(new_sb)) = (Superblock::decode(old), Superblock::decode(new)) else {
        return refuse(Block0Change::NotASuperblock);
    };
    let geometry = |sb: &Superblock| {
        (
            sb.data_start,
            sb.total_blocks,
            sb.esp_start,
            sb.esp_blocks,
            sb.slots,
        )
    };
    if new_sb.slots.is_none() || geometry(&old_sb) != geometry(&new_sb) {
        return refuse(Block0Change::Geometry);
    }
    // `decode` found bytes 512.. zero in both: only the first sector can differ.
    match old.get(440..512) == new.get(440..512) {
        true => Ok(()),
        false => refuse(Block0Change::Mbr),
    }
}

/// Whether SLOT_SET `action` on `slot` needs the slot verified first (it would make the
/// slot not booted now bootable), or is refused (taking the running slot out of service).
///
/// # Errors
/// [`SlotIoError::RunningSlot`] for `MarkUnbootable` of the booted slot.
pub fn needs_verification(
    action: abi::SlotAction,
    slot: Slot,
    booted: Slot,
) -> Result<bool, SlotIoError> {
    match action {
        abi::SlotAction::MarkUnbootable if slot == booted => Err(SlotIoError::RunningSlot { slot }),
        abi::SlotAction::MarkUnbootable => Ok(false),
        abi::SlotAction::Try | abi::SlotAction::SetActive => Ok(slot != booted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::SlotAction;

    const ROOMS: SlotRooms = SlotRooms {
        b_start: 100,
        b_blocks: 80,
        data_start: 200,
        total_blocks: 300,
    };

    #[test]
    fn accesses_land_inside_the_room() {
        assert_eq!(place(&ROOMS, Slot::B, 0, 4096).ok(), Some(100));
        assert_eq!(place(&ROOMS, Slot::B, 79, 4096).ok(), Some(179));
        assert_eq!(place(&ROOMS, Slot::A, 0, 8192).ok(), Some(0));
        assert_eq!(place(&ROOMS, Slot::A, 99, 4096).ok(), Some(99));
    }

    #[test]
    fn outside_the_room_is_refused_by_name() {
        for (slot, first, len) in [
            (Slot::B, 80, 4096),
            (Slot::B, 79, 8192),
            (Slot::B, u64::MAX, 4096),
            (Slot::A, 100, 4096),
        ] {
            let e = place(&ROOMS, slot, first, len).unwrap_err();
            assert!(matches!(e, SlotIoError::OutsideRoom { .. }), "{e}");
            assert_eq!(e.to_abi(), abi::Error::BadLength);
            assert!(e.to_string().contains("outside slot"), "{e}");
        }
        let e = place(&ROOMS, Slot::B, 0, 100).unwrap_err();
        assert!(matches!(e, SlotIoError::NotWholeBlocks { len: 100 }));
        assert!(place(&ROOMS, Slot::B, 0, 0).is_err());
    }

    #[test]
    fn a_room_over_the_user_data_is_refused() {
        let bad = SlotRooms {
            b_blocks: 150,
            ..ROOMS
        };
        let e = place(&bad, Slot::B, 99, 8192).unwrap_err();
        assert!(matches!(e, SlotIoError::UserData { first: 200 }), "{e}");
        assert_eq!(e.to_abi(), abi::Error::Refused);
    }

    #[test]
    fn the_slot_not_running_is_written() {
        assert_eq!(writable(Slot::A), Slot::B);
        assert_eq!(writable(Slot::B), Slot::A);
    }

    fn block0(edit: impl FnOnce(&mut loader::superblock::Superblock)) -> alloc::vec::Vec<u8> {
        let mut sb = loader::superblock::Superblock {
            format_version: loader::superblock::FORMAT_VERSION,
            kernel_blocks: 2,
            kernel_start: 1,
            manifest_start: 3,
            manifest_bytes: 100,
            data_start: 200,
            total_blocks: 300,
            esp_start: 180,
            esp_blocks: 20,
            slots: Some(loader::slots::SlotTable {
                b_start: 100,
                b_blocks: 80,
            }),
            ..Default::default()
        };
        edit(&mut sb);
        let mut b = sb.encode().to_vec();
        b[440..444].copy_from_slice(b"disk");
        b[510..512].copy_from_slice(&[0x55, 0xaa]);
        b
    }

    #[test]
    fn block0_may_change_only_slot_a_s_own_fields() {
        let old = block0(|_| {});
        let new = block0(|sb| {
            sb.kernel_blocks = 5;
            sb.manifest_start = 6;
            sb.image_id = [7; 16];
        });
        check_block0(&old, &new).unwrap();
        let refused = |new: &[u8]| match check_block0(&old, new) {
            Err(SlotIoError::Block0(what)) => Some(what),
            _ => None,
        };
        let moved = block0(|sb| sb.data_start = 199);
        assert_eq!(refused(&moved), Some(Block0Change::Geometry));
        let no_table = block0(|sb| sb.slots = None);
        assert_eq!(refused(&no_table), Some(Block0Change::Geometry));
        let mut mbr = new.clone();
        mbr[450] ^= 1;
        assert_eq!(refused(&mbr), Some(Block0Change::Mbr));
        let mut past = new.clone();
        past[600] = 1;
        assert_eq!(refused(&past), Some(Block0Change::NotASuperblock));
        let mut garbage = new.clone();
        garbage[0] ^= 1;
        assert_eq!(refused(&garbage), Some(Block0Change::NotASuperblock));
        let e = check_block0(&old, &moved).unwrap_err();
        assert_eq!(e.to_abi(), abi::Error::Refused);
    }

    #[test]
    fn a_trial_of_the_other_slot_is_verified_first() {
        let v = |a, s| needs_verification(a, s, Slot::A).ok();
        assert_eq!(v(SlotAction::Try, Slot::B), Some(true));
        assert_eq!(v(SlotAction::SetActive, Slot::B), Some(true));
        assert_eq!(v(SlotAction::SetActive, Slot::A), Some(false));
        assert_eq!(v(SlotAction::MarkUnbootable, Slot::B), Some(false));
        let e = needs_verification(SlotAction::MarkUnbootable, Slot::A, Slot::A).unwrap_err();
        assert_eq!(e.to_abi(), abi::Error::Refused);
    }
}
