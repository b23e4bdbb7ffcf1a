//! Host tests of the parser, the router and the connection state.

extern crate std;

use super::*;
use alloc::string::String;
use alloc::vec;
use std::string::ToString;

/// A site with fixed pages.
struct Fixed;

impl Site for Fixed {
    fn page(&mut self, page: Page) -> (Vec<u8>, &'static str) {
        match page {
            Page::Index => (b"<html>index</html>".to_vec(), "text/html"),
            Page::Services => (b"{\"components\":[]}".to_vec(), "application/json"),
            Page::Manifest => (b"{\"services\":[]}".to_vec(), "application/json"),
        }
    }
    fn upload_start(&mut self, _: u64) -> Result<(), Reply> {
        Err(Reply::new(Status::InternalServerError, "no store here"))
    }
    fn upload_data(&mut self, _: &[u8]) -> Result<(), Reply> {
        unreachable!("no upload was started")
    }
    fn upload_finish(&mut self) -> Reply {
        unreachable!("no upload was started")
    }
    fn upload_abort(&mut self) {
        unreachable!("no upload was started")
    }
}

/// A site that stores uploads; `fail_at`: the store fails once it holds that many bytes.
#[derive(Default)]
struct Store {
    started: Option<u64>,
    stored: Vec<u8>,
    pieces: usize,
    aborted: bool,
    finished: bool,
    fail_at: Option<usize>,
}

impl Site for Store {
    fn page(&mut self, page: Page) -> (Vec<u8>, &'static str) {
        Fixed.page(page)
    }
    fn upload_start(&mut self, len: u64) -> Result<(), Reply> {
        assert!(self.started.is_none());
        self.started = Some(len);
        Ok(())
    }
    fn upload_data(&mut self, data: &[u8]) -> Result<(), Reply> {
        assert!(!data.is_empty() && data.len() <= BODY_BUF);
        self.stored.extend_from_slice(data);
        self.pieces += 1;
        match self.fail_at {
            Some(n) if self.stored.len() >= n => {
                Err(Reply::new(Status::InternalServerError, "full"))
            }
            _ => Ok(()),
        }
    }
    fn upload_finish(&mut self) -> Reply {
        assert_eq!(Some(self.stored.len() as u64), self.started);
        self.finished = true;
        Reply::new(
            Status::Ok,
            std::format!("applied {} bytes", self.stored.len()),
        )
    }
    fn upload_abort(&mut self) {
        self.aborted = true;
    }
}

/// Feeds `input` in `chunk`-byte pieces, stepping and draining the output after each;
/// returns everything answered.
fn run(input: &[u8], chunk: usize) -> (String, Vec<Step>, bool) {
    run_on(&mut Fixed, input, chunk)
}

/// [`run`] against `site`.
fn run_on(site: &mut impl Site, input: &[u8], chunk: usize) -> (String, Vec<Step>, bool) {
    let mut c = Conn::new();
    let mut out = Vec::new();
    let mut steps = Vec::new();
    let mut drain = |c: &mut Conn, out: &mut Vec<u8>, steps: &mut Vec<Step>| loop {
        let s = c.step(site);
        if s == Step::Idle {
            break;
        }
        steps.push(s);
        out.extend_from_slice(c.output());
        let n = c.output().len();
        c.sent(n);
    };
    for piece in input.chunks(chunk.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() && !c.done() {
            let n = rest.len().min(c.room());
            c.feed(&rest[..n]);
            rest = &rest[n..];
            drain(&mut c, &mut out, &mut steps);
            if n == 0 {
                break;
            }
        }
    }
    drain(&mut c, &mut out, &mut steps);
    (String::from_utf8(out).unwrap(), steps, c.done())
}

