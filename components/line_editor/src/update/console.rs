//! The console's side of `update FILE`: the stored delta read through `storage_api` (one
//! [`CHUNK`] per request, the last one kept), the slot calls through [`System`], the progress
//! (straight to the terminal, every 10 %) and the final line with the time taken.

use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt::{self, Write};

use abi::{Error, SlotAction, SlotId};
use pgdelta::IoError;
use protocol::storage::{OpenFlags, Request, Response};

use super::{apply, booted_in, read_running, ChunkReader, Done, SlotIo, UpdateError};
use crate::shell::{self, System, CHUNK, SLOTS_BUF};

/// The console's system calls and its storage buffer, shared by the delta reader and the
/// slot calls.
struct ConsoleIo<'s, 'b, S> {
    sys: &'s mut S,
    buf: &'b mut [u8],
}

impl<S: System> SlotIo for ConsoleIo<'_, '_, S> {
    fn slot_read(&mut self, slot: SlotId, block: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.sys.slot_read(slot, block, buf)
    }
    fn slot_write(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        self.sys.slot_write(block, data)
    }
    fn slot_flush(&mut self) -> Result<(), Error> {
        self.sys.slot_write(0, &[])
    }
    fn slot_set(&mut self, action: SlotAction, slot: SlotId) -> Result<(), Error> {
        let mut text = [0u8; SLOTS_BUF];
        self.sys.slot_set(action, slot, &mut text).map(drop)
    }
    fn booted(&mut self) -> Result<SlotId, Error> {
        let mut text = [0u8; SLOTS_BUF];
        let n = self.sys.slots(&mut text)?.min(SLOTS_BUF);
        booted_in(&text[..n]).ok_or(Error::Unsupported)
    }
}

/// One chunk of the stored delta from `at` on, read through `storage_api` into `chunk`.
fn fetch<S: System>(
    io: &RefCell<ConsoleIo<'_, '_, S>>,
    handle: u32,
    at: u64,
    chunk: &mut Vec<u8>,
) -> Result<(), IoError> {
    let req = Request::Read {
        handle,
        offset: at,
        len: CHUNK as u32,
    };
    let mut io = io.borrow_mut();
    let io = &mut *io;
    match shell::storage(io.sys, &req, io.buf) {
        Ok(Response::Data(data)) => {
            chunk.extend_from_slice(data);
            Ok(())
        }
        _ => Err(IoError),
    }
}

/// `update FILE`: applies the delta in the store's `file` into the slot not running; prints
/// the progress, then `update: slot B written (N parts, X bytes) in T ms; reboot to try it`, or one error line.
pub fn update<S: System>(
    sys: &mut S,
    buf: &mut [u8],
    file: &str,
    out: &mut impl Write,
) -> fmt::Result {
    let started = sys.uptime().unwrap_or(0);
    let mut outcome: Option<Result<Done, UpdateError>> = None;
    let read = shell::with_file(sys, buf, file, OpenFlags::READ, |sys, buf, handle, size| {
        let io = RefCell::new(ConsoleIo { sys, buf });
        outcome = Some(run(&io, handle, size));
        Ok(())
    });
    if shell::report(out, "update", &[file], read, false)?.is_none() {
        return Ok(());
    }
    match outcome {
        Some(Ok(done)) => {
            let ms = sys.uptime().unwrap_or(started).saturating_sub(started) / 1000;
            write!(out, "{}\r\n", super::done_line(&done, ms))
        }
        Some(Err(e)) => write!(out, "error: update {file}: {e}\r\n"),
        None => Ok(()),
    }
}

/// The sequence over the console's calls, with the progress every 10 %.
fn run<S: System>(
    io: &RefCell<ConsoleIo<'_, '_, S>>,
    handle: u32,
    size: u64,
) -> Result<Done, UpdateError> {
    let running = read_running(io)?;
    let reader = ChunkReader::new(size, |at, chunk: &mut Vec<u8>| fetch(io, handle, at, chunk));
    let mut shown = None;
    let mut progress = |percent: u32| {
        if shown != Some(percent / 10) {
            shown = Some(percent / 10);
            let line = alloc::format!("update: {percent}%\r\n");
            let _ = io.borrow_mut().sys.terminal_write(line.as_bytes());
        }
    };
    apply(io, reader, &running, &mut progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_booted_slot_is_read_from_the_slots_text() {
        let text = b"slot A: priority 15, 7 tries left, successful (booted now)\nslot B: priority 14, 7 tries left, successful\none-shot trial: none";
        assert_eq!(booted_in(text), Some(SlotId::A));
        let text = b"slot A: priority 14, 7 tries left, successful\nslot B: priority 15, 6 tries left, not yet successful (booted now)";
        assert_eq!(booted_in(text), Some(SlotId::B));
        assert_eq!(booted_in(b"one-shot trial: none"), None);
    }
}
