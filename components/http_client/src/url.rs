//! `http://HOST[:PORT][/path]`: the only URLs the client takes.

use core::net::Ipv4Addr;

use crate::UrlError;

/// The longest URL taken, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Where the server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A dotted IPv4 address.
    Ip(Ipv4Addr),
    /// A name to look up.
    Name(&'a str),
}

/// A parsed URL; the strings borrow from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Url<'a> {
    /// The host as written (for the `Host` header).
    pub host_text: &'a str,
    /// The host.
    pub host: Host<'a>,
    /// The port (80 when absent).
    pub port: u16,
    /// The path and query, starting with `/` (`/` when absent); a fragment is dropped.
    pub path: &'a str,
}

impl<'a> Url<'a> {
    /// Parses `http://HOST[:PORT][/path]` (the scheme in any case).
    pub fn parse(text: &'a str) -> Result<Url<'a>, UrlError> {
        if text.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let rest = match text.get(..7) {
            Some(s) if s.eq_ignore_ascii_case("http://") => &text[7..],
            _ => return Err(UrlError::NotHttp),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let path = path.split('#').next().unwrap_or("");
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host_text, port) = split_port(authority)?;
        let host = parse_host(host_text)?;
        if path.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(UrlError::BadPath);
        }
        let path = match path {
            "" => "/",
            p if p.starts_with('?') => return Err(UrlError::BadPath),
            p => p,
        };
        Ok(Url {
            host_text,
            host,
            port,
            path,
        })
    }
}

fn split_port(authority: &str) -> Result<(&str, u16), UrlError> {
    match authority.rsplit_once(':') {
        None => Ok((authority, 80)),
        Some((host, port)) => {
            let ok =
                !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
            match port.parse::<u16>() {
                Ok(p) if ok && p != 0 => Ok((host, p)),
                _ => Err(UrlError::BadPort),
            }
        }
    }
}

fn parse_host(text: &str) -> Result<Host<'_>, UrlError> {
    if text.is_empty() {
        return Err(UrlError::NoHost);
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(ip));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let all_digits = text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if text.len() > 253 || all_digits || !text.split('.').all(label_ok) {
        return Err(UrlError::BadHost);
    }
    Ok(Host::Name(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls() {
        let u = Url::parse("http://10.0.2.2:8080/1m").unwrap();
        assert_eq!(u.host, Host::Ip(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!((u.port, u.path, u.host_text), (8080, "/1m", "10.0.2.2"));
        let u = Url::parse("HTTP://example.com").unwrap();
        assert_eq!(
            (u.host, u.port, u.path),
            (Host::Name("example.com"), 80, "/")
        );
        let u = Url::parse("http://a-b.example/x/y?q=1#frag").unwrap();
        assert_eq!(u.path, "/x/y?q=1");
        assert_eq!(Url::parse("http://h:1/").unwrap().port, 1);
        assert_eq!(Url::parse("http://h:65535/").unwrap().port, 65535);
    }

    #[test]
    fn bad_urls() {
        let e = |s: &str| Url::parse(s).unwrap_err();
        assert_eq!(e("https://h/"), UrlError::NotHttp);
        assert_eq!(e("ftp://h/"), UrlError::NotHttp);
        assert_eq!(e("h/x"), UrlError::NotHttp);
        assert_eq!(e("http://"), UrlError::NoHost);
        assert_eq!(e("http:///x"), UrlError::NoHost);
        assert_eq!(e("http://:80/x"), UrlError::NoHost);
        assert_eq!(e("http://h:0/"), UrlError::BadPort);
        assert_eq!(e("http://h:65536/"), UrlError::BadPort);
        assert_eq!(e("http://h:/"), UrlError::BadPort);
        assert_eq!(e("http://h:+80/"), UrlError::BadPort);
        assert_eq!(e("http://h:8x/"), UrlError::BadPort);
        assert_eq!(e("http://u@h/"), UrlError::UserInfo);
        assert_eq!(e("http://h_x/"), UrlError::BadHost);
        assert_eq!(e("http://-h/"), UrlError::BadHost);
        assert_eq!(e("http://a..b/"), UrlError::BadHost);
        assert_eq!(e("http://10.0.2.256/"), UrlError::BadHost);
        assert_eq!(e("http://h/a b"), UrlError::BadPath);
        assert_eq!(e("http://h/\u{e9}"), UrlError::BadPath);
        assert_eq!(e("http://h?q"), UrlError::BadPath);
        let long = alloc::format!("http://h/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(e(&long), UrlError::TooLong);
    }
}
