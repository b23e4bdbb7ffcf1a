//! USB: an xHCI host controller driver ([`xhci`]), USB mass storage over Bulk-Only
//! Transport with SCSI commands ([`msc`], [`scsi`]) and boot-protocol keyboards ([`hid`]), with
//! chapter 9 descriptors in [`desc`].
//!
//! The kernel calls [`probe`] with the HAL for one xHCI controller's BAR0 (see
//! [`xhci::XhciHal`]): it brings the controller up, enumerates the device on every connected
//! root port and answers the mass storage disks (as [`msc::UsbDisk`]s, [`BlockDevice`]s) and
//! one [`PortReport`] per connected port saying what was found there. Other devices are
//! configured and left for their drivers, which share the controller through the
//! [`SharedController`] in the report: [`hid::boot_keyboards`] picks the keyboards out of the
//! reports and [`hid::UsbKeyboard::open`] sets one up.
//!
//! # Disks and keyboards on one controller
//!
//! Every transfer holds the controller's lock while it waits, and completions come back on one
//! event ring. A completion nobody is waiting for (a keyboard report that arrives during a
//! disk transfer) is kept per endpoint by the controller, not dropped, and taken by that
//! endpoint's next poll ([`xhci::InterruptIn`]); a keyboard polls with `try_lock`, so a console
//! read never waits behind a disk transfer, and a disk transfer waits for a keyboard poll only
//! as long as that poll takes (it never waits for the device).
//!
//! USB 2.0 hubs on root ports are set up ([`hub`]) and the devices behind them enumerated the
//! same way (one level: a hub behind a hub is reported, not enumerated behind; SuperSpeed hubs
//! are used through their USB 2 half).
//!
//! # What the kernel provides
//!
//! - BAR0 of the xHCI function ([`is_xhci_function`]: class 0C:03:30), mapped uncached, all of
//!   it: the doorbell array (DBOFF) and runtime registers (RTSOFF) can sit anywhere in the BAR,
//!   and the extended capabilities too. After bring-up [`xhci::Controller::register_span`]
//!   answers the highest offset the driver touches (`DBOFF + 4 * (slots + 1)`, `RTSOFF + 0x40`,
//!   `CAPLENGTH + 0x400 + 16 * ports`, the last extended capability).
//! - DMA memory through [`crate::hal::DmaHal`]: 4 KiB pages for the rings and contexts, plus
//!   scratchpad pages (HCSPARAMS2) and a 128 KiB bounce buffer per disk (halved while memory is
//!   short). Without HCCPARAMS1.AC64 every region must lie below 4 GiB: regions above are given
//!   back and count as out of memory, so a HAL that can allocate low should for such
//!   controllers.
//! - PCI bus mastering and memory space enabled. No interrupts: everything is polled.
//!
//! ```ignore
//! let report = drivers::usb::probe(hal, Timeouts::default(), MscTimeouts::default())?;
//! for port in &report.ports {
//!     log::info!("{port}"); // e.g. "port 2 usb-hid (full speed, 046d:c31c): HID keyboard …"
//! }
//! for found in report.disks {
//!     register_disk(found.location, found.model, Box::new(found.disk)); // a BlockDevice + Send
//! }
//! for k in drivers::usb::hid::boot_keyboards(&report.ports) {
//!     let kbd = UsbKeyboard::open(report.controller.clone(), k.slot, k.interface, Layout::Us)?;
//!     keep(kbd); // then kbd.read_available(&mut buf) whenever the console reads
//! }
//! ```
//!
//! # Timeouts
//!
//! Every wait is bounded ([`xhci::Timeouts`], [`msc::MscTimeouts`]; defaults): firmware handoff
//! 1 s (then forced), halt 100 ms, reset 1 s, each command 1 s, port reset 500 ms, control
//! transfers 1 s, bulk transfers 5 s, TEST UNIT READY 20 tries 100 ms apart. A transfer that
//! times out is stopped and skipped (Stop Endpoint, Set TR Dequeue Pointer) and the mass
//! storage device reset (Bulk-Only Mass Storage Reset). While a transfer waits, the port's
//! PORTSC.CCS is polled: an unplugged device on a root port fails the transfer at once
//! ([`xhci::TransferError::Disconnected`]), and its disk fails every later request at once.
//!
//! [`BlockDevice`]: crate::block::BlockDevice

