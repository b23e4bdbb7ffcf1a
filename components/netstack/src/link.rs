//! The network device as the stack sees it ([`Frames`]: whole Ethernet frames in and out), and
//! the `smoltcp::phy::Device` over it, which also notes what the stack's status and error
//! naming need from the frames going by (DHCP leases, TCP resets, DNS answers; [`crate::sniff`]).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::sniff::{self, Sniffed};

/// The largest Ethernet frame the stack sends or takes (1500-byte MTU + 14-byte header).
pub const MAX_FRAME: usize = 1514;

/// Why the device could not send or receive a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The link is down.
    Down,
    /// The device (or the kernel's frame call) failed with this code.
    Device(i64),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Down => f.write_str("link down"),
            LinkError::Device(code) => write!(f, "network device error {code}"),
        }
    }
}

/// A network device that moves whole Ethernet frames (header included, no FCS). In
/// `services_network` it is the kernel's frame calls; in tests, [`crate::fake::WirePort`].
pub trait Frames {
    /// The device's MAC address.
    fn mac(&self) -> [u8; 6];
    /// Whether the link is up (a device that cannot tell says `true`; a `send` or `recv`
    /// answering [`LinkError::Down`] is then dropped like a lost frame).
    fn link_up(&self) -> bool;
    /// Sends one frame (at most [`MAX_FRAME`] bytes).
    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError>;
    /// Receives one frame into `buf` (at least [`MAX_FRAME`] bytes): `Ok(Some(len))`, or
    /// `Ok(None)` when none is waiting. Never blocks.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, LinkError>;
}

/// Counters for the status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames received.
    pub rx_frames: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Sends or receives the device failed (not counting those refused for a down link).
    pub errors: u64,
}

/// `smoltcp`'s device over a [`Frames`].
pub(crate) struct Link<F> {
    pub frames: F,
    pub mac: [u8; 6],
    pub stats: LinkStats,
    pub sniffed: Sniffed,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl<F: Frames> Link<F> {
    pub fn new(frames: F) -> Self {
        Link {
            mac: frames.mac(),
            frames,
            stats: LinkStats::default(),
            sniffed: Sniffed::default(),
            rx: vec![0; MAX_FRAME],
            tx: Vec::with_capacity(MAX_FRAME),
        }
    }
}

pub(crate) struct Rx<'a>(&'a [u8]);

pub(crate) struct Tx<'a, F> {
    frames: &'a mut F,
    buf: &'a mut Vec<u8>,
    stats: &'a mut LinkStats,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, G: FnOnce(&[u8]) -> R>(self, f: G) -> R {
        f(self.0)
    }
}

impl<F: Frames> phy::TxToken for Tx<'_, F> {
    fn consume<R, G: FnOnce(&mut [u8]) -> R>(self, len: usize, f: G) -> R {
        self.buf.clear();
        self.buf.resize(len, 0);
        let r = f(self.buf);
        match self.frames.send(self.buf) {
            Ok(()) => self.stats.tx_frames += 1,
            Err(LinkError::Down) => {}
            Err(LinkError::Device(_)) => self.stats.errors += 1,
        }
        r
    }
}

impl<F: Frames> Device for Link<F> {
    type RxToken<'a>
        = Rx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<'a, F>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_, F>)> {
        let n = match self.frames.recv(&mut self.rx) {
            Ok(Some(n)) => n.min(self.rx.len()),
            Ok(None) | Err(LinkError::Down) => return None,
            Err(LinkError::Device(_)) => {
                self.stats.errors += 1;
                return None;
            }
        };
        self.stats.rx_frames += 1;
        sniff::frame(&self.rx[..n], self.mac, &mut self.sniffed);
        let tx = Tx {
            frames: &mut self.frames,
            buf: &mut self.tx,
            stats: &mut self.stats,
        };
        Some((Rx(&self.rx[..n]), tx))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_, F>> {
        Some(Tx {
            frames: &mut self.frames,
            buf: &mut self.tx,
            stats: &mut self.stats,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps
    }
}
