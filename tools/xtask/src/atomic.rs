//! Atomic file output: write a temp file beside the target, fsync it, rename it over the target.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Creates `output` by handing `write` a fresh, empty, readable and writable file in the
/// same directory; only when `write` succeeds is the file synced and renamed over
/// `output`. On any error the temp file is removed and `output` is left as it was.
pub fn write_atomically<T>(output: &Path, write: impl FnOnce(&mut File) -> Result<T>) -> Result<T> {
    let dir = parent_dir(output);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = temp_path_for(output);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let guard = RemoveOnDrop(Some(tmp.clone()));

    let value = write(&mut file)?;
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    drop(file);
    fs::rename(&tmp, output)
        .with_context(|| format!("renaming {} to {}", tmp.display(), output.display()))?;
    guard.disarm();
    // Make the rename itself durable; not every platform can open a directory.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(value)
}

/// [`write_atomically`] for a tool that writes its output by path (e.g. `xorriso -o`): `write`
/// gets a fresh temp path beside `output` (nothing there yet); when it succeeds the file is
/// synced and renamed over `output`. On any error the temp file is removed.
pub fn produce_atomically<T>(output: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let dir = parent_dir(output);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = temp_path_for(output);
    let guard = RemoveOnDrop(Some(tmp.clone()));
    let value = write(&tmp)?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", tmp.display()))?;
    fs::rename(&tmp, output)
        .with_context(|| format!("renaming {} to {}", tmp.display(), output.display()))?;
    guard.disarm();
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(value)
}

/// Copies `src` to `dst` atomically (used for the per-run copy of the OVMF variable store).
pub fn copy_atomically(src: &Path, dst: &Path) -> Result<()> {
    let mut input = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    write_atomically(dst, |out| {
        io::copy(&mut input, out)
            .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        Ok(())
    })
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `dir/.NAME.tmp-PID-N`: hidden, unique within this process and across processes.
pub fn temp_path_for(output: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    parent_dir(output).join(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::io::Write;

    #[test]
    fn writes_and_replaces() {
        let dir = TempDir::new("atomic-ok");
        let out = dir.path().join("out.bin");
        fs::write(&out, b"old").unwrap();
        write_atomically(&out, |f| Ok(f.write_all(b"new contents")?)).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new contents");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn failure_keeps_old_output_and_removes_temp() {
        let dir = TempDir::new("atomic-fail");
        let out = dir.path().join("out.bin");
        fs::write(&out, b"old").unwrap();
        let err = write_atomically(&out, |f| -> Result<()> {
            f.write_all(b"half")?;
            anyhow::bail!("boom")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(fs::read(&out).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn produce_by_path() {
        let dir = TempDir::new("atomic-produce");
        let out = dir.path().join("out.iso");
        produce_atomically(&out, |tmp| {
            assert!(!tmp.exists());
            Ok(fs::write(tmp, b"iso")?)
        })
        .unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"iso");
        let err = produce_atomically(&out, |tmp| -> Result<()> {
            fs::write(tmp, b"half")?;
            anyhow::bail!("tool failed")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "tool failed");
        assert_eq!(fs::read(&out).unwrap(), b"iso");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn creates_missing_directories_and_copies() {
        let dir = TempDir::new("atomic-copy");
        let src = dir.path().join("src.fd");
        fs::write(&src, [7u8; 1000]).unwrap();
        let dst = dir.path().join("a/b/dst.fd");
        copy_atomically(&src, &dst).unwrap();
        assert_eq!(fs::read(&dst).unwrap(), vec![7u8; 1000]);
    }
}
