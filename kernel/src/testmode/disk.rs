//! `test=disk`: probe, then on every disk read block 0 (logging its first 16 bytes), check the
//! unaligned-read helper and the 4 KiB adapter against it, and time reading up to 16 MiB in
//! 64 KiB requests. On every writable disk that is not the PANDAGEN image (block 0 without the
//! magic) also time writing up to 4 MiB, then write a 64 KiB pattern ([`PATTERN_HEADER`],
//! [`pattern_byte`]) over the last 64 KiB, flush, and read it back. Ends with read and write
//! throughput per controller.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use bootlog::msg::{DISK_PATTERN_END, DISK_PATTERN_MIDDLE, DISK_TEST_START, DISK_THROUGHPUT_START};
use drivers::block::{read_bytes_at, BlockDevice, BlockError, Blocks4K};
use drivers::pci::PciAddress;

use crate::devices::{self, hal, Disk};
use crate::time;

/// How much the throughput measurement reads, and in what request size.
const MEASURE_BYTES: u64 = 16 * 1024 * 1024;
const MEASURE_REQUEST: usize = 64 * 1024;
/// How much the write measurement writes (on disks that are not the image), ending where the
/// pattern area starts.
const MEASURE_WRITE_BYTES: u64 = 4 * 1024 * 1024;
/// The pattern written, flushed and read back at the end of every disk that is not the image.
pub const PATTERN_BYTES: usize = 64 * 1024;
/// The pattern's first 16 bytes; byte `i >= 16` is [`pattern_byte`]`(i)`.
pub const PATTERN_HEADER: &[u8; 16] = b"PANDAGEN-DISKTST";

/// Byte `i` of the write pattern (after its 16-byte header).
pub fn pattern_byte(i: usize) -> u8 {
    (i.wrapping_mul(7) + i / 4096 + 0x5a) as u8
}

/// A block-device operation of the check, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Block0,
    ReadBytesAt,
    FourKBlock0,
    ThroughputRead(u64),
    ThroughputWrite(u64),
    WritePattern(u64),
    Flush,
    ReadPatternBack,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Block0 => write!(f, "reading block 0"),
            Self::ReadBytesAt => write!(f, "read_bytes_at"),
            Self::FourKBlock0 => write!(f, "4 KiB block 0"),
            Self::ThroughputRead(i) => write!(f, "throughput read {i}"),
            Self::ThroughputWrite(i) => write!(f, "throughput write {i}"),
            Self::WritePattern(lba) => write!(f, "writing the pattern at LBA {lba}"),
            Self::Flush => write!(f, "flush"),
            Self::ReadPatternBack => write!(f, "reading the pattern back"),
        }
    }
}

/// Why a disk failed the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckError {
    /// A block-device operation failed.
    Io { step: Step, error: BlockError },
    /// `read_bytes_at(3, 5)` disagreed with block 0.
    ReadBytesAt { got: [u8; 5] },
    /// A read past the last block did not answer `OutOfRange`.
    PastEnd(Result<(), BlockError>),
    /// The 4 KiB adapter's block 0 does not start with the native block 0.
    FourKMismatch,
    /// A write to a read-only disk did not answer `ReadOnly`.
    ReadOnlyWrite(Result<(), BlockError>),
    /// The pattern read back differs at byte `at`.
    PatternDiffers { at: usize, lba: u64 },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { step, error } => write!(f, "{step}: {error}"),
            Self::ReadBytesAt { got } => write!(f, "read_bytes_at(3, 5) gave {got:02x?}"),
            Self::PastEnd(got) => write!(f, "reading past the end gave {got:?}"),
            Self::FourKMismatch => write!(f, "4 KiB block 0 does not start with block 0"),
            Self::ReadOnlyWrite(got) => write!(f, "writing a read-only disk gave {got:?}"),
            Self::PatternDiffers { at, lba } => {
                write!(f, "pattern read back differs at byte {at} (LBA {lba})")
            }
        }
    }
}

/// Tags a block-device result with the step it belongs to.
fn io<T>(step: Step, r: Result<T, BlockError>) -> Result<T, CheckError> {
    r.map_err(|error| CheckError::Io { step, error })
}

/// A throughput sample: bytes moved in microseconds.
#[derive(Clone, Copy, Default)]
struct Rate {
    bytes: u64,
    us: u64,
}

impl Rate {
    fn add(&mut self, other: Rate) {
        self.bytes += other.bytes;
        self.us += other.us;
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.us.max(1);
        let mib_x100 = self.bytes as u128 * 100 * 1_000_000 / (us as u128 * 1024 * 1024);
        write!(
            f,
            "{} KiB in {}.{:03} ms ({}.{:02} MiB/s)",
            self.bytes / 1024,
            us / 1000,
            us % 1000,
            mib_x100 / 100,
            mib_x100 % 100
        )
    }
}

/// What [`check_disk`] measured.
#[derive(Default)]
struct DiskRates {
    read: Option<Rate>,
    write: Option<Rate>,
}

