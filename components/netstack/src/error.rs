//! The one error type of the stack: every refusal and failure a caller can see, by name.

use core::fmt;

use crate::config::PortRange;

/// Why a stack operation failed. Each variant's `Display` is one line that says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// DHCP got no lease within the configured timeout (the stack keeps asking).
    DhcpTimeout {
        /// How long the stack has asked so far, in milliseconds.
        waited_ms: u64,
    },
    /// The interface has no IPv4 address yet (DHCP still pending).
    NoAddress,
    /// The network device reports no link (cable out, device down).
    LinkDown,
    /// The peer answered the connection attempt with a reset (nothing listens there).
    ConnectionRefused,
    /// The peer reset an established connection.
    ConnectionReset,
    /// The peer stopped answering (connect, retransmission or DNS timeout).
    TimedOut,
    /// Nothing to do right now (buffer full, no data, still connecting): poll and retry.
    WouldBlock,
    /// The socket is not connected (closed locally, or a listener asked for data).
    NotConnected,
    /// No such handle for this client (never opened, already closed, or another client's).
    BadHandle,
    /// The handle is of another kind (e.g. `udp_send_to` on a TCP stream).
    WrongKind,
    /// The client already holds its maximum number of sockets.
    TooManySockets {
        /// The per-client limit.
        limit: u16,
    },
    /// The port is outside the client's granted `port_range` capability.
    PortOutsideRange {
        /// The port asked for.
        port: u16,
        /// The client's range.
        range: PortRange,
    },
    /// Another socket of the same protocol already uses the port.
    PortInUse {
        /// The port asked for.
        port: u16,
    },
    /// Every port of the client's range is in use.
    NoFreePort {
        /// The client's range.
        range: PortRange,
    },
    /// An address or port the stack cannot use (unspecified, broadcast, port 0).
    BadAddress,
    /// A datagram or argument over its limit.
    TooLarge {
        /// The limit.
        max: u32,
    },
    /// No such client (never added, or removed).
    UnknownClient,
    /// The DNS server says the name does not exist (NXDOMAIN or no A record).
    NameNotFound,
    /// No DNS server is configured (none static, none from DHCP).
    NoDnsServer,
    /// A name that is not a valid DNS name.
    BadName,
    /// A `network_api` request that does not decode (the service's answer to it).
    BadRequest,
    /// The caller holds no `port_range` capability (the service's answer to its socket calls).
    NoPortRange,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use NetError::*;
        match self {
            DhcpTimeout { waited_ms } => write!(
                f,
                "no DHCP answer after {waited_ms} ms: check the cable and the DHCP server (still trying)"
            ),
            NoAddress => f.write_str("no IPv4 address yet: wait for DHCP or configure a static address"),
            LinkDown => f.write_str("link down: check the cable or the virtual network device"),
            ConnectionRefused => f.write_str("connection refused: nothing listens on that port"),
            ConnectionReset => f.write_str("connection reset by peer: reconnect"),
            TimedOut => f.write_str("timed out: the peer does not answer"),
            WouldBlock => f.write_str("would block: poll the stack and retry"),
            NotConnected => f.write_str("not connected: connect (or accept) first"),
            BadHandle => f.write_str("bad handle: not open for this client"),
            WrongKind => f.write_str("wrong socket kind for this operation"),
            TooManySockets { limit } => write!(f, "too many sockets: close one (limit {limit})"),
            PortOutsideRange { port, range } => write!(
                f,
                "port {port} outside the granted range {range}: use a port in the port_range capability"
            ),
            PortInUse { port } => write!(f, "port {port} already in use: pick another"),
            NoFreePort { range } => write!(f, "no free port in {range}: close a socket"),
            BadAddress => f.write_str("bad address: give a unicast address and a non-zero port"),
            TooLarge { max } => write!(f, "too large: at most {max} bytes"),
            UnknownClient => f.write_str("unknown client: add the client first"),
            NameNotFound => f.write_str("name not found (NXDOMAIN): check the spelling"),
            NoDnsServer => f.write_str("no DNS server configured: configure one or use DHCP"),
            BadName => f.write_str("bad name: use letters, digits, '-' and '.', at most 255 bytes"),
            BadRequest => f.write_str("malformed network_api request: check the client's encoder"),
            NoPortRange => f.write_str("no port_range capability: declare port_range:<a>-<b> in the manifest"),
        }
    }
}
