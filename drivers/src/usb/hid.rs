//! USB boot-protocol keyboards: [`UsbKeyboard`], polled, decoded through the PS/2 decoder.
//!
//! A keyboard is an interface of class 3 (HID), subclass 1 (boot), protocol 1 (keyboard)
//! ([`is_boot_keyboard`]). [`UsbKeyboard::open`] sends it SET_PROTOCOL(boot) and SET_IDLE(0)
//! (reports only on change; a device that stalls SET_IDLE is used anyway) and opens its
//! interrupt IN endpoint as an [`InterruptIn`] pipe. Every boot report is 8 bytes: a modifier
//! byte (bit 0 left Ctrl … bit 7 right GUI), a reserved byte, and up to 6 usages of the keys
//! held ([`BootReport`]).
//!
//! Each report is compared with the previous one ([`diff`]): keys that went away are released
//! (before the modifiers that went away, so `Shift`+`a` then `b` gives `b`), then modifiers
//! that appeared and keys that appeared are pressed. Reports that signal rollover or another
//! error (usage 0x01–0x03 in a key slot) are ignored, as are usages with no key. Every press
//! and release becomes the PC scancode set 1 make or break code of that key ([`scancode`]:
//! usages 0x04–0x65 but Pause, the keypad, the 8 modifiers; `0xE0` before the extended keys —
//! arrows, Home/End, Insert/Delete, Page Up/Down, right Ctrl/Alt, GUI keys, keypad Enter and
//! `/`, Print Screen, Application), fed to a [`crate::ps2::Keyboard`]: the layouts and the bytes the
//! console gets (UTF-8, `\r`, Ctrl-letter control codes, VT100 sequences) are exactly the PS/2
//! keyboard's.
//!
//! Not done: typematic repeat (a key held gives one character; SET_IDLE(0) asks the device
//! not to repeat reports either), the keyboard LEDs (no SET_REPORT for Caps/Num Lock), and
//! hot plug (a keyboard plugged in after boot is not seen; one unplugged is dropped with
//! [`HidError::Unplugged`]).
//!
//! [`UsbKeyboard::read_available`] never waits for the controller: it polls with `try_lock`,
//! so a console read while a disk transfer holds the controller just decodes what it already
//! has; the report that completes meanwhile is kept by the controller for the next poll.

use alloc::collections::VecDeque;
use core::fmt;

use super::desc::{class, SetupPacket};
use super::xhci::{InterruptIn, TransferError, XhciHal};
use super::{PortOutcome, PortReport, SharedController};
use crate::ps2::{Keyboard, Layout, ScancodeSet};

/// HID class requests (HID 1.11, 7.2).
pub mod request {
    /// SET_IDLE: wValue's high byte is the duration (0: report only on change).
    pub const SET_IDLE: u8 = 0x0a;
    /// SET_PROTOCOL: wValue 0 is the boot protocol, 1 the report protocol.
    pub const SET_PROTOCOL: u8 = 0x0b;
    /// The boot protocol (SET_PROTOCOL's wValue).
    pub const BOOT_PROTOCOL: u16 = 0;
}

/// The HID boot interface subclass.
pub const SUBCLASS_BOOT: u8 = 1;
/// The boot keyboard protocol.
pub const PROTOCOL_KEYBOARD: u8 = 1;
/// Bytes of a boot keyboard report.
pub const REPORT_BYTES: usize = 8;
/// Reports taken per poll at most (so a flooding device cannot hold the console).
const REPORTS_PER_POLL: usize = 16;
/// Scancode bytes kept for decoding at most; a report whose codes do not fit is dropped.
const MAX_QUEUED_SCANCODES: usize = 256;
/// Failing polls in a row after which the keyboard is given up.
const MAX_FAILURES_IN_A_ROW: u32 = 8;

/// Whether an interface is a boot-protocol keyboard (class 3, subclass 1, protocol 1).
pub fn is_boot_keyboard(class: u8, subclass: u8, protocol: u8) -> bool {
    (class, subclass, protocol) == (class::HID, SUBCLASS_BOOT, PROTOCOL_KEYBOARD)
}

/// A boot keyboard found by [`crate::usb::probe`]: where it is and the slot and interface to
/// open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundKeyboard {
    /// [`PortReport::place`], e.g. "port 2" or "port 1.3".
    pub place: alloc::string::String,
    pub slot: u8,
    pub interface: u8,
}

