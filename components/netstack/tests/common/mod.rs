//! The test world: a fake clock, a fake Ethernet switch, up to two stacks, and a "host" on the
//! wire (its own smoltcp interface, 10.0.2.2 and 10.0.2.3) that can serve DHCP and DNS.
#![allow(dead_code, reason = "each test file uses part of the world")]

use std::net::Ipv4Addr;

use netstack::fake::{Clock, FakeClock, Wire, WirePort};
use netstack::{Cidr, Frames, NetConfig, Stack};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::udp;
use smoltcp::time::Instant;
use smoltcp::wire::{
    DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, HardwareAddress, IpCidr,
    IpListenEndpoint,
};

pub const HOST_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
pub const LEASED: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
pub const LEASE_S: u32 = 3600;

pub fn mac(n: u8) -> [u8; 6] {
    [0x52, 0x54, 0, 0x12, 0x34, n]
}

pub fn cidr(a: [u8; 4], len: u8) -> Cidr {
    Cidr {
        address: Ipv4Addr::from(a),
        prefix_len: len,
    }
}

/// A stack with a static address on 10.0.0.0/24.
pub fn fixed(n: u8) -> NetConfig {
    NetConfig::fixed(cidr([10, 0, 0, n], 24), None, &[])
}

pub struct World {
    pub clock: FakeClock,
    pub wire: Wire,
    pub a: Stack<WirePort>,
    pub b: Option<Stack<WirePort>>,
    pub host: Option<Host>,
}

impl World {
    /// Stack `a` (MAC 1) alone on the wire.
    pub fn one(config: NetConfig) -> World {
        let clock = FakeClock::new();
        let wire = Wire::new(clock.clone());
        let a = Stack::new(wire.port(mac(1)), config, 0);
        World {
            clock,
            wire,
            a,
            b: None,
            host: None,
        }
    }

    /// Stacks `a` and `b` (MACs 1 and 2).
    pub fn two(ca: NetConfig, cb: NetConfig) -> World {
        let mut w = World::one(ca);
        w.b = Some(Stack::new(w.wire.port(mac(2)), cb, 0));
        w
    }

    pub fn with_host(mut self) -> World {
        self.host = Some(Host::new(&self.wire));
        self
    }

    pub fn b(&mut self) -> &mut Stack<WirePort> {
        self.b.as_mut().expect("world has a second stack")
    }

    pub fn host(&mut self) -> &mut Host {
        self.host.as_mut().expect("world has a host")
    }

    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// One millisecond: every node polls.
    pub fn tick(&mut self) {
        self.step(1);
    }

    /// `ms` milliseconds at once, then every node polls.
    pub fn step(&mut self, ms: u64) {
        self.clock.advance(ms);
        let now = self.clock.now_ms();
        self.a.poll(now);
        if let Some(b) = &mut self.b {
            b.poll(now);
        }
        if let Some(h) = &mut self.host {
            h.poll(now);
        }
    }

    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.tick();
        }
    }

    /// Ticks until `done` or `max_ms`; whether `done` happened.
    pub fn until(&mut self, max_ms: u64, mut done: impl FnMut(&mut World) -> bool) -> bool {
        for _ in 0..max_ms {
            if done(self) {
                return true;
            }
            self.tick();
        }
        done(self)
    }
}

/// smoltcp's device over a wire port, for the host.
pub struct PortDev(pub WirePort);

pub struct HostRx(Vec<u8>);
pub struct HostTx<'a>(&'a mut WirePort);

impl phy::RxToken for HostRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for HostTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        let _ = self.0.send(&buf);
        r
    }
}

impl Device for PortDev {
    type RxToken<'a> = HostRx;
    type TxToken<'a> = HostTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(HostRx, HostTx<'_>)> {
        let mut buf = vec![0u8; 1514];
        let n = self.0.recv(&mut buf).ok()??;
        buf.truncate(n);
        Some((HostRx(buf), HostTx(&mut self.0)))
    }

    fn transmit(&mut self, _: Instant) -> Option<HostTx<'_>> {
        Some(HostTx(&mut self.0))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// The other end of the network: gateway 10.0.2.2 (DHCP server) and 10.0.2.3 (DNS server).
pub struct Host {
    pub dev: PortDev,
    iface: Interface,
    sockets: SocketSet<'static>,
    dhcp: SocketHandle,
    dns: SocketHandle,
    /// Whether the DHCP server answers.
    pub dhcp_on: bool,
    /// Whether the DNS server answers.
    pub dns_on: bool,
    /// Names the DNS server knows.
    pub names: Vec<(String, Ipv4Addr)>,
    pub dhcp_requests: u32,
}

