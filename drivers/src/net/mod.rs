//! Network interface cards: the [`NetDevice`] interface (one Ethernet port: its MAC address,
//! its link, non-blocking frame transmit and receive), its errors, and the drivers
//! ([`e1000e`]: Intel 82574L; [`virtio_net`]: QEMU's virtio-net).

pub mod e1000e;
pub mod virtio_net;

use core::fmt;

/// The largest Ethernet frame the interface sends or receives, without the FCS (which the
/// device appends and strips): 14-byte header + 1500-byte payload.
pub const MAX_FRAME: usize = 1514;
/// The smallest frame the interface sends: an Ethernet header (the device pads to 60 bytes).
pub const MIN_FRAME: usize = 14;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacAddress(pub [u8; 6]);

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// One Ethernet port. Frames are whole Ethernet frames without the FCS; both directions are
/// non-blocking beyond a bounded wait for a free transmit slot.
pub trait NetDevice {
    /// The station address.
    fn mac_address(&self) -> MacAddress;
    /// Whether the link is up now.
    fn link_up(&mut self) -> bool;
    /// Queues `frame` for sending ([`MIN_FRAME`] ..= [`MAX_FRAME`] bytes).
    ///
    /// # Errors
    /// [`NetError::FrameTooLarge`], [`NetError::FrameTooShort`], [`NetError::LinkDown`],
    /// [`NetError::TxTimeout`] (no transmit slot freed in time), [`NetError::QueueFull`]
    /// (virtio: the queue stayed full), [`NetError::Removed`].
    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError>;
    /// Copies the next received frame into `buf` and answers its length, or `None` if no frame
    /// has arrived. A frame that does not fit stays queued ([`NetError::BufferTooSmall`]).
    ///
    /// # Errors
    /// [`NetError::BufferTooSmall`], [`NetError::Removed`].
    fn receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>, NetError>;
}

/// Checks a frame's length for [`NetDevice::transmit`]: [`MIN_FRAME`] ..= [`MAX_FRAME`].
///
/// # Errors
/// [`NetError::FrameTooLarge`], [`NetError::FrameTooShort`].
pub fn check_frame_len(len: usize) -> Result<(), NetError> {
    if len > MAX_FRAME {
        return Err(NetError::FrameTooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    if len < MIN_FRAME {
        return Err(NetError::FrameTooShort {
            len,
            min: MIN_FRAME,
        });
    }
    Ok(())
}

/// Why a network operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// The frame exceeds [`MAX_FRAME`] bytes.
    FrameTooLarge { len: usize, max: usize },
    /// The frame is shorter than an Ethernet header.
    FrameTooShort { len: usize, min: usize },
    /// The received frame needs a larger buffer; it stays queued.
    BufferTooSmall { len: usize, need: usize },
    /// The transmit ring stayed full: the device completed no frame within the timeout.
    TxTimeout { head: u32, tail: u32 },
    /// A virtio transmit queue stayed full, or the device did not complete a frame.
    QueueFull,
    /// The link is down (no cable, or the partner never answered auto-negotiation).
    LinkDown,
    /// The device's registers read all ones: it is gone (surprise removal, or powered off).
    Removed,
    /// The device could not be brought up.
    Device(DeviceFailure),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte maximum")
            }
            Self::FrameTooShort { len, min } => {
                write!(
                    f,
                    "frame of {len} bytes is shorter than an Ethernet header ({min})"
                )
            }
            Self::BufferTooSmall { len, need } => write!(
                f,
                "receive buffer of {len} bytes is too small for a {need}-byte frame"
            ),
            Self::TxTimeout { head, tail } => write!(
                f,
                "transmit ring full, device completed nothing in time (TDH {head}, TDT {tail})"
            ),
            Self::QueueFull => write!(f, "transmit queue full: the device completed nothing"),
            Self::LinkDown => write!(f, "link down: check the cable"),
            Self::Removed => write!(f, "device gone: its registers read all ones"),
            Self::Device(reason) => write!(f, "device failure: {reason}"),
        }
    }
}

/// Why a device could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceFailure {
    /// CTRL.RST did not clear within the timeout.
    ResetTimeout { ctrl: u32 },
    /// The EEPROM did not answer a read of this word within the timeout.
    EepromTimeout { word: u8 },
    /// Neither the receive address registers nor the EEPROM hold a usable MAC address.
    NoMacAddress,
    /// No DMA memory for the descriptor rings or the frame buffers.
    OutOfDmaMemory,
}

impl fmt::Display for DeviceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ResetTimeout { ctrl } => {
                write!(f, "reset did not complete (CTRL {ctrl:#010x})")
            }
            Self::EepromTimeout { word } => {
                write!(f, "EEPROM read of word {word} did not complete")
            }
            Self::NoMacAddress => write!(f, "no MAC address in RAL/RAH or the EEPROM"),
            Self::OutOfDmaMemory => write!(f, "out of DMA memory for the rings and buffers"),
        }
    }
}

impl From<DeviceFailure> for NetError {
    fn from(reason: DeviceFailure) -> Self {
        Self::Device(reason)
    }
}
