//! `network_api`: the messages other components exchange with `services_network` over IPC.
//! Fixed layouts, little-endian, every length bounded; decoders borrow from the message and
//! never panic (a malformed message is a [`WireError`]). Byte layouts: `docs/network-api.md`.
//!
//! Nothing blocks: an operation that must wait for the network answers `Err(WouldBlock)`,
//! and the caller asks again later (IPC lets a provider hold no call while it waits).

use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::{
    Cidr, ClientId, DhcpState, Frames, Handle, LinkStats, NetError, PingOptions, PingReply,
    PingReport, PortRange, Stack, Status, TcpState, MAX_DNS_SERVERS, MAX_NAME, MAX_PING_COUNT,
};
pub use protocol::wire::WireError;
use protocol::wire::{Reader, Writer};

/// The IPC endpoint `services_network` serves.
pub const ENDPOINT: &str = "network_api";
/// The largest IPC message, request or reply (`abi::ipc::MAX_MESSAGE`).
pub const MAX_MESSAGE: usize = protocol::MAX_MESSAGE;
/// The most bytes one `Send`, `Recv`, `UdpSendTo` or `UdpRecvFrom` carries.
pub const MAX_DATA: usize = 60 * 1024;
/// The longest request or reply: a `Data` or `Send` of [`MAX_DATA`] plus its header.
pub const MAX_REPLY: usize = MAX_DATA + 16;

