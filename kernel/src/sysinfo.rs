//! What the system-information calls (SERVICES, MANIFEST, COMPONENT_CAPS, BOOTCOUNT, BOOTLOG,
//! SLOTS, SLOT_SET, LASTCRASH) report: the boot path fills it in, the process core's system calls read it.
//! It depends on neither, so the direction stays boot → sysinfo ← process: a system call never
//! reaches into the boot orchestrator.
//!
//! Pure data behind spin locks; host-tested on its own [`SysInfo`] values. The kernel uses the
//! one in [`SYSINFO`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use bootslots::Slot;
use spin::Mutex;

/// Gives the supervisor's state table as it is now, lines joined with `\n`. Boot installs one
/// once the start sequence is over (it follows the processes, so it is a function, not text).
pub type TableFn = Box<dyn Fn() -> String + Send>;

/// What SERVICES returns before boot installed its table.
pub const TABLE_PENDING: &str = "the start sequence is still running";

/// Where the slots' rooms lie on the disk, in 4096-byte blocks (the boot path records it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRooms {
    /// Slot B's first block; slot A's room is `0..b_start`.
    pub b_start: u64,
    /// Slot B's room in blocks.
    pub b_blocks: u64,
    /// The user-data region's first block (the disk's `data_start`): never in a room.
    pub data_start: u64,
    /// The disk's last block + 1 (the region's end).
    pub total_blocks: u64,
}

impl SlotRooms {
    /// `slot`'s room: its first block and length in blocks.
    pub const fn room(&self, slot: Slot) -> (u64, u64) {
        match slot {
            Slot::A => (0, self.b_start),
            Slot::B => (self.b_start, self.b_blocks),
        }
    }
}

/// The information the system calls hand out.
pub struct SysInfo {
    /// The image's manifest as JSON (MANIFEST).
    manifest_json: Mutex<Option<Vec<u8>>>,
    /// This boot's number (BOOTCOUNT); 0: unknown.
    boot_count: AtomicU64,
    /// Each manifest entry and the capability record it was granted (COMPONENT_CAPS), in
    /// manifest order.
    caps: Mutex<Vec<(String, String)>>,
    /// The live state table (SERVICES).
    table: Mutex<Option<TableFn>>,
    /// The boot journal, one line per boot, newest first (BOOTLOG); `None`: no journal.
    boot_journal: Mutex<Option<Vec<String>>>,
    /// The system slot this boot runs (SLOTS, SLOT_SET); `None`: a one-slot image.
    booted_slot: Mutex<Option<Slot>>,
    /// The crash record as text (LASTCRASH); `None`: none.
    last_crash: Mutex<Option<String>>,
    /// Where the slots' rooms lie (SLOT_READ, SLOT_WRITE); `None`: a one-slot image.
    slot_rooms: Mutex<Option<SlotRooms>>,
}

impl SysInfo {
    /// Nothing known yet.
    pub const fn new() -> SysInfo {
        SysInfo {
            manifest_json: Mutex::new(None),
            boot_count: AtomicU64::new(0),
            caps: Mutex::new(Vec::new()),
            table: Mutex::new(None),
            boot_journal: Mutex::new(None),
            booted_slot: Mutex::new(None),
            last_crash: Mutex::new(None),
            slot_rooms: Mutex::new(None),
        }
    }

    /// Records where the slots' rooms lie (the boot path, on a two-slot image).
    pub fn set_slot_rooms(&self, rooms: SlotRooms) {
        *self.slot_rooms.lock() = Some(rooms);
    }

    /// Where the slots' rooms lie; `None` for a one-slot image.
    pub fn slot_rooms(&self) -> Option<SlotRooms> {
        *self.slot_rooms.lock()
    }

    /// Records which system slot this boot runs: `Some` on a two-slot image, `None` on a
    /// one-slot image (the boot path calls it; until then the image counts as one-slot).
    pub fn set_booted_slot(&self, slot: Option<Slot>) {
        *self.booted_slot.lock() = slot;
    }

    /// The system slot this boot runs; `None` for a one-slot image.
    pub fn booted_slot(&self) -> Option<Slot> {
        *self.booted_slot.lock()
    }

    /// Keeps the crash record's text, for LASTCRASH.
    pub fn set_last_crash(&self, text: String) {
        *self.last_crash.lock() = Some(text);
    }

    /// The crash record's text; `None` when the user data holds none.
    pub fn last_crash(&self) -> Option<String> {
        self.last_crash.lock().clone()
    }

    /// Keeps the boot journal's lines (newest first), for BOOTLOG.
    pub fn set_boot_journal(&self, lines: Vec<String>) {
        *self.boot_journal.lock() = Some(lines);
    }

    /// The boot journal's lines joined with `\n`; `None` when there is no journal.
    pub fn boot_journal(&self) -> Option<String> {
        self.boot_journal.lock().as_ref().map(|l| l.join("\n"))
    }

