//! HTTP/1.0 and 1.1 for the status page, pure: [`parse_head`] reads a request's head (request
//! line and header section, at most [`MAX_HEAD`] bytes), [`route`] maps it to a [`Route`],
//! [`write_response`] builds the answer, and [`Conn`] is one connection's bounded state
//! (partial reads, pipelined requests, keep-alive, closing after an error).
//!
//! `GET` and `HEAD` serve the pages. The one request whose body is read is `PUT /update` (a
//! delta, [`crate::upload`]): its `Content-Length` bytes are handed to the [`Site`] in pieces
//! of at most [`BODY_BUF`] bytes, then the site applies it and the answer is one text line;
//! the connection closes after it. Any other request that announces a body is answered and
//! the connection closed, its body unread.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// The most bytes a request's head may take: request line, headers and the blank line that
/// ends them. One byte more is [`HttpError::HeadTooLarge`] (431).
pub const MAX_HEAD: usize = 8192;

/// The most body bytes a connection holds before handing them to the [`Site`] (one
/// `storage_api` write takes them).
pub const BODY_BUF: usize = 60 * 1024;

/// The interim answer to `Expect: 100-continue` on an upload that will be read.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Why a request could not be served; each is answered with its [`Status`] and the connection
/// closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The head did not end within [`MAX_HEAD`] bytes.
    HeadTooLarge,
    /// The request line is not `METHOD SP TARGET SP VERSION`.
    BadRequestLine,
    /// The target is not an origin-form path (`/…`).
    BadTarget,
    /// An HTTP version other than 1.0 and 1.1.
    BadVersion,
    /// A header line without a name or colon, a folded line, or a bad (or repeated,
    /// differing) `Content-Length`.
    BadHeader,
    /// The head is not UTF-8 text, or holds control bytes.
    NotText,
}

impl HttpError {
    /// The status it is answered with.
    pub fn status(self) -> Status {
        match self {
            HttpError::HeadTooLarge => Status::HeaderFieldsTooLarge,
            HttpError::BadVersion => Status::VersionNotSupported,
            _ => Status::BadRequest,
        }
    }

    /// A small number for "logged once" bookkeeping (0..[`HttpError::COUNT`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// How many kinds there are.
    pub const COUNT: usize = 6;
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpError::HeadTooLarge => "request head over 8192 bytes",
            HttpError::BadRequestLine => "malformed request line",
            HttpError::BadTarget => "request target is not a path",
            HttpError::BadVersion => "HTTP version not supported (only 1.0 and 1.1)",
            HttpError::BadHeader => "malformed header line",
            HttpError::NotText => "request head is not text",
        })
    }
}

/// The statuses the page answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200.
    Ok,
    /// 400.
    BadRequest,
    /// 404.
    NotFound,
    /// 405 (with `Allow: GET, HEAD`).
    MethodNotAllowed,
    /// 409: the machine is not in a state that takes this delta (wrong base, older epoch, …).
    Conflict,
    /// 411: an upload without `Content-Length` (chunked).
    LengthRequired,
    /// 413: an upload over the limit.
    ContentTooLarge,
    /// 422: the delta itself is refused (damaged, bad signature, …).
    UnprocessableContent,
    /// 431.
    HeaderFieldsTooLarge,
    /// 500: the machine failed (a slot call, the store).
    InternalServerError,
    /// 503: another upload is in progress.
    ServiceUnavailable,
    /// 505.
    VersionNotSupported,
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::Conflict => 409,
            Status::LengthRequired => 411,
            Status::ContentTooLarge => 413,
            Status::UnprocessableContent => 422,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    /// The reason phrase.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::Conflict => "Conflict",
            Status::LengthRequired => "Length Required",
            Status::ContentTooLarge => "Content Too Large",
            Status::UnprocessableContent => "Unprocessable Content",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

/// A request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method<'a> {
    /// `GET`.
    Get,
    /// `HEAD`: a `GET` without the body.
    Head,
    /// Any other token (`POST`, `PUT`, …).
    Other(&'a str),
}

/// A parsed request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method.
    pub method: Method<'a>,
    /// The target as sent (`/services.json?x=1`).
    pub target: &'a str,
    /// Whether the connection stays open after the answer (HTTP/1.1 unless `Connection:
    /// close`; HTTP/1.0 only with `Connection: keep-alive`; never when a body was announced).
    pub keep_alive: bool,
    /// The body's framing as announced.
    pub body: BodyFraming,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

