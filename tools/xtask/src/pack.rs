//! The packer: a measured manifest, the kernel, the binaries and the ESP files in, a verified
//! PandaGen system image out (format: `docs/image-format.md`; the one definition is the `loader` crate).
//!
//! [`pack`] does not check the manifest's graph: it is also the harness's "unchecked" path for images
//! that are wrong on purpose. `cargo xtask build-image` calls [`pack_checked`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use loader::manifest::{Manifest, MAX_MANIFEST_BYTES};
use loader::pack::{place, Regions};
use loader::slots::{window_superblock, SlotTable};
use loader::superblock::{blocks_for, ESP_ALIGN_BLOCKS};
use loader::{BlockSource, LoadError, Superblock, BLOCK_SIZE};

use crate::atomic::write_atomically;
use crate::description::graph_problems;
use crate::image::{self, DiskLayout, DiskSpec, EspFile, Progress, Region, SectorSize};
use crate::sign::SignConfig;

/// 4096 as a `u64`.
pub const BLOCK: u64 = BLOCK_SIZE as u64;
/// The default user data region: 64 MiB.
pub const DEFAULT_DATA_SIZE: u64 = 64 * image::MIB;
/// The user-data region of a module image (`loader::slots`'s one definition).
pub use loader::slots::MODULE_DATA_BLOCKS;

/// The system image as a boot module: the same placement as the disk image but no ESP and a
/// [`MODULE_DATA_BLOCKS`] data region; the file holds only blocks `0..data_start`.
#[derive(Debug, Clone)]
pub struct ModuleImage {
    pub superblock: Superblock,
    /// The module file: block 0 (superblock, no MBR), the kernel, the manifest and the binaries.
    pub bytes: Vec<u8>,
    /// The manifest JSON (byte-identical to the disk image's).
    pub json: Vec<u8>,
}

/// Lays out and writes the module image for a measured manifest (sizes and checksums filled in;
/// start blocks are set on a copy), the kernel and the binaries in manifest order.
pub fn module_image(
    manifest: &Manifest,
    kernel: &[u8],
    binaries: &[Vec<u8>],
    signing: Option<&SignConfig>,
) -> Result<ModuleImage> {
    let mut m = Box::new(manifest.clone());
    let regions = Regions {
        esp_blocks: 0,
        data_blocks: MODULE_DATA_BLOCKS,
    };
    let (sb, json) =
        place_system(&mut m, regions, signing).context("laying out the module image")?;
    ensure!(
        binaries.len() == m.entries().count(),
        "{} binaries for {} manifest entries",
        binaries.len(),
        m.entries().count()
    );
    let len = usize::try_from(sb.data_start * BLOCK)?;
    let mut bytes = vec![0u8; len];
    let mut block0 = [0u8; BLOCK_SIZE];
    sb.write_to(&mut block0);
    bytes[..BLOCK_SIZE].copy_from_slice(&block0);
    let mut put = |at: u64, data: &[u8]| -> Result<()> {
        let at = usize::try_from(at * BLOCK)?;
        let end = at + data.len();
        ensure!(
            end <= len,
            "a region ends at byte {end}, past the module's {len} bytes"
        );
        bytes[at..end].copy_from_slice(data);
        Ok(())
    };
    put(sb.kernel_start, kernel)?;
    put(sb.manifest_start, &json)?;
    for (entry, data) in m.entries().zip(binaries) {
        put(entry.start_block, data)?;
    }
    Ok(ModuleImage {
        superblock: sb,
        bytes,
        json,
    })
}

/// What a module image is seen as once the kernel (or `verify`) has added its data region: the
/// module's whole blocks followed by [`MODULE_DATA_BLOCKS`] zero blocks.
pub fn module_with_data_region(module: &[u8]) -> Vec<u8> {
    let whole = module.len() - module.len() % BLOCK_SIZE;
    let mut out = Vec::with_capacity(whole + (MODULE_DATA_BLOCKS * BLOCK) as usize);
    out.extend_from_slice(&module[..whole]);
    out.resize(whole + (MODULE_DATA_BLOCKS * BLOCK) as usize, 0);
    out
}

/// Whether block 0 describes a module image (no ESP, a [`MODULE_DATA_BLOCKS`] data region) and the
/// file ends exactly where the data region starts.
pub fn is_module_file(block0: &Superblock, file_len: u64) -> bool {
    !block0.has_esp()
        && block0.total_blocks.checked_sub(block0.data_start) == Some(MODULE_DATA_BLOCKS)
        && Some(file_len) == block0.data_start.checked_mul(BLOCK)
}

/// The loader's whole verification of a module file, as the kernel runs it (module + zero data).
pub fn verify_module(
    module: &[u8],
    manifest: &mut Manifest,
) -> Result<loader::Verified, LoadError> {
    let image = module_with_data_region(module);
    let mut src = loader::MemSource(&image);
    loader::verify_image_into(&mut src, &mut loader_buffer(), &mut (), manifest)
}

/// What goes into an image.
#[derive(Debug, Clone)]
pub struct PackInput {
    /// Complete except block numbers: sizes and checksums filled in ([`crate::description::measure`]).
    pub manifest: Box<Manifest>,
    pub kernel: Vec<u8>,
    /// One per manifest entry, in manifest order (services, then components).
    pub binaries: Vec<Vec<u8>>,
    /// ESP size in bytes (a multiple of 4096).
    pub esp_size: u64,
    pub esp_files: Vec<EspFile>,
    /// User data region in bytes (a multiple of 4096).
    pub data_size: u64,
    /// Signs the manifest (block 0's record) when set.
    pub signing: Option<SignConfig>,
    /// Slot B of a two-slot image; `None` for a one-slot image.
    pub slot_b: Option<Box<SlotSystem>>,
}

