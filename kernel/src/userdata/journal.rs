//! The boot journal in the kernel's user-data blocks (format: `bootslots::journal`, two copies
//! at [`abi::userdata::JOURNAL_BLOCKS`]): one record per boot — `started` once the image is
//! verified, then `up` or `failed` after the start sequence, or `refused` — so nobody has to
//! guess what the last boots did (`bootlog` on the console, `cargo xtask inspect`).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bootslots::journal::{Journal, Outcome, Record};
use loader::superblock::BLOCK_SIZE;

/// Region-relative blocks of the two copies.
pub const BLOCKS: [u64; 2] = abi::userdata::JOURNAL_BLOCKS;

/// The journal as read, and where the next copy goes.
pub struct Stored {
    pub journal: Journal,
    generation: u64,
    write_to: usize,
}

impl Stored {
    /// The journal from its two copies; a fresh one (said by the caller) when neither is valid.
    pub fn from_copies(copies: [&[u8; BLOCK_SIZE]; 2]) -> (Self, bool) {
        match bootslots::journal::pick([&copies[0][..], &copies[1][..]]) {
            Ok((journal, generation, write_to)) => (
                Self {
                    journal,
                    generation,
                    write_to,
                },
                true,
            ),
            Err(_) => (
                Self {
                    journal: Journal::new(),
                    generation: 0,
                    write_to: 0,
                },
                false,
            ),
        }
    }

    /// Adds this boot's record.
    pub fn start(&mut self, boot: u32, outcome: Outcome, reason: &str) {
        self.journal.push(Record::new(boot, None, outcome, reason));
    }

    /// Adds a record made by the caller (a slot choice, a refusal).
    pub fn push(&mut self, record: Record) {
        self.journal.push(record);
    }

    /// Sets this boot's outcome (the newest record's).
    pub fn finish(&mut self, outcome: Outcome, reason: &str) {
        // The newest record exists: `start` ran first.
        let _ = self.journal.update_newest(outcome, reason);
    }

    /// Encodes the next copy into `out`; returns the region-relative block it goes to (the
    /// older copy, so a cut write leaves the previous journal readable).
    pub fn next_copy(&mut self, out: &mut [u8; BLOCK_SIZE]) -> u64 {
        self.generation = bootslots::block::next_generation(self.generation);
        self.journal.encode(self.generation, out);
        let block = BLOCKS[self.write_to];
        self.write_to = 1 - self.write_to;
        block
    }

    /// One line per boot, newest first.
    pub fn lines(&self) -> Vec<String> {
        self.journal.iter().map(|r| r.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_write_cut_in_the_newer_copy() {
        let zero = [0u8; BLOCK_SIZE];
        let (mut s, valid) = Stored::from_copies([&zero, &zero]);
        assert!(!valid);
        let mut copies = [[0u8; BLOCK_SIZE]; 2];
        s.start(1, Outcome::Started, "");
        let b = s.next_copy(&mut copies[0]);
        assert_eq!(b, BLOCKS[0]);
        s.finish(Outcome::Up, "4 entries came up");
        let b = s.next_copy(&mut copies[1]);
        assert_eq!(b, BLOCKS[1]);
        let (back, _) = Stored::from_copies([&copies[0], &copies[1]]);
        assert_eq!(back.lines(), ["#1: up (4 entries came up)"]);
        // The next write goes to copy 0; cut it half-way: copy 1 still reads.
        let (mut next, _) = Stored::from_copies([&copies[0], &copies[1]]);
        next.start(2, Outcome::Started, "");
        let mut torn = [0u8; BLOCK_SIZE];
        assert_eq!(next.next_copy(&mut torn), BLOCKS[0]);
        torn[1000..].fill(0);
        let (after, valid) = Stored::from_copies([&torn, &copies[1]]);
        assert!(valid);
        assert_eq!(after.lines(), ["#1: up (4 entries came up)"]);
    }
}
