//! Directory entries: items keyed `(dir, DIRENT, name hash)`, each a name-sorted list.
//!
//! Entry encoding: inode `u64` LE, kind `u8` (1 file, 2 dir), name length `u8`, name bytes.

use crate::device::BlockDevice;
use crate::error::Error;
use crate::fs::Fs;
use crate::layout::{get_u64, name_hash, FileKind, Key, KIND_DIRENT};
use alloc::string::String;
use alloc::vec::Vec;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its inode.
    pub oid: u64,
    /// File or directory.
    pub kind: FileKind,
    /// Its name.
    pub name: String,
}

/// Decodes an entry list (`None`: malformed).
pub fn decode(v: &[u8]) -> Option<Vec<Entry>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < v.len() {
        if at + 10 > v.len() {
            return None;
        }
        let oid = get_u64(v, at);
        let kind = FileKind::from_code(v[at + 8])?;
        let len = usize::from(v[at + 9]);
        let name = v.get(at + 10..at + 10 + len)?;
        let name = String::from(core::str::from_utf8(name).ok()?);
        out.push(Entry { oid, kind, name });
        at += 10 + len;
    }
    Some(out)
}

/// Encodes an entry list.
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut v = Vec::new();
    for e in entries {
        v.extend_from_slice(&e.oid.to_le_bytes());
        v.push(e.kind.code());
        v.push(e.name.len() as u8);
        v.extend_from_slice(e.name.as_bytes());
    }
    v
}

impl<D: BlockDevice> Fs<D> {
    /// The entries of `dir` whose names hash like `name`.
    fn bucket(&mut self, dir: u64, name: &str) -> Result<(Key, Vec<Entry>), Error> {
        let key = Key::new(dir, KIND_DIRENT, name_hash(name.as_bytes()));
        let entries = match self.get(key)? {
            Some(v) => decode(&v).ok_or(Error::BadItem { oid: dir })?,
            None => Vec::new(),
        };
        Ok((key, entries))
    }

    /// Looks `name` up in `dir`.
    pub(crate) fn lookup(
        &mut self,
        dir: u64,
        name: &str,
    ) -> Result<Option<(u64, FileKind)>, Error> {
        let (_, entries) = self.bucket(dir, name)?;
        Ok(entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| (e.oid, e.kind)))
    }

    /// Adds `name` to `dir` (the caller checked it is absent).
    pub(crate) fn link(
        &mut self,
        dir: u64,
        name: &str,
        oid: u64,
        kind: FileKind,
    ) -> Result<(), Error> {
        let (key, mut entries) = self.bucket(dir, name)?;
        let at = entries.partition_point(|e| e.name.as_str() < name);
        entries.insert(
            at,
            Entry {
                oid,
                kind,
                name: String::from(name),
            },
        );
        self.put(key, &encode(&entries))
    }

    /// Removes `name` from `dir`.
    pub(crate) fn unlink(&mut self, dir: u64, name: &str) -> Result<(), Error> {
        let (key, mut entries) = self.bucket(dir, name)?;
        entries.retain(|e| e.name != name);
        if entries.is_empty() {
            self.del(key).map(|_| ())
        } else {
            self.put(key, &encode(&entries))
        }
    }

    /// Whether adding `name` to `dir` fits its hash bucket.
    pub(crate) fn link_fits(&mut self, dir: u64, name: &str) -> Result<bool, Error> {
        let (_, entries) = self.bucket(dir, name)?;
        let size = encode(&entries).len() + 10 + name.len();
        Ok(size <= crate::node::MAX_VALUE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_trip() {
        let es = vec![
            Entry {
                oid: 5,
                kind: FileKind::File,
                name: String::from("a"),
            },
            Entry {
                oid: 6,
                kind: FileKind::Dir,
                name: "é".repeat(127),
            },
        ];
        assert_eq!(decode(&encode(&es)), Some(es));
        assert_eq!(decode(&[1, 2, 3]), None);
    }
}
