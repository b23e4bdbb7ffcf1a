//! The `http` command: an HTTP/1.1 client over `network_api` TCP calls, with the protocol
//! logic in the pure `http-client` crate.
//!
//! * `http get URL [-o FILE] [-i]`: the body to the console, or with `-o` into the store,
//!   streamed chunk by chunk into `FILE.part`, which is renamed to `FILE` once the whole body
//!   is durable (removed on any failure); progress lines every [`PROGRESS_STEP`] bytes, then
//!   `saved N bytes to FILE in T ms (X KiB/s)`. `-i` prints the status line and headers first.
//! * `http put URL FILE`: the stored file as the body of a `PUT` with `Content-Length`; the
//!   status line, then `sent N bytes in T ms (X KiB/s)`.
//!
//! A failure is one line, `error: http get|put URL: <reason>`: bad URL, DNS failure, connect
//! refused or timed out, peer reset, no data for [`IDLE_WAIT_US`], a malformed response, a
//! non-2xx status (its status line), the store full. The TCP handle is always closed (reset
//! after a failure) and an opened file always closed.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::net::SocketAddrV4;

use http_client::{write_request, Body, Head, HeadReader, Host, HttpError, Method, Url, UrlError};
use netstack::api::{Request as NetRequest, Response as NetResponse, MAX_DATA, MAX_REPLY};
use netstack::{NetError, TcpState};
use protocol::storage::{OpenFlags, Request, Response, StorageError, MAX_MESSAGE};

use crate::net::{self, NetCmdError};
use crate::shell::{expect_ok, fail, storage_in, writeln_crlf, Failure, System, TextOut};

/// How long the connection may take to come up (the stack gives up after 10 s itself).
const CONNECT_WAIT_US: u64 = 15_000_000;
/// How long the server may stay silent (nothing received, nothing taken) before giving up.
pub const IDLE_WAIT_US: u64 = 30_000_000;
/// A progress line every this many bytes of a transfer to or from the store.
pub const PROGRESS_STEP: u64 = 8 << 20;
/// What `-o FILE` writes to until the body is complete.
pub const PART_SUFFIX: &str = ".part";
/// File bytes read from the store per request by `put` (one `Send` at most).
const PUT_CHUNK: usize = 32 * 1024;
/// Bytes asked per `Recv`.
const RECV_MAX: u32 = MAX_DATA as u32;

/// Why an `http` command failed; its `Display` is the reason on the error line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HttpCmdError {
    BadUrl(UrlError),
    Dns(NetCmdError),
    Connect(NetCmdError),
    Transfer(NetCmdError),
    /// Nothing received or taken for [`IDLE_WAIT_US`].
    Idle,
    /// The connection closed before a complete status line and headers.
    NoResponse,
    Response(HttpError),
    /// A non-2xx status: its status line.
    Status(String),
    Store(Failure),
    /// Writing to the console failed: the command stops without an error line.
    Output,
}

impl fmt::Display for HttpCmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HttpCmdError::*;
        match self {
            BadUrl(e) => write!(f, "bad URL: {e}"),
            Dns(e) => write!(f, "DNS failure: {e}"),
            Connect(NetCmdError::Net(NetError::ConnectionRefused)) => {
                f.write_str("connect refused: nothing listens on that port")
            }
            Connect(NetCmdError::Net(NetError::TimedOut) | NetCmdError::NoAnswer) => {
                f.write_str("connect timed out: the host does not answer")
            }
            Connect(e) => write!(f, "connect failed: {e}"),
            Transfer(NetCmdError::Net(NetError::ConnectionReset)) => {
                f.write_str("peer reset the connection")
            }
            Transfer(e) => write!(f, "transfer failed: {e}"),
            Idle => write!(f, "timed out: no data for {} s", IDLE_WAIT_US / 1_000_000),
            NoResponse => f.write_str("the server closed the connection without a response"),
            Response(e) => write!(f, "bad response: {e}"),
            Status(line) => write!(f, "server answered {line}"),
            Store(Failure::Storage(StorageError::NoSpace)) => {
                f.write_str("store full: no space left for the file")
            }
            Store(e) => write!(f, "store: {e}"),
            Output => f.write_str("cannot write the output"),
        }
    }
}

type Result<T> = core::result::Result<T, HttpCmdError>;

