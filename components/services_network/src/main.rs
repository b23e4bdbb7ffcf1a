//! `services_network`: runs the network stack (`netstack`) on its device (`eth0`, from its
//! `network_device:eth0` capability) and serves `network_api` over IPC. It starts DHCP (or
//! takes the static address of its manifest entry's `config` line, [`net_config`]) and
//! reports READY once the lease is there or after [`READY_WAIT_MS`], whichever comes first
//! (boot waits that long at most for the network: the components after it start with an
//! address, and a network without DHCP costs boot that much); the lease is one log line, a
//! DHCP server that never answers one named `DhcpTimeout` line (DHCP keeps trying). Then it
//! keeps running: one loop takes waiting IPC calls without blocking (IPC_TRY_RECEIVE) and
//! otherwise sleeps in NET_RECV until a frame arrives or the stack's next timer, at most
//! [`MAX_SLEEP_MS`]. Without a working device it logs one ERROR line, reports READY and
//! answers every call `LinkDown`. See docs/network.md.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

mod frames;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;

use netstack::api::{self, Response};
use netstack::{ClientId, Ipv4Config, Limits, NetConfig, NetError, PortRange, Stack};
use runtime::{ipc, net, Error};

use frames::KernelFrames;

runtime::entry!(main);

const NAME: &str = "services_network";
/// The device this service drives (its manifest grants `network_device:eth0`).
const DEVICE: &str = "eth0";
/// The longest sleep between looks at the IPC queue: a call waits at most this long.
const MAX_SLEEP_MS: u64 = 10;
/// The longest READY waits for the DHCP lease: well inside the supervisor's default start
/// timeout (3000 ms, `start_timeout_ms`), which would otherwise kill the service on a network
/// without DHCP.
const READY_WAIT_MS: u64 = 1000;
/// Failed IPC receives logged in a row before the loop goes quiet.
const LOGGED_FAILURES: u32 = 8;

fn main() -> i32 {
    runtime::announce(NAME);
    let info = match net::info(DEVICE) {
        Ok(info) => info,
        Err(e) => {
            runtime::error!("network: {DEVICE}: {}", info_failure(e));
            if runtime::ready_or_log(NAME).is_err() {
                return 1;
            }
            serve_without_device();
        }
    };
    let started = now_ms();
    let frames = KernelFrames::new(DEVICE, info.mac);
    let stack = Stack::new(frames, net_config(), started);
    let mut service = Service::new(stack, started);
    service.wait_for_address(started + READY_WAIT_MS);
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    service.run()
}

/// The manifest entry's `config` line (`dhcp` or `static A/N [gw G] [dns D,...]`); DHCP
/// without one. A line that does not parse is one ERROR line naming it, and DHCP.
fn net_config() -> NetConfig {
    let mut buf = [0u8; 256];
    let line = match runtime::config(&mut buf) {
        Ok(n) => core::str::from_utf8(&buf[..n.min(buf.len())]).unwrap_or("<not UTF-8>"),
        Err(Error::NotFound) => return NetConfig::dhcp(),
        Err(e) => {
            runtime::error!("network: {DEVICE}: CONFIG failed: {e}; using DHCP");
            return NetConfig::dhcp();
        }
    };
    match line.parse::<Ipv4Config>() {
        Ok(ipv4) => NetConfig {
            ipv4,
            limits: Limits::default(),
        },
        Err(e) => {
            runtime::error!("network: {DEVICE}: manifest config `{line}`: {e}; using DHCP");
            NetConfig::dhcp()
        }
    }
}

/// NET_INFO's failure as one actionable line.
fn info_failure(e: Error) -> String {
    match e {
        Error::Unsupported => String::from(
            "NET_INFO: the NIC has no working driver (see the kernel's `network:` line); \
             the system comes up without a network",
        ),
        e => alloc::format!("NET_INFO failed: {e}; the system comes up without a network"),
    }
}

/// Milliseconds since the kernel started.
fn now_ms() -> u64 {
    runtime::uptime().unwrap_or(0) / 1000
}

