//! The screen calls: FRAMEBUFFER_MAP (the caller takes the screen over from the kernel) and
//! SCREEN_READ (what it has to draw), over `crate::screen`.

use abi::screen::Framebuffer;
use abi::{Error, PAGE_SIZE};

use super::ipc_calls::copy_out;
use super::sched;
use crate::screen::{self, handover::HandoverError};

// The framebuffer's place cannot meet MEMORY_GROW's area nor the stack's guard.
const _: () = assert!(super::GROWTH_END <= abi::layout::FRAMEBUFFER_BASE);
const _: () = assert!(
    abi::layout::FRAMEBUFFER_BASE + abi::layout::FRAMEBUFFER_MAX
        <= super::USER_STACK_BOTTOM - super::USER_STACK_GUARD
);

/// FRAMEBUFFER_MAP: maps the framebuffer into the caller, hands it the screen and writes the
/// description to `ptr`.
pub(super) fn framebuffer_map(ptr: u64) -> Result<u64, Error> {
    let (mut fb, len) = screen::available()
        .ok_or(Error::NotFound)?
        .map_err(|HandoverError::Busy { .. }| Error::Busy)?;
    let (pid, name) = sched::with_current(|pid, name, _, space| {
        space
            .check_writable(ptr, Framebuffer::SIZE as u64)
            .map(|()| (pid, alloc::string::String::from(name)))
    })
    .ok_or(Error::Unsupported)?
    .map_err(|_| Error::BadPointer)?;
    let offset = fb.addr % PAGE_SIZE;
    let pages = (offset + len).div_ceil(PAGE_SIZE);
    if pages * PAGE_SIZE > abi::layout::FRAMEBUFFER_MAX {
        return Err(Error::Unsupported);
    }
    sched::map_borrowed_current(abi::layout::FRAMEBUFFER_BASE, fb.addr - offset, pages)?;
    screen::hand_over(pid, &name).map_err(|HandoverError::Busy { .. }| Error::Busy)?;
    fb.addr = abi::layout::FRAMEBUFFER_BASE + offset;
    copy_out(ptr, &fb.to_bytes())?;
    Ok(0)
}

/// SCREEN_READ: moves what the caller, the screen's owner, has to draw to `ptr` (at most `cap`
/// bytes, at most [`READ_MAX`]).
pub(super) fn screen_read(ptr: u64, cap: u64) -> Result<u64, Error> {
    let pid = sched::with_current(|pid, _, _, space| {
        space
            .check_writable(ptr, cap.min(READ_MAX as u64))
            .map(|()| pid)
    })
    .ok_or(Error::Unsupported)?
    .map_err(|_| Error::BadPointer)?;
    let mut buf = [0u8; READ_MAX];
    let n = cap.min(READ_MAX as u64) as usize;
    let got = screen::read(pid, &mut buf[..n]).ok_or(Error::Denied)?;
    copy_out(ptr, &buf[..got])?;
    Ok(got as u64)
}

/// The most one SCREEN_READ moves, in bytes.
const READ_MAX: usize = 4096;
