//! The file data path: a write or read moves file blocks in contiguous device runs (one
//! [`BlockDevice::write_run`] / [`BlockDevice::read_run`] per run), each block still checked
//! against the CRC-32C in its `DATA` item.

use crate::device::BlockDevice;
use crate::error::Error;
use crate::fs::Fs;
use crate::layout::{decode_data, encode_data, Key, KIND_DATA};
use crate::{crc::crc32c, BLOCK_SIZE};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

const BS: u64 = BLOCK_SIZE as u64;
/// File blocks handled per batch (bounds the buffer: 1 MiB).
const BATCH: u64 = 256;

/// Where a file block is stored and its CRC-32C (`None`: a hole).
type Loc = Option<(u64, u32)>;

/// One file block of a write.
struct Planned {
    /// File block index.
    lb: u64,
    /// Where it was stored before.
    old: Loc,
    /// Where it goes.
    target: u64,
}

/// Index ranges `i..j` of `targets` whose device blocks are consecutive.
fn runs(targets: &[u64]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < targets.len() {
        let mut j = i + 1;
        while j < targets.len() && targets[j] == targets[i] + (j - i) as u64 {
            j += 1;
        }
        out.push(i..j);
        i = j;
    }
    out
}

impl<D: BlockDevice> Fs<D> {
    /// Where file block `lb` of `oid` is stored.
    fn data_loc(&mut self, oid: u64, lb: u64) -> Result<Loc, Error> {
        match self.get(Key::new(oid, KIND_DATA, lb))? {
            Some(v) => Ok(Some(decode_data(&v).ok_or(Error::BadItem { oid })?)),
            None => Ok(None),
        }
    }

