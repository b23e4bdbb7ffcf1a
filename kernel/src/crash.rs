//! The crash record a dying kernel leaves in its user-data blocks (`bootslots::crash`): the
//! panic handler and the exception report note what happened ([`begin`], [`Note`]), and
//! `fatal::stop` saves it ([`save`]) through the writer `boot` registered once the user-data
//! region belongs to the process core ([`set_recorder`]; this module sits beside the layers and
//! never names them). Nothing here waits for a lock or allocates: a lock that is held means the
//! record is not saved, said in one line.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use bootlog::msg::{CRASH_NOT_SAVED_START, CRASH_SAVED};
use bootslots::crash::{Builder, Kind, RecordBytes, RECORD_LEN, SUMMARY_MAX};
use spin::{Mutex, Once};

use crate::klog::emergency;
use crate::userdata::RegionError;

/// Why a crash record was not saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotSaved {
    /// No writer yet: the crash came before the user-data region was handed to the process
    /// core (or there is none).
    NoRegion,
    /// The user-data region is RAM (the system runs from its boot module).
    InRam,
    /// The disk was in use when the kernel stopped (its lock is held).
    Busy,
    /// The record's buffer was in use (a failure while building it).
    Again,
    /// The disk failed.
    Disk(RegionError),
}

impl fmt::Display for NotSaved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRegion => write!(
                f,
                "no user-data region yet (the kernel stopped before the components started)"
            ),
            Self::InRam => write!(
                f,
                "the user-data region is in RAM (the system runs from its boot module)"
            ),
            Self::Busy => write!(f, "the disk was in use when the kernel stopped"),
            Self::Again => write!(f, "a second failure while saving it"),
            Self::Disk(e) => write!(f, "{e}"),
        }
    }
}

/// Where the record goes, registered by `boot`.
#[derive(Clone, Copy)]
pub struct Recorder {
    /// This boot's number (0: not known).
    pub boot: fn() -> u64,
    /// Writes the record's blocks and flushes; must not wait for a lock.
    pub write: fn(&RecordBytes) -> Result<(), NotSaved>,
}

static RECORDER: Once<Recorder> = Once::new();

/// What happened, noted by the report as it is printed.
struct Summary {
    kind: Option<Kind>,
    uptime_us: u64,
    bytes: [u8; SUMMARY_MAX],
    len: usize,
}

static SUMMARY: Mutex<Summary> = Mutex::new(Summary {
    kind: None,
    uptime_us: 0,
    bytes: [0; SUMMARY_MAX],
    len: 0,
});

/// The record being built (12 KiB: not on a dying stack, not on the heap).
static RECORD: Mutex<RecordBytes> = Mutex::new([0; RECORD_LEN]);

/// Set once a save began: a failure inside it does not save again.
static SAVING: AtomicBool = AtomicBool::new(false);

/// Registers the writer (the first call wins).
pub fn set_recorder(recorder: Recorder) {
    RECORDER.call_once(|| recorder);
}

/// A crash of `kind` begins (the first one counts); its report follows through [`Note`].
pub fn begin(kind: Kind) {
    if let Some(mut s) = SUMMARY.try_lock() {
        if s.kind.is_none() {
            s.kind = Some(kind);
            s.uptime_us = crate::time::uptime_us();
        }
    }
}

/// `fmt::Write` into the summary of the crash [`begin`] started (cut at its size).
pub struct Note;

impl Write for Note {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if let Some(mut s) = SUMMARY.try_lock().filter(|s| s.kind.is_some()) {
            for c in text.chars() {
                let n = c.len_utf8();
                if s.len + n > SUMMARY_MAX {
                    break;
                }
                let at = s.len;
                c.encode_utf8(&mut s.bytes[at..at + n]);
                s.len += n;
            }
        }
        Ok(())
    }
}

/// Saves the crash noted by [`begin`] (nothing if none was), then says in one line whether it
/// was saved. Called by `fatal::stop` on a failure, once.
pub fn save() {
    if SUMMARY.try_lock().and_then(|s| s.kind).is_none() {
        return;
    }
    // The driver may log: not through the locks the crashed code may hold.
    crate::klog::dying();
    let result = if SAVING.swap(true, Ordering::SeqCst) {
        Err(NotSaved::Again)
    } else {
        build_and_write()
    };
    match result {
        Ok(()) => emergency(format_args!("{CRASH_SAVED}\r\n")),
        Err(e) => emergency(format_args!("{CRASH_NOT_SAVED_START}{e}\r\n")),
    }
}

/// Builds the record in [`RECORD`] (the summary's lock is let go before the write, so a
/// failure during the write finds it free and says so) and hands it to the registered writer.
fn build_and_write() -> Result<(), NotSaved> {
    let recorder = RECORDER.get().ok_or(NotSaved::NoRegion)?;
    let mut record = RECORD.try_lock().ok_or(NotSaved::Again)?;
    {
        let summary = SUMMARY.try_lock().ok_or(NotSaved::Again)?;
        let kind = summary.kind.ok_or(NotSaved::Again)?;
        let mut b = Builder::new(&mut record, kind, (recorder.boot)(), summary.uptime_us);
        let text = core::str::from_utf8(&summary.bytes[..summary.len]).unwrap_or("");
        let _ = b.write_str(text);
        b.start_log();
        if !crate::klog::recent_lines(&mut |line| b.log_line(line)) {
            b.log_line("(the log was being written: no lines kept)");
        }
        b.finish();
    }
    (recorder.write)(&record)
}
