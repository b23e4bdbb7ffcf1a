//! Running console [`Command`]s: everything between a parsed command and the text it prints,
//! with the system calls behind a [`System`] trait so that it runs on the host in tests.
//! `cli_console` implements `System` with the runtime's syscall wrappers.
//!
//! Every line printed ends in `\r\n`. A failing command prints one line,
//! `error: <command> <argument>: <reason>` (e.g. `error: cat notes.txt: not found`).

use core::fmt::{self, Write};

use abi::Error;
use protocol::storage::{EntryKind, Request, Response, StorageError, WireError};
use protocol::MAX_MESSAGE;

use crate::command::{write_help, write_uptime, Command};

/// The system calls the commands need.
pub trait System {
    /// SERVICES: the state table into `buf`; returns its full length.
    fn services(&mut self, buf: &mut [u8]) -> Result<usize, Error>;
    /// MANIFEST: the manifest JSON into `buf`; returns its full length.
    fn manifest(&mut self, buf: &mut [u8]) -> Result<usize, Error>;
    /// COMPONENT_CAPS: `name`'s granted capabilities (`cap\n` each) into `buf`; full length.
    fn component_caps(&mut self, name: &str, buf: &mut [u8]) -> Result<usize, Error>;
    /// IPC_CALL to `storage_api`: the reply into `reply`; returns its length.
    fn storage_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error>;
    /// BOOTCOUNT.
    fn bootcount(&mut self) -> Result<u64, Error>;
    /// UPTIME, in microseconds.
    fn uptime(&mut self) -> Result<u64, Error>;
    /// REBOOT: returns only if it failed.
    fn reboot(&mut self) -> Error;
    /// POWEROFF: returns only if it failed.
    fn poweroff(&mut self) -> Error;
}

/// The endpoint the file commands call (`services_storage`'s).
pub const STORAGE_ENDPOINT: &str = protocol::storage::ENDPOINT;

/// Size of the buffer `services` reads the state table into.
pub const SERVICES_BUF: usize = 4096;
/// Size of the buffer `manifest` reads the JSON into (also: a storage request and its reply,
/// [`MAX_MESSAGE`] bytes each).
pub const MANIFEST_BUF: usize = 2 * MAX_MESSAGE;

