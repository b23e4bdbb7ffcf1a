//! Inter-component calls: [`call`] an endpoint another component provides, or serve one of
//! this component's own endpoints with [`receive`] and [`reply`]. See `docs/ipc.md`.
//!
//! Messages are at most [`MAX_MESSAGE`] bytes each way. Who may call whom comes from the
//! manifest: a component may call the endpoints of the entries in its `depends_on`, and
//! receive on the names in its `provides`.

pub use abi::ipc::{Received, CALL_TIMEOUT_MS, MAX_MESSAGE, MAX_NAME};

use crate::{input_ptr, raw};
use abi::{Error, Syscall};

/// Calls `endpoint` with `request` and waits for the reply, which is written to `reply`;
/// returns its length (IPC_CALL).
///
/// Errors: [`Error::NotFound`] (no running component provides `endpoint`), [`Error::Denied`]
/// (its provider is not in this component's `depends_on`), [`Error::Timeout`] (no reply within
/// [`CALL_TIMEOUT_MS`]), [`Error::ProviderGone`] (the provider ended before replying),
/// [`Error::BadLength`] (`request` longer than [`MAX_MESSAGE`], or the reply does not fit
/// `reply`: give it [`MAX_MESSAGE`] bytes).
pub fn call(endpoint: &str, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: IPC_CALL only reads `name len` bytes at the name pointer and `req len` bytes at
    // the request pointer, both live borrowed slices, and writes at most `reply cap` bytes
    // at the reply pointer, the exclusively borrowed `reply` (any byte pattern is a valid
    // `u8`). Nothing is retained after the call returns.
    let ret = unsafe {
        raw::syscall6(
            Syscall::IpcCall.number(),
            input_ptr(endpoint.as_bytes()),
            endpoint.len() as u64,
            input_ptr(request),
            request.len() as u64,
            reply.as_mut_ptr() as u64,
            reply.len() as u64,
        )
    };
    abi::decode_return(ret).map(|n| n as usize)
}

/// Waits for a call on `endpoint` (one of this component's `provides`, else
/// [`Error::Denied`]); the request is written to `buf` and its length and the caller are
/// returned (IPC_RECEIVE). Answer it with [`reply`] and the [`Received::call_id`].
///
/// A request longer than `buf` fails with [`Error::BadLength`] (and stays queued): give
/// [`MAX_MESSAGE`] bytes.
pub fn receive(endpoint: &str, buf: &mut [u8]) -> Result<(usize, Received), Error> {
    receive_with(Syscall::IpcReceive, endpoint, buf)
}

/// [`receive`] that never blocks (IPC_TRY_RECEIVE): [`Error::Timeout`] at once when no call
/// for `endpoint` is queued. For a provider that also waits for something else.
pub fn try_receive(endpoint: &str, buf: &mut [u8]) -> Result<(usize, Received), Error> {
    receive_with(Syscall::IpcTryReceive, endpoint, buf)
}

fn receive_with(call: Syscall, endpoint: &str, buf: &mut [u8]) -> Result<(usize, Received), Error> {
    let mut received = Received::empty();
    // SAFETY: IPC_RECEIVE and IPC_TRY_RECEIVE read `name len` bytes of the live `endpoint`,
    // write at most `cap` bytes into the exclusively borrowed `buf` (any bytes are valid `u8`s) and one
    // `Received` (repr(C), integer and byte-array fields only, so any bytes are valid) into
    // the exclusively borrowed, properly aligned local `received`.
    let ret = unsafe {
        raw::syscall5(
            call.number(),
            input_ptr(endpoint.as_bytes()),
            endpoint.len() as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            &mut received as *mut Received as u64,
        )
    };
    let len = abi::decode_return(ret)? as usize;
    Ok((len.min(buf.len()), received))
}

/// Answers the received call `call_id` with `msg` (at most [`MAX_MESSAGE`] bytes)
/// (IPC_REPLY). [`Error::NotFound`] if that call is no longer pending (e.g. it timed out).
pub fn reply(call_id: u64, msg: &[u8]) -> Result<(), Error> {
    // SAFETY: IPC_REPLY only reads `len` bytes at `ptr`, the live borrowed `msg` (or, when it
    // is empty, nothing of a static byte).
    let ret = unsafe {
        raw::syscall3(
            Syscall::IpcReply.number(),
            call_id,
            input_ptr(msg),
            msg.len() as u64,
        )
    };
    abi::decode_return(ret).map(drop)
}

/// How many failed [`receive`]s in a row [`serve_forever`] logs before it goes quiet.
pub const LOGGED_FAILURES: u32 = 8;

/// Serves `endpoint` forever: receives each call into `request`, lets `handle(caller,
/// request, reply)` write the answer into `reply` and return its length, and replies. A failed
/// receive is logged (the first [`LOGGED_FAILURES`] in a row) and retried after a yield; a
/// failed reply (the caller gave up) is logged. `name` is the component's, for the logs.
pub fn serve_forever(
    name: &str,
    endpoint: &str,
    request: &mut [u8],
    reply: &mut [u8],
    mut handle: impl FnMut(&str, &[u8], &mut [u8]) -> usize,
) -> ! {
    let mut failures = 0u32;
    loop {
        let (len, from) = match receive(endpoint, request) {
            Ok(r) => r,
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures <= LOGGED_FAILURES {
                    crate::error!("{name}: receive on {endpoint} failed: {e}");
                }
                crate::yield_now();
                continue;
            }
        };
        failures = 0;
        let caller = from.caller().unwrap_or("?");
        let n = handle(caller, &request[..len], reply).min(reply.len());
        if let Err(e) = self::reply(from.call_id, &reply[..n]) {
            crate::warn!("{name}: reply to {caller} failed: {e}");
        }
    }
}
