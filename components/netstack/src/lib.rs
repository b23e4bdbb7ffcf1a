//! netstack: PandaGen's network stack, the heart of `services_network`.
//!
//! [`Stack`] wraps `smoltcp` over a [`Frames`] device (whole Ethernet frames in and out: the
//! kernel's frame calls in `services_network`, a [`fake::Wire`] in tests):
//!
//! * the interface's IPv4 configuration by DHCPv4 or static ([`NetConfig`]), with a named
//!   [`NetError::DhcpTimeout`] when no DHCP server answers (DHCP keeps trying);
//! * [`Stack::poll`], the one step that moves frames and runs every timer, and
//!   [`Stack::status`] for the console's `net` command;
//! * ICMP echo ([`Stack::ping_start`], [`PingReport`]);
//! * per-client sockets for `network_api` ([`Stack::add_client`], TCP, UDP), confined to the
//!   client's `port_range` capability ([`PortRange`]);
//! * DNS look-ups ([`Stack::dns_start`]);
//! * [`api`]: the `network_api` wire protocol (`docs/network-api.md`).
//!
//! Nothing blocks and nothing panics on bad input: malformed frames are dropped, bad handles
//! and arguments are [`NetError`]s.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod api;
pub mod config;
mod dns;
mod error;
pub mod fake;
mod link;
mod ping;
mod sniff;
mod sockets;
mod stack;

pub use config::{Cidr, ConfigError, Ipv4Config, Limits, NetConfig, PortRange, MAX_DNS_SERVERS};
pub use dns::MAX_NAME;
pub use error::NetError;
pub use link::{Frames, LinkError, LinkStats, MAX_FRAME};
pub use ping::{PingOptions, PingReply, PingReport, MAX_PING_COUNT, MAX_PING_PAYLOAD};
pub use sockets::{ClientId, Handle, TcpState, MAX_DATAGRAM};
pub use stack::{DhcpState, Event, Stack, Status};
