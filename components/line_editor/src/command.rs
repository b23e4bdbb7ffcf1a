//! The console's commands: parsing a line into a [`Command`], the `help` text, and the one-line
//! errors for lines that are not a command.
//!
//! Words are separated by spaces. `write <file> <text...>` takes the rest of the line, spaces
//! included, as the file's content.

use core::fmt;

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
    /// `ls [dir]`: list a directory (the root when absent).
    Ls(Option<&'a str>),
    /// `cat <file>`: print a file.
    Cat(&'a str),
    /// `write <file> <text...>`: replace a file's content with the text.
    Write {
        /// The file.
        file: &'a str,
        /// Its new content (may be empty).
        text: &'a str,
    },
    /// `rm <file>`: delete a file.
    Rm(&'a str),
    /// `bootcount`: this boot's number.
    Bootcount,
    /// `uptime`: time since boot.
    Uptime,
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
        usage: "ls [dir]",
        summary: "list the files in a directory (default: /)",
    },
    CommandInfo {
        name: "cat",
        usage: "cat <file>",
        summary: "print a file",
    },
    CommandInfo {
        name: "write",
        usage: "write <file> <text...>",
        summary: "write the rest of the line to a file (replaces it)",
    },
    CommandInfo {
        name: "rm",
        usage: "rm <file>",
        summary: "delete a file",
    },
    CommandInfo {
        name: "bootcount",
        usage: "bootcount",
        summary: "show how many times this system has booted",
    },
    CommandInfo {
        name: "uptime",
        usage: "uptime",
        summary: "show the time since boot",
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
        "uptime" => no_args(Command::Uptime),
        "reboot" => no_args(Command::Reboot),
        "poweroff" => no_args(Command::Poweroff),
        "caps" => one_arg(Command::Caps),
        "cat" => one_arg(Command::Cat),
        "rm" => one_arg(Command::Rm),
        "ls" => match (arg, extra) {
            ("", _) => Ok(Some(Command::Ls(None))),
            (dir, "") => Ok(Some(Command::Ls(Some(dir)))),
            _ => usage,
        },
        "write" if !arg.is_empty() => Ok(Some(Command::Write {
            file: arg,
            text: extra,
        })),
        _ => usage,
    }
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
        assert_eq!(parse("ls"), Ok(Some(Command::Ls(None))));
        assert_eq!(parse("ls /docs"), Ok(Some(Command::Ls(Some("/docs")))));
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
        assert_eq!(err("ls a b"), "usage: ls [dir]");
        assert_eq!(err("help me"), "usage: help");
        assert_eq!(err("reboot now"), "usage: reboot");
        assert_eq!(err("bootcount 1"), "usage: bootcount");
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
                .replace("[dir]", "")
                .replace("<text...>", "t t");
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
}
