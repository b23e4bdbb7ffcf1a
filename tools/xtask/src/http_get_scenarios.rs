//! The `http` command's scenarios (docs/network.md): a plain HTTP/1.1 server on the host
//! (std only, a thread per connection on 127.0.0.1, which the guest reaches as 10.0.2.2
//! through QEMU's user-mode network) serves deterministic files of 1 MiB (chunked) and
//! 64 MiB (`Content-Length`) and takes PUT bodies. The console fetches both into the store,
//! gets a 404 and a refused connection as one-line errors, and PUTs the 64 MiB file back; after
//! power-off the two files are read out of the disk image (`cargo xtask fs get`'s code) and
//! compared byte for byte with what was served, as is the PUT body the server received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::fs_scenarios::{Driver, Env};
use crate::guest::{Guest, PROMPT};
use crate::qemu::Nic;
use crate::scenarios::{line, End, Scenario};

/// The files the server serves: (path, length, chunked).
const FILES: [(&str, usize, bool); 2] = [("/1m", 1 << 20, true), ("/64m", 64 << 20, false)];
/// The user-data region the scenarios need: both files, the 64 MiB one's part file while it
/// is renamed, and the filesystem's own blocks.
pub const DATA_SIZE: u64 = 96 * crate::image::MIB;
/// How many times the suite's per-boot timeout the 64 MiB transfers get, each.
const BIG_TIMEOUT_FACTOR: u32 = 6;

/// The scenarios, for `scenarios::all`: the same script on each NIC with a driver.
pub fn http_get_scenarios() -> Vec<Scenario> {
    let on = |name, nics| Scenario {
        cmdline: "",
        end: End::Exit(0),
        data_size: DATA_SIZE,
        driver: Some(Driver::HttpGet),
        nics,
        ..Scenario::boot(
            name,
            vec![line(
                "PandaGen console. Type 'help' for the list of commands.",
            )],
        )
    };
    vec![
        on("http-get-virtio", &[Nic::VirtioNet]),
        on("http-get-e1000e", &[Nic::E1000e]),
    ]
}

/// Deterministic bytes of file `path` (a different stream per path).
pub fn content(path: &str, len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ path.bytes().fold(0u64, |h, b| h * 31 + u64::from(b));
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// What the server received: every PUT's path and body.
pub type Puts = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A running host server; it serves until the process ends (its threads are detached).
pub struct Server {
    pub port: u16,
    pub puts: Puts,
}

impl Server {
    /// Binds 127.0.0.1 on a free port and serves [`FILES`] from a thread.
    pub fn start() -> Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the HTTP server")?;
        let port = listener.local_addr()?.port();
        let files: Arc<Vec<(&'static str, Vec<u8>, bool)>> = Arc::new(
            FILES
                .iter()
                .map(|&(p, len, chunked)| (p, content(p, len), chunked))
                .collect(),
        );
        let puts = Puts::default();
        let recorded = puts.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (files, puts) = (files.clone(), recorded.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &files, &puts);
                });
            }
        });
        Ok(Server { port, puts })
    }
}

/// One request on `stream`: GET of a file (404 otherwise), or PUT (recorded, 201).
fn serve(stream: TcpStream, files: &[(&str, Vec<u8>, bool)], puts: &Puts) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").to_string(),
    );
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stream);
    match (method, files.iter().find(|f| f.0 == path)) {
        ("PUT", _) => {
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body)?;
            puts.lock().unwrap().push((path, body));
            out.write_all(
                b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
        ("GET", Some((_, data, true))) => {
            out.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            )?;
            // Chunks of varying sizes, one with an extension.
            let mut rest = &data[..];
            let mut i = 0usize;
            while !rest.is_empty() {
                let n = [1, 4000, 65536, 777, 30_000][i % 5].min(rest.len());
                write!(out, "{n:x}{}\r\n", if i % 7 == 3 { ";x=y" } else { "" })?;
                out.write_all(&rest[..n])?;
                out.write_all(b"\r\n")?;
                rest = &rest[n..];
                i += 1;
            }
            out.write_all(b"0\r\n\r\n")?;
        }
        ("GET", Some((_, data, false))) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            )?;
            out.write_all(data)?;
        }
        _ => out.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
        )?,
    }
    out.flush()
}

