//! `cargo xtask fs IMG <cmd>`: the host side of the user-data filesystem (pgfs,
//! `docs/pgfs.md`) of a PandaGen image — ls, cat, get, put, rm, mkdir, rmdir, mv, df, check —
//! and the `--data-dir` fill of `build-image`. Described in `docs/host-tools.md`.
//!
//! The region is found through the image's PANDAGEN superblock (`device`). Every writing
//! command ends with `Fs::sync`: when it returns, the change is durable; when it fails,
//! nothing of it is (pgfs rolls back to the last commit). An ISO or a bare module file is
//! read-only (its region is RAM the kernel adds at boot, so it holds no files).

mod data_dir;
pub(crate) mod device;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use pgfs::{BlockDevice, DirEntry, FileKind, Fs, Time};

pub(crate) use data_dir::{fill_image, DataDir};
pub(crate) use device::{open, Opened, RegionDevice, Source};

/// Bytes per `read`/`write` call when copying a file in or out.
pub(crate) const CHUNK: usize = 1 << 20;
/// Entries per `list` page.
const PAGE: usize = 256;

/// The commands of `cargo xtask fs IMG`.
#[derive(Debug, Subcommand)]
pub(crate) enum FsCmd {
    /// List a directory (default `/`) completely, sorted by name; directories end in `/`.
    Ls {
        /// Long format: kind, size in bytes, modification time (UTC), name.
        #[arg(short = 'l')]
        long: bool,
        /// The directory (or file) to list.
        #[arg(default_value = "/")]
        path: String,
    },
    /// Write a file's bytes to stdout.
    Cat {
        /// The file (an absolute path in the image).
        path: String,
    },
    /// Copy a file out of the image to HOSTFILE (written atomically: temp file + rename; an
    /// existing host directory receives the file under its own name).
    Get {
        /// The file in the image.
        path: String,
        /// Where to write it on the host.
        #[arg(value_name = "HOSTFILE")]
        host: std::path::PathBuf,
    },
    /// Copy HOSTFILE into the image at PATH, replacing a file there; missing parent
    /// directories are created; an existing directory PATH receives it under the host file's
    /// name. A blank region is formatted first.
    Put {
        /// The host file to copy.
        #[arg(value_name = "HOSTFILE")]
        host: std::path::PathBuf,
        /// Where to put it in the image.
        path: String,
    },
    /// Remove a file.
    Rm {
        /// The file to remove.
        path: String,
    },
    /// Create a directory (a blank region is formatted first).
    Mkdir {
        /// Create missing parents too; no error if it exists.
        #[arg(short = 'p')]
        parents: bool,
        /// The directory to create.
        path: String,
    },
    /// Remove an empty directory.
    Rmdir {
        /// The directory to remove.
        path: String,
    },
    /// Rename (atomically); replaces a file at TO, not a directory.
    Mv {
        /// The current path.
        from: String,
        /// The new path.
        to: String,
    },
    /// Region size, used and free space, number of files and directories.
    Df,
    /// Check the filesystem: free-space accounting (Fs::check) and every checksum (Fs::scrub);
    /// changes nothing; non-zero exit on any damage.
    Check,
}

impl FsCmd {
    /// Whether the command changes the image.
    fn writes(&self) -> bool {
        matches!(
            self,
            FsCmd::Put { .. }
                | FsCmd::Rm { .. }
                | FsCmd::Mkdir { .. }
                | FsCmd::Rmdir { .. }
                | FsCmd::Mv { .. }
        )
    }
}

/// Runs one command; errors are printed as one `fs: ...` line. Returns whether it succeeded.
pub(crate) fn run(image: &Path, cmd: FsCmd) -> bool {
    let mut out = std::io::stdout().lock();
    match execute(image, cmd, &mut out) {
        Ok(ok) => ok,
        Err(e) => {
            let _ = out.flush();
            eprintln!("fs: {e:#}");
            false
        }
    }
}

