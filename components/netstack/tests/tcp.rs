//! TCP between two stacks: bulk round trip, refusal, reset, timeout, port ranges, limits,
//! bad handles, malformed frames.

mod common;

use common::*;
use netstack::fake::WirePort;
use netstack::{ClientId, Frames, Handle, NetError, PortRange, Stack, TcpState};
use std::net::{Ipv4Addr, SocketAddrV4};

const SERVER_RANGE: PortRange = PortRange {
    first: 8000,
    last: 8999,
};
const CLIENT_RANGE: PortRange = PortRange {
    first: 40000,
    last: 40100,
};

fn b_addr(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port)
}

struct Pair {
    w: World,
    ca: ClientId,
    cb: ClientId,
}

fn pair() -> Pair {
    let mut w = World::two(fixed(1), fixed(2));
    let ca = w.a.add_client(Some(CLIENT_RANGE));
    let cb = w.b().add_client(Some(SERVER_RANGE));
    Pair { w, ca, cb }
}

/// A connected stream: (a's handle, b's accepted handle).
fn connect(p: &mut Pair, port: u16) -> (Handle, Handle) {
    let (ca, cb) = (p.ca, p.cb);
    let l = p.w.b().tcp_listen(cb, port).unwrap();
    let h = p.w.a.tcp_connect(ca, b_addr(port)).unwrap();
    assert_eq!(p.w.a.tcp_state(ca, h), Ok(TcpState::Connecting));
    let mut accepted = None;
    assert!(p.w.until(2_000, |w| {
        accepted = accepted.or_else(|| w.b().accept(cb, l).ok());
        accepted.is_some() && w.a.tcp_state(ca, h) == Ok(TcpState::Established)
    }));
    let (hb, peer) = accepted.unwrap();
    assert_eq!(
        peer,
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), p.w.a.local_port(ca, h).unwrap())
    );
    (h, hb)
}

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn checksum(d: &[u8]) -> u64 {
    d.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn pump(st: &mut Stack<WirePort>, c: ClientId, h: Handle, out: &[u8], sent: &mut usize) {
    if *sent < out.len() {
        match st.send(c, h, &out[*sent..]) {
            Ok(n) => *sent += n,
            Err(NetError::WouldBlock) => {}
            Err(e) => panic!("send: {e}"),
        }
    }
}

fn drain(st: &mut Stack<WirePort>, c: ClientId, h: Handle, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 8192];
    loop {
        match st.recv(c, h, &mut buf) {
            Ok(0) => return true,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(NetError::WouldBlock) => return false,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[test]
fn one_mebibyte_round_trip() {
    let mut p = pair();
    let (ca, cb) = (p.ca, p.cb);
    let (ha, hb) = connect(&mut p, 8080);
    let out = data(1 << 20);
    let (mut sent, mut echoed, mut back) = (0, 0, Vec::new());
    let mut at_b = Vec::new();
    let done = p.w.until(60_000, |w| {
        pump(&mut w.a, ca, ha, &out, &mut sent);
        drain(w.b(), cb, hb, &mut at_b);
        let b_copy = at_b.clone();
        pump(w.b(), cb, hb, &b_copy, &mut echoed);
        drain(&mut w.a, ca, ha, &mut back);
        back.len() == out.len()
    });
    assert!(
        done,
        "sent {sent}, b got {}, back {}",
        at_b.len(),
        back.len()
    );
    assert_eq!(checksum(&back), checksum(&out));
    assert_eq!(checksum(&at_b), checksum(&out));
    // a closes: b drains and sees the end of the stream.
    p.w.a.close(ca, ha).unwrap();
    let mut rest = Vec::new();
    assert!(p.w.until(1_000, |w| drain(w.b(), cb, hb, &mut rest)));
    assert_eq!(p.w.b().tcp_state(cb, hb), Ok(TcpState::PeerClosed));
    assert_eq!(p.w.a.send(ca, ha, b"x"), Err(NetError::BadHandle));
}

#[test]
fn nothing_listening_is_connection_refused() {
    let mut p = pair();
    let ca = p.ca;
    let h = p.w.a.tcp_connect(ca, b_addr(8081)).unwrap();
    assert!(p
        .w
        .until(1_000, |w| w.a.tcp_state(ca, h) != Ok(TcpState::Connecting)));
    assert_eq!(p.w.a.tcp_state(ca, h), Err(NetError::ConnectionRefused));
    assert_eq!(p.w.a.send(ca, h, b"x"), Err(NetError::ConnectionRefused));
    p.w.a.close(ca, h).unwrap();
}

#[test]
fn peer_reset_is_named_on_the_other_side() {
    let mut p = pair();
    let (ca, cb) = (p.ca, p.cb);
    let (ha, hb) = connect(&mut p, 8082);
    p.w.b().abort(cb, hb).unwrap();
    let mut buf = [0u8; 16];
    assert!(p.w.until(1_000, |w| w.a.recv(ca, ha, &mut buf)
        != Err(NetError::WouldBlock)));
    assert_eq!(p.w.a.recv(ca, ha, &mut buf), Err(NetError::ConnectionReset));
    assert_eq!(p.w.a.tcp_state(ca, ha), Err(NetError::ConnectionReset));
}

#[test]
fn silent_peer_is_a_timeout() {
    let mut p = pair();
    let ca = p.ca;
    // Nobody has 10.0.0.77: ARP never answers.
    let h =
        p.w.a
            .tcp_connect(ca, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 77), 80))
            .unwrap();
    p.w.run(9_990);
    assert_eq!(p.w.a.tcp_state(ca, h), Ok(TcpState::Connecting));
    p.w.run(20);
    assert_eq!(p.w.a.tcp_state(ca, h), Err(NetError::TimedOut));
}

#[test]
fn ports_stay_inside_the_granted_range() {
    let mut p = pair();
    let (ca, cb) = (p.ca, p.cb);
    assert_eq!(
        p.w.b().tcp_listen(cb, 80),
        Err(NetError::PortOutsideRange {
            port: 80,
            range: SERVER_RANGE
        })
    );
    assert_eq!(
        p.w.b().udp_bind(cb, 9000),
        Err(NetError::PortOutsideRange {
            port: 9000,
            range: SERVER_RANGE
        })
    );
    let l = p.w.b().tcp_listen(cb, 8000).unwrap();
    assert_eq!(
        p.w.b().tcp_listen(cb, 8000),
        Err(NetError::PortInUse { port: 8000 })
    );
    assert_eq!(p.w.b().tcp_state(cb, l), Ok(TcpState::Listening));
    // Ephemeral ports for connect come from the client's range, all different.
    let mut ports = Vec::new();
    for _ in 0..5 {
        let h = p.w.a.tcp_connect(ca, b_addr(8000)).unwrap();
        let port = p.w.a.local_port(ca, h).unwrap();
        assert!(CLIENT_RANGE.contains(port), "{port}");
        assert!(!ports.contains(&port));
        ports.push(port);
    }
    let u = p.w.a.udp_bind(ca, 0).unwrap();
    assert!(CLIENT_RANGE.contains(p.w.a.local_port(ca, u).unwrap()));
}

#[test]
fn a_full_range_has_no_free_port() {
    let mut p = pair();
    let narrow = PortRange::new(5000, 5001).unwrap();
    let c = p.w.a.add_client(Some(narrow));
    p.w.a.tcp_connect(c, b_addr(8000)).unwrap();
    p.w.a.tcp_connect(c, b_addr(8000)).unwrap();
    assert_eq!(
        p.w.a.tcp_connect(c, b_addr(8000)),
        Err(NetError::NoFreePort { range: narrow })
    );
}

#[test]
fn too_many_sockets() {
    let mut p = pair();
    let ca = p.ca;
    let mut handles = Vec::new();
    for _ in 0..16 {
        handles.push(p.w.a.udp_bind(ca, 0).unwrap());
    }
    assert_eq!(
        p.w.a.udp_bind(ca, 0),
        Err(NetError::TooManySockets { limit: 16 })
    );
    assert_eq!(
        p.w.a.tcp_connect(ca, b_addr(8000)),
        Err(NetError::TooManySockets { limit: 16 })
    );
    p.w.a.close(ca, handles[3]).unwrap();
    assert!(p.w.a.tcp_connect(ca, b_addr(8000)).is_ok());
    // Another client has its own table.
    let other = p.w.a.add_client(Some(CLIENT_RANGE));
    assert!(p.w.a.udp_bind(other, 0).is_ok());
}

#[test]
fn bad_handles_are_named_never_a_panic() {
    let mut p = pair();
    let (ca, cb) = (p.ca, p.cb);
    let mut buf = [0u8; 8];
    let to = b_addr(8000);
    assert_eq!(p.w.a.send(ca, Handle(999), b"x"), Err(NetError::BadHandle));
    assert_eq!(
        p.w.a.recv(ca, Handle(0), &mut buf),
        Err(NetError::BadHandle)
    );
    assert_eq!(p.w.a.close(ca, Handle(7)), Err(NetError::BadHandle));
    assert_eq!(
        p.w.a.udp_recv_from(ca, Handle(1), &mut buf),
        Err(NetError::BadHandle)
    );
    assert_eq!(
        p.w.a.send(ClientId(77), Handle(1), b"x"),
        Err(NetError::UnknownClient)
    );
    let u = p.w.a.udp_bind(ca, 0).unwrap();
    assert_eq!(p.w.a.send(ca, u, b"x"), Err(NetError::WrongKind));
    assert_eq!(p.w.a.accept(ca, u), Err(NetError::WrongKind));
    // Another client's handle is not yours.
    let other = p.w.a.add_client(Some(CLIENT_RANGE));
    assert_eq!(
        p.w.a.udp_send_to(other, u, to, b"x"),
        Err(NetError::BadHandle)
    );
    let l = p.w.b().tcp_listen(cb, 8000).unwrap();
    assert_eq!(p.w.b().send(cb, l, b"x"), Err(NetError::NotConnected));
    assert_eq!(p.w.b().accept(cb, l), Err(NetError::WouldBlock));
    let h = p.w.a.tcp_connect(ca, to).unwrap();
    assert_eq!(p.w.a.udp_send_to(ca, h, to, b"x"), Err(NetError::WrongKind));
    assert_eq!(
        p.w.a
            .tcp_connect(ca, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)),
        Err(NetError::BadAddress)
    );
    assert_eq!(p.w.a.tcp_connect(ca, b_addr(0)), Err(NetError::BadAddress));
    p.w.a.remove_client(ca);
    assert_eq!(p.w.a.send(ca, h, b"x"), Err(NetError::UnknownClient));
}

