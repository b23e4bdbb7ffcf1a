use super::*;

fn req_round_trip(req: Request<'_>) {
    let mut buf = vec![0u8; MAX_REQUEST + 1];
    let n = req.encode(&mut buf).unwrap();
    assert!(n <= MAX_REQUEST);
    assert_eq!(Request::decode(&buf[..n]), Ok(req));
    for cut in 0..n {
        assert_eq!(
            Request::decode(&buf[..cut]),
            Err(WireError::Truncated),
            "{cut}"
        );
    }
    assert_eq!(Request::decode(&buf[..n + 1]), Err(WireError::Trailing));
}

fn reply_round_trip(resp: Response<'_>) {
    let mut buf = vec![0u8; MAX_REPLY + 1];
    let n = resp.encode(&mut buf).unwrap();
    assert!(n <= MAX_REPLY);
    assert_eq!(Response::decode(&buf[..n]), Ok(resp));
    for cut in 0..n {
        assert_eq!(
            Response::decode(&buf[..cut]),
            Err(WireError::Truncated),
            "{cut}"
        );
    }
    assert_eq!(Response::decode(&buf[..n + 1]), Err(WireError::Trailing));
}

#[test]
fn requests_round_trip() {
    req_round_trip(Request::Open {
        rows: 24,
        cols: 80,
        name: "notes.txt",
    });
    let long = "n".repeat(MAX_PATH_LEN + 1);
    req_round_trip(Request::Open {
        rows: u16::MAX,
        cols: 0,
        name: &long,
    });
    req_round_trip(Request::Keys(b"ihello\x1b"));
    req_round_trip(Request::Keys(&[0x1b; MAX_KEYS]));
    req_round_trip(Request::Keys(b""));
    req_round_trip(Request::Idle);
    req_round_trip(Request::More);
    req_round_trip(Request::Abort);
}

#[test]
fn replies_round_trip() {
    for exit in [
        None,
        Some(Exit::Saved),
        Some(Exit::Unchanged),
        Some(Exit::Discarded),
    ] {
        for (key_pending, more) in [(false, false), (true, false), (false, true), (true, true)] {
            reply_round_trip(Response::Screen(Screen {
                output: b"\x1b[2J\x1b[Hhello",
                key_pending,
                more,
                exit,
            }));
        }
    }
    reply_round_trip(Response::Screen(Screen {
        output: &[b'x'; MAX_OUTPUT],
        key_pending: false,
        more: true,
        exit: None,
    }));
    reply_round_trip(Response::Closed);
    for e in EditorError::ALL {
        reply_round_trip(Response::Err(e, "notes.txt: not UTF-8 text"));
    }
}

#[test]
fn bad_messages_are_named_errors() {
    assert_eq!(Request::decode(&[]), Err(WireError::Truncated));
    assert_eq!(Request::decode(&[0x99]), Err(WireError::UnknownTag(0x99)));
    assert_eq!(
        Request::decode(&[OP_OPEN, 24, 0, 80, 0, 1, 0, 0xff]),
        Err(WireError::NotUtf8)
    );
    // Keys over the limit: refused when encoding and when decoding.
    let many = vec![b'a'; MAX_KEYS + 1];
    assert_eq!(
        Request::Keys(&many).encode(&mut [0u8; 4096]),
        Err(WireError::TooLong)
    );
    let mut msg = vec![OP_KEYS];
    msg.extend(((MAX_KEYS + 1) as u16).to_le_bytes());
    msg.extend(&many);
    assert_eq!(Request::decode(&msg), Err(WireError::TooLong));
    // Output over the limit.
    let out = vec![b'o'; MAX_OUTPUT + 1];
    let screen = Response::Screen(Screen {
        output: &out,
        key_pending: false,
        more: false,
        exit: None,
    });
    assert_eq!(screen.encode(&mut [0u8; 8192]), Err(WireError::TooLong));
    // Unknown flags, exit, error code, tag.
    assert_eq!(
        Response::decode(&[TAG_SCREEN, 4, 0, 0, 0, 0, 0]),
        Err(WireError::UnknownTag(4))
    );
    assert_eq!(
        Response::decode(&[TAG_SCREEN, 0, 9, 0, 0, 0, 0]),
        Err(WireError::UnknownTag(9))
    );
    assert_eq!(
        Response::decode(&[TAG_ERR, 77, 0, 0]),
        Err(WireError::UnknownTag(77))
    );
    assert_eq!(Response::decode(&[0x80]), Err(WireError::UnknownTag(0x80)));
    // A long error message is cut at a character boundary.
    let msg = "é".repeat(200);
    let mut buf = [0u8; MAX_REPLY];
    let n = Response::Err(EditorError::CannotOpen, &msg)
        .encode(&mut buf)
        .unwrap();
    let Ok(Response::Err(_, m)) = Response::decode(&buf[..n]) else {
        panic!("not an error reply")
    };
    assert_eq!(m.len(), MAX_ERROR_MESSAGE);
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u32 = 0x1234_5678;
    for _ in 0..20_000 {
        let mut msg = Vec::new();
        for _ in 0..(x % 24) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            msg.push(match x % 5 {
                0 => 0x41 + (x >> 8) as u8 % 5,
                1 => 0xC1 + (x >> 8) as u8 % 3,
                _ => (x >> 16) as u8 % 6,
            });
        }
        x = x.wrapping_add(1);
        let _ = Request::decode(&msg);
        let _ = Response::decode(&msg);
    }
}
