//! The per-entry state record, `state: NAME STATE READY_MS[ DETAIL]`, and the manifest's
//! `expected_state`.
//!
//! At the end of the start sequence the kernel logs one record per manifest entry (in the
//! state table's order), e.g.
//!
//! ```text
//! state: cli_console ready 12.6
//! state: t_independent exited(0) 1.0
//! state: t_divide failed - #DE divide error at RIP 0x201234
//! state: dep_divide skipped - because t_divide failed
//! ```
//!
//! `STATE` is one [`StateKind`] word; `READY_MS` is spawn-to-READY in milliseconds with one
//! decimal, or `-`; `DETAIL` (optional) is the human reason and may contain spaces. Entry names
//! never contain spaces (the loader allows `[a-z0-9_]` only), so the record splits unambiguously.
//!
//! `test=boot` passes only when every entry's [`StateKind`] is admitted by its
//! [`Expected`] state (manifest `expected_state`, default [`Expected::Up`]).

use core::fmt;

/// What every record line starts with (the message, after the log line's prefix).
pub const RECORD_PREFIX: &str = "state: ";

/// An entry's state, as one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// Signalled READY and still running.
    Ready,
    /// Running without having signalled READY.
    Running,
    /// Signalled READY, then exited with this code.
    Exited(i32),
    /// Did not come up, or went down abnormally.
    Failed,
    /// Not started: a dependency did not come up.
    Skipped,
    /// Not started: a capability could not be granted.
    Refused,
    /// Not in `init_sequence`.
    NotStarted,
}

impl StateKind {
    /// Parses the word [`fmt::Display`] writes.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "ready" => Self::Ready,
            "running" => Self::Running,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            "refused" => Self::Refused,
            "not-started" => Self::NotStarted,
            _ => {
                let code = word.strip_prefix("exited(")?.strip_suffix(')')?;
                if code.starts_with('+') {
                    return None;
                }
                Self::Exited(code.parse().ok()?)
            }
        })
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready => f.write_str("ready"),
            Self::Running => f.write_str("running"),
            Self::Exited(code) => write!(f, "exited({code})"),
            Self::Failed => f.write_str("failed"),
            Self::Skipped => f.write_str("skipped"),
            Self::Refused => f.write_str("refused"),
            Self::NotStarted => f.write_str("not-started"),
        }
    }
}

/// What an image expects of an entry after the start sequence (manifest `expected_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Expected {
    /// `up` (the default): it came up and is fine — `ready`, or `exited(0)` after READY.
    #[default]
    Up,
    /// Exactly this state (a test system's entry that must fail, be skipped, ...).
    Is(StateKind),
}

impl Expected {
    /// The longest spelling (`exited(-2147483648)`).
    pub const MAX_LEN: usize = 19;

    /// Parses `up` or a [`StateKind`] word.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "up" => Some(Self::Up),
            other => StateKind::parse(other).map(Self::Is),
        }
    }

    /// Whether an entry in `state` meets this expectation.
    pub fn admits(self, state: StateKind) -> bool {
        match self {
            Self::Up => matches!(state, StateKind::Ready | StateKind::Exited(0)),
            Self::Is(kind) => kind == state,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Up => f.write_str("up"),
            Self::Is(kind) => kind.fmt(f),
        }
    }
}

/// One `state:` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub name: &'a str,
    pub state: StateKind,
    /// Spawn to READY in tenths of a millisecond (`12.6` ms is 126), when it signalled READY.
    pub ready_tenth_ms: Option<u64>,
    /// Why (for failed, skipped, refused); empty otherwise.
    pub detail: &'a str,
}

impl fmt::Display for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{RECORD_PREFIX}{} {} ", self.name, self.state)?;
        match self.ready_tenth_ms {
            Some(t) => write!(f, "{}.{}", t / 10, t % 10)?,
            None => f.write_str("-")?,
        }
        if self.detail.is_empty() {
            Ok(())
        } else {
            write!(f, " {}", self.detail)
        }
    }
}

