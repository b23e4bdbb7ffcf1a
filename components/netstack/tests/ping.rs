//! ICMP echo between two stacks: round-trip times, loss, an absent host.

mod common;

use common::*;
use netstack::{NetError, PingOptions, PingReport, PortRange};
use std::net::Ipv4Addr;

const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn ping(w: &mut World, target: Ipv4Addr, count: u16) -> PingReport {
    let c = w.a.add_client(Some(PortRange::ALL));
    let opts = PingOptions {
        count,
        interval_ms: 100,
        timeout_ms: 500,
        payload_len: 56,
    };
    let h = w.a.ping_start(c, target, opts).unwrap();
    assert!(w.until(60_000, |w| w.a.ping_report(c, h).unwrap().done));
    let report = w.a.ping_report(c, h).unwrap();
    w.a.close(c, h).unwrap();
    assert_eq!(w.a.ping_report(c, h), Err(NetError::BadHandle));
    report
}

#[test]
fn ping_reports_round_trip_times() {
    let mut w = World::two(fixed(1), fixed(2));
    w.wire.set_delay(5);
    let r = ping(&mut w, B, 4);
    assert_eq!(
        (r.target, r.sent, r.received(), r.loss_percent()),
        (B, 4, 4, 0)
    );
    let seqs: Vec<u16> = r.replies.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    // 5 ms each way: the first waits for ARP (two more crossings), the others are one
    // round trip. The clock moves 1 ms per poll, so the times are exact.
    let rtts: Vec<u32> = r.replies.iter().map(|x| x.rtt_ms).collect();
    assert_eq!(rtts, [20, 10, 10, 10]);
}

#[test]
fn dropping_every_other_request_is_half_lost() {
    let mut w = World::two(fixed(1), fixed(2));
    assert_eq!(ping(&mut w, B, 1).received(), 1); // ARP resolved both ways
    w.a.frames().drop_every(2);
    let r = ping(&mut w, B, 10);
    assert_eq!((r.sent, r.received(), r.loss_percent()), (10, 5, 50));
    let seqs: Vec<u16> = r.replies.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, [0, 2, 4, 6, 8]);
    assert_eq!(w.a.frames().dropped(), 5);
}

#[test]
fn absent_host_is_all_lost_after_the_timeout() {
    let mut w = World::two(fixed(1), fixed(2));
    let start = w.now();
    let r = ping(&mut w, Ipv4Addr::new(10, 0, 0, 99), 3);
    assert_eq!((r.sent, r.received(), r.loss_percent()), (3, 0, 100));
    // Last request at 200 ms, its timeout 500 ms later.
    assert!(
        (700..=702).contains(&(w.now() - start)),
        "{}",
        w.now() - start
    );
}

#[test]
fn bad_ping_arguments_are_named() {
    let mut w = World::one(fixed(1));
    let c = w.a.add_client(Some(PortRange::ALL));
    let opts = PingOptions::default();
    assert_eq!(
        w.a.ping_start(c, Ipv4Addr::BROADCAST, opts),
        Err(NetError::BadAddress)
    );
    let big = PingOptions {
        payload_len: 1025,
        ..opts
    };
    assert_eq!(
        w.a.ping_start(c, B, big),
        Err(NetError::TooLarge { max: 1024 })
    );
    let many = PingOptions { count: 101, ..opts };
    assert_eq!(
        w.a.ping_start(c, B, many),
        Err(NetError::TooLarge { max: 100 })
    );
    let mut w = World::one(netstack::NetConfig::dhcp());
    let c = w.a.add_client(Some(PortRange::ALL));
    assert_eq!(w.a.ping_start(c, B, opts), Err(NetError::NoAddress));
}