fn udp_socket(port: impl Into<IpListenEndpoint>) -> udp::Socket<'static> {
    let buf = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0u8; 8 * 1500]);
    let mut s = udp::Socket::new(buf(), buf());
    s.bind(port).unwrap();
    s
}

impl Host {
    pub fn new(wire: &Wire) -> Host {
        let mut dev = PortDev(wire.port(HOST_MAC));
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(HOST_MAC)));
        let mut iface = Interface::new(config, &mut dev, Instant::ZERO);
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(GATEWAY.into(), 24)).unwrap();
            a.push(IpCidr::new(DNS.into(), 24)).unwrap();
        });
        let mut sockets = SocketSet::new(Vec::new());
        let dhcp = sockets.add(udp_socket(67));
        // Bound to its address, so that answers come from 10.0.2.3, not the first address.
        let dns = sockets.add(udp_socket((DNS, 53)));
        Host {
            dev,
            iface,
            sockets,
            dhcp,
            dns,
            dhcp_on: true,
            dns_on: true,
            names: vec![("pandagen.test".into(), Ipv4Addr::new(10, 0, 2, 99))],
            dhcp_requests: 0,
        }
    }

    pub fn poll(&mut self, now: u64) {
        let t = Instant::from_millis(now as i64);
        self.iface.poll(t, &mut self.dev, &mut self.sockets);
        self.serve_dhcp();
        self.serve_dns();
        self.iface.poll(t, &mut self.dev, &mut self.sockets);
    }

    fn serve_dhcp(&mut self) {
        let sock = self.sockets.get_mut::<udp::Socket>(self.dhcp);
        while let Ok((data, _)) = sock.recv() {
            self.dhcp_requests += 1;
            let Some(reply) = dhcp_reply(data).filter(|_| self.dhcp_on) else {
                continue;
            };
            sock.send_slice(&reply, (Ipv4Addr::BROADCAST, 68)).unwrap();
        }
    }

    fn serve_dns(&mut self) {
        let sock = self.sockets.get_mut::<udp::Socket>(self.dns);
        while let Ok((data, meta)) = sock.recv() {
            if !self.dns_on {
                continue;
            }
            if let Some(reply) = dns_reply(data, &self.names) {
                let to = meta.endpoint;
                sock.send_slice(&reply, to).unwrap();
            }
        }
    }
}

/// OFFER for a DISCOVER, ACK for a REQUEST: 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3.
fn dhcp_reply(request: &[u8]) -> Option<Vec<u8>> {
    let packet = DhcpPacket::new_checked(request).ok()?;
    let req = DhcpRepr::parse(&packet).ok()?;
    let message_type = match req.message_type {
        DhcpMessageType::Discover => DhcpMessageType::Offer,
        DhcpMessageType::Request => DhcpMessageType::Ack,
        _ => return None,
    };
    let mut dns_servers = heapless::Vec::new();
    dns_servers.push(DNS).ok()?;
    let reply = DhcpRepr {
        message_type,
        transaction_id: req.transaction_id,
        secs: 0,
        client_hardware_address: req.client_hardware_address,
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: LEASED,
        server_ip: GATEWAY,
        router: Some(GATEWAY),
        subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(GATEWAY),
        parameter_request_list: None,
        dns_servers: Some(dns_servers),
        max_size: None,
        lease_duration: Some(LEASE_S),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let mut buf = vec![0u8; reply.buffer_len()];
    reply.emit(&mut DhcpPacket::new_unchecked(&mut buf)).ok()?;
    Some(buf)
}

/// A tiny DNS responder: the A record of a known name, NXDOMAIN for others.
pub fn dns_reply(query: &[u8], names: &[(String, Ipv4Addr)]) -> Option<Vec<u8>> {
    let (name, end) = parse_qname(query)?;
    let question = query.get(12..end + 4)?;
    let addr = names.iter().find(|(n, _)| *n == name).map(|(_, a)| *a);
    let rcode = if addr.is_some() { 0 } else { 3 };
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]); // id
    out.extend_from_slice(&(0x8180u16 | rcode).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // questions
    out.extend_from_slice(&u16::from(addr.is_some()).to_be_bytes()); // answers
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    if let Some(a) = addr {
        out.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        out.extend_from_slice(&a.octets());
    }
    Some(out)
}

/// The question's name (dotted) and the offset just after it.
fn parse_qname(q: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(at)?);
        at += 1;
        if len == 0 {
            return Some((labels.join("."), at));
        }
        labels.push(String::from_utf8(q.get(at..at + len)?.to_vec()).ok()?);
        at += len;
    }
}