/// Runs `cmd` on `image`, writing its output to `out`; `Ok(false)`: `check` found damage.
pub(crate) fn execute(image: &Path, cmd: FsCmd, out: &mut dyn Write) -> Result<bool> {
    let write = cmd.writes();
    let opened = open(image, write)?;
    let (source, sb) = (opened.source, opened.superblock);
    let formats = matches!(cmd, FsCmd::Put { .. } | FsCmd::Mkdir { .. });
    let (mut fs, fallback) = if formats {
        (mount_or_format(image, opened, out)?, None)
    } else {
        mount(image, opened)?
    };
    match cmd {
        FsCmd::Ls { long, path } => ls(&mut fs, &path, long, out)?,
        FsCmd::Cat { path } => {
            copy_out(&mut fs, &path, out)?;
        }
        FsCmd::Get { path, host } => {
            let (host, n) = get_into(&mut fs, &path, &host)?;
            writeln!(out, "fs: {path} -> {} ({n} bytes)", host.display())?;
        }
        FsCmd::Put { host, path } => {
            let (path, n) = put_into(&mut fs, &host, &path, now())?;
            sync(&mut fs)?;
            writeln!(out, "fs: {} -> {path} ({n} bytes)", host.display())?;
        }
        FsCmd::Rm { path } => {
            match fs.stat(&path) {
                Ok(s) if s.kind == FileKind::Dir => {
                    bail!("{path}: is a directory (use rmdir)")
                }
                _ => fs.remove(&path).map_err(|e| at(&path, e))?,
            }
            sync(&mut fs)?;
        }
        FsCmd::Mkdir { parents, path } => {
            if parents {
                mkdir_p(&mut fs, &path, now())?;
            } else {
                fs.mkdir(&path, now()).map_err(|e| at(&path, e))?;
            }
            sync(&mut fs)?;
        }
        FsCmd::Rmdir { path } => {
            fs.rmdir(&path).map_err(|e| at(&path, e))?;
            sync(&mut fs)?;
        }
        FsCmd::Mv { from, to } => {
            fs.rename(&from, &to)
                .map_err(|e| anyhow!("{from} -> {to}: {e}"))?;
            sync(&mut fs)?;
        }
        FsCmd::Df => df(&fs, out)?,
        FsCmd::Check => return check(&mut fs, image, (source, sb), fallback, out),
    }
    Ok(true)
}

/// The current wall-clock time, for modification times.
pub(crate) fn now() -> Time {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Time {
        secs: d.as_secs(),
        nanos: d.subsec_nanos(),
    }
}

/// `path: error`, one line.
fn at(path: &str, e: pgfs::Error) -> anyhow::Error {
    anyhow!("{path}: {e}")
}

/// Commits; the change is durable once this returns `Ok`.
fn sync<D: BlockDevice>(fs: &mut Fs<D>) -> Result<()> {
    fs.sync()
        .map_err(|e| anyhow!("committing (nothing of this change was written): {e}"))
}

/// Why the region cannot be mounted, as one clear line.
fn mount_error(image: &Path, source: Source, e: pgfs::Error) -> anyhow::Error {
    let img = image.display();
    match e {
        pgfs::Error::OldStore => anyhow!(
            "{img}: the user-data region holds the milestone-1 record store: a writing `fs` \
             command (`put`, `mkdir`) or a boot converts it"
        ),
        pgfs::Error::NotFormatted if source != Source::Disk => anyhow!(
            "{img}: the user-data region of {} is RAM the kernel adds at boot: it holds no files",
            source.describe()
        ),
        pgfs::Error::NotFormatted => anyhow!(
            "{img}: the user-data region holds no filesystem yet (blank); `put` or `mkdir` \
             formats it"
        ),
        pgfs::Error::UnfinishedFormat => anyhow!(
            "{img}: the user-data region's first format was interrupted; `put` or `mkdir` \
             formats it again"
        ),
        e => anyhow!("{img}: user-data region: {e}"),
    }
}

/// Mounts the region of an opened image (read-only unless opened for writing); a fallback to
/// the previous generation is reported on stderr (and returned).
pub(crate) fn mount(image: &Path, opened: Opened) -> Result<(Fs<RegionDevice>, Option<String>)> {
    let source = opened.source;
    let (fs, report) = Fs::mount(opened.dev).map_err(|e| mount_error(image, source, e))?;
    Ok((fs, fallback(image, &report)))
}

/// The warning for a mount that passed over a damaged root, printed on stderr.
fn fallback(image: &Path, report: &pgfs::MountReport) -> Option<String> {
    let (block, kind) = report.damaged_root?;
    let f = format!(
        "damaged {kind} at block {block}: fell back to generation {}",
        report.generation
    );
    eprintln!("fs: {}: warning: {f}", image.display());
    Some(f)
}

