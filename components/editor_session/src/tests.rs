use super::*;
use abi::Error;
use protocol::editor::MAX_REPLY;
use protocol::storage::{self, OpenFlags, StorageError};
use std::collections::BTreeMap;

/// A fake `storage_api`: files by path, handles, one injected failure.
#[derive(Default)]
struct Fake {
    files: BTreeMap<String, Vec<u8>>,
    dirs: Vec<String>,
    handles: BTreeMap<u32, (String, bool)>,
    next: u32,
    /// Fail the next request of this name with this error.
    fail: Option<(&'static str, StorageError)>,
    down: Option<Error>,
}

impl Store for Fake {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        if let Some(e) = self.down {
            return Err(e);
        }
        let req = storage::Request::decode(request).expect("valid request");
        let resp = self.answer(req);
        Ok(match resp {
            Ok(n) => {
                let r = match n {
                    Answer::Ok => storage::Response::Ok,
                    Answer::Opened(handle, size) => storage::Response::Opened { handle, size },
                    Answer::Data(ref d) => storage::Response::Data(d),
                };
                r.encode(reply).unwrap()
            }
            Err(e) => storage::Response::Err(e, "fake").encode(reply).unwrap(),
        })
    }
}

enum Answer {
    Ok,
    Opened(u32, u64),
    Data(Vec<u8>),
}

impl Fake {
    fn answer(&mut self, req: storage::Request<'_>) -> Result<Answer, StorageError> {
        if let Some((name, e)) = self.fail {
            if name == req.name() {
                self.fail = None;
                if let storage::Request::Close { handle } = req {
                    self.handles.remove(&handle);
                }
                return Err(e);
            }
        }
        match req {
            storage::Request::Open { path, flags } => {
                let path = storage::normalize(path)?.to_string();
                if self.dirs.contains(&path) {
                    return Err(StorageError::IsDirectory);
                }
                if !self.files.contains_key(&path) {
                    if !flags.has(OpenFlags::CREATE) {
                        return Err(StorageError::NotFound);
                    }
                    self.files.insert(path.clone(), Vec::new());
                }
                if flags.has(OpenFlags::TRUNCATE) {
                    self.files.get_mut(&path).unwrap().clear();
                }
                self.next += 1;
                let size = self.files[&path].len() as u64;
                self.handles
                    .insert(self.next, (path, flags.has(OpenFlags::WRITE)));
                Ok(Answer::Opened(self.next, size))
            }
            storage::Request::Read {
                handle,
                offset,
                len,
            } => {
                let (path, _) = self.handles.get(&handle).ok_or(StorageError::BadHandle)?;
                let d = &self.files[path];
                let s = (offset as usize).min(d.len());
                let e = (s + len as usize).min(d.len());
                Ok(Answer::Data(d[s..e].to_vec()))
            }
            storage::Request::Write {
                handle,
                offset,
                data,
            } => {
                let (path, write) = self.handles.get(&handle).ok_or(StorageError::BadHandle)?;
                assert!(*write);
                let d = self.files.get_mut(path).unwrap();
                let end = offset as usize + data.len();
                if d.len() < end {
                    d.resize(end, 0);
                }
                d[offset as usize..end].copy_from_slice(data);
                Ok(Answer::Ok)
            }
            storage::Request::Close { handle } => {
                self.handles
                    .remove(&handle)
                    .ok_or(StorageError::BadHandle)?;
                Ok(Answer::Ok)
            }
            other => panic!("the editor sent {other:?}"),
        }
    }
}

/// The decoded reply of one request.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Screen {
        output: Vec<u8>,
        key_pending: bool,
        more: bool,
        exit: Option<Exit>,
    },
    Closed,
    Err(EditorError, String),
}

fn send(svc: &mut Service, caller: &str, req: Request<'_>, fs: &mut Fake) -> Got {
    let mut msg = vec![0u8; protocol::editor::MAX_REQUEST];
    let n = req.encode(&mut msg).unwrap();
    let mut reply = vec![0u8; MAX_REPLY];
    let len = svc.serve(caller, &msg[..n], &mut reply, fs);
    assert!(fs.handles.is_empty(), "a handle was left open");
    match Response::decode(&reply[..len]).expect("a valid reply") {
        Response::Screen(s) => Got::Screen {
            output: s.output.to_vec(),
            key_pending: s.key_pending,
            more: s.more,
            exit: s.exit,
        },
        Response::Closed => Got::Closed,
        Response::Err(e, m) => Got::Err(e, m.to_string()),
    }
}

