//! Capability strings (`console`, `network_device:eth0`, `port_range:1024-65535`, ...) parsed into a closed enum.
//!
//! Parsing only decides whether a string is well-formed; which capabilities are granted is the kernel's call.
//!
//! Two levels of "well-formed":
//!
//! - **format** ([`check_format`], what the image checks): the string is `kind` or `kind:param`, `kind`
//!   matches `[a-z][a-z0-9_]*` and `param` is 1 or more printable ASCII bytes (`!`..=`~`, no space);
//!   a *known* kind's parameter must also be valid for that kind (`port_range:9-1` is an image error).
//!   An *unknown* kind passes (forward compatibility, like unknown JSON keys): the kernel refuses it
//!   when it starts that entry, and only that entry.
//! - **known** ([`Capability::parse`]): format-valid and of a kind this version knows; an unknown kind
//!   is [`CapabilityError::UnknownKind`].

use core::fmt;

/// Longest network device name after `network_device:`.
pub const MAX_DEVICE_NAME: usize = 15;

/// A well-formed capability request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// `block_device`: raw access to the block device.
    BlockDevice,
    /// `persistent_storage`: the persistent filesystem.
    PersistentStorage,
    /// `console`: the text console.
    Console,
    /// `serial`: the serial port.
    Serial,
    /// `power`: reset and switch off the machine (the `REBOOT` and `POWEROFF` calls).
    Power,
    /// `update`: change which system slot boots (the `SLOT_SET` call: set active, one-shot
    /// trial). Separate from `power`: restarting the machine does not choose what it runs.
    Update,
    /// `framebuffer`: own the boot framebuffer (the `FRAMEBUFFER_MAP` and `SCREEN_READ` calls):
    /// draw the screen instead of the kernel.
    Framebuffer,
    /// `network_device` (any device, as in the spec's example) or `network_device:<name>`.
    NetworkDevice(Option<heapless::String<MAX_DEVICE_NAME>>),
    /// `port_range:<first>-<last>`, inclusive, `1 <= first <= last <= 65535`.
    PortRange {
        /// First port.
        first: u16,
        /// Last port (inclusive).
        last: u16,
    },
    /// `files:<dir>` (read and write) or `files_read:<dir>` (read only): the files under an
    /// absolute directory of the filesystem `services_storage` serves. The storage service
    /// enforces it (it reads the caller's capabilities); the kernel only records it.
    Files {
        /// `files` (true) or `files_read` (false).
        write: bool,
    },
}

/// Why a capability string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapabilityError {
    /// Not `kind` or `kind:param` with `kind` in `[a-z][a-z0-9_]*` and a non-empty printable ASCII
    /// `param`: malformed whatever the kind.
    BadSyntax,
    /// Well-formed, but the part before `:` is not a kind this version knows. Not an image error
    /// (see [`check_format`]); the kernel refuses the entry that asks for it.
    UnknownKind,
    /// A kind without a parameter was given one (`console:x`).
    UnexpectedParameter,
    /// `network_device:` with nothing after the colon.
    EmptyDeviceName,
    /// A device name longer than [`MAX_DEVICE_NAME`].
    DeviceNameTooLong,
    /// A device name with a byte outside `[a-z0-9_-]`.
    BadDeviceName,
    /// `port_range` without `<first>-<last>` in plain decimal.
    MalformedRange,
    /// A port of 0 or above 65535.
    PortOutOfRange,
    /// `files:`/`files_read:` without an absolute directory (`/`, `/home`, ...: no empty, `.`
    /// or `..` components, at most [`MAX_FILES_DIR`] bytes).
    BadDirectory,
    /// `first` is greater than `last`.
    RangeReversed,
}

impl fmt::Display for CapabilityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadSyntax => "not `kind` or `kind:param` (kind: a-z then a-z, 0-9, `_`; param: printable ASCII, no spaces)",
            Self::UnknownKind => "unknown kind (known: block_device, persistent_storage, console, serial, power, update, framebuffer, network_device[:name], port_range:a-b, files:/dir, files_read:/dir)",
            Self::UnexpectedParameter => "this kind takes no `:` parameter",
            Self::EmptyDeviceName => "empty device name after `network_device:`",
            Self::DeviceNameTooLong => "device name longer than 15 bytes",
            Self::BadDeviceName => "device name may only use a-z, 0-9, `_` and `-`",
            Self::MalformedRange => "port range must be `port_range:<first>-<last>` in decimal",
            Self::PortOutOfRange => "ports must be 1..=65535",
            Self::RangeReversed => "port range's first port is above its last",
            Self::BadDirectory => "files:/files_read: need an absolute directory such as `/` or `/home` (no empty, `.` or `..` parts)",
        })
    }
}

