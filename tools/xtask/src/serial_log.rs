//! Judging a scenario from its serial log and QEMU's exit: pure functions, polled by the runner.

use std::fmt;

use crate::scenarios::End;

/// What a serial log shows so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// How many of the expected patterns were found, in order (a prefix of the list).
    pub matched: usize,
    /// The first forbidden pattern found anywhere, if any.
    pub forbidden: Option<&'static str>,
}

/// Finds `expect` in order (each after the end of the previous match) and any of `forbid`.
pub fn scan(log: &str, expect: &[&'static str], forbid: &[&'static str]) -> Scan {
    let mut pos = 0;
    let mut matched = 0;
    for pattern in expect {
        match log[pos..].find(pattern) {
            Some(i) => {
                pos += i + pattern.len();
                matched += 1;
            }
            None => break,
        }
    }
    let forbidden = forbid.iter().copied().find(|f| log.contains(f));
    Scan { matched, forbidden }
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
    /// A forbidden pattern appeared.
    Forbidden(&'static str),
    /// An expected pattern never appeared: QEMU exited (`exit`) or time ran out (`None`).
    Missing {
        pattern: &'static str,
        matched: usize,
        total: usize,
        exit: Option<QemuExit>,
    },
    /// All patterns appeared but QEMU ended differently than expected.
    WrongExit { expected: i32, got: QemuExit },
    /// All patterns appeared but QEMU did not exit in time.
    NoExit { expected: i32 },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Forbidden(p) => write!(f, "forbidden pattern {p:?} appeared"),
            Failure::Missing {
                pattern,
                matched,
                total,
                exit,
            } => {
                match exit {
                    Some(e) => write!(f, "QEMU exited with {e} before {pattern:?} appeared")?,
                    None => write!(f, "timed out waiting for {pattern:?}")?,
                }
                write!(
                    f,
                    " ({matched} of {total} expected patterns seen, in order)"
                )
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
    expect: &[&'static str],
    scan: Scan,
    end: End,
    exit: Option<QemuExit>,
    timed_out: bool,
) -> Verdict {
    if let Some(p) = scan.forbidden {
        return Verdict::Fail(Failure::Forbidden(p));
    }
    let all_seen = scan.matched >= expect.len();
    let missing = |exit| {
        Verdict::Fail(Failure::Missing {
            pattern: expect[scan.matched],
            matched: scan.matched,
            total: expect.len(),
            exit,
        })
    };
    match (end, exit) {
        (End::KilledAfterPatterns, _) if all_seen => Verdict::Pass,
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

    const EXPECT: &[&str] = &[
        "PandaGen kernel",
        "bootloader:",
        "selfcheck: PASS",
        "test: PASS",
    ];
    const FORBID: &[&str] = &["panicked", "EXCEPTION"];
    const GOOD_LOG: &str = "BdsDxe: loading Boot0001\r\nPandaGen kernel 0.1.0\nbootloader: PandaGen bootstub 0.1\nselfcheck: PASS\ntest: PASS\n";

    #[test]
    fn scan_in_order() {
        assert_eq!(
            scan(GOOD_LOG, EXPECT, FORBID),
            Scan {
                matched: 4,
                forbidden: None
            }
        );
        assert_eq!(scan("", EXPECT, FORBID).matched, 0);
        // Out of order: "test: PASS" before "selfcheck: PASS" only matches up to selfcheck.
        let log = "PandaGen kernel\nbootloader: x\ntest: PASS\nselfcheck: PASS\n";
        assert_eq!(scan(log, EXPECT, FORBID).matched, 3);
        // A partial line still counts as far as it goes.
        assert_eq!(scan("PandaGen kernel\nbootloa", EXPECT, FORBID).matched, 1);
        // Each match starts after the previous one ends: the same text cannot match twice.
        assert_eq!(scan("ab", &["ab", "b"], &[]).matched, 1);
        assert_eq!(scan("abb", &["ab", "b"], &[]).matched, 2);
    }

    #[test]
    fn forbidden_anywhere_fails_at_once() {
        let log = format!("{GOOD_LOG}panicked at src/main.rs:1\n");
        let s = scan(&log, EXPECT, FORBID);
        assert_eq!(s.forbidden, Some("panicked"));
        assert_eq!(
            judge(EXPECT, s, End::Exit(33), Some(QemuExit(Some(33))), false),
            Verdict::Fail(Failure::Forbidden("panicked"))
        );
        assert_eq!(
            judge(EXPECT, s, End::KilledAfterPatterns, None, false),
            Verdict::Fail(Failure::Forbidden("panicked"))
        );
    }

    #[test]
    fn exit_expected() {
        let all = scan(GOOD_LOG, EXPECT, FORBID);
        let part = scan("PandaGen kernel\n", EXPECT, FORBID);
        let end = End::Exit(33);
        // Patterns seen but QEMU still running: keep waiting for the exit.
        assert_eq!(judge(EXPECT, all, end, None, false), Verdict::Running);
        assert_eq!(judge(EXPECT, part, end, None, false), Verdict::Running);
        assert_eq!(
            judge(EXPECT, all, end, Some(QemuExit(Some(33))), false),
            Verdict::Pass
        );
        assert_eq!(
            judge(EXPECT, all, end, Some(QemuExit(Some(35))), false),
            Verdict::Fail(Failure::WrongExit {
                expected: 33,
                got: QemuExit(Some(35))
            })
        );
        assert_eq!(
            judge(EXPECT, part, end, Some(QemuExit(Some(33))), false),
            Verdict::Fail(Failure::Missing {
                pattern: "bootloader:",
                matched: 1,
                total: 4,
                exit: Some(QemuExit(Some(33)))
            })
        );
        assert_eq!(
            judge(EXPECT, all, end, None, true),
            Verdict::Fail(Failure::NoExit { expected: 33 })
        );
        assert_eq!(
            judge(EXPECT, part, end, None, true),
            Verdict::Fail(Failure::Missing {
                pattern: "bootloader:",
                matched: 1,
                total: 4,
                exit: None
            })
        );
    }

    #[test]
    fn killed_after_patterns() {
        let expect: &[&'static str] = &["BLAKE2b mismatch", "refusing to boot"];
        let forbid: &[&'static str] = &["PandaGen kernel"];
        let end = End::KilledAfterPatterns;
        let log =
            "stub: BLAKE2b mismatch for boot():/boot/kernel_bootstrap\nstub: refusing to boot\n";
        let s = scan(log, expect, forbid);
        assert_eq!(judge(expect, s, end, None, false), Verdict::Pass);
        let half = scan("stub: BLAKE2b mismatch\n", expect, forbid);
        assert_eq!(judge(expect, half, end, None, false), Verdict::Running);
        assert!(matches!(
            judge(expect, half, end, Some(QemuExit(None)), false),
            Verdict::Fail(Failure::Missing {
                exit: Some(QemuExit(None)),
                ..
            })
        ));
        assert!(matches!(
            judge(expect, half, end, None, true),
            Verdict::Fail(Failure::Missing {
                pattern: "refusing to boot",
                exit: None,
                ..
            })
        ));
        let booted = scan("PandaGen kernel\n", expect, forbid);
        assert_eq!(
            judge(expect, booted, end, None, false),
            Verdict::Fail(Failure::Forbidden("PandaGen kernel"))
        );
    }

    #[test]
    fn failure_messages() {
        let f = Failure::Missing {
            pattern: "test: PASS",
            matched: 3,
            total: 4,
            exit: None,
        };
        assert_eq!(
            f.to_string(),
            "timed out waiting for \"test: PASS\" (3 of 4 expected patterns seen, in order)"
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
