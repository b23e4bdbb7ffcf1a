//! `List`: one page of a directory, as many entries as fit a message, with the cursor to
//! resume after the last one (a name hash and the name: stable across other changes).

use alloc::string::String;
use alloc::vec::Vec;

use pgfs::{BlockDevice, Cursor};
use protocol::storage::{EntriesWriter, Entry, StorageError};

use crate::ops::wire_kind;
use crate::{paths, Access, Fail, Server};

/// Entries asked of pgfs per page (more than fit a message with short names).
const PAGE: usize = 200;

impl<D: BlockDevice> Server<D> {
    pub(crate) fn list(
        &mut self,
        access: &Access,
        path: &str,
        cursor: &[u8],
        reply: &mut [u8],
    ) -> Result<usize, Fail> {
        let (rel, abs) = paths(path)?;
        access.check(rel, false)?;
        let after = decode(cursor)?;
        let fs = self.fs()?;
        let page = fs
            .list(&abs, after.as_ref(), PAGE)
            .map_err(|e| Fail::new(crate::errors::to_wire(&e), format_args!("{abs}: {e}")))?;
        let mut w = EntriesWriter::new(reply).ok_or(StorageError::BadRequest)?;
        let mut complete = page.len() < PAGE;
        let mut last = None;
        for e in &page {
            let child = if abs == "/" {
                alloc::format!("/{}", e.name)
            } else {
                alloc::format!("{abs}/{}", e.name)
            };
            let st = fs.stat(&child).map_err(|e| Fail::fs(&e))?;
            let entry = Entry {
                name: &e.name,
                kind: wire_kind(e.kind),
                size: st.size,
                mtime_secs: st.mtime.secs,
            };
            if !w.push(entry) {
                complete = false;
                break;
            }
            last = Some(&e.cursor);
        }
        let next = match (complete, last) {
            (true, _) => Vec::new(),
            (false, Some(c)) => encode(c),
            (false, None) => cursor.to_vec(),
        };
        w.finish(&next)
            .map_err(|e| Fail::new(StorageError::BadRequest, e))
    }
}

/// A cursor on the wire: the name hash (`u64` little-endian), then the name.
fn encode(c: &Cursor) -> Vec<u8> {
    let mut v = Vec::from(c.hash.to_le_bytes());
    v.extend_from_slice(c.name.as_bytes());
    v
}

fn decode(bytes: &[u8]) -> Result<Option<Cursor>, Fail> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let bad = || Fail::new(StorageError::BadRequest, "malformed list cursor");
    let (hash, name) = bytes.split_at_checked(8).ok_or_else(bad)?;
    let name = core::str::from_utf8(name).map_err(|_| bad())?;
    let mut h = [0u8; 8];
    h.copy_from_slice(hash);
    Ok(Some(Cursor {
        hash: u64::from_le_bytes(h),
        name: String::from(name),
    }))
}
