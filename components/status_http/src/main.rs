//! `status_http`: an HTTP status page on TCP port [`PORT`], through `services_network`'s
//! `network_api` (its `port_range:8080-8080` capability). `GET /` is the state table
//! (SERVICES, what the console's `services` shows) and the boot journal's newest lines
//! (BOOTLOG) as HTML, `GET /services.json` the table as JSON, `GET /manifest.json` the
//! manifest (MANIFEST). The HTTP itself is the pure, host-tested `status_http::http`.
//!
//! `PUT /update` takes a signed delta (`PGDELTA1`): its body is streamed into the user-data
//! store at `status_http::upload::STORE_PATH` (`files:/updates`), then `update_driver` applies
//! it into slot B over SLOT_READ/SLOT_WRITE/SLOT_SET (`update`), exactly as the console's
//! `update FILE` does; the answer is the console's one line. While a delta is applied (seconds)
//! the loop serves nothing else.
//!
//! One loop, never blocking: accept while fewer than [`MAX_CONNS`] connections are open, then
//! for each connection send what is pending, answer the next request, or receive; a
//! connection idle for [`IDLE_MS`] is closed. Every connection holds at most one request head
//! (8 KiB) and one answer. See docs/status-http.md.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use abi::{SlotAction, SlotId};
use netstack::api::{Request, Response};
use netstack::NetError;
use pgdelta::IoError;
use protocol::storage::{self, OpenFlags, StorageError};
use runtime::Error;
use status_http::http::{Conn, HttpError, Page, Reply, Site, Step};
use status_http::{status, upload};
use update_driver::SlotIo;

runtime::entry!(main);

const NAME: &str = "status_http";
/// The port served (the manifest grants `port_range:8080-8080`).
const PORT: u16 = 8080;
/// Connections served at once: `network_api` gives a client 16 handles, one is the listener.
const MAX_CONNS: usize = 12;
/// A connection with no traffic for this long is closed.
const IDLE_MS: u64 = 5_000;
/// The most one receive asks for (a request head fits [`status_http::http::MAX_HEAD`]; an
/// upload's body is received up to [`status_http::http::BODY_BUF`] at a time).
const RECV_MAX: u32 = netstack::api::MAX_DATA as u32;
/// The most one send offers.
const SEND_MAX: usize = 16 * 1024;
/// How long to wait before listening again after a failure (no address yet, link down).
const RELISTEN_MS: u64 = 1_000;
/// The most steps one connection takes before the next one's turn.
const STEPS_PER_TURN: usize = 4;
/// Failures of `network_api` itself logged before the loop goes quiet.
const LOGGED_FAILURES: u32 = 8;

fn main() -> i32 {
    runtime::announce(NAME);
    let mut server = Server::new();
    server.listen(now_ms());
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    server.run()
}

/// Milliseconds since the kernel started.
fn now_ms() -> u64 {
    runtime::uptime().unwrap_or(0) / 1000
}

/// Why a `network_api` call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallError {
    /// The IPC call failed (`services_network` gone, or not allowed).
    Ipc(Error),
    /// The service answered with an error.
    Net(NetError),
    /// The reply did not decode, or was not the one asked for.
    BadReply,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Ipc(e) => write!(f, "network_api call failed: {e}"),
            CallError::Net(e) => write!(f, "{e}"),
            CallError::BadReply => f.write_str("services_network sent a malformed reply"),
        }
    }
}

/// The `network_api` client: one request and reply buffer.
struct Net {
    msg: Vec<u8>,
    reply: Vec<u8>,
}