/// A `network_api` request. Handles are the caller's own (see [`crate::Handle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    missing_docs,
    reason = "the fields are the Stack methods' arguments, named alike"
)]
pub enum Request<'a> {
    /// 0x01: the interface's status.
    Status,
    /// 0x02: start a ping; replies `Handle`.
    PingStart {
        target: Ipv4Addr,
        count: u16,
        interval_ms: u32,
        timeout_ms: u32,
        payload_len: u16,
    },
    /// 0x03: a ping's progress; replies `PingReport`.
    PingReport { handle: u32 },
    /// 0x10: connect; replies `Handle` (then `TcpState` until established).
    TcpConnect { remote: SocketAddrV4 },
    /// 0x11: listen; replies `Handle`.
    TcpListen { port: u16 },
    /// 0x12: take a ready connection; replies `Accepted`.
    Accept { handle: u32 },
    /// 0x13: queue bytes on a stream; replies `Sent`.
    Send { handle: u32, data: &'a [u8] },
    /// 0x14: take up to `max` received bytes (≤ [`MAX_DATA`]); replies `Data` (empty: end).
    Recv { handle: u32, max: u32 },
    /// 0x15: close any handle; replies `Ok`.
    Close { handle: u32 },
    /// 0x16: a TCP handle's state; replies `TcpState`.
    TcpState { handle: u32 },
    /// 0x17: close a stream with a reset; replies `Ok`.
    Abort { handle: u32 },
    /// 0x20: bind UDP (`port` 0: any of the caller's range); replies `Handle`.
    UdpBind { port: u16 },
    /// 0x21: send a datagram; replies `Ok`.
    UdpSendTo {
        handle: u32,
        to: SocketAddrV4,
        data: &'a [u8],
    },
    /// 0x22: take a datagram (cut to `max`); replies `Datagram`.
    UdpRecvFrom { handle: u32, max: u32 },
    /// 0x30: start a look-up; replies `Handle`.
    DnsStart { name: &'a str },
    /// 0x31: a look-up's answer; replies `Resolved`.
    DnsResult { handle: u32 },
}

const OP_STATUS: u8 = 0x01;
const OP_PING_START: u8 = 0x02;
const OP_PING_REPORT: u8 = 0x03;
const OP_TCP_CONNECT: u8 = 0x10;
const OP_TCP_LISTEN: u8 = 0x11;
const OP_ACCEPT: u8 = 0x12;
const OP_SEND: u8 = 0x13;
const OP_RECV: u8 = 0x14;
const OP_CLOSE: u8 = 0x15;
const OP_TCP_STATE: u8 = 0x16;
const OP_ABORT: u8 = 0x17;
const OP_UDP_BIND: u8 = 0x20;
const OP_UDP_SEND_TO: u8 = 0x21;
const OP_UDP_RECV_FROM: u8 = 0x22;
const OP_DNS_START: u8 = 0x30;
const OP_DNS_RESULT: u8 = 0x31;

impl<'a> Request<'a> {
    /// Encodes into `buf`; returns the length. `TooLong` for data over [`MAX_DATA`] or a name
    /// over [`MAX_NAME`]; `Truncated` if `buf` is too small ([`MAX_REPLY`] always suffices).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        w.u8(self.op())?;
        match *self {
            Request::Status => {}
            Request::PingStart {
                target,
                count,
                interval_ms,
                timeout_ms,
                payload_len,
            } => {
                w.ip(target)?;
                w.u16(count)?;
                w.u32(interval_ms)?;
                w.u32(timeout_ms)?;
                w.u16(payload_len)?;
            }
            Request::TcpConnect { remote } => w.addr(remote)?,
            Request::TcpListen { port } | Request::UdpBind { port } => w.u16(port)?,
            Request::Send { handle, data } => {
                w.u32(handle)?;
                w.blob32(data, MAX_DATA)?;
            }
            Request::Recv { handle, max } | Request::UdpRecvFrom { handle, max } => {
                w.u32(handle)?;
                w.u32(max)?;
            }
            Request::UdpSendTo { handle, to, data } => {
                w.u32(handle)?;
                w.addr(to)?;
                w.blob32(data, MAX_DATA)?;
            }
            Request::DnsStart { name } => w.str(name, MAX_NAME)?,
            Request::PingReport { handle }
            | Request::Accept { handle }
            | Request::Close { handle }
            | Request::TcpState { handle }
            | Request::Abort { handle }
            | Request::DnsResult { handle } => w.u32(handle)?,
        }
        Ok(w.pos)
    }

    fn op(&self) -> u8 {
        match self {
            Request::Status => OP_STATUS,
            Request::PingStart { .. } => OP_PING_START,
            Request::PingReport { .. } => OP_PING_REPORT,
            Request::TcpConnect { .. } => OP_TCP_CONNECT,
            Request::TcpListen { .. } => OP_TCP_LISTEN,
            Request::Accept { .. } => OP_ACCEPT,
            Request::Send { .. } => OP_SEND,
            Request::Recv { .. } => OP_RECV,
            Request::Close { .. } => OP_CLOSE,
            Request::TcpState { .. } => OP_TCP_STATE,
            Request::Abort { .. } => OP_ABORT,
            Request::UdpBind { .. } => OP_UDP_BIND,
            Request::UdpSendTo { .. } => OP_UDP_SEND_TO,
            Request::UdpRecvFrom { .. } => OP_UDP_RECV_FROM,
            Request::DnsStart { .. } => OP_DNS_START,
            Request::DnsResult { .. } => OP_DNS_RESULT,
        }
    }

    /// Decodes a request; never panics.
    pub fn decode(msg: &'a [u8]) -> Result<Request<'a>, WireError> {
        let mut r = Reader { buf: msg };
        let req = match r.u8()? {
            OP_STATUS => Request::Status,
            OP_PING_START => Request::PingStart {
                target: r.ip()?,
                count: r.u16()?,
                interval_ms: r.u32()?,
                timeout_ms: r.u32()?,
                payload_len: r.u16()?,
            },
            OP_TCP_CONNECT => Request::TcpConnect { remote: r.addr()? },
            OP_TCP_LISTEN => Request::TcpListen { port: r.u16()? },
            OP_UDP_BIND => Request::UdpBind { port: r.u16()? },
            OP_SEND => Request::Send {
                handle: r.u32()?,
                data: r.blob32(MAX_DATA)?,
            },
            OP_RECV => Request::Recv {
                handle: r.u32()?,
                max: r.u32()?,
            },
            OP_UDP_RECV_FROM => Request::UdpRecvFrom {
                handle: r.u32()?,
                max: r.u32()?,
            },
            OP_UDP_SEND_TO => Request::UdpSendTo {
                handle: r.u32()?,
                to: r.addr()?,
                data: r.blob32(MAX_DATA)?,
            },
            OP_DNS_START => Request::DnsStart {
                name: r.str(MAX_NAME)?,
            },
            op => Request::decode_handle_op(op, r.u32()?)?,
        };
        r.end()?;
        Ok(req)
    }

    fn decode_handle_op(op: u8, handle: u32) -> Result<Request<'a>, WireError> {
        Ok(match op {
            OP_PING_REPORT => Request::PingReport { handle },
            OP_ACCEPT => Request::Accept { handle },
            OP_CLOSE => Request::Close { handle },
            OP_TCP_STATE => Request::TcpState { handle },
            OP_ABORT => Request::Abort { handle },
            OP_DNS_RESULT => Request::DnsResult { handle },
            op => return Err(WireError::UnknownTag(op)),
        })
    }
}

