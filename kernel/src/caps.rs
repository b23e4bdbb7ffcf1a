//! Capabilities: what the kernel grants an entry, given what it declared and what the machine has.
//!
//! The image only guarantees that capability strings are well formed
//! ([`loader::capability::check_format`]); an unknown kind, a device that does not exist or a
//! capability the machine cannot back is refused here, for that one entry, with a named reason.
//! The first refused capability refuses the whole entry: a component is never started without
//! something it declared. See `docs/capabilities.md`.
//!
//! Pure logic, host-tested.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use loader::capability::{self, Capability, CapabilityError};

/// What the machine offers, as far as capabilities are concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// A user-data region exists (backs `block_device` and `persistent_storage`).
    pub user_data: bool,
    /// A console exists (backs `console`).
    pub console: bool,
    /// The kernel draws on a boot framebuffer (backs `framebuffer`).
    pub framebuffer: bool,
    /// Names of the network devices present (none today).
    pub network_devices: Vec<String>,
}

/// What one entry was granted. Default: nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// `block_device`.
    pub block_device: bool,
    /// `persistent_storage`.
    pub persistent_storage: bool,
    /// `console`.
    pub console: bool,
    /// `serial`.
    pub serial: bool,
    /// `power`: the `REBOOT` and `POWEROFF` calls.
    pub power: bool,
    /// `update`: the `SLOT_SET` call (which system slot boots).
    pub update: bool,
    /// `framebuffer`: the `FRAMEBUFFER_MAP` and `SCREEN_READ` calls (owning the screen).
    pub framebuffer: bool,
    /// Network devices granted by name (`network_device` alone grants the first one present).
    pub network_devices: Vec<String>,
    /// Port ranges granted, inclusive.
    pub port_ranges: Vec<(u16, u16)>,
    /// The granted capability strings, as declared, in declaration order, without repeats.
    pub names: Vec<String>,
    /// The entry's `config` line (not a capability: settings the CONFIG call hands to the
    /// process, carried here because the grants are what a process keeps of its entry).
    pub config: Option<String>,
}

impl Grants {
    /// Nothing granted (same as `Default`).
    pub fn none() -> Grants {
        Grants::default()
    }

    /// The `USERDATA_*` system calls are allowed: `block_device` and `persistent_storage`.
    pub fn user_data(&self) -> bool {
        self.block_device && self.persistent_storage
    }

    /// The record the `CAPS` system call returns: each granted capability string followed by
    /// `\n`, in declaration order (`block_device\npersistent_storage\n`); empty when none.
    pub fn caps_record(&self) -> String {
        let mut out = String::new();
        for name in &self.names {
            out.push_str(name);
            out.push('\n');
        }
        out
    }

    /// `block_device, persistent_storage`, or `none`.
    pub fn display_list(&self) -> String {
        if self.names.is_empty() {
            "none".to_string()
        } else {
            self.names.join(", ")
        }
    }
}

/// Why an entry's capabilities were refused: the first capability that could not be granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The capability string, as declared.
    pub capability: String,
    /// Why it cannot be granted.
    pub reason: Reason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "capability {}: {}", self.capability, self.reason)
    }
}

/// Why one capability cannot be granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The kind (the part before `:`) is not one the kernel knows.
    UnknownKind {
        /// The kind, as declared.
        kind: String,
    },
    /// The string does not parse.
    Malformed(CapabilityError),
    /// `block_device`/`persistent_storage` without a user-data region.
    NoUserData,
    /// `console` without a console.
    NoConsole,
    /// `framebuffer` on a machine without one (or one the kernel cannot draw on).
    NoFramebuffer,
    /// `network_device:NAME` without a device of that name.
    NoNetworkDeviceNamed(String),
    /// `network_device` on a machine without any.
    NoNetworkDevice,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKind { kind } => write!(f, "unknown capability kind `{kind}`"),
            Self::Malformed(e) => write!(f, "malformed: {e}"),
            Self::NoUserData => f.write_str("no user-data region on this machine"),
            Self::NoConsole => f.write_str("no console on this machine"),
            Self::NoFramebuffer => f.write_str("no framebuffer on this machine"),
            Self::NoNetworkDeviceNamed(name) => write!(f, "no network device named {name}"),
            Self::NoNetworkDevice => f.write_str("no network device on this machine"),
        }
    }
}

impl Reason {
    /// The machine lacks a device the entry exists to drive, and which a machine may well
    /// lack (the framebuffer: a headless machine). Such an entry is not expected to come
    /// up: its refusal does not make the boot a failed one.
    pub fn optional_device_missing(&self) -> bool {
        matches!(self, Self::NoFramebuffer)
    }
}

