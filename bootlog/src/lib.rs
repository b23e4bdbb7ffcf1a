//! The serial log's contract: one definition of each thing a test reads from the serial console.
//!
//! The kernel and the boot stub print with these definitions; `cargo xtask test` parses with
//! them. Changing a message here changes both sides at once; nothing is copied.
//!
//! - [`line`]: the kernel's log line (`[    0.015354] INFO  boot: message`), formatted and parsed.
//! - [`msg`]: the fixed messages (or message beginnings) that scenarios match as whole lines.
//! - [`state`]: the per-entry `state:` record printed at the end of the start sequence, and the
//!   manifest's `expected_state` that `test=boot` judges it against.
//! - [`harness`]: the `test=` command line and the isa-debug-exit device that ends a test run.
#![no_std]
#![forbid(unsafe_code)]

pub mod harness;
pub mod line;
pub mod msg;
pub mod state;