/// How a request says its body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Neither `Content-Length` nor `Transfer-Encoding`.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding` (chunked or another coding): the length is not known up front.
    Chunked,
}

/// Parses the request at the start of `buf`: `Ok(None)` while its head is incomplete (and
/// could still fit), else the request and the length of its head (what to drop from `buf`).
/// Blank lines before a request line are skipped (and counted in the length).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request<'_>, usize)>, HttpError> {
    let mut skip = 0;
    while buf[skip..].starts_with(b"\r\n") {
        skip += 2;
    }
    let window = &buf[..buf.len().min(MAX_HEAD)];
    let Some(end) = find(&window[skip..], b"\r\n\r\n").map(|at| skip + at + 4) else {
        return if buf.len() >= MAX_HEAD {
            Err(HttpError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    let text = core::str::from_utf8(&buf[skip..end - 4]).map_err(|_| HttpError::NotText)?;
    if text
        .bytes()
        .any(|b| b.is_ascii_control() && b != b'\t' && b != b'\r' && b != b'\n')
    {
        return Err(HttpError::NotText);
    }
    let mut lines = text.split("\r\n");
    let (method, target, http11) = request_line(lines.next().unwrap_or(""))?;
    let h = headers(lines, http11)?;
    Ok(Some((
        Request {
            method,
            target,
            keep_alive: h.keep_alive,
            body: h.body,
            expect_continue: h.expect_continue,
        },
        end,
    )))
}

/// The first index of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `METHOD SP TARGET SP HTTP/1.x`: the method, the target and whether it is 1.1.
fn request_line(line: &str) -> Result<(Method<'_>, &str, bool), HttpError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequestLine);
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(HttpError::BadRequestLine);
    }
    if !target.starts_with('/') {
        return Err(HttpError::BadTarget);
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Err(HttpError::BadVersion),
        _ => return Err(HttpError::BadRequestLine),
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => Method::Other(other),
    };
    Ok((method, target, http11))
}

/// A token character (RFC 9110).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What the header lines say.
struct Headers {
    keep_alive: bool,
    body: BodyFraming,
    expect_continue: bool,
}

/// Reads the header lines.
fn headers<'a>(lines: impl Iterator<Item = &'a str>, http11: bool) -> Result<Headers, HttpError> {
    let mut keep_alive = http11;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HttpError::BadHeader)?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(HttpError::BadHeader);
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && !http11 {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                .then(|| value.parse().ok())
                .flatten()
                .ok_or(HttpError::BadHeader)?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::BadHeader);
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= value.eq_ignore_ascii_case("100-continue");
        }
    }
    let body = match (chunked, length) {
        (true, _) => BodyFraming::Chunked,
        (false, Some(n)) if n > 0 => BodyFraming::Length(n),
        _ => BodyFraming::None,
    };
    Ok(Headers {
        // The connection cannot go on after a body (read, or left unread).
        keep_alive: keep_alive && body == BodyFraming::None,
        body,
        expect_continue,
    })
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the HTML page.
    Page(Page),
    /// An unknown path: 404.
    NotFound,
    /// A method other than `GET`/`HEAD`: 405.
    MethodNotAllowed,
    /// `PUT /update`: a delta to apply ([`crate::upload`]).
    Update,
}

/// The documents the site serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/`: HTML, the state table and the boot journal.
    Index,
    /// `/services.json`: the state table.
    Services,
    /// `/manifest.json`: the running manifest.
    Manifest,
}

/// Maps a method and target to its route (the query string is ignored).
pub fn route(method: Method<'_>, target: &str) -> Route {
    let path = target.split(['?', '#']).next().unwrap_or(target);
    match method {
        Method::Other("PUT") if path == "/update" => Route::Update,
        Method::Other(_) => Route::MethodNotAllowed,
        Method::Get | Method::Head => match path {
            "/" | "/index.html" => Route::Page(Page::Index),
            "/services.json" => Route::Page(Page::Services),
            "/manifest.json" => Route::Page(Page::Manifest),
            _ => Route::NotFound,
        },
    }
}

/// A one-line text answer: its status and the line (without its newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: Status,
    /// The line.
    pub line: String,
}

