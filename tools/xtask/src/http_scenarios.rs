//! `status_http` from the host (docs/status-http.md): the guest's port 8080 is forwarded from
//! a free host port (QEMU `hostfwd`), and plain `std::net::TcpStream` requests check the
//! routes, the limits and that 100 connections at once stop neither the service nor the
//! console. Also the small HTTP client `cargo xtask bench` measures requests per second with
//! and `cargo xtask push` sends its delta with.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::fs_scenarios::{Driver, Env};
use crate::guest::{Guest, PROMPT};
use crate::qemu::{Forward, Nic};
use crate::scenarios::{line, End, Scenario};

/// The port status_http serves.
pub const GUEST_PORT: u16 = 8080;
/// The line status_http logs once it listens.
pub const SERVING: &str = "status_http: serving HTTP on TCP port 8080";
/// Connections opened at once by the load check.
const CONCURRENT: usize = 100;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Which host-driven HTTP scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpDriver {
    /// [`status_http`].
    StatusHttp,
}

/// The HTTP scenarios.
pub fn http_scenarios() -> Vec<Scenario> {
    vec![Scenario {
        cmdline: "",
        end: End::Exit(0),
        nics: &[Nic::E1000e],
        driver: Some(Driver::Http(HttpDriver::StatusHttp)),
        // Two slots: `PUT /update` gets as far as checking the delta (one slot is refused
        // before that).
        slot_b: Some(crate::description::DEFAULT_PATH),
        ..Scenario::boot("status-http", vec![line(SERVING)])
    }]
}

/// Runs `driver`; `Ok` holds the report lines.
pub fn run(driver: HttpDriver, env: &Env<'_>) -> Result<String> {
    match driver {
        HttpDriver::StatusHttp => status_http(env),
    }
}

/// One answer: status code, headers (lower-case names), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// Sends `raw` on a new connection and reads the whole answer (up to the connection's end:
/// the requests here say `Connection: close`, or are refused, which closes).
pub fn exchange(port: u16, raw: &[u8]) -> Result<Answer> {
    exchange_at(("127.0.0.1", port), raw)
}

/// [`exchange`] with the server at `addr` (a host and port).
pub fn exchange_at(addr: impl ToSocketAddrs, raw: &[u8]) -> Result<Answer> {
    exchange_at_with(addr, raw, REQUEST_TIMEOUT)
}

/// [`exchange_at`], waiting up to `timeout` for each read and write.
pub fn exchange_at_with(addr: impl ToSocketAddrs, raw: &[u8], timeout: Duration) -> Result<Answer> {
    let mut s = TcpStream::connect(addr).context("connecting")?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // A server may answer and close before taking the whole request (a refused upload): its
    // answer is still read, and is what counts.
    let sent = s.write_all(raw);
    let mut got = Vec::new();
    let read = s.read_to_end(&mut got);
    match (parse_answer(&got), sent, read) {
        (Ok(a), _, _) => Ok(a),
        (Err(_), Err(e), _) => Err(e).context("sending the request"),
        (Err(_), Ok(()), Err(e)) => Err(e).context("reading the answer"),
        (Err(e), Ok(()), Ok(_)) => Err(e),
    }
}

/// `GET path` with `Connection: close`.
pub fn get(port: u16, path: &str) -> Result<Answer> {
    exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: pandagen\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .with_context(|| format!("GET {path}"))
}

/// Splits an answer into status, headers and body (interim `1xx` answers, such as the `100
/// Continue` to `Expect: 100-continue`, are skipped).
pub fn parse_answer(mut bytes: &[u8]) -> Result<Answer> {
    while bytes.starts_with(b"HTTP/1.1 1") {
        match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => bytes = &bytes[end + 4..],
            None => break,
        }
    }
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("no end of head in {:?}", String::from_utf8_lossy(bytes)))?;
    let head = std::str::from_utf8(&bytes[..end]).context("head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    })
}

/// Boots with port 8080 forwarded and checks every route, the limits and the load.
fn status_http(env: &Env<'_>) -> Result<String> {
    let mut config = env.config.clone();
    let fwd = Forward::free_host_port(GUEST_PORT).context("finding a free host port")?;
    config.forwards = vec![fwd];
    let serial = env.serial_log.with_extension("boot0.log");
    let mut g = Guest::start(env.qemu_bin, &config, &serial, env.qemu_log)?;
    g.wait_for(SERVING, env.timeout)?;
    g.wait_for(PROMPT, env.timeout)?;
    let port = fwd.host;
    let mut report = format!("status-http: guest port {GUEST_PORT} on host port {port}\n");
    report.push_str(&check_services(&mut g, port, env.image, env.timeout)?);
    report.push_str(&check_refusals(port)?);
    report.push_str(&check_push(port, env.image)?);
    report.push_str(&check_load(&mut g, port, env.timeout)?);
    g.type_line("poweroff")?;
    g.wait_exit(env.timeout)?;
    Ok(report)
}

