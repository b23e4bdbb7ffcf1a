//! A fake PIIX-style IDE controller for host tests, at port level: two channels with two
//! drive positions each, per-drive task-file registers (with the LBA48 previous-byte FIFO and
//! HOB reads), drive select, software reset and signatures, the PIO data-port state machine,
//! IDENTIFY, READ/WRITE SECTORS (EXT), READ/WRITE DMA (EXT) and FLUSH CACHE (EXT) against RAM
//! disks, and a bus-master engine that parses PRD tables out of fake DMA memory (asserting the
//! 64 KiB and end-of-table rules). Every port read moves the clock 1 µs, so timeouts end.

use alloc::vec::Vec;

use super::proto::{bm, ctl, reg, ChannelPorts, ControllerPorts};
use super::IdeHal;
use crate::ata::{self, command as cmd, status, AtaErrorBits};
use crate::hal::fake::{FakeDma, HasFakeDma, Shared};
use crate::hal::PortIo;

/// The bus-master base the fake decodes by default (16 ports).
pub const BM_BASE: u16 = 0xc040;

/// A drive: a RAM disk plus knobs.
#[derive(Default)]
pub struct FakeDrive {
    /// Sectors `first_lba ..` (the disk may claim more: see [`FakeDrive::window`]).
    pub data: Vec<u8>,
    pub first_lba: u64,
    /// The sectors the disk claims (IDENTIFY, range checks).
    pub sectors: u64,
    pub sector: usize,
    pub identify: Vec<u8>,
    /// An ATAPI device: packet signature, aborts IDENTIFY DEVICE, no ATA status after reset.
    pub atapi: bool,
    /// Fail any read or write touching this LBA with this error register value.
    pub error_at: Option<(u64, u8)>,
    /// Commands never complete (BSY forever) until a software reset.
    pub hang: bool,
    /// BSY forever, even across software resets.
    pub always_busy: bool,
    /// READ/WRITE DMA (EXT) end with ABRT.
    pub abort_dma: bool,
    /// IDENTIFY DEVICE never completes, even after resets.
    pub identify_hangs: bool,
    /// The (LBA mid, LBA high) signature after a reset, instead of ATA's or ATAPI's.
    pub signature: Option<(u8, u8)>,
    pub flushes: usize,
}

impl FakeDrive {
    /// An ATA disk of `sectors` sectors of `sector` bytes whose byte *i* is
    /// `i * 7 + i / 512` (mod 256), with 48-bit LBA, DMA and FLUSH CACHE (EXT).
    pub fn new(sectors: u64, sector: usize, model: &str) -> Self {
        Self {
            data: (0..sectors as usize * sector)
                .map(|i| (i * 7 + i / 512) as u8)
                .collect(),
            sectors,
            sector,
            identify: ata::identify_data(model, "SN1234", sectors, sector as u32).to_vec(),
            ..Self::default()
        }
    }

    /// A 512-byte-sector disk claiming `sectors` sectors whose data exists only for
    /// `first_lba .. first_lba + window` (the pattern counts from `first_lba`).
    pub fn window(sectors: u64, first_lba: u64, window: u64) -> Self {
        let mut d = Self::new(window, 512, "BIG");
        d.identify = ata::identify_data("BIG", "SN1234", sectors, 512).to_vec();
        d.sectors = sectors;
        d.first_lba = first_lba;
        d
    }

    /// The byte range of `data` holding `count` sectors at `lba` (which must lie in it).
    fn bytes(&self, lba: u64, count: u64) -> core::ops::Range<usize> {
        let first = lba
            .checked_sub(self.first_lba)
            .expect("access below the fake's data window");
        let r = first as usize * self.sector..(first + count) as usize * self.sector;
        assert!(
            r.end <= self.data.len(),
            "access beyond the fake's data window"
        );
        r
    }

    /// The same without the 48-bit feature set (word 83 bit 10 and FLUSH CACHE EXT off).
    pub fn lba28(sectors: u64, model: &str) -> Self {
        let mut d = Self::new(sectors, 512, model);
        d.set_word(83, 0x4000 | 1 << 12);
        d
    }

    /// An ATAPI CD-ROM drive.
    pub fn atapi() -> Self {
        Self {
            atapi: true,
            sector: 2048,
            ..Self::default()
        }
    }

    /// Changes IDENTIFY word `w`.
    pub fn set_word(&mut self, w: usize, value: u16) {
        self.identify[2 * w..2 * w + 2].copy_from_slice(&value.to_le_bytes());
    }
}

