//! `cargo xtask slot IMG …`: a two-slot image's slot table and its slot metadata (`PGSLOTS1`,
//! `docs/slots.md`), shown and edited from the host.
//!
//! An edit reads both copies (`bootslots::meta::pick`; neither valid: the two-slot defaults),
//! applies one of the pure `bootslots::choose` edits, and writes generation + 1 in place into
//! the copy it did not read, then syncs the file: the same power-cut-safe step as the kernel's.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bootslots::meta::{self, MetaError, Metadata};
use bootslots::{choose, Slot};
use clap::Subcommand;
use loader::slots::SlotTable;
use loader::{BlockSource, LoadError, Superblock, BLOCK_SIZE};

use crate::pack::{FileSource, Window, BLOCK};

/// Why an image's slots cannot be read or edited.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error("{}: this image has one slot; build with --slots 2", .0.display())]
    OneSlot(PathBuf),
    #[error("{}: block 0 does not decode ({reason}); `slot` needs a disk image (build-image)", .path.display())]
    Block0 { path: PathBuf, reason: LoadError },
    #[error("{}: the user-data region (blocks {start}..{end}) is too small for the slot metadata (region blocks 19 and 20)", .path.display())]
    NoRoom { path: PathBuf, start: u64, end: u64 },
}

/// `cargo xtask slot IMG <command>`.
#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotCmd {
    /// The slot table, each slot's system, and the slot metadata.
    Show,
    /// Make SLOT the one that boots: priority 15 (7 tries if not yet successful); the other
    /// slot's priority is lowered to 14 if it was 15.
    SetActive {
        #[arg(value_parser = parse_slot)]
        slot: Slot,
    },
    /// Boot SLOT once (a one-shot trial), then the normal choice again.
    Try {
        #[arg(value_parser = parse_slot)]
        slot: Slot,
    },
    /// Take SLOT out of service: priority 0, no tries, not successful (cancels a trial of it).
    MarkUnbootable {
        #[arg(value_parser = parse_slot)]
        slot: Slot,
    },
    /// Mark SLOT as committed: successful, 7 tries (its priority is unchanged).
    MarkSuccessful {
        #[arg(value_parser = parse_slot)]
        slot: Slot,
    },
}

fn parse_slot(text: &str) -> Result<Slot, String> {
    text.parse()
        .map_err(|e: meta::ParseSlotError| format!("`{text}`: {e}"))
}

/// One of the pure `bootslots::choose` edits.
type Edit = fn(&Metadata, Slot) -> Metadata;

impl SlotCmd {
    /// The edit and what it does, in words; `None` for [`SlotCmd::Show`].
    fn edit(self) -> Option<(Slot, Edit, &'static str)> {
        match self {
            SlotCmd::Show => None,
            SlotCmd::SetActive { slot } => Some((slot, choose::set_active, "set active")),
            SlotCmd::Try { slot } => Some((slot, choose::set_trial, "one-shot trial set")),
            SlotCmd::MarkUnbootable { slot } => {
                Some((slot, choose::mark_unbootable, "marked unbootable"))
            }
            SlotCmd::MarkSuccessful { slot } => {
                Some((slot, choose::mark_successful, "marked successful"))
            }
        }
    }
}

/// Runs `cmd` on the image at `path`.
pub fn run(path: &Path, cmd: SlotCmd) -> Result<()> {
    let Some((slot, edit, what)) = cmd.edit() else {
        print!("{}", show(path)?);
        return Ok(());
    };
    let (meta, _, _) = read_metadata(path)?;
    let new = edit(&meta, slot);
    let (generation, copy) = write_metadata(path, &new)?;
    println!(
        "xtask: slot {slot} {what}: wrote generation {generation} to copy {copy} of the slot metadata"
    );
    print!("{}", describe(&new));
    Ok(())
}

/// The image's block 0 and slot table; a one-slot image is [`SlotError::OneSlot`].
fn slot_table(file: &File, path: &Path) -> Result<(Superblock, SlotTable)> {
    let mut block0 = [0u8; BLOCK_SIZE];
    FileSource::new(file)?
        .read_blocks(0, &mut block0)
        .with_context(|| format!("reading block 0 of {}", path.display()))?;
    let sb = Superblock::decode(&block0).map_err(|reason| SlotError::Block0 {
        path: path.to_owned(),
        reason,
    })?;
    let table = sb
        .slots
        .ok_or_else(|| SlotError::OneSlot(path.to_owned()))?;
    Ok((sb, table))
}

/// The disk blocks of the metadata's two copies (`abi::userdata::SLOT_META_BLOCKS` in the
/// user-data region); `None` when the region is too small.
pub fn metadata_blocks(sb: &Superblock) -> Option<[u64; 2]> {
    let at = |i: usize| {
        sb.data_start
            .checked_add(abi::userdata::SLOT_META_BLOCKS[i])
            .filter(|&b| b < sb.total_blocks)
    };
    Some([at(0)?, at(1)?])
}

