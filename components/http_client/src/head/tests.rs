//! Host tests of the head reader.

use super::*;

fn whole(text: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    HeadReader::new().push(text)
}

#[test]
fn status_and_headers() {
    let text = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b c \r\n\r\nhello";
    let (head, n) = whole(text).unwrap().unwrap();
    assert_eq!(n, text.len() - 5);
    assert_eq!(head.status, 200);
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    assert_eq!(head.content_length, Some(5));
    assert_eq!(head.header("x-a"), Some("b c"));
    assert!(head.is_success() && !head.chunked);
}

#[test]
fn every_split_point_gives_the_same_head() {
    let text = b"HTTP/1.0 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let (want, n) = whole(text).unwrap().unwrap();
    assert_eq!(&text[n..], b"0\r\n\r\n");
    assert!(want.chunked && !want.is_success());
    for cut in 0..text.len() {
        let mut r = HeadReader::new();
        let got = match r.push(&text[..cut]).unwrap() {
            Some((h, used)) => (h, used),
            None => {
                let (h, used) = r.push(&text[cut..]).unwrap().unwrap();
                (h, cut + used)
            }
        };
        assert_eq!(got, (want.clone(), n), "cut at {cut}");
    }
}

#[test]
fn bare_line_feeds_and_no_reason() {
    let (head, _) = whole(b"HTTP/1.1 204\nA: 1\n\n").unwrap().unwrap();
    assert_eq!((head.status, head.headers.len()), (204, 1));
}

#[test]
fn interim_heads_are_skipped() {
    let text = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\nbody";
    let (head, n) = whole(text).unwrap().unwrap();
    assert_eq!((head.status, &text[n..]), (201, &b"body"[..]));
}

#[test]
fn bad_status_lines() {
    for bad in [
        &b"HTTP/2 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 x\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"\r\n\r\n",
    ] {
        assert_eq!(whole(bad), Err(HttpError::BadStatusLine), "{bad:?}");
    }
}

#[test]
fn bad_headers() {
    let h = |hdr: &str| whole(alloc::format!("HTTP/1.1 200 OK\r\n{hdr}\r\n\r\n").as_bytes());
    assert_eq!(h("no colon"), Err(HttpError::BadHeader));
    assert_eq!(h(": empty name"), Err(HttpError::BadHeader));
    assert_eq!(h("Sp ace: x"), Err(HttpError::BadHeader));
    assert_eq!(h("A: 1\r\n folded"), Err(HttpError::BadHeader));
    assert_eq!(h("Content-Length: -1"), Err(HttpError::BadContentLength));
    assert_eq!(h("Content-Length: 1x"), Err(HttpError::BadContentLength));
    assert_eq!(
        h("Content-Length: 99999999999999999999"),
        Err(HttpError::BadContentLength)
    );
    assert_eq!(
        h("Content-Length: 1\r\nContent-Length: 2"),
        Err(HttpError::BadContentLength)
    );
    assert_eq!(
        h("Content-Length: 3, 3").unwrap().unwrap().0.content_length,
        Some(3)
    );
    assert_eq!(
        h("Transfer-Encoding: gzip, chunked"),
        Err(HttpError::UnsupportedEncoding)
    );
}

#[test]
fn limits() {
    let many: alloc::string::String = (0..=MAX_HEADERS)
        .map(|i| alloc::format!("H{i}: v\r\n"))
        .collect();
    let text = alloc::format!("HTTP/1.1 200 OK\r\n{many}\r\n");
    assert_eq!(
        whole(text.as_bytes()),
        Err(HttpError::TooManyHeaders { limit: MAX_HEADERS })
    );
    let mut r = HeadReader::new();
    assert_eq!(r.push(b"HTTP/1.1 200 OK\r\nX: ").unwrap(), None);
    let long = alloc::vec![b'a'; MAX_HEAD_BYTES];
    assert_eq!(
        r.push(&long),
        Err(HttpError::HeadTooLarge {
            limit: MAX_HEAD_BYTES
        })
    );
    // A head that ends exactly at the limit is taken.
    let pad = MAX_HEAD_BYTES - b"HTTP/1.1 200 OK\r\nX: \r\n\r\n".len();
    let text = alloc::format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\nrest", "a".repeat(pad));
    let (_, n) = whole(text.as_bytes()).unwrap().unwrap();
    assert_eq!(n, MAX_HEAD_BYTES);
}