/// One drive's view of the task file: `[current, previous]` pairs for the LBA48 FIFO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub error: u8,
    pub features: [u8; 2],
    pub count: [u8; 2],
    /// LBA low, mid, high.
    pub lba: [[u8; 2]; 3],
    pub device: u8,
    pub status: u8,
}

impl Regs {
    /// Sets LBA registers (current = bytes 0-2, previous = bytes 3-5, device bits 27:24).
    fn set_lba(&mut self, lba: u64) {
        let l = lba.to_le_bytes();
        for i in 0..3 {
            self.lba[i] = [l[i], l[i + 3]];
        }
        self.device = self.device & 0xf0 | (l[3] & 0x0f);
    }
}

/// Where the channel's PIO state machine is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Idle,
    /// The device has `data` for the host; `pos` bytes read; DRQ blocks of `block` bytes.
    PioIn {
        data: Vec<u8>,
        pos: usize,
        block: usize,
    },
    /// The host writes `len` bytes for `lba` of `drive`.
    PioOut {
        drive: usize,
        lba: u64,
        data: Vec<u8>,
        len: usize,
        block: usize,
    },
    /// A DMA command waits for the bus master.
    Dma {
        drive: usize,
        lba: u64,
        count: u64,
        to_memory: bool,
    },
    /// BSY forever (until a software reset).
    Hung,
}

/// One command as the device saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub channel: usize,
    pub drive: usize,
    pub command: u8,
    /// The task file at the command (the selected drive's view).
    pub regs: Regs,
    /// The device control register at the command.
    pub devctl: u8,
    pub lba: u64,
    pub count: u64,
    /// DMA: the PRD table the bus master walked, as (address, bytes, end-of-table).
    pub prds: Vec<(u32, u32, bool)>,
}

#[derive(Default)]
pub struct FakeChannel {
    pub drives: [Option<FakeDrive>; 2],
    pub regs: [Regs; 2],
    pub selected: usize,
    pub devctl: u8,
    /// What any register of an absent drive reads: 0x00 (QEMU, ATA's "device 0 answers for
    /// an absent device 1"), 0xFF or 0x7F (a floating bus).
    pub absent: u8,
    pub phase: Phase,
    /// Status reads that still show BSY.
    pub busy_reads: u32,
    pub srsts: usize,
    pub bm_command: u8,
    pub bm_status: u8,
    pub bm_prdt: u32,
}

pub struct FakeIde {
    /// Nothing decodes any port: every read gives 0xFF (no controller).
    pub missing: bool,
    pub ports: [ChannelPorts; 2],
    pub channels: [FakeChannel; 2],
    /// Status reads that show BSY after each command, DRQ block and reset.
    pub busy_reads: u32,
    /// The bus master reports a PCI error on every transfer.
    pub dma_error: bool,
    pub dma: FakeDma,
    pub issued: Vec<Issued>,
}

impl FakeIde {
    /// A controller at the compatibility ports with a bus master at [`BM_BASE`], no drives.
    pub fn new() -> Self {
        let ports = ControllerPorts::legacy(Some(BM_BASE));
        Self {
            missing: false,
            ports: [ports.primary.unwrap(), ports.secondary.unwrap()],
            channels: [FakeChannel::default(), FakeChannel::default()],
            busy_reads: 2,
            dma_error: false,
            dma: FakeDma::new(),
            issued: Vec::new(),
        }
    }

    /// The ports the driver should be given.
    pub fn controller_ports(&self) -> ControllerPorts {
        ControllerPorts {
            primary: Ok(self.ports[0]),
            secondary: Ok(self.ports[1]),
        }
    }

    /// Without the bus-master block.
    pub fn without_bus_master(mut self) -> Self {
        for p in &mut self.ports {
            p.bus_master = None;
        }
        self
    }

    pub fn attach(mut self, channel: usize, drive: usize, d: FakeDrive) -> Self {
        self.channels[channel].drives[drive] = Some(d);
        self.reset(channel);
        self
    }

    pub fn drive(&mut self, channel: usize, drive: usize) -> &mut FakeDrive {
        self.channels[channel].drives[drive].as_mut().unwrap()
    }

    pub fn into_hal(self) -> FakeHal {
        Shared::new(self)
    }

