//! Damage: bit flips in data, tree nodes, bitmap blocks and superblocks; I/O errors; a newer
//! format version; the old record store. Each gives its documented error, the rest stays
//! readable, and a damaged newest root falls back to the previous generation.

use pgfs::layout::{MAGIC_BITMAP, MAGIC_LEAF};
use pgfs::mem::MemDevice;
use pgfs::{crc32c, BlockKind, Error, Fs, Time, SUPER_A, SUPER_B};
use std::collections::BTreeSet;

const T: Time = Time { secs: 7, nanos: 0 };

fn remount(dev: &MemDevice) -> Fs<MemDevice> {
    Fs::mount(dev.reboot()).expect("mount").0
}

fn read(fs: &mut Fs<MemDevice>, path: &str) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0; fs.stat(path)?.size as usize];
    fs.read(path, 0, &mut buf)?;
    Ok(buf)
}

/// The reachable blocks of the current tree whose first bytes are `magic`.
fn blocks_with(fs: &mut Fs<MemDevice>, magic: [u8; 8]) -> Vec<u64> {
    let mut all = BTreeSet::new();
    fs.walk_blocks(&mut |b| {
        all.insert(b);
    })
    .expect("walk");
    all.into_iter()
        .filter(|&b| fs.device().peek(b)[..8] == magic)
        .collect()
}

fn two_files() -> MemDevice {
    let files: &[(&str, &[u8])] = &[("/a", &[1; 9000]), ("/b", b"bee")];
    Fs::format(MemDevice::new(512), T, files)
        .expect("format")
        .into_device()
}

#[test]
fn data_bit_flip_names_the_file_and_block() {
    let dev = two_files();
    let mut fs = remount(&dev);
    let blocks = fs.data_blocks("/a").expect("blocks");
    assert_eq!(blocks.len(), 3);
    let (_, bad) = blocks[1];
    fs.device_mut().flip(bad, 100, 3);
    let inode = fs.stat("/a").expect("stat").inode;
    assert_eq!(
        read(&mut fs, "/a"),
        Err(Error::DataDamaged { inode, block: bad })
    );
    let mut first = [0; 4096];
    assert_eq!(
        fs.read("/a", 0, &mut first),
        Ok(4096),
        "the undamaged block reads"
    );
    assert_eq!(read(&mut fs, "/b").expect("b"), b"bee");
    let e = Error::DataDamaged { inode, block: bad };
    assert_eq!(
        e.to_string(),
        format!("file inode {inode}: data block {bad} fails its checksum")
    );
}

#[test]
fn scrub_reports_every_damaged_block() {
    let mut fs = Fs::format(MemDevice::new(4096), T, &[]).expect("format");
    for i in 0..400 {
        fs.put_file(&format!("/f{i}"), &[i as u8; 5000], T)
            .expect("put");
    }
    fs.sync().expect("sync");
    let clean = fs.scrub();
    assert!(
        clean.damage.is_empty() && clean.data_blocks == 800,
        "{clean:?}"
    );
    let leaves = blocks_with(&mut fs, MAGIC_LEAF);
    let (_, data) = fs.data_blocks("/f7").expect("blocks")[1];
    let inode = fs.stat("/f7").expect("stat").inode;
    let bitmap = blocks_with(&mut fs, MAGIC_BITMAP)[0];
    let mut dev = fs.into_device();
    let bad_leaf = leaves
        .into_iter()
        .find(|&l| {
            let mut probe = dev.reboot();
            probe.flip(l, 3000, 6);
            read(&mut remount(&probe), "/f7").is_ok()
        })
        .expect("a leaf not holding /f7's items");
    for b in [bad_leaf, data, bitmap] {
        dev.flip(b, 3000, 6);
    }
    let mut fs = remount(&dev);
    let report = fs.scrub();
    assert!(report.damage.contains(&Error::Damaged {
        block: bad_leaf,
        kind: BlockKind::TreeNode
    }));
    assert!(
        report
            .damage
            .contains(&Error::DataDamaged { inode, block: data })
            || report.damage.len() == 3
    );
    assert!(report.damage.contains(&Error::Damaged {
        block: bitmap,
        kind: BlockKind::Bitmap
    }));
    assert!(report.data_blocks > 700, "{report:?}");
}

#[test]
fn io_error_names_the_block() {
    let dev = two_files();
    let mut fs = remount(&dev);
    let (_, b) = fs.data_blocks("/b").expect("blocks")[0];
    fs.device_mut().fail_reads(b);
    assert_eq!(read(&mut fs, "/b"), Err(Error::Io { block: b }));
    assert_eq!(read(&mut fs, "/a").expect("a").len(), 9000);
}

