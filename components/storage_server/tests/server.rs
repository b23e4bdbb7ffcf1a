//! The service's logic on a fake device: every request, the access rules, handles, the
//! durability rule (with power cuts), lost writes, and start-up on each kind of region.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use pgfs::mem::{Cut, MemDevice};
use pgfs::{Block, BlockDevice, IoError, Time};
use protocol::storage::{
    Kind, OpenFlags, Request, Response, StorageError, MAX_CHUNK, MAX_HANDLES, MAX_MESSAGE,
};
use storage_server::{start, Access, Server, StartError, Startup};

const T: Time = Time {
    secs: 1_700_000_000,
    nanos: 5,
};
const RW: OpenFlags = OpenFlags::WRITE.with(OpenFlags::CREATE);

/// A device the test keeps a hold on (the server owns a clone), with write failures on demand.
#[derive(Clone)]
struct Shared {
    dev: Rc<RefCell<MemDevice>>,
    fail_writes: Rc<Cell<bool>>,
}

impl Shared {
    fn new(dev: MemDevice) -> Shared {
        Shared {
            dev: Rc::new(RefCell::new(dev)),
            fail_writes: Rc::new(Cell::new(false)),
        }
    }

    fn reboot(&self) -> MemDevice {
        self.dev.borrow().reboot()
    }
}

impl BlockDevice for Shared {
    fn block_count(&self) -> u64 {
        self.dev.borrow().block_count()
    }

    fn read(&mut self, block: u64, buf: &mut Block) -> Result<(), IoError> {
        self.dev.borrow_mut().read(block, buf)
    }

    fn write(&mut self, block: u64, buf: &Block) -> Result<(), IoError> {
        if self.fail_writes.get() {
            return Err(IoError { block });
        }
        self.dev.borrow_mut().write(block, buf)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.dev.borrow_mut().flush()
    }
}

struct Client {
    dev: Shared,
    srv: Server<Shared>,
    access: Access,
    caller: &'static str,
}

type Res<T> = Result<T, StorageError>;

impl Client {
    fn new(blocks: u64) -> Client {
        let dev = Shared::new(MemDevice::new(blocks));
        let (fs, how) = start(|| dev.clone(), T).unwrap();
        assert!(matches!(how, Startup::Formatted));
        Client::on(dev, Server::new(Ok(fs)))
    }

    fn on(dev: Shared, srv: Server<Shared>) -> Client {
        Client {
            dev,
            srv,
            access: Access::all(),
            caller: "cli",
        }
    }