impl Capability {
    /// Parses a capability string.
    ///
    /// # Errors
    /// Every [`CapabilityError`] variant, as documented on each.
    pub fn parse(text: &str) -> Result<Capability, CapabilityError> {
        let (kind, param) = match text.split_once(':') {
            Some((kind, param)) => (kind, Some(param)),
            None => (text, None),
        };
        if !is_kind(kind) {
            return Err(CapabilityError::BadSyntax);
        }
        let plain = |cap: Capability| match param {
            None => Ok(cap),
            Some(_) => Err(CapabilityError::UnexpectedParameter),
        };
        match kind {
            "block_device" => plain(Capability::BlockDevice),
            "persistent_storage" => plain(Capability::PersistentStorage),
            "console" => plain(Capability::Console),
            "serial" => plain(Capability::Serial),
            "power" => plain(Capability::Power),
            "update" => plain(Capability::Update),
            "framebuffer" => plain(Capability::Framebuffer),
            "network_device" => match param {
                None => Ok(Capability::NetworkDevice(None)),
                Some(name) => device_name(name).map(|n| Capability::NetworkDevice(Some(n))),
            },
            "port_range" => port_range(param.ok_or(CapabilityError::MalformedRange)?),
            "files" | "files_read" => {
                files_dir(param.ok_or(CapabilityError::BadDirectory)?).map(|()| Capability::Files {
                    write: kind == "files",
                })
            }
            _ => match param {
                Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic()) => {
                    Err(CapabilityError::BadSyntax)
                }
                _ => Err(CapabilityError::UnknownKind),
            },
        }
    }

    /// The kind's name, as written before any `:`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BlockDevice => "block_device",
            Self::PersistentStorage => "persistent_storage",
            Self::Console => "console",
            Self::Serial => "serial",
            Self::Power => "power",
            Self::Update => "update",
            Self::Framebuffer => "framebuffer",
            Self::NetworkDevice(_) => "network_device",
            Self::PortRange { .. } => "port_range",
            Self::Files { write: true } => "files",
            Self::Files { write: false } => "files_read",
        }
    }
}

impl CapabilityError {
    /// Whether this makes the image invalid: every error but [`CapabilityError::UnknownKind`].
    pub fn is_format_error(self) -> bool {
        self != Self::UnknownKind
    }
}

/// The image-level (format) check of a capability string: `Ok` for every well-formed known
/// capability **and** for a well-formed unknown kind (`gpu`, `camera:front`), which the kernel
/// refuses per entry at start time.
///
/// # Errors
/// Every [`CapabilityError`] but [`CapabilityError::UnknownKind`].
pub fn check_format(text: &str) -> Result<(), CapabilityError> {
    match Capability::parse(text) {
        Err(e) if e.is_format_error() => Err(e),
        _ => Ok(()),
    }
}

/// The kind part of a capability string (before any `:`), when it is well-formed.
pub fn kind_of(text: &str) -> Option<&str> {
    let kind = text.split_once(':').map_or(text, |(k, _)| k);
    is_kind(kind).then_some(kind)
}

