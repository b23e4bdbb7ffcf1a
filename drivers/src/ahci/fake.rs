//! A fake AHCI HBA for host tests: registers that behave like the spec says (HBA reset,
//! BIOS handoff, ST/CR, FRE/FR, write-1-to-clear status, COMRESET), and command execution that
//! parses command headers, FISes and PRDTs out of fake DMA memory and runs IDENTIFY, READ/WRITE
//! DMA EXT and FLUSH against RAM disks. The clock advances on every read, so timeouts end.

use alloc::vec;
use alloc::vec::Vec;

use super::proto::{self, ata, hba, port as preg};
use crate::hal::fake::{FakeDma, HasFakeDma, HasFakeRegisters, Shared};

#[derive(Default)]
pub struct FakeDisk {
    pub data: Vec<u8>,
    pub sector: usize,
    pub identify: Vec<u8>,
    /// Fail any read or write touching this LBA with this error register value.
    pub error_at: Option<(u64, u8)>,
    /// Never complete commands until a COMRESET.
    pub hang: bool,
    pub flushes: usize,
    pub signature: u32,
}

impl FakeDisk {
    pub fn new(sectors: u64, sector: usize, model: &str) -> Self {
        Self {
            data: (0..sectors as usize * sector)
                .map(|i| (i * 7 + i / 512) as u8)
                .collect(),
            sector,
            identify: proto::identify_data(model, "SN1234", sectors, sector as u32).to_vec(),
            signature: proto::sig::SATA,
            ..Self::default()
        }
    }
}

#[derive(Default)]
pub struct FakePort {
    pub clb: u64,
    pub fb: u64,
    pub is: u32,
    pub ie: u32,
    pub cmd: u32,
    pub tfd: u32,
    pub sctl: u32,
    pub ssts: u32,
    pub serr: u32,
    pub ci: u32,
    pub sig: u32,
    pub disk: Option<FakeDisk>,
    /// CR/FR never clear.
    pub stop_stuck: bool,
    /// BSY stays set, even across COMRESET.
    pub always_busy: bool,
    /// The device's first D2H FIS waits for FIS reception (FRE), as on QEMU.
    pub d2h_pending: bool,
    pub comresets: usize,
}

/// One issued command as the HBA saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub port: u8,
    pub header: [u8; 32],
    pub fis: [u8; 20],
    pub prds: Vec<[u8; 16]>,
}

pub struct FakeHba {
    pub cap: u32,
    pub cap2: u32,
    pub ghc: u32,
    pub bohc: u32,
    pub pi: u32,
    pub vs: u32,
    pub ports: Vec<FakePort>,
    pub reset_stuck: bool,
    pub resets: usize,
    /// DMA memory and the clock.
    pub dma: FakeDma,
    pub issued: Vec<Issued>,
}

impl FakeHba {
    /// An HBA with 32-bit or 64-bit DMA, ports `0..n` implemented, none attached.
    pub fn new(ports: usize) -> Self {
        Self {
            cap: hba::CAP_S64A | (31 << 8) | (ports as u32 - 1),
            cap2: 0,
            ghc: 0,
            bohc: 0,
            pi: (1u64 << ports) as u32 - 1,
            vs: 0x0001_0301,
            ports: (0..32).map(|_| FakePort::default()).collect(),
            reset_stuck: false,
            resets: 0,
            dma: FakeDma::new(),
            issued: Vec::new(),
        }
    }

    pub fn attach(mut self, port: usize, disk: FakeDisk) -> Self {
        self.ports[port].disk = Some(disk);
        self.link_up(port);
        self
    }

    fn link_up(&mut self, p: usize) {
        let port = &mut self.ports[p];
        port.sig = u32::MAX;
        port.tfd = 0x7f;
        port.ssts = 0;
        if port.disk.is_some() {
            port.ssts = 0x113;
            port.d2h_pending = true;
            self.deliver_d2h(p);
        }
    }

    /// The device's first D2H FIS: signature and status, once FIS reception is on.
    fn deliver_d2h(&mut self, p: usize) {
        let port = &mut self.ports[p];
        if !port.d2h_pending || port.cmd & preg::CMD_FRE == 0 {
            return;
        }
        if let Some(d) = &port.disk {
            port.d2h_pending = false;
            port.sig = d.signature;
            port.tfd = if port.always_busy { 0x80 } else { 0x50 };
        }
    }

    pub fn into_hal(self) -> FakeHal {
        Shared::new(self)
    }

    fn reset(&mut self) {
        self.resets += 1;
        self.ghc = 0;
        for p in 0..32 {
            let port = &mut self.ports[p];
            port.cmd = 0;
            port.is = 0;
            port.ci = 0;
            port.serr = 0;
            self.link_up(p);
        }
    }

