//! The request head the client sends.

use alloc::vec::Vec;
use core::fmt::Write;

use crate::Url;

/// The methods the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `PUT` (with a body of `Content-Length` bytes).
    Put,
}

impl Method {
    /// The method's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
        }
    }
}

/// Appends the request head for `url` to `out`: the request line, `Host` (with the port when
/// it is not 80), `User-Agent`, `Accept`, `Connection: close`, and `Content-Length` when given;
/// then the blank line. The body, if any, follows it.
pub fn write_request(
    method: Method,
    url: &Url<'_>,
    content_length: Option<u64>,
    out: &mut Vec<u8>,
) {
    let mut s = alloc::string::String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "{} {} HTTP/1.1\r\nHost: {}",
        method.as_str(),
        url.path,
        url.host_text
    );
    if url.port != 80 {
        let _ = write!(s, ":{}", url.port);
    }
    s.push_str("\r\nUser-Agent: PandaGen\r\nAccept: */*\r\nConnection: close\r\n");
    if let Some(n) = content_length {
        let _ = write!(s, "Content-Length: {n}\r\n");
    }
    s.push_str("\r\n");
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_and_put_heads() {
        let mut out = Vec::new();
        write_request(
            Method::Get,
            &Url::parse("http://10.0.2.2:8080/1m").unwrap(),
            None,
            &mut out,
        );
        assert_eq!(
            out,
            b"GET /1m HTTP/1.1\r\nHost: 10.0.2.2:8080\r\nUser-Agent: PandaGen\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        out.clear();
        write_request(
            Method::Put,
            &Url::parse("http://h/up?x=1").unwrap(),
            Some(42),
            &mut out,
        );
        assert_eq!(
            out,
            b"PUT /up?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: PandaGen\r\nAccept: */*\r\nConnection: close\r\nContent-Length: 42\r\n\r\n"
        );
    }
}