impl<'a> Record<'a> {
    /// Parses a log message (not the whole line: see [`crate::line::parse`]); `None` if it is
    /// not a well-formed record.
    pub fn parse(message: &'a str) -> Option<Self> {
        let rest = message.strip_prefix(RECORD_PREFIX)?;
        let mut words = rest.splitn(4, ' ');
        let name = words.next().filter(|n| !n.is_empty())?;
        let state = StateKind::parse(words.next()?)?;
        let ready_tenth_ms = match words.next()? {
            "-" => None,
            ms => {
                let (whole, tenth) = ms.split_once('.')?;
                if tenth.len() != 1
                    || whole.is_empty()
                    || !whole.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                Some(whole.parse::<u64>().ok()?.checked_mul(10)? + tenth.parse::<u64>().ok()?)
            }
        };
        let detail = words.next().unwrap_or("");
        Some(Record {
            name,
            state,
            ready_tenth_ms,
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::string::ToString;

    const KINDS: [StateKind; 9] = [
        StateKind::Ready,
        StateKind::Running,
        StateKind::Exited(0),
        StateKind::Exited(1),
        StateKind::Exited(i32::MIN),
        StateKind::Failed,
        StateKind::Skipped,
        StateKind::Refused,
        StateKind::NotStarted,
    ];

    #[test]
    fn kinds_round_trip() {
        for k in KINDS {
            assert_eq!(StateKind::parse(&k.to_string()), Some(k));
            assert_eq!(Expected::parse(&k.to_string()), Some(Expected::Is(k)));
        }
        assert_eq!(Expected::parse("up"), Some(Expected::Up));
        for bad in [
            "",
            "Ready",
            "exited()",
            "exited(x)",
            "exited(+1)",
            "exited(1",
            "up ",
            "not started",
        ] {
            assert_eq!(Expected::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            Expected::Is(StateKind::Exited(i32::MIN)).to_string().len(),
            Expected::MAX_LEN
        );
    }

    #[test]
    fn up_is_ready_or_a_clean_exit() {
        let up: std::vec::Vec<_> = KINDS
            .into_iter()
            .filter(|k| Expected::Up.admits(*k))
            .collect();
        assert_eq!(up, [StateKind::Ready, StateKind::Exited(0)]);
        assert!(Expected::Is(StateKind::Failed).admits(StateKind::Failed));
        assert!(!Expected::Is(StateKind::Failed).admits(StateKind::Ready));
        assert!(!Expected::Is(StateKind::Exited(0)).admits(StateKind::Ready));
    }

    #[test]
    fn records_round_trip() {
        let records = [
            Record {
                name: "cli_console",
                state: StateKind::Ready,
                ready_tenth_ms: Some(126),
                detail: "",
            },
            Record {
                name: "n",
                state: StateKind::Exited(0),
                ready_tenth_ms: Some(0),
                detail: "",
            },
            Record {
                name: "t_divide",
                state: StateKind::Failed,
                ready_tenth_ms: None,
                detail: "#DE divide error at RIP 0x201234",
            },
            Record {
                name: "x",
                state: StateKind::NotStarted,
                ready_tenth_ms: None,
                detail: "",
            },
        ];
        for r in records {
            assert_eq!(Record::parse(&r.to_string()), Some(r));
        }
        assert_eq!(records[0].to_string(), "state: cli_console ready 12.6");
        assert_eq!(
            records[2].to_string(),
            "state: t_divide failed - #DE divide error at RIP 0x201234"
        );
    }

    #[test]
    fn malformed_records() {
        for bad in [
            "state:",
            "state: ",
            "state: a",
            "state: a ready",
            "state: a sleeping 1.0",
            "state: a ready 1",
            "state: a ready 1.25",
            "state: a ready .5",
            "state: a ready -1.0",
            "STATE: a ready 1.0",
            "supervisor: state: a ready 1.0",
        ] {
            assert_eq!(Record::parse(bad), None, "{bad:?}");
        }
        let r = Record::parse("state: a failed - exited with code 1 before ready").unwrap();
        assert_eq!(
            (r.state, r.ready_tenth_ms, r.detail),
            (StateKind::Failed, None, "exited with code 1 before ready")
        );
        let _ = format!("{r}");
    }
}
