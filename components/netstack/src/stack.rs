//! [`Stack`]: one interface, its IPv4 configuration (DHCP or static), the poll step, status and
//! events. The sockets of the clients are in [`crate::sockets`], pings in [`crate::ping`], name
//! look-ups in [`crate::dns`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, dns};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Cidr};

use crate::config::{Cidr, Ipv4Config, Limits, NetConfig, MAX_DNS_SERVERS};
use crate::link::{Frames, Link, LinkStats};
use crate::sockets::Client;
use crate::NetError;

/// Events kept for [`Stack::take_event`] (the oldest is dropped past this).
const MAX_EVENTS: usize = 16;

/// Where DHCP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpState {
    /// Static configuration: no DHCP.
    Off,
    /// DISCOVERs sent, no OFFER yet.
    Discovering,
    /// An OFFER came; REQUEST sent, no ACK yet.
    Requesting,
    /// A lease is held.
    Bound,
    /// No lease after [`Limits::dhcp_timeout_ms`]; still trying.
    TimedOut,
}

/// A change worth a log line, from [`Stack::take_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The link came up.
    LinkUp,
    /// The link went down.
    LinkDown,
    /// An address was configured (DHCP lease, or the static address at start).
    Configured(Cidr),
    /// The DHCP lease was lost (expired, or the link came back and DHCP restarts).
    Deconfigured,
    /// No DHCP lease within the timeout (reported once per attempt; DHCP keeps trying).
    DhcpTimeout {
        /// Milliseconds since DHCP started asking.
        waited_ms: u64,
    },
}

/// What the console's `net` command shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The device's MAC address.
    pub mac: [u8; 6],
    /// Whether the link is up.
    pub link: bool,
    /// The interface's address, once configured.
    pub ipv4: Option<Cidr>,
    /// The default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// The DNS servers in use.
    pub dns: Vec<Ipv4Addr>,
    /// Seconds left on the DHCP lease (`None`: static, no lease, or infinite).
    pub lease_remaining_s: Option<u32>,
    /// Where DHCP is.
    pub dhcp_state: DhcpState,
    /// Frame counters.
    pub stats: LinkStats,
}

impl Dhcp {
    /// The lease is gone: a new attempt starts now.
    fn restart(&mut self, now: u64, offers: u32) {
        (self.lease, self.since_ms, self.offers_at_start) = (None, now, offers);
        self.timeout_reported = false;
    }

    /// A renewal's ACK changes no configuration (no smoltcp event) but restarts the lease.
    fn renewed(&mut self, now: u64, acks: u32, lease_s: Option<u32>) {
        if self.acks != acks && self.lease.is_some() {
            self.lease = Some((now, lease_s));
        }
        self.acks = acks;
    }

    /// `DhcpTimeout`, once per attempt, when the attempt is older than `timeout`.
    fn check_timeout(&mut self, now: u64, timeout: u64) -> Option<Event> {
        let waited_ms = now.saturating_sub(self.since_ms);
        if self.lease.is_some() || self.timeout_reported || waited_ms < timeout {
            return None;
        }
        self.timeout_reported = true;
        Some(Event::DhcpTimeout { waited_ms })
    }
}

impl fmt::Display for DhcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DhcpState::Off => "static",
            DhcpState::Discovering => "DHCP discovering",
            DhcpState::Requesting => "DHCP requesting",
            DhcpState::Bound => "DHCP bound",
            DhcpState::TimedOut => "DHCP timed out, still trying",
        })
    }
}