impl Net {
    fn call<T>(
        &mut self,
        req: &Request<'_>,
        with: impl FnOnce(Response<'_>) -> Option<T>,
    ) -> Result<T, CallError> {
        let len = req.encode(&mut self.msg).map_err(|_| CallError::BadReply)?;
        let n = runtime::ipc::call(netstack::api::ENDPOINT, &self.msg[..len], &mut self.reply)
            .map_err(CallError::Ipc)?;
        match Response::decode(&self.reply[..n.min(self.reply.len())]) {
            Ok(Response::Err(e)) => Err(CallError::Net(e)),
            Ok(r) => with(r).ok_or(CallError::BadReply),
            Err(_) => Err(CallError::BadReply),
        }
    }

    fn close(&mut self, handle: u32) {
        // A failure leaves nothing to do: the handle is forgotten either way.
        let _ = self.call(&Request::Close { handle }, |_| Some(()));
    }
}

/// The pages, from the system's calls, and the upload being stored.
struct System {
    store: Store,
    /// The open handle of [`upload::STORE_PATH`] and the bytes written, while an upload's
    /// body is received.
    upload: Option<(u32, u64)>,
}

/// Why a `storage_api` call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreError {
    /// The IPC call failed (`services_storage` gone, or not allowed).
    Ipc(Error),
    /// The service answered with an error.
    Storage(StorageError),
    /// The reply did not decode, or was not the one asked for.
    BadReply,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Ipc(e) => write!(f, "storage_api call failed: {e}"),
            StoreError::Storage(e) => write!(f, "{e}"),
            StoreError::BadReply => f.write_str("services_storage sent a malformed reply"),
        }
    }
}

/// The `storage_api` client: one request and reply buffer.
struct Store {
    msg: Vec<u8>,
    reply: Vec<u8>,
}

impl Store {
    fn call<T>(
        &mut self,
        req: &storage::Request<'_>,
        with: impl FnOnce(storage::Response<'_>) -> Option<T>,
    ) -> Result<T, StoreError> {
        let len = req
            .encode(&mut self.msg)
            .map_err(|_| StoreError::BadReply)?;
        let n = runtime::ipc::call(storage::ENDPOINT, &self.msg[..len], &mut self.reply)
            .map_err(StoreError::Ipc)?;
        match storage::Response::decode(&self.reply[..n.min(self.reply.len())]) {
            Ok(storage::Response::Err(e, _)) => Err(StoreError::Storage(e)),
            Ok(r) => with(r).ok_or(StoreError::BadReply),
            Err(_) => Err(StoreError::BadReply),
        }
    }

    fn ok(&mut self, req: &storage::Request<'_>) -> Result<(), StoreError> {
        self.call(req, |r| matches!(r, storage::Response::Ok).then_some(()))
    }

    fn open(&mut self, path: &str, flags: OpenFlags) -> Result<(u32, u64), StoreError> {
        self.call(&storage::Request::Open { path, flags }, |r| match r {
            storage::Response::Opened { handle, size } => Some((handle, size)),
            _ => None,
        })
    }

    /// Closes `handle` and removes the stored delta (nothing more to do if either fails).
    fn discard(&mut self, handle: Option<u32>) {
        if let Some(handle) = handle {
            let _ = self.ok(&storage::Request::Close { handle });
        }
        let _ = self.ok(&storage::Request::Remove {
            path: upload::STORE_PATH,
        });
    }
}

/// The slot calls, straight to the kernel.
struct Slots;

impl SlotIo for Slots {
    fn slot_read(&mut self, slot: SlotId, block: u64, buf: &mut [u8]) -> Result<(), Error> {
        runtime::slot_read(slot, block, buf)
    }
    fn slot_write(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        runtime::slot_write(block, data)
    }
    fn slot_flush(&mut self) -> Result<(), Error> {
        runtime::slot_write(0, &[])
    }
    fn slot_set(&mut self, action: SlotAction, slot: SlotId) -> Result<(), Error> {
        let mut text = [0u8; 512];
        runtime::slot_set(action, slot, &mut text).map(drop)
    }
    fn booted(&mut self) -> Result<SlotId, Error> {
        let mut text = [0u8; 512];
        let n = runtime::slots(&mut text)?.min(text.len());
        update_driver::booted_in(&text[..n]).ok_or(Error::Unsupported)
    }
}

/// One chunk of the stored delta from `at` on (up to [`status_http::http::BODY_BUF`] bytes),
/// read through `storage_api` into `chunk`.
fn fetch(store: &mut Store, handle: u32, at: u64, chunk: &mut Vec<u8>) -> Result<(), IoError> {
    let req = storage::Request::Read {
        handle,
        offset: at,
        len: status_http::http::BODY_BUF as u32,
    };
    store
        .call(&req, |r| match r {
            storage::Response::Data(d) => {
                chunk.extend_from_slice(d);
                Some(())
            }
            _ => None,
        })
        .map_err(|_| IoError)
}

impl System {
    /// A text from one of the buffer-filling calls, grown once to its full length.
    fn text(call: fn(&mut [u8]) -> Result<usize, Error>, first: usize) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; first];
        let full = call(&mut buf)?;
        if full > buf.len() {
            buf.resize(full, 0);
            let again = call(&mut buf)?;
            buf.truncate(again.min(full));
        } else {
            buf.truncate(full);
        }
        Ok(buf)
    }

    fn services_text() -> alloc::string::String {
        match Self::text(runtime::services, 4096) {
            Ok(b) => alloc::string::String::from_utf8_lossy(&b).into_owned(),
            Err(e) => alloc::format!("SERVICES failed: {e}"),
        }
    }
}

