//! `cargo xtask inspect IMG` (block map, manifest summary, start order) and `cargo xtask verify IMG`
//! (every check the kernel runs, every problem on its own line).
//!
//! Both run the loader's own `verify_image_into` for the verdict, and a staged pass over the same
//! checks that goes on after a problem where it can, so that one run lists every graph problem and
//! every checksum mismatch rather than the first.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result};
use loader::manifest::{self, Manifest};
use loader::slots::SlotTable;
use loader::superblock::blocks_for;
use loader::verify::{check_layout, hash_region};
use loader::{BlockSource, LoadError, Superblock, BLOCK_SIZE};

use crate::image::SectorSize;
use crate::iso;
use crate::pack::{self, loader_buffer, FileSource, Window, BLOCK, MODULE_DATA_BLOCKS};
use crate::slots;

/// What the file given to `inspect`/`verify` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A disk image (`build-image`): superblock + MBR, ..., ESP, user data.
    Disk,
    /// A bare module image (`/boot/pandagen-system.mod`): checked with its data region added as
    /// zero blocks, as the kernel does.
    Module,
    /// An ISO 9660 image (`build-iso`): its module, found in the ISO, checked as a module.
    Iso(iso::FoundFile),
    /// Slot B of a two-slot disk image, read through the window its slot table gives.
    SlotB(SlotTable),
}

/// Everything found in an image.
#[derive(Debug)]
pub struct Findings {
    pub kind: Kind,
    pub file_bytes: u64,
    /// Block 0's fields as stored, whether or not they check out.
    pub raw: Option<Superblock>,
    /// Block 0 when it decoded.
    pub superblock: Option<Superblock>,
    /// The manifest when it parsed.
    pub manifest: Option<Box<Manifest>>,
    /// MBR partition 1: type, first LBA, sectors.
    pub mbr: Option<(u8, u32, u32)>,
    /// The sector size a disk image's MBR and ESP are laid out for, as the ESP's FAT boot
    /// sector says (`None`: no ESP, or no FAT boot sector of a supported size at its start).
    pub sector_size: Option<SectorSize>,
    /// Kernel and entries hashed: label, whether the checksum matched.
    pub hashed: Vec<(String, bool)>,
    /// Every problem, the loader's verdict first.
    pub problems: Vec<LoadError>,
    /// SHA-256 of the manifest's exact bytes (what the manifest signature covers).
    pub manifest_sha256: Option<loader::Sha256Digest>,
    /// The key ring and policy enrolled into the image's kernel (`None`: not enrolled, or the
    /// kernel could not be read).
    pub trust: Option<signing::trust::Trust>,
    /// The boot journal's lines, newest first (`None`: no valid journal in the user data).
    pub journal: Option<Vec<String>>,
    /// The crash record as text, or why it does not read (`None`: the blocks hold none).
    pub crash: Option<Result<String, bootslots::crash::CrashError>>,
    /// A two-slot disk image's slot metadata as read (`None`: one slot, or not readable).
    pub slot_meta: Option<slots::Picked>,
    /// A two-slot disk image's slot B, examined like the image itself.
    pub slot_b: Option<Box<Findings>>,
}

impl Findings {
    /// No problem in the image (nor in its slot B).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.slot_b.as_ref().is_none_or(|b| b.is_ok())
    }
}

/// The signature check as the kernel runs it, against `ring` (the given `--trust` keys, else
/// the ring enrolled into the image's kernel); `None` when the image did not get that far.
pub fn signature_report(
    f: &Findings,
    ring: Option<&signing::KeyRing>,
) -> Option<signing::image::Report> {
    let ring = ring.or(f.trust.as_ref().map(|t| &t.ring))?;
    let (sb, m, digest) = (f.superblock?, f.manifest.as_ref()?, f.manifest_sha256?);
    let ring = match ring_update(m, ring) {
        Some(Ok(applied)) => applied.ring,
        _ => ring.clone(),
    };
    Some(signing::image::check(
        &ring,
        sb.signature.as_ref(),
        &digest,
        m,
    ))
}

/// The image's key-ring update applied to `ring` as the kernel applies it (without a
/// system's record: a host cannot know what a system has already applied).
fn ring_update(
    m: &Manifest,
    ring: &signing::KeyRing,
) -> Option<Result<signing::update::Applied, signing::update::UpdateError>> {
    let update = m.key_ring_update.as_ref()?;
    Some(signing::update::apply(ring, &update.0, 0))
}

