//! USB keyboards as console input, beside the PS/2 keyboard and the serial port.
//!
//! [`register`] is called by `probe_xhci` for every xHCI controller that came up, with the
//! ports `drivers::usb::probe` reported: each boot-protocol keyboard among them is set up
//! (`drivers::usb::hid::UsbKeyboard`: SET_PROTOCOL(boot), SET_IDLE(0), its interrupt IN
//! endpoint polled) with the layout of the `keyboard=` command-line option (the PS/2
//! keyboard's, [`set_layout`]), kept here, and logged in one line: "keyboard: USB keyboard on
//! 00:04.0 port 5, layout us" (or why it cannot be used). Once the manifest is read, the boot
//! path may switch every keyboard to its `keyboard_layout` ([`set_layout`] again).
//!
//! [`read_available`] is the console's non-blocking read: it polls every keyboard (without
//! waiting for a controller a disk transfer holds) and hands out the bytes they decoded, the
//! same bytes the PS/2 keyboard gives for the same keys (UTF-8, `\r`, `0x7f`, Ctrl-letter
//! control codes, VT100 sequences for the editing keys). A keyboard that was unplugged (or
//! whose controller stopped) is logged once and dropped; one plugged in later is not seen
//! (no hot plug).

use alloc::string::String;
use alloc::vec::Vec;

use drivers::pci::PciAddress;
use drivers::ps2::Layout;
use drivers::usb::hid::{self, UsbKeyboard};
use drivers::usb::{PortReport, SharedController};
use spin::Mutex;

use super::KernelMmioDmaHal;

/// One USB keyboard in use.
struct Registered {
    /// Where it is, for the log: "00:04.0 port 5".
    place: String,
    keyboard: UsbKeyboard<KernelMmioDmaHal>,
}

/// The USB keyboards in use, in the order they were found.
static KEYBOARDS: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// The layout keyboards found from now on get (the boot path sets it: [`set_layout`]).
static LAYOUT: Mutex<Layout> = Mutex::new(Layout::Us);

/// Sets the layout of the USB keyboards in use and of those found later.
pub fn set_layout(layout: Layout) {
    *LAYOUT.lock() = layout;
    for k in KEYBOARDS.lock().iter_mut() {
        k.keyboard.set_layout(layout);
    }
}

/// Sets up every boot keyboard in `ports` (what `drivers::usb::probe` reported for the xHCI
/// controller at `addr`, whose `controller` it is) and keeps the ones that work; logs one line
/// per keyboard.
pub fn register(
    addr: PciAddress,
    controller: &SharedController<KernelMmioDmaHal>,
    ports: &[PortReport],
) {
    let found = hid::boot_keyboards(ports);
    if found.is_empty() {
        return;
    }
    let layout = *LAYOUT.lock();
    for k in found {
        let place = alloc::format!("{addr} {}", k.place);
        match UsbKeyboard::open(controller.clone(), k.slot, k.interface, layout) {
            Ok(keyboard) => {
                log::info!("keyboard: USB keyboard on {place}, layout {layout}");
                KEYBOARDS.lock().push(Registered { place, keyboard });
            }
            Err(e) => log::warn!("keyboard: USB keyboard on {place} not used: {e}"),
        }
    }
}

/// How many USB keyboards are in use.
pub fn count() -> usize {
    KEYBOARDS.lock().len()
}

/// Copies the console bytes typed on the USB keyboards since the last call into `buf`,
/// without blocking; returns how many (0 when nothing was typed, there is no USB keyboard, or
/// another reader holds the list). A key whose bytes do not all fit is finished by the next
/// call. A keyboard that is gone is logged and dropped.
pub fn read_available(buf: &mut [u8]) -> usize {
    let Some(mut keyboards) = KEYBOARDS.try_lock() else {
        return 0;
    };
    let mut n = 0;
    let mut i = 0;
    while i < keyboards.len() && n < buf.len() {
        match keyboards[i].keyboard.read(&mut buf[n..]) {
            Ok(got) => {
                n += got;
                i += 1;
            }
            Err(e) => {
                let gone = keyboards.remove(i);
                log::warn!("keyboard: {e} [{}]", gone.place);
            }
        }
    }
    n
}