/// A port on 127.0.0.1 that nothing listens on (bound, then let go).
fn closed_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The scenario: see the module's documentation. Returns the report lines.
pub fn run(env: &Env<'_>) -> Result<String> {
    let server = Server::start()?;
    let base = format!("http://10.0.2.2:{}", server.port);
    let mut g = env.boot(0)?;
    g.wait_for(PROMPT, env.timeout)?;
    let big = env.timeout * BIG_TIMEOUT_FACTOR;
    let mut report = String::new();
    for (path, len, _) in FILES {
        let file = format!("f{}", &path[1..]);
        let t = Instant::now();
        let out = g.command(&format!("http get {base}{path} -o {file}"), big)?;
        let secs = t.elapsed().as_secs_f64();
        expect_last(&out, &format!("saved {len} bytes to {file} in "))?;
        report.push_str(&format!(
            "get {path}: {len} bytes in {secs:.1} s on the host's clock ({:.2} MiB/s); the guest says: {}\n",
            len as f64 / secs / f64::from(1 << 20),
            out.last().map_or("", String::as_str)
        ));
    }
    errors(&mut g, &base, env.timeout)?;
    let t = Instant::now();
    let out = g.command(&format!("http put {base}/up f64m"), big)?;
    let secs = t.elapsed().as_secs_f64();
    expect_last(&out, &format!("sent {} bytes in ", 64 << 20))?;
    if !out.iter().any(|l| l == "HTTP/1.1 201 Created") {
        bail!("http put printed {out:?}, expected the status line HTTP/1.1 201 Created");
    }
    report.push_str(&format!(
        "put /up: 64 MiB in {secs:.1} s ({:.2} MiB/s); the guest says: {}\n",
        64.0 / secs,
        out.last().map_or("", String::as_str)
    ));
    g.type_line("poweroff")?;
    g.wait_exit(env.timeout)?;
    check_files(env.image)?;
    check_put(&server.puts)?;
    report.push_str("both files read back from the image byte for byte; the PUT body matches\n");
    Ok(report)
}

/// The last line of `out` starts with `start`.
fn expect_last(out: &[String], start: &str) -> Result<()> {
    match out.last() {
        Some(l) if l.starts_with(start) => Ok(()),
        _ => bail!("printed {out:?}, expected a last line starting {start:?}"),
    }
}

/// A 404 and a refused connection, each one named error line; neither leaves a file.
fn errors(g: &mut Guest, base: &str, timeout: Duration) -> Result<()> {
    let url = format!("{base}/missing");
    let out = g.command(&format!("http get {url} -o f404"), timeout)?;
    let want = format!("error: http get {url}: server answered HTTP/1.1 404 Not Found");
    if out != [want.clone()] {
        bail!("printed {out:?}, expected {want:?}");
    }
    let url = format!("http://10.0.2.2:{}/x", closed_port()?);
    let out = g.command(&format!("http get {url} -o fr"), timeout)?;
    let want = format!("error: http get {url}: connect refused: nothing listens on that port");
    if out != [want.clone()] {
        bail!("printed {out:?}, expected {want:?}");
    }
    let mut out = g.command("ls", timeout)?;
    out.sort();
    if out != ["f1m", "f64m"] {
        bail!("ls printed {out:?}, expected only f1m and f64m (no part or error files)");
    }
    Ok(())
}

/// The server received the 64 MiB file as the PUT body.
fn check_put(puts: &Puts) -> Result<()> {
    let puts = puts.lock().unwrap();
    let want = content("/64m", 64 << 20);
    match puts.as_slice() {
        [(path, body)] if path == "/up" && *body == want => Ok(()),
        [(path, body)] => bail!("PUT {path}: {} bytes, not the 64 MiB file", body.len()),
        other => bail!("{} PUT requests, expected 1", other.len()),
    }
}

/// The files the guest wrote, read out of the image, are the served bytes.
fn check_files(image: &Path) -> Result<()> {
    let dir = image.parent().context("image directory")?;
    for (path, len, _) in FILES {
        let host = dir.join(format!("got-{}", &path[1..]));
        crate::fs::get_file(image, &format!("/f{}", &path[1..]), &host)?;
        let got = std::fs::read(&host).with_context(|| format!("reading {}", host.display()))?;
        let _ = std::fs::remove_file(&host);
        let want = content(path, len);
        if got != want {
            let at = got.iter().zip(&want).position(|(a, b)| a != b);
            bail!(
                "/f{}: {} bytes, first difference at {at:?}: not the {len} bytes served",
                &path[1..],
                got.len()
            );
        }
    }
    Ok(())
}
