//! `network_api` served on a stack: requests in, replies out, as `services_network` will.

mod common;

use common::*;
use netstack::api::{serve_message, Request, Response, MAX_DATA, MAX_REPLY};
use netstack::fake::WirePort;
use netstack::{ClientId, NetError, PortRange, Stack, TcpState};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Encodes `req`, serves it, decodes the reply (owned copy of the data, if any).
fn call(st: &mut Stack<WirePort>, c: ClientId, req: Request<'_>) -> (Response<'static>, Vec<u8>) {
    let mut msg = vec![0u8; MAX_REPLY];
    let n = req.encode(&mut msg).unwrap();
    let (mut scratch, mut reply) = (vec![0u8; MAX_DATA], vec![0u8; MAX_REPLY]);
    let len = serve_message(st, c, &msg[..n], &mut scratch, &mut reply);
    let data = match Response::decode(&reply[..len]).unwrap() {
        Response::Data(d) | Response::Datagram { data: d, .. } => d.to_vec(),
        _ => Vec::new(),
    };
    let resp = match Response::decode(&reply[..len]).unwrap() {
        Response::Data(_) => Response::Data(&[]),
        Response::Datagram { from, .. } => Response::Datagram { from, data: &[] },
        Response::Ok => Response::Ok,
        Response::Handle(h) => Response::Handle(h),
        Response::Status(s) => Response::Status(s),
        Response::PingReport(p) => Response::PingReport(p),
        Response::Accepted { handle, peer } => Response::Accepted { handle, peer },
        Response::Sent(n) => Response::Sent(n),
        Response::Resolved(a) => Response::Resolved(a),
        Response::TcpState(s) => Response::TcpState(s),
        Response::Err(e) => Response::Err(e),
    };
    (resp, data)
}

fn handle(r: (Response<'static>, Vec<u8>)) -> u32 {
    match r.0 {
        Response::Handle(h) => h,
        other => panic!("not a handle: {other:?}"),
    }
}

#[test]
fn status_and_tcp_through_messages() {
    let mut w = World::two(fixed(1), fixed(2));
    let ca = w.a.add_client(PortRange::new(40000, 40010));
    let cb = w.b().add_client(PortRange::new(8000, 8000));
    let Response::Status(s) = call(&mut w.a, ca, Request::Status).0 else {
        panic!()
    };
    assert_eq!(s, w.a.status());
    assert_eq!(
        call(w.b(), cb, Request::TcpListen { port: 80 }).0,
        Response::Err(NetError::PortOutsideRange {
            port: 80,
            range: PortRange::new(8000, 8000).unwrap()
        })
    );
    let l = handle(call(w.b(), cb, Request::TcpListen { port: 8000 }));
    let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 8000);
    let h = handle(call(&mut w.a, ca, Request::TcpConnect { remote }));
    let mut accepted = None;
    assert!(w.until(1_000, |w| {
        if let Response::Accepted { handle, .. } = call(w.b(), cb, Request::Accept { handle: l }).0
        {
            accepted = Some(handle);
        }
        accepted.is_some()
            && call(&mut w.a, ca, Request::TcpState { handle: h }).0
                == Response::TcpState(TcpState::Established)
    }));
    let hb = accepted.unwrap();
    assert_eq!(
        call(
            &mut w.a,
            ca,
            Request::Send {
                handle: h,
                data: b"hello api"
            }
        )
        .0,
        Response::Sent(9)
    );
    let mut got = Vec::new();
    assert!(w.until(1_000, |w| {
        got.extend(call(w.b(), cb, Request::Recv { handle: hb, max: 4 }).1);
        got == b"hello api"
    }));
    assert_eq!(
        call(&mut w.a, ca, Request::Close { handle: h }).0,
        Response::Ok
    );
    assert_eq!(
        call(&mut w.a, ca, Request::Close { handle: h }).0,
        Response::Err(NetError::BadHandle)
    );
}

#[test]
fn malformed_request_is_bad_request() {
    let mut w = World::one(fixed(1));
    let c = w.a.add_client(Some(PortRange::ALL));
    let (mut scratch, mut reply) = (vec![0u8; MAX_DATA], vec![0u8; MAX_REPLY]);
    for msg in [&[][..], &[0x7E], &[0x13, 1, 2]] {
        let n = serve_message(&mut w.a, c, msg, &mut scratch, &mut reply);
        assert_eq!(
            Response::decode(&reply[..n]),
            Ok(Response::Err(NetError::BadRequest))
        );
    }
}