/// The boot keyboards among a probe's port reports.
pub fn boot_keyboards(ports: &[PortReport]) -> alloc::vec::Vec<FoundKeyboard> {
    ports
        .iter()
        .filter_map(|p| match p.outcome {
            PortOutcome::NotStorage {
                slot,
                interface,
                class,
                subclass,
                protocol,
                ..
            } if is_boot_keyboard(class, subclass, protocol) => Some(FoundKeyboard {
                place: p.place(),
                slot,
                interface,
            }),
            _ => None,
        })
        .collect()
}

/// Why a USB keyboard cannot be used (any more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HidError {
    /// The slot has no configured interrupt IN endpoint.
    NoInterruptEndpoint { slot: u8 },
    /// SET_PROTOCOL(boot) failed: the keyboard cannot be read without its report descriptor.
    SetProtocol { slot: u8, error: TransferError },
    /// The interrupt IN endpoint could not be opened.
    Open { slot: u8, error: TransferError },
    /// The keyboard was unplugged (its port reports nothing connected).
    Unplugged { port: u8 },
    /// The xHCI controller stopped.
    ControllerStopped { usbsts: u32 },
    /// The endpoint failed this many polls in a row, the last with `error`.
    KeepsFailing {
        slot: u8,
        failures: u32,
        error: TransferError,
    },
}

impl fmt::Display for HidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoInterruptEndpoint { slot } => write!(
                f,
                "USB keyboard (slot {slot}) has no interrupt IN endpoint configured; it cannot be read"
            ),
            Self::SetProtocol { slot, error } => write!(
                f,
                "USB keyboard (slot {slot}) refused the boot protocol ({error}); use another keyboard"
            ),
            Self::Open { slot, error } => {
                write!(f, "USB keyboard (slot {slot}): opening its endpoint failed: {error}")
            }
            Self::Unplugged { port } => write!(
                f,
                "USB keyboard on port {port} was unplugged; plug it in and reboot to use it again"
            ),
            Self::ControllerStopped { usbsts } => write!(
                f,
                "USB keyboard lost: the xHCI controller stopped (USBSTS {usbsts:#010x})"
            ),
            Self::KeepsFailing {
                slot,
                failures,
                error,
            } => write!(
                f,
                "USB keyboard (slot {slot}) failed {failures} reads in a row ({error}); given up"
            ),
        }
    }
}

/// One boot keyboard report: modifier bits and up to 6 key usages (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootReport {
    pub modifiers: u8,
    pub keys: [u8; 6],
}

impl BootReport {
    /// Decodes a report; `None` if it is shorter than the modifier byte or signals an error
    /// (ErrorRollOver 0x01, POSTFail 0x02, ErrorUndefined 0x03 in a key slot). Bytes after the
    /// 8th are ignored; missing key slots are empty.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let (&modifiers, rest) = bytes.split_first()?;
        let mut keys = [0u8; 6];
        for (k, &b) in keys.iter_mut().zip(rest.iter().skip(1)) {
            *k = b;
        }
        if keys.iter().any(|&k| (1..=3).contains(&k)) {
            return None;
        }
        Some(Self { modifiers, keys })
    }

    fn holds(&self, usage: u8) -> bool {
        usage != 0 && self.keys.contains(&usage)
    }
}

/// A key going down or up: a HID usage (keyboard page), the modifiers as usages 0xE0–0xE7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyChange {
    pub usage: u8,
    pub pressed: bool,
}

/// The usage of modifier bit `bit` (0: left Ctrl … 7: right GUI).
const fn modifier_usage(bit: u8) -> u8 {
    0xe0 + bit
}

/// The presses and releases that turn `old` into `new`, in the order they are fed: keys
/// released, modifiers released, modifiers pressed, keys pressed (each in report order, a usage
/// repeated in one report counted once).
pub fn diff(old: &BootReport, new: &BootReport, mut change: impl FnMut(KeyChange)) {
    for (i, &k) in old.keys.iter().enumerate() {
        if k != 0 && !new.holds(k) && !old.keys[..i].contains(&k) {
            change(KeyChange {
                usage: k,
                pressed: false,
            });
        }
    }
    let released = old.modifiers & !new.modifiers;
    let pressed = new.modifiers & !old.modifiers;
    for (mask, down) in [(released, false), (pressed, true)] {
        for bit in (0..8).filter(|b| mask & 1 << b != 0) {
            change(KeyChange {
                usage: modifier_usage(bit),
                pressed: down,
            });
        }
    }
    for (i, &k) in new.keys.iter().enumerate() {
        if k != 0 && !old.holds(k) && !new.keys[..i].contains(&k) {
            change(KeyChange {
                usage: k,
                pressed: true,
            });
        }
    }
}

/// A key's PC scancode set 1 make code, and whether it has the `0xE0` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scancode {
    pub code: u8,
    pub extended: bool,
}

