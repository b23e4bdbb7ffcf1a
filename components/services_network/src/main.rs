//! `services_network`: reads its device (`eth0`) with NET_INFO, waits for the link, asks the
//! gateway's MAC address with one ARP exchange (QEMU's user-mode network: we are 10.0.2.15,
//! the gateway 10.0.2.2) over NET_SEND/NET_RECV, logs what it found, reports ready and
//! exits 0. Any failure is one named ERROR line and still READY: the system comes up without
//! a network. A smoltcp-based stack will replace this (see docs/network.md).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use core::fmt;

use runtime::net::{self, MAX_FRAME};
use runtime::Error;
use services_network::arp::{self, Ipv4, Mac};

runtime::entry!(main);

const NAME: &str = "services_network";
/// The device this service drives (its manifest grants `network_device:eth0`).
const DEVICE: &str = "eth0";
/// QEMU user-mode networking's guest address and gateway.
const MY_IP: Ipv4 = Ipv4([10, 0, 2, 15]);
const GATEWAY: Ipv4 = Ipv4([10, 0, 2, 2]);
/// How long the link gets to come up, polled every [`LINK_POLL_MS`].
const LINK_WAIT_MS: u64 = 1000;
const LINK_POLL_MS: u64 = 20;
/// ARP requests sent, and how long each waits for its reply.
const ARP_TRIES: u32 = 3;
const ARP_WAIT_MS: u64 = 400;

/// Why the gateway was not found.
#[derive(Debug)]
enum NetFailure {
    /// NET_INFO failed (no such device, not granted, no working driver).
    Info(Error),
    /// The link stayed down.
    LinkDown { waited_ms: u64 },
    /// NET_SEND failed.
    Send(Error),
    /// NET_RECV failed other than by timing out.
    Recv(Error),
    /// No ARP reply to any request.
    NoReply { tries: u32, each_ms: u64 },
}

impl fmt::Display for NetFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Info(Error::Unsupported) => f.write_str(
                "NET_INFO: the NIC has no working driver (see the kernel's `network:` line)",
            ),
            Self::Info(e) => write!(f, "NET_INFO failed: {e}"),
            Self::LinkDown { waited_ms } => {
                write!(
                    f,
                    "link still down after {waited_ms} ms: check the cable or -netdev"
                )
            }
            Self::Send(e) => write!(f, "NET_SEND of the ARP request failed: {e}"),
            Self::Recv(e) => write!(f, "NET_RECV failed: {e}"),
            Self::NoReply { tries, each_ms } => write!(
                f,
                "no ARP reply from gateway {GATEWAY} to {tries} requests ({each_ms} ms each): \
                 is the NIC on a network (QEMU -netdev user)?"
            ),
        }
    }
}

fn main() -> i32 {
    runtime::announce(NAME);
    match find_gateway() {
        Ok((mac, us)) => runtime::info!(
            "network: {DEVICE}: gateway {GATEWAY} is at {mac} (ARP, {}.{} ms)",
            us / 1000,
            us % 1000 / 100
        ),
        Err(e) => runtime::error!("network: {DEVICE}: {e}; the system comes up without a network"),
    }
    match runtime::ready_or_log(NAME) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// NET_INFO, the link, then the ARP exchange: the gateway's MAC and the round trip in µs.
fn find_gateway() -> Result<(Mac, u64), NetFailure> {
    let info = wait_for_link()?;
    let mac = Mac(info.mac);
    runtime::info!("network: {DEVICE}: MAC {mac}, link up");
    let request = arp::request(mac, MY_IP, GATEWAY);
    for _ in 0..ARP_TRIES {
        let sent = runtime::uptime().unwrap_or(0);
        net::send(DEVICE, &request).map_err(NetFailure::Send)?;
        if let Some(gateway) = await_reply(mac, sent)? {
            let now = runtime::uptime().unwrap_or(sent);
            return Ok((gateway, now.saturating_sub(sent)));
        }
    }
    Err(NetFailure::NoReply {
        tries: ARP_TRIES,
        each_ms: ARP_WAIT_MS,
    })
}

/// NET_INFO until the link is up (at most [`LINK_WAIT_MS`]; NET_RECV's timeout is the sleep).
fn wait_for_link() -> Result<net::Info, NetFailure> {
    let mut waited = 0;
    let mut buf = [0u8; MAX_FRAME];
    loop {
        let info = net::info(DEVICE).map_err(NetFailure::Info)?;
        if info.link_up {
            return Ok(info);
        }
        if waited >= LINK_WAIT_MS {
            return Err(NetFailure::LinkDown { waited_ms: waited });
        }
        match net::recv(DEVICE, &mut buf, LINK_POLL_MS) {
            Ok(_) | Err(Error::Timeout) => {}
            Err(e) => return Err(NetFailure::Recv(e)),
        }
        waited += LINK_POLL_MS;
    }
}

/// Frames until the gateway's ARP reply, for up to [`ARP_WAIT_MS`] after `sent` (µs).
fn await_reply(mac: Mac, sent: u64) -> Result<Option<Mac>, NetFailure> {
    let mut buf = [0u8; MAX_FRAME];
    loop {
        let elapsed_ms = runtime::uptime().unwrap_or(sent).saturating_sub(sent) / 1000;
        let Some(left) = ARP_WAIT_MS.checked_sub(elapsed_ms).filter(|&l| l > 0) else {
            return Ok(None);
        };
        match net::recv(DEVICE, &mut buf, left) {
            Ok(n) => {
                if let Some(gateway) = arp::parse_reply(&buf[..n], mac, MY_IP, GATEWAY) {
                    return Ok(Some(gateway));
                }
            }
            Err(Error::Timeout) => return Ok(None),
            Err(e) => return Err(NetFailure::Recv(e)),
        }
    }
}