    /// Which channel and register a port is: (channel, Target).
    fn decode(&self, port: u16) -> Option<(usize, Target)> {
        for (ch, p) in self.ports.iter().enumerate() {
            if (p.command..p.command + 8).contains(&port) {
                return Some((ch, Target::Command(port - p.command)));
            }
            if port == p.control {
                return Some((ch, Target::Control));
            }
            if let Some(b) = p.bus_master.filter(|b| (*b..*b + 8).contains(&port)) {
                return Some((ch, Target::BusMaster(port - b)));
            }
        }
        None
    }

    /// Software reset: signatures, status, the master selected, hangs cured.
    fn reset(&mut self, ch: usize) {
        let busy_reads = self.busy_reads;
        let c = &mut self.channels[ch];
        c.phase = Phase::Idle;
        c.selected = 0;
        c.busy_reads = busy_reads;
        for d in 0..2 {
            let Some(drive) = c.drives[d].as_mut() else {
                continue;
            };
            drive.hang = false;
            let (mid, high, st) = if drive.atapi {
                (0x14, 0xeb, 0x00)
            } else {
                (0, 0, status::DRDY)
            };
            let (mid, high) = drive.signature.unwrap_or((mid, high));
            c.regs[d] = Regs {
                error: 1,
                count: [1, 0],
                lba: [[1, 0], [mid, 0], [high, 0]],
                device: 0,
                status: if drive.always_busy { status::BSY } else { st },
                ..Regs::default()
            };
        }
    }

    fn read_command_block(&mut self, ch: usize, r: u16) -> u8 {
        let c = &mut self.channels[ch];
        let d = c.selected;
        if c.drives[d].is_none() {
            return c.absent;
        }
        let hob = usize::from(c.devctl & ctl::HOB != 0);
        let regs = &c.regs[d];
        match r {
            reg::ERROR => regs.error,
            reg::SECTOR_COUNT => regs.count[hob],
            reg::LBA_LOW => regs.lba[0][hob],
            reg::LBA_MID => regs.lba[1][hob],
            reg::LBA_HIGH => regs.lba[2][hob],
            reg::DEVICE => regs.device,
            reg::STATUS => self.status(ch),
            _ => 0xff,
        }
    }

    /// The selected drive's status; BSY while `busy_reads` last.
    fn status(&mut self, ch: usize) -> u8 {
        let c = &mut self.channels[ch];
        if c.drives[c.selected].is_none() {
            return c.absent;
        }
        if c.devctl & ctl::SRST != 0 {
            return status::BSY;
        }
        if c.busy_reads > 0 {
            c.busy_reads -= 1;
            return status::BSY;
        }
        c.regs[c.selected].status
    }

    fn write_command_block(&mut self, ch: usize, r: u16, v: u8) {
        let c = &mut self.channels[ch];
        let push = |pair: &mut [u8; 2]| *pair = [v, pair[0]];
        for regs in &mut c.regs {
            match r {
                reg::FEATURES => push(&mut regs.features),
                reg::SECTOR_COUNT => push(&mut regs.count),
                reg::LBA_LOW => push(&mut regs.lba[0]),
                reg::LBA_MID => push(&mut regs.lba[1]),
                reg::LBA_HIGH => push(&mut regs.lba[2]),
                reg::DEVICE => regs.device = v,
                _ => {}
            }
        }
        if r == reg::DEVICE {
            c.selected = usize::from(v & super::proto::DEVICE_SLAVE != 0);
        }
        if r == reg::COMMAND {
            self.execute(ch, v);
        }
    }

    fn write_control(&mut self, ch: usize, v: u8) {
        let c = &mut self.channels[ch];
        let was_reset = c.devctl & ctl::SRST != 0;
        c.devctl = v;
        if v & ctl::SRST != 0 && !was_reset {
            c.srsts += 1;
        }
        if v & ctl::SRST == 0 && was_reset {
            self.reset(ch);
        }
    }

    fn read_data(&mut self, ch: usize) -> u16 {
        let busy_reads = self.busy_reads;
        let c = &mut self.channels[ch];
        let Phase::PioIn { data, pos, block } = &mut c.phase else {
            return 0xffff;
        };
        let word = u16::from_le_bytes([data[*pos], data[*pos + 1]]);
        *pos += 2;
        if *pos == data.len() {
            c.phase = Phase::Idle;
            c.regs[c.selected].status = status::DRDY;
        } else if (*pos).is_multiple_of(*block) {
            c.busy_reads = busy_reads;
        }
        word
    }