/// One measured system: what a slot holds. As [`PackInput::slot_b`], slot B of a two-slot
/// image (`docs/image-format.md`, "A/B slots"), packed after slot A's room ([`slot_room`]), its
/// block numbers counting from its own block 0.
#[derive(Debug, Clone)]
pub struct SlotSystem {
    /// Measured like [`PackInput::manifest`].
    pub manifest: Box<Manifest>,
    pub kernel: Vec<u8>,
    /// One per manifest entry, in manifest order.
    pub binaries: Vec<Vec<u8>>,
    /// Signs the manifest (the record in the slot's block 0) when set.
    pub signing: Option<SignConfig>,
}

/// Slot B as planned and written.
#[derive(Debug, Clone)]
pub struct PackedB {
    /// Where slot B lies: slot A's block 0 carries it.
    pub table: SlotTable,
    /// Slot B's own block 0 ([`window_superblock`]).
    pub superblock: Superblock,
    /// Slot B's manifest as written (start blocks counted from slot B's block 0).
    pub manifest: Box<Manifest>,
    pub json: Vec<u8>,
}

/// Where [`plan`] put things.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Block 0 (slot A's, with the slot table in a two-slot image).
    pub superblock: Superblock,
    /// Slot A's manifest JSON.
    pub json: Vec<u8>,
    pub slot_b: Option<PackedB>,
}

/// What [`pack`] wrote.
#[derive(Debug, Clone)]
pub struct Packed {
    pub superblock: Superblock,
    pub layout: DiskLayout,
    /// The manifest as written (start blocks set).
    pub manifest: Box<Manifest>,
    /// The manifest JSON as written.
    pub json: Vec<u8>,
    /// Slot B, in a two-slot image.
    pub slot_b: Option<PackedB>,
    /// Bytes the verification hashed (kernel and binaries).
    pub bytes_hashed: u64,
    /// Time spent writing, re-verifying the written file, and syncing it to disk before the rename.
    pub write_time: Duration,
    pub verify_time: Duration,
    pub total_time: Duration,
}

/// Lays one system out with [`loader::pack::place`] (sets the manifest's start blocks) and
/// signs its manifest: block 0's fields and the manifest JSON.
fn place_system(
    manifest: &mut Manifest,
    regions: Regions,
    signing: Option<&SignConfig>,
) -> Result<(Superblock, Vec<u8>)> {
    let mut json = vec![0u8; MAX_MANIFEST_BYTES];
    let placed = place(manifest, regions, &mut json).map_err(|e| anyhow::anyhow!("{e}"))?;
    json.truncate(placed.manifest_len);
    let mut sb = placed.superblock;
    sb.signature = signing.and_then(|s| s.manifest_signature(&json));
    Ok((sb, json))
}

/// Lays the image out: slot A with [`loader::pack::place`], then (two slots) slot B after
/// slot A's room ([`slot_room`]) and the ESP and data region moved past it.
pub fn plan(input: &mut PackInput, slot_size: Option<u64>) -> Result<Plan> {
    ensure!(
        input.esp_size.is_multiple_of(BLOCK) && input.data_size.is_multiple_of(BLOCK),
        "ESP ({}) and data ({}) sizes must be multiples of {BLOCK} bytes",
        input.esp_size,
        input.data_size
    );
    let regions = Regions {
        esp_blocks: input.esp_size / BLOCK,
        data_blocks: input.data_size / BLOCK,
    };
    let (mut superblock, json) = place_system(&mut input.manifest, regions, input.signing.as_ref())
        .context("laying out the image")?;
    let slot_b = match input.slot_b.as_deref_mut() {
        Some(b) => Some(plan_slot_b(&mut superblock, &input.manifest, b, slot_size)?),
        None => None,
    };
    Ok(Plan {
        superblock,
        json,
        slot_b,
    })
}

/// One past the last block of slot A's kernel, manifest and binaries.
pub fn binaries_end(sb: &Superblock, manifest: &Manifest) -> u64 {
    manifest
        .entries()
        .map(|e| e.start_block.saturating_add(blocks_for(e.size_bytes)))
        .chain(sb.manifest_end())
        .max()
        .unwrap_or(0)
}

/// How much room a slot gets beyond the larger system, in percent, when `--slot-size` is not
/// given: an update may grow the system by this much and still fit (docs/image-format.md).
pub const SLOT_HEADROOM_PERCENT: u64 = 50;

/// Each slot's room in blocks: `slot_size` (bytes, refused when it does not hold both
/// systems), or the larger system plus [`SLOT_HEADROOM_PERCENT`], on a 1 MiB boundary.
pub fn slot_room(used_a: u64, used_b: u64, slot_size: Option<u64>) -> Result<u64> {
    let used = used_a.max(used_b);
    let Some(size) = slot_size else {
        let grown = used.saturating_add(used.saturating_mul(SLOT_HEADROOM_PERCENT) / 100);
        return Ok(grown.next_multiple_of(ESP_ALIGN_BLOCKS));
    };
    ensure!(
        size.is_multiple_of(BLOCK) && size / BLOCK >= used,
        "--slot-size {size} is too small: a slot needs {} bytes (its block 0, kernel, manifest and binaries); pass --slot-size {}M or more",
        used * BLOCK,
        (used * BLOCK).div_ceil(image::MIB)
    );
    Ok(size / BLOCK)
}

