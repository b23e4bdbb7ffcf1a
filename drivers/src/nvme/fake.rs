//! A fake NVMe controller for host tests: registers that behave like the spec says (CC.EN and
//! CSTS.RDY, the admin queue registers, doorbells with a configurable stride), queues that live
//! in fake DMA memory, and command execution that walks PRP1/PRP2/PRP lists and runs IDENTIFY,
//! queue creation and deletion, Set Features (Number of Queues), READ, WRITE and FLUSH against
//! RAM namespaces. Faults: fail a command with a status, never complete it, or set CSTS.CFS.
//! The clock advances on every read, so timeouts end.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::proto::{
    admin, generic, io, reg, sct, Command, Completion, Status, CQE_BYTES, IDENTIFY_BYTES,
    PAGE_BYTES, SQE_BYTES,
};
use crate::hal::fake::{FakeDma, HasFakeDma, HasFakeRegisters, Shared};

/// One namespace: its data and LBA format.
pub struct FakeNamespace {
    pub data: Vec<u8>,
    /// LBADS: blocks are `1 << lbads` bytes.
    pub lbads: u8,
    /// MS: metadata bytes per block (the fake moves none).
    pub metadata: u16,
}

impl FakeNamespace {
    pub fn new(blocks: u64, block_bytes: usize) -> Self {
        Self {
            data: (0..blocks as usize * block_bytes)
                .map(|i| (i * 7 + i / 4096) as u8)
                .collect(),
            lbads: block_bytes.trailing_zeros() as u8,
            metadata: 0,
        }
    }

    fn block_bytes(&self) -> usize {
        1 << self.lbads
    }

    fn blocks(&self) -> u64 {
        (self.data.len() / self.block_bytes()) as u64
    }
}

/// What the fake does to a command a [`Fault`] matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Completes it with this status.
    Fail(Status),
    /// Never completes it.
    Hang,
    /// Sets CSTS.CFS and never completes it (nor anything after).
    Fatal,
}

/// Commands on the admin (`admin`) or I/O queues with `opcode` and, if `lba` is given, whose
/// blocks include it.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    pub admin: bool,
    pub opcode: u8,
    pub lba: Option<u64>,
    pub action: Action,
}

struct FakeSq {
    base: u64,
    entries: u16,
    head: u16,
    cqid: u16,
}

struct FakeCq {
    base: u64,
    entries: u16,
    tail: u16,
    head: u16,
    phase: bool,
}

/// One command as the controller fetched it, with the PRP list entries it used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub qid: u16,
    pub command: Command,
    pub prp_list: Vec<u64>,
}

pub struct FakeNvme {
    pub cap: u64,
    pub vs: u32,
    pub cc: u32,
    pub csts: u32,
    pub aqa: u32,
    pub asq: u64,
    pub acq: u64,
    pub intms: u32,
    pub model: String,
    pub serial: String,
    pub firmware: String,
    pub mdts: u8,
    /// I/O queue pairs granted by Set Features.
    pub max_queue_pairs: u16,
    /// Namespace `i + 1`; `None` is an inactive ID.
    pub namespaces: Vec<Option<FakeNamespace>>,
    pub faults: Vec<Fault>,
    /// CSTS.RDY never sets.
    pub ready_stuck: bool,
    /// CSTS.CFS sets when the controller is enabled.
    pub fatal_on_enable: bool,
    /// CSTS.RDY stays set when CC.EN is cleared.
    pub stop_stuck: bool,
    pub submitted: Vec<Submitted>,
    pub flushes: usize,
    pub enables: usize,
    pub disables: usize,
    /// Completion queues whose phase has flipped (wrapped) at least once.
    pub wraps: usize,
    sqs: BTreeMap<u16, FakeSq>,
    cqs: BTreeMap<u16, FakeCq>,
    /// DMA memory and the clock.
    pub dma: FakeDma,
}