    fn write_data(&mut self, ch: usize, v: u16) {
        let busy_reads = self.busy_reads;
        let c = &mut self.channels[ch];
        let Phase::PioOut {
            drive,
            lba,
            data,
            len,
            block,
        } = &mut c.phase
        else {
            return;
        };
        data.extend_from_slice(&v.to_le_bytes());
        if data.len() == *len {
            let (d, lba, data) = (*drive, *lba, core::mem::take(data));
            let disk = c.drives[d].as_mut().unwrap();
            let range = disk.bytes(lba, (data.len() / disk.sector) as u64);
            disk.data[range].copy_from_slice(&data);
            c.phase = Phase::Idle;
            c.regs[d].status = status::DRDY;
            c.busy_reads = busy_reads;
        } else if data.len().is_multiple_of(*block) {
            c.busy_reads = busy_reads;
        }
    }

    /// Ends the selected drive's command with ERR, `error` and the LBA registers at `lba`.
    fn fail(&mut self, ch: usize, error: u8, lba: u64) {
        let c = &mut self.channels[ch];
        let regs = &mut c.regs[c.selected];
        regs.error = error;
        regs.status = status::DRDY | status::ERR;
        regs.set_lba(lba);
        c.phase = Phase::Idle;
    }

    /// The LBA and sector count of a read/write command, from the task file.
    fn address(regs: &Regs, ext: bool) -> (u64, u64) {
        let [l, m, h] = regs.lba;
        if ext {
            let lba = u64::from_le_bytes([l[0], m[0], h[0], l[1], m[1], h[1], 0, 0]);
            let count = u64::from(u16::from_le_bytes(regs.count));
            (lba, if count == 0 { 65536 } else { count })
        } else {
            let lba = u64::from_le_bytes([l[0], m[0], h[0], regs.device & 0x0f, 0, 0, 0, 0]);
            let count = u64::from(regs.count[0]);
            (lba, if count == 0 { 256 } else { count })
        }
    }

    fn execute(&mut self, ch: usize, command: u8) {
        let busy_reads = self.busy_reads;
        let c = &mut self.channels[ch];
        let d = c.selected;
        let regs = c.regs[d];
        let Some(drive) = c.drives[d].as_mut() else {
            return;
        };
        let ext = matches!(
            command,
            cmd::READ_SECTORS_EXT | cmd::WRITE_SECTORS_EXT | cmd::READ_DMA_EXT | cmd::WRITE_DMA_EXT
        );
        let (lba, count) = Self::address(&regs, ext);
        self.issued.push(Issued {
            channel: ch,
            drive: d,
            command,
            regs,
            devctl: c.devctl,
            lba,
            count,
            prds: Vec::new(),
        });
        c.busy_reads = busy_reads;
        let identify_hangs = drive.identify_hangs && command == cmd::IDENTIFY_DEVICE;
        if drive.hang || drive.always_busy || identify_hangs {
            c.phase = Phase::Hung;
            c.regs[d].status = status::BSY;
            return;
        }
        match command {
            cmd::IDENTIFY_DEVICE if drive.atapi => self.fail(ch, AtaErrorBits::ABRT, 0),
            cmd::IDENTIFY_DEVICE => {
                let data = drive.identify.clone();
                c.phase = Phase::PioIn {
                    data,
                    pos: 0,
                    block: 512,
                };
                c.regs[d].status = status::DRDY | status::DRQ;
            }
            cmd::FLUSH_CACHE | cmd::FLUSH_CACHE_EXT => {
                drive.flushes += 1;
                c.regs[d].status = status::DRDY;
            }
            cmd::READ_SECTORS
            | cmd::READ_SECTORS_EXT
            | cmd::WRITE_SECTORS
            | cmd::WRITE_SECTORS_EXT
            | cmd::READ_DMA
            | cmd::READ_DMA_EXT
            | cmd::WRITE_DMA
            | cmd::WRITE_DMA_EXT => self.read_write(ch, command, lba, count),
            _ => self.fail(ch, AtaErrorBits::ABRT, 0),
        }
    }

