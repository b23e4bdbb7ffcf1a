//! The log lines for the stack's events, e.g. the lease line
//! `eth0: 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3, lease 86400 s (DHCP, 120 ms)`.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use netstack::{Event, Status};

/// The line for `event` on `device` (without the `network: ` prefix); `since_start_ms` is how
/// long the stack has run (the lease line says how long DHCP took).
pub fn event_line(device: &str, event: Event, status: &Status, since_start_ms: u64) -> String {
    match event {
        Event::LinkUp => format!("{device}: link up"),
        Event::LinkDown => format!("{device}: link down"),
        Event::Configured(cidr) => {
            let mut s = format!("{device}: {cidr}");
            if let Some(gw) = status.gateway {
                let _ = write!(s, ", gateway {gw}");
            }
            for (i, dns) in status.dns.iter().enumerate() {
                let _ = write!(s, "{}{dns}", if i == 0 { ", DNS " } else { ", " });
            }
            match (status.dhcp_state, status.lease_remaining_s) {
                (netstack::DhcpState::Off, _) => s.push_str(" (static)"),
                (_, Some(lease)) => {
                    let _ = write!(s, ", lease {lease} s (DHCP, {since_start_ms} ms)");
                }
                (_, None) => {
                    let _ = write!(s, ", lease infinite (DHCP, {since_start_ms} ms)");
                }
            }
            s
        }
        Event::Deconfigured => format!("{device}: address lost (DHCP starts over)"),
        Event::DhcpTimeout { waited_ms } => format!(
            "{device}: DhcpTimeout: no DHCP answer after {waited_ms} ms \
             (still trying; is a DHCP server on the network?)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use netstack::{Cidr, DhcpState, LinkStats};

    fn status() -> Status {
        Status {
            mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            link: true,
            ipv4: None,
            gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
            dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
            lease_remaining_s: Some(86400),
            dhcp_state: DhcpState::Bound,
            stats: LinkStats::default(),
        }
    }

    #[test]
    fn lease_line() {
        let cidr = Cidr {
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
        };
        assert_eq!(
            event_line("eth0", Event::Configured(cidr), &status(), 120),
            "eth0: 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3, lease 86400 s (DHCP, 120 ms)"
        );
    }

    #[test]
    fn timeout_line_names_the_error() {
        let line = event_line(
            "eth0",
            Event::DhcpTimeout { waited_ms: 10000 },
            &status(),
            0,
        );
        assert!(line.starts_with("eth0: DhcpTimeout: no DHCP answer after 10000 ms"));
    }
}
