//! The network scenarios (docs/network.md): the kernel brings up the NIC (e1000e or
//! virtio-net) on QEMU's user-mode network, `services_network` runs the stack on it and gets
//! a DHCP lease (10.0.2.15 from QEMU's server), and the console's `net` and `ping` reach it
//! over `network_api`; a component without `network_device:eth0` is refused the frame calls
//! on eth0; a NIC without a driver leaves the system up without a network; `network_api`
//! refuses ports outside the caller's `port_range`.

use bootlog::harness::EXIT_FAIL;
use bootlog::msg::{
    FROM_MODULE_RAM_END, FROM_MODULE_START, STUB_CANNOT_BOOT_START, STUB_ENTERING_KERNEL_START,
    STUB_HASH_MISMATCH_START, STUB_REFUSING_END, STUB_TEST_EXIT, TEST_PASS,
};
use bootlog::state::StateKind::{Exited, Ready};

use std::time::Instant;

use anyhow::{ensure, Result};

use crate::fs_scenarios::{Driver, Env};
use crate::guest::PROMPT;
use crate::limine_conf::{CONF_ESP_PATH, KERNEL_ESP_PATH, MODULE_ESP_PATH};
use crate::monitor::{boot_with_monitor, Monitor};
use crate::qemu::{Machine, Nic};
use crate::scenarios::{
    at_prompt, default_states, ends, line, module_boot_expect, shape, starts, states, typed,
    ConsoleStep, End, Scenario, MODULE_BOOT_FORBID,
};
use crate::serial_log::Pattern;
use crate::system_image::ConfTweak;

/// QEMU's MAC address for the first NIC.
pub const FIRST_MAC: &str = "52:54:00:12:34:56";
/// The lease QEMU's user-mode network gives (its DHCP server leases for a day).
pub const LEASE_LINE: &str =
    "network: eth0: 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3, lease 86400 s (DHCP, ";

/// The kernel's line for eth0 of `kind`, then the service's lease line.
fn lease_lines(kind: &str) -> Vec<Pattern> {
    vec![
        shape(
            "network: eth0: ",
            &format!(" {kind}: MAC {FIRST_MAC}, link "),
            " ms)",
        ),
        shape("", LEASE_LINE, " ms)"),
    ]
}

/// What the DHCP-and-ping scenarios type: the status, three pings of the gateway, a name the
/// service refuses before any look-up (the `dns` path without depending on the host's
/// resolver), power off.
const NET_PING: &[ConsoleStep] = &[
    at_prompt("net"),
    at_prompt("ping 10.0.2.2 -c 3"),
    at_prompt("dns bad..name"),
    at_prompt("poweroff"),
];

/// The default system with `nics` as its only NIC: the lease before the prompt (READY waits
/// for it), then `net` shows it, `ping` gets three replies from the gateway and `dns` names
/// a bad name.
fn dhcp_ping(name: &'static str, nics: &'static [Nic], kind: &str) -> Scenario {
    let mut expect = lease_lines(kind);
    expect.extend([
        line("PandaGen console. Type 'help' for the list of commands."),
        typed("net"),
        line(&format!("eth0: link up, MAC {FIRST_MAC}")),
        shape("ipv4 10.0.2.15/24 (DHCP bound, lease ", "", " s left)"),
        line("gateway 10.0.2.2"),
        line("dns 10.0.2.3"),
        typed("ping 10.0.2.2 -c 3"),
        line("PING 10.0.2.2: 56 data bytes"),
        starts("reply from 10.0.2.2: seq=0 time="),
        starts("reply from 10.0.2.2: seq=1 time="),
        starts("reply from 10.0.2.2: seq=2 time="),
        line("3 packets sent, 3 received, 0% loss"),
        starts("rtt min/avg/max = "),
        typed("dns bad..name"),
        line("error: dns bad..name: bad name: use letters, digits, '-' and '.', at most 255 bytes"),
        line("powering off..."),
    ]);
    Scenario {
        nics,
        cmdline: "",
        // ACPI power-off: QEMU exits on its own with status 0.
        end: End::Exit(0),
        console: NET_PING,
        ..Scenario::boot(name, expect)
    }
}

/// The address `system/tests/net-static.json` configures in services_network's `config` line.
const STATIC_LINE: &str = "network: eth0: 10.0.2.50/24, gateway 10.0.2.2, DNS 10.0.2.3 (static)";

/// What `net-static` types: the status, two pings of the gateway, power off.
const NET_STATIC: &[ConsoleStep] = &[
    at_prompt("net"),
    at_prompt("ping 10.0.2.2 -c 2"),
    at_prompt("poweroff"),
];

/// services_network configured from its manifest entry's `config` line: the static address
/// instead of a DHCP lease (QEMU's DHCP server would give 10.0.2.15), and it works.
fn static_config() -> Scenario {
    Scenario {
        system: "system/tests/net-static.json",
        nics: &[Nic::VirtioNet],
        cmdline: "",
        end: End::Exit(0),
        console: NET_STATIC,
        ..Scenario::boot(
            "net-static",
            vec![
                ends(STATIC_LINE),
                typed("net"),
                line(&format!("eth0: link up, MAC {FIRST_MAC}")),
                line("ipv4 10.0.2.50/24 (static)"),
                line("gateway 10.0.2.2"),
                line("dns 10.0.2.3"),
                typed("ping 10.0.2.2 -c 2"),
                starts("reply from 10.0.2.2: seq=0 time="),
                starts("reply from 10.0.2.2: seq=1 time="),
                line("2 packets sent, 2 received, 0% loss"),
                line("powering off..."),
            ],
        )
    }
}

