//! Start-up: mount the filesystem, format a blank region, convert the milestone-1 store, or
//! say why the filesystem is unavailable — never format over anything that is not blank.

use core::fmt;

use pgfs::{BlockDevice, Fs, MountReport, Time};
use storage_format::convert::{self, ConvertError, ConvertReport, RegionState};

/// What start-up did.
#[derive(Debug)]
pub enum Startup {
    /// An existing filesystem was mounted.
    Mounted(MountReport),
    /// The region was blank (or its first format was cut): a new filesystem was made.
    Formatted,
    /// The milestone-1 record store was converted, keeping every file.
    Converted(ConvertReport),
}

/// Why the filesystem is unavailable (the service answers `Unavailable` to every request).
#[derive(Debug)]
pub enum StartError {
    /// Mounting failed and the region is not blank (damaged roots, newer version, unknown data,
    /// I/O error): nothing was written.
    Mount(pgfs::Error),
    /// The region is blank but formatting it failed.
    Format(pgfs::Error),
    /// The old store could not be converted (it is left as it was).
    Convert(ConvertError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Mount(e) => write!(f, "cannot mount: {e}; nothing was written"),
            StartError::Format(e) => write!(f, "cannot format the blank region: {e}"),
            StartError::Convert(e) => write!(f, "cannot convert the old store: {e}"),
        }
    }
}

/// Mounts the filesystem on the device `open` gives (called again for each attempt, since a
/// failed mount consumes the device). Only if the mount fails are blocks 32 and 33 looked at:
/// a blank region (or a cut first format) is formatted, the old store (or a cut conversion)
/// converted; anything else is left untouched.
pub fn start<D: BlockDevice>(
    mut open: impl FnMut() -> D,
    now: Time,
) -> Result<(Fs<D>, Startup), StartError> {
    let e = match Fs::mount(open()) {
        Ok((fs, report)) => return Ok((fs, Startup::Mounted(report))),
        Err(e) => e,
    };
    match classify(&mut open())? {
        RegionState::OldStore | RegionState::Interrupted => {
            let (fs, report) = convert::to_pgfs(open(), now).map_err(StartError::Convert)?;
            Ok((fs, Startup::Converted(report)))
        }
        RegionState::Blank => {
            let fs = Fs::format(open(), now, &[]).map_err(StartError::Format)?;
            Ok((fs, Startup::Formatted))
        }
        RegionState::Pgfs | RegionState::Unknown => Err(StartError::Mount(e)),
    }
}

fn classify<D: BlockDevice>(dev: &mut D) -> Result<RegionState, StartError> {
    let mut b32 = [0u8; pgfs::BLOCK_SIZE];
    let mut b33 = [0u8; pgfs::BLOCK_SIZE];
    for (block, buf) in [(pgfs::SUPER_A, &mut b32), (pgfs::SUPER_B, &mut b33)] {
        dev.read(block, buf)
            .map_err(|e| StartError::Mount(pgfs::Error::from(e)))?;
    }
    Ok(convert::classify(&b32, &b33))
}
