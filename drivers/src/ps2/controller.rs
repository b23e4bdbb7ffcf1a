//! Bringing up the i8042 PS/2 controller and the keyboard on its first port.
//!
//! [`init`] runs, with a deadline on every wait:
//!
//! 1. Presence: a status register reading `0xff` means nothing decodes port `0x64` (no
//!    controller: many recent PCs) — answered at once, [`Ps2Error::NoController`].
//! 2. Both ports disabled (`0xAD`, `0xA7`), the output buffer flushed.
//! 3. Configuration byte read (`0x20`) and rewritten (`0x60`): both port interrupts off, port 2's
//!    clock off, translation to scancode set 1 on or off as [`Config::translate`] asks; read back
//!    to learn whether the controller honours translation.
//! 4. Controller self-test (`0xAA` → `0x55`), then the configuration byte written again (some
//!    controllers reset it during the test).
//! 5. Port-1 interface test (`0xAB` → `0x00`), then port 1 enabled (`0xAE`).
//! 6. Keyboard reset (`0xFF` → `0xFA` and the self-test result `0xAA`, in either order; `0xFE`
//!    resends), then, when the controller does not translate, scancode set 2 (`0xF0 0x02`), then
//!    scanning on (`0xF4`).
//! 7. Port-1 interrupt (IRQ 1) on in the configuration byte.
//!
//! Afterwards the controller delivers one scancode byte per interrupt; [`drain`] moves the
//! waiting bytes into a [`ScancodeRing`].

use core::fmt;

use super::keyboard::ScancodeSet;
use super::ring::ScancodeRing;
use super::{status, Ps2Hal, DATA_PORT, STATUS_PORT};
use crate::hal::PortIo;

/// Controller commands (written to [`STATUS_PORT`]).
pub mod command {
    /// Read the configuration byte (answer in the output buffer).
    pub const READ_CONFIG: u8 = 0x20;
    /// Write the configuration byte (the next byte written to the data port).
    pub const WRITE_CONFIG: u8 = 0x60;
    /// Disable port 2 (the mouse).
    pub const DISABLE_PORT2: u8 = 0xA7;
    /// Controller self-test: answers [`SELF_TEST_PASSED`].
    pub const SELF_TEST: u8 = 0xAA;
    /// Port-1 interface test: answers [`PORT_TEST_PASSED`].
    pub const TEST_PORT1: u8 = 0xAB;
    /// Disable port 1 (the keyboard).
    pub const DISABLE_PORT1: u8 = 0xAD;
    /// Enable port 1.
    pub const ENABLE_PORT1: u8 = 0xAE;
    /// What a passed self-test answers.
    pub const SELF_TEST_PASSED: u8 = 0x55;
    /// What a passed interface test answers.
    pub const PORT_TEST_PASSED: u8 = 0x00;
}

/// Keyboard commands and answers (through [`DATA_PORT`]).
pub mod kbd {
    /// Reset and self-test (BAT).
    pub const RESET: u8 = 0xFF;
    /// Get/set the scancode set (one parameter byte).
    pub const SET_SCANCODE_SET: u8 = 0xF0;
    /// Start sending scancodes.
    pub const ENABLE_SCANNING: u8 = 0xF4;
    /// Acknowledged.
    pub const ACK: u8 = 0xFA;
    /// Send the last byte again.
    pub const RESEND: u8 = 0xFE;
    /// The keyboard's self-test passed.
    pub const SELF_TEST_PASSED: u8 = 0xAA;
    /// The keyboard's self-test failed (either code).
    pub const SELF_TEST_FAILED: [u8; 2] = [0xFC, 0xFD];
}

/// Configuration byte bits.
pub mod config {
    /// Port 1 raises IRQ 1 when a byte arrives.
    pub const PORT1_IRQ: u8 = 1 << 0;
    /// Port 2 raises IRQ 12.
    pub const PORT2_IRQ: u8 = 1 << 1;
    /// Port 1's clock is off (set by "disable port 1").
    pub const PORT1_CLOCK_OFF: u8 = 1 << 4;
    /// Port 2's clock is off.
    pub const PORT2_CLOCK_OFF: u8 = 1 << 5;
    /// The controller translates scancode set 2 into set 1.
    pub const TRANSLATE: u8 = 1 << 6;
}

/// How many times a keyboard command is sent when the keyboard answers "resend".
const SEND_TRIES: usize = 3;
/// At most this many stale bytes are read when flushing the output buffer (a status register
/// stuck at "full" must not hang the boot).
const FLUSH_LIMIT: usize = 32;