/// `http get URL [-o FILE] [-i]`.
pub fn get<S: System>(
    sys: &mut S,
    url: &str,
    file: Option<&str>,
    include: bool,
    out: &mut impl Write,
) -> fmt::Result {
    let start = sys.uptime().unwrap_or(0);
    let mut text = TextOut::default();
    let result = fetch(sys, url, file, include, &mut text, out);
    text.finish(out)?;
    match (result, file) {
        (Ok(n), Some(file)) => {
            let us = sys.uptime().unwrap_or(0).saturating_sub(start);
            write!(out, "saved {n} bytes to {file} in ")?;
            write_rate(out, n, us)
        }
        (Ok(_), None) => Ok(()),
        (Err(HttpCmdError::Output), _) => Err(fmt::Error),
        (Err(e), _) => fail(out, "http get", &[url], e),
    }
}

/// `http put URL FILE`.
pub fn put<S: System>(sys: &mut S, url: &str, file: &str, out: &mut impl Write) -> fmt::Result {
    let start = sys.uptime().unwrap_or(0);
    match upload(sys, url, file) {
        Ok((status_line, n)) => {
            writeln_crlf(out, format_args!("{status_line}"))?;
            let us = sys.uptime().unwrap_or(0).saturating_sub(start);
            write!(out, "sent {n} bytes in ")?;
            write_rate(out, n, us)
        }
        Err(e) => fail(out, "http put", &[url, file], e),
    }
}

/// `T ms (X KiB/s)` and the line end.
fn write_rate(out: &mut impl Write, bytes: u64, us: u64) -> fmt::Result {
    let ms = us / 1000;
    let kib_s = u128::from(bytes) * 1_000_000 / 1024 / u128::from(us.max(1));
    writeln_crlf(out, format_args!("{ms} ms ({kib_s} KiB/s)"))
}

/// A TCP connection through `network_api`, with its message buffers.
struct Conn {
    handle: u32,
    msg: Vec<u8>,
    reply: Vec<u8>,
}

/// One `network_api` round trip; an `Err` reply becomes [`NetCmdError::Net`].
fn call<'r, S: System>(
    sys: &mut S,
    req: &NetRequest<'_>,
    msg: &mut [u8],
    reply: &'r mut [u8],
) -> core::result::Result<NetResponse<'r>, NetCmdError> {
    let n = exchange(sys, req, msg, reply)?;
    decode(&reply[..n])
}

/// Sends `req`; returns the reply's length in `reply`.
fn exchange<S: System>(
    sys: &mut S,
    req: &NetRequest<'_>,
    msg: &mut [u8],
    reply: &mut [u8],
) -> core::result::Result<usize, NetCmdError> {
    let len = req.encode(msg).map_err(|_| NetCmdError::BadReply)?;
    let n = sys
        .network_call(&msg[..len], reply)
        .map_err(NetCmdError::Ipc)?;
    Ok(n.min(reply.len()))
}

fn decode(reply: &[u8]) -> core::result::Result<NetResponse<'_>, NetCmdError> {
    match NetResponse::decode(reply) {
        Ok(NetResponse::Err(e)) => Err(NetCmdError::Net(e)),
        Ok(r) => Ok(r),
        Err(_) => Err(NetCmdError::BadReply),
    }
}

/// The server's address: the URL's, or its name looked up.
fn address<S: System>(sys: &mut S, url: &Url<'_>) -> Result<SocketAddrV4> {
    let ip = match url.host {
        Host::Ip(ip) => ip,
        Host::Name(name) => net::resolve(sys, name).map_err(HttpCmdError::Dns)?,
    };
    Ok(SocketAddrV4::new(ip, url.port))
}

impl Conn {
    /// Connects to `to`, waiting until the connection is up.
    fn open<S: System>(sys: &mut S, to: SocketAddrV4) -> Result<Conn> {
        let (mut msg, mut reply) = (vec![0u8; MAX_REPLY], vec![0u8; MAX_REPLY]);
        let handle = match call(
            sys,
            &NetRequest::TcpConnect { remote: to },
            &mut msg,
            &mut reply,
        ) {
            Ok(NetResponse::Handle(h)) => h,
            Ok(_) => return Err(HttpCmdError::Connect(NetCmdError::BadReply)),
            Err(e) => return Err(HttpCmdError::Connect(e)),
        };
        let mut conn = Conn { handle, msg, reply };
        let deadline = sys.uptime().unwrap_or(0).saturating_add(CONNECT_WAIT_US);
        loop {
            let state = call(
                sys,
                &NetRequest::TcpState { handle },
                &mut conn.msg,
                &mut conn.reply,
            );
            let err = match state {
                Ok(NetResponse::TcpState(TcpState::Established | TcpState::PeerClosed)) => {
                    return Ok(conn)
                }
                Ok(NetResponse::TcpState(TcpState::Connecting))
                    if sys.uptime().unwrap_or(0) < deadline =>
                {
                    System::pause(sys);
                    continue;
                }
                Ok(NetResponse::TcpState(TcpState::Connecting)) => NetCmdError::NoAnswer,
                Ok(_) => NetCmdError::BadReply,
                Err(e) => e,
            };
            conn.end(sys, false);
            return Err(HttpCmdError::Connect(err));
        }
    }

