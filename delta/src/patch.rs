//! Decoding payloads: a full part's zstd frame, and the bspatch-style apply of a patch part.
//!
//! A patch payload is a 32-byte header (control, diff and extra stream lengths, control
//! count; u64 each) and three zstd frames. Each 24-byte control is `diff_len` (u64),
//! `extra_len` (u64), `seek` (i64): add `diff_len` diff bytes to as many old bytes, append
//! `extra_len` extra bytes, then move the old position by `seek`.

use alloc::vec::Vec;
use core::cell::RefCell;

use ruzstd::decoding::StreamingDecoder;
use ruzstd::io::Read;

use crate::format::{CONTROL_LEN, PATCH_HEADER_LEN};
use crate::io::{Range, ReadAt};

/// Why a payload does not decode (the text of [`crate::DeltaError::BadPayload`]).
pub type Problem = &'static str;

/// Bytes moved through the diff and extra streams at a time.
const STEP: usize = 16 * 1024;

/// One zstd stream of a payload, decoded as it is read from the file. The decoder is boxed:
/// three are open at once for a patch, and the console applies deltas on a 64 KiB stack.
struct Stream<'s, R: ReadAt> {
    decoder: alloc::boxed::Box<StreamingDecoder<Range<'s, R>, ruzstd::decoding::FrameDecoder>>,
}

impl<'s, R: ReadAt> Stream<'s, R> {
    fn open(src: &'s RefCell<R>, at: u64, len: u64) -> Result<Self, Problem> {
        let decoder = StreamingDecoder::new(Range::new(src, at, len))
            .map_err(|_| "a zstd frame header is malformed")?;
        Ok(Self {
            decoder: alloc::boxed::Box::new(decoder),
        })
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Problem> {
        self.decoder
            .read_exact(buf)
            .map_err(|_| "a zstd stream ends early or is malformed")
    }

    /// Checks that the frame has no more output and its compressed bytes were all read.
    fn finish(mut self) -> Result<(), Problem> {
        let mut one = [0u8; 1];
        match self.decoder.read(&mut one) {
            Ok(0) if self.decoder.get_ref().is_done() => Ok(()),
            Ok(0) => Err("bytes follow a zstd frame"),
            _ => Err("a zstd stream is longer than its region"),
        }
    }
}

/// Decodes a full part: one zstd frame of exactly `len` bytes at `at..at + payload_len`.
pub(crate) fn full<R: ReadAt>(
    src: &RefCell<R>,
    at: u64,
    payload_len: u64,
    len: usize,
) -> Result<Vec<u8>, Problem> {
    let mut stream = Stream::open(src, at, payload_len)?;
    let mut out = alloc::vec![0u8; len];
    stream.fill(&mut out)?;
    stream.finish()?;
    Ok(out)
}

/// The patch payload's own header.
struct PatchHeader {
    lens: [u64; 3],
    controls: u64,
}

fn patch_header<R: ReadAt>(
    src: &RefCell<R>,
    at: u64,
    payload_len: u64,
) -> Result<PatchHeader, Problem> {
    let mut b = [0u8; PATCH_HEADER_LEN];
    src.borrow_mut()
        .read_at(at, &mut b)
        .map_err(|_| "the patch header cannot be read")?;
    let field = |i: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[i * 8..i * 8 + 8]);
        u64::from_le_bytes(v)
    };
    let header = PatchHeader {
        lens: [field(0), field(1), field(2)],
        controls: field(3),
    };
    let total = header
        .lens
        .iter()
        .try_fold(PATCH_HEADER_LEN as u64, |acc, &l| acc.checked_add(l));
    if total != Some(payload_len) {
        return Err("the patch's stream lengths do not add up to its payload");
    }
    Ok(header)
}

/// Applies a patch part against `old` (already checked against its SHA-256); `len` is the target length.
pub(crate) fn patch<R: ReadAt>(
    src: &RefCell<R>,
    at: u64,
    payload_len: u64,
    old: &[u8],
    len: usize,
) -> Result<Vec<u8>, Problem> {
    let h = patch_header(src, at, payload_len)?;
    // Each control but a final one moves at least one byte; more cannot be a real patch.
    if h.controls > len as u64 + 1 {
        return Err("the patch has more controls than its region has bytes");
    }
    let ctrl_at = at + PATCH_HEADER_LEN as u64;
    let mut ctrl = Stream::open(src, ctrl_at, h.lens[0])?;
    let mut diff = Stream::open(src, ctrl_at + h.lens[0], h.lens[1])?;
    let mut extra = Stream::open(src, ctrl_at + h.lens[0] + h.lens[1], h.lens[2])?;
    let mut out = Vec::with_capacity(len);
    let mut old_pos = 0usize;
    for _ in 0..h.controls {
        let mut c = [0u8; CONTROL_LEN];
        ctrl.fill(&mut c)?;
        let (diff_len, extra_len, seek) = control(&c);
        old_pos = step(
            &mut out,
            len,
            old,
            old_pos,
            (diff_len, extra_len, seek),
            &mut diff,
            &mut extra,
        )?;
    }
    if out.len() != len {
        return Err("the patch produces fewer bytes than its region");
    }
    ctrl.finish()?;
    diff.finish()?;
    extra.finish().map(|()| out)
}

fn control(c: &[u8; CONTROL_LEN]) -> (u64, u64, i64) {
    let word = |i: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&c[i * 8..i * 8 + 8]);
        v
    };
    (
        u64::from_le_bytes(word(0)),
        u64::from_le_bytes(word(1)),
        i64::from_le_bytes(word(2)),
    )
}

/// Runs one control; returns the new old-position.
fn step<R: ReadAt>(
    out: &mut Vec<u8>,
    len: usize,
    old: &[u8],
    old_pos: usize,
    (diff_len, extra_len, seek): (u64, u64, i64),
    diff: &mut Stream<'_, R>,
    extra: &mut Stream<'_, R>,
) -> Result<usize, Problem> {
    let room = (len - out.len()) as u64;
    if diff_len > room || extra_len > room - diff_len {
        return Err("a patch control runs past its region's end");
    }
    let (diff_len, extra_len) = (diff_len as usize, extra_len as usize);
    let source = old
        .get(old_pos..old_pos + diff_len)
        .ok_or("a patch control reads past the old region")?;
    let mut buf = alloc::vec![0u8; STEP];
    for chunk in source.chunks(STEP) {
        let d = &mut buf[..chunk.len()];
        diff.fill(d)?;
        out.extend(chunk.iter().zip(d.iter()).map(|(o, d)| o.wrapping_add(*d)));
    }
    let mut left = extra_len;
    while left > 0 {
        let e = &mut buf[..left.min(STEP)];
        extra.fill(e)?;
        out.extend_from_slice(e);
        left -= e.len();
    }
    let moved = (old_pos + diff_len) as i64;
    match moved.checked_add(seek) {
        Some(p) if (0..=old.len() as i64).contains(&p) => Ok(p as usize),
        _ => Err("a patch control seeks outside the old region"),
    }
}