/// CAP with MQES `entries - 1`, contiguous queues required, TO 1 (500 ms), DSTRD `dstrd`, the
/// NVM command set, 4 KiB pages only.
pub fn capabilities(entries: u16, dstrd: u8) -> u64 {
    u64::from(entries - 1) | 1 << 16 | 1 << 24 | u64::from(dstrd) << 32 | 1 << 37
}

impl FakeNvme {
    /// A controller (NVMe 1.4, 64-entry queues, MDTS 5 = 128 KiB) with the given namespaces.
    pub fn new(namespaces: Vec<FakeNamespace>) -> Self {
        Self {
            cap: capabilities(64, 0),
            vs: 0x0001_0400,
            cc: 0,
            csts: 0,
            aqa: 0,
            asq: 0,
            acq: 0,
            intms: 0,
            model: String::from("QEMU NVMe Ctrl"),
            serial: String::from("deadbeef"),
            firmware: String::from("9.2.0"),
            mdts: 5,
            max_queue_pairs: 64,
            namespaces: namespaces.into_iter().map(Some).collect(),
            faults: Vec::new(),
            ready_stuck: false,
            fatal_on_enable: false,
            stop_stuck: false,
            submitted: Vec::new(),
            flushes: 0,
            enables: 0,
            disables: 0,
            wraps: 0,
            sqs: BTreeMap::new(),
            cqs: BTreeMap::new(),
            dma: FakeDma::new(),
        }
    }

    pub fn into_hal(self) -> FakeHal {
        Shared::new(self)
    }

    /// The I/O queue IDs that exist (submission queues).
    pub fn io_queues(&self) -> Vec<u16> {
        self.sqs.keys().copied().filter(|&q| q != 0).collect()
    }

    /// The I/O commands (READ, WRITE, FLUSH) fetched so far.
    pub fn io_commands(&self) -> Vec<Submitted> {
        self.submitted
            .iter()
            .filter(|s| s.qid != 0)
            .cloned()
            .collect()
    }

    fn dstrd(&self) -> u8 {
        ((self.cap >> 32) & 0xf) as u8
    }

    fn read(&mut self, offset: usize) -> u32 {
        assert_eq!(offset % 4, 0);
        match offset {
            0x00 => self.cap as u32,
            0x04 => (self.cap >> 32) as u32,
            reg::VS => self.vs,
            reg::INTMS | reg::INTMC => self.intms,
            reg::CC => self.cc,
            reg::CSTS => self.csts,
            reg::AQA => self.aqa,
            0x28 => self.asq as u32,
            0x2c => (self.asq >> 32) as u32,
            0x30 => self.acq as u32,
            0x34 => (self.acq >> 32) as u32,
            _ => 0,
        }
    }

    fn write(&mut self, offset: usize, v: u32) {
        assert_eq!(offset % 4, 0);
        let lo = |r: u64| r & !0xffff_ffff | u64::from(v);
        let hi = |r: u64| r & 0xffff_ffff | u64::from(v) << 32;
        match offset {
            reg::INTMS => self.intms |= v,
            reg::INTMC => self.intms &= !v,
            reg::CC => {
                let was = self.cc & reg::CC_EN != 0;
                self.cc = v;
                match (was, v & reg::CC_EN != 0) {
                    (false, true) => self.enable(),
                    (true, false) => self.disable(),
                    _ => {}
                }
            }
            reg::AQA => self.aqa = v,
            0x28 => self.asq = lo(self.asq),
            0x2c => self.asq = hi(self.asq),
            0x30 => self.acq = lo(self.acq),
            0x34 => self.acq = hi(self.acq),
            o if o >= reg::DOORBELLS => self.doorbell(o, v),
            _ => {}
        }
    }

