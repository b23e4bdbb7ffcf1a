//! The filesystem handle: mount, format, commit (`sync`), rollback and `statfs`.

use crate::bitmap::Leaf;
use crate::device::BlockDevice;
use crate::error::{BlockKind, Error};
use crate::layout::{
    decode_super, encode_super, FileKind, Inode, Key, Super, SuperRead, KIND_INODE,
};
use crate::node::Node;
use crate::{Time, BLOCK_SIZE, FIRST_FREE, MIN_BLOCKS, ROOT_OID, SUPER_A, SUPER_B};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Range;

/// A cached B-tree node.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub node: Node,
    pub dirty: bool,
}

/// A mounted pgfs filesystem over a [`BlockDevice`].
pub struct Fs<D: BlockDevice> {
    pub(crate) dev: D,
    /// The committed state and the slot (block) its superblock is in.
    pub(crate) committed: Super,
    pub(crate) slot: u64,
    /// The tree root of the other, older valid superblock (protected until the next commit).
    pub(crate) prev_root: Option<u64>,
    /// The state of the current transaction.
    pub(crate) cur: Super,
    pub(crate) nodes: BTreeMap<u64, Cached>,
    pub(crate) leaves: BTreeMap<u64, Leaf>,
    pub(crate) hint: u64,
    /// Counts changes, so a failed operation knows whether it changed anything.
    pub(crate) mutations: u64,
    pub(crate) poisoned: bool,
    /// Whether blocks freed by the last commit wait for the next one (so an otherwise empty
    /// `sync` still commits, to release them).
    pub(crate) pending: bool,
    /// Blocks the allocator must not hand out (only during a `format` that converts the old
    /// store: its records stay intact until the first superblock is durable).
    pub(crate) reserved: Range<u64>,
}

/// Options of [`Fs::format_with`]; the default is a plain [`Fs::format`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatOptions {
    /// Blocks the format's transaction must not allocate (for a conversion: the old store's
    /// slots, which must survive until the first superblock is durable). Clipped to the
    /// region; blocks below [`FIRST_FREE`] are never allocated anyway.
    pub reserved: Range<u64>,
    /// Format even though block 32 holds the old record store (`PGSTORE1`) or a torn
    /// superblock and block 33 an old record or zeros: the caller has read the old store.
    /// A valid (or newer) pgfs superblock in either slot is still refused.
    pub replace_old_store: bool,
}

/// What [`Fs::mount`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountReport {
    /// The generation mounted.
    pub generation: u64,
    /// The superblock slot mounted (block 32 or 33).
    pub slot: u64,
    /// A damaged root that was passed over (the newer one, when this is a fallback).
    pub damaged_root: Option<(u64, BlockKind)>,
}

/// Space and file counts (`df`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    /// Bytes per block.
    pub block_size: u64,
    /// Blocks of the region.
    pub total_blocks: u64,
    /// Blocks pgfs never allocates (the kernel's 0..32 and the two superblocks).
    pub reserved_blocks: u64,
    /// Blocks allocated (metadata and data) in the current state.
    pub used_blocks: u64,
    /// `total - reserved - used`.
    pub free_blocks: u64,
    /// Files and directories (the root excluded).
    pub files: u64,
}

impl<D: BlockDevice> Fs<D> {
    fn empty(dev: D, s: Super, slot: u64, prev_root: Option<u64>) -> Fs<D> {
        Fs {
            dev,
            committed: s,
            slot,
            prev_root,
            cur: s,
            nodes: BTreeMap::new(),
            leaves: BTreeMap::new(),
            hint: FIRST_FREE,
            mutations: 0,
            poisoned: false,
            pending: false,
            reserved: 0..0,
        }
    }

    /// Creates a new filesystem holding `files` (`(path, data)`, parents created as needed)
    /// and commits it. Refuses (`Exists`) unless blocks 32 and 33 are zero, or block 32 is a
    /// damaged superblock and 33 is zero (an interrupted format: [`Error::UnfinishedFormat`]).
    pub fn format(dev: D, now: Time, files: &[(&str, &[u8])]) -> Result<Fs<D>, Error> {
        Fs::format_with(dev, now, files, &FormatOptions::default())
    }

    /// [`Fs::format`] with options. The first superblock (generation 1) goes to block 32
    /// only; block 33 is not written before the next commit. With `opts.reserved`, nothing
    /// of the format's transaction is written into those blocks.
    pub fn format_with(
        mut dev: D,
        now: Time,
        files: &[(&str, &[u8])],
        opts: &FormatOptions,
    ) -> Result<Fs<D>, Error> {
        let blocks = dev.block_count();
        if blocks < MIN_BLOCKS {
            return Err(Error::TooSmall { blocks });
        }
        let slots = [read_slot(&mut dev, SUPER_A)?, read_slot(&mut dev, SUPER_B)?];
        if !may_format(&slots, opts.replace_old_store) {
            return Err(Error::Exists);
        }
        let mut fs = Fs::empty_tree(dev, blocks, now, opts.reserved.clone())?;
        for (path, data) in files {
            fs.put_file(path, data, now)?;
        }
        fs.sync()?;
        fs.reserved = 0..0;
        Ok(fs)
    }

