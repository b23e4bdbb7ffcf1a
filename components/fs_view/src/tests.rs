use super::*;
use protocol::fs_view::{decode_reply, Request, MAX_READ};
use protocol::storage::{EntriesWriter, Entry, Kind, Stat};
use std::collections::BTreeMap;

/// A fake `storage_api`: files by normalized path, read-only handles, a log of requests.
#[derive(Default)]
struct Fake {
    files: BTreeMap<String, Vec<u8>>,
    handles: BTreeMap<u32, String>,
    next: u32,
    log: Vec<&'static str>,
    down: Option<Error>,
    garbage: bool,
}

impl Store for Fake {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        if let Some(e) = self.down {
            return Err(e);
        }
        if self.garbage {
            reply[0] = 0x42;
            return Ok(1);
        }
        let req = storage::Request::decode(request).expect("fs_view sends valid requests");
        self.log.push(req.name());
        let resp = match req {
            storage::Request::Open { path, flags } => {
                assert_eq!(flags, OpenFlags::READ, "fs_view only reads");
                match self.files.get(path) {
                    Some(data) => {
                        self.next += 1;
                        self.handles.insert(self.next, path.to_string());
                        let size = data.len() as u64;
                        return Ok(Response::Opened {
                            handle: self.next,
                            size,
                        }
                        .encode(reply)
                        .unwrap());
                    }
                    None => Response::Err(StorageError::NotFound, "not found"),
                }
            }
            storage::Request::Read {
                handle,
                offset,
                len,
            } => {
                let data = &self.files[&self.handles[&handle]];
                let start = (offset as usize).min(data.len());
                let end = (start + len as usize).min(data.len());
                let chunk = data[start..end].to_vec();
                return Ok(Response::Data(&chunk).encode(reply).unwrap());
            }
            storage::Request::Close { handle } => {
                self.handles.remove(&handle).expect("an open handle");
                Response::Ok
            }
            storage::Request::Stat { path } => match self.files.get(path) {
                Some(d) => Response::Stat(Stat {
                    kind: Kind::File,
                    size: d.len() as u64,
                    mtime_secs: 5,
                    mtime_nanos: 0,
                }),
                None => Response::Err(StorageError::NotFound, "not found"),
            },
            storage::Request::List { path, .. } => {
                assert_eq!(path, "", "only the root is listed in these tests");
                let mut w = EntriesWriter::new(reply).unwrap();
                for (name, d) in &self.files {
                    assert!(w.push(Entry {
                        name,
                        kind: Kind::File,
                        size: d.len() as u64,
                        mtime_secs: 5,
                    }));
                }
                return Ok(w.finish(b"").unwrap());
            }
            other => panic!("fs_view sent {other:?}"),
        };
        Ok(resp.encode(reply).unwrap())
    }
}

fn fake() -> Fake {
    let mut f = Fake::default();
    f.files
        .insert("notes.txt".into(), b"hello from vi\n".to_vec());
    f.files.insert("etc/motd".into(), b"welcome".to_vec());
    f
}

/// Runs one request as `caller` with capabilities `caps`; the reply bytes.
fn ask(f: &mut Fake, caps: &str, req: Request<'_>) -> Vec<u8> {
    let mut msg = [0u8; 2048];
    let n = req.encode(&mut msg).unwrap();
    let mut reply = vec![0u8; MAX_REPLY];
    let len = serve("cli_console", caps, &msg[..n], &mut reply, f);
    assert!(f.handles.is_empty(), "a handle was left open");
    reply.truncate(len);
    reply
}

fn read(path: &str, offset: u64, len: u32) -> Request<'_> {
    Request::Read { path, offset, len }
}

