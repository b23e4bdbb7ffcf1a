//! Open files: which caller holds which handle on which path, and what became of it.

use alloc::string::String;
use alloc::vec::Vec;
use protocol::storage::{StorageError, MAX_HANDLES};

/// The most handles open at once, over all callers.
pub const MAX_OPEN: usize = 256;

/// What happened to a handle's file since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Usable.
    Open,
    /// Its uncommitted writes were dropped by a failure: `Lost` until closed.
    Lost,
    /// Its file was removed or replaced: `BadHandle` until closed.
    Gone,
}

/// One open file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// The number the caller uses.
    pub id: u32,
    /// The caller (component name) that opened it.
    pub caller: String,
    /// The file's absolute path (kept current across renames).
    pub path: String,
    /// Whether it may write and truncate.
    pub write: bool,
    /// Whether it has writes the last commit does not hold.
    pub dirty: bool,
    /// See [`Fate`].
    pub fate: Fate,
}

/// The handle table.
#[derive(Debug, Default)]
pub struct Handles {
    open: Vec<Handle>,
    next: u32,
}

impl Handles {
    /// Opens a handle for `caller` on `path`; `TooManyOpen` past the per-caller or global limit.
    pub fn open(&mut self, caller: &str, path: String, write: bool) -> Result<u32, StorageError> {
        self.room(caller)?;
        let id = self.fresh_id();
        self.open.push(Handle {
            id,
            caller: String::from(caller),
            path,
            write,
            dirty: false,
            fate: Fate::Open,
        });
        Ok(id)
    }

    /// `Ok` if `caller` may open one more handle, else `TooManyOpen`.
    pub fn room(&self, caller: &str) -> Result<(), StorageError> {
        let mine = self.open.iter().filter(|h| h.caller == caller).count();
        if mine >= MAX_HANDLES || self.open.len() >= MAX_OPEN {
            return Err(StorageError::TooManyOpen);
        }
        Ok(())
    }

    fn fresh_id(&mut self) -> u32 {
        loop {
            self.next = self.next.wrapping_add(1).max(1);
            if !self.open.iter().any(|h| h.id == self.next) {
                return self.next;
            }
        }
    }

    /// `caller`'s handle `id`, usable: `BadHandle` if it is not theirs or its file is gone,
    /// `Lost` if its writes were dropped.
    pub fn get(&mut self, caller: &str, id: u32) -> Result<&mut Handle, StorageError> {
        let h = self
            .open
            .iter_mut()
            .find(|h| h.id == id && h.caller == caller)
            .ok_or(StorageError::BadHandle)?;
        match h.fate {
            Fate::Open => Ok(h),
            Fate::Lost => Err(StorageError::Lost),
            Fate::Gone => Err(StorageError::BadHandle),
        }
    }

    /// Closes `caller`'s handle `id`, returning it (whatever its fate).
    pub fn close(&mut self, caller: &str, id: u32) -> Result<Handle, StorageError> {
        let i = self
            .open
            .iter()
            .position(|h| h.id == id && h.caller == caller)
            .ok_or(StorageError::BadHandle)?;
        Ok(self.open.swap_remove(i))
    }

    /// After a commit: nothing is uncommitted any more.
    pub fn committed(&mut self) {
        self.open.iter_mut().for_each(|h| h.dirty = false);
    }

    /// After a rollback: every handle with uncommitted writes lost them.
    pub fn rolled_back(&mut self) {
        for h in self.open.iter_mut().filter(|h| h.dirty) {
            h.dirty = false;
            h.fate = Fate::Lost;
        }
    }

    /// `caller`'s handle `id` lost its uncommitted writes (they could not be written).
    pub fn lose(&mut self, caller: &str, id: u32) {
        for h in self
            .open
            .iter_mut()
            .filter(|h| h.id == id && h.caller == caller)
        {
            h.dirty = false;
            h.fate = Fate::Lost;
        }
    }

    /// Whether `caller` has a handle whose writes were lost.
    pub fn has_lost(&self, caller: &str) -> bool {
        self.open
            .iter()
            .any(|h| h.caller == caller && h.fate == Fate::Lost)
    }

    /// `path` was removed (or replaced by a rename): its handles are gone.
    pub fn removed(&mut self, path: &str) {
        for h in self.open.iter_mut().filter(|h| h.path == path) {
            h.fate = Fate::Gone;
        }
    }

    /// `from` (a file or a directory) moved to `to`: handles under it follow.
    pub fn renamed(&mut self, from: &str, to: &str) {
        for h in self.open.iter_mut() {
            if h.path == from {
                h.path = String::from(to);
            } else if let Some(rest) = h.path.strip_prefix(from).filter(|r| r.starts_with('/')) {
                h.path = alloc::format!("{to}{rest}");
            }
        }
    }

    /// Handles open now.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_belong_to_their_caller_and_follow_renames() {
        let mut t = Handles::default();
        let a = t.open("a", "/d/f".into(), true).unwrap();
        let b = t.open("b", "/d/f".into(), false).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.get("b", a).err(), Some(StorageError::BadHandle));
        t.renamed("/d", "/e");
        assert_eq!(t.get("a", a).unwrap().path, "/e/f");
        t.renamed("/e/f", "/g");
        assert_eq!(t.get("b", b).unwrap().path, "/g");
        t.get("a", a).unwrap().dirty = true;
        t.rolled_back();
        assert_eq!(t.get("a", a).err(), Some(StorageError::Lost));
        assert!(t.has_lost("a") && !t.has_lost("b"));
        t.removed("/g");
        assert_eq!(t.get("b", b).err(), Some(StorageError::BadHandle));
        assert_eq!(t.close("b", b).unwrap().fate, Fate::Gone);
        assert_eq!(t.close("b", b).err(), Some(StorageError::BadHandle));
    }

    #[test]
    fn open_handles_are_limited_per_caller() {
        let mut t = Handles::default();
        for _ in 0..MAX_HANDLES {
            t.open("a", "/x".into(), false).unwrap();
        }
        assert_eq!(
            t.open("a", "/x".into(), false),
            Err(StorageError::TooManyOpen)
        );
        assert!(t.open("b", "/x".into(), false).is_ok());
    }
}
