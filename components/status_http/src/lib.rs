//! `status_http`'s pure parts, host-tested: [`http`], the HTTP/1.1 request parser, router and
//! response builder with its per-connection state; [`status`], the pages it serves (the
//! state table as HTML and JSON); and [`upload`], `PUT /update`'s limits and answers.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod http;
pub mod status;
pub mod upload;
