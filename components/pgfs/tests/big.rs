//! Scale: a 10,000-entry directory (lookup cost in block reads), mount cost independent of the
//! number of files, sparse regions from 1 MiB to 64 GiB, damage to an internal tree node.

use pgfs::layout::MAGIC_NODE;
use pgfs::mem::MemDevice;
use pgfs::{BlockKind, Error, Fs, Time};
use std::sync::OnceLock;

const T: Time = Time { secs: 9, nanos: 0 };

/// A filesystem with `/big` holding `n` files `/big/f00000`.. (one synced image per `n`).
fn dir_with(n: usize) -> MemDevice {
    let mut fs = Fs::format(MemDevice::new(1 << 16), T, &[]).expect("format");
    fs.mkdir("/big", T).expect("mkdir");
    fs.put_file("/other", b"x", T).expect("put");
    for i in 0..n {
        fs.create(&format!("/big/f{i:05}"), T).expect("create");
        if i % 1000 == 999 {
            fs.sync().expect("sync");
        }
    }
    fs.sync().expect("sync");
    fs.into_device().reboot()
}

fn ten_thousand() -> &'static MemDevice {
    static DEV: OnceLock<MemDevice> = OnceLock::new();
    DEV.get_or_init(|| dir_with(10_000))
}

/// Block reads of mount + one cold `stat`.
fn cold_stat_reads(dev: &MemDevice, path: &str) -> (u64, u64) {
    let (mut fs, _) = Fs::mount(dev.reboot()).expect("mount");
    let mount = fs.device().reads;
    fs.stat(path).expect("stat");
    (mount, fs.device().reads - mount)
}

#[test]
fn lookup_in_10000_entries_reads_few_blocks() {
    let big = ten_thousand();
    let small = dir_with(100);
    let (_, small_reads) = cold_stat_reads(&small, "/big/f00050");
    let mut worst = 0;
    for i in [0, 1234, 5000, 9999] {
        let (_, reads) = cold_stat_reads(big, &format!("/big/f{i:05}"));
        worst = worst.max(reads);
    }
    eprintln!("cold stat: {small_reads} block reads in a 100-entry dir, at most {worst} in a 10,000-entry dir");
    assert!(worst <= 10, "{worst} reads");
    assert!(
        worst <= small_reads + 4,
        "grows like the tree height, not the directory size"
    );
    let (mut fs, _) = Fs::mount(big.reboot()).expect("mount");
    fs.stat("/big/f00001").expect("warm the path");
    let before = fs.device().reads;
    fs.stat("/big/f07777").expect("stat");
    assert!(
        fs.device().reads - before <= 4,
        "warm lookup reads {}",
        fs.device().reads - before
    );
}

#[test]
fn mount_reads_a_constant_number_of_blocks() {
    let (few, _) = cold_stat_reads(&dir_with(10), "/other");
    let (many, _) = cold_stat_reads(ten_thousand(), "/other");
    eprintln!("mount: {few} block reads with 10 files, {many} with 10,000");
    assert!(few <= 4 && many <= 4, "{few} {many}");
}

#[test]
fn listing_10000_entries_with_a_cursor() {
    let (mut fs, _) = Fs::mount(ten_thousand().reboot()).expect("mount");
    let (mut n, mut cursor) = (0, None);
    loop {
        let page = fs.list("/big", cursor.as_ref(), 333).expect("list");
        let Some(last) = page.last() else { break };
        cursor = Some(last.cursor.clone());
        n += page.len();
    }
    assert_eq!(n, 10_000);
    assert_eq!(fs.statfs().files, 10_002);
    assert!(fs.check().expect("check").is_exact());
}

#[test]
fn internal_node_damage_is_named_and_contained() {
    let (mut fs, _) = Fs::mount(ten_thousand().reboot()).expect("mount");
    let mut nodes = Vec::new();
    fs.walk_blocks(&mut |b| nodes.push(b)).expect("walk");
    let root = nodes[0];
    let inner: Vec<u64> = nodes
        .into_iter()
        .filter(|&b| b != root && fs.device().peek(b)[..8] == MAGIC_NODE)
        .collect();
    assert!(!inner.is_empty(), "the tree is at least three levels deep");
    let mut dev = fs.into_device();
    dev.flip(inner[0], 64, 5);
    let (mut fs, _) = Fs::mount(dev.reboot()).expect("mount");
    let want = Error::Damaged {
        block: inner[0],
        kind: BlockKind::TreeNode,
    };
    let errs: Vec<Error> = (0..10_000)
        .filter_map(|i| fs.stat(&format!("/big/f{i:05}")).err())
        .collect();
    assert!(
        !errs.is_empty() && errs.len() < 9_000,
        "{} errors",
        errs.len()
    );
    assert!(errs.iter().all(|e| *e == want));
}

#[test]
fn sparse_regions_from_1_mib_to_64_gib() {
    for (blocks, label) in [(256u64, "1 MiB"), (1 << 18, "1 GiB"), (16 << 20, "64 GiB")] {
        let mut fs = Fs::format(MemDevice::new(blocks), T, &[("/a/b", b"hello")]).expect(label);
        fs.put_file("/big", &vec![3; 100_000], T).expect(label);
        fs.sync().expect(label);
        let st = fs.statfs();
        assert_eq!(st.total_blocks, blocks);
        assert_eq!(st.free_blocks + st.used_blocks + st.reserved_blocks, blocks);
        let (mut fs, _) = Fs::mount(fs.into_device().reboot()).expect(label);
        let mount_reads = fs.device().reads;
        let mut buf = vec![0; 100_000];
        assert_eq!(fs.read("/big", 0, &mut buf), Ok(100_000));
        assert!(buf.iter().all(|&b| b == 3));
        assert!(mount_reads <= 4, "{label}: mount read {mount_reads} blocks");
        let report = fs.check().expect(label);
        assert!(report.is_exact(), "{label}: {report:?}");
        eprintln!(
            "{label}: {} blocks used, {} written to the device",
            report.used,
            fs.device().written().count()
        );
    }
}

/// Host throughput of a 64 MiB file through the whole stack on the in-memory device
/// (`cargo test --release -p pgfs --test big -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check; run in release"]
fn throughput_64_mib() {
    let mut fs = Fs::format(MemDevice::new(1 << 16), T, &[]).expect("format");
    fs.create("/big", T).expect("create");
    let chunk = vec![0x5A; 1 << 20];
    let start = std::time::Instant::now();
    for i in 0..64u64 {
        fs.write("/big", i << 20, &chunk, T).expect("write");
    }
    fs.sync().expect("sync");
    let w = start.elapsed();
    let (mut fs, _) = Fs::mount(fs.into_device().reboot()).expect("mount");
    let mut buf = vec![0; 1 << 20];
    let start = std::time::Instant::now();
    for i in 0..64u64 {
        assert_eq!(fs.read("/big", i << 20, &mut buf), Ok(1 << 20));
    }
    let r = start.elapsed();
    let mib_s = |d: std::time::Duration| 64.0 / d.as_secs_f64();
    eprintln!(
        "64 MiB: write+sync {:.0} MiB/s, read {:.0} MiB/s",
        mib_s(w),
        mib_s(r)
    );
    assert!(fs.check().expect("check").is_exact());
}