/// Runs `cmd`, writing its output (and its error line, if it fails) to `out`.
pub fn run(cmd: Command<'_>, sys: &mut impl System, out: &mut impl Write) -> fmt::Result {
    // One buffer for whatever the command reads (kept off the stack frames of the arms).
    let mut buf = [0u8; MANIFEST_BUF];
    match cmd {
        Command::Help => write_help(out),
        Command::Services => {
            let buf = &mut buf[..SERVICES_BUF];
            match sys.services(buf) {
                Ok(full) => write_listing(out, buf, full),
                Err(e) => writeln_crlf(out, format_args!("error: services: {e}")),
            }
        }
        Command::Manifest => match sys.manifest(&mut buf) {
            Ok(full) => {
                let shown = &buf[..full.min(buf.len())];
                match core::str::from_utf8(shown) {
                    // Complete and text: pretty-printed; else as it came, with the note.
                    Ok(json) if full <= buf.len() => write_json(out, json),
                    _ => write_listing(out, &buf, full),
                }
            }
            Err(e) => writeln_crlf(out, format_args!("error: manifest: {e}")),
        },
        Command::Caps(name) => {
            let buf = &mut buf[..512];
            match sys.component_caps(name, buf) {
                Ok(full) => {
                    let shown = &buf[..full.min(buf.len())];
                    let text = core::str::from_utf8(shown).unwrap_or("");
                    write!(out, "{name}:")?;
                    let mut any = false;
                    for cap in text.split('\n').filter(|c| !c.is_empty()) {
                        write!(out, " {cap}")?;
                        any = true;
                    }
                    if full > buf.len() {
                        out.write_str(" ...")?;
                    } else if !any {
                        out.write_str(" (none)")?;
                    }
                    out.write_str("\r\n")
                }
                Err(Error::NotFound) => writeln_crlf(
                    out,
                    format_args!("error: caps {name}: no such component in the manifest"),
                ),
                Err(e) => writeln_crlf(out, format_args!("error: caps {name}: {e}")),
            }
        }
        Command::Ls(dir) => {
            let shown_dir = dir.unwrap_or("/");
            match storage(sys, &Request::List { dir: shown_dir }, &mut buf) {
                Ok(Response::Entries(entries)) => {
                    if entries.is_empty() {
                        out.write_str("(no files)\r\n")?;
                    }
                    for e in entries.iter() {
                        match e.kind {
                            EntryKind::File { size } => {
                                let unit = if size == 1 { "byte" } else { "bytes" };
                                write!(out, "{:<32} {size} {unit}\r\n", e.name)?
                            }
                            EntryKind::Dir => write!(out, "{}/\r\n", e.name)?,
                            EntryKind::Damaged { block } => write!(
                                out,
                                "{:<32} damaged record at block {block}\r\n",
                                if e.name.is_empty() { "?" } else { e.name }
                            )?,
                        }
                    }
                    if entries.truncated() {
                        out.write_str("... (more entries than fit in one reply)\r\n")?;
                    }
                    Ok(())
                }
                Ok(_) => fail(out, "ls", dir, Failure::Unexpected),
                Err(f) => fail(out, "ls", dir, f),
            }
        }
        Command::Cat(file) => match storage(sys, &Request::Read { path: file }, &mut buf) {
            Ok(Response::Data(data)) => {
                write_text(out, data)?;
                if !data.is_empty() && !data.ends_with(b"\n") {
                    out.write_str("\r\n")?;
                }
                Ok(())
            }
            Ok(_) => fail(out, "cat", Some(file), Failure::Unexpected),
            Err(f) => fail(out, "cat", Some(file), f),
        },
        Command::Write { file, text } => {
            let req = Request::Write {
                path: file,
                data: text.as_bytes(),
            };
            match storage(sys, &req, &mut buf) {
                Ok(Response::Ok) => {
                    let n = text.len();
                    let unit = if n == 1 { "byte" } else { "bytes" };
                    writeln_crlf(out, format_args!("wrote {n} {unit} to {file}"))
                }
                Ok(_) => fail(out, "write", Some(file), Failure::Unexpected),
                Err(f) => fail(out, "write", Some(file), f),
            }
        }
        Command::Rm(file) => match storage(sys, &Request::Delete { path: file }, &mut buf) {
            Ok(Response::Ok) => writeln_crlf(out, format_args!("removed {file}")),
            Ok(_) => fail(out, "rm", Some(file), Failure::Unexpected),
            Err(f) => fail(out, "rm", Some(file), f),
        },
        Command::Bootcount => match sys.bootcount() {
            Ok(n) => writeln_crlf(out, format_args!("boot count: {n}")),
            Err(e) => writeln_crlf(out, format_args!("error: bootcount: {e}")),
        },
        Command::Uptime => match sys.uptime() {
            Ok(us) => {
                out.write_str("up ")?;
                write_uptime(out, us)?;
                out.write_str("\r\n")
            }
            Err(e) => writeln_crlf(out, format_args!("error: uptime: {e}")),
        },
        Command::Reboot => {
            let e = sys.reboot();
            writeln_crlf(out, format_args!("error: reboot: {e}"))
        }
        Command::Poweroff => {
            let e = sys.poweroff();
            writeln_crlf(out, format_args!("error: poweroff: {e}"))
        }
    }
}

/// What a command says before it calls REBOOT or POWEROFF (the caller prints it first, since
/// on success the call does not return).
pub fn farewell(cmd: &Command<'_>) -> Option<&'static str> {
    match cmd {
        Command::Reboot => Some("rebooting...\r\n"),
        Command::Poweroff => Some("powering off...\r\n"),
        _ => None,
    }
}

/// Why a storage command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The IPC call itself failed (the service is missing, gone, too slow, ...).
    Ipc(Error),
    /// The service answered with an error.
    Storage(StorageError),
    /// The request could not be encoded (e.g. a path too long for a message).
    Encode(WireError),
    /// The reply could not be decoded.
    Decode(WireError),
    /// A valid reply of the wrong kind for the request.
    Unexpected,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Ipc(Error::NotFound) => f.write_str("storage service not running"),
            Failure::Ipc(e) => write!(f, "storage service: {e}"),
            Failure::Storage(e) => write!(f, "{e}"),
            Failure::Encode(WireError::TooLong) => f.write_str("argument too long"),
            Failure::Encode(e) => write!(f, "cannot encode request: {e}"),
            Failure::Decode(e) => write!(f, "bad reply from storage service: {e}"),
            Failure::Unexpected => f.write_str("unexpected reply from storage service"),
        }
    }
}

