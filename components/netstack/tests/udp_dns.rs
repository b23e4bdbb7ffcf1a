//! UDP between two stacks; DNS look-ups against a fake server on the wire.

mod common;

use common::*;
use netstack::{NetConfig, NetError, PortRange, MAX_DATAGRAM};
use std::net::{Ipv4Addr, SocketAddrV4};

#[test]
fn udp_round_trip() {
    let mut w = World::two(fixed(1), fixed(2));
    let ca = w.a.add_client(PortRange::new(5000, 5999));
    let cb = w.b().add_client(PortRange::new(7000, 7000));
    let ua = w.a.udp_bind(ca, 0).unwrap();
    let ub = w.b().udp_bind(cb, 7000).unwrap();
    let pa = w.a.local_port(ca, ua).unwrap();
    assert!((5000..=5999).contains(&pa));
    let to_b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 7000);
    w.a.udp_send_to(ca, ua, to_b, b"ping over udp").unwrap();
    let mut buf = [0u8; 64];
    let mut got = None;
    assert!(w.until(1_000, |w| {
        got = w.b().udp_recv_from(cb, ub, &mut buf).ok();
        got.is_some()
    }));
    let (n, from) = got.unwrap();
    assert_eq!(&buf[..n], b"ping over udp");
    assert_eq!(from, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), pa));
    w.b().udp_send_to(cb, ub, from, b"pong").unwrap();
    let mut got = None;
    assert!(w.until(1_000, |w| {
        got = w.a.udp_recv_from(ca, ua, &mut buf).ok();
        got.is_some()
    }));
    assert_eq!(&buf[..got.unwrap().0], b"pong");
    assert_eq!(
        w.a.udp_recv_from(ca, ua, &mut buf),
        Err(NetError::WouldBlock)
    );
    let big = vec![0u8; MAX_DATAGRAM + 1];
    assert_eq!(
        w.a.udp_send_to(ca, ua, to_b, &big),
        Err(NetError::TooLarge { max: 1472 })
    );
    assert_eq!(
        w.b().udp_bind(cb, 7000),
        Err(NetError::PortInUse { port: 7000 })
    );
}

fn resolve(w: &mut World, name: &str) -> Result<Ipv4Addr, NetError> {
    let c = w.a.add_client(Some(PortRange::ALL));
    let h = w.a.dns_start(c, name)?;
    assert!(w.until(60_000, |w| w.a.dns_result(c, h)
        != Err(NetError::WouldBlock)));
    let r = w.a.dns_result(c, h);
    assert_eq!(w.a.dns_result(c, h), r, "the answer stays");
    w.a.close(c, h).unwrap();
    r
}

fn leased() -> World {
    let mut w = World::one(NetConfig::dhcp()).with_host();
    assert!(w.until(5_000, |w| w.a.ready().is_ok()));
    w
}

#[test]
fn dns_resolves_through_the_server_dhcp_gave() {
    let mut w = leased();
    assert_eq!(w.a.dns_servers(), [DNS]);
    assert_eq!(
        resolve(&mut w, "pandagen.test"),
        Ok(Ipv4Addr::new(10, 0, 2, 99))
    );
    assert_eq!(resolve(&mut w, "nope.test"), Err(NetError::NameNotFound));
}

#[test]
fn silent_dns_server_is_a_timeout() {
    let mut w = leased();
    w.host().dns_on = false;
    let start = w.now();
    assert_eq!(resolve(&mut w, "pandagen.test"), Err(NetError::TimedOut));
    assert!(w.now() - start >= 10_000);
}

#[test]
fn dns_refusals_are_named() {
    let mut w = World::one(fixed(1));
    let c = w.a.add_client(Some(PortRange::ALL));
    assert_eq!(
        w.a.dns_start(c, "pandagen.test"),
        Err(NetError::NoDnsServer)
    );
    let mut w = leased();
    let c = w.a.add_client(Some(PortRange::ALL));
    for bad in [
        "",
        "a..b",
        "spaces here",
        &"x".repeat(64),
        &"a.".repeat(130),
    ] {
        assert_eq!(w.a.dns_start(c, bad), Err(NetError::BadName), "{bad:?}");
    }
    let mut w = World::one(NetConfig::dhcp());
    let c = w.a.add_client(Some(PortRange::ALL));
    assert_eq!(w.a.dns_start(c, "pandagen.test"), Err(NetError::NoAddress));
}
