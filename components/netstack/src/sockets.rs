//! The sockets of the stack's clients (the components calling `network_api`): a handle table
//! per client, TCP streams and listeners, UDP sockets, and the client's port range, which every
//! bind, listen and ephemeral port stays inside.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp, Socket};
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::config::{Limits, PortRange};
use crate::dns::Query;
use crate::link::Frames;
use crate::ping::Ping;
use crate::sniff::Sniffed;
use crate::{NetError, Stack};

/// The largest UDP payload (no IP fragmentation: 1500 - 20 - 8).
pub const MAX_DATAGRAM: usize = 1472;

/// How long a closed stream may take to finish its FIN exchange before it is dropped.
const LINGER_MS: u64 = 30_000;

/// A client of the stack (one `network_api` caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

/// A socket of one client. Handles are small numbers, unique per client; another client's
/// handle is `BadHandle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub u32);

/// Where a TCP handle is. A failed stream (refused, reset, timed out) answers that error
/// instead, until it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// A listener.
    Listening,
    /// SYN sent, no answer yet.
    Connecting,
    /// Connected.
    Established,
    /// The peer closed its side: `recv` drains what is left, then says end of stream.
    PeerClosed,
}

pub(crate) struct Stream {
    socket: SocketHandle,
    local_port: u16,
    remote: SocketAddrV4,
    started_ms: u64,
    established: bool,
    failed: Option<NetError>,
}

pub(crate) struct Listener {
    port: u16,
    backlog: Vec<SocketHandle>,
}

pub(crate) enum Entry {
    Stream(Stream),
    Listener(Listener),
    Udp(SocketHandle),
    Dns(Query),
    Ping(Ping),
}

pub(crate) struct Client {
    pub range: Option<PortRange>,
    pub entries: BTreeMap<u32, Entry>,
    next_handle: u32,
    next_port: u16,
}

impl Client {
    /// A new handle for `entry`, or `TooManySockets`.
    pub fn insert(&mut self, limits: &Limits, entry: Entry) -> Result<Handle, NetError> {
        self.check_room(limits)?;
        while self.next_handle == 0 || self.entries.contains_key(&self.next_handle) {
            self.next_handle = self.next_handle.wrapping_add(1);
        }
        let h = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1);
        self.entries.insert(h, entry);
        Ok(Handle(h))
    }

    pub fn check_room(&self, limits: &Limits) -> Result<(), NetError> {
        if self.entries.len() >= usize::from(limits.max_sockets_per_client) {
            return Err(NetError::TooManySockets {
                limit: limits.max_sockets_per_client,
            });
        }
        Ok(())
    }

    pub fn check_port(&self, port: u16) -> Result<(), NetError> {
        let range = self.range.ok_or(NetError::NoPortRange)?;
        if !range.contains(port) {
            return Err(NetError::PortOutsideRange { port, range });
        }
        Ok(())
    }

    /// A port of the range `used` says is free, starting after the last one picked.
    fn pick_port(&mut self, used: impl Fn(u16) -> bool) -> Result<u16, NetError> {
        let range = self.range.ok_or(NetError::NoPortRange)?;
        let (first, len) = (u32::from(range.first), range.len());
        let start = u32::from(self.next_port).saturating_sub(first) % len;
        for i in 0..len {
            let port = (first + (start + i) % len) as u16;
            if !used(port) {
                self.next_port = port.wrapping_add(1);
                return Ok(port);
            }
        }
        Err(NetError::NoFreePort { range })
    }
}

pub(crate) fn tcp_port_used(sockets: &SocketSet<'_>, port: u16) -> bool {
    sockets.iter().any(|(_, s)| match s {
        Socket::Tcp(t) => {
            t.state() != tcp::State::Closed
                && (t.listen_endpoint().port == port
                    || t.local_endpoint().is_some_and(|e| e.port == port))
        }
        _ => false,
    })
}

fn udp_port_used(sockets: &SocketSet<'_>, port: u16) -> bool {
    sockets.iter().any(|(_, s)| match s {
        Socket::Udp(u) => u.is_open() && u.endpoint().port == port,
        _ => false,
    })
}

fn endpoint(e: IpEndpoint) -> SocketAddrV4 {
    let IpAddress::Ipv4(a) = e.addr;
    SocketAddrV4::new(a, e.port)
}