/// Read and write totals of one controller.
struct Controller {
    address: PciAddress,
    kind: crate::devices::DiskKind,
    read: Rate,
    write: Rate,
}

/// The scenario (see the module documentation). True if at least one disk was found, no disk
/// failed to come up and every check passed.
pub fn run() -> bool {
    let probe = devices::probe();
    if probe.disks.is_empty() {
        log::error!("test=disk: no disk found");
        return false;
    }
    let mut ok = probe.failed.is_empty();
    let mut controllers: Vec<Controller> = Vec::new();
    for mut disk in probe.disks {
        match check_disk(&mut disk) {
            Ok(rates) => add_rates(&mut controllers, &disk, &rates),
            Err(e) => {
                log::error!("test=disk: {}: {e}", disk.location);
                ok = false;
            }
        }
    }
    log_throughput(&controllers);
    ok
}

/// Adds one disk's rates to its controller's totals.
fn add_rates(controllers: &mut Vec<Controller>, disk: &Disk, rates: &DiskRates) {
    let i = match controllers.iter().position(|c| c.address == disk.address) {
        Some(i) => i,
        None => {
            controllers.push(Controller {
                address: disk.address,
                kind: disk.kind,
                read: Rate::default(),
                write: Rate::default(),
            });
            controllers.len() - 1
        }
    };
    if let Some(r) = rates.read {
        controllers[i].read.add(r);
    }
    if let Some(w) = rates.write {
        controllers[i].write.add(w);
    }
}

/// The per-controller throughput lines and the bounce count.
fn log_throughput(controllers: &[Controller]) {
    for c in controllers {
        let write = if c.write.bytes > 0 {
            alloc::format!("{}", c.write)
        } else {
            String::from("not measured (no writable non-image disk)")
        };
        log::info!(
            "{DISK_THROUGHPUT_START}{} ({}): read {}; write {write}",
            c.address,
            c.kind,
            c.read
        );
    }
    log::info!(
        "test=disk: {} buffer(s) bounced (not physically contiguous)",
        hal::BOUNCED.load(core::sync::atomic::Ordering::Relaxed)
    );
}

/// Checks one disk: reads, then (if it may be written) writes.
fn check_disk(disk: &mut Disk) -> Result<DiskRates, CheckError> {
    let loc = disk.location.as_str();
    let dev = &mut *disk.device;
    let block = read_block0(dev, loc)?;
    check_read_helpers(dev, &block)?;
    let mut rates = DiskRates {
        read: measure_read(dev, loc)?,
        write: None,
    };
    if let Some(pattern_lba) = writable_pattern_area(dev, loc, &block)? {
        rates.write = measure_write(dev, loc, pattern_lba)?;
        write_pattern(dev, loc, pattern_lba)?;
    }
    Ok(rates)
}

/// Reads block 0 and logs its first 16 bytes.
fn read_block0(dev: &mut dyn BlockDevice, loc: &str) -> Result<Vec<u8>, CheckError> {
    let mut block = vec![0u8; dev.block_size()];
    io(Step::Block0, dev.read_blocks(0, &mut block))?;
    log::info!("test=disk: {loc} block 0: {}", hex_ascii(&block[..16]));
    Ok(block)
}

/// The unaligned-read helper, the end-of-disk check and the 4 KiB adapter, against block 0.
fn check_read_helpers(dev: &mut dyn BlockDevice, block: &[u8]) -> Result<(), CheckError> {
    let mut few = [0u8; 5];
    io(Step::ReadBytesAt, read_bytes_at(dev, 3, &mut few))?;
    if few[..] != block[3..8] {
        return Err(CheckError::ReadBytesAt { got: few });
    }
    let mut scratch = vec![0u8; block.len()];
    match dev.read_blocks(dev.num_blocks(), &mut scratch) {
        Err(BlockError::OutOfRange { .. }) => {}
        other => return Err(CheckError::PastEnd(other)),
    }
    if let Ok(mut big) = Blocks4K::new(&mut *dev) {
        if big.num_blocks() > 0 {
            let mut page = vec![0u8; 4096];
            io(Step::FourKBlock0, big.read_blocks(0, &mut page))?;
            if page[..block.len()] != block[..] {
                return Err(CheckError::FourKMismatch);
            }
        }
    }
    Ok(())
}

/// Times reading up to [`MEASURE_BYTES`] in [`MEASURE_REQUEST`] requests from block 0.
fn measure_read(dev: &mut dyn BlockDevice, loc: &str) -> Result<Option<Rate>, CheckError> {
    let bs = dev.block_size();
    let capacity = dev.num_blocks() * bs as u64;
    let total = capacity.min(MEASURE_BYTES) / MEASURE_REQUEST as u64 * MEASURE_REQUEST as u64;
    if total == 0 {
        return Ok(None);
    }
    let mut buf = vec![0u8; MEASURE_REQUEST];
    let per_request = (MEASURE_REQUEST / bs) as u64;
    let start = time::uptime_us();
    for i in 0..total / MEASURE_REQUEST as u64 {
        io(
            Step::ThroughputRead(i),
            dev.read_blocks(i * per_request, &mut buf),
        )?;
    }
    let rate = Rate {
        bytes: total,
        us: (time::uptime_us() - start).max(1),
    };
    log::info!(
        "test=disk: {loc} read {rate} in {} KiB requests",
        MEASURE_REQUEST / 1024
    );
    Ok(Some(rate))
}

