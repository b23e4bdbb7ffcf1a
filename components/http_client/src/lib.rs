//! PandaGen's HTTP/1.1 client logic, without any I/O, so that it runs on the host in tests and
//! in any component that has a byte stream (the console's `http` command over `network_api`):
//!
//! * [`Url`]: `http://HOST[:PORT][/path]`, HOST an IPv4 address or a name;
//! * [`write_request`]: a request head (`Connection: close`, optional `Content-Length`);
//! * [`HeadReader`]: the response's status line and headers, fed in pieces of any size, with
//!   limits on the head's size and its number of headers (interim `1xx` heads are skipped);
//! * [`Body`]: the body's framing (`Content-Length`, chunked, or until the connection closes)
//!   as a streaming state machine that hands out the body bytes of each piece fed to it
//!   without copying them.
//!
//! Nothing here panics on what a server sends: every malformed response is an [`HttpError`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod body;
mod error;
mod head;
mod request;
mod url;

pub use body::Body;
pub use error::{HttpError, UrlError};
pub use head::{Head, HeadReader, MAX_HEADERS, MAX_HEAD_BYTES};
pub use request::{write_request, Method};
pub use url::{Host, Url, MAX_URL_LEN};