    /// Keeps the manifest's JSON text.
    pub fn set_manifest_json(&self, json: Vec<u8>) {
        *self.manifest_json.lock() = Some(json);
    }

    /// Runs `f` on the manifest's JSON text; `None` when there is none.
    pub fn with_manifest_json<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.manifest_json.lock().as_deref().map(f)
    }

    /// Keeps this boot's number (0 stands for unknown).
    pub fn set_boot_count(&self, count: u64) {
        self.boot_count.store(count, Ordering::Relaxed);
    }

    /// This boot's number, when it is known.
    pub fn boot_count(&self) -> Option<u64> {
        match self.boot_count.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// Sets the entries and what each was granted (`name`, capability record as CAPS
    /// writes it; empty when granted nothing, or nothing yet). Replaces the earlier list.
    pub fn set_component_caps(&self, caps: Vec<(String, String)>) {
        *self.caps.lock() = caps;
    }

    /// Sets entry `name`'s capability record (when it is started, before the whole sequence
    /// is published); a name not in the table is added.
    pub fn set_caps_of(&self, name: &str, record: String) {
        let mut caps = self.caps.lock();
        match caps.iter_mut().find(|(n, _)| n == name) {
            Some((_, r)) => *r = record,
            None => caps.push((String::from(name), record)),
        }
    }

    /// The capability record granted to entry `name`; `None` when the manifest has no such
    /// entry.
    pub fn component_caps(&self, name: &str) -> Option<String> {
        self.caps
            .lock()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, record)| record.clone())
    }

    /// Installs the state table's source.
    pub fn set_table(&self, table: TableFn) {
        *self.table.lock() = Some(table);
    }

    /// The state table now, or [`TABLE_PENDING`] before one is installed.
    pub fn table(&self) -> String {
        match self.table.lock().as_ref() {
            Some(table) => table(),
            None => String::from(TABLE_PENDING),
        }
    }
}

impl Default for SysInfo {
    fn default() -> Self {
        SysInfo::new()
    }
}

/// The kernel's system information.
pub static SYSINFO: SysInfo = SysInfo::new();

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn nothing_known_at_first() {
        let info = SysInfo::new();
        assert_eq!(info.boot_count(), None);
        assert_eq!(info.with_manifest_json(<[u8]>::len), None);
        assert_eq!(info.component_caps("shell"), None);
        assert_eq!(info.table(), TABLE_PENDING);
        assert_eq!(info.boot_journal(), None);
        assert_eq!(info.booted_slot(), None);
        assert_eq!(info.last_crash(), None);
        info.set_last_crash("a kernel panic".into());
        assert_eq!(info.last_crash().as_deref(), Some("a kernel panic"));
    }

    #[test]
    fn the_booted_slot_is_what_boot_set() {
        let info = SysInfo::new();
        info.set_booted_slot(Some(Slot::B));
        assert_eq!(info.booted_slot(), Some(Slot::B));
        info.set_booted_slot(Some(Slot::A));
        assert_eq!(info.booted_slot(), Some(Slot::A));
        info.set_booted_slot(None);
        assert_eq!(info.booted_slot(), None);
    }

    #[test]
    fn the_boot_journal_is_its_lines_newest_first() {
        let info = SysInfo::new();
        info.set_boot_journal(Vec::new());
        assert_eq!(info.boot_journal().as_deref(), Some(""));
        info.set_boot_journal(vec![
            "#12 slot B: fell back from A (tries exhausted)".into(),
            "#11: up".into(),
        ]);
        assert_eq!(
            info.boot_journal().as_deref(),
            Some("#12 slot B: fell back from A (tries exhausted)\n#11: up")
        );
    }

    #[test]
    fn what_boot_fills_in_is_what_the_calls_read() {
        let info = SysInfo::new();
        info.set_boot_count(7);
        assert_eq!(info.boot_count(), Some(7));
        info.set_manifest_json(b"{}".to_vec());
        assert_eq!(
            info.with_manifest_json(<[u8]>::to_vec),
            Some(b"{}".to_vec())
        );

        // Before the sequence: every entry, granted nothing yet.
        info.set_component_caps(vec![
            ("a".into(), String::new()),
            ("b".into(), String::new()),
        ]);
        assert_eq!(info.component_caps("a").as_deref(), Some(""));
        info.set_caps_of("a", "console\n".into());
        assert_eq!(info.component_caps("a").as_deref(), Some("console\n"));
        assert_eq!(info.component_caps("c"), None);
        // After it: what each was granted.
        info.set_component_caps(vec![
            ("a".into(), "console\n".into()),
            ("b".into(), String::new()),
        ]);
        assert_eq!(info.component_caps("a").as_deref(), Some("console\n"));
        assert_eq!(info.component_caps("b").as_deref(), Some(""));

        info.set_table(Box::new(|| String::from("NAME  STATE")));
        assert_eq!(info.table(), "NAME  STATE");
    }
}
