//! A fake i8042 with a keyboard on port 1, for host tests, at port level: the status register,
//! the output buffer (a queue), the configuration byte, the controller commands the driver uses
//! and a keyboard that answers reset, scancode-set and scanning commands. Knobs model an absent
//! controller (every read `0xff`), a failing self-test or port test, a controller that does not
//! keep the translation bit, a stuck input buffer, a silent or failing keyboard; scancodes can
//! be queued as if typed. Every `now_us` moves the clock [`TICK_US`], so deadlines end.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::controller::{command, config, kbd};
use super::{status, Ps2Hal, DATA_PORT, STATUS_PORT};
use crate::hal::PortIo;

/// How far the clock moves per `now_us` call.
pub const TICK_US: u64 = 100;

/// The keyboard behind port 1.
pub struct FakeKeyboard {
    /// Answers nothing at all (not plugged in).
    pub silent: bool,
    /// The self-test result after a reset (`0xAA` passes).
    pub self_test: u8,
    /// Sends the self-test result before the acknowledgement.
    pub bat_first: bool,
    /// Acknowledges a reset but never reports the self-test.
    pub no_bat: bool,
    /// Asks for this many resends before acknowledging anything.
    pub resends: usize,
    /// Answers this instead of acknowledging "set scancode set".
    pub refuse_set: Option<u8>,
    /// The scancode set it is in.
    pub set: u8,
    pub scanning: bool,
    /// Waiting for the parameter of this command.
    pending: Option<u8>,
}

impl Default for FakeKeyboard {
    fn default() -> Self {
        Self {
            silent: false,
            self_test: kbd::SELF_TEST_PASSED,
            bat_first: false,
            no_bat: false,
            resends: 0,
            refuse_set: None,
            set: 2,
            scanning: false,
            pending: None,
        }
    }
}

/// The fake controller.
pub struct FakeI8042 {
    /// No controller: every read answers `0xff`, writes vanish.
    pub absent: bool,
    /// What the self-test answers (`0x55` passes).
    pub self_test: u8,
    /// What the port-1 test answers (`0x00` passes).
    pub port_test: u8,
    /// Never answers controller commands that expect an answer.
    pub mute: bool,
    /// The input buffer is always full.
    pub input_stuck: bool,
    /// Drops the translation bit from configuration writes.
    pub no_translation: bool,
    /// The self-test resets the configuration byte to this.
    pub config_after_self_test: Option<u8>,
    pub config: u8,
    pub port1_enabled: bool,
    pub port2_enabled: bool,
    pub keyboard: FakeKeyboard,
    /// The output buffer: (byte, from port 2).
    pub output: VecDeque<(u8, bool)>,
    /// Every controller command written, in order.
    pub commands: Vec<u8>,
    /// Every byte written to the data port, in order.
    pub data_writes: Vec<u8>,
    pub clock: u64,
    /// The next data-port write is the configuration byte.
    awaiting_config: bool,
}

impl Default for FakeI8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeI8042 {
    /// A working controller (translation on in the firmware's configuration, as OVMF leaves
    /// it, and port 1's interrupt on) with a working keyboard, and a stale byte waiting.
    pub fn new() -> Self {
        Self {
            absent: false,
            self_test: command::SELF_TEST_PASSED,
            port_test: command::PORT_TEST_PASSED,
            mute: false,
            input_stuck: false,
            no_translation: false,
            config_after_self_test: None,
            config: config::PORT1_IRQ | config::TRANSLATE | 0x04,
            port1_enabled: true,
            port2_enabled: true,
            keyboard: FakeKeyboard::default(),
            output: VecDeque::from([(0x1c, false)]),
            commands: Vec::new(),
            data_writes: Vec::new(),
            clock: 0,
            awaiting_config: false,
        }
    }

    /// Queues scancodes as if typed on the keyboard.
    pub fn type_bytes(&mut self, bytes: &[u8]) {
        self.output.extend(bytes.iter().map(|b| (*b, false)));
    }

    /// Queues bytes from port 2 (a mouse).
    pub fn mouse_bytes(&mut self, bytes: &[u8]) {
        self.output.extend(bytes.iter().map(|b| (*b, true)));
    }

    fn answer(&mut self, byte: u8) {
        if !self.mute {
            self.output.push_back((byte, false));
        }
    }