    fn enable(&mut self) {
        self.enables += 1;
        assert_eq!(
            self.cc & 0x00ff_fff0,
            0x0046_0000,
            "CC: 64/16-byte entries, 4 KiB, NVM"
        );
        if self.fatal_on_enable {
            self.csts |= reg::CSTS_CFS;
            return;
        }
        if self.ready_stuck {
            return;
        }
        assert_eq!(self.asq % PAGE_BYTES as u64, 0, "ASQ alignment");
        assert_eq!(self.acq % PAGE_BYTES as u64, 0, "ACQ alignment");
        let sq = FakeSq {
            base: self.asq,
            entries: (self.aqa & 0xfff) as u16 + 1,
            head: 0,
            cqid: 0,
        };
        let cq = FakeCq {
            base: self.acq,
            entries: ((self.aqa >> 16) & 0xfff) as u16 + 1,
            tail: 0,
            head: 0,
            phase: true,
        };
        self.sqs.insert(0, sq);
        self.cqs.insert(0, cq);
        self.csts |= reg::CSTS_RDY;
    }

    /// A controller reset: every queue goes, RDY and CFS clear.
    fn disable(&mut self) {
        self.disables += 1;
        if self.stop_stuck {
            return;
        }
        self.sqs.clear();
        self.cqs.clear();
        self.csts = 0;
    }

    fn doorbell(&mut self, offset: usize, v: u32) {
        let stride = 4usize << self.dstrd();
        assert_eq!((offset - reg::DOORBELLS) % stride, 0, "doorbell stride");
        let index = (offset - reg::DOORBELLS) / stride;
        let qid = (index / 2) as u16;
        if self.csts & reg::CSTS_RDY == 0 || self.csts & reg::CSTS_CFS != 0 {
            return;
        }
        if index % 2 == 1 {
            let cq = self
                .cqs
                .get_mut(&qid)
                .expect("head doorbell of a missing CQ");
            assert!(v < u32::from(cq.entries), "CQ head beyond the queue");
            cq.head = v as u16;
            return;
        }
        let sq = self.sqs.get(&qid).expect("tail doorbell of a missing SQ");
        assert!(v < u32::from(sq.entries), "SQ tail beyond the queue");
        self.run(qid, v as u16);
    }

    /// Fetches and executes the entries of submission queue `qid` up to `tail`.
    fn run(&mut self, qid: u16, tail: u16) {
        loop {
            let Some(sq) = self.sqs.get_mut(&qid) else {
                return;
            };
            if sq.head == tail || self.csts & reg::CSTS_CFS != 0 {
                return;
            }
            let at = sq.base + u64::from(sq.head) * SQE_BYTES as u64;
            sq.head = (sq.head + 1) % sq.entries;
            let (head, cqid) = (sq.head, sq.cqid);
            let entry: [u8; SQE_BYTES] = self.dma.read_mem(at, SQE_BYTES).try_into().unwrap();
            let command = Command::from_bytes(&entry);
            if let Some((status, result)) = self.execute(qid, command) {
                self.complete(cqid, qid, head, command.cid, status, result);
            }
        }
    }

    fn complete(
        &mut self,
        cqid: u16,
        sqid: u16,
        sq_head: u16,
        cid: u16,
        status: Status,
        result: u32,
    ) {
        let cq = self.cqs.get_mut(&cqid).expect("completion queue");
        let next = (cq.tail + 1) % cq.entries;
        assert_ne!(next, cq.head, "completion queue overflow");
        let entry = Completion {
            result,
            sq_head,
            sqid,
            cid,
            phase: cq.phase,
            status,
        };
        let at = cq.base + u64::from(cq.tail) * CQE_BYTES as u64;
        cq.tail = next;
        if next == 0 {
            cq.phase = !cq.phase;
            self.wraps += 1;
        }
        self.dma.write_mem(at, &entry.to_bytes());
    }

    /// Runs one command: `None` if it does not complete.
    fn execute(&mut self, qid: u16, command: Command) -> Option<(Status, u32)> {
        self.submitted.push(Submitted {
            qid,
            command,
            prp_list: Vec::new(),
        });
        if let Some(action) = self.fault(qid, &command) {
            return match action {
                Action::Fail(status) => Some((status, 0)),
                Action::Hang => None,
                Action::Fatal => {
                    self.csts |= reg::CSTS_CFS;
                    None
                }
            };
        }
        let answer = if qid == 0 {
            self.admin(command)
        } else {
            self.io(command)
        };
        Some(match answer {
            Ok(result) => (Status::default(), result),
            Err(status) => (status, 0),
        })
    }