#[test]
fn link_down_and_no_address_are_named() {
    let mut p = pair();
    let (ca, cb) = (p.ca, p.cb);
    let (ha, _hb) = connect(&mut p, 8083);
    p.w.a.frames().set_link(false);
    p.w.run(2);
    assert_eq!(p.w.a.send(ca, ha, b"x"), Err(NetError::LinkDown));
    assert_eq!(p.w.a.tcp_connect(ca, b_addr(8083)), Err(NetError::LinkDown));
    let _ = cb;
    let mut w = World::one(netstack::NetConfig::dhcp());
    let c = w.a.add_client(Some(CLIENT_RANGE));
    assert_eq!(w.a.tcp_connect(c, b_addr(80)), Err(NetError::NoAddress));
}

#[test]
fn malformed_frames_do_not_hurt() {
    let mut p = pair();
    let mut junk = p.w.wire.port(mac(9));
    let mut frames: Vec<Vec<u8>> = vec![vec![], vec![0xff; 5], vec![0xff; 14]];
    // Broadcast Ethernet headers with IPv4/ARP types and garbage or cut payloads.
    for ty in [[0x08, 0x00], [0x08, 0x06]] {
        for len in [0, 1, 19, 20, 40, 60, 1500] {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&mac(9));
            f.extend_from_slice(&ty);
            f.extend(
                data(len)
                    .iter()
                    .enumerate()
                    .map(|(i, b)| if i == 0 { 0x45 } else { *b }),
            );
            frames.push(f);
        }
    }
    // Random frames to a's MAC, IPv4 and ARP, of every length.
    let noise = data(300_000);
    let mut at = 0;
    for i in 0..3_000usize {
        let len = i % 1500;
        let mut f = mac(1).to_vec();
        f.extend_from_slice(&mac(9));
        f.extend_from_slice(if i % 3 == 0 {
            &[0x08, 0x06]
        } else {
            &[0x08, 0x00]
        });
        f.extend_from_slice(&noise[at..at + len]);
        at = (at + len) % (noise.len() - 1500);
        frames.push(f);
    }
    for f in &frames {
        junk.send(f).unwrap();
        p.w.tick();
    }
    // Still works.
    let (ca, cb) = (p.ca, p.cb);
    let (ha, hb) = connect(&mut p, 8084);
    p.w.a.send(ca, ha, b"hello").unwrap();
    let mut got = Vec::new();
    assert!(p.w.until(1_000, |w| {
        drain(w.b(), cb, hb, &mut got);
        got == b"hello"
    }));
}