pub mod desc;
pub mod hid;
pub mod hub;
pub mod msc;
pub mod scsi;
pub mod xhci;

#[cfg(test)]
mod hid_tests;
#[cfg(test)]
mod tests;

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use desc::{class, describe_interface, Configuration, Interface, TransferType};
use msc::{BotInterface, MscError, MscTimeouts, UsbDisk};
use xhci::{Controller, Device, EnumError, Timeouts, XhciError, XhciHal};

/// The controller, shared between the disks (and later other class drivers) behind a lock.
pub type SharedController<H> = Arc<spin::Mutex<Controller<H>>>;

/// Whether a PCI function is an xHCI controller: serial bus controller, USB, xHCI programming
/// interface (class 0C:03:30).
pub fn is_xhci_function(dev: &crate::pci::PciDevice) -> bool {
    (dev.class, dev.subclass, dev.prog_if) == (0x0c, 0x03, 0x30)
}

/// What was found on one root port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortOutcome {
    /// A mass storage device; the disk is in [`ProbeReport::disks`].
    Storage { model: String },
    /// A mass storage interface that gives no disk (e.g. a CD-ROM, or a device that failed).
    StorageRefused { error: MscError },
    /// A device that is not mass storage: its first interface's class, subclass and protocol,
    /// described (e.g. "HID keyboard (boot protocol)"). It is configured (SET_CONFIGURATION,
    /// interrupt and bulk endpoints) and left for its driver; `slot` names it to the
    /// controller, `interface` is that first interface's number (for class requests).
    NotStorage {
        slot: u8,
        interface: u8,
        class: u8,
        subclass: u8,
        protocol: u8,
        description: String,
    },
    /// A hub that was set up: its ports are reported as their own [`PortReport`]s (with
    /// [`PortReport::hub_port`]).
    Hub { ports: u8 },
    /// A hub that is not used (SuperSpeed, nested, failed), or a hub port whose reset failed.
    HubFailed { error: hub::HubError },
    /// The device could not be enumerated.
    Failed { error: EnumError },
    /// The device was enumerated but configuring it failed.
    SetupFailed { error: xhci::TransferError },
}

/// One connected root port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortReport {
    /// The root port.
    pub port: u8,
    /// For a device behind a hub on the root port: the hub's port.
    pub hub_port: Option<u8>,
    pub speed: Option<xhci::proto::Speed>,
    pub vendor_id: u16,
    pub product_id: u16,
    pub outcome: PortOutcome,
}

impl PortReport {
    /// Where the device is: "port 2", or "port 1.3" (port 3 of the hub on root port 1).
    pub fn place(&self) -> String {
        match self.hub_port {
            Some(h) => format!("port {}.{h}", self.port),
            None => format!("port {}", self.port),
        }
    }

    /// A location string for the kernel's logs, e.g. "port 2 usb-msc".
    pub fn location(&self) -> String {
        let kind = match self.outcome {
            PortOutcome::Storage { .. } | PortOutcome::StorageRefused { .. } => "usb-msc",
            PortOutcome::NotStorage {
                class: class::HID, ..
            } => "usb-hid",
            PortOutcome::Hub { .. } => "usb-hub",
            PortOutcome::HubFailed { .. } if self.hub_port.is_none() => "usb-hub",
            _ => "usb",
        };
        format!("{} {kind}", self.place())
    }
}

