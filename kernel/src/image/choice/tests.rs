use super::*;
use alloc::boxed::Box;
use alloc::vec;
use drivers::block::{BlockError, RamDisk};
use loader::manifest::MAX_MANIFEST_BYTES;
use loader::superblock::{BLOCK_SIZE, FORMAT_VERSION};

const A: ImageId = [0xaa; 16];
const B: ImageId = [0xbb; 16];

/// Block 0 of an image with id `id`; `damaged` changes a field without re-sealing the checksum.
fn block0(id: ImageId, damaged: bool) -> [u8; BLOCK_SIZE] {
    let mut block = Superblock {
        format_version: FORMAT_VERSION,
        kernel_blocks: 1,
        kernel_start: 1,
        manifest_start: 2,
        data_start: 3,
        total_blocks: 4,
        image_id: id,
        manifest_bytes: 10,
        ..Superblock::default()
    }
    .encode();
    if damaged {
        block[40] ^= 1;
    }
    block
}

fn disk(block: [u8; BLOCK_SIZE]) -> RamDisk<Vec<u8>> {
    let mut bytes = vec![0u8; 4 * BLOCK_SIZE];
    bytes[..BLOCK_SIZE].copy_from_slice(&block);
    RamDisk::new(bytes, 512).unwrap()
}

fn image(id: ImageId) -> RamDisk<Vec<u8>> {
    disk(block0(id, false))
}

fn damaged(id: ImageId) -> RamDisk<Vec<u8>> {
    disk(block0(id, true))
}

fn blank() -> RamDisk<Vec<u8>> {
    disk([0; BLOCK_SIZE])
}

fn module(id: ImageId) -> Module {
    Module::of(Some(&block0(id, false)))
}

/// Surveys `disks` against `module` and chooses.
fn pick(disks: &mut [RamDisk<Vec<u8>>], module: Module) -> (Vec<Verdict>, Option<Source>) {
    let mut block = vec![0u8; BLOCK_SIZE];
    let devices = disks.iter_mut().map(|d| d as &mut dyn BlockDevice);
    let verdicts = survey(devices, module, &mut block);
    let source = choose(&verdicts, module);
    (verdicts, source)
}

#[test]
fn a_damaged_disk_is_passed_over_for_the_module() {
    let (verdicts, source) = pick(&mut [damaged(A)], module(A));
    assert_eq!(
        verdicts,
        [Verdict::PassedOver(LoadError::SuperblockChecksumMismatch)]
    );
    assert_eq!(source, Some(Source::Module));
}

#[test]
fn a_disk_with_the_modules_image_wins_over_the_module() {
    assert_eq!(pick(&mut [image(A)], module(A)).1, Some(Source::Disk(0)));
    // Also after a damaged disk and one with another image.
    let (verdicts, source) = pick(&mut [damaged(A), image(B), image(A)], module(A));
    assert_eq!(verdicts[1], Verdict::OtherImage(B));
    assert_eq!(verdicts[2], Verdict::Candidate);
    assert_eq!(source, Some(Source::Disk(2)));
}

#[test]
fn without_a_module_a_damaged_disk_is_chosen_and_its_error_is_the_boots() {
    let mut disks = [blank(), damaged(A)];
    let (verdicts, source) = pick(&mut disks, Module::Absent);
    assert_eq!(verdicts, [Verdict::NoImage, Verdict::Candidate]);
    assert_eq!(source, Some(Source::Disk(1)));
    // Verifying the chosen disk fails with its superblock's error.
    let mut src = DiskSource::new(&mut disks[1]).unwrap();
    let mut buf: Box<[u8; MAX_MANIFEST_BYTES]> = Box::new([0; MAX_MANIFEST_BYTES]);
    let err = loader::verify::verify_image(&mut src, &mut buf, &mut ()).unwrap_err();
    assert_eq!(err, LoadError::SuperblockChecksumMismatch);
}

#[test]
fn an_undecodable_module_still_takes_precedence_over_a_damaged_disk() {
    let module = Module::of(Some(&block0(A, true)));
    assert_eq!(module, Module::Undecodable);
    assert_eq!(pick(&mut [damaged(A)], module).1, Some(Source::Module));
    // A disk with a valid image is used: there is no module id to compare it with.
    assert_eq!(pick(&mut [image(B)], module).1, Some(Source::Disk(0)));
}

#[test]
fn no_image_anywhere() {
    let (verdicts, source) = pick(&mut [blank()], Module::Absent);
    assert_eq!(verdicts, [Verdict::NoImage]);
    assert_eq!(source, None);
    assert_eq!(pick(&mut [], Module::Absent).1, None);
    assert_eq!(pick(&mut [], module(A)).1, Some(Source::Module));
}

#[test]
fn module_identity() {
    assert_eq!(Module::of(None), Module::Absent);
    assert_eq!(Module::of(Some(&[0u8; 100])), Module::Undecodable);
    assert_eq!(module(B), Module::Image(B));
}

/// A device with an unusable sector size.
struct Odd;

impl BlockDevice for Odd {
    fn block_size(&self) -> usize {
        520
    }
    fn num_blocks(&self) -> u64 {
        16
    }
    fn read_blocks(&mut self, _lba: u64, _buf: &mut [u8]) -> Result<(), BlockError> {
        Ok(())
    }
}

#[test]
fn an_unreadable_disk_is_no_candidate() {
    let mut block = vec![0u8; BLOCK_SIZE];
    let mut odd = Odd;
    let mut good = image(A);
    let devices: [&mut dyn BlockDevice; 2] = [&mut odd, &mut good];
    let verdicts = survey(devices.into_iter(), Module::Absent, &mut block);
    assert_eq!(
        verdicts[0],
        Verdict::Unreadable(SourceError::UnsupportedSectorSize(520))
    );
    assert_eq!(choose(&verdicts, Module::Absent), Some(Source::Disk(1)));
}
