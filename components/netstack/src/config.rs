//! Interface configuration (DHCPv4 or static), per-client port ranges and the stack's limits.

use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

/// An IPv4 address with its prefix length (`10.0.2.15/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub address: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub prefix_len: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// Ports `first..=last` a client may bind, listen on, and take ephemeral ports from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// The first port (at least 1).
    pub first: u16,
    /// The last port (at least `first`).
    pub last: u16,
}

impl PortRange {
    /// Every port, 1..=65535.
    pub const ALL: PortRange = PortRange {
        first: 1,
        last: u16::MAX,
    };

    /// The range `first..=last`, or `None` if `first` is 0 or above `last`.
    pub fn new(first: u16, last: u16) -> Option<PortRange> {
        (first >= 1 && first <= last).then_some(PortRange { first, last })
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// How many ports the range holds.
    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Never true (a range holds at least one port); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Parses `"<first>-<last>"`, the parameter of the `port_range:` capability.
    pub fn parse(s: &str) -> Option<PortRange> {
        let (a, b) = s.split_once('-')?;
        PortRange::new(a.parse().ok()?, b.parse().ok()?)
    }

    /// The range of the first `port_range:<a>-<b>` line of a `CAPS`/`COMPONENT_CAPS` record
    /// (capabilities separated by `\n`), or `None` if there is none (the client may not use
    /// ports at all).
    pub fn from_caps(caps: &str) -> Option<PortRange> {
        caps.lines()
            .find_map(|line| line.trim().strip_prefix("port_range:"))
            .and_then(PortRange::parse)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// How the interface gets its IPv4 configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv4Config {
    /// DHCPv4: address, gateway and DNS servers from the network's DHCP server.
    Dhcp,
    /// Fixed values.
    Static {
        /// Address and prefix.
        address: Cidr,
        /// The default gateway, if any.
        gateway: Option<Ipv4Addr>,
        /// DNS servers (at most [`MAX_DNS_SERVERS`] are used).
        dns: Vec<Ipv4Addr>,
    },
}

/// The most DNS servers the stack uses.
pub const MAX_DNS_SERVERS: usize = 3;

/// Why a configuration line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad network config: {} (want `dhcp` or `static <a.b.c.d/len> [gw <a.b.c.d>] [dns <a.b.c.d>[,...]]`)",
            self.0
        )
    }
}

impl FromStr for Ipv4Config {
    type Err = ConfigError;

    /// `dhcp`, or `static 10.0.2.15/24 gw 10.0.2.2 dns 10.0.2.3,1.1.1.1`.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let mut words = s.split_whitespace();
        match words.next() {
            Some("dhcp") if words.next().is_none() => Ok(Ipv4Config::Dhcp),
            Some("dhcp") => Err(ConfigError("`dhcp` takes no arguments")),
            Some("static") => parse_static(words),
            _ => Err(ConfigError("unknown mode")),
        }
    }
}

fn parse_static<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<Ipv4Config, ConfigError> {
    let cidr = words.next().ok_or(ConfigError("missing address"))?;
    let (addr, len) = cidr
        .split_once('/')
        .ok_or(ConfigError("address without /len"))?;
    let address = Cidr {
        address: addr.parse().map_err(|_| ConfigError("bad address"))?,
        prefix_len: match len.parse() {
            Ok(n) if n <= 32 => n,
            _ => return Err(ConfigError("bad prefix length")),
        },
    };
    let (mut gateway, mut dns) = (None, Vec::new());
    while let Some(key) = words.next() {
        let value = words.next().ok_or(ConfigError("key without value"))?;
        match key {
            "gw" => gateway = Some(value.parse().map_err(|_| ConfigError("bad gateway"))?),
            "dns" => {
                for a in value.split(',') {
                    dns.push(a.parse().map_err(|_| ConfigError("bad DNS server"))?);
                }
            }
            _ => return Err(ConfigError("unknown key")),
        }
    }
    Ok(Ipv4Config::Static {
        address,
        gateway,
        dns,
    })
}

/// Sizes and timeouts. [`Limits::default`] suits `services_network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Handles one client may hold at once (streams, listeners, UDP, DNS queries, pings).
    pub max_sockets_per_client: u16,
    /// Connections a listener holds ready before `accept`.
    pub backlog: u8,
    /// Bytes of each TCP receive and of each transmit buffer.
    pub tcp_buffer: usize,
    /// Datagrams each UDP socket queues each way.
    pub udp_packets: usize,
    /// A `tcp_connect` not established by then fails with `TimedOut`.
    pub connect_timeout_ms: u64,
    /// An established connection whose peer stays silent this long with data to send fails
    /// with `TimedOut`.
    pub idle_timeout_ms: u64,
    /// After this long without a lease, status and address queries say `DhcpTimeout`.
    pub dhcp_timeout_ms: u64,
    /// The interval between DHCP DISCOVERs.
    pub dhcp_retry_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sockets_per_client: 16,
            backlog: 2,
            tcp_buffer: 128 * 1024,
            udp_packets: 16,
            connect_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            dhcp_timeout_ms: 10_000,
            dhcp_retry_ms: 2_000,
        }
    }
}

/// Everything [`crate::Stack::new`] needs besides the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// DHCP or static.
    pub ipv4: Ipv4Config,
    /// Sizes and timeouts.
    pub limits: Limits,
}

impl NetConfig {
    /// DHCP with the default limits.
    pub fn dhcp() -> Self {
        NetConfig {
            ipv4: Ipv4Config::Dhcp,
            limits: Limits::default(),
        }
    }

    /// A static address with the default limits.
    pub fn fixed(address: Cidr, gateway: Option<Ipv4Addr>, dns: &[Ipv4Addr]) -> Self {
        NetConfig {
            ipv4: Ipv4Config::Static {
                address,
                gateway,
                dns: dns.to_vec(),
            },
            limits: Limits::default(),
        }
    }
}