/// What [`meta::pick`] makes of the two copies: the metadata, its generation and the copy to
/// write next, or why neither copy is valid.
pub type Picked = Result<(Metadata, u64, usize), MetaError>;

/// Both copies read from `src` and picked; `None` when they cannot be read.
pub fn pick_from<S: BlockSource>(src: &mut S, sb: &Superblock) -> Option<Picked> {
    let mut copies = [[0u8; BLOCK_SIZE]; 2];
    for (copy, block) in copies.iter_mut().zip(metadata_blocks(sb)?) {
        src.read_blocks(block, copy).ok()?;
    }
    Some(meta::pick([&copies[0][..], &copies[1][..]]))
}

/// The slot table of the image at `path`, the blocks of the metadata copies, and the picked copy.
fn read_copies(file: &File, path: &Path) -> Result<(SlotTable, [u64; 2], Picked)> {
    let (sb, table) = slot_table(file, path)?;
    let blocks = metadata_blocks(&sb).ok_or_else(|| SlotError::NoRoom {
        path: path.to_owned(),
        start: sb.data_start,
        end: sb.total_blocks,
    })?;
    let picked = pick_from(&mut FileSource::new(file)?, &sb)
        .with_context(|| format!("reading the slot metadata of {}", path.display()))?;
    Ok((table, blocks, picked))
}

/// The slot metadata of the two-slot image at `path`: the metadata, its generation and the copy
/// to write next. Neither copy valid (a fresh image): `Metadata::default_for(2)`, generation
/// 0, copy 0 (so the first write is generation 1 in copy 0, as `docs/slots.md` says).
pub fn read_metadata(path: &Path) -> Result<(Metadata, u64, usize)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (_, _, picked) = read_copies(&file, path)?;
    or_default(picked)
}

