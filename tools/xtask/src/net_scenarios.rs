//! The network scenarios (docs/network.md): the kernel brings up the NIC (e1000e or
//! virtio-net) on QEMU's user-mode network, `services_network` reads it with NET_INFO, sends
//! an ARP request for the gateway with NET_SEND and gets the reply with NET_RECV; and a
//! component without `network_device:eth0` is refused all three calls on eth0; a NIC without
//! a driver leaves the system up without a network.

use bootlog::msg::TEST_PASS;
use bootlog::state::StateKind::Exited;

use crate::qemu::{Machine, Nic};
use crate::scenarios::{default_states, ends, line, shape, states, Scenario};
use crate::serial_log::Pattern;

/// QEMU's MAC address for the first NIC.
pub const FIRST_MAC: &str = "52:54:00:12:34:56";
/// The gateway of QEMU's user-mode network and its MAC address.
pub const GATEWAY_LINE: &str = "network: eth0: gateway 10.0.2.2 is at 52:55:0a:00:02:02 (ARP, ";

/// The kernel's line for eth0 of `kind`, then the service's MAC and gateway lines.
fn arp_lines(kind: &str) -> Vec<Pattern> {
    vec![
        shape(
            "network: eth0: ",
            &format!(" {kind}: MAC {FIRST_MAC}, link "),
            " ms)",
        ),
        ends(&format!("network: eth0: MAC {FIRST_MAC}, link up")),
        shape("", GATEWAY_LINE, " ms)"),
    ]
}

/// A `test=boot` of the default system with `nic` as its only NIC: the ARP exchange.
fn arp(name: &'static str, nics: &'static [Nic], kind: &str) -> Scenario {
    let mut expect = arp_lines(kind);
    expect.extend([default_states(), line(TEST_PASS)]);
    Scenario {
        nics,
        ..Scenario::boot(name, expect)
    }
}

/// The network scenarios, for `scenarios::all`.
pub fn net_scenarios() -> Vec<Scenario> {
    let mut denied = arp_lines("e1000e");
    denied.extend([
        ends("t_net_denied: NET_SEND on eth0 refused: denied"),
        ends("t_net_denied: NET_INFO on eth0 refused: denied"),
        ends("t_net_denied: NET_RECV on eth0 refused: denied"),
        states(&[
            ("services_network", Exited(0), ""),
            ("t_net_denied", Exited(0), ""),
        ]),
        line(TEST_PASS),
    ]);
    vec![
        arp("net-arp-e1000e", &[Nic::E1000e], "e1000e"),
        arp("net-arp-virtio", &[Nic::VirtioNet], "virtio-net"),
        // QEMU pc's default NIC (82540EM, 8086:100e) has no driver: one warning, the
        // service's one ERROR line, and the system still comes up.
        Scenario {
            machine: Machine::Pc,
            ..Scenario::boot(
                "net-no-driver-pc",
                vec![
                    shape(
                        "network: eth0: ",
                        "no driver for 8086:100e",
                        "no frames this boot",
                    ),
                    ends(
                        "network: eth0: NET_INFO: the NIC has no working driver (see the \
                         kernel's `network:` line); the system comes up without a network",
                    ),
                    default_states(),
                    line(TEST_PASS),
                ],
            )
        },
        // Two NICs, so eth1 exists: t_net_denied holds network_device:eth1, not eth0.
        Scenario {
            system: "system/tests/net.json",
            nics: &[Nic::E1000e, Nic::VirtioNet],
            ..Scenario::boot("net-denied", denied)
        },
    ]
}
