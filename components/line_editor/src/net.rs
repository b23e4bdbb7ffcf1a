//! The network commands `net`, `ping` and `dns`: `network_api` calls to `services_network`
//! ([`netstack::api`], `docs/network-api.md`). Ping and DNS are started, then asked for their
//! progress with a [`Network::pause`] between asks, until done or a deadline passes; the
//! handle is always closed. A failure is one line, `error: <command> <argument>: <reason>`.

use core::fmt::{self, Write};
use core::net::Ipv4Addr;

use abi::Error;
use netstack::api::{Request, Response};
use netstack::{NetError, PingOptions, PingReport};

/// The endpoint the network commands call (`services_network`'s).
pub const NETWORK_ENDPOINT: &str = netstack::api::ENDPOINT;
/// The reply buffer: a `Status` or a `PingReport` of up to 100 replies fits.
pub const NETWORK_REPLY: usize = 1024;
/// How long `dns` waits for its answer (smoltcp gives each server 10 s).
const DNS_WAIT_US: u64 = 12_000_000;

/// What the network commands need of the system.
pub trait Network {
    /// IPC_CALL to `network_api`: the reply into `reply`; returns its length.
    fn network_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error>;
    /// UPTIME, in microseconds.
    fn now_us(&mut self) -> u64;
    /// Let others run before asking again.
    fn pause(&mut self);
}

/// Why a network command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCmdError {
    /// The IPC call failed (`NotFound`: `services_network` is not running).
    Ipc(Error),
    /// The service answered with an error.
    Net(NetError),
    /// The service's reply did not decode, or was not the one asked for.
    BadReply,
    /// No answer before the command's deadline.
    NoAnswer,
}

impl fmt::Display for NetCmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetCmdError::Ipc(Error::NotFound) => {
                f.write_str("services_network is not running (no network_api provider)")
            }
            NetCmdError::Ipc(e) => write!(f, "network_api call failed: {e}"),
            NetCmdError::Net(e) => write!(f, "{e}"),
            NetCmdError::BadReply => f.write_str("services_network sent a malformed reply"),
            NetCmdError::NoAnswer => f.write_str("no answer in time: try again"),
        }
    }
}

/// One request and its decoded reply (`Err` replies become [`NetCmdError::Net`]), handed to
/// `with`.
fn call<N: Network, T>(
    sys: &mut N,
    req: &Request<'_>,
    with: impl FnOnce(Response<'_>) -> Option<T>,
) -> Result<T, NetCmdError> {
    let mut msg = [0u8; 300];
    let mut reply = [0u8; NETWORK_REPLY];
    let len = req.encode(&mut msg).map_err(|_| NetCmdError::BadReply)?;
    let n = sys
        .network_call(&msg[..len], &mut reply)
        .map_err(NetCmdError::Ipc)?;
    match Response::decode(&reply[..n.min(reply.len())]) {
        Ok(Response::Err(e)) => Err(NetCmdError::Net(e)),
        Ok(r) => with(r).ok_or(NetCmdError::BadReply),
        Err(_) => Err(NetCmdError::BadReply),
    }
}

/// Closes a handle; a failure changes nothing the user can act on.
fn close<N: Network>(sys: &mut N, handle: u32) {
    let _ = call(sys, &Request::Close { handle }, |_| Some(()));
}

/// `net`: the interface's status, one fact a line.
pub fn net<N: Network>(sys: &mut N, out: &mut impl Write) -> fmt::Result {
    match call(sys, &Request::Status, |r| match r {
        Response::Status(s) => Some(s),
        _ => None,
    }) {
        Ok(status) => {
            out.write_str("eth0: ")?;
            for line in alloc::format!("{status}").split('\n') {
                write!(out, "{line}\r\n")?;
            }
            Ok(())
        }
        Err(e) => write!(out, "error: net: {e}\r\n"),
    }
}

/// `dns NAME`: the name's first IPv4 address.
pub fn dns<N: Network>(sys: &mut N, name: &str, out: &mut impl Write) -> fmt::Result {
    match resolve(sys, name) {
        Ok(addr) => write!(out, "{name}: {addr}\r\n"),
        Err(e) => write!(out, "error: dns {name}: {e}\r\n"),
    }
}

/// Looks `name` up, waiting at most [`DNS_WAIT_US`].
pub(crate) fn resolve<N: Network>(sys: &mut N, name: &str) -> Result<Ipv4Addr, NetCmdError> {
    let handle = call(sys, &Request::DnsStart { name }, handle_of)?;
    let deadline = sys.now_us().saturating_add(DNS_WAIT_US);
    let result = loop {
        match call(sys, &Request::DnsResult { handle }, |r| match r {
            Response::Resolved(a) => Some(a),
            _ => None,
        }) {
            Err(NetCmdError::Net(NetError::WouldBlock)) if sys.now_us() < deadline => sys.pause(),
            Err(NetCmdError::Net(NetError::WouldBlock)) => break Err(NetCmdError::NoAnswer),
            other => break other,
        }
    };
    close(sys, handle);
    result
}

fn handle_of(r: Response<'_>) -> Option<u32> {
    match r {
        Response::Handle(h) => Some(h),
        _ => None,
    }
}

/// `ping HOST [-c N]`: `count` echo requests a second apart, one line per reply as it
/// arrives, then the loss summary. `HOST` is an IPv4 address or a name (looked up first).
pub fn ping<N: Network>(sys: &mut N, host: &str, count: u16, out: &mut impl Write) -> fmt::Result {
    let target = match host.parse::<Ipv4Addr>() {
        Ok(a) => a,
        Err(_) => match resolve(sys, host) {
            Ok(a) => a,
            Err(e) => return write!(out, "error: ping {host}: {e}\r\n"),
        },
    };
    match run_ping(sys, target, count, out) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => write!(out, "error: ping {host}: {e}\r\n"),
        Err(e) => Err(e),
    }
}

