//! Conversion of a real old store (built with `Store` on pgfs's `MemDevice`) into pgfs: every
//! file kept, damaged records in `/lost+found`, and a power cut at every write of the
//! conversion (torn, not torn, with lost unflushed writes) followed by another attempt.
#![cfg(feature = "convert")]

use pgfs::mem::{Cut, MemDevice};
use pgfs::{BlockDevice, FileKind, Fs, Time};
use std::collections::BTreeMap;
use storage_format::convert::{classify, is_old_store, to_pgfs, PgfsBlocks, RegionState};
use storage_format::{encode_record, parse_record, Record, Store, FIRST_SLOT};

const T: Time = Time { secs: 7, nanos: 0 };

/// The files the converted filesystem must hold: path → bytes.
type Want = BTreeMap<String, Vec<u8>>;

fn path(i: usize) -> String {
    match i % 4 {
        0 => format!("f{i}"),
        1 => format!("d{}/f{i}", i % 3),
        2 => format!("d{}/e{}/f{i}", i % 3, i % 2),
        _ => format!("d{}/e{}/g.x/f-{i}", i % 3, i % 2),
    }
}

fn data(i: usize) -> Vec<u8> {
    let len = match i % 6 {
        0 => 0,
        1 => 3072,
        _ => (i * 97) % 3072,
    };
    (0..len).map(|k| (k * 31 + i) as u8).collect()
}

/// The slot block holding the valid record of `p`.
fn block_of(dev: &MemDevice, p: &str) -> u64 {
    (FIRST_SLOT..FIRST_SLOT + 1024)
        .find(|&b| {
            let raw = dev.peek(b);
            matches!(parse_record(&raw, (b - FIRST_SLOT) as u32), Record::File { path, .. } if path == p)
        })
        .expect("record")
}

fn free_slot(dev: &MemDevice, from: u64) -> u64 {
    (from..).find(|&b| dev.peek(b) == [0; 4096]).expect("free")
}

/// An old store of `n` files on a `blocks`-block region, with two interrupted replaces
/// (an older and a newer duplicate) and two damaged records.
fn old_store(blocks: u64, n: usize) -> (MemDevice, Want) {
    let (mut store, _) = Store::mount(PgfsBlocks(MemDevice::new(blocks))).expect("mount");
    let mut want = Want::new();
    for i in 0..n {
        store.write(&path(i), &data(i)).expect("write");
        want.insert(format!("/{}", path(i)), data(i));
    }
    let mut dev = store.into_device().0;
    // An older copy of file 1 and a newer copy of file 2, as an interrupted replace leaves.
    let mut rec = [0u8; 4096];
    for (i, generation, bytes) in [(1, 0, b"stale".to_vec()), (2, 1 << 40, b"newest".to_vec())] {
        let b = free_slot(&dev, FIRST_SLOT);
        encode_record(
            &mut rec,
            (b - FIRST_SLOT) as u32,
            generation,
            &path(i),
            &bytes,
        );
        dev.write(b, &rec).expect("write");
        if generation > 0 {
            want.insert(format!("/{}", path(i)), bytes);
        }
    }
    for i in [3, n - 1] {
        let b = block_of(&dev, &path(i));
        dev.flip(b, 100, 3);
        want.remove(&format!("/{}", path(i)));
        want.insert(format!("/lost+found/record-{b}"), dev.peek(b).to_vec());
    }
    (dev.reboot(), want)
}

/// Every file of the filesystem with its bytes.
fn contents<D: BlockDevice>(fs: &mut Fs<D>) -> Want {
    let mut out = Want::new();
    let mut dirs = vec![String::new()];
    while let Some(dir) = dirs.pop() {
        let shown = if dir.is_empty() { "/" } else { &dir };
        for e in fs.list(shown, None, usize::MAX).expect("list") {
            let p = format!("{dir}/{}", e.name);
            if e.kind == FileKind::Dir {
                dirs.push(p);
                continue;
            }
            let size = fs.stat(&p).expect("stat").size as usize;
            let mut buf = vec![0u8; size];
            assert_eq!(fs.read(&p, 0, &mut buf), Ok(size), "{p}");
            out.insert(p, buf);
        }
    }
    out
}

fn verify<D: BlockDevice>(fs: &mut Fs<D>, want: &Want, what: &str) {
    assert!(fs.check().expect("check").is_exact(), "{what}: check");
    assert!(&contents(fs) == want, "{what}: contents differ");
}

/// What the service does at start-up: convert if needed, else mount. Counts salvages and
/// conversions that met leftovers of the interrupted one.
fn open(dev: MemDevice, seen: &mut Seen) -> Fs<MemDevice> {
    let (b32, b33) = (dev.peek(32), dev.peek(33));
    if is_old_store(&b32, &b33) {
        let (fs, report) = to_pgfs(dev, T).expect("convert");
        seen.salvaged += u64::from(report.salvaged);
        seen.leftovers += u64::from(report.leftovers > 0);
        return fs;
    }
    assert_eq!(classify(&b32, &b33), RegionState::Pgfs);
    seen.mounted += 1;
    Fs::mount(dev).expect("mount").0
}

/// How the cut conversions were finished.
#[derive(Debug, Default)]
struct Seen {
    tried: u64,
    salvaged: u64,
    leftovers: u64,
    mounted: u64,
}

