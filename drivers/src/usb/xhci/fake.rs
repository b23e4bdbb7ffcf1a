//! A fake xHCI controller for host tests, with fake USB devices behind its root ports.
//!
//! The controller: capability, operational, port, runtime and doorbell registers (HCRST, R/S
//! and HCH, CRCR, DCBAAP, ERSTBA/ERDP, PORTSC with its write-1-to-clear bits and port reset),
//! the USB Legacy Support and Supported Protocol extended capabilities, a command ring walked
//! with its cycle bit and Link TRBs (Enable/Disable Slot, Address Device, Evaluate Context,
//! Configure Endpoint, Reset/Stop Endpoint, Set TR Dequeue Pointer), transfer rings per
//! endpoint, and an event ring written with its cycle bit. All of it lives in fake DMA memory.
//!
//! The devices: a Bulk-Only mass storage device running SCSI commands on a RAM disk (knobs:
//! stall a command's data phase once, fail a command once, not ready at first, unplug after N
//! bulk transfers, bad CSW signature or tag, 4096-byte blocks, READ CAPACITY (16) only, a
//! CD-ROM's peripheral type) and a boot keyboard ([`FakeKeyboard`]: SET_PROTOCOL, SET_IDLE,
//! reports queued by the test and sent on its interrupt IN endpoint when a TD waits for them,
//! knobs: stall once, refuse SET_PROTOCOL or SET_IDLE). Either can carry a malformed
//! configuration descriptor. [`FakeXhci::report_during_next_bulk`] completes a keyboard report
//! in the middle of the next bulk TD (so its event comes before the disk's).
//!
//! The clock advances on every register read and every `now_us`, so timeouts end.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;

use super::proto::{
    code, ctrl, ep_type, ext, op, portsc, rt, trb_type, EndpointContext, SlotContext, Speed, Trb,
    TRB_BYTES,
};
use crate::hal::fake::{FakeDma, HasFakeDma, HasFakeRegisters, Shared};
use crate::usb::desc::{dtype, request, SetupPacket};
use crate::usb::msc::{csw_status, Cbw, Csw};
use crate::usb::scsi::{key, op as scsi, Cdb, Sense};

pub const CAP_LENGTH: usize = 0x40;
pub const XECP: usize = 0x800;
pub const RTSOFF: usize = 0x2000;
pub const DBOFF: usize = 0x3000;
const OP: usize = CAP_LENGTH;
const IR0: usize = RTSOFF + rt::IR0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpState {
    Running,
    Halted,
    Stopped,
}

#[derive(Clone, Copy, Debug)]
pub struct FakeEp {
    pub dequeue: u64,
    pub cycle: bool,
    pub state: EpState,
    pub ep_type: u32,
    pub max_packet: u16,
    pub interval: u8,
}

pub struct FakeSlot {
    pub port: u8,
    pub route: u32,
    /// The slot context from the last Address Device or Configure Endpoint.
    pub ctx: SlotContext,
    pub eps: BTreeMap<u8, FakeEp>,
    pub configured: bool,
}

/// A mass storage device's state and knobs.
pub struct FakeMsc {
    pub data: Vec<u8>,
    pub block_size: usize,
    /// INQUIRY byte 0: 0 for a disk, 5 for a CD-ROM.
    pub peripheral: u8,
    pub vendor: &'static str,
    pub product: &'static str,
    /// TEST UNIT READY fails (NOT READY, becoming ready) this many times.
    pub not_ready: u32,
    /// Once: the data phase of this opcode stalls and the CSW says failed with this sense.
    pub stall: Option<(u8, Sense)>,
    /// Once: this opcode fails (CSW failed) with this sense, without a stall.
    pub fail: Option<(u8, Sense)>,
    /// The device is unplugged when this many bulk transfers have happened.
    pub unplug_after: Option<usize>,
    /// Once: the CSW of this opcode has a bad signature.
    pub bad_signature_on: Option<u8>,
    /// Once: the CSW of this opcode has the wrong tag.
    pub bad_tag_on: Option<u8>,
    /// READ CAPACITY (10) answers 0xFFFFFFFF (so the driver must use (16)).
    pub force_rc16: bool,
    /// Once: this opcode is never answered (the device NAKs until reset).
    pub hang_on: Option<u8>,
    /// Once: the CSW of this opcode reports a phase error.
    pub phase_error_on: Option<u8>,
    pub sense: Sense,
    pub resets: usize,
    pub syncs: usize,
    pub commands: Vec<Cdb>,
    pub bulk_transfers: usize,
    state: Bot,
}

enum Bot {
    Idle,
    DataIn(Vec<u8>, Csw),
    DataOut {
        cbw: Cbw,
        got: Vec<u8>,
    },
    /// The data phase stalls (on either pipe), then the CSW.
    StallData(Csw),
    Status(Csw),
}

impl FakeMsc {
    /// A disk of `blocks` blocks of `block_size` bytes, with a recognisable pattern.
    pub fn new(blocks: usize, block_size: usize) -> Self {
        Self {
            data: (0..blocks * block_size)
                .map(|i| (i * 7 + i / 4096) as u8)
                .collect(),
            block_size,
            peripheral: 0,
            vendor: "PandaGen",
            product: "Fake Flash",
            not_ready: 0,
            stall: None,
            fail: None,
            unplug_after: None,
            bad_signature_on: None,
            bad_tag_on: None,
            force_rc16: false,
            hang_on: None,
            phase_error_on: None,
            sense: Sense::default(),
            resets: 0,
            syncs: 0,
            commands: Vec::new(),
            bulk_transfers: 0,
            state: Bot::Idle,
        }
    }

    /// The opcodes received, in order.
    pub fn opcodes(&self) -> Vec<u8> {
        self.commands.iter().map(Cdb::opcode).collect()
    }

    fn blocks(&self) -> u64 {
        (self.data.len() / self.block_size) as u64
    }