/// How long each kind of wait may last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// For the controller to take a byte, or to answer a command or a keyboard command.
    pub byte_us: u64,
    /// For the keyboard's self-test after a reset (the PS/2 specification allows 500-750 ms).
    pub reset_us: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            byte_us: 50_000,
            reset_us: 1_000_000,
        }
    }
}

/// What [`init`] should ask of the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Let the controller translate the keyboard's set 2 into set 1 (what firmware and most
    /// operating systems do; every controller and keyboard supports it). When false, or when
    /// the controller does not keep the bit, the keyboard is put into set 2 and the scancodes
    /// are decoded as set 2.
    pub translate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self { translate: true }
    }
}

/// What [`init`] set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ps2Info {
    /// The scancode set the bytes arrive in (set 1 when translating).
    pub scancode_set: ScancodeSet,
    /// The configuration byte left in the controller (port-1 interrupt on).
    pub config: u8,
}

/// Why the controller or the keyboard could not be brought up. `Display` is one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ps2Error {
    /// The status register reads `0xff`: nothing decodes the i8042's ports.
    NoController,
    /// The controller kept its input buffer full: it did not take `command`.
    InputStuck { command: u8 },
    /// The controller did not answer `command` in time.
    NoReply { command: u8 },
    /// The controller's self-test answered this instead of `0x55`.
    SelfTest(u8),
    /// The port-1 interface test answered this error code instead of `0x00`.
    PortTest(u8),
    /// Nothing answered the keyboard reset (no keyboard plugged in).
    KeyboardSilent,
    /// The keyboard acknowledged the reset but never reported its self-test.
    KeyboardNoSelfTest,
    /// The keyboard's self-test failed with this code.
    KeyboardSelfTest(u8),
    /// The keyboard did not acknowledge `command` in time (or kept asking for a resend).
    KeyboardNoAck { command: u8 },
    /// The keyboard answered `command` with `answer` instead of an acknowledgement.
    KeyboardRefused { command: u8, answer: u8 },
}

impl fmt::Display for Ps2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoController => write!(f, "no i8042 controller (status reads 0xff)"),
            Self::InputStuck { command } => write!(
                f,
                "i8042 does not take input (input buffer stays full) at {}",
                name(command)
            ),
            Self::NoReply { command } => write!(f, "i8042 did not answer {}", name(command)),
            Self::SelfTest(b) => {
                write!(
                    f,
                    "i8042 self-test failed (answered {b:#04x}, expected 0x55)"
                )
            }
            Self::PortTest(b) => write!(
                f,
                "i8042 keyboard port test failed (code {b:#04x}: clock or data line stuck)"
            ),
            Self::KeyboardSilent => {
                write!(f, "keyboard did not answer reset (is one plugged in?)")
            }
            Self::KeyboardNoSelfTest => write!(
                f,
                "keyboard acknowledged reset but did not report its self-test"
            ),
            Self::KeyboardSelfTest(b) => {
                write!(f, "keyboard failed its self-test (answered {b:#04x})")
            }
            Self::KeyboardNoAck { command } => {
                write!(f, "keyboard did not acknowledge {}", kbd_name(command))
            }
            Self::KeyboardRefused { command, answer } => write!(
                f,
                "keyboard refused {} (answered {answer:#04x})",
                kbd_name(command)
            ),
        }
    }
}

/// A controller command for messages: `command 0xaa (self-test)`.
fn name(command: u8) -> NamedByte {
    let what = match command {
        command::READ_CONFIG => "read configuration",
        command::WRITE_CONFIG => "write configuration",
        command::DISABLE_PORT2 => "disable port 2",
        command::SELF_TEST => "self-test",
        command::TEST_PORT1 => "port 1 test",
        command::DISABLE_PORT1 => "disable port 1",
        command::ENABLE_PORT1 => "enable port 1",
        _ => "",
    };
    NamedByte(command, what)
}

/// A keyboard command for messages: `command 0xf4 (enable scanning)`.
fn kbd_name(command: u8) -> NamedByte {
    let what = match command {
        kbd::RESET => "reset",
        kbd::SET_SCANCODE_SET => "set scancode set",
        kbd::ENABLE_SCANNING => "enable scanning",
        _ => "",
    };
    NamedByte(command, what)
}