fn usable(addr: SocketAddrV4) -> Result<(), NetError> {
    let ip = *addr.ip();
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || addr.port() == 0 {
        return Err(NetError::BadAddress);
    }
    Ok(())
}

fn new_tcp(limits: &Limits) -> tcp::Socket<'static> {
    let rx = tcp::SocketBuffer::new(vec![0u8; limits.tcp_buffer]);
    let tx = tcp::SocketBuffer::new(vec![0u8; limits.tcp_buffer]);
    let mut s = tcp::Socket::new(rx, tx);
    s.set_timeout(Some(Duration::from_millis(limits.idle_timeout_ms)));
    s
}

/// Notes a stream's progress; fixes its error once the connection is gone.
fn update_stream(
    s: &mut Stream,
    sock: &mut tcp::Socket,
    sniffed: &Sniffed,
    now: u64,
    limits: &Limits,
) {
    if s.failed.is_some() {
        return;
    }
    use tcp::State::*;
    match sock.state() {
        Listen | SynReceived => {}
        SynSent if now.saturating_sub(s.started_ms) >= limits.connect_timeout_ms => {
            sock.abort();
            s.failed = Some(NetError::TimedOut);
        }
        SynSent => {}
        Closed => {
            let reset = sniffed.reset_seen(s.local_port, *s.remote.ip(), s.remote.port());
            s.failed = Some(match (reset, s.established) {
                (true, true) => NetError::ConnectionReset,
                (true, false) => NetError::ConnectionRefused,
                (false, _) => NetError::TimedOut,
            });
        }
        _ => s.established = true,
    }
}

/// The timers of the poll step: stream states, listeners' backlogs, lingering streams.
pub(crate) fn tick<F: Frames>(st: &mut Stack<F>) {
    for client in st.clients.values_mut() {
        for entry in client.entries.values_mut() {
            match entry {
                Entry::Stream(s) => {
                    let sock = st.sockets.get_mut::<tcp::Socket>(s.socket);
                    update_stream(s, sock, &st.link.sniffed, st.now_ms, &st.limits);
                }
                Entry::Listener(l) => relisten(&mut st.sockets, l),
                _ => {}
            }
        }
    }
    let (sockets, now) = (&mut st.sockets, st.now_ms);
    st.lingering.retain(|&(h, deadline)| {
        let done = sockets.get::<tcp::Socket>(h).state() == tcp::State::Closed || now >= deadline;
        if done {
            sockets.remove(h);
        }
        !done
    });
}

/// Backlog sockets whose handshake failed listen again.
fn relisten(sockets: &mut SocketSet<'static>, l: &Listener) {
    for &h in &l.backlog {
        let s = sockets.get_mut::<tcp::Socket>(h);
        if s.state() == tcp::State::Closed {
            let _ = s.listen(l.port);
        }
    }
}

impl<F: Frames> Stack<F> {
    /// Adds a client that may use the ports of `range` (its `port_range` capability; `None`:
    /// no ports — TCP and UDP say `NoPortRange`, ping and DNS work).
    pub fn add_client(&mut self, range: Option<PortRange>) -> ClientId {
        while self.next_client == 0 || self.clients.contains_key(&self.next_client) {
            self.next_client = self.next_client.wrapping_add(1);
        }
        let id = self.next_client;
        self.next_client = self.next_client.wrapping_add(1);
        let client = Client {
            range,
            entries: BTreeMap::new(),
            next_handle: 1,
            next_port: range.map_or(0, |r| {
                r.first
                    .saturating_add((self.now_ms % u64::from(r.len())) as u16)
            }),
        };
        self.clients.insert(id, client);
        ClientId(id)
    }

    /// Removes a client, closing all its sockets (e.g. when its process is gone).
    pub fn remove_client(&mut self, c: ClientId) {
        let Some(client) = self.clients.remove(&c.0) else {
            return;
        };
        for (_, entry) in client.entries {
            self.drop_entry(entry);
        }
    }

    /// The client's port range.
    pub fn client_range(&self, c: ClientId) -> Result<Option<PortRange>, NetError> {
        Ok(self.client(c)?.range)
    }

    /// How many handles the client holds.
    pub fn client_sockets(&self, c: ClientId) -> Result<usize, NetError> {
        Ok(self.client(c)?.entries.len())
    }

