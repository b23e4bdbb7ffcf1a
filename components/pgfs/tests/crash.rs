//! Model-based crash test: random operation sequences against an in-memory model, with a
//! power cut after every N-th block write (N over every write of the sequence).
//!
//! The durability rule checked: after the cut and a remount, the filesystem equals the model
//! as of the last `sync` that returned `Ok` — or, if the cut hit a `sync`, possibly the model
//! as of that `sync`. Nothing else. Free space must be exact (`Fs::check`).

use pgfs::mem::{Cut, MemDevice};
use pgfs::{FileKind, Fs, Time};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

const T: Time = Time { secs: 1, nanos: 0 };
const FILES: [&str; 6] = ["/a", "/b", "/c", "/d/a", "/d/b", "/d/e/a"];
const DIRS: [&str; 2] = ["/d", "/d/e"];

#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Mkdir(usize),
    Write(usize, u16, u16, u8),
    Append(usize, u16, u8),
    Truncate(usize, u16),
    Rename(usize, usize),
    RenameDir(usize, usize),
    Delete(usize),
    Rmdir(usize),
    /// Creates `/m{i}` for `i` in the range (existing ones kept): grows the tree.
    Bulk(u8, u8),
    /// Removes `/m{i}` for `i` in the range (missing ones skipped).
    BulkRemove(u8, u8),
    Sync,
}

fn bulk_names(start: u8, n: u8) -> impl Iterator<Item = String> {
    (u32::from(start)..u32::from(start) + u32::from(n)).map(|i| format!("/m{i:03}"))
}

