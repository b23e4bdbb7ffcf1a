//! A fake 82574L for host tests: registers (reset, RAL/RAH loaded from the EEPROM, EERD,
//! STATUS.LU after CTRL.SLU, read-to-clear ICR) and both descriptor rings over fake DMA
//! memory: transmit consumes descriptors up to TDT and records the frames, receive writes
//! injected frames into the next free descriptor. Failure switches: reset never completes,
//! link never up, EEPROM never answers, transmit never completes, device removed.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::regs::*;
use crate::hal::fake::{FakeDma, HasFakeDma, HasFakeRegisters, Shared};

pub type FakeHal = Shared<FakeE1000e>;

pub struct FakeE1000e {
    pub regs: BTreeMap<usize, u32>,
    pub mac: [u8; 6],
    pub eeprom: [u16; 64],
    /// The reset loads RAL0/RAH0 from the EEPROM (false: they stay zero).
    pub mac_in_ral: bool,
    pub reset_stuck: bool,
    pub link_never: bool,
    pub eeprom_stuck: bool,
    pub tx_stuck: bool,
    /// Every register reads all ones and writes are lost.
    pub removed: bool,
    pub resets: usize,
    /// Frames sent, without the FCS the device would append.
    pub sent: Vec<Vec<u8>>,
    /// The command byte of every transmit descriptor consumed.
    pub tx_commands: Vec<u8>,
    /// Every register write, in order.
    pub writes: Vec<(usize, u32)>,
    pub dma: FakeDma,
}

impl FakeE1000e {
    /// A device with `mac` in its EEPROM (and RAL/RAH after reset), cable plugged in.
    pub fn new(mac: [u8; 6]) -> Self {
        let mut eeprom = [0u16; 64];
        for (i, w) in mac.chunks(2).enumerate() {
            eeprom[i] = u16::from_le_bytes([w[0], w[1]]);
        }
        let mut dev = Self {
            regs: BTreeMap::new(),
            mac,
            eeprom,
            mac_in_ral: true,
            reset_stuck: false,
            link_never: false,
            eeprom_stuck: false,
            tx_stuck: false,
            removed: false,
            resets: 0,
            sent: Vec::new(),
            tx_commands: Vec::new(),
            writes: Vec::new(),
            dma: FakeDma::new(),
        };
        dev.reset();
        dev
    }

    pub fn into_hal(self) -> FakeHal {
        Shared::new(self)
    }

    pub fn reg(&self, offset: usize) -> u32 {
        self.regs.get(&offset).copied().unwrap_or(0)
    }