/// One `storage_api` round trip.
/// `buf` holds the request, then the reply (at least [`MAX_MESSAGE`] bytes of it are used).
fn storage<'r>(
    sys: &mut impl System,
    req: &Request<'_>,
    buf: &'r mut [u8],
) -> Result<Response<'r>, Failure> {
    let (request, reply) = buf.split_at_mut(buf.len() / 2);
    let n = req.encode(request).map_err(Failure::Encode)?;
    let len = sys
        .storage_call(&request[..n], reply)
        .map_err(Failure::Ipc)?;
    let reply: &'r [u8] = &reply[..len.min(reply.len())];
    match Response::decode(reply).map_err(Failure::Decode)? {
        Response::Err(e, _) => Err(Failure::Storage(e)),
        r => Ok(r),
    }
}

fn fail(out: &mut impl Write, cmd: &str, arg: Option<&str>, why: Failure) -> fmt::Result {
    match arg {
        Some(arg) => writeln_crlf(out, format_args!("error: {cmd} {arg}: {why}")),
        None => writeln_crlf(out, format_args!("error: {cmd}: {why}")),
    }
}

fn writeln_crlf(out: &mut impl Write, args: fmt::Arguments<'_>) -> fmt::Result {
    out.write_fmt(args)?;
    out.write_str("\r\n")
}

/// Text the kernel returned (`full` bytes, of which `buf` holds the first ones), line ends as
/// `\r\n`, ending in a line end, with a note when it was cut.
fn write_listing(out: &mut impl Write, buf: &[u8], full: usize) -> fmt::Result {
    let shown = &buf[..full.min(buf.len())];
    write_text(out, shown)?;
    if !shown.is_empty() && !shown.ends_with(b"\n") {
        out.write_str("\r\n")?;
    }
    if full > buf.len() {
        writeln_crlf(
            out,
            format_args!("... ({} more bytes not shown)", full - buf.len()),
        )?;
    }
    Ok(())
}

/// Arrays of scalars no longer than this many bytes are printed on one line by [`write_json`].
const JSON_INLINE_MAX: usize = 72;

/// Pretty-prints JSON (assumed valid; anything else comes out reformatted but complete): one
/// member per line, indented by two spaces per level, short arrays of scalars on one line,
/// `\r\n` line ends. Strings are copied as they are, control characters escaped.
pub fn write_json(out: &mut impl Write, json: &str) -> fmt::Result {
    let bytes = json.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let newline = |out: &mut dyn Write, depth: usize| -> fmt::Result {
        out.write_str("\r\n")?;
        (0..depth).try_for_each(|_| out.write_str("  "))
    };
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'"' => {
                let end = string_end(bytes, i);
                write_text(out, &bytes[i..end])?;
                i = end;
                continue;
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                let next = bytes[i + 1..].iter().position(|b| !b.is_ascii_whitespace());
                if next.map(|n| bytes[i + 1 + n]) == Some(close) {
                    out.write_char(c as char)?;
                    out.write_char(close as char)?;
                    i += 2 + next.unwrap_or(0);
                    continue;
                }
                if let Some(end) = inline_array_end(bytes, i) {
                    // `[a, b]`: the scalars with a space after each comma.
                    let mut j = i;
                    while j <= end {
                        match bytes[j] {
                            b'"' => {
                                let e = string_end(bytes, j);
                                write_text(out, &bytes[j..e])?;
                                j = e;
                                continue;
                            }
                            b',' => out.write_str(", ")?,
                            b if b.is_ascii_whitespace() => {}
                            b => write_text(out, &[b])?,
                        }
                        j += 1;
                    }
                    i = end + 1;
                    continue;
                }
                out.write_char(c as char)?;
                depth += 1;
                newline(out, depth)?;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth)?;
                out.write_char(c as char)?;
            }
            b',' => {
                out.write_char(',')?;
                newline(out, depth)?;
            }
            b':' => out.write_str(": ")?,
            b if b.is_ascii_whitespace() => {}
            _ => {
                // A run of scalar characters (numbers, true, false, null).
                let end = bytes[i..]
                    .iter()
                    .position(|b| b",:{}[]\"".contains(b) || b.is_ascii_whitespace())
                    .map_or(bytes.len(), |n| i + n);
                write_text(out, &bytes[i..end])?;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.write_str("\r\n")
}