/// A `network_api` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    /// 0x80: done (Close, Abort, UdpSendTo).
    Ok,
    /// 0x81: a new handle.
    Handle(u32),
    /// 0x82: the interface's status.
    Status(Status),
    /// 0x83: a ping's progress.
    PingReport(PingReport),
    /// 0x84: an accepted connection and its peer.
    Accepted {
        /// The new stream's handle.
        handle: u32,
        /// The peer.
        peer: SocketAddrV4,
    },
    /// 0x85: bytes taken by `Send`.
    Sent(u32),
    /// 0x86: received bytes (empty: end of stream).
    Data(&'a [u8]),
    /// 0x87: a datagram and its sender.
    Datagram {
        /// The sender.
        from: SocketAddrV4,
        /// The payload (cut to the `max` asked).
        data: &'a [u8],
    },
    /// 0x88: a look-up's answer.
    Resolved(Ipv4Addr),
    /// 0x89: a TCP handle's state.
    TcpState(TcpState),
    /// 0xFF: the operation failed.
    Err(NetError),
}

const R_OK: u8 = 0x80;
const R_HANDLE: u8 = 0x81;
const R_STATUS: u8 = 0x82;
const R_PING: u8 = 0x83;
const R_ACCEPTED: u8 = 0x84;
const R_SENT: u8 = 0x85;
const R_DATA: u8 = 0x86;
const R_DATAGRAM: u8 = 0x87;
const R_RESOLVED: u8 = 0x88;
const R_TCP_STATE: u8 = 0x89;
const R_ERR: u8 = 0xFF;

impl<'a> Response<'a> {
    /// Encodes into `buf`; returns the length (`Truncated` if `buf` is too small: [`MAX_REPLY`]
    /// always suffices).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        match self {
            Response::Ok => w.u8(R_OK)?,
            Response::Handle(h) => tagged_u32(&mut w, R_HANDLE, *h)?,
            Response::Status(s) => encode_status(&mut w, s)?,
            Response::PingReport(p) => encode_ping(&mut w, p)?,
            Response::Accepted { handle, peer } => {
                tagged_u32(&mut w, R_ACCEPTED, *handle)?;
                w.addr(*peer)?;
            }
            Response::Sent(n) => tagged_u32(&mut w, R_SENT, *n)?,
            Response::Data(d) => {
                w.u8(R_DATA)?;
                w.blob32(d, MAX_DATA)?;
            }
            Response::Datagram { from, data } => {
                w.u8(R_DATAGRAM)?;
                w.addr(*from)?;
                w.blob32(data, MAX_DATA)?;
            }
            Response::Resolved(a) => {
                w.u8(R_RESOLVED)?;
                w.ip(*a)?;
            }
            Response::TcpState(s) => {
                w.u8(R_TCP_STATE)?;
                w.u8(tcp_state_code(*s))?;
            }
            Response::Err(e) => encode_error(&mut w, e)?,
        }
        Ok(w.pos)
    }

    /// Decodes a reply; never panics.
    pub fn decode(msg: &'a [u8]) -> Result<Response<'a>, WireError> {
        let mut r = Reader { buf: msg };
        let resp = match r.u8()? {
            R_OK => Response::Ok,
            R_HANDLE => Response::Handle(r.u32()?),
            R_STATUS => Response::Status(decode_status(&mut r)?),
            R_PING => Response::PingReport(decode_ping(&mut r)?),
            R_ACCEPTED => Response::Accepted {
                handle: r.u32()?,
                peer: r.addr()?,
            },
            R_SENT => Response::Sent(r.u32()?),
            R_DATA => Response::Data(r.blob32(MAX_DATA)?),
            R_DATAGRAM => Response::Datagram {
                from: r.addr()?,
                data: r.blob32(MAX_DATA)?,
            },
            R_RESOLVED => Response::Resolved(r.ip()?),
            R_TCP_STATE => Response::TcpState(tcp_state_from(r.u8()?)?),
            R_ERR => Response::Err(decode_error(&mut r)?),
            tag => return Err(WireError::UnknownTag(tag)),
        };
        r.end()?;
        Ok(resp)
    }
}