    fn call<R>(&mut self, req: Request<'_>, f: impl FnOnce(Response<'_>) -> R) -> Res<R> {
        let mut msg = [0u8; MAX_MESSAGE];
        let n = req.encode(&mut msg).unwrap();
        let mut reply = [0u8; MAX_MESSAGE];
        let len = self
            .srv
            .serve(self.caller, &self.access, T, &msg[..n], &mut reply);
        match Response::decode(&reply[..len]).unwrap() {
            Response::Err(e, _) => Err(e),
            r => Ok(f(r)),
        }
    }

    fn ok(&mut self, req: Request<'_>) -> Res<()> {
        self.call(req, |r| assert_eq!(r, Response::Ok))
    }

    fn open(&mut self, path: &str, flags: OpenFlags) -> Res<(u32, u64)> {
        self.call(Request::Open { path, flags }, |r| match r {
            Response::Opened { handle, size } => (handle, size),
            r => panic!("{r:?}"),
        })
    }

    fn write_at(&mut self, h: u32, mut offset: u64, data: &[u8]) -> Res<()> {
        for chunk in data.chunks(MAX_CHUNK) {
            self.ok(Request::Write {
                handle: h,
                offset,
                data: chunk,
            })?;
            offset += chunk.len() as u64;
        }
        Ok(())
    }

    fn put(&mut self, path: &str, data: &[u8]) -> Res<()> {
        let (h, _) = self.open(path, RW.with(OpenFlags::TRUNCATE))?;
        self.write_at(h, 0, data)?;
        self.ok(Request::Close { handle: h })
    }

    fn get(&mut self, path: &str) -> Res<Vec<u8>> {
        let (h, size) = self.open(path, OpenFlags::READ)?;
        let mut out = Vec::new();
        loop {
            let offset = out.len() as u64;
            let req = Request::Read {
                handle: h,
                offset,
                len: MAX_CHUNK as u32,
            };
            let chunk = self.call(req, |r| match r {
                Response::Data(d) => d.to_vec(),
                r => panic!("{r:?}"),
            })?;
            if chunk.is_empty() {
                break;
            }
            out.extend(chunk);
        }
        assert_eq!(out.len() as u64, size);
        self.ok(Request::Close { handle: h })?;
        Ok(out)
    }

    fn list(&mut self, path: &str) -> Res<Vec<(String, Kind, u64)>> {
        let mut cursor = Vec::new();
        let mut out = Vec::new();
        let mut pages = 0;
        loop {
            let req = Request::List {
                path,
                cursor: &cursor,
            };
            let next = self.call(req, |r| match r {
                Response::Entries(e) => {
                    out.extend(e.iter().map(|e| (e.name.to_string(), e.kind, e.size)));
                    e.next_cursor().to_vec()
                }
                r => panic!("{r:?}"),
            })?;
            pages += 1;
            assert!(pages < 10_000);
            if next.is_empty() {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// The device as a power cycle now would leave it.
    fn device(&mut self) -> MemDevice {
        self.dev.reboot()
    }
}

fn reboot(dev: MemDevice) -> Client {
    let dev = Shared::new(dev);
    let (fs, how) = start(|| dev.clone(), T).unwrap();
    assert!(matches!(how, Startup::Mounted(_)), "{how:?}");
    Client::on(dev, Server::new(Ok(fs)))
}

#[test]
fn files_round_trip_in_chunks_and_stat_says_what_they_are() {
    let mut c = Client::new(4096);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    c.ok(Request::Mkdir { path: "/docs" }).unwrap();
    c.put("/docs/big.bin", &data).unwrap();
    assert_eq!(c.get("docs/big.bin").unwrap(), data);
    let st = c.call(
        Request::Stat {
            path: "/docs/big.bin",
        },
        |r| match r {
            Response::Stat(st) => st,
            r => panic!("{r:?}"),
        },
    );
    let st = st.unwrap();
    assert_eq!(
        (st.kind, st.size, st.mtime_secs),
        (Kind::File, 100_000, T.secs)
    );
    // Append: open without TRUNCATE, write at the size.
    let (h, size) = c.open("/docs/big.bin", OpenFlags::WRITE).unwrap();
    c.write_at(h, size, b"tail").unwrap();
    c.ok(Request::Close { handle: h }).unwrap();
    assert_eq!(c.get("/docs/big.bin").unwrap().len(), 100_004);
    // Truncate through a handle.
    let (h, _) = c.open("/docs/big.bin", OpenFlags::WRITE).unwrap();
    c.ok(Request::Truncate {
        handle: h,
        size: 10,
    })
    .unwrap();
    c.ok(Request::Close { handle: h }).unwrap();
    assert_eq!(c.get("/docs/big.bin").unwrap(), &data[..10]);
    // Errors name what is wrong.
    assert_eq!(c.get("/nope").err(), Some(StorageError::NotFound));
    assert_eq!(
        c.open("/docs", OpenFlags::READ).err(),
        Some(StorageError::IsDirectory)
    );
    let excl = RW.with(OpenFlags::EXCLUSIVE);
    assert_eq!(
        c.open("/docs/big.bin", excl).err(),
        Some(StorageError::AlreadyExists)
    );
    assert_eq!(
        c.ok(Request::Rmdir { path: "/docs" }).err(),
        Some(StorageError::NotEmpty)
    );
    assert_eq!(c.open("/a//b", RW).err(), Some(StorageError::InvalidPath));
    let (h, _) = c.open("/docs/big.bin", OpenFlags::READ).unwrap();
    let w = Request::Write {
        handle: h,
        offset: 0,
        data: b"x",
    };
    assert_eq!(c.ok(w).err(), Some(StorageError::ReadOnly));
}

#[test]
fn listings_are_complete_across_pages_and_names_may_be_long_utf8() {
    let mut c = Client::new(8192);
    c.ok(Request::Mkdir { path: "/many" }).unwrap();
    let long = "ü".repeat(127);
    let mut want = vec![(long.clone(), Kind::File, 3)];
    c.put(&format!("/many/{long}"), b"abc").unwrap();
    for i in 0..600 {
        let name = format!("file-{i:04}");
        c.open(&format!("/many/{name}"), RW).unwrap();
        want.push((name, Kind::File, 0));
        if i % 15 == 14 {
            // Close handles so the quota does not stop the test.
            for h in 1..=1000 {
                let _ = c.ok(Request::Close { handle: h });
            }
        }
    }
    let mut got = c.list("/many").unwrap();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        c.list("/").unwrap(),
        vec![("many".to_string(), Kind::Dir, 0)]
    );
}

#[test]
fn namespace_changes_and_fsinfo() {
    let mut c = Client::new(2048);
    c.put("/a", b"one").unwrap();
    c.put("/b", b"two").unwrap();
    c.ok(Request::Rename {
        from: "/a",
        to: "/b",
    })
    .unwrap();
    assert_eq!(c.get("/b").unwrap(), b"one");
    assert_eq!(c.get("/a").err(), Some(StorageError::NotFound));
    c.ok(Request::Mkdir { path: "/d" }).unwrap();
    c.ok(Request::Rename {
        from: "/b",
        to: "/d/c",
    })
    .unwrap();
    c.ok(Request::Remove { path: "/d/c" }).unwrap();
    c.ok(Request::Rmdir { path: "/d" }).unwrap();
    let i = c.call(Request::FsInfo, |r| match r {
        Response::FsInfo(i) => i,
        r => panic!("{r:?}"),
    });
    let i = i.unwrap();
    assert_eq!((i.blocks, i.files, i.block_size), (2048, 0, 4096));
    assert_eq!(i.used + i.free, i.blocks);
}

#[test]
fn callers_see_only_what_their_capabilities_grant() {
    let mut c = Client::new(2048);
    c.ok(Request::Mkdir { path: "/etc" }).unwrap();
    c.put("/etc/motd", b"hi").unwrap();
    c.ok(Request::Mkdir { path: "/home" }).unwrap();
    c.caller = "app";
    c.access = Access::from_caps("files:/home\nfiles_read:/etc\n");
    assert_eq!(c.get("/etc/motd").unwrap(), b"hi");
    assert_eq!(c.put("/etc/motd", b"x").err(), Some(StorageError::Denied));
    assert_eq!(c.list("/").err(), Some(StorageError::Denied));
    c.put("/home/mine", b"ok").unwrap();
    let rename = Request::Rename {
        from: "/home/mine",
        to: "/etc/x",
    };
    assert_eq!(c.ok(rename).err(), Some(StorageError::Denied));
    c.access = Access::default();
    assert_eq!(c.get("/home/mine").err(), Some(StorageError::Denied));
}

#[test]
fn handles_are_per_caller_limited_and_follow_the_file() {
    let mut c = Client::new(2048);
    c.put("/f", b"data").unwrap();
    let (h, _) = c.open("/f", OpenFlags::READ).unwrap();
    c.caller = "other";
    let read = Request::Read {
        handle: h,
        offset: 0,
        len: 4,
    };
    assert_eq!(c.ok(read).err(), Some(StorageError::BadHandle));
    for _ in 0..MAX_HANDLES {
        c.open("/f", OpenFlags::READ).unwrap();
    }
    assert_eq!(
        c.open("/f", OpenFlags::READ).err(),
        Some(StorageError::TooManyOpen)
    );
    c.caller = "cli";
    c.ok(Request::Rename {
        from: "/f",
        to: "/g",
    })
    .unwrap();
    let data = c.call(read, |r| match r {
        Response::Data(d) => d.to_vec(),
        r => panic!("{r:?}"),
    });
    assert_eq!(data.unwrap(), b"data");
    c.ok(Request::Remove { path: "/g" }).unwrap();
    assert_eq!(c.ok(read).err(), Some(StorageError::BadHandle));
    c.ok(Request::Close { handle: h }).unwrap();
}

#[test]
fn handle_writes_are_durable_at_close_and_namespace_changes_at_once() {
    let mut c = Client::new(2048);
    c.put("/kept", b"v1").unwrap();
    let (h, _) = c.open("/kept", OpenFlags::WRITE).unwrap();
    c.write_at(h, 0, b"v2").unwrap();
    c.ok(Request::Mkdir { path: "/dir" }).unwrap();
    let (h2, _) = c.open("/pending", RW).unwrap();
    c.write_at(h2, 0, b"not yet").unwrap();
    // A power cut now: the mkdir is there (and the v2 write it committed with it), but not the
    // unclosed handle's file: its creation waits for its Close.
    let mut after = reboot(c.device());
    assert_eq!(after.get("/kept").unwrap(), b"v2");
    assert_eq!(after.get("/pending").err(), Some(StorageError::NotFound));
    assert!(after.list("/").unwrap().iter().any(|(n, ..)| n == "dir"));
    c.ok(Request::Sync).unwrap();
    assert_eq!(reboot(c.device()).get("/pending").unwrap(), b"not yet");
    c.ok(Request::Close { handle: h }).unwrap();
    c.ok(Request::Close { handle: h2 }).unwrap();
}

#[test]
fn open_truncate_write_close_replaces_a_file_at_once() {
    let mut c = Client::new(2048);
    c.put("/f", b"old contents").unwrap();
    let (h, size) = c.open("/f", RW.with(OpenFlags::TRUNCATE)).unwrap();
    assert_eq!(size, 0);
    c.write_at(h, 0, b"new").unwrap();
    assert_eq!(reboot(c.device()).get("/f").unwrap(), b"old contents");
    c.ok(Request::Close { handle: h }).unwrap();
    assert_eq!(reboot(c.device()).get("/f").unwrap(), b"new");
}

#[test]
fn a_failure_that_rolls_back_makes_pending_writes_lost() {
    let mut c = Client::new(128);
    let (a, _) = c.open("/a", RW).unwrap();
    let (b, _) = c.open("/b", RW).unwrap();
    c.write_at(a, 0, &[1; 8192]).unwrap();
    // Any other request hands gathered writes to pgfs: a's are now pending there.
    let stat = Request::Stat { path: "/a" };
    c.call(stat, |_| ()).unwrap();
    c.dev.fail_writes.set(true);
    // b's write is gathered (Ok); handing it over fails on the disk, and pgfs rolls back,
    // dropping a's pending writes too.
    c.write_at(b, 0, &[2; 4096]).unwrap();
    c.call(stat, |_| ()).unwrap();
    c.dev.fail_writes.set(false);
    assert_eq!(c.ok(Request::Sync).err(), Some(StorageError::Lost));
    assert_eq!(
        c.ok(Request::Close { handle: b }).err(),
        Some(StorageError::Lost)
    );
    assert_eq!(
        c.ok(Request::Close { handle: a }).err(),
        Some(StorageError::Lost)
    );
    assert_eq!(c.get("/a").unwrap(), b"");
    // The filesystem goes on: the space came back.
    c.put("/c", &[3; 8192]).unwrap();
    let fs = c.srv.filesystem().unwrap();
    assert!(fs.check().unwrap().is_exact());
}

#[test]
fn start_formats_only_a_blank_region_and_refuses_unknown_data() {
    let mut dev = MemDevice::new(512);
    dev.write(32, &[0x55; 4096]).unwrap();
    let image = dev.clone();
    let err = start(|| dev.clone(), T).err().unwrap();
    assert!(
        matches!(err, StartError::Mount(pgfs::Error::Unrecognized)),
        "{err:?}"
    );
    assert_eq!(dev.peek(32), image.peek(32));
    let mut srv = Client::on(Shared::new(dev), Server::new(Err(err)));
    assert_eq!(srv.get("/x").err(), Some(StorageError::Unavailable));
    let mut c = Client::new(512);
    c.put("/x", b"1").unwrap();
    let mut again = reboot(c.device());
    assert_eq!(again.get("/x").unwrap(), b"1");
}

/// One step of the power-cut test: its name and what it does.
type Step = (&'static str, fn(&mut Client) -> Res<()>);

/// Acknowledged operations survive a power cut at every write; an operation in flight is
/// wholly there or not at all (never a half-written file).
#[test]
fn acknowledged_operations_survive_a_cut_at_every_write() {
    let steps: [Step; 5] = [
        ("put a", |c| c.put("/a", b"alpha")),
        ("mkdir d", |c| c.ok(Request::Mkdir { path: "/d" })),
        ("mv a", |c| {
            c.ok(Request::Rename {
                from: "/a",
                to: "/d/a",
            })
        }),
        ("put b", |c| c.put("/d/b", &[9; 20_000])),
        ("rm a", |c| c.ok(Request::Remove { path: "/d/a" })),
    ];
    for (tried, at) in (1..).enumerate() {
        let mut c = Client::new(1024);
        let cut = Cut {
            at_write: at,
            torn: at % 3 == 0,
            lose_unflushed: at * 0x9E37,
        };
        c.dev.dev.borrow_mut().arm(cut);
        let mut acked: Vec<&str> = Vec::new();
        for (name, step) in steps {
            if step(&mut c).is_err() {
                break;
            }
            acked.push(name);
        }
        if acked.len() == steps.len() {
            println!("cut points tried: {tried}");
            assert!(tried > 20);
            return;
        }
        let mut r = reboot(c.device());
        let has = |r: &mut Client, p: &str| r.get(p).is_ok();
        if acked.contains(&"put a") && !acked.contains(&"mv a") {
            assert_eq!(r.get("/a").unwrap(), b"alpha", "cut {at}");
        } else if !acked.contains(&"put a") && has(&mut r, "/a") {
            assert_eq!(
                r.get("/a").unwrap(),
                b"alpha",
                "cut {at}: a half-written file"
            );
        }
        if acked.contains(&"mv a") && !acked.contains(&"rm a") {
            assert!(has(&mut r, "/d/a") && !has(&mut r, "/a"), "cut {at}");
        }
        if acked.contains(&"put b") || has(&mut r, "/d/b") {
            assert_eq!(r.get("/d/b").unwrap(), vec![9; 20_000], "cut {at}");
        }
        assert!(r.srv.filesystem().unwrap().check().unwrap().is_exact());
    }
}

#[test]
fn a_full_disk_is_reported_by_the_write_that_does_not_fit() {
    let mut c = Client::new(128);
    let (h, _) = c.open("/big", RW).unwrap();
    let r = c.write_at(h, 0, &[7; 128 * 4096]);
    assert_eq!(r.err(), Some(StorageError::NoSpace));
    let _ = c.ok(Request::Close { handle: h });
    assert!(c.srv.filesystem().unwrap().check().unwrap().is_exact());
    // Gathered writes read back before any commit (handed over first).
    let (h, _) = c.open("/small", RW).unwrap();
    c.write_at(h, 0, b"gathered").unwrap();
    let read = Request::Read {
        handle: h,
        offset: 0,
        len: 100,
    };
    let got = c.call(read, |r| match r {
        Response::Data(d) => d.to_vec(),
        r => panic!("{r:?}"),
    });
    assert_eq!(got.unwrap(), b"gathered");
}