    fn controller_command(&mut self, cmd: u8) {
        self.commands.push(cmd);
        match cmd {
            command::READ_CONFIG => self.answer(self.config),
            command::WRITE_CONFIG => self.awaiting_config = true,
            command::DISABLE_PORT1 => {
                self.port1_enabled = false;
                self.config |= config::PORT1_CLOCK_OFF;
            }
            command::ENABLE_PORT1 => {
                self.port1_enabled = true;
                self.config &= !config::PORT1_CLOCK_OFF;
            }
            command::DISABLE_PORT2 => {
                self.port2_enabled = false;
                self.config |= config::PORT2_CLOCK_OFF;
            }
            command::SELF_TEST => {
                if let Some(c) = self.config_after_self_test {
                    self.config = c;
                }
                self.answer(self.self_test);
            }
            command::TEST_PORT1 => self.answer(self.port_test),
            _ => {}
        }
    }

    fn data_write(&mut self, byte: u8) {
        self.data_writes.push(byte);
        if core::mem::take(&mut self.awaiting_config) {
            self.config = if self.no_translation {
                byte & !config::TRANSLATE
            } else {
                byte
            };
            return;
        }
        if self.port1_enabled {
            self.keyboard_byte(byte);
        }
    }

    fn keyboard_byte(&mut self, byte: u8) {
        let k = &mut self.keyboard;
        if k.silent {
            return;
        }
        if k.resends > 0 {
            k.resends -= 1;
            self.output.push_back((kbd::RESEND, false));
            return;
        }
        let mut replies: Vec<u8> = Vec::new();
        if let Some(cmd) = k.pending.take() {
            if cmd == kbd::SET_SCANCODE_SET {
                k.set = byte;
            }
            replies.push(kbd::ACK);
        } else {
            match byte {
                kbd::RESET => {
                    k.scanning = true;
                    k.set = 2;
                    let bat = (!k.no_bat).then_some(k.self_test);
                    match (k.bat_first, bat) {
                        (true, Some(b)) => replies.extend([b, kbd::ACK]),
                        (false, Some(b)) => replies.extend([kbd::ACK, b]),
                        (_, None) => replies.push(kbd::ACK),
                    }
                }
                kbd::SET_SCANCODE_SET => match k.refuse_set {
                    Some(answer) => replies.push(answer),
                    None => {
                        k.pending = Some(byte);
                        replies.push(kbd::ACK);
                    }
                },
                kbd::ENABLE_SCANNING => {
                    k.scanning = true;
                    replies.push(kbd::ACK);
                }
                _ => replies.push(kbd::RESEND),
            }
        }
        self.output.extend(replies.into_iter().map(|b| (b, false)));
    }

    fn status(&self) -> u8 {
        let mut s = 0x04; // system flag
        if let Some((_, aux)) = self.output.front() {
            s |= status::OUTPUT_FULL;
            if *aux {
                s |= status::AUX_DATA;
            }
        }
        if self.input_stuck {
            s |= status::INPUT_FULL;
        }
        s
    }
}

impl PortIo for FakeI8042 {
    fn read8(&mut self, port: u16) -> u8 {
        if self.absent {
            return 0xff;
        }
        match port {
            STATUS_PORT => self.status(),
            DATA_PORT => self.output.pop_front().map_or(0, |(b, _)| b),
            _ => panic!("the PS/2 driver read port {port:#x}"),
        }
    }
    fn read16(&mut self, port: u16) -> u16 {
        panic!("the PS/2 driver read 16 bits at {port:#x}")
    }
    fn read32(&mut self, port: u16) -> u32 {
        panic!("the PS/2 driver read 32 bits at {port:#x}")
    }
    fn write8(&mut self, port: u16, value: u8) {
        if self.absent || self.input_stuck {
            return;
        }
        match port {
            STATUS_PORT => self.controller_command(value),
            DATA_PORT => self.data_write(value),
            _ => panic!("the PS/2 driver wrote port {port:#x}"),
        }
    }
    fn write16(&mut self, port: u16, _value: u16) {
        panic!("the PS/2 driver wrote 16 bits at {port:#x}")
    }
    fn write32(&mut self, port: u16, _value: u32) {
        panic!("the PS/2 driver wrote 32 bits at {port:#x}")
    }
}

impl Ps2Hal for FakeI8042 {
    fn now_us(&mut self) -> u64 {
        self.clock += TICK_US;
        self.clock
    }
}