/// Where the pattern goes (its first LBA), or `None` if the disk must not or cannot be
/// written: it carries the image, it is read-only (then a write must be refused), or it is
/// too small.
fn writable_pattern_area(
    dev: &mut dyn BlockDevice,
    loc: &str,
    block: &[u8],
) -> Result<Option<u64>, CheckError> {
    if block.starts_with(&loader::superblock::MAGIC) {
        log::info!("test=disk: {loc} carries the PANDAGEN image: not written");
        return Ok(None);
    }
    if dev.is_read_only() {
        return match dev.write_blocks(0, block) {
            Err(BlockError::ReadOnly) => {
                log::info!("test=disk: {loc} is read-only: writes refused as they should be");
                Ok(None)
            }
            other => Err(CheckError::ReadOnlyWrite(other)),
        };
    }
    let bs = dev.block_size();
    if dev.num_blocks() * (bs as u64) < 2 * PATTERN_BYTES as u64 {
        log::info!("test=disk: {loc} is too small for the write test");
        return Ok(None);
    }
    Ok(Some(dev.num_blocks() - (PATTERN_BYTES / bs) as u64))
}

/// Times writing up to [`MEASURE_WRITE_BYTES`] in [`MEASURE_REQUEST`] requests, ending at
/// `pattern_lba`.
fn measure_write(
    dev: &mut dyn BlockDevice,
    loc: &str,
    pattern_lba: u64,
) -> Result<Option<Rate>, CheckError> {
    let bs = dev.block_size();
    let room = dev.num_blocks() * bs as u64 - PATTERN_BYTES as u64;
    let total = room.min(MEASURE_WRITE_BYTES) / MEASURE_REQUEST as u64 * MEASURE_REQUEST as u64;
    if total == 0 {
        return Ok(None);
    }
    let first = pattern_lba - total / bs as u64;
    let per_request = (MEASURE_REQUEST / bs) as u64;
    let buf: Vec<u8> = (0..MEASURE_REQUEST).map(|i| (i as u8) ^ 0xa5).collect();
    let start = time::uptime_us();
    for i in 0..total / MEASURE_REQUEST as u64 {
        io(
            Step::ThroughputWrite(i),
            dev.write_blocks(first + i * per_request, &buf),
        )?;
    }
    let rate = Rate {
        bytes: total,
        us: (time::uptime_us() - start).max(1),
    };
    log::info!(
        "test=disk: {loc} wrote {rate} in {} KiB requests at LBA {first}",
        MEASURE_REQUEST / 1024
    );
    Ok(Some(rate))
}

/// Writes the pattern at `pattern_lba`, flushes, reads it back and compares.
fn write_pattern(dev: &mut dyn BlockDevice, loc: &str, pattern_lba: u64) -> Result<(), CheckError> {
    let mut pattern: Vec<u8> = (0..PATTERN_BYTES).map(pattern_byte).collect();
    pattern[..16].copy_from_slice(PATTERN_HEADER);
    io(
        Step::WritePattern(pattern_lba),
        dev.write_blocks(pattern_lba, &pattern),
    )?;
    let start = time::uptime_us();
    io(Step::Flush, dev.flush())?;
    let flush_us = time::uptime_us() - start;
    let mut back = vec![0u8; PATTERN_BYTES];
    io(
        Step::ReadPatternBack,
        dev.read_blocks(pattern_lba, &mut back),
    )?;
    if let Some(at) = back.iter().zip(&pattern).position(|(a, b)| a != b) {
        return Err(CheckError::PatternDiffers {
            at,
            lba: pattern_lba,
        });
    }
    log::info!(
        "{DISK_TEST_START}{loc} wrote, flushed ({}.{:03} ms) and read back the {}{DISK_PATTERN_MIDDLE}{pattern_lba} (last {} KiB){DISK_PATTERN_END}",
        flush_us / 1000,
        flush_us % 1000,
        PATTERN_BYTES / 1024,
        PATTERN_BYTES / 1024
    );
    Ok(())
}

/// Bytes as hex pairs and printable ASCII, for the log.
fn hex_ascii(bytes: &[u8]) -> String {
    let mut s = String::new();
    for b in bytes {
        let _ = write!(s, "{b:02x} ");
    }
    s.push('|');
    s.extend(bytes.iter().map(|&b| {
        if (0x20..0x7f).contains(&b) {
            b as char
        } else {
            '.'
        }
    }));
    s.push('|');
    s
}