    /// Closes the handle: a FIN after success, a reset after a failure.
    fn end<S: System>(&mut self, sys: &mut S, ok: bool) {
        let handle = self.handle;
        if !ok {
            let _ = call(
                sys,
                &NetRequest::Abort { handle },
                &mut self.msg,
                &mut self.reply,
            );
        }
        let _ = call(
            sys,
            &NetRequest::Close { handle },
            &mut self.msg,
            &mut self.reply,
        );
    }

    /// Sends all of `data`, waiting while the send buffer is full.
    fn send_all<S: System>(&mut self, sys: &mut S, mut data: &[u8]) -> Result<()> {
        let mut deadline = sys.uptime().unwrap_or(0).saturating_add(IDLE_WAIT_US);
        while !data.is_empty() {
            let req = NetRequest::Send {
                handle: self.handle,
                data: &data[..data.len().min(MAX_DATA)],
            };
            match call(sys, &req, &mut self.msg, &mut self.reply) {
                Ok(NetResponse::Sent(n)) => {
                    data = data.get(n as usize..).unwrap_or(&[]);
                    deadline = sys.uptime().unwrap_or(0).saturating_add(IDLE_WAIT_US);
                }
                Ok(_) => return Err(HttpCmdError::Transfer(NetCmdError::BadReply)),
                Err(NetCmdError::Net(NetError::WouldBlock)) => idle(sys, deadline)?,
                Err(e) => return Err(HttpCmdError::Transfer(e)),
            }
        }
        Ok(())
    }

    /// The next bytes received; `None` at the end of the stream.
    fn recv<S: System>(&mut self, sys: &mut S) -> Result<Option<&[u8]>> {
        let deadline = sys.uptime().unwrap_or(0).saturating_add(IDLE_WAIT_US);
        let req = NetRequest::Recv {
            handle: self.handle,
            max: RECV_MAX,
        };
        let n = loop {
            let n = exchange(sys, &req, &mut self.msg, &mut self.reply)
                .map_err(HttpCmdError::Transfer)?;
            match decode(&self.reply[..n]) {
                Ok(NetResponse::Data(_)) => break n,
                Ok(_) => return Err(HttpCmdError::Transfer(NetCmdError::BadReply)),
                Err(NetCmdError::Net(NetError::WouldBlock)) => idle(sys, deadline)?,
                Err(e) => return Err(HttpCmdError::Transfer(e)),
            }
        };
        match decode(&self.reply[..n]) {
            Ok(NetResponse::Data(d)) => Ok((!d.is_empty()).then_some(d)),
            _ => Err(HttpCmdError::Transfer(NetCmdError::BadReply)),
        }
    }

    /// Receives until the response head is complete; returns it and the body bytes that
    /// came with it.
    fn read_head<S: System>(&mut self, sys: &mut S) -> Result<(Head, Vec<u8>)> {
        let mut reader = HeadReader::new();
        loop {
            let Some(data) = self.recv(sys)? else {
                return Err(HttpCmdError::NoResponse);
            };
            if let Some((head, n)) = reader.push(data).map_err(HttpCmdError::Response)? {
                return Ok((head, data[n..].to_vec()));
            }
        }
    }
}

/// Waits a little, unless `deadline` has passed.
fn idle<S: System>(sys: &mut S, deadline: u64) -> Result<()> {
    if sys.uptime().unwrap_or(0) >= deadline {
        return Err(HttpCmdError::Idle);
    }
    System::pause(sys);
    Ok(())
}

/// Where the body of a `get` goes.
enum Sink<'f> {
    /// The console (text, control characters escaped).
    Console,
    /// A file of the store, through [`Store`].
    File(Store<'f>),
}

/// A file of the store being written (or read) through one handle, with its own buffers.
struct Store<'f> {
    /// The final name (`-o FILE`).
    name: &'f str,
    /// The name written to ([`PART_SUFFIX`] appended), renamed to `name` at the end.
    part: String,
    handle: u32,
    offset: u64,
    request: Vec<u8>,
    reply: Vec<u8>,
    /// The byte count of the next progress line.
    next_progress: u64,
}