/// Decides what an entry that declared `declared` gets on `machine`.
///
/// # Errors
/// The first capability, in declaration order, that cannot be granted: unknown kind, malformed,
/// nothing on the machine to back it (see `docs/capabilities.md`).
pub fn grant<S: AsRef<str>>(declared: &[S], machine: &Machine) -> Result<Grants, Refusal> {
    let parsed: Vec<(&str, Result<Capability, CapabilityError>)> = declared
        .iter()
        .map(|s| (s.as_ref(), Capability::parse(s.as_ref())))
        .collect();
    let mut grants = Grants::default();
    for (text, cap) in parsed {
        let refuse = |reason: Reason| Refusal {
            capability: text.to_string(),
            reason,
        };
        match cap {
            Err(CapabilityError::UnknownKind) => {
                let kind = capability::kind_of(text).unwrap_or(text);
                return Err(refuse(Reason::UnknownKind {
                    kind: kind.to_string(),
                }));
            }
            Err(e) => return Err(refuse(Reason::Malformed(e))),
            Ok(Capability::BlockDevice | Capability::PersistentStorage) if !machine.user_data => {
                return Err(refuse(Reason::NoUserData));
            }
            Ok(Capability::BlockDevice) => grants.block_device = true,
            Ok(Capability::PersistentStorage) => grants.persistent_storage = true,
            Ok(Capability::Console) if !machine.console => {
                return Err(refuse(Reason::NoConsole));
            }
            Ok(Capability::Console) => grants.console = true,
            Ok(Capability::Serial) => grants.serial = true,
            Ok(Capability::Power) => grants.power = true,
            // Never refused: on a one-slot image SLOT_SET says so itself.
            Ok(Capability::Update) => grants.update = true,
            Ok(Capability::Framebuffer) if !machine.framebuffer => {
                return Err(refuse(Reason::NoFramebuffer));
            }
            Ok(Capability::Framebuffer) => grants.framebuffer = true,
            // Enforced by the storage service from the recorded name.
            Ok(Capability::Files { .. }) => {}
            Ok(Capability::NetworkDevice(name)) => {
                let device = network_device(name.as_deref(), machine).map_err(refuse)?;
                if !grants.network_devices.contains(&device) {
                    grants.network_devices.push(device);
                }
            }
            // Ports of `services_network`'s stack, for the entry as its own stack (with a
            // network device) or as a `network_api` client (without one): never refused.
            Ok(Capability::PortRange { first, last }) => {
                if !grants.port_ranges.contains(&(first, last)) {
                    grants.port_ranges.push((first, last));
                }
            }
        }
        if !grants.names.iter().any(|n| n == text) {
            grants.names.push(text.to_string());
        }
    }
    Ok(grants)
}