#[test]
fn a_client_without_port_range_may_ping_but_not_bind() {
    let mut p = pair();
    let c = p.w.a.add_client(None);
    assert_eq!(
        p.w.a.tcp_connect(c, b_addr(8000)),
        Err(NetError::NoPortRange)
    );
    assert_eq!(p.w.a.tcp_listen(c, 8000), Err(NetError::NoPortRange));
    assert_eq!(p.w.a.udp_bind(c, 0), Err(NetError::NoPortRange));
    let opts = netstack::PingOptions::default();
    assert!(p
        .w
        .a
        .ping_start(c, Ipv4Addr::new(10, 0, 0, 2), opts)
        .is_ok());
    assert_eq!(p.w.a.client_range(c), Ok(None));
}

#[test]
fn transfer_survives_a_lossy_wire() {
    let mut p = pair();
    let (ca, cb) = (p.ca, p.cb);
    let (ha, hb) = connect(&mut p, 8085);
    p.w.wire.set_delay(2);
    p.w.a.frames().drop_every(10);
    p.w.b().frames().drop_every(13);
    let out = data(256 * 1024);
    let (mut sent, mut got) = (0, Vec::new());
    let done = p.w.until(300_000, |w| {
        pump(&mut w.a, ca, ha, &out, &mut sent);
        drain(w.b(), cb, hb, &mut got);
        got.len() == out.len()
    });
    assert!(done, "sent {sent}, got {}", got.len());
    assert_eq!(checksum(&got), checksum(&out));
    assert!(p.w.a.frames().dropped() > 0);
}