    fn read(&mut self, offset: usize) -> u32 {
        assert_eq!(offset % 4, 0);
        match offset {
            hba::CAP => self.cap,
            hba::GHC => self.ghc,
            hba::PI => self.pi,
            hba::VS => self.vs,
            hba::CAP2 => self.cap2,
            hba::BOHC => self.bohc,
            o if o >= 0x100 => {
                let (p, r) = ((o - 0x100) / 0x80, (o - 0x100) % 0x80);
                let port = &self.ports[p];
                match r {
                    preg::CLB => port.clb as u32,
                    preg::CLBU => (port.clb >> 32) as u32,
                    preg::FB => port.fb as u32,
                    preg::FBU => (port.fb >> 32) as u32,
                    preg::IS => port.is,
                    preg::IE => port.ie,
                    preg::CMD => port.cmd,
                    preg::TFD => port.tfd,
                    preg::SIG => port.sig,
                    preg::SSTS => port.ssts,
                    preg::SCTL => port.sctl,
                    preg::SERR => port.serr,
                    preg::CI => port.ci,
                    _ => 0,
                }
            }
            _ => 0,
        }
    }

    fn write(&mut self, offset: usize, v: u32) {
        assert_eq!(offset % 4, 0);
        match offset {
            hba::GHC => {
                if v & hba::GHC_HR != 0 {
                    if self.reset_stuck {
                        self.ghc = v;
                    } else {
                        self.reset();
                    }
                } else {
                    self.ghc = v;
                }
            }
            hba::BOHC => {
                self.bohc = v;
                if v & hba::BOHC_OOS != 0 && v & hba::BOHC_BB == 0 {
                    self.bohc &= !hba::BOHC_BOS;
                }
            }
            o if o >= 0x100 => {
                let (p, r) = ((o - 0x100) / 0x80, (o - 0x100) % 0x80);
                self.write_port(p, r, v);
            }
            _ => {}
        }
    }