impl Reply {
    /// A reply of `status` with `line`.
    pub fn new(status: Status, line: impl Into<String>) -> Self {
        Reply {
            status,
            line: line.into(),
        }
    }
}

/// Where the pages' contents come from and where an upload goes (the system, or a test's
/// fake).
pub trait Site {
    /// The page's body and its content type.
    fn page(&mut self, page: Page) -> (Vec<u8>, &'static str);
    /// `PUT /update` with a body of `len` bytes (checked against the limits already) starts;
    /// `Err` is answered at once (the body is not read).
    fn upload_start(&mut self, len: u64) -> Result<(), Reply>;
    /// The body's next bytes, in order (at most [`BODY_BUF`] at a time). After an `Err` the
    /// site has dropped the upload; the error is answered.
    fn upload_data(&mut self, data: &[u8]) -> Result<(), Reply>;
    /// The whole body arrived: apply it; the answer.
    fn upload_finish(&mut self) -> Reply;
    /// The connection ended before the whole body arrived: drop what was stored.
    fn upload_abort(&mut self);
}

/// The content type of the plain-text answers.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// One answer's parts.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The status.
    pub status: Status,
    /// The body's content type.
    pub content_type: &'static str,
    /// The body (left out for `HEAD`, but counted in `Content-Length`).
    pub body: &'a [u8],
    /// `HEAD`: no body.
    pub head_only: bool,
    /// `Connection: close`.
    pub close: bool,
}

/// Appends the answer (status line, headers, body) to `out`.
pub fn write_response(out: &mut Vec<u8>, a: &Answer<'_>) {
    let mut head = alloc::string::String::new();
    // Writing into a String cannot fail.
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
        a.status.code(),
        a.status.reason(),
        a.content_type,
        a.body.len()
    );
    if a.status == Status::MethodNotAllowed {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str(if a.close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    out.extend_from_slice(head.as_bytes());
    if !a.head_only {
        out.extend_from_slice(a.body);
    }
}

/// What [`Conn::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: waiting for input, or for the output to be sent.
    Idle,
    /// Answered a request with this status.
    Answered(Status),
    /// Answered a bad request with its error status; the connection closes after it.
    Rejected(HttpError),
    /// Handed this many bytes of an upload's body to the site.
    Body(usize),
}

/// One connection: at most [`MAX_HEAD`] bytes of input and one answer of output at a time.
#[derive(Debug, Default)]
pub struct Conn {
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
    closing: bool,
    /// In an upload's body: the bytes still to come (counting those in `input`).
    body_left: Option<u64>,
}

impl Conn {
    /// A new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many bytes the next receive may take: 0 while an answer is being sent or the
    /// connection is closing, else what keeps the input within [`MAX_HEAD`] (in an upload's
    /// body: within [`BODY_BUF`] and the body's end).
    pub fn room(&self) -> usize {
        if self.closing || !self.output().is_empty() {
            0
        } else if let Some(left) = self.body_left {
            let cap = usize::try_from(left).unwrap_or(usize::MAX).min(BODY_BUF);
            cap.saturating_sub(self.input.len())
        } else {
            MAX_HEAD - self.input.len().min(MAX_HEAD)
        }
    }

    /// Whether an upload's body is being received.
    pub fn in_body(&self) -> bool {
        self.body_left.is_some()
    }

    /// The connection ends (closed, failed or idle): an upload cut short is dropped.
    pub fn abandon(&mut self, site: &mut impl Site) {
        if self.body_left.take().is_some() {
            site.upload_abort();
        }
        self.closing = true;
        self.input.clear();
    }

    /// Takes received bytes; what does not fit in [`Conn::room`] is dropped.
    pub fn feed(&mut self, data: &[u8]) {
        let n = data.len().min(self.room());
        self.input.extend_from_slice(&data[..n]);
    }

    /// The peer sent its end of stream: no more requests (a partial one is dropped).
    pub fn peer_closed(&mut self) {
        self.closing = true;
        self.input.clear();
    }

