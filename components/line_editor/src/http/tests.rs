//! Console-level tests of `http get` and `http put`: the real command logic against a fake
//! `network_api` (one scripted server) and a fake in-memory store.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use abi::{Error, SlotAction, SlotId};
use netstack::api::Request as NetRequest;
use protocol::storage::{Request, Response};

use super::*;
use crate::command::parse;
use crate::shell::run;

/// The scripted server and the store.
#[derive(Default)]
struct Fake {
    clock: u64,
    files: BTreeMap<String, Vec<u8>>,
    handles: BTreeMap<u32, String>,
    next_handle: u32,
    /// The store's capacity in bytes (0: unlimited).
    space: usize,
    /// What the server answers, and how much of it was given.
    response: Vec<u8>,
    given: usize,
    /// Most bytes per Recv.
    piece: usize,
    /// Reset the connection once this many bytes were given.
    reset_after: Option<usize>,
    refuse: bool,
    dns: Option<Ipv4Addr>,
    /// What the client sent.
    received: Vec<u8>,
    connected_to: Option<SocketAddrV4>,
    state_asks: u32,
    recv_asks: u32,
    closes: u32,
    aborts: u32,
    screen: Vec<u8>,
}

fn fake(response: &[u8]) -> Fake {
    Fake {
        response: response.to_vec(),
        piece: 1000,
        next_handle: 1,
        ..Fake::default()
    }
}

impl Fake {
    fn net(&mut self, req: NetRequest<'_>) -> NetResponse<'static> {
        self.clock += 1000;
        match req {
            NetRequest::TcpConnect { remote } => {
                self.connected_to = Some(remote);
                NetResponse::Handle(1)
            }
            NetRequest::TcpState { handle: 1 } if self.refuse => {
                NetResponse::Err(NetError::ConnectionRefused)
            }
            NetRequest::TcpState { handle: 1 } => {
                self.state_asks += 1;
                let up = self.state_asks > 1;
                NetResponse::TcpState(if up {
                    TcpState::Established
                } else {
                    TcpState::Connecting
                })
            }
            NetRequest::Send { handle: 1, data } => {
                let n = data.len().min(1000);
                self.received.extend_from_slice(&data[..n]);
                NetResponse::Sent(n as u32)
            }
            NetRequest::Close { handle: 1 | 9 } => {
                self.closes += 1;
                NetResponse::Ok
            }
            NetRequest::Abort { handle: 1 } => {
                self.aborts += 1;
                NetResponse::Ok
            }
            NetRequest::DnsStart { .. } => NetResponse::Handle(9),
            NetRequest::DnsResult { handle: 9 } => match self.dns {
                Some(a) => NetResponse::Resolved(a),
                None => NetResponse::Err(NetError::NameNotFound),
            },
            _ => NetResponse::Err(NetError::BadHandle),
        }
    }

    /// A Recv: every other one finds nothing yet.
    fn recv(&mut self, max: u32, reply: &mut [u8]) -> usize {
        self.recv_asks += 1;
        let resp = if self.recv_asks % 2 == 1 {
            NetResponse::Err(NetError::WouldBlock)
        } else if self.reset_after.is_some_and(|r| self.given >= r) {
            NetResponse::Err(NetError::ConnectionReset)
        } else {
            let limit = self.reset_after.unwrap_or(usize::MAX);
            let n = (max as usize)
                .min(self.piece)
                .min(self.response.len() - self.given)
                .min(limit - self.given);
            self.given += n;
            NetResponse::Data(&self.response[self.given - n..self.given])
        };
        resp.encode(reply).unwrap()
    }

    fn store(&mut self, req: Request<'_>, reply: &mut [u8]) -> usize {
        let r = match req {
            Request::Open { path, flags } => {
                if !self.files.contains_key(path) && !flags.has(OpenFlags::CREATE) {
                    Err(StorageError::NotFound)
                } else {
                    let f = self.files.entry(path.into()).or_default();
                    if flags.has(OpenFlags::TRUNCATE) {
                        f.clear();
                    }
                    let size = f.len() as u64;
                    let handle = self.next_handle;
                    self.next_handle += 1;
                    self.handles.insert(handle, path.into());
                    Ok(Response::Opened { handle, size })
                }
            }
            Request::Write {
                handle,
                offset,
                data,
            } => self.write(handle, offset, data),
            Request::Read {
                handle,
                offset,
                len,
            } => {
                let f = &self.files[&self.handles[&handle]];
                let from = (offset as usize).min(f.len());
                let to = (from + len as usize).min(f.len());
                return Response::Data(&f[from..to]).encode(reply).unwrap();
            }
            Request::Close { handle } => {
                self.handles.remove(&handle);
                Ok(Response::Ok)
            }
            Request::Rename { from, to } => {
                let data = self.files.remove(from).unwrap();
                self.files.insert(to.into(), data);
                Ok(Response::Ok)
            }
            Request::Remove { path } => {
                self.files.remove(path).unwrap();
                Ok(Response::Ok)
            }
            other => panic!("unexpected {other:?}"),
        };
        match r {
            Ok(r) => r.encode(reply).unwrap(),
            Err(e) => Response::Err(e, "fake").encode(reply).unwrap(),
        }
    }

    fn write(
        &mut self,
        handle: u32,
        offset: u64,
        data: &[u8],
    ) -> core::result::Result<Response<'static>, StorageError> {
        let used: usize = self.files.values().map(Vec::len).sum();
        if self.space > 0 && used + data.len() > self.space {
            return Err(StorageError::NoSpace);
        }
        let f = self.files.get_mut(&self.handles[&handle]).unwrap();
        assert_eq!(offset as usize, f.len(), "the body is written in order");
        f.extend_from_slice(data);
        Ok(Response::Ok)
    }
}

