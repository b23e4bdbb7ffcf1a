//! `t_port_range`: holds `port_range:9000-9009`; asks `network_api` to listen on TCP port 8080
//! and to bind UDP port 53 (outside its range: each must be refused `PortOutsideRange`), then
//! to listen on TCP 9005 (inside: must succeed). Logs one line each, closes the listener,
//! READY, exit 0 (1 if an answer was not the expected one). See the crate docs.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use netstack::api::{Request, Response};
use netstack::{NetError, PortRange};

runtime::entry!(main);

const NAME: &str = "t_port_range";
/// The range the test system grants.
const RANGE: PortRange = PortRange {
    first: 9000,
    last: 9009,
};

/// One `network_api` call: the decoded reply handed to `with`, or a line saying what failed.
fn call<T>(req: &Request<'_>, with: impl FnOnce(Response<'_>) -> T) -> Result<T, ()> {
    let mut msg = [0u8; 64];
    let mut reply = [0u8; 256];
    let len = req.encode(&mut msg).map_err(|_| ())?;
    match runtime::ipc::call(netstack::api::ENDPOINT, &msg[..len], &mut reply) {
        Ok(n) => match Response::decode(&reply[..n.min(reply.len())]) {
            Ok(r) => Ok(with(r)),
            Err(e) => {
                runtime::error!("{NAME}: malformed reply: {e:?}");
                Err(())
            }
        },
        Err(e) => {
            runtime::error!("{NAME}: network_api call failed: {e}");
            Err(())
        }
    }
}

/// `what` must be refused `PortOutsideRange` for `port`.
fn expect_outside(what: &str, port: u16, req: &Request<'_>) -> bool {
    let want = NetError::PortOutsideRange { port, range: RANGE };
    call(req, |r| match r {
        Response::Err(e) if e == want => {
            runtime::info!("{NAME}: {what} {port} refused: {e}");
            true
        }
        other => {
            runtime::error!("{NAME}: {what} {port} outside the range answered {other:?}");
            false
        }
    })
    .unwrap_or(false)
}

fn main() -> i32 {
    testcases::start(NAME);
    let tcp = expect_outside(
        "listen on TCP port",
        8080,
        &Request::TcpListen { port: 8080 },
    );
    let udp = expect_outside("bind UDP port", 53, &Request::UdpBind { port: 53 });
    let inside = call(&Request::TcpListen { port: 9005 }, |r| match r {
        Response::Handle(handle) => {
            runtime::info!("{NAME}: listen on TCP port 9005 (inside {RANGE}) accepted");
            Some(handle)
        }
        other => {
            runtime::error!("{NAME}: listen on TCP port 9005 inside the range answered {other:?}");
            None
        }
    })
    .ok()
    .flatten();
    if let Some(handle) = inside {
        let _ = call(&Request::Close { handle }, |_| ());
    }
    if !testcases::ready(NAME) || !tcp || !udp || inside.is_none() {
        return 1;
    }
    0
}