    /// A new, uncommitted filesystem holding only the root directory.
    fn empty_tree(dev: D, blocks: u64, now: Time, reserved: Range<u64>) -> Result<Fs<D>, Error> {
        let (gen, root, used, files) = (0, 0, 0, 0);
        let s = Super {
            gen,
            blocks,
            root,
            next_oid: ROOT_OID + 1,
            used,
            files,
        };
        let mut fs = Fs::empty(dev, s, SUPER_B, None);
        fs.reserved = reserved;
        for idx in 0..fs.leaf_count() {
            fs.leaves.insert(idx, Leaf::fresh(idx, FIRST_FREE));
        }
        fs.cur.root = fs.alloc()?;
        let leaf = Cached {
            node: Node::Leaf(Vec::new()),
            dirty: true,
        };
        fs.nodes.insert(fs.cur.root, leaf);
        let (mtime_s, mtime_ns) = (now.secs, now.nanos);
        let root = Inode {
            kind: FileKind::Dir,
            size: 0,
            mtime_s,
            mtime_ns,
        };
        fs.put(Key::new(ROOT_OID, KIND_INODE, 0), &root.encode())?;
        Ok(fs)
    }

    /// Mounts: reads both superblocks and the root node of the newest valid one (falling
    /// back to the other if it is damaged). Writes nothing; reads at most 4 blocks.
    pub fn mount(mut dev: D) -> Result<(Fs<D>, MountReport), Error> {
        let blocks = dev.block_count();
        if blocks < MIN_BLOCKS {
            return Err(Error::TooSmall { blocks });
        }
        let reads = [read_slot(&mut dev, SUPER_A)?, read_slot(&mut dev, SUPER_B)?];
        for r in reads {
            if let SuperRead::Newer(found) = r {
                return Err(Error::NewerVersion { found });
            }
        }
        let cands = candidates(&reads);
        let mut damaged = (reads[0] == SuperRead::Damaged)
            .then_some((SUPER_A, BlockKind::Superblock))
            .or((reads[1] == SuperRead::Damaged).then_some((SUPER_B, BlockKind::Superblock)));
        let first = cands.first().map_or(EMPTY_SUPER, |c| c.1);
        let mut fs = Fs::empty(dev, first, SUPER_A, None);
        for (i, &(slot, s)) in cands.iter().enumerate() {
            if s.blocks > blocks {
                return Err(Error::TooSmall { blocks });
            }
            fs.reset_to(s, slot);
            if fs.node(s.root).is_err() {
                damaged = damaged.or(Some((s.root, BlockKind::TreeNode)));
                continue;
            }
            fs.prev_root = fs.older_root(&cands[i + 1..]);
            fs.pending = fs.prev_root.is_some();
            let report = MountReport {
                generation: s.gen,
                slot,
                damaged_root: damaged,
            };
            return Ok((fs, report));
        }
        Err(no_root(damaged, &reads))
    }

    fn older_root(&mut self, rest: &[(u64, Super)]) -> Option<u64> {
        let (_, s) = rest.first()?;
        self.node(s.root).is_ok().then_some(s.root)
    }

    fn reset_to(&mut self, s: Super, slot: u64) {
        self.committed = s;
        self.cur = s;
        self.slot = slot;
        self.nodes.clear();
        self.leaves.clear();
    }

    /// Gives the device back (the filesystem is dropped without a commit).
    pub fn into_device(self) -> D {
        self.dev
    }

    /// The device, for inspection.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The device, mutably (tests damage blocks through it).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The committed generation.
    pub fn generation(&self) -> u64 {
        self.committed.gen
    }

    /// Whether anything changed since the last commit (what the next `sync` would write, or
    /// a failure would drop).
    pub fn has_changes(&self) -> bool {
        self.cur != self.committed || self.nodes.values().any(|c| c.dirty)
    }

    /// Space and file counts of the current state.
    pub fn statfs(&self) -> StatFs {
        let reserved = FIRST_FREE;
        StatFs {
            block_size: BLOCK_SIZE as u64,
            total_blocks: self.cur.blocks,
            reserved_blocks: reserved,
            used_blocks: self.cur.used,
            free_blocks: self
                .cur
                .blocks
                .saturating_sub(reserved)
                .saturating_sub(self.cur.used),
            files: self.cur.files,
        }
    }

