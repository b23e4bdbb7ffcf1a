//! `services_logger`: the logging service. It provides `logger_api`: every request is one
//! log message (`[level byte][UTF-8 text]`, see `runtime::logger`), which it prints on the
//! console as one line in the kernel's own log shape,
//!
//! ```text
//! [   12.345678] INFO  cli_console: text
//! ```
//!
//! with the uptime at reception and the calling component's name, and answers with an empty
//! reply. A malformed request gets a non-empty reply (the reason) and is not printed; nothing
//! a caller sends can stop the service.
//!
//! The logger's own messages go to the kernel's LOG (it must not call itself).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use runtime::console;
use runtime::ipc::{self, MAX_MESSAGE};
use runtime::{logger, Error, StackWriter};

runtime::entry!(main);

const NAME: &str = "services_logger";

/// The console buffer: a line of up to this many bytes goes out in one CONSOLE_WRITE (longer
/// ones in several; nothing is cut).
const LINE_BUF: usize = 1024;

fn main() -> i32 {
    runtime::log_to_kernel_only();
    runtime::announce(NAME);
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    // On the heap: a message may be as long as MAX_MESSAGE, more than the stack holds.
    let mut request = alloc::vec![0u8; MAX_MESSAGE];
    // Errors in a row from IPC_RECEIVE itself (not from a caller's message): a few are
    // logged, a persistent one ends the service rather than spinning.
    let mut failures = 0u32;
    loop {
        match ipc::receive(logger::ENDPOINT, &mut request) {
            Ok((len, from)) => {
                failures = 0;
                serve(&request[..len], &from);
            }
            Err(e) => {
                failures += 1;
                runtime::error!("{NAME}: receive on {} failed: {e}", logger::ENDPOINT);
                if failures >= 16 {
                    return 1;
                }
                runtime::yield_now();
            }
        }
    }
}

/// Prints one message and answers its caller.
fn serve(msg: &[u8], from: &ipc::Received) {
    let caller = from.caller().unwrap_or("?");
    let result = match logger::decode(msg) {
        Ok((level, text)) => print_line(level, caller, text).map_err(|e| {
            let mut w = StackWriter::<64>::new();
            let _ = core::fmt::write(&mut w, format_args!("console write failed: {e}"));
            w
        }),
        Err(bad) => {
            let mut w = StackWriter::<64>::new();
            let _ = core::fmt::write(&mut w, format_args!("{bad}"));
            Err(w)
        }
    };
    let reply: &[u8] = match &result {
        Ok(()) => b"",
        Err(reason) => reason.as_str().as_bytes(),
    };
    if let Err(e) = ipc::reply(from.call_id, reply) {
        // The caller gave up (timed out or ended): nothing to do but note it.
        runtime::warn!("{NAME}: reply to {caller} failed: {e}");
    }
}

fn print_line(level: runtime::LogLevel, caller: &str, text: &str) -> Result<(), Error> {
    let now = runtime::uptime().unwrap_or(0);
    let mut out = console::Buffered::<LINE_BUF>::new();
    // Formatting into `Buffered` cannot fail; console errors come back from `flush`.
    let _ = logger::write_line(&mut out, now, level, caller, text);
    out.flush()
}
