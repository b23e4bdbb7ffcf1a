//! virtio-net (QEMU `-device virtio-net-pci`) as a [`NetDevice`], wrapping the `virtio-drivers`
//! crate's `VirtIONet` over its PCI transport, polled (no interrupts), like
//! [`crate::virtio_blk`].
//!
//! Bring-up ([`open_pci`]): memory decoding and bus mastering on, the modern virtio PCI
//! transport (its BARs mapped through `H::mmio_phys_to_virt`), feature negotiation (MAC,
//! STATUS, VERSION_1) and [`QUEUE_SIZE`] receive buffers of [`RX_BUFFER_BYTES`] queued. The
//! link state is read once from the device's configuration (`VIRTIO_NET_S_LINK_UP`) at
//! bring-up; a device that does not offer `VIRTIO_NET_F_STATUS` has its link up (the spec's
//! rule). Transmit waits for the device to complete the frame (the crate's `send`); receive
//! takes a completed buffer, if any, copies the frame out and gives the buffer back at once.

use core::fmt;

use virtio_drivers::device::net::VirtIONet;
use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, PciRoot};
use virtio_drivers::transport::pci::{PciTransport, VirtioPciError};
use virtio_drivers::transport::Transport;
use virtio_drivers::Hal;

use super::{check_frame_len, DeviceFailure, MacAddress, NetDevice, NetError};
use crate::pci::{PciDevice, VIRTIO_VENDOR};

/// Receive (and transmit) virtqueue size: buffers queued for the device.
pub const QUEUE_SIZE: usize = 16;
/// Bytes per receive buffer: the virtio-net header (12 bytes) and a whole frame.
pub const RX_BUFFER_BYTES: usize = 2048;
/// Feature bit `VIRTIO_NET_F_STATUS`: the configuration's `status` field is valid.
pub const FEATURE_STATUS: u64 = 1 << 16;
/// Offset of the `status` field in the device configuration (after the 6-byte MAC).
const CONFIG_STATUS: usize = 6;
/// `VIRTIO_NET_S_LINK_UP`.
const STATUS_LINK_UP: u16 = 1;

/// Whether a PCI function is a virtio network device (transitional `0x1000` or modern
/// `0x1041`).
pub fn is_virtio_net_function(dev: &PciDevice) -> bool {
    dev.vendor_id == VIRTIO_VENDOR && matches!(dev.device_id, 0x1000 | 0x1041)
}

/// Why a virtio-net device could not be brought up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VirtioNetError {
    /// The PCI function is not a virtio network device.
    NotVirtioNet { vendor_id: u16, device_id: u16 },
    /// The virtio PCI transport could not be set up (capabilities missing, BAR unassigned…).
    Transport(VirtioPciError),
    /// Feature negotiation, the configuration or queue setup failed (e.g. no DMA memory).
    Init(virtio_drivers::Error),
}

impl fmt::Display for VirtioNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotVirtioNet {
                vendor_id,
                device_id,
            } => write!(
                f,
                "{vendor_id:04x}:{device_id:04x} is not a virtio network device"
            ),
            Self::Transport(e) => write!(f, "virtio PCI transport: {e}"),
            Self::Init(e) => write!(f, "virtio-net initialisation: {e}"),
        }
    }
}

/// Maps a `virtio-drivers` error on a transmit or receive to a [`NetError`].
pub fn map_error(e: virtio_drivers::Error) -> NetError {
    use virtio_drivers::Error as E;
    match e {
        E::QueueFull | E::NotReady => NetError::QueueFull,
        E::DmaError => NetError::Device(DeviceFailure::OutOfDmaMemory),
        _ => NetError::Removed,
    }
}

/// A virtio network device over transport `T`, with DMA and MMIO through `H`.
pub struct VirtioNet<H: Hal, T: Transport> {
    dev: VirtIONet<H, T, QUEUE_SIZE>,
    mac: MacAddress,
    link_up: bool,
}

impl<H: Hal, T: Transport> VirtioNet<H, T> {
    /// Initialises the device behind `transport` and queues its receive buffers.
    ///
    /// # Errors
    /// [`VirtioNetError::Init`]: features rejected, configuration unreadable, no DMA memory.
    pub fn new(mut transport: T) -> Result<Self, VirtioNetError> {
        let link_up = link_up_at_bring_up(&mut transport).map_err(VirtioNetError::Init)?;
        let dev = VirtIONet::<H, T, QUEUE_SIZE>::new(transport, RX_BUFFER_BYTES)
            .map_err(VirtioNetError::Init)?;
        Ok(Self {
            mac: MacAddress(dev.mac_address()),
            dev,
            link_up,
        })
    }

    /// The wrapped driver, for what this interface does not cover.
    pub fn driver(&mut self) -> &mut VirtIONet<H, T, QUEUE_SIZE> {
        &mut self.dev
    }
}

/// The link state in the device configuration (`VIRTIO_NET_S_LINK_UP`); up when the device
/// does not offer `VIRTIO_NET_F_STATUS` (the field is then not valid, and the spec says to
/// assume the link up).
fn link_up_at_bring_up<T: Transport>(transport: &mut T) -> Result<bool, virtio_drivers::Error> {
    if transport.read_device_features() & FEATURE_STATUS == 0 {
        return Ok(true);
    }
    let status: u16 = transport.read_config_space(CONFIG_STATUS)?;
    Ok(status & STATUS_LINK_UP != 0)
}