fn tagged_u32(w: &mut Writer<'_>, tag: u8, v: u32) -> Result<(), WireError> {
    w.u8(tag)?;
    w.u32(v)
}

fn tcp_state_code(s: TcpState) -> u8 {
    match s {
        TcpState::Listening => 0,
        TcpState::Connecting => 1,
        TcpState::Established => 2,
        TcpState::PeerClosed => 3,
    }
}

fn tcp_state_from(code: u8) -> Result<TcpState, WireError> {
    Ok(match code {
        0 => TcpState::Listening,
        1 => TcpState::Connecting,
        2 => TcpState::Established,
        3 => TcpState::PeerClosed,
        _ => return Err(WireError::BadValue),
    })
}

fn dhcp_code(s: DhcpState) -> u8 {
    match s {
        DhcpState::Off => 0,
        DhcpState::Discovering => 1,
        DhcpState::Requesting => 2,
        DhcpState::Bound => 3,
        DhcpState::TimedOut => 4,
    }
}

fn dhcp_from(code: u8) -> Result<DhcpState, WireError> {
    Ok(match code {
        0 => DhcpState::Off,
        1 => DhcpState::Discovering,
        2 => DhcpState::Requesting,
        3 => DhcpState::Bound,
        4 => DhcpState::TimedOut,
        _ => return Err(WireError::BadValue),
    })
}

const HAS_IPV4: u8 = 1;
const HAS_GATEWAY: u8 = 2;
const HAS_LEASE: u8 = 4;

fn encode_status(w: &mut Writer<'_>, s: &Status) -> Result<(), WireError> {
    if s.dns.len() > MAX_DNS_SERVERS {
        return Err(WireError::TooLong);
    }
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    let flags = flag(s.ipv4.is_some(), HAS_IPV4)
        | flag(s.gateway.is_some(), HAS_GATEWAY)
        | flag(s.lease_remaining_s.is_some(), HAS_LEASE);
    w.u8(R_STATUS)?;
    w.bytes(&s.mac)?;
    w.u8(u8::from(s.link))?;
    w.u8(flags)?;
    let ipv4 = s.ipv4.unwrap_or(Cidr {
        address: Ipv4Addr::UNSPECIFIED,
        prefix_len: 0,
    });
    w.ip(ipv4.address)?;
    w.u8(ipv4.prefix_len)?;
    w.ip(s.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED))?;
    w.u32(s.lease_remaining_s.unwrap_or(0))?;
    w.u8(dhcp_code(s.dhcp_state))?;
    w.u8(s.dns.len() as u8)?;
    for a in &s.dns {
        w.ip(*a)?;
    }
    w.u64(s.stats.rx_frames)?;
    w.u64(s.stats.tx_frames)?;
    w.u64(s.stats.errors)
}

fn decode_status(r: &mut Reader<'_>) -> Result<Status, WireError> {
    let mac = r.array::<6>()?;
    let link = r.bool()?;
    let flags = r.u8()?;
    if flags & !(HAS_IPV4 | HAS_GATEWAY | HAS_LEASE) != 0 {
        return Err(WireError::BadValue);
    }
    let (address, prefix_len) = (r.ip()?, r.u8()?);
    if prefix_len > 32 {
        return Err(WireError::BadValue);
    }
    let (gateway, lease, dhcp_state) = (r.ip()?, r.u32()?, dhcp_from(r.u8()?)?);
    let n = usize::from(r.u8()?);
    if n > MAX_DNS_SERVERS {
        return Err(WireError::TooLong);
    }
    let mut dns = Vec::with_capacity(n);
    for _ in 0..n {
        dns.push(r.ip()?);
    }
    let stats = LinkStats {
        rx_frames: r.u64()?,
        tx_frames: r.u64()?,
        errors: r.u64()?,
    };
    Ok(Status {
        mac,
        link,
        ipv4: (flags & HAS_IPV4 != 0).then_some(Cidr {
            address,
            prefix_len,
        }),
        gateway: (flags & HAS_GATEWAY != 0).then_some(gateway),
        dns,
        lease_remaining_s: (flags & HAS_LEASE != 0).then_some(lease),
        dhcp_state,
        stats,
    })
}

