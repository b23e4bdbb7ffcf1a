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
}

/// Feeds `input` in `chunk`-byte pieces, stepping and draining the output after each;
/// returns everything answered.
fn run(input: &[u8], chunk: usize) -> (String, Vec<Step>, bool) {
    let mut c = Conn::new();
    let mut out = Vec::new();
    let mut steps = Vec::new();
    let drain = |c: &mut Conn, out: &mut Vec<u8>, steps: &mut Vec<Step>| loop {
        let s = c.step(&mut Fixed);
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

#[test]
fn put_update_is_501_with_one_line() {
    let (out, _, _) = run(b"PUT /update HTTP/1.1\r\n\r\n", 4096);
    assert!(out.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{out}");
    let body = out.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(body, UPDATE_NOT_AVAILABLE);
    assert_eq!(body.lines().count(), 1);
    assert_eq!(
        route(Method::Other("PUT"), "/other"),
        Route::MethodNotAllowed
    );
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