impl fmt::Display for PortReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location())?;
        if let Some(s) = self.speed {
            write!(f, " ({}", s.name())?;
            if self.vendor_id != 0 || self.product_id != 0 {
                write!(f, ", {:04x}:{:04x}", self.vendor_id, self.product_id)?;
            }
            write!(f, ")")?;
        }
        match &self.outcome {
            PortOutcome::Storage { model } => write!(f, ": disk \"{model}\""),
            PortOutcome::StorageRefused { error } => write!(f, ": storage refused: {error}"),
            PortOutcome::NotStorage {
                class,
                subclass,
                protocol,
                description,
                ..
            } => write!(
                f,
                ": {description} (class {class:#04x} subclass {subclass:#04x} protocol {protocol:#04x}), not a storage device"
            ),
            PortOutcome::Hub { ports } => write!(f, ": hub with {ports} ports"),
            PortOutcome::HubFailed { error } => write!(f, ": {error}"),
            PortOutcome::Failed { error } => write!(f, ": enumeration failed: {error}"),
            PortOutcome::SetupFailed { error } => write!(f, ": configuration failed: {error}"),
        }
    }
}

/// A USB disk and where it is.
pub struct FoundDisk<H: XhciHal> {
    /// Where it is: [`PortReport::place`], e.g. "port 2".
    pub location: String,
    /// INQUIRY vendor and product.
    pub model: String,
    pub disk: UsbDisk<H>,
}

/// What [`probe`] found.
pub struct ProbeReport<H: XhciHal> {
    /// The running controller (keep it to hand other devices to their drivers).
    pub controller: SharedController<H>,
    pub disks: Vec<FoundDisk<H>>,
    /// One entry per connected root port, in port order.
    pub ports: Vec<PortReport>,
}

/// Brings the controller on `hal` up, enumerates every connected root port and opens the mass
/// storage devices.
///
/// # Errors
/// [`XhciError`] if the controller cannot be brought up; per-device failures are
/// [`PortReport`]s, not errors.
pub fn probe<H: XhciHal>(
    hal: H,
    timeouts: Timeouts,
    msc_timeouts: MscTimeouts,
) -> Result<ProbeReport<H>, XhciError> {
    let controller = Controller::init(hal, timeouts)?;
    let shared: SharedController<H> = Arc::new(spin::Mutex::new(controller));
    let ports = shared.lock().connected_ports();
    let mut report = ProbeReport {
        controller: shared.clone(),
        disks: Vec::new(),
        ports: Vec::new(),
    };
    for port in ports {
        let enumerated = shared.lock().enumerate_port(port);
        match enumerated {
            Ok(device) => add_device(&shared, &mut report, &device, None, msc_timeouts),
            Err(error) => {
                let speed = shared.lock().port_status(port).speed();
                push(
                    &mut report,
                    PortReport {
                        port,
                        hub_port: None,
                        speed,
                        vendor_id: 0,
                        product_id: 0,
                        outcome: PortOutcome::Failed { error },
                    },
                );
            }
        }
    }
    Ok(report)
}

fn push<H: XhciHal>(report: &mut ProbeReport<H>, entry: PortReport) {
    report.ports.push(entry);
}

/// Reports an enumerated device: a disk, another device, or a hub and what is behind it.
fn add_device<H: XhciHal>(
    shared: &SharedController<H>,
    report: &mut ProbeReport<H>,
    device: &Device,
    hub_port: Option<u8>,
    msc_timeouts: MscTimeouts,
) {
    let mut entry = PortReport {
        port: device.port,
        hub_port,
        speed: Some(device.speed),
        vendor_id: device.descriptor.vendor_id,
        product_id: device.descriptor.product_id,
        outcome: PortOutcome::Hub { ports: 0 },
    };
    let config = &device.configuration;
    let is_hub = device.descriptor.class == class::HUB
        || config.interfaces.iter().any(|i| i.class == class::HUB);
    if is_hub {
        let set_up = hub::Hub::set_up(&mut shared.lock(), device);
        let hub = match set_up {
            Ok(hub) => hub,
            Err(error) => {
                entry.outcome = PortOutcome::HubFailed { error };
                return push(report, entry);
            }
        };
        entry.outcome = PortOutcome::Hub {
            ports: hub.descriptor.ports,
        };
        push(report, entry);
        let connected = hub.connected_ports(&mut shared.lock());
        for p in connected {
            let mut child = PortReport {
                port: device.port,
                hub_port: Some(p),
                speed: None,
                vendor_id: 0,
                product_id: 0,
                outcome: PortOutcome::Hub { ports: 0 },
            };
            let reset = hub.reset_port(&mut shared.lock(), p);
            let speed = match reset {
                Ok(speed) => speed,
                Err(error) => {
                    child.outcome = PortOutcome::HubFailed { error };
                    push(report, child);
                    continue;
                }
            };
            child.speed = Some(speed);
            let enumerated = shared.lock().enumerate_behind_hub(hub.slot, p, speed);
            match enumerated {
                Ok(d) => add_device(shared, report, &d, Some(p), msc_timeouts),
                Err(error) => {
                    child.outcome = PortOutcome::Failed { error };
                    push(report, child);
                }
            }
        }
        return;
    }
    match attach(shared, device, msc_timeouts) {
        Attached::Disk(disk) => {
            let model = disk.model();
            entry.outcome = PortOutcome::Storage {
                model: model.clone(),
            };
            report.disks.push(FoundDisk {
                location: entry.place(),
                model,
                disk,
            });
        }
        Attached::Other(outcome) => entry.outcome = outcome,
    }
    push(report, entry);
}