    /// Runs a CBW: sets up the data and status phases.
    fn execute(&mut self, cbw: Cbw) {
        let op = cbw.cdb.opcode();
        self.commands.push(cbw.cdb);
        let mut csw = Csw {
            tag: cbw.tag,
            residue: 0,
            status: csw_status::PASSED,
        };
        if self.hang_on == Some(op) {
            self.hang_on = None;
            self.state = Bot::Idle;
            return;
        }
        if self.stall.is_some_and(|(o, _)| o == op) {
            let (_, sense) = self.stall.take().unwrap_or_default();
            self.sense = sense;
            csw.status = csw_status::FAILED;
            csw.residue = cbw.data_len;
            self.state = if cbw.data_len > 0 {
                Bot::StallData(csw)
            } else {
                Bot::Status(csw)
            };
            return;
        }
        if self.fail.is_some_and(|(o, _)| o == op) {
            let (_, sense) = self.fail.take().unwrap_or_default();
            self.failed(csw, sense, cbw.data_len);
            return;
        }
        let bs = self.block_size;
        let answer: Vec<u8> = match op {
            scsi::INQUIRY => {
                let mut d = vec![0u8; 36];
                d[0] = self.peripheral;
                d[1] = 0x80;
                d[2] = 6;
                d[3] = 2;
                d[4] = 31;
                put(&mut d[8..16], self.vendor);
                put(&mut d[16..32], self.product);
                put(&mut d[32..36], "1.0");
                d
            }
            scsi::TEST_UNIT_READY => {
                if self.not_ready > 0 {
                    self.not_ready -= 1;
                    let sense = Sense {
                        key: key::NOT_READY,
                        asc: 0x04,
                        ascq: 0x01,
                    };
                    self.failed(csw, sense, 0);
                    return;
                }
                Vec::new()
            }
            scsi::REQUEST_SENSE => {
                let d = self.sense.to_fixed().to_vec();
                self.sense = Sense::default();
                d
            }
            scsi::READ_CAPACITY_10 => {
                let last = if self.force_rc16 {
                    u32::MAX
                } else {
                    (self.blocks() - 1) as u32
                };
                let mut d = last.to_be_bytes().to_vec();
                d.extend_from_slice(&(bs as u32).to_be_bytes());
                d
            }
            scsi::SERVICE_ACTION_IN_16 => {
                let mut d = (self.blocks() - 1).to_be_bytes().to_vec();
                d.extend_from_slice(&(bs as u32).to_be_bytes());
                d.resize(32, 0);
                d
            }
            scsi::READ_10 | scsi::READ_16 | scsi::WRITE_10 | scsi::WRITE_16 => {
                let (lba, n) = cbw.cdb.lba_and_blocks().unwrap_or((0, 0));
                if lba + u64::from(n) > self.blocks() {
                    let sense = Sense {
                        key: key::ILLEGAL_REQUEST,
                        asc: 0x21,
                        ascq: 0,
                    };
                    self.failed(csw, sense, cbw.data_len);
                    return;
                }
                let range = lba as usize * bs..(lba as usize + n as usize) * bs;
                if matches!(op, scsi::WRITE_10 | scsi::WRITE_16) {
                    self.state = Bot::DataOut {
                        cbw,
                        got: Vec::new(),
                    };
                    return;
                }
                self.data[range].to_vec()
            }
            scsi::SYNCHRONIZE_CACHE_10 => {
                self.syncs += 1;
                Vec::new()
            }
            _ => {
                let sense = Sense {
                    key: key::ILLEGAL_REQUEST,
                    asc: 0x20,
                    ascq: 0,
                };
                self.failed(csw, sense, cbw.data_len);
                return;
            }
        };
        if cbw.data_len == 0 || !cbw.data_in {
            self.state = Bot::Status(csw);
        } else {
            let n = answer.len().min(cbw.data_len as usize);
            csw.residue = cbw.data_len - n as u32;
            self.state = Bot::DataIn(answer[..n].to_vec(), csw);
        }
    }

    /// CSW failed with `sense`; a data phase stalls.
    fn failed(&mut self, mut csw: Csw, sense: Sense, data_len: u32) {
        self.sense = sense;
        csw.status = csw_status::FAILED;
        csw.residue = data_len;
        self.state = if data_len > 0 {
            Bot::StallData(csw)
        } else {
            Bot::Status(csw)
        };
    }

    fn bulk_out(&mut self, data: &[u8]) -> Result<(), ()> {
        match core::mem::replace(&mut self.state, Bot::Idle) {
            Bot::Idle => match Cbw::parse(data) {
                Some(cbw) => {
                    self.execute(cbw);
                    Ok(())
                }
                None => Err(()),
            },
            Bot::DataOut { cbw, mut got } => {
                got.extend_from_slice(data);
                if got.len() >= cbw.data_len as usize {
                    let (lba, _) = cbw.cdb.lba_and_blocks().unwrap_or((0, 0));
                    let at = lba as usize * self.block_size;
                    let n = got.len().min(cbw.data_len as usize);
                    self.data[at..at + n].copy_from_slice(&got[..n]);
                    self.state = Bot::Status(Csw {
                        tag: cbw.tag,
                        residue: 0,
                        status: csw_status::PASSED,
                    });
                } else {
                    self.state = Bot::DataOut { cbw, got };
                }
                Ok(())
            }
            Bot::StallData(csw) => {
                self.state = Bot::Status(csw);
                Err(())
            }
            other => {
                self.state = other;
                Err(())
            }
        }
    }

    /// `Ok(None)` is a NAK: nothing to send.
    fn bulk_in(&mut self, max: usize) -> Result<Option<Vec<u8>>, ()> {
        match core::mem::replace(&mut self.state, Bot::Idle) {
            Bot::DataIn(mut d, csw) => {
                let rest = d.split_off(d.len().min(max));
                if rest.is_empty() {
                    self.state = Bot::Status(csw);
                } else {
                    self.state = Bot::DataIn(rest, csw);
                }
                Ok(Some(d))
            }
            Bot::StallData(csw) => {
                self.state = Bot::Status(csw);
                Err(())
            }
            Bot::Status(csw) => {
                let op = self.commands.last().map_or(0, Cdb::opcode);
                let mut b = csw.to_bytes();
                if self.bad_signature_on == Some(op) {
                    self.bad_signature_on = None;
                    b[0] = b'X';
                }
                if self.bad_tag_on == Some(op) {
                    self.bad_tag_on = None;
                    b[4] ^= 0x55;
                }
                if self.phase_error_on == Some(op) {
                    self.phase_error_on = None;
                    b[12] = csw_status::PHASE_ERROR;
                }
                Ok(Some(b.to_vec()))
            }
            other => {
                self.state = other;
                Ok(None)
            }
        }
    }
}

/// Space-padded ASCII.
fn put(field: &mut [u8], s: &str) {
    field.fill(b' ');
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s.as_bytes()[..n]);
}

pub enum Kind {
    Storage(alloc::boxed::Box<FakeMsc>),
    Keyboard(FakeKeyboard),
    Hub(FakeHub),
}

/// A boot keyboard's state and knobs.
#[derive(Debug, Default)]
pub struct FakeKeyboard {
    /// Reports not sent yet, oldest first.
    pub reports: VecDeque<Vec<u8>>,
    /// The protocol SET_PROTOCOL chose (`None`: never sent; 0 boot, 1 report).
    pub protocol: Option<u16>,
    /// SET_IDLE's wValue, once sent.
    pub idle: Option<u16>,
    /// Once: the next report's TD stalls.
    pub stall_next: bool,
    /// SET_PROTOCOL stalls.
    pub refuse_protocol: bool,
    /// SET_IDLE stalls (optional for keyboards: the driver goes on).
    pub refuse_idle: bool,
    /// Reports sent.
    pub sent: usize,
}

impl FakeKeyboard {
    /// A class request; `None` if `setup` is not one of the keyboard's.
    fn request(&mut self, setup: SetupPacket) -> Option<Result<Vec<u8>, ()>> {
        Some(match (setup.request_type, setup.request) {
            (0x21, 0x0b) if self.refuse_protocol => Err(()),
            (0x21, 0x0b) => {
                self.protocol = Some(setup.value);
                Ok(Vec::new())
            }
            (0x21, 0x0a) if self.refuse_idle => Err(()),
            (0x21, 0x0a) => {
                self.idle = Some(setup.value);
                Ok(Vec::new())
            }
            (0xa1, 0x03) => Ok(vec![self.protocol.unwrap_or(1) as u8]),
            _ => return None,
        })
    }

    /// The interrupt IN endpoint: the next report, `None` (NAK) if there is none, `Err` once
    /// for a stall.
    fn interrupt_in(&mut self, max: usize) -> Result<Option<Vec<u8>>, ()> {
        if core::mem::take(&mut self.stall_next) {
            return Err(());
        }
        Ok(self.reports.pop_front().map(|mut r| {
            r.truncate(max);
            self.sent += 1;
            r
        }))
    }
}

