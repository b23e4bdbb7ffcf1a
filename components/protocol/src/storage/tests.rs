//! Round trips, the documented byte layout, limits, and "never panics" on any input.

use super::*;
use proptest::prelude::*;

fn rt_req(req: Request<'_>) {
    let mut buf = [0u8; MAX_MESSAGE];
    let n = req.encode(&mut buf).unwrap();
    assert_eq!(Request::decode(&buf[..n]).unwrap(), req);
    for cut in 0..n {
        assert!(
            Request::decode(&buf[..cut]).is_err(),
            "{req:?} cut at {cut}"
        );
    }
    assert_eq!(Request::decode(&buf[..n + 1]), Err(WireError::Trailing));
}

fn rt_resp(resp: Response<'_>) {
    let mut buf = [0u8; MAX_MESSAGE];
    let n = resp.encode(&mut buf).unwrap();
    assert_eq!(Response::decode(&buf[..n]).unwrap(), resp);
    for cut in 0..n {
        assert!(
            Response::decode(&buf[..cut]).is_err(),
            "{resp:?} cut at {cut}"
        );
    }
    assert_eq!(Response::decode(&buf[..n + 1]), Err(WireError::Trailing));
}

#[test]
fn requests_round_trip() {
    let chunk = [7u8; MAX_CHUNK];
    let long = "a".repeat(MAX_PATH_LEN);
    let flags = OpenFlags::WRITE
        .with(OpenFlags::CREATE)
        .with(OpenFlags::TRUNCATE);
    rt_req(Request::Open {
        path: "/a/b",
        flags,
    });
    rt_req(Request::Read {
        handle: 3,
        offset: 1 << 40,
        len: MAX_CHUNK as u32,
    });
    rt_req(Request::Write {
        handle: 1,
        offset: 9,
        data: &chunk,
    });
    rt_req(Request::Write {
        handle: 1,
        offset: 0,
        data: &[],
    });
    rt_req(Request::Truncate {
        handle: 2,
        size: 77,
    });
    rt_req(Request::Close { handle: 5 });
    rt_req(Request::Sync);
    rt_req(Request::Stat { path: "" });
    rt_req(Request::List {
        path: "/d",
        cursor: &[1; MAX_CURSOR],
    });
    rt_req(Request::Mkdir { path: "x" });
    rt_req(Request::Rmdir { path: "x" });
    rt_req(Request::Remove {
        path: "ünïcode name",
    });
    rt_req(Request::Rename {
        from: &long,
        to: &long,
    });
    rt_req(Request::FsInfo);
}

#[test]
fn replies_round_trip() {
    let chunk = [1u8; MAX_CHUNK];
    rt_resp(Response::Ok);
    rt_resp(Response::Opened {
        handle: 7,
        size: u64::MAX,
    });
    rt_resp(Response::Data(&chunk));
    rt_resp(Response::Data(&[]));
    rt_resp(Response::Stat(Stat {
        kind: Kind::Dir,
        size: 0,
        mtime_secs: 5,
        mtime_nanos: 6,
    }));
    rt_resp(Response::FsInfo(FsInfo {
        block_size: 4096,
        blocks: 1,
        used: 2,
        free: 3,
        files: 4,
    }));
    rt_resp(Response::Err(
        StorageError::DataDamaged { block: 99 },
        "file /x",
    ));
    let mut buf = [0u8; MAX_MESSAGE];
    let mut w = EntriesWriter::new(&mut buf).unwrap();
    let name = "n".repeat(MAX_NAME_LEN);
    assert!(w.push(Entry {
        name: &name,
        kind: Kind::File,
        size: 3,
        mtime_secs: 4
    }));
    assert!(w.push(Entry {
        name: "d",
        kind: Kind::Dir,
        size: 0,
        mtime_secs: 1
    }));
    let n = w.finish(b"cursor").unwrap();
    let Ok(Response::Entries(e)) = Response::decode(&buf[..n]) else {
        panic!()
    };
    assert_eq!(e.next_cursor(), b"cursor");
    let names: Vec<_> = e.iter().map(|e| e.name.len()).collect();
    assert_eq!(names, [MAX_NAME_LEN, 1]);
    rt_resp(Response::Entries(e));
}

#[test]
fn every_error_code_round_trips_and_codes_are_distinct() {
    let mut seen = std::collections::BTreeSet::new();
    for code in 0..=255u8 {
        if let Some(e) = StorageError::from_wire(code, 42) {
            assert_eq!(e.code(), code);
            assert!(seen.insert(e.as_str()), "{e:?} text repeated");
            assert_eq!(StorageError::from_wire(code, e.detail()), Some(e));
        }
    }
    assert_eq!(seen.len(), 19);
    assert_eq!(
        StorageError::Damaged { block: 5 }.to_string(),
        "damaged metadata at block 5"
    );
    assert_eq!(
        StorageError::Io { block: u64::MAX }.to_string(),
        "I/O error on flush"
    );
}