#[test]
fn leaf_bit_flip_damages_only_its_items() {
    let mut fs = Fs::format(MemDevice::new(4096), T, &[]).expect("format");
    for i in 0..400 {
        fs.put_file(&format!("/f{i}"), format!("data {i}").as_bytes(), T)
            .expect("put");
    }
    fs.sync().expect("sync");
    let leaves = blocks_with(&mut fs, MAGIC_LEAF);
    assert!(leaves.len() > 4, "{leaves:?}");
    let bad = leaves[leaves.len() / 2];
    let mut dev = fs.into_device();
    dev.flip(bad, 200, 0);
    let mut fs = remount(&dev);
    let (mut ok, mut damaged) = (0, 0);
    for i in 0..400 {
        match read(&mut fs, &format!("/f{i}")) {
            Ok(d) => {
                assert_eq!(d, format!("data {i}").as_bytes());
                ok += 1;
            }
            Err(e) => {
                assert_eq!(
                    e,
                    Error::Damaged {
                        block: bad,
                        kind: BlockKind::TreeNode
                    }
                );
                damaged += 1;
            }
        }
    }
    assert!(ok > 300 && damaged > 0, "ok {ok}, damaged {damaged}");
}

/// Five commits, each adding a file and rewriting `/log`; returns the device.
fn five_generations() -> MemDevice {
    let mut fs = Fs::format(MemDevice::new(1024), T, &[("/log", b"")]).expect("format");
    for g in 2..=6u8 {
        fs.put_file(&format!("/g{g}"), &[g; 5000], T).expect("put");
        fs.write("/log", 0, &[g; 100], T).expect("write");
        fs.sync().expect("sync");
    }
    assert_eq!(fs.generation(), 6);
    fs.into_device()
}

fn assert_generation_5(fs: &mut Fs<MemDevice>) {
    assert_eq!(fs.generation(), 5);
    assert_eq!(read(fs, "/log").expect("log"), [5; 100]);
    assert_eq!(read(fs, "/g5").expect("g5"), [5; 5000]);
    assert_eq!(fs.stat("/g6"), Err(Error::NotFound));
    assert!(fs.check().expect("check").is_exact());
}

#[test]
fn damaged_newest_superblock_falls_back() {
    let mut dev = five_generations();
    let newest = if dev.peek(SUPER_A)[16] == 6 {
        SUPER_A
    } else {
        SUPER_B
    };
    dev.flip(newest, 40, 1);
    let (mut fs, report) = Fs::mount(dev.reboot()).expect("mount");
    assert_eq!(report.damaged_root, Some((newest, BlockKind::Superblock)));
    assert_generation_5(&mut fs);
    fs.put_file("/new", b"after fallback", T).expect("put");
    fs.sync().expect("sync over the damaged slot");
    let (mut fs, report) = Fs::mount(fs.into_device().reboot()).expect("mount");
    assert_eq!((report.generation, report.damaged_root), (6, None));
    assert_eq!(read(&mut fs, "/new").expect("new"), b"after fallback");
}

#[test]
fn damaged_newest_root_node_falls_back() {
    let dev = five_generations();
    let mut fs = remount(&dev);
    let root = {
        let mut first = None;
        fs.walk_blocks(&mut |b| {
            first.get_or_insert(b);
        })
        .expect("walk");
        first.expect("root")
    };
    let mut dev = fs.into_device();
    dev.flip(root, 50, 7);
    let (mut fs, report) = Fs::mount(dev.reboot()).expect("mount");
    assert_eq!(report.damaged_root, Some((root, BlockKind::TreeNode)));
    assert_generation_5(&mut fs);
}