/// A USB 2.0 hub's ports.
pub struct FakeHub {
    pub ports: Vec<FakeHubPort>,
}

pub struct FakeHubPort {
    pub status: u16,
    pub change: u16,
    pub device: Option<FakeDevice>,
}

/// USB 2.0 hub port status bits the fake uses.
const HUB_CONNECTION: u16 = 1;
const HUB_ENABLE: u16 = 1 << 1;
const HUB_POWER: u16 = 1 << 8;

pub struct FakeDevice {
    pub speed: Speed,
    pub kind: Kind,
    pub device_descriptor: Vec<u8>,
    pub config_descriptor: Vec<u8>,
    pub configuration: u8,
    /// Endpoint addresses halted on the device's side (cleared by CLEAR_FEATURE).
    pub halted: Vec<u8>,
    pub requests: Vec<SetupPacket>,
}

/// bMaxPacketSize0 for a speed (full speed devices here use 64, so the driver must fix its
/// guess of 8 up).
fn max_packet0(speed: Speed) -> u8 {
    match speed {
        Speed::Super | Speed::SuperPlus => 9,
        Speed::Low => 8,
        _ => 64,
    }
}

fn bulk_max_packet(speed: Speed) -> u16 {
    match speed {
        Speed::Super | Speed::SuperPlus => 1024,
        Speed::High => 512,
        _ => 64,
    }
}

fn device_descriptor(speed: Speed, vendor: u16, product: u16) -> Vec<u8> {
    let usb: u16 = if matches!(speed, Speed::Super | Speed::SuperPlus) {
        0x0300
    } else {
        0x0200
    };
    let mut d = vec![18, dtype::DEVICE];
    d.extend_from_slice(&usb.to_le_bytes());
    d.extend_from_slice(&[0, 0, 0, max_packet0(speed)]);
    d.extend_from_slice(&vendor.to_le_bytes());
    d.extend_from_slice(&product.to_le_bytes());
    d.extend_from_slice(&[0x00, 0x01, 1, 2, 3, 1]);
    d
}

/// A configuration descriptor (value 1) with one interface and these endpoints (address,
/// attributes, max packet, interval), plus `extra` descriptors before the endpoints.
pub fn config_descriptor(
    iface: (u8, u8, u8),
    extra: &[u8],
    endpoints: &[(u8, u8, u16, u8)],
) -> Vec<u8> {
    let mut d = vec![9, dtype::CONFIGURATION, 0, 0, 1, 1, 0, 0x80, 50];
    d.extend_from_slice(&[
        9,
        dtype::INTERFACE,
        0,
        0,
        endpoints.len() as u8,
        iface.0,
        iface.1,
        iface.2,
        0,
    ]);
    d.extend_from_slice(extra);
    for &(address, attributes, mps, interval) in endpoints {
        d.extend_from_slice(&[7, dtype::ENDPOINT, address, attributes]);
        d.extend_from_slice(&mps.to_le_bytes());
        d.push(interval);
    }
    let total = d.len() as u16;
    d[2..4].copy_from_slice(&total.to_le_bytes());
    d
}

