//! Write-behind: contiguous `Write`s through one handle are gathered (up to [`WRITE_BEHIND`]
//! bytes) and given to pgfs as one write, which moves them in multi-block runs. It changes
//! nothing a client can observe: any other request first hands the gathered bytes to pgfs, and
//! the durability rule is the same (a handle's changes are durable at its `Close`). Bytes are
//! only gathered while the free space is clearly enough for them, so handing them over can
//! fail only on a disk error; if it does, the handle answers `Lost`, as after any dropped write.

use alloc::string::String;
use alloc::vec::Vec;

use pgfs::{BlockDevice, Time, BLOCK_SIZE};

use crate::{Fail, Server};

/// The most bytes gathered before they are handed to pgfs.
pub const WRITE_BEHIND: usize = 256 * 1024;

/// Bytes gathered for one handle, to be written at `offset`.
#[derive(Debug)]
pub(crate) struct Gathered {
    caller: String,
    handle: u32,
    offset: u64,
    data: Vec<u8>,
}

impl<D: BlockDevice> Server<D> {
    /// A `Write` through a handle: gathered when it continues the gathered bytes and the space
    /// is clearly there, else written at once (with its exact error).
    pub(crate) fn write_behind(
        &mut self,
        caller: &str,
        handle: u32,
        offset: u64,
        data: &[u8],
        now: Time,
    ) -> Result<(), Fail> {
        self.writable_path(caller, handle)?;
        let continues = self.gathered.as_ref().is_some_and(|g| {
            g.caller == caller
                && g.handle == handle
                && g.offset + g.data.len() as u64 == offset
                && g.data.len() + data.len() <= WRITE_BEHIND
        });
        if !continues {
            self.hand_over(now);
        }
        let gathered = self.gathered.as_ref().map_or(0, |g| g.data.len());
        if !self.room_for(gathered + data.len())? {
            self.hand_over(now);
            return self.write(caller, handle, |fs, p| fs.write(p, offset, data, now));
        }
        let g = self.gathered.get_or_insert_with(|| Gathered {
            caller: String::from(caller),
            handle,
            offset,
            data: Vec::with_capacity(WRITE_BEHIND),
        });
        g.data.extend_from_slice(data);
        self.handles.get(caller, handle)?.dirty = true;
        Ok(())
    }

    /// Whether `bytes` of file data certainly fit: twice their blocks (data, and the tree
    /// nodes and bitmap blocks they may change) and some slack are free.
    fn room_for(&mut self, bytes: usize) -> Result<bool, Fail> {
        let free = self.fs()?.statfs().free_blocks;
        let blocks = (bytes.div_ceil(BLOCK_SIZE) + 1) as u64;
        Ok(free > 2 * blocks + 64)
    }

    /// Gives the gathered bytes to pgfs. A failure makes their handle `Lost`.
    pub(crate) fn hand_over(&mut self, now: Time) {
        let Some(g) = self.gathered.take() else {
            return;
        };
        let Ok(path) = self
            .handles
            .get(&g.caller, g.handle)
            .map(|h| h.path.clone())
        else {
            return;
        };
        if self
            .mutate(|fs| fs.write(&path, g.offset, &g.data, now))
            .is_err()
        {
            self.handles.lose(&g.caller, g.handle);
        }
    }
}
