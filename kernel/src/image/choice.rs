//! Which source the boot verifies: a disk whose block 0 is the booted image, or the boot module.
//!
//! Block 0 of every disk is read ([`read_block0`]) and judged ([`judge`]) against the boot
//! module, when the boot loader brought the system image as one; [`choose`] then takes the first
//! candidate disk, else the module. A disk whose block 0 has the PANDAGEN magic but does not
//! decode cannot be shown to carry the module's image, so with a module it is passed over; with
//! no module it is the only image there is, and verifying it reports why it is damaged.

use alloc::vec::Vec;

use drivers::block::BlockDevice;
use loader::error::LoadError;
use loader::superblock::{Superblock, MAGIC};
use loader::verify::BlockSource;

use super::source::{DiskSource, SourceError};

/// An image's identity (block 0, bytes 48..64).
pub type ImageId = [u8; 16];

/// What block 0 of a disk holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block0 {
    /// No PANDAGEN magic (or no blocks at all): not an image.
    NoMagic,
    /// The magic and a superblock that decodes.
    Image(Superblock),
    /// The magic, but the superblock does not decode (damaged, or another format version).
    Damaged(LoadError),
}

/// Reads block 0 of `device` into `block` (one image block) and says what it holds.
///
/// # Errors
/// When the device cannot serve image blocks or the read fails.
pub fn read_block0(device: &mut dyn BlockDevice, block: &mut [u8]) -> Result<Block0, SourceError> {
    let mut src = DiskSource::new(device)?;
    if src.block_count() == 0 {
        return Ok(Block0::NoMagic);
    }
    src.read_blocks(0, block)?;
    if block.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Ok(Block0::NoMagic);
    }
    Ok(match Superblock::decode(block) {
        Ok(sb) => Block0::Image(sb),
        Err(e) => Block0::Damaged(e),
    })
}

/// The boot module that carries the system image, as far as choosing goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Module {
    /// The boot loader brought no such module.
    Absent,
    /// There is one, but its block 0 does not decode (booting from it reports why).
    Undecodable,
    /// There is one, carrying this image.
    Image(ImageId),
}

impl Module {
    /// What `module` (the module's bytes, if the boot loader brought one) carries.
    pub fn of(module: Option<&[u8]>) -> Self {
        match module.map(Superblock::decode) {
            None => Self::Absent,
            Some(Ok(sb)) => Self::Image(sb.image_id),
            Some(Err(_)) => Self::Undecodable,
        }
    }
}

/// What the boot makes of one disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Block 0 could not be read.
    Unreadable(SourceError),
    /// No PANDAGEN magic: not the image.
    NoImage,
    /// A valid superblock of another image than the boot module's (its id).
    OtherImage(ImageId),
    /// The magic and a superblock that does not decode, with a boot module to boot from
    /// instead: passed over (why it does not decode).
    PassedOver(LoadError),
    /// The image to verify, if it is the first candidate. Without a module this includes a
    /// disk whose superblock does not decode: its verification then fails and says why.
    Candidate,
}

/// Judges one disk's block 0 against the boot module.
pub fn judge(block0: Block0, module: Module) -> Verdict {
    match block0 {
        Block0::NoMagic => Verdict::NoImage,
        Block0::Image(sb) => match module {
            Module::Image(id) if id != sb.image_id => Verdict::OtherImage(sb.image_id),
            _ => Verdict::Candidate,
        },
        Block0::Damaged(e) if module != Module::Absent => Verdict::PassedOver(e),
        Block0::Damaged(_) => Verdict::Candidate,
    }
}

/// Reads and judges block 0 of every device, in order; `block` is one image block of scratch.
pub fn survey<'a>(
    devices: impl Iterator<Item = &'a mut dyn BlockDevice>,
    module: Module,
    block: &mut [u8],
) -> Vec<Verdict> {
    devices
        .map(|device| match read_block0(device, block) {
            Ok(block0) => judge(block0, module),
            Err(e) => Verdict::Unreadable(e),
        })
        .collect()
}

/// Where the image to verify comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The disk at this index of the surveyed list.
    Disk(usize),
    /// The boot module.
    Module,
}

/// The first candidate disk, else the boot module if there is one; `None`: no image anywhere.
pub fn choose(verdicts: &[Verdict], module: Module) -> Option<Source> {
    match verdicts.iter().position(|v| *v == Verdict::Candidate) {
        Some(i) => Some(Source::Disk(i)),
        None if module != Module::Absent => Some(Source::Module),
        None => None,
    }
}

#[cfg(test)]
mod tests;