/// The `net` command's lines, e.g.
/// `link up, MAC 52:54:00:12:34:01` / `ipv4 10.0.2.15/24 (DHCP bound, lease 3600 s left)` /
/// `gateway 10.0.2.2` / `dns 10.0.2.3` / `frames: 12 in, 9 out, 0 errors`.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.mac;
        let link = if self.link { "up" } else { "down" };
        writeln!(
            f,
            "link {link}, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )?;
        match self.ipv4 {
            Some(a) => write!(f, "ipv4 {a} ({}", self.dhcp_state)?,
            None => write!(f, "ipv4 none ({}", self.dhcp_state)?,
        }
        match self.lease_remaining_s {
            Some(s) => writeln!(f, ", lease {s} s left)")?,
            None => writeln!(f, ")")?,
        }
        if let Some(gw) = self.gateway {
            writeln!(f, "gateway {gw}")?;
        }
        if !self.dns.is_empty() {
            f.write_str("dns")?;
            for (i, a) in self.dns.iter().enumerate() {
                write!(f, "{}{a}", if i == 0 { " " } else { ", " })?;
            }
            writeln!(f)?;
        }
        let st = &self.stats;
        write!(
            f,
            "frames: {} in, {} out, {} errors",
            st.rx_frames, st.tx_frames, st.errors
        )
    }
}

struct Dhcp {
    socket: SocketHandle,
    /// When the current attempt started (no lease since).
    since_ms: u64,
    /// OFFERs seen when the attempt started.
    offers_at_start: u32,
    /// When the lease was (re)acquired, and its length.
    lease: Option<(u64, Option<u32>)>,
    /// DHCP ACKs seen when the lease was last (re)started.
    acks: u32,
    timeout_reported: bool,
}

/// One network interface with its sockets. Drive it with [`Stack::poll`]; everything else
/// returns at once (`WouldBlock` when it must wait for the network).
pub struct Stack<F: Frames> {
    pub(crate) link: Link<F>,
    pub(crate) iface: Interface,
    pub(crate) sockets: SocketSet<'static>,
    pub(crate) limits: Limits,
    pub(crate) now_ms: u64,
    pub(crate) clients: BTreeMap<u32, Client>,
    pub(crate) next_client: u32,
    /// Streams closed by their client, finishing their FIN exchange, and when to give up.
    pub(crate) lingering: Vec<(SocketHandle, u64)>,
    pub(crate) dns_socket: SocketHandle,
    pub(crate) next_ident: u16,
    dns_servers: Vec<Ipv4Addr>,
    gateway: Option<Ipv4Addr>,
    dhcp: Option<Dhcp>,
    link_up: bool,
    events: VecDeque<Event>,
}

impl<F: Frames> Stack<F> {
    /// A stack on `frames`, configured by `config`, at time `now_ms` (the same clock every
    /// later [`Stack::poll`] gets).
    pub fn new(frames: F, config: NetConfig, now_ms: u64) -> Self {
        let mut link = Link::new(frames);
        let mac = link.mac;
        let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        cfg.random_seed = seed(mac, now_ms);
        let iface = Interface::new(cfg, &mut link, instant(now_ms));
        let mut sockets = SocketSet::new(Vec::new());
        let dns_socket = sockets.add(dns::Socket::new(&[], Vec::new()));
        let mut stack = Stack {
            link_up: link.frames.link_up(),
            link,
            iface,
            sockets,
            limits: config.limits,
            now_ms,
            clients: BTreeMap::new(),
            next_client: 1,
            lingering: Vec::new(),
            dns_socket,
            next_ident: (seed(mac, now_ms) as u16) | 1,
            dns_servers: Vec::new(),
            gateway: None,
            dhcp: None,
            events: VecDeque::new(),
        };
        match config.ipv4 {
            Ipv4Config::Dhcp => stack.start_dhcp(),
            Ipv4Config::Static {
                address,
                gateway,
                dns,
            } => {
                stack.configure(address, gateway, &dns);
                stack.push(Event::Configured(address));
            }
        }
        stack
    }

    fn start_dhcp(&mut self) {
        let mut socket = dhcpv4::Socket::new();
        let mut retry = socket.get_retry_config();
        retry.discover_timeout = Duration::from_millis(self.limits.dhcp_retry_ms);
        socket.set_retry_config(retry);
        self.dhcp = Some(Dhcp {
            socket: self.sockets.add(socket),
            since_ms: self.now_ms,
            offers_at_start: self.link.sniffed.offers,
            lease: None,
            acks: self.link.sniffed.acks,
            timeout_reported: false,
        });
    }

