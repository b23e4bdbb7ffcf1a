use super::*;
use protocol::storage_v1::MAX_MESSAGE;
use protocol::storage_v1::{EntriesWriter, Entry, EntryKind, Request, Response};

/// An in-memory region. `budget`: how many more writes succeed (then every write fails
/// without effect: the power is cut); `tear`: the next write stores only its first half.
#[derive(Clone)]
struct Mem {
    blocks: Vec<[u8; BLOCK_SIZE]>,
    budget: Option<usize>,
    tear: bool,
    writes: Vec<u64>,
}

impl Mem {
    fn new(blocks: usize) -> Mem {
        Mem {
            blocks: vec![[0; BLOCK_SIZE]; blocks],
            budget: None,
            tear: false,
            writes: Vec::new(),
        }
    }

    fn power_restored(mut self) -> Mem {
        self.budget = None;
        self.tear = false;
        self
    }
}

impl Blocks for Mem {
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        assert_eq!(buf.len() % BLOCK_SIZE, 0);
        for (k, chunk) in buf.chunks_mut(BLOCK_SIZE).enumerate() {
            let b = self.blocks.get(block as usize + k).ok_or(IoError)?;
            chunk.copy_from_slice(b);
        }
        Ok(())
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError> {
        assert_eq!(buf.len(), BLOCK_SIZE);
        assert!(block >= FIRST_BLOCK, "wrote kernel block {block}");
        if let Some(b) = &mut self.budget {
            if *b == 0 {
                return Err(IoError);
            }
            *b -= 1;
        }
        let dst = self.blocks.get_mut(block as usize).ok_or(IoError)?;
        if self.tear {
            self.tear = false;
            dst[..BLOCK_SIZE / 2].copy_from_slice(&buf[..BLOCK_SIZE / 2]);
            self.budget = Some(0);
            return Err(IoError);
        }
        dst.copy_from_slice(buf);
        self.writes.push(block);
        Ok(())
    }

    fn blocks(&self) -> u64 {
        self.blocks.len() as u64
    }
}

fn fresh(blocks: usize) -> Store<Mem> {
    let (s, r) = Store::mount(Mem::new(blocks)).unwrap();
    assert!(r.formatted);
    assert_eq!(r.files, 0);
    s
}

fn remount(s: Store<Mem>) -> (Store<Mem>, MountReport) {
    Store::mount(s.into_device().power_restored()).unwrap()
}

/// Lists `dir` and returns (name, kind) pairs and the truncated flag.
fn ls(s: &mut Store<Mem>, dir: &str) -> Result<(Vec<(String, EntryKind)>, bool), StorageError> {
    let mut buf = [0u8; MAX_MESSAGE];
    let mut w = EntriesWriter::new(&mut buf).unwrap();
    s.list(dir, &mut w)?;
    let n = w.finish();
    let Ok(Response::Entries(e)) = Response::decode(&buf[..n]) else {
        panic!("bad entries reply")
    };
    Ok((
        e.iter().map(|x| (x.name.to_string(), x.kind)).collect(),
        e.truncated(),
    ))
}

fn names(s: &mut Store<Mem>, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = ls(s, dir).unwrap().0.into_iter().map(|x| x.0).collect();
    v.sort();
    v
}

/// The slot block holding `path`'s valid record.
fn block_of(s: &mut Store<Mem>, path: &str) -> u64 {
    let dev = s.device();
    (FIRST_SLOT..dev.blocks())
        .find(|&b| {
            matches!(parse_record(&dev.blocks[b as usize], (b - FIRST_SLOT) as u32),
                Record::File { path: p, .. } if p == path)
        })
        .unwrap()
}