    fn read_write(&mut self, ch: usize, command: u8, lba: u64, count: u64) {
        let c = &mut self.channels[ch];
        let d = c.selected;
        assert_eq!(c.regs[d].device & 0x40, 0x40, "LBA bit");
        let drive = c.drives[d].as_mut().unwrap();
        let dma = matches!(
            command,
            cmd::READ_DMA | cmd::READ_DMA_EXT | cmd::WRITE_DMA | cmd::WRITE_DMA_EXT
        );
        let write = matches!(
            command,
            cmd::WRITE_SECTORS | cmd::WRITE_SECTORS_EXT | cmd::WRITE_DMA | cmd::WRITE_DMA_EXT
        );
        if lba + count > drive.sectors {
            return self.fail(ch, AtaErrorBits::IDNF | AtaErrorBits::ABRT, lba);
        }
        if let Some((bad, e)) = drive
            .error_at
            .filter(|(b, _)| (lba..lba + count).contains(b))
        {
            return self.fail(ch, e, bad);
        }
        if dma && drive.abort_dma {
            return self.fail(ch, AtaErrorBits::ABRT, lba);
        }
        let (sector, range) = (drive.sector, drive.bytes(lba, count));
        c.phase = match (dma, write) {
            (true, _) => Phase::Dma {
                drive: d,
                lba,
                count,
                to_memory: !write,
            },
            (false, false) => Phase::PioIn {
                data: drive.data[range].to_vec(),
                pos: 0,
                block: sector,
            },
            (false, true) => Phase::PioOut {
                drive: d,
                lba,
                data: Vec::new(),
                len: range.len(),
                block: sector,
            },
        };
        c.regs[d].status = if dma {
            status::BSY | status::DRQ
        } else {
            status::DRDY | status::DRQ
        };
    }

    fn write_bus_master(&mut self, ch: usize, r: u16, v: u8) {
        let c = &mut self.channels[ch];
        match r {
            bm::COMMAND => {
                let starting = v & bm::CMD_START != 0 && c.bm_command & bm::CMD_START == 0;
                c.bm_command = v & (bm::CMD_START | bm::CMD_TO_MEMORY);
                if v & bm::CMD_START == 0 {
                    c.bm_status &= !bm::ST_ACTIVE;
                } else if starting {
                    c.bm_status |= bm::ST_ACTIVE;
                    self.run_dma(ch);
                }
            }
            bm::STATUS => {
                c.bm_status = (v & bm::ST_DRIVE_DMA)
                    | (c.bm_status & bm::ST_ACTIVE)
                    | (c.bm_status & !v & (bm::ST_ERROR | bm::ST_INTERRUPT));
            }
            _ => {}
        }
    }

    /// The PRD table at `bm_prdt`, checked against the bus master's rules.
    fn prd_table(&self, ch: usize) -> Vec<(u32, u32, bool)> {
        let at = self.channels[ch].bm_prdt;
        assert_eq!(at % 4, 0, "PRD table alignment");
        let mut prds = Vec::new();
        loop {
            let e = self.dma.read_mem(u64::from(at) + 8 * prds.len() as u64, 8);
            let address = u32::from_le_bytes(e[0..4].try_into().unwrap());
            let bytes = match u16::from_le_bytes([e[4], e[5]]) {
                0 => 0x1_0000,
                n => u32::from(n),
            };
            let eot = e[7] & 0x80 != 0;
            assert_eq!(address % 2, 0, "PRD address odd");
            assert_eq!(bytes % 2, 0, "PRD byte count odd");
            assert!(
                (address & 0xffff) + bytes <= 0x1_0000,
                "PRD {address:#x}+{bytes:#x} crosses 64 KiB"
            );
            prds.push((address, bytes, eot));
            if eot {
                break;
            }
            assert!(prds.len() < 8192, "PRD table without end-of-table bit");
        }
        let end = (at & 0xffff) as usize + 8 * prds.len();
        assert!(end <= 0x1_0000, "PRD table crosses 64 KiB");
        prds
    }

