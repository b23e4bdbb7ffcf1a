//! Judging a scenario from its serial log and QEMU's exit: pure functions, polled by the runner.
//!
//! Expectations are whole lines ([`Pattern`]): a kernel line is compared by its message (after
//! the `[time] LEVEL module: ` prefix, [`bootlog::line`]), any other line (the stub, the
//! firmware, the console, the test verdict) as it is. The kernel's `state:` records are parsed
//! ([`bootlog::state::Record`]) and compared as a whole.

use std::fmt;

use bootlog::state::{Record, StateKind};

use crate::scenarios::End;

/// One expected state record: the entry, its state, and how its detail starts (`""`: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCheck {
    pub name: String,
    pub state: StateKind,
    pub detail_start: String,
}

impl fmt::Display for StateCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.state)?;
        if !self.detail_start.is_empty() {
            write!(f, " ({}...)", self.detail_start)?;
        }
        Ok(())
    }
}

/// What a scenario expects to see, matched against whole lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// A line (a kernel line's message) that is exactly this.
    Line(String),
    /// A line (a kernel line's message) that starts with `start`, then has `middle` somewhere,
    /// then ends with `end`; the three do not overlap. Empty parts match anything.
    Shape {
        start: String,
        middle: String,
        end: String,
    },
    /// The kernel's block of `state:` records: exactly these entries in this order, no more.
    States(Vec<StateCheck>),
    /// A line starting with `second` (after the previous match) whose rest is the same,
    /// non-empty, as that of the last line before it starting with `first` (wherever that
    /// is): a count printed twice that must not have changed.
    Same { first: String, second: String },
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Line(l) => write!(f, "the line {l:?}"),
            Pattern::Shape { start, middle, end } => {
                // `a line "start…middle…end"`, with … where anything may stand.
                let parts: Vec<&str> = [start, middle, end]
                    .into_iter()
                    .map(String::as_str)
                    .filter(|p| !p.is_empty())
                    .collect();
                let open = if start.is_empty() { "…" } else { "" };
                let close = if end.is_empty() { "…" } else { "" };
                write!(f, "a line \"{open}{}{close}\"", parts.join("…"))
            }
            Pattern::States(list) => {
                let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
                write!(f, "the state records [{}]", shown.join(", "))
            }
            Pattern::Same { first, second } => {
                write!(
                    f,
                    "a line \"{first}X\" then a line \"{second}X\" (the same X)"
                )
            }
        }
    }
}

/// The text a line is matched by: a kernel line's message, or the whole line.
fn text_of(line: &str) -> &str {
    bootlog::line::parse(line).map_or(line, |p| p.message)
}

/// Whether `text` has the shape `start` ... `middle` ... `end`.
fn has_shape(text: &str, start: &str, middle: &str, end: &str) -> bool {
    let Some(rest) = text.strip_prefix(start) else {
        return false;
    };
    let Some(rest) = rest.strip_suffix(end) else {
        return false;
    };
    rest.contains(middle)
}

/// The complete lines of a printable log (`complete`: the log is final, its last line counts
/// even without a line end).
fn lines(log: &str, complete: bool) -> Vec<&str> {
    let mut out: Vec<&str> = log.split('\n').collect();
    let last = out.pop().unwrap_or("");
    if complete && !last.is_empty() {
        out.push(last);
    }
    out
}

/// How a [`Pattern::States`] fared against the record block at or after a line.
enum StatesMatch {
    /// Matched; the block ends before this line index.
    At(usize),
    /// No complete block yet.
    NotYet,
    /// A complete block that differs: why.
    Differs(String),
}

/// A line's state record, if it is one.
fn record<'a>(line: &'a str) -> Option<Record<'a>> {
    Record::parse(text_of(line))
}

fn match_states(lines: &[&str], from: usize, want: &[StateCheck], complete: bool) -> StatesMatch {
    let Some(first) = (from..lines.len()).find(|&i| record(lines[i]).is_some()) else {
        return StatesMatch::NotYet;
    };
    let block: Vec<Record<'_>> = lines[first..].iter().map_while(|l| record(l)).collect();
    let end = first + block.len();
    if end == lines.len() && !complete {
        return StatesMatch::NotYet; // more records may follow
    }
    let got: Vec<String> = block
        .iter()
        .map(|r| format!("{} {}", r.name, r.state))
        .collect();
    if block.len() != want.len() {
        return StatesMatch::Differs(format!(
            "the kernel logged {} state records [{}]",
            block.len(),
            got.join(", ")
        ));
    }
    for (r, w) in block.iter().zip(want) {
        if r.name != w.name || r.state != w.state || !r.detail.starts_with(&w.detail_start) {
            return StatesMatch::Differs(format!(
                "the kernel logged `state: {} {} {}` where {w} was expected",
                r.name, r.state, r.detail
            ));
        }
    }
    StatesMatch::At(end)
}

