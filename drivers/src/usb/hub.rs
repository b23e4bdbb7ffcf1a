//! USB 2.0 hubs (USB 2.0 chapter 11), one level below a root port: the hub descriptor, port
//! power, port status and port reset, by polling (the hub's status change endpoint is
//! configured but not read).
//!
//! [`Hub::set_up`] configures a hub the controller enumerated (SET_CONFIGURATION, GET_DESCRIPTOR
//! for the hub descriptor, the slot's hub fields through Configure Endpoint, power on every
//! port and wait bPwrOn2PwrGood); [`Hub::connected_ports`] and [`Hub::reset_port`] then let the
//! caller enumerate what is behind it with
//! [`Controller::enumerate_behind_hub`](crate::usb::xhci::Controller::enumerate_behind_hub).
//!
//! SuperSpeed hubs are refused ([`HubError::SuperSpeed`]): a USB 3 hub also shows up as a high
//! speed hub on the matching USB 2 root port, where its USB 2 devices are found.
//! Unplugging a device behind a hub is not watched for: its transfers then fail with USB
//! transaction errors (or time out), not [`TransferError::Disconnected`].

use core::fmt;

use crate::hal::wait_until;
use crate::usb::desc::{DescriptorError, SetupPacket, TransferType};
use crate::usb::xhci::proto::Speed;
use crate::usb::xhci::{Controller, Device, TransferError, XhciHal};

/// The hub descriptor type (USB 2.0).
pub const HUB_DESCRIPTOR: u8 = 0x29;
/// Port features.
pub mod feature {
    pub const PORT_RESET: u16 = 4;
    pub const PORT_POWER: u16 = 8;
    pub const C_PORT_CONNECTION: u16 = 16;
    pub const C_PORT_ENABLE: u16 = 17;
    pub const C_PORT_RESET: u16 = 20;
}
/// wPortStatus bits.
pub mod status {
    pub const CONNECTION: u16 = 1 << 0;
    pub const ENABLE: u16 = 1 << 1;
    pub const RESET: u16 = 1 << 4;
    pub const POWER: u16 = 1 << 8;
    pub const LOW_SPEED: u16 = 1 << 9;
    pub const HIGH_SPEED: u16 = 1 << 10;
}
/// wPortChange bits.
pub mod change {
    pub const CONNECTION: u16 = 1 << 0;
    pub const ENABLE: u16 = 1 << 1;
    pub const RESET: u16 = 1 << 4;
}

/// The hub descriptor's fields the driver uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubDescriptor {
    pub ports: u8,
    pub characteristics: u16,
    /// bPwrOn2PwrGood in milliseconds.
    pub power_good_ms: u32,
}

impl HubDescriptor {
    /// TT think time (wHubCharacteristics bits 6:5).
    pub fn think_time(&self) -> u8 {
        ((self.characteristics >> 5) & 3) as u8
    }
}

/// Parses a USB 2.0 hub descriptor.
///
/// # Errors
/// [`DescriptorError::TooShort`] below 7 bytes, [`DescriptorError::WrongType`].
pub fn parse_hub_descriptor(b: &[u8]) -> Result<HubDescriptor, DescriptorError> {
    if b.len() < 7 {
        return Err(DescriptorError::TooShort {
            dtype: HUB_DESCRIPTOR,
            len: b.len(),
        });
    }
    if b[1] != HUB_DESCRIPTOR {
        return Err(DescriptorError::WrongType {
            expected: HUB_DESCRIPTOR,
            got: b[1],
        });
    }
    Ok(HubDescriptor {
        ports: b[2],
        characteristics: u16::from_le_bytes([b[3], b[4]]),
        power_good_ms: u32::from(b[5]) * 2,
    })
}

/// Why a hub or one of its ports could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubError {
    /// A hub request failed.
    Transfer(TransferError),
    /// The hub descriptor is malformed.
    Descriptor(DescriptorError),
    /// SuperSpeed hubs are not supported.
    SuperSpeed,
    /// A hub behind a hub: only one level is supported.
    Nested,
    /// The hub reports no ports, or more than 15.
    BadPortCount { ports: u8 },
    /// The port did not finish its reset enabled.
    PortResetTimeout { port: u8, status: u16, change: u16 },
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transfer(e) => write!(f, "hub request failed: {e}"),
            Self::Descriptor(e) => write!(f, "hub descriptor: {e}"),
            Self::SuperSpeed => write!(
                f,
                "SuperSpeed hubs are not supported (its USB 2 half is used instead)"
            ),
            Self::Nested => write!(
                f,
                "hub behind a hub: not supported (devices behind it are ignored)"
            ),
            Self::BadPortCount { ports } => write!(f, "hub reports {ports} ports"),
            Self::PortResetTimeout {
                port,
                status,
                change,
            } => write!(
                f,
                "hub port {port} did not come out of reset enabled (status {status:#06x}, change {change:#06x})"
            ),
        }
    }
}

impl From<TransferError> for HubError {
    fn from(e: TransferError) -> Self {
        Self::Transfer(e)
    }
}

/// A hub set up by [`Hub::set_up`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hub {
    pub slot: u8,
    pub descriptor: HubDescriptor,
}

/// A class request to hub port `port` (recipient "other").
fn port_request(request: u8, feature: u16, port: u8, in_: bool, length: u16) -> SetupPacket {
    SetupPacket {
        request_type: 0x23 | if in_ { SetupPacket::DIR_IN } else { 0 },
        request,
        value: feature,
        index: u16::from(port),
        length,
    }
}