#[test]
fn wire_layout_is_as_documented() {
    let mut buf = [0u8; 64];
    let n = Request::Write {
        handle: 2,
        offset: 3,
        data: b"xy",
    }
    .encode(&mut buf)
    .unwrap();
    assert_eq!(
        &buf[..n],
        &[3, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'x', b'y']
    );
    let n = Request::Open {
        path: "ab",
        flags: OpenFlags::CREATE,
    }
    .encode(&mut buf)
    .unwrap();
    assert_eq!(&buf[..n], &[1, 2, 2, 0, b'a', b'b']);
    let n = Response::Err(StorageError::Damaged { block: 40 }, "x")
        .encode(&mut buf)
        .unwrap();
    assert_eq!(&buf[..n], &[0xFF, 6, 40, 0, 0, 0, 0, 0, 0, 0, 1, 0, b'x']);
}

#[test]
fn limits_are_enforced() {
    let mut buf = [0u8; MAX_MESSAGE];
    let big = [0u8; MAX_CHUNK + 1];
    let write = Request::Write {
        handle: 0,
        offset: 0,
        data: &big,
    };
    assert_eq!(write.encode(&mut buf), Err(WireError::TooLong));
    assert_eq!(
        Response::Data(&big).encode(&mut buf),
        Err(WireError::TooLong)
    );
    let read = Request::Read {
        handle: 0,
        offset: 0,
        len: MAX_CHUNK as u32 + 1,
    };
    assert_eq!(read.encode(&mut buf), Err(WireError::TooLong));
    let long = "a".repeat(MAX_PATH_LEN + 2);
    assert_eq!(
        Request::Stat { path: &long }.encode(&mut buf),
        Err(WireError::TooLong)
    );
    assert_eq!(
        Request::Stat { path: "abc" }.encode(&mut buf[..3]),
        Err(WireError::Truncated)
    );
    // Unknown open flags, ops and tags are refused.
    assert_eq!(
        Request::decode(&[1, 0x10, 0, 0]),
        Err(WireError::UnknownTag(0x10))
    );
    assert_eq!(Request::decode(&[0x0E]), Err(WireError::UnknownTag(0x0E)));
    assert_eq!(Response::decode(&[0x86]), Err(WireError::UnknownTag(0x86)));
    // A long error message is cut at a character boundary.
    let msg = "é".repeat(MAX_ERROR_MESSAGE);
    let n = Response::Err(StorageError::Io { block: 1 }, &msg)
        .encode(&mut buf)
        .unwrap();
    let Ok(Response::Err(_, m)) = Response::decode(&buf[..n]) else {
        panic!()
    };
    assert!(m.len() <= MAX_ERROR_MESSAGE && m.chars().all(|c| c == 'é'));
}

#[test]
fn entries_writer_fills_one_message_and_refuses_bad_names() {
    let mut buf = [0u8; MAX_MESSAGE];
    let mut w = EntriesWriter::new(&mut buf).unwrap();
    assert!(!w.push(Entry {
        name: "",
        kind: Kind::File,
        size: 0,
        mtime_secs: 0
    }));
    let long = "x".repeat(MAX_NAME_LEN + 1);
    assert!(!w.push(Entry {
        name: &long,
        kind: Kind::File,
        size: 0,
        mtime_secs: 0
    }));
    let mut pushed = 0;
    while w.push(Entry {
        name: "file-0000",
        kind: Kind::File,
        size: 1,
        mtime_secs: 2,
    }) {
        pushed += 1;
    }
    assert_eq!(w.count(), pushed);
    let n = w.finish(&[9; MAX_CURSOR]).unwrap();
    assert!(n <= MAX_MESSAGE);
    let Ok(Response::Entries(e)) = Response::decode(&buf[..n]) else {
        panic!()
    };
    assert_eq!(e.iter().count(), pushed);
    assert!(pushed > 100);
}

#[test]
fn paths_are_normalized() {
    assert_eq!(normalize("/"), Ok(""));
    assert_eq!(normalize("/a/b c/é"), Ok("a/b c/é"));
    for bad in ["a//b", "a/", "/./a", "a/..", "a\0b"] {
        assert_eq!(normalize(bad), Err(StorageError::InvalidPath), "{bad:?}");
    }
    assert_eq!(
        normalize(&"n".repeat(MAX_NAME_LEN + 1)),
        Err(StorageError::NameTooLong)
    );
    let deep = "abc/".repeat(MAX_PATH_LEN / 4) + "x";
    assert_eq!(normalize(&deep), Err(StorageError::NameTooLong));
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_valid_tags(tag in 0u8..16, rest in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut m = vec![tag];
        m.extend(&rest);
        let _ = Request::decode(&m);
        m[0] = tag | 0x80;
        let _ = Response::decode(&m);
    }
}