impl Site for System {
    fn upload_start(&mut self, len: u64) -> Result<(), Reply> {
        if self.upload.is_some() {
            return Err(upload::busy());
        }
        // It may exist already; a real failure shows at the open.
        let _ = self.store.ok(&storage::Request::Mkdir {
            path: upload::STORE_DIR,
        });
        let flags = OpenFlags::WRITE
            .with(OpenFlags::CREATE)
            .with(OpenFlags::TRUNCATE);
        let (handle, _) = self
            .store
            .open(upload::STORE_PATH, flags)
            .map_err(|e| upload::store_failed("open", e))?;
        runtime::info!("{NAME}: PUT /update: receiving a delta of {len} bytes");
        self.upload = Some((handle, 0));
        Ok(())
    }

    fn upload_data(&mut self, data: &[u8]) -> Result<(), Reply> {
        let Some((handle, offset)) = self.upload else {
            return Err(upload::store_failed("write", "no upload open"));
        };
        let req = storage::Request::Write {
            handle,
            offset,
            data,
        };
        match self.store.ok(&req) {
            Ok(()) => {
                self.upload = Some((handle, offset + data.len() as u64));
                Ok(())
            }
            Err(e) => {
                self.upload = None;
                self.store.discard(Some(handle));
                Err(upload::store_failed("write", e))
            }
        }
    }

    fn upload_finish(&mut self) -> Reply {
        let Some((handle, _)) = self.upload.take() else {
            return upload::store_failed("close", "no upload open");
        };
        if let Err(e) = self.store.ok(&storage::Request::Close { handle }) {
            self.store.discard(None);
            return upload::store_failed("close", e);
        }
        let started = runtime::uptime().unwrap_or(0);
        let (handle, size) = match self.store.open(upload::STORE_PATH, OpenFlags::READ) {
            Ok(opened) => opened,
            Err(e) => {
                self.store.discard(None);
                return upload::store_failed("reopen", e);
            }
        };
        let io = RefCell::new(Slots);
        let result = update_driver::read_running(&io).and_then(|running| {
            let store = &mut self.store;
            let delta = update_driver::ChunkReader::new(size, |at, chunk: &mut Vec<u8>| {
                fetch(store, handle, at, chunk)
            });
            update_driver::apply(&io, delta, &running, &mut |_| {})
        });
        self.store.discard(Some(handle));
        let ms = runtime::uptime().unwrap_or(started).saturating_sub(started) / 1000;
        let reply = upload::reply(result, ms);
        runtime::info!(
            "{NAME}: PUT /update: {} {}",
            reply.status.code(),
            reply.line
        );
        reply
    }

    fn upload_abort(&mut self) {
        let handle = self.upload.take().map(|(h, _)| h);
        self.store.discard(handle);
        runtime::warn!("{NAME}: PUT /update: the connection ended before the whole delta came");
    }

