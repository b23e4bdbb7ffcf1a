//! The update sequence against a fake slot I/O: its order, a failure at every step, refusals.

use super::*;
use pgdelta::encode::{encode, NewRegion, OldRegion, Options};

/// Slot B's first block and room (blocks) in the fake disk.
const B_START: u64 = 16;
const B_BLOCKS: u64 = 16;

/// A slot call the fake saw, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    Unbootable,
    Write(u64),
    Flush,
    Active,
}

struct Fake {
    a: Vec<u8>,
    b: Vec<u8>,
    booted: SlotId,
    events: Vec<Ev>,
    /// The n-th changing call (0-based) fails.
    fail_at: Option<usize>,
    verifies: bool,
}

impl Fake {
    fn new(a: Vec<u8>) -> Self {
        Self {
            a,
            b: vec![0xee; (B_BLOCKS * BLOCK) as usize],
            booted: SlotId::A,
            events: Vec::new(),
            fail_at: None,
            verifies: true,
        }
    }

    fn record(&mut self, ev: Ev) -> Result<(), Error> {
        if self.fail_at == Some(self.events.len()) {
            return Err(Error::Unsupported);
        }
        self.events.push(ev);
        Ok(())
    }
}

impl SlotIo for Fake {
    fn slot_read(&mut self, slot: SlotId, block: u64, buf: &mut [u8]) -> Result<(), Error> {
        let room = match slot {
            SlotId::A => &self.a,
            SlotId::B => &self.b,
        };
        let at = (block * BLOCK) as usize;
        buf.copy_from_slice(room.get(at..at + buf.len()).ok_or(Error::BadLength)?);
        Ok(())
    }
    fn slot_write(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        assert_eq!(data.len() % BLOCK_SIZE, 0);
        self.record(Ev::Write(block))?;
        let at = (block * BLOCK) as usize;
        let room = match self.booted {
            SlotId::A => &mut self.b,
            SlotId::B => &mut self.a,
        };
        room.get_mut(at..at + data.len())
            .ok_or(Error::BadLength)?
            .copy_from_slice(data);
        Ok(())
    }
    fn slot_flush(&mut self) -> Result<(), Error> {
        self.record(Ev::Flush)
    }
    fn slot_set(&mut self, action: SlotAction, slot: SlotId) -> Result<(), Error> {
        assert_ne!(
            slot, self.booted,
            "an update never changes the running slot"
        );
        match action {
            SlotAction::MarkUnbootable => self.record(Ev::Unbootable),
            SlotAction::SetActive if !self.verifies => Err(Error::Refused),
            SlotAction::SetActive => self.record(Ev::Active),
            SlotAction::Try => panic!("an update makes the slot active, it does not try it"),
        }
    }
    fn booted(&mut self) -> Result<SlotId, Error> {
        Ok(self.booted)
    }
}

/// A slot: block 0 (zeros), the kernel at block 1, the manifest right after it, then one
/// service (the layout `cargo xtask delta` sees).
struct Layout {
    bytes: Vec<u8>,
    regions: Vec<Region>,
}

fn layout(kernel: &[u8], manifest: &[u8], svc: &[u8]) -> Layout {
    let manifest_at = 1 + kernel.len().div_ceil(BLOCK_SIZE);
    let mut bytes = vec![0u8; (manifest_at + 1) * BLOCK_SIZE];
    let mut regions = Vec::new();
    for (name, block, data) in [
        ("kernel", 1, kernel),
        ("manifest", manifest_at, manifest),
        ("svc", manifest_at + 1, svc),
    ] {
        let at = block * BLOCK_SIZE;
        bytes.resize(bytes.len().max(at + data.len()), 0);
        bytes[at..at + data.len()].copy_from_slice(data);
        regions.push(Region {
            name: String::from(name),
            offset: at as u64,
            len: data.len() as u64,
            sha256: loader::Sha256Digest::of(data).0,
        });
    }
    bytes.resize(bytes.len().next_multiple_of(BLOCK_SIZE), 0);
    Layout { bytes, regions }
}