/// Places slot B after slot A's room (both [`slot_room`]), moves `a`'s ESP (next 1 MiB
/// boundary) and data region past it and records the slot table in `a`; slot B's block 0 is
/// its window superblock.
fn plan_slot_b(
    a: &mut Superblock,
    a_manifest: &Manifest,
    b: &mut SlotSystem,
    slot_size: Option<u64>,
) -> Result<PackedB> {
    let (own, json) = place_system(&mut b.manifest, Regions::default(), b.signing.as_ref())
        .context("laying out slot B")?;
    let room = slot_room(binaries_end(a, a_manifest), own.data_start, slot_size)?;
    let table = SlotTable {
        b_start: room,
        b_blocks: room,
    };
    let data_blocks = a.total_blocks - a.data_start;
    let overflow = || anyhow::anyhow!("slot B at block {} overflows the image", table.b_start);
    if a.has_esp() {
        a.esp_start = table
            .b_end()
            .checked_next_multiple_of(ESP_ALIGN_BLOCKS)
            .ok_or_else(overflow)?;
        a.data_start = a.esp_start.checked_add(a.esp_blocks).ok_or_else(overflow)?;
    } else {
        a.data_start = table.b_end();
    }
    a.total_blocks = a.data_start.checked_add(data_blocks).ok_or_else(overflow)?;
    a.slots = Some(table);
    let superblock = window_superblock(&own, a, &table).ok_or_else(overflow)?;
    Ok(PackedB {
        table,
        superblock,
        manifest: b.manifest.clone(),
        json,
    })
}

/// The regions of one system whose block 0 is at block `base`: the kernel, the manifest and
/// each binary at its start block. The kernel's and the binaries' bytes move out (no copy of
/// hundreds of MiB).
fn system_regions(
    base: u64,
    sb: &Superblock,
    json: &[u8],
    manifest: &Manifest,
    kernel: &mut Vec<u8>,
    binaries: &mut [Vec<u8>],
) -> Result<Vec<Region>> {
    ensure!(
        binaries.len() == manifest.entries().count(),
        "{} binaries for {} manifest entries",
        binaries.len(),
        manifest.entries().count()
    );
    let at = |block: u64| (base + block) * BLOCK;
    let mut regions = vec![
        Region {
            offset: at(sb.kernel_start),
            data: std::mem::take(kernel),
        },
        Region {
            offset: at(sb.manifest_start),
            data: json.to_vec(),
        },
    ];
    for (entry, bytes) in manifest.entries().zip(binaries.iter_mut()) {
        regions.push(Region {
            offset: at(entry.start_block),
            data: std::mem::take(bytes),
        });
    }
    Ok(regions)
}

/// The disk spec for a planned image: block 0 from the superblock (+ MBR), slot A's kernel,
/// manifest and binaries, slot B (its block 0, without an MBR, then the same), the ESP where the
/// superblock puts it, the data region; the MBR and the ESP laid out for `sector_size`.
pub fn disk_spec(input: &mut PackInput, plan: &Plan, sector_size: SectorSize) -> Result<DiskSpec> {
    let sb = &plan.superblock;
    let mut block0 = [0u8; BLOCK_SIZE];
    sb.write_to(&mut block0);
    let mut regions = system_regions(
        0,
        sb,
        &plan.json,
        &input.manifest,
        &mut input.kernel,
        &mut input.binaries,
    )?;
    if let (Some(b), Some(planned)) = (input.slot_b.as_deref_mut(), &plan.slot_b) {
        let start = planned.table.b_start;
        regions.push(Region {
            offset: start * BLOCK,
            data: planned.superblock.encode().to_vec(),
        });
        regions.extend(system_regions(
            start,
            &planned.superblock,
            &planned.json,
            &planned.manifest,
            &mut b.kernel,
            &mut b.binaries,
        )?);
    }
    let mut disk_signature = [0u8; 4];
    disk_signature.copy_from_slice(&sb.image_id[..4]);
    Ok(DiskSpec {
        block0: block0[..image::MBR_BOOTSTRAP_LEN].to_vec(),
        disk_signature,
        regions,
        esp_start: Some(sb.esp_start * BLOCK),
        esp_size: input.esp_size,
        esp_files: std::mem::take(&mut input.esp_files),
        data_size: input.data_size,
        sector_size,
    })
}

/// How [`pack_with`] writes an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackOptions {
    /// Print a progress line per 10 % written (images over 64 MiB).
    pub progress: bool,
    /// The logical sector size of the disk the image is for: the unit of its MBR partition
    /// entry and of its FAT ESP (`build-image --sector-size`).
    pub sector_size: SectorSize,
    /// Each slot's room in bytes in a two-slot image (`build-image --slot-size`); `None`:
    /// [`slot_room`]'s default headroom.
    pub slot_size: Option<u64>,
}

impl PackOptions {
    /// 512-byte sectors, with progress lines when `progress`.
    pub fn progress(progress: bool) -> Self {
        PackOptions {
            progress,
            ..PackOptions::default()
        }
    }
}

/// Packs without checking the manifest's graph, writes `output` atomically, and re-verifies the
/// written file with the loader before renaming it into place.
pub fn pack(input: PackInput, output: &Path, progress: bool) -> Result<Packed> {
    pack_filled(input, output, progress, |_, _| Ok(()))
}