    pub(crate) fn client(&self, c: ClientId) -> Result<&Client, NetError> {
        self.clients.get(&c.0).ok_or(NetError::UnknownClient)
    }

    pub(crate) fn client_mut(&mut self, c: ClientId) -> Result<&mut Client, NetError> {
        self.clients.get_mut(&c.0).ok_or(NetError::UnknownClient)
    }

    pub(crate) fn entry_mut(&mut self, c: ClientId, h: Handle) -> Result<&mut Entry, NetError> {
        self.client_mut(c)?
            .entries
            .get_mut(&h.0)
            .ok_or(NetError::BadHandle)
    }

    /// Starts a TCP connection to `remote` from an ephemeral port of the client's range. The
    /// handle is `Connecting` until [`Stack::tcp_state`] says `Established` (or an error:
    /// `ConnectionRefused`, `TimedOut`); `send` and `recv` say `WouldBlock` until then.
    pub fn tcp_connect(&mut self, c: ClientId, remote: SocketAddrV4) -> Result<Handle, NetError> {
        usable(remote)?;
        self.ready()?;
        let limits = self.limits;
        let client = self.clients.get_mut(&c.0).ok_or(NetError::UnknownClient)?;
        client.check_room(&limits)?;
        let sockets = &self.sockets;
        let port = client.pick_port(|p| tcp_port_used(sockets, p))?;
        let mut sock = new_tcp(&limits);
        sock.connect(
            self.iface.context(),
            (IpAddress::Ipv4(*remote.ip()), remote.port()),
            port,
        )
        .map_err(|_| NetError::BadAddress)?;
        let socket = self.sockets.add(sock);
        let stream = Stream {
            socket,
            local_port: port,
            remote,
            started_ms: self.now_ms,
            established: false,
            failed: None,
        };
        let client = self.clients.get_mut(&c.0).ok_or(NetError::UnknownClient)?;
        client.insert(&limits, Entry::Stream(stream))
    }

    /// Listens on `port` (inside the client's range, not used by another TCP socket).
    pub fn tcp_listen(&mut self, c: ClientId, port: u16) -> Result<Handle, NetError> {
        if port == 0 {
            return Err(NetError::BadAddress);
        }
        let limits = self.limits;
        let client = self.client(c)?;
        client.check_port(port)?;
        client.check_room(&limits)?;
        if tcp_port_used(&self.sockets, port) {
            return Err(NetError::PortInUse { port });
        }
        let mut backlog = Vec::new();
        for _ in 0..limits.backlog.max(1) {
            let mut s = new_tcp(&limits);
            s.listen(port).map_err(|_| NetError::BadAddress)?;
            backlog.push(self.sockets.add(s));
        }
        let entry = Entry::Listener(Listener { port, backlog });
        self.client_mut(c)?.insert(&limits, entry)
    }