    /// Sets (or, with `address` `None`, clears) the interface's address, route and DNS servers.
    fn configure(&mut self, address: Cidr, gateway: Option<Ipv4Addr>, dns: &[Ipv4Addr]) {
        let cidr = Ipv4Cidr::new(address.address, address.prefix_len.min(32));
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            let _ = addrs.push(IpCidr::Ipv4(cidr));
        });
        self.set_route_and_dns(gateway, dns);
    }

    fn deconfigure(&mut self) {
        self.iface.update_ip_addrs(|addrs| addrs.clear());
        self.set_route_and_dns(None, &[]);
    }

    fn set_route_and_dns(&mut self, gateway: Option<Ipv4Addr>, dns: &[Ipv4Addr]) {
        self.iface.routes_mut().remove_default_ipv4_route();
        if let Some(gw) = gateway {
            let _ = self.iface.routes_mut().add_default_ipv4_route(gw);
        }
        self.gateway = gateway;
        self.dns_servers = dns.iter().copied().take(MAX_DNS_SERVERS).collect();
        self.link.sniffed.dns_servers = self.dns_servers.clone();
        let servers: Vec<IpAddress> = self.dns_servers.iter().map(|a| (*a).into()).collect();
        self.sockets
            .get_mut::<dns::Socket>(self.dns_socket)
            .update_servers(&servers);
    }

    /// One step: takes the frames waiting, sends what is due, runs the timers (DHCP, TCP,
    /// DNS, pings). Call it whenever frames may have arrived and at least every few
    /// milliseconds while anything is pending; `now_ms` never goes backwards. Returns whether
    /// any socket may have changed.
    pub fn poll(&mut self, now_ms: u64) -> bool {
        self.now_ms = self.now_ms.max(now_ms);
        self.check_link();
        crate::ping::send_due(self);
        let changed = self
            .iface
            .poll(instant(self.now_ms), &mut self.link, &mut self.sockets);
        self.poll_dhcp();
        crate::ping::receive(self);
        crate::sockets::tick(self);
        changed == smoltcp::iface::PollResult::SocketStateChanged
    }

    /// How long the stack may sleep before it needs [`Stack::poll`] again, if nothing arrives
    /// (`None`: until a frame arrives). Pings and DHCP keep it at most 100 ms.
    pub fn poll_delay_ms(&mut self) -> Option<u64> {
        let d = self
            .iface
            .poll_delay(instant(self.now_ms), &self.sockets)
            .map(|d| d.total_millis());
        let busy = self.dhcp.as_ref().is_some_and(|d| d.lease.is_none()) || crate::ping::any(self);
        match (d, busy) {
            (Some(d), true) => Some(d.min(100)),
            (None, true) => Some(100),
            (d, false) => d,
        }
    }

    fn check_link(&mut self) {
        let up = self.link.frames.link_up();
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        if !up {
            self.push(Event::LinkDown);
            return;
        }
        self.push(Event::LinkUp);
        if let Some(d) = &mut self.dhcp {
            // A new link may be a new network: ask again at once.
            self.sockets.get_mut::<dhcpv4::Socket>(d.socket).reset();
        }
    }

    fn poll_dhcp(&mut self) {
        let Some(socket) = self.dhcp.as_ref().map(|d| d.socket) else {
            return;
        };
        let change = match self.sockets.get_mut::<dhcpv4::Socket>(socket).poll() {
            None => None,
            Some(dhcpv4::Event::Deconfigured) => Some(None),
            Some(dhcpv4::Event::Configured(c)) => Some(Some((
                Cidr {
                    address: c.address.address(),
                    prefix_len: c.address.prefix_len(),
                },
                c.router,
                c.dns_servers.iter().copied().collect::<Vec<_>>(),
            ))),
        };
        let now = self.now_ms;
        let sniffed = &self.link.sniffed;
        let (lease_s, acks, offers) = (sniffed.lease_s, sniffed.acks, sniffed.offers);
        let bound = self.dhcp.as_ref().is_some_and(|d| d.lease.is_some());
        match change {
            Some(Some((address, gateway, dns))) => {
                self.configure(address, gateway, &dns);
                self.push(Event::Configured(address));
                if let Some(d) = &mut self.dhcp {
                    (d.lease, d.acks) = (Some((now, lease_s)), acks);
                }
            }
            // smoltcp says `Deconfigured` once at start too: nothing to undo then.
            Some(None) if !bound => {}
            Some(None) => {
                self.deconfigure();
                self.push(Event::Deconfigured);
                if let Some(d) = &mut self.dhcp {
                    d.restart(now, offers);
                }
            }
            None => {
                if let Some(d) = &mut self.dhcp {
                    d.renewed(now, acks, lease_s);
                }
            }
        }
        let timeout = self.limits.dhcp_timeout_ms;
        if let Some(e) = self
            .dhcp
            .as_mut()
            .and_then(|d| d.check_timeout(now, timeout))
        {
            self.push(e);
        }
    }

    fn push(&mut self, e: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// The oldest event not yet taken.
    pub fn take_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The interface's address, if configured.
    pub fn ipv4(&self) -> Option<Cidr> {
        self.iface
            .ip_addrs()
            .iter()
            .map(|IpCidr::Ipv4(c)| Cidr {
                address: c.address(),
                prefix_len: c.prefix_len(),
            })
            .next()
    }

    /// `Ok` when the stack can talk: link up and an address. Otherwise `LinkDown`,
    /// `DhcpTimeout` (no lease for longer than the timeout) or `NoAddress`.
    pub fn ready(&self) -> Result<Cidr, NetError> {
        if !self.link_up {
            return Err(NetError::LinkDown);
        }
        if let Some(a) = self.ipv4() {
            return Ok(a);
        }
        match &self.dhcp {
            Some(d) if d.timeout_reported => Err(NetError::DhcpTimeout {
                waited_ms: self.now_ms.saturating_sub(d.since_ms),
            }),
            _ => Err(NetError::NoAddress),
        }
    }

    /// The DNS servers in use.
    pub fn dns_servers(&self) -> &[Ipv4Addr] {
        &self.dns_servers
    }

    /// The status for the console's `net` command.
    pub fn status(&self) -> Status {
        Status {
            mac: self.link.mac,
            link: self.link_up,
            ipv4: self.ipv4(),
            gateway: self.gateway,
            dns: self.dns_servers.clone(),
            lease_remaining_s: self.lease_remaining_s(),
            dhcp_state: self.dhcp_state(),
            stats: self.link.stats,
        }
    }

    fn lease_remaining_s(&self) -> Option<u32> {
        let (at, len) = self.dhcp.as_ref()?.lease?;
        let gone = (self.now_ms.saturating_sub(at) / 1000).min(u64::from(u32::MAX)) as u32;
        Some(len?.saturating_sub(gone))
    }

    /// Where DHCP is.
    pub fn dhcp_state(&self) -> DhcpState {
        match &self.dhcp {
            None => DhcpState::Off,
            Some(d) if d.lease.is_some() => DhcpState::Bound,
            Some(d) if d.timeout_reported => DhcpState::TimedOut,
            Some(d) if self.link.sniffed.offers != d.offers_at_start => DhcpState::Requesting,
            Some(_) => DhcpState::Discovering,
        }
    }

    /// The time of the last [`Stack::poll`].
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The device (e.g. to cut a fake wire's link in a test).
    pub fn frames(&mut self) -> &mut F {
        &mut self.link.frames
    }
}

pub(crate) fn instant(ms: u64) -> Instant {
    Instant::from_millis(ms.min(i64::MAX as u64) as i64)
}

/// A seed for smoltcp's initial sequence numbers and DHCP transaction ids.
fn seed(mac: [u8; 6], now_ms: u64) -> u64 {
    let mut x = now_ms ^ 0x9E37_79B9_7F4A_7C15;
    for b in mac {
        x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
    }
    x
}