/// [`pack`], then `fill` on the verified temp file; the image is renamed into place only if
/// `fill` succeeds (a failed fill leaves `output` as it was).
pub fn pack_filled(
    input: PackInput,
    output: &Path,
    progress: bool,
    fill: impl FnOnce(&mut File, &Superblock) -> Result<()>,
) -> Result<Packed> {
    pack_with(input, output, PackOptions::progress(progress), fill)
}

/// [`pack_filled`] with every option: the image laid out for `options.sector_size`.
pub fn pack_with(
    mut input: PackInput,
    output: &Path,
    options: PackOptions,
    fill: impl FnOnce(&mut File, &Superblock) -> Result<()>,
) -> Result<Packed> {
    let started = Instant::now();
    let plan = plan(&mut input, options.slot_size)?;
    let sb = plan.superblock;
    let spec = disk_spec(&mut input, &plan, options.sector_size)?;
    let layout = image::layout(&spec)?;
    ensure!(
        layout.total_size == sb.total_blocks * BLOCK
            && layout.esp_start == sb.esp_start * BLOCK
            && layout.data_start == sb.data_start * BLOCK,
        "disk layout {layout:?} disagrees with the superblock {sb:?}"
    );
    let mut progress = if options.progress {
        Progress::for_image(layout.total_size)
    } else {
        Progress::quiet()
    };
    let (write_time, verify_time, bytes_hashed) = write_atomically(output, |file| {
        let start = Instant::now();
        image::write_disk_image_into(&spec, &layout, file, &mut progress)?;
        let write_time = start.elapsed();
        let start = Instant::now();
        let bytes_hashed = verify_written(file, &plan, &input.manifest)?;
        let verify_time = start.elapsed();
        fill(file, &sb)?;
        Ok((write_time, verify_time, bytes_hashed))
    })
    .with_context(|| format!("writing the system image {}", output.display()))?;
    Ok(Packed {
        superblock: sb,
        layout,
        manifest: input.manifest,
        json: plan.json,
        slot_b: plan.slot_b,
        bytes_hashed,
        write_time,
        verify_time,
        total_time: started.elapsed(),
    })
}

/// Runs the loader's whole verification over the written file (and slot B through its window)
/// and checks that it reads back as planned; returns the bytes hashed.
fn verify_written(file: &File, plan: &Plan, manifest: &Manifest) -> Result<u64> {
    let mut read = Box::<Manifest>::default();
    let verified = verify_file(file, &mut read)
        .map_err(|e| anyhow::anyhow!("the written image does not verify: {e}"))?;
    ensure!(
        verified.superblock == plan.superblock && *read == *manifest,
        "the written image reads back differently from what was planned"
    );
    let Some(b) = &plan.slot_b else {
        return Ok(verified.bytes_hashed);
    };
    let verified_b = verify_window(file, b.table.b_start, &mut read)
        .map_err(|e| anyhow::anyhow!("slot B of the written image does not verify: {e}"))?;
    ensure!(
        verified_b.superblock == b.superblock && *read == *b.manifest,
        "slot B of the written image reads back differently from what was planned"
    );
    Ok(verified.bytes_hashed + verified_b.bytes_hashed)
}

/// [`pack`], refusing a manifest the loader would refuse (every graph problem, one line each).
pub fn pack_checked(input: PackInput, output: &Path, progress: bool) -> Result<Packed> {
    refuse_invalid(&input)?;
    pack(input, output, progress)
}

/// [`pack_checked`] with a [`pack_filled`] fill of the user-data region.
#[allow(
    dead_code,
    reason = "the API the QEMU scenarios fill images with (docs/host-tools.md); build-image uses pack_checked_with"
)]
pub fn pack_checked_filled(
    input: PackInput,
    output: &Path,
    progress: bool,
    fill: impl FnOnce(&mut File, &Superblock) -> Result<()>,
) -> Result<Packed> {
    pack_checked_with(input, output, PackOptions::progress(progress), fill)
}

/// [`pack_with`], refusing a manifest the loader would refuse.
pub fn pack_checked_with(
    input: PackInput,
    output: &Path,
    options: PackOptions,
    fill: impl FnOnce(&mut File, &Superblock) -> Result<()>,
) -> Result<Packed> {
    refuse_invalid(&input)?;
    pack_with(input, output, options, fill)
}

/// Every graph problem of the manifests (slot B's named), one line each.
fn refuse_invalid(input: &PackInput) -> Result<()> {
    let mut problems = graph_problems(&input.manifest);
    if let Some(b) = &input.slot_b {
        problems.extend(
            graph_problems(&b.manifest)
                .into_iter()
                .map(|p| format!("slot B: {p}")),
        );
    }
    if !problems.is_empty() {
        bail!(
            "refusing to pack an invalid system description:\n{}",
            problems.join("\n")
        );
    }
    Ok(())
}

/// A [`BlockSource`] over an image file (a trailing partial block is not part of the image).
pub struct FileSource<'a> {
    file: &'a File,
    blocks: u64,
}

impl<'a> FileSource<'a> {
    pub fn new(file: &'a File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileSource {
            file,
            blocks: len / BLOCK,
        })
    }
}