fn encode_ping(w: &mut Writer<'_>, p: &PingReport) -> Result<(), WireError> {
    if p.replies.len() > usize::from(MAX_PING_COUNT) {
        return Err(WireError::TooLong);
    }
    w.u8(R_PING)?;
    w.ip(p.target)?;
    w.u16(p.sent)?;
    w.u8(u8::from(p.done))?;
    w.u16(p.replies.len() as u16)?;
    for reply in &p.replies {
        w.u16(reply.seq)?;
        w.u32(reply.rtt_ms)?;
    }
    Ok(())
}

fn decode_ping(r: &mut Reader<'_>) -> Result<PingReport, WireError> {
    let (target, sent, done) = (r.ip()?, r.u16()?, r.bool()?);
    let n = r.u16()?;
    if n > MAX_PING_COUNT {
        return Err(WireError::TooLong);
    }
    let mut replies = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        replies.push(PingReply {
            seq: r.u16()?,
            rtt_ms: r.u32()?,
        });
    }
    Ok(PingReport {
        target,
        sent,
        replies,
        done,
    })
}

/// Error codes (`docs/network-api.md`); the fields that follow depend on the code.
fn error_code(e: &NetError) -> u8 {
    use NetError::*;
    match e {
        DhcpTimeout { .. } => 1,
        NoAddress => 2,
        LinkDown => 3,
        ConnectionRefused => 4,
        ConnectionReset => 5,
        TimedOut => 6,
        WouldBlock => 7,
        NotConnected => 8,
        BadHandle => 9,
        WrongKind => 10,
        TooManySockets { .. } => 11,
        PortOutsideRange { .. } => 12,
        PortInUse { .. } => 13,
        NoFreePort { .. } => 14,
        BadAddress => 15,
        TooLarge { .. } => 16,
        UnknownClient => 17,
        NameNotFound => 18,
        NoDnsServer => 19,
        BadName => 20,
        BadRequest => 21,
        NoPortRange => 22,
    }
}

fn encode_error(w: &mut Writer<'_>, e: &NetError) -> Result<(), WireError> {
    w.u8(R_ERR)?;
    w.u8(error_code(e))?;
    match *e {
        NetError::DhcpTimeout { waited_ms } => w.u64(waited_ms),
        NetError::TooManySockets { limit } => w.u16(limit),
        NetError::PortOutsideRange { port, range } => {
            w.u16(port)?;
            w.u16(range.first)?;
            w.u16(range.last)
        }
        NetError::PortInUse { port } => w.u16(port),
        NetError::NoFreePort { range } => {
            w.u16(range.first)?;
            w.u16(range.last)
        }
        NetError::TooLarge { max } => w.u32(max),
        _ => Ok(()),
    }
}

fn range(r: &mut Reader<'_>) -> Result<PortRange, WireError> {
    PortRange::new(r.u16()?, r.u16()?).ok_or(WireError::BadValue)
}

fn decode_error(r: &mut Reader<'_>) -> Result<NetError, WireError> {
    use NetError::*;
    Ok(match r.u8()? {
        1 => DhcpTimeout {
            waited_ms: r.u64()?,
        },
        11 => TooManySockets { limit: r.u16()? },
        12 => PortOutsideRange {
            port: r.u16()?,
            range: range(r)?,
        },
        13 => PortInUse { port: r.u16()? },
        14 => NoFreePort { range: range(r)? },
        16 => TooLarge { max: r.u32()? },
        code => plain_error(code)?,
    })
}

