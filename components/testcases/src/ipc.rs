//! IPC calls for the `t_echo_*` and `t_crash_*` test components, straight on the raw
//! syscalls (the ABI in `abi::Syscall::IpcCall` and friends), so the tests do not depend on
//! the runtime's wrappers.

use runtime::abi::ipc::Received;
use runtime::abi::{decode_return, Error, Syscall};
use runtime::raw;

/// IPC_CALL `endpoint` with `request`; the reply lands in `reply` (a reply longer than it is
/// `BadLength`).
/// Returns the reply length.
pub fn call(endpoint: &str, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: (1) the name and request are live, readable slices of the given lengths; (2)
    // `reply` is a live, writable slice of its length; the kernel writes at most that much.
    let ret = unsafe {
        raw::syscall6(
            Syscall::IpcCall.number(),
            endpoint.as_ptr() as u64,
            endpoint.len() as u64,
            request.as_ptr() as u64,
            request.len() as u64,
            reply.as_mut_ptr() as u64,
            reply.len() as u64,
        )
    };
    decode_return(ret).map(|n| n as usize)
}

/// IPC_RECEIVE on `endpoint` into `buf`; returns the request length and what the kernel said
/// about the call.
pub fn receive(endpoint: &str, buf: &mut [u8]) -> Result<(usize, Received), Error> {
    let mut received = Received::empty();
    // SAFETY: (1) the name is a live, readable slice; (2) `buf` is live and writable for its
    // length; (3) `received` is a live, writable `repr(C)` `Received` the kernel fills.
    let ret = unsafe {
        raw::syscall5(
            Syscall::IpcReceive.number(),
            endpoint.as_ptr() as u64,
            endpoint.len() as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            &raw mut received as u64,
        )
    };
    decode_return(ret).map(|n| (n as usize, received))
}

/// IPC_REPLY to call `id` with `reply`.
pub fn reply(id: u64, reply: &[u8]) -> Result<(), Error> {
    // SAFETY: `reply` is a live, readable slice of its length; the kernel only reads it.
    let ret = unsafe {
        raw::syscall3(
            Syscall::IpcReply.number(),
            id,
            reply.as_ptr() as u64,
            reply.len() as u64,
        )
    };
    decode_return(ret).map(|_| ())
}

/// A text-returning system call (SERVICES, MANIFEST) into `buf`; returns the full length.
pub fn text(call: Syscall, buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: `buf` is a live, writable slice; the kernel writes at most its length.
    let ret = unsafe { raw::syscall2(call.number(), buf.as_mut_ptr() as u64, buf.len() as u64) };
    decode_return(ret).map(|n| n as usize)
}

/// COMPONENT_CAPS of entry `name` into `buf`; returns the full length.
pub fn component_caps(name: &str, buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: the name is a live, readable slice; `buf` a live, writable one of its length.
    let ret = unsafe {
        raw::syscall4(
            Syscall::ComponentCaps.number(),
            name.as_ptr() as u64,
            name.len() as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    decode_return(ret).map(|n| n as usize)
}

/// A system call without arguments (UPTIME, BOOTCOUNT).
pub fn value(call: Syscall) -> Result<u64, Error> {
    // SAFETY: the calls this is used for take no arguments and touch no memory.
    decode_return(unsafe { raw::syscall0(call.number()) })
}

/// CONSOLE_WRITE `bytes`; returns how many were written.
pub fn console_write(bytes: &[u8]) -> Result<u64, Error> {
    // SAFETY: `bytes` is a live, readable slice of its length; the kernel only reads it.
    decode_return(unsafe {
        raw::syscall2(
            Syscall::ConsoleWrite.number(),
            bytes.as_ptr() as u64,
            bytes.len() as u64,
        )
    })
}