impl<H: Hal, T: Transport> NetDevice for VirtioNet<H, T> {
    fn mac_address(&self) -> MacAddress {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        self.link_up
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        check_frame_len(frame.len())?;
        if !self.link_up {
            return Err(NetError::LinkDown);
        }
        let mut tx = self.dev.new_tx_buffer(frame.len());
        tx.packet_mut().copy_from_slice(frame);
        self.dev.send(tx).map_err(map_error)
    }

    fn receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>, NetError> {
        let rx = match self.dev.receive() {
            Ok(rx) => rx,
            Err(virtio_drivers::Error::NotReady) => return Ok(None),
            Err(e) => return Err(map_error(e)),
        };
        let len = rx.packet_len();
        let result = if len > buf.len() {
            // Unlike e1000e's ring, a taken virtio buffer cannot be put back in front: the
            // frame is dropped, and the caller told how large a buffer it needs.
            Err(NetError::BufferTooSmall {
                len: buf.len(),
                need: len,
            })
        } else {
            buf[..len].copy_from_slice(rx.packet());
            Ok(Some(len))
        };
        self.dev.recycle_rx_buffer(rx).map_err(map_error)?;
        result
    }
}

/// Brings up the virtio network device `dev` found on `root`: turns on memory decoding and
/// bus mastering, sets up the modern virtio PCI transport and initialises the device.
///
/// # Errors
/// [`VirtioNetError::NotVirtioNet`] (nothing touched), [`VirtioNetError::Transport`],
/// [`VirtioNetError::Init`].
pub fn open_pci<H: Hal, C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    dev: &PciDevice,
) -> Result<VirtioNet<H, PciTransport>, VirtioNetError> {
    if !is_virtio_net_function(dev) {
        return Err(VirtioNetError::NotVirtioNet {
            vendor_id: dev.vendor_id,
            device_id: dev.device_id,
        });
    }
    let df = dev.address.into();
    let (_, command) = root.get_status_command(df);
    let wanted = Command::MEMORY_SPACE | Command::BUS_MASTER;
    if !command.contains(wanted) {
        root.set_command(df, command | wanted);
    }
    let transport = PciTransport::new::<H, C>(root, df).map_err(VirtioNetError::Transport)?;
    VirtioNet::new(transport)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::fake::{FakeConfig, FakeFunction};
    use crate::pci::{enumerate, PciAddress};

    #[test]
    fn discovery_takes_transitional_and_modern_virtio_net_only() {
        let mut cfg = FakeConfig::default()
            .with(
                PciAddress::new(0, 2, 0),
                FakeFunction::new(VIRTIO_VENDOR, 0x1000, 0x02, 0, 0),
            )
            .with(
                PciAddress::new(0, 3, 0),
                FakeFunction::new(VIRTIO_VENDOR, 0x1041, 0x02, 0, 0),
            )
            .with(
                PciAddress::new(0, 4, 0),
                FakeFunction::new(VIRTIO_VENDOR, 0x1001, 0x01, 0, 0),
            )
            .with(
                PciAddress::new(0, 5, 0),
                FakeFunction::new(0x8086, 0x10d3, 0x02, 0, 0),
            );
        let devs = enumerate(&mut cfg);
        let found: Vec<u8> = devs
            .iter()
            .filter(|d| is_virtio_net_function(d))
            .map(|d| d.address.device)
            .collect();
        assert_eq!(found, [2, 3]);
    }

    #[test]
    fn errors_map_to_net_errors() {
        use virtio_drivers::Error as E;
        assert_eq!(
            map_error(E::DmaError),
            NetError::Device(DeviceFailure::OutOfDmaMemory)
        );
        assert_eq!(map_error(E::QueueFull), NetError::QueueFull);
        assert_eq!(map_error(E::IoError), NetError::Removed);
        assert!(VirtioNetError::Init(E::DmaError)
            .to_string()
            .contains("DMA"));
        assert!(VirtioNetError::NotVirtioNet {
            vendor_id: 0x8086,
            device_id: 0x10d3
        }
        .to_string()
        .contains("8086:10d3 is not a virtio network device"));
    }

    #[test]
    fn frame_lengths_are_checked_before_the_device() {
        use crate::net::{MAX_FRAME, MIN_FRAME};
        assert_eq!(check_frame_len(MIN_FRAME), Ok(()));
        assert_eq!(check_frame_len(MAX_FRAME), Ok(()));
        assert_eq!(
            check_frame_len(MAX_FRAME + 1),
            Err(NetError::FrameTooLarge {
                len: MAX_FRAME + 1,
                max: MAX_FRAME
            })
        );
        assert_eq!(
            check_frame_len(13),
            Err(NetError::FrameTooShort { len: 13, min: 14 })
        );
        // The receive buffers hold the virtio-net header and the largest frame.
        const { assert!(RX_BUFFER_BYTES >= 12 + MAX_FRAME) };
    }
}
