//! Host tests of `cargo xtask fs` and `--data-dir` on small packed images.

use std::path::{Path, PathBuf};

use super::*;
use crate::pack::tests::{filler, small_input};
use crate::pack::BLOCK;
use crate::testutil::TempDir;

/// A packed image (fake kernel and binaries, small ESP) with a `data_mib` MiB user-data region.
fn image(dir: &TempDir, name: &str, data_mib: u64) -> (PathBuf, loader::Superblock) {
    let mut input = small_input();
    input.data_size = data_mib * crate::image::MIB;
    let out = dir.path().join(name);
    let packed = crate::pack::pack_checked(input, &out, false).unwrap();
    (out, packed.superblock)
}

/// Runs a command line after `fs IMG` through the real CLI parser.
fn cmd(image: &Path, args: &[&str]) -> Result<(bool, Vec<u8>)> {
    use clap::Parser;
    let mut argv = vec!["xtask", "fs", image.to_str().unwrap()];
    argv.extend_from_slice(args);
    let crate::Cmd::Fs { image, command } = crate::Cli::try_parse_from(argv)?.command else {
        panic!("not fs");
    };
    let mut out = Vec::new();
    let ok = execute(&image, command, &mut out)?;
    Ok((ok, out))
}

fn ok_bytes(image: &Path, args: &[&str]) -> Vec<u8> {
    let (ok, out) = cmd(image, args).unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
    assert!(ok, "{args:?}: {}", String::from_utf8_lossy(&out));
    out
}

fn ok(image: &Path, args: &[&str]) -> String {
    String::from_utf8(ok_bytes(image, args)).unwrap()
}

fn err(image: &Path, args: &[&str]) -> String {
    format!("{:#}", cmd(image, args).unwrap_err())
}