struct NamedByte(u8, &'static str);

impl fmt::Display for NamedByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command {:#04x}", self.0)?;
        if !self.1.is_empty() {
            write!(f, " ({})", self.1)?;
        }
        Ok(())
    }
}

/// Brings up the controller and the keyboard on port 1 (see the module documentation for the
/// steps) and leaves the port-1 interrupt on. On error the controller may be left with its
/// ports disabled; nothing else is changed.
pub fn init<H: Ps2Hal + ?Sized>(
    hal: &mut H,
    cfg: Config,
    t: &Timeouts,
) -> Result<Ps2Info, Ps2Error> {
    if hal.read8(STATUS_PORT) == 0xff {
        return Err(Ps2Error::NoController);
    }
    send_command(hal, t, command::DISABLE_PORT1)?;
    send_command(hal, t, command::DISABLE_PORT2)?;
    flush(hal);

    let quiet = quiet_config(read_config(hal, t)?, cfg.translate);
    write_config(hal, t, quiet)?;
    let translated = read_config(hal, t)? & config::TRANSLATE != 0;

    let answer = ask(hal, t, command::SELF_TEST)?;
    if answer != command::SELF_TEST_PASSED {
        return Err(Ps2Error::SelfTest(answer));
    }
    write_config(hal, t, quiet)?;
    let answer = ask(hal, t, command::TEST_PORT1)?;
    if answer != command::PORT_TEST_PASSED {
        return Err(Ps2Error::PortTest(answer));
    }
    send_command(hal, t, command::ENABLE_PORT1)?;
    flush(hal);

    reset_keyboard(hal, t)?;
    let scancode_set = if translated {
        ScancodeSet::One
    } else {
        keyboard_command(hal, t, kbd::SET_SCANCODE_SET)?;
        keyboard_command(hal, t, 2).map_err(|e| with_command(e, kbd::SET_SCANCODE_SET))?;
        ScancodeSet::Two
    };
    keyboard_command(hal, t, kbd::ENABLE_SCANNING)?;

    let on = (read_config(hal, t)? & !config::PORT1_CLOCK_OFF) | config::PORT1_IRQ;
    write_config(hal, t, on)?;
    Ok(Ps2Info {
        scancode_set,
        config: on,
    })
}

/// Reads every byte waiting in the output buffer (at most `limit`) into `ring`, dropping
/// port-2 (mouse) bytes; returns how many keyboard bytes it read. What the keyboard interrupt
/// handler does; bytes that do not fit are counted by the ring as dropped.
pub fn drain<P: PortIo + ?Sized, const N: usize>(
    ports: &mut P,
    ring: &ScancodeRing<N>,
    limit: usize,
) -> usize {
    let mut read = 0;
    for _ in 0..limit {
        let s = ports.read8(STATUS_PORT);
        if s == 0xff || s & status::OUTPUT_FULL == 0 {
            break;
        }
        let byte = ports.read8(DATA_PORT);
        if s & status::AUX_DATA == 0 {
            ring.push(byte);
            read += 1;
        }
    }
    read
}

/// The configuration byte for bring-up: interrupts off, port 2 clock off, translation as
/// asked, the rest (system flag, port 1 clock) as it was.
fn quiet_config(old: u8, translate: bool) -> u8 {
    let mut c = old & !(config::PORT1_IRQ | config::PORT2_IRQ | config::TRANSLATE);
    c |= config::PORT2_CLOCK_OFF;
    if translate {
        c |= config::TRANSLATE;
    }
    c
}

/// An error about the parameter byte of `command` named after the command.
fn with_command(e: Ps2Error, command: u8) -> Ps2Error {
    match e {
        Ps2Error::KeyboardNoAck { .. } => Ps2Error::KeyboardNoAck { command },
        Ps2Error::KeyboardRefused { answer, .. } => Ps2Error::KeyboardRefused { command, answer },
        other => other,
    }
}

/// Polls the status register until `bit` is `set` (or clear), or the deadline passes.
fn wait_status<H: Ps2Hal + ?Sized>(hal: &mut H, bit: u8, set: bool, timeout_us: u64) -> bool {
    let start = hal.now_us();
    loop {
        if (hal.read8(STATUS_PORT) & bit != 0) == set {
            return true;
        }
        if hal.now_us().saturating_sub(start) >= timeout_us {
            return (hal.read8(STATUS_PORT) & bit != 0) == set;
        }
        core::hint::spin_loop();
    }
}