const fn plain(code: u8) -> Option<Scancode> {
    Some(Scancode {
        code,
        extended: false,
    })
}

const fn e0(code: u8) -> Option<Scancode> {
    Some(Scancode {
        code,
        extended: true,
    })
}

/// Set 1 make codes of usages 0x04 (`a`) to 0x65 (Application), by `usage - 0x04`.
#[rustfmt::skip]
const MAIN: [Option<Scancode>; 0x62] = [
    // 0x04-0x1d: a-z.
    plain(0x1e), plain(0x30), plain(0x2e), plain(0x20), plain(0x12), plain(0x21), plain(0x22),
    plain(0x23), plain(0x17), plain(0x24), plain(0x25), plain(0x26), plain(0x32), plain(0x31),
    plain(0x18), plain(0x19), plain(0x10), plain(0x13), plain(0x1f), plain(0x14), plain(0x16),
    plain(0x2f), plain(0x11), plain(0x2d), plain(0x15), plain(0x2c),
    // 0x1e-0x27: 1-9, 0.
    plain(0x02), plain(0x03), plain(0x04), plain(0x05), plain(0x06), plain(0x07), plain(0x08),
    plain(0x09), plain(0x0a), plain(0x0b),
    // 0x28-0x2c: Enter, Escape, Backspace, Tab, Space.
    plain(0x1c), plain(0x01), plain(0x0e), plain(0x0f), plain(0x39),
    // 0x2d-0x38: - = [ ] \ (ISO #) ; ' ` , . /
    plain(0x0c), plain(0x0d), plain(0x1a), plain(0x1b), plain(0x2b), plain(0x2b), plain(0x27),
    plain(0x28), plain(0x29), plain(0x33), plain(0x34), plain(0x35),
    // 0x39: Caps Lock; 0x3a-0x45: F1-F12.
    plain(0x3a), plain(0x3b), plain(0x3c), plain(0x3d), plain(0x3e), plain(0x3f), plain(0x40),
    plain(0x41), plain(0x42), plain(0x43), plain(0x44), plain(0x57), plain(0x58),
    // 0x46-0x48: Print Screen, Scroll Lock, Pause (E1 sequence: not sent).
    e0(0x37), plain(0x46), None,
    // 0x49-0x52: Insert, Home, Page Up, Delete, End, Page Down, Right, Left, Down, Up.
    e0(0x52), e0(0x47), e0(0x49), e0(0x53), e0(0x4f), e0(0x51), e0(0x4d), e0(0x4b), e0(0x50),
    e0(0x48),
    // 0x53-0x58: Num Lock, keypad / * - + Enter.
    plain(0x45), e0(0x35), plain(0x37), plain(0x4a), plain(0x4e), e0(0x1c),
    // 0x59-0x63: keypad 1-9, 0, '.'.
    plain(0x4f), plain(0x50), plain(0x51), plain(0x4b), plain(0x4c), plain(0x4d), plain(0x47),
    plain(0x48), plain(0x49), plain(0x52), plain(0x53),
    // 0x64: ISO \ (the key left of Z); 0x65: Application (menu).
    plain(0x56), e0(0x5d),
];

/// Set 1 make codes of the modifiers, usages 0xE0-0xE7: left Ctrl, Shift, Alt, GUI, right
/// Ctrl, Shift, Alt (AltGr), GUI.
#[rustfmt::skip]
const MODIFIERS: [Scancode; 8] = [
    Scancode { code: 0x1d, extended: false },
    Scancode { code: 0x2a, extended: false },
    Scancode { code: 0x38, extended: false },
    Scancode { code: 0x5b, extended: true },
    Scancode { code: 0x1d, extended: true },
    Scancode { code: 0x36, extended: false },
    Scancode { code: 0x38, extended: true },
    Scancode { code: 0x5c, extended: true },
];

/// The usages that share their scancode with another (the ISO `#` key, 0x32, is where the ANSI
/// `\`, 0x31, is: both are 0x2B in set 1); [`usage_of`] answers the other.
pub const ALIASES: [(u8, u8); 1] = [(0x32, 0x31)];

/// The set 1 make code of a keyboard-page usage; `None` for usages without one (0x00-0x03,
/// Pause, 0x66 and above but the modifiers).
pub fn scancode(usage: u8) -> Option<Scancode> {
    match usage {
        0x04..=0x65 => MAIN[usize::from(usage - 0x04)],
        0xe0..=0xe7 => Some(MODIFIERS[usize::from(usage - 0xe0)]),
        _ => None,
    }
}

