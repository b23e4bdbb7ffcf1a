//! Bad images on purpose: each [`Corruption`] derives, from one good image, an image with exactly
//! one fault, which the loader (on the host and in the kernel) must report as its own [`LoadError`].
//!
//! Faults in the manifest's content are "packed unchecked": the manifest is rewritten and block 0
//! re-sealed (manifest length, image id, superblock checksum), so only the intended fault remains;
//! binaries and their checksums are untouched.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{ensure, Context, Result};
use loader::error::bounded;
use loader::manifest::{Manifest, MAX_CAPABILITIES, MAX_MANIFEST_BYTES};
use loader::superblock::blocks_for;
use loader::{BlockSource, LoadError, Superblock, BLOCK_SIZE};

use crate::atomic::write_atomically;
use crate::image::MIB;
use crate::pack::BLOCK;

/// The entry whose bytes are changed.
pub const CHANGED_ENTRY: &str = "services_network";
/// `CYCLE_FROM` is made to depend on `CYCLE_TO` (which already depends on it).
pub const CYCLE_FROM: &str = "services_logger";
pub const CYCLE_TO: &str = "cli_console";
/// The cycle's entry the loader's report names: where its walk from the first unresolved
/// entry lands, which depends on how many entries the manifest has (8 in the default system).
pub const CYCLE_NAMED: &str = CYCLE_FROM;
/// The entry given one capability too many.
pub const OVER_LIMIT_ENTRY: &str = "services_logger";
/// A name `init_sequence` is made to start, which no entry has.
pub const UNKNOWN_NAME: &str = "services_spreadsheet";
/// What replaces the magic.
pub const BAD_MAGIC: [u8; 8] = *b"NOTPANDA";
/// The format version written (and re-sealed) by [`Corruption::WrongVersion`].
pub const WRONG_VERSION: u32 = 2;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Corruption {
    /// Block 0 does not start with `PANDAGEN` (the disk is not a PandaGen image).
    BadMagic,
    /// Format version 2, block 0 re-sealed.
    WrongVersion,
    /// The file cut in the middle of the data region (the ESP still boots).
    Truncated,
    /// The manifest's text replaced by text of the same length that is not JSON (re-sealed).
    ManifestNotJson,
    /// One entry with 17 capabilities (the limit is 16), re-sealed.
    ManifestOverLimit,
    /// One byte of `services_network`'s binary changed.
    ServiceBytesChanged,
    /// `services_logger` depends on `cli_console`, which depends on it (re-sealed).
    DependencyCycle,
    /// `init_sequence` names `services_spreadsheet`, which is no entry (re-sealed).
    UnknownInInitSequence,
    /// One byte of the manifest changed, block 0 not re-sealed: the image id no longer matches.
    ManifestDamaged,
    /// One byte of block 0's fields changed without re-sealing its checksum.
    SuperblockDamaged,
}

impl Corruption {
    pub const ALL: [Corruption; 10] = [
        Corruption::BadMagic,
        Corruption::WrongVersion,
        Corruption::Truncated,
        Corruption::ManifestNotJson,
        Corruption::ManifestOverLimit,
        Corruption::ServiceBytesChanged,
        Corruption::DependencyCycle,
        Corruption::UnknownInInitSequence,
        Corruption::ManifestDamaged,
        Corruption::SuperblockDamaged,
    ];