    fn fault(&self, qid: u16, c: &Command) -> Option<Action> {
        let blocks = u64::from(c.cdw[2] & 0xffff) + 1;
        self.faults
            .iter()
            .find(|f| {
                f.admin == (qid == 0)
                    && f.opcode == c.opcode
                    && f.lba
                        .is_none_or(|l| (c.lba()..c.lba() + blocks).contains(&l))
            })
            .map(|f| f.action)
    }

    fn admin(&mut self, c: Command) -> Result<u32, Status> {
        match c.opcode {
            admin::IDENTIFY => {
                let data = self.identify(&c)?;
                self.copy_out(&c, &data)?;
                Ok(0)
            }
            admin::CREATE_IO_CQ => self.create_cq(&c),
            admin::CREATE_IO_SQ => self.create_sq(&c),
            admin::DELETE_IO_CQ => self.delete(c.cdw[0] as u16, false),
            admin::DELETE_IO_SQ => self.delete(c.cdw[0] as u16, true),
            admin::SET_FEATURES if c.cdw[0] & 0xff == admin::FEATURE_NUMBER_OF_QUEUES => {
                let n = u32::from(self.max_queue_pairs - 1);
                Ok(n << 16 | n)
            }
            admin::SET_FEATURES => Err(Status::new(sct::GENERIC, generic::INVALID_FIELD)),
            _ => Err(Status::new(sct::GENERIC, generic::INVALID_OPCODE)),
        }
    }

    fn identify(&self, c: &Command) -> Result<Vec<u8>, Status> {
        match c.cdw[0] & 0xff {
            admin::CNS_CONTROLLER => Ok(self.controller_data()),
            admin::CNS_NAMESPACE => {
                let i = (c.nsid as usize).wrapping_sub(1);
                match self.namespaces.get(i) {
                    Some(Some(ns)) => Ok(namespace_data(ns)),
                    Some(None) => Ok(vec![0; IDENTIFY_BYTES]),
                    None => Err(Status::new(sct::GENERIC, generic::INVALID_NAMESPACE)),
                }
            }
            admin::CNS_ACTIVE_NAMESPACES if self.vs >= 0x0001_0100 => {
                let mut d = vec![0u8; IDENTIFY_BYTES];
                let ids = (1..=self.namespaces.len() as u32)
                    .filter(|&id| id > c.nsid && self.namespaces[id as usize - 1].is_some());
                for (i, id) in ids.enumerate() {
                    d[4 * i..4 * i + 4].copy_from_slice(&id.to_le_bytes());
                }
                Ok(d)
            }
            _ => Err(Status::new(sct::GENERIC, generic::INVALID_FIELD)),
        }
    }

    /// IDENTIFY CONTROLLER data.
    pub fn controller_data(&self) -> Vec<u8> {
        let mut d = vec![0u8; IDENTIFY_BYTES];
        d[0..2].copy_from_slice(&0x1b36u16.to_le_bytes());
        put_ascii(&mut d[4..24], &self.serial);
        put_ascii(&mut d[24..64], &self.model);
        put_ascii(&mut d[64..72], &self.firmware);
        d[77] = self.mdts;
        d[78..80].copy_from_slice(&7u16.to_le_bytes());
        d[80..84].copy_from_slice(&self.vs.to_le_bytes());
        d[512] = 0x66;
        d[513] = 0x44;
        d[516..520].copy_from_slice(&(self.namespaces.len() as u32).to_le_bytes());
        d[525] = 1;
        d
    }

