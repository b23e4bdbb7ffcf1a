//! Running console [`Command`]s: everything between a parsed command and the text it prints,
//! with the system calls behind a [`System`] trait so that it runs on the host in tests.
//! `cli_console` implements `System` with the runtime's syscall wrappers.
//!
//! Every line printed ends in `\r\n`. A failing command prints one line,
//! `error: <command> <argument>: <reason>` (e.g. `error: cat notes.txt: not found`).
//!
//! The reading file commands `ls`, `cat` and `stat` speak `fs_view_api`
//! ([`protocol::fs_view`], `services_fs_view`: stateless, read-only, [`CHUNK`] bytes per
//! `Read`). The others speak `storage_api` ([`protocol::storage`]): files are read and written
//! through handles, chunk by chunk ([`CHUNK`] bytes at most per request), and a handle that
//! was opened is always closed, also when a request failed halfway. The data a writing command
//! wrote is durable once its Close succeeded; when that Close fails, the command says so.
//! `edit` runs an editing session with `services_editor_vi` ([`crate::edit`]).

use core::fmt::{self, Write};

use abi::{Error, SlotAction, SlotId};
use protocol::fs_view;
use protocol::storage::MAX_LIST_REPLY;
use protocol::storage::{
    Entry, FsInfo, Kind, OpenFlags, Request, Response, Stat, StorageError, WireError, MAX_CURSOR,
};
use sha2::{Digest, Sha256};

use crate::command::{write_help, write_uptime, write_utc, Command};
use crate::net::{self, Network};

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
    /// IPC_CALL to `fs_view_api`: the reply into `reply`; returns its length.
    fn fs_view_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error>;
    /// IPC_CALL to `editor_api`: the reply into `reply`; returns its length.
    fn editor_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error>;
    /// IPC_CALL to `network_api`: the reply into `reply`; returns its length.
    fn network_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error>;
    /// CONSOLE_READ: the bytes typed since the last read (0 if none; does not block).
    fn terminal_read(&mut self, buf: &mut [u8]) -> Result<usize, Error>;
    /// CONSOLE_WRITE of every byte (terminal output that need not be UTF-8: the editor's).
    /// Text a command prints goes to its `out` instead, which the console writes after it.
    fn terminal_write(&mut self, bytes: &[u8]) -> Result<(), Error>;
    /// YIELD: nothing to do for now (the editing session polls the terminal).
    fn pause(&mut self);
    /// BOOTCOUNT.
    fn bootcount(&mut self) -> Result<u64, Error>;
    /// BOOTLOG: the boot journal (one line per boot, newest first) into `buf`; returns its
    /// full length.
    fn bootlog(&mut self, buf: &mut [u8]) -> Result<usize, Error>;
    /// LASTCRASH: the crash record as text into `buf`; returns its full length.
    fn lastcrash(&mut self, buf: &mut [u8]) -> Result<usize, Error>;
    /// SLOTS: the A/B slot state (a fact a line) into `buf`; returns its full length.
    fn slots(&mut self, buf: &mut [u8]) -> Result<usize, Error>;
    /// SLOT_SET: `action` on `slot`, then the new state into `buf` as SLOTS writes it;
    /// returns its full length.
    fn slot_set(
        &mut self,
        action: SlotAction,
        slot: SlotId,
        buf: &mut [u8],
    ) -> Result<usize, Error>;
    /// SLOT_READ: blocks from `block` on of `slot`'s room into `buf` (`update`).
    fn slot_read(&mut self, slot: SlotId, block: u64, buf: &mut [u8]) -> Result<(), Error> {
        let _ = (slot, block, buf);
        Err(Error::Unsupported)
    }
    /// SLOT_WRITE: `data` from `block` on of the inactive slot's room; empty: a flush.
    fn slot_write(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        let _ = (block, data);
        Err(Error::Unsupported)
    }
    /// UPTIME, in microseconds.
    fn uptime(&mut self) -> Result<u64, Error>;
    /// REBOOT: returns only if it failed.
    fn reboot(&mut self) -> Error;
    /// POWEROFF: returns only if it failed.
    fn poweroff(&mut self) -> Error;
}

/// Every [`System`] is a [`Network`] for the network commands.
impl<S: System> Network for S {
    fn network_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        System::network_call(self, request, reply)
    }
    fn now_us(&mut self) -> u64 {
        self.uptime().unwrap_or(0)
    }
    fn pause(&mut self) {
        System::pause(self);
    }
}

/// The endpoint the writing file commands call (`services_storage`'s).
pub const STORAGE_ENDPOINT: &str = protocol::storage::ENDPOINT;
/// The endpoint `ls`, `cat` and `stat` call (`services_fs_view`'s).
pub const FS_VIEW_ENDPOINT: &str = fs_view::ENDPOINT;
/// The endpoint `edit` calls (`services_editor_vi`'s).
pub const EDITOR_ENDPOINT: &str = protocol::editor::ENDPOINT;

/// Size of the buffer `services` reads the state table into.
pub const SERVICES_BUF: usize = 4096;
/// Size of the buffer `bootlog` reads the boot journal into (32 boots of a line each).
pub const BOOTLOG_BUF: usize = 4096;
/// Size of the buffer `lastcrash` reads the crash record into (its summary and the last kernel
/// log lines fit; a longer one is cut and says so).
pub const LASTCRASH_BUF: usize = MANIFEST_BUF;
/// Size of the buffer `slots` and `slot` read the slot state into (four short lines).
pub const SLOTS_BUF: usize = 512;
/// Size of the buffer `manifest` reads the JSON into (also: a storage request and its reply,
/// [`STORAGE_MESSAGE`] bytes each).
pub const MANIFEST_BUF: usize = 2 * STORAGE_MESSAGE;

/// The console's storage request and reply buffers, each: a listing's most
/// ([`MAX_LIST_REPLY`]); reads and writes go in [`CHUNK`]s that fit it (an IPC message may be
/// far longer, more than the console's stack could hold).
pub const STORAGE_MESSAGE: usize = MAX_LIST_REPLY;
/// The most file data one Read or Write of the console moves.
pub const CHUNK: usize = STORAGE_MESSAGE - 64;

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
        Command::Ls { dir, long } => ls(sys, &mut buf, out, dir, long),
        Command::Cat(file) => {
            let mut text = TextOut::default();
            let read = view_read_all(sys, &mut buf, file, |data| {
                text.push(out, data).map_err(|_| Failure::Output)
            });
            text.finish(out)?;
            report(out, "cat", &[file], read.map_err(Failed::from), false).map(drop)
        }
        Command::Edit(file) => crate::edit::run(sys, file, out),
        Command::Sha256(file) => {
            let mut hash = Sha256::new();
            let read = with_file(
                sys,
                &mut buf,
                file,
                OpenFlags::READ,
                |sys, buf, handle, _| {
                    read_all(sys, buf, handle, |data| {
                        hash.update(data);
                        Ok(())
                    })
                },
            );
            if report(out, "sha256", &[file], read, false)?.is_some() {
                for b in hash.finalize() {
                    write!(out, "{b:02x}")?;
                }
                writeln_crlf(out, format_args!("  {file}"))?;
            }
            Ok(())
        }
        Command::Write { file, text } => {
            let flags = OpenFlags::WRITE
                .with(OpenFlags::CREATE)
                .with(OpenFlags::TRUNCATE);
            let wrote = with_file(sys, &mut buf, file, flags, |sys, buf, handle, _| {
                write_all(sys, buf, handle, 0, text.as_bytes())
            });
            if report(out, "write", &[file], wrote, true)?.is_some() {
                let (n, unit) = bytes(text.len() as u64);
                writeln_crlf(out, format_args!("wrote {n} {unit} to {file}"))?;
            }
            Ok(())
        }
        Command::Append { file, text } => {
            let flags = OpenFlags::WRITE.with(OpenFlags::CREATE);
            let wrote = with_file(sys, &mut buf, file, flags, |sys, buf, handle, size| {
                write_all(sys, buf, handle, size, text.as_bytes())
            });
            if report(out, "append", &[file], wrote, true)?.is_some() {
                let (n, unit) = bytes(text.len() as u64);
                writeln_crlf(out, format_args!("appended {n} {unit} to {file}"))?;
            }
            Ok(())
        }
        Command::Rm(file) => match expect_ok(sys, &Request::Remove { path: file }, &mut buf) {
            Ok(()) => writeln_crlf(out, format_args!("removed {file}")),
            Err(f) => fail(out, "rm", &[file], f),
        },
        Command::Mv { from, to } => match expect_ok(sys, &Request::Rename { from, to }, &mut buf) {
            Ok(()) => writeln_crlf(out, format_args!("moved {from} to {to}")),
            Err(f) => fail(out, "mv", &[from, to], f),
        },
        Command::Mkdir(dir) => match expect_ok(sys, &Request::Mkdir { path: dir }, &mut buf) {
            Ok(()) => writeln_crlf(out, format_args!("created directory {dir}")),
            Err(f) => fail(out, "mkdir", &[dir], f),
        },
        Command::Rmdir(dir) => match expect_ok(sys, &Request::Rmdir { path: dir }, &mut buf) {
            Ok(()) => writeln_crlf(out, format_args!("removed directory {dir}")),
            Err(f) => fail(out, "rmdir", &[dir], f),
        },
        Command::Stat(path) => match view(sys, &fs_view::Request::Stat { path }, &mut buf) {
            Ok(Response::Stat(st)) => write_stat(out, path, &st),
            Ok(_) => fail(out, "stat", &[path], Failure::Unexpected),
            Err(f) => fail(out, "stat", &[path], f),
        },
        Command::Df => match storage(sys, &Request::FsInfo, &mut buf) {
            Ok(Response::FsInfo(info)) => write_df(out, &info),
            Ok(_) => fail(out, "df", &[], Failure::Unexpected),
            Err(f) => fail(out, "df", &[], f),
        },
        Command::Bootcount => match sys.bootcount() {
            Ok(n) => writeln_crlf(out, format_args!("boot count: {n}")),
            Err(e) => writeln_crlf(out, format_args!("error: bootcount: {e}")),
        },
        Command::Bootlog => {
            let buf = &mut buf[..BOOTLOG_BUF];
            match sys.bootlog(buf) {
                Ok(0) => out.write_str("(no boots recorded)\r\n"),
                Ok(full) => write_listing(out, buf, full),
                Err(e) => writeln_crlf(out, format_args!("error: bootlog: {e}")),
            }
        }
        Command::Lastcrash => match sys.lastcrash(&mut buf[..LASTCRASH_BUF]) {
            Ok(full) => write_listing(out, &buf[..LASTCRASH_BUF], full),
            Err(Error::NotFound) => out.write_str("no crash recorded\r\n"),
            Err(e) => writeln_crlf(out, format_args!("error: lastcrash: {e}")),
        },
        Command::Slots => show_slots(sys, &mut buf[..SLOTS_BUF], out),
        Command::Slot { action, slot } => set_slot(sys, &mut buf[..SLOTS_BUF], action, slot, out),
        Command::Update(file) => crate::update::console::update(sys, &mut buf, file, out),
        Command::Uptime => match sys.uptime() {
            Ok(us) => {
                out.write_str("up ")?;
                write_uptime(out, us)?;
                out.write_str("\r\n")
            }
            Err(e) => writeln_crlf(out, format_args!("error: uptime: {e}")),
        },
        Command::Net => net::net(sys, out),
        Command::Ping { host, count } => net::ping(sys, host, count, out),
        Command::Dns(name) => net::dns(sys, name, out),
        Command::HttpGet { url, file, include } => crate::http::get(sys, url, file, include, out),
        Command::HttpPut { url, file } => crate::http::put(sys, url, file, out),
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