impl System for Fake {
    fn services(&mut self, _: &mut [u8]) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn manifest(&mut self, _: &mut [u8]) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn component_caps(&mut self, _: &str, _: &mut [u8]) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn storage_call(
        &mut self,
        request: &[u8],
        reply: &mut [u8],
    ) -> core::result::Result<usize, Error> {
        assert!(request.len() <= MAX_MESSAGE);
        let req = Request::decode(request).unwrap();
        Ok(self.store(req, reply))
    }
    fn fs_view_call(&mut self, _: &[u8], _: &mut [u8]) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn editor_call(&mut self, _: &[u8], _: &mut [u8]) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn network_call(
        &mut self,
        request: &[u8],
        reply: &mut [u8],
    ) -> core::result::Result<usize, Error> {
        match NetRequest::decode(request).unwrap() {
            NetRequest::Recv { handle: 1, max } => Ok(self.recv(max, reply)),
            req => Ok(self.net(req).encode(reply).unwrap()),
        }
    }
    fn terminal_read(&mut self, _: &mut [u8]) -> core::result::Result<usize, Error> {
        Ok(0)
    }
    fn terminal_write(&mut self, bytes: &[u8]) -> core::result::Result<(), Error> {
        self.screen.extend_from_slice(bytes);
        Ok(())
    }
    fn pause(&mut self) {
        self.clock += 10_000;
    }
    fn bootcount(&mut self) -> core::result::Result<u64, Error> {
        Err(Error::Unsupported)
    }
    fn bootlog(&mut self, _: &mut [u8]) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn lastcrash(&mut self, _: &mut [u8]) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn slots(&mut self, _: &mut [u8]) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn slot_set(
        &mut self,
        _: SlotAction,
        _: SlotId,
        _: &mut [u8],
    ) -> core::result::Result<usize, Error> {
        Err(Error::Unsupported)
    }
    fn uptime(&mut self) -> core::result::Result<u64, Error> {
        Ok(self.clock)
    }
    fn reboot(&mut self) -> Error {
        Error::Unsupported
    }
    fn poweroff(&mut self) -> Error {
        Error::Unsupported
    }
}

/// Runs one console line; every handle must be closed afterwards.
fn sh(sys: &mut Fake, line: &str) -> String {
    let mut out = String::new();
    run(parse(line).unwrap().unwrap(), sys, &mut out).unwrap();
    assert!(sys.handles.is_empty(), "{line}: store handles left open");
    out
}

/// The last line of `out` without its line end.
fn last_line(out: &str) -> &str {
    out.trim_end_matches("\r\n").rsplit("\r\n").next().unwrap()
}

