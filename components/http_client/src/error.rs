//! The errors: a URL that is not one the client handles, and a response that does not parse.

use core::fmt;

/// Why a URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Not `http://` (`https` and other schemes are not supported).
    NotHttp,
    /// No host after `http://`.
    NoHost,
    /// A host that is neither an IPv4 address nor a valid name.
    BadHost,
    /// A port that is not a number in 1..=65535.
    BadPort,
    /// User information (`user@host`) is not supported.
    UserInfo,
    /// A path with a space, a control character or a non-ASCII byte.
    BadPath,
    /// Longer than [`crate::MAX_URL_LEN`] bytes.
    TooLong,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::NotHttp => "only http:// URLs are supported",
            UrlError::NoHost => "no host",
            UrlError::BadHost => "the host is neither an IPv4 address nor a name",
            UrlError::BadPort => "the port is not a number in 1..65535",
            UrlError::UserInfo => "user@host is not supported",
            UrlError::BadPath => "the path has a space, control or non-ASCII character",
            UrlError::TooLong => "too long",
        })
    }
}

/// Why a response could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The first line is not `HTTP/1.x NNN reason`.
    BadStatusLine,
    /// A header line is not `name: value` (or is a folded continuation line).
    BadHeader,
    /// The status line and headers are longer than this many bytes.
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// More headers than this.
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A `Content-Length` that is not a number, or two that differ.
    BadContentLength,
    /// A `Transfer-Encoding` other than `chunked` (or `identity`).
    UnsupportedEncoding,
    /// A malformed chunk size line, a chunk not followed by a line end, or an over-long
    /// chunk extension or trailer.
    BadChunk,
    /// The connection ended before the body did.
    Truncated {
        /// The length announced, if there was one.
        expected: Option<u64>,
        /// The body bytes received.
        got: u64,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadStatusLine => f.write_str("malformed status line"),
            HttpError::BadHeader => f.write_str("malformed header line"),
            HttpError::HeadTooLarge { limit } => {
                write!(f, "status line and headers over {limit} bytes")
            }
            HttpError::TooManyHeaders { limit } => write!(f, "more than {limit} headers"),
            HttpError::BadContentLength => f.write_str("malformed Content-Length"),
            HttpError::UnsupportedEncoding => {
                f.write_str("unsupported Transfer-Encoding (only chunked)")
            }
            HttpError::BadChunk => f.write_str("malformed chunked encoding"),
            HttpError::Truncated {
                expected: Some(n),
                got,
            } => write!(f, "connection closed after {got} of {n} body bytes"),
            HttpError::Truncated {
                expected: None,
                got,
            } => {
                write!(
                    f,
                    "connection closed inside the chunked body after {got} bytes"
                )
            }
        }
    }
}
