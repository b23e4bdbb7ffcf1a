//! What the stack notes from received frames, beyond what `smoltcp` tells it: the lease time
//! of a DHCP ACK for us (smoltcp keeps it private), DHCP OFFERs (the `Requesting` state), TCP
//! resets (to tell `ConnectionRefused`/`ConnectionReset` from a timeout) and DNS answers (to
//! tell `NameNotFound` from a timeout). Malformed frames are ignored here; smoltcp drops them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use smoltcp::wire::{
    DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    IpProtocol, Ipv4Packet, TcpPacket, UdpPacket,
};

/// The resets remembered (oldest forgotten first).
const MAX_RESETS: usize = 32;

/// A TCP reset seen arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reset {
    pub local_port: u16,
    pub remote: Ipv4Addr,
    pub remote_port: u16,
}

/// What [`frame`] noted so far.
#[derive(Debug, Default)]
pub(crate) struct Sniffed {
    /// DHCP OFFERs to our MAC.
    pub offers: u32,
    /// DHCP ACKs to our MAC.
    pub acks: u32,
    /// The lease time (seconds) of the last DHCP ACK to our MAC.
    pub lease_s: Option<u32>,
    /// DNS answers (UDP from port 53 of one of `dns_servers`).
    pub dns_answers: u32,
    /// The DNS servers in use.
    pub dns_servers: Vec<Ipv4Addr>,
    /// The last resets.
    pub resets: VecDeque<Reset>,
}

impl Sniffed {
    /// Whether a reset from `remote:remote_port` to `local_port` was seen.
    pub fn reset_seen(&self, local_port: u16, remote: Ipv4Addr, remote_port: u16) -> bool {
        let r = Reset {
            local_port,
            remote,
            remote_port,
        };
        self.resets.contains(&r)
    }
}

/// Notes what matters in one received frame.
pub(crate) fn frame(bytes: &[u8], mac: [u8; 6], out: &mut Sniffed) {
    let Ok(eth) = EthernetFrame::new_checked(bytes) else {
        return;
    };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return;
    };
    match ip.next_header() {
        IpProtocol::Udp => udp(ip.payload(), ip.src_addr(), mac, out),
        IpProtocol::Tcp => tcp(ip.payload(), ip.src_addr(), out),
        _ => {}
    }
}

fn udp(bytes: &[u8], src: Ipv4Addr, mac: [u8; 6], out: &mut Sniffed) {
    let Ok(udp) = UdpPacket::new_checked(bytes) else {
        return;
    };
    match (udp.src_port(), udp.dst_port()) {
        (53, _) if out.dns_servers.contains(&src) => {
            out.dns_answers = out.dns_answers.wrapping_add(1)
        }
        (67, 68) => dhcp(udp.payload(), mac, out),
        _ => {}
    }
}

fn dhcp(bytes: &[u8], mac: [u8; 6], out: &mut Sniffed) {
    let Ok(packet) = DhcpPacket::new_checked(bytes) else {
        return;
    };
    let Ok(repr) = DhcpRepr::parse(&packet) else {
        return;
    };
    if repr.client_hardware_address != EthernetAddress(mac) {
        return;
    }
    match repr.message_type {
        DhcpMessageType::Offer => out.offers = out.offers.wrapping_add(1),
        DhcpMessageType::Ack => {
            out.acks = out.acks.wrapping_add(1);
            out.lease_s = repr.lease_duration;
        }
        _ => {}
    }
}

fn tcp(bytes: &[u8], src: Ipv4Addr, out: &mut Sniffed) {
    let Ok(tcp) = TcpPacket::new_checked(bytes) else {
        return;
    };
    if !tcp.rst() {
        return;
    }
    if out.resets.len() == MAX_RESETS {
        out.resets.pop_front();
    }
    out.resets.push_back(Reset {
        local_port: tcp.dst_port(),
        remote: src,
        remote_port: tcp.src_port(),
    });
}