fn op() -> impl Strategy<Value = Op> {
    let f = 0..FILES.len();
    let d = 0..DIRS.len();
    prop_oneof![
        4 => f.clone().prop_map(Op::Create),
        3 => d.clone().prop_map(Op::Mkdir),
        3 => (f.clone(), 0..9000u16, 1..6000u16, any::<u8>()).prop_map(|(a, b, c, e)| Op::Write(a, b, c, e)),
        2 => (f.clone(), 1..5000u16, any::<u8>()).prop_map(|(a, b, c)| Op::Append(a, b, c)),
        1 => (f.clone(), 0..9000u16).prop_map(|(a, b)| Op::Truncate(a, b)),
        2 => (f.clone(), f.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (d.clone(), 0..FILES.len()).prop_map(|(a, b)| Op::RenameDir(a, b)),
        1 => f.prop_map(Op::Delete),
        1 => d.prop_map(Op::Rmdir),
        1 => (any::<u8>(), 1..120u8).prop_map(|(a, b)| Op::Bulk(a, b)),
        1 => (any::<u8>(), 1..120u8).prop_map(|(a, b)| Op::BulkRemove(a, b)),
        5 => Just(Op::Sync),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum M {
    File(Vec<u8>),
    Dir,
}

type Model = BTreeMap<String, M>;

fn parent(p: &str) -> &str {
    &p[..p.rfind('/').unwrap_or(0)]
}

fn is_dir(m: &Model, p: &str) -> bool {
    p.is_empty() || m.get(p) == Some(&M::Dir)
}

fn file_mut<'m>(m: &'m mut Model, p: &str) -> Result<&'m mut Vec<u8>, ()> {
    match m.get_mut(p) {
        Some(M::File(v)) => Ok(v),
        _ => Err(()),
    }
}

fn make(m: &mut Model, p: &str, node: M) -> Result<(), ()> {
    if !is_dir(m, parent(p)) || m.contains_key(p) {
        return Err(());
    }
    m.insert(p.to_string(), node);
    Ok(())
}

fn write_at(v: &mut Vec<u8>, off: usize, len: usize, byte: u8) {
    if v.len() < off + len {
        v.resize(off + len, 0);
    }
    v[off..off + len].fill(byte);
}

fn rename(m: &mut Model, a: &str, b: &str) -> Result<(), ()> {
    let src = m.get(a).cloned().ok_or(())?;
    if b.starts_with(&format!("{a}/")) || !is_dir(m, parent(b)) {
        return Err(());
    }
    if a == b {
        return Ok(());
    }
    match (m.get(b), &src) {
        (Some(M::Dir), _) | (Some(M::File(_)), M::Dir) => return Err(()),
        _ => {}
    }
    let moved: Vec<String> = m
        .keys()
        .filter(|k| k.as_str() == a || k.starts_with(&format!("{a}/")))
        .cloned()
        .collect();
    for k in moved {
        let v = m.remove(&k).ok_or(())?;
        m.insert(format!("{b}{}", &k[a.len()..]), v);
    }
    Ok(())
}

fn model_apply(m: &mut Model, op: &Op) -> Result<(), ()> {
    match *op {
        Op::Create(f) => make(m, FILES[f], M::File(Vec::new())),
        Op::Mkdir(d) => make(m, DIRS[d], M::Dir),
        Op::Write(f, off, len, b) => {
            file_mut(m, FILES[f]).map(|v| write_at(v, off.into(), len.into(), b))
        }
        Op::Append(f, len, b) => file_mut(m, FILES[f]).map(|v| write_at(v, v.len(), len.into(), b)),
        Op::Truncate(f, n) => file_mut(m, FILES[f]).map(|v| v.resize(n.into(), 0)),
        Op::Rename(a, b) => rename(m, FILES[a], FILES[b]),
        Op::RenameDir(a, b) => rename(m, DIRS[a], FILES[b]),
        Op::Delete(f) => file_mut(m, FILES[f])
            .map(|_| ())
            .and_then(|_| m.remove(FILES[f]).map(|_| ()).ok_or(())),
        Op::Rmdir(d) => {
            let p = DIRS[d];
            let busy = m.keys().any(|k| k.starts_with(&format!("{p}/")));
            if m.get(p) != Some(&M::Dir) || busy {
                return Err(());
            }
            m.remove(p);
            Ok(())
        }
        Op::Bulk(a, n) => {
            bulk_names(a, n).for_each(|p| {
                m.entry(p).or_insert(M::File(Vec::new()));
            });
            Ok(())
        }
        Op::BulkRemove(a, n) => {
            bulk_names(a, n).for_each(|p| {
                m.remove(&p);
            });
            Ok(())
        }
        Op::Sync => Ok(()),
    }
}

fn fs_apply(fs: &mut Fs<MemDevice>, op: &Op) -> Result<(), pgfs::Error> {
    match *op {
        Op::Create(f) => fs.create(FILES[f], T),
        Op::Mkdir(d) => fs.mkdir(DIRS[d], T),
        Op::Write(f, off, len, b) => fs.write(FILES[f], off.into(), &vec![b; len.into()], T),
        Op::Append(f, len, b) => {
            let size = fs.stat(FILES[f])?.size;
            if fs.stat(FILES[f])?.kind != FileKind::File {
                return Err(pgfs::Error::IsDir);
            }
            fs.write(FILES[f], size, &vec![b; len.into()], T)
        }
        Op::Truncate(f, n) => fs.truncate(FILES[f], n.into(), T),
        Op::Rename(a, b) => fs.rename(FILES[a], FILES[b]),
        Op::RenameDir(a, b) => fs.rename(DIRS[a], FILES[b]),
        Op::Delete(f) => fs.remove(FILES[f]),
        Op::Rmdir(d) => fs.rmdir(DIRS[d]),
        Op::Bulk(a, n) => bulk_names(a, n).try_for_each(|p| match fs.create(&p, T) {
            Err(pgfs::Error::Exists) => Ok(()),
            r => r,
        }),
        Op::BulkRemove(a, n) => bulk_names(a, n).try_for_each(|p| match fs.remove(&p) {
            Err(pgfs::Error::NotFound) => Ok(()),
            r => r,
        }),
        Op::Sync => fs.sync(),
    }
}

/// The whole tree as a model (every file read back).
fn snapshot(fs: &mut Fs<MemDevice>) -> Model {
    let mut out = Model::new();
    let mut dirs = vec![String::new()];
    while let Some(d) = dirs.pop() {
        let path = if d.is_empty() {
            "/".to_string()
        } else {
            d.clone()
        };
        for e in fs.list(&path, None, usize::MAX).expect("list") {
            let p = format!("{d}/{}", e.name);
            if e.kind == FileKind::Dir {
                dirs.push(p.clone());
                out.insert(p, M::Dir);
            } else {
                let size = fs.stat(&p).expect("stat").size as usize;
                let mut buf = vec![0; size];
                assert_eq!(fs.read(&p, 0, &mut buf).expect("read"), size);
                out.insert(p, M::File(buf));
            }
        }
    }
    out
}

fn formatted() -> MemDevice {
    Fs::format(MemDevice::new(2048), T, &[])
        .expect("format")
        .into_device()
        .reboot()
}

/// Runs `ops` without a cut, checking each result against the model; returns the writes.
fn dry_run(base: &MemDevice, ops: &[Op]) -> Result<u64, TestCaseError> {
    let (mut fs, _) = Fs::mount(base.reboot()).expect("mount");
    let mut m = Model::new();
    for op in ops {
        let want = model_apply(&mut m, op);
        let got = fs_apply(&mut fs, op);
        prop_assert_eq!(want.is_ok(), got.is_ok(), "{:?}: {:?}", op, got);
    }
    prop_assert_eq!(snapshot(&mut fs), m);
    Ok(fs.device().writes)
}

/// Runs `ops` from model state `start` until the armed cut (or the end); returns the model
/// at the last completed sync and, if the cut hit a sync, the model that sync would commit.
fn run_until_cut(
    fs: &mut Fs<MemDevice>,
    start: Model,
    ops: &[Op],
) -> Result<(Model, Option<Model>), TestCaseError> {
    let (mut m, mut durable) = (start.clone(), start);
    for op in ops {
        let mut next = m.clone();
        let want = model_apply(&mut next, op);
        let r = fs_apply(fs, op);
        if fs.device().is_dead() {
            return Ok((durable, matches!(op, Op::Sync).then_some(next)));
        }
        prop_assert_eq!(r.is_ok(), want.is_ok(), "{:?}: {:?}", op, r);
        m = next;
        if matches!(op, Op::Sync) {
            durable = m.clone();
        }
    }
    Ok((durable, None))
}

/// Remounts after a cut and checks the durability rule and exact free space.
fn remount_and_verify(
    dev: &MemDevice,
    durable: &Model,
    inflight: Option<&Model>,
    cut: Cut,
) -> Result<(Fs<MemDevice>, Model), TestCaseError> {
    let (mut fs, _) =
        Fs::mount(dev.reboot()).map_err(|e| TestCaseError::fail(format!("mount: {e}")))?;
    let got = snapshot(&mut fs);
    prop_assert!(
        &got == durable || Some(&got) == inflight,
        "cut {:?}: got {:?}\nwant {:?}",
        cut,
        got,
        durable
    );
    let report = fs.check().map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(report.is_exact(), "{:?}", report);
    Ok((fs, got))
}

/// What runs after the first cut and remount, with a second cut somewhere in it.
const AFTER: [Op; 9] = [
    Op::Create(2),
    Op::Write(2, 0, 100, 9),
    Op::Sync,
    Op::Truncate(2, 10),
    Op::Rename(2, 0),
    Op::Bulk(0, 30),
    Op::Sync,
    Op::BulkRemove(0, 30),
    Op::Sync,
];

/// Cuts power at write `cut.at_write`, remounts and checks; then runs [`AFTER`] with a second
/// cut (so the recovery from the first one is itself crash-tested) and checks again.
fn cut_run(base: &MemDevice, ops: &[Op], cut: Cut) -> Result<(), TestCaseError> {
    let (mut fs, _) = Fs::mount(base.reboot()).expect("mount");
    fs.device_mut().arm(cut);
    let (durable, inflight) = run_until_cut(&mut fs, Model::new(), ops)?;
    let (mut fs, got) = remount_and_verify(fs.device(), &durable, inflight.as_ref(), cut)?;
    let second = Cut {
        at_write: cut.at_write * 7 % 23 + 1,
        ..cut
    };
    fs.device_mut().arm(second);
    let (durable, inflight) = run_until_cut(&mut fs, got, &AFTER)?;
    if fs.device().is_dead() {
        SECOND_CUTS.fetch_add(1, Ordering::Relaxed);
    }
    remount_and_verify(fs.device(), &durable, inflight.as_ref(), second)?;
    Ok(())
}

static CUTS: AtomicU64 = AtomicU64::new(0);
static CASES: AtomicU64 = AtomicU64::new(0);
static SECOND_CUTS: AtomicU64 = AtomicU64::new(0);

#[test]
fn power_cut_at_every_write() {
    let base = formatted();
    let mut runner = TestRunner::new(Config {
        cases: 320,
        failure_persistence: None,
        ..Config::default()
    });
    let prefix = [Op::Mkdir(0), Op::Mkdir(1), Op::Create(0), Op::Create(3)];
    let ops = proptest::collection::vec(op(), 1..40)
        .prop_map(move |o| [prefix.to_vec(), o, vec![Op::Sync]].concat());
    let strategy = (ops, any::<u64>());
    runner
        .run(&strategy, |(ops, lose)| {
            let writes = dry_run(&base, &ops)?;
            CASES.fetch_add(1, Ordering::Relaxed);
            for n in 1..=writes {
                let cut = Cut {
                    at_write: n,
                    torn: n % 3 == 0,
                    lose_unflushed: if n % 2 == 0 { lose } else { 0 },
                };
                cut_run(&base, &ops, cut)?;
                CUTS.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .expect("crash property");
    let cuts = CUTS.load(Ordering::Relaxed);
    let cases = CASES.load(Ordering::Relaxed);
    let second = SECOND_CUTS.load(Ordering::Relaxed);
    eprintln!("power_cut_at_every_write: {cases} sequences, {cuts} cut points tried, {second} second cuts during recovery");
    assert!(cuts > 3000, "too few cut points: {cuts}");
}

#[test]
fn power_cut_during_format() {
    let seed: &[(&str, &[u8])] = &[("/x/y", b"seed")];
    let writes = Fs::format(MemDevice::new(512), T, seed)
        .expect("format")
        .device()
        .writes;
    let mut tried = 0;
    for n in 1..=writes {
        for torn in [false, true] {
            let mut dev = MemDevice::new(512);
            dev.arm(Cut {
                at_write: n,
                torn,
                lose_unflushed: 0x5555,
            });
            assert!(Fs::format(&mut dev, T, seed).is_err());
            match Fs::mount(dev.reboot()) {
                Ok((mut fs, _)) => {
                    let mut buf = [0; 4];
                    assert_eq!(fs.read("/x/y", 0, &mut buf), Ok(4));
                    assert_eq!(&buf, b"seed");
                    assert!(fs.check().expect("check").is_exact());
                }
                Err(pgfs::Error::NotFormatted | pgfs::Error::UnfinishedFormat) => {
                    let mut fs = Fs::format(dev.reboot(), T, seed).expect("format again");
                    assert!(fs.check().expect("check").is_exact());
                }
                Err(e) => panic!("cut at write {n} (torn {torn}): {e}"),
            }
            tried += 1;
        }
    }
    eprintln!("power_cut_during_format: {tried} cut points tried");
}
