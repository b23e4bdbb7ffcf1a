use super::*;
use alloc::vec;

fn a(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 15), port)
}

fn requests(data: &[u8]) -> Vec<Request<'_>> {
    vec![
        Request::Status,
        Request::PingStart {
            target: Ipv4Addr::new(10, 0, 2, 2),
            count: 4,
            interval_ms: 1000,
            timeout_ms: 2000,
            payload_len: 56,
        },
        Request::PingReport { handle: 1 },
        Request::TcpConnect { remote: a(80) },
        Request::TcpListen { port: 8080 },
        Request::Accept { handle: 2 },
        Request::Send { handle: 3, data },
        Request::Send {
            handle: 3,
            data: &[],
        },
        Request::Recv {
            handle: 3,
            max: MAX_DATA as u32,
        },
        Request::Close { handle: u32::MAX },
        Request::TcpState { handle: 4 },
        Request::Abort { handle: 5 },
        Request::UdpBind { port: 0 },
        Request::UdpSendTo {
            handle: 6,
            to: a(53),
            data,
        },
        Request::UdpRecvFrom {
            handle: 6,
            max: 1472,
        },
        Request::DnsStart {
            name: "pandagen.test",
        },
        Request::DnsResult { handle: 7 },
    ]
}

fn status() -> Status {
    Status {
        mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
        link: true,
        ipv4: Some(Cidr {
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
        }),
        gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
        dns: vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(1, 1, 1, 1)],
        lease_remaining_s: Some(86_000),
        dhcp_state: DhcpState::Bound,
        stats: LinkStats {
            rx_frames: 10,
            tx_frames: 20,
            errors: 1,
        },
    }
}

fn all_errors() -> Vec<NetError> {
    use NetError::*;
    let range = PortRange {
        first: 1024,
        last: 65535,
    };
    vec![
        DhcpTimeout { waited_ms: 10_001 },
        NoAddress,
        LinkDown,
        ConnectionRefused,
        ConnectionReset,
        TimedOut,
        WouldBlock,
        NotConnected,
        BadHandle,
        WrongKind,
        TooManySockets { limit: 16 },
        PortOutsideRange { port: 80, range },
        PortInUse { port: 8080 },
        NoFreePort { range },
        BadAddress,
        TooLarge { max: 1472 },
        UnknownClient,
        NameNotFound,
        NoDnsServer,
        BadName,
        BadRequest,
        NoPortRange,
    ]
}

fn responses(data: &[u8]) -> Vec<Response<'_>> {
    let mut v = vec![
        Response::Ok,
        Response::Handle(9),
        Response::Status(status()),
        Response::Status(Status {
            ipv4: None,
            gateway: None,
            dns: vec![],
            lease_remaining_s: None,
            dhcp_state: DhcpState::TimedOut,
            link: false,
            ..status()
        }),
        Response::PingReport(PingReport {
            target: Ipv4Addr::new(10, 0, 2, 2),
            sent: 4,
            replies: vec![
                PingReply { seq: 0, rtt_ms: 12 },
                PingReply { seq: 2, rtt_ms: 10 },
            ],
            done: true,
        }),
        Response::Accepted {
            handle: 3,
            peer: a(40001),
        },
        Response::Sent(60 * 1024),
        Response::Data(data),
        Response::Data(&[]),
        Response::Datagram { from: a(53), data },
        Response::Resolved(Ipv4Addr::new(10, 0, 2, 99)),
    ];
    for s in [
        TcpState::Listening,
        TcpState::Connecting,
        TcpState::Established,
        TcpState::PeerClosed,
    ] {
        v.push(Response::TcpState(s));
    }
    v.extend(all_errors().into_iter().map(Response::Err));
    v
}

#[test]
fn every_request_round_trips_and_every_cut_is_truncated() {
    let data = vec![0xA5u8; 1000];
    let mut buf = vec![0u8; MAX_REPLY];
    for req in requests(&data) {
        let n = req.encode(&mut buf).unwrap();
        assert_eq!(Request::decode(&buf[..n]), Ok(req));
        for cut in 0..n {
            assert_eq!(
                Request::decode(&buf[..cut]),
                Err(WireError::Truncated),
                "{req:?} cut at {cut}"
            );
        }
        buf[n] = 0;
        assert_eq!(
            Request::decode(&buf[..n + 1]),
            Err(WireError::Trailing),
            "{req:?}"
        );
    }
}

