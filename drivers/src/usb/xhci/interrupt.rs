//! Interrupt IN endpoints polled without blocking: [`InterruptIn`].
//!
//! A class driver (the HID keyboard in [`crate::usb::hid`]) opens the pipe once
//! ([`Controller::open_interrupt_in`]): one TD of the report size is queued into the pipe's own
//! DMA buffer. Each [`Controller::poll_interrupt_in`] then looks, without waiting, at the events
//! the controller wrote (and at the ones kept while a disk transfer waited, see
//! [`Controller::keep_completion`](super::Controller)): when the TD has completed it answers
//! the bytes and queues the next TD, otherwise `None`. A disk transfer and a keyboard poll can
//! thus take turns on the controller's lock without either losing the other's completion.
//!
//! Errors: a halted endpoint (stall, babble, transaction error) is brought back with
//! [`Controller::clear_halt`] and the TD queued again before the error is answered; a device
//! that was unplugged answers [`TransferError::Disconnected`] and a stopped controller
//! [`TransferError::ControllerFailed`] ([`TransferError::is_gone`]): the driver then gives the
//! pipe back with [`Controller::close_interrupt_in`].

use super::proto::{code, ctrl, dci, ep_type, trb_type, CompletionCode, Trb};
use super::{endpoint_address, Controller, DmaRegion, TransferError, Wait, XhciHal};

/// The most bytes one interrupt TD moves (its buffer is one page).
pub const MAX_INTERRUPT_BYTES: usize = 4096;

/// An interrupt IN endpoint with (at most) one TD queued into its own DMA buffer.
#[derive(Debug)]
pub struct InterruptIn {
    slot: u8,
    /// The endpoint's DCI.
    index: u8,
    /// The root port of the device (watched for unplugging).
    port: u8,
    /// Bytes asked for per TD.
    len: usize,
    buf: DmaRegion,
    /// The queued TD's Normal TRB, if one is queued.
    queued: Option<u64>,
}

impl InterruptIn {
    /// The device's slot.
    pub fn slot(&self) -> u8 {
        self.slot
    }

    /// The endpoint address (with the IN bit).
    pub fn endpoint(&self) -> u8 {
        endpoint_address(self.index)
    }

    /// Whether a TD is queued (waiting for the device).
    pub fn is_queued(&self) -> bool {
        self.queued.is_some()
    }
}

impl<H: XhciHal> Controller<H> {
    /// The first interrupt IN endpoint configured on `slot` (lowest endpoint number): its
    /// address and max packet size. `None` if it has none (or there is no such slot).
    pub fn interrupt_in_endpoint(&self, slot: u8) -> Option<(u8, u16)> {
        let s = self.slot(slot)?;
        s.configured.iter().enumerate().find_map(|(i, c)| {
            c.filter(|c| c.ep_type == ep_type::INTERRUPT_IN)
                .map(|c| (endpoint_address(i as u8), c.max_packet))
        })
    }

    /// Opens interrupt IN endpoint `endpoint` (its address; configured with
    /// [`configure_endpoints`](Self::configure_endpoints)) of `slot` for polling with TDs of
    /// `len` bytes, and queues the first TD.
    ///
    /// # Errors
    /// [`TransferError::NoSuchEndpoint`] (no such slot, or not a configured interrupt IN
    /// endpoint), [`TransferError::TooLong`] (`len` is 0 or above [`MAX_INTERRUPT_BYTES`]),
    /// [`TransferError::OutOfDmaMemory`], and the queuing's errors (unplugged, controller
    /// stopped).
    pub fn open_interrupt_in(
        &mut self,
        slot: u8,
        endpoint: u8,
        len: usize,
    ) -> Result<InterruptIn, TransferError> {
        let index = dci(endpoint & 0x0f, true);
        let missing = TransferError::NoSuchEndpoint { slot, endpoint };
        let s = self.slot(slot).ok_or(missing)?;
        let port = s.port;
        let is_interrupt_in = s
            .configured
            .get(usize::from(index))
            .copied()
            .flatten()
            .is_some_and(|c| c.ep_type == ep_type::INTERRUPT_IN);
        if endpoint & 0x80 == 0 || !is_interrupt_in {
            return Err(missing);
        }
        if len == 0 || len > MAX_INTERRUPT_BYTES {
            return Err(TransferError::TooLong { bytes: len });
        }
        let buf = self
            .alloc_dma(MAX_INTERRUPT_BYTES)
            .ok_or(TransferError::OutOfDmaMemory)?;
        let mut pipe = InterruptIn {
            slot,
            index,
            port,
            len,
            buf,
            queued: None,
        };
        if let Err(e) = self.queue_interrupt(&mut pipe) {
            self.close_interrupt_in(pipe);
            return Err(e);
        }
        Ok(pipe)
    }