#[test]
fn both_roots_damaged_is_an_error_not_an_empty_fs() {
    let mut dev = five_generations();
    dev.flip(SUPER_A, 40, 1);
    dev.flip(SUPER_B, 40, 1);
    let err = Fs::mount(dev.reboot()).err();
    assert!(
        matches!(
            err,
            Some(Error::NoValidRoot {
                newest: BlockKind::Superblock,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        Fs::format(dev.reboot(), T, &[]).err(),
        Some(Error::Exists),
        "format refuses"
    );
}

#[test]
fn bitmap_damage_stops_allocation_not_reads() {
    let dev = two_files();
    let mut fs = remount(&dev);
    let bitmaps = blocks_with(&mut fs, MAGIC_BITMAP);
    assert_eq!(bitmaps.len(), 1);
    let mut dev = fs.into_device();
    dev.flip(bitmaps[0], 2000, 2);
    let mut fs = remount(&dev);
    assert_eq!(read(&mut fs, "/b").expect("b"), b"bee");
    let err = Error::Damaged {
        block: bitmaps[0],
        kind: BlockKind::Bitmap,
    };
    assert_eq!(fs.write("/b", 0, b"x", T), Err(err));
    assert_eq!(read(&mut fs, "/b").expect("b"), b"bee", "nothing changed");
}

#[test]
fn unsynced_writes_never_touch_the_previous_root() {
    let dev = five_generations();
    let mut fs = remount(&dev);
    for i in 0..20 {
        fs.write("/log", 0, &[0xEE; 100], T).expect("write");
        fs.put_file(&format!("/junk{i}"), &[0xEE; 8192], T)
            .expect("put");
    }
    let mut dev = fs.into_device();
    let newest = if dev.peek(SUPER_A)[16] == 6 {
        SUPER_A
    } else {
        SUPER_B
    };
    dev.flip(newest, 40, 1);
    let (mut fs, report) = Fs::mount(dev.reboot()).expect("mount");
    assert_eq!(report.damaged_root, Some((newest, BlockKind::Superblock)));
    assert_generation_5(&mut fs);
}

#[test]
fn newer_version_is_refused_and_left_alone() {
    let mut dev = two_files();
    let mut sb = dev.peek(SUPER_A);
    sb[24..28].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c(&sb[..4092]);
    sb[4092..].copy_from_slice(&crc.to_le_bytes());
    use pgfs::BlockDevice;
    dev.write(SUPER_A, &sb).expect("write");
    let before: Vec<_> = dev.written().map(|b| dev.peek(b)).collect();
    let mut probe = dev.reboot();
    assert_eq!(
        Fs::mount(&mut probe).err(),
        Some(Error::NewerVersion { found: 2 })
    );
    assert_eq!(Fs::format(&mut probe, T, &[]).err(), Some(Error::Exists));
    let after: Vec<_> = probe.written().map(|b| probe.peek(b)).collect();
    assert_eq!(before, after, "nothing written");
    assert_eq!(probe.writes, 0);
}

#[test]
fn old_store_and_foreign_data_are_recognised() {
    use pgfs::BlockDevice;
    let mut dev = MemDevice::new(512);
    let mut b = [0u8; 4096];
    b[..8].copy_from_slice(b"PGSTORE1");
    dev.write(SUPER_A, &b).expect("write");
    assert_eq!(Fs::mount(dev.reboot()).err(), Some(Error::OldStore));
    assert_eq!(Fs::format(dev.reboot(), T, &[]).err(), Some(Error::Exists));
    b[..8].copy_from_slice(b"SOMEFS!!");
    dev.write(SUPER_A, &b).expect("write");
    assert_eq!(Fs::mount(dev.reboot()).err(), Some(Error::Unrecognized));
}

#[test]
fn every_error_displays_on_one_line() {
    let errs = [
        Error::Io { block: 3 },
        Error::Io { block: u64::MAX },
        Error::Damaged {
            block: 9,
            kind: BlockKind::Bitmap,
        },
        Error::NoValidRoot {
            newest: BlockKind::Superblock,
            block: 32,
        },
        Error::NewerVersion { found: 9 },
        Error::UnfinishedFormat,
        Error::NeedsRemount,
        Error::BadItem { oid: 4 },
    ];
    for e in errs {
        let s = e.to_string();
        assert!(!s.is_empty() && !s.contains('\n'), "{s}");
    }
}

/// Lists and reads everything reachable, ignoring errors (must not panic).
fn touch_everything(fs: &mut Fs<MemDevice>) {
    let mut dirs = vec!["/".to_string()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = fs.list(&d, None, 10_000) else {
            continue;
        };
        for e in entries {
            let p = if d == "/" {
                format!("/{}", e.name)
            } else {
                format!("{d}/{}", e.name)
            };
            if e.kind == pgfs::FileKind::Dir {
                dirs.push(p);
            } else {
                let _ = read(fs, &p);
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, failure_persistence: None, ..Default::default() })]
    /// Random bit flips anywhere in a used image: mount, reads, writes and sync return
    /// errors or work, never panic; what mounts still has exact free space or says why not.
    #[test]
    fn random_damage_never_panics(flips in proptest::collection::vec((0usize..10_000, 0usize..4096, 0u8..8), 1..6)) {
        let mut fs = Fs::format(MemDevice::new(2048), T, &[("/d/a", &[1; 9000]), ("/b", b"b")]).expect("format");
        for i in 0..150 {
            fs.put_file(&format!("/d/f{i}"), &[i as u8; 300], T).expect("put");
        }
        fs.sync().expect("sync");
        let mut dev = fs.into_device();
        let written: Vec<u64> = dev.written().collect();
        for (i, byte, bit) in flips {
            dev.flip(written[i % written.len()], byte, bit);
        }
        let Ok((mut fs, _)) = Fs::mount(dev.reboot()) else { return Ok(()) };
        touch_everything(&mut fs);
        let _ = fs.put_file("/new/x", b"x", T);
        let _ = fs.rename("/b", "/d/a");
        let _ = fs.truncate("/d/f3", 5, T);
        let _ = fs.remove("/d/f4");
        let _ = fs.sync();
        let _ = fs.check();
        let _ = fs.scrub();
        if let Ok((mut fs, _)) = Fs::mount(fs.into_device().reboot()) {
            touch_everything(&mut fs);
        }
    }
}