    fn page(&mut self, page: Page) -> (Vec<u8>, &'static str) {
        match page {
            Page::Index => {
                let table = Self::services_text();
                let journal = Self::text(runtime::bootlog, 4096);
                let journal_text = journal
                    .as_ref()
                    .map(|b| alloc::string::String::from_utf8_lossy(b));
                let why = match &journal {
                    Err(Error::NotFound) => {
                        alloc::string::String::from("no boot journal on this machine")
                    }
                    Err(e) => alloc::format!("BOOTLOG failed: {e}"),
                    Ok(_) => alloc::string::String::new(),
                };
                let j = match &journal_text {
                    Ok(t) => Ok(&t[..]),
                    Err(_) => Err(why.as_str()),
                };
                let html = status::index_html(&table, j, now_ms());
                (html.into_bytes(), "text/html; charset=utf-8")
            }
            Page::Services => (
                status::services_json(&Self::services_text()).into_bytes(),
                "application/json",
            ),
            Page::Manifest => match Self::text(runtime::manifest, 16 * 1024) {
                Ok(json) => (json, "application/json"),
                Err(e) => (
                    alloc::format!("{{\"error\":\"MANIFEST failed: {e}\"}}\n").into_bytes(),
                    "application/json",
                ),
            },
        }
    }
}

/// One open connection.
struct Client {
    handle: u32,
    conn: Conn,
    last_ms: u64,
}

/// What a connection's turn came to.
enum Turn {
    /// Something moved.
    Busy,
    /// Nothing to do now.
    Quiet,
    /// Finished (closed, failed or idle too long): close its handle.
    Finished,
}

/// The listener, its connections and what was logged.
struct Server {
    net: Net,
    listener: Option<u32>,
    next_listen_ms: u64,
    clients: Vec<Client>,
    site: System,
    /// Which [`HttpError`]s were logged already (each kind once).
    logged: [bool; HttpError::COUNT],
    failures: u32,
    listen_logged: bool,
}

impl Server {
    fn new() -> Self {
        Server {
            net: Net {
                msg: vec![0u8; 2 * SEND_MAX],
                reply: vec![0u8; netstack::api::MAX_REPLY],
            },
            listener: None,
            next_listen_ms: 0,
            clients: Vec::with_capacity(MAX_CONNS),
            site: System {
                store: Store {
                    msg: vec![0u8; storage::MAX_MESSAGE],
                    reply: vec![0u8; storage::MAX_MESSAGE],
                },
                upload: None,
            },
            logged: [false; HttpError::COUNT],
            failures: 0,
            listen_logged: false,
        }
    }

    /// Listens on [`PORT`]; a failure is logged once and retried after [`RELISTEN_MS`].
    fn listen(&mut self, now: u64) {
        match self.net.call(&Request::TcpListen { port: PORT }, handle_of) {
            Ok(h) => {
                self.listener = Some(h);
                runtime::info!("{NAME}: serving HTTP on TCP port {PORT}");
            }
            Err(e) => {
                if !self.listen_logged {
                    self.listen_logged = true;
                    runtime::warn!("{NAME}: cannot listen on TCP port {PORT}: {e}; retrying");
                }
                self.next_listen_ms = now + RELISTEN_MS;
            }
        }
    }

    fn run(mut self) -> ! {
        loop {
            let now = now_ms();
            if self.listener.is_none() && now >= self.next_listen_ms {
                self.listen(now);
            }
            let mut busy = self.accept(now);
            let mut i = 0;
            while i < self.clients.len() {
                match self.turn(i, now) {
                    Turn::Busy => busy = true,
                    Turn::Quiet => {}
                    Turn::Finished => {
                        let mut c = self.clients.swap_remove(i);
                        c.conn.abandon(&mut self.site);
                        self.net.close(c.handle);
                        continue;
                    }
                }
                i += 1;
            }
            if !busy {
                runtime::yield_now();
            }
        }
    }