/// Writes a controller command once the input buffer is free.
fn send_command<H: Ps2Hal + ?Sized>(hal: &mut H, t: &Timeouts, cmd: u8) -> Result<(), Ps2Error> {
    if !wait_status(hal, status::INPUT_FULL, false, t.byte_us) {
        return Err(Ps2Error::InputStuck { command: cmd });
    }
    hal.write8(STATUS_PORT, cmd);
    Ok(())
}

/// Writes a byte to the data port once the input buffer is free; `cmd` names it in errors.
fn send_data<H: Ps2Hal + ?Sized>(
    hal: &mut H,
    t: &Timeouts,
    cmd: u8,
    byte: u8,
) -> Result<(), Ps2Error> {
    if !wait_status(hal, status::INPUT_FULL, false, t.byte_us) {
        return Err(Ps2Error::InputStuck { command: cmd });
    }
    hal.write8(DATA_PORT, byte);
    Ok(())
}

/// The next byte of the output buffer, if one arrives within `timeout_us`.
fn receive<H: Ps2Hal + ?Sized>(hal: &mut H, timeout_us: u64) -> Option<u8> {
    wait_status(hal, status::OUTPUT_FULL, true, timeout_us).then(|| hal.read8(DATA_PORT))
}

/// Sends a controller command that answers one byte, and returns the answer.
fn ask<H: Ps2Hal + ?Sized>(hal: &mut H, t: &Timeouts, cmd: u8) -> Result<u8, Ps2Error> {
    send_command(hal, t, cmd)?;
    receive(hal, t.byte_us).ok_or(Ps2Error::NoReply { command: cmd })
}

fn read_config<H: Ps2Hal + ?Sized>(hal: &mut H, t: &Timeouts) -> Result<u8, Ps2Error> {
    ask(hal, t, command::READ_CONFIG)
}

fn write_config<H: Ps2Hal + ?Sized>(hal: &mut H, t: &Timeouts, value: u8) -> Result<(), Ps2Error> {
    send_command(hal, t, command::WRITE_CONFIG)?;
    send_data(hal, t, command::WRITE_CONFIG, value)
}

/// Reads and throws away whatever waits in the output buffer.
fn flush<H: Ps2Hal + ?Sized>(hal: &mut H) {
    for _ in 0..FLUSH_LIMIT {
        if hal.read8(STATUS_PORT) & status::OUTPUT_FULL == 0 {
            return;
        }
        hal.read8(DATA_PORT);
    }
}

/// Sends a byte to the keyboard and waits for its acknowledgement, resending when asked.
fn keyboard_command<H: Ps2Hal + ?Sized>(
    hal: &mut H,
    t: &Timeouts,
    byte: u8,
) -> Result<(), Ps2Error> {
    for _ in 0..SEND_TRIES {
        send_data(hal, t, byte, byte)?;
        match receive(hal, t.byte_us) {
            Some(kbd::ACK) => return Ok(()),
            Some(kbd::RESEND) => continue,
            Some(answer) => {
                return Err(Ps2Error::KeyboardRefused {
                    command: byte,
                    answer,
                })
            }
            None => return Err(Ps2Error::KeyboardNoAck { command: byte }),
        }
    }
    Err(Ps2Error::KeyboardNoAck { command: byte })
}

/// Resets the keyboard: it answers the acknowledgement and its self-test result, in either
/// order (resending on request); a missing answer within the reset deadline is an error.
fn reset_keyboard<H: Ps2Hal + ?Sized>(hal: &mut H, t: &Timeouts) -> Result<(), Ps2Error> {
    let mut acked = false;
    let mut tries = 0;
    'send: while tries < SEND_TRIES {
        tries += 1;
        send_data(hal, t, kbd::RESET, kbd::RESET)?;
        let start = hal.now_us();
        loop {
            let left = t
                .reset_us
                .saturating_sub(hal.now_us().saturating_sub(start));
            let Some(b) = receive(hal, left) else {
                break 'send;
            };
            match b {
                kbd::ACK => acked = true,
                kbd::SELF_TEST_PASSED => return Ok(()),
                kbd::RESEND => continue 'send,
                b if kbd::SELF_TEST_FAILED.contains(&b) => {
                    return Err(Ps2Error::KeyboardSelfTest(b))
                }
                // Anything else (a stale scancode): keep waiting.
                _ => {}
            }
        }
    }
    Err(if acked {
        Ps2Error::KeyboardNoSelfTest
    } else {
        Ps2Error::KeyboardSilent
    })
}