    fn create_cq(&mut self, c: &Command) -> Result<u32, Status> {
        let (qid, entries) = (c.cdw[0] as u16, (c.cdw[0] >> 16) as u16 + 1);
        self.check_new_queue(qid, entries, self.cqs.contains_key(&qid))?;
        assert_eq!(c.cdw[1] & 0b10, 0, "the driver polls: no interrupts");
        if c.cdw[1] & 1 == 0 {
            return Err(Status::new(sct::GENERIC, generic::INVALID_FIELD));
        }
        assert_eq!(c.prp1 % PAGE_BYTES as u64, 0, "CQ alignment");
        let cq = FakeCq {
            base: c.prp1,
            entries,
            tail: 0,
            head: 0,
            phase: true,
        };
        self.cqs.insert(qid, cq);
        Ok(0)
    }

    fn create_sq(&mut self, c: &Command) -> Result<u32, Status> {
        let (qid, entries) = (c.cdw[0] as u16, (c.cdw[0] >> 16) as u16 + 1);
        self.check_new_queue(qid, entries, self.sqs.contains_key(&qid))?;
        let cqid = (c.cdw[1] >> 16) as u16;
        if cqid == 0 || !self.cqs.contains_key(&cqid) {
            return Err(Status::new(sct::COMMAND_SPECIFIC, 0x00));
        }
        if c.cdw[1] & 1 == 0 {
            return Err(Status::new(sct::GENERIC, generic::INVALID_FIELD));
        }
        assert_eq!(c.prp1 % PAGE_BYTES as u64, 0, "SQ alignment");
        let sq = FakeSq {
            base: c.prp1,
            entries,
            head: 0,
            cqid,
        };
        self.sqs.insert(qid, sq);
        Ok(0)
    }

    fn check_new_queue(&self, qid: u16, entries: u16, exists: bool) -> Result<(), Status> {
        if qid == 0 || qid > self.max_queue_pairs || exists {
            return Err(Status::new(sct::COMMAND_SPECIFIC, 0x01));
        }
        let max = (self.cap & 0xffff) as u32 + 1;
        if !(2..=max).contains(&u32::from(entries)) {
            return Err(Status::new(sct::COMMAND_SPECIFIC, 0x02));
        }
        Ok(())
    }

    fn delete(&mut self, qid: u16, sq: bool) -> Result<u32, Status> {
        let gone = if sq {
            self.sqs.remove(&qid).is_some()
        } else {
            self.cqs.remove(&qid).is_some()
        };
        if qid == 0 || !gone {
            return Err(Status::new(sct::COMMAND_SPECIFIC, 0x01));
        }
        Ok(0)
    }

    fn io(&mut self, c: Command) -> Result<u32, Status> {
        let i = (c.nsid as usize).wrapping_sub(1);
        let Some(Some(ns)) = self.namespaces.get(i) else {
            return Err(Status::new(sct::GENERIC, generic::INVALID_NAMESPACE));
        };
        if c.opcode == io::FLUSH {
            self.flushes += 1;
            return Ok(0);
        }
        if c.opcode != io::READ && c.opcode != io::WRITE {
            return Err(Status::new(sct::GENERIC, generic::INVALID_OPCODE));
        }
        let blocks = u64::from(c.cdw[2] & 0xffff) + 1;
        let bytes = blocks as usize * ns.block_bytes();
        if self.mdts != 0 && bytes > PAGE_BYTES << self.mdts {
            return Err(Status::new(sct::GENERIC, generic::INVALID_FIELD));
        }
        if c.lba()
            .checked_add(blocks)
            .is_none_or(|end| end > ns.blocks())
        {
            return Err(Status::new(sct::GENERIC, generic::LBA_OUT_OF_RANGE));
        }
        let start = c.lba() as usize * ns.block_bytes();
        if c.opcode == io::READ {
            let data = ns.data[start..start + bytes].to_vec();
            self.copy_out(&c, &data)?;
        } else {
            let data = self.copy_in(&c, bytes)?;
            if let Some(Some(ns)) = self.namespaces.get_mut(i) {
                ns.data[start..start + bytes].copy_from_slice(&data);
            }
        }
        Ok(0)
    }