/// Starts the ping and reports it to the end (the outer `Result` is `out`'s).
fn run_ping<N: Network>(
    sys: &mut N,
    target: Ipv4Addr,
    count: u16,
    out: &mut impl Write,
) -> Result<Result<(), NetCmdError>, fmt::Error> {
    let opts = PingOptions {
        count,
        ..PingOptions::default()
    };
    let start = Request::PingStart {
        target,
        count: opts.count,
        interval_ms: opts.interval_ms,
        timeout_ms: opts.timeout_ms,
        payload_len: opts.payload_len,
    };
    let handle = match call(sys, &start, handle_of) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    write!(out, "PING {target}: {} data bytes\r\n", opts.payload_len)?;
    // Every request's interval, the last one's timeout, and a second of slack.
    let budget_ms = u64::from(count) * u64::from(opts.interval_ms) + u64::from(opts.timeout_ms);
    let deadline = sys.now_us().saturating_add((budget_ms + 1000) * 1000);
    let result = follow(sys, handle, deadline, out);
    close(sys, handle);
    result
}

/// Asks for the report until it is done, printing replies as they come.
fn follow<N: Network>(
    sys: &mut N,
    handle: u32,
    deadline: u64,
    out: &mut impl Write,
) -> Result<Result<(), NetCmdError>, fmt::Error> {
    let mut shown = 0;
    loop {
        let report = match call(sys, &Request::PingReport { handle }, |r| match r {
            Response::PingReport(p) => Some(p),
            _ => None,
        }) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        for reply in &report.replies[shown..] {
            write!(
                out,
                "reply from {}: seq={} time={} ms\r\n",
                report.target, reply.seq, reply.rtt_ms
            )?;
        }
        shown = report.replies.len();
        if report.done || sys.now_us() >= deadline {
            return write_summary(out, &report).map(Ok);
        }
        sys.pause();
    }
}