#[test]
fn reads_are_stateless_and_ranged() {
    let mut f = fake();
    let r = ask(&mut f, "files_read:/", read("/notes.txt", 0, 5));
    assert_eq!(decode_reply(&r), Ok(Response::Data(b"hello")));
    assert_eq!(f.log, ["open", "read", "close"]);
    let r = ask(&mut f, "files:/", read("notes.txt", 6, 100));
    assert_eq!(decode_reply(&r), Ok(Response::Data(b"from vi\n")));
    let r = ask(&mut f, "files:/", read("notes.txt", 1000, 100));
    assert_eq!(decode_reply(&r), Ok(Response::Data(b"")));
    // The largest read.
    f.files.insert("big".into(), vec![3; MAX_READ + 10]);
    let r = ask(&mut f, "files:/", read("big", 0, MAX_READ as u32));
    assert!(matches!(decode_reply(&r), Ok(Response::Data(d)) if d.len() == MAX_READ));
    let r = ask(&mut f, "files:/", read("nope", 0, 1));
    assert_eq!(
        decode_reply(&r),
        Ok(Response::Err(StorageError::NotFound, "not found"))
    );
}

#[test]
fn list_and_stat_are_passed_on() {
    let mut f = fake();
    let r = ask(
        &mut f,
        "files_read:/",
        Request::List {
            path: "/",
            cursor: b"",
        },
    );
    let Ok(Response::Entries(e)) = decode_reply(&r) else {
        panic!("not a listing: {r:?}")
    };
    let names: Vec<_> = e.iter().map(|e| (e.name, e.size, e.mtime_secs)).collect();
    assert_eq!(names, [("etc/motd", 7, 5), ("notes.txt", 14, 5)]);
    let r = ask(&mut f, "files_read:/", Request::Stat { path: "notes.txt" });
    assert!(matches!(decode_reply(&r), Ok(Response::Stat(s)) if s.size == 14));
}

#[test]
fn the_callers_grants_decide_not_the_services() {
    let mut f = fake();
    for caps in ["", "console\n", "files_read:/home\n", "files:/etc/other\n"] {
        f.log.clear();
        for req in [
            read("notes.txt", 0, 5),
            Request::Stat { path: "etc/motd" },
            Request::List {
                path: "/",
                cursor: b"",
            },
        ] {
            let r = ask(&mut f, caps, req);
            let Ok(Response::Err(StorageError::Denied, why)) = decode_reply(&r) else {
                panic!("{caps:?} {req:?}: {r:?}")
            };
            assert!(
                why.starts_with("permission denied: cli_console has no files"),
                "{why}"
            );
        }
        assert!(f.log.is_empty(), "the store was asked for {caps:?}");
    }
    // A grant of a subdirectory covers it and nothing else.
    let r = ask(&mut f, "files_read:/etc\n", read("etc/motd", 0, 64));
    assert_eq!(decode_reply(&r), Ok(Response::Data(b"welcome")));
    let r = ask(&mut f, "files:/etc\n", Request::Stat { path: "notes.txt" });
    assert!(matches!(
        decode_reply(&r),
        Ok(Response::Err(StorageError::Denied, _))
    ));
}

#[test]
fn bad_requests_and_a_failing_store_are_one_line_errors() {
    let mut f = fake();
    let mut reply = vec![0u8; MAX_REPLY];
    for (msg, want) in [
        (&[][..], "fs_view_api: message truncated"),
        (&[0x07, 1, 0, b'a'][..], "fs_view_api: unknown tag 0x07"),
        (&[0x22, 1, 0, 0xff][..], "fs_view_api: string is not UTF-8"),
        (
            &[0x22, 1, 0, b'a', 0][..],
            "fs_view_api: trailing bytes after message",
        ),
    ] {
        let n = serve("x", "files:/", msg, &mut reply, &mut f);
        assert_eq!(
            decode_reply(&reply[..n]),
            Ok(Response::Err(StorageError::BadRequest, want))
        );
    }
    let r = ask(&mut f, "files:/", Request::Stat { path: "a//b" });
    assert_eq!(
        decode_reply(&r),
        Ok(Response::Err(StorageError::InvalidPath, "invalid path"))
    );
    f.down = Some(Error::Timeout);
    let r = ask(&mut f, "files:/", read("notes.txt", 0, 1));
    assert!(matches!(
        decode_reply(&r),
        Ok(Response::Err(
            StorageError::Unavailable,
            "storage service: timed out"
        ))
    ));
    f.down = None;
    f.garbage = true;
    let r = ask(&mut f, "files:/", Request::Stat { path: "notes.txt" });
    assert_eq!(
        decode_reply(&r),
        Ok(Response::Err(
            StorageError::Unavailable,
            "bad reply from the storage service: unknown tag 0x42"
        ))
    );
}
