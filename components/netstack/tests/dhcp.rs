//! DHCPv4 against a fake server on the wire; static configuration; link loss; status.

mod common;

use common::*;
use netstack::{DhcpState, Event, Ipv4Config, NetConfig, NetError, PortRange};
use std::net::Ipv4Addr;

fn events(w: &mut World) -> Vec<Event> {
    std::iter::from_fn(|| w.a.take_event()).collect()
}

#[test]
fn dhcp_lease_shows_in_status() {
    let mut w = World::one(NetConfig::dhcp()).with_host();
    assert_eq!(w.a.ready(), Err(NetError::NoAddress));
    assert!(w.until(5_000, |w| w.a.dhcp_state() == DhcpState::Bound));
    let s = w.a.status();
    assert_eq!(s.mac, mac(1));
    assert!(s.link);
    assert_eq!(s.ipv4, Some(cidr([10, 0, 2, 15], 24)));
    assert_eq!(s.gateway, Some(GATEWAY));
    assert_eq!(s.dns, vec![DNS]);
    assert_eq!(s.lease_remaining_s, Some(LEASE_S));
    assert_eq!(
        events(&mut w),
        vec![Event::Configured(cidr([10, 0, 2, 15], 24))]
    );
    w.run(10_000);
    assert_eq!(w.a.status().lease_remaining_s, Some(LEASE_S - 10));
    let text = w.a.status().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "link up, MAC 52:54:00:12:34:01",
            "ipv4 10.0.2.15/24 (DHCP bound, lease 3590 s left)",
            "gateway 10.0.2.2",
            "dns 10.0.2.3",
        ]
    );
    assert!(lines[4].starts_with("frames: "), "{text}");
    assert_eq!(w.a.ready(), Ok(cidr([10, 0, 2, 15], 24)));
}

#[test]
fn renewal_restarts_the_lease() {
    let mut w = World::one(NetConfig::dhcp()).with_host();
    assert!(w.until(5_000, |w| w.a.dhcp_state() == DhcpState::Bound));
    let asked = w.host().dhcp_requests;
    // Half the lease (T1): the client renews, the server ACKs, the countdown restarts.
    for _ in 0..(LEASE_S / 2 - 10) {
        w.step(1_000);
    }
    assert_eq!(w.host().dhcp_requests, asked);
    assert_eq!(w.a.status().lease_remaining_s, Some(LEASE_S / 2 + 10));
    for _ in 0..20_000 {
        w.step(1);
    }
    assert!(w.host().dhcp_requests > asked, "no renewal");
    let left = w.a.status().lease_remaining_s.unwrap();
    assert!(left >= LEASE_S - 20, "{left}");
    assert_eq!(w.a.dhcp_state(), DhcpState::Bound);
}

#[test]
fn silent_dhcp_server_is_a_named_timeout_then_recovers() {
    let mut w = World::one(NetConfig::dhcp()).with_host();
    w.host().dhcp_on = false;
    w.run(9_990);
    assert_eq!(w.a.dhcp_state(), DhcpState::Discovering);
    assert!(matches!(w.a.poll_delay_ms(), Some(d) if d <= 100));
    assert!(w
        .a
        .status()
        .to_string()
        .contains("ipv4 none (DHCP discovering)"));
    assert!(events(&mut w).is_empty());
    w.run(20);
    let evs = events(&mut w);
    assert!(
        matches!(evs[..], [Event::DhcpTimeout { waited_ms }] if (10_000..10_100).contains(&waited_ms)),
        "{evs:?}"
    );
    assert_eq!(w.a.dhcp_state(), DhcpState::TimedOut);
    assert!(matches!(w.a.ready(), Err(NetError::DhcpTimeout { waited_ms }) if waited_ms >= 10_000));
    assert_eq!(w.a.status().ipv4, None);
    // DISCOVERs keep coming (every 2 s), so a server that wakes up is heard.
    let asked = w.host().dhcp_requests;
    assert!(asked >= 5, "{asked} DISCOVERs in 10 s");
    w.host().dhcp_on = true;
    assert!(w.until(3_000, |w| w.a.dhcp_state() == DhcpState::Bound));
    assert_eq!(w.a.status().ipv4, Some(cidr([10, 0, 2, 15], 24)));
    assert_eq!(
        events(&mut w),
        vec![Event::Configured(cidr([10, 0, 2, 15], 24))]
    );
}