    /// Takes ready connections while there is room; returns whether one came.
    fn accept(&mut self, now: u64) -> bool {
        let Some(listener) = self.listener else {
            return false;
        };
        let mut any = false;
        while self.clients.len() < MAX_CONNS {
            let accepted = self
                .net
                .call(&Request::Accept { handle: listener }, |r| match r {
                    Response::Accepted { handle, .. } => Some(handle),
                    _ => None,
                });
            match accepted {
                Ok(handle) => {
                    any = true;
                    self.clients.push(Client {
                        handle,
                        conn: Conn::new(),
                        last_ms: now,
                    });
                }
                Err(CallError::Net(NetError::WouldBlock)) => break,
                Err(e) => {
                    // The listener is no good any more: listen again later.
                    self.note_failure(format_args!("accept on port {PORT} failed: {e}"));
                    self.net.close(listener);
                    self.listener = None;
                    self.next_listen_ms = now + RELISTEN_MS;
                    break;
                }
            }
        }
        any
    }

    /// One connection's turn: up to [`STEPS_PER_TURN`] times send, else answer, else receive
    /// (a request is then received, answered and sent in one turn).
    fn turn(&mut self, i: usize, now: u64) -> Turn {
        let mut result = self.move_bytes(i);
        for _ in 1..STEPS_PER_TURN {
            match result {
                Ok(true) => {}
                _ => break,
            }
            match self.move_bytes(i) {
                Ok(false) => break,
                other => result = other,
            }
        }
        let c = &mut self.clients[i];
        match result {
            Ok(true) => {
                c.last_ms = now;
                Turn::Busy
            }
            Ok(false) if c.conn.done() || now.saturating_sub(c.last_ms) > IDLE_MS => Turn::Finished,
            Ok(false) => Turn::Quiet,
            // The peer reset or went away: nothing to log.
            Err(CallError::Net(_)) => Turn::Finished,
            Err(e) => {
                self.note_failure(format_args!("connection failed: {e}"));
                Turn::Finished
            }
        }
    }

    /// Sends, answers or receives; `Ok(true)` when bytes moved or a request was answered.
    fn move_bytes(&mut self, i: usize) -> Result<bool, CallError> {
        let c = &mut self.clients[i];
        let out = c.conn.output();
        if !out.is_empty() {
            let data = &out[..out.len().min(SEND_MAX)];
            let handle = c.handle;
            return match self.net.call(&Request::Send { handle, data }, |r| match r {
                Response::Sent(n) => Some(n as usize),
                _ => None,
            }) {
                Ok(n) => {
                    self.clients[i].conn.sent(n);
                    Ok(n > 0)
                }
                Err(CallError::Net(NetError::WouldBlock)) => Ok(false),
                Err(e) => Err(e),
            };
        }
        match c.conn.step(&mut self.site) {
            Step::Idle => {}
            Step::Answered(_) | Step::Body(_) => return Ok(true),
            Step::Rejected(e) => {
                self.log_rejected(e);
                return Ok(true);
            }
        }
        self.receive(i)
    }

    fn receive(&mut self, i: usize) -> Result<bool, CallError> {
        let c = &mut self.clients[i];
        let room = c.conn.room();
        if room == 0 {
            return Ok(false);
        }
        let req = Request::Recv {
            handle: c.handle,
            max: RECV_MAX.min(room as u32),
        };
        let conn = &mut c.conn;
        match self.net.call(&req, |r| match r {
            Response::Data(d) => {
                if d.is_empty() {
                    conn.peer_closed();
                } else {
                    conn.feed(d);
                }
                Some(())
            }
            _ => None,
        }) {
            Ok(()) => Ok(true),
            Err(CallError::Net(NetError::WouldBlock)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Each kind of bad request is logged once.
    fn log_rejected(&mut self, e: HttpError) {
        if let Some(seen) = self.logged.get_mut(e.index()) {
            if !*seen {
                *seen = true;
                runtime::warn!(
                    "{NAME}: refused a request: {e} ({}; logged once)",
                    e.status().code()
                );
            }
        }
    }

    fn note_failure(&mut self, what: fmt::Arguments<'_>) {
        self.failures = self.failures.saturating_add(1);
        if self.failures <= LOGGED_FAILURES {
            runtime::error!("{NAME}: {what}");
        }
    }
}

fn handle_of(r: Response<'_>) -> Option<u32> {
    match r {
        Response::Handle(h) => Some(h),
        _ => None,
    }
}