fn open(name: &str) -> Request<'_> {
    Request::Open {
        rows: 24,
        cols: 80,
        name,
    }
}

fn screen(g: &Got) -> (String, bool, Option<Exit>) {
    match g {
        Got::Screen {
            output,
            key_pending,
            more: false,
            exit,
        } => (
            String::from_utf8(output.clone()).unwrap(),
            *key_pending,
            *exit,
        ),
        g => panic!("not a whole screen: {g:?}"),
    }
}

const CONSOLE: &str = "cli_console";

#[test]
fn edit_a_new_file_and_save_it() {
    let (mut svc, mut fs) = (Service::new(), Fake::default());
    let g = send(&mut svc, CONSOLE, open("notes.txt"), &mut fs);
    let (out, pending, exit) = screen(&g);
    assert!(
        out.starts_with("\x1b[0m\x1b[2J"),
        "the first drawing clears"
    );
    assert!(out.contains("\"notes.txt\" [New]"), "{out:?}");
    assert_eq!((pending, exit), (false, None));
    assert!(fs.files.is_empty(), "opening creates nothing");

    let g = send(&mut svc, CONSOLE, Request::Keys(b"ihello from vi"), &mut fs);
    assert!(screen(&g).0.contains("hello from vi"));
    // A lone ESC: pending until the console says the input went idle.
    let g = send(&mut svc, CONSOLE, Request::Keys(b"\x1b"), &mut fs);
    assert!(screen(&g).1, "ESC is pending");
    let g = send(&mut svc, CONSOLE, Request::Idle, &mut fs);
    let (out, pending, _) = screen(&g);
    assert!(!pending && !out.contains("INSERT"), "{out:?}");
    let g = send(&mut svc, CONSOLE, Request::Keys(b":wq\r"), &mut fs);
    let (out, _, exit) = screen(&g);
    assert_eq!(exit, Some(Exit::Saved));
    assert!(
        out.ends_with("\x1b[0m\x1b[2J\x1b[H"),
        "the screen is left clean"
    );
    assert_eq!(fs.files["notes.txt"], b"hello from vi\n");
    assert!(!svc.has_session());
    assert!(matches!(
        send(&mut svc, CONSOLE, Request::Keys(b"x"), &mut fs),
        Got::Err(EditorError::NoSession, _)
    ));
}

#[test]
fn quit_unchanged_and_discarded() {
    let (mut svc, mut fs) = (Service::new(), Fake::default());
    fs.files.insert("a.txt".into(), b"one\ntwo\n".to_vec());
    let g = send(&mut svc, CONSOLE, open("a.txt"), &mut fs);
    assert!(screen(&g).0.contains("\"a.txt\" 2L, 8B"));
    let g = send(&mut svc, CONSOLE, Request::Keys(b":q\r"), &mut fs);
    assert_eq!(screen(&g).2, Some(Exit::Unchanged));
    send(&mut svc, CONSOLE, open("a.txt"), &mut fs);
    // ESC then a key in the same batch: no Idle needed.
    let g = send(&mut svc, CONSOLE, Request::Keys(b"ddx\x1b:q!\r"), &mut fs);
    assert_eq!(screen(&g).2, Some(Exit::Discarded));
    assert_eq!(fs.files["a.txt"], b"one\ntwo\n");
}

#[test]
fn a_failed_save_says_so_and_keeps_the_buffer() {
    let (mut svc, mut fs) = (Service::new(), Fake::default());
    send(&mut svc, CONSOLE, open("n.txt"), &mut fs);
    send(&mut svc, CONSOLE, Request::Keys(b"ikeep me\x1b"), &mut fs);
    fs.fail = Some(("close", StorageError::Io { block: u64::MAX }));
    let g = send(&mut svc, CONSOLE, Request::Keys(b":wq\r"), &mut fs);
    let (out, _, exit) = screen(&g);
    assert_eq!(exit, None, "the editor stays open");
    assert!(
        out.contains("save failed: close failed, not saved: I/O error on flush"),
        "{out:?}"
    );
    fs.fail = Some(("write", StorageError::NoSpace));
    let g = send(&mut svc, CONSOLE, Request::Keys(b":w\r"), &mut fs);
    assert!(screen(&g).0.contains("save failed: no space left"));
    fs.down = Some(Error::Timeout);
    let g = send(&mut svc, CONSOLE, Request::Keys(b":w\r"), &mut fs);
    assert!(screen(&g)
        .0
        .contains("save failed: storage service: timed out"));
    fs.down = None;
    let g = send(&mut svc, CONSOLE, Request::Keys(b":wq\r"), &mut fs);
    assert_eq!(screen(&g).2, Some(Exit::Saved));
    assert_eq!(fs.files["n.txt"], b"keep me\n");
}

