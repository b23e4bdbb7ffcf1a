//! `build-image --data-dir DIR`: every file and directory of DIR, put into the freshly packed
//! image's user-data filesystem before the image is renamed into place.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use loader::Superblock;
use pgfs::{BlockDevice, Fs};

use super::device::RegionDevice;
use super::{human, mkdir_p, now, put_stream, NoSpace};
use crate::pack::BLOCK;

/// One thing to put: a directory or a regular file (with its size when scanned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Dir,
    File(u64),
}

/// The scanned contents of a `--data-dir`, parents before children, sorted by name.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
    /// `(host path, pgfs path, what)`.
    pub items: Vec<(PathBuf, String, Item)>,
}

impl DataDir {
    /// Scans `root` recursively; refuses symlinks and special files, and names pgfs cannot
    /// hold (not UTF-8, longer than 255 bytes), one clear line each.
    pub fn scan(root: &Path) -> Result<DataDir> {
        let meta =
            std::fs::metadata(root).with_context(|| format!("--data-dir {}", root.display()))?;
        if !meta.is_dir() {
            bail!("--data-dir {}: not a directory", root.display());
        }
        let mut items = Vec::new();
        walk(root, "", &mut items)?;
        Ok(DataDir {
            root: root.to_path_buf(),
            items,
        })
    }

    /// Bytes of file data.
    pub fn bytes(&self) -> u64 {
        self.items
            .iter()
            .map(|(_, _, i)| match i {
                Item::File(n) => *n,
                Item::Dir => 0,
            })
            .sum()
    }

    /// Files and directories.
    pub fn count(&self) -> (usize, usize) {
        let files = self
            .items
            .iter()
            .filter(|(_, _, i)| matches!(i, Item::File(_)))
            .count();
        (files, self.items.len() - files)
    }

    /// A generous estimate of the region blocks needed: the reserved 34, every data block,
    /// B-tree leaves at half fill (one 31-byte item per data block, ~64 bytes of inode and
    /// entry per name), internal nodes, bitmap blocks, and a little slack.
    pub fn blocks_needed(&self) -> u64 {
        let bs = BLOCK;
        let mut data = 0u64;
        let mut meta_bytes = 0u64;
        for (_, path, item) in &self.items {
            let name = path.rsplit('/').next().map_or(0, str::len) as u64;
            meta_bytes += 51 + 19 + 10 + name;
            if let Item::File(n) = item {
                let blocks = n.div_ceil(bs);
                data += blocks;
                meta_bytes += 31 * blocks;
            }
        }
        let leaves = meta_bytes.div_ceil(2000) + 1;
        let internal = leaves.div_ceil(80) + 1;
        let used = pgfs::FIRST_FREE + data + leaves + internal + 8;
        used + used.div_ceil(32_480)
    }

    /// Fails (before anything is built) when the files clearly cannot fit `data_size` bytes.
    pub fn check_fits(&self, data_size: u64) -> Result<()> {
        if self.blocks_needed() * BLOCK > data_size {
            bail!("{}", self.too_big(data_size, None));
        }
        Ok(())
    }

    /// The "does not fit" line; `failure`: the error the fill met.
    fn too_big(&self, data_size: u64, failure: Option<&anyhow::Error>) -> String {
        let mut need = self.blocks_needed() * BLOCK;
        if failure.is_some() {
            need = need.max(data_size + crate::image::MIB);
        }
        let need_mib = need.div_ceil(crate::image::MIB);
        let (files, dirs) = self.count();
        let why = failure.map_or(String::new(), |e| format!(" ({e:#})"));
        format!(
            "--data-dir {}: {files} files ({}) and {dirs} directories do not fit the {} \
             user-data region{why}: they need about {need_mib} MiB; pass --data-size \
             {need_mib}M or more",
            self.root.display(),
            human(self.bytes()),
            human(data_size)
        )
    }
}

fn walk(dir: &Path, prefix: &str, items: &mut Vec<(PathBuf, String, Item)>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let host = e.path();
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            bail!("{}: the name is not UTF-8 (pgfs names are)", host.display());
        };
        let path = format!("{prefix}/{name}");
        pgfs::components(&path).map_err(|err| anyhow::anyhow!("{}: {err}", host.display()))?;
        let meta = std::fs::symlink_metadata(&host)
            .with_context(|| format!("reading {}", host.display()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            items.push((host.clone(), path.clone(), Item::Dir));
            walk(&host, &path, items)?;
        } else if ft.is_file() {
            items.push((host, path, Item::File(meta.len())));
        } else if ft.is_symlink() {
            bail!(
                "{}: a symbolic link: --data-dir copies regular files and directories only",
                host.display()
            );
        } else {
            bail!(
                "{}: a special file (device, FIFO or socket): --data-dir copies regular files \
                 and directories only",
                host.display()
            );
        }
    }
    Ok(())
}

/// Formats the user-data region of the image being written (`file`, block 0 `sb`) and puts
/// every item of `dir` into it, then checks the accounting. Returns `(files, dirs, bytes)`.
pub fn fill_image(file: &File, sb: &Superblock, dir: &DataDir) -> Result<(usize, usize, u64)> {
    let dev = RegionDevice::in_file(file.try_clone()?, sb, true);
    let data_size = dev.block_count() * BLOCK;
    let t = now();
    let mut fs = Fs::format(dev, t, &[])
        .map_err(|e| anyhow::anyhow!("formatting the user-data region: {e}"))?;
    fill(&mut fs, dir, t).map_err(|e| {
        if e.chain().any(|c| c.is::<NoSpace>()) {
            anyhow::anyhow!("{}", dir.too_big(data_size, Some(&e)))
        } else {
            e
        }
    })?;
    fs.sync()
        .map_err(|e| anyhow::anyhow!("committing the user-data region: {e}"))?;
    let report = fs
        .check()
        .map_err(|e| anyhow::anyhow!("checking the user-data region: {e}"))?;
    anyhow::ensure!(
        report.is_exact(),
        "the user-data region's accounting is not exact after the fill: {report:?}"
    );
    let (files, dirs) = dir.count();
    Ok((files, dirs, dir.bytes()))
}

fn fill<D: BlockDevice>(fs: &mut Fs<D>, dir: &DataDir, t: pgfs::Time) -> Result<()> {
    for (host, path, item) in &dir.items {
        match item {
            Item::Dir => mkdir_p(fs, path, t)?,
            Item::File(_) => {
                let mut f =
                    File::open(host).with_context(|| format!("opening {}", host.display()))?;
                let len = f.metadata()?.len();
                put_stream(fs, &mut f, len, path, t)
                    .with_context(|| format!("putting {}", host.display()))?;
            }
        }
    }
    Ok(())
}
