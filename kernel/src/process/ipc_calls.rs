//! The IPC system calls on the real kernel: the call table of `crate::ipc` under one lock,
//! plus blocking and waking through the scheduler.
//!
//! Blocking: a caller queues its call, wakes the provider if it waits in IPC_RECEIVE, and
//! blocks (`sched::block_current`: it leaves the run queue) until its call is finished —
//! replied, timed out (the kernel task checks deadlines in `wait_until` and at every
//! preemption: [`expire_calls`]) or failed because the provider ended ([`process_ended`], from
//! exit, fault and kill). A receiver blocks until a call for its endpoint is queued. Wakes
//! may be early (`wake_pending`), so every waiter loops re-checking the table.
//!
//! Messages are copied through kernel buffers: the request from the caller's address space
//! into the table when it calls, from the table into the provider's space when it receives;
//! the reply from the provider's space into the table when it replies, then into the caller's
//! space when the caller runs again. Each copy runs in the context of the task whose space it
//! touches, through the checked `AddressSpace::read`/`write`.
//!
//! Lock order: the IPC lock is never held while the scheduler's is taken (wakes happen after
//! it is released).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use abi::ipc::{Received, MAX_NAME};
use abi::Error;
use spin::Mutex;

use super::sched;
use crate::ipc::{Ipc, Registry};
use crate::time;

static IPC: Mutex<Option<Ipc>> = Mutex::new(None);

/// Sets up IPC over `registry` (the manifest's relations). Replaces an earlier state.
pub fn init_ipc(registry: Registry) {
    *IPC.lock() = Some(Ipc::new(registry));
}

/// Process `pid` runs manifest entry `name`: it gets that entry's `provides` and
/// `depends_on`. The supervisor calls it right after spawning, before the process first runs.
pub fn bind_entry(pid: super::Pid, name: &str) {
    if let Some(ipc) = IPC.lock().as_mut() {
        ipc.bindings.bind(pid, name);
    }
}

/// Process `pid` ended (exit, fault, kill): its calls as provider fail with `ProviderGone`
/// and their callers wake; its own calls are dropped.
pub(super) fn process_ended(pid: super::Pid) {
    let wake = match IPC.lock().as_mut() {
        Some(ipc) => ipc.process_ended(pid),
        None => return,
    };
    for caller in wake {
        sched::wake(caller);
    }
}

/// Fails calls past their deadline with `Timeout` and wakes their callers.
pub(super) fn expire_calls() {
    let now = time::uptime_us();
    let wake = {
        let mut guard = IPC.lock();
        let Some(ipc) = guard.as_mut() else { return };
        match ipc.calls.next_deadline() {
            Some(d) if d <= now => ipc.calls.expire(now),
            _ => return,
        }
    };
    for caller in wake {
        sched::wake(caller);
    }
}

/// The running task's pid.
fn me() -> Result<super::Pid, Error> {
    sched::with_current(|pid, _, _, _| pid).ok_or(Error::Unsupported)
}

/// Copies `len` bytes at user `ptr` of the running task into a new buffer.
pub(super) fn copy_in(ptr: u64, len: u64) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| Error::BadLength)?];
    sched::with_current(|_, _, _, space| space.read(ptr, &mut buf))
        .ok_or(Error::Unsupported)?
        .map_err(|_| Error::BadPointer)?;
    Ok(buf)
}

/// Copies `data` to user `ptr` of the running task.
pub(super) fn copy_out(ptr: u64, data: &[u8]) -> Result<(), Error> {
    sched::with_current(|_, _, _, space| space.write(ptr, data))
        .ok_or(Error::Unsupported)?
        .map_err(|_| Error::BadPointer)
}

/// Reads a name argument (already length-checked) as UTF-8; anything else names nothing.
pub(super) fn name_in(ptr: u64, len: u64) -> Result<String, Error> {
    let bytes = copy_in(ptr, len.min(MAX_NAME as u64))?;
    String::from_utf8(bytes).map_err(|_| Error::NotFound)
}

/// IPC_CALL.
pub(super) fn call(
    name: u64,
    name_len: u64,
    req: u64,
    req_len: u64,
    reply: u64,
    reply_cap: u64,
) -> Result<u64, Error> {
    let endpoint = name_in(name, name_len)?;
    let request = copy_in(req, req_len)?;
    let me = me()?;
    let (id, wake) = IPC.lock().as_mut().ok_or(Error::NotFound)?.call(
        me,
        &endpoint,
        request,
        time::uptime_us(),
    )?;
    if let Some(provider) = wake {
        sched::wake_next(provider);
    }
    let result = loop {
        let taken = IPC
            .lock()
            .as_mut()
            .and_then(|ipc| ipc.calls.take_result(me, id));
        match taken {
            Some(result) => break result,
            None => sched::block_current(),
        }
    };
    let data = result?;
    if data.len() as u64 > reply_cap {
        return Err(Error::BadLength);
    }
    copy_out(reply, &data)?;
    Ok(data.len() as u64)
}

/// IPC_RECEIVE (`wait`), or IPC_TRY_RECEIVE: `Timeout` at once when no call is queued.
pub(super) fn receive(
    name: u64,
    name_len: u64,
    (buf, cap): (u64, u64),
    received: u64,
    wait: bool,
) -> Result<u64, Error> {
    let endpoint = name_in(name, name_len).map_err(|_| Error::Denied)?;
    let me = me()?;
    // A call received earlier and not answered is abandoned now.
    let abandoned = {
        let mut guard = IPC.lock();
        let ipc = guard.as_mut().ok_or(Error::Denied)?;
        if !ipc.may_receive(me, &endpoint) {
            return Err(Error::Denied);
        }
        ipc.calls.abandon_received(me)
    };
    for caller in abandoned {
        sched::wake(caller);
    }
    let delivery = loop {
        let next = {
            let mut guard = IPC.lock();
            let ipc = guard.as_mut().ok_or(Error::Denied)?;
            let next = ipc.calls.next_request(me, &endpoint, cap)?;
            if next.is_none() {
                if !wait {
                    return Err(Error::Timeout);
                }
                ipc.calls.wait_for_call(me, &endpoint);
            }
            next
        };
        match next {
            Some(d) => break d,
            None => sched::block_current(),
        }
    };
    let mut record = Received::empty();
    record.call_id = delivery.id;
    let caller = delivery.caller_name.as_bytes();
    let n = caller.len().min(MAX_NAME);
    record.caller[..n].copy_from_slice(&caller[..n]);
    record.caller_len = n as u64;
    record.len = delivery.request.len() as u64;
    let written =
        copy_out(buf, &delivery.request).and_then(|()| copy_out(received, &record.to_bytes()));
    if let Err(e) = written {
        // The provider could not take it: leave it for its next receive.
        if let Some(ipc) = IPC.lock().as_mut() {
            ipc.calls.requeue(delivery.id);
        }
        return Err(e);
    }
    Ok(record.len)
}

/// IPC_REPLY.
pub(super) fn reply(id: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    let data = copy_in(ptr, len)?;
    let me = me()?;
    let caller = IPC
        .lock()
        .as_mut()
        .ok_or(Error::NotFound)?
        .calls
        .reply(me, id, data)?;
    sched::wake_next(caller);
    Ok(0)
}