#[test]
fn put_get_round_trip_of_a_multi_mib_file() {
    let dir = TempDir::new("fs-roundtrip");
    let (img, _) = image(&dir, "a.img", 16);
    // Before anything is put: blank, said clearly; writing commands format it.
    let e = err(&img, &["ls"]);
    assert!(e.contains("holds no filesystem yet (blank)"), "{e}");
    let data = filler(5, 5 * 1024 * 1024 + 1234);
    let host = dir.path().join("big.bin");
    std::fs::write(&host, &data).unwrap();
    let out = ok(&img, &["put", host.to_str().unwrap(), "/a/b/big.bin"]);
    assert!(
        out.contains("formatted the blank user-data region"),
        "{out}"
    );
    assert!(out.contains("-> /a/b/big.bin (5244114 bytes)"), "{out}");

    let back = dir.path().join("back.bin");
    ok(&img, &["get", "/a/b/big.bin", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == data);
    assert_eq!(
        get_file(&img, "/a/b/big.bin", &back).unwrap(),
        data.len() as u64
    );
    assert!(ok_bytes(&img, &["cat", "/a/b/big.bin"]) == data);

    // Replacing with a smaller file; putting into a directory keeps the host name.
    let small = dir.path().join("small.txt");
    std::fs::write(&small, b"hello\n").unwrap();
    assert_eq!(put_file(&img, &small, "/a/b/big.bin").unwrap(), 6);
    assert_eq!(ok(&img, &["cat", "/a/b/big.bin"]), "hello\n");
    ok(&img, &["put", small.to_str().unwrap(), "/a"]);
    assert_eq!(ok(&img, &["cat", "/a/small.txt"]), "hello\n");
    let ls = ok(&img, &["ls", "-l", "/a"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(lines.len(), 2, "{ls}");
    assert!(
        lines[0].starts_with("dir             0  20") && lines[0].ends_with("  b/"),
        "{ls}"
    );
    assert!(
        lines[1].starts_with("file            6  20") && lines[1].ends_with("  small.txt"),
        "{ls}"
    );
    assert_eq!(ok(&img, &["ls", "/a/b/big.bin"]), "big.bin\n");
    // A get into an existing host directory.
    let into = dir.path().join("into");
    std::fs::create_dir(&into).unwrap();
    ok(&img, &["get", "/a/small.txt", into.to_str().unwrap()]);
    assert_eq!(std::fs::read(into.join("small.txt")).unwrap(), b"hello\n");
    // The whole thing is exact.
    assert!(ok(&img, &["check"]).contains("check: result: OK"));
    let df = ok(&img, &["df"]);
    assert!(df.contains("files            4"), "{df}");
}

#[test]
fn ls_lists_more_than_a_page_completely() {
    let dir = TempDir::new("fs-ls");
    let (img, _) = image(&dir, "a.img", 4);
    ok(&img, &["mkdir", "/many"]);
    let mut fs = open_image(&img, true).unwrap();
    let n = 2 * PAGE + 37;
    for i in 0..n {
        let data = format!("file {i}\n");
        put_stream(
            &mut fs,
            &mut data.as_bytes(),
            data.len() as u64,
            &format!("/many/f{i:04}"),
            now(),
        )
        .unwrap();
    }
    fs.sync().unwrap();
    drop(fs);
    let ls = ok(&img, &["ls", "/many"]);
    let want: Vec<String> = (0..n).map(|i| format!("f{i:04}")).collect();
    assert_eq!(ls.lines().collect::<Vec<_>>(), want);
    assert_eq!(ok(&img, &["ls", "-l", "/many"]).lines().count(), n);
    assert_eq!(ok(&img, &["cat", "/many/f0300"]), "file 300\n");
    assert_eq!(ok(&img, &["ls", "/"]), "many/\n");
}

#[test]
fn rm_mv_mkdir_rmdir_and_their_errors() {
    let dir = TempDir::new("fs-ops");
    let (img, _) = image(&dir, "a.img", 4);
    let host = dir.path().join("n.txt");
    std::fs::write(&host, b"notes").unwrap();
    ok(&img, &["mkdir", "/docs"]);
    ok(&img, &["put", host.to_str().unwrap(), "/docs/notes.txt"]);
    ok(&img, &["mv", "/docs/notes.txt", "/notes.txt"]);
    assert_eq!(ok(&img, &["ls", "/docs"]), "");
    assert_eq!(ok(&img, &["cat", "/notes.txt"]), "notes");
    assert_eq!(
        err(&img, &["cat", "/docs/notes.txt"]),
        "/docs/notes.txt: no such file or directory"
    );
    assert_eq!(
        err(&img, &["rm", "/nope.txt"]),
        "/nope.txt: no such file or directory"
    );
    assert_eq!(
        err(&img, &["rm", "/docs"]),
        "/docs: is a directory (use rmdir)"
    );
    assert_eq!(err(&img, &["mkdir", "/docs"]), "/docs: already exists");
    ok(&img, &["mkdir", "-p", "/docs/x/y"]);
    ok(&img, &["mkdir", "-p", "/docs/x"]);
    assert_eq!(
        err(&img, &["rmdir", "/docs/x"]),
        "/docs/x: directory not empty"
    );
    ok(&img, &["rmdir", "/docs/x/y"]);
    ok(&img, &["rmdir", "/docs/x"]);
    ok(&img, &["mv", "/notes.txt", "/docs/n2.txt"]);
    assert!(err(&img, &["mv", "/docs", "/docs/inside"]).starts_with("/docs -> /docs/inside: "));
    assert!(err(&img, &["cat", "relative"]).starts_with("relative: invalid path"));
    ok(&img, &["rm", "/docs/n2.txt"]);
    ok(&img, &["rmdir", "/docs"]);
    assert_eq!(ok(&img, &["ls", "-l"]), "");
    assert!(ok(&img, &["df"]).contains("files            0"));
    assert!(ok(&img, &["check"]).contains("result: OK"));
    // No space: a clear line, nothing written.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 5 << 20]).unwrap();
    let e = err(&img, &["put", big.to_str().unwrap(), "/big.bin"]);
    assert!(
        e.starts_with("/big.bin: no space left: the file is 5.0 MiB"),
        "{e}"
    );
    assert_eq!(ok(&img, &["ls"]), "");
    assert!(ok(&img, &["check"]).contains("result: OK"));
}

#[test]
fn check_names_the_file_of_a_flipped_data_byte_and_changes_nothing() {
    let dir = TempDir::new("fs-check");
    let (img, sb) = image(&dir, "a.img", 4);
    let host = dir.path().join("h.bin");
    std::fs::write(&host, filler(9, 40_000)).unwrap();
    put_file(&img, &host, "/keep/good.bin").unwrap();
    put_file(&img, &host, "/docs/victim.bin").unwrap();
    let block = {
        let mut fs = open_image(&img, false).unwrap();
        fs.data_blocks("/docs/victim.bin").unwrap()[3].1
    };
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[((sb.data_start + block) * BLOCK + 100) as usize] ^= 0x10;
    std::fs::write(&img, &bytes).unwrap();

    let (ok_, out) = cmd(&img, &["check"]).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(!ok_, "{out}");
    assert!(
        out.contains(&format!(
            "check: damaged data block {block} of /docs/victim.bin (inode "
        )),
        "{out}"
    );
    assert!(out.contains(": exact"), "{out}");
    assert!(out.contains("check: result: 1 problem(s)"), "{out}");
    assert_eq!(
        std::fs::read(&img).unwrap(),
        bytes,
        "check wrote to the image"
    );
    // Reading the damaged file fails clearly; the other reads fine.
    let e = err(&img, &["cat", "/docs/victim.bin"]);
    assert!(e.starts_with("/docs/victim.bin: file inode "), "{e}");
    assert!(ok_bytes(&img, &["cat", "/keep/good.bin"]) == filler(9, 40_000));
}

#[test]
fn read_only_inputs_and_regions_that_are_not_pgfs() {
    let dir = TempDir::new("fs-ro");
    let files = crate::iso::tests::small_boot_files(dir.path());
    let module = &files
        .iter()
        .find(|f| f.path == crate::limine_conf::MODULE_ESP_PATH)
        .unwrap()
        .data;
    let path = dir.path().join("pandagen-system.mod");
    std::fs::write(&path, module).unwrap();
    let host = dir.path().join("x");
    std::fs::write(&host, b"x").unwrap();
    for args in [
        vec!["put", host.to_str().unwrap(), "/x"],
        vec!["mkdir", "/d"],
        vec!["rm", "/x"],
        vec!["mv", "/x", "/y"],
    ] {
        let e = err(&path, &args);
        assert!(
            e.contains("is a module image (read-only: its user-data region is RAM"),
            "{e}"
        );
    }
    let e = err(&path, &["ls"]);
    assert!(
        e.ends_with("the user-data region of a module image is RAM the kernel adds at boot: it holds no files"),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), *module);

    // The milestone-1 store and a newer pgfs version: clear lines, nothing written.
    let (img, sb) = image(&dir, "old.img", 4);
    let at = ((sb.data_start + pgfs::SUPER_A) * BLOCK) as usize;
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[at..at + 8].copy_from_slice(b"PGSTORE1");
    std::fs::write(&img, &bytes).unwrap();
    let e = err(&img, &["ls"]);
    assert!(
        e.ends_with("the user-data region holds the milestone-1 record store: a writing `fs` command (`put`, `mkdir`) or a boot converts it"),
        "{e}"
    );
    assert_eq!(std::fs::read(&img).unwrap(), bytes);
    // A writing command converts it (the same conversion as the storage service's) first.
    put_file(&img, &host, "/x").unwrap();
    assert_eq!(
        ok_bytes(&img, &["cat", "/x"]),
        std::fs::read(&host).unwrap()
    );

    let (img, sb) = image(&dir, "new.img", 4);
    put_file(&img, &host, "/x").unwrap();
    let mut bytes = std::fs::read(&img).unwrap();
    for slot in [pgfs::SUPER_A, pgfs::SUPER_B] {
        let at = ((sb.data_start + slot) * BLOCK) as usize;
        let b = &mut bytes[at..at + BLOCK as usize];
        if b.iter().all(|&x| x == 0) {
            continue;
        }
        b[24..28].copy_from_slice(&2u32.to_le_bytes());
        let crc = pgfs::crc32c(&b[..4092]);
        b[4092..].copy_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(&img, &bytes).unwrap();
    for args in [vec!["ls"], vec!["put", host.to_str().unwrap(), "/y"]] {
        let e = err(&img, &args);
        assert!(
            e.contains("pgfs format version 2 is newer than 1; refused, nothing written"),
            "{e}"
        );
    }
    assert_eq!(std::fs::read(&img).unwrap(), bytes);
}

#[test]
fn an_iso_is_read_only() {
    let dir = TempDir::new("fs-iso");
    let files = crate::iso::tests::small_boot_files(dir.path());
    let check = |iso: &Path| {
        let e = err(iso, &["mkdir", "/d"]);
        assert!(e.contains("is an ISO 9660 image (read-only"), "{e}");
        for args in [vec!["df"], vec!["ls", "-l"], vec!["check"]] {
            let e = err(iso, &args);
            assert!(
                e.ends_with(
                    "the user-data region of an ISO 9660 image is RAM the kernel adds at boot: \
                     it holds no files"
                ),
                "{e}"
            );
        }
    };
    // A minimal ISO 9660 file without xorriso: a primary volume descriptor with an empty root,
    // and the module at sector 20 (found by the module scan, as `verify` finds it).
    let module = &files
        .iter()
        .find(|f| f.path == crate::limine_conf::MODULE_ESP_PATH)
        .unwrap()
        .data;
    let sector = crate::iso::SECTOR as usize;
    let mut bytes = vec![0u8; 20 * sector];
    bytes[16 * sector] = 1;
    bytes[16 * sector + 1..16 * sector + 6].copy_from_slice(crate::iso::ISO_MAGIC);
    bytes.extend_from_slice(module);
    let fake = dir.path().join("fake.iso");
    std::fs::write(&fake, &bytes).unwrap();
    check(&fake);

    let Some(xorriso) = crate::iso::tests::xorriso_or_skip("fs: an_iso_is_read_only") else {
        return;
    };
    let iso = dir.path().join("boot.iso");
    crate::iso::write_iso(&xorriso, &files, &iso).unwrap();
    check(&iso);
}

#[test]
fn data_dir_fills_the_new_image() {
    let dir = TempDir::new("fs-datadir");
    let src = dir.path().join("data");
    std::fs::create_dir_all(src.join("docs/deep")).unwrap();
    std::fs::create_dir_all(src.join("empty")).unwrap();
    std::fs::write(src.join("readme.txt"), b"hi").unwrap();
    std::fs::write(src.join("docs/deep/big.bin"), filler(3, 3 << 20)).unwrap();
    std::fs::write(src.join("docs/zero.bin"), b"").unwrap();
    let data = DataDir::scan(&src).unwrap();
    assert_eq!(data.count(), (3, 3));
    data.check_fits(4 << 20).unwrap();

    let mut input = small_input();
    input.data_size = 4 << 20;
    let img = dir.path().join("filled.img");
    let mut filled = None;
    crate::pack::pack_checked_filled(input, &img, false, |f, sb| {
        filled = Some(fill_image(f, sb, &data)?);
        Ok(())
    })
    .unwrap();
    assert_eq!(filled, Some((3, 3, 2 + (3 << 20))));
    assert!(crate::pack::verify_path(&img).unwrap().is_ok());
    assert_eq!(ok(&img, &["ls", "/"]), "docs/\nempty/\nreadme.txt\n");
    assert_eq!(ok(&img, &["ls", "/docs"]), "deep/\nzero.bin\n");
    assert_eq!(ok(&img, &["cat", "/readme.txt"]), "hi");
    let back = dir.path().join("back.bin");
    get_file(&img, "/docs/deep/big.bin", &back).unwrap();
    assert!(std::fs::read(&back).unwrap() == filler(3, 3 << 20));
    assert!(ok(&img, &["check"]).contains("result: OK"));

    // Too small: refused before packing, and (if the estimate let it through) by the fill,
    // leaving no image behind.
    let e = format!("{:#}", data.check_fits(2 << 20).unwrap_err());
    assert!(
        e.contains("do not fit the 2.0 MiB user-data region: they need about "),
        "{e}"
    );
    assert!(e.contains("pass --data-size "), "{e}");
    let mut input = small_input();
    input.data_size = 2 << 20;
    let small = dir.path().join("small.img");
    let e = crate::pack::pack_checked_filled(input, &small, false, |f, sb| {
        fill_image(f, sb, &data).map(|_| ())
    })
    .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("do not fit the 2.0 MiB user-data region (putting "),
        "{e}"
    );
    assert!(e.contains("pass --data-size "), "{e}");
    assert!(!small.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "no temp file left"
    );

    // Symlinks and special files are refused, one clear line.
    std::os::unix::fs::symlink("readme.txt", src.join("link")).unwrap();
    let e = format!("{:#}", DataDir::scan(&src).unwrap_err());
    assert!(
        e.ends_with("link: a symbolic link: --data-dir copies regular files and directories only"),
        "{e}"
    );
}

#[test]
fn utc_dates() {
    assert_eq!(utc(0), "1970-01-01 00:00:00");
    assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
    assert_eq!(utc(1_796_241_805), "2026-12-02 20:03:25");
    assert_eq!(human(512), "512 bytes");
    assert_eq!(human(3 << 20), "3.0 MiB");
}

#[test]
fn the_region_device_never_writes_the_kernel_blocks() {
    let dir = TempDir::new("fs-dev");
    let (img, _) = image(&dir, "a.img", 1);
    let opened = open(&img, true).unwrap();
    let mut dev = opened.dev;
    assert_eq!(dev.block_count(), 256);
    let b = [1u8; pgfs::BLOCK_SIZE];
    for blk in [0, 31, 256] {
        assert!(dev.write(blk, &b).is_err(), "{blk}");
    }
    dev.write(32, &b).unwrap();
    let mut r = [0u8; pgfs::BLOCK_SIZE];
    dev.read(32, &mut r).unwrap();
    assert_eq!(r, b);
    // Read-only opens refuse writes too.
    let mut ro = open(&img, false).unwrap().dev;
    assert!(ro.write(40, &b).is_err());
    // Past the physical end of a truncated file: zeros.
    let len = std::fs::metadata(&img).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .unwrap()
        .set_len(len - 10 * BLOCK)
        .unwrap();
    let mut dev = open(&img, false).unwrap().dev;
    r.fill(9);
    dev.read(250, &mut r).unwrap();
    assert!(r.iter().all(|&x| x == 0));
}

#[test]
fn the_cli_takes_fs_and_data_dir() {
    use clap::Parser;
    let cli = crate::Cli::try_parse_from(["xtask", "fs", "a.img", "ls", "-l", "/docs"]).unwrap();
    assert!(matches!(
        cli.command,
        crate::Cmd::Fs { ref image, command: FsCmd::Ls { long: true, ref path } }
            if image == Path::new("a.img") && path == "/docs"
    ));
    let cli = crate::Cli::try_parse_from(["xtask", "fs", "a.img", "ls"]).unwrap();
    assert!(matches!(
        cli.command,
        crate::Cmd::Fs { command: FsCmd::Ls { long: false, ref path }, .. } if path == "/"
    ));
    assert!(crate::Cli::try_parse_from(["xtask", "fs", "a.img"]).is_err());
    assert!(crate::Cli::try_parse_from(["xtask", "fs", "a.img", "put", "x"]).is_err());
    for sub in ["build-image", "run"] {
        let mut argv = vec!["xtask", sub, "--data-dir", "seed", "--data-size", "256M"];
        if sub == "build-image" {
            argv.extend(["-o", "x.img"]);
        }
        let cli = crate::Cli::try_parse_from(argv).unwrap();
        let image = match cli.command {
            crate::Cmd::BuildImage { image, .. } | crate::Cmd::Run { image, .. } => image,
            _ => panic!("{sub}"),
        };
        assert_eq!(image.data_dir.as_deref(), Some(Path::new("seed")));
        assert_eq!(image.data_size, 256 << 20);
    }
}

#[test]
fn check_reports_a_fallback_to_the_previous_generation() {
    let dir = TempDir::new("fs-fallback");
    let (img, sb) = image(&dir, "a.img", 4);
    let host = dir.path().join("h.txt");
    std::fs::write(&host, b"one").unwrap();
    put_file(&img, &host, "/one.txt").unwrap();
    put_file(&img, &host, "/two.txt").unwrap();
    let mut bytes = std::fs::read(&img).unwrap();
    let gen_at = |bytes: &[u8], slot: u64| {
        let at = ((sb.data_start + slot) * BLOCK) as usize;
        (
            u64::from_le_bytes(bytes[at + 16..at + 24].try_into().unwrap()),
            at,
        )
    };
    let newest = [pgfs::SUPER_A, pgfs::SUPER_B]
        .map(|s| gen_at(&bytes, s))
        .into_iter()
        .max()
        .unwrap();
    bytes[newest.1 + 40] ^= 1;
    std::fs::write(&img, &bytes).unwrap();
    let (good, out) = cmd(&img, &["check"]).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(!good, "{out}");
    assert!(
        out.contains(&format!(
            "check: damaged superblock at block {}: fell back to generation {}",
            if newest.1 == ((sb.data_start + pgfs::SUPER_A) * BLOCK) as usize {
                pgfs::SUPER_A
            } else {
                pgfs::SUPER_B
            },
            newest.0 - 1
        )),
        "{out}"
    );
    assert_eq!(ok(&img, &["ls"]), "one.txt\n");
    assert_eq!(std::fs::read(&img).unwrap(), bytes);
}
