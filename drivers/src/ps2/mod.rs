//! The PS/2 keyboard: the i8042 controller's bring-up, a scancode ring for the interrupt
//! handler, and the decoder that turns scancodes into the console's bytes.
//!
//! - [`controller`]: [`init`] brings the i8042 up over [`Ps2Hal`] (port I/O on `0x60`/`0x64`
//!   plus a microsecond clock): both ports off, output buffer flushed, configuration byte
//!   rewritten, controller self-test, keyboard-port test, keyboard reset, scancode set, scanning
//!   on, and finally the port-1 interrupt. Every wait has a deadline ([`Timeouts`]); every
//!   failure is a [`Ps2Error`] whose `Display` is one actionable line. A machine without a
//!   controller (the status port floats at `0xff`) is recognised by the first read.
//! - [`ring`]: [`ScancodeRing`], a fixed-size single-producer single-consumer byte ring on
//!   atomics (no locks, no allocation) that an interrupt handler fills and a reader drains.
//! - [`keyboard`]: [`Keyboard`], a `pc-keyboard` decoder for scancode set 1 (the controller
//!   translating) or set 2, with a [`Layout`] (US default, UK, German, French) parsed from a
//!   short name, producing UTF-8 for characters and the VT100 sequences the console's line
//!   editor understands for the editing keys.
//!
//! The crate does the pure work; the kernel implements [`Ps2Hal`], owns the interrupt
//! handler and the ring, and decodes when the console reads.

pub mod controller;
pub mod keyboard;
pub mod ring;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use controller::{init, Config, Ps2Error, Ps2Info, Timeouts};
pub use keyboard::{KeyBytes, Keyboard, Layout, ScancodeSet, UnknownLayout, LAYOUTS};
pub use ring::ScancodeRing;

use crate::hal::PortIo;

/// The i8042's data port (read: output buffer; write: input buffer, to the keyboard or as a
/// command's parameter).
pub const DATA_PORT: u16 = 0x60;
/// The i8042's status register (read) and command port (write).
pub const STATUS_PORT: u16 = 0x64;

/// Status register bits.
pub mod status {
    /// The output buffer holds a byte for the CPU (read it from [`super::DATA_PORT`]).
    pub const OUTPUT_FULL: u8 = 1 << 0;
    /// The input buffer holds a byte the controller has not taken yet: do not write.
    pub const INPUT_FULL: u8 = 1 << 1;
    /// The byte in the output buffer came from port 2 (the mouse).
    pub const AUX_DATA: u8 = 1 << 5;
}

/// What the PS/2 code needs from the machine: port I/O on the i8042's two ports
/// ([`DATA_PORT`], [`STATUS_PORT`]) and a clock for its deadlines. The driver touches no
/// other port.
///
/// Implementations vouch, as for [`PortIo`], that the holder may drive those ports: in the
/// kernel nothing else touches the i8042 while [`init`] runs (its interrupt is routed only
/// afterwards).
pub trait Ps2Hal: PortIo {
    /// A monotonic clock in microseconds that advances with real time (a polling loop that
    /// reads it ends).
    fn now_us(&mut self) -> u64;
}
