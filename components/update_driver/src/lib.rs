//! `update FILE`: applying a signed delta (`PGDELTA1`, docs/update-format.md) from the
//! user-data store into the inactive system slot of the running system, behind small traits
//! ([`SlotIo`] for the slot calls, `pgdelta::ReadAt` for the stored file) so that the sequence
//! runs on the host in tests.
//!
//! The sequence (docs/slots.md, "Updating the running system"): read the running slot (its
//! block 0, manifest, regions and the kernel's enrolled key ring) and the disk's block 0; check
//! the whole delta (file, signature, base, epoch, space); mark the other slot unbootable;
//! stream the delta through `pgdelta::apply` into its room; write its block 0 (derived from
//! the new kernel and manifest) last; flush; ask the kernel to make it active, which it does
//! only once it verifies and its boot files are installed on the ESP (docs/esp.md). A power
//! cut anywhere leaves the running slot booting; a later `update` starts again from scratch.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use abi::{Error, SlotAction, SlotId};
use loader::manifest::MAX_MANIFEST_BYTES;
use loader::slots::{window_superblock, SlotTable};
use loader::superblock::{Superblock, BLOCK_SIZE, FORMAT_VERSION};
use pgdelta::{DeltaError, IoError, ReadAt, Region, Rules, WriteAt};
use signing::{KeyRing, Policy};

/// The slot calls an update makes (SLOT_READ, SLOT_WRITE, SLOT_SET, SLOTS).
pub trait SlotIo {
    /// SLOT_READ: blocks from `block` on of `slot`'s room into `buf` (whole blocks, ≤ 64 KiB).
    fn slot_read(&mut self, slot: SlotId, block: u64, buf: &mut [u8]) -> Result<(), Error>;
    /// SLOT_WRITE: `data` (whole blocks, ≤ 64 KiB) from `block` on of the inactive slot.
    fn slot_write(&mut self, block: u64, data: &[u8]) -> Result<(), Error>;
    /// SLOT_WRITE of nothing: the disk's write cache flushed.
    fn slot_flush(&mut self) -> Result<(), Error>;
    /// SLOT_SET `action` on `slot` (the kernel verifies a slot it is asked to make bootable).
    fn slot_set(&mut self, action: SlotAction, slot: SlotId) -> Result<(), Error>;
    /// The slot booted now (SLOTS' `(booted now)` line).
    fn booted(&mut self) -> Result<SlotId, Error>;
}

/// Bytes one SLOT_READ or SLOT_WRITE moves at most.
pub const IO_CHUNK: usize = 64 * 1024;
const BLOCK: u64 = BLOCK_SIZE as u64;

/// The step of the sequence a slot call failed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reading the running slot.
    ReadRunning,
    /// Marking the inactive slot unbootable.
    MarkUnbootable,
    /// Writing the inactive slot.
    Write,
    /// Flushing the disk.
    Flush,
    /// Making the written slot active (the kernel verifies it first).
    Activate,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ReadRunning => "reading the running slot",
            Self::MarkUnbootable => "marking the other slot unbootable",
            Self::Write => "writing the other slot",
            Self::Flush => "flushing the disk",
            Self::Activate => "making the other slot active",
        })
    }
}