impl<'f> Store<'f> {
    /// Opens `path` with `flags`; returns the store and the file's size.
    fn open<S: System>(
        sys: &mut S,
        name: &'f str,
        part: String,
        flags: OpenFlags,
    ) -> Result<(Self, u64)> {
        let (mut request, mut reply) = (vec![0u8; MAX_MESSAGE], vec![0u8; MAX_MESSAGE]);
        let req = Request::Open { path: &part, flags };
        let (handle, size) = match storage_in(sys, &req, &mut request, &mut reply) {
            Ok(Response::Opened { handle, size }) => (handle, size),
            Ok(_) => return Err(HttpCmdError::Store(Failure::Unexpected)),
            Err(f) => return Err(HttpCmdError::Store(f)),
        };
        let store = Store {
            name,
            part,
            handle,
            offset: 0,
            request,
            reply,
            next_progress: PROGRESS_STEP,
        };
        Ok((store, size))
    }

    /// Appends `data` to the file.
    fn write<S: System>(&mut self, sys: &mut S, data: &[u8]) -> Result<()> {
        let req = Request::Write {
            handle: self.handle,
            offset: self.offset,
            data,
        };
        ok_call(sys, &req, &mut self.request, &mut self.reply)?;
        self.offset += data.len() as u64;
        progress(sys, &mut self.next_progress, self.offset, "received");
        Ok(())
    }

    /// The next bytes of the file being read (empty at its end).
    fn read<S: System>(&mut self, sys: &mut S) -> Result<&[u8]> {
        let req = Request::Read {
            handle: self.handle,
            offset: self.offset,
            len: PUT_CHUNK as u32,
        };
        match storage_in(sys, &req, &mut self.request, &mut self.reply) {
            Ok(Response::Data(d)) => {
                self.offset += d.len() as u64;
                Ok(d)
            }
            Ok(_) => Err(HttpCmdError::Store(Failure::Unexpected)),
            Err(f) => Err(HttpCmdError::Store(f)),
        }
    }

    /// Closes the handle. After a success the written file (durable once Close answered)
    /// takes the final name; after a failure the part file is removed.
    fn end<S: System>(mut self, sys: &mut S, result: Result<u64>) -> Result<u64> {
        let close = Request::Close {
            handle: self.handle,
        };
        let closed = ok_call(sys, &close, &mut self.request, &mut self.reply);
        let result = result.and_then(|n| closed.map(|()| n));
        if self.part == self.name {
            return result;
        }
        let renamed = result.and_then(|n| {
            let req = Request::Rename {
                from: &self.part,
                to: self.name,
            };
            ok_call(sys, &req, &mut self.request, &mut self.reply).map(|()| n)
        });
        if renamed.is_err() {
            let _ = expect_ok(
                sys,
                &Request::Remove { path: &self.part },
                &mut self.request,
            );
        }
        renamed
    }
}

/// A `storage_api` request whose success reply is `Ok`.
fn ok_call<S: System>(
    sys: &mut S,
    req: &Request<'_>,
    request: &mut [u8],
    reply: &mut [u8],
) -> Result<()> {
    match storage_in(sys, req, request, reply) {
        Ok(Response::Ok) => Ok(()),
        Ok(_) => Err(HttpCmdError::Store(Failure::Unexpected)),
        Err(f) => Err(HttpCmdError::Store(f)),
    }
}

/// A progress line on the terminal when `done` reached `next`.
fn progress<S: System>(sys: &mut S, next: &mut u64, done: u64, what: &str) {
    if done >= *next {
        let line = alloc::format!("{what} {done} bytes\r\n");
        let _ = sys.terminal_write(line.as_bytes());
        while *next <= done {
            *next += PROGRESS_STEP;
        }
    }
}

/// Connects, sends the request and reads the response; the body bytes received.
fn fetch<S: System>(
    sys: &mut S,
    text: &str,
    file: Option<&str>,
    include: bool,
    console: &mut TextOut,
    out: &mut impl Write,
) -> Result<u64> {
    let url = Url::parse(text).map_err(HttpCmdError::BadUrl)?;
    let to = address(sys, &url)?;
    let mut conn = Conn::open(sys, to)?;
    let result = fetch_on(sys, &mut conn, &url, file, include, console, out);
    conn.end(sys, result.is_ok());
    result
}