/// The usage whose make code is `scancode` (the inverse of [`scancode`]; for the shared code
/// of [`ALIASES`], the ANSI key's).
pub fn usage_of(scancode: Scancode) -> Option<u8> {
    (0x04..=0x65)
        .chain(0xe0..=0xe7)
        .find(|&u| self::scancode(u) == Some(scancode))
}

/// The bytes of one press or release: `E0` if extended, then the make code (with bit 7 set
/// for a release). Answers how many of `out` it wrote (0 for a usage without a scancode).
pub fn scancode_bytes(change: KeyChange, out: &mut [u8; 2]) -> usize {
    let Some(s) = scancode(change.usage) else {
        return 0;
    };
    let code = if change.pressed {
        s.code
    } else {
        s.code | 0x80
    };
    if s.extended {
        *out = [0xe0, code];
        2
    } else {
        out[0] = code;
        1
    }
}

/// Turns boot reports into scancodes and scancodes into console bytes; no USB in it (what
/// [`UsbKeyboard`] feeds, and what the tests drive directly).
pub struct ReportDecoder {
    previous: BootReport,
    scancodes: VecDeque<u8>,
    keyboard: Keyboard,
}

impl fmt::Debug for ReportDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportDecoder")
            .field("previous", &self.previous)
            .field("queued", &self.scancodes.len())
            .finish_non_exhaustive()
    }
}

impl ReportDecoder {
    /// A decoder for `layout`, no key held.
    pub fn new(layout: Layout) -> Self {
        Self {
            previous: BootReport::default(),
            scancodes: VecDeque::new(),
            keyboard: Keyboard::new(layout, ScancodeSet::One),
        }
    }

    /// The layout in use.
    pub fn layout(&self) -> Layout {
        self.keyboard.layout()
    }

    /// Switches to `layout` from the next key on.
    pub fn set_layout(&mut self, layout: Layout) {
        self.keyboard.set_layout(layout);
    }

    /// Takes one report's bytes: queues the scancodes of what changed since the last good
    /// report. Error and malformed reports are ignored; so is a report whose scancodes do not
    /// fit in the queue (then it is not the new "previous" either, so nothing is lost for
    /// good: the next report repeats the difference).
    pub fn feed_report(&mut self, bytes: &[u8]) {
        let Some(report) = BootReport::parse(bytes) else {
            return;
        };
        // At most 6 releases, 8 modifier changes and 6 presses, 2 bytes each.
        let mut codes = [0u8; 2 * (6 + 8 + 6)];
        let mut len = 0;
        diff(&self.previous, &report, |change| {
            let mut b = [0u8; 2];
            let n = scancode_bytes(change, &mut b);
            if let Some(dst) = codes.get_mut(len..len + n) {
                dst.copy_from_slice(&b[..n]);
                len += n;
            }
        });
        if self.scancodes.len() + len > MAX_QUEUED_SCANCODES {
            log::debug!("usb keyboard: input queue full; report dropped");
            return;
        }
        self.scancodes.extend(&codes[..len]);
        self.previous = report;
    }

    /// Fills `buf` with console bytes from the queued scancodes (see [`Keyboard::read`]);
    /// answers how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let Self {
            scancodes,
            keyboard,
            ..
        } = self;
        keyboard.read(|| scancodes.pop_front(), buf)
    }
}

/// A USB boot keyboard on a shared controller.
pub struct UsbKeyboard<H: XhciHal> {
    controller: SharedController<H>,
    /// `None` once the keyboard is gone (the pipe was given back).
    pipe: Option<InterruptIn>,
    /// The root port (for the unplugged error).
    port: u8,
    decoder: ReportDecoder,
    failures: u32,
    gone: Option<HidError>,
}

impl<H: XhciHal> fmt::Debug for UsbKeyboard<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsbKeyboard")
            .field("port", &self.port)
            .field("pipe", &self.pipe)
            .field("gone", &self.gone)
            .finish_non_exhaustive()
    }
}