/// Why an update stopped. Every variant displays one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// The image has one system slot.
    OneSlot,
    /// The running slot's block 0 does not read back as valid.
    RunningSlot(Box<loader::LoadError>),
    /// The running slot's manifest does not parse.
    RunningManifest,
    /// The delta was refused (pgdelta's one-line reasons).
    Delta(Box<DeltaError>),
    /// The new kernel is not at block 1, or the new manifest does not lie right after it.
    Layout,
    /// A slot call failed.
    Slot {
        /// Where.
        step: Step,
        /// The kernel's answer.
        error: Error,
    },
    /// The kernel refused to make the written slot active: it does not verify, or its boot
    /// files could not be installed.
    Unverified(SlotId),
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OneSlot => f.write_str("this image has one system slot; build it with --slots 2"),
            Self::RunningSlot(e) => write!(f, "the running slot does not read back: {e}"),
            Self::RunningManifest => f.write_str("the running slot's manifest does not parse: reinstall the image"),
            Self::Delta(e) => write!(f, "{e}"),
            Self::Layout => f.write_str("the delta's kernel is not at block 1 or its manifest does not lie right after the kernel: it was not made by `cargo xtask delta`"),
            Self::Slot { step, error: Error::Refused } => write!(f, "{step}: the kernel refused (its log says why)"),
            Self::Slot { step, error } => write!(f, "{step}: {error}"),
            Self::Unverified(slot) => write!(f, "slot {} does not verify after writing, or its boot files could not be installed (the kernel log says why): it stays unbootable; run `update` again", letter(*slot)),
        }
    }
}

impl From<DeltaError> for UpdateError {
    fn from(e: DeltaError) -> Self {
        Self::Delta(Box::new(e))
    }
}

/// A slot's letter.
pub fn letter(slot: SlotId) -> char {
    match slot {
        SlotId::A => 'A',
        SlotId::B => 'B',
    }
}

/// The slot SLOTS' text marks `(booted now)`.
pub fn booted_in(text: &[u8]) -> Option<SlotId> {
    let text = core::str::from_utf8(text).ok()?;
    let line = text.lines().find(|l| l.ends_with("(booted now)"))?;
    match line.strip_prefix("slot ")?.get(..1)? {
        "A" => Some(SlotId::A),
        "B" => Some(SlotId::B),
        _ => None,
    }
}

/// The line a successful update ends with (the console prints it, status_http answers it).
pub fn done_line(done: &Done, ms: u64) -> String {
    alloc::format!(
        "update: slot {} written ({} parts, {} bytes) in {ms} ms; reboot to try it",
        letter(done.slot),
        done.parts,
        done.written
    )
}

/// The running slot as an update needs it.
pub struct Running {
    /// The slot booted now.
    pub booted: SlotId,
    /// The slot the update writes: the other one.
    pub target: SlotId,
    /// The running slot's own block 0 (its image id, regions; a window superblock for B).
    pub own: Superblock,
    /// The disk's block 0 (slot A's: the geometry and the slot table), and its exact bytes
    /// (the MBR in them is kept when slot A is written).
    pub disk: Superblock,
    /// [`Running::disk`]'s bytes.
    pub disk_block0: Box<[u8; BLOCK_SIZE]>,
    /// Where slot B lies.
    pub table: SlotTable,
    /// A's regions with its manifest's sums.
    pub regions: Vec<Region>,
    /// The kernel's enrolled policy (permissive without one).
    pub policy: Policy,
    /// The kernel's enrolled key ring (empty without one; boxed: it is large).
    pub ring: Box<KeyRing>,
    /// The lowest `security_epoch` accepted: the running slot's (the kernel checks its
    /// security record's minimum again before B is made active).
    pub min_epoch: u32,
}

impl Running {
    /// `slot`'s room in bytes (A: from block 0 to B's start; B: its room).
    pub fn room(&self, slot: SlotId) -> u64 {
        match slot {
            SlotId::A => self.table.b_start * BLOCK,
            SlotId::B => self.table.b_blocks * BLOCK,
        }
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            policy: self.policy,
            ring: &self.ring,
            min_epoch: self.min_epoch,
        }
    }
}

/// What an update did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// Parts applied.
    pub parts: usize,
    /// The slot written.
    pub slot: SlotId,
    /// Bytes of it written (block 0 included).
    pub written: u64,
}