    /// Short name (scenario names are `corrupt-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Corruption::BadMagic => "bad-magic",
            Corruption::WrongVersion => "wrong-version",
            Corruption::Truncated => "truncated",
            Corruption::ManifestNotJson => "manifest-not-json",
            Corruption::ManifestOverLimit => "manifest-over-limit",
            Corruption::ServiceBytesChanged => "service-bytes-changed",
            Corruption::DependencyCycle => "dependency-cycle",
            Corruption::UnknownInInitSequence => "init-unknown-service",
            Corruption::ManifestDamaged => "manifest-damaged",
            Corruption::SuperblockDamaged => "superblock-damaged",
        }
    }

    /// The error the loader must report for this fault in `good` (its block 0 and manifest).
    pub fn expected_error(self, sb: &Superblock, manifest: &Manifest) -> LoadError {
        match self {
            Corruption::BadMagic => LoadError::BadMagic { found: BAD_MAGIC },
            Corruption::WrongVersion => LoadError::UnsupportedVersion {
                found: WRONG_VERSION,
            },
            Corruption::Truncated => LoadError::ImageTruncated {
                total_blocks: sb.total_blocks,
                actual_blocks: truncated_blocks(sb),
            },
            Corruption::ManifestNotJson => LoadError::ManifestNotJson {
                offset: 0,
                detail: "",
            },
            Corruption::ManifestOverLimit => LoadError::TooManyItems {
                entry: bounded(OVER_LIMIT_ENTRY),
                list: "capabilities",
                limit: MAX_CAPABILITIES,
            },
            Corruption::ServiceBytesChanged => LoadError::ChecksumMismatch {
                entry: bounded(CHANGED_ENTRY),
                start_block: manifest.find(CHANGED_ENTRY).map_or(0, |e| e.start_block),
            },
            Corruption::DependencyCycle => LoadError::DependencyCycle {
                entry: bounded(CYCLE_NAMED),
            },
            Corruption::UnknownInInitSequence => LoadError::UnknownInInitSequence {
                name: bounded(UNKNOWN_NAME),
            },
            Corruption::ManifestDamaged => LoadError::ImageIdMismatch,
            Corruption::SuperblockDamaged => LoadError::SuperblockChecksumMismatch,
        }
    }

    /// Whether `err` is this fault's error (for `ManifestNotJson`, any detail at offset 0).
    pub fn is_expected(self, err: &LoadError, sb: &Superblock, manifest: &Manifest) -> bool {
        match (self, err) {
            (Corruption::ManifestNotJson, LoadError::ManifestNotJson { offset, .. }) => {
                *offset == 0
            }
            _ => *err == self.expected_error(sb, manifest),
        }
    }

    /// Writes `out`: a copy of the good image `good` with this fault (atomically).
    pub fn apply(self, good: &Path, out: &Path) -> Result<()> {
        let mut src = File::open(good).with_context(|| format!("opening {}", good.display()))?;
        let (sb, manifest) = read_layout(&mut src)
            .map_err(|e| anyhow::anyhow!("{} is not a good image: {e}", good.display()))?;
        write_atomically(out, |file| {
            copy_sparse(&mut src, file)?;
            self.edit(file, &sb, &manifest)
        })
        .with_context(|| format!("writing the {} image {}", self.name(), out.display()))
    }

    fn edit(self, file: &mut File, sb: &Superblock, manifest: &Manifest) -> Result<()> {
        match self {
            Corruption::BadMagic => write_at(file, 0, &BAD_MAGIC),
            Corruption::WrongVersion => {
                let mut sb = *sb;
                sb.format_version = WRONG_VERSION;
                reseal_block0(file, &sb)
            }
            Corruption::Truncated => {
                ensure!(
                    sb.total_blocks - sb.data_start >= 2,
                    "the good image needs a data region of at least 2 blocks to be cut inside it"
                );
                file.set_len(truncated_blocks(sb) * BLOCK)?;
                Ok(())
            }
            Corruption::ManifestNotJson => {
                let filler = b"PandaGen manifest damaged on purpose: this is not JSON. ";
                let text: Vec<u8> = filler
                    .iter()
                    .copied()
                    .cycle()
                    .take(sb.manifest_bytes as usize)
                    .collect();
                reseal_manifest(file, sb, manifest, &text)
            }
            Corruption::ManifestOverLimit => {
                let mut value = serde_json::to_value(manifest)?;
                let entry = value["services"]
                    .as_array_mut()
                    .and_then(|l| l.iter_mut().find(|e| e["name"] == OVER_LIMIT_ENTRY))
                    .with_context(|| format!("the good image has no service {OVER_LIMIT_ENTRY}"))?;
                // Valid, distinct capability strings: only their number is wrong.
                let caps: Vec<String> = (1..=MAX_CAPABILITIES + 1)
                    .map(|i| format!("port_range:{i}-{i}"))
                    .collect();
                entry["capabilities"] = serde_json::json!(caps);
                reseal_manifest(file, sb, manifest, &serde_json::to_vec(&value)?)
            }
            Corruption::ServiceBytesChanged => {
                let e = manifest
                    .find(CHANGED_ENTRY)
                    .with_context(|| format!("the good image has no entry {CHANGED_ENTRY}"))?;
                let at = e.start_block * BLOCK + e.size_bytes / 2;
                let mut b = [0u8];
                read_at(file, at, &mut b)?;
                write_at(file, at, &[b[0] ^ 0xFF])
            }
            Corruption::DependencyCycle => {
                let mut m = Box::new(manifest.clone());
                ensure!(
                    m.find(CYCLE_TO).is_some(),
                    "the good image has no {CYCLE_TO}"
                );
                let from = m
                    .services
                    .iter_mut()
                    .chain(m.components.iter_mut())
                    .find(|e| e.name == CYCLE_FROM)
                    .with_context(|| format!("the good image has no entry {CYCLE_FROM}"))?;
                from.depends_on
                    .push(CYCLE_TO.try_into().expect("short name"))
                    .map_err(|_| anyhow::anyhow!("{CYCLE_FROM} has too many dependencies"))?;
                reseal_manifest(file, sb, manifest, &json_of(&m)?)
            }
            Corruption::UnknownInInitSequence => {
                let mut m = Box::new(manifest.clone());
                m.init_sequence
                    .push(UNKNOWN_NAME.try_into().expect("short name"))
                    .map_err(|_| anyhow::anyhow!("init_sequence is full"))?;
                reseal_manifest(file, sb, manifest, &json_of(&m)?)
            }
            Corruption::ManifestDamaged => {
                let start = sb.manifest_start * BLOCK;
                let mut text = vec![0u8; sb.manifest_bytes as usize];
                read_at(file, start, &mut text)?;
                let i = text
                    .iter()
                    .position(u8::is_ascii_lowercase)
                    .context("the manifest has no lowercase letter")?;
                write_at(file, start + i as u64, &[text[i].to_ascii_uppercase()])
            }
            Corruption::SuperblockDamaged => {
                let mut b = [0u8];
                read_at(file, 40, &mut b)?;
                write_at(file, 40, &[b[0] ^ 0x01])
            }
        }
    }
}

