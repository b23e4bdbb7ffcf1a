//! The crash record's place among the kernel's user-data blocks and what the next boot does
//! with it (the format is `bootslots::crash`): read it, say it once, remember that it was said.

use alloc::string::{String, ToString};

use bootslots::crash::{self, CrashError, RecordBytes, RECORD_BLOCKS};
use loader::superblock::BLOCK_SIZE;

/// The record's blocks (region-relative): `abi::userdata::CRASH_FIRST_BLOCK..` + `CRASH_BLOCKS`.
pub const FIRST_BLOCK: u64 = abi::userdata::CRASH_FIRST_BLOCK;
const _: () = assert!(RECORD_BLOCKS as u64 == abi::userdata::CRASH_BLOCKS);
const _: () = assert!(crash::RECORD_LEN == RECORD_BLOCKS * BLOCK_SIZE);

/// What a boot found in the crash blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// No record (all zeros).
    Nothing,
    /// A record: its text (for LASTCRASH), and the warning line's headline when this boot is
    /// the first to show it (the blocks were then changed to say so: write them back).
    Record {
        text: String,
        first_shown: Option<String>,
    },
    /// A record that does not read back.
    Damaged(CrashError),
}

/// Looks at the record in `blocks` at boot `boot`: a record not shown yet is marked as shown
/// by this boot (in `blocks`).
pub fn at_boot(blocks: &mut RecordBytes, boot: u64) -> Found {
    let first_shown = match crash::decode(blocks) {
        Ok(None) => return Found::Nothing,
        Err(e) => return Found::Damaged(e),
        Ok(Some(c)) => (c.shown_at == 0).then(|| c.headline().to_string()),
    };
    if first_shown.is_some() {
        if let Err(e) = crash::mark_shown(blocks, boot.max(1)) {
            return Found::Damaged(e);
        }
    }
    match crash::decode(blocks) {
        Ok(Some(c)) => Found::Record {
            text: c.to_string(),
            first_shown,
        },
        Ok(None) => Found::Nothing,
        Err(e) => Found::Damaged(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootslots::crash::{Builder, Kind, RECORD_LEN};
    use core::fmt::Write;

    #[test]
    fn a_record_is_shown_once_and_kept() {
        let mut blocks = [0u8; RECORD_LEN];
        assert_eq!(at_boot(&mut blocks, 3), Found::Nothing);
        let mut b = Builder::new(&mut blocks, Kind::Panic, 3, 1_500_000);
        b.write_str("kernel panicked at a.rs:1:2: boom").unwrap();
        b.log_line("[    1.000000] INFO  boot: x");
        b.finish();
        let Found::Record { text, first_shown } = at_boot(&mut blocks, 4) else {
            panic!("no record");
        };
        assert_eq!(
            first_shown.as_deref(),
            Some("a kernel panic in boot #3, 1.500000 s after kernel entry: kernel panicked at a.rs:1:2: boom")
        );
        assert!(text.contains("first shown at boot #4"), "{text}");
        // The next boot finds it shown: no warning, same text.
        let Found::Record {
            text: again,
            first_shown,
        } = at_boot(&mut blocks, 5)
        else {
            panic!("no record");
        };
        assert_eq!((again, first_shown), (text, None));
        blocks[100] ^= 1;
        assert!(matches!(
            at_boot(&mut blocks, 6),
            Found::Damaged(CrashError::BadChecksum { .. })
        ));
    }
}