/// Reads the running slot: its block 0, manifest, regions and enrolled key ring, and the
/// disk's block 0.
///
/// # Errors
/// [`UpdateError::OneSlot`], [`UpdateError::RunningSlot`], or a failed read.
pub fn read_running<S: SlotIo>(io: &RefCell<S>) -> Result<Box<Running>, UpdateError> {
    let read_err = |error| UpdateError::Slot {
        step: Step::ReadRunning,
        error,
    };
    let (booted, target) = match io.borrow_mut().booted() {
        Ok(SlotId::A) => (SlotId::A, SlotId::B),
        Ok(SlotId::B) => (SlotId::B, SlotId::A),
        Err(Error::NotFound) => return Err(UpdateError::OneSlot),
        Err(e) => return Err(read_err(e)),
    };
    let mut disk_block0 = Box::new([0u8; BLOCK_SIZE]);
    let mut disk_reader = SlotReader::new(io, SlotId::A, u64::MAX);
    let read = disk_reader.read_at(0, &mut disk_block0[..]);
    read.map_err(|_| disk_reader.error())?;
    let disk = Superblock::decode(&disk_block0[..]).map_err(running_err)?;
    let table = disk.slots.ok_or(UpdateError::OneSlot)?;
    let mut reader = SlotReader::new(io, booted, u64::MAX);
    let mut block0 = vec![0u8; BLOCK_SIZE];
    reader.read_at(0, &mut block0).map_err(|_| reader.error())?;
    let own = Superblock::decode(&block0).map_err(running_err)?;
    let len = usize::try_from(own.manifest_bytes)
        .ok()
        .filter(|&n| n <= MAX_MANIFEST_BYTES)
        .ok_or_else(|| running_err(loader::LoadError::ImageEmpty))?;
    let mut json = vec![0u8; len];
    let at = own.manifest_start * BLOCK;
    reader.read_at(at, &mut json).map_err(|_| reader.error())?;
    let manifest = loader::slim::parse(&json).map_err(|_| UpdateError::RunningManifest)?;
    let regions = regions(&own, &manifest, &block0, &json);
    let (policy, ring) = find_trust(&mut reader, BLOCK, manifest.kernel.size_bytes)?;
    Ok(Box::new(Running {
        booted,
        target,
        own,
        disk,
        disk_block0,
        table,
        regions,
        policy,
        ring,
        min_epoch: manifest.security_epoch,
    }))
}

fn running_err(e: loader::LoadError) -> UpdateError {
    UpdateError::RunningSlot(Box::new(e))
}

/// A slot's regions (docs/update-format.md, "Regions"), as `cargo xtask delta` names them.
pub fn regions(
    sb: &Superblock,
    manifest: &loader::slim::Slim<'_>,
    block0: &[u8],
    json: &[u8],
) -> Vec<Region> {
    use loader::signature::{RECORD_AT, RECORD_END};
    let region = |name: &str, offset: u64, len: u64, sha256| Region {
        name: String::from(name),
        offset,
        len,
        sha256,
    };
    let mut out = Vec::new();
    if sb.signature.is_some() {
        let sum = loader::Sha256Digest::of(&block0[RECORD_AT..RECORD_END]).0;
        let len = (RECORD_END - RECORD_AT) as u64;
        out.push(region("signature", RECORD_AT as u64, len, sum));
    }
    let k = &manifest.kernel;
    out.push(region(
        "kernel",
        k.start_block * BLOCK,
        k.size_bytes,
        k.sha256,
    ));
    let sum = loader::Sha256Digest::of(json).0;
    out.push(region(
        "manifest",
        sb.manifest_start * BLOCK,
        json.len() as u64,
        sum,
    ));
    for e in &manifest.entries {
        let at = e.start_block * BLOCK;
        out.push(region(e.name, at, e.size_bytes, e.sha256));
    }
    out
}

