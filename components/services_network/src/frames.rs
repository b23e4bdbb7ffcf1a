//! [`KernelFrames`]: the stack's [`Frames`] over the kernel's frame calls (NET_INFO, NET_SEND,
//! NET_RECV) on one device, plus [`KernelFrames::wait`], the service loop's sleep: a NET_RECV
//! with a timeout whose frame is kept for the stack's next `recv`.

use core::cell::Cell;

use netstack::{Frames, LinkError};
use runtime::net::{self, MAX_FRAME};
use runtime::Error;

/// One network device the component was granted, as whole frames.
pub struct KernelFrames {
    device: &'static str,
    mac: [u8; 6],
    /// A frame [`KernelFrames::wait`] took, not yet given to the stack.
    pending: Option<usize>,
    buf: [u8; MAX_FRAME],
    /// The link state NET_INFO last gave, and when (ms of uptime): the stack asks on every
    /// poll (up to 100 a second), the device is asked at most every [`LINK_CHECK_MS`].
    link: Cell<Option<(bool, u64)>>,
}

/// How often the link state is read from the device.
const LINK_CHECK_MS: u64 = 500;

impl KernelFrames {
    /// `device`, whose MAC address NET_INFO gave.
    pub fn new(device: &'static str, mac: [u8; 6]) -> Self {
        KernelFrames {
            device,
            mac,
            pending: None,
            buf: [0; MAX_FRAME],
            link: Cell::new(None),
        }
    }

    /// Sleeps until a frame arrives or `timeout_ms` pass (the kernel runs others meanwhile);
    /// the frame waits for the stack's next `recv`. Returns at once if one is pending.
    pub fn wait(&mut self, timeout_ms: u64) -> Result<(), LinkError> {
        if self.pending.is_some() {
            return Ok(());
        }
        match net::recv(self.device, &mut self.buf, timeout_ms) {
            Ok(n) => self.pending = Some(n),
            Err(Error::Timeout) => {}
            Err(e) => return Err(link_error(e)),
        }
        Ok(())
    }
}

fn link_error(e: Error) -> LinkError {
    match e {
        Error::NotFound => LinkError::Down,
        e => LinkError::Device(e.to_code()),
    }
}

impl Frames for KernelFrames {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&self) -> bool {
        let now = crate::now_ms();
        match self.link.get() {
            Some((up, at)) if now.saturating_sub(at) < LINK_CHECK_MS => up,
            _ => {
                let up = net::info(self.device).is_ok_and(|i| i.link_up);
                self.link.set(Some((up, now)));
                up
            }
        }
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        net::send(self.device, frame).map_err(link_error)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, LinkError> {
        if let Some(n) = self.pending.take() {
            let n = n.min(buf.len());
            buf[..n].copy_from_slice(&self.buf[..n]);
            return Ok(Some(n));
        }
        match net::recv(self.device, buf, 0) {
            Ok(n) => Ok(Some(n)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(link_error(e)),
        }
    }
}
