//! `services_storage`: the storage service. For now it proves its `block_device` grant works:
//! after READY it writes one 4 KiB block with a known pattern to user-data block
//! [`TEST_BLOCK`], reads it back and compares, logs the outcome and exits (0 on success, 1 on
//! any failure).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::abi::USERDATA_BLOCK_SIZE;

runtime::entry!(main);

const NAME: &str = "services_storage";

/// The user-data block the self-test uses. Blocks 0 and 1 belong to the kernel (boot counter,
/// persistence-test record).
const TEST_BLOCK: u64 = 2;

fn main() -> i32 {
    runtime::announce(NAME);
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    match self_test() {
        Ok(blocks) => {
            runtime::info!("{NAME}: user-data region read/write OK ({blocks} blocks)");
            0
        }
        Err(what) => {
            runtime::error!("{NAME}: user-data self-test failed: {what}");
            1
        }
    }
}

/// Byte `i` of the test pattern: not constant, not periodic within a block, and different from
/// a zeroed or an all-ones block.
fn pattern(i: usize) -> u8 {
    let x = (i as u32).wrapping_mul(0x9E37_79B1) ^ 0x5A5A_0000;
    (x >> 24) as u8 ^ i as u8
}

/// What went wrong in the self-test (formatted into the error line).
enum Failure {
    Info(runtime::Error),
    TooSmall(u64),
    Write(runtime::Error),
    Read(runtime::Error),
    Mismatch { offset: usize, want: u8, got: u8 },
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::Info(e) => write!(f, "USERDATA_INFO: {e}"),
            Failure::TooSmall(n) => write!(
                f,
                "the user-data region has {n} blocks; block {TEST_BLOCK} is outside it"
            ),
            Failure::Write(e) => write!(f, "USERDATA_WRITE of block {TEST_BLOCK}: {e}"),
            Failure::Read(e) => write!(f, "USERDATA_READ of block {TEST_BLOCK}: {e}"),
            Failure::Mismatch { offset, want, got } => write!(
                f,
                "block {TEST_BLOCK} read back differs at byte {offset}: wrote {want:#04x}, read {got:#04x}"
            ),
        }
    }
}

/// Writes the pattern to [`TEST_BLOCK`], reads it back into the same (cleared) buffer and
/// compares; returns the region's size in blocks.
fn self_test() -> Result<u64, Failure> {
    let blocks = runtime::userdata_info().map_err(Failure::Info)?;
    if blocks <= TEST_BLOCK {
        return Err(Failure::TooSmall(blocks));
    }
    // One buffer (the stack is small): written, cleared, read back, checked against the pattern.
    let mut buf = [0u8; USERDATA_BLOCK_SIZE];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(i);
    }
    runtime::userdata_write(TEST_BLOCK, &buf).map_err(Failure::Write)?;
    buf.fill(0);
    runtime::userdata_read(TEST_BLOCK, &mut buf).map_err(Failure::Read)?;
    match buf.iter().enumerate().find(|&(i, &b)| b != pattern(i)) {
        Some((offset, &got)) => Err(Failure::Mismatch {
            offset,
            want: pattern(offset),
            got,
        }),
        None => Ok(blocks),
    }
}