    /// Commits every change since the last `sync`: once it returns `Ok`, they are durable.
    /// On an error nothing of them is (the state goes back to the last commit), except
    /// [`Error::NeedsRemount`]: the superblock write failed, remount to learn which won.
    pub fn sync(&mut self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::NeedsRemount);
        }
        if !self.pending && self.cur == self.committed && !self.nodes.values().any(|c| c.dirty) {
            return Ok(());
        }
        let r = self.commit();
        if r.is_err() && !self.poisoned {
            self.rollback();
        }
        r.map_err(|e| {
            if self.poisoned {
                Error::NeedsRemount
            } else {
                e
            }
        })
    }

    fn commit(&mut self) -> Result<(), Error> {
        self.place_bitmaps()?;
        let gen = self.committed.gen + 1;
        for (&b, c) in self.nodes.iter().filter(|(_, c)| c.dirty) {
            self.dev.write(b, &c.node.encode(b, gen))?;
        }
        for l in self.leaves.values().filter(|l| l.dirty) {
            self.dev.write(l.loc, &l.encode(gen))?;
        }
        self.dev.flush()?;
        let new = Super { gen, ..self.cur };
        let slot = if self.slot == SUPER_A {
            SUPER_B
        } else {
            SUPER_A
        };
        self.poisoned = true;
        self.dev.write(slot, &encode_super(&new, slot))?;
        self.dev.flush()?;
        self.poisoned = false;
        self.finish(new, slot);
        Ok(())
    }

    fn finish(&mut self, new: Super, slot: u64) {
        self.prev_root = (self.committed.gen > 0).then_some(self.committed.root);
        self.committed = new;
        self.cur = new;
        self.slot = slot;
        self.nodes.values_mut().for_each(|c| c.dirty = false);
        for l in self.leaves.values_mut() {
            l.prev = core::mem::replace(&mut l.base, l.cur.clone());
            l.moved = false;
            l.dirty = false;
        }
        let held = |l: &Leaf| l.prev.iter().zip(&l.base).any(|(p, b)| p & !b != 0);
        self.pending = self.leaves.values().any(held);
        self.hint = FIRST_FREE;
    }

    /// Drops every change since the last commit.
    pub(crate) fn rollback(&mut self) {
        self.nodes.retain(|_, c| !c.dirty);
        self.leaves.clear();
        self.cur = self.committed;
        self.hint = FIRST_FREE;
    }

    /// Runs a changing operation: if it fails after changing something, rolls back to the
    /// last commit (the in-memory state is never left half-changed).
    pub(crate) fn mutate<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.poisoned {
            return Err(Error::NeedsRemount);
        }
        let before = self.mutations;
        let r = f(self);
        if r.is_err() && self.mutations != before {
            self.rollback();
        }
        r
    }
}

const EMPTY_SUPER: Super = Super {
    gen: 0,
    blocks: 0,
    root: 0,
    next_oid: 0,
    used: 0,
    files: 0,
};

/// The valid superblocks with their slots, newest first.
fn candidates(reads: &[SuperRead; 2]) -> Vec<(u64, Super)> {
    let mut cands: Vec<(u64, Super)> = Vec::new();
    for (slot, r) in [SUPER_A, SUPER_B].into_iter().zip(reads) {
        if let SuperRead::Valid(s) = r {
            cands.push((slot, *s));
        }
    }
    cands.sort_by_key(|(_, s)| core::cmp::Reverse(s.gen));
    cands
}

/// Whether `format` may write over what the two superblock slots hold.
fn may_format(slots: &[SuperRead; 2], replace_old_store: bool) -> bool {
    use SuperRead::{Damaged, Empty, Foreign, OldStore};
    match slots {
        [Empty | Damaged, Empty] => true,
        [Empty | Damaged | OldStore, Empty | Foreign] => replace_old_store,
        _ => false,
    }
}

fn read_slot<D: BlockDevice>(dev: &mut D, slot: u64) -> Result<SuperRead, Error> {
    let mut b = [0u8; BLOCK_SIZE];
    match dev.read(slot, &mut b) {
        Ok(()) => Ok(decode_super(&b, slot)),
        Err(_) => Ok(SuperRead::Damaged),
    }
}

fn no_root(damaged: Option<(u64, BlockKind)>, reads: &[SuperRead; 2]) -> Error {
    if *reads == [SuperRead::Damaged, SuperRead::Empty] {
        return Error::UnfinishedFormat;
    }
    if let Some((block, kind)) = damaged {
        return Error::NoValidRoot {
            newest: kind,
            block,
        };
    }
    match reads {
        [SuperRead::Empty, SuperRead::Empty] => Error::NotFormatted,
        [SuperRead::OldStore, _] => Error::OldStore,
        _ => Error::Unrecognized,
    }
}