/// The kernel's enrolled trust block, found in `len` bytes from `at` (read a window at a time,
/// each overlapping the last by a block's length).
fn find_trust<S: SlotIo>(
    reader: &mut SlotReader<'_, S>,
    at: u64,
    len: u64,
) -> Result<(Policy, Box<KeyRing>), UpdateError> {
    use signing::trust::{find_enrolled, Trust, TRUST_LEN};
    let mut window: Vec<u8> = Vec::with_capacity(IO_CHUNK + TRUST_LEN);
    let mut pos = 0u64;
    while pos < len {
        let n = usize::try_from(len - pos).unwrap_or(IO_CHUNK).min(IO_CHUNK);
        let keep = window.len().min(TRUST_LEN);
        window.drain(..window.len() - keep);
        let start = window.len();
        window.resize(start + n, 0);
        reader
            .read_at(at + pos, &mut window[start..])
            .map_err(|_| reader.error())?;
        if let Ok(Some(i)) = find_enrolled(&window) {
            if let Ok(Some(trust)) = Trust::decode(&window[i..]) {
                return Ok((trust.policy, Box::new(trust.ring)));
            }
        }
        pos += n as u64;
    }
    // A kernel without a ring (fake test kernels) checks nothing, as at boot.
    Ok((Policy::Permissive, Box::new(KeyRing::new())))
}

/// Checks everything that needs no writing: the file, its signature, base, epoch and size,
/// and the layout block 0 is derived from (the kernel at block 1, the manifest right after).
///
/// # Errors
/// The first refusal.
pub fn precheck<D: ReadAt>(
    delta: &mut D,
    running: &Running,
) -> Result<pgdelta::Delta, UpdateError> {
    let d = pgdelta::verify_file(delta)?;
    pgdelta::verify::authenticate(&d.header, &running.rules())?;
    let capacity = running.room(running.target);
    pgdelta::verify::check_fit(&d.header, running.own.image_id, capacity, running.min_epoch)?;
    kernel_blocks(&d)?;
    Ok(d)
}

/// The new slot's kernel length in blocks, checking the layout `cargo xtask delta` writes: the
/// kernel at block 1, the manifest right after it.
fn kernel_blocks(d: &pgdelta::Delta) -> Result<u32, UpdateError> {
    let kernel = d.parts.iter().find(|p| p.name == "kernel");
    let kernel = kernel.filter(|k| k.target_offset == BLOCK && k.target_len > 0);
    let blocks = kernel.and_then(|k| u32::try_from(k.target_len.div_ceil(BLOCK)).ok());
    let blocks = blocks.ok_or(UpdateError::Layout)?;
    let manifest = &d.parts[d.manifest_index()];
    match manifest.target_offset == (1 + u64::from(blocks)) * BLOCK {
        true => Ok(blocks),
        false => Err(UpdateError::Layout),
    }
}

/// Applies `delta` into the slot not running: the sequence of the module's documentation.
/// `progress` gets the percentage of it written, each time it grows.
///
/// # Errors
/// The first refusal or failure; the other slot is then unbootable (or untouched, for a
/// refusal before anything was written) and the running slot boots.
pub fn apply<S: SlotIo, D: ReadAt>(
    io: &RefCell<S>,
    mut delta: D,
    running: &Running,
    progress: &mut dyn FnMut(u32),
) -> Result<Done, UpdateError> {
    let d = precheck(&mut delta, running)?;
    let slot_err = |step| move |error| UpdateError::Slot { step, error };
    io.borrow_mut()
        .slot_set(SlotAction::MarkUnbootable, running.target)
        .map_err(slot_err(Step::MarkUnbootable))?;
    let mut old = pgdelta::OldSlot {
        image_id: running.own.image_id,
        regions: &running.regions,
        reader: SlotReader::new(io, running.booted, running.room(running.booted)),
    };
    let capacity = running.room(running.target);
    let mut target = SlotWriter::new(io, capacity, d.header.target_len, progress);
    let applied = pgdelta::apply(&mut delta, &mut old, &mut target, &running.rules());
    if let Some(error) = target.failed.or(old.reader.failed) {
        return Err(UpdateError::Slot {
            step: Step::Write,
            error,
        });
    }
    let applied = applied?;
    target.finish().map_err(slot_err(Step::Write))?;
    let block0 = derive_block0(running, &d, &target.block0)?;
    io.borrow_mut()
        .slot_write(0, &block0)
        .map_err(slot_err(Step::Write))?;
    io.borrow_mut()
        .slot_flush()
        .map_err(slot_err(Step::Flush))?;
    match io
        .borrow_mut()
        .slot_set(SlotAction::SetActive, running.target)
    {
        Ok(()) => {}
        Err(Error::Refused) => return Err(UpdateError::Unverified(running.target)),
        Err(error) => return Err(slot_err(Step::Activate)(error)),
    }
    Ok(Done {
        slot: running.target,
        parts: applied.parts,
        written: target.pos.max(BLOCK),
    })
}