#[test]
fn crc_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn record_round_trip() {
    let mut b = [0u8; BLOCK_SIZE];
    let data: Vec<u8> = (0..MAX_FILE_SIZE).map(|i| i as u8).collect();
    encode_record(&mut b, 7, 42, "a/b/c.txt", &data);
    assert_eq!(&b[0..8], b"PGRECRD1");
    assert_eq!(
        parse_record(&b, 7),
        Record::File {
            generation: 42,
            path: "a/b/c.txt",
            data: &data
        }
    );
    // Misdirected: the same bytes in another slot are damage.
    assert_eq!(
        parse_record(&b, 8),
        Record::Damaged {
            claim: Some("a/b/c.txt")
        }
    );
    assert_eq!(parse_record(&[0; BLOCK_SIZE], 3), Record::Free);

    encode_superblock(&mut b, 991);
    assert_eq!(decode_superblock(&b), SuperblockState::Valid { slots: 991 });
    assert_eq!(decode_superblock(&[0; BLOCK_SIZE]), SuperblockState::Blank);
    b[100] ^= 1;
    assert_eq!(decode_superblock(&b), SuperblockState::Damaged);
}

#[test]
fn every_single_byte_flip_is_detected() {
    let mut b = [0u8; BLOCK_SIZE];
    encode_record(&mut b, 0, 1, "x", b"hello");
    for at in 0..BLOCK_SIZE {
        let mut c = b;
        c[at] ^= 0x40;
        assert!(
            matches!(parse_record(&c, 0), Record::Damaged { .. }),
            "flip at {at} not detected"
        );
    }
}

#[test]
fn create_read_list_delete() {
    let mut s = fresh(64);
    assert_eq!(s.slots(), 31);
    s.create("hello.txt").unwrap();
    assert_eq!(s.read("hello.txt").unwrap(), b"");
    assert_eq!(s.create("/hello.txt"), Err(StorageError::AlreadyExists));
    s.write("notes/today", b"buy bamboo").unwrap();
    s.write("notes/deep/er/x", b"1").unwrap();
    assert_eq!(s.read("/notes/today").unwrap(), b"buy bamboo");
    assert_eq!(names(&mut s, "/"), ["hello.txt", "notes"]);
    assert_eq!(names(&mut s, ""), ["hello.txt", "notes"]);
    assert_eq!(names(&mut s, "notes"), ["deep", "today"]);
    assert_eq!(names(&mut s, "notes/deep/er"), ["x"]);
    let (entries, truncated) = ls(&mut s, "notes").unwrap();
    assert!(!truncated);
    assert!(entries.contains(&("today".into(), EntryKind::File { size: 10 })));
    assert!(entries.contains(&("deep".into(), EntryKind::Dir)));
    assert_eq!(s.stat("notes"), Ok(EntryKind::Dir));
    assert_eq!(s.stat("notes/today"), Ok(EntryKind::File { size: 10 }));
    assert_eq!(s.stat("/"), Ok(EntryKind::Dir));
    assert_eq!(s.stat("nope"), Err(StorageError::NotFound));
    assert_eq!(s.read("nope"), Err(StorageError::NotFound));
    assert_eq!(s.read("notes"), Err(StorageError::IsDirectory));
    assert_eq!(ls(&mut s, "nope").unwrap_err(), StorageError::NotFound);
    assert_eq!(
        ls(&mut s, "hello.txt").unwrap_err(),
        StorageError::NotDirectory
    );
    // A path cannot be both a file and a directory.
    assert_eq!(s.write("hello.txt/x", b""), Err(StorageError::NotDirectory));
    assert_eq!(s.write("notes", b""), Err(StorageError::IsDirectory));
    assert_eq!(s.create("notes"), Err(StorageError::AlreadyExists));
    assert_eq!(s.delete("notes"), Err(StorageError::IsDirectory));
    assert_eq!(s.files(), 3);

    s.delete("notes/today").unwrap();
    assert_eq!(s.read("notes/today"), Err(StorageError::NotFound));
    assert_eq!(s.delete("notes/today"), Err(StorageError::NotFound));
    s.delete("notes/deep/er/x").unwrap();
    assert_eq!(names(&mut s, "/"), ["hello.txt"]);
    assert_eq!(s.stat("notes"), Err(StorageError::NotFound));
    assert_eq!(s.files(), 1);

    // Everything survives a remount.
    s.write("a/b", b"persisted").unwrap();
    let (mut s, r) = remount(s);
    assert!(!r.formatted);
    assert_eq!((r.files, r.damaged, r.superseded), (2, 0, 0));
    assert_eq!(r.free, 31 - 2);
    assert_eq!(s.read("a/b").unwrap(), b"persisted");
}