/// `slots`: the state as the kernel gives it.
fn show_slots(sys: &mut impl System, buf: &mut [u8], out: &mut impl Write) -> fmt::Result {
    match sys.slots(buf) {
        Ok(full) => write_listing(out, buf, full),
        Err(e) => slot_error(out, "slots", e),
    }
}

/// `slot set-active|try A|B`: what was done, then the new state.
fn set_slot(
    sys: &mut impl System,
    buf: &mut [u8],
    action: SlotAction,
    slot: SlotId,
    out: &mut impl Write,
) -> fmt::Result {
    let full = match sys.slot_set(action, slot, buf) {
        Ok(full) => full,
        Err(e) => return slot_error(out, "slot", e),
    };
    match action {
        SlotAction::SetActive => writeln_crlf(
            out,
            format_args!("slot {slot} is now active: it boots from the next boot on"),
        )?,
        SlotAction::Try => writeln_crlf(
            out,
            format_args!("slot {slot} boots once, on the next boot"),
        )?,
        SlotAction::MarkUnbootable => writeln_crlf(
            out,
            format_args!("slot {slot} is out of service until an update makes it bootable"),
        )?,
    }
    write_listing(out, buf, full)
}

/// The one error line of `slots` or `slot`: what the kernel's answer means here.
fn slot_error(out: &mut impl Write, cmd: &str, e: Error) -> fmt::Result {
    match e {
        Error::NotFound => writeln_crlf(
            out,
            format_args!("error: {cmd}: this image has one system slot"),
        ),
        Error::Denied => writeln_crlf(
            out,
            format_args!("error: {cmd}: needs the update capability"),
        ),
        e => writeln_crlf(out, format_args!("error: {cmd}: {e}")),
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
pub(crate) enum Failure {
    /// The IPC call to `storage_api` itself failed (the service is missing, gone, too slow, ...).
    Ipc(Error),
    /// The IPC call to `fs_view_api` itself failed.
    ViewIpc(Error),
    /// The service answered with an error.
    Storage(StorageError),
    /// The request could not be encoded (e.g. a path too long for a message).
    Encode(WireError),
    /// The reply could not be decoded.
    Decode(WireError),
    /// A valid reply of the wrong kind for the request (or a listing that does not advance).
    Unexpected,
    /// Writing the output failed (the console is gone): no error line, the command stops.
    Output,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Ipc(Error::NotFound) => f.write_str("storage service not running"),
            Failure::Ipc(e) => write!(f, "storage service: {e}"),
            Failure::ViewIpc(Error::NotFound) => f.write_str("file view service not running"),
            Failure::ViewIpc(e) => write!(f, "file view service: {e}"),
            Failure::Storage(e) => write!(f, "{e}"),
            Failure::Encode(WireError::TooLong) => f.write_str("argument too long"),
            Failure::Encode(e) => write!(f, "cannot encode request: {e}"),
            Failure::Decode(e) => write!(f, "bad reply from storage service: {e}"),
            Failure::Unexpected => f.write_str("unexpected reply from storage service"),
            Failure::Output => f.write_str("cannot write the output"),
        }
    }
}

/// One `storage_api` round trip.
/// `buf` holds the request, then the reply ([`STORAGE_MESSAGE`] bytes each).
pub(crate) fn storage<'r>(
    sys: &mut impl System,
    req: &Request<'_>,
    buf: &'r mut [u8],
) -> Result<Response<'r>, Failure> {
    let (request, reply) = buf.split_at_mut(buf.len() / 2);
    storage_in(sys, req, request, reply)
}

/// One `storage_api` round trip with separate request and reply buffers (for chunks larger
/// than [`CHUNK`]).
pub(crate) fn storage_in<'r>(
    sys: &mut impl System,
    req: &Request<'_>,
    request: &mut [u8],
    reply: &'r mut [u8],
) -> Result<Response<'r>, Failure> {
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

/// One `fs_view_api` round trip (`buf` as for [`storage`]).
fn view<'r>(
    sys: &mut impl System,
    req: &fs_view::Request<'_>,
    buf: &'r mut [u8],
) -> Result<Response<'r>, Failure> {
    let (request, reply) = buf.split_at_mut(buf.len() / 2);
    let n = req.encode(request).map_err(Failure::Encode)?;
    let len = sys
        .fs_view_call(&request[..n], reply)
        .map_err(Failure::ViewIpc)?;
    let reply: &'r [u8] = &reply[..len.min(reply.len())];
    match fs_view::decode_reply(reply).map_err(Failure::Decode)? {
        Response::Err(e, _) => Err(Failure::Storage(e)),
        r => Ok(r),
    }
}

/// Reads `path` from the start through `fs_view_api`, [`CHUNK`] bytes per request, until a
/// read returns no data; hands every chunk to `f`.
fn view_read_all(
    sys: &mut impl System,
    buf: &mut [u8],
    path: &str,
    mut f: impl FnMut(&[u8]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut offset = 0u64;
    loop {
        let req = fs_view::Request::Read {
            path,
            offset,
            len: CHUNK as u32,
        };
        match view(sys, &req, buf)? {
            Response::Data([]) => return Ok(()),
            Response::Data(data) => {
                f(data)?;
                offset += data.len() as u64;
            }
            _ => return Err(Failure::Unexpected),
        }
    }
}

/// A request whose success reply is `Ok`.
pub(crate) fn expect_ok(
    sys: &mut impl System,
    req: &Request<'_>,
    buf: &mut [u8],
) -> Result<(), Failure> {
    match storage(sys, req, buf)? {
        Response::Ok => Ok(()),
        _ => Err(Failure::Unexpected),
    }
}

/// How a command that opened a file failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failed {
    why: Failure,
    /// The Close of the handle failed (after everything else succeeded).
    closing: bool,
}

impl From<Failure> for Failed {
    fn from(why: Failure) -> Self {
        Failed {
            why,
            closing: false,
        }
    }
}

/// Opens `path`, runs `body` with the handle and the file's size, and closes the handle
/// whatever `body` did. The first failure wins: a Close that fails after a failed `body` is
/// not reported.
pub(crate) fn with_file<S: System, T>(
    sys: &mut S,
    buf: &mut [u8],
    path: &str,
    flags: OpenFlags,
    body: impl FnOnce(&mut S, &mut [u8], u32, u64) -> Result<T, Failure>,
) -> Result<T, Failed> {
    let (handle, size) = match storage(sys, &Request::Open { path, flags }, buf)? {
        Response::Opened { handle, size } => (handle, size),
        _ => return Err(Failure::Unexpected.into()),
    };
    let result = body(sys, buf, handle, size);
    let closed = expect_ok(sys, &Request::Close { handle }, buf);
    let value = result?;
    closed.map_err(|why| Failed { why, closing: true })?;
    Ok(value)
}