impl BlockSource for FileSource<'_> {
    type Error = std::io::Error;

    fn block_count(&self) -> u64 {
        self.blocks
    }

    fn read_blocks(&mut self, first_block: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let count = (buf.len() / BLOCK_SIZE) as u64;
        if !buf.len().is_multiple_of(BLOCK_SIZE)
            || first_block
                .checked_add(count)
                .is_none_or(|end| end > self.blocks)
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "read outside the image or not whole blocks",
            ));
        }
        let mut f = self.file;
        f.seek(SeekFrom::Start(first_block * BLOCK))?;
        f.read_exact(buf)
    }
}

/// Blocks `start..` of a source seen as a source of their own: slot B of a two-slot image,
/// whose block numbers count from its own block 0.
pub struct Window<'a, S> {
    pub inner: &'a mut S,
    pub start: u64,
}

impl<S: BlockSource> BlockSource for Window<'_, S> {
    type Error = S::Error;

    fn block_count(&self) -> u64 {
        self.inner.block_count().saturating_sub(self.start)
    }

    /// Reads the inner source's blocks `start + first_block ..` (an overflow reads past its end).
    fn read_blocks(&mut self, first_block: u64, buf: &mut [u8]) -> Result<(), S::Error> {
        self.inner
            .read_blocks(first_block.saturating_add(self.start), buf)
    }
}

/// A 64 KiB buffer on the heap for the loader.
pub fn loader_buffer() -> Box<[u8; MAX_MANIFEST_BYTES]> {
    vec![0u8; MAX_MANIFEST_BYTES]
        .into_boxed_slice()
        .try_into()
        .expect("the length is MAX_MANIFEST_BYTES")
}

/// Runs the loader's whole verification over an image file, filling `manifest`.
pub fn verify_file(file: &File, manifest: &mut Manifest) -> Result<loader::Verified, LoadError> {
    let mut src = FileSource::new(file).map_err(|_| LoadError::Io { block: 0, count: 0 })?;
    loader::verify_image_into(&mut src, &mut loader_buffer(), &mut (), manifest)
}

/// [`verify_file`] for the image whose block 0 is block `start` of the file (slot B).
pub fn verify_window(
    file: &File,
    start: u64,
    manifest: &mut Manifest,
) -> Result<loader::Verified, LoadError> {
    let mut inner = FileSource::new(file).map_err(|_| LoadError::Io { block: 0, count: 0 })?;
    let mut src = Window {
        inner: &mut inner,
        start,
    };
    loader::verify_image_into(&mut src, &mut loader_buffer(), &mut (), manifest)
}

/// [`verify_file`] on a path.
pub fn verify_path(path: &Path) -> Result<Result<loader::Verified, LoadError>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut manifest = Box::<Manifest>::default();
    Ok(verify_file(&file, &mut manifest))
}