/// The console's `services` table: name → state.
fn console_states(g: &mut Guest, timeout: Duration) -> Result<BTreeMap<String, String>> {
    let lines = g.command("services", timeout)?;
    let header = lines
        .iter()
        .find(|l| l.starts_with("NAME"))
        .with_context(|| format!("no table header in {lines:?}"))?;
    let (state_at, caps_at) = (
        header.find("STATE").context("no STATE column")?,
        header
            .find("CAPABILITIES")
            .context("no CAPABILITIES column")?,
    );
    Ok(lines
        .iter()
        .skip_while(|l| !l.starts_with("NAME"))
        .skip(1)
        .filter(|l| l.len() > state_at)
        .map(|l| {
            let state = l.get(state_at..caps_at.min(l.len())).unwrap_or("").trim();
            (l[..state_at].trim().to_string(), state.to_string())
        })
        .collect())
}

/// `/services.json` against the console's table and `/manifest.json`'s entries.
fn check_services(g: &mut Guest, port: u16, image: &Path, timeout: Duration) -> Result<String> {
    let a = get(port, "/services.json")?;
    ensure!(a.status == 200, "GET /services.json: {}", a.status);
    let json: serde_json::Value = serde_json::from_slice(&a.body).context("services.json")?;
    ensure!(
        json["complete"] == true,
        "services.json not complete: {json}"
    );
    let served: BTreeMap<String, String> = json["components"]
        .as_array()
        .context("no components array")?
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").into(),
                c["state"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let console = console_states(g, timeout)?;
    ensure!(
        served == console,
        "services.json {served:?} differs from the console's table {console:?}"
    );
    let m = get(port, "/manifest.json")?;
    ensure!(m.status == 200, "GET /manifest.json: {}", m.status);
    let served_id = loader::sha256::image_id(&m.body);
    let image_id = crate::update::read_active(image)?.superblock.image_id;
    ensure!(
        served_id == image_id,
        "manifest.json is not the image's manifest byte for byte (its image id {} is not the \
         image's {})",
        crate::inspect::uuid(&served_id),
        crate::inspect::uuid(&image_id)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&m.body).context("manifest.json does not parse")?;
    let names = entry_names(&manifest);
    ensure!(
        names.iter().any(|n| n == "status_http") && names.iter().any(|n| n == "cli_console"),
        "manifest.json names {names:?}"
    );
    for n in &names {
        match served.get(n).map(String::as_str) {
            Some("ready") => {}
            other => bail!("manifest entry {n} is {other:?} in services.json, not ready"),
        }
    }
    let page = get(port, "/")?;
    let html = String::from_utf8_lossy(&page.body);
    ensure!(
        page.status == 200 && html.contains("<td>status_http</td><td>ready</td>"),
        "GET /: {} {html}",
        page.status
    );
    Ok(format!(
        "status-http: services.json = the console's table ({} entries), every one of the \
         manifest's {} entries ready; manifest.json and / served\n",
        served.len(),
        names.len()
    ))
}

/// The names of the manifest's entries (`services` and `components`).
fn entry_names(manifest: &serde_json::Value) -> Vec<String> {
    ["services", "components"]
        .iter()
        .filter_map(|k| manifest[k].as_array())
        .flatten()
        .filter_map(|e| e["name"].as_str().map(String::from))
        .collect()
}

/// 405, 431, 404; `PUT /update` without a length 411, over the limit 413.
fn check_refusals(port: u16) -> Result<String> {
    let post = exchange(port, b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")?;
    ensure!(post.status == 405, "POST: {}", post.status);
    ensure!(
        post.headers.get("allow").is_some_and(|a| a.contains("GET")),
        "POST: no Allow: GET in {:?}",
        post.headers
    );
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9 * 1024));
    let big = exchange(port, long.as_bytes())?;
    ensure!(big.status == 431, "9 KiB request line: {}", big.status);
    let missing = get(port, "/no-such-page")?;
    ensure!(missing.status == 404, "unknown path: {}", missing.status);
    let one_line = |a: &Answer| {
        let body = String::from_utf8_lossy(&a.body).into_owned();
        (body.lines().count() == 1).then_some(body)
    };
    let put = exchange(port, b"PUT /update HTTP/1.1\r\nConnection: close\r\n\r\n")?;
    ensure!(
        put.status == 411 && one_line(&put).is_some(),
        "PUT /update without a body: {} {:?}",
        put.status,
        String::from_utf8_lossy(&put.body)
    );
    let chunked = exchange(
        port,
        b"PUT /update HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    )?;
    ensure!(
        chunked.status == 411,
        "chunked PUT /update: {}",
        chunked.status
    );
    let huge = exchange(
        port,
        b"PUT /update HTTP/1.1\r\nContent-Length: 67108865\r\n\r\nPGDELTA1",
    )?;
    ensure!(
        huge.status == 413 && one_line(&huge).is_some(),
        "PUT /update of 64 MiB + 1: {}",
        huge.status
    );
    Ok(
        "status-http: POST 405 (Allow: GET, HEAD), 9 KiB request line 431, unknown path 404, \
        PUT /update without Content-Length 411, chunked 411, over 64 MiB 413\n"
            .into(),
    )
}

/// `PUT /update` of a damaged delta (the delta from the running image to itself, one body
/// byte flipped): stored, checked, refused with 422 and the named reason; nothing is written
/// (`cargo xtask push` of a good delta is the `update-push` scenario).
fn check_push(port: u16, image: &Path) -> Result<String> {
    let base = crate::update::read_active(image)?.superblock.image_id;
    let made = crate::update::make_delta_for(base, Some(image), image, None)?;
    let mut bytes = made.encoded.bytes.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a;
    let mut put = format!(
        "PUT /update HTTP/1.1\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        bytes.len()
    )
    .into_bytes();
    put.extend_from_slice(&bytes);
    let a = exchange_at_with(("127.0.0.1", port), &put, crate::push::PUT_TIMEOUT)?;
    let body = String::from_utf8_lossy(&a.body);
    ensure!(
        a.status == 422 && body.starts_with("update: delta: ") && body.contains("damaged"),
        "PUT /update of a damaged delta: {} {body:?}",
        a.status
    );
    Ok(format!(
        "status-http: PUT /update of a damaged {}-byte delta: {} {}\n",
        bytes.len(),
        a.status,
        body.trim_end()
    ))
}

/// 100 connections at once, each sending a request; while they are open the console answers
/// a command; afterwards the service still answers.
fn check_load(g: &mut Guest, port: u16, timeout: Duration) -> Result<String> {
    let start = Instant::now();
    let mut open = Vec::new();
    for _ in 0..CONCURRENT {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /services.json HTTP/1.1\r\nHost: x\r\n\r\n");
            open.push(s);
        }
    }
    let lines = g.command("bootcount", timeout)?;
    ensure!(
        lines.iter().any(|l| l.starts_with("boot count: ")),
        "the console did not answer `bootcount` under load: {lines:?}"
    );
    let mut answered = 0;
    for s in &mut open {
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut buf = [0u8; 16];
        if matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1.1 200")) {
            answered += 1;
        }
        let _ = s.shutdown(Shutdown::Both);
    }
    drop(open);
    let after = get(port, "/services.json")?;
    ensure!(after.status == 200, "after the load: {}", after.status);
    g.type_line("")?;
    g.wait_for(PROMPT, timeout)?;
    Ok(format!(
        "status-http: {CONCURRENT} connections at once: the console answered, {answered} were \
         answered 200 within 2 s each, the service answers afterwards ({:.1} s)\n",
        start.elapsed().as_secs_f64()
    ))
}

/// Requests per second: `n` keep-alive `GET /services.json` on one connection.
pub fn requests_per_second(port: u16, n: usize) -> Result<f64> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    s.set_nodelay(true)?;
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..n {
        s.write_all(b"GET /services.json HTTP/1.1\r\nHost: x\r\n\r\n")?;
        read_one_answer(&mut s, &mut buf)?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Reads one keep-alive answer (head, then `Content-Length` bytes).
fn read_one_answer(s: &mut TcpStream, buf: &mut [u8]) -> Result<()> {
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..])?;
        ensure!(n > 0, "connection closed mid-answer");
        have += n;
        let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let a = parse_answer(&buf[..have])?;
        ensure!(a.status == 200, "status {}", a.status);
        let len: usize = a
            .headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .context("no Content-Length")?;
        if have >= end + 4 + len {
            return Ok(());
        }
    }
}