/// [`mount`], formatting a blank region (or one whose first format was cut) first.
fn mount_or_format(image: &Path, opened: Opened, out: &mut dyn Write) -> Result<Fs<RegionDevice>> {
    let source = opened.source;
    match Fs::mount(opened.dev) {
        Ok((fs, report)) => {
            fallback(image, &report);
            Ok(fs)
        }
        Err(pgfs::Error::NotFormatted | pgfs::Error::UnfinishedFormat) => {
            // `Fs::mount` consumed the device: open the image again to format it.
            let dev = open(image, true)?.dev;
            let blocks = dev.block_count();
            let fs = Fs::format(dev, now(), &[]).map_err(|e| mount_error(image, source, e))?;
            writeln!(
                out,
                "fs: {}: formatted the blank user-data region ({} blocks, {})",
                image.display(),
                blocks,
                human(blocks * pgfs::BLOCK_SIZE as u64)
            )?;
            Ok(fs)
        }
        Err(e) => {
            let mut dev = open(image, true)?.dev;
            if !holds_old_store(&mut dev) {
                return Err(mount_error(image, source, e));
            }
            let (fs, r) = storage_format::convert::to_pgfs(dev, now()).map_err(|e| {
                anyhow!(
                    "{}: converting the milestone-1 record store: {e}",
                    image.display()
                )
            })?;
            writeln!(
                out,
                "fs: {}: converted the milestone-1 record store to pgfs: {} files ({}), {} damaged records kept in /lost+found",
                image.display(),
                r.files,
                human(r.bytes),
                r.damaged
            )?;
            Ok(fs)
        }
    }
}

/// Whether blocks 32 and 33 hold the milestone-1 store or a cut conversion of it (the same
/// test the storage service makes at start-up).
fn holds_old_store(dev: &mut RegionDevice) -> bool {
    let mut b32 = [0u8; pgfs::BLOCK_SIZE];
    let mut b33 = [0u8; pgfs::BLOCK_SIZE];
    dev.read(pgfs::SUPER_A, &mut b32).is_ok()
        && dev.read(pgfs::SUPER_B, &mut b33).is_ok()
        && storage_format::convert::is_old_store(&b32, &b33)
}

/// Opens and mounts `image` (a writing mount when `write`).
pub(crate) fn open_image(image: &Path, write: bool) -> Result<Fs<RegionDevice>> {
    let opened = open(image, write)?;
    if write {
        mount_or_format(image, opened, &mut std::io::sink())
    } else {
        Ok(mount(image, opened)?.0)
    }
}

/// Copies host file `host` into `image` at `path` (see `put`) and commits.
pub(crate) fn put_file(image: &Path, host: &Path, path: &str) -> Result<u64> {
    let mut fs = open_image(image, true)?;
    let (_, n) = put_into(&mut fs, host, path, now())?;
    sync(&mut fs)?;
    Ok(n)
}

/// Copies file `path` of `image` to host file `host` (atomically).
pub(crate) fn get_file(image: &Path, path: &str, host: &Path) -> Result<u64> {
    let mut fs = open_image(image, false)?;
    Ok(get_into(&mut fs, path, host)?.1)
}

