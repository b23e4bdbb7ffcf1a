//! Network interface cards: names every PCI network function `eth0`, `eth1`, … in address
//! order (what `network_device:<name>` names) and brings up those a driver takes — the Intel
//! 82574L (`drivers::net::e1000e`) and virtio-net (`drivers::net::virtio_net`) — through the
//! device HAL. One log line per NIC: its MAC address, link and bring-up time, or the named
//! reason it has no frames this boot. A NIC that fails is never a panic: it stays named (its
//! capability is still granted) and the frame calls answer that it has no working driver.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use drivers::net::e1000e::{self, E1000e};
use drivers::net::virtio_net::{self, VirtioNetError};
use drivers::net::{NetDevice, NetError};
use drivers::pci::{self, PciDevice};
use drivers::virtio_blk::PciRoot;

use super::{hal, KernelHal, PciConfig, PREMAP_LIMIT};
use crate::memory::mmio::MmioError;

/// A NIC that came up: its name and the device, for the process core's frame calls.
pub struct Nic {
    /// `eth0`, `eth1`, …
    pub name: String,
    /// The driver, owning the device and its DMA memory.
    pub device: Box<dyn NetDevice + Send>,
}

/// What [`bring_up`] found: every network function's name, and the NICs that work.
pub struct NetProbe {
    /// Every PCI network function's name, in address order (granted even when it failed).
    pub names: Vec<String>,
    /// The NICs that came up.
    pub nics: Vec<Nic>,
}

/// Why a NIC has no frames this boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NicError {
    /// No driver takes this model (e.g. QEMU pc's 82540EM, `8086:100e`).
    NoDriver { vendor_id: u16, device_id: u16 },
    /// The register BAR is missing, not memory, or too small.
    NoRegisterBar { bar: usize },
    /// A memory BAR could not be mapped into the MMIO window.
    MapBar { bar: usize, error: MmioError },
    /// The e1000e driver failed to bring the controller up.
    E1000e(NetError),
    /// The virtio-net device failed to come up.
    Virtio(VirtioNetError),
}

impl fmt::Display for NicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDriver {
                vendor_id,
                device_id,
            } => write!(
                f,
                "no driver for {vendor_id:04x}:{device_id:04x} (PandaGen drives e1000e 8086:10d3 \
                 and virtio-net: use -device e1000e or -device virtio-net-pci)"
            ),
            Self::NoRegisterBar { bar } => write!(f, "no usable memory BAR{bar} for the registers"),
            Self::MapBar { bar, error } => write!(f, "mapping BAR{bar}: {error}"),
            Self::E1000e(e) => write!(f, "e1000e: {e}"),
            Self::Virtio(e) => write!(f, "{e}"),
        }
    }
}

/// Names every PCI network function and brings up those a driver takes (see the module
/// documentation); logs one line per NIC.
pub fn bring_up(pci_functions: &[PciDevice]) -> NetProbe {
    let mut root = PciRoot::new(hal::pci_config());
    let mut probe = NetProbe {
        names: Vec::new(),
        nics: Vec::new(),
    };
    let network = pci_functions.iter().filter(|d| d.class == 0x02);
    for (i, dev) in network.enumerate() {
        let name = alloc::format!("eth{i}");
        let started = crate::time::uptime_us();
        match open(&mut root, dev) {
            Ok((kind, mut device)) => {
                let mac = device.mac_address();
                let link = if device.link_up() { "up" } else { "down" };
                log::info!(
                    target: "devices",
                    "network: {name}: {} {kind}: MAC {mac}, link {link} ({})",
                    dev.address,
                    Elapsed(started)
                );
                probe.nics.push(Nic {
                    name: name.clone(),
                    device,
                });
            }
            Err(e @ NicError::NoDriver { .. }) => log::warn!(
                target: "devices",
                "network: {name}: {}: {e}; {name} has no frames this boot",
                dev.address
            ),
            Err(e) => log::error!(
                target: "devices",
                "network: {name}: {} {:04x}:{:04x} failed to come up after {}: {e}; {name} has \
                 no frames this boot",
                dev.address,
                dev.vendor_id,
                dev.device_id,
                Elapsed(started)
            ),
        }
        probe.names.push(name);
    }
    probe
}

/// Milliseconds since `started_us`, with three decimals.
struct Elapsed(u64);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = crate::time::uptime_us().saturating_sub(self.0);
        write!(f, "{}.{:03} ms", us / 1000, us % 1000)
    }
}

type Opened = (&'static str, Box<dyn NetDevice + Send>);

fn open(root: &mut PciRoot<PciConfig>, dev: &PciDevice) -> Result<Opened, NicError> {
    if e1000e::is_e1000e_function(dev) {
        return open_e1000e(dev).map(|d| ("e1000e", Box::new(d) as Box<dyn NetDevice + Send>));
    }
    if virtio_net::is_virtio_net_function(dev) {
        premap_bars(dev)?;
        let nic = virtio_net::open_pci::<KernelHal, _>(root, dev).map_err(NicError::Virtio)?;
        return Ok(("virtio-net", Box::new(nic)));
    }
    Err(NicError::NoDriver {
        vendor_id: dev.vendor_id,
        device_id: dev.device_id,
    })
}

fn open_e1000e(dev: &PciDevice) -> Result<E1000e<hal::KernelMmioDmaHal>, NicError> {
    let Some(bar) = dev.bars[0].filter(|b| b.is_memory() && b.address != 0 && b.size >= 0x2_0000)
    else {
        return Err(NicError::NoRegisterBar { bar: 0 });
    };
    pci::enable(
        &mut hal::pci_config(),
        dev.address,
        pci::command::MEMORY_SPACE | pci::command::BUS_MASTER,
    );
    let hal = hal::e1000e_hal(bar.address, bar.size)
        .map_err(|error| NicError::MapBar { bar: 0, error })?;
    E1000e::init(hal, e1000e::Timeouts::default()).map_err(NicError::E1000e)
}

/// Maps the memory BARs the virtio transport will ask for, so that a failure is an error here
/// rather than a panic inside the HAL (as for virtio-blk).
fn premap_bars(dev: &PciDevice) -> Result<(), NicError> {
    for (i, bar) in dev.bars.iter().enumerate() {
        let Some(bar) = bar else { continue };
        if bar.is_memory() && bar.address != 0 && bar.size <= PREMAP_LIMIT {
            crate::memory::mmio::map(bar.address, bar.size)
                .map_err(|error| NicError::MapBar { bar: i, error })?;
        }
    }
    Ok(())
}