/// A little-endian u32 of the MBR partition table.
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The image id as a UUID (bytes in order).
pub fn uuid(id: &[u8; 16]) -> String {
    let h: Vec<String> = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

/// Runs every check on the image at `path`: a disk image, an ISO 9660 image (its module) or a
/// bare module file (the last two with the module's data region added as zero blocks).
pub fn examine(path: &Path) -> Result<Findings> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let file_bytes = file.metadata()?.len();
    if iso::is_iso9660(&mut file)? {
        let found = iso::find_module(&mut file)
            .with_context(|| format!("{} is an ISO 9660 image", path.display()))?;
        let module = iso::read_found(&mut file, &found)?;
        let image = pack::module_with_data_region(&module);
        return Ok(examine_source(
            &mut loader::MemSource(&image),
            file_bytes,
            Kind::Iso(found),
        ));
    }
    let mut block0 = [0u8; BLOCK_SIZE];
    file.seek(SeekFrom::Start(0))?;
    if file_bytes >= BLOCK && file.read_exact(&mut block0).is_ok() {
        let raw = Superblock::fields(&block0);
        if block0.starts_with(&loader::MAGIC) && pack::is_module_file(&raw, file_bytes) {
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(0))?;
            file.read_to_end(&mut bytes)?;
            let image = pack::module_with_data_region(&bytes);
            return Ok(examine_source(
                &mut loader::MemSource(&image),
                file_bytes,
                Kind::Module,
            ));
        }
    }
    let mut src = FileSource::new(&file)?;
    let mut f = examine_source(&mut src, file_bytes, Kind::Disk);
    if let Some(table) = f.superblock.and_then(|sb| sb.slots) {
        let mut window = Window {
            inner: &mut src,
            start: table.b_start,
        };
        let b = examine_source(&mut window, file_bytes, Kind::SlotB(table));
        f.slot_b = Some(Box::new(b));
    }
    Ok(f)
}

/// Every check over a block source; I/O errors are findings.
fn examine_source<S: BlockSource>(src: &mut S, file_bytes: u64, kind: Kind) -> Findings {
    let mut f = Findings {
        kind,
        file_bytes,
        raw: None,
        superblock: None,
        manifest: None,
        mbr: None,
        sector_size: None,
        hashed: Vec::new(),
        problems: Vec::new(),
        manifest_sha256: None,
        trust: None,
        journal: None,
        crash: None,
        slot_meta: None,
        slot_b: None,
    };
    staged(src, &mut f);
    // The loader's own verdict (what the kernel reports) comes first.
    let mut scratch = Box::<Manifest>::default();
    if let Err(e) = loader::verify_image_into(src, &mut loader_buffer(), &mut (), &mut scratch) {
        f.problems.retain(|p| *p != e);
        f.problems.insert(0, e);
    }
    f
}

fn staged<S: BlockSource>(src: &mut S, f: &mut Findings) {
    let blocks = src.block_count();
    if blocks == 0 {
        f.problems.push(LoadError::ImageEmpty);
        return;
    }
    let mut block0 = [0u8; BLOCK_SIZE];
    if src.read_blocks(0, &mut block0).is_err() {
        f.problems.push(LoadError::Io { block: 0, count: 1 });
        return;
    }
    f.raw = Some(Superblock::fields(&block0));
    if f.kind == Kind::Disk {
        let table = crate::image::MBR_TABLE_OFFSET;
        f.mbr = Some((
            block0[table + 4],
            u32_at(&block0, table + 8),
            u32_at(&block0, table + 12),
        ));
    }
    let sb = match Superblock::decode(&block0) {
        Ok(sb) => sb,
        Err(e) => {
            f.problems.push(e);
            return;
        }
    };
    f.superblock = Some(sb);
    if f.kind == Kind::Disk {
        f.sector_size = esp_sector_size(src, &sb);
    }
    if let Err(e) = sb.validate(Some(blocks)) {
        let truncated = matches!(e, LoadError::ImageTruncated { .. });
        f.problems.push(e);
        if !truncated {
            return;
        }
    }

    // The manifest: the same checks as the loader, going on where it can.
    let len = (blocks_for(sb.manifest_bytes) * BLOCK) as usize;
    let mut region = vec![0u8; len];
    if src.read_blocks(sb.manifest_start, &mut region).is_err() {
        f.problems.push(LoadError::Io {
            block: sb.manifest_start,
            count: len as u64 / BLOCK,
        });
        return;
    }
    let found = region.iter().position(|&b| b == 0).unwrap_or(len);
    if found as u64 != sb.manifest_bytes {
        f.problems.push(LoadError::ManifestLengthMismatch {
            superblock: sb.manifest_bytes,
            found: found as u64,
        });
    }
    let (json, padding) = region.split_at(found);
    if let Some(at) = padding.iter().position(|&b| b != 0) {
        f.problems.push(LoadError::ManifestPaddingNotZero {
            offset: (found + at) as u64,
        });
    }
    f.manifest_sha256 = Some(loader::Sha256Digest::of(json));
    if loader::sha256::image_id(json) != sb.image_id {
        f.problems.push(LoadError::ImageIdMismatch);
    }
    let mut m = Box::<Manifest>::default();
    if let Err(e) = manifest::parse_into(json, &mut m) {
        f.problems.push(e);
        return;
    }
    if m.format_version != sb.format_version {
        f.problems.push(LoadError::FormatVersionMismatch {
            superblock: sb.format_version,
            manifest: m.format_version,
        });
    }
    loader::graph::check_all(&m, &mut |e| f.problems.push(e));
    if let Err(e) = check_layout(&sb, &m) {
        f.problems.push(e);
    }

    // Every checksum whose bytes are in the file.
    let mut buf = loader_buffer();
    let targets = std::iter::once((
        "kernel".to_string(),
        m.kernel.start_block,
        m.kernel.size_bytes,
        m.kernel.checksum,
    ))
    .chain(
        m.entries()
            .map(|e| (e.name.to_string(), e.start_block, e.size_bytes, e.checksum)),
    );
    for (label, start, size, expected) in targets {
        match hash_region(src, start, size, &mut buf[..]) {
            Ok(digest) => {
                let ok = digest == expected.0;
                if !ok {
                    f.problems.push(LoadError::ChecksumMismatch {
                        entry: loader::error::bounded(&label),
                        start_block: start,
                    });
                }
                f.hashed.push((label, ok));
            }
            Err(e) => f.problems.push(e),
        }
    }
    f.trust = enrolled_trust(src, &m);
    f.journal = boot_journal(src, &sb);
    f.crash = crash_record(src, &sb);
    if f.kind == Kind::Disk && sb.slots.is_some() {
        f.slot_meta = slots::pick_from(src, &sb);
    }
    f.manifest = Some(m);
}