#[test]
fn converts_every_file() {
    let (dev, want) = old_store(4096, 50);
    assert_eq!(
        classify(&dev.peek(32), &dev.peek(33)),
        RegionState::OldStore
    );
    let (mut fs, report) = to_pgfs(dev, T).expect("convert");
    assert_eq!(
        (report.files, report.damaged, report.superseded),
        (48, 2, 2)
    );
    assert_eq!((report.leftovers, report.salvaged), (0, false));
    assert_eq!(report.reserved, FIRST_SLOT..FIRST_SLOT + 1024);
    verify(&mut fs, &want, "converted");
    let mut dev = fs.into_device().reboot();
    assert_ne!(
        dev.peek(33),
        [0; 4096],
        "old slot 0 untouched by the conversion"
    );
    let (mut fs, mount) = Fs::mount(dev.reboot()).expect("mount with B an old record");
    assert_eq!((mount.slot, mount.damaged_root), (32, None));
    fs.put_file("/after", b"x", T).expect("put");
    fs.sync().expect("sync");
    dev = fs.into_device().reboot();
    let (mut fs, mount) = Fs::mount(dev).expect("mount");
    assert_eq!(mount.slot, 33);
    let mut more = want.clone();
    more.insert("/after".into(), b"x".to_vec());
    verify(&mut fs, &more, "after a commit");
}

#[test]
fn small_regions_convert() {
    for (blocks, n) in [(64, 8), (256, 50), (1024, 50)] {
        let (dev, want) = old_store(blocks, n);
        let (mut fs, report) = to_pgfs(dev, T).expect("convert");
        assert_eq!(report.damaged, 2, "{blocks}");
        assert!(
            report.reserved.end < blocks,
            "{blocks}: {:?}",
            report.reserved
        );
        verify(&mut fs, &want, &format!("{blocks} blocks"));
    }
}

#[test]
fn torn_superblock_is_salvaged_without_the_old_superblock() {
    let (dev, want) = old_store(4096, 20);
    let mut d = dev.reboot();
    let mut torn = pgfs::layout::encode_super(
        &pgfs::layout::Super {
            gen: 1,
            blocks: 4096,
            root: 2000,
            next_oid: 9,
            used: 3,
            files: 1,
        },
        32,
    );
    torn[2048..].copy_from_slice(&dev.peek(32)[2048..]);
    d.write(32, &torn).expect("write");
    assert_eq!(classify(&d.peek(32), &d.peek(33)), RegionState::Interrupted);
    let (mut fs, report) = to_pgfs(d.reboot(), T).expect("salvage");
    assert!(report.salvaged);
    verify(&mut fs, &want, "salvaged");
}

/// Cuts the conversion at every write (three ways each); the next start-up must end with
/// every old file. Every fourth cut also cuts the second attempt.
fn cut_everywhere(blocks: u64, n: usize) -> Seen {
    let (base, want) = old_store(blocks, n);
    let mut d = base.reboot();
    to_pgfs(&mut d, T).expect("convert");
    let writes = d.writes;
    let mut seen = Seen::default();
    for at_write in 1..=writes {
        for way in 0..3u64 {
            let cut = Cut {
                at_write,
                torn: way == 1,
                lose_unflushed: if way == 2 { 0x5555_5555_5555_5555 } else { 0 },
            };
            let mut dev = base.reboot();
            dev.arm(cut);
            assert!(to_pgfs(&mut dev, T).is_err(), "cut {cut:?}");
            let mut dev = dev.reboot();
            if classify(&dev.peek(32), &dev.peek(33)) == RegionState::Interrupted {
                seen.tried += cut_salvage(&dev, writes, &want, &mut seen);
            }
            if at_write % 4 == 0 && is_old_store(&dev.peek(32), &dev.peek(33)) {
                dev.arm(Cut {
                    at_write: (7 * at_write) % writes + 1,
                    torn: true,
                    lose_unflushed: 0x3,
                });
                let _ = to_pgfs(&mut dev, T);
                dev = dev.reboot();
            }
            let mut fs = open(dev, &mut seen);
            verify(&mut fs, &want, &format!("{blocks} blocks, cut {cut:?}"));
            seen.tried += 1;
        }
    }
    seen
}

/// Cuts the salvage of an interrupted conversion at every write (three ways each).
fn cut_salvage(torn: &MemDevice, writes: u64, want: &Want, seen: &mut Seen) -> u64 {
    let mut tried = 0;
    for at_write in 1..=writes {
        for way in 0..3u64 {
            let mut dev = torn.reboot();
            dev.arm(Cut {
                at_write,
                torn: way == 1,
                lose_unflushed: if way == 2 { u64::MAX } else { 0 },
            });
            let _ = to_pgfs(&mut dev, T);
            let mut fs = open(dev.reboot(), seen);
            verify(&mut fs, want, &format!("salvage cut at {at_write} ({way})"));
            tried += 1;
        }
    }
    tried
}

#[test]
fn power_cut_at_every_write_of_the_conversion() {
    let mut total = 0;
    for (blocks, n) in [(4096, 50), (1024, 50), (256, 40), (64, 8)] {
        let seen = cut_everywhere(blocks, n);
        eprintln!("conversion on {blocks} blocks ({n} files): {seen:?}");
        assert!(seen.salvaged > 0 && seen.mounted > 0, "{seen:?}");
        total += seen.tried;
    }
    eprintln!("conversion: {total} cut points tried");
    assert!(total > 300, "too few cut points: {total}");
}