impl FakeDevice {
    /// A Bulk-Only SCSI mass storage device (interface 0, bulk IN 0x81, bulk OUT 0x02).
    pub fn storage(speed: Speed, msc: FakeMsc) -> Self {
        let mps = bulk_max_packet(speed);
        Self {
            speed,
            kind: Kind::Storage(alloc::boxed::Box::new(msc)),
            device_descriptor: device_descriptor(speed, 0x1234, 0x5678),
            config_descriptor: config_descriptor(
                (0x08, 0x06, 0x50),
                &[],
                &[(0x81, 2, mps, 0), (0x02, 2, mps, 0)],
            ),
            configuration: 0,
            halted: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// A boot-protocol keyboard (HID descriptor, interrupt IN 0x81) with no report queued.
    pub fn keyboard(speed: Speed) -> Self {
        let hid = [9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0];
        Self {
            speed,
            kind: Kind::Keyboard(FakeKeyboard::default()),
            device_descriptor: device_descriptor(speed, 0x046d, 0xc31c),
            config_descriptor: config_descriptor((0x03, 0x01, 0x01), &hid, &[(0x81, 3, 8, 10)]),
            configuration: 0,
            halted: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// A USB 2.0 hub (`protocol` 1: single TT, 2: multi TT) with these devices on its ports.
    pub fn hub(speed: Speed, protocol: u8, devices: Vec<Option<FakeDevice>>) -> Self {
        let mut device_descriptor = device_descriptor(speed, 0x05e3, 0x0608);
        device_descriptor[4] = 9;
        device_descriptor[6] = protocol;
        Self {
            speed,
            kind: Kind::Hub(FakeHub {
                ports: devices
                    .into_iter()
                    .map(|device| FakeHubPort {
                        status: 0,
                        change: 0,
                        device,
                    })
                    .collect(),
            }),
            device_descriptor,
            config_descriptor: config_descriptor((9, 0, 0), &[], &[(0x81, 3, 1, 12)]),
            configuration: 0,
            halted: Vec::new(),
            requests: Vec::new(),
        }
    }

    pub fn msc(&mut self) -> Option<&mut FakeMsc> {
        match &mut self.kind {
            Kind::Storage(m) => Some(m),
            _ => None,
        }
    }

    pub fn keyboard_state(&mut self) -> Option<&mut FakeKeyboard> {
        match &mut self.kind {
            Kind::Keyboard(k) => Some(k),
            _ => None,
        }
    }

    /// Hub class requests; `None` if `setup` is not one.
    fn hub_request(&mut self, setup: SetupPacket) -> Option<Result<Vec<u8>, ()>> {
        let Kind::Hub(hub) = &mut self.kind else {
            return None;
        };
        let port = usize::from(setup.index);
        let in_range = (1..=hub.ports.len()).contains(&port);
        Some(match (setup.request_type, setup.request) {
            (0xa0, request::GET_DESCRIPTOR) if setup.value >> 8 == 0x29 => {
                let n = hub.ports.len() as u8;
                // Individual power switching, TT think time 2 (bits 6:5), 100 ms to power good.
                let d = vec![9, 0x29, n, 0x41, 0x00, 50, 100, 0, 0xff];
                Ok(d[..d.len().min(usize::from(setup.length))].to_vec())
            }
            (0xa3, 0x00) if in_range => {
                let p = &hub.ports[port - 1];
                let mut d = p.status.to_le_bytes().to_vec();
                d.extend_from_slice(&p.change.to_le_bytes());
                Ok(d)
            }
            (0x23, 0x03) if in_range => {
                let p = &mut hub.ports[port - 1];
                match setup.value {
                    8 => {
                        p.status |= HUB_POWER;
                        if p.device.is_some() {
                            p.status |= HUB_CONNECTION;
                            p.change |= 1;
                        }
                        Ok(Vec::new())
                    }
                    4 => {
                        if let Some(d) = &p.device {
                            p.status |= HUB_ENABLE;
                            p.status &= !(3 << 9);
                            p.status |= match d.speed {
                                Speed::Low => 1 << 9,
                                Speed::High => 1 << 10,
                                _ => 0,
                            };
                        }
                        p.change |= 1 << 4;
                        Ok(Vec::new())
                    }
                    _ => Err(()),
                }
            }
            (0x23, 0x01) if in_range => {
                let p = &mut hub.ports[port - 1];
                match setup.value {
                    16 => p.change &= !1,
                    17 => p.change &= !2,
                    20 => p.change &= !(1 << 4),
                    _ => return Some(Err(())),
                }
                Ok(Vec::new())
            }
            _ => return None,
        })
    }

    /// A control request: the IN data, or `Err` for a STALL.
    fn control(&mut self, setup: SetupPacket, _out: &[u8]) -> Result<Vec<u8>, ()> {
        self.requests.push(setup);
        if let Some(answer) = self.hub_request(setup) {
            return answer;
        }
        if let Some(answer) = self.keyboard_state().and_then(|k| k.request(setup)) {
            return answer;
        }
        let len = usize::from(setup.length);
        match (setup.request_type, setup.request) {
            (0x80, request::GET_DESCRIPTOR) => {
                let d = match (setup.value >> 8) as u8 {
                    dtype::DEVICE => &self.device_descriptor,
                    dtype::CONFIGURATION => &self.config_descriptor,
                    _ => return Err(()),
                };
                Ok(d[..d.len().min(len)].to_vec())
            }
            (0x00, request::SET_CONFIGURATION) => {
                self.configuration = setup.value as u8;
                Ok(Vec::new())
            }
            (0x02, request::CLEAR_FEATURE) if setup.value == request::ENDPOINT_HALT => {
                self.halted.retain(|&e| e != setup.index as u8);
                Ok(Vec::new())
            }
            (0x21, request::BOT_RESET) => match self.msc() {
                Some(m) => {
                    m.resets += 1;
                    m.state = Bot::Idle;
                    Ok(Vec::new())
                }
                None => Err(()),
            },
            (0xa1, request::GET_MAX_LUN) => Ok(vec![0]),
            _ => Err(()),
        }
    }

    fn bulk_out(&mut self, ep: u8, data: &[u8]) -> Result<(), ()> {
        if self.halted.contains(&ep) {
            return Err(());
        }
        let result = match self.msc() {
            Some(m) => m.bulk_out(data),
            None => Err(()),
        };
        if result.is_err() {
            self.halted.push(ep);
        }
        result
    }

    fn bulk_in(&mut self, ep: u8, max: usize) -> Result<Option<Vec<u8>>, ()> {
        if self.halted.contains(&ep) {
            return Err(());
        }
        let result = match &mut self.kind {
            Kind::Storage(m) => m.bulk_in(max),
            Kind::Keyboard(k) => k.interrupt_in(max),
            Kind::Hub(_) => Ok(None),
        };
        if result.is_err() {
            self.halted.push(ep);
        }
        result
    }
}

pub struct FakePort {
    pub portsc: u32,
    pub usb3: bool,
    pub device: Option<FakeDevice>,
}

/// One transfer descriptor the controller ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Td {
    pub slot: u8,
    pub dci: u8,
    pub trbs: usize,
    pub bytes: usize,
}

pub struct FakeXhci {
    pub max_slots: u8,
    pub scratchpads: u16,
    pub csz: bool,
    pub ac64: bool,
    pub ppc: bool,
    /// USB Legacy Support present, the firmware owning the controller, and whether it lets go.
    pub legacy: bool,
    pub bios_owned: bool,
    pub bios_releases: bool,
    pub os_owned: bool,
    pub legctl: u32,
    /// No device answers: every register reads all ones.
    pub absent: bool,
    /// HCRST never clears.
    pub reset_stuck: bool,
    /// PR never completes.
    pub port_reset_stuck: bool,
    /// Commands are never completed.
    pub commands_hang: bool,
    pub usbcmd: u32,
    pub usbsts: u32,
    pub config: u32,
    pub dcbaap: u64,
    pub resets: usize,
    pub ports: Vec<FakePort>,
    pub slots: BTreeMap<u8, FakeSlot>,
    /// Command TRB types run, in order.
    pub commands: Vec<u8>,
    pub tds: Vec<Td>,
    /// Normal TRBs that crossed a 64 KiB boundary (must stay 0).
    pub boundary_violations: usize,
    pub ep0_max_packet: BTreeMap<u8, u16>,
    crcr_lo: u32,
    cmd_dequeue: u64,
    cmd_cycle: bool,
    dcbaap_lo: u32,
    iman: u32,
    erstsz: u32,
    erstba_lo: u32,
    erstba: u64,
    erdp_lo: u32,
    pub erdp: u64,
    ev_base: u64,
    ev_size: usize,
    ev_enqueue: usize,
    ev_cycle: bool,
    pub events_written: usize,
    /// Events dropped because the event ring was full (the driver did not move ERDP).
    pub events_lost: usize,
    /// Once: when the next bulk TD runs, this report is sent by the keyboard on this root port
    /// first (its completion event lands before the bulk TD's).
    pub report_during_next_bulk: Option<(u8, Vec<u8>)>,
    pub dma: FakeDma,
}

impl Default for FakeXhci {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeXhci {
    /// A halted controller with 8 slots, 2 scratchpads, 32-byte contexts, 64-bit DMA and four
    /// ports: 1-2 USB 2, 3-4 USB 3. No legacy capability owner.
    pub fn new() -> Self {
        Self {
            max_slots: 8,
            scratchpads: 2,
            csz: false,
            ac64: true,
            ppc: false,
            legacy: true,
            bios_owned: false,
            bios_releases: true,
            os_owned: false,
            legctl: 0,
            absent: false,
            reset_stuck: false,
            port_reset_stuck: false,
            commands_hang: false,
            usbcmd: 0,
            usbsts: op::STS_HCH,
            config: 0,
            dcbaap: 0,
            resets: 0,
            ports: (0..4)
                .map(|i| FakePort {
                    portsc: portsc::PP,
                    usb3: i >= 2,
                    device: None,
                })
                .collect(),
            slots: BTreeMap::new(),
            commands: Vec::new(),
            tds: Vec::new(),
            boundary_violations: 0,
            ep0_max_packet: BTreeMap::new(),
            crcr_lo: 0,
            cmd_dequeue: 0,
            cmd_cycle: true,
            dcbaap_lo: 0,
            iman: 0,
            erstsz: 0,
            erstba_lo: 0,
            erstba: 0,
            erdp_lo: 0,
            erdp: 0,
            ev_base: 0,
            ev_size: 0,
            ev_enqueue: 0,
            ev_cycle: true,
            events_written: 0,
            events_lost: 0,
            report_during_next_bulk: None,
            dma: FakeDma::new(),
        }
    }

    pub fn into_hal(self) -> FakeHal {
        Shared::new(self)
    }

    /// Connects `device` to root port `port` (1-based). A USB 3 port enables itself; a USB 2
    /// port waits for a reset.
    pub fn attach(&mut self, port: u8, device: FakeDevice) {
        let p = &mut self.ports[usize::from(port) - 1];
        let mut v = (p.portsc & portsc::PP) | portsc::CCS | portsc::CSC;
        if p.usb3 {
            v |= portsc::PED | u32::from(device.speed.psi()) << portsc::SPEED_SHIFT;
        }
        p.portsc = v;
        p.device = Some(device);
        self.port_event(port);
    }

    /// Disconnects the device on `port`.
    pub fn detach(&mut self, port: u8) -> Option<FakeDevice> {
        let p = &mut self.ports[usize::from(port) - 1];
        p.portsc = (p.portsc & portsc::PP) | portsc::CSC | portsc::PEC;
        let d = p.device.take();
        self.port_event(port);
        d
    }

    pub fn device(&mut self, port: u8) -> Option<&mut FakeDevice> {
        self.ports[usize::from(port) - 1].device.as_mut()
    }

    pub fn msc(&mut self, port: u8) -> Option<&mut FakeMsc> {
        self.device(port).and_then(FakeDevice::msc)
    }

    /// Queues `report` on the keyboard on root port `port` and runs its interrupt endpoints
    /// (a TD waiting there completes now).
    pub fn send_report(&mut self, port: u8, report: &[u8]) {
        let Some(k) = self.device(port).and_then(FakeDevice::keyboard_state) else {
            return;
        };
        k.reports.push_back(report.to_vec());
        let endpoints: Vec<(u8, u8)> = self
            .slots
            .iter()
            .filter(|(_, s)| s.port == port && s.route == 0)
            .flat_map(|(&slot, s)| {
                s.eps
                    .iter()
                    .filter(|(_, e)| e.ep_type == ep_type::INTERRUPT_IN)
                    .map(move |(&dci, _)| (slot, dci))
            })
            .collect();
        for (slot, dci) in endpoints {
            self.transfer(slot, dci);
        }
    }

    /// The device at `route` below root port `port` (through enabled hub ports only).
    pub fn device_at(&mut self, port: u8, route: u32) -> Option<&mut FakeDevice> {
        let mut d = self
            .ports
            .get_mut(usize::from(port).checked_sub(1)?)?
            .device
            .as_mut()?;
        let mut r = route;
        while r & 0xf != 0 {
            let n = (r & 0xf) as usize;
            let Kind::Hub(h) = &mut d.kind else {
                return None;
            };
            let p = h.ports.get_mut(n - 1)?;
            if p.status & HUB_ENABLE == 0 {
                return None;
            }
            d = p.device.as_mut()?;
            r >>= 4;
        }
        Some(d)
    }

    /// Unplugs the device at `route` below `port` (a hub port: connection and enable drop).
    pub fn unplug(&mut self, port: u8, route: u32) {
        if route == 0 {
            self.detach(port);
            return;
        }
        let (parent, last) = {
            let tier = (32 - route.leading_zeros()).div_ceil(4);
            let shift = 4 * (tier - 1);
            (route & !(0xf << shift), (route >> shift) & 0xf)
        };
        if let Some(FakeDevice {
            kind: Kind::Hub(h), ..
        }) = self.device_at(port, parent)
        {
            if let Some(p) = h.ports.get_mut(last as usize - 1) {
                p.device = None;
                p.status &= !(HUB_CONNECTION | HUB_ENABLE);
                p.change |= 1;
            }
        }
    }

    fn port_event(&mut self, port: u8) {
        if self.usbcmd & op::CMD_RUN != 0 {
            let trb = Trb::new(
                trb_type::PORT_STATUS_CHANGE,
                u64::from(port) << 24,
                u32::from(code::SUCCESS) << 24,
                0,
            );
            self.post(trb);
        }
    }

    fn read(&mut self, offset: usize) -> u32 {
        assert_eq!(offset % 4, 0, "unaligned register read {offset:#x}");
        self.dma.tick();
        if self.absent {
            return u32::MAX;
        }
        let ports = OP + op::PORTS..OP + op::PORTS + 0x10 * self.ports.len();
        match offset {
            0x00 => CAP_LENGTH as u32 | 0x0120 << 16,
            0x04 => u32::from(self.max_slots) | 1 << 8 | (self.ports.len() as u32) << 24,
            0x08 => {
                let s = u32::from(self.scratchpads);
                (s & 0x1f) << 27 | (s >> 5) << 21 | 1 << 4
            }
            0x0c => 0,
            0x10 => {
                u32::from(self.ac64)
                    | u32::from(self.csz) << 2
                    | u32::from(self.ppc) << 3
                    | ((XECP / 4) as u32) << 16
            }
            0x14 => DBOFF as u32,
            0x18 => RTSOFF as u32,
            o if o == OP + op::USBCMD => self.usbcmd,
            o if o == OP + op::USBSTS => self.usbsts,
            o if o == OP + op::PAGESIZE => 1,
            o if o == OP + op::CONFIG => self.config,
            o if o == OP + op::DCBAAP => self.dcbaap as u32,
            o if o == OP + op::DCBAAP + 4 => (self.dcbaap >> 32) as u32,
            o if ports.contains(&o) && (o - ports.start) % 0x10 == 0 => {
                self.ports[(o - ports.start) / 0x10].portsc
            }
            XECP if self.legacy => {
                u32::from(ext::LEGACY)
                    | 4 << 8
                    | if self.bios_owned { ext::BIOS_OWNED } else { 0 }
                    | if self.os_owned { ext::OS_OWNED } else { 0 }
            }
            o if o == XECP + 4 && self.legacy => self.legctl,
            // Supported Protocol: USB 2.0 ports 1-2, then USB 3.0 ports 3-4.
            o if o == XECP + 0x10 => 0x0200_0000 | 4 << 8 | u32::from(ext::PROTOCOL),
            o if o == XECP + 0x14 => u32::from_le_bytes(*b"USB "),
            o if o == XECP + 0x18 => 1 | 2 << 8,
            o if o == XECP + 0x20 => 0x0300_0000 | u32::from(ext::PROTOCOL),
            o if o == XECP + 0x24 => u32::from_le_bytes(*b"USB "),
            o if o == XECP + 0x28 => 3 | 2 << 8,
            o if o == IR0 + rt::IMAN => self.iman,
            o if o == IR0 + rt::ERSTSZ => self.erstsz,
            o if o == IR0 + rt::ERSTBA => self.erstba as u32,
            o if o == IR0 + rt::ERDP => self.erdp as u32,
            o if o == IR0 + rt::ERDP + 4 => (self.erdp >> 32) as u32,
            _ => 0,
        }
    }

    fn write(&mut self, offset: usize, v: u32) {
        assert_eq!(offset % 4, 0, "unaligned register write {offset:#x}");
        let ports = OP + op::PORTS..OP + op::PORTS + 0x10 * self.ports.len();
        match offset {
            o if o == OP + op::USBCMD => self.write_usbcmd(v),
            o if o == OP + op::USBSTS => {
                self.usbsts &= !(v & (op::STS_EINT | op::STS_PCD | op::STS_HSE))
            }
            o if o == OP + op::CONFIG => self.config = v,
            o if o == OP + op::DNCTRL => {}
            o if o == OP + op::CRCR => self.crcr_lo = v,
            // CRCR's pointer is only taken while the command ring is stopped.
            o if o == OP + op::CRCR + 4 && self.usbcmd & op::CMD_RUN == 0 => {
                let crcr = u64::from(self.crcr_lo) | u64::from(v) << 32;
                self.cmd_dequeue = crcr & !0x3f;
                self.cmd_cycle = crcr & 1 != 0;
            }
            o if o == OP + op::DCBAAP => self.dcbaap_lo = v,
            o if o == OP + op::DCBAAP + 4 => {
                self.dcbaap = u64::from(self.dcbaap_lo) | u64::from(v) << 32
            }
            o if ports.contains(&o) && (o - ports.start) % 0x10 == 0 => {
                self.write_portsc(((o - ports.start) / 0x10) as u8 + 1, v)
            }
            XECP if self.legacy => {
                self.os_owned = v & ext::OS_OWNED != 0;
                if v & ext::BIOS_OWNED == 0 && self.os_owned && !self.bios_releases {
                    // The OS clears the firmware's semaphore by force.
                    self.bios_owned = false;
                }
                if self.os_owned && self.bios_releases {
                    self.bios_owned = false;
                }
            }
            o if o == XECP + 4 && self.legacy => {
                // Events are write-1-to-clear, the rest read/write.
                let events = self.legctl & ext::LEGCTL_SMI_EVENTS & !v;
                self.legctl = (v & !ext::LEGCTL_SMI_EVENTS) | events
            }
            o if o == IR0 + rt::IMAN => {
                self.iman = (self.iman & !(v & rt::IMAN_IP)) & !1 | (v & rt::IMAN_IE)
            }
            o if o == IR0 + rt::ERSTSZ => self.erstsz = v,
            o if o == IR0 + rt::ERSTBA => self.erstba_lo = v,
            o if o == IR0 + rt::ERSTBA + 4 => {
                self.erstba = u64::from(self.erstba_lo) | u64::from(v) << 32;
                let entry = self.dma.read_mem(self.erstba, 16);
                self.ev_base = u64::from_le_bytes(entry[0..8].try_into().unwrap_or([0; 8]));
                self.ev_size =
                    u32::from_le_bytes(entry[8..12].try_into().unwrap_or([0; 4])) as usize;
                self.ev_enqueue = 0;
                self.ev_cycle = true;
            }
            o if o == IR0 + rt::ERDP => self.erdp_lo = v,
            o if o == IR0 + rt::ERDP + 4 => {
                self.erdp = (u64::from(self.erdp_lo) | u64::from(v) << 32) & !0xf
            }
            o if (DBOFF..DBOFF + 4 * 256).contains(&o) => self.doorbell(((o - DBOFF) / 4) as u8, v),
            _ => {}
        }
    }

    fn write_usbcmd(&mut self, v: u32) {
        if v & op::CMD_HCRST != 0 {
            self.resets += 1;
            if self.reset_stuck {
                self.usbcmd = op::CMD_HCRST;
                return;
            }
            self.usbcmd = 0;
            self.usbsts = op::STS_HCH;
            self.slots.clear();
            self.config = 0;
            self.dcbaap = 0;
            self.ev_size = 0;
            return;
        }
        self.usbcmd = v;
        if v & op::CMD_RUN != 0 {
            self.usbsts &= !op::STS_HCH;
        } else {
            self.usbsts |= op::STS_HCH;
        }
    }

    fn write_portsc(&mut self, port: u8, v: u32) {
        let stuck = self.port_reset_stuck;
        let p = &mut self.ports[usize::from(port) - 1];
        p.portsc &= !(v & portsc::CHANGE_BITS);
        if v & portsc::PED != 0 {
            p.portsc &= !portsc::PED;
        }
        if self.ppc {
            p.portsc = (p.portsc & !portsc::PP) | (v & portsc::PP);
        }
        if v & portsc::PR != 0 {
            if stuck {
                p.portsc |= portsc::PR;
            } else if let Some(d) = &p.device {
                p.portsc &= !(portsc::PR | portsc::SPEED_MASK);
                p.portsc |=
                    portsc::PED | portsc::PRC | u32::from(d.speed.psi()) << portsc::SPEED_SHIFT;
            } else {
                p.portsc |= portsc::PRC;
            }
        }
    }

    /// Writes an event TRB with the producer cycle bit.
    fn post(&mut self, mut trb: Trb) {
        if self.ev_size == 0 {
            return;
        }
        // Full when the slot after the enqueue pointer is the one ERDP says the driver will
        // read next: the event is lost (counted), as a real controller would stop.
        let dequeue = (self.erdp.wrapping_sub(self.ev_base) / TRB_BYTES as u64) as usize;
        if (self.ev_enqueue + 1) % self.ev_size == dequeue {
            self.events_lost += 1;
            return;
        }
        trb.control = (trb.control & !ctrl::CYCLE) | u32::from(self.ev_cycle);
        let at = self.ev_base + (self.ev_enqueue * TRB_BYTES) as u64;
        self.dma.write_mem(at, &trb.to_bytes());
        self.events_written += 1;
        self.ev_enqueue += 1;
        if self.ev_enqueue == self.ev_size {
            self.ev_enqueue = 0;
            self.ev_cycle = !self.ev_cycle;
        }
        self.usbsts |= op::STS_EINT;
        self.iman |= rt::IMAN_IP;
    }

    fn read_trb(&self, at: u64) -> Trb {
        let b = self.dma.read_mem(at, TRB_BYTES);
        let mut a = [0u8; TRB_BYTES];
        a.copy_from_slice(&b);
        Trb::from_bytes(&a)
    }

    /// The TRB at `*ptr` if its cycle bit is `*cycle`, following Link TRBs; advances.
    fn next_trb(&self, ptr: &mut u64, cycle: &mut bool) -> Option<(u64, Trb)> {
        for _ in 0..2 {
            let trb = self.read_trb(*ptr);
            if trb.cycle() != *cycle {
                return None;
            }
            if trb.trb_type() == trb_type::LINK {
                if trb.control & ctrl::TC != 0 {
                    *cycle = !*cycle;
                }
                *ptr = trb.parameter & !0xf;
                continue;
            }
            let at = *ptr;
            *ptr += TRB_BYTES as u64;
            return Some((at, trb));
        }
        None
    }

    fn doorbell(&mut self, target: u8, v: u32) {
        if self.usbcmd & op::CMD_RUN == 0 || self.usbsts & (op::STS_HCH | op::STS_HSE) != 0 {
            return;
        }
        if target == 0 {
            if self.commands_hang {
                return;
            }
            let (mut ptr, mut cycle) = (self.cmd_dequeue, self.cmd_cycle);
            while let Some((at, trb)) = self.next_trb(&mut ptr, &mut cycle) {
                self.cmd_dequeue = ptr;
                self.cmd_cycle = cycle;
                let (code, slot) = self.command(trb);
                self.commands.push(trb.trb_type());
                let ev = Trb::new(
                    trb_type::COMMAND_COMPLETION,
                    at,
                    u32::from(code) << 24,
                    u32::from(slot) << 24,
                );
                self.post(ev);
            }
        } else {
            self.transfer(target, (v & 0xff) as u8);
        }
    }

    fn csz(&self) -> usize {
        if self.csz {
            64
        } else {
            32
        }
    }

    fn read_ctx(&self, base: u64, index: usize) -> Vec<u8> {
        self.dma.read_mem(base + (index * self.csz()) as u64, 20)
    }

    fn write_output(&mut self, slot: u8, index: usize, dwords: &[u32]) {
        let entry = self.dma.read_mem(self.dcbaap + u64::from(slot) * 8, 8);
        let out = u64::from_le_bytes(entry.try_into().unwrap_or([0; 8]));
        if out != 0 {
            let at = out + (index * self.csz()) as u64;
            self.dma
                .write_mem(at, &super::proto::dwords_to_bytes(dwords));
        }
    }

    /// Runs a command; answers the completion code and slot ID.
    fn command(&mut self, trb: Trb) -> (u8, u8) {
        let slot = trb.slot_id();
        let dci = trb.endpoint_id();
        match trb.trb_type() {
            trb_type::ENABLE_SLOT => {
                let max = (self.config & 0xff) as u8;
                match (1..=max).find(|s| !self.slots.contains_key(s)) {
                    Some(s) => {
                        self.slots.insert(
                            s,
                            FakeSlot {
                                port: 0,
                                route: 0,
                                ctx: SlotContext::default(),
                                eps: BTreeMap::new(),
                                configured: false,
                            },
                        );
                        (code::SUCCESS, s)
                    }
                    None => (code::NO_SLOTS, 0),
                }
            }
            trb_type::DISABLE_SLOT => match self.slots.remove(&slot) {
                Some(_) => (code::SUCCESS, slot),
                None => (code::SLOT_NOT_ENABLED, slot),
            },
            trb_type::ADDRESS_DEVICE => (self.address_device(slot, trb.parameter), slot),
            trb_type::EVALUATE_CONTEXT => {
                let input = trb.parameter;
                let icc = super::proto::bytes_to_dwords::<2>(&self.read_ctx(input, 0));
                let ep0 = EndpointContext::from_dwords(super::proto::bytes_to_dwords(
                    &self.read_ctx(input, 2),
                ));
                match self.slots.get_mut(&slot).and_then(|s| s.eps.get_mut(&1)) {
                    Some(ep) if icc[1] & 2 != 0 => {
                        ep.max_packet = ep0.max_packet;
                        self.ep0_max_packet.insert(slot, ep0.max_packet);
                        (code::SUCCESS, slot)
                    }
                    Some(_) => (code::SUCCESS, slot),
                    None => (code::SLOT_NOT_ENABLED, slot),
                }
            }
            trb_type::CONFIGURE_ENDPOINT => (self.configure(slot, trb.parameter), slot),
            trb_type::RESET_ENDPOINT => match self.ep(slot, dci) {
                Some(ep) if ep.state == EpState::Halted => {
                    ep.state = EpState::Stopped;
                    (code::SUCCESS, slot)
                }
                Some(_) => (code::CONTEXT_STATE, slot),
                None => (code::ENDPOINT_NOT_ENABLED, slot),
            },
            trb_type::STOP_ENDPOINT => match self.ep(slot, dci) {
                Some(ep) if ep.state == EpState::Running => {
                    ep.state = EpState::Stopped;
                    (code::SUCCESS, slot)
                }
                Some(_) => (code::CONTEXT_STATE, slot),
                None => (code::ENDPOINT_NOT_ENABLED, slot),
            },
            trb_type::SET_TR_DEQUEUE => match self.ep(slot, dci) {
                Some(ep) if ep.state == EpState::Stopped => {
                    ep.dequeue = trb.parameter & !0xf;
                    ep.cycle = trb.parameter & 1 != 0;
                    (code::SUCCESS, slot)
                }
                Some(_) => (code::CONTEXT_STATE, slot),
                None => (code::ENDPOINT_NOT_ENABLED, slot),
            },
            trb_type::NOOP_COMMAND => (code::SUCCESS, 0),
            _ => (code::TRB, 0),
        }
    }

    fn ep(&mut self, slot: u8, dci: u8) -> Option<&mut FakeEp> {
        self.slots.get_mut(&slot)?.eps.get_mut(&dci)
    }

    fn address_device(&mut self, slot: u8, input: u64) -> u8 {
        if !self.slots.contains_key(&slot) {
            return code::SLOT_NOT_ENABLED;
        }
        let icc = super::proto::bytes_to_dwords::<2>(&self.read_ctx(input, 0));
        if icc[1] & 3 != 3 {
            return code::PARAMETER;
        }
        let sc = SlotContext::from_dwords(super::proto::bytes_to_dwords(&self.read_ctx(input, 1)));
        let ep0 =
            EndpointContext::from_dwords(super::proto::bytes_to_dwords(&self.read_ctx(input, 2)));
        let port = sc.root_port;
        let present = (1..=self.ports.len() as u8).contains(&port)
            && self.ports[usize::from(port) - 1].portsc & portsc::PED != 0
            && self.device_at(port, sc.route).is_some();
        if !present || ep0.ep_type != ep_type::CONTROL {
            return code::TRANSACTION;
        }
        self.ep0_max_packet.insert(slot, ep0.max_packet);
        if let Some(s) = self.slots.get_mut(&slot) {
            s.port = port;
            s.route = sc.route;
            s.ctx = sc;
            s.eps.insert(
                1,
                FakeEp {
                    dequeue: ep0.dequeue & !0xf,
                    cycle: ep0.dequeue & 1 != 0,
                    state: EpState::Running,
                    ep_type: ep_type::CONTROL,
                    max_packet: ep0.max_packet,
                    interval: 0,
                },
            );
        }
        let out = SlotContext {
            address: slot,
            state: 2,
            ..sc
        };
        self.write_output(slot, 0, &out.to_dwords());
        let ep_out = EndpointContext { state: 1, ..ep0 };
        self.write_output(slot, 1, &ep_out.to_dwords());
        code::SUCCESS
    }

    fn configure(&mut self, slot: u8, input: u64) -> u8 {
        let icc = super::proto::bytes_to_dwords::<2>(&self.read_ctx(input, 0));
        let mut contexts = Vec::new();
        for dci in 2..32u8 {
            if icc[1] & 1 << dci != 0 {
                let ctx = EndpointContext::from_dwords(super::proto::bytes_to_dwords(
                    &self.read_ctx(input, 1 + usize::from(dci)),
                ));
                if ctx.max_packet == 0 || ctx.ep_type == 0 {
                    return code::PARAMETER;
                }
                contexts.push((dci, ctx));
            }
        }
        let sc = SlotContext::from_dwords(super::proto::bytes_to_dwords(&self.read_ctx(input, 1)));
        let Some(s) = self.slots.get_mut(&slot) else {
            return code::SLOT_NOT_ENABLED;
        };
        if s.port == 0 || sc.route != s.route || sc.root_port != s.port {
            return code::CONTEXT_STATE;
        }
        s.configured = true;
        s.ctx = sc;
        for &(dci, ctx) in &contexts {
            s.eps.insert(
                dci,
                FakeEp {
                    dequeue: ctx.dequeue & !0xf,
                    cycle: ctx.dequeue & 1 != 0,
                    state: EpState::Running,
                    ep_type: ctx.ep_type,
                    max_packet: ctx.max_packet,
                    interval: ctx.interval,
                },
            );
        }
        for (dci, ctx) in contexts {
            let out = EndpointContext { state: 1, ..ctx };
            self.write_output(slot, usize::from(dci), &out.to_dwords());
        }
        code::SUCCESS
    }

    fn transfer_event(&mut self, slot: u8, dci: u8, at: u64, code: u8, residue: usize) {
        let trb = Trb::new(
            trb_type::TRANSFER_EVENT,
            at,
            u32::from(code) << 24 | residue as u32,
            u32::from(slot) << 24 | u32::from(dci) << 16,
        );
        self.post(trb);
    }

    /// Runs the TDs on `slot`'s endpoint `dci` until the ring is empty, the endpoint halts or
    /// the device NAKs.
    fn transfer(&mut self, slot: u8, dci: u8) {
        let Some((port, route)) = self.slots.get(&slot).map(|s| (s.port, s.route)) else {
            return;
        };
        let Some(ep) = self.ep(slot, dci) else {
            return;
        };
        match ep.state {
            EpState::Halted => return,
            EpState::Stopped => ep.state = EpState::Running,
            EpState::Running => {}
        }
        loop {
            let Some(ep) = self.ep(slot, dci).copied() else {
                return;
            };
            if ep.state != EpState::Running {
                return;
            }
            if port == 0 || self.ports[usize::from(port) - 1].device.is_none() {
                return;
            }
            let child_gone = self.device_at(port, route).is_none();
            // Collect one TD.
            let (mut ptr, mut cycle) = (ep.dequeue, ep.cycle);
            let mut td = Vec::new();
            loop {
                let Some((at, trb)) = self.next_trb(&mut ptr, &mut cycle) else {
                    return; // Empty or incomplete: wait for more.
                };
                td.push((at, trb));
                let end = if dci == 1 {
                    trb.trb_type() == trb_type::STATUS
                } else {
                    trb.control & ctrl::CH == 0
                };
                if end {
                    break;
                }
            }
            if child_gone {
                // Behind a hub that is still there: no handshake, so a transaction error.
                self.halt(slot, dci);
                self.transfer_event(slot, dci, td[0].0, code::TRANSACTION, 0);
                return;
            }
            let done = if dci == 1 {
                self.control_td(slot, port, route, &td)
            } else {
                self.bulk_td(slot, port, route, dci, &td)
            };
            if !done {
                return;
            }
            if let Some(ep) = self.ep(slot, dci) {
                ep.dequeue = ptr;
                ep.cycle = cycle;
            }
        }
    }

    fn halt(&mut self, slot: u8, dci: u8) {
        if let Some(ep) = self.ep(slot, dci) {
            ep.state = EpState::Halted;
        }
    }

    /// Runs a control TD; answers whether the endpoint moves past it.
    fn control_td(&mut self, slot: u8, port: u8, route: u32, td: &[(u64, Trb)]) -> bool {
        let setup = SetupPacket::from_u64(td[0].1.parameter);
        let data = td
            .iter()
            .find(|(_, t)| t.trb_type() == trb_type::DATA)
            .copied();
        let (status_at, _) = td[td.len() - 1];
        let out = match data {
            Some((_, t)) if t.control & ctrl::DIR_IN == 0 => self
                .dma
                .read_mem(t.parameter, (t.status & 0x1ffff) as usize),
            _ => Vec::new(),
        };
        let Some(device) = self.device_at(port, route) else {
            return false;
        };
        let answer = device.control(setup, &out);
        self.tds.push(Td {
            slot,
            dci: 1,
            trbs: td.len(),
            bytes: usize::from(setup.length),
        });
        match answer {
            Err(()) => {
                let at = data.map_or(status_at, |(a, _)| a);
                self.halt(slot, 1);
                self.transfer_event(slot, 1, at, code::STALL, 0);
                false
            }
            Ok(answer) => {
                if let Some((at, t)) = data {
                    if t.control & ctrl::DIR_IN != 0 {
                        let len = (t.status & 0x1ffff) as usize;
                        let n = answer.len().min(len);
                        self.dma.write_mem(t.parameter, &answer[..n]);
                        if n < len && t.control & ctrl::ISP != 0 {
                            self.transfer_event(slot, 1, at, code::SHORT_PACKET, len - n);
                        }
                    }
                }
                self.transfer_event(slot, 1, status_at, code::SUCCESS, 0);
                true
            }
        }
    }

    /// Runs a bulk TD; answers whether the endpoint moves past it.
    fn bulk_td(&mut self, slot: u8, port: u8, route: u32, dci: u8, td: &[(u64, Trb)]) -> bool {
        let segments: Vec<(u64, u64, usize, u32)> = td
            .iter()
            .map(|&(at, t)| (at, t.parameter, (t.status & 0x1ffff) as usize, t.control))
            .collect();
        for &(_, addr, len, _) in &segments {
            if len > 0 && addr / 0x10000 != (addr + len as u64 - 1) / 0x10000 {
                self.boundary_violations += 1;
            }
        }
        let total: usize = segments.iter().map(|s| s.2).sum();
        if self
            .device_at(port, route)
            .and_then(FakeDevice::msc)
            .is_some()
        {
            if let Some((kbd_port, report)) = self.report_during_next_bulk.take() {
                self.send_report(kbd_port, &report);
            }
        }
        let unplug = match self.device_at(port, route).and_then(FakeDevice::msc) {
            Some(m) if m.unplug_after.is_some_and(|n| m.bulk_transfers >= n) => true,
            Some(m) => {
                m.bulk_transfers += 1;
                false
            }
            None => false,
        };
        if unplug {
            self.unplug(port, route);
            if route != 0 {
                // Behind a hub that is still there: no handshake, so a transaction error.
                self.halt(slot, dci);
                self.transfer_event(slot, dci, segments[0].0, code::TRANSACTION, 0);
            }
            return false;
        }
        let Some(device) = self.device_at(port, route) else {
            if route != 0 && self.device_at(port, 0).is_some() {
                // Gone from behind a hub that is still there: no handshake, every time.
                self.halt(slot, dci);
                self.transfer_event(slot, dci, segments[0].0, code::TRANSACTION, 0);
            }
            return false;
        };
        let in_ = dci % 2 == 1;
        let ep_addr = (dci / 2) | if in_ { 0x80 } else { 0 };
        let (first_at, last_at) = (segments[0].0, segments[segments.len() - 1].0);
        if in_ {
            match device.bulk_in(ep_addr, total) {
                Ok(None) => return false,
                Err(()) => {
                    self.halt(slot, dci);
                    self.transfer_event(slot, dci, first_at, code::STALL, total);
                    return false;
                }
                Ok(Some(bytes)) => {
                    self.tds.push(Td {
                        slot,
                        dci,
                        trbs: td.len(),
                        bytes: bytes.len(),
                    });
                    let mut left = &bytes[..];
                    for &(at, addr, len, control) in &segments {
                        let n = left.len().min(len);
                        self.dma.write_mem(addr, &left[..n]);
                        left = &left[n..];
                        if n < len {
                            if control & (ctrl::ISP | ctrl::IOC) != 0 {
                                self.transfer_event(slot, dci, at, code::SHORT_PACKET, len - n);
                            }
                            return true;
                        }
                    }
                    self.transfer_event(slot, dci, last_at, code::SUCCESS, 0);
                }
            }
        } else {
            let mut data = Vec::with_capacity(total);
            for &(_, addr, len, _) in &segments {
                data.extend_from_slice(&self.dma.read_mem(addr, len));
            }
            let Some(device) = self.device_at(port, route) else {
                return false;
            };
            if device.bulk_out(ep_addr, &data).is_err() {
                self.halt(slot, dci);
                self.transfer_event(slot, dci, first_at, code::STALL, total);
                return false;
            }
            self.tds.push(Td {
                slot,
                dci,
                trbs: td.len(),
                bytes: total,
            });
            self.transfer_event(slot, dci, last_at, code::SUCCESS, 0);
        }
        true
    }
}

/// The fake as a HAL ([`Shared`]).
pub type FakeHal = Shared<FakeXhci>;

impl HasFakeDma for FakeXhci {
    fn dma(&mut self) -> &mut FakeDma {
        &mut self.dma
    }
}

impl HasFakeRegisters for FakeXhci {
    fn read_register(&mut self, offset: usize) -> u32 {
        self.read(offset)
    }

    fn write_register(&mut self, offset: usize, value: u32) {
        self.write(offset, value)
    }
}