/// Block 0 and the manifest of an image, checked as the loader checks them but without hashing
/// the binaries (the good image was verified when it was packed).
pub fn read_layout(file: &mut File) -> Result<(Superblock, Box<Manifest>), LoadError> {
    let mut src =
        crate::pack::FileSource::new(file).map_err(|_| LoadError::Io { block: 0, count: 1 })?;
    read_layout_from(&mut src)
}

/// [`read_layout`] over any block source (slot B through its window).
pub fn read_layout_from<S: BlockSource>(
    src: &mut S,
) -> Result<(Superblock, Box<Manifest>), LoadError> {
    let io = |block| LoadError::Io { block, count: 1 };
    let mut block0 = [0u8; BLOCK_SIZE];
    src.read_blocks(0, &mut block0).map_err(|_| io(0))?;
    let sb = Superblock::decode(&block0)?;
    sb.validate(Some(src.block_count()))?;
    let blocks = blocks_for(sb.manifest_bytes);
    let mut region = vec![0u8; usize::try_from(blocks * BLOCK).map_err(|_| io(0))?];
    src.read_blocks(sb.manifest_start, &mut region)
        .map_err(|_| io(sb.manifest_start))?;
    let text = &region[..sb.manifest_bytes as usize];
    if loader::sha256::image_id(text) != sb.image_id {
        return Err(LoadError::ImageIdMismatch);
    }
    let mut manifest = Box::<Manifest>::default();
    loader::manifest::parse_into(text, &mut manifest)?;
    loader::graph::check(&manifest)?;
    loader::verify::check_layout(&sb, &manifest)?;
    Ok((sb, manifest))
}

/// Where [`Corruption::Truncated`] cuts: half-way into the data region.
pub fn truncated_blocks(sb: &Superblock) -> u64 {
    sb.data_start + (sb.total_blocks - sb.data_start) / 2
}

fn json_of(m: &Manifest) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; MAX_MANIFEST_BYTES];
    let len = m.to_json(&mut buf).map_err(|e| anyhow::anyhow!("{e}"))?;
    buf.truncate(len);
    Ok(buf)
}

fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)?;
    Ok(())
}

fn write_at(file: &mut File, at: u64, bytes: &[u8]) -> Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.write_all(bytes)?;
    Ok(())
}

/// Rewrites block 0's fields and self-checksum from `sb`, keeping the MBR bytes.
pub fn reseal_block0(file: &mut File, sb: &Superblock) -> Result<()> {
    let mut block0 = [0u8; BLOCK_SIZE];
    read_at(file, 0, &mut block0)?;
    sb.write_to(&mut block0);
    write_at(file, 0, &block0)
}

/// Replaces the manifest with `text` (which must fit before the first binary) and re-seals block 0:
/// manifest length, image id and self-checksum. Start blocks and checksums stay as they are.
pub fn reseal_manifest(
    file: &mut File,
    sb: &Superblock,
    manifest: &Manifest,
    text: &[u8],
) -> Result<()> {
    let first_binary = manifest
        .entries()
        .map(|e| e.start_block)
        .min()
        .unwrap_or_else(|| sb.binaries_end());
    let room = (first_binary - sb.manifest_start) * BLOCK;
    ensure!(
        text.len() as u64 <= room && !text.is_empty() && text.len() <= MAX_MANIFEST_BYTES,
        "a {}-byte manifest does not fit the {room} bytes before the first binary",
        text.len()
    );
    ensure!(!text.contains(&0), "a manifest cannot contain a zero byte");
    let blocks = blocks_for(sb.manifest_bytes).max(blocks_for(text.len() as u64));
    let mut region = vec![0u8; (blocks * BLOCK) as usize];
    region[..text.len()].copy_from_slice(text);
    write_at(file, sb.manifest_start * BLOCK, &region)?;
    let mut sb = *sb;
    sb.manifest_bytes = text.len() as u64;
    sb.image_id = loader::sha256::image_id(text);
    reseal_block0(file, &sb)
}