#[test]
fn every_response_round_trips_and_every_cut_is_truncated() {
    let data = vec![0x5Au8; 700];
    let mut buf = vec![0u8; MAX_REPLY];
    for resp in responses(&data) {
        let n = resp.encode(&mut buf).unwrap();
        assert_eq!(Response::decode(&buf[..n]).as_ref(), Ok(&resp));
        for cut in 0..n {
            assert_eq!(
                Response::decode(&buf[..cut]),
                Err(WireError::Truncated),
                "{resp:?} cut at {cut}"
            );
        }
        buf[n] = 0;
        assert_eq!(
            Response::decode(&buf[..n + 1]),
            Err(WireError::Trailing),
            "{resp:?}"
        );
    }
}

#[test]
fn the_largest_messages_fit() {
    let data = vec![1u8; MAX_DATA];
    let mut buf = vec![0u8; MAX_REPLY];
    let n = Request::UdpSendTo {
        handle: 1,
        to: a(9),
        data: &data,
    }
    .encode(&mut buf)
    .unwrap();
    assert!(n <= MAX_REPLY && MAX_REPLY <= MAX_MESSAGE);
    let n = Response::Datagram {
        from: a(9),
        data: &data,
    }
    .encode(&mut buf)
    .unwrap();
    assert!(n <= MAX_REPLY);
    let big = vec![1u8; MAX_DATA + 1];
    assert_eq!(
        Request::Send {
            handle: 1,
            data: &big
        }
        .encode(&mut buf),
        Err(WireError::TooLong)
    );
    assert_eq!(
        Response::Data(&big).encode(&mut buf),
        Err(WireError::TooLong)
    );
    let name = "a".repeat(MAX_NAME + 1);
    assert_eq!(
        Request::DnsStart { name: &name }.encode(&mut buf),
        Err(WireError::TooLong)
    );
    assert_eq!(Request::Status.encode(&mut []), Err(WireError::Truncated));
}

#[test]
fn malformed_messages_are_named_errors() {
    assert_eq!(
        Request::decode(&[0x7E, 0, 0, 0, 0]),
        Err(WireError::UnknownTag(0x7E))
    );
    assert_eq!(Response::decode(&[0x42]), Err(WireError::UnknownTag(0x42)));
    assert_eq!(
        Response::decode(&[R_ERR, 99]),
        Err(WireError::UnknownTag(99))
    );
    assert_eq!(
        Response::decode(&[R_TCP_STATE, 4]),
        Err(WireError::BadValue)
    );
    // A length over the limit, whatever follows.
    let mut m = vec![OP_SEND, 1, 0, 0, 0];
    m.extend(((MAX_DATA + 1) as u32).to_le_bytes());
    assert_eq!(Request::decode(&m), Err(WireError::TooLong));
    assert_eq!(
        Request::decode(&[OP_DNS_START, 1, 0, 0xFF]),
        Err(WireError::NotUtf8)
    );
    // An empty port range in an error.
    let mut m = vec![R_ERR, 14];
    m.extend(9u16.to_le_bytes());
    m.extend(1u16.to_le_bytes());
    assert_eq!(Response::decode(&m), Err(WireError::BadValue));
    // A flag other than 0/1 in a ping report.
    let mut buf = [0u8; 64];
    let p = PingReport {
        target: Ipv4Addr::LOCALHOST,
        sent: 0,
        replies: vec![],
        done: false,
    };
    let n = Response::PingReport(p).encode(&mut buf).unwrap();
    buf[7] = 2;
    assert_eq!(Response::decode(&buf[..n]), Err(WireError::BadValue));
}

#[test]
fn random_bytes_never_panic() {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut msg = [0u8; 96];
    for i in 0..20_000 {
        let len = i % msg.len();
        for b in &mut msg[..len] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        // A known tag first, half the time, to get past the first byte.
        if i % 2 == 0 && len > 0 {
            msg[0] = [
                OP_STATUS,
                OP_PING_START,
                OP_SEND,
                OP_UDP_SEND_TO,
                OP_DNS_START,
                R_STATUS,
                R_PING,
                R_ERR,
                R_DATAGRAM,
            ][i % 9];
        }
        let _ = Request::decode(&msg[..len]);
        let _ = Response::decode(&msg[..len]);
    }
}