fn deterministic(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn get_to_the_console() {
    let mut f = fake(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello\nworld!");
    assert_eq!(
        sh(&mut f, "http get http://10.0.2.2:8080/a"),
        "hello\r\nworld!\r\n"
    );
    assert_eq!(f.connected_to, Some("10.0.2.2:8080".parse().unwrap()));
    assert!(f
        .received
        .starts_with(b"GET /a HTTP/1.1\r\nHost: 10.0.2.2:8080\r\n"));
    assert_eq!((f.closes, f.aborts), (1, 0));
}

#[test]
fn get_with_headers_and_chunks() {
    let mut f = fake(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n3\r\nabc\r\n2;e\r\nde\r\n0\r\n\r\n");
    f.piece = 3;
    assert_eq!(
        sh(&mut f, "http get http://10.0.2.2/ -i"),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\nabcde\r\n"
    );
}

#[test]
fn get_into_a_file_streams_and_renames() {
    let body = deterministic((9 << 20) + 123);
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend_from_slice(&body);
    let mut f = fake(&resp);
    f.piece = 60_000;
    f.files.insert("big".into(), b"old".to_vec());
    let out = sh(&mut f, "http get http://10.0.2.2:8080/big -o big -i");
    assert!(
        out.starts_with(&format!("saved {} bytes to big in ", body.len())),
        "{out}"
    );
    assert!(out.ends_with(" KiB/s)\r\n"), "{out}");
    assert!(f.files["big"] == body, "the file holds the body");
    assert_eq!(f.files.len(), 1, "no part file left");
    // One progress line, at the first piece past 8 MiB.
    let screen = String::from_utf8_lossy(&f.screen);
    assert!(
        screen.starts_with(&format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\nreceived 83",
            body.len()
        )) && screen.matches("\r\n").count() == 4,
        "{screen}"
    );
}

#[test]
fn get_chunked_into_a_file() {
    let body = deterministic(100_000);
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in body.chunks(4567) {
        resp.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        resp.extend_from_slice(chunk);
        resp.extend_from_slice(b"\r\n");
    }
    resp.extend_from_slice(b"0\r\n\r\n");
    let mut f = fake(&resp);
    f.piece = 777;
    let out = sh(&mut f, "http get http://10.0.2.2/c -o c");
    assert!(out.starts_with("saved 100000 bytes to c in "), "{out}");
    assert!(f.files["c"] == body);
}

#[test]
fn a_404_leaves_no_file() {
    let mut f = fake(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
    assert_eq!(
        sh(&mut f, "http get http://10.0.2.2:8080/missing -o m"),
        "error: http get http://10.0.2.2:8080/missing: server answered HTTP/1.1 404 Not Found\r\n"
    );
    assert!(f.files.is_empty());
    assert_eq!(f.aborts, 1);
}

#[test]
fn a_reset_keeps_the_old_file_and_removes_the_part() {
    let body = deterministic(50_000);
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n".to_vec();
    resp.extend_from_slice(&body);
    let mut f = fake(&resp);
    f.reset_after = Some(20_000);
    f.files.insert("keep".into(), b"old".to_vec());
    assert_eq!(
        sh(&mut f, "http get http://10.0.2.2/x -o keep"),
        "error: http get http://10.0.2.2/x: peer reset the connection\r\n"
    );
    assert_eq!(f.files.len(), 1);
    assert_eq!(f.files["keep"], b"old");
}

#[test]
fn a_short_body_and_a_full_store() {
    let mut f = fake(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
    assert_eq!(
        last_line(&sh(&mut f, "http get http://10.0.2.2/x -o s")),
        "error: http get http://10.0.2.2/x: bad response: connection closed after 5 of 10 body bytes"
    );
    assert!(f.files.is_empty());
    let mut resp = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    resp.extend_from_slice(&deterministic(10_000));
    let mut f = fake(&resp);
    f.space = 5000;
    assert_eq!(
        sh(&mut f, "http get http://10.0.2.2/x -o s"),
        "error: http get http://10.0.2.2/x: store full: no space left for the file\r\n"
    );
    assert!(f.files.is_empty());
}

#[test]
fn connect_and_name_errors() {
    let mut f = fake(b"");
    f.refuse = true;
    assert_eq!(
        sh(&mut f, "http get http://10.0.2.2:9/ -o r"),
        "error: http get http://10.0.2.2:9/: connect refused: nothing listens on that port\r\n"
    );
    assert!(f.files.is_empty());
    assert_eq!(f.closes, 1);
    let mut f = fake(b"");
    assert_eq!(
        sh(&mut f, "http get http://nowhere.test/"),
        "error: http get http://nowhere.test/: DNS failure: name not found (NXDOMAIN): check the spelling\r\n"
    );
    assert_eq!(
        sh(&mut f, "http get https://h/"),
        "error: http get https://h/: bad URL: only http:// URLs are supported\r\n"
    );
    f.dns = Some(Ipv4Addr::new(10, 0, 2, 2));
    f.response = b"HTTP/1.1 204 No Content\r\n\r\n".to_vec();
    assert_eq!(sh(&mut f, "http get http://gw.test/"), "");
    assert_eq!(f.connected_to, Some("10.0.2.2:80".parse().unwrap()));
}

#[test]
fn garbage_and_silence() {
    let mut f = fake(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
    assert_eq!(
        sh(&mut f, "http get http://10.0.2.2/"),
        "error: http get http://10.0.2.2/: bad response: malformed status line\r\n"
    );
    let mut f = fake(b"");
    assert_eq!(
        sh(&mut f, "http get http://10.0.2.2/"),
        "error: http get http://10.0.2.2/: the server closed the connection without a response\r\n"
    );
}

#[test]
fn put_sends_the_file() {
    let data = deterministic(200_000);
    let mut f = fake(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    f.files.insert("up.bin".into(), data.clone());
    let out = sh(&mut f, "http put http://10.0.2.2:8080/up up.bin");
    let head = b"PUT /up HTTP/1.1\r\nHost: 10.0.2.2:8080\r\nUser-Agent: PandaGen\r\nAccept: */*\r\nConnection: close\r\nContent-Length: 200000\r\n\r\n";
    assert!(f.received.starts_with(head));
    assert!(f.received[head.len()..] == data[..]);
    assert!(
        out.starts_with("HTTP/1.1 201 Created\r\nsent 200000 bytes in "),
        "{out}"
    );
    f.response = b"HTTP/1.1 413 Too Large\r\n\r\n".to_vec();
    f.given = 0;
    assert_eq!(
        sh(&mut f, "http put http://10.0.2.2/up up.bin"),
        "error: http put http://10.0.2.2/up up.bin: server answered HTTP/1.1 413 Too Large\r\n"
    );
    assert_eq!(
        sh(&mut f, "http put http://10.0.2.2/up nothing"),
        "error: http put http://10.0.2.2/up nothing: store: not found\r\n"
    );
    assert_eq!(f.files.len(), 1);
}