/// What [`attach`] made of a device.
enum Attached<H: XhciHal> {
    Disk(UsbDisk<H>),
    Other(PortOutcome),
}

/// The mass storage Bulk-Only SCSI interface of a configuration, if any.
fn storage_interface(config: &Configuration) -> Option<&Interface> {
    config.interfaces.iter().find(|i| {
        (i.class, i.subclass, i.protocol) == (class::MASS_STORAGE, class::MSC_SCSI, class::MSC_BOT)
            && i.alternate == 0
    })
}

/// Configures an enumerated device and opens it as a disk if it is mass storage.
fn attach<H: XhciHal>(
    shared: &SharedController<H>,
    device: &Device,
    msc_timeouts: MscTimeouts,
) -> Attached<H> {
    let config = &device.configuration;
    let setup = |endpoints: &[desc::EndpointDescriptor]| {
        let mut c = shared.lock();
        c.set_configuration(device.slot, config.value)?;
        c.configure_endpoints(device.slot, endpoints)
    };
    if let Some(iface) = storage_interface(config) {
        let (Some(bulk_in), Some(bulk_out)) = (
            iface.endpoint(TransferType::Bulk, true),
            iface.endpoint(TransferType::Bulk, false),
        ) else {
            return Attached::Other(PortOutcome::StorageRefused {
                error: MscError::NoBulkEndpoints,
            });
        };
        if let Err(error) = setup(&[bulk_in, bulk_out]) {
            return Attached::Other(PortOutcome::StorageRefused {
                error: MscError::Setup(error),
            });
        }
        let bot = BotInterface {
            slot: device.slot,
            port: device.port,
            interface: iface.number,
            bulk_in: bulk_in.address,
            bulk_out: bulk_out.address,
        };
        return match UsbDisk::open(shared.clone(), bot, msc_timeouts) {
            Ok(disk) => Attached::Disk(disk),
            Err(error) => Attached::Other(PortOutcome::StorageRefused { error }),
        };
    }
    let (interface, class, subclass, protocol) = config.interfaces.first().map_or(
        (
            0,
            device.descriptor.class,
            device.descriptor.subclass,
            device.descriptor.protocol,
        ),
        |i| (i.number, i.class, i.subclass, i.protocol),
    );
    // Interrupt and bulk endpoints of the first interface, ready for a class driver.
    let endpoints: Vec<_> = config
        .interfaces
        .first()
        .map(|i| {
            i.endpoints
                .iter()
                .copied()
                .filter(|e| matches!(e.transfer, TransferType::Interrupt | TransferType::Bulk))
                .collect()
        })
        .unwrap_or_default();
    if let Err(error) = setup(&endpoints) {
        return Attached::Other(PortOutcome::SetupFailed { error });
    }
    Attached::Other(PortOutcome::NotStorage {
        slot: device.slot,
        interface,
        class,
        subclass,
        protocol,
        description: describe_interface(class, subclass, protocol),
    })
}