/// The sector size the ESP's FAT boot sector (the first bytes of block `esp_start`) says.
fn esp_sector_size<S: BlockSource>(src: &mut S, sb: &Superblock) -> Option<SectorSize> {
    if !sb.has_esp() {
        return None;
    }
    let mut boot = [0u8; BLOCK_SIZE];
    src.read_blocks(sb.esp_start, &mut boot).ok()?;
    SectorSize::of_boot_sector(&boot)
}

/// Whether MBR partition 1 (`lba`, `sectors` in `sector`-byte sectors) is the superblock's ESP
/// (in bytes, without overflow: block 0's fields may be anything).
fn mbr_matches(sb: &Superblock, lba: u32, sectors: u32, sector: SectorSize) -> bool {
    let in_sectors = |n: u32| u128::from(n) * u128::from(sector.bytes());
    let in_blocks = |n: u64| u128::from(n) * u128::from(BLOCK);
    in_sectors(lba) == in_blocks(sb.esp_start) && in_sectors(sectors) == in_blocks(sb.esp_blocks)
}

/// The boot journal in the kernel's user-data blocks, newest first.
fn boot_journal<S: BlockSource>(src: &mut S, sb: &Superblock) -> Option<Vec<String>> {
    let mut copies = [[0u8; BLOCK_SIZE]; 2];
    for (copy, block) in copies.iter_mut().zip(abi::userdata::JOURNAL_BLOCKS) {
        let at = sb
            .data_start
            .checked_add(block)
            .filter(|&b| b < sb.total_blocks)?;
        src.read_blocks(at, copy).ok()?;
    }
    let (journal, _, _) = bootslots::journal::pick([&copies[0][..], &copies[1][..]]).ok()?;
    Some(journal.iter().map(|r| r.to_string()).collect())
}

/// The crash record in the kernel's user-data blocks (`None`: none there, or not readable).
fn crash_record<S: BlockSource>(
    src: &mut S,
    sb: &Superblock,
) -> Option<Result<String, bootslots::crash::CrashError>> {
    let first = abi::userdata::CRASH_FIRST_BLOCK;
    let at = sb
        .data_start
        .checked_add(first)
        .filter(|&b| b + abi::userdata::CRASH_BLOCKS <= sb.total_blocks)?;
    let mut blocks = vec![0u8; bootslots::crash::RECORD_LEN];
    src.read_blocks(at, &mut blocks).ok()?;
    let blocks: &bootslots::crash::RecordBytes = blocks.as_slice().try_into().ok()?;
    bootslots::crash::decode(blocks)
        .map(|c| c.map(|c| c.to_string()))
        .transpose()
}

/// The trust block enrolled into the image's kernel, if it has one that decodes.
fn enrolled_trust<S: BlockSource>(src: &mut S, m: &Manifest) -> Option<signing::trust::Trust> {
    let blocks = blocks_for(m.kernel.size_bytes);
    let mut kernel = vec![0u8; usize::try_from(blocks * BLOCK).ok()?];
    src.read_blocks(m.kernel.start_block, &mut kernel).ok()?;
    let at = signing::trust::find_enrolled(&kernel).ok()??;
    signing::trust::Trust::decode(kernel.get(at..)?).ok()?
}

/// The signature lines of `verify` and whether they fail it: with `--trust` every refusal is
/// an error; against the kernel's own ring, errors under `enforce`, warnings under `permissive`.
fn signature_lines(
    f: &Findings,
    ring: Option<&signing::KeyRing>,
    prefix: &str,
    out: &mut String,
) -> bool {
    let Some(report) = signature_report(f, ring) else {
        if ring.is_none() && f.problems.is_empty() {
            let _ = writeln!(
                out,
                "{prefix}warning: the kernel has no key ring enrolled: signatures not checked"
            );
        }
        return true;
    };
    let permissive = ring.is_none()
        && f.trust
            .as_ref()
            .is_some_and(|t| t.policy == signing::trust::Policy::Permissive);
    for r in &report.refusals {
        let level = if permissive {
            "warning (permissive): "
        } else {
            ""
        };
        let _ = writeln!(out, "{prefix}{level}signature: {r}");
    }
    permissive || report.refusals.is_empty()
}

/// `cargo xtask verify`: the lines to print and whether the image is good (signatures checked
/// against `ring` when given, else against the ring enrolled into the image's kernel).
///
/// A two-slot image gets each slot's lines, prefixed `slot A: ` and `slot B: `.
pub fn verify_report(path: &Path, f: &Findings, ring: Option<&signing::KeyRing>) -> (String, bool) {
    let Some(b) = &f.slot_b else {
        return slot_verdict(path, f, ring, None);
    };
    let (mut out, a_ok) = slot_verdict(path, f, ring, Some(bootslots::Slot::A));
    let (b_out, b_ok) = slot_verdict(path, b, ring, Some(bootslots::Slot::B));
    out.push_str(&b_out);
    (out, a_ok && b_ok)
}