/// The device `network_device[:name]` gets, or why there is none.
fn network_device(name: Option<&str>, machine: &Machine) -> Result<String, Reason> {
    match name {
        Some(name) => machine
            .network_devices
            .iter()
            .find(|d| *d == name)
            .cloned()
            .ok_or_else(|| Reason::NoNetworkDeviceNamed(name.to_string())),
        None => machine
            .network_devices
            .first()
            .cloned()
            .ok_or(Reason::NoNetworkDevice),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn machine() -> Machine {
        Machine {
            user_data: true,
            console: true,
            framebuffer: false,
            network_devices: vec![],
        }
    }

    fn refused(caps: &[&str], m: &Machine) -> (String, String) {
        let r = grant(caps, m).unwrap_err();
        (r.capability, r.reason.to_string())
    }

    fn pair(cap: &str, reason: &str) -> (String, String) {
        (cap.to_string(), reason.to_string())
    }

    #[test]
    fn files_grants_are_recorded_for_the_storage_service() {
        let bare = Machine::default();
        let g = grant(&["files:/home", "files_read:/"], &bare).unwrap();
        assert!(!g.user_data() && !g.console);
        assert_eq!(g.caps_record(), "files:/home\nfiles_read:/\n");
        assert!(grant(&["files:home"], &bare).is_err());
    }

    #[test]
    fn storage_needs_the_user_data_region() {
        let g = grant(&["block_device", "persistent_storage"], &machine()).unwrap();
        assert!(g.block_device && g.persistent_storage && g.user_data());
        assert!(!g.console && !g.serial);
        assert_eq!(g.names, ["block_device", "persistent_storage"]);
        assert_eq!(g.caps_record(), "block_device\npersistent_storage\n");
        assert_eq!(g.display_list(), "block_device, persistent_storage");

        let only_block = grant(&["block_device"], &machine()).unwrap();
        assert!(!only_block.user_data());

        let bare = Machine {
            user_data: false,
            ..machine()
        };
        assert_eq!(
            refused(&["console", "persistent_storage"], &bare),
            pair("persistent_storage", "no user-data region on this machine")
        );
    }

    #[test]
    fn console_and_serial() {
        let g = grant(&["console", "serial", "console"], &machine()).unwrap();
        assert!(g.console && g.serial && !g.user_data());
        assert_eq!(g.names, ["console", "serial"], "no repeats");
        let headless = Machine {
            console: false,
            ..machine()
        };
        assert_eq!(
            refused(&["serial", "console"], &headless),
            pair("console", "no console on this machine")
        );
        assert!(grant(&["serial"], &headless).unwrap().serial);
    }

    #[test]
    fn update_is_its_own_grant() {
        let g = grant(&["console", "update"], &machine()).unwrap();
        assert!(g.update && !g.power);
        assert_eq!(g.caps_record(), "console\nupdate\n");
        let p = grant(&["power"], &Machine::default()).unwrap();
        assert!(p.power && !p.update, "power does not choose the slot");
    }

    #[test]
    fn framebuffer_needs_one() {
        let g = grant(
            &["framebuffer"],
            &Machine {
                framebuffer: true,
                ..machine()
            },
        )
        .unwrap();
        assert!(g.framebuffer && !g.console);
        assert_eq!(g.caps_record(), "framebuffer\n");
        assert_eq!(
            refused(&["framebuffer"], &machine()),
            pair("framebuffer", "no framebuffer on this machine")
        );
    }

    #[test]
    fn nothing_declared_grants_nothing() {
        let g = grant::<&str>(&[], &machine()).unwrap();
        assert_eq!(g, Grants::none());
        assert_eq!(g.caps_record(), "");
        assert_eq!(g.display_list(), "none");
    }

    #[test]
    fn network_devices_must_exist() {
        assert_eq!(
            refused(
                &["network_device:eth0", "port_range:1024-65535"],
                &machine()
            ),
            pair("network_device:eth0", "no network device named eth0")
        );
        assert_eq!(
            refused(&["network_device"], &machine()),
            pair("network_device", "no network device on this machine")
        );
        let net = Machine {
            network_devices: vec!["eth0".into(), "eth1".into()],
            ..machine()
        };
        let g = grant(&["network_device:eth1", "port_range:1024-65535"], &net).unwrap();
        assert_eq!(g.network_devices, ["eth1"]);
        assert_eq!(g.port_ranges, [(1024, 65535)]);
        let any = grant(&["network_device"], &net).unwrap();
        assert_eq!(any.network_devices, ["eth0"]);
        assert_eq!(
            refused(&["network_device:wlan0"], &net),
            pair("network_device:wlan0", "no network device named wlan0")
        );
    }

    #[test]
    fn port_ranges_stand_alone() {
        // A network_api client (the console) holds a port range without a network device.
        let g = grant(&["console", "port_range:49152-49407"], &machine()).unwrap();
        assert_eq!(g.port_ranges, [(49152, 49407)]);
        assert!(g.network_devices.is_empty());
        let net = Machine {
            network_devices: vec!["eth0".into()],
            ..machine()
        };
        let g = grant(&["port_range:80-80", "network_device:eth0"], &net).unwrap();
        assert_eq!(g.names, ["port_range:80-80", "network_device:eth0"]);
    }

    #[test]
    fn unknown_and_malformed_capabilities_are_refused() {
        assert_eq!(
            refused(&["console", "gpu"], &machine()),
            pair("gpu", "unknown capability kind `gpu`")
        );
        assert_eq!(
            refused(&["camera:front"], &machine()),
            pair("camera:front", "unknown capability kind `camera`")
        );
        let (cap, reason) = refused(&["port_range:9-1"], &machine());
        assert_eq!(cap, "port_range:9-1");
        assert!(reason.starts_with("malformed: "), "{reason}");
        let (cap, reason) = refused(&["Gpu"], &machine());
        assert_eq!(cap, "Gpu");
        assert!(reason.starts_with("malformed: "), "{reason}");
        let r = grant(&["gpu"], &machine()).unwrap_err();
        assert_eq!(
            r.reason,
            Reason::UnknownKind {
                kind: "gpu".to_string()
            }
        );
        assert!(matches!(
            grant(&["Gpu"], &machine()).unwrap_err().reason,
            Reason::Malformed(_)
        ));
        assert_eq!(
            r.to_string(),
            "capability gpu: unknown capability kind `gpu`"
        );
    }

    #[test]
    fn manifest_strings_work_directly() {
        let mut entry = loader::manifest::Entry::default();
        for cap in ["block_device", "persistent_storage"] {
            entry.capabilities.push(cap.try_into().unwrap()).unwrap();
        }
        assert!(grant(&entry.capabilities, &machine()).unwrap().user_data());
    }
}