/// The index after the string starting with the quote at `start` (or the end of the input).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// If the `[` at `start` opens an array of scalars that is short enough for one line, the
/// index of its `]`.
fn inline_array_end(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes[start] != b'[' {
        return None;
    }
    let mut j = start + 1;
    while j < bytes.len() && j - start <= JSON_INLINE_MAX {
        match bytes[j] {
            b'"' => j = string_end(bytes, j),
            b']' => return Some(j),
            b'[' | b'{' => return None,
            _ => j += 1,
        }
    }
    None
}

/// Writes bytes for a terminal: `\n` as `\r\n`, tabs as they are, other control characters
/// and bytes that are not UTF-8 escaped (`\u{1b}`, `\xff`), so a file cannot drive the
/// terminal.
pub fn write_text(out: &mut impl Write, bytes: &[u8]) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.write_str("\r\n")?,
                '\t' => out.write_char('\t')?,
                // A `\r\n` in the text: the `\n` brings the `\r`.
                '\r' => {}
                c if c.is_control() => write!(out, "{}", c.escape_default())?,
                c => out.write_char(c)?,
            }
        }
        for b in chunk.invalid() {
            write!(out, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::parse;
    use protocol::storage::{normalize, EntriesWriter, Entry};
    use std::collections::BTreeMap;

    /// A fake system: an in-memory file store speaking `storage_api`, and canned answers.
    #[derive(Default)]
    struct Fake {
        files: BTreeMap<String, Vec<u8>>,
        storage_down: Option<Error>,
        garbage_reply: bool,
        reboots: usize,
        /// The manifest; by default one too big for the buffer.
        manifest_json: Option<String>,
    }

    const TABLE: &str =
        "NAME              STATE\nservices_storage  running\ncli_console       running";

    impl System for Fake {
        fn services(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
            let n = TABLE.len().min(buf.len());
            buf[..n].copy_from_slice(&TABLE.as_bytes()[..n]);
            Ok(TABLE.len())
        }
        fn manifest(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
            // Bigger than the buffer: the listing says so.
            let json = self
                .manifest_json
                .clone()
                .unwrap_or_else(|| format!("{{\n  \"services\": [{}]\n}}\n", "1,".repeat(5000)));
            let n = json.len().min(buf.len());
            buf[..n].copy_from_slice(&json.as_bytes()[..n]);
            Ok(json.len())
        }
        fn component_caps(&mut self, name: &str, buf: &mut [u8]) -> Result<usize, Error> {
            let caps: &[u8] = match name {
                "services_storage" => b"block_device\npersistent_storage\n",
                "services_logger" => b"",
                _ => return Err(Error::NotFound),
            };
            buf[..caps.len()].copy_from_slice(caps);
            Ok(caps.len())
        }
        fn storage_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
            if let Some(e) = self.storage_down {
                return Err(e);
            }
            if self.garbage_reply {
                reply[0] = 0x42;
                return Ok(1);
            }
            let req = Request::decode(request).expect("the shell sends valid requests");
            let resp = match req {
                Request::Write { path, data } => match normalize(path) {
                    Ok(p) => {
                        self.files.insert(p.to_string(), data.to_vec());
                        Response::Ok
                    }
                    Err(e) => Response::Err(e, ""),
                },
                Request::Read { path } => match self.files.get(normalize(path).unwrap_or("")) {
                    Some(d) => {
                        let d = d.clone();
                        return Ok(Response::Data(&d).encode(reply).unwrap());
                    }
                    None => Response::Err(StorageError::NotFound, "no such file"),
                },
                Request::Delete { path } => {
                    match self.files.remove(normalize(path).unwrap_or("")) {
                        Some(_) => Response::Ok,
                        None => Response::Err(StorageError::NotFound, ""),
                    }
                }
                Request::List { dir } => {
                    assert_eq!(normalize(dir), Ok(""), "the fake has only the root");
                    let mut w = EntriesWriter::new(reply).unwrap();
                    for (name, data) in &self.files {
                        w.push(Entry {
                            name,
                            kind: EntryKind::File {
                                size: data.len() as u32,
                            },
                        });
                    }
                    w.push(Entry {
                        name: "",
                        kind: EntryKind::Damaged { block: 7 },
                    });
                    return Ok(w.finish());
                }
                _ => Response::Err(StorageError::BadRequest, ""),
            };
            Ok(resp.encode(reply).unwrap())
        }
        fn bootcount(&mut self) -> Result<u64, Error> {
            Ok(3)
        }
        fn uptime(&mut self) -> Result<u64, Error> {
            Ok(61_500_000)
        }
        fn reboot(&mut self) -> Error {
            self.reboots += 1;
            Error::Unsupported
        }
        fn poweroff(&mut self) -> Error {
            Error::Denied
        }
    }

    fn sh(sys: &mut Fake, line: &str) -> String {
        let mut out = String::new();
        match parse(line) {
            Ok(Some(cmd)) => run(cmd, sys, &mut out).unwrap(),
            Ok(None) => {}
            Err(e) => write!(out, "{e}\r\n").unwrap(),
        }
        assert!(
            out.is_empty() || out.ends_with("\r\n"),
            "{line}: output must end in \\r\\n: {out:?}"
        );
        assert!(
            !out.replace("\r\n", "").contains('\n'),
            "{line}: bare \\n in {out:?}"
        );
        out
    }

    #[test]
    fn file_commands() {
        let mut sys = Fake::default();
        assert_eq!(
            sh(&mut sys, "write notes.txt hello"),
            "wrote 5 bytes to notes.txt\r\n"
        );
        assert_eq!(sh(&mut sys, "cat notes.txt"), "hello\r\n");
        let ls = sh(&mut sys, "ls");
        assert!(ls.starts_with("notes.txt "), "{ls}");
        assert!(ls.contains(" 5 bytes\r\n"));
        assert!(ls.contains("?  "), "damaged entries are shown: {ls}");
        assert!(ls.contains("damaged record at block 7\r\n"));
        assert_eq!(sh(&mut sys, "rm notes.txt"), "removed notes.txt\r\n");
        assert!(!sh(&mut sys, "ls").contains("notes.txt"));
        assert_eq!(sh(&mut sys, "ls /"), sh(&mut sys, "ls"));
        assert_eq!(sh(&mut sys, "write a x"), "wrote 1 byte to a\r\n");
        assert_eq!(sh(&mut sys, "write e"), "wrote 0 bytes to e\r\n");
        assert_eq!(sh(&mut sys, "cat e"), "");
    }

    #[test]
    fn storage_errors_are_one_line() {
        let mut sys = Fake::default();
        assert_eq!(
            sh(&mut sys, "cat notes.txt"),
            "error: cat notes.txt: not found\r\n"
        );
        assert_eq!(
            sh(&mut sys, "rm notes.txt"),
            "error: rm notes.txt: not found\r\n"
        );
        assert_eq!(
            sh(&mut sys, "write a*b x"),
            "error: write a*b: invalid path\r\n"
        );
        sys.storage_down = Some(Error::Timeout);
        assert_eq!(
            sh(&mut sys, "ls"),
            "error: ls: storage service: timed out\r\n"
        );
        sys.storage_down = Some(Error::NotFound);
        assert_eq!(
            sh(&mut sys, "cat x"),
            "error: cat x: storage service not running\r\n"
        );
        sys.storage_down = None;
        sys.garbage_reply = true;
        assert_eq!(
            sh(&mut sys, "rm x"),
            "error: rm x: bad reply from storage service: unknown tag 0x42\r\n"
        );
        // A path longer than a request can carry.
        sys.garbage_reply = false;
        let long = "p".repeat(5000);
        assert!(sh(&mut sys, &format!("cat {long}")).starts_with("error: cat ppp"));
    }

    #[test]
    fn cat_escapes_control_bytes_and_converts_newlines() {
        let mut sys = Fake::default();
        sys.files
            .insert("f".into(), b"a\nb\r\nc\x1b[2J\xff\tz\n".to_vec());
        assert_eq!(sh(&mut sys, "cat f"), "a\r\nb\r\nc\\u{1b}[2J\\xff\tz\r\n");
    }

    #[test]
    fn system_commands() {
        let mut sys = Fake::default();
        assert_eq!(
            sh(&mut sys, "services"),
            "NAME              STATE\r\nservices_storage  running\r\ncli_console       running\r\n"
        );
        let m = sh(&mut sys, "manifest");
        assert!(m.starts_with("{\r\n  \"services\""));
        assert!(
            m.ends_with(" more bytes not shown)\r\n"),
            "{}",
            &m[m.len() - 80..]
        );
        assert_eq!(
            sh(&mut sys, "caps services_storage"),
            "services_storage: block_device persistent_storage\r\n"
        );
        assert_eq!(
            sh(&mut sys, "caps services_logger"),
            "services_logger: (none)\r\n"
        );
        assert_eq!(
            sh(&mut sys, "caps gpu_driver"),
            "error: caps gpu_driver: no such component in the manifest\r\n"
        );
        assert_eq!(sh(&mut sys, "bootcount"), "boot count: 3\r\n");
        assert_eq!(sh(&mut sys, "uptime"), "up 1m 01.500s\r\n");
        assert_eq!(sh(&mut sys, "reboot"), "error: reboot: unsupported\r\n");
        assert_eq!(sys.reboots, 1);
        assert_eq!(sh(&mut sys, "poweroff"), "error: poweroff: denied\r\n");
        assert_eq!(farewell(&Command::Reboot), Some("rebooting...\r\n"));
        assert_eq!(farewell(&Command::Help), None);
    }

    #[test]
    fn json_is_pretty_printed() {
        let json = r#"{"format_version":1,"kernel":{"binary":"k","size_bytes":5},"services":[{"name":"s","capabilities":["block_device","persistent_storage"],"depends_on":[],"x":"a,b:[c]\"{"}],"empty":{},"init_sequence":["s", "c"]}"#;
        let mut out = String::new();
        write_json(&mut out, json).unwrap();
        let expected = [
            "{",
            "  \"format_version\": 1,",
            "  \"kernel\": {",
            "    \"binary\": \"k\",",
            "    \"size_bytes\": 5",
            "  },",
            "  \"services\": [",
            "    {",
            "      \"name\": \"s\",",
            "      \"capabilities\": [\"block_device\", \"persistent_storage\"],",
            "      \"depends_on\": [],",
            "      \"x\": \"a,b:[c]\\\"{\"",
            "    }",
            "  ],",
            "  \"empty\": {},",
            "  \"init_sequence\": [\"s\", \"c\"]",
            "}",
            "",
        ]
        .join("\r\n");
        assert_eq!(out, expected);
        // Garbage does not panic.
        for junk in ["", "{", "]]]", "\"", "[\"a", "{\"a\":[1,2", "\\"] {
            let mut out = String::new();
            write_json(&mut out, junk).unwrap();
        }
    }

    #[test]
    fn manifest_command_pretty_prints_when_complete() {
        let mut sys = Fake {
            manifest_json: Some(r#"{"a":[1,2],"b":{}}"#.into()),
            ..Fake::default()
        };
        assert_eq!(
            sh(&mut sys, "manifest"),
            "{\r\n  \"a\": [1, 2],\r\n  \"b\": {}\r\n}\r\n"
        );
    }

    #[test]
    fn help_and_parse_errors() {
        let mut sys = Fake::default();
        let help = sh(&mut sys, "help");
        for c in crate::command::COMMANDS {
            assert!(help.contains(c.usage));
        }
        assert_eq!(
            sh(&mut sys, "frobnicate"),
            "error: unknown command 'frobnicate' (try 'help')\r\n"
        );
        assert_eq!(sh(&mut sys, "cat"), "usage: cat <file>\r\n");
        assert_eq!(sh(&mut sys, ""), "");
    }
}
