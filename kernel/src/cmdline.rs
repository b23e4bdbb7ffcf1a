//! The kernel command line: `key=value` words separated by spaces.

use drivers::ps2::Layout;

/// What a test run asks the kernel to do (`test=…` on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestMode {
    /// Not a test run: after booting the kernel stays up (idles).
    Off,
    /// Boot, run the self-check, then leave QEMU with pass/fail through isa-debug-exit.
    Boot,
    /// Boot, then cause a page fault on purpose: the exception report must appear.
    Fault,
    /// Boot, then read a user page from the kernel outside any user copy: with SMAP on, the
    /// exception report must name SMAP; without SMAP the test says so and fails.
    Smap,
    /// Boot, probe the disks, read from each (block 0 logged), then leave QEMU with pass/fail.
    Disk,
    /// Boot, verify the image, check the persistence record an earlier boot wrote in the
    /// user-data region, write the next one and flush, then leave QEMU with pass/fail.
    Persist,
    /// Boot, then write to a blank USB disk until it is unplugged: the failure must be a named
    /// error and the next request must fail too (`testmode::unplug`).
    Unplug,
    /// Boot, start the components, then panic on purpose — unless the user data already holds
    /// a crash record, in which case the boot goes on (the next boot of the same image shows
    /// the record and comes up: the two boots of the `crash-record` scenario).
    Crash,
    /// As [`TestMode::Crash`], with a page fault in the kernel instead of a panic (the
    /// exception report's path).
    CrashFault,
}

/// A command-line word the kernel does not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdlineError<'a> {
    /// `test=` named a mode that does not exist.
    UnknownTestMode(&'a str),
    /// `loglevel=` named a level that does not exist.
    UnknownLogLevel(&'a str),
    /// `slot=` named a slot that does not exist.
    UnknownSlot(&'a str),
    /// `keyboard=` named a keyboard layout that does not exist.
    UnknownKeyboardLayout(&'a str),
}

impl core::fmt::Display for CmdlineError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownTestMode(v) => {
                write!(
                    f,
                    "unknown test mode `test={v}` (expected boot, fault, smap, disk or persist)"
                )
            }
            Self::UnknownLogLevel(v) => write!(
                f,
                "unknown log level `loglevel={v}` (expected error, warn, info, debug or trace)"
            ),
            Self::UnknownSlot(v) => write!(f, "unknown system slot `slot={v}` (expected A or B)"),
            Self::UnknownKeyboardLayout(v) => {
                write!(f, "`keyboard={v}`: {}", drivers::ps2::UnknownLayout)
            }
        }
    }
}

/// Log verbosity requested with `loglevel=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// The parsed command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmdline {
    pub test: TestMode,
    pub log_level: LogLevel,
    /// The system slot this boot-loader entry boots (`slot=A|B`, a two-slot image's
    /// limine.conf); `None`: not said (slot A of a two-slot image).
    pub slot: Option<bootslots::Slot>,
    /// The keyboards' layout (`keyboard=us|uk|de|fr`); `None`: not said (the manifest's
    /// `keyboard_layout`, else US: `crate::keyboard_layout`).
    pub keyboard: Option<Layout>,
}

impl Default for Cmdline {
    fn default() -> Self {
        Self {
            test: TestMode::Off,
            log_level: LogLevel::Info,
            slot: None,
            keyboard: None,
        }
    }
}

/// Parses the command line. Words the kernel does not know are ignored (a boot loader or a
/// user may pass options meant for something else); known keys with bad values are errors.
pub fn parse(text: &str) -> Result<Cmdline, CmdlineError<'_>> {
    let mut out = Cmdline::default();
    for word in text.split_ascii_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "test" => {
                out.test = match value {
                    "boot" => TestMode::Boot,
                    "fault" => TestMode::Fault,
                    "smap" => TestMode::Smap,
                    "disk" => TestMode::Disk,
                    "unplug" => TestMode::Unplug,
                    "persist" => TestMode::Persist,
                    "crash" => TestMode::Crash,
                    "crash-fault" => TestMode::CrashFault,
                    other => return Err(CmdlineError::UnknownTestMode(other)),
                }
            }
            "loglevel" => {
                out.log_level = match value {
                    "error" => LogLevel::Error,
                    "warn" => LogLevel::Warn,
                    "info" => LogLevel::Info,
                    "debug" => LogLevel::Debug,
                    "trace" => LogLevel::Trace,
                    other => return Err(CmdlineError::UnknownLogLevel(other)),
                }
            }
            bootslots::CMDLINE_KEY => {
                out.slot = Some(
                    value
                        .parse()
                        .map_err(|_| CmdlineError::UnknownSlot(value))?,
                );
            }
            "keyboard" => {
                out.keyboard = Some(
                    value
                        .parse()
                        .map_err(|_| CmdlineError::UnknownKeyboardLayout(value))?,
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_line_is_default() {
        assert_eq!(parse(""), Ok(Cmdline::default()));
    }

    #[test]
    fn test_modes() {
        assert_eq!(parse("test=boot").map(|c| c.test), Ok(TestMode::Boot));
        assert_eq!(
            parse("quiet test=fault").map(|c| c.test),
            Ok(TestMode::Fault)
        );
        assert_eq!(
            parse("test=nope"),
            Err(CmdlineError::UnknownTestMode("nope"))
        );
        assert_eq!(parse("test"), Err(CmdlineError::UnknownTestMode("")));
        assert_eq!(parse("test=disk").map(|c| c.test), Ok(TestMode::Disk));
        assert_eq!(parse("test=smap").map(|c| c.test), Ok(TestMode::Smap));
        assert_eq!(parse("test=crash").map(|c| c.test), Ok(TestMode::Crash));
        assert_eq!(
            parse("test=crash-fault").map(|c| c.test),
            Ok(TestMode::CrashFault)
        );
        assert_eq!(
            parse("test=smep"),
            Err(CmdlineError::UnknownTestMode("smep"))
        );
        assert!(CmdlineError::UnknownTestMode("x")
            .to_string()
            .contains("boot, fault, smap, disk or persist"));
    }

    #[test]
    fn slots() {
        assert_eq!(
            parse("slot=B test=boot").map(|c| c.slot),
            Ok(Some(bootslots::Slot::B))
        );
        assert_eq!(parse("").map(|c| c.slot), Ok(None));
        assert_eq!(parse("slot=C"), Err(CmdlineError::UnknownSlot("C")));
    }

    #[test]
    fn log_levels() {
        assert_eq!(
            parse("loglevel=debug").map(|c| c.log_level),
            Ok(LogLevel::Debug)
        );
        assert_eq!(
            parse("loglevel=loud"),
            Err(CmdlineError::UnknownLogLevel("loud"))
        );
    }

    #[test]
    fn keyboard_layouts() {
        assert_eq!(parse("").map(|c| c.keyboard), Ok(None));
        assert_eq!(
            parse("test=boot keyboard=de").map(|c| c.keyboard),
            Ok(Some(Layout::De))
        );
        assert_eq!(
            parse("keyboard=uk").map(|c| c.keyboard),
            Ok(Some(Layout::Uk))
        );
        assert_eq!(
            parse("keyboard=klingon"),
            Err(CmdlineError::UnknownKeyboardLayout("klingon"))
        );
        assert_eq!(
            CmdlineError::UnknownKeyboardLayout("xx").to_string(),
            "`keyboard=xx`: unknown keyboard layout (expected us, uk, de or fr)"
        );
    }

    #[test]
    fn unknown_words_are_ignored() {
        assert_eq!(parse("foo=bar  baz"), Ok(Cmdline::default()));
    }
}