/// Which network scenario a driven [`Scenario`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetDriver {
    /// [`link_loss`].
    LinkLoss,
}

/// Runs `driver`; `Ok` holds the report lines.
pub fn run(driver: NetDriver, env: &Env<'_>) -> Result<String> {
    match driver {
        NetDriver::LinkLoss => link_loss(env),
    }
}

/// The service's lines when the link goes and comes back.
const LINK_DOWN: &str = "network: eth0: link down";
const LINK_UP: &str = "network: eth0: link up";
/// The console's answer to a ping while the link is down.
const PING_LINK_DOWN: &str =
    "error: ping 10.0.2.2: link down: check the cable or the virtual network device";

/// The cable pulled (the monitor's `set_link n0 off`) under a running system: the service
/// says so, a ping gets the named `LinkDown` error and the service stays up; the cable back:
/// the link-up line, a new DHCP lease, and the next ping is answered.
fn link_loss(env: &Env<'_>) -> Result<String> {
    let (mut g, mut monitor) = boot_with_monitor(env)?;
    g.wait_for(LEASE_LINE, env.timeout)?;
    g.wait_for(PROMPT, env.timeout)?;
    set_link(&mut monitor, "off")?;
    let started = Instant::now();
    g.wait_for(LINK_DOWN, env.timeout)?;
    let noticed = started.elapsed();
    g.type_line("ping 10.0.2.2 -c 1")?;
    g.wait_for(PING_LINK_DOWN, env.timeout)?;
    g.wait_for(PROMPT, env.timeout)?;
    set_link(&mut monitor, "on")?;
    g.wait_for(LINK_UP, env.timeout)?;
    g.wait_for(LEASE_LINE, env.timeout)?;
    g.type_line("ping 10.0.2.2 -c 1")?;
    g.wait_for("1 packets sent, 1 received, 0% loss", env.timeout)?;
    g.wait_for(PROMPT, env.timeout)?;
    g.type_line("poweroff")?;
    let (status, _) = g.wait_exit(env.timeout)?;
    ensure!(
        status == Some(0),
        "QEMU ended with {status:?} after poweroff"
    );
    Ok(format!(
        "net: link loss seen {} ms after set_link off; LinkDown named; a new lease and a \
         reply after set_link on\n",
        noticed.as_millis()
    ))
}

/// The monitor's `set_link n0 on|off` on the first NIC.
fn set_link(monitor: &mut Monitor, state: &str) -> Result<()> {
    let answer = monitor.command(&format!("set_link n0 {state}"))?;
    ensure!(
        answer.is_empty(),
        "set_link {state}: the monitor said {answer:?}"
    );
    Ok(())
}

/// The network scenarios, for `scenarios::all`.
pub fn net_scenarios() -> Vec<Scenario> {
    let mut denied = lease_lines("e1000e");
    denied.extend([
        ends("t_net_denied: NET_SEND on eth0 refused: denied"),
        ends("t_net_denied: NET_INFO on eth0 refused: denied"),
        ends("t_net_denied: NET_RECV on eth0 refused: denied"),
        states(&[
            ("services_network", Ready, ""),
            ("t_net_denied", Exited(0), ""),
        ]),
        line(TEST_PASS),
    ]);
    let mut port_range = lease_lines("e1000e");
    port_range.extend([
        ends(
            "t_port_range: listen on TCP port 8080 refused: port 8080 outside the granted range \
             9000-9009: use a port in the port_range capability",
        ),
        ends(
            "t_port_range: bind UDP port 53 refused: port 53 outside the granted range \
             9000-9009: use a port in the port_range capability",
        ),
        ends("t_port_range: listen on TCP port 9005 (inside 9000-9009) accepted"),
        states(&[
            ("services_network", Ready, ""),
            ("t_port_range", Exited(0), ""),
        ]),
        line(TEST_PASS),
    ]);
    vec![
        dhcp_ping("net-dhcp-ping-e1000e", &[Nic::E1000e], "e1000e"),
        dhcp_ping("net-dhcp-ping-virtio", &[Nic::VirtioNet], "virtio-net"),
        static_config(),
        Scenario {
            nics: &[Nic::E1000e],
            cmdline: "",
            end: End::Exit(0),
            driver: Some(Driver::Net(NetDriver::LinkLoss)),
            ..Scenario::boot("net-link-loss", vec![ends(LINK_DOWN)])
        },
        // QEMU pc's default NIC (82540EM, 8086:100e) has no driver: one warning, the
        // service's one ERROR line, and the system still comes up (the service too: it
        // answers every call LinkDown).
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
        // network_api refuses a listen and a bind outside the caller's port_range, by name,
        // and accepts one inside it.
        Scenario {
            system: "system/tests/port_range.json",
            nics: &[Nic::E1000e],
            ..Scenario::boot("net-port-range", port_range)
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
        fetched(&CONF_ESP_PATH[1..]),
        fetched(&KERNEL_ESP_PATH[1..]),
        fetched(&MODULE_ESP_PATH[1..]),
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
                    fetched(&KERNEL_ESP_PATH[1..]),
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