/// One slot's `verify` lines (the image's, without `slot`) and whether it is good.
fn slot_verdict(
    path: &Path,
    f: &Findings,
    ring: Option<&signing::KeyRing>,
    slot: Option<bootslots::Slot>,
) -> (String, bool) {
    let prefix = slot.map_or("verify: ".to_string(), |s| format!("verify: slot {s}: "));
    let mut out = String::new();
    let signatures_ok = signature_lines(f, ring, &prefix, &mut out);
    if !signatures_ok {
        return (out, false);
    }
    if f.problems.is_empty() {
        let sb = f.superblock.expect("a verified image has a superblock");
        let entries = f.manifest.as_ref().map_or(0, |m| m.entries().count());
        let hashed: u64 = f.manifest.as_ref().map_or(0, |m| {
            m.kernel.size_bytes + m.entries().map(|e| e.size_bytes).sum::<u64>()
        });
        let what = match (&f.kind, f.sector_size) {
            (Kind::Disk, Some(SectorSize::S4096)) => {
                "laid out for 4096-byte sectors (4Kn), ".to_string()
            }
            (Kind::Disk, _) => String::new(),
            (Kind::Module, _) => format!(
                "module image with its {MODULE_DATA_BLOCKS}-block data region added, "
            ),
            (Kind::Iso(found), _) => format!(
                "ISO 9660, module {} ({} bytes) with its {MODULE_DATA_BLOCKS}-block data region added, ",
                found.name, found.len
            ),
            (Kind::SlotB(t), _) => format!("blocks {}..{}, ", t.b_start, t.b_end()),
        };
        let verdict = if slot.is_some() { "verified" } else { "OK" };
        let _ = writeln!(
            out,
            "{prefix}{verdict} ({}: {what}image {}, {} blocks, kernel and {entries} services/components, {hashed} bytes hashed)",
            path.display(),
            uuid(&sb.image_id),
            sb.total_blocks
        );
        return (out, true);
    }
    for p in &f.problems {
        let _ = writeln!(out, "{prefix}{p}");
    }
    (out, false)
}

/// `cargo xtask inspect`: the report text (a two-slot image: slot A's, slot B's, then the slot
/// metadata).
pub fn inspect_report(path: &Path, f: &Findings) -> String {
    let mut out = String::new();
    image_report(&mut out, path, f);
    if let Some(b) = &f.slot_b {
        image_report(&mut out, path, b);
    }
    if let Some(picked) = &f.slot_meta {
        out.push_str(&slots::describe_picked(picked));
    }
    out
}

/// The report of one image (or slot B).
fn image_report(w: &mut String, path: &Path, f: &Findings) {
    header(w, path, f);
    let Some(raw) = f.raw else {
        let _ = writeln!(w, "(no block 0)");
        problems(w, f);
        return;
    };
    let sb = f.superblock.unwrap_or(raw);
    if f.superblock.is_none() {
        let _ = writeln!(w, "block 0 does not decode; its fields as stored:");
    }
    let _ = writeln!(
        w,
        "superblock: format version {}, image id {}, {} blocks ({} MiB), manifest {} bytes",
        raw.format_version,
        uuid(&raw.image_id),
        sb.total_blocks,
        sb.total_blocks * BLOCK / crate::image::MIB,
        sb.manifest_bytes
    );
    if let Some((kind, lba, sectors)) = f.mbr {
        let sector = f.sector_size.unwrap_or_default();
        let source = match f.sector_size {
            Some(_) => "as the ESP's FAT boot sector says",
            None => "assumed: the ESP has no FAT boot sector",
        };
        let _ = writeln!(
            w,
            "MBR: partition 1 type {kind:#04x}, sectors {lba}..{}, sector size {sector} ({source}; {})",
            u64::from(lba) + u64::from(sectors),
            if mbr_matches(&sb, lba, sectors, sector) {
                "matches the superblock's ESP"
            } else {
                "DOES NOT match the superblock's ESP"
            }
        );
    }

    block_map(w, f, &sb);
    manifest_lines(w, f);
    if !matches!(f.kind, Kind::SlotB(_)) {
        // Slot B's user data is the disk's: one journal, shown with slot A.
        journal_lines(w, f);
        crash_lines(w, f);
    }
    if !f.hashed.is_empty() {
        let ok = f.hashed.iter().filter(|h| h.1).count();
        let _ = writeln!(w, "checksums: {ok} of {} match", f.hashed.len());
    }
    problems(w, f);
}

/// The report's first line: what the file is.
fn header(w: &mut String, path: &Path, f: &Findings) {
    match &f.kind {
        Kind::Disk => {
            let _ = writeln!(
                w,
                "image: {} ({} bytes, {} blocks of {BLOCK_SIZE})",
                path.display(),
                f.file_bytes,
                f.file_bytes / BLOCK
            );
        }
        Kind::Module => {
            let _ = writeln!(
                w,
                "image: {} (module image: {} bytes, {} blocks of {BLOCK_SIZE}; its {MODULE_DATA_BLOCKS}-block \
                 user-data region is not in the file: the kernel adds it in RAM, and so does this check)",
                path.display(),
                f.file_bytes,
                f.file_bytes / BLOCK
            );
        }
        Kind::Iso(found) => {
            let _ = writeln!(
                w,
                "image: {} (ISO 9660, {} bytes); module {}: {} bytes at byte {} ({} blocks; its \
                 {MODULE_DATA_BLOCKS}-block user-data region is added in RAM, as the kernel does)",
                path.display(),
                f.file_bytes,
                found.name,
                found.len,
                found.offset,
                found.len / BLOCK
            );
        }
        Kind::SlotB(t) => {
            let _ = writeln!(
                w,
                "slot B: blocks {}..{} of {}; its block numbers below count from its own block 0 (disk block {})",
                t.b_start,
                t.b_end(),
                path.display(),
                t.b_start
            );
        }
    }
}