/// The written slot's block 0: its own fields from the new kernel and manifest parts and the
/// signature record the delta wrote into it; for B, the window superblock's geometry; for A,
/// the disk's block 0 with only those fields changed (the geometry, the slot table and the
/// MBR's bytes kept: the kernel refuses any other change of the disk's block 0).
fn derive_block0(
    running: &Running,
    d: &pgdelta::Delta,
    written: &[u8; BLOCK_SIZE],
) -> Result<[u8; BLOCK_SIZE], UpdateError> {
    let signature =
        loader::signature::ManifestSignature::decode(written).map_err(|_| UpdateError::Layout)?;
    let manifest = &d.parts[d.manifest_index()];
    let kernel_blocks = kernel_blocks(d)?;
    let own = Superblock {
        format_version: FORMAT_VERSION,
        kernel_blocks,
        kernel_start: 1,
        manifest_start: 1 + u64::from(kernel_blocks),
        manifest_bytes: manifest.target_len,
        image_id: d.header.target_image_id,
        signature,
        ..running.disk
    };
    if running.target == SlotId::A {
        let mut block0 = own.encode();
        let mbr = loader::superblock::MBR_START..loader::superblock::MBR_END;
        block0[mbr.clone()].copy_from_slice(&running.disk_block0[mbr]);
        return Ok(block0);
    }
    let sb = window_superblock(&own, &running.disk, &running.table).ok_or(UpdateError::Layout)?;
    Ok(sb.encode())
}

/// A stored file read at byte offsets through `fetch`, which fills the chunk that starts at an
/// offset (the last chunk is kept): the delta as the console and status_http read it from the
/// user-data store, never held whole.
pub struct ChunkReader<F> {
    fetch: F,
    size: u64,
    cache: Vec<u8>,
    cache_at: u64,
}

impl<F: FnMut(u64, &mut Vec<u8>) -> Result<(), IoError>> ChunkReader<F> {
    /// A file of `size` bytes; `fetch(offset, chunk)` appends the bytes from `offset` on (at
    /// least one) to the emptied `chunk`.
    pub fn new(size: u64, fetch: F) -> Self {
        Self {
            fetch,
            size,
            cache: Vec::new(),
            cache_at: 0,
        }
    }
}

impl<F: FnMut(u64, &mut Vec<u8>) -> Result<(), IoError>> ReadAt for ChunkReader<F> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, out: &mut [u8]) -> Result<(), IoError> {
        let mut done = 0usize;
        while done < out.len() {
            let at = offset + done as u64;
            let cached = at >= self.cache_at && at < self.cache_at + self.cache.len() as u64;
            if !cached {
                self.cache.clear();
                (self.fetch)(at, &mut self.cache)?;
                if self.cache.is_empty() {
                    return Err(IoError);
                }
                self.cache_at = at;
            }
            let from = (at - self.cache_at) as usize;
            let n = (self.cache.len() - from).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.cache[from..from + n]);
            done += n;
        }
        Ok(())
    }
}

/// A slot's room read at byte offsets through whole-block SLOT_READs.
struct SlotReader<'a, S> {
    io: &'a RefCell<S>,
    slot: SlotId,
    size: u64,
    buf: Vec<u8>,
    failed: Option<Error>,
}

