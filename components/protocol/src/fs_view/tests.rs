use super::*;
use crate::storage::{EntriesWriter, Entry, Kind, Stat, StorageError};

fn round_trip(req: Request<'_>) {
    let mut buf = [0u8; 2048];
    let n = req.encode(&mut buf).unwrap();
    assert_eq!(Request::decode(&buf[..n]), Ok(req));
    // Every cut is `Truncated`, a byte more is `Trailing`.
    for cut in 0..n {
        assert_eq!(
            Request::decode(&buf[..cut]),
            Err(WireError::Truncated),
            "{cut}"
        );
    }
    buf[n] = 0;
    assert_eq!(Request::decode(&buf[..n + 1]), Err(WireError::Trailing));
}

#[test]
fn requests_round_trip() {
    round_trip(Request::List {
        path: "/",
        cursor: b"",
    });
    round_trip(Request::List {
        path: "docs/a",
        cursor: &[1, 2, 3, 0xff],
    });
    round_trip(Request::Stat { path: "notes.txt" });
    round_trip(Request::Read {
        path: "/big",
        offset: u64::MAX,
        len: MAX_READ as u32,
    });
    round_trip(Request::Read {
        path: "é",
        offset: 0,
        len: 0,
    });
}

#[test]
fn bad_requests_are_named_errors() {
    assert_eq!(Request::decode(&[]), Err(WireError::Truncated));
    assert_eq!(Request::decode(&[0x07]), Err(WireError::UnknownTag(0x07)));
    // A path that is not UTF-8.
    assert_eq!(
        Request::decode(&[OP_STAT, 1, 0, 0xff]),
        Err(WireError::NotUtf8)
    );
    // A path over the limit (length field says 2000).
    let mut long = vec![OP_STAT, 0xd0, 0x07];
    long.extend(vec![b'a'; 2000]);
    assert_eq!(Request::decode(&long), Err(WireError::TooLong));
    // A Read over MAX_READ, both ways.
    let mut buf = [0u8; 64];
    let big = Request::Read {
        path: "a",
        offset: 0,
        len: MAX_READ as u32 + 1,
    };
    assert_eq!(big.encode(&mut buf), Err(WireError::TooLong));
    let mut msg = vec![OP_READ, 1, 0, b'a'];
    msg.extend(0u64.to_le_bytes());
    msg.extend((MAX_READ as u32 + 1).to_le_bytes());
    assert_eq!(Request::decode(&msg), Err(WireError::TooLong));
    // A cursor over MAX_CURSOR.
    let cursor = vec![0u8; MAX_CURSOR + 1];
    let list = Request::List {
        path: "a",
        cursor: &cursor,
    };
    assert_eq!(list.encode(&mut [0u8; 2048]), Err(WireError::TooLong));
    // Too small a buffer.
    assert_eq!(
        Request::Stat { path: "abc" }.encode(&mut [0u8; 4]),
        Err(WireError::Truncated)
    );
    // storage_api's ops are not fs_view_api's.
    let mut buf = [0u8; 64];
    let n = storage::Request::Stat { path: "a" }
        .encode(&mut buf)
        .unwrap();
    assert_eq!(Request::decode(&buf[..n]), Err(WireError::UnknownTag(0x07)));
}

#[test]
fn replies_are_the_storage_ones_it_may_send() {
    let mut buf = vec![0u8; MAX_REPLY];
    let n = Response::Data(b"hi").encode(&mut buf).unwrap();
    assert_eq!(decode_reply(&buf[..n]), Ok(Response::Data(b"hi")));
    let st = Stat {
        kind: Kind::File,
        size: 5,
        mtime_secs: 7,
        mtime_nanos: 9,
    };
    let n = Response::Stat(st).encode(&mut buf).unwrap();
    assert_eq!(decode_reply(&buf[..n]), Ok(Response::Stat(st)));
    let mut w = EntriesWriter::new(&mut buf).unwrap();
    assert!(w.push(Entry {
        name: "a",
        kind: Kind::File,
        size: 3,
        mtime_secs: 4,
    }));
    let n = w.finish(b"").unwrap();
    assert!(matches!(decode_reply(&buf[..n]), Ok(Response::Entries(e)) if e.len() == 1));
    let n = Response::Err(StorageError::Denied, "no")
        .encode(&mut buf)
        .unwrap();
    assert_eq!(
        decode_reply(&buf[..n]),
        Ok(Response::Err(StorageError::Denied, "no"))
    );
    // Replies fs_view_api never sends.
    for r in [Response::Ok, Response::Opened { handle: 1, size: 2 }] {
        let n = r.encode(&mut buf).unwrap();
        assert!(matches!(
            decode_reply(&buf[..n]),
            Err(WireError::UnknownTag(_))
        ));
    }
    assert_eq!(decode_reply(&[]), Err(WireError::Truncated));
    // The largest Data fits MAX_REPLY.
    let data = vec![7u8; MAX_READ];
    let n = Response::Data(&data).encode(&mut buf).unwrap();
    assert_eq!(n, MAX_REPLY);
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..20_000 {
        let mut msg = Vec::new();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        msg.push(0x21 + (x % 4) as u8);
        for _ in 0..(x >> 8) % 40 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            msg.push(x as u8 % 8);
        }
        let _ = Request::decode(&msg);
        let _ = decode_reply(&msg);
    }
}