impl<H: XhciHal> UsbKeyboard<H> {
    /// Sets up the boot keyboard on `slot` (configured by [`crate::usb::probe`], interface
    /// `interface`): SET_PROTOCOL(boot), SET_IDLE(0), and its interrupt IN endpoint opened
    /// for 8-byte reports (the max packet size if larger). Waits for the controller's lock.
    ///
    /// # Errors
    /// [`HidError::NoInterruptEndpoint`], [`HidError::SetProtocol`], [`HidError::Open`].
    pub fn open(
        controller: SharedController<H>,
        slot: u8,
        interface: u8,
        layout: Layout,
    ) -> Result<Self, HidError> {
        let (pipe, port) = {
            let mut c = controller.lock();
            let (endpoint, max_packet) = c
                .interrupt_in_endpoint(slot)
                .ok_or(HidError::NoInterruptEndpoint { slot })?;
            c.control_out(slot, set_protocol_boot(interface), &[])
                .map_err(|error| HidError::SetProtocol { slot, error })?;
            if let Err(e) = c.control_out(slot, set_idle_0(interface), &[]) {
                // Optional for keyboards (HID 1.11, 7.2.4): the keyboard just repeats reports.
                log::debug!("usb keyboard (slot {slot}): SET_IDLE: {e}; ignored");
            }
            let len = usize::from(max_packet).clamp(REPORT_BYTES, 64);
            let pipe = c
                .open_interrupt_in(slot, endpoint, len)
                .map_err(|error| HidError::Open { slot, error })?;
            (pipe, c.slot_port(slot).unwrap_or(0))
        };
        Ok(Self {
            controller,
            pipe: Some(pipe),
            port,
            decoder: ReportDecoder::new(layout),
            failures: 0,
            gone: None,
        })
    }

    /// The layout in use.
    pub fn layout(&self) -> Layout {
        self.decoder.layout()
    }

    /// Switches to `layout` from the next key on.
    pub fn set_layout(&mut self, layout: Layout) {
        self.decoder.set_layout(layout);
    }

    /// Why the keyboard is gone, once it is ([`read`](Self::read) answered it).
    pub fn gone(&self) -> Option<HidError> {
        self.gone
    }

    /// Copies the console bytes typed since the last call into `buf`, without waiting; answers
    /// how many (0 when nothing was typed, the controller is busy, or the keyboard is gone:
    /// see [`gone`](Self::gone)).
    pub fn read_available(&mut self, buf: &mut [u8]) -> usize {
        self.read(buf).unwrap_or(0)
    }

    /// As [`read_available`](Self::read_available), but answers the error that made the
    /// keyboard unusable (once it is gone, every call answers it again). Bytes decoded before
    /// are still handed out first.
    ///
    /// # Errors
    /// [`HidError::Unplugged`], [`HidError::ControllerStopped`], [`HidError::KeepsFailing`].
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, HidError> {
        let n = self.decoder.read(buf);
        if n == buf.len() {
            return Ok(n);
        }
        if let Some(e) = self.gone {
            return if n > 0 { Ok(n) } else { Err(e) };
        }
        self.poll();
        let n = n + self.decoder.read(&mut buf[n..]);
        match self.gone {
            Some(e) if n == 0 => Err(e),
            _ => Ok(n),
        }
    }

    /// Takes the reports that completed (if the controller is free) into the decoder.
    fn poll(&mut self) {
        let controller = self.controller.clone();
        let Some(mut c) = controller.try_lock() else {
            return;
        };
        let Some(pipe) = self.pipe.as_mut() else {
            return;
        };
        let mut report = [0u8; 64];
        for _ in 0..REPORTS_PER_POLL {
            match c.poll_interrupt_in(pipe, &mut report) {
                Ok(None) => break,
                Ok(Some(n)) => {
                    self.failures = 0;
                    self.decoder.feed_report(&report[..n]);
                }
                Err(e) => {
                    if let Some(gone) = self.failed(e) {
                        self.gone = Some(gone);
                        if let Some(pipe) = self.pipe.take() {
                            c.close_interrupt_in(pipe);
                        }
                    }
                    break;
                }
            }
        }
    }

    /// Counts a failed poll; answers the error that ends the keyboard, if it does.
    fn failed(&mut self, error: TransferError) -> Option<HidError> {
        let slot = self.pipe.as_ref().map_or(0, InterruptIn::slot);
        match error {
            TransferError::Disconnected { port } => return Some(HidError::Unplugged { port }),
            TransferError::ControllerFailed { usbsts } => {
                return Some(HidError::ControllerStopped { usbsts })
            }
            _ => {}
        }
        self.failures += 1;
        log::debug!("usb keyboard (slot {slot}): {error}");
        (self.failures >= MAX_FAILURES_IN_A_ROW).then_some(HidError::KeepsFailing {
            slot,
            failures: self.failures,
            error,
        })
    }
}

/// SET_PROTOCOL(boot) to `interface`.
pub fn set_protocol_boot(interface: u8) -> SetupPacket {
    SetupPacket {
        value: request::BOOT_PROTOCOL,
        ..SetupPacket::class_interface(request::SET_PROTOCOL, interface, false, 0)
    }
}

/// SET_IDLE(duration 0: report only on change, all reports) to `interface`.
pub fn set_idle_0(interface: u8) -> SetupPacket {
    SetupPacket::class_interface(request::SET_IDLE, interface, false, 0)
}
