//! The network scenarios (docs/network.md): the kernel brings up the NIC (e1000e or
//! virtio-net) on QEMU's user-mode network, `services_network` reads it with NET_INFO, sends
//! an ARP request for the gateway with NET_SEND and gets the reply with NET_RECV; and a
//! component without `network_device:eth0` is refused all three calls on eth0; a NIC without
//! a driver leaves the system up without a network.

use bootlog::harness::EXIT_FAIL;
use bootlog::msg::{
    FROM_MODULE_RAM_END, FROM_MODULE_START, STUB_CANNOT_BOOT_START, STUB_ENTERING_KERNEL_START,
    STUB_HASH_MISMATCH_START, STUB_REFUSING_END, STUB_TEST_EXIT, TEST_PASS,
};
use bootlog::state::StateKind::Exited;

use crate::qemu::{Machine, Nic};
use crate::scenarios::{
    at_prompt, default_states, ends, line, module_boot_expect, shape, states, typed, ConsoleStep,
    End, Scenario, MODULE_BOOT_FORBID,
};
use crate::serial_log::Pattern;
use crate::system_image::ConfTweak;

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

/// QEMU's user-mode network: the TFTP server (its gateway) the stub fetches from.
const TFTP_SERVER: &str = "10.0.2.2";

/// What `netboot-console` types at the prompt.
const NETBOOT_CONSOLE: &[ConsoleStep] = &[at_prompt("bootcount"), at_prompt("poweroff")];

/// The stub's line for one file fetched over TFTP.
fn fetched(path: &str) -> Pattern {
    shape(
        &format!("bootstub: tftp: {path} "),
        &format!(" from {TFTP_SERVER} in "),
        "",
    )
}

/// The network boot scenarios, for `scenarios::all`: no disk at all, OVMF's own PXE over
/// virtio-net loads the stub from the TFTP root, the stub fetches limine.conf, the kernel and
/// the module over TFTP; the console's prompt answers; and a kernel that is not the pinned one
/// is refused after its fetch.
pub fn netboot_scenarios() -> Vec<Scenario> {
    let net = |name, expect| Scenario {
        drives: &[],
        nics: &[Nic::VirtioNet],
        netboot: true,
        forbid: MODULE_BOOT_FORBID,
        ..Scenario::boot(name, expect)
    };
    let fetched_all = [
        fetched("boot/limine/limine.conf"),
        fetched("boot/kernel_bootstrap"),
        fetched("boot/pandagen-system.mod"),
    ];
    let mut expect = vec![ends(&format!(
        "bootstub: started from the network: reading the boot files over TFTP from {TFTP_SERVER}"
    ))];
    expect.extend(fetched_all.iter().cloned());
    expect.extend(module_boot_expect());
    let mut console = fetched_all.to_vec();
    console.extend([
        shape(FROM_MODULE_START, "", FROM_MODULE_RAM_END),
        line("PandaGen console. Type 'help' for the list of commands."),
        typed("bootcount"),
        line("boot count: 1"),
        line("powering off..."),
    ]);
    vec![
        net("netboot", expect),
        // The console's prompt on the serial line of a network-booted system.
        Scenario {
            cmdline: "",
            // ACPI power-off: QEMU exits on its own with status 0.
            end: End::Exit(0),
            console: NETBOOT_CONSOLE,
            ..net("netboot-console", console)
        },
        Scenario {
            tweak: ConfTweak::WrongKernelHash,
            forbid: &[STUB_ENTERING_KERNEL_START],
            end: End::Exit(EXIT_FAIL),
            ..net(
                "netboot-rejects-bad-hash",
                vec![
                    fetched("boot/kernel_bootstrap"),
                    shape(
                        &format!("{STUB_CANNOT_BOOT_START}{STUB_HASH_MISMATCH_START}"),
                        "",
                        STUB_REFUSING_END,
                    ),
                    line(STUB_TEST_EXIT),
                ],
            )
        },
    ]
}