    /// Queues the pipe's TD (one Normal TRB, interrupt on completion and short packet) unless
    /// one is queued already.
    fn queue_interrupt(&mut self, pipe: &mut InterruptIn) -> Result<(), TransferError> {
        if pipe.queued.is_some() {
            return Ok(());
        }
        let trb = Trb::new(
            trb_type::NORMAL,
            pipe.buf.phys(),
            pipe.len as u32,
            ctrl::IOC | ctrl::ISP,
        );
        let at = self.submit(pipe.slot, pipe.index, &[trb])?;
        pipe.queued = at.first().copied();
        Ok(())
    }

    /// Looks, without waiting, whether the pipe's TD has completed: `Some(n)` with the first
    /// `n` bytes of the report copied into `out` (the TD is queued again), `None` if the device
    /// has sent nothing yet. A pipe without a queued TD (after an error) gets one queued.
    ///
    /// # Errors
    /// [`TransferError::Disconnected`] and [`TransferError::ControllerFailed`]: the device or
    /// controller is gone ([`TransferError::is_gone`]), close the pipe. A halt
    /// ([`TransferError::is_halt`]) was cleared and the TD queued again before it is answered;
    /// if clearing failed, that error is answered instead. Other completion codes
    /// ([`TransferError::Failed`]) were followed by a new TD too.
    pub fn poll_interrupt_in(
        &mut self,
        pipe: &mut InterruptIn,
        out: &mut [u8],
    ) -> Result<Option<usize>, TransferError> {
        if let Some(usbsts) = self.failed {
            return Err(TransferError::ControllerFailed { usbsts });
        }
        let Some(at) = pipe.queued else {
            self.queue_interrupt(pipe)?;
            return Ok(None);
        };
        let (slot, index) = (pipe.slot, pipe.index);
        let ev = match self.wait_event(0, Some(pipe.port), |ev| {
            ev.trb_type() == trb_type::TRANSFER_EVENT
                && ev.slot_id() == slot
                && ev.endpoint_id() == index
                && ev.parameter == at
        }) {
            Ok(ev) => ev,
            Err(Wait::Timeout) => return Ok(None),
            Err(Wait::Disconnected(port)) => return Err(TransferError::Disconnected { port }),
            Err(Wait::ControllerFailed(usbsts)) => {
                return Err(TransferError::ControllerFailed { usbsts })
            }
        };
        pipe.queued = None;
        self.completed(pipe, ev, out)
    }

    /// Handles the pipe's completion event `ev`: copies the data out, or recovers from the
    /// error; queues the next TD either way.
    fn completed(
        &mut self,
        pipe: &mut InterruptIn,
        ev: Trb,
        out: &mut [u8],
    ) -> Result<Option<usize>, TransferError> {
        let (slot, endpoint) = (pipe.slot, pipe.endpoint());
        let error = match ev.completion_code() {
            code::SUCCESS | code::SHORT_PACKET => {
                let got = pipe.len - (ev.residue() as usize).min(pipe.len);
                let n = got.min(out.len());
                self.hal.dma_read(&pipe.buf, 0, &mut out[..n]);
                // A failure to queue the next TD shows at the next poll, which retries.
                let _ = self.queue_interrupt(pipe);
                return Ok(Some(n));
            }
            code::STALL => TransferError::Stall { slot, endpoint },
            code::TRANSACTION => TransferError::Transaction { slot, endpoint },
            code::BABBLE => TransferError::Babble { slot, endpoint },
            c => TransferError::Failed {
                slot,
                endpoint,
                code: CompletionCode(c),
            },
        };
        if error.is_halt() {
            self.clear_halt(slot, endpoint)?;
        }
        self.queue_interrupt(pipe)?;
        Err(error)
    }

    /// Gives the pipe back: a queued TD is stopped and skipped (Stop Endpoint, Set TR Dequeue
    /// Pointer) and the buffer freed. If that fails (the controller has stopped, a command
    /// timed out) the buffer is left allocated, since the controller may still write there.
    pub fn close_interrupt_in(&mut self, pipe: InterruptIn) {
        let (slot, index) = (pipe.slot, pipe.index);
        self.forget_completions(slot, Some(index));
        if pipe.queued.is_some() {
            if let Err(e) = self.skip_queued(slot, index) {
                log::warn!(
                    "xhci: slot {slot} endpoint {:#04x}: {e}; leaving its buffer allocated",
                    pipe.endpoint()
                );
                return;
            }
        }
        self.free_dma(pipe.buf);
    }

    /// Stop Endpoint (an endpoint already stopped or halted is fine) and Set TR Dequeue Pointer
    /// past whatever is on its ring.
    fn skip_queued(&mut self, slot: u8, index: u8) -> Result<(), super::CommandError> {
        let target = u32::from(slot) << 24 | u32::from(index) << 16;
        match self.command(Trb::new(trb_type::STOP_ENDPOINT, 0, 0, target)) {
            Err(super::CommandError::Failed { code, .. }) if code.0 == code::CONTEXT_STATE => {}
            r => {
                r?;
            }
        }
        self.set_dequeue(slot, index)
    }
}
