//! The image's user-data region as a `pgfs::BlockDevice`, and what kind of file holds it.
//!
//! Region block `b` is image block `data_start + b` (byte `(data_start + b) * 4096`), with
//! `data_start..total_blocks` from the image's PANDAGEN superblock. Reads past the physical end
//! of the file read zeros; writes to region blocks `0..32` (the kernel's) are refused.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use loader::{Superblock, BLOCK_SIZE};
use pgfs::{Block, BlockDevice, IoError};

use crate::iso;
use crate::pack::{self, BLOCK};

/// Region blocks the kernel owns (boot counter, `test=persist` record): never written here.
pub const KERNEL_BLOCKS: u64 = pgfs::SUPER_A;

/// What the file given to `cargo xtask fs` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A disk image (`build-image`): its user-data region is in the file.
    Disk,
    /// A bare module image: its user-data region is RAM the kernel adds at boot.
    Module,
    /// An ISO 9660 image (`build-iso`) holding a module image.
    Iso,
}

impl Source {
    /// How an error message names it.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Disk => "a disk image",
            Source::Module => "a module image",
            Source::Iso => "an ISO 9660 image",
        }
    }
}

/// Where the region's bytes are.
#[derive(Debug)]
enum Backing {
    /// In an image file, from byte `start`.
    File { file: File, start: u64 },
    /// Not in the file (a module's RAM region): every block reads as zeros.
    Zero,
}

/// The user-data region of an image as a pgfs device.
#[derive(Debug)]
pub struct RegionDevice {
    backing: Backing,
    blocks: u64,
    writable: bool,
}

impl RegionDevice {
    /// The region `data_start..total_blocks` of `sb` in `file`.
    pub fn in_file(file: File, sb: &Superblock, writable: bool) -> RegionDevice {
        RegionDevice {
            backing: Backing::File {
                file,
                start: sb.data_start * BLOCK,
            },
            blocks: sb.total_blocks.saturating_sub(sb.data_start),
            writable,
        }
    }

    fn zero(blocks: u64) -> RegionDevice {
        RegionDevice {
            backing: Backing::Zero,
            blocks,
            writable: false,
        }
    }
}

impl BlockDevice for RegionDevice {
    fn block_count(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, block: u64, buf: &mut Block) -> Result<(), IoError> {
        if block >= self.blocks {
            return Err(IoError { block });
        }
        let Backing::File { file, start } = &self.backing else {
            buf.fill(0);
            return Ok(());
        };
        let mut at = start + block * BLOCK;
        let mut done = 0;
        while done < BLOCK_SIZE {
            match file.read_at(&mut buf[done..], at) {
                Ok(0) => break,
                Ok(n) => {
                    done += n;
                    at += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(IoError { block }),
            }
        }
        // Past the physical end of the file: zeros.
        buf[done..].fill(0);
        Ok(())
    }

    fn write(&mut self, block: u64, buf: &Block) -> Result<(), IoError> {
        let Backing::File { file, start } = &self.backing else {
            return Err(IoError { block });
        };
        if !self.writable || block < KERNEL_BLOCKS || block >= self.blocks {
            return Err(IoError { block });
        }
        file.write_all_at(buf, start + block * BLOCK)
            .map_err(|_| IoError { block })
    }

    fn flush(&mut self) -> Result<(), IoError> {
        match &self.backing {
            Backing::File { file, .. } if self.writable => {
                file.sync_data().map_err(|_| IoError { block: u64::MAX })
            }
            _ => Ok(()),
        }
    }
}

/// An image opened for `cargo xtask fs`: what it is and its region.
#[derive(Debug)]
pub struct Opened {
    pub source: Source,
    pub superblock: Superblock,
    pub dev: RegionDevice,
}

/// Opens `path`: a disk image (read-write when `write`), or read-only an ISO (its module) or a
/// bare module file. A writing command on a read-only input is refused here, clearly.
pub fn open(path: &Path, write: bool) -> Result<Opened> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let file_bytes = file.metadata()?.len();
    if iso::is_iso9660(&mut file)? {
        let found = iso::find_module(&mut file)
            .with_context(|| format!("{} is an ISO 9660 image", path.display()))?;
        let mut block0 = [0u8; BLOCK_SIZE];
        file.seek(SeekFrom::Start(found.offset))?;
        file.read_exact(&mut block0)
            .with_context(|| format!("reading {} from the ISO", found.name))?;
        let sb = decode(path, &block0)?;
        return read_only(path, Source::Iso, sb, write);
    }
    let mut block0 = [0u8; BLOCK_SIZE];
    file.seek(SeekFrom::Start(0))?;
    if file_bytes < BLOCK || file.read_exact(&mut block0).is_err() {
        bail!(
            "{}: not a PandaGen image (shorter than one block)",
            path.display()
        );
    }
    let sb = decode(path, &block0)?;
    if pack::is_module_file(&sb, file_bytes) {
        return read_only(path, Source::Module, sb, write);
    }
    if write {
        file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {} for writing", path.display()))?;
    }
    Ok(Opened {
        source: Source::Disk,
        superblock: sb,
        dev: RegionDevice::in_file(file, &sb, write),
    })
}

fn decode(path: &Path, block0: &[u8]) -> Result<Superblock> {
    let sb = Superblock::decode(block0)
        .map_err(|e| anyhow::anyhow!("{}: not a PandaGen image (block 0: {e})", path.display()))?;
    sb.validate(None)
        .map_err(|e| anyhow::anyhow!("{}: block 0: {e}", path.display()))?;
    Ok(sb)
}

fn read_only(path: &Path, source: Source, sb: Superblock, write: bool) -> Result<Opened> {
    if write {
        bail!(
            "{}: is {} (read-only: its user-data region is RAM the kernel adds at boot); \
             only ls, cat, get, df and check work on it",
            path.display(),
            source.describe()
        );
    }
    Ok(Opened {
        source,
        superblock: sb,
        dev: RegionDevice::zero(sb.total_blocks.saturating_sub(sb.data_start)),
    })
}
