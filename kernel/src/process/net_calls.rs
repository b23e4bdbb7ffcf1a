//! The network frame calls (NET_INFO, NET_SEND, NET_RECV) on the real kernel: the state of
//! `process::net` under one lock, the caller's grant check, the user copies, and NET_RECV's
//! blocking through the scheduler.
//!
//! Blocking: NET_RECV takes a frame if one is there; otherwise it records the caller as a
//! waiter with its deadline and blocks (`sched::block_current`). The timer tick (at every
//! preemption) and the kernel task's idle loop call [`wake_due`], which — only while someone
//! waits — polls each waited-on NIC once and wakes the waiters whose NIC has a frame or whose
//! deadline passed; the woken caller loops and takes the frame itself. So the NIC is polled
//! at most once per tick (100 Hz) and only for a waiting reader: a frame reaches a blocked
//! reader within one tick. Wakes may be early, so the caller re-checks.
//!
//! Lock order: the network lock is never held while the scheduler's is taken (wakes happen
//! after it is released), as for IPC.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use abi::net::MAX_FRAME;
use abi::Error;
use drivers::net::NetDevice;
use spin::Mutex;

use super::ipc_calls::{copy_in, copy_out};
use super::net::{check_granted, Net};
use super::sched;
use crate::time;

static NET: Mutex<Option<Net>> = Mutex::new(None);

/// Hands the network devices to the process core: every name the machine has (what
/// `network_device:<name>` grants) and the devices that came up. Replaces an earlier set.
pub fn set_network(names: Vec<String>, devices: Vec<(String, Box<dyn NetDevice + Send>)>) {
    *NET.lock() = Some(Net::new(names, devices));
}

/// Wakes the NET_RECV waiters that are due (see the module documentation). Cheap when no one
/// waits: one lock and a length check.
pub(super) fn wake_due() {
    let wake = {
        let Some(mut guard) = NET.try_lock() else {
            return;
        };
        match guard.as_mut() {
            Some(net) if net.has_waiters() => net.due(time::uptime_us()),
            _ => return,
        }
    };
    for pid in wake {
        sched::wake(pid);
    }
}

/// The running task's pid and whether it was granted device `name`.
fn caller_for(name: &str) -> Result<super::Pid, Error> {
    sched::with_current(|pid, _, grants, _| {
        check_granted(&grants.network_devices, name).map(|()| pid)
    })
    .ok_or(Error::Unsupported)?
}

/// Reads the device name argument and checks the caller may use it; answers its port.
fn port_of(name: u64, name_len: u64) -> Result<(super::Pid, usize), Error> {
    let name = String::from_utf8(copy_in(name, name_len)?).map_err(|_| Error::Denied)?;
    let pid = caller_for(&name)?;
    let port = NET.lock().as_ref().ok_or(Error::NotFound)?.port(&name)?;
    Ok((pid, port))
}

/// NET_INFO.
pub(super) fn info(name: u64, name_len: u64, out: u64) -> Result<u64, Error> {
    let (_, port) = port_of(name, name_len)?;
    let info = NET.lock().as_mut().ok_or(Error::NotFound)?.info(port)?;
    copy_out(out, &info.to_bytes())?;
    Ok(0)
}

/// NET_SEND.
pub(super) fn send(name: u64, name_len: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    let (_, port) = port_of(name, name_len)?;
    let frame = copy_in(ptr, len)?;
    NET.lock()
        .as_mut()
        .ok_or(Error::NotFound)?
        .send(port, &frame)?;
    Ok(len)
}

/// NET_RECV: the next frame into `cap` bytes at `ptr`, blocking up to `timeout_ms`.
pub(super) fn recv(
    name: u64,
    name_len: u64,
    ptr: u64,
    cap: u64,
    timeout_ms: u64,
) -> Result<u64, Error> {
    let (pid, port) = port_of(name, name_len)?;
    let deadline = time::uptime_us().saturating_add(timeout_ms.saturating_mul(1000));
    let mut buf = vec![0u8; cap.min(MAX_FRAME as u64) as usize];
    loop {
        let taken = {
            let mut guard = NET.lock();
            let net = guard.as_mut().ok_or(Error::NotFound)?;
            let taken = net.take(port, &mut buf)?;
            if taken.is_none() && time::uptime_us() < deadline {
                net.wait(pid, port, deadline);
            }
            taken
        };
        if let Some(n) = taken {
            copy_out(ptr, &buf[..n])?;
            return Ok(n as u64);
        }
        if time::uptime_us() >= deadline {
            return Err(Error::Timeout);
        }
        sched::block_current();
        if let Some(net) = NET.lock().as_mut() {
            net.stop_waiting(pid);
        }
    }
}

/// Process `pid` ended: it no longer waits.
pub(super) fn process_ended(pid: super::Pid) {
    if let Some(net) = NET.lock().as_mut() {
        net.stop_waiting(pid);
    }
}