fn get(path: &str) -> String {
    std::format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

#[test]
fn each_route_answers() {
    for (path, status, ty, body) in [
        ("/", "200 OK", "text/html", "<html>index</html>"),
        ("/index.html", "200 OK", "text/html", "<html>index</html>"),
        (
            "/services.json",
            "200 OK",
            "application/json",
            "{\"components\":[]}",
        ),
        (
            "/services.json?x=1",
            "200 OK",
            "application/json",
            "{\"components\":[]}",
        ),
        (
            "/manifest.json",
            "200 OK",
            "application/json",
            "{\"services\":[]}",
        ),
        ("/nope", "404 Not Found", TEXT, "no such page\n"),
    ] {
        let (out, steps, done) = run(get(path).as_bytes(), 4096);
        assert!(
            out.starts_with(&std::format!("HTTP/1.1 {status}\r\n")),
            "{path}: {out}"
        );
        assert!(
            out.contains(&std::format!("Content-Type: {ty}\r\n")),
            "{out}"
        );
        assert!(out.contains(&std::format!("Content-Length: {}\r\n", body.len())));
        assert!(out.contains("Connection: keep-alive\r\n"));
        assert!(out.ends_with(&std::format!("\r\n\r\n{body}")), "{out}");
        assert_eq!(steps.len(), 1);
        assert!(!done, "keep-alive");
    }
}

#[test]
fn head_has_no_body_but_the_length() {
    let (out, _, _) = run(b"HEAD /services.json HTTP/1.1\r\n\r\n", 64);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(out.contains("Content-Length: 17\r\n"));
    assert!(out.ends_with("\r\n\r\n"));
}

#[test]
fn other_methods_get_405_with_allow() {
    for m in ["POST", "DELETE", "OPTIONS", "PATCH", "PUT"] {
        let (out, steps, _) = run(std::format!("{m} / HTTP/1.1\r\n\r\n").as_bytes(), 4096);
        assert!(
            out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{m}: {out}"
        );
        assert!(out.contains("\r\nAllow: GET, HEAD\r\n"), "{out}");
        assert_eq!(steps, vec![Step::Answered(Status::MethodNotAllowed)]);
    }
}

#[test]
fn post_with_a_body_closes_after_the_405() {
    let (out, _, done) = run(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 4096);
    assert!(out.starts_with("HTTP/1.1 405 "));
    assert!(out.contains("Connection: close\r\n"));
    assert!(done);
}

fn put(body: &[u8], extra: &str) -> Vec<u8> {
    let mut req = std::format!(
        "PUT /update HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

#[test]
fn put_update_stores_the_body_and_answers_the_sites_line() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    for chunk in [1000, 4096, 65536, 1 << 20] {
        let mut site = Store::default();
        let (out, steps, done) = run_on(&mut site, &put(&body, ""), chunk);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Connection: close\r\n"));
        assert!(out.ends_with("\r\n\r\napplied 200000 bytes\n"), "{out}");
        assert_eq!(site.stored, body, "chunk {chunk}");
        assert!(site.finished && !site.aborted);
        // Full buffers, then the rest.
        assert_eq!(site.pieces, 200_000usize.div_ceil(BODY_BUF));
        assert_eq!(steps.last(), Some(&Step::Answered(Status::Ok)));
        assert!(done);
    }
}

#[test]
fn put_update_honours_expect_100_continue() {
    let mut site = Store::default();
    let (out, steps, _) = run_on(&mut site, &put(b"delta", "Expect: 100-continue\r\n"), 4096);
    assert!(
        out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{out}"
    );
    assert_eq!(steps[0], Step::Body(0));
    assert_eq!(site.stored, b"delta");
}

#[test]
fn put_update_refusals() {
    // Chunked: 411, nothing started.
    let mut site = Store::default();
    let (out, _, done) = run_on(
        &mut site,
        b"PUT /update HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        4096,
    );
    assert!(out.starts_with("HTTP/1.1 411 Length Required\r\n"), "{out}");
    assert!(done && site.started.is_none());
    // No body at all: 411.
    let (out, _, _) = run_on(&mut Store::default(), b"PUT /update HTTP/1.1\r\n\r\n", 4096);
    assert!(out.starts_with("HTTP/1.1 411 "), "{out}");
    // Over the limit: 413, with one line, before any byte of the body.
    let big = std::format!(
        "PUT /update HTTP/1.1\r\nContent-Length: {}\r\n\r\nxxxx",
        crate::upload::MAX_UPLOAD + 1
    );
    let mut site = Store::default();
    let (out, _, _) = run_on(&mut site, big.as_bytes(), 4096);
    assert!(
        out.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{out}"
    );
    assert_eq!(out.split("\r\n\r\n").nth(1).unwrap().lines().count(), 1);
    assert!(site.started.is_none());
    // The site refuses to start (Fixed has no store): its line.
    let (out, _, done) = run(&put(b"abc", ""), 4096);
    assert!(out.starts_with("HTTP/1.1 500 "), "{out}");
    assert!(out.ends_with("no store here\n") && done);
    // The store fails midway: its answer, the rest unread.
    let mut site = Store {
        fail_at: Some(1),
        ..Store::default()
    };
    let (out, _, done) = run_on(&mut site, &put(&[1u8; 100_000], ""), 4096);
    assert!(
        out.starts_with("HTTP/1.1 500 ") && out.ends_with("full\n"),
        "{out}"
    );
    assert!(done && !site.finished && site.stored.len() == BODY_BUF);
    // Content-Length twice with different values: 400.
    let (out, _, _) = run(
        b"PUT /update HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        4096,
    );
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    assert_eq!(
        route(Method::Other("PUT"), "/other"),
        Route::MethodNotAllowed
    );
}

#[test]
fn an_upload_cut_short_is_abandoned() {
    let mut site = Store::default();
    let mut c = Conn::new();
    c.feed(&put(&[9u8; 100], "")[..80]);
    assert_eq!(c.step(&mut site), Step::Idle);
    assert!(c.in_body());
    c.peer_closed();
    c.abandon(&mut site);
    assert!(site.aborted && !site.finished && c.done());
}

/// A request whose head is exactly `len` bytes.
fn head_of_len(len: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1\r\nX: \r\n\r\n".len();
    let mut s = String::from("GET / HTTP/1.1\r\nX: ");
    s.push_str(&"a".repeat(len - fixed));
    s.push_str("\r\n\r\n");
    assert_eq!(s.len(), len);
    s.into_bytes()
}

#[test]
fn head_of_exactly_the_limit_is_served_one_more_is_431() {
    let ok = head_of_len(MAX_HEAD);
    assert!(matches!(parse_head(&ok), Ok(Some((_, n))) if n == MAX_HEAD));
    let (out, _, _) = run(&ok, 1000);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");

    let big = head_of_len(MAX_HEAD + 1);
    assert_eq!(parse_head(&big), Err(HttpError::HeadTooLarge));
    assert_eq!(parse_head(&big[..MAX_HEAD - 1]), Ok(None));
    let (out, steps, done) = run(&big, 1000);
    assert!(
        out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{out}"
    );
    assert!(out.contains("Connection: close\r\n"));
    assert_eq!(steps, vec![Step::Rejected(HttpError::HeadTooLarge)]);
    assert!(done);
}

#[test]
fn a_9_kib_request_line_is_431() {
    let mut line = String::from("GET /");
    line.push_str(&"a".repeat(9 * 1024));
    line.push_str(" HTTP/1.1\r\n\r\n");
    let (out, _, done) = run(line.as_bytes(), 1460);
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
    assert!(done);
}

#[test]
fn malformed_requests_are_named_errors() {
    for (req, err) in [
        (&b"GET\r\n\r\n"[..], HttpError::BadRequestLine),
        (b"GET /  HTTP/1.1\r\n\r\n", HttpError::BadRequestLine),
        (b"G(T / HTTP/1.1\r\n\r\n", HttpError::BadRequestLine),
        (b"GET / FTP/1.1\r\n\r\n", HttpError::BadRequestLine),
        (b"GET x HTTP/1.1\r\n\r\n", HttpError::BadTarget),
        (b"GET http://a/ HTTP/1.1\r\n\r\n", HttpError::BadTarget),
        (b"GET / HTTP/2.0\r\n\r\n", HttpError::BadVersion),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", HttpError::BadHeader),
        (b"GET / HTTP/1.1\r\n: v\r\n\r\n", HttpError::BadHeader),
        (
            b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            HttpError::BadHeader,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            HttpError::BadHeader,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            HttpError::BadHeader,
        ),
        (b"GET / HTTP/1.1\r\nA: \xff\r\n\r\n", HttpError::NotText),
        (b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n", HttpError::NotText),
    ] {
        assert_eq!(
            parse_head(req),
            Err(err),
            "{}",
            String::from_utf8_lossy(req)
        );
        let (out, steps, done) = run(req, 7);
        let status = err.status();
        assert!(
            out.starts_with(&std::format!("HTTP/1.1 {} ", status.code())),
            "{out}"
        );
        assert!(out.contains(&err.to_string()));
        assert_eq!(steps, vec![Step::Rejected(err)]);
        assert!(done);
    }
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678_u32;
    for len in 0..600 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                b"GET /\r\n: HTP1.0x\xff"[(seed >> 24) as usize % 16]
            })
            .collect();
        let _ = run(&bytes, 1 + len % 13);
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut input = get("/").into_bytes();
    input.extend(get("/nope").into_bytes());
    input.extend(b"HEAD /manifest.json HTTP/1.1\r\n\r\n");
    input.extend(b"GET /services.json HTTP/1.1\r\nConnection: close\r\n\r\n");
    input.extend(get("/").into_bytes());
    let (out, steps, done) = run(&input, 4096);
    assert_eq!(
        steps,
        vec![
            Step::Answered(Status::Ok),
            Step::Answered(Status::NotFound),
            Step::Answered(Status::Ok),
            Step::Answered(Status::Ok),
        ],
        "the request after Connection: close is not answered"
    );
    assert_eq!(out.matches("HTTP/1.1 ").count(), 4);
    assert!(out.ends_with("Connection: close\r\n\r\n{\"components\":[]}"));
    assert!(done);
}

#[test]
fn partial_reads_byte_by_byte() {
    let mut input = get("/services.json").into_bytes();
    input.extend(get("/manifest.json").into_bytes());
    for chunk in [1, 2, 3, 5, 17] {
        let (out, steps, done) = run(&input, chunk);
        assert_eq!(steps.len(), 2, "chunk {chunk}");
        assert!(out.contains("{\"components\":[]}") && out.ends_with("{\"services\":[]}"));
        assert!(!done);
    }
    // Half a request: nothing yet.
    let (out, steps, _) = run(b"GET / HTTP/1.1\r\nHost: x\r\n", 3);
    assert!(out.is_empty() && steps.is_empty());
}

#[test]
fn http10_closes_unless_keep_alive() {
    let (out, _, done) = run(b"GET / HTTP/1.0\r\n\r\n", 100);
    assert!(out.contains("Connection: close\r\n") && done);
    let (out, _, done) = run(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 100);
    assert!(out.contains("Connection: keep-alive\r\n") && !done);
}

#[test]
fn leading_blank_lines_are_skipped() {
    let (out, steps, _) = run(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", 100);
    assert_eq!(steps, vec![Step::Answered(Status::Ok)]);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
}

#[test]
fn input_stays_bounded_while_output_waits() {
    let mut c = Conn::new();
    c.feed(get("/").as_bytes());
    assert_eq!(c.step(&mut Fixed), Step::Answered(Status::Ok));
    assert_eq!(c.room(), 0, "no input while an answer waits");
    c.feed(b"GET / HTTP/1.1\r\n\r\n");
    assert!(!c.has_input());
    c.sent(5);
    assert_eq!(c.room(), 0);
    let rest = c.output().len();
    c.sent(rest);
    assert_eq!(c.room(), MAX_HEAD);
    c.peer_closed();
    assert!(c.done() && c.room() == 0);
}
