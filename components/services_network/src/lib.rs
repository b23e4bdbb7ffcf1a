//! `services_network`'s pure parts, host-tested: [`lines`], the log lines it writes for the
//! stack's events.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod lines;