    /// Runs the pending DMA command through the PRD table.
    fn run_dma(&mut self, ch: usize) {
        let Phase::Dma {
            drive,
            lba,
            count,
            to_memory,
        } = self.channels[ch].phase
        else {
            return;
        };
        assert_eq!(
            to_memory,
            self.channels[ch].bm_command & bm::CMD_TO_MEMORY != 0,
            "bus-master direction"
        );
        let prds = self.prd_table(ch);
        if let Some(last) = self.issued.last_mut() {
            last.prds = prds.clone();
        }
        let c = &mut self.channels[ch];
        if self.dma_error {
            // A master abort: the engine stops with an error; the device still waits.
            c.bm_status = c.bm_status & !bm::ST_ACTIVE | bm::ST_ERROR;
            c.phase = Phase::Hung;
            return;
        }
        let disk = c.drives[drive].as_mut().unwrap();
        let start = disk.bytes(lba, count).start;
        let bytes = count as usize * disk.sector;
        let total: usize = prds.iter().map(|p| p.1 as usize).sum();
        assert!(total >= bytes, "PRD table smaller than the transfer");
        let mut done = 0;
        for &(address, len, _) in &prds {
            let n = (len as usize).min(bytes - done);
            if n == 0 {
                break;
            }
            let disk = self.channels[ch].drives[drive].as_mut().unwrap();
            let at = start + done..start + done + n;
            if to_memory {
                self.dma.write_mem(u64::from(address), &disk.data[at]);
            } else {
                disk.data[at].copy_from_slice(&self.dma.read_mem(u64::from(address), n));
            }
            done += n;
        }
        let c = &mut self.channels[ch];
        c.phase = Phase::Idle;
        c.regs[drive].status = status::DRDY;
        if total == bytes {
            c.bm_status &= !bm::ST_ACTIVE;
        }
        if c.devctl & ctl::NIEN == 0 {
            c.bm_status |= bm::ST_INTERRUPT;
        }
    }
}

impl Default for FakeIde {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy)]
enum Target {
    Command(u16),
    Control,
    BusMaster(u16),
}

/// The fake as a HAL ([`Shared`]): its ports here, its DMA memory through [`HasFakeDma`].
pub type FakeHal = Shared<FakeIde>;

impl HasFakeDma for FakeIde {
    fn dma(&mut self) -> &mut FakeDma {
        &mut self.dma
    }
}

impl FakeHal {
    pub fn ide(&self) -> core::cell::RefMut<'_, FakeIde> {
        self.dev()
    }
}

impl PortIo for FakeHal {
    fn read8(&mut self, port: u16) -> u8 {
        let mut f = self.ide();
        f.dma.clock += 1;
        if f.missing {
            return 0xff;
        }
        match f.decode(port) {
            Some((ch, Target::Command(reg::DATA))) => f.read_data(ch) as u8,
            Some((ch, Target::Command(r))) => f.read_command_block(ch, r),
            Some((ch, Target::Control)) => f.status(ch),
            Some((ch, Target::BusMaster(bm::COMMAND))) => f.channels[ch].bm_command,
            Some((ch, Target::BusMaster(bm::STATUS))) => f.channels[ch].bm_status,
            Some((ch, Target::BusMaster(r))) if r >= bm::PRDT => {
                f.channels[ch].bm_prdt.to_le_bytes()[usize::from(r - bm::PRDT)]
            }
            _ => 0xff,
        }
    }

    fn read16(&mut self, port: u16) -> u16 {
        let mut f = self.ide();
        f.dma.clock += 1;
        match f.decode(port) {
            Some((ch, Target::Command(reg::DATA))) if !f.missing => f.read_data(ch),
            _ => 0xffff,
        }
    }

    fn read32(&mut self, port: u16) -> u32 {
        let mut f = self.ide();
        f.dma.clock += 1;
        match f.decode(port) {
            Some((ch, Target::BusMaster(bm::PRDT))) if !f.missing => f.channels[ch].bm_prdt,
            _ => u32::MAX,
        }
    }

    fn write8(&mut self, port: u16, value: u8) {
        let mut f = self.ide();
        if f.missing {
            return;
        }
        match f.decode(port) {
            Some((ch, Target::Command(r))) => f.write_command_block(ch, r, value),
            Some((ch, Target::Control)) => f.write_control(ch, value),
            Some((ch, Target::BusMaster(r))) => f.write_bus_master(ch, r, value),
            None => {}
        }
    }

    fn write16(&mut self, port: u16, value: u16) {
        let mut f = self.ide();
        if let (false, Some((ch, Target::Command(reg::DATA)))) = (f.missing, f.decode(port)) {
            f.write_data(ch, value);
        }
    }

    fn write32(&mut self, port: u16, value: u32) {
        let mut f = self.ide();
        if let (false, Some((ch, Target::BusMaster(bm::PRDT)))) = (f.missing, f.decode(port)) {
            f.channels[ch].bm_prdt = value & !3;
        }
    }
}

// SAFETY: the ports are the fake's fields, reached by nothing but this handle and its clones;
// its DMA memory starts at 1 MiB and the tests keep it below 4 GiB unless they test the
// driver's own check.
unsafe impl IdeHal for FakeHal {}
