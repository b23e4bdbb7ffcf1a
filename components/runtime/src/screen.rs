//! The screen, for the process that draws it (`text_renderer_host`): FRAMEBUFFER_MAP takes
//! it over from the kernel, SCREEN_READ gives what there is to draw. Both need the
//! `framebuffer` capability ([`Error::Denied`] without it).

use abi::screen::Framebuffer;
use abi::{Error, Syscall};

use crate::raw;

/// The framebuffer, mapped into this component: its description and its bytes.
#[derive(Debug)]
pub struct Mapped {
    /// What FRAMEBUFFER_MAP said about it.
    pub info: Framebuffer,
    /// Its `pitch * height` bytes.
    pub bytes: &'static mut [u8],
}

/// Takes the screen over (FRAMEBUFFER_MAP): from now on the kernel draws nothing, and what
/// it would have drawn waits for [`read`]. Succeeds once per component: a second call is
/// [`Error::Busy`].
pub fn framebuffer_map() -> Result<Mapped, Error> {
    let mut record = [0u8; Framebuffer::SIZE];
    // SAFETY: FRAMEBUFFER_MAP writes `Framebuffer::SIZE` bytes at `rdi`, the exclusively
    // borrowed `record`; it maps new pages only in its own region of the address space,
    // where nothing of this program lives.
    let ret =
        unsafe { raw::syscall1(Syscall::FramebufferMap.number(), record.as_mut_ptr() as u64) };
    abi::decode_return(ret)?;
    let info = Framebuffer::from_bytes(&record);
    let len = info
        .pitch
        .checked_mul(info.height)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(Error::Unsupported)?;
    if info.addr < abi::layout::FRAMEBUFFER_BASE
        || info.addr + len as u64 > abi::layout::FRAMEBUFFER_BASE + abi::layout::FRAMEBUFFER_MAX
    {
        return Err(Error::Unsupported);
    }
    // SAFETY: (1) the kernel just mapped `pitch * height` bytes at `addr`, writable, for this
    // program, inside the framebuffer region (checked above), where nothing else of it lives;
    // (2) the call succeeds only once per program, so this is the only slice of them ever
    // made; (3) any byte value is a valid `u8`; the mapping stays until the program ends.
    let bytes = unsafe { core::slice::from_raw_parts_mut(info.addr as *mut u8, len) };
    Ok(Mapped { info, bytes })
}

/// Moves what there is to draw into `buf` (SCREEN_READ): bytes for a terminal. Does not
/// block: 0 means nothing waits (poll again after [`crate::yield_now`]).
pub fn read(buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: SCREEN_READ writes at most `cap` bytes at `ptr`, the exclusively borrowed
    // `buf`; any byte pattern is a valid `u8`.
    let ret = unsafe {
        raw::syscall2(
            Syscall::ScreenRead.number(),
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    abi::decode_return(ret).map(|n| (n as usize).min(buf.len()))
}