/// [`Pattern::Same`]: `second` at or after line `from`, `first` anywhere before it.
fn match_same(lines: &[&str], from: usize, first: &str, second: &str) -> StatesMatch {
    let rest = |i: usize, start: &str| text_of(lines[i]).strip_prefix(start);
    let Some((j, b)) = (from..lines.len()).find_map(|j| rest(j, second).map(|b| (j, b))) else {
        return StatesMatch::NotYet;
    };
    let Some(a) = (0..j).rev().find_map(|i| rest(i, first)) else {
        return StatesMatch::Differs(format!("{second:?} appeared without {first:?} before it"));
    };
    if a.is_empty() || a != b {
        return StatesMatch::Differs(format!(
            "the kernel logged {first:?}{a:?} and then {second:?}{b:?}"
        ));
    }
    StatesMatch::At(j + 1)
}

/// What a serial log shows so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// How many of the expected patterns were found, in order (a prefix of the list).
    pub matched: usize,
    /// The first forbidden text found anywhere, if any.
    pub forbidden: Option<&'static str>,
    /// Why the next pattern cannot match any more, when that is already known (a state
    /// record block that differs).
    pub differs: Option<String>,
}

/// Finds `expect` in order, each on a line after the previous match, and any of `forbid`
/// anywhere (forbidden texts are substrings: they can only fail a scenario). `complete`: QEMU
/// has ended, so the log is final.
pub fn scan(log: &str, expect: &[Pattern], forbid: &[&'static str], complete: bool) -> Scan {
    let all = lines(log, complete);
    let mut pos = 0;
    let mut matched = 0;
    let mut differs = None;
    for pattern in expect {
        let found = match pattern {
            Pattern::Line(want) => (pos..all.len())
                .find(|&i| text_of(all[i]) == want)
                .map(|i| i + 1),
            Pattern::Shape { start, middle, end } => (pos..all.len())
                .find(|&i| has_shape(text_of(all[i]), start, middle, end))
                .map(|i| i + 1),
            Pattern::States(want) => match match_states(&all, pos, want, complete) {
                StatesMatch::At(end) => Some(end),
                StatesMatch::NotYet => None,
                StatesMatch::Differs(why) => {
                    differs = Some(why);
                    None
                }
            },
            Pattern::Same { first, second } => match match_same(&all, pos, first, second) {
                StatesMatch::At(end) => Some(end),
                StatesMatch::NotYet => None,
                StatesMatch::Differs(why) => {
                    differs = Some(why);
                    None
                }
            },
        };
        match found {
            Some(next) => {
                pos = next;
                matched += 1;
            }
            None => break,
        }
    }
    let forbidden = forbid.iter().copied().find(|f| log.contains(f));
    Scan {
        matched,
        forbidden,
        differs,
    }
}

/// How QEMU ended: an exit status, or `None` when a signal killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuExit(pub Option<i32>);

impl fmt::Display for QemuExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(code) => write!(f, "status {code}"),
            None => f.write_str("a signal"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A forbidden text appeared.
    Forbidden(&'static str),
    /// An expected pattern never appeared: QEMU exited (`exit`) or time ran out (`None`).
    Missing {
        pattern: String,
        matched: usize,
        total: usize,
        exit: Option<QemuExit>,
    },
    /// The kernel's state records are complete and not the expected ones.
    StatesDiffer { pattern: String, why: String },
    /// All patterns appeared but QEMU ended differently than expected.
    WrongExit { expected: i32, got: QemuExit },
    /// All patterns appeared but QEMU did not exit in time.
    NoExit { expected: i32 },
}

impl Failure {
    /// Whether this failure is about the state records (the test of the boot check wants that).
    pub fn is_about_states(&self) -> bool {
        if let Failure::StatesDiffer { pattern, .. } = self {
            return pattern.starts_with("the state records");
        }
        match self {
            Failure::StatesDiffer { .. } => true,
            Failure::Missing { pattern, .. } => pattern.starts_with("the state records"),
            _ => false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Forbidden(p) => write!(f, "forbidden text {p:?} appeared"),
            Failure::Missing {
                pattern,
                matched,
                total,
                exit,
            } => {
                match exit {
                    Some(e) => write!(f, "QEMU exited with {e} before {pattern} appeared")?,
                    None => write!(f, "timed out waiting for {pattern}")?,
                }
                write!(
                    f,
                    " ({matched} of {total} expected patterns seen, in order)"
                )
            }
            Failure::StatesDiffer { pattern, why } => {
                write!(f, "expected {pattern}, but {why}")
            }
            Failure::WrongExit { expected, got } => write!(
                f,
                "all patterns seen, but QEMU exited with {got} instead of status {expected}"
            ),
            Failure::NoExit { expected } => write!(
                f,
                "all patterns seen, but timed out waiting for QEMU to exit with status {expected}"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep polling.
    Running,
    Pass,
    Fail(Failure),
}

/// Decides a scenario from the latest scan. `exit` is QEMU's end if it has ended (the log
/// must be read after observing it, so the scan is final); `timed_out` once the deadline passed.
pub fn judge(
    expect: &[Pattern],
    scan: &Scan,
    end: End,
    exit: Option<QemuExit>,
    timed_out: bool,
) -> Verdict {
    if let Some(p) = scan.forbidden {
        return Verdict::Fail(Failure::Forbidden(p));
    }
    if let Some(why) = &scan.differs {
        return Verdict::Fail(Failure::StatesDiffer {
            pattern: expect[scan.matched].to_string(),
            why: why.clone(),
        });
    }
    let all_seen = scan.matched >= expect.len();
    let missing = |exit| {
        Verdict::Fail(Failure::Missing {
            pattern: expect[scan.matched].to_string(),
            matched: scan.matched,
            total: expect.len(),
            exit,
        })
    };
    match (end, exit) {
        (End::Exit(expected), Some(got)) if all_seen => {
            if got == QemuExit(Some(expected)) {
                Verdict::Pass
            } else {
                Verdict::Fail(Failure::WrongExit { expected, got })
            }
        }
        (_, Some(got)) => missing(Some(got)),
        (End::Exit(expected), None) if timed_out && all_seen => {
            Verdict::Fail(Failure::NoExit { expected })
        }
        (_, None) if timed_out => missing(None),
        (_, None) => Verdict::Running,
    }
}

/// The last `n` lines of `log` (fewer if it is shorter).
pub fn last_lines(log: &str, n: usize) -> &str {
    let trimmed = log.trim_end_matches('\n');
    let mut start = trimmed.len();
    for _ in 0..n {
        match trimmed[..start].rfind('\n') {
            Some(i) => start = i,
            None => return trimmed,
        }
    }
    &trimmed[start + 1..]
}

/// `log` made safe to print: ANSI escape sequences (OVMF clears the screen) and other
/// control characters removed, line breaks and tabs kept.
pub fn printable(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters... final byte in '@'..='~'; otherwise drop ESC + one char.
                if chars.next_if_eq(&'[').is_some() {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::{line, shape, starts, states};

    const FORBID: &[&str] = &["panicked", "EXCEPTION"];

    /// A boot as the kernel logs it (firmware noise, the stub, kernel lines, the verdict).
    fn good_log() -> String {
        [
            "\u{1b}[2J\u{1b}[01;01HBdsDxe: starting Boot0002",
            "bootstub: PandaGen bootstub 0.1.0",
            "[    0.046030] INFO  boot: PandaGen kernel 0.1.0 | bootloader: PandaGen bootstub 0.1.0",
            "[    0.051159] INFO  boot: selfcheck: PASS (HHDM maps usable memory)",
            "[    1.268157] INFO  supervisor: services_storage  ready      block_device  79.0",
            "[    1.269000] INFO  supervisor: state: services_storage ready 79.0",
            "[    1.269100] INFO  supervisor: state: cli_console ready 22.9",
            "[    1.270199] INFO  start: 2 entries: 2 came up",
            "test: PASS",
            "",
        ]
        .join("\r\n")
    }

    fn expect() -> Vec<Pattern> {
        vec![
            starts("PandaGen kernel "),
            starts("selfcheck: PASS ("),
            states(&[
                ("services_storage", StateKind::Ready, ""),
                ("cli_console", StateKind::Ready, ""),
            ]),
            line("test: PASS"),
        ]
    }

    fn scan_of(log: &str, expect: &[Pattern], complete: bool) -> Scan {
        scan(&printable(log), expect, FORBID, complete)
    }

    #[test]
    fn whole_lines_in_order() {
        let e = expect();
        assert_eq!(scan_of(&good_log(), &e, false).matched, 4);
        assert_eq!(scan_of("", &e, false).matched, 0);
        // A substring is not a line: "test: PASS" inside another line does not count.
        let log = good_log().replace("test: PASS", "x test: PASS");
        assert_eq!(scan_of(&log, &e, true).matched, 3);
        // Out of order: the verdict before the records only matches up to the records.
        let log = "[    0.1] x\n";
        assert_eq!(scan_of(log, &e, true).matched, 0);
        // A line still being written does not count until it ends (or the log is final).
        let cut = "[    0.046030] INFO  boot: PandaGen kernel 0.1.0";
        assert_eq!(scan_of(cut, &e, false).matched, 0);
        assert_eq!(scan_of(cut, &e, true).matched, 1);
        // A kernel line's message is matched, not its prefix: `line` needs the exact message.
        let one = [line("selfcheck: PASS (HHDM maps usable memory)")];
        assert_eq!(scan_of(&good_log(), &one, false).matched, 1);
        let partial = [line("selfcheck: PASS")];
        assert_eq!(scan_of(&good_log(), &partial, true).matched, 0);
    }

    #[test]
    fn shapes_anchor_both_ends() {
        let log = "[    0.100000] INFO  boot: image: found PANDAGEN image on disk 00:03.0 virtio-blk: 82 MiB (same image as the boot module)\n";
        let ok = shape(
            "image: found PANDAGEN image on disk ",
            "virtio-blk",
            " (same image as the boot module)",
        );
        assert_eq!(scan_of(log, &[ok], false).matched, 1);
        for bad in [
            shape("found PANDAGEN image", "", ""),
            shape("image: found PANDAGEN image on disk ", "ahci", ""),
            shape("", "", " (same image"),
        ] {
            assert_eq!(
                scan_of(log, std::slice::from_ref(&bad), true).matched,
                0,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_broken_component_fails_the_state_records() {
        // The old substring check passed this log: "cli_console" and "ready" both appear.
        let log = good_log().replace(
            "state: cli_console ready 22.9",
            "state: cli_console failed - exited with code 1 before ready",
        );
        let e = expect();
        let s = scan_of(&log, &e, false);
        assert_eq!(s.matched, 2);
        let v = judge(&e, &s, End::Exit(33), None, false);
        let Verdict::Fail(f) = v else { panic!("{v:?}") };
        assert!(f.is_about_states(), "{f}");
        assert!(
            f.to_string()
                .contains("`state: cli_console failed exited with code 1"),
            "{f}"
        );
    }

    #[test]
    fn state_records_must_be_complete_and_exact() {
        let e = expect();
        // One record too many, one too few.
        let more = good_log().replace(
            "[    1.270199] INFO  start",
            "[    1.269200] INFO  supervisor: state: extra exited(0) 1.0\r\n[    1.270199] INFO  start",
        );
        assert!(scan_of(&more, &e, false).differs.is_some());
        let fewer = good_log().replace(
            "[    1.269100] INFO  supervisor: state: cli_console ready 22.9\r\n",
            "",
        );
        assert!(scan_of(&fewer, &e, false).differs.is_some());
        // The block is still being written: wait.
        let cut = &good_log()[..good_log().find("[    1.269100]").unwrap()];
        let s = scan_of(cut, &e, false);
        assert_eq!((s.matched, s.differs.clone()), (2, None));
        // A detail must start as expected.
        let want = [states(&[("a", StateKind::Failed, "#UD invalid opcode")])];
        let log =
            "[    1.000000] INFO  supervisor: state: a failed - #DE divide error at RIP 0x1\nnext\n";
        assert!(scan_of(log, &want, false).differs.is_some());
        let log = "[    1.000000] INFO  supervisor: state: a failed - #UD invalid opcode at RIP 0x1\nnext\n";
        assert_eq!(scan_of(log, &want, false).matched, 1);
    }

    #[test]
    fn a_count_printed_twice_must_not_change() {
        let want = [Pattern::Same {
            first: "frames before: ".into(),
            second: "frames after: ".into(),
        }];
        let line_of = |m: &str| format!("[    1.000000] INFO  start: {m}\n");
        let same = format!(
            "{}x\n{}",
            line_of("frames before: 4096"),
            line_of("frames after: 4096")
        );
        assert_eq!(scan_of(&same, &want, false).matched, 1);
        // The first count may come before an earlier pattern's match.
        let mut both = vec![line("x")];
        both.extend(want.iter().cloned());
        let log = format!(
            "{}{}{}",
            line_of("frames before: 7"),
            line_of("x"),
            line_of("frames after: 7")
        );
        assert_eq!(scan_of(&log, &both, false).matched, 2);
        let lost = format!(
            "{}{}",
            line_of("frames before: 4096"),
            line_of("frames after: 4090")
        );
        let s = scan_of(&lost, &want, false);
        assert_eq!(s.matched, 0);
        assert!(s.differs.unwrap().contains("4090"));
        // The second line has not come yet: wait.
        let half = line_of("frames before: 4096");
        assert_eq!(
            scan_of(&half, &want, false),
            Scan {
                matched: 0,
                forbidden: None,
                differs: None
            }
        );
    }

    #[test]
    fn forbidden_anywhere_fails_at_once() {
        let log = format!("{}panicked at src/main.rs:1\n", good_log());
        let e = expect();
        let s = scan_of(&log, &e, true);
        assert_eq!(s.forbidden, Some("panicked"));
        assert_eq!(
            judge(&e, &s, End::Exit(33), Some(QemuExit(Some(33))), false),
            Verdict::Fail(Failure::Forbidden("panicked"))
        );
    }

    #[test]
    fn exit_expected() {
        let e = expect();
        let all = scan_of(&good_log(), &e, false);
        let part = scan_of(
            "[    0.046030] INFO  boot: PandaGen kernel 0.1.0\n",
            &e,
            false,
        );
        let end = End::Exit(33);
        assert_eq!(judge(&e, &all, end, None, false), Verdict::Running);
        assert_eq!(judge(&e, &part, end, None, false), Verdict::Running);
        assert_eq!(
            judge(&e, &all, end, Some(QemuExit(Some(33))), false),
            Verdict::Pass
        );
        assert_eq!(
            judge(&e, &all, end, Some(QemuExit(Some(35))), false),
            Verdict::Fail(Failure::WrongExit {
                expected: 33,
                got: QemuExit(Some(35))
            })
        );
        assert_eq!(
            judge(&e, &part, end, Some(QemuExit(Some(33))), false),
            Verdict::Fail(Failure::Missing {
                pattern: "a line \"selfcheck: PASS (…\"".into(),
                matched: 1,
                total: 4,
                exit: Some(QemuExit(Some(33)))
            })
        );
        assert_eq!(
            judge(&e, &all, end, None, true),
            Verdict::Fail(Failure::NoExit { expected: 33 })
        );
        assert!(matches!(
            judge(&e, &part, end, None, true),
            Verdict::Fail(Failure::Missing { exit: None, .. })
        ));
    }

    #[test]
    fn failure_messages() {
        let f = Failure::Missing {
            pattern: line("test: PASS").to_string(),
            matched: 3,
            total: 4,
            exit: None,
        };
        assert_eq!(
            f.to_string(),
            "timed out waiting for the line \"test: PASS\" (3 of 4 expected patterns seen, in order)"
        );
        let f = Failure::WrongExit {
            expected: 33,
            got: QemuExit(None),
        };
        assert_eq!(
            f.to_string(),
            "all patterns seen, but QEMU exited with a signal instead of status 33"
        );
    }

    #[test]
    fn printable_strips_escapes() {
        assert_eq!(
            printable(
                "\u{1b}[2J\u{1b}[01;01H\u{1b}[=3hBdsDxe: ok\r\n\u{1b}[1m\u{1b}[37mx\tz\u{7}\n"
            ),
            "BdsDxe: ok\nx\tz\n"
        );
    }

    #[test]
    fn tail() {
        let log = "1\n2\n3\n4\n";
        assert_eq!(last_lines(log, 2), "3\n4");
        assert_eq!(last_lines(log, 4), "1\n2\n3\n4");
        assert_eq!(last_lines(log, 30), "1\n2\n3\n4");
        assert_eq!(last_lines("", 30), "");
        assert_eq!(last_lines("no newline", 1), "no newline");
    }
}