    /// Answers the next complete request in the input, if nothing is being sent.
    pub fn step(&mut self, site: &mut impl Site) -> Step {
        if self.closing || !self.output().is_empty() {
            return Step::Idle;
        }
        self.output.clear();
        self.sent = 0;
        if let Some(left) = self.body_left {
            return self.body_step(left, site);
        }
        match parse_head(&self.input) {
            Ok(None) => Step::Idle,
            Err(e) => {
                self.input.clear();
                self.closing = true;
                let body = alloc::format!("{}: {e}\n", e.status().reason());
                answer(
                    &mut self.output,
                    e.status(),
                    TEXT,
                    body.as_bytes(),
                    (false, true),
                );
                Step::Rejected(e)
            }
            Ok(Some((req, len))) if route(req.method, req.target) == Route::Update => {
                let expect_continue = req.expect_continue;
                let started = crate::upload::check(req.body)
                    .and_then(|len| site.upload_start(len).map(|()| len));
                self.input.drain(..len);
                match started {
                    Ok(body_len) => {
                        self.body_left = Some(body_len);
                        if expect_continue {
                            self.output.extend_from_slice(CONTINUE);
                            return Step::Body(0);
                        }
                        self.body_step(body_len, site)
                    }
                    Err(reply) => self.finish(reply),
                }
            }
            Ok(Some((req, len))) => {
                let (status, close) = serve(&mut self.output, &req, site);
                self.input.drain(..len);
                self.closing = close;
                Step::Answered(status)
            }
        }
    }

    /// In an upload's body with `left` bytes to come: hands a full buffer (or the body's
    /// end) to the site; after the last byte, the site's answer.
    fn body_step(&mut self, left: u64, site: &mut impl Site) -> Step {
        let have = self
            .input
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        if have == 0 || (have < BODY_BUF && (have as u64) < left) {
            return Step::Idle;
        }
        let stored = site.upload_data(&self.input[..have]);
        self.input.drain(..have);
        let left = left - have as u64;
        match stored {
            Err(reply) => {
                self.body_left = None;
                self.finish(reply)
            }
            Ok(()) if left == 0 => {
                self.body_left = None;
                let reply = site.upload_finish();
                self.finish(reply)
            }
            Ok(()) => {
                self.body_left = Some(left);
                Step::Body(have)
            }
        }
    }

    /// Answers an upload with `reply` and closes (what else was sent is not read).
    fn finish(&mut self, reply: Reply) -> Step {
        self.input.clear();
        self.closing = true;
        let mut body = reply.line;
        body.push('\n');
        answer(
            &mut self.output,
            reply.status,
            TEXT,
            body.as_bytes(),
            (false, true),
        );
        Step::Answered(reply.status)
    }

    /// The answer bytes not sent yet.
    pub fn output(&self) -> &[u8] {
        &self.output[self.sent.min(self.output.len())..]
    }

    /// `n` more bytes of [`Conn::output`] went out.
    pub fn sent(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n).min(self.output.len());
        if self.sent == self.output.len() {
            self.output = Vec::new();
            self.sent = 0;
        }
    }

    /// Closing, and everything is sent: close the connection.
    pub fn done(&self) -> bool {
        self.closing && self.output().is_empty()
    }

    /// Whether unanswered input waits (a partial or a pipelined request).
    pub fn has_input(&self) -> bool {
        !self.input.is_empty()
    }
}

/// Answers `req` into `out`; returns the status and whether the connection closes.
fn serve(out: &mut Vec<u8>, req: &Request<'_>, site: &mut impl Site) -> (Status, bool) {
    let head_only = req.method == Method::Head;
    let close = !req.keep_alive;
    let (status, body, ty) = match route(req.method, req.target) {
        Route::Page(p) => {
            let (body, ty) = site.page(p);
            (Status::Ok, body, ty)
        }
        Route::NotFound => (Status::NotFound, b"no such page\n".to_vec(), TEXT),
        Route::MethodNotAllowed => (
            Status::MethodNotAllowed,
            b"only GET and HEAD are served\n".to_vec(),
            TEXT,
        ),
        // Answered by `Conn::step` before it gets here.
        Route::Update => (
            Status::MethodNotAllowed,
            b"only GET and HEAD are served\n".to_vec(),
            TEXT,
        ),
    };
    answer(out, status, ty, &body, (head_only, close));
    (status, close)
}

/// Appends an answer; `(head_only, close)`.
fn answer(out: &mut Vec<u8>, status: Status, ty: &'static str, body: &[u8], how: (bool, bool)) {
    let a = Answer {
        status,
        content_type: ty,
        body,
        head_only: how.0,
        close: how.1,
    };
    write_response(out, &a);
}

#[cfg(test)]
mod tests;
