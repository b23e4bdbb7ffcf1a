//! ICMP echo ("ping"): N echo requests at an interval, each reply's round-trip time, and the
//! loss once the last request has had its timeout. Driven by [`Stack::poll`]; the stack itself
//! answers other hosts' echo requests.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use smoltcp::iface::SocketHandle;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress};

use crate::link::Frames;
use crate::sockets::{bad_or_wrong, ClientId, Entry, Handle};
use crate::{NetError, Stack};

/// The most echo requests one ping sends.
pub const MAX_PING_COUNT: u16 = 100;
/// The largest echo payload.
pub const MAX_PING_PAYLOAD: u16 = 1024;

/// What a ping does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingOptions {
    /// Echo requests to send (1..=[`MAX_PING_COUNT`]).
    pub count: u16,
    /// Milliseconds between requests.
    pub interval_ms: u32,
    /// How long to wait for each reply.
    pub timeout_ms: u32,
    /// Payload bytes per request (at most [`MAX_PING_PAYLOAD`]).
    pub payload_len: u16,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            count: 4,
            interval_ms: 1000,
            timeout_ms: 2000,
            payload_len: 56,
        }
    }
}

/// One echo reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingReply {
    /// The request's sequence number (0 for the first).
    pub seq: u16,
    /// Round-trip time in milliseconds.
    pub rtt_ms: u32,
}

/// A ping's progress and result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingReport {
    /// The host pinged.
    pub target: Ipv4Addr,
    /// Requests sent so far.
    pub sent: u16,
    /// Replies, in arrival order (one per sequence number at most).
    pub replies: Vec<PingReply>,
    /// Whether every request was sent and answered or timed out.
    pub done: bool,
}

impl PingReport {
    /// Replies received.
    pub fn received(&self) -> u16 {
        self.replies.len() as u16
    }

    /// Percentage of the requests sent that got no reply (0 when none was sent).
    pub fn loss_percent(&self) -> u8 {
        if self.sent == 0 {
            return 0;
        }
        let lost = u32::from(self.sent - self.received().min(self.sent));
        (lost * 100 / u32::from(self.sent)) as u8
    }
}

pub(crate) struct Ping {
    pub socket: SocketHandle,
    ident: u16,
    opts: PingOptions,
    sent_at: Vec<u64>,
    next_at: u64,
    report: PingReport,
}

/// Sends the requests that are due.
pub(crate) fn send_due<F: Frames>(st: &mut Stack<F>) {
    let now = st.now_ms;
    for client in st.clients.values_mut() {
        for entry in client.entries.values_mut() {
            let Entry::Ping(p) = entry else { continue };
            if p.report.sent >= p.opts.count || now < p.next_at {
                continue;
            }
            let seq = p.report.sent;
            let data = vec![0x50u8; usize::from(p.opts.payload_len)];
            let repr = Icmpv4Repr::EchoRequest {
                ident: p.ident,
                seq_no: seq,
                data: &data,
            };
            let sock = st.sockets.get_mut::<icmp::Socket>(p.socket);
            let target = IpAddress::Ipv4(p.report.target);
            if let Ok(buf) = sock.send(repr.buffer_len(), target) {
                repr.emit(
                    &mut Icmpv4Packet::new_unchecked(buf),
                    &ChecksumCapabilities::default(),
                );
            }
            // A request that could not be queued counts as sent and lost.
            p.sent_at.push(now);
            p.report.sent += 1;
            p.next_at = now + u64::from(p.opts.interval_ms);
        }
    }
}

/// Takes the replies that arrived and closes pings whose last request timed out.
pub(crate) fn receive<F: Frames>(st: &mut Stack<F>) {
    let now = st.now_ms;
    for client in st.clients.values_mut() {
        for entry in client.entries.values_mut() {
            let Entry::Ping(p) = entry else { continue };
            let sock = st.sockets.get_mut::<icmp::Socket>(p.socket);
            while let Ok((bytes, _from)) = sock.recv() {
                note_reply(p, bytes, now);
            }
            let last_due = p.sent_at.last().map(|t| t + u64::from(p.opts.timeout_ms));
            let all_sent = p.report.sent >= p.opts.count;
            let all_back = p.report.received() >= p.opts.count;
            if all_sent && (all_back || last_due.is_some_and(|t| now >= t)) {
                p.report.done = true;
            }
        }
    }
}

fn note_reply(p: &mut Ping, bytes: &[u8], now: u64) {
    let Ok(packet) = Icmpv4Packet::new_checked(bytes) else {
        return;
    };
    let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) =
        Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default())
    else {
        return;
    };
    let Some(&sent) = p.sent_at.get(usize::from(seq_no)) else {
        return;
    };
    let late = now > sent + u64::from(p.opts.timeout_ms);
    let dup = p.report.replies.iter().any(|r| r.seq == seq_no);
    if ident != p.ident || p.report.done || late || dup {
        return;
    }
    let rtt_ms = (now - sent).min(u64::from(u32::MAX)) as u32;
    p.report.replies.push(PingReply {
        seq: seq_no,
        rtt_ms,
    });
}

/// Whether any ping is still running.
pub(crate) fn any<F: Frames>(st: &Stack<F>) -> bool {
    st.clients
        .values()
        .flat_map(|c| c.entries.values())
        .any(|e| matches!(e, Entry::Ping(p) if !p.report.done))
}

impl<F: Frames> Stack<F> {
    /// Starts pinging `target`; follow it with [`Stack::ping_report`], close the handle when
    /// done. Takes one of the client's handles (no port).
    pub fn ping_start(
        &mut self,
        c: ClientId,
        target: Ipv4Addr,
        opts: PingOptions,
    ) -> Result<Handle, NetError> {
        if opts.count == 0 || opts.count > MAX_PING_COUNT {
            let max = u32::from(MAX_PING_COUNT);
            return Err(NetError::TooLarge { max });
        }
        if opts.payload_len > MAX_PING_PAYLOAD {
            let max = u32::from(MAX_PING_PAYLOAD);
            return Err(NetError::TooLarge { max });
        }
        if target.is_unspecified() || target.is_broadcast() || target.is_multicast() {
            return Err(NetError::BadAddress);
        }
        self.ready()?;
        let limits = self.limits;
        self.client(c)?.check_room(&limits)?;
        let n = usize::from(opts.count.min(8));
        let size = n * (usize::from(opts.payload_len) + 8);
        let buffer =
            || icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; n], vec![0u8; size]);
        let mut sock = icmp::Socket::new(buffer(), buffer());
        let ident = self.next_ident;
        self.next_ident = self.next_ident.wrapping_add(1);
        sock.bind(icmp::Endpoint::Ident(ident))
            .map_err(|_| NetError::BadAddress)?;
        let ping = Ping {
            socket: self.sockets.add(sock),
            ident,
            opts,
            sent_at: Vec::new(),
            next_at: self.now_ms,
            report: PingReport {
                target,
                sent: 0,
                replies: Vec::new(),
                done: false,
            },
        };
        self.client_mut(c)?.insert(&limits, Entry::Ping(ping))
    }

    /// A ping's progress (final once `done`).
    pub fn ping_report(&mut self, c: ClientId, h: Handle) -> Result<PingReport, NetError> {
        match self.client(c)?.entries.get(&h.0) {
            Some(Entry::Ping(p)) => Ok(p.report.clone()),
            other => Err(bad_or_wrong(other)),
        }
    }
}