/// `[a-z][a-z0-9_]*`.
fn is_kind(kind: &str) -> bool {
    let mut bytes = kind.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks a device name: 1..=15 bytes of `[a-z0-9_-]`.
fn device_name(name: &str) -> Result<heapless::String<MAX_DEVICE_NAME>, CapabilityError> {
    if name.is_empty() {
        return Err(CapabilityError::EmptyDeviceName);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(CapabilityError::BadDeviceName);
    }
    heapless::String::try_from(name).map_err(|_| CapabilityError::DeviceNameTooLong)
}

/// The longest directory a `files:` capability names, in bytes.
pub const MAX_FILES_DIR: usize = 128;

/// Checks the directory of `files:<dir>`: absolute, printable ASCII, no empty (but a lone `/`),
/// `.` or `..` component.
fn files_dir(dir: &str) -> Result<(), CapabilityError> {
    let rest = dir.strip_prefix('/').ok_or(CapabilityError::BadDirectory)?;
    let ok = dir.len() <= MAX_FILES_DIR
        && dir.bytes().all(|b| b.is_ascii_graphic())
        && (rest.is_empty() || rest.split('/').all(|c| !matches!(c, "" | "." | "..")));
    ok.then_some(()).ok_or(CapabilityError::BadDirectory)
}

/// Parses `<first>-<last>`.
fn port_range(param: &str) -> Result<Capability, CapabilityError> {
    let (first, last) = param
        .split_once('-')
        .ok_or(CapabilityError::MalformedRange)?;
    let (first, last) = (port(first)?, port(last)?);
    if first > last {
        return Err(CapabilityError::RangeReversed);
    }
    Ok(Capability::PortRange { first, last })
}

/// Parses one port: plain decimal digits (no sign, no spaces), value 1..=65535.
fn port(text: &str) -> Result<u16, CapabilityError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CapabilityError::MalformedRange);
    }
    // Digits only, so the only parse failure left is overflow.
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(CapabilityError::PortOutOfRange),
        Ok(p) => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CapabilityError as E;

    #[test]
    fn plain_kinds() {
        assert_eq!(
            Capability::parse("block_device"),
            Ok(Capability::BlockDevice)
        );
        assert_eq!(
            Capability::parse("persistent_storage"),
            Ok(Capability::PersistentStorage)
        );
        assert_eq!(Capability::parse("console"), Ok(Capability::Console));
        assert_eq!(Capability::parse("power"), Ok(Capability::Power));
        assert_eq!(Capability::parse("power:off"), Err(E::UnexpectedParameter));
        assert_eq!(Capability::parse("update"), Ok(Capability::Update));
        assert_eq!(Capability::Update.kind(), "update");
        assert_eq!(
            Capability::parse("update:slot_b"),
            Err(E::UnexpectedParameter)
        );
        assert_eq!(check_format("update"), Ok(()));
        assert_eq!(
            Capability::parse("framebuffer"),
            Ok(Capability::Framebuffer)
        );
        assert_eq!(Capability::Framebuffer.kind(), "framebuffer");
        assert_eq!(
            Capability::parse("framebuffer:0"),
            Err(E::UnexpectedParameter)
        );
        assert!(E::UnknownKind.to_string().contains(" update,"));
        assert_eq!(Capability::parse("serial"), Ok(Capability::Serial));
        assert_eq!(Capability::parse("console:x"), Err(E::UnexpectedParameter));
        assert_eq!(Capability::parse("console:"), Err(E::UnexpectedParameter));
    }

    #[test]
    fn files_name_an_absolute_directory() {
        let rw = Ok(Capability::Files { write: true });
        let ro = Ok(Capability::Files { write: false });
        assert_eq!(Capability::parse("files:/"), rw);
        assert_eq!(Capability::parse("files:/home/user"), rw);
        assert_eq!(Capability::parse("files_read:/etc"), ro);
        assert_eq!(Capability::Files { write: false }.kind(), "files_read");
        let long = format!("files:/{}", "a".repeat(MAX_FILES_DIR));
        for bad in [
            "files",
            "files:home",
            "files:/a//b",
            "files:/a/",
            "files:/./a",
            "files:/a/..",
            &long,
        ] {
            assert_eq!(Capability::parse(bad), Err(E::BadDirectory), "{bad:?}");
            assert!(check_format(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_syntax() {
        for bad in [
            "",
            "Console",
            " console",
            "console ",
            ":",
            ":x",
            "1gpu",
            "_gpu",
            "gpu-x",
            "gpu:",
            "gpu: x",
            "gpu:x y",
            "gpu:\u{7f}",
            "gpu:é",
            "gpu\n",
        ] {
            assert_eq!(Capability::parse(bad), Err(E::BadSyntax), "{bad:?}");
            assert_eq!(check_format(bad), Err(E::BadSyntax), "{bad:?}");
        }
        assert_eq!(kind_of("Console"), None);
        assert_eq!(kind_of(""), None);
    }

    #[test]
    fn unknown_kinds_pass_the_format_check() {
        for unknown in ["gpu", "gpu2", "g_p_u", "camera:front", "x:a:b-c/d", "z:~!"] {
            assert_eq!(
                Capability::parse(unknown),
                Err(E::UnknownKind),
                "{unknown:?}"
            );
            assert_eq!(check_format(unknown), Ok(()), "{unknown:?}");
        }
        assert_eq!(kind_of("camera:front"), Some("camera"));
        assert_eq!(kind_of("gpu"), Some("gpu"));
        assert!(!E::UnknownKind.is_format_error());
    }

    #[test]
    fn known_kinds_with_bad_parameters_fail_the_format_check() {
        for (bad, err) in [
            ("port_range", E::MalformedRange),
            ("port_range:1024-", E::MalformedRange),
            ("port_range:9-1", E::RangeReversed),
            ("network_device:", E::EmptyDeviceName),
            ("console:x", E::UnexpectedParameter),
        ] {
            assert_eq!(check_format(bad), Err(err), "{bad:?}");
            assert!(err.is_format_error());
        }
        assert_eq!(check_format("port_range:1-2"), Ok(()));
        assert_eq!(
            Capability::parse("network_device:eth0").map(|c| c.kind()),
            Ok("network_device")
        );
    }

    #[test]
    fn network_devices() {
        assert_eq!(
            Capability::parse("network_device"),
            Ok(Capability::NetworkDevice(None))
        );
        assert_eq!(
            Capability::parse("network_device:eth0"),
            Ok(Capability::NetworkDevice(Some("eth0".try_into().unwrap())))
        );
        assert!(Capability::parse("network_device:a-b_c-123456789").is_ok());
        assert_eq!(
            Capability::parse("network_device:"),
            Err(E::EmptyDeviceName)
        );
        assert_eq!(
            Capability::parse("network_device:0123456789abcdef"),
            Err(E::DeviceNameTooLong)
        );
        assert_eq!(
            Capability::parse("network_device:Eth0"),
            Err(E::BadDeviceName)
        );
        assert_eq!(
            Capability::parse("network_device:eth 0"),
            Err(E::BadDeviceName)
        );
        assert_eq!(
            Capability::parse("network_device:eth:0"),
            Err(E::BadDeviceName)
        );
        assert_eq!(Capability::parse("network_device:é"), Err(E::BadDeviceName));
    }

    #[test]
    fn port_ranges() {
        assert_eq!(
            Capability::parse("port_range:1024-65535"),
            Ok(Capability::PortRange {
                first: 1024,
                last: 65535
            })
        );
        assert_eq!(
            Capability::parse("port_range:1-1"),
            Ok(Capability::PortRange { first: 1, last: 1 })
        );
        assert_eq!(Capability::parse("port_range:0-10"), Err(E::PortOutOfRange));
        assert_eq!(
            Capability::parse("port_range:1-65536"),
            Err(E::PortOutOfRange)
        );
        assert_eq!(
            Capability::parse("port_range:1-99999999999999999999"),
            Err(E::PortOutOfRange)
        );
        assert_eq!(Capability::parse("port_range:10-9"), Err(E::RangeReversed));
        for bad in [
            "port_range:",
            "port_range:1",
            "port_range:+1-2",
            "port_range: 1-2",
            "port_range:1-2-3",
            "port_range:-1-2",
            "port_range:1--2",
            "port_range:a-b",
            "port_range:1-",
        ] {
            assert_eq!(Capability::parse(bad), Err(E::MalformedRange), "{bad:?}");
        }
    }

    #[test]
    fn errors_display_one_line() {
        let all = [
            E::BadSyntax,
            E::UnknownKind,
            E::UnexpectedParameter,
            E::EmptyDeviceName,
            E::DeviceNameTooLong,
            E::BadDeviceName,
            E::MalformedRange,
            E::PortOutOfRange,
            E::RangeReversed,
        ];
        for e in all {
            let text = e.to_string();
            assert!(!text.is_empty() && !text.contains('\n'));
        }
    }
}