    fn write_port(&mut self, p: usize, r: usize, v: u32) {
        let port = &mut self.ports[p];
        match r {
            preg::CLB => port.clb = port.clb & !0xffff_ffff | u64::from(v),
            preg::CLBU => port.clb = port.clb & 0xffff_ffff | u64::from(v) << 32,
            preg::FB => port.fb = port.fb & !0xffff_ffff | u64::from(v),
            preg::FBU => port.fb = port.fb & 0xffff_ffff | u64::from(v) << 32,
            preg::IS => port.is &= !v,
            preg::IE => port.ie = v,
            preg::SERR => port.serr &= !v,
            preg::CMD => {
                let keep = preg::CMD_ST | preg::CMD_SUD | preg::CMD_POD | preg::CMD_FRE;
                let mut cmd = v & keep;
                if cmd & preg::CMD_ST != 0 {
                    assert!(cmd & preg::CMD_FRE != 0, "ST set without FRE");
                    assert!(port.clb != 0, "ST set without a command list");
                    cmd |= preg::CMD_CR;
                } else {
                    port.ci = 0;
                    if port.stop_stuck && port.cmd & preg::CMD_CR != 0 {
                        cmd |= preg::CMD_CR;
                    }
                }
                if cmd & preg::CMD_FRE != 0 || (port.stop_stuck && port.cmd & preg::CMD_FR != 0) {
                    cmd |= preg::CMD_FR;
                }
                port.cmd = cmd;
                self.deliver_d2h(p);
            }
            preg::SCTL => {
                let was_reset = port.sctl & 0xf == 1;
                port.sctl = v;
                if v & 0xf == 1 {
                    assert_eq!(port.cmd & preg::CMD_ST, 0, "COMRESET while running");
                    port.comresets += 1;
                    port.ssts = 0;
                } else if was_reset {
                    if let Some(d) = port.disk.as_mut() {
                        d.hang = false;
                    }
                    self.link_up(p);
                }
            }
            preg::CI => {
                port.ci |= v;
                if port.cmd & preg::CMD_ST != 0 {
                    for slot in 0..32 {
                        if v & (1 << slot) != 0 {
                            self.execute(p, slot);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn execute(&mut self, p: usize, slot: usize) {
        let clb = self.ports[p].clb;
        let header_at = clb + slot as u64 * 32;
        let header: [u8; 32] = self.dma.read_mem(header_at, 32).try_into().unwrap();
        let dw0 = u32::from_le_bytes(header[0..4].try_into().unwrap());
        let cfl = dw0 & 0x1f;
        let write = dw0 & (1 << 6) != 0;
        let prdtl = (dw0 >> 16) as usize;
        let ctba = u64::from(u32::from_le_bytes(header[8..12].try_into().unwrap()))
            | u64::from(u32::from_le_bytes(header[12..16].try_into().unwrap())) << 32;
        assert_eq!(cfl, 5, "command FIS length");
        assert_eq!(ctba % 128, 0, "command table alignment");
        let fis: [u8; 20] = self.dma.read_mem(ctba, 20).try_into().unwrap();
        assert_eq!(fis[0], proto::FIS_TYPE_REG_H2D);
        assert_eq!(fis[1] & 0x80, 0x80, "C bit");
        let mut prds = Vec::new();
        let mut segments = Vec::new();
        for i in 0..prdtl {
            let e: [u8; 16] = self
                .dma
                .read_mem(ctba + 0x80 + 16 * i as u64, 16)
                .try_into()
                .unwrap();
            let addr = u64::from(u32::from_le_bytes(e[0..4].try_into().unwrap()))
                | u64::from(u32::from_le_bytes(e[4..8].try_into().unwrap())) << 32;
            let dbc = u32::from_le_bytes(e[12..16].try_into().unwrap()) & 0x3f_ffff;
            assert_eq!(dbc & 1, 1, "odd byte count");
            segments.push((addr, dbc as usize + 1));
            prds.push(e);
        }
        self.issued.push(Issued {
            port: p as u8,
            header,
            fis,
            prds,
        });
        let port = &mut self.ports[p];
        let Some(disk) = port.disk.as_mut() else {
            return;
        };
        if disk.hang {
            return;
        }
        let lba = u64::from_le_bytes([fis[4], fis[5], fis[6], fis[8], fis[9], fis[10], 0, 0]);
        let count = match u16::from_le_bytes([fis[12], fis[13]]) {
            0 => 65536,
            n => n as usize,
        };
        let total: usize = segments.iter().map(|s| s.1).sum();
        let sectors = (disk.data.len() / disk.sector) as u64;
        let mut error = 0u8;
        let mut error_lba = lba;
        let mut moved = 0usize;
        let mut incoming = Vec::new();
        let mut outgoing = Vec::new();
        match fis[2] {
            ata::IDENTIFY_DEVICE => {
                assert!(!write);
                outgoing = disk.identify.clone();
            }
            ata::READ_DMA_EXT | ata::WRITE_DMA_EXT => {
                let is_write = fis[2] == ata::WRITE_DMA_EXT;
                assert_eq!(write, is_write, "W bit");
                assert_eq!(fis[7] & 0x40, 0x40, "LBA bit");
                assert_eq!(total, count * disk.sector, "PRDT covers the sectors");
                if lba + count as u64 > sectors {
                    error = proto::AtaErrorBits::IDNF | proto::AtaErrorBits::ABRT;
                } else if let Some((bad, e)) = disk
                    .error_at
                    .filter(|(bad, _)| (lba..lba + count as u64).contains(bad))
                {
                    error = e;
                    error_lba = bad;
                } else {
                    let r = lba as usize * disk.sector..(lba as usize + count) * disk.sector;
                    if is_write {
                        incoming = vec![0u8; r.len()];
                        moved = r.len();
                    } else {
                        outgoing = disk.data[r].to_vec();
                    }
                }
            }
            ata::FLUSH_CACHE_EXT | ata::FLUSH_CACHE => {
                assert_eq!(prdtl, 0);
                disk.flushes += 1;
            }
            _ => error = proto::AtaErrorBits::ABRT,
        }
        // Move the data through the PRDT.
        if error == 0 {
            if !outgoing.is_empty() {
                let mut at = 0;
                for &(addr, len) in &segments {
                    let n = len.min(outgoing.len() - at);
                    let chunk = outgoing[at..at + n].to_vec();
                    self.dma.write_mem(addr, &chunk);
                    at += n;
                }
                moved = at;
            } else if !incoming.is_empty() {
                let mut at = 0;
                for &(addr, len) in &segments {
                    let chunk = self.dma.read_mem(addr, len);
                    incoming[at..at + len].copy_from_slice(&chunk);
                    at += len;
                }
                let port = &mut self.ports[p];
                let disk = port.disk.as_mut().unwrap();
                let start = lba as usize * disk.sector;
                disk.data[start..start + incoming.len()].copy_from_slice(&incoming);
            }
        }
        let port = &self.ports[p];
        let fb = port.fb;
        let status: u8 = if error == 0 { 0x50 } else { 0x51 };
        let l = error_lba.to_le_bytes();
        let d2h = [
            proto::FIS_TYPE_REG_D2H,
            0x40,
            status,
            error,
            l[0],
            l[1],
            l[2],
            0x40,
            l[3],
            l[4],
            l[5],
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        if port.cmd & preg::CMD_FRE != 0 {
            self.dma.write_mem(fb + 0x40, &d2h);
        }
        self.dma
            .write_mem(header_at + 4, &(moved as u32).to_le_bytes());
        let port = &mut self.ports[p];
        port.tfd = u32::from(error) << 8 | u32::from(status);
        port.is |= 1; // DHRS
        if error == 0 {
            port.ci &= !(1 << slot);
        } else {
            port.is |= preg::IS_TFES;
        }
    }
}

/// The fake as a HAL ([`Shared`]).
pub type FakeHal = Shared<FakeHba>;

impl HasFakeDma for FakeHba {
    fn dma(&mut self) -> &mut FakeDma {
        &mut self.dma
    }
}

impl HasFakeRegisters for FakeHba {
    fn read_register(&mut self, offset: usize) -> u32 {
        self.read(offset)
    }

    fn write_register(&mut self, offset: usize, value: u32) {
        self.write(offset, value)
    }
}

impl FakeHal {
    pub fn hba(&self) -> core::cell::RefMut<'_, FakeHba> {
        self.dev()
    }
}
