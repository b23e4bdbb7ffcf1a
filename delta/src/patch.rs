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
        use ruzstd::decoding::errors::FrameDecoderError;
        let mut frame = ruzstd::decoding::FrameDecoder::new();
        frame.set_max_window_size(crate::format::MAX_WINDOW);
        let decoder = StreamingDecoder::new_with_decoder(Range::new(src, at, len), frame)
            .map_err(|e| match e {
                FrameDecoderError::WindowSizeTooBig { .. } => {
                    "a zstd frame needs a window over 1 MiB (the format's limit): make the delta with `cargo xtask delta`"
                }
                _ => "a zstd frame header is malformed",
            })?;
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
    let mut out = Vec::with_capacity(len);
    full_into(src, at, payload_len, len as u64, &mut |chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(out)
}

/// Decodes a full part into `sink`, [`STEP`] bytes at a time: the region is never held whole.
pub(crate) fn full_into<R: ReadAt>(
    src: &RefCell<R>,
    at: u64,
    payload_len: u64,
    len: u64,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let mut stream = Stream::open(src, at, payload_len)?;
    let mut buf = alloc::vec![0u8; STEP];
    let mut left = len;
    while left > 0 {
        let chunk = &mut buf[..left.min(STEP as u64) as usize];
        stream.fill(chunk)?;
        sink(chunk)?;
        left -= chunk.len() as u64;
    }
    stream.finish()
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

/// The old region a patch reads, at byte offsets from its start (out of order: bsdiff seeks).
pub(crate) trait OldBytes {
    /// The region's length.
    fn len(&self) -> u64;
    /// Fills `buf` from `pos` on (inside the region).
    fn read(&mut self, pos: u64, buf: &mut [u8]) -> Result<(), Problem>;
}

impl OldBytes for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read(&mut self, pos: u64, buf: &mut [u8]) -> Result<(), Problem> {
        let at = usize::try_from(pos).map_err(|_| "a patch control reads past the old region")?;
        let from = self.get(at..at + buf.len());
        buf.copy_from_slice(from.ok_or("a patch control reads past the old region")?);
        Ok(())
    }
}

/// Applies a patch part against `old` (already checked against its SHA-256); `len` is the
/// target length. Returns the whole region (for the manifest, which is checked before any
/// write).
pub(crate) fn patch<R: ReadAt>(
    src: &RefCell<R>,
    at: u64,
    payload_len: u64,
    mut old: &[u8],
    len: usize,
) -> Result<Vec<u8>, Problem> {
    let mut out = Vec::with_capacity(len);
    patch_into(src, at, payload_len, &mut old, len as u64, &mut |chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(out)
}

/// Applies a patch part against `old`, handing the `len` bytes of the new region to `sink` in
/// order, [`STEP`] bytes at a time at most: neither region is ever held whole (a debug
/// kernel is tens of MB; the console applies deltas within its memory limit).
pub(crate) fn patch_into<R: ReadAt, O: OldBytes>(
    src: &RefCell<R>,
    at: u64,
    payload_len: u64,
    old: &mut O,
    len: u64,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let h = patch_header(src, at, payload_len)?;
    // Each control but a final one moves at least one byte; more cannot be a real patch.
    if h.controls > len.saturating_add(1) {
        return Err("the patch has more controls than its region has bytes");
    }
    let ctrl_at = at + PATCH_HEADER_LEN as u64;
    let mut ctrl = Stream::open(src, ctrl_at, h.lens[0])?;
    let mut diff = Stream::open(src, ctrl_at + h.lens[0], h.lens[1])?;
    let mut extra = Stream::open(src, ctrl_at + h.lens[0] + h.lens[1], h.lens[2])?;
    let mut run = Run {
        old,
        old_pos: 0,
        left: len,
        buf: alloc::vec![0u8; STEP],
        from_old: alloc::vec![0u8; STEP],
    };
    for _ in 0..h.controls {
        let mut c = [0u8; CONTROL_LEN];
        ctrl.fill(&mut c)?;
        run.step(control(&c), &mut diff, &mut extra, sink)?;
    }
    if run.left != 0 {
        return Err("the patch produces fewer bytes than its region");
    }
    ctrl.finish()?;
    diff.finish()?;
    extra.finish()
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

/// A patch being applied: where it reads the old region, how much of the new one is left.
struct Run<'o, O> {
    old: &'o mut O,
    old_pos: u64,
    left: u64,
    buf: Vec<u8>,
    from_old: Vec<u8>,
}

impl<O: OldBytes> Run<'_, O> {
    /// Runs one control: `diff_len` old bytes plus the diff, `extra_len` extra bytes, then the
    /// old position moves by `seek`.
    fn step<R: ReadAt>(
        &mut self,
        (diff_len, extra_len, seek): (u64, u64, i64),
        diff: &mut Stream<'_, R>,
        extra: &mut Stream<'_, R>,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Problem>,
    ) -> Result<(), Problem> {
        if diff_len > self.left || extra_len > self.left - diff_len {
            return Err("a patch control runs past its region's end");
        }
        let end = self.old_pos.checked_add(diff_len);
        if end.is_none_or(|e| e > self.old.len()) {
            return Err("a patch control reads past the old region");
        }
        let mut done = 0u64;
        while done < diff_len {
            let n = (diff_len - done).min(STEP as u64) as usize;
            let (d, o) = (&mut self.buf[..n], &mut self.from_old[..n]);
            diff.fill(d)?;
            self.old.read(self.old_pos + done, o)?;
            d.iter_mut()
                .zip(o.iter())
                .for_each(|(d, o)| *d = o.wrapping_add(*d));
            sink(d)?;
            done += n as u64;
        }
        let mut left = extra_len;
        while left > 0 {
            let e = &mut self.buf[..left.min(STEP as u64) as usize];
            extra.fill(e)?;
            sink(e)?;
            left -= e.len() as u64;
        }
        self.left -= diff_len + extra_len;
        let moved = i64::try_from(self.old_pos + diff_len).unwrap_or(i64::MAX);
        match moved.checked_add(seek) {
            Some(p) if (0..=self.old.len() as i64).contains(&p) => {
                self.old_pos = p as u64;
                Ok(())
            }
            _ => Err("a patch control seeks outside the old region"),
        }
    }
}