#[test]
fn link_loss_is_reported_and_dhcp_restarts_when_it_returns() {
    let mut w = World::one(NetConfig::dhcp()).with_host();
    assert!(w.until(5_000, |w| w.a.dhcp_state() == DhcpState::Bound));
    events(&mut w);
    w.a.frames().set_link(false);
    w.run(10);
    assert_eq!(w.a.ready(), Err(NetError::LinkDown));
    assert!(!w.a.status().link);
    assert_eq!(
        w.a.status().stats.errors,
        0,
        "a down link is not a device error"
    );
    assert_eq!(events(&mut w), vec![Event::LinkDown]);
    w.a.frames().set_link(true);
    assert!(w.until(5_000, |w| {
        w.a.dhcp_state() == DhcpState::Bound && w.a.ready().is_ok()
    }));
    let evs = events(&mut w);
    assert_eq!(evs.first(), Some(&Event::LinkUp), "{evs:?}");
    assert_eq!(
        evs.last(),
        Some(&Event::Configured(cidr([10, 0, 2, 15], 24)))
    );
}

#[test]
fn static_configuration() {
    let config = NetConfig::fixed(
        cidr([192, 168, 1, 5], 24),
        Some(Ipv4Addr::new(192, 168, 1, 1)),
        &[Ipv4Addr::new(1, 1, 1, 1)],
    );
    let mut w = World::one(config);
    w.run(5);
    let s = w.a.status();
    assert_eq!(s.dhcp_state, DhcpState::Off);
    assert_eq!(s.ipv4, Some(cidr([192, 168, 1, 5], 24)));
    assert_eq!(s.gateway, Some(Ipv4Addr::new(192, 168, 1, 1)));
    assert_eq!(s.dns, vec![Ipv4Addr::new(1, 1, 1, 1)]);
    assert_eq!(s.lease_remaining_s, None);
    assert_eq!(
        w.a.take_event(),
        Some(Event::Configured(cidr([192, 168, 1, 5], 24)))
    );
}

#[test]
fn config_text() {
    assert_eq!("dhcp".parse(), Ok(Ipv4Config::Dhcp));
    assert_eq!(
        "static 10.0.2.15/24 gw 10.0.2.2 dns 10.0.2.3,1.1.1.1".parse(),
        Ok(Ipv4Config::Static {
            address: cidr([10, 0, 2, 15], 24),
            gateway: Some(GATEWAY),
            dns: vec![DNS, Ipv4Addr::new(1, 1, 1, 1)],
        })
    );
    for bad in [
        "",
        "dhcp x",
        "static",
        "static 10.0.2.15",
        "static 10.0.2.15/33",
        "static 1.2.3.4/8 gw",
        "static 1.2.3.4/8 mtu 9",
        "static 1.2.3.4/8 dns x",
    ] {
        let e = bad.parse::<Ipv4Config>().unwrap_err();
        assert!(
            e.to_string().starts_with("bad network config: "),
            "{bad}: {e}"
        );
    }
}

#[test]
fn port_range_from_capabilities() {
    let caps = "network_device:eth0\nport_range:1024-65535\n";
    assert_eq!(PortRange::from_caps(caps), PortRange::new(1024, 65535));
    assert_eq!(PortRange::from_caps("console\n"), None);
    assert_eq!(PortRange::parse("9-1"), None);
    assert_eq!(PortRange::parse("0-5"), None);
    assert_eq!(PortRange::parse("80-80").map(|r| r.len()), Some(1));
}