const GET_STATUS: u8 = 0x00;
const CLEAR_FEATURE: u8 = 0x01;
const SET_FEATURE: u8 = 0x03;
const GET_DESCRIPTOR: u8 = 0x06;

impl Hub {
    /// Configures the hub `device` (on a root port), tells the controller it is a hub, and
    /// powers its ports.
    ///
    /// # Errors
    /// Every [`HubError`].
    pub fn set_up<H: XhciHal>(c: &mut Controller<H>, device: &Device) -> Result<Self, HubError> {
        if matches!(device.speed, Speed::Super | Speed::SuperPlus) {
            return Err(HubError::SuperSpeed);
        }
        if device.route != 0 {
            return Err(HubError::Nested);
        }
        let slot = device.slot;
        c.set_configuration(slot, device.configuration.value)?;
        let get = SetupPacket {
            request_type: 0xa0,
            request: GET_DESCRIPTOR,
            value: u16::from(HUB_DESCRIPTOR) << 8,
            index: 0,
            length: 71,
        };
        let mut buf = [0u8; 71];
        let n = c.control_in(slot, get, &mut buf)?;
        let descriptor = parse_hub_descriptor(&buf[..n]).map_err(HubError::Descriptor)?;
        if descriptor.ports == 0 || descriptor.ports > 15 {
            return Err(HubError::BadPortCount {
                ports: descriptor.ports,
            });
        }
        // Protocol 2: a high speed hub with one TT per port.
        let mtt = device.speed == Speed::High && device.descriptor.protocol == 2;
        c.set_hub(slot, descriptor.ports, descriptor.think_time(), mtt);
        let status_change: alloc::vec::Vec<_> = device
            .configuration
            .interfaces
            .first()
            .and_then(|i| i.endpoint(TransferType::Interrupt, true))
            .into_iter()
            .collect();
        c.configure_endpoints(slot, &status_change)?;
        for port in 1..=descriptor.ports {
            c.control_out(
                slot,
                port_request(SET_FEATURE, feature::PORT_POWER, port, false, 0),
                &[],
            )?;
        }
        let settle = u64::from(descriptor.power_good_ms.max(20)) * 1000;
        wait_until(c.hal(), settle, |_| false);
        Ok(Self { slot, descriptor })
    }

    /// Port `port`'s wPortStatus and wPortChange.
    ///
    /// # Errors
    /// The request's [`TransferError`].
    pub fn port_status<H: XhciHal>(
        &self,
        c: &mut Controller<H>,
        port: u8,
    ) -> Result<(u16, u16), TransferError> {
        let mut b = [0u8; 4];
        let n = c.control_in(
            self.slot,
            port_request(GET_STATUS, 0, port, true, 4),
            &mut b,
        )?;
        if n < 4 {
            return Err(TransferError::Failed {
                slot: self.slot,
                endpoint: 0,
                code: crate::usb::xhci::proto::CompletionCode(
                    crate::usb::xhci::proto::code::SHORT_PACKET,
                ),
            });
        }
        Ok((
            u16::from_le_bytes([b[0], b[1]]),
            u16::from_le_bytes([b[2], b[3]]),
        ))
    }

    /// The ports with a device connected (a port whose status cannot be read is skipped).
    pub fn connected_ports<H: XhciHal>(&self, c: &mut Controller<H>) -> alloc::vec::Vec<u8> {
        (1..=self.descriptor.ports)
            .filter(|&p| {
                self.port_status(c, p)
                    .is_ok_and(|(s, _)| s & status::CONNECTION != 0)
            })
            .collect()
    }

    /// Resets port `port` and answers the speed of the device on it.
    ///
    /// # Errors
    /// [`HubError::PortResetTimeout`] after the controller's port reset timeout, and the
    /// requests' [`TransferError`]s.
    pub fn reset_port<H: XhciHal>(
        &self,
        c: &mut Controller<H>,
        port: u8,
    ) -> Result<Speed, HubError> {
        let timeouts = c.timeouts();
        for f in [feature::C_PORT_CONNECTION, feature::C_PORT_ENABLE] {
            c.control_out(
                self.slot,
                port_request(CLEAR_FEATURE, f, port, false, 0),
                &[],
            )?;
        }
        c.control_out(
            self.slot,
            port_request(SET_FEATURE, feature::PORT_RESET, port, false, 0),
            &[],
        )?;
        let start = c.hal().now_us();
        let (st, ch) = loop {
            let (st, ch) = self.port_status(c, port)?;
            if ch & change::RESET != 0 && st & status::RESET == 0 {
                break (st, ch);
            }
            if c.hal().now_us().saturating_sub(start) >= timeouts.port_reset_us {
                return Err(HubError::PortResetTimeout {
                    port,
                    status: st,
                    change: ch,
                });
            }
        };
        c.control_out(
            self.slot,
            port_request(CLEAR_FEATURE, feature::C_PORT_RESET, port, false, 0),
            &[],
        )?;
        if st & status::ENABLE == 0 || st & status::CONNECTION == 0 {
            return Err(HubError::PortResetTimeout {
                port,
                status: st,
                change: ch,
            });
        }
        wait_until(c.hal(), timeouts.reset_recovery_us, |_| false);
        Ok(if st & status::LOW_SPEED != 0 {
            Speed::Low
        } else if st & status::HIGH_SPEED != 0 {
            Speed::High
        } else {
            Speed::Full
        })
    }
}