    fn reset(&mut self) {
        self.regs.clear();
        if !self.eeprom_stuck {
            self.regs.insert(EECD, EECD_AUTO_RD);
        }
        if self.mac_in_ral {
            let m = self.mac;
            self.regs
                .insert(RAL0, u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
            let rah = u16::from_le_bytes([m[4], m[5]]) as u32 | RAH_AV;
            self.regs.insert(RAH0, rah);
        }
    }

    fn status(&self) -> u32 {
        let lu = self.reg(CTRL) & CTRL_SLU != 0 && !self.link_never;
        1 | if lu { STATUS_LU } else { 0 }
    }

    fn write_ctrl(&mut self, value: u32) {
        if value & CTRL_RST == 0 {
            self.regs.insert(CTRL, value);
            return;
        }
        self.resets += 1;
        if self.reset_stuck {
            self.regs.insert(CTRL, value);
        } else {
            self.reset();
        }
    }

    fn write_eerd(&mut self, value: u32) {
        if value & EERD_START == 0 || self.eeprom_stuck {
            self.regs.insert(EERD, value & !EERD_DONE);
            return;
        }
        let word = (value >> EERD_ADDR_SHIFT) & 0x3fff;
        let data = self.eeprom.get(word as usize).copied().unwrap_or(0xffff) as u32;
        let eerd = (data << EERD_DATA_SHIFT) | (word << EERD_ADDR_SHIFT) | EERD_DONE;
        self.regs.insert(EERD, eerd);
    }

    /// A ring's base, its descriptor count, head and tail registers' values.
    fn ring(&self, bal: usize, bah: usize, len: usize, head: usize, tail: usize) -> Ring {
        Ring {
            base: self.reg(bal) as u64 | (self.reg(bah) as u64) << 32,
            count: self.reg(len) / DESC_BYTES as u32,
            head: self.reg(head),
            tail: self.reg(tail),
        }
    }

    /// Consumes transmit descriptors from TDH up to TDT, recording frames and setting DD.
    fn run_tx(&mut self) {
        if self.tx_stuck || self.reg(TCTL) & TCTL_EN == 0 {
            return;
        }
        let r = self.ring(TDBAL, TDBAH, TDLEN, TDH, TDT);
        if r.count == 0 || r.tail >= r.count {
            return;
        }
        let mut head = r.head;
        let mut frame = Vec::new();
        while head != r.tail {
            let at = r.base + head as u64 * DESC_BYTES as u64;
            let d = self.dma.read_mem(at, DESC_BYTES);
            let addr = u64::from_le_bytes(d[..8].try_into().unwrap());
            let len = u16::from_le_bytes([d[DESC_LENGTH], d[DESC_LENGTH + 1]]) as usize;
            frame.extend(self.dma.read_mem(addr, len));
            let cmd = d[11];
            self.tx_commands.push(cmd);
            if cmd & TX_CMD_EOP != 0 {
                self.sent.push(core::mem::take(&mut frame));
            }
            if cmd & TX_CMD_RS != 0 {
                self.dma.write_mem(at + DESC_STATUS as u64, &[STA_DD]);
            }
            head = (head + 1) % r.count;
        }
        self.regs.insert(TDH, head);
    }

    /// Receives `frame` (without FCS) into the next free receive descriptor; false if receive
    /// is off or no descriptor is free (the frame is dropped, as the device would).
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        self.inject_raw(frame, STA_DD | RX_STA_EOP, 0)
    }

    /// As [`Self::inject`], with this descriptor status and errors byte.
    pub fn inject_raw(&mut self, frame: &[u8], status: u8, errors: u8) -> bool {
        let r = self.ring(RDBAL, RDBAH, RDLEN, RDH, RDT);
        if self.removed || self.reg(RCTL) & RCTL_EN == 0 || r.count == 0 || r.head == r.tail {
            return false;
        }
        let at = r.base + r.head as u64 * DESC_BYTES as u64;
        let d = self.dma.read_mem(at, DESC_BYTES);
        let addr = u64::from_le_bytes(d[..8].try_into().unwrap());
        self.dma.write_mem(addr, frame);
        let len = (frame.len() as u16).to_le_bytes();
        self.dma.write_mem(at + DESC_LENGTH as u64, &len);
        self.dma
            .write_mem(at + DESC_STATUS as u64, &[status, errors]);
        self.regs.insert(RDH, (r.head + 1) % r.count);
        true
    }
}

struct Ring {
    base: u64,
    count: u32,
    head: u32,
    tail: u32,
}

impl HasFakeDma for FakeE1000e {
    fn dma(&mut self) -> &mut FakeDma {
        &mut self.dma
    }
}

impl HasFakeRegisters for FakeE1000e {
    fn read_register(&mut self, offset: usize) -> u32 {
        assert!(
            offset < BAR0_BYTES && offset.is_multiple_of(4),
            "bad register {offset:#x}"
        );
        if self.removed {
            return u32::MAX;
        }
        match offset {
            STATUS => self.status(),
            ICR => self.regs.remove(&ICR).unwrap_or(0),
            _ => self.reg(offset),
        }
    }

    fn write_register(&mut self, offset: usize, value: u32) {
        assert!(
            offset < BAR0_BYTES && offset.is_multiple_of(4),
            "bad register {offset:#x}"
        );
        if self.removed {
            return;
        }
        self.writes.push((offset, value));
        match offset {
            CTRL => self.write_ctrl(value),
            EERD => self.write_eerd(value),
            IMS => {
                let ims = self.reg(IMS) | value;
                self.regs.insert(IMS, ims);
            }
            IMC => {
                let ims = self.reg(IMS) & !value;
                self.regs.insert(IMS, ims);
            }
            TDT => {
                self.regs.insert(TDT, value);
                self.run_tx();
            }
            _ => {
                self.regs.insert(offset, value);
            }
        }
    }
}