#[test]
fn path_validation() {
    let mut s = fresh(40);
    assert_eq!(s.write("a b", b""), Err(StorageError::InvalidPath));
    assert_eq!(s.write("a//b", b""), Err(StorageError::InvalidPath));
    assert_eq!(s.write("../x", b""), Err(StorageError::InvalidPath));
    assert_eq!(
        s.write(&"n".repeat(33), b""),
        Err(StorageError::NameTooLong)
    );
    assert_eq!(s.write("a/b/c/d/e", b""), Err(StorageError::NameTooLong));
    assert_eq!(s.write("/", b""), Err(StorageError::IsDirectory));
    assert_eq!(s.read(""), Err(StorageError::IsDirectory));
    let max = [
        &*"p".repeat(32),
        &"q".repeat(32),
        &"r".repeat(32),
        &"s".repeat(29),
    ]
    .join("/");
    assert_eq!(max.len(), MAX_PATH_LEN);
    s.write(&max, b"deep").unwrap();
    assert_eq!(s.read(&max).unwrap(), b"deep");
    assert_eq!(s.files(), 1);
}

#[test]
fn replace_keeps_one_copy() {
    let mut s = fresh(40);
    s.write("f", b"one").unwrap();
    let first = block_of(&mut s, "f");
    s.write("f", b"two").unwrap();
    assert_eq!(s.read("f").unwrap(), b"two");
    assert_ne!(
        block_of(&mut s, "f"),
        first,
        "new version goes to another slot"
    );
    assert_eq!(s.files(), 1);
    assert_eq!(s.device().blocks[first as usize], [0; BLOCK_SIZE]);
    let big = vec![0xAB; MAX_FILE_SIZE];
    s.write("f", &big).unwrap();
    assert_eq!(s.read("f").unwrap(), &big[..]);
    assert_eq!(
        s.write("f", &[0; MAX_FILE_SIZE + 1]),
        Err(StorageError::TooLarge)
    );
    assert_eq!(s.read("f").unwrap(), &big[..]);
}

#[test]
fn region_full_is_no_space() {
    let mut s = fresh(FIRST_SLOT as usize + 4);
    for i in 0..4 {
        s.write(&format!("f{i}"), b"x").unwrap();
    }
    assert_eq!(s.write("f4", b"x"), Err(StorageError::NoSpace));
    // A replace needs one free slot too (the new copy is written before the old is freed).
    assert_eq!(s.write("f0", b"y"), Err(StorageError::NoSpace));
    assert_eq!(s.read("f0").unwrap(), b"x");
    s.delete("f3").unwrap();
    s.write("f0", b"y").unwrap();
    assert_eq!(s.read("f0").unwrap(), b"y");
    assert_eq!(s.free(), 1);
}

#[test]
fn slots_are_capped() {
    let s = fresh(FIRST_SLOT as usize + MAX_SLOTS + 100);
    assert_eq!(s.slots(), MAX_SLOTS);
}