fn kernel() -> Vec<u8> {
    (0..5000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn old() -> Layout {
    layout(&kernel(), br#"{"old":1}"#, &[3u8; 9000])
}

fn image_id(l: &Layout) -> [u8; 16] {
    let m = &l.regions[1];
    loader::sha256::image_id(&l.bytes[m.offset as usize..(m.offset + m.len) as usize])
}

fn delta(old: &Layout, new: &Layout) -> Vec<u8> {
    let bytes = |l: &'_ Layout, r: &Region| -> Vec<u8> {
        l.bytes[r.offset as usize..(r.offset + r.len) as usize].to_vec()
    };
    let olds: Vec<(String, Vec<u8>, [u8; 32])> = old
        .regions
        .iter()
        .map(|r| (r.name.clone(), bytes(old, r), r.sha256))
        .collect();
    let news: Vec<(String, u64, Vec<u8>, [u8; 32])> = new
        .regions
        .iter()
        .map(|r| (r.name.clone(), r.offset, bytes(new, r), r.sha256))
        .collect();
    let old_regions: Vec<OldRegion<'_>> = olds
        .iter()
        .map(|(name, bytes, sha256)| OldRegion {
            name,
            bytes,
            sha256: *sha256,
        })
        .collect();
    let new_regions: Vec<NewRegion<'_>> = news
        .iter()
        .map(|(name, offset, bytes, sha256)| NewRegion {
            name,
            offset: *offset,
            bytes,
            sha256: *sha256,
        })
        .collect();
    let opts = Options {
        base_image_id: image_id(old),
        security_epoch: 1,
        target_len: new.bytes.len() as u64,
        level: 3,
        sign_key: None,
    };
    encode(&old_regions, &new_regions, &opts).unwrap().bytes
}

/// The disk's block 0 of the fake disk (slot A's own fields from `a`), with MBR bytes.
fn disk_block0(a: &Layout) -> Superblock {
    let table = SlotTable {
        b_start: B_START,
        b_blocks: B_BLOCKS,
    };
    Superblock {
        format_version: FORMAT_VERSION,
        kernel_blocks: 2,
        kernel_start: 1,
        manifest_start: 3,
        manifest_bytes: a.regions[1].len,
        data_start: 40,
        total_blocks: 64,
        image_id: image_id(a),
        slots: Some(table),
        ..Superblock::default()
    }
}

fn with_mbr(sb: &Superblock) -> Box<[u8; BLOCK_SIZE]> {
    let mut b = Box::new(sb.encode());
    b[440..444].copy_from_slice(b"disk");
    b[510..512].copy_from_slice(&[0x55, 0xaa]);
    b
}

fn running(old: &Layout) -> Running {
    let disk = disk_block0(old);
    let table = disk.slots.unwrap();
    Running {
        booted: SlotId::A,
        target: SlotId::B,
        own: disk,
        disk,
        disk_block0: with_mbr(&disk),
        table,
        regions: old.regions.clone(),
        policy: Policy::Permissive,
        ring: Box::new(KeyRing::new()),
        min_epoch: 0,
    }
}

fn run(fake: Fake, delta: &[u8], old: &Layout) -> (Result<Done, UpdateError>, Fake, Vec<u32>) {
    let io = RefCell::new(fake);
    let mut shown = Vec::new();
    let result = apply(&io, delta, &running(old), &mut |p| shown.push(p));
    (result, io.into_inner(), shown)
}

#[test]
fn unbootable_first_then_every_write_then_flush_then_active() {
    let (old, new) = (old(), layout(&kernel(), br#"{"new":2}"#, &[4u8; 9000]));
    let d = delta(&old, &new);
    let (result, fake, shown) = run(Fake::new(old.bytes.clone()), &d, &old);
    let done = result.unwrap();
    assert_eq!(done.parts, 3);
    assert_eq!(fake.events.first(), Some(&Ev::Unbootable));
    let n = fake.events.len();
    assert_eq!(
        &fake.events[n - 3..],
        &[Ev::Write(0), Ev::Flush, Ev::Active]
    );
    assert!(fake.events[1..n - 3]
        .iter()
        .all(|e| matches!(e, Ev::Write(b) if *b >= 1)));
    // Slot B holds the new slot after block 0, and block 0 is the new one's.
    let len = new.bytes.len();
    assert_eq!(&fake.b[BLOCK_SIZE..len], &new.bytes[BLOCK_SIZE..]);
    let sb = Superblock::decode(&fake.b[..BLOCK_SIZE]).unwrap();
    assert_eq!(sb.image_id, image_id(&new));
    assert_eq!(
        (sb.data_start, sb.total_blocks),
        (40 - B_START, 64 - B_START)
    );
    assert_eq!(shown.last(), Some(&100));
}

#[test]
fn a_failure_at_any_step_leaves_no_active_slot() {
    let (old, new) = (old(), layout(&kernel(), br#"{"new":2}"#, &[4u8; 9000]));
    let d = delta(&old, &new);
    let (_, all, _) = run(Fake::new(old.bytes.clone()), &d, &old);
    for k in 0..all.events.len() {
        let mut fake = Fake::new(old.bytes.clone());
        fake.fail_at = Some(k);
        let (result, fake, _) = run(fake, &d, &old);
        assert!(result.is_err(), "step {k}");
        assert!(!fake.events.contains(&Ev::Active), "step {k}");
        // Nothing is written before slot B is out of service.
        if k == 0 {
            assert!(fake.events.is_empty());
        }
    }
    let mut fake = Fake::new(old.bytes.clone());
    fake.verifies = false;
    let (result, fake, _) = run(fake, &d, &old);
    assert_eq!(result, Err(UpdateError::Unverified(SlotId::B)));
    assert!(!fake.events.contains(&Ev::Active));
}

#[test]
fn a_kernel_changing_delta_is_applied_and_block0_follows_the_new_kernel() {
    let old = old();
    let mut k = kernel();
    k[10] ^= 1;
    k.extend((0..6000u32).map(|i| (i * 13 % 241) as u8));
    let new = layout(&k, br#"{"new":2}"#, &[3u8; 9000]);
    let (result, fake, _) = run(Fake::new(old.bytes.clone()), &delta(&old, &new), &old);
    result.unwrap();
    assert_eq!(fake.events.last(), Some(&Ev::Active));
    let len = new.bytes.len();
    assert_eq!(&fake.b[BLOCK_SIZE..len], &new.bytes[BLOCK_SIZE..]);
    let sb = Superblock::decode(&fake.b[..BLOCK_SIZE]).unwrap();
    assert_eq!((sb.kernel_blocks, sb.manifest_start), (3, 4));
    assert_eq!(sb.image_id, image_id(&new));
}

#[test]
fn pgdelta_refusals_are_one_line_and_write_nothing() {
    let (old, new) = (old(), layout(&kernel(), br#"{"new":2}"#, &[4u8; 9000]));
    let d = delta(&old, &new);
    // Cut short.
    let (result, fake, _) = run(Fake::new(old.bytes.clone()), &d[..d.len() - 1], &old);
    let delta_error = |r: Result<Done, UpdateError>| match r {
        Err(UpdateError::Delta(e)) => Some(*e),
        _ => None,
    };
    assert!(matches!(
        delta_error(result),
        Some(DeltaError::Truncated { .. })
    ));
    assert!(fake.events.is_empty());
    // Made against another image.
    let other = layout(&kernel(), br#"{"other":3}"#, &[3u8; 9000]);
    let (result, fake, _) = run(Fake::new(other.bytes.clone()), &d, &other);
    let e = result.unwrap_err();
    assert!(!e.to_string().contains('\n'));
    assert!(matches!(
        delta_error(Err(e)),
        Some(DeltaError::WrongBase { .. })
    ));
    assert!(fake.events.is_empty());
}

#[test]
fn slot_a_is_written_while_b_runs_and_keeps_the_disk_s_geometry_and_mbr() {
    // Slot A holds some other system; slot B runs `old`.
    let (a, old) = (layout(&kernel(), br#"{"a":0}"#, &[1u8; 9000]), old());
    let new = layout(&kernel(), br#"{"new":2}"#, &[4u8; 9000]);
    let disk = disk_block0(&a);
    let mut fake = Fake::new(vec![0xee; (B_START * BLOCK) as usize]);
    fake.a[..BLOCK_SIZE].copy_from_slice(&with_mbr(&disk)[..]);
    fake.b = old.bytes.clone();
    fake.b.resize((B_BLOCKS * BLOCK) as usize, 0);
    fake.booted = SlotId::B;
    let mut r = running(&old);
    (r.booted, r.target, r.disk, r.disk_block0) = (SlotId::B, SlotId::A, disk, with_mbr(&disk));
    r.own.image_id = image_id(&old);
    let io = RefCell::new(fake);
    let done = apply(&io, &delta(&old, &new)[..], &r, &mut |_| {}).unwrap();
    let fake = io.into_inner();
    assert_eq!(done.slot, SlotId::A);
    assert_eq!(fake.events.first(), Some(&Ev::Unbootable));
    assert_eq!(fake.events.last(), Some(&Ev::Active));
    assert_eq!(
        &fake.a[BLOCK_SIZE..new.bytes.len()],
        &new.bytes[BLOCK_SIZE..]
    );
    assert_eq!(
        fake.b[..old.bytes.len()],
        old.bytes[..],
        "the running slot changed"
    );
    let sb = Superblock::decode(&fake.a[..BLOCK_SIZE]).unwrap();
    assert_eq!(sb.image_id, image_id(&new));
    assert_eq!(
        (sb.data_start, sb.total_blocks, sb.slots),
        (40, 64, disk.slots)
    );
    assert_eq!(&fake.a[440..512], &with_mbr(&disk)[440..512]);
}

#[test]
fn a_chunk_reader_reads_across_chunks_and_refuses_an_empty_one() {
    let file: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let mut fetches = 0;
    let mut r = ChunkReader::new(file.len() as u64, |at, chunk: &mut Vec<u8>| {
        fetches += 1;
        let at = at as usize;
        chunk.extend_from_slice(&file[at..(at + 3000).min(file.len())]);
        Ok(())
    });
    let mut out = vec![0u8; 7000];
    r.read_at(1500, &mut out).unwrap();
    assert_eq!(out[..], file[1500..8500]);
    let mut again = [0u8; 10];
    r.read_at(8400, &mut again).unwrap();
    assert_eq!(again[..], file[8400..8410]);
    drop(r);
    assert_eq!(fetches, 3, "the last chunk is kept");
    let mut empty = ChunkReader::new(10, |_, _: &mut Vec<u8>| Ok(()));
    assert_eq!(empty.read_at(0, &mut [0u8; 4]), Err(IoError));
}