/// Parses a `--data-size`: bytes, or a number with a binary suffix `K`, `M`, `G`, `T` (optionally
/// followed by `iB` or `B`, any case): `16M`, `1G`, `64MiB`, `65536`. Must be a multiple of 4096.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    if number.is_empty() {
        return Err(format!("{text:?} is not a size (examples: 16M, 1G, 65536)"));
    }
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {suffix:?} (use K, M, G or T, e.g. 16M)"
            ))
        }
    };
    let bytes = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if !bytes.is_multiple_of(BLOCK) {
        return Err(format!(
            "{text:?} ({bytes} bytes) is not a multiple of the {BLOCK}-byte block size"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::description::{measure, Description};
    use crate::testutil::TempDir;
    use std::fs;

    /// Deterministic filler.
    pub fn filler(seed: u32, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    /// The checked-in description with fake kernel and binary bytes, a small ESP and 1 MiB of data.
    pub fn small_input() -> PackInput {
        let root = crate::build::Workspace::locate().root;
        let text = fs::read_to_string(root.join(crate::description::DEFAULT_PATH)).unwrap();
        let mut manifest = Description::parse(&text, "p")
            .unwrap()
            .to_manifest("p")
            .unwrap();
        let kernel = filler(7, 3 * BLOCK_SIZE + 5);
        let binaries: Vec<Vec<u8>> = (0..manifest.entries().count())
            .map(|i| filler(100 + i as u32, 5000 + 3000 * i))
            .collect();
        measure(&mut manifest, &kernel, &binaries).unwrap();
        PackInput {
            manifest,
            kernel: kernel.clone(),
            binaries,
            esp_size: image::MIN_ESP_SIZE,
            esp_files: vec![
                EspFile {
                    path: "/EFI/BOOT/BOOTX64.EFI".into(),
                    data: b"MZ fake".to_vec(),
                },
                EspFile {
                    path: "/boot/kernel_bootstrap".into(),
                    data: kernel,
                },
            ],
            data_size: image::MIB,
            signing: None,
            slot_b: None,
        }
    }

    /// [`small_input`] with the same system as slot B, or (`differ`) one whose kernel and
    /// first binary differ.
    pub fn two_slot_input(differ: bool) -> PackInput {
        let mut input = small_input();
        let (mut kernel, mut binaries) = (input.kernel.clone(), input.binaries.clone());
        if differ {
            kernel = filler(8, 2 * BLOCK_SIZE + 11);
            binaries[0] = filler(99, 7000);
        }
        let mut manifest = input.manifest.clone();
        measure(&mut manifest, &kernel, &binaries).unwrap();
        input.slot_b = Some(Box::new(SlotSystem {
            manifest,
            kernel,
            binaries,
            signing: None,
        }));
        input
    }

    /// Packs [`two_slot_input`] into `dir/name`.
    pub fn two_slot_image(dir: &TempDir, name: &str, differ: bool) -> (std::path::PathBuf, Packed) {
        let out = dir.path().join(name);
        let packed = pack_checked(two_slot_input(differ), &out, false).unwrap();
        (out, packed)
    }

    /// Packs [`small_input`] into `dir/name`.
    pub fn small_image(dir: &TempDir, name: &str) -> (std::path::PathBuf, Packed) {
        let out = dir.path().join(name);
        let packed = pack_checked(small_input(), &out, false).unwrap();
        (out, packed)
    }

    /// Packs [`small_input`] into `dir/name` laid out for `sector_size` (its smallest ESP).
    pub fn small_image_for(
        dir: &TempDir,
        name: &str,
        sector_size: SectorSize,
    ) -> (std::path::PathBuf, Packed) {
        let out = dir.path().join(name);
        let input = PackInput {
            esp_size: sector_size.min_esp_size(),
            ..small_input()
        };
        let options = PackOptions {
            sector_size,
            ..PackOptions::default()
        };
        let packed = pack_checked_with(input, &out, options, |_, _| Ok(())).unwrap();
        (out, packed)
    }

    #[test]
    fn a_4kn_image_counts_its_mbr_in_blocks_and_refuses_a_small_esp() {
        let dir = TempDir::new("pack-4kn");
        let (out, packed) = small_image_for(&dir, "4kn.img", SectorSize::S4096);
        let (sb, raw) = (packed.superblock, fs::read(&out).unwrap());
        assert_eq!(raw.len() as u64, sb.total_blocks * BLOCK);
        let entry = &raw[446..462];
        let lba = u32::from_le_bytes(entry[8..12].try_into().unwrap());
        let sectors = u32::from_le_bytes(entry[12..16].try_into().unwrap());
        assert_eq!(
            (u64::from(lba), u64::from(sectors)),
            (sb.esp_start, sb.esp_blocks)
        );
        assert!(verify_path(&out).unwrap().is_ok());
        // The smallest 512-byte-sector ESP is too small for 4096-byte sectors: one line.
        let options = PackOptions {
            sector_size: SectorSize::S4096,
            ..PackOptions::default()
        };
        let bad = dir.path().join("small-esp.img");
        let err = pack_with(small_input(), &bad, options, |_, _| Ok(())).unwrap_err();
        assert_eq!(
            err.downcast_ref::<image::LayoutError>(),
            Some(&image::LayoutError::EspTooSmall {
                size: image::MIN_ESP_SIZE,
                sector: SectorSize::S4096
            })
        );
        assert_eq!(err.to_string().lines().count(), 1);
        assert!(!bad.exists());
    }

    #[test]
    fn packed_image_verifies_and_matches_its_superblock() {
        let dir = TempDir::new("pack");
        let input = small_input();
        let (out, packed) = small_image(&dir, "sys.img");
        let raw = fs::read(&out).unwrap();
        let sb = packed.superblock;
        assert_eq!(raw.len() as u64, sb.total_blocks * BLOCK, "file size");
        // Loader's own view: verified, every checksum matching what went in.
        let v = verify_path(&out).unwrap().unwrap();
        assert_eq!(v.superblock, sb);
        assert_eq!(
            v.bytes_hashed,
            input.kernel.len() as u64 + input.binaries.iter().map(|b| b.len() as u64).sum::<u64>()
        );
        assert_eq!(sb.esp_start % 256, 0);
        assert_eq!(sb.esp_blocks, image::MIN_ESP_SIZE / BLOCK);
        assert_eq!(sb.total_blocks - sb.data_start, image::MIB / BLOCK);
        // The kernel at block 1, each binary at its start block.
        assert_eq!(
            &raw[4096..4096 + input.kernel.len()],
            input.kernel.as_slice()
        );
        for (e, bytes) in packed.manifest.entries().zip(&input.binaries) {
            let at = (e.start_block * BLOCK) as usize;
            assert_eq!(&raw[at..at + bytes.len()], bytes.as_slice(), "{}", e.name);
        }
        // MBR: disk signature, one 0xEF entry exactly over the superblock's ESP, 55 AA.
        assert_eq!(&raw[440..444], &sb.image_id[..4]);
        assert_eq!(&raw[444..446], &[0, 0]);
        let entry = &raw[446..462];
        assert_eq!(entry[4], 0xEF);
        let lba = u32::from_le_bytes(entry[8..12].try_into().unwrap());
        let sectors = u32::from_le_bytes(entry[12..16].try_into().unwrap());
        assert_eq!(u64::from(lba), sb.esp_start * 8);
        assert_eq!(u64::from(sectors), sb.esp_blocks * 8);
        assert!(raw[462..510].iter().all(|&b| b == 0));
        assert_eq!(&raw[510..512], &[0x55, 0xAA]);
        // The data region is zero.
        assert!(raw[(sb.data_start * BLOCK) as usize..]
            .iter()
            .all(|&b| b == 0));
        // The manifest is the JSON the packer returned.
        let m = (sb.manifest_start * BLOCK) as usize;
        assert_eq!(&raw[m..m + packed.json.len()], packed.json.as_slice());
        assert_eq!(raw[m + packed.json.len()], 0);
    }

    #[test]
    fn a_one_slot_image_is_laid_out_as_before() {
        let mut input = small_input();
        let plan = plan(&mut input, None).unwrap();
        let mut m = small_input().manifest;
        let mut json = vec![0u8; MAX_MANIFEST_BYTES];
        let regions = Regions {
            esp_blocks: image::MIN_ESP_SIZE / BLOCK,
            data_blocks: image::MIB / BLOCK,
        };
        let placed = place(&mut m, regions, &mut json).unwrap();
        assert_eq!(plan.superblock, placed.superblock);
        assert!(plan.slot_b.is_none() && plan.superblock.slots.is_none());
        assert_eq!(plan.json, json[..placed.manifest_len]);
        let dir = TempDir::new("pack-one-slot");
        let (out, _) = small_image(&dir, "one.img");
        let raw = fs::read(&out).unwrap();
        assert!(raw[224..440].iter().all(|&b| b == 0), "no slot table");
    }

    #[test]
    fn slot_a_points_at_slot_b_which_reads_through_its_window() {
        let dir = TempDir::new("pack-two-slots");
        let (out, packed) = two_slot_image(&dir, "two.img", false);
        let (a, b) = (packed.superblock, packed.slot_b.clone().unwrap());
        let raw = fs::read(&out).unwrap();
        // Slot A's block 0 carries the table; each slot has the same room: the larger system
        // and half again, on a 1 MiB boundary; slot B starts after slot A's.
        let decoded = Superblock::decode(&raw[..BLOCK_SIZE]).unwrap();
        assert_eq!(decoded.slots, Some(b.table));
        let last = packed.manifest.entries().last().unwrap();
        let used = last.start_block + blocks_for(last.size_bytes);
        assert_eq!(binaries_end(&a, &packed.manifest), used);
        assert_eq!(b.table.b_start, (used * 3 / 2).next_multiple_of(256));
        assert_eq!(b.table.b_blocks, b.table.b_start);
        assert_eq!(slot_room(used, used, None).unwrap(), b.table.b_start);
        // The ESP on the next 1 MiB boundary after slot B, the data region after it.
        assert_eq!(a.esp_start, b.table.b_end().next_multiple_of(256));
        assert_eq!(a.data_start, a.esp_start + a.esp_blocks);
        assert_eq!(raw.len() as u64, a.total_blocks * BLOCK);
        // Slot B's block 0: no MBR, no ESP, the disk's data region seen from its window.
        let at = (b.table.b_start * BLOCK) as usize;
        let own = Superblock::decode(&raw[at..at + BLOCK_SIZE]).unwrap();
        assert_eq!(own, b.superblock);
        assert!(raw[at + 440..at + BLOCK_SIZE].iter().all(|&x| x == 0));
        assert_eq!((own.esp_start, own.esp_blocks, own.slots), (0, 0, None));
        assert_eq!(own.data_start + b.table.b_start, a.data_start);
        assert_eq!(own.total_blocks + b.table.b_start, a.total_blocks);
        assert_eq!(own.validate(Some(a.total_blocks - b.table.b_start)), Ok(()));
        // The same system: byte-identical manifests, the same image id.
        assert_eq!(b.json, packed.json);
        assert_eq!(own.image_id, a.image_id);
        let file = File::open(&out).unwrap();
        let mut m = Box::<Manifest>::default();
        let v = verify_window(&file, b.table.b_start, &mut m).unwrap();
        assert_eq!((v.superblock, &*m), (own, &*packed.manifest));
        assert!(verify_path(&out).unwrap().is_ok());
    }

    #[test]
    fn slot_size_sets_each_slots_room_or_is_refused_in_one_line() {
        assert_eq!(slot_room(10, 300, Some(4 * image::MIB)).unwrap(), 1024);
        assert_eq!(slot_room(10, 300, None).unwrap(), 512);
        let err = slot_room(10, 300, Some(image::MIB))
            .unwrap_err()
            .to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("pass --slot-size 2M or more"), "{err}");
        let dir = TempDir::new("pack-slot-size");
        let out = dir.path().join("two.img");
        let options = PackOptions {
            slot_size: Some(2 * image::MIB),
            ..PackOptions::default()
        };
        let packed =
            pack_checked_with(two_slot_input(false), &out, options, |_, _| Ok(())).unwrap();
        let table = packed.slot_b.unwrap().table;
        assert_eq!((table.b_start, table.b_blocks), (512, 512));
        assert_eq!(packed.superblock.esp_start, 1024);
    }

    #[test]
    fn slot_b_may_hold_another_system() {
        let dir = TempDir::new("pack-two-systems");
        let (out, packed) = two_slot_image(&dir, "two.img", true);
        let b = packed.slot_b.unwrap();
        assert_ne!(b.superblock.image_id, packed.superblock.image_id);
        assert_ne!(b.superblock.kernel_blocks, packed.superblock.kernel_blocks);
        let file = File::open(&out).unwrap();
        let v = verify_window(&file, b.table.b_start, &mut Box::default()).unwrap();
        assert_eq!(v.superblock, b.superblock);
        // Slot B's manifest is refused like slot A's, and named.
        let mut input = two_slot_input(true);
        let m = &mut input.slot_b.as_mut().unwrap().manifest;
        let logger = m
            .services
            .iter_mut()
            .find(|e| e.name == "services_logger")
            .unwrap();
        logger
            .depends_on
            .push("cli_console".try_into().unwrap())
            .unwrap();
        let err = pack_checked(input, &dir.path().join("bad.img"), false).unwrap_err();
        assert!(err.to_string().contains("slot B: "), "{err}");
    }

    #[test]
    fn module_image_is_the_disk_image_without_esp_and_data() {
        let dir = TempDir::new("pack-module");
        let input = small_input();
        let (disk, packed) = small_image(&dir, "sys.img");
        let module = module_image(&input.manifest, &input.kernel, &input.binaries, None).unwrap();
        let (msb, dsb) = (module.superblock, packed.superblock);
        // Same manifest bytes, so the same image id: the identity the kernel compares.
        assert_eq!(module.json, packed.json);
        assert_eq!(msb.image_id, dsb.image_id);
        assert_eq!(
            (msb.kernel_blocks, msb.manifest_start, msb.manifest_bytes),
            (dsb.kernel_blocks, dsb.manifest_start, dsb.manifest_bytes)
        );
        // No ESP; the data region right after the last binary, 256 blocks, not in the file.
        assert_eq!((msb.esp_start, msb.esp_blocks), (0, 0));
        let last = packed.manifest.entries().last().unwrap();
        assert_eq!(
            msb.data_start,
            last.start_block + loader::superblock::blocks_for(last.size_bytes)
        );
        assert_eq!(msb.total_blocks, msb.data_start + MODULE_DATA_BLOCKS);
        assert_eq!(module.bytes.len() as u64, msb.data_start * BLOCK);
        assert!(is_module_file(&msb, module.bytes.len() as u64));
        assert!(!is_module_file(&dsb, fs::metadata(&disk).unwrap().len()));
        // Blocks 1..data_start are the disk image's; block 0 has no MBR.
        let raw = fs::read(&disk).unwrap();
        assert_eq!(
            module.bytes[BLOCK_SIZE..],
            raw[BLOCK_SIZE..module.bytes.len()]
        );
        assert!(module.bytes[440..BLOCK_SIZE].iter().all(|&b| b == 0));

        // The loader accepts exactly the module + 256 zero blocks over a MemSource.
        let mut image = module.bytes.clone();
        image.resize(image.len() + 256 * BLOCK_SIZE, 0);
        assert_eq!(module_with_data_region(&module.bytes), image);
        let mut manifest = Box::<Manifest>::default();
        let v = loader::verify_image_into(
            &mut loader::MemSource(&image),
            &mut loader_buffer(),
            &mut (),
            &mut manifest,
        )
        .unwrap();
        assert_eq!(v.superblock, msb);
        assert_eq!(
            *manifest, *packed.manifest,
            "same start blocks as the disk image"
        );
        assert!(verify_module(&module.bytes, &mut manifest).is_ok());
        // Without the data region it is a truncated image.
        assert!(matches!(
            loader::verify_image_into(
                &mut loader::MemSource(&module.bytes),
                &mut loader_buffer(),
                &mut (),
                &mut manifest
            ),
            Err(LoadError::ImageTruncated { .. })
        ));
        // One byte changed inside a service: the loader names it.
        let mut bad = module.bytes.clone();
        let e = packed.manifest.find("services_network").unwrap();
        bad[(e.start_block * BLOCK + 10) as usize] ^= 0xFF;
        let err = verify_module(&bad, &mut manifest).unwrap_err();
        assert!(
            err.to_string().contains("`services_network` at block"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn data_region_is_sparse() {
        use std::os::unix::fs::MetadataExt;
        let dir = TempDir::new("pack-sparse");
        let mut input = small_input();
        input.data_size = 256 * image::MIB;
        let out = dir.path().join("big.img");
        pack(input, &out, false).unwrap();
        let meta = fs::metadata(&out).unwrap();
        assert!(meta.len() > 256 * image::MIB);
        // Allocated bytes stay far below the apparent size (the data region is a hole).
        assert!(
            meta.blocks() * 512 < 64 * image::MIB,
            "{} blocks",
            meta.blocks()
        );
    }

    #[test]
    fn invalid_descriptions_are_refused_and_leave_nothing() {
        let dir = TempDir::new("pack-refuse");
        let mut input = small_input();
        let logger = input
            .manifest
            .services
            .iter_mut()
            .find(|e| e.name == "services_logger")
            .unwrap();
        logger
            .depends_on
            .push("cli_console".try_into().unwrap())
            .unwrap();
        logger
            .capabilities
            .push("port_range:9-1".try_into().unwrap())
            .unwrap();
        let out = dir.path().join("bad.img");
        let err = pack_checked(input, &out, false).unwrap_err().to_string();
        assert!(err.contains("capability \"port_range:9-1\""), "{err}");
        assert!(err.contains("dependency cycle"), "{err}");
        assert_eq!(err.lines().count(), 4, "{err}");
        assert!(!out.exists());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no temp file left"
        );
    }

    #[test]
    fn a_failed_verification_leaves_no_image() {
        let dir = TempDir::new("pack-verify");
        let mut input = small_input();
        // A checksum that does not match its bytes: packing works, re-verification must refuse.
        input.manifest.services[0].checksum = loader::Sha256Digest::of(b"something else");
        let out = dir.path().join("x.img");
        let err = format!("{:#}", pack(input, &out, false).unwrap_err());
        assert!(err.contains("does not verify"), "{err}");
        assert!(err.contains("services_storage"), "{err}");
        assert!(!out.exists());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2gb"), Ok(2 << 30));
        assert_eq!(parse_size("8k"), Ok(8192));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(" 1T "), Ok(1 << 40));
        for bad in [
            "",
            "M",
            "12X",
            "1.5G",
            "-1M",
            "4097",
            "1K",
            "99999999999999999999G",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_size("4097")
            .unwrap_err()
            .contains("multiple of the 4096"));
    }
}
