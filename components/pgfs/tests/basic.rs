//! Basic operations, remount, listing with a cursor, free space.

use pgfs::mem::MemDevice;
use pgfs::{Error, FileKind, Fs, Time};

const T: Time = Time {
    secs: 1_700_000_000,
    nanos: 5,
};

fn fresh(blocks: u64) -> Fs<MemDevice> {
    Fs::format(MemDevice::new(blocks), T, &[]).expect("format")
}

fn remount(fs: Fs<MemDevice>) -> Fs<MemDevice> {
    Fs::mount(fs.into_device().reboot()).expect("mount").0
}

fn read_all(fs: &mut Fs<MemDevice>, path: &str) -> Vec<u8> {
    let size = fs.stat(path).expect("stat").size as usize;
    let mut buf = vec![0; size];
    assert_eq!(fs.read(path, 0, &mut buf).expect("read"), size);
    buf
}

#[test]
fn create_write_read_remount() {
    let mut fs = fresh(256);
    fs.mkdir("/d", T).expect("mkdir");
    fs.create("/d/f", T).expect("create");
    let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    fs.write("/d/f", 0, &data, T).expect("write");
    fs.write("/d/f", 4090, b"hello", T).expect("write");
    fs.sync().expect("sync");
    let mut fs = remount(fs);
    let mut want = data.clone();
    want[4090..4095].copy_from_slice(b"hello");
    assert_eq!(read_all(&mut fs, "/d/f"), want);
    let st = fs.stat("/d/f").expect("stat");
    assert_eq!((st.kind, st.size, st.mtime), (FileKind::File, 10_000, T));
    assert!(fs.check().expect("check").is_exact());
}

#[test]
fn unsynced_changes_vanish_at_remount() {
    let mut fs = fresh(256);
    fs.create("/a", T).expect("create");
    fs.sync().expect("sync");
    fs.write("/a", 0, b"x", T).expect("write");
    fs.create("/b", T).expect("create");
    let mut fs = remount(fs);
    assert_eq!(fs.stat("/a").expect("stat").size, 0);
    assert_eq!(fs.stat("/b"), Err(Error::NotFound));
}

#[test]
fn errors() {
    let mut fs = fresh(256);
    fs.create("/f", T).expect("create");
    fs.mkdir("/d", T).expect("mkdir");
    fs.create("/d/x", T).expect("create");
    assert_eq!(fs.create("/f", T), Err(Error::Exists));
    assert_eq!(fs.create("/f/x", T), Err(Error::NotDir));
    assert_eq!(fs.create("/nope/x", T), Err(Error::NotFound));
    assert_eq!(fs.create("rel", T), Err(Error::InvalidPath));
    assert_eq!(fs.create("/a//b", T), Err(Error::InvalidPath));
    assert_eq!(fs.create("/..", T), Err(Error::InvalidPath));
    assert_eq!(
        fs.create(&format!("/{}", "n".repeat(256)), T),
        Err(Error::NameTooLong)
    );
    fs.create(&format!("/{}", "é".repeat(127)), T)
        .expect("254-byte name");
    assert_eq!(fs.rmdir("/d"), Err(Error::NotEmpty));
    assert_eq!(fs.rmdir("/f"), Err(Error::NotDir));
    assert_eq!(fs.remove("/d"), Err(Error::IsDir));
    assert_eq!(fs.rename("/d", "/d/x/y"), Err(Error::InvalidPath));
    assert_eq!(fs.rename("/f", "/d"), Err(Error::IsDir));
    assert_eq!(fs.write("/f", u64::MAX, b"x", T), Err(Error::TooLarge));
    fs.remove("/d/x").expect("remove");
    fs.rmdir("/d").expect("rmdir");
    fs.sync().expect("sync");
    assert!(fs.check().expect("check").is_exact());
}

#[test]
fn rename_over_existing_file() {
    let mut fs = fresh(256);
    fs.put_file("/a", b"new", T).expect("a");
    fs.put_file("/b", &[7; 9000], T).expect("b");
    fs.sync().expect("sync");
    let used = fs.statfs().used_blocks;
    fs.rename("/a", "/b").expect("rename");
    fs.sync().expect("sync");
    let mut fs = remount(fs);
    assert_eq!(read_all(&mut fs, "/b"), b"new");
    assert_eq!(fs.stat("/a"), Err(Error::NotFound));
    assert!(fs.statfs().used_blocks < used);
    assert_eq!(fs.statfs().files, 1);
    assert!(fs.check().expect("check").is_exact());
}

#[test]
fn truncate_and_holes() {
    let mut fs = fresh(256);
    fs.put_file("/f", &[9; 10_000], T).expect("put");
    fs.truncate("/f", 5000, T).expect("shrink");
    fs.truncate("/f", 9000, T).expect("grow");
    fs.write("/f", 20_000, b"end", T).expect("write past end");
    fs.sync().expect("sync");
    let mut fs = remount(fs);
    let got = read_all(&mut fs, "/f");
    assert_eq!(got.len(), 20_003);
    assert!(got[..5000].iter().all(|&b| b == 9));
    assert!(got[5000..20_000].iter().all(|&b| b == 0));
    assert!(fs.check().expect("check").is_exact());
}

#[test]
fn list_with_cursor_is_complete() {
    let mut fs = fresh(1024);
    fs.mkdir("/d", T).expect("mkdir");
    for i in 0..300 {
        fs.create(&format!("/d/file{i}"), T).expect("create");
    }
    fs.sync().expect("sync");
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let page = fs.list("/d", cursor.as_ref(), 7).expect("list");
        let Some(last) = page.last() else { break };
        cursor = Some(last.cursor.clone());
        names.extend(page.into_iter().map(|e| e.name));
    }
    names.sort();
    let mut want: Vec<String> = (0..300).map(|i| format!("file{i}")).collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn fill_to_no_space_then_free_after_sync() {
    let mut fs = fresh(128);
    fs.create("/f", T).expect("create");
    fs.sync().expect("sync");
    let mut off = 0;
    while fs.write("/f", off, &[1; 4096], T).is_ok() && fs.sync().is_ok() {
        off += 4096;
    }
    let mut fs = remount(fs);
    assert_eq!(fs.stat("/f").expect("stat").size, off);
    let st = fs.statfs();
    assert!(st.free_blocks < 8, "{st:?}");
    assert!(fs.check().expect("check").is_exact());
    fs.remove("/f").expect("remove");
    fs.sync().expect("sync");
    fs.sync().expect("sync");
    fs.put_file("/g", &vec![2; 40 * 4096], T)
        .expect("space is back");
    fs.sync().expect("sync");
    assert!(fs.check().expect("check").is_exact());
}

#[test]
fn format_refuses_existing_and_mount_refuses_empty() {
    let fs = fresh(256);
    let dev = fs.into_device();
    assert_eq!(Fs::format(dev.reboot(), T, &[]).err(), Some(Error::Exists));
    assert_eq!(
        Fs::mount(MemDevice::new(256)).err(),
        Some(Error::NotFormatted)
    );
    assert_eq!(
        Fs::mount(MemDevice::new(10)).err(),
        Some(Error::TooSmall { blocks: 10 })
    );
}