#[test]
fn flipped_byte_is_reported_as_damage_and_other_files_survive() {
    let mut s = fresh(48);
    s.write("docs/a", b"alpha").unwrap();
    s.write("docs/b", b"bravo").unwrap();
    s.write("c", b"charlie").unwrap();
    let blk = block_of(&mut s, "docs/a");
    // Bit rot in the data while mounted.
    s.device().blocks[blk as usize][200] ^= 0x01;
    let damaged = StorageError::Damaged { block: blk };
    assert_eq!(s.read("docs/a"), Err(damaged));
    assert_eq!(s.stat("docs/a"), Err(damaged));
    assert_eq!(s.read("docs/b").unwrap(), b"bravo");
    assert_eq!(s.read("c").unwrap(), b"charlie");
    let (entries, _) = ls(&mut s, "docs").unwrap();
    assert!(entries.contains(&("a".into(), EntryKind::Damaged { block: blk })));
    assert!(entries.contains(&("b".into(), EntryKind::File { size: 5 })));

    // The mount reports it too.
    let (mut s, r) = remount(s);
    assert_eq!((r.files, r.damaged, r.first_damaged), (2, 1, Some(blk)));
    assert_eq!(s.read("docs/a"), Err(damaged));
    assert_eq!(s.create("docs/a"), Err(damaged));
    // Rot in a free slot: damage that claims no path, listed in the root with no name.
    let free_blk = FIRST_SLOT as usize + 10;
    s.device().blocks[free_blk][5] = 0xFF;
    let (mut s, r) = remount(s);
    assert_eq!(r.damaged, 2);
    let (entries, _) = ls(&mut s, "/").unwrap();
    assert!(entries.contains(&(
        "".into(),
        EntryKind::Damaged {
            block: free_blk as u64
        }
    )));
    assert!(entries.contains(&("docs".into(), EntryKind::Dir)));

    // Writing the path supersedes the damaged record; deleting it frees it.
    s.write("docs/a", b"again").unwrap();
    assert_eq!(s.read("docs/a").unwrap(), b"again");
    assert_eq!(s.device().blocks[blk as usize], [0; BLOCK_SIZE]);
    assert_eq!(s.damaged(), 1);
    let c = block_of(&mut s, "c");
    s.device().blocks[c as usize][4000] ^= 0x80;
    assert_eq!(s.read("c"), Err(StorageError::Damaged { block: c }));
    s.delete("c").unwrap();
    assert_eq!(s.read("c"), Err(StorageError::NotFound));
}

#[test]
fn crash_after_new_copy_newest_wins() {
    let mut s = fresh(40);
    s.write("cfg", b"old").unwrap();
    let old = block_of(&mut s, "cfg");
    // Power fails after the new copy is written, before the old slot is zeroed.
    s.device().budget = Some(1);
    assert_eq!(s.write("cfg", b"new"), Err(StorageError::Io));
    let dev = s.into_device().power_restored();
    let both = (FIRST_SLOT..40)
        .filter(|&b| {
            matches!(
                parse_record(&dev.blocks[b as usize], (b - FIRST_SLOT) as u32),
                Record::File { .. }
            )
        })
        .count();
    assert_eq!(both, 2, "both copies on disk");
    let (mut s, r) = Store::mount(dev).unwrap();
    assert_eq!((r.files, r.superseded, r.damaged), (1, 1, 0));
    assert_eq!(s.read("cfg").unwrap(), b"new");
    assert_eq!(s.device().blocks[old as usize], [0; BLOCK_SIZE]);
    // Generations keep growing after the remount.
    s.write("cfg", b"newer").unwrap();
    let (mut s, _) = remount(s);
    assert_eq!(s.read("cfg").unwrap(), b"newer");
}

#[test]
fn crash_with_older_copy_in_a_later_slot() {
    // The winner is decided by generation, not slot order.
    let mut dev = Mem::new(40);
    let mut b = [0u8; BLOCK_SIZE];
    encode_record(&mut b, 0, 9, "x", b"newer");
    dev.blocks[FIRST_SLOT as usize] = b;
    encode_record(&mut b, 5, 3, "x", b"older");
    dev.blocks[FIRST_SLOT as usize + 5] = b;
    encode_record(&mut b, 6, 4, "y", b"other");
    dev.blocks[FIRST_SLOT as usize + 6] = b;
    let (mut s, r) = Store::mount(dev).unwrap();
    assert!(r.formatted);
    assert_eq!((r.files, r.superseded), (2, 1));
    assert_eq!(s.read("x").unwrap(), b"newer");
    assert_eq!(s.read("y").unwrap(), b"other");
}