#[test]
fn files_that_cannot_be_edited() {
    let (mut svc, mut fs) = (Service::new(), Fake::default());
    fs.files.insert("bin".into(), vec![0x66, 0xff, 0x00]);
    fs.files
        .insert("big".into(), vec![b'a'; MAX_FILE_BYTES + 1]);
    fs.dirs.push("docs".into());
    for (name, want) in [
        ("bin", "bin: not UTF-8 text (bad byte at offset 1)"),
        ("big", "big: too large (262145 bytes, max 262144)"),
        ("docs", "docs: is a directory"),
        ("a//b", "a//b: invalid path"),
    ] {
        assert_eq!(
            send(&mut svc, CONSOLE, open(name), &mut fs),
            Got::Err(EditorError::CannotOpen, want.to_string())
        );
        assert!(!svc.has_session());
    }
    fs.down = Some(Error::NotFound);
    assert_eq!(
        send(&mut svc, CONSOLE, open("x"), &mut fs),
        Got::Err(
            EditorError::CannotOpen,
            "x: storage service not running".to_string()
        )
    );
}

#[test]
fn one_session_at_a_time() {
    let (mut svc, mut fs) = (Service::new(), Fake::default());
    send(&mut svc, CONSOLE, open("a"), &mut fs);
    assert!(matches!(
        send(&mut svc, "other", open("b"), &mut fs),
        Got::Err(EditorError::Busy, _)
    ));
    assert!(matches!(
        send(&mut svc, "other", Request::Keys(b":q\r"), &mut fs),
        Got::Err(EditorError::NoSession, _)
    ));
    // The owner may open again (a fresh session) and abort.
    send(&mut svc, CONSOLE, open("b"), &mut fs);
    assert_eq!(
        send(&mut svc, CONSOLE, Request::Abort, &mut fs),
        Got::Closed
    );
    assert!(!svc.has_session());
    assert!(matches!(
        send(&mut svc, CONSOLE, Request::More, &mut fs),
        Got::Err(EditorError::NoSession, _)
    ));
    let mut reply = vec![0u8; MAX_REPLY];
    let n = svc.serve(CONSOLE, &[0x99], &mut reply, &mut fs);
    assert_eq!(
        Response::decode(&reply[..n]),
        Ok(Response::Err(
            EditorError::BadRequest,
            "editor_api: unknown tag 0x99"
        ))
    );
}

#[test]
fn big_output_comes_in_parts() {
    let (mut svc, mut fs) = (Service::new(), Fake::default());
    let text: String = (0..100)
        .map(|i| format!("{i:03} {}\n", "é".repeat(150)))
        .collect();
    fs.files.insert("wide".into(), text.into_bytes());
    let req = Request::Open {
        rows: 90,
        cols: 200,
        name: "wide",
    };
    let mut all = Vec::new();
    let mut g = send(&mut svc, CONSOLE, req, &mut fs);
    let mut parts = 1;
    while let Got::Screen {
        more: true, output, ..
    } = &g
    {
        all.push(output.clone());
        g = send(&mut svc, CONSOLE, Request::More, &mut fs);
        parts += 1;
    }
    assert!(parts > 2, "{parts}");
    // The parts make the whole drawing, status line last; the session goes on.
    let (out, _, exit) = screen(&g);
    all.push(out.into_bytes());
    let all = String::from_utf8(all.concat()).unwrap();
    assert!(all.contains("\"wide\" 100L"), "{all:?}");
    // 89 text rows: lines 000..=088.
    assert!(all.contains(&format!("088 {}\x1b", "é".repeat(150))));
    assert!(!all.contains("089 "));
    assert_eq!(exit, None);
    // Nothing more waits: More gives an empty screen.
    let g = send(&mut svc, CONSOLE, Request::More, &mut fs);
    assert_eq!(screen(&g).0, "");
}

#[test]
fn a_zero_size_means_the_default_terminal() {
    let (mut svc, mut fs) = (Service::new(), Fake::default());
    let g = send(
        &mut svc,
        CONSOLE,
        Request::Open {
            rows: 0,
            cols: 0,
            name: "z",
        },
        &mut fs,
    );
    // The status line is on row 24.
    assert!(screen(&g).0.contains("\x1b[24;1H"), "{g:?}");
}