impl<'a, S: SlotIo> SlotReader<'a, S> {
    fn new(io: &'a RefCell<S>, slot: SlotId, size: u64) -> Self {
        Self {
            io,
            slot,
            size,
            buf: vec![0u8; IO_CHUNK],
            failed: None,
        }
    }

    fn error(&self) -> UpdateError {
        UpdateError::Slot {
            step: Step::ReadRunning,
            error: self.failed.unwrap_or(Error::Unsupported),
        }
    }
}

impl<S: SlotIo> ReadAt for SlotReader<'_, S> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, out: &mut [u8]) -> Result<(), IoError> {
        let mut done = 0usize;
        while done < out.len() {
            let at = offset + done as u64;
            let block = at / BLOCK;
            let skip = (at % BLOCK) as usize;
            let want = (out.len() - done + skip).next_multiple_of(BLOCK_SIZE);
            let n = want.min(IO_CHUNK);
            let chunk = &mut self.buf[..n];
            if let Err(e) = self.io.borrow_mut().slot_read(self.slot, block, chunk) {
                self.failed = Some(e);
                return Err(IoError);
            }
            let take = (n - skip).min(out.len() - done);
            out[done..done + take].copy_from_slice(&chunk[skip..skip + take]);
            done += take;
        }
        Ok(())
    }
}

/// Slot B written front to back in whole blocks, a batch of [`IO_CHUNK`] bytes per SLOT_WRITE;
/// block 0 is kept in RAM (it is derived and written last).
struct SlotWriter<'a, 'p, S> {
    io: &'a RefCell<S>,
    capacity: u64,
    target_len: u64,
    pos: u64,
    block0: Box<[u8; BLOCK_SIZE]>,
    batch: Vec<u8>,
    batch_block: u64,
    progress: &'p mut dyn FnMut(u32),
    shown: Option<u32>,
    failed: Option<Error>,
}

impl<'a, 'p, S: SlotIo> SlotWriter<'a, 'p, S> {
    fn new(
        io: &'a RefCell<S>,
        capacity: u64,
        target_len: u64,
        progress: &'p mut dyn FnMut(u32),
    ) -> Self {
        Self {
            io,
            capacity,
            target_len: target_len.max(1),
            pos: 0,
            block0: Box::new([0u8; BLOCK_SIZE]),
            batch: Vec::with_capacity(IO_CHUNK),
            batch_block: 1,
            progress,
            shown: None,
            failed: None,
        }
    }

    fn send(&mut self) -> Result<(), Error> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch
            .resize(self.batch.len().next_multiple_of(BLOCK_SIZE), 0);
        self.io
            .borrow_mut()
            .slot_write(self.batch_block, &self.batch)?;
        self.batch_block += (self.batch.len() / BLOCK_SIZE) as u64;
        self.batch.clear();
        let percent = (self.pos.min(self.target_len) * 100 / self.target_len) as u32;
        if self.shown != Some(percent) {
            self.shown = Some(percent);
            (self.progress)(percent);
        }
        Ok(())
    }

    /// Writes what is left of the last batch (its last block padded with zeros).
    fn finish(&mut self) -> Result<(), Error> {
        self.send()
    }
}

impl<S: SlotIo> WriteAt for SlotWriter<'_, '_, S> {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn write_at(&mut self, offset: u64, mut data: &[u8]) -> Result<(), IoError> {
        if offset != self.pos {
            return Err(IoError);
        }
        if self.pos < BLOCK {
            let n = data.len().min((BLOCK - self.pos) as usize);
            let at = self.pos as usize;
            self.block0[at..at + n].copy_from_slice(&data[..n]);
            self.pos += n as u64;
            data = &data[n..];
        }
        while !data.is_empty() {
            let n = data.len().min(IO_CHUNK - self.batch.len());
            self.batch.extend_from_slice(&data[..n]);
            self.pos += n as u64;
            data = &data[n..];
            if self.batch.len() == IO_CHUNK {
                if let Err(e) = self.send() {
                    self.failed = Some(e);
                    return Err(IoError);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