fn fetch_on<S: System>(
    sys: &mut S,
    conn: &mut Conn,
    url: &Url<'_>,
    file: Option<&str>,
    include: bool,
    console: &mut TextOut,
    out: &mut impl Write,
) -> Result<u64> {
    let mut request = Vec::new();
    write_request(Method::Get, url, None, &mut request);
    conn.send_all(sys, &request)?;
    let (head, rest) = conn.read_head(sys)?;
    if include && file.is_some() {
        // Before the progress lines, which go straight to the terminal.
        let mut text = String::new();
        write_head(&mut text, &head).map_err(|_| HttpCmdError::Output)?;
        let _ = sys.terminal_write(text.as_bytes());
    } else if include {
        write_head(out, &head).map_err(|_| HttpCmdError::Output)?;
    }
    if !head.is_success() {
        return Err(HttpCmdError::Status(head.status_line));
    }
    let mut sink = match file {
        None => Sink::Console,
        Some(name) => {
            let part = alloc::format!("{name}{PART_SUFFIX}");
            let flags = OpenFlags::WRITE
                .with(OpenFlags::CREATE)
                .with(OpenFlags::TRUNCATE);
            Sink::File(Store::open(sys, name, part, flags)?.0)
        }
    };
    let result = receive_body(sys, conn, &head, &rest, &mut sink, console, out);
    match sink {
        Sink::Console => result,
        Sink::File(store) => store.end(sys, result),
    }
}

/// `-i`: the status line and the headers, then a blank line.
fn write_head(out: &mut impl Write, head: &Head) -> fmt::Result {
    crate::shell::write_text(out, head.status_line.as_bytes())?;
    out.write_str("\r\n")?;
    for (name, value) in &head.headers {
        crate::shell::write_text(out, name.as_bytes())?;
        out.write_str(": ")?;
        crate::shell::write_text(out, value.as_bytes())?;
        out.write_str("\r\n")?;
    }
    out.write_str("\r\n")
}

/// Receives the body to its end (as the head frames it) into `sink`.
fn receive_body<S: System>(
    sys: &mut S,
    conn: &mut Conn,
    head: &Head,
    first: &[u8],
    sink: &mut Sink<'_>,
    console: &mut TextOut,
    out: &mut impl Write,
) -> Result<u64> {
    let mut body = Body::new(head);
    let mut deliver = |sys: &mut S, body: &mut Body, mut data: &[u8]| -> Result<()> {
        while !data.is_empty() && !body.is_done() {
            let (n, bytes) = body.feed(data).map_err(HttpCmdError::Response)?;
            data = &data[n..];
            match sink {
                _ if bytes.is_empty() => {}
                Sink::Console => console.push(out, bytes).map_err(|_| HttpCmdError::Output)?,
                Sink::File(store) => store.write(sys, bytes)?,
            }
        }
        Ok(())
    };
    deliver(sys, &mut body, first)?;
    while !body.is_done() {
        match conn.recv(sys)? {
            Some(data) => deliver(sys, &mut body, data)?,
            None => {
                body.finish().map_err(HttpCmdError::Response)?;
                break;
            }
        }
    }
    Ok(body.received())
}

/// Sends `file` as a PUT; the status line and the bytes sent.
fn upload<S: System>(sys: &mut S, text: &str, file: &str) -> Result<(String, u64)> {
    let url = Url::parse(text).map_err(HttpCmdError::BadUrl)?;
    let (mut store, size) = Store::open(sys, file, String::from(file), OpenFlags::READ)?;
    let result = address(sys, &url).and_then(|to| {
        let mut conn = Conn::open(sys, to)?;
        let result = upload_on(sys, &mut conn, &url, &mut store, size);
        conn.end(sys, result.is_ok());
        result
    });
    let closed = store.end(sys, Ok(0));
    let value = result?;
    closed?;
    Ok(value)
}

fn upload_on<S: System>(
    sys: &mut S,
    conn: &mut Conn,
    url: &Url<'_>,
    store: &mut Store<'_>,
    size: u64,
) -> Result<(String, u64)> {
    let mut request = Vec::new();
    write_request(Method::Put, url, Some(size), &mut request);
    conn.send_all(sys, &request)?;
    let mut next = PROGRESS_STEP;
    while store.offset < size {
        let data = store.read(sys)?;
        if data.is_empty() {
            // The file shrank since it was opened: the server would wait for the rest.
            return Err(HttpCmdError::Store(Failure::Unexpected));
        }
        conn.send_all(sys, data)?;
        progress(sys, &mut next, store.offset, "sent");
    }
    let (head, _) = conn.read_head(sys)?;
    if !head.is_success() {
        return Err(HttpCmdError::Status(head.status_line));
    }
    Ok((head.status_line, size))
}

#[cfg(test)]
mod tests;