/// Every entry of directory `path`, following the cursor to the end, sorted by name.
pub(crate) fn list_all<D: BlockDevice>(fs: &mut Fs<D>, path: &str) -> Result<Vec<DirEntry>> {
    let mut all: Vec<DirEntry> = Vec::new();
    loop {
        let page = fs
            .list(path, all.last().map(|e| &e.cursor), PAGE)
            .map_err(|e| at(path, e))?;
        if page.is_empty() {
            break;
        }
        all.extend(page);
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// `dir` joined with `name`.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn ls<D: BlockDevice>(fs: &mut Fs<D>, path: &str, long: bool, out: &mut dyn Write) -> Result<()> {
    let st = fs.stat(path).map_err(|e| at(path, e))?;
    if st.kind == FileKind::File {
        let name = path.rsplit('/').next().unwrap_or(path);
        return line(out, long, name, &st);
    }
    for e in list_all(fs, path)? {
        let child = join(path, &e.name);
        let st = fs.stat(&child).map_err(|e| at(&child, e))?;
        line(out, long, &e.name, &st)?;
    }
    Ok(())
}

fn line(out: &mut dyn Write, long: bool, name: &str, st: &pgfs::Stat) -> Result<()> {
    let slash = if st.kind == FileKind::Dir { "/" } else { "" };
    if long {
        let kind = match st.kind {
            FileKind::File => "file",
            FileKind::Dir => "dir ",
        };
        writeln!(
            out,
            "{kind} {:>12}  {}  {name}{slash}",
            st.size,
            utc(st.mtime.secs)
        )?;
    } else {
        writeln!(out, "{name}{slash}")?;
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of Unix seconds.
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Bytes in a short human form (`64.0 MiB`).
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Streams file `path` into `out` in [`CHUNK`]s; returns its size.
fn copy_out<D: BlockDevice>(fs: &mut Fs<D>, path: &str, out: &mut dyn Write) -> Result<u64> {
    let st = fs.stat(path).map_err(|e| at(path, e))?;
    if st.kind == FileKind::Dir {
        bail!("{path}: is a directory");
    }
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0u64;
    while off < st.size {
        let n = fs.read(path, off, &mut buf).map_err(|e| at(path, e))?;
        if n == 0 {
            break;
        }
        match out.write_all(&buf[..n]) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(off),
            r => r?,
        }
        off += n as u64;
    }
    out.flush().or_else(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(e),
    })?;
    Ok(off)
}

/// `get`: the host path written (an existing directory gets the file's name) and the bytes.
fn get_into<D: BlockDevice>(
    fs: &mut Fs<D>,
    path: &str,
    host: &Path,
) -> Result<(std::path::PathBuf, u64)> {
    let st = fs.stat(path).map_err(|e| at(path, e))?;
    if st.kind == FileKind::Dir {
        bail!("{path}: is a directory (get copies one file)");
    }
    let host = if host.is_dir() {
        host.join(path.rsplit('/').next().unwrap_or(path))
    } else {
        host.to_path_buf()
    };
    let n = crate::atomic::write_atomically(&host, |f| {
        let mut w = std::io::BufWriter::with_capacity(CHUNK, f);
        let n = copy_out(fs, path, &mut w)?;
        w.flush()?;
        Ok(n)
    })
    .with_context(|| format!("{path} -> {}", host.display()))?;
    Ok((host, n))
}

/// Creates `path` and its missing parents (existing directories are fine).
pub(crate) fn mkdir_p<D: BlockDevice>(fs: &mut Fs<D>, path: &str, now: Time) -> Result<()> {
    let comps = pgfs::components(path).map_err(|e| at(path, e))?;
    let mut cur = String::new();
    for c in comps {
        cur.push('/');
        cur.push_str(c);
        match fs.mkdir(&cur, now) {
            Ok(()) => {}
            Err(pgfs::Error::Exists) => match fs.stat(&cur) {
                Ok(s) if s.kind == FileKind::Dir => {}
                _ => bail!("{cur}: exists and is not a directory"),
            },
            Err(e) => return Err(at(&cur, e)),
        }
    }
    Ok(())
}

/// `put` without the commit: returns the path written and its size. On an error the caller
/// must not sync (pgfs has already rolled a half-done change back).
pub(crate) fn put_into<D: BlockDevice>(
    fs: &mut Fs<D>,
    host: &Path,
    path: &str,
    now: Time,
) -> Result<(String, u64)> {
    let mut file = File::open(host).with_context(|| format!("opening {}", host.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        bail!(
            "{}: not a regular file (put copies one file; build-image --data-dir copies trees)",
            host.display()
        );
    }
    let path = match fs.stat(path) {
        Ok(s) if s.kind == FileKind::Dir => {
            let name = host
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("{}: the name is not UTF-8", host.display()))?;
            join(path, name)
        }
        _ => path.to_string(),
    };
    put_stream(fs, &mut file, meta.len(), &path, now)?;
    Ok((path, meta.len()))
}

/// A `put` that ran out of space (the message says how much was needed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NoSpace(String);

/// Writes `len` bytes of `input` to `path` (created with its parents, or truncated).
pub(crate) fn put_stream<D: BlockDevice>(
    fs: &mut Fs<D>,
    input: &mut dyn Read,
    len: u64,
    path: &str,
    now: Time,
) -> Result<()> {
    let comps = pgfs::components(path).map_err(|e| at(path, e))?;
    if comps.is_empty() {
        bail!("{path}: is a directory");
    }
    match fs.stat(path) {
        Ok(s) if s.kind == FileKind::Dir => bail!("{path}: is a directory"),
        Ok(_) => fs.truncate(path, 0, now).map_err(|e| at(path, e))?,
        Err(pgfs::Error::NotFound) => {
            if comps.len() > 1 {
                let parent = format!("/{}", comps[..comps.len() - 1].join("/"));
                mkdir_p(fs, &parent, now)?;
            }
            fs.create(path, now).map_err(|e| at(path, e))?;
        }
        Err(e) => return Err(at(path, e)),
    }
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0u64;
    while off < len {
        let want = CHUNK.min((len - off) as usize);
        input
            .read_exact(&mut buf[..want])
            .context("reading the host file (it changed size while being copied?)")?;
        if let Err(e) = fs.write(path, off, &buf[..want], now) {
            if e == pgfs::Error::NoSpace {
                let st = fs.statfs();
                return Err(NoSpace(format!(
                    "{path}: no space left: the file is {} and the region has {} free \
                     (of {}); nothing was written",
                    human(len),
                    human(st.free_blocks * st.block_size),
                    human(st.total_blocks * st.block_size)
                ))
                .into());
            }
            return Err(at(path, e));
        }
        off += want as u64;
    }
    Ok(())
}

fn df<D: BlockDevice>(fs: &Fs<D>, out: &mut dyn Write) -> Result<()> {
    let s = fs.statfs();
    let b = |n: u64| human(n * s.block_size);
    writeln!(
        out,
        "size  {:>12} blocks  {}  (of which {} reserved: the kernel's 32 and 2 superblocks)",
        s.total_blocks,
        b(s.total_blocks),
        s.reserved_blocks
    )?;
    writeln!(
        out,
        "used  {:>12} blocks  {}",
        s.used_blocks,
        b(s.used_blocks)
    )?;
    writeln!(
        out,
        "free  {:>12} blocks  {}",
        s.free_blocks,
        b(s.free_blocks)
    )?;
    writeln!(out, "files {:>12}  (files and directories)", s.files)?;
    Ok(())
}

/// Every file's path by inode, walking from `/` (unreadable directories are skipped: scrub
/// reports their damage).
fn paths_by_inode<D: BlockDevice>(fs: &mut Fs<D>) -> std::collections::BTreeMap<u64, String> {
    let mut map = std::collections::BTreeMap::new();
    let mut stack = vec!["/".to_string()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = list_all(fs, &dir) else {
            continue;
        };
        for e in entries {
            let p = join(&dir, &e.name);
            if e.kind == FileKind::Dir {
                stack.push(p.clone());
            }
            map.insert(e.inode, p);
        }
    }
    map
}

/// `check`: accounting and every checksum; one line per damaged block; `Ok(false)` if any.
fn check<D: BlockDevice>(
    fs: &mut Fs<D>,
    image: &Path,
    (source, sb): (Source, loader::Superblock),
    fallback: Option<String>,
    out: &mut dyn Write,
) -> Result<bool> {
    let mut problems = 0u64;
    let st = fs.statfs();
    writeln!(
        out,
        "check: {} ({}, user data at blocks {}..{}): pgfs generation {}, {} files and directories",
        image.display(),
        source.describe(),
        sb.data_start,
        sb.total_blocks,
        fs.generation(),
        st.files
    )?;
    if let Some(f) = fallback {
        writeln!(out, "check: {f}")?;
        problems += 1;
    }
    match fs.check() {
        Ok(r) => {
            writeln!(
                out,
                "check: accounting: {} blocks referenced, {} used by the superblock, {} marked in \
                 the bitmap, {} referenced but free, {} referenced twice: {}",
                r.reachable,
                r.used,
                r.marked,
                r.unmarked_reachable,
                r.shared,
                if r.is_exact() { "exact" } else { "NOT exact" }
            )?;
            problems += u64::from(!r.is_exact());
        }
        Err(e) => {
            writeln!(out, "check: accounting: could not walk the tree: {e}")?;
            problems += 1;
        }
    }
    let paths = paths_by_inode(fs);
    let scrub = fs.scrub();
    writeln!(
        out,
        "check: scrub: {} tree nodes and {} data blocks read with good checksums",
        scrub.nodes, scrub.data_blocks
    )?;
    for e in &scrub.damage {
        problems += 1;
        match e {
            pgfs::Error::DataDamaged { inode, block } => {
                let name = paths
                    .get(inode)
                    .cloned()
                    .unwrap_or_else(|| "(a file whose directory is unreadable)".into());
                writeln!(
                    out,
                    "check: damaged data block {block} of {name} (inode {inode}): checksum mismatch"
                )?;
            }
            e => writeln!(out, "check: {e}")?,
        }
    }
    if problems == 0 {
        writeln!(out, "check: result: OK")?;
    } else {
        writeln!(out, "check: result: {problems} problem(s)")?;
    }
    Ok(problems == 0)
}