#[test]
fn torn_new_copy_old_wins() {
    let mut s = fresh(40);
    s.write("cfg", &[1; 3000]).unwrap();
    // Power fails in the middle of writing the new copy.
    s.device().tear = true;
    assert_eq!(s.write("cfg", &[2; 3000]), Err(StorageError::Io));
    let (mut s, r) = remount(s);
    assert_eq!((r.files, r.damaged, r.superseded), (1, 1, 0));
    assert_eq!(s.read("cfg").unwrap(), &[1; 3000][..]);
    // The torn copy is visible as damage next to the surviving file ...
    let (entries, _) = ls(&mut s, "/").unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.contains(&("cfg".into(), EntryKind::File { size: 3000 })));
    assert!(entries
        .iter()
        .any(|e| matches!(e.1, EntryKind::Damaged { .. })));
    // ... until the next write of the path supersedes it.
    s.write("cfg", &[3; 10]).unwrap();
    assert_eq!(s.damaged(), 0);
    assert_eq!(names(&mut s, "/"), ["cfg"]);
}

#[test]
fn crash_before_any_write_keeps_old() {
    let mut s = fresh(40);
    s.write("k", b"v1").unwrap();
    s.device().budget = Some(0);
    assert_eq!(s.write("k", b"v2"), Err(StorageError::Io));
    let (mut s, r) = remount(s);
    assert_eq!((r.files, r.damaged), (1, 0));
    assert_eq!(s.read("k").unwrap(), b"v1");
}

#[test]
fn kernel_blocks_are_never_touched() {
    let mut dev = Mem::new(60);
    for b in 0..FIRST_BLOCK as usize {
        dev.blocks[b] = [b as u8 ^ 0x5A; BLOCK_SIZE];
    }
    let snapshot: Vec<_> = dev.blocks[..FIRST_BLOCK as usize].to_vec();
    let (mut s, _) = Store::mount(dev).unwrap();
    for i in 0..20 {
        s.write(&format!("d/f{i}"), &[i as u8; 100]).unwrap();
    }
    for i in 0..10 {
        s.delete(&format!("d/f{i}")).unwrap();
    }
    let (s, _) = remount(s);
    let dev = s.into_device();
    assert_eq!(&dev.blocks[..FIRST_BLOCK as usize], &snapshot[..]);
    assert!(dev.writes.iter().all(|&b| b >= FIRST_BLOCK));
}

#[test]
fn mount_errors() {
    assert_eq!(
        Store::mount(Mem::new(33)).unwrap_err(),
        MountError::RegionTooSmall { blocks: 33 }
    );
    let mut dev = Mem::new(40);
    dev.blocks[SUPERBLOCK as usize][0] = b'X';
    assert_eq!(
        Store::mount(dev).unwrap_err(),
        MountError::SuperblockDamaged { block: 32 }
    );
    // A store formatted on a bigger region does not mount on a smaller one.
    let s = fresh(100);
    let mut dev = s.into_device();
    dev.blocks.truncate(50);
    assert!(matches!(
        Store::mount(dev).unwrap_err(),
        MountError::BadSlotCount { slots: 67, fit: 17 }
    ));
}

#[test]
fn listing_truncates_when_the_reply_is_full() {
    let mut s = fresh(FIRST_SLOT as usize + 200);
    for i in 0..150 {
        s.write(&format!("{:0>32}", i), b"").unwrap();
    }
    let (entries, truncated) = ls(&mut s, "/").unwrap();
    assert!(truncated);
    assert!(entries.len() > 50 && entries.len() < 150);
}

fn call(s: &mut Store<Mem>, req: Request<'_>) -> Vec<u8> {
    let mut m = [0u8; MAX_MESSAGE];
    let n = req.encode(&mut m).unwrap();
    let mut reply = [0u8; MAX_MESSAGE];
    let r = s.serve(&m[..n], &mut reply);
    reply[..r].to_vec()
}