/// The picked copy, or the two-slot defaults when neither copy is valid.
fn or_default(picked: Picked) -> Result<(Metadata, u64, usize)> {
    match picked {
        Ok(found) => Ok(found),
        Err(MetaError::NoValidCopy { .. }) => Ok((bootslots::meta::TWO_SLOTS, 0, 0)),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Writes `meta` into the two-slot image at `path` as the next generation, in place, into the
/// copy not read, and syncs the file. Returns the generation and the copy written.
pub fn write_metadata(path: &Path, meta: &Metadata) -> Result<(u64, usize)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {} for writing", path.display()))?;
    let (_, blocks, picked) = read_copies(&file, path)?;
    let (_, generation, copy) = or_default(picked)?;
    let generation = bootslots::block::next_generation(generation);
    let mut block = [0u8; BLOCK_SIZE];
    meta.encode(generation, &mut block);
    file.seek(SeekFrom::Start(blocks[copy] * BLOCK))?;
    file.write_all(&block)
        .and_then(|()| file.sync_data())
        .with_context(|| format!("writing the slot metadata of {}", path.display()))?;
    Ok((generation, copy))
}

/// The metadata, one line per slot and one for the trial.
pub fn describe(meta: &Metadata) -> String {
    let mut out = String::new();
    for slot in Slot::ALL {
        let _ = writeln!(out, "  slot {slot}: {}", meta.slot(slot));
    }
    let trial = meta
        .trial()
        .map_or("none".to_string(), |s| format!("slot {s}"));
    let _ = writeln!(out, "  one-shot trial: {trial}");
    out
}

/// The metadata as read: generation and copy, or why neither copy is valid, then [`describe`].
pub fn describe_picked(picked: &Picked) -> String {
    match picked {
        Ok((meta, generation, next)) => format!(
            "slot metadata: generation {generation} (copy {}; the next write goes to copy {next})\n{}",
            1 - next,
            describe(meta)
        ),
        Err(MetaError::NoValidCopy { copy0, copy1 }) => format!(
            "slot metadata: no valid copy yet (copy 0: {copy0}; copy 1: {copy1}); the defaults apply, the first write is generation 1 in copy 0\n{}",
            describe(&bootslots::meta::TWO_SLOTS)
        ),
        Err(e) => format!("slot metadata: {e}\n"),
    }
}

/// One slot's system in a line: image id, kernel, manifest, entries and signature.
fn slot_line<S: BlockSource>(src: &mut S) -> String {
    match crate::corrupt::read_layout_from(src) {
        Ok((sb, m)) => format!(
            "image {}, kernel {} ({} bytes), manifest {} bytes, {} services/components, {}",
            crate::inspect::uuid(&sb.image_id),
            m.kernel.binary,
            m.kernel.size_bytes,
            sb.manifest_bytes,
            m.entries().count(),
            sb.signature.map_or("unsigned".to_string(), |s| format!(
                "signed by `{}`",
                s.key_id()
            ))
        ),
        Err(e) => format!("DOES NOT READ: {e}"),
    }
}

/// `cargo xtask slot IMG show`.
pub fn show(path: &Path) -> Result<String> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (table, _, picked) = read_copies(&file, path)?;
    let mut src = FileSource::new(&file)?;
    let mut out = format!(
        "image: {}\nslot table: slot A at block 0, slot B at blocks {}..{} ({} blocks)\n",
        path.display(),
        table.b_start,
        table.b_end(),
        table.b_blocks
    );
    let _ = writeln!(out, "slot A: {}", slot_line(&mut src));
    let mut window = Window {
        inner: &mut src,
        start: table.b_start,
    };
    let _ = writeln!(out, "slot B: {}", slot_line(&mut window));
    out.push_str(&describe_picked(&picked));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::tests::{small_image, two_slot_image};
    use crate::testutil::TempDir;
    use bootslots::SlotState;

    #[test]
    fn edits_go_to_the_other_copy_with_the_next_generation() {
        let dir = TempDir::new("slots-edit");
        let (img, _) = two_slot_image(&dir, "two.img", false);
        // A fresh image: the two-slot defaults, the first write is generation 1 in copy 0.
        let (meta, generation, copy) = read_metadata(&img).unwrap();
        assert_eq!(
            (meta, generation, copy),
            (Metadata::default_for(2).unwrap(), 0, 0)
        );
        assert_eq!(
            write_metadata(&img, &choose::set_trial(&meta, Slot::B)).unwrap(),
            (1, 0)
        );
        let (meta, generation, copy) = read_metadata(&img).unwrap();
        assert_eq!((meta.trial(), generation, copy), (Some(Slot::B), 1, 1));
        // An arbitrary state, as a scenario sets it.
        let state = Metadata::new(
            SlotState::new(15, 2, false).unwrap(),
            SlotState::new(14, 7, true).unwrap(),
            None,
        );
        assert_eq!(write_metadata(&img, &state).unwrap(), (2, 1));
        assert_eq!(read_metadata(&img).unwrap(), (state, 2, 0));
        // A torn write of copy 1 leaves copy 0 (generation 1) in charge.
        let blocks = {
            let file = File::open(&img).unwrap();
            read_copies(&file, &img).unwrap().1
        };
        let mut raw = std::fs::read(&img).unwrap();
        raw[(blocks[1] * BLOCK) as usize + 30] ^= 1;
        std::fs::write(&img, &raw).unwrap();
        let (meta, generation, copy) = read_metadata(&img).unwrap();
        assert_eq!((meta.trial(), generation, copy), (Some(Slot::B), 1, 1));
    }

    #[test]
    fn the_commands_apply_the_pure_edits() {
        let dir = TempDir::new("slots-cmd");
        let (img, _) = two_slot_image(&dir, "two.img", false);
        run(&img, SlotCmd::MarkUnbootable { slot: Slot::B }).unwrap();
        let (meta, ..) = read_metadata(&img).unwrap();
        assert_eq!(meta.slot(Slot::B), SlotState::UNBOOTABLE);
        run(&img, SlotCmd::SetActive { slot: Slot::B }).unwrap();
        let (meta, ..) = read_metadata(&img).unwrap();
        assert_eq!(meta.slot(Slot::B), SlotState::new(15, 7, false).unwrap());
        assert_eq!(meta.slot(Slot::A).priority(), 14);
        run(&img, SlotCmd::MarkSuccessful { slot: Slot::B }).unwrap();
        run(&img, SlotCmd::Try { slot: Slot::A }).unwrap();
        let (meta, generation, _) = read_metadata(&img).unwrap();
        assert!(meta.slot(Slot::B).successful());
        assert_eq!((meta.trial(), generation), (Some(Slot::A), 4));
        let text = show(&img).unwrap();
        for want in [
            "slot table: slot A at block 0, slot B at blocks ",
            "slot B: image ",
            "services/components, unsigned",
            "slot metadata: generation 4 (copy 1; the next write goes to copy 0)",
            "  slot B: priority 15, 7 tries left, successful",
            "  slot A: priority 14, 7 tries left, successful",
            "  one-shot trial: slot A",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }

    #[test]
    fn a_one_slot_image_is_refused_in_one_line() {
        let dir = TempDir::new("slots-one");
        let (img, _) = small_image(&dir, "one.img");
        let err = read_metadata(&img).unwrap_err().to_string();
        assert!(
            err.ends_with(": this image has one slot; build with --slots 2"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        assert!(show(&img).is_err());
        assert_eq!("b".parse::<Slot>().map_err(|_| ()), Ok(Slot::B));
        assert!(parse_slot("C").unwrap_err().contains("`C`"));
    }
}