    /// The memory PRP1, PRP2 and (for more than two pages) the PRP list describe, recording
    /// the list in the last submitted command.
    fn segments(&mut self, c: &Command, bytes: usize) -> Result<Vec<(u64, usize)>, Status> {
        assert_eq!(c.prp1 % 4, 0, "PRP1 must be dword aligned");
        let first = bytes.min(PAGE_BYTES - (c.prp1 % PAGE_BYTES as u64) as usize);
        let mut segments = vec![(c.prp1, first)];
        let mut left = bytes - first;
        if left == 0 {
            return Ok(segments);
        }
        if left <= PAGE_BYTES {
            if !c.prp2.is_multiple_of(PAGE_BYTES as u64) {
                return Err(Status::new(sct::GENERIC, generic::PRP_OFFSET_INVALID));
            }
            segments.push((c.prp2, left));
            return Ok(segments);
        }
        let n = left.div_ceil(PAGE_BYTES);
        assert_eq!(c.prp2 % 8, 0, "PRP list alignment");
        assert!(
            (c.prp2 % PAGE_BYTES as u64) as usize + 8 * n <= PAGE_BYTES,
            "PRP list chaining is not modelled"
        );
        let raw = self.dma.read_mem(c.prp2, 8 * n);
        let list: Vec<u64> = raw
            .chunks(8)
            .map(|e| u64::from_le_bytes(e.try_into().unwrap()))
            .collect();
        for &entry in &list {
            if !entry.is_multiple_of(PAGE_BYTES as u64) {
                return Err(Status::new(sct::GENERIC, generic::PRP_OFFSET_INVALID));
            }
            let len = left.min(PAGE_BYTES);
            segments.push((entry, len));
            left -= len;
        }
        if let Some(last) = self.submitted.last_mut() {
            last.prp_list = list;
        }
        Ok(segments)
    }

    fn copy_out(&mut self, c: &Command, data: &[u8]) -> Result<(), Status> {
        let mut at = 0;
        for (addr, len) in self.segments(c, data.len())? {
            self.dma.write_mem(addr, &data[at..at + len]);
            at += len;
        }
        Ok(())
    }

    fn copy_in(&mut self, c: &Command, bytes: usize) -> Result<Vec<u8>, Status> {
        let mut data = Vec::with_capacity(bytes);
        for (addr, len) in self.segments(c, bytes)? {
            data.extend_from_slice(&self.dma.read_mem(addr, len));
        }
        Ok(data)
    }
}

fn put_ascii(field: &mut [u8], s: &str) {
    field.fill(b' ');
    for (d, c) in field.iter_mut().zip(s.bytes()) {
        *d = c;
    }
}

/// IDENTIFY NAMESPACE data: two LBA formats (0: 512 bytes; 1: the namespace's), format 1 in
/// use.
pub fn namespace_data(ns: &FakeNamespace) -> Vec<u8> {
    let mut d = vec![0u8; IDENTIFY_BYTES];
    let blocks = ns.blocks();
    d[0..8].copy_from_slice(&blocks.to_le_bytes());
    d[8..16].copy_from_slice(&blocks.to_le_bytes());
    d[16..24].copy_from_slice(&blocks.to_le_bytes());
    d[25] = 1;
    d[26] = 1;
    d[128..132].copy_from_slice(&(9u32 << 16).to_le_bytes());
    let lbaf1 = u32::from(ns.lbads) << 16 | u32::from(ns.metadata);
    d[132..136].copy_from_slice(&lbaf1.to_le_bytes());
    d
}

/// The fake as a HAL ([`Shared`]).
pub type FakeHal = Shared<FakeNvme>;

impl HasFakeDma for FakeNvme {
    fn dma(&mut self) -> &mut FakeDma {
        &mut self.dma
    }
}

impl HasFakeRegisters for FakeNvme {
    fn read_register(&mut self, offset: usize) -> u32 {
        self.read(offset)
    }

    fn write_register(&mut self, offset: usize, value: u32) {
        self.write(offset, value)
    }
}