/// The block map: every region, in block order, with the gaps.
fn block_map(w: &mut String, f: &Findings, sb: &Superblock) {
    let block0 = match f.kind {
        Kind::SlotB(_) => "superblock (slot B's block 0, no MBR)",
        _ => "superblock + MBR",
    };
    let mut regions: Vec<(u64, u64, u64, String)> = vec![(0, 1, BLOCK, block0.into())];
    if let (Kind::Disk, Some(t)) = (&f.kind, sb.slots) {
        let label = "slot B: block 0, kernel, manifest, binaries (below)";
        regions.push((t.b_start, t.b_blocks, t.b_blocks * BLOCK, label.into()));
    }
    let kernel_bytes = f
        .manifest
        .as_ref()
        .map_or(u64::from(sb.kernel_blocks) * BLOCK, |m| m.kernel.size_bytes);
    let kernel_name = f.manifest.as_ref().map_or("kernel".to_string(), |m| {
        format!("kernel ({})", m.kernel.binary)
    });
    regions.push((
        sb.kernel_start,
        u64::from(sb.kernel_blocks),
        kernel_bytes,
        kernel_name,
    ));
    regions.push((
        sb.manifest_start,
        blocks_for(sb.manifest_bytes),
        sb.manifest_bytes,
        "manifest (system.json)".into(),
    ));
    if let Some(m) = &f.manifest {
        for (kind, list) in [("service", &m.services), ("component", &m.components)] {
            for e in list {
                regions.push((
                    e.start_block,
                    blocks_for(e.size_bytes),
                    e.size_bytes,
                    format!("{kind} {}", e.name),
                ));
            }
        }
    }
    if sb.has_esp() {
        regions.push((
            sb.esp_start,
            sb.esp_blocks,
            sb.esp_blocks * BLOCK,
            "ESP (FAT)".into(),
        ));
    }
    let data_blocks = sb.total_blocks.saturating_sub(sb.data_start);
    regions.push((
        sb.data_start,
        data_blocks,
        data_blocks * BLOCK,
        match f.kind {
            Kind::Disk => "user data".into(),
            Kind::SlotB(_) => "user data (the disk's, shared by both slots)".into(),
            _ => "user data (in RAM, not in the file)".into(),
        },
    ));
    regions.sort_by_key(|r| (r.0, r.1));
    let _ = writeln!(w, "block map:");
    let _ = writeln!(
        w,
        "  {:>10} {:>10} {:>12}  region",
        "start", "blocks", "bytes"
    );
    let mut end = 0u64;
    for (start, blocks, bytes, label) in regions {
        if start > end {
            let gap = start - end;
            let _ = writeln!(w, "  {end:>10} {gap:>10} {:>12}  (unused)", gap * BLOCK);
        }
        let _ = writeln!(w, "  {start:>10} {blocks:>10} {bytes:>12}  {label}");
        end = end.max(start.saturating_add(blocks));
    }
    let _ = writeln!(w, "  {:>10} (end of image)", sb.total_blocks);
}

/// The manifest: signatures, kernel, each entry, the start order.
fn manifest_lines(w: &mut String, f: &Findings) {
    let Some(m) = &f.manifest else {
        return;
    };
    let _ = writeln!(
        w,
        "manifest: format_version {}, security_epoch {}",
        m.format_version, m.security_epoch
    );
    signatures(w, f, m);
    let _ = writeln!(
        w,
        "  kernel: {} (entry {}), {} bytes, {}",
        m.kernel.binary, m.kernel.entry_point, m.kernel.size_bytes, m.kernel.checksum
    );
    for (kind, entries) in [("service", &m.services), ("component", &m.components)] {
        for e in entries {
            let _ = writeln!(
                w,
                "  {kind} {}: type {}, binary {}, {} bytes at block {}, {}",
                e.name, e.kind, e.binary, e.size_bytes, e.start_block, e.checksum
            );
            let _ = writeln!(
                w,
                "    capabilities [{}]; provides [{}]; depends_on [{}]",
                join(&e.capabilities),
                join(&e.provides),
                join(&e.depends_on)
            );
            let _ = writeln!(w, "    signature: {}", entry_status(f, e));
        }
    }
    let _ = writeln!(w, "start order (init_sequence): {}", join(&m.init_sequence));
}

/// The crash record: its text indented, or why it does not read.
fn crash_lines(w: &mut String, f: &Findings) {
    match &f.crash {
        Some(Ok(text)) => {
            let _ = writeln!(w, "crash record:");
            for l in text.lines() {
                let _ = writeln!(w, "  {l}");
            }
        }
        Some(Err(e)) => {
            let _ = writeln!(w, "crash record: damaged: {e}");
        }
        None => {
            let _ = writeln!(w, "crash record: none");
        }
    }
}