/// No device: every call is answered `LinkDown` (IPC_RECEIVE blocks, nothing to poll).
fn serve_without_device() -> ! {
    let (mut request, mut reply) = (vec![0u8; ipc::MAX_MESSAGE], vec![0u8; 64]);
    ipc::serve_forever(
        NAME,
        api::ENDPOINT,
        &mut request,
        &mut reply,
        |_, _, out| Response::Err(NetError::LinkDown).encode(out).unwrap_or(0),
    )
}

/// The stack and its `network_api` clients (one per calling manifest entry).
struct Service {
    stack: Stack<KernelFrames>,
    clients: BTreeMap<String, ClientId>,
    started_ms: u64,
    failures: u32,
}

impl Service {
    fn new(stack: Stack<KernelFrames>, started_ms: u64) -> Self {
        Service {
            stack,
            clients: BTreeMap::new(),
            started_ms,
            failures: 0,
        }
    }

    /// Runs the stack (no IPC yet: nobody may call before READY) until it has an address or
    /// `deadline_ms` passes.
    fn wait_for_address(&mut self, deadline_ms: u64) {
        loop {
            let now = now_ms();
            self.stack.poll(now);
            self.log_events();
            if self.stack.ipv4().is_some() || now >= deadline_ms {
                return;
            }
            self.sleep();
        }
    }

    /// Sleeps until a frame arrives or the stack's next timer, at most [`MAX_SLEEP_MS`].
    fn sleep(&mut self) {
        let sleep = self.stack.poll_delay_ms().unwrap_or(MAX_SLEEP_MS);
        if let Err(e) = self.stack.frames().wait(sleep.min(MAX_SLEEP_MS)) {
            self.note_failure(format_args!("NET_RECV on {DEVICE} failed: {e}"));
            runtime::yield_now();
        }
    }

    /// Poll, log events, serve every waiting call, then sleep until a frame or a timer.
    fn run(mut self) -> ! {
        let mut msg = vec![0u8; ipc::MAX_MESSAGE];
        let mut scratch = vec![0u8; api::MAX_DATA];
        let mut reply = vec![0u8; api::MAX_REPLY];
        loop {
            self.stack.poll(now_ms());
            self.log_events();
            if !self.serve_one(&mut msg, &mut scratch, &mut reply) {
                self.sleep();
            }
        }
    }

    fn log_events(&mut self) {
        while let Some(event) = self.stack.take_event() {
            let since = self.stack.now_ms().saturating_sub(self.started_ms);
            let line =
                services_network::lines::event_line(DEVICE, event, &self.stack.status(), since);
            match event {
                netstack::Event::DhcpTimeout { .. } => runtime::warn!("network: {line}"),
                _ => runtime::info!("network: {line}"),
            }
        }
    }

    /// Serves one waiting `network_api` call, if any; returns whether there was one.
    fn serve_one(&mut self, msg: &mut [u8], scratch: &mut [u8], reply: &mut [u8]) -> bool {
        let (len, call) = match ipc::try_receive(api::ENDPOINT, msg) {
            Ok(r) => r,
            Err(Error::Timeout) => return false,
            Err(e) => {
                self.note_failure(format_args!("receive on {} failed: {e}", api::ENDPOINT));
                return false;
            }
        };
        self.failures = 0;
        let caller = call.caller().unwrap_or("?");
        let client = self.client(caller);
        self.stack.poll(now_ms());
        let n = api::serve_message(&mut self.stack, client, &msg[..len], scratch, reply);
        if let Err(e) = ipc::reply(call.call_id, &reply[..n]) {
            runtime::warn!("{NAME}: reply to {caller} failed: {e}");
        }
        true
    }

    /// The caller's client, added with its `port_range` capability on its first call.
    fn client(&mut self, caller: &str) -> ClientId {
        if let Some(&c) = self.clients.get(caller) {
            return c;
        }
        let mut caps = [0u8; 1024];
        let range = runtime::component_caps(caller, &mut caps)
            .ok()
            .and_then(|n| core::str::from_utf8(&caps[..n.min(caps.len())]).ok())
            .and_then(PortRange::from_caps);
        let c = self.stack.add_client(range);
        self.clients.insert(String::from(caller), c);
        c
    }

    fn note_failure(&mut self, what: core::fmt::Arguments<'_>) {
        self.failures = self.failures.saturating_add(1);
        if self.failures <= LOGGED_FAILURES {
            runtime::error!("{NAME}: {what}");
        }
    }
}
