//! Capability strings (`console`, `network_device:eth0`, `port_range:1024-65535`, ...) parsed into a closed enum.
//!
//! Parsing only decides whether a string is well-formed; which capabilities are granted is the kernel's call.

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
    /// `network_device` (any device, as in the spec's example) or `network_device:<name>`.
    NetworkDevice(Option<heapless::String<MAX_DEVICE_NAME>>),
    /// `port_range:<first>-<last>`, inclusive, `1 <= first <= last <= 65535`.
    PortRange {
        /// First port.
        first: u16,
        /// Last port (inclusive).
        last: u16,
    },
}

/// Why a capability string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapabilityError {
    /// The part before `:` is not a known kind.
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
    /// `first` is greater than `last`.
    RangeReversed,
}

impl fmt::Display for CapabilityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownKind => "unknown kind (known: block_device, persistent_storage, console, serial, network_device[:name], port_range:a-b)",
            Self::UnexpectedParameter => "this kind takes no `:` parameter",
            Self::EmptyDeviceName => "empty device name after `network_device:`",
            Self::DeviceNameTooLong => "device name longer than 15 bytes",
            Self::BadDeviceName => "device name may only use a-z, 0-9, `_` and `-`",
            Self::MalformedRange => "port range must be `port_range:<first>-<last>` in decimal",
            Self::PortOutOfRange => "ports must be 1..=65535",
            Self::RangeReversed => "port range's first port is above its last",
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
        let plain = |cap: Capability| match param {
            None => Ok(cap),
            Some(_) => Err(CapabilityError::UnexpectedParameter),
        };
        match kind {
            "block_device" => plain(Capability::BlockDevice),
            "persistent_storage" => plain(Capability::PersistentStorage),
            "console" => plain(Capability::Console),
            "serial" => plain(Capability::Serial),
            "network_device" => match param {
                None => Ok(Capability::NetworkDevice(None)),
                Some(name) => device_name(name).map(|n| Capability::NetworkDevice(Some(n))),
            },
            "port_range" => port_range(param.ok_or(CapabilityError::MalformedRange)?),
            _ => Err(CapabilityError::UnknownKind),
        }
    }
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
        assert_eq!(Capability::parse("serial"), Ok(Capability::Serial));
        assert_eq!(Capability::parse("console:x"), Err(E::UnexpectedParameter));
        assert_eq!(Capability::parse("console:"), Err(E::UnexpectedParameter));
    }

    #[test]
    fn unknown_kinds() {
        for bad in [
            "",
            "Console",
            "gpu",
            " console",
            "console ",
            ":",
            "port_range",
        ] {
            let expected = if bad == "port_range" {
                E::MalformedRange
            } else {
                E::UnknownKind
            };
            assert_eq!(Capability::parse(bad), Err(expected), "{bad:?}");
        }
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