/// The boot journal, newest first.
fn journal_lines(w: &mut String, f: &Findings) {
    match &f.journal {
        Some(lines) => {
            let _ = writeln!(w, "boot journal ({} boots, newest first):", lines.len());
            for l in lines {
                let _ = writeln!(w, "  {l}");
            }
        }
        None => {
            let _ = writeln!(w, "boot journal: none yet (the image has not booted)");
        }
    }
}

/// The manifest signature and the kernel's key ring, for `inspect`.
fn signatures(w: &mut String, f: &Findings, m: &Manifest) {
    let key = f
        .superblock
        .and_then(|sb| sb.signature)
        .map(|s| s.key_id().to_string());
    let status = match (&key, signature_report(f, None)) {
        (None, _) => "unsigned".to_string(),
        (Some(k), None) => format!("key `{k}`, not checked (the kernel has no key ring)"),
        (Some(k), Some(r)) => match r.manifest_refusal() {
            None => format!("key `{k}`, verifies against the kernel's key ring"),
            Some(refusal) => format!("REFUSED: {refusal}"),
        },
    };
    let _ = writeln!(w, "  manifest signature (block 0): {status}");
    if let Some(update) = &m.key_ring_update {
        let what = match signing::update::RingUpdate::parse(&update.0) {
            Ok(u) => format!(
                "generation {}, signed by `{}`, adds [{}], revokes [{}]",
                u.generation,
                u.signer,
                u.add
                    .iter()
                    .map(|k| k.id().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                u.revoke
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => format!("DOES NOT PARSE: {e}"),
        };
        let applies = match f.trust.as_ref().and_then(|t| ring_update(m, &t.ring)) {
            Some(Ok(_)) => "; applies to the kernel's key ring",
            Some(Err(_)) => "; REFUSED by the kernel's key ring",
            None => "",
        };
        let _ = writeln!(
            w,
            "  key-ring update ({} bytes): {what}{applies}",
            update.0.len()
        );
    }
    match &f.trust {
        None => {
            let _ = writeln!(
                w,
                "  kernel key ring: none enrolled (signatures not checked at boot)"
            );
        }
        Some(t) => {
            let ids: Vec<String> = t
                .ring
                .keys()
                .iter()
                .map(|k| {
                    let limits: Vec<&str> =
                        k.capability_limits().iter().map(|c| c.as_str()).collect();
                    format!("{} [{}]", k.id(), limits.join(","))
                })
                .collect();
            let _ = writeln!(
                w,
                "  kernel key ring: policy {}{}, keys {}",
                t.policy,
                if t.development {
                    " (development key)"
                } else {
                    ""
                },
                ids.join("; ")
            );
        }
    }
}

/// One entry's key id and signature status, for `inspect`.
fn entry_status(f: &Findings, e: &loader::Entry) -> String {
    let Some(key) = &e.public_key_id else {
        return "unsigned".into();
    };
    match signature_report(f, None) {
        None => format!("key `{key}`, not checked (the kernel has no key ring)"),
        Some(r) => match r.entry_refusal(&e.name) {
            None => format!("key `{key}`, verifies"),
            Some(refusal) => format!("REFUSED: {refusal}"),
        },
    }
}

fn join<const N: usize>(v: &[heapless::String<N>]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn problems(w: &mut String, f: &Findings) {
    if f.problems.is_empty() {
        let _ = writeln!(w, "result: OK (every check the kernel runs passes)");
    } else {
        let _ = writeln!(w, "result: {} problem(s):", f.problems.len());
        for p in &f.problems {
            let _ = writeln!(w, "  error: {p}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrupt::Corruption;
    use crate::pack::tests::small_image;
    use crate::testutil::TempDir;

    #[test]
    fn inspect_shows_the_block_map_manifest_and_start_order() {
        let dir = TempDir::new("inspect");
        let (img, packed) = small_image(&dir, "good.img");
        let f = examine(&img).unwrap();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let text = inspect_report(&img, &f);
        let sb = packed.superblock;
        for want in [
            "superblock: format version 1, image id ".to_string(),
            "matches the superblock's ESP".into(),
            format!("  {:>10} {:>10} {:>12}  superblock + MBR", 0, 1, 4096),
            format!("  {:>10} {:>10} {:>12}  kernel (kernel_bootstrap)", 1, sb.kernel_blocks, 3 * 4096 + 5),
            format!("  {:>10} {:>10} {:>12}  manifest (system.json)", sb.manifest_start, 1, sb.manifest_bytes),
            "service services_network".into(),
            "component cli_console".into(),
            format!("  {:>10} {:>10} {:>12}  ESP (FAT)", sb.esp_start, sb.esp_blocks, sb.esp_blocks * 4096),
            format!("  {:>10} {:>10} {:>12}  user data", sb.data_start, 256, 1 << 20),
            "(unused)".into(),
            "capabilities [network_device:eth0, port_range:1024-65535]; provides [network_api]; depends_on []".into(),
            "depends_on [services_storage, services_logger, services_fs_view, services_editor_vi, services_network]".into(),
            "start order (init_sequence): text_renderer_host, services_storage, services_fs_view, services_editor_vi, services_logger, services_network, status_http, cli_console".into(),
            "checksums: 9 of 9 match".into(),
            "result: OK".into(),
        ] {
            assert!(text.contains(&want), "{want:?} missing from\n{text}");
        }
        let (text, ok) = verify_report(&img, &f, None);
        // The fake kernel has no trust block: said, not an error.
        let lines: Vec<&str> = text.lines().collect();
        assert!(ok && lines.len() == 2, "{text}");
        assert!(lines[0].contains("no key ring enrolled"), "{text}");
        assert!(lines[1].starts_with("verify: OK ("), "{text}");
        assert!(
            text.contains("signature: unsigned")
                || inspect_report(&img, &f).contains("signature: unsigned")
        );
    }

    #[test]
    fn inspect_shows_the_crash_record() {
        use bootslots::crash::{Builder, Kind, RECORD_LEN};
        use std::fmt::Write as _;
        let dir = TempDir::new("inspect-crash");
        let (img, packed) = small_image(&dir, "crash.img");
        let text = inspect_report(&img, &examine(&img).unwrap());
        assert!(text.contains("crash record: none\n"), "{text}");

        let mut record = [0u8; RECORD_LEN];
        let mut b = Builder::new(&mut record, Kind::Panic, 4, 2_500_000);
        b.write_str("kernel panicked at a.rs:1:2: boom").unwrap();
        b.log_line("[    2.000000] INFO  boot: the line before");
        b.finish();
        let at = (packed.superblock.data_start + abi::userdata::CRASH_FIRST_BLOCK) * BLOCK;
        let mut raw = std::fs::read(&img).unwrap();
        raw[at as usize..at as usize + RECORD_LEN].copy_from_slice(&record);
        std::fs::write(&img, &raw).unwrap();
        let f = examine(&img).unwrap();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let text = inspect_report(&img, &f);
        for want in [
            "crash record:\n  a kernel panic in boot #4, 2.500000 s after kernel entry: kernel panicked at a.rs:1:2: boom\n",
            "  not shown at a boot yet\n",
            "  last kernel log lines before it:\n    [    2.000000] INFO  boot: the line before\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }

        // A damaged record is named, not shown.
        raw[at as usize + 70] ^= 1;
        std::fs::write(&img, &raw).unwrap();
        let text = inspect_report(&img, &examine(&img).unwrap());
        assert!(
            text.contains("crash record: damaged: checksum mismatch (stored "),
            "{text}"
        );
    }

    #[test]
    fn verify_and_inspect_a_bare_module_and_an_iso() {
        let dir = TempDir::new("inspect-module");
        let files = crate::iso::tests::small_boot_files(dir.path());
        let module = &files
            .iter()
            .find(|f| f.path == crate::limine_conf::MODULE_ESP_PATH)
            .unwrap()
            .data;
        let path = dir.path().join("pandagen-system.mod");
        std::fs::write(&path, module).unwrap();
        let f = examine(&path).unwrap();
        assert_eq!(f.kind, Kind::Module);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let (line, ok) = verify_report(&path, &f, None);
        assert!(ok, "{line}");
        assert!(
            line.contains("module image with its 256-block data region added, image "),
            "{line}"
        );
        let text = inspect_report(&path, &f);
        assert!(
            text.contains("user data (in RAM, not in the file)"),
            "{text}"
        );
        assert!(!text.contains("MBR:"), "{text}");
        assert!(!text.contains("ESP (FAT)"), "{text}");

        // A damaged module: the loader's error, as for a disk.
        let mut bad = module.clone();
        let sb = f.superblock.unwrap();
        let e = f
            .manifest
            .as_ref()
            .unwrap()
            .find("services_network")
            .unwrap();
        bad[(e.start_block * BLOCK) as usize] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let f = examine(&path).unwrap();
        assert_eq!(f.kind, Kind::Module);
        let (text, ok) = verify_report(&path, &f, None);
        assert!(!ok);
        assert!(
            text.starts_with("verify: `services_network` at block"),
            "{text}"
        );
        assert_eq!(sb.total_blocks - sb.data_start, MODULE_DATA_BLOCKS);

        let Some(xorriso) = crate::iso::tests::xorriso_or_skip("verify_and_inspect_an_iso") else {
            return;
        };
        let iso_path = dir.path().join("boot.iso");
        crate::iso::write_iso(&xorriso, &files, &iso_path).unwrap();
        let f = examine(&iso_path).unwrap();
        assert!(matches!(&f.kind, Kind::Iso(found) if found.name == "/boot/pandagen-system.mod"));
        let (line, ok) = verify_report(&iso_path, &f, None);
        assert!(ok, "{line}");
        assert!(
            line.contains("ISO 9660, module /boot/pandagen-system.mod ("),
            "{line}"
        );
        assert_eq!(f.superblock.unwrap().image_id, sb.image_id);
        let text = inspect_report(&iso_path, &f);
        assert!(text.contains("(ISO 9660, "), "{text}");
        assert!(
            text.contains("start order (init_sequence): text_renderer_host, services_storage"),
            "{text}"
        );
        assert!(text.contains("result: OK"), "{text}");
    }

    #[test]
    fn inspect_and_verify_report_problems() {
        let dir = TempDir::new("inspect-bad");
        let (good, _) = small_image(&dir, "good.img");
        let bad = dir.path().join("cycle.img");
        Corruption::DependencyCycle.apply(&good, &bad).unwrap();
        let f = examine(&bad).unwrap();
        let (text, ok) = verify_report(&bad, &f, None);
        assert!(!ok);
        // The loader's verdict first, then the start-order problem the cycle also causes.
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(
            lines[0],
            "verify: manifest: dependency cycle through `services_logger`"
        );
        assert!(
            lines[1].starts_with("verify: manifest init_sequence: `services_logger` starts before")
        );
        let report = inspect_report(&bad, &f);
        assert!(report.contains("start order (init_sequence)"), "{report}");
        assert!(report.contains("result: 2 problem(s)"), "{report}");

        let magic = dir.path().join("magic.img");
        Corruption::BadMagic.apply(&good, &magic).unwrap();
        let f = examine(&magic).unwrap();
        let report = inspect_report(&magic, &f);
        assert!(report.contains("block 0 does not decode"), "{report}");
        assert!(report.contains("not \"PANDAGEN\""), "{report}");
        assert_eq!(verify_report(&magic, &f, None).0.lines().count(), 1);

        let changed = dir.path().join("changed.img");
        Corruption::ServiceBytesChanged
            .apply(&good, &changed)
            .unwrap();
        let f = examine(&changed).unwrap();
        assert!(inspect_report(&changed, &f).contains("checksums: 8 of 9 match"));
        let (text, _) = verify_report(&changed, &f, None);
        assert!(
            text.starts_with("verify: `services_network` at block"),
            "{text}"
        );
    }

    #[test]
    fn both_slots_are_verified_and_shown() {
        let dir = TempDir::new("inspect-slots");
        let (img, packed) = crate::pack::tests::two_slot_image(&dir, "two.img", true);
        let f = examine(&img).unwrap();
        assert!(f.is_ok(), "{:?}", f.problems);
        let (text, ok) = verify_report(&img, &f, None);
        assert!(ok, "{text}");
        assert!(text.contains("verify: slot A: verified ("), "{text}");
        assert!(text.contains("verify: slot B: verified ("), "{text}");
        let report = inspect_report(&img, &f);
        let b = packed.slot_b.unwrap();
        for want in [
            "slot B: block 0, kernel, manifest, binaries (below)".to_string(),
            format!(
                "slot B: blocks {}..{} of ",
                b.table.b_start,
                b.table.b_end()
            ),
            "superblock (slot B's block 0, no MBR)".into(),
            "user data (the disk's, shared by both slots)".into(),
            format!("image id {}", uuid(&b.superblock.image_id)),
            "slot metadata: no valid copy yet".into(),
            "  slot B: priority 14, 7 tries left, successful".into(),
        ] {
            assert!(report.contains(&want), "{want:?} missing from\n{report}");
        }
        assert_eq!(report.matches("boot journal").count(), 1, "{report}");

        // A changed byte in slot B's binary: slot A still verifies, slot B names it.
        let e = b.manifest.find("services_storage").unwrap();
        let mut raw = std::fs::read(&img).unwrap();
        raw[((b.table.b_start + e.start_block) * BLOCK) as usize + 3] ^= 1;
        std::fs::write(&img, &raw).unwrap();
        let f = examine(&img).unwrap();
        assert!(!f.is_ok() && f.problems.is_empty());
        let (text, ok) = verify_report(&img, &f, None);
        assert!(!ok);
        assert!(text.contains("verify: slot A: verified ("), "{text}");
        assert!(
            text.contains("verify: slot B: `services_storage` at block"),
            "{text}"
        );
    }

    #[test]
    fn inspect_and_verify_show_the_sector_size() {
        let dir = TempDir::new("inspect-4kn");
        let (img, packed) = crate::pack::tests::small_image_for(&dir, "4kn.img", SectorSize::S4096);
        let f = examine(&img).unwrap();
        assert!(f.is_ok(), "{:?}", f.problems);
        assert_eq!(f.sector_size, Some(SectorSize::S4096));
        let sb = packed.superblock;
        let text = inspect_report(&img, &f);
        let want = format!(
            "MBR: partition 1 type 0xef, sectors {}..{}, sector size 4096 (as the ESP's FAT boot sector says; matches the superblock's ESP)",
            sb.esp_start,
            sb.esp_start + sb.esp_blocks
        );
        assert!(text.contains(&want), "{want:?} missing from\n{text}");
        let (line, ok) = verify_report(&img, &f, None);
        assert!(ok, "{line}");
        assert!(
            line.contains("laid out for 4096-byte sectors (4Kn), image "),
            "{line}"
        );

        let (img, packed) = small_image(&dir, "512.img");
        let f = examine(&img).unwrap();
        assert_eq!(f.sector_size, Some(SectorSize::S512));
        let sb = packed.superblock;
        let text = inspect_report(&img, &f);
        assert!(
            text.contains(&format!(
                "sectors {}..{}, sector size 512 (as the ESP's FAT boot sector says; matches",
                sb.esp_start * 8,
                (sb.esp_start + sb.esp_blocks) * 8
            )),
            "{text}"
        );
        assert!(!verify_report(&img, &f, None).0.contains("4Kn"));

        // An ESP whose boot sector is gone: 512 assumed, and said.
        let mut raw = std::fs::read(&img).unwrap();
        let at = (sb.esp_start * BLOCK) as usize;
        raw[at..at + 512].fill(0);
        std::fs::write(&img, &raw).unwrap();
        let f = examine(&img).unwrap();
        assert_eq!(f.sector_size, None);
        let text = inspect_report(&img, &f);
        assert!(
            text.contains("sector size 512 (assumed: the ESP has no FAT boot sector; matches"),
            "{text}"
        );
    }
}
