//! Network frames (NET_INFO, NET_SEND, NET_RECV): whole Ethernet frames to and from a network
//! device the component was granted (`network_device:<name>`, or `network_device` for the
//! first one). The kernel owns the NIC and its DMA; see `docs/network.md`.
//!
//! Every call names the device (`"eth0"`). Errors: [`Error::Denied`] for a device the
//! component was not granted, [`Error::Unsupported`] for one without a working driver (none
//! for its model, or it failed at boot), [`Error::BadLength`] for a frame size out of
//! [`MIN_FRAME`]..=[`MAX_FRAME`] (or a receive buffer too small for the next frame).

use abi::{Error, Syscall};

use crate::raw;
pub use abi::net::{Info, MAX_FRAME, MIN_FRAME};

/// The device's MAC address, link state and MTU (NET_INFO).
pub fn info(device: &str) -> Result<Info, Error> {
    let mut record = [0u8; Info::SIZE];
    // SAFETY: NET_INFO reads `name_len` bytes at the name pointer (the live `device`) and
    // writes `Info::SIZE` bytes at `rdx`, the exclusively borrowed `record`.
    let ret = unsafe {
        raw::syscall3(
            Syscall::NetInfo.number(),
            crate::input_ptr(device.as_bytes()),
            device.len() as u64,
            record.as_mut_ptr() as u64,
        )
    };
    abi::decode_return(ret)?;
    Ok(Info::from_bytes(&record))
}

/// Sends one Ethernet frame (destination, source, EtherType, payload; no FCS) on `device`
/// (NET_SEND). [`Error::NotFound`] when the link is down; [`Error::Timeout`] when the NIC
/// took no frame in time.
pub fn send(device: &str, frame: &[u8]) -> Result<(), Error> {
    // SAFETY: NET_SEND only reads the name and `frame.len()` bytes at the frame pointer, both
    // live borrowed slices.
    let ret = unsafe {
        raw::syscall4(
            Syscall::NetSend.number(),
            crate::input_ptr(device.as_bytes()),
            device.len() as u64,
            crate::input_ptr(frame),
            frame.len() as u64,
        )
    };
    abi::decode_return(ret).map(drop)
}

/// Receives the next frame of `device` into `buf` ([`MAX_FRAME`] bytes always fit) and
/// answers its length, waiting up to `timeout_ms` milliseconds (0: do not wait) while the
/// kernel runs others (NET_RECV). [`Error::Timeout`] when no frame arrived in time.
pub fn recv(device: &str, buf: &mut [u8], timeout_ms: u64) -> Result<usize, Error> {
    // SAFETY: NET_RECV reads the name (the live `device`) and writes at most `buf.len()`
    // bytes at the buffer pointer, the exclusively borrowed `buf`; any byte is a valid `u8`.
    let ret = unsafe {
        raw::syscall5(
            Syscall::NetRecv.number(),
            crate::input_ptr(device.as_bytes()),
            device.len() as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            timeout_ms,
        )
    };
    abi::decode_return(ret).map(|n| (n as usize).min(buf.len()))
}