#[test]
fn serve_executes_requests() {
    let mut s = fresh(48);
    let ok = call(
        &mut s,
        Request::Write {
            path: "/hi",
            data: b"there",
        },
    );
    assert_eq!(Response::decode(&ok), Ok(Response::Ok));
    let r = call(&mut s, Request::Read { path: "hi" });
    assert_eq!(Response::decode(&r), Ok(Response::Data(b"there")));
    let r = call(&mut s, Request::Create { path: "hi" });
    let Ok(Response::Err(StorageError::AlreadyExists, msg)) = Response::decode(&r) else {
        panic!("{r:?}")
    };
    assert_eq!(msg, "create hi: already exists");
    let r = call(&mut s, Request::Stat { path: "hi" });
    assert_eq!(
        Response::decode(&r),
        Ok(Response::Stat(EntryKind::File { size: 5 }))
    );
    let r = call(&mut s, Request::List { dir: "/" });
    let Ok(Response::Entries(e)) = Response::decode(&r) else {
        panic!()
    };
    assert_eq!(
        e.iter().collect::<Vec<_>>(),
        [Entry {
            name: "hi",
            kind: EntryKind::File { size: 5 }
        }]
    );
    let r = call(&mut s, Request::Delete { path: "hi" });
    assert_eq!(Response::decode(&r), Ok(Response::Ok));
    let r = call(&mut s, Request::Read { path: "hi" });
    assert!(matches!(
        Response::decode(&r),
        Ok(Response::Err(StorageError::NotFound, _))
    ));
    let r = call(&mut s, Request::List { dir: "nope" });
    assert!(matches!(
        Response::decode(&r),
        Ok(Response::Err(StorageError::NotFound, _))
    ));

    let mut reply = [0u8; MAX_MESSAGE];
    for garbage in [&[][..], &[0x09], &[0x03, 5, 0, b'a'], &[0x80]] {
        let n = s.serve(garbage, &mut reply);
        assert!(matches!(
            Response::decode(&reply[..n]),
            Ok(Response::Err(StorageError::BadRequest, _))
        ));
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn serve_never_panics(msgs in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..200), 1..20)) {
            let mut s = fresh(48);
            let mut reply = [0u8; MAX_MESSAGE];
            for m in &msgs {
                let n = s.serve(m, &mut reply);
                prop_assert!(Response::decode(&reply[..n]).is_ok());
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), BLOCK_SIZE), slot in 0u32..4) {
            let mut b = [0u8; BLOCK_SIZE];
            b.copy_from_slice(&bytes);
            let _ = parse_record(&b, slot);
            let _ = decode_superblock(&b);
        }

        /// Random operations against a model; every remount agrees with it.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u8..4, 0usize..6, 0usize..50), 1..40)) {
            let paths = ["a", "b", "d/x", "d/y", "e/f/g", "h"];
            let mut s = fresh(FIRST_SLOT as usize + 8);
            let mut model = std::collections::BTreeMap::<&str, Vec<u8>>::new();
            for (op, p, len) in ops {
                let path = paths[p];
                match op {
                    0 | 1 => {
                        let data = vec![len as u8; len];
                        let r = s.write(path, &data);
                        if model.len() >= 7 && !model.contains_key(path) {
                            prop_assert_eq!(r, Err(StorageError::NoSpace));
                        } else if r.is_ok() {
                            model.insert(path, data);
                        } else {
                            prop_assert_eq!(r, Err(StorageError::NoSpace));
                        }
                    }
                    2 => {
                        let r = s.delete(path);
                        prop_assert_eq!(r.is_ok(), model.remove(path).is_some());
                    }
                    _ => {
                        let (s2, rep) = remount(s);
                        s = s2;
                        prop_assert_eq!(rep.files, model.len());
                        prop_assert_eq!(rep.damaged, 0);
                    }
                }
                for q in paths {
                    match model.get(q) {
                        Some(d) => prop_assert_eq!(s.read(q).unwrap(), &d[..]),
                        None => prop_assert!(s.read(q).is_err()),
                    }
                }
            }
        }
    }
}

#[test]
fn unmounted_store_answers_unavailable() {
    let mut dev = Mem::new(40);
    dev.blocks[SUPERBLOCK as usize][9] = 1;
    let mut s = Store::new(dev);
    assert!(s.mount_in_place().is_err());
    assert!(!s.is_mounted());
    let r = call(&mut s, Request::Read { path: "x" });
    assert!(matches!(
        Response::decode(&r),
        Ok(Response::Err(StorageError::Unavailable, _))
    ));
    assert_eq!(s.write("x", b""), Err(StorageError::Unavailable));
    // Nothing was written to the damaged store.
    assert!(s.into_device().writes.is_empty());
}
