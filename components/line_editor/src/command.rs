//! The console's commands: parsing a line into a [`Command`], the `help` text, and the one-line
//! errors for lines that are not a command.
//!
//! Words are separated by spaces. `write <file> <text...>` and `append <file> <text...>` take
//! the rest of the line, spaces included, as the text.

use core::fmt;

use abi::{SlotAction, SlotId};

/// A parsed console command; the strings borrow from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `help`: list the commands.
    Help,
    /// `services`: the live state table.
    Services,
    /// `manifest`: the system manifest.
    Manifest,
    /// `caps <name>`: the capabilities granted to a component.
    Caps(&'a str),
    /// `ls [-l] [dir]`: list a directory (the root when absent).
    Ls {
        /// The directory; `None` for the root.
        dir: Option<&'a str>,
        /// `-l`: kind, size and modification time of every entry.
        long: bool,
    },
    /// `cat <file>`: print a file.
    Cat(&'a str),
    /// `stat <path>`: kind, size and modification time of a file or directory.
    Stat(&'a str),
    /// `edit <file>`: edit a file in the vi-like editor (`services_editor_vi`).
    Edit(&'a str),
    /// `sha256 <file>`: the SHA-256 digest of a file.
    Sha256(&'a str),
    /// `write <file> <text...>`: replace a file's content with the text.
    Write {
        /// The file.
        file: &'a str,
        /// Its new content (may be empty).
        text: &'a str,
    },
    /// `append <file> <text...>`: add the text at the end of a file (created if missing).
    Append {
        /// The file.
        file: &'a str,
        /// The text to add (may be empty).
        text: &'a str,
    },
    /// `rm <file>`: delete a file.
    Rm(&'a str),
    /// `mv <from> <to>`: rename a file or directory.
    Mv {
        /// The current path.
        from: &'a str,
        /// The new path.
        to: &'a str,
    },
    /// `mkdir <dir>`: create a directory.
    Mkdir(&'a str),
    /// `rmdir <dir>`: remove an empty directory.
    Rmdir(&'a str),
    /// `df`: size and usage of the filesystem.
    Df,
    /// `bootcount`: this boot's number.
    Bootcount,
    /// `bootlog`: the boot journal, newest boot first.
    Bootlog,
    /// `lastcrash`: the crash record of the last boot that ended in a kernel panic or
    /// exception.
    Lastcrash,
    /// `slots`: the A/B system slots' state.
    Slots,
    /// `slot set-active A|B` or `slot try A|B`: change which system slot boots.
    Slot {
        /// `set-active` (from now on) or `try` (once, on the next boot).
        action: SlotAction,
        /// The slot.
        slot: SlotId,
    },
    /// `update <file>`: apply a delta update from the store into the inactive slot.
    Update(&'a str),
    /// `uptime`: time since boot.
    Uptime,
    /// `net`: the network interface's status.
    Net,
    /// `ping <host> [-c N]`: ICMP echo to an IPv4 address or a name.
    Ping {
        /// The address or name.
        host: &'a str,
        /// Requests to send (1..=100; 4 by default).
        count: u16,
    },
    /// `dns <name>`: look a name up.
    Dns(&'a str),
    /// `http get <url> [-o <file>] [-i]`: fetch a URL to the console or into a file.
    HttpGet {
        /// The URL (`http://HOST[:PORT][/path]`).
        url: &'a str,
        /// `-o FILE`: where the body goes (else the console).
        file: Option<&'a str>,
        /// `-i`: print the status line and headers too.
        include: bool,
    },
    /// `http put <url> <file>`: send a stored file as a PUT body.
    HttpPut {
        /// The URL.
        url: &'a str,
        /// The file sent.
        file: &'a str,
    },
    /// `reboot`: restart the machine.
    Reboot,
    /// `poweroff`: turn the machine off.
    Poweroff,
}

/// One command's entry in the `help` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The command word.
    pub name: &'static str,
    /// The command with its arguments, as shown in `help` and `usage:` errors.
    pub usage: &'static str,
    /// What it does, in a few words.
    pub summary: &'static str,
}

/// Every command, in `help` order.
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        name: "help",
        usage: "help",
        summary: "list the commands",
    },
    CommandInfo {
        name: "services",
        usage: "services",
        summary: "show every service and component with its state",
    },
    CommandInfo {
        name: "manifest",
        usage: "manifest",
        summary: "print the system manifest (JSON)",
    },
    CommandInfo {
        name: "caps",
        usage: "caps <name>",
        summary: "show the capabilities granted to a component",
    },
    CommandInfo {
        name: "ls",
        usage: "ls [-l] [dir]",
        summary: "list a directory (default: /); -l: kind, size, time",
    },
    CommandInfo {
        name: "cat",
        usage: "cat <file>",
        summary: "print a file",
    },
    CommandInfo {
        name: "stat",
        usage: "stat <path>",
        summary: "show the kind, size and modification time of a path",
    },
    CommandInfo {
        name: "edit",
        usage: "edit <file>",
        summary: "edit a file (vi keys: i, ESC, :w, :q, :wq, :q!)",
    },
    CommandInfo {
        name: "sha256",
        usage: "sha256 <file>",
        summary: "print the SHA-256 digest of a file",
    },
    CommandInfo {
        name: "write",
        usage: "write <file> <text...>",
        summary: "write the rest of the line to a file (replaces it)",
    },
    CommandInfo {
        name: "append",
        usage: "append <file> <text...>",
        summary: "add the rest of the line at the end of a file",
    },
    CommandInfo {
        name: "rm",
        usage: "rm <file>",
        summary: "delete a file",
    },
    CommandInfo {
        name: "mv",
        usage: "mv <from> <to>",
        summary: "rename or move a file or directory",
    },
    CommandInfo {
        name: "mkdir",
        usage: "mkdir <dir>",
        summary: "create a directory",
    },
    CommandInfo {
        name: "rmdir",
        usage: "rmdir <dir>",
        summary: "remove an empty directory",
    },
    CommandInfo {
        name: "df",
        usage: "df",
        summary: "show the size and usage of the filesystem",
    },
    CommandInfo {
        name: "bootcount",
        usage: "bootcount",
        summary: "show how many times this system has booted",
    },
    CommandInfo {
        name: "bootlog",
        usage: "bootlog",
        summary: "show what the last boots did, newest first",
    },
    CommandInfo {
        name: "lastcrash",
        usage: "lastcrash",
        summary: "show how the last kernel crash ended a boot, with its last log lines",
    },
    CommandInfo {
        name: "slots",
        usage: "slots",
        summary: "show the system slots A and B: priority, tries, trial",
    },
    CommandInfo {
        name: "slot",
        usage: "slot set-active|try A|B",
        summary: "boot a slot from now on (set-active) or once (try)",
    },
    CommandInfo {
        name: "update",
        usage: "update <file>",
        summary: "apply a delta update (PGDELTA1) into slot B; then reboot to try it",
    },
    CommandInfo {
        name: "uptime",
        usage: "uptime",
        summary: "show the time since boot",
    },
    CommandInfo {
        name: "net",
        usage: "net",
        summary: "show the network: link, MAC, address, gateway, DNS, lease",
    },
    CommandInfo {
        name: "ping",
        usage: "ping <host> [-c N]",
        summary: "send N (default 4, at most 100) echo requests to an address or name",
    },
    CommandInfo {
        name: "dns",
        usage: "dns <name>",
        summary: "look up a name's IPv4 address",
    },
    CommandInfo {
        name: "http",
        usage: "http get <url> [-o <file>] [-i] | http put <url> <file>",
        summary: "HTTP/1.1: fetch a URL (to a file with -o; -i: headers too), or PUT a file",
    },
    CommandInfo {
        name: "reboot",
        usage: "reboot",
        summary: "restart the machine",
    },
    CommandInfo {
        name: "poweroff",
        usage: "poweroff",
        summary: "turn the machine off",
    },
];

/// Why a line is not a command; its `Display` is the one line the console prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// The first word is no command: `error: unknown command 'xyz' (try 'help')`.
    Unknown(&'a str),
    /// The command's arguments are wrong: `usage: cat <file>`.
    Usage(&'static CommandInfo),
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown(word) => write!(f, "error: unknown command '{word}' (try 'help')"),
            ParseError::Usage(info) => write!(f, "usage: {}", info.usage),
        }
    }
}

/// The [`CommandInfo`] of the command called `name`.
pub fn info(name: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The first word of `s` (after leading spaces) and the rest after it (its leading spaces
/// removed).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim_start_matches(' ')),
        None => (s, ""),
    }
}

/// Parses one line. `Ok(None)` for a blank line (the console just prompts again).
pub fn parse<'a>(line: &'a str) -> Result<Option<Command<'a>>, ParseError<'a>> {
    let line = line.trim_matches(' ');
    let (name, rest) = split_word(line);
    if name.is_empty() {
        return Ok(None);
    }
    let Some(info) = info(name) else {
        return Err(ParseError::Unknown(name));
    };
    let usage = Err(ParseError::Usage(info));
    let (arg, extra) = split_word(rest);
    // The commands by how many arguments they take.
    let no_args = |cmd| {
        if rest.is_empty() {
            Ok(Some(cmd))
        } else {
            usage
        }
    };
    let one_arg = |cmd: fn(&'a str) -> Command<'a>| {
        if arg.is_empty() || !extra.is_empty() {
            usage
        } else {
            Ok(Some(cmd(arg)))
        }
    };
    match name {
        "help" => no_args(Command::Help),
        "services" => no_args(Command::Services),
        "manifest" => no_args(Command::Manifest),
        "bootcount" => no_args(Command::Bootcount),
        "bootlog" => no_args(Command::Bootlog),
        "lastcrash" => no_args(Command::Lastcrash),
        "slots" => no_args(Command::Slots),
        "slot" => parse_slot(rest).map_or(usage, |cmd| Ok(Some(cmd))),
        "uptime" => no_args(Command::Uptime),
        "net" => no_args(Command::Net),
        "dns" => one_arg(Command::Dns),
        "ping" => parse_ping(arg, extra).map_or(usage, |cmd| Ok(Some(cmd))),
        "http" => parse_http(arg, extra).map_or(usage, |cmd| Ok(Some(cmd))),
        "reboot" => no_args(Command::Reboot),
        "poweroff" => no_args(Command::Poweroff),
        "df" => no_args(Command::Df),
        "caps" => one_arg(Command::Caps),
        "cat" => one_arg(Command::Cat),
        "stat" => one_arg(Command::Stat),
        "edit" => one_arg(Command::Edit),
        "sha256" => one_arg(Command::Sha256),
        "update" => one_arg(Command::Update),
        "rm" => one_arg(Command::Rm),
        "mkdir" => one_arg(Command::Mkdir),
        "rmdir" => one_arg(Command::Rmdir),
        "mv" => {
            let (to, extra) = split_word(extra);
            if arg.is_empty() || to.is_empty() || !extra.is_empty() {
                usage
            } else {
                Ok(Some(Command::Mv { from: arg, to }))
            }
        }
        "ls" => {
            let (long, (dir, extra)) = match arg {
                "-l" => (true, split_word(extra)),
                _ => (false, (arg, extra)),
            };
            // Other options are refused (a name starting with `-` can be given as `/-name`).
            if !extra.is_empty() || dir.starts_with('-') {
                usage
            } else {
                let dir = (!dir.is_empty()).then_some(dir);
                Ok(Some(Command::Ls { dir, long }))
            }
        }
        "write" if !arg.is_empty() => Ok(Some(Command::Write {
            file: arg,
            text: extra,
        })),
        "append" if !arg.is_empty() => Ok(Some(Command::Append {
            file: arg,
            text: extra,
        })),
        _ => usage,
    }
}

/// The arguments of `ping`: the host, then optionally `-c N` (1..=100).
fn parse_ping<'a>(host: &'a str, rest: &'a str) -> Option<Command<'a>> {
    if host.is_empty() || host.starts_with('-') {
        return None;
    }
    let (flag, rest) = split_word(rest);
    let (n, extra) = split_word(rest);
    let count = match flag {
        "" => 4,
        "-c" => n.parse().ok().filter(|c| (1..=100).contains(c))?,
        _ => return None,
    };
    extra.is_empty().then_some(Command::Ping { host, count })
}

/// The arguments of `http`: `get URL [-o FILE] [-i]` (options in any order, each once) or
/// `put URL FILE`.
fn parse_http<'a>(method: &str, rest: &'a str) -> Option<Command<'a>> {
    let (url, mut rest) = split_word(rest);
    if url.is_empty() || url.starts_with('-') {
        return None;
    }
    if method == "put" {
        let (file, extra) = split_word(rest);
        return (!file.is_empty() && extra.is_empty()).then_some(Command::HttpPut { url, file });
    }
    if method != "get" {
        return None;
    }
    let (mut file, mut include) = (None, false);
    while !rest.is_empty() {
        let (flag, after) = split_word(rest);
        rest = after;
        match flag {
            "-i" if !include => include = true,
            "-o" if file.is_none() => {
                let (name, after) = split_word(rest);
                if name.is_empty() || name.starts_with('-') {
                    return None;
                }
                file = Some(name);
                rest = after;
            }
            _ => return None,
        }
    }
    Some(Command::HttpGet { url, file, include })
}

/// The arguments of `slot`: `set-active A|B` or `try A|B` (the slot in either case).
fn parse_slot(rest: &str) -> Option<Command<'_>> {
    let (action, rest) = split_word(rest);
    let (slot, extra) = split_word(rest);
    let action = match action {
        "set-active" => SlotAction::SetActive,
        "try" => SlotAction::Try,
        _ => return None,
    };
    let slot = match slot {
        "A" | "a" => SlotId::A,
        "B" | "b" => SlotId::B,
        _ => return None,
    };
    extra.is_empty().then_some(Command::Slot { action, slot })
}

/// Writes the `help` text: a header line, then one line per command (`  usage  summary`,
/// aligned), each ending in `\r\n`.
pub fn write_help(out: &mut impl fmt::Write) -> fmt::Result {
    let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0);
    out.write_str("commands:\r\n")?;
    for c in COMMANDS {
        write!(out, "  {:width$}  {}\r\n", c.usage, c.summary)?;
    }
    Ok(())
}

/// Formats microseconds since boot as `1h 02m 03.456s` (hours only when non-zero, minutes only
/// from one minute on).
pub fn write_uptime(out: &mut impl fmt::Write, micros: u64) -> fmt::Result {
    let millis = micros / 1000;
    let (h, m, s, ms) = (
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000,
    );
    if h > 0 {
        write!(out, "{h}h {m:02}m {s:02}.{ms:03}s")
    } else if m > 0 {
        write!(out, "{m}m {s:02}.{ms:03}s")
    } else {
        write!(out, "{s}.{ms:03}s")
    }
}

/// The civil (proleptic Gregorian) date of a day counted from 1970-01-01 (day 0):
/// `(year, month 1..=12, day 1..=31)`. Howard Hinnant's `civil_from_days`, in unsigned
/// arithmetic (every day from 1970 on, up to `u64::MAX / 86400`, is exact).
pub const fn civil_from_days(days: u64) -> (u64, u8, u8) {
    // Days since 0000-03-01, in 400-year eras of 146097 days (a March-based year puts the
    // leap day last).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // 0..=11, March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as u64;
    (year, month as u8, day as u8)
}

/// Formats seconds since 1970-01-01 00:00:00 UTC as `YYYY-MM-DD HH:MM:SS` (UTC; no leap
/// seconds, as in Unix time).
pub fn write_utc(out: &mut impl fmt::Write, secs: u64) -> fmt::Result {
    let (y, mo, d) = civil_from_days(secs / 86_400);
    let t = secs % 86_400;
    let (h, mi, s) = (t / 3600, t / 60 % 60, t % 60);
    write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> String {
        parse(line).unwrap_err().to_string()
    }

    #[test]
    fn simple_commands() {
        assert_eq!(parse("help"), Ok(Some(Command::Help)));
        assert_eq!(parse("services"), Ok(Some(Command::Services)));
        assert_eq!(parse("manifest"), Ok(Some(Command::Manifest)));
        assert_eq!(parse("bootcount"), Ok(Some(Command::Bootcount)));
        assert_eq!(parse("bootlog"), Ok(Some(Command::Bootlog)));
        assert_eq!(parse(" bootlog  "), Ok(Some(Command::Bootlog)));
        assert_eq!(parse("lastcrash"), Ok(Some(Command::Lastcrash)));
        assert_eq!(parse("slots"), Ok(Some(Command::Slots)));
        assert_eq!(parse("uptime"), Ok(Some(Command::Uptime)));
        assert_eq!(parse("reboot"), Ok(Some(Command::Reboot)));
        assert_eq!(parse("poweroff"), Ok(Some(Command::Poweroff)));
        assert_eq!(parse("  help  "), Ok(Some(Command::Help)));
    }

    #[test]
    fn blank_lines() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("    "), Ok(None));
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse("caps cli_console"),
            Ok(Some(Command::Caps("cli_console")))
        );
        assert_eq!(parse("cat notes.txt"), Ok(Some(Command::Cat("notes.txt"))));
        assert_eq!(
            parse("rm   notes.txt  "),
            Ok(Some(Command::Rm("notes.txt")))
        );
        let ls = |dir, long| Ok(Some(Command::Ls { dir, long }));
        assert_eq!(parse("ls"), ls(None, false));
        assert_eq!(parse("ls /docs"), ls(Some("/docs"), false));
        assert_eq!(parse("ls -l"), ls(None, true));
        assert_eq!(parse("ls  -l  /docs "), ls(Some("/docs"), true));
        assert_eq!(parse("ls /-l"), ls(Some("/-l"), false));
        assert_eq!(parse("stat a/b"), Ok(Some(Command::Stat("a/b"))));
        assert_eq!(parse("sha256 big"), Ok(Some(Command::Sha256("big"))));
        assert_eq!(
            parse("edit notes.txt"),
            Ok(Some(Command::Edit("notes.txt")))
        );
        assert_eq!(
            parse("  edit  /a/b.txt "),
            Ok(Some(Command::Edit("/a/b.txt")))
        );
        assert_eq!(parse("mkdir d"), Ok(Some(Command::Mkdir("d"))));
        assert_eq!(parse("rmdir d"), Ok(Some(Command::Rmdir("d"))));
        assert_eq!(parse("df"), Ok(Some(Command::Df)));
        assert_eq!(
            parse("mv  a   d/b "),
            Ok(Some(Command::Mv {
                from: "a",
                to: "d/b"
            }))
        );
    }

    #[test]
    fn slot_commands() {
        let slot = |action, slot| Ok(Some(Command::Slot { action, slot }));
        assert_eq!(
            parse("slot set-active B"),
            slot(SlotAction::SetActive, SlotId::B)
        );
        assert_eq!(parse("slot  try  a "), slot(SlotAction::Try, SlotId::A));
        assert_eq!(parse("slot try b"), slot(SlotAction::Try, SlotId::B));
        for bad in [
            "slot",
            "slot try",
            "slot try C",
            "slot try A B",
            "slot activate A",
            "slot set-active",
            "slot A",
            "slots A",
        ] {
            let want = if bad.starts_with("slots") {
                "usage: slots"
            } else {
                "usage: slot set-active|try A|B"
            };
            assert_eq!(err(bad), want, "{bad:?}");
        }
    }

    #[test]
    fn write_takes_the_rest_of_the_line() {
        assert_eq!(
            parse("write notes.txt hello  big   world"),
            Ok(Some(Command::Write {
                file: "notes.txt",
                text: "hello  big   world"
            }))
        );
        assert_eq!(
            parse("write   a.txt    x"),
            Ok(Some(Command::Write {
                file: "a.txt",
                text: "x"
            }))
        );
        assert_eq!(
            parse("write empty.txt"),
            Ok(Some(Command::Write {
                file: "empty.txt",
                text: ""
            }))
        );
        assert_eq!(
            parse("append log  one  two"),
            Ok(Some(Command::Append {
                file: "log",
                text: "one  two"
            }))
        );
    }

    #[test]
    fn unknown_command() {
        assert_eq!(
            err("frobnicate"),
            "error: unknown command 'frobnicate' (try 'help')"
        );
        assert_eq!(
            err("  xyz a b"),
            "error: unknown command 'xyz' (try 'help')"
        );
        // Case matters.
        assert_eq!(err("HELP"), "error: unknown command 'HELP' (try 'help')");
    }

    #[test]
    fn usage_errors() {
        assert_eq!(err("cat"), "usage: cat <file>");
        assert_eq!(err("cat a b"), "usage: cat <file>");
        assert_eq!(err("rm"), "usage: rm <file>");
        assert_eq!(err("caps"), "usage: caps <name>");
        assert_eq!(err("write"), "usage: write <file> <text...>");
        assert_eq!(err("ls a b"), "usage: ls [-l] [dir]");
        assert_eq!(err("ls -l a b"), "usage: ls [-l] [dir]");
        assert_eq!(err("ls -a"), "usage: ls [-l] [dir]");
        assert_eq!(err("ls -l -l"), "usage: ls [-l] [dir]");
        assert_eq!(err("append"), "usage: append <file> <text...>");
        assert_eq!(err("mv a"), "usage: mv <from> <to>");
        assert_eq!(err("mv a b c"), "usage: mv <from> <to>");
        assert_eq!(err("mkdir"), "usage: mkdir <dir>");
        assert_eq!(err("rmdir a b"), "usage: rmdir <dir>");
        assert_eq!(err("stat"), "usage: stat <path>");
        assert_eq!(err("sha256"), "usage: sha256 <file>");
        assert_eq!(err("edit"), "usage: edit <file>");
        assert_eq!(err("edit a b"), "usage: edit <file>");
        assert_eq!(err("df -h"), "usage: df");
        assert_eq!(err("help me"), "usage: help");
        assert_eq!(err("reboot now"), "usage: reboot");
        assert_eq!(err("bootcount 1"), "usage: bootcount");
        assert_eq!(err("bootlog -a"), "usage: bootlog");
        assert_eq!(err("lastcrash x"), "usage: lastcrash");
        assert_eq!(
            err("BOOTLOG"),
            "error: unknown command 'BOOTLOG' (try 'help')"
        );
    }

    #[test]
    fn every_command_parses_and_is_in_help() {
        let mut help = String::new();
        write_help(&mut help).unwrap();
        assert!(help.starts_with("commands:\r\n"));
        assert_eq!(help.matches("\r\n").count(), COMMANDS.len() + 1);
        assert!(!help.replace("\r\n", "").contains('\n'));
        for c in COMMANDS {
            assert!(help.contains(c.usage), "{} missing from help", c.name);
            // The usage line, filled in with arguments, parses as that command.
            let example = c
                .usage
                .replace("<file>", "f")
                .replace("<name>", "n")
                .replace("<path>", "p")
                .replace("<dir>", "d")
                .replace("<from>", "a")
                .replace("<to>", "b")
                .replace("[-l]", "-l")
                .replace("[dir]", "")
                .replace("<text...>", "t t")
                .replace("<host> [-c N]", "10.0.2.2 -c 3")
                .replace(" | http put <url> f", "")
                .replace("<url> [-o f] [-i]", "http://h/x -o f -i")
                .replace("set-active|try A|B", "try B");
            assert!(matches!(parse(&example), Ok(Some(_))), "{example}");
            // A usage error names the command's own usage.
            if let Err(ParseError::Usage(i)) = parse(&format!("{} a b c", c.name)) {
                assert_eq!(i.name, c.name);
            }
        }
        // Names are unique.
        for (i, a) in COMMANDS.iter().enumerate() {
            assert!(COMMANDS[i + 1..].iter().all(|b| b.name != a.name));
        }
    }

    #[test]
    fn ping_arguments() {
        let ping = |host, count| Ok(Some(Command::Ping { host, count }));
        assert_eq!(parse("ping 10.0.2.2"), ping("10.0.2.2", 4));
        assert_eq!(parse("ping 10.0.2.2 -c 3"), ping("10.0.2.2", 3));
        assert_eq!(parse("ping example.com -c 100"), ping("example.com", 100));
        for bad in [
            "ping",
            "ping -c 3",
            "ping h -c",
            "ping h -c 0",
            "ping h -c 101",
            "ping h x",
        ] {
            assert!(matches!(parse(bad), Err(ParseError::Usage(_))), "{bad}");
        }
        assert_eq!(parse("net"), Ok(Some(Command::Net)));
        assert_eq!(
            parse("dns example.com"),
            Ok(Some(Command::Dns("example.com")))
        );
    }

    #[test]
    fn http_arguments() {
        let get = |url, file, include| Ok(Some(Command::HttpGet { url, file, include }));
        assert_eq!(parse("http get http://h/"), get("http://h/", None, false));
        assert_eq!(parse("http get http://h/ -i"), get("http://h/", None, true));
        assert_eq!(
            parse("http  get http://h/x -o  f1 "),
            get("http://h/x", Some("f1"), false)
        );
        assert_eq!(
            parse("http get http://h/x -i -o f"),
            get("http://h/x", Some("f"), true)
        );
        assert_eq!(
            parse("http put http://h/up big.bin"),
            Ok(Some(Command::HttpPut {
                url: "http://h/up",
                file: "big.bin"
            }))
        );
        for bad in [
            "http",
            "http get",
            "http get -o f",
            "http get http://h/ -o",
            "http get http://h/ -o -i",
            "http get http://h/ -i -i",
            "http get http://h/ -o a -o b",
            "http get http://h/ extra",
            "http put http://h/",
            "http put http://h/ a b",
            "http post http://h/",
        ] {
            assert!(matches!(parse(bad), Err(ParseError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn uptime_format() {
        let show = |us| {
            let mut s = String::new();
            write_uptime(&mut s, us).unwrap();
            s
        };
        assert_eq!(show(0), "0.000s");
        assert_eq!(show(12_345_678), "12.345s");
        assert_eq!(show(61_000_000), "1m 01.000s");
        assert_eq!(show(3_723_004_000), "1h 02m 03.004s");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(31), (1970, 2, 1));
        assert_eq!(civil_from_days(365), (1971, 1, 1));
        // Leap days: 1972 (every 4 years), 2000 (every 400), not 2100 (every 100).
        assert_eq!(civil_from_days(789), (1972, 2, 29));
        assert_eq!(civil_from_days(790), (1972, 3, 1));
        assert_eq!(civil_from_days(10_956), (1999, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        assert_eq!(civil_from_days(19_722), (2023, 12, 31));
        // Day by day against a naive calendar walk over 1970..2500.
        let leap =
            |y: u64| y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
        let (mut y, mut m, mut d) = (1970u64, 1u8, 1u8);
        for days in 0..(530 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                (d, m) = (1, m + 1);
                if m > 12 {
                    (m, y) = (1, y + 1);
                }
            }
        }
        // The far end does not overflow.
        let (y, _, _) = civil_from_days(u64::MAX / 86_400);
        assert!(y > 500_000_000_000);
    }

    #[test]
    fn utc_format() {
        let show = |secs| {
            let mut s = String::new();
            write_utc(&mut s, secs).unwrap();
            s
        };
        assert_eq!(show(0), "1970-01-01 00:00:00");
        assert_eq!(show(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(show(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(show(4_102_444_799), "2099-12-31 23:59:59");
    }
}