/// `3 packets sent, 3 received, 0% loss` and, with replies, `rtt min/avg/max = 1/2/4 ms`.
pub fn write_summary(out: &mut impl Write, report: &PingReport) -> fmt::Result {
    write!(
        out,
        "{} packets sent, {} received, {}% loss\r\n",
        report.sent,
        report.received(),
        report.loss_percent()
    )?;
    let rtts = report.replies.iter().map(|r| r.rtt_ms);
    if let (Some(min), Some(max)) = (rtts.clone().min(), rtts.clone().max()) {
        let avg = rtts.map(u64::from).sum::<u64>() / report.replies.len() as u64;
        write!(out, "rtt min/avg/max = {min}/{avg}/{max} ms\r\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netstack::api::Request;
    use netstack::{Cidr, DhcpState, LinkStats, PingReply, Status};

    /// A `network_api` that answers from canned state; time moves 100 ms per pause.
    struct Fake {
        now_us: u64,
        status: Result<Status, NetError>,
        replies: Vec<PingReply>,
        resolved: Option<Ipv4Addr>,
        closed: u32,
    }

    fn fake() -> Fake {
        Fake {
            now_us: 0,
            status: Ok(Status {
                mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
                link: true,
                ipv4: Some(Cidr {
                    address: Ipv4Addr::new(10, 0, 2, 15),
                    prefix_len: 24,
                }),
                gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
                dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
                lease_remaining_s: Some(86399),
                dhcp_state: DhcpState::Bound,
                stats: LinkStats::default(),
            }),
            replies: vec![],
            resolved: None,
            closed: 0,
        }
    }

    impl Network for Fake {
        fn network_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
            let response = match Request::decode(request).unwrap() {
                Request::Status => match &self.status {
                    Ok(s) => Response::Status(s.clone()),
                    Err(e) => Response::Err(*e),
                },
                Request::PingStart { .. } | Request::DnsStart { .. } => Response::Handle(7),
                Request::PingReport { handle: 7 } => Response::PingReport(PingReport {
                    target: Ipv4Addr::new(10, 0, 2, 2),
                    sent: 3,
                    replies: self.replies.clone(),
                    done: self.now_us > 3_000_000,
                }),
                Request::DnsResult { handle: 7 } => match self.resolved {
                    Some(a) => Response::Resolved(a),
                    None => Response::Err(NetError::NameNotFound),
                },
                Request::Close { handle: 7 } => {
                    self.closed += 1;
                    Response::Ok
                }
                _ => Response::Err(NetError::BadHandle),
            };
            Ok(response.encode(reply).unwrap())
        }
        fn now_us(&mut self) -> u64 {
            self.now_us
        }
        fn pause(&mut self) {
            self.now_us += 100_000;
        }
    }

    #[test]
    fn net_prints_the_status_lines() {
        let mut out = String::new();
        net(&mut fake(), &mut out).unwrap();
        assert!(
            out.starts_with("eth0: link up, MAC 52:54:00:12:34:56\r\n"),
            "{out}"
        );
        assert!(out.contains("ipv4 10.0.2.15/24 (DHCP bound, lease 86399 s left)\r\n"));
        assert!(
            out.contains("gateway 10.0.2.2\r\ndns 10.0.2.3\r\n"),
            "{out}"
        );
    }

    #[test]
    fn net_names_the_error() {
        let mut f = fake();
        f.status = Err(NetError::LinkDown);
        let mut out = String::new();
        net(&mut f, &mut out).unwrap();
        assert_eq!(
            out,
            "error: net: link down: check the cable or the virtual network device\r\n"
        );
    }

    #[test]
    fn ping_prints_replies_and_the_summary() {
        let mut f = fake();
        f.replies = (0..3)
            .map(|seq| PingReply {
                seq,
                rtt_ms: 1 + u32::from(seq),
            })
            .collect();
        let mut out = String::new();
        ping(&mut f, "10.0.2.2", 3, &mut out).unwrap();
        assert_eq!(
            out,
            "PING 10.0.2.2: 56 data bytes\r\n\
             reply from 10.0.2.2: seq=0 time=1 ms\r\n\
             reply from 10.0.2.2: seq=1 time=2 ms\r\n\
             reply from 10.0.2.2: seq=2 time=3 ms\r\n\
             3 packets sent, 3 received, 0% loss\r\n\
             rtt min/avg/max = 1/2/3 ms\r\n"
        );
        assert_eq!(f.closed, 1);
    }

    #[test]
    fn ping_without_replies_is_full_loss() {
        let mut f = fake();
        let mut out = String::new();
        ping(&mut f, "10.0.2.2", 3, &mut out).unwrap();
        assert!(
            out.ends_with("3 packets sent, 0 received, 100% loss\r\n"),
            "{out}"
        );
    }

    #[test]
    fn dns_and_a_name_to_ping() {
        let mut f = fake();
        let mut out = String::new();
        dns(&mut f, "nowhere.test", &mut out).unwrap();
        assert_eq!(
            out,
            "error: dns nowhere.test: name not found (NXDOMAIN): check the spelling\r\n"
        );
        f.resolved = Some(Ipv4Addr::new(10, 0, 2, 2));
        out.clear();
        dns(&mut f, "gw.test", &mut out).unwrap();
        assert_eq!(out, "gw.test: 10.0.2.2\r\n");
        out.clear();
        ping(&mut f, "gw.test", 3, &mut out).unwrap();
        assert!(out.starts_with("PING 10.0.2.2: 56 data bytes\r\n"), "{out}");
    }

    #[test]
    fn no_service_is_one_named_line() {
        struct Absent;
        impl Network for Absent {
            fn network_call(&mut self, _: &[u8], _: &mut [u8]) -> Result<usize, Error> {
                Err(Error::NotFound)
            }
            fn now_us(&mut self) -> u64 {
                0
            }
            fn pause(&mut self) {}
        }
        let mut out = String::new();
        ping(&mut Absent, "10.0.2.2", 1, &mut out).unwrap();
        assert_eq!(
            out,
            "error: ping 10.0.2.2: services_network is not running (no network_api provider)\r\n"
        );
    }
}