/// Reads the file behind `handle` from the start, one chunk per request, until the service
/// answers with no data; hands every chunk to `f`.
fn read_all(
    sys: &mut impl System,
    buf: &mut [u8],
    handle: u32,
    mut f: impl FnMut(&[u8]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut offset = 0u64;
    loop {
        let req = Request::Read {
            handle,
            offset,
            len: CHUNK as u32,
        };
        match storage(sys, &req, buf)? {
            Response::Data([]) => return Ok(()),
            Response::Data(data) => {
                f(data)?;
                offset += data.len() as u64;
            }
            _ => return Err(Failure::Unexpected),
        }
    }
}

/// Writes `data` at `offset` through `handle`, in chunks of at most [`CHUNK`] bytes.
fn write_all(
    sys: &mut impl System,
    buf: &mut [u8],
    handle: u32,
    mut offset: u64,
    data: &[u8],
) -> Result<(), Failure> {
    for chunk in data.chunks(CHUNK) {
        let req = Request::Write {
            handle,
            offset,
            data: chunk,
        };
        expect_ok(sys, &req, buf)?;
        offset += chunk.len() as u64;
    }
    Ok(())
}

/// Prints the error line of a command that used a handle, if it failed; `Some` when it
/// succeeded. A failed Close of a writing command means its data may not be durable.
pub(crate) fn report<T>(
    out: &mut impl Write,
    cmd: &str,
    args: &[&str],
    result: Result<T, Failed>,
    writing: bool,
) -> Result<Option<T>, fmt::Error> {
    match result {
        Ok(value) => return Ok(Some(value)),
        Err(Failed {
            why: Failure::Output,
            ..
        }) => return Err(fmt::Error),
        Err(Failed { why, closing: true }) if writing => fail(
            out,
            cmd,
            args,
            format_args!("close failed, data may not be saved: {why}"),
        )?,
        Err(Failed { why, closing: true }) => {
            fail(out, cmd, args, format_args!("close failed: {why}"))?
        }
        Err(Failed { why, .. }) => fail(out, cmd, args, why)?,
    }
    Ok(None)
}

/// `ls`: every entry of `dir`, over as many `fs_view_api` `List` requests as the listing
/// takes.
fn ls(
    sys: &mut impl System,
    buf: &mut [u8],
    out: &mut impl Write,
    dir: Option<&str>,
    long: bool,
) -> fmt::Result {
    let path = dir.unwrap_or("/");
    let mut cursor = [0u8; MAX_CURSOR];
    let mut cursor_len = 0;
    let mut listed = 0u64;
    loop {
        let req = fs_view::Request::List {
            path,
            cursor: &cursor[..cursor_len],
        };
        let page = match view(sys, &req, buf) {
            Ok(Response::Entries(page)) => page,
            Ok(_) => return fail(out, "ls", dir.as_slice(), Failure::Unexpected),
            Err(f) => return fail(out, "ls", dir.as_slice(), f),
        };
        for e in page.iter() {
            write_entry(out, &e, long)?;
            listed += 1;
        }
        let next = page.next_cursor();
        if next.is_empty() {
            break;
        }
        if next == &cursor[..cursor_len] {
            // The same cursor again would list the same page forever.
            return fail(out, "ls", dir.as_slice(), Failure::Unexpected);
        }
        cursor[..next.len()].copy_from_slice(next);
        cursor_len = next.len();
    }
    if listed == 0 {
        out.write_str("(no files)\r\n")?;
    }
    Ok(())
}

/// One line of `ls`: `name` (`name/` for a directory), or with `-l`
/// `<kind> <size> <YYYY-MM-DD HH:MM:SS> <name>`.
fn write_entry(out: &mut impl Write, e: &Entry<'_>, long: bool) -> fmt::Result {
    if long {
        let kind = match e.kind {
            Kind::File => '-',
            Kind::Dir => 'd',
        };
        write!(out, "{kind} {:>10} ", e.size)?;
        write_utc(out, e.mtime_secs)?;
        out.write_char(' ')?;
        write_name(out, e.name)?;
    } else {
        write_name(out, e.name)?;
        if e.kind == Kind::Dir {
            out.write_char('/')?;
        }
    }
    out.write_str("\r\n")
}

/// A name from the service, with control characters escaped (one line, no terminal control).
fn write_name(out: &mut impl Write, name: &str) -> fmt::Result {
    for c in name.chars() {
        if c.is_control() {
            write!(out, "{}", c.escape_default())?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// `stat`: `<path>: file, 19 bytes, modified 2026-12-02 19:11:08 UTC`.
fn write_stat(out: &mut impl Write, path: &str, st: &Stat) -> fmt::Result {
    let kind = match st.kind {
        Kind::File => "file",
        Kind::Dir => "directory",
    };
    let (n, unit) = bytes(st.size);
    write!(out, "{path}: {kind}, {n} {unit}, modified ")?;
    write_utc(out, st.mtime_secs)?;
    out.write_str(" UTC\r\n")
}

/// `df`: `size 64.0 MiB, used 0.2 MiB, free 63.8 MiB, 3 files and directories`. Bytes are
/// blocks times the block size; all three use the largest binary unit (B, KiB, MiB, GiB,
/// TiB, PiB, EiB) that the size reaches, with one decimal (rounded; none for bytes).
fn write_df(out: &mut impl Write, info: &FsInfo) -> fmt::Result {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let block = u128::from(info.block_size);
    let size = u128::from(info.blocks) * block;
    let mut exp = 0;
    while exp + 1 < UNITS.len() && size >= 1u128 << (10 * (exp + 1)) {
        exp += 1;
    }
    let unit = 1u128 << (10 * exp);
    let name = UNITS[exp];
    let amount = |out: &mut dyn Write, blocks: u64| -> fmt::Result {
        let bytes = u128::from(blocks) * block;
        if exp == 0 {
            return write!(out, "{bytes} {name}");
        }
        // Tenths of the unit, rounded to the nearest.
        let tenths = (bytes * 10 + unit / 2) / unit;
        write!(out, "{}.{} {name}", tenths / 10, tenths % 10)
    };
    out.write_str("size ")?;
    amount(out, info.blocks)?;
    out.write_str(", used ")?;
    amount(out, info.used)?;
    out.write_str(", free ")?;
    amount(out, info.free)?;
    let files = match info.files {
        1 => "file or directory",
        _ => "files and directories",
    };
    writeln_crlf(out, format_args!(", {} {files}", info.files))
}

/// A count of bytes and its unit word (`1 byte`, `2 bytes`).
fn bytes(n: u64) -> (u64, &'static str) {
    (n, if n == 1 { "byte" } else { "bytes" })
}

/// Streams file contents through [`write_text`], keeping a character that a chunk boundary
/// cut in two whole; [`finish`](Self::finish) ends the last line.
#[derive(Debug, Default)]
pub(crate) struct TextOut {
    /// The start of a UTF-8 character that the previous chunk ended in.
    pending: [u8; 4],
    pending_len: usize,
    /// The last byte seen.
    last: Option<u8>,
}

impl TextOut {
    pub(crate) fn push(&mut self, out: &mut impl Write, mut bytes: &[u8]) -> fmt::Result {
        if let Some(&b) = bytes.last() {
            self.last = Some(b);
        }
        while self.pending_len > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return Ok(());
            };
            if b & 0xC0 == 0x80 && incomplete(&self.pending[..self.pending_len]) {
                // A continuation byte the pending character waits for.
                self.pending[self.pending_len] = b;
                self.pending_len += 1;
                bytes = rest;
                if incomplete(&self.pending[..self.pending_len]) {
                    continue;
                }
            }
            write_text(out, &self.pending[..self.pending_len])?;
            self.pending_len = 0;
        }
        let keep = incomplete_tail(bytes);
        let (now, later) = bytes.split_at(bytes.len() - keep);
        write_text(out, now)?;
        self.pending[..keep].copy_from_slice(later);
        self.pending_len = keep;
        Ok(())
    }

    /// Writes what is pending (escaped: the file ended inside a character) and a line end if
    /// the text did not end with one.
    pub(crate) fn finish(&mut self, out: &mut impl Write) -> fmt::Result {
        write_text(out, &self.pending[..self.pending_len])?;
        self.pending_len = 0;
        if self.last.is_some_and(|b| b != b'\n') {
            out.write_str("\r\n")?;
        }
        Ok(())
    }
}

/// Whether `b` is the start of a UTF-8 character, without its end.
fn incomplete(b: &[u8]) -> bool {
    matches!(core::str::from_utf8(b), Err(e) if e.valid_up_to() == 0 && e.error_len().is_none())
}

/// How many bytes at the end of `b` start a UTF-8 character without finishing it (0..=3).
fn incomplete_tail(b: &[u8]) -> usize {
    for k in 1..=b.len().min(3) {
        let tail = &b[b.len() - k..];
        if tail[0] & 0xC0 != 0x80 {
            return if incomplete(tail) { k } else { 0 };
        }
    }
    0
}

/// `error: <cmd> <args...>: <why>`.
pub(crate) fn fail(
    out: &mut impl Write,
    cmd: &str,
    args: &[&str],
    why: impl fmt::Display,
) -> fmt::Result {
    out.write_str("error: ")?;
    out.write_str(cmd)?;
    for arg in args {
        out.write_char(' ')?;
        out.write_str(arg)?;
    }
    writeln_crlf(out, format_args!(": {why}"))
}

pub(crate) fn writeln_crlf(out: &mut impl Write, args: fmt::Arguments<'_>) -> fmt::Result {
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
    use protocol::storage::{normalize, EntriesWriter, MAX_HANDLES, MAX_NAME_LEN};
    use std::collections::BTreeMap;

    /// The fake's clock: 2023-11-14 22:13:20 UTC.
    const NOW: u64 = 1_700_000_000;
    const NOW_TEXT: &str = "2023-11-14 22:13:20";

    #[derive(Debug, Clone, PartialEq)]
    enum Node {
        File { data: Vec<u8>, mtime: u64 },
        Dir { mtime: u64 },
    }

    /// A fake system: a small in-memory filesystem speaking `storage_api` (handles, paged
    /// listings with a cursor, error injection), and canned answers for the other calls.
    struct Fake {
        /// Every file and directory by its normalized path (the root is implicit).
        nodes: BTreeMap<String, Node>,
        /// Open handles: path and whether they may write.
        handles: BTreeMap<u32, (String, bool)>,
        next_handle: u32,
        /// The modification time of what changes.
        now: u64,
        /// Entries per `List` page.
        page: usize,
        /// The name of every request received, in order.
        log: Vec<&'static str>,
        /// Fails the request of this name after letting that many pass, with this error.
        inject: Option<(&'static str, usize, StorageError)>,
        /// `List` answers a page with the cursor it was given.
        stuck_cursor: bool,
        /// Every request is answered `Ok`.
        always_ok: bool,
        storage_down: Option<Error>,
        garbage_reply: bool,
        reboots: usize,
        /// The manifest; by default one too big for the buffer.
        manifest_json: Option<String>,
        /// What BOOTLOG gives; by default [`JOURNAL`].
        journal: Result<String, Error>,
        crash: Result<String, Error>,
        /// What SLOTS and SLOT_SET give; by default [`SLOT_STATE`].
        slot_state: Result<String, Error>,
        /// Every SLOT_SET received.
        slot_sets: Vec<(SlotAction, SlotId)>,
        /// The console's capability record as `services_fs_view` sees it.
        view_caps: String,
        /// `fs_view_api` calls fail with this.
        view_down: Option<Error>,
        /// `editor_api` calls fail with this (after `editor_calls_ok` more calls, if set).
        editor_down: Option<Error>,
        editor_calls_ok: Option<usize>,
        /// The editor service's logic, on this fake store.
        editor: editor_session::Service,
        /// What the terminal will deliver: one batch per read; `None` is a read of nothing.
        typing: std::collections::VecDeque<Option<Vec<u8>>>,
        /// Everything written raw to the terminal.
        screen: Vec<u8>,
        /// The clock (UPTIME), in µs; every pause moves it 10 ms on.
        clock: u64,
        /// Pauses in a row with nothing typed and nothing left to type.
        idle_pauses: usize,
        /// The `editor_api` requests received, by op byte.
        editor_ops: Vec<u8>,
    }

    impl Default for Fake {
        fn default() -> Self {
            Fake {
                nodes: BTreeMap::new(),
                handles: BTreeMap::new(),
                next_handle: 1,
                now: NOW,
                page: 7,
                log: Vec::new(),
                inject: None,
                stuck_cursor: false,
                always_ok: false,
                storage_down: None,
                garbage_reply: false,
                reboots: 0,
                manifest_json: None,
                journal: Ok(JOURNAL.to_string()),
                crash: Err(Error::NotFound),
                slot_state: Ok(SLOT_STATE.to_string()),
                slot_sets: Vec::new(),
                view_caps: "console\nfiles:/\n".into(),
                view_down: None,
                editor_down: None,
                editor_calls_ok: None,
                editor: editor_session::Service::new(),
                typing: Default::default(),
                screen: Vec::new(),
                clock: 0,
                idle_pauses: 0,
                editor_ops: Vec::new(),
            }
        }
    }

    /// The fake store as `services_fs_view` and `services_editor_vi` call it.
    struct Backend<'f>(&'f mut Fake);

    impl ::fs_view::Store for Backend<'_> {
        fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
            self.0.storage_reply(request, reply)
        }
    }

    impl editor_session::Store for Backend<'_> {
        fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
            self.0.storage_reply(request, reply)
        }
    }

    /// The directory part of a normalized path (`""` for the root).
    fn parent(p: &str) -> &str {
        p.rsplit_once('/').map_or("", |(d, _)| d)
    }

    /// The last component of a normalized path.
    fn base(p: &str) -> &str {
        p.rsplit_once('/').map_or(p, |(_, n)| n)
    }

    impl Fake {
        /// Puts a file straight into the store.
        fn put(&mut self, path: &str, data: &[u8]) {
            let node = Node::File {
                data: data.to_vec(),
                mtime: self.now,
            };
            self.nodes.insert(path.to_string(), node);
        }

        fn data(&self, path: &str) -> &[u8] {
            match self.nodes.get(path) {
                Some(Node::File { data, .. }) => data,
                n => panic!("{path} is {n:?}"),
            }
        }

        /// How many requests of this name were received.
        fn count(&self, name: &str) -> usize {
            self.log.iter().filter(|n| **n == name).count()
        }

        /// Whether `dir` (normalized) is the root or a directory.
        fn dir_ok(&self, dir: &str) -> Result<(), StorageError> {
            match self.nodes.get(dir) {
                _ if dir.is_empty() => Ok(()),
                Some(Node::Dir { .. }) => Ok(()),
                Some(Node::File { .. }) => Err(StorageError::NotDirectory),
                None => Err(StorageError::NotFound),
            }
        }

        fn file_mut(&mut self, handle: u32, write: bool) -> Result<&mut Vec<u8>, StorageError> {
            let (path, may_write) = self.handles.get(&handle).ok_or(StorageError::BadHandle)?;
            if write && !may_write {
                return Err(StorageError::ReadOnly);
            }
            match self.nodes.get_mut(path) {
                Some(Node::File { data, mtime }) => {
                    if write {
                        *mtime = self.now;
                    }
                    Ok(data)
                }
                _ => Err(StorageError::BadHandle),
            }
        }

        fn serve(&mut self, req: Request<'_>, reply: &mut [u8]) -> Result<usize, StorageError> {
            let ok = |reply: &mut [u8]| Ok(Response::Ok.encode(reply).unwrap());
            match req {
                Request::Open { path, flags } => {
                    let p = normalize(path)?;
                    let write = flags.has(OpenFlags::WRITE);
                    if flags.has(OpenFlags::TRUNCATE) && !write {
                        return Err(StorageError::BadRequest);
                    }
                    if self.handles.len() >= MAX_HANDLES {
                        return Err(StorageError::TooManyOpen);
                    }
                    match self.nodes.get_mut(p) {
                        _ if p.is_empty() => return Err(StorageError::IsDirectory),
                        Some(Node::Dir { .. }) => return Err(StorageError::IsDirectory),
                        Some(Node::File { .. })
                            if flags.has(OpenFlags::CREATE.with(OpenFlags::EXCLUSIVE)) =>
                        {
                            return Err(StorageError::AlreadyExists)
                        }
                        Some(Node::File { data, mtime }) => {
                            if flags.has(OpenFlags::TRUNCATE) {
                                data.clear();
                                *mtime = self.now;
                            }
                        }
                        None if flags.has(OpenFlags::CREATE) => {
                            self.dir_ok(parent(p))?;
                            self.put(p, b"");
                        }
                        None => return Err(StorageError::NotFound),
                    }
                    let handle = self.next_handle;
                    self.next_handle += 1;
                    self.handles.insert(handle, (p.to_string(), write));
                    let size = self.data(p).len() as u64;
                    Ok(Response::Opened { handle, size }.encode(reply).unwrap())
                }
                Request::Read {
                    handle,
                    offset,
                    len,
                } => {
                    let data = self.file_mut(handle, false)?;
                    let start = (offset as usize).min(data.len());
                    let end = (start + len as usize).min(data.len());
                    let chunk = data[start..end].to_vec();
                    Ok(Response::Data(&chunk).encode(reply).unwrap())
                }
                Request::Write {
                    handle,
                    offset,
                    data: bytes,
                } => {
                    let data = self.file_mut(handle, true)?;
                    let end = offset as usize + bytes.len();
                    if data.len() < end {
                        data.resize(end, 0);
                    }
                    data[offset as usize..end].copy_from_slice(bytes);
                    ok(reply)
                }
                Request::Truncate { handle, size } => {
                    self.file_mut(handle, true)?.resize(size as usize, 0);
                    ok(reply)
                }
                Request::Close { handle } => match self.handles.remove(&handle) {
                    Some(_) => ok(reply),
                    None => Err(StorageError::BadHandle),
                },
                Request::Sync => ok(reply),
                Request::Stat { path } => {
                    let p = normalize(path)?;
                    let (kind, size, mtime_secs) = match self.nodes.get(p) {
                        _ if p.is_empty() => (Kind::Dir, 0, 0),
                        Some(Node::File { data, mtime }) => (Kind::File, data.len() as u64, *mtime),
                        Some(Node::Dir { mtime }) => (Kind::Dir, 0, *mtime),
                        None => return Err(StorageError::NotFound),
                    };
                    let st = Stat {
                        kind,
                        size,
                        mtime_secs,
                        mtime_nanos: 0,
                    };
                    Ok(Response::Stat(st).encode(reply).unwrap())
                }
                Request::List { path, cursor } => {
                    let dir = normalize(path)?;
                    self.dir_ok(dir)?;
                    let after = std::str::from_utf8(cursor).unwrap();
                    let mut children = self
                        .nodes
                        .iter()
                        .filter(|(p, _)| parent(p) == dir && p.as_str() != dir)
                        .filter(|(p, _)| cursor.is_empty() || base(p) > after);
                    let mut w = EntriesWriter::new(reply).unwrap();
                    let mut last = None;
                    for (p, node) in children.by_ref().take(self.page) {
                        let (kind, size, mtime_secs) = match node {
                            Node::File { data, mtime } => (Kind::File, data.len() as u64, *mtime),
                            Node::Dir { mtime } => (Kind::Dir, 0, *mtime),
                        };
                        let name = base(p);
                        assert!(w.push(Entry {
                            name,
                            kind,
                            size,
                            mtime_secs,
                        }));
                        last = Some(name);
                    }
                    let next = match (children.next(), last) {
                        _ if self.stuck_cursor && !cursor.is_empty() => cursor,
                        (Some(_), Some(name)) => name.as_bytes(),
                        _ => b"",
                    };
                    Ok(w.finish(next).unwrap())
                }
                Request::Mkdir { path } => {
                    let p = normalize(path)?;
                    if p.is_empty() || self.nodes.contains_key(p) {
                        return Err(StorageError::AlreadyExists);
                    }
                    self.dir_ok(parent(p))?;
                    self.nodes
                        .insert(p.to_string(), Node::Dir { mtime: self.now });
                    ok(reply)
                }
                Request::Rmdir { path } => {
                    let p = normalize(path)?;
                    match self.nodes.get(p) {
                        _ if p.is_empty() => return Err(StorageError::InvalidPath),
                        Some(Node::Dir { .. }) => {}
                        Some(Node::File { .. }) => return Err(StorageError::NotDirectory),
                        None => return Err(StorageError::NotFound),
                    }
                    if self.nodes.keys().any(|k| parent(k) == p) {
                        return Err(StorageError::NotEmpty);
                    }
                    self.nodes.remove(p);
                    ok(reply)
                }
                Request::Remove { path } => {
                    let p = normalize(path)?;
                    match self.nodes.get(p) {
                        Some(Node::File { .. }) => {}
                        Some(Node::Dir { .. }) => return Err(StorageError::IsDirectory),
                        None if p.is_empty() => return Err(StorageError::IsDirectory),
                        None => return Err(StorageError::NotFound),
                    }
                    self.nodes.remove(p);
                    ok(reply)
                }
                Request::Rename { from, to } => {
                    let (from, to) = (normalize(from)?, normalize(to)?);
                    if from.is_empty() || to.is_empty() || to.starts_with(&format!("{from}/")) {
                        return Err(StorageError::InvalidPath);
                    }
                    let node = self.nodes.get(from).ok_or(StorageError::NotFound)?.clone();
                    self.dir_ok(parent(to))?;
                    if let Some(Node::Dir { .. }) = self.nodes.get(to) {
                        return Err(StorageError::AlreadyExists);
                    }
                    let inside = format!("{from}/");
                    let moved: Vec<_> = self
                        .nodes
                        .keys()
                        .filter(|k| k.starts_with(&inside))
                        .cloned()
                        .collect();
                    for k in moved {
                        let n = self.nodes.remove(&k).unwrap();
                        self.nodes.insert(format!("{to}/{}", &k[inside.len()..]), n);
                    }
                    self.nodes.remove(from);
                    self.nodes.insert(to.to_string(), node);
                    ok(reply)
                }
                Request::FsInfo => {
                    let info = FsInfo {
                        block_size: 4096,
                        blocks: 16384,
                        used: 51,
                        free: 16384 - 51,
                        files: self.nodes.len() as u64,
                    };
                    Ok(Response::FsInfo(info).encode(reply).unwrap())
                }
            }
        }
    }

    const TABLE: &str =
        "NAME              STATE\nservices_storage  running\ncli_console       running";

    const JOURNAL: &str = "#12 slot B: fell back from A (tries exhausted)\n#11: up\n\
        #10: refused (verified boot (enforce): ROLLBACK: epoch 2 < 3)";

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
            assert!(request.len() <= STORAGE_MESSAGE && reply.len() >= STORAGE_MESSAGE);
            self.storage_reply(request, reply)
        }
        fn fs_view_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
            assert!(request.len() <= STORAGE_MESSAGE && reply.len() >= STORAGE_MESSAGE);
            if let Some(e) = self.view_down {
                return Err(e);
            }
            let caps = self.view_caps.clone();
            // The real service's reply buffer, then what fits the console's.
            let mut full = vec![0u8; fs_view::MAX_REPLY];
            let n = ::fs_view::serve("cli_console", &caps, request, &mut full, &mut Backend(self));
            if n > reply.len() {
                return Err(Error::BadLength);
            }
            reply[..n].copy_from_slice(&full[..n]);
            Ok(n)
        }
        fn network_call(&mut self, _: &[u8], _: &mut [u8]) -> Result<usize, Error> {
            // No services_network here; `net`'s own tests fake it (crate::net).
            Err(Error::NotFound)
        }
        fn editor_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
            match (self.editor_down, &mut self.editor_calls_ok) {
                (Some(e), None | Some(0)) => return Err(e),
                (_, Some(n)) => *n -= 1,
                _ => {}
            }
            self.editor_ops.push(request[0]);
            let mut editor = std::mem::take(&mut self.editor);
            let n = editor.serve("cli_console", request, reply, &mut Backend(self));
            self.editor = editor;
            Ok(n)
        }
        fn terminal_read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
            match self.typing.pop_front() {
                Some(Some(bytes)) => {
                    assert!(bytes.len() <= buf.len(), "a batch larger than the read");
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    self.idle_pauses = 0;
                    Ok(bytes.len())
                }
                Some(None) => Ok(0),
                None => {
                    self.idle_pauses += 1;
                    assert!(self.idle_pauses < 1000, "the session outlived the typing");
                    Ok(0)
                }
            }
        }
        fn terminal_write(&mut self, bytes: &[u8]) -> Result<(), Error> {
            self.screen.extend_from_slice(bytes);
            Ok(())
        }
        fn pause(&mut self) {
            self.clock += 10_000;
        }
        fn bootcount(&mut self) -> Result<u64, Error> {
            Ok(3)
        }
        fn bootlog(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
            assert_eq!(buf.len(), BOOTLOG_BUF);
            let journal = self.journal.clone()?;
            let n = journal.len().min(buf.len());
            buf[..n].copy_from_slice(&journal.as_bytes()[..n]);
            Ok(journal.len())
        }
        fn lastcrash(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
            assert_eq!(buf.len(), LASTCRASH_BUF);
            let text = self.crash.clone()?;
            let n = text.len().min(buf.len());
            buf[..n].copy_from_slice(&text.as_bytes()[..n]);
            Ok(text.len())
        }
        fn slots(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
            assert_eq!(buf.len(), SLOTS_BUF);
            let text = self.slot_state.clone()?;
            let n = text.len().min(buf.len());
            buf[..n].copy_from_slice(&text.as_bytes()[..n]);
            Ok(text.len())
        }
        fn slot_set(
            &mut self,
            action: SlotAction,
            slot: SlotId,
            buf: &mut [u8],
        ) -> Result<usize, Error> {
            self.slot_sets.push((action, slot));
            self.slots(buf)
        }
        fn uptime(&mut self) -> Result<u64, Error> {
            Ok(61_500_000 + self.clock)
        }
        fn reboot(&mut self) -> Error {
            self.reboots += 1;
            Error::Unsupported
        }
        fn poweroff(&mut self) -> Error {
            Error::Denied
        }
    }

    impl Fake {
        /// `storage_api` as the services reach it (no limit on the console's buffers).
        fn storage_reply(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
            if let Some(e) = self.storage_down {
                return Err(e);
            }
            if self.garbage_reply {
                reply[0] = 0x42;
                return Ok(1);
            }
            let req = Request::decode(request).expect("the shell sends valid requests");
            self.log.push(req.name());
            if self.always_ok {
                return Ok(Response::Ok.encode(reply).unwrap());
            }
            if let Some((name, pass, e)) = self.inject {
                if name == req.name() {
                    if pass == 0 {
                        self.inject = None;
                        if let Request::Close { handle } = req {
                            // A failed Close still closes the handle (as the service does).
                            self.handles.remove(&handle);
                        }
                        return Ok(Response::Err(e, "injected").encode(reply).unwrap());
                    }
                    self.inject = Some((name, pass - 1, e));
                }
            }
            Ok(match self.serve(req, reply) {
                Ok(n) => n,
                Err(e) => Response::Err(e, "fake").encode(reply).unwrap(),
            })
        }
    }

    fn check_output(what: &str, out: &str) {
        assert!(
            out.is_empty() || out.ends_with("\r\n"),
            "{what}: output must end in \\r\\n: {out:?}"
        );
        assert!(
            !out.replace("\r\n", "").contains('\n'),
            "{what}: bare \\n in {out:?}"
        );
    }

    fn sh(sys: &mut Fake, line: &str) -> String {
        let mut out = String::new();
        match parse(line) {
            Ok(Some(cmd)) => run(cmd, sys, &mut out).unwrap(),
            Ok(None) => {}
            Err(e) => write!(out, "{e}\r\n").unwrap(),
        }
        check_output(line, &out);
        assert!(sys.handles.is_empty(), "{line}: handles left open");
        out
    }

    /// Runs a command built directly (for arguments longer than a console line).
    fn run_cmd(sys: &mut Fake, cmd: Command<'_>) -> String {
        let mut out = String::new();
        run(cmd, sys, &mut out).unwrap();
        check_output(&format!("{cmd:?}"), &out);
        assert!(sys.handles.is_empty(), "{cmd:?}: handles left open");
        out
    }

    #[test]
    fn file_commands() {
        let mut sys = Fake::default();
        assert_eq!(sh(&mut sys, "ls"), "(no files)\r\n");
        assert_eq!(
            sh(&mut sys, "write notes.txt hello"),
            "wrote 5 bytes to notes.txt\r\n"
        );
        assert_eq!(sh(&mut sys, "cat notes.txt"), "hello\r\n");
        assert_eq!(
            sh(&mut sys, "append notes.txt  and  more"),
            "appended 9 bytes to notes.txt\r\n"
        );
        assert_eq!(sh(&mut sys, "cat notes.txt"), "helloand  more\r\n");
        assert_eq!(
            sh(&mut sys, "append new.txt x"),
            "appended 1 byte to new.txt\r\n"
        );
        assert_eq!(sh(&mut sys, "ls"), "new.txt\r\nnotes.txt\r\n");
        assert_eq!(sh(&mut sys, "ls /"), sh(&mut sys, "ls"));
        assert_eq!(sh(&mut sys, "mkdir docs"), "created directory docs\r\n");
        assert_eq!(
            sh(&mut sys, "mv notes.txt docs/notes.txt"),
            "moved notes.txt to docs/notes.txt\r\n"
        );
        assert_eq!(sh(&mut sys, "ls"), "docs/\r\nnew.txt\r\n");
        assert_eq!(sh(&mut sys, "ls /docs"), "notes.txt\r\n");
        sys.now = 951_782_400;
        assert_eq!(
            sh(&mut sys, "write new.txt 1234567890"),
            "wrote 10 bytes to new.txt\r\n"
        );
        assert_eq!(
            sh(&mut sys, "ls -l"),
            format!(
                "d          0 {NOW_TEXT} docs\r\n- {:>10} 2000-02-29 00:00:00 new.txt\r\n",
                10
            )
        );
        assert_eq!(
            sh(&mut sys, "ls -l docs"),
            format!("-         14 {NOW_TEXT} notes.txt\r\n")
        );
        assert_eq!(
            sh(&mut sys, "stat docs/notes.txt"),
            format!("docs/notes.txt: file, 14 bytes, modified {NOW_TEXT} UTC\r\n")
        );
        assert_eq!(
            sh(&mut sys, "stat docs"),
            format!("docs: directory, 0 bytes, modified {NOW_TEXT} UTC\r\n")
        );
        assert_eq!(
            sh(&mut sys, "stat /"),
            "/: directory, 0 bytes, modified 1970-01-01 00:00:00 UTC\r\n"
        );
        assert_eq!(
            sh(&mut sys, "df"),
            "size 64.0 MiB, used 0.2 MiB, free 63.8 MiB, 3 files and directories\r\n"
        );
        assert_eq!(
            sh(&mut sys, "rmdir docs"),
            "error: rmdir docs: directory not empty\r\n"
        );
        assert_eq!(
            sh(&mut sys, "rm docs/notes.txt"),
            "removed docs/notes.txt\r\n"
        );
        assert_eq!(sh(&mut sys, "ls docs"), "(no files)\r\n");
        assert_eq!(sh(&mut sys, "rmdir docs"), "removed directory docs\r\n");
        assert_eq!(sh(&mut sys, "rm new.txt"), "removed new.txt\r\n");
        assert_eq!(sh(&mut sys, "ls"), "(no files)\r\n");
        assert_eq!(sh(&mut sys, "write a x"), "wrote 1 byte to a\r\n");
        assert_eq!(sh(&mut sys, "write e"), "wrote 0 bytes to e\r\n");
        assert_eq!(sh(&mut sys, "cat e"), "");
        assert_eq!(sh(&mut sys, "append e"), "appended 0 bytes to e\r\n");
        // `write` replaces: the rest of the old content is gone.
        assert_eq!(
            sh(&mut sys, "write a longer text"),
            "wrote 11 bytes to a\r\n"
        );
        assert_eq!(sh(&mut sys, "write a y"), "wrote 1 byte to a\r\n");
        assert_eq!(sys.data("a"), b"y");
        // Every handle opened was closed (`sh` checks none is left open).
        assert_eq!(sys.count("open"), sys.count("close"));
        // A directory moves with its contents.
        sh(&mut sys, "mkdir d");
        sh(&mut sys, "mkdir d/e");
        sh(&mut sys, "write d/e/f deep");
        assert_eq!(sh(&mut sys, "mv d g"), "moved d to g\r\n");
        assert_eq!(sh(&mut sys, "cat g/e/f"), "deep\r\n");
    }

    #[test]
    fn ls_lists_every_entry_once_over_many_pages() {
        let mut sys = Fake::default();
        for i in 0..300 {
            sys.put(&format!("f{i:03}"), &vec![b'x'; i]);
        }
        sys.nodes.insert("sub".into(), Node::Dir { mtime: 0 });
        for i in 0..20 {
            sys.put(&format!("sub/g{i:02}"), b"");
        }
        let ls = sh(&mut sys, "ls");
        let lines: Vec<&str> = ls.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 301);
        for i in 0..300 {
            let name = format!("f{i:03}");
            assert_eq!(lines.iter().filter(|l| **l == name).count(), 1, "{name}");
        }
        assert_eq!(lines.iter().filter(|l| **l == "sub/").count(), 1);
        // 301 entries, 7 a page.
        assert_eq!(sys.count("list"), 301_usize.div_ceil(7));

        let long = sh(&mut sys, "ls -l");
        let lines: Vec<&str> = long.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 301);
        assert_eq!(lines[0], format!("-          0 {NOW_TEXT} f000"));
        assert_eq!(lines[299], format!("-        299 {NOW_TEXT} f299"));
        assert_eq!(lines[300], "d          0 1970-01-01 00:00:00 sub");

        // A page of one entry at a time.
        sys.page = 1;
        let sub = sh(&mut sys, "ls sub");
        let expected: String = (0..20).map(|i| format!("g{i:02}\r\n")).collect();
        assert_eq!(sub, expected);
    }

    #[test]
    fn ls_escapes_names_and_refuses_a_stuck_cursor() {
        let mut sys = Fake::default();
        sys.put("a\u{1b}[2Jb\nc", b"");
        sys.put("été", b"");
        assert_eq!(sh(&mut sys, "ls"), "a\\u{1b}[2Jb\\nc\r\nété\r\n");
        for i in 0..10 {
            sys.put(&format!("f{i}"), b"");
        }
        sys.stuck_cursor = true;
        sys.log.clear();
        let out = sh(&mut sys, "ls");
        let lines: Vec<&str> = out.split_terminator("\r\n").collect();
        // Two pages (7 + 5 entries), the second one with the cursor it was given.
        assert_eq!(lines.len(), 13, "{out}");
        assert_eq!(
            lines[12],
            "error: ls: unexpected reply from storage service"
        );
        assert_eq!(sys.count("list"), 2);
    }

    #[test]
    fn cat_and_sha256_stream_large_files() {
        let mut sys = Fake::default();
        sys.put("abc", b"abc");
        assert_eq!(
            sh(&mut sys, "sha256 abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  abc\r\n"
        );
        sys.put("empty", b"");
        assert_eq!(
            sh(&mut sys, "sha256 empty"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty\r\n"
        );
        sys.put("zeros", &vec![0; 1 << 20]);
        sys.log.clear();
        assert_eq!(
            sh(&mut sys, "sha256 /zeros"),
            "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58  /zeros\r\n"
        );
        // Every chunk as big as a message allows, then the empty one.
        assert_eq!(sys.count("read"), (1usize << 20).div_ceil(CHUNK) + 1);
        assert_eq!(sys.log.last(), Some(&"close"));

        // Text over many chunks, with multi-byte characters across chunk boundaries.
        let mut text = "a".repeat(CHUNK - 1) + "€" + &"b".repeat(CHUNK - 4) + "😀";
        for i in 0..3000 {
            text += &format!("line {i}: é€😀\n");
        }
        assert!(text.len() > 10 * CHUNK);
        sys.put("big.txt", text.as_bytes());
        assert_eq!(sh(&mut sys, "cat big.txt"), text.replace('\n', "\r\n"));
        // A file that ends inside a character: the bytes are shown escaped.
        let mut cut = "x".repeat(CHUNK - 1).into_bytes();
        cut.extend_from_slice(&[0xE2, 0x82]);
        sys.put("cut", &cut);
        assert_eq!(
            sh(&mut sys, "cat cut"),
            format!("{}\\xe2\\x82\r\n", "x".repeat(CHUNK - 1))
        );
        // A character that a chunk boundary cuts, followed by a byte that does not continue it.
        let mut bad = "y".repeat(CHUNK - 1).into_bytes();
        bad.extend_from_slice(&[0xE2, b'z', b'\n']);
        sys.put("bad", &bad);
        assert_eq!(
            sh(&mut sys, "cat bad"),
            format!("{}\\xe2z\r\n", "y".repeat(CHUNK - 1))
        );
    }

    #[test]
    fn long_writes_go_in_chunks() {
        let mut sys = Fake::default();
        let text = "0123456789".repeat(1000);
        let out = run_cmd(
            &mut sys,
            Command::Write {
                file: "big",
                text: &text,
            },
        );
        assert_eq!(out, "wrote 10000 bytes to big\r\n");
        assert_eq!(sys.count("write"), 10_000usize.div_ceil(CHUNK));
        assert_eq!(sys.data("big"), text.as_bytes());
        let out = run_cmd(
            &mut sys,
            Command::Append {
                file: "big",
                text: &text,
            },
        );
        assert_eq!(out, "appended 10000 bytes to big\r\n");
        assert_eq!(sys.data("big"), text.repeat(2).as_bytes());
    }

    #[test]
    fn handles_are_closed_on_errors() {
        let mut sys = Fake::default();
        let text = "0123456789\n".repeat(1000);
        sys.put("big", text.as_bytes());
        // The second Read fails: what was read is shown, the line ended, then the error.
        sys.inject = Some(("read", 1, StorageError::DataDamaged { block: 9 }));
        sys.log.clear();
        let out = sh(&mut sys, "cat big");
        let first = text.as_bytes()[..CHUNK].to_vec();
        let shown = String::from_utf8(first).unwrap().replace('\n', "\r\n");
        assert_eq!(
            out,
            format!("{shown}\r\nerror: cat big: damaged data at block 9\r\n")
        );
        // `cat` reads through fs_view_api: each Read stands alone (Open, Read, Close).
        assert_eq!(sys.log, ["open", "read", "close", "open", "read", "close"]);
        sys.inject = Some(("read", 2, StorageError::Io { block: 77 }));
        assert_eq!(
            sh(&mut sys, "sha256 big"),
            "error: sha256 big: I/O error at block 77\r\n"
        );
        // A failing Close after a failed Write: the first error is reported.
        sys.inject = Some(("write", 0, StorageError::NoSpace));
        sys.log.clear();
        assert_eq!(
            sh(&mut sys, "write f hello"),
            "error: write f: no space left\r\n"
        );
        assert_eq!(sys.log, ["open", "write", "close"]);
        sys.inject = Some(("write", 0, StorageError::NoSpace));
        assert_eq!(
            sh(&mut sys, "append f hello"),
            "error: append f: no space left\r\n"
        );
        // A failing Close of a writing command: the data may not be durable.
        sys.inject = Some(("close", 0, StorageError::Io { block: u64::MAX }));
        assert_eq!(
            sh(&mut sys, "write f hello"),
            "error: write f: close failed, data may not be saved: I/O error on flush\r\n"
        );
        sys.inject = Some(("close", 0, StorageError::Lost));
        assert_eq!(
            sh(&mut sys, "append f hello"),
            "error: append f: close failed, data may not be saved: unsynced writes lost\r\n"
        );
        // ... and of a reading one (after the content). `cat` goes through fs_view_api, whose
        // read-only handles have nothing to lose at Close: the content is all there.
        sys.put("small", b"hi");
        sys.inject = Some(("close", 0, StorageError::BadHandle));
        assert_eq!(sh(&mut sys, "cat small"), "hi\r\n");
        sys.inject = Some(("close", 0, StorageError::BadHandle));
        assert_eq!(
            sh(&mut sys, "sha256 small"),
            "error: sha256 small: close failed: bad handle\r\n"
        );
        // An Open that fails leaves nothing to close.
        sys.inject = Some(("open", 0, StorageError::TooManyOpen));
        sys.log.clear();
        assert_eq!(
            sh(&mut sys, "cat small"),
            "error: cat small: too many open files\r\n"
        );
        assert_eq!(sys.log, ["open"]);
    }

    #[test]
    fn storage_errors_are_one_line() {
        let mut sys = Fake::default();
        sys.put("f", b"data");
        sys.nodes.insert("docs".into(), Node::Dir { mtime: 0 });
        for (line, expected) in [
            ("cat notes.txt", "error: cat notes.txt: not found"),
            ("cat docs", "error: cat docs: is a directory"),
            ("cat f/x", "error: cat f/x: not found"),
            ("sha256 nope", "error: sha256 nope: not found"),
            ("rm notes.txt", "error: rm notes.txt: not found"),
            ("rm docs", "error: rm docs: is a directory"),
            ("write a//b x", "error: write a//b: invalid path"),
            ("write docs x", "error: write docs: is a directory"),
            ("write nodir/a x", "error: write nodir/a: not found"),
            ("append docs x", "error: append docs: is a directory"),
            ("append ../a x", "error: append ../a: invalid path"),
            ("mv nope x", "error: mv nope x: not found"),
            ("mv f docs", "error: mv f docs: already exists"),
            ("mv docs docs/in", "error: mv docs docs/in: invalid path"),
            ("mkdir docs", "error: mkdir docs: already exists"),
            ("mkdir a/b", "error: mkdir a/b: not found"),
            ("rmdir f", "error: rmdir f: not a directory"),
            ("rmdir nope", "error: rmdir nope: not found"),
            ("stat nope", "error: stat nope: not found"),
            ("ls nope", "error: ls nope: not found"),
            ("ls -l f", "error: ls f: not a directory"),
        ] {
            assert_eq!(sh(&mut sys, line), format!("{expected}\r\n"));
        }
        let long = "n".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            sh(&mut sys, &format!("write {long} x")),
            format!("error: write {long}: name too long\r\n")
        );
        // A path longer than a request can carry.
        let huge = "p".repeat(5000);
        assert_eq!(
            sh(&mut sys, &format!("cat {huge}")),
            format!("error: cat {huge}: argument too long\r\n")
        );
        sys.inject = Some(("fsinfo", 0, StorageError::Unavailable));
        assert_eq!(sh(&mut sys, "df"), "error: df: storage unavailable\r\n");
        sys.storage_down = Some(Error::Timeout);
        assert_eq!(
            sh(&mut sys, "rm x"),
            "error: rm x: storage service: timed out\r\n"
        );
        // Behind the file view, a failing store is the view's `Unavailable`.
        assert_eq!(sh(&mut sys, "ls"), "error: ls: storage unavailable\r\n");
        sys.storage_down = Some(Error::NotFound);
        assert_eq!(
            sh(&mut sys, "write x y"),
            "error: write x: storage service not running\r\n"
        );
        sys.storage_down = None;
        sys.view_down = Some(Error::Timeout);
        assert_eq!(
            sh(&mut sys, "ls"),
            "error: ls: file view service: timed out\r\n"
        );
        sys.view_down = Some(Error::NotFound);
        assert_eq!(
            sh(&mut sys, "cat x"),
            "error: cat x: file view service not running\r\n"
        );
        assert_eq!(
            sh(&mut sys, "stat x"),
            "error: stat x: file view service not running\r\n"
        );
        sys.view_down = None;
        // The view applies the console's own grants.
        sys.view_caps = "console\nfiles_read:/docs\n".into();
        for (line, expected) in [
            ("cat f", "error: cat f: permission denied"),
            ("ls", "error: ls: permission denied"),
            ("stat f", "error: stat f: permission denied"),
        ] {
            assert_eq!(sh(&mut sys, line), format!("{expected}\r\n"));
        }
        assert_eq!(sh(&mut sys, "ls docs"), "(no files)\r\n");
        sys.view_caps = "console\nfiles:/\n".into();
        sys.storage_down = None;
        sys.garbage_reply = true;
        assert_eq!(
            sh(&mut sys, "rm x"),
            "error: rm x: bad reply from storage service: unknown tag 0x42\r\n"
        );
        sys.garbage_reply = false;
        sys.always_ok = true;
        for (line, expected) in [
            // Through the view, a store answering nonsense is `Unavailable`.
            ("cat f", "error: cat f: storage unavailable"),
            ("stat f", "error: stat f: storage unavailable"),
            ("df", "error: df: unexpected reply from storage service"),
            ("ls -l", "error: ls: storage unavailable"),
        ] {
            assert_eq!(sh(&mut sys, line), format!("{expected}\r\n"));
        }
    }

    /// Types `batches` into an `edit` session (`None`: 10 ms without input) and returns the
    /// console's output and what the editor drew.
    fn edit(sys: &mut Fake, line: &str, batches: &[Option<&[u8]>]) -> (String, String) {
        sys.typing = batches.iter().map(|b| b.map(<[u8]>::to_vec)).collect();
        sys.screen.clear();
        sys.editor_ops.clear();
        let out = sh(sys, line);
        assert!(
            sys.typing.is_empty(),
            "input left after the session: {:?}",
            sys.typing
        );
        (out, String::from_utf8_lossy(&sys.screen).into_owned())
    }

    const IDLE: Option<&[u8]> = None;
    const OP_IDLE: u8 = 0x43;

    #[test]
    fn edit_a_new_file_save_it_and_cat_it() {
        let mut sys = Fake::default();
        let (out, screen) = edit(
            &mut sys,
            "edit notes.txt",
            &[
                Some(b"ihello from vi"),
                Some(b"\x1b"),
                // Nothing typed for 60 ms: the lone ESC is an Escape (the Idle request).
                IDLE,
                IDLE,
                IDLE,
                IDLE,
                IDLE,
                IDLE,
                Some(b":wq\r"),
            ],
        );
        assert_eq!(out, "\r\nedit: saved notes.txt\r\n");
        assert!(screen.contains("\"notes.txt\" [New]"), "{screen:?}");
        assert!(screen.contains("-- INSERT --"));
        assert!(
            screen.ends_with("\x1b[0m\x1b[2J\x1b[H"),
            "the screen is left clean"
        );
        assert_eq!(
            sys.editor_ops.iter().filter(|&&op| op == OP_IDLE).count(),
            1
        );
        assert_eq!(sys.data("notes.txt"), b"hello from vi\n");
        assert_eq!(sh(&mut sys, "cat notes.txt"), "hello from vi\r\n");
        // ESC followed at once by more keys needs no Idle; `:q` of an unchanged file.
        let (out, _) = edit(&mut sys, "edit notes.txt", &[Some(b"\x1b:q\r")]);
        assert_eq!(out, "\r\nedit: notes.txt unchanged\r\n");
        assert!(!sys.editor_ops.contains(&OP_IDLE));
        let (out, _) = edit(
            &mut sys,
            "edit /notes.txt",
            &[
                Some(b"A and more"),
                Some(b"\x1b"),
                IDLE,
                IDLE,
                IDLE,
                IDLE,
                IDLE,
                IDLE,
                Some(b":q!\r"),
            ],
        );
        assert_eq!(out, "\r\nedit: discarded changes to /notes.txt\r\n");
        assert_eq!(sys.data("notes.txt"), b"hello from vi\n");
    }

    #[test]
    fn edit_a_long_drawing_comes_with_more() {
        let mut sys = Fake::default();
        let text: String = (0..30)
            .map(|i| format!("{i:02}{}\n", "€".repeat(100)))
            .collect();
        sys.put("wide.txt", text.as_bytes());
        let (out, screen) = edit(&mut sys, "edit wide.txt", &[Some(b":q\r")]);
        assert_eq!(out, "\r\nedit: wide.txt unchanged\r\n");
        // More than one reply's worth: the console asked for the rest before any input.
        const OP_MORE: u8 = 0x44;
        assert_eq!(sys.editor_ops[1], OP_MORE, "{:?}", sys.editor_ops);
        // Every one of the 23 text rows arrived whole: the number and 78 characters, 80 cells.
        for i in 0..23 {
            assert!(
                screen.contains(&format!("{i:02}{}", "€".repeat(78))),
                "row {i}"
            );
        }
        assert!(screen.contains("\"wide.txt\" 30L"));
    }

    #[test]
    fn edit_a_failed_save_keeps_the_session() {
        let mut sys = Fake {
            inject: Some(("close", 0, StorageError::Io { block: u64::MAX })),
            ..Fake::default()
        };
        let (out, screen) = edit(
            &mut sys,
            "edit n.txt",
            &[Some(b"ikeep\x1b:wq\r"), Some(b":q!\r")],
        );
        // A new file: the only Close is the save's, and it fails.
        assert!(
            screen.contains("save failed: close failed, not saved: I/O error on flush"),
            "{screen:?}"
        );
        assert_eq!(out, "\r\nedit: discarded changes to n.txt\r\n");
    }

    #[test]
    fn edit_errors_are_one_line() {
        let mut sys = Fake::default();
        sys.put("bin", &[0x66, 0xff]);
        sys.nodes.insert("docs".into(), Node::Dir { mtime: 0 });
        for (line, expected) in [
            (
                "edit bin",
                "error: edit bin: not UTF-8 text (bad byte at offset 1)",
            ),
            ("edit docs", "error: edit docs: is a directory"),
            ("edit a//b", "error: edit a//b: invalid path"),
        ] {
            let (out, screen) = edit(&mut sys, line, &[]);
            assert_eq!(out, format!("{expected}\r\n"));
            assert_eq!(screen, "", "nothing drawn");
        }
        sys.editor_down = Some(Error::NotFound);
        let (out, _) = edit(&mut sys, "edit x", &[]);
        assert_eq!(out, "error: edit x: editor service not running\r\n");
        // The editor goes away mid-session: the screen is cleared, one line says so.
        sys.editor_down = Some(Error::ProviderGone);
        sys.editor_calls_ok = Some(1);
        let (out, screen) = edit(&mut sys, "edit x", &[Some(b"ihi")]);
        assert_eq!(
            out,
            "\r\nerror: edit x: editor service: the provider exited or faulted\r\n"
        );
        assert!(screen.ends_with("\x1b[0m\x1b[2J\x1b[H"));
        assert!(!sys.nodes.contains_key("x"), "nothing saved");
    }

    #[test]
    fn df_units() {
        let show = |block_size, blocks, used, files| {
            let mut s = String::new();
            let info = FsInfo {
                block_size,
                blocks,
                used,
                free: blocks - used,
                files,
            };
            write_df(&mut s, &info).unwrap();
            s
        };
        assert_eq!(
            show(512, 1, 1, 0),
            "size 512 B, used 512 B, free 0 B, 0 files and directories\r\n"
        );
        assert_eq!(
            show(4096, 256, 1, 1),
            "size 1.0 MiB, used 0.0 MiB, free 1.0 MiB, 1 file or directory\r\n"
        );
        assert_eq!(
            show(4096, 3 << 18, 1 << 18, 12),
            "size 3.0 GiB, used 1.0 GiB, free 2.0 GiB, 12 files and directories\r\n"
        );
        assert_eq!(
            show(4096, u64::MAX, 0, 2),
            "size 65536.0 EiB, used 0.0 EiB, free 65536.0 EiB, 2 files and directories\r\n"
        );
    }

    #[test]
    fn cat_escapes_control_bytes_and_converts_newlines() {
        let mut sys = Fake::default();
        sys.put("f", b"a\nb\r\nc\x1b[2J\xff\tz\n");
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
    fn bootlog_prints_the_journal_a_line_per_boot() {
        let mut sys = Fake::default();
        assert_eq!(
            sh(&mut sys, "bootlog"),
            "#12 slot B: fell back from A (tries exhausted)\r\n#11: up\r\n\
             #10: refused (verified boot (enforce): ROLLBACK: epoch 2 < 3)\r\n"
        );
        // A trailing newline does not make an empty line.
        sys.journal = Ok("#7: up\n".into());
        assert_eq!(sh(&mut sys, "bootlog"), "#7: up\r\n");
        sys.journal = Ok(String::new());
        assert_eq!(sh(&mut sys, "bootlog"), "(no boots recorded)\r\n");
        // No journal (no user-data region), or another failure: one error line.
        sys.journal = Err(Error::NotFound);
        assert_eq!(sh(&mut sys, "bootlog"), "error: bootlog: not found\r\n");
        sys.journal = Err(Error::BadPointer);
        assert_eq!(sh(&mut sys, "bootlog"), "error: bootlog: bad pointer\r\n");
    }

    #[test]
    fn lastcrash_prints_the_record_or_says_there_is_none() {
        let mut sys = Fake::default();
        assert_eq!(sh(&mut sys, "lastcrash"), "no crash recorded\r\n");
        sys.crash = Ok("a kernel panic in boot #1, 2.000000 s after kernel entry: kernel panicked at a.rs:1:2: boom\n\
                        first shown at boot #2\n\
                        last kernel log lines before it:\n  [    1.000000] INFO  boot: x"
            .into());
        assert_eq!(
            sh(&mut sys, "lastcrash"),
            "a kernel panic in boot #1, 2.000000 s after kernel entry: kernel panicked at a.rs:1:2: boom\r\n\
             first shown at boot #2\r\n\
             last kernel log lines before it:\r\n  [    1.000000] INFO  boot: x\r\n"
        );
        sys.crash = Err(Error::BadPointer);
        assert_eq!(
            sh(&mut sys, "lastcrash"),
            "error: lastcrash: bad pointer\r\n"
        );
    }

    const SLOT_STATE: &str = "slot A: priority 15, 7 tries left, successful (booted now)\n\
        slot B: priority 14, 7 tries left, successful\n\
        one-shot trial: none\n\
        metadata generation 5";

    #[test]
    fn slots_shows_the_state_a_line_each() {
        let mut sys = Fake::default();
        assert_eq!(
            sh(&mut sys, "slots"),
            "slot A: priority 15, 7 tries left, successful (booted now)\r\n\
             slot B: priority 14, 7 tries left, successful\r\n\
             one-shot trial: none\r\n\
             metadata generation 5\r\n"
        );
        sys.slot_state = Err(Error::NotFound);
        assert_eq!(
            sh(&mut sys, "slots"),
            "error: slots: this image has one system slot\r\n"
        );
        sys.slot_state = Err(Error::Unsupported);
        assert_eq!(sh(&mut sys, "slots"), "error: slots: unsupported\r\n");
        assert!(sys.slot_sets.is_empty(), "slots changes nothing");
    }

    #[test]
    fn slot_changes_the_state_and_prints_it() {
        let mut sys = Fake {
            slot_state: Ok("slot A: x\nslot B: y\none-shot trial: B\nmetadata generation 6".into()),
            ..Fake::default()
        };
        assert_eq!(
            sh(&mut sys, "slot try B"),
            "slot B boots once, on the next boot\r\nslot A: x\r\nslot B: y\r\n\
             one-shot trial: B\r\nmetadata generation 6\r\n"
        );
        let out = sh(&mut sys, "slot set-active a");
        assert!(
            out.starts_with(
                "slot A is now active: it boots from the next boot on\r\nslot A: x\r\n"
            ),
            "{out}"
        );
        assert_eq!(
            sys.slot_sets,
            [
                (SlotAction::Try, SlotId::B),
                (SlotAction::SetActive, SlotId::A)
            ]
        );
        // One error line each.
        sys.slot_state = Err(Error::Denied);
        assert_eq!(
            sh(&mut sys, "slot try A"),
            "error: slot: needs the update capability\r\n"
        );
        sys.slot_state = Err(Error::NotFound);
        assert_eq!(
            sh(&mut sys, "slot set-active B"),
            "error: slot: this image has one system slot\r\n"
        );
        sys.slot_state = Err(Error::Unsupported);
        assert_eq!(sh(&mut sys, "slot try B"), "error: slot: unsupported\r\n");
        assert_eq!(
            sh(&mut sys, "slot try"),
            "usage: slot set-active|try A|B\r\n"
        );
        assert_eq!(sys.slot_sets.len(), 5, "a usage error calls nothing");
    }

    #[test]
    fn a_bootlog_longer_than_the_buffer_is_cut_and_says_so() {
        let mut sys = Fake::default();
        let line = format!("#1: {}", "x".repeat(95));
        let lines: Vec<String> = (0..50).map(|_| line.clone()).collect();
        let journal = lines.join("\n");
        sys.journal = Ok(journal.clone());
        let out = sh(&mut sys, "bootlog");
        let shown: Vec<&str> = out.split("\r\n").collect();
        // Whole lines as long as they fit, then the cut one, then the note.
        let whole = BOOTLOG_BUF / (line.len() + 1);
        assert!(shown[..whole].iter().all(|l| *l == line));
        assert!(line.starts_with(shown[whole]) && shown[whole].len() < line.len());
        assert_eq!(
            shown[whole + 1],
            format!("... ({} more bytes not shown)", journal.len() - BOOTLOG_BUF)
        );
        assert_eq!(shown[whole + 2..], [""]);
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