    /// Writes `data` at byte `offset` of file `oid` (size and mtime are the caller's).
    pub(crate) fn write_range(&mut self, oid: u64, offset: u64, data: &[u8]) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        let end = offset + data.len() as u64;
        let (mut lb, last) = (offset / BS, end.div_ceil(BS));
        while lb < last {
            let upto = (lb + BATCH).min(last);
            self.write_batch(oid, lb..upto, offset, data)?;
            lb = upto;
        }
        Ok(())
    }

    /// Writes file blocks `lbs`: the new contents (old bytes kept around a partial write),
    /// then new locations (allocated in a row, so mostly one run), the runs, the items.
    fn write_batch(
        &mut self,
        oid: u64,
        lbs: Range<u64>,
        offset: u64,
        data: &[u8],
    ) -> Result<(), Error> {
        let mut bufs = vec![0u8; (lbs.end - lbs.start) as usize * BLOCK_SIZE];
        let mut olds = Vec::new();
        for (lb, buf) in lbs.clone().zip(bufs.chunks_exact_mut(BLOCK_SIZE)) {
            let old = self.data_loc(oid, lb)?;
            self.fill(oid, lb, old, offset, data, buf)?;
            olds.push((lb, old));
        }
        let mut plan = Vec::new();
        for (lb, old) in olds {
            let target = match old {
                Some((b, _)) if self.is_fresh(b)? => b,
                _ => self.alloc()?,
            };
            plan.push(Planned { lb, old, target });
        }
        let targets: Vec<u64> = plan.iter().map(|p| p.target).collect();
        for r in runs(&targets) {
            let bytes = &bufs[r.start * BLOCK_SIZE..r.end * BLOCK_SIZE];
            self.dev.write_run(targets[r.start], bytes)?;
        }
        for (p, buf) in plan.iter().zip(bufs.chunks_exact(BLOCK_SIZE)) {
            if let Some((b, _)) = p.old.filter(|(b, _)| *b != p.target) {
                self.free(b)?;
            }
            let key = Key::new(oid, KIND_DATA, p.lb);
            self.put(key, &encode_data(p.target, crc32c(buf)))?;
        }
        Ok(())
    }

    /// The new bytes of file block `lb`: `data`'s part of it over the old contents.
    fn fill(
        &mut self,
        oid: u64,
        lb: u64,
        old: Loc,
        offset: u64,
        data: &[u8],
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let start = offset.max(lb * BS);
        let stop = (offset + data.len() as u64).min((lb + 1) * BS);
        let within = (start - lb * BS) as usize;
        let n = (stop - start) as usize;
        if let (Some((b, crc)), true) = (old, n < BLOCK_SIZE) {
            let mut block = [0u8; BLOCK_SIZE];
            self.read_data(oid, b, crc, &mut block)?;
            buf.copy_from_slice(&block);
        }
        let src = (start - offset) as usize;
        buf[within..within + n].copy_from_slice(&data[src..src + n]);
        Ok(())
    }

    /// Reads bytes `offset..offset + buf.len()` of file `oid` (within its size).
    pub(crate) fn read_range(
        &mut self,
        oid: u64,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        if buf.is_empty() {
            return Ok(());
        }
        let end = offset + buf.len() as u64;
        let (mut lb, last) = (offset / BS, end.div_ceil(BS));
        while lb < last {
            let upto = (lb + BATCH).min(last);
            let blocks = self.read_batch(oid, lb..upto)?;
            let (from, to) = (offset.max(lb * BS), end.min(upto * BS));
            let src = &blocks[(from - lb * BS) as usize..(to - lb * BS) as usize];
            buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(src);
            lb = upto;
        }
        Ok(())
    }

    /// File blocks `lbs` (holes as zeros), stored runs read with one call each.
    fn read_batch(&mut self, oid: u64, lbs: Range<u64>) -> Result<Vec<u8>, Error> {
        let mut locs = Vec::new();
        for lb in lbs {
            locs.push(self.data_loc(oid, lb)?);
        }
        let mut out = vec![0u8; locs.len() * BLOCK_SIZE];
        let mut i = 0;
        while i < locs.len() {
            let stored: Vec<u64> = locs[i..].iter().map_while(|l| l.map(|(b, _)| b)).collect();
            let Some(r) = runs(&stored).first().cloned() else {
                i += 1;
                continue;
            };
            let bytes = &mut out[i * BLOCK_SIZE..(i + r.end) * BLOCK_SIZE];
            self.dev.read_run(stored[0], bytes)?;
            for (k, block) in bytes.chunks_exact(BLOCK_SIZE).enumerate() {
                let (b, crc) = locs[i + k].ok_or(Error::BadItem { oid })?;
                if crc32c(block) != crc {
                    return Err(Error::DataDamaged {
                        inode: oid,
                        block: b,
                    });
                }
            }
            i += r.end;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{Block, IoError};
    use crate::mem::MemDevice;
    use crate::Time;

    /// A device counting its calls.
    #[derive(Default)]
    struct Counting {
        inner: MemDevice,
        blocks: u64,
        read_runs: u64,
        write_runs: u64,
    }

    impl BlockDevice for Counting {
        fn block_count(&self) -> u64 {
            self.inner.block_count()
        }
        fn read(&mut self, block: u64, buf: &mut Block) -> Result<(), IoError> {
            self.blocks += 1;
            self.inner.read(block, buf)
        }
        fn write(&mut self, block: u64, buf: &Block) -> Result<(), IoError> {
            self.blocks += 1;
            self.inner.write(block, buf)
        }
        fn flush(&mut self) -> Result<(), IoError> {
            self.inner.flush()
        }
        fn read_run(&mut self, first: u64, buf: &mut [u8]) -> Result<(), IoError> {
            self.read_runs += 1;
            self.inner.read_run(first, buf)
        }
        fn write_run(&mut self, first: u64, data: &[u8]) -> Result<(), IoError> {
            self.write_runs += 1;
            self.inner.write_run(first, data)
        }
    }

    #[test]
    fn a_256_kib_file_moves_in_a_few_runs() {
        let dev = Counting {
            inner: MemDevice::new(4096),
            ..Counting::default()
        };
        let t = Time::default();
        let mut fs = Fs::format(dev, t, &[("/f", b"")]).expect("format");
        let data: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        fs.write("/f", 0, &data, t).expect("write");
        fs.sync().expect("sync");
        let write_runs = fs.device().write_runs;
        assert_eq!(write_runs, 1, "64 consecutive blocks: one write_run");
        let mut fs = Fs::mount(fs.into_device()).expect("mount").0;
        let mut back = vec![0u8; data.len()];
        assert_eq!(fs.read("/f", 0, &mut back), Ok(data.len()));
        assert!(back == data);
        let read_runs = fs.device().read_runs;
        assert_eq!(read_runs, 1, "64 consecutive blocks: one read_run");
        let mut mid = vec![0u8; 10_000];
        assert_eq!(fs.read("/f", 5000, &mut mid), Ok(10_000));
        assert!(mid[..] == data[5000..15_000]);
    }

    #[test]
    fn a_damaged_block_in_a_run_is_named() {
        let t = Time::default();
        let data = vec![3u8; 8 * BLOCK_SIZE];
        let mut fs = Fs::format(MemDevice::new(512), t, &[("/f", &data)]).expect("format");
        let (_, bad) = fs.data_blocks("/f").expect("blocks")[5];
        fs.device_mut().flip(bad, 9, 1);
        let mut back = vec![0u8; data.len()];
        let oid = fs.stat("/f").expect("stat").inode;
        let want = Error::DataDamaged {
            inode: oid,
            block: bad,
        };
        assert_eq!(fs.read("/f", 0, &mut back), Err(want));
    }
}
