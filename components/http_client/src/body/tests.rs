//! Host tests of the body decoder: every framing, chunked across arbitrary split points.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::HeadReader;

fn head(text: &str) -> Head {
    HeadReader::new().push(text.as_bytes()).unwrap().unwrap().0
}

fn chunked_head() -> Head {
    head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
}

/// Feeds `pieces` in turn; the body bytes, or the first error.
fn decode<'a>(
    body: &mut Body,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    for mut piece in pieces {
        while !piece.is_empty() && !body.is_done() {
            let (n, bytes) = body.feed(piece)?;
            assert!(n > 0 && n <= piece.len());
            out.extend_from_slice(bytes);
            piece = &piece[n..];
        }
    }
    Ok(out)
}

/// `body` in chunks of the given sizes (cycled), with an extension and a trailer.
fn encode_chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let ext = if i % 3 == 1 { ";name=value" } else { "" };
        out.extend_from_slice(alloc::format!("{n:x}{ext}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    out
}

#[test]
fn content_length() {
    let mut b = Body::new(&head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));
    assert_eq!(
        decode(&mut b, [&b"hel"[..], b"lo, and more"]).unwrap(),
        b"hello"
    );
    assert!(b.is_done());
    assert_eq!((b.received(), b.finish()), (5, Ok(())));
}

#[test]
fn content_length_cut_short() {
    let mut b = Body::new(&head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"));
    assert_eq!(decode(&mut b, [&b"12345"[..]]).unwrap(), b"12345");
    assert_eq!(
        b.finish(),
        Err(HttpError::Truncated {
            expected: Some(10),
            got: 5
        })
    );
}

#[test]
fn until_close_and_no_body() {
    let mut b = Body::new(&head("HTTP/1.1 200 OK\r\n\r\n"));
    assert_eq!(decode(&mut b, [&b"abc"[..], b"def"]).unwrap(), b"abcdef");
    assert!(!b.is_done() && b.finish().is_ok());
    for h in [
        "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ] {
        let mut b = Body::new(&head(h));
        assert!(b.is_done());
        assert_eq!(b.feed(b"x"), Ok((0, &b""[..])));
    }
}

#[test]
fn chunked_simple() {
    let mut b = Body::new(&chunked_head());
    let wire = b"5\r\nhello\r\n007;x=1\r\n, world\r\n0\r\n\r\nextra";
    assert_eq!(decode(&mut b, [&wire[..]]).unwrap(), b"hello, world");
    assert!(b.is_done());
    assert_eq!(b.expected(), None);
    // Bare line feeds are taken too.
    let mut b = Body::new(&chunked_head());
    assert_eq!(
        decode(&mut b, [&b"A\nabcdefghij\n0\n\n"[..]]).unwrap(),
        b"abcdefghij"
    );
    assert!(b.is_done());
}

#[test]
fn chunked_errors() {
    for bad in [
        &b"\r\n"[..],
        b"x\r\n",
        b";ext\r\n",
        b"5\rhello",
        b"5\r\nhelloX\r\n",
        b"5\r\nhello\rX",
        b"11111111111111111\r\n",
        b"0\r\n\rX",
    ] {
        let mut b = Body::new(&chunked_head());
        assert_eq!(decode(&mut b, [bad]), Err(HttpError::BadChunk), "{bad:?}");
    }
    // Leading zeros do not count against the digits.
    let mut b = Body::new(&chunked_head());
    assert_eq!(
        decode(&mut b, [&b"00000000000000000001\r\nz\r\n0\r\n\r\n"[..]]).unwrap(),
        b"z"
    );
    // Over-long extension and trailer.
    let long = alloc::format!("1;{}\r\n", "e".repeat(5000));
    let mut b = Body::new(&chunked_head());
    assert_eq!(decode(&mut b, [long.as_bytes()]), Err(HttpError::BadChunk));
    let long = alloc::format!("0\r\nT: {}\r\n\r\n", "t".repeat(5000));
    let mut b = Body::new(&chunked_head());
    assert_eq!(decode(&mut b, [long.as_bytes()]), Err(HttpError::BadChunk));
}

#[test]
fn chunked_cut_short() {
    let mut b = Body::new(&chunked_head());
    assert_eq!(decode(&mut b, [&b"5\r\nhel"[..]]).unwrap(), b"hel");
    assert_eq!(
        b.finish(),
        Err(HttpError::Truncated {
            expected: None,
            got: 3
        })
    );
}

proptest! {
    #[test]
    fn chunked_across_any_split(
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        sizes in proptest::collection::vec(1usize..700, 1..8),
        cuts in proptest::collection::vec(0usize..4000, 0..20),
    ) {
        let wire = encode_chunked(&body, &sizes);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for c in cuts.into_iter().chain([wire.len()]) {
            pieces.push(&wire[from..c]);
            from = c;
        }
        let mut b = Body::new(&chunked_head());
        prop_assert_eq!(decode(&mut b, pieces).unwrap(), body.clone());
        prop_assert!(b.is_done());
        prop_assert_eq!(b.received(), body.len() as u64);
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut b = Body::new(&chunked_head());
        let _ = decode(&mut b, [&data[..]]);
        let mut r = HeadReader::new();
        let _ = r.push(&data);
    }

    #[test]
    fn byte_by_byte_equals_whole(body in proptest::collection::vec(any::<u8>(), 0..500)) {
        let wire = encode_chunked(&body, &[7, 1, 100]);
        let mut b = Body::new(&chunked_head());
        let got = decode(&mut b, wire.chunks(1)).unwrap();
        prop_assert_eq!(got, body);
    }
}