    /// A connection the listener `h` holds ready, as a new stream handle with the peer's
    /// address; `WouldBlock` if none yet.
    pub fn accept(&mut self, c: ClientId, h: Handle) -> Result<(Handle, SocketAddrV4), NetError> {
        let limits = self.limits;
        let client = self.clients.get_mut(&c.0).ok_or(NetError::UnknownClient)?;
        let Some(Entry::Listener(l)) = client.entries.get(&h.0) else {
            return Err(bad_or_wrong(client.entries.get(&h.0)));
        };
        let ready = l.backlog.iter().position(|&s| {
            let st = self.sockets.get::<tcp::Socket>(s).state();
            !matches!(
                st,
                tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed
            )
        });
        let Some(i) = ready else {
            return Err(NetError::WouldBlock);
        };
        client.check_room(&limits)?;
        let mut fresh = new_tcp(&limits);
        let _ = fresh.listen(l.port);
        let fresh = self.sockets.add(fresh);
        let Some(Entry::Listener(l)) = client.entries.get_mut(&h.0) else {
            return Err(NetError::BadHandle);
        };
        let socket = core::mem::replace(&mut l.backlog[i], fresh);
        let sock = self.sockets.get::<tcp::Socket>(socket);
        let (local, remote) = match (sock.local_endpoint(), sock.remote_endpoint()) {
            (Some(l), Some(r)) => (l.port, endpoint(r)),
            _ => (l.port, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        };
        let stream = Stream {
            socket,
            local_port: local,
            remote,
            started_ms: self.now_ms,
            established: true,
            failed: None,
        };
        Ok((client.insert(&limits, Entry::Stream(stream))?, remote))
    }

    /// Runs `f` on a stream of the client, after noting its progress; a failed stream answers
    /// its error.
    fn with_stream<R>(
        &mut self,
        c: ClientId,
        h: Handle,
        f: impl FnOnce(&mut tcp::Socket<'static>, &Stream) -> Result<R, NetError>,
    ) -> Result<R, NetError> {
        let client = self.clients.get_mut(&c.0).ok_or(NetError::UnknownClient)?;
        let s = match client.entries.get_mut(&h.0) {
            Some(Entry::Stream(s)) => s,
            Some(Entry::Listener(_)) => return Err(NetError::NotConnected),
            other => return Err(bad_or_wrong(other.map(|e| &*e))),
        };
        let sock = self.sockets.get_mut::<tcp::Socket>(s.socket);
        update_stream(s, sock, &self.link.sniffed, self.now_ms, &self.limits);
        if let Some(e) = s.failed {
            return Err(e);
        }
        f(sock, s)
    }

    /// Where a TCP handle is, or the error that ended it.
    pub fn tcp_state(&mut self, c: ClientId, h: Handle) -> Result<TcpState, NetError> {
        if let Ok(Entry::Listener(_)) = self.entry_mut(c, h) {
            return Ok(TcpState::Listening);
        }
        self.with_stream(c, h, |sock, _| {
            Ok(match sock.state() {
                tcp::State::SynSent | tcp::State::SynReceived => TcpState::Connecting,
                tcp::State::CloseWait | tcp::State::LastAck => TcpState::PeerClosed,
                _ => TcpState::Established,
            })
        })
    }

    /// The local port of a TCP or UDP handle.
    pub fn local_port(&mut self, c: ClientId, h: Handle) -> Result<u16, NetError> {
        let (sockets, client) = (&self.sockets, self.client(c)?);
        match client.entries.get(&h.0) {
            Some(Entry::Stream(s)) => Ok(s.local_port),
            Some(Entry::Listener(l)) => Ok(l.port),
            Some(Entry::Udp(u)) => Ok(sockets.get::<udp::Socket>(*u).endpoint().port),
            other => Err(bad_or_wrong(other)),
        }
    }

    /// Queues up to `data.len()` bytes on a stream; returns how many were taken (`WouldBlock`
    /// when none could be: buffer full, or still connecting).
    pub fn send(&mut self, c: ClientId, h: Handle, data: &[u8]) -> Result<usize, NetError> {
        self.ready_link()?;
        self.with_stream(c, h, |sock, _| match sock.send_slice(data) {
            Ok(0) if !data.is_empty() => Err(NetError::WouldBlock),
            Ok(n) => Ok(n),
            Err(_) if sock.state() == tcp::State::SynSent => Err(NetError::WouldBlock),
            Err(_) => Err(NetError::NotConnected),
        })
    }

    /// Takes received bytes into `buf`: `Ok(0)` is the end of the stream (the peer closed),
    /// `WouldBlock` means nothing yet.
    pub fn recv(&mut self, c: ClientId, h: Handle, buf: &mut [u8]) -> Result<usize, NetError> {
        self.with_stream(c, h, |sock, _| match sock.recv_slice(buf) {
            Ok(0) if !buf.is_empty() => Err(NetError::WouldBlock),
            Ok(n) => Ok(n),
            Err(tcp::RecvError::Finished) => Ok(0),
            Err(_) if sock.state() == tcp::State::SynSent => Err(NetError::WouldBlock),
            Err(_) => Err(NetError::NotConnected),
        })
    }

    /// Closes a handle of any kind (a stream finishes sending, then says FIN).
    pub fn close(&mut self, c: ClientId, h: Handle) -> Result<(), NetError> {
        let entry = self
            .client_mut(c)?
            .entries
            .remove(&h.0)
            .ok_or(NetError::BadHandle)?;
        self.drop_entry(entry);
        Ok(())
    }

    /// Closes a stream at once with a reset (the peer sees `ConnectionReset`), e.g. for a
    /// client that died; other handles close as with [`Stack::close`].
    pub fn abort(&mut self, c: ClientId, h: Handle) -> Result<(), NetError> {
        let entry = self
            .client_mut(c)?
            .entries
            .remove(&h.0)
            .ok_or(NetError::BadHandle)?;
        match entry {
            Entry::Stream(s) => {
                self.sockets.get_mut::<tcp::Socket>(s.socket).abort();
                // Kept until the next poll has sent the reset.
                self.lingering.push((s.socket, self.now_ms));
            }
            other => self.drop_entry(other),
        }
        Ok(())
    }

    fn drop_entry(&mut self, entry: Entry) {
        match entry {
            Entry::Stream(s) => {
                let sock = self.sockets.get_mut::<tcp::Socket>(s.socket);
                sock.close();
                if sock.state() == tcp::State::Closed {
                    self.sockets.remove(s.socket);
                } else {
                    self.lingering.push((s.socket, self.now_ms + LINGER_MS));
                }
            }
            Entry::Listener(l) => {
                for h in l.backlog {
                    self.sockets.remove(h);
                }
            }
            Entry::Udp(u) => {
                self.sockets.remove(u);
            }
            Entry::Dns(q) => crate::dns::cancel(self, q),
            Entry::Ping(p) => {
                self.sockets.remove(p.socket);
            }
        }
    }

    /// Binds a UDP socket to `port` (inside the client's range), or with `port` 0 to a free
    /// port of the range.
    pub fn udp_bind(&mut self, c: ClientId, port: u16) -> Result<Handle, NetError> {
        let limits = self.limits;
        let client = self.clients.get_mut(&c.0).ok_or(NetError::UnknownClient)?;
        client.check_room(&limits)?;
        let sockets = &self.sockets;
        let port = match port {
            0 => client.pick_port(|p| udp_port_used(sockets, p))?,
            p => {
                client.check_port(p)?;
                if udp_port_used(sockets, p) {
                    return Err(NetError::PortInUse { port: p });
                }
                p
            }
        };
        let n = limits.udp_packets.max(1);
        let buffer = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; n],
                vec![0u8; n * MAX_DATAGRAM],
            )
        };
        let mut sock = udp::Socket::new(buffer(), buffer());
        sock.bind(port).map_err(|_| NetError::BadAddress)?;
        let socket = self.sockets.add(sock);
        client.insert(&limits, Entry::Udp(socket))
    }

    fn udp_socket(
        &mut self,
        c: ClientId,
        h: Handle,
    ) -> Result<&mut udp::Socket<'static>, NetError> {
        let client = self.clients.get(&c.0).ok_or(NetError::UnknownClient)?;
        match client.entries.get(&h.0) {
            Some(Entry::Udp(u)) => Ok(self.sockets.get_mut::<udp::Socket>(*u)),
            other => Err(bad_or_wrong(other)),
        }
    }

    /// Queues one datagram (at most [`MAX_DATAGRAM`] bytes) to `to`.
    pub fn udp_send_to(
        &mut self,
        c: ClientId,
        h: Handle,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), NetError> {
        usable(to)?;
        if data.len() > MAX_DATAGRAM {
            return Err(NetError::TooLarge {
                max: MAX_DATAGRAM as u32,
            });
        }
        self.ready()?;
        let sock = self.udp_socket(c, h)?;
        sock.send_slice(data, IpEndpoint::new(IpAddress::Ipv4(*to.ip()), to.port()))
            .map_err(|e| match e {
                udp::SendError::BufferFull => NetError::WouldBlock,
                udp::SendError::Unaddressable => NetError::BadAddress,
            })
    }

    /// Takes one received datagram: its length (cut to `buf`) and sender; `WouldBlock` if none.
    pub fn udp_recv_from(
        &mut self,
        c: ClientId,
        h: Handle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), NetError> {
        let sock = self.udp_socket(c, h)?;
        let (data, meta) = sock.recv().map_err(|_| NetError::WouldBlock)?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, endpoint(meta.endpoint)))
    }

    fn ready_link(&self) -> Result<(), NetError> {
        match self.ready() {
            Err(NetError::LinkDown) => Err(NetError::LinkDown),
            _ => Ok(()),
        }
    }
}

/// `BadHandle` for no entry, `WrongKind` for an entry of another kind.
pub(crate) fn bad_or_wrong(e: Option<&Entry>) -> NetError {
    match e {
        None => NetError::BadHandle,
        Some(_) => NetError::WrongKind,
    }
}