fn plain_error(code: u8) -> Result<NetError, WireError> {
    use NetError::*;
    const PLAIN: [NetError; 16] = [
        NoAddress,
        LinkDown,
        ConnectionRefused,
        ConnectionReset,
        TimedOut,
        WouldBlock,
        NotConnected,
        BadHandle,
        WrongKind,
        BadAddress,
        UnknownClient,
        NameNotFound,
        NoDnsServer,
        BadName,
        BadRequest,
        NoPortRange,
    ];
    PLAIN
        .into_iter()
        .find(|e| error_code(e) == code)
        .ok_or(WireError::UnknownTag(code))
}

/// Serves one request of `client` on `stack`. Received bytes (`Recv`, `UdpRecvFrom`) go
/// into `scratch` (give [`MAX_DATA`] bytes) and the reply borrows them.
pub fn serve<'s, F: Frames>(
    stack: &mut Stack<F>,
    client: ClientId,
    req: &Request<'_>,
    scratch: &'s mut [u8],
) -> Response<'s> {
    let handle = |h: u32| Handle(h);
    let result = match *req {
        Request::Status => return Response::Status(stack.status()),
        Request::PingStart {
            target,
            count,
            interval_ms,
            timeout_ms,
            payload_len,
        } => {
            let opts = PingOptions {
                count,
                interval_ms,
                timeout_ms,
                payload_len,
            };
            stack
                .ping_start(client, target, opts)
                .map(|h| Response::Handle(h.0))
        }
        Request::PingReport { handle: h } => stack
            .ping_report(client, handle(h))
            .map(Response::PingReport),
        Request::TcpConnect { remote } => stack
            .tcp_connect(client, remote)
            .map(|h| Response::Handle(h.0)),
        Request::TcpListen { port } => stack
            .tcp_listen(client, port)
            .map(|h| Response::Handle(h.0)),
        Request::Accept { handle: h } => stack
            .accept(client, handle(h))
            .map(|(h, peer)| Response::Accepted { handle: h.0, peer }),
        Request::Send { handle: h, data } => stack
            .send(client, handle(h), data)
            .map(|n| Response::Sent(n as u32)),
        Request::Recv { handle: h, max } => {
            let buf = cut(scratch, max);
            return match stack.recv(client, handle(h), buf) {
                Ok(n) => Response::Data(&buf[..n]),
                Err(e) => Response::Err(e),
            };
        }
        Request::Close { handle: h } => stack.close(client, handle(h)).map(|()| Response::Ok),
        Request::TcpState { handle: h } => {
            stack.tcp_state(client, handle(h)).map(Response::TcpState)
        }
        Request::Abort { handle: h } => stack.abort(client, handle(h)).map(|()| Response::Ok),
        Request::UdpBind { port } => stack.udp_bind(client, port).map(|h| Response::Handle(h.0)),
        Request::UdpSendTo {
            handle: h,
            to,
            data,
        } => stack
            .udp_send_to(client, handle(h), to, data)
            .map(|()| Response::Ok),
        Request::UdpRecvFrom { handle: h, max } => {
            let buf = cut(scratch, max);
            return match stack.udp_recv_from(client, handle(h), buf) {
                Ok((n, from)) => Response::Datagram {
                    from,
                    data: &buf[..n],
                },
                Err(e) => Response::Err(e),
            };
        }
        Request::DnsStart { name } => stack.dns_start(client, name).map(|h| Response::Handle(h.0)),
        Request::DnsResult { handle: h } => {
            stack.dns_result(client, handle(h)).map(Response::Resolved)
        }
    };
    result.unwrap_or_else(Response::Err)
}

fn cut(scratch: &mut [u8], max: u32) -> &mut [u8] {
    let n = scratch.len().min(MAX_DATA).min(max as usize);
    &mut scratch[..n]
}

/// Decodes `msg`, serves it ([`serve`]) and encodes the reply into `reply` (give
/// [`MAX_REPLY`] bytes); returns the reply's length. A request that does not decode is
/// answered `Err(BadRequest)`.
pub fn serve_message<F: Frames>(
    stack: &mut Stack<F>,
    client: ClientId,
    msg: &[u8],
    scratch: &mut [u8],
    reply: &mut [u8],
) -> usize {
    let resp = match Request::decode(msg) {
        Ok(req) => serve(stack, client, &req, scratch),
        Err(_) => Response::Err(NetError::BadRequest),
    };
    resp.encode(reply)
        .or_else(|_| Response::Err(NetError::BadRequest).encode(reply))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