/// Copies `src` into the empty `dst`, skipping all-zero MiBs (they stay holes).
pub fn copy_sparse(src: &mut File, dst: &mut File) -> Result<()> {
    let len = src.metadata()?.len();
    dst.set_len(len)?;
    src.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(MIB) as usize;
        src.read_exact(&mut buf[..n])?;
        if buf[..n].iter().any(|&b| b != 0) {
            write_at(dst, at, &buf[..n])?;
        }
        at += n as u64;
    }
    Ok(())
}

/// Checks that every corruption of `good` yields exactly its error from the loader; one line per
/// corruption that does not.
#[cfg(test)]
pub fn check_all_on_host(good: &Path, dir: &Path) -> Result<Vec<String>> {
    let mut manifest = Box::<Manifest>::default();
    let file = File::open(good)?;
    let sb = match crate::pack::verify_file(&file, &mut manifest) {
        Ok(v) => v.superblock,
        Err(e) => anyhow::bail!("{} does not verify: {e}", good.display()),
    };
    let mut problems = Vec::new();
    for c in Corruption::ALL {
        let out = dir.join(format!("host-check-{}.img", c.name()));
        c.apply(good, &out)?;
        let got = crate::pack::verify_path(&out)?;
        let _ = std::fs::remove_file(&out);
        match got {
            Err(e) if c.is_expected(&e, &sb, &manifest) => {}
            Err(e) => problems.push(format!(
                "{}: loader reports {e:?}, expected {:?}",
                c.name(),
                c.expected_error(&sb, &manifest)
            )),
            Ok(_) => problems.push(format!("{}: the image verifies", c.name())),
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::tests::small_image;
    use crate::pack::verify_path;
    use crate::testutil::TempDir;

    #[test]
    fn each_corruption_yields_exactly_its_error() {
        let dir = TempDir::new("corrupt");
        let (good, packed) = small_image(&dir, "good.img");
        for c in Corruption::ALL {
            let out = dir.path().join(format!("{}.img", c.name()));
            c.apply(&good, &out).unwrap();
            let err = verify_path(&out).unwrap().unwrap_err();
            assert!(
                c.is_expected(&err, &packed.superblock, &packed.manifest),
                "{}: got {err:?} ({err})",
                c.name()
            );
            // The serial line the kernel prints is this error's Display; the scenario's
            // expected substring must be in it (bad magic: the kernel's own message).
            if c != Corruption::BadMagic {
                let s = crate::scenarios::corruption_substring(c);
                assert!(
                    err.to_string().contains(s),
                    "{}: {s:?} not in {err}",
                    c.name()
                );
            }
        }
        assert!(
            verify_path(&good).unwrap().is_ok(),
            "the good image is untouched"
        );
        assert!(check_all_on_host(&good, dir.path()).unwrap().is_empty());
    }

    #[test]
    fn truncation_keeps_the_esp_and_the_mbr() {
        let dir = TempDir::new("corrupt-trunc");
        let (good, packed) = small_image(&dir, "good.img");
        let out = dir.path().join("t.img");
        Corruption::Truncated.apply(&good, &out).unwrap();
        let len = std::fs::metadata(&out).unwrap().len();
        let sb = packed.superblock;
        assert!(len > (sb.esp_start + sb.esp_blocks) * BLOCK && len < sb.total_blocks * BLOCK);
        let raw = std::fs::read(&out).unwrap();
        let good_raw = std::fs::read(&good).unwrap();
        assert_eq!(raw[..], good_raw[..raw.len()]);
    }

    #[test]
    fn resealed_faults_change_only_the_manifest_and_block_0() {
        let dir = TempDir::new("corrupt-reseal");
        let (good, packed) = small_image(&dir, "good.img");
        let good_raw = std::fs::read(&good).unwrap();
        let manifest_end = ((packed.superblock.manifest_start + 1) * BLOCK) as usize;
        for c in [
            Corruption::DependencyCycle,
            Corruption::UnknownInInitSequence,
            Corruption::ManifestOverLimit,
            Corruption::ManifestNotJson,
        ] {
            let out = dir.path().join(format!("{}.img", c.name()));
            c.apply(&good, &out).unwrap();
            let raw = std::fs::read(&out).unwrap();
            assert_eq!(raw.len(), good_raw.len());
            assert_eq!(
                raw[manifest_end..],
                good_raw[manifest_end..],
                "{}",
                c.name()
            );
            assert_eq!(raw[440..512], good_raw[440..512], "{}: MBR kept", c.name());
        }
    }
}
