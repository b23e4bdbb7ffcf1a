//! `install` end to end: slot B, slot A with a module, unchanged files, refused ESPs.

use super::*;
use crate::install::{install, InstallError, Module, Outcome, Request, Target};

/// A slot holding `kernel` at byte 8192 (and, for slot A, the module: the slot's bytes
/// `0..module_len` with block 0 replaced).
pub struct Update {
    pub slot: Vec<u8>,
    pub req: Request,
    pub kernel: Vec<u8>,
    pub module: Option<Vec<u8>>,
}

pub const KERNEL_AT: usize = 8192;

pub fn update_b(kernel: Vec<u8>) -> Update {
    let mut slot = noise(40, KERNEL_AT);
    slot.extend_from_slice(&kernel);
    slot.extend(noise(41, 5000));
    let req = Request {
        target: Target::B,
        kernel_offset: KERNEL_AT as u64,
        kernel_len: kernel.len() as u64,
        module: None,
    };
    Update {
        slot,
        req,
        kernel,
        module: None,
    }
}

pub fn update_a(kernel: Vec<u8>, tail: usize) -> Update {
    let mut slot = noise(50, KERNEL_AT);
    slot.extend_from_slice(&kernel);
    slot.extend(noise(51, tail));
    let block0: [u8; BLOCK] = noise(52, BLOCK).try_into().unwrap();
    let mut module = slot.clone();
    module[..BLOCK].copy_from_slice(&block0);
    let req = Request {
        target: Target::A,
        kernel_offset: KERNEL_AT as u64,
        kernel_len: kernel.len() as u64,
        module: Some(Module {
            len: slot.len() as u64,
            block0,
        }),
    };
    Update {
        slot,
        req,
        kernel,
        module: Some(module),
    }
}

impl Update {
    /// The boot files once this update is installed over `old`.
    pub fn expected(&self, old: &BootFiles) -> BootFiles {
        match self.req.target {
            Target::B => BootFiles::new(
                old.kernel_a.clone(),
                old.module.clone(),
                self.kernel.clone(),
            ),
            Target::A => BootFiles::new(
                self.kernel.clone(),
                self.module.clone().unwrap(),
                old.kernel_b.clone(),
            ),
        }
    }

    pub fn run(&self, disk: Disk) -> (Result<Outcome, InstallError>, Disk) {
        let mut fat = match Fat::open(disk.clone()) {
            Ok(fat) => fat,
            Err(e) => return (Err(InstallError::Fat(e)), disk),
        };
        let r = install(&mut fat, &mut SlotMem(self.slot.clone()), &self.req);
        (r, fat.into_inner())
    }
}

pub fn old_files() -> BootFiles {
    BootFiles::new(noise(1, 300_001), noise(2, 420_000), noise(3, 250_000))
}

/// Checks the installed ESP against the files expected and a fresh image of them.
pub fn check_installed(layout: Layout, disk: &Disk, expected: &BootFiles) {
    let got = read_back(disk);
    assert_eq!(
        got.conf,
        expected.conf,
        "{}",
        String::from_utf8_lossy(&got.conf)
    );
    assert!(
        got == *expected,
        "the files read back are the expected ones"
    );
    assert!(consistent(&got));
    let fresh = build(layout, &expected.in_order());
    assert_eq!(free_clusters(disk), free_clusters(&fresh), "nothing leaked");
}

#[test]
fn slot_b_then_slot_a_install_on_every_layout() {
    for layout in LAYOUTS {
        let old = old_files();
        let disk = build(layout, &old.in_order());
        let b = update_b(noise(60, 333_333));
        let (r, disk) = b.run(disk);
        let Outcome::Installed {
            files,
            bytes_written,
            lost_collected,
        } = r.unwrap()
        else {
            panic!("{layout:?}: installed expected")
        };
        let mid = b.expected(&old);
        assert_eq!((files, lost_collected), (3, 0), "{layout:?}");
        let conf_efi = (mid.conf.len() + mid.efi.len()) as u64;
        assert_eq!(bytes_written, 333_333 + conf_efi);
        check_installed(layout, &disk, &mid);

        let a = update_a(noise(61, 280_000), 200_000);
        let (r, disk) = a.run(disk);
        assert!(
            matches!(r, Ok(Outcome::Installed { files: 4, .. })),
            "{r:?}"
        );
        check_installed(layout, &disk, &a.expected(&mid));
    }
}

#[test]
fn the_same_files_write_nothing() {
    let old = old_files();
    let disk = build(FAT16_512, &old.in_order());
    let b = update_b(old.kernel_b.clone());
    let (r, disk) = b.run(disk);
    assert_eq!(r, Ok(Outcome::Unchanged));
    assert_eq!((disk.writes, disk.flushes), (0, 0));

    // A changed module alone is one file more, with the conf and the boot loader.
    let a = update_a(old.kernel_a.clone(), 100_000);
    let (r, disk) = a.run(disk);
    assert!(
        matches!(r, Ok(Outcome::Installed { files: 3, .. })),
        "{r:?}"
    );
    let (r, disk) = a.run(disk.fresh_copy());
    assert_eq!(r, Ok(Outcome::Unchanged));
    assert_eq!(disk.writes, 0);
}

#[test]
fn entries_in_two_sectors_are_refused_before_any_write() {
    let old = old_files();
    let mut order: Vec<(String, Vec<u8>)> = vec![(files::BOOT_EFI.into(), old.efi.clone())];
    for i in 0..40 {
        order.push((format!("/EFI/BOOT/filler-{i:02}.txt"), vec![b'x'; 10]));
    }
    order.extend(
        old.in_order()[1..]
            .iter()
            .map(|(p, d)| (p.to_string(), d.to_vec())),
    );
    let list: Vec<(&str, &[u8])> = order
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let disk = build(FAT16_512, &list);
    let (r, disk) = update_b(noise(60, 1000)).run(disk);
    assert_eq!(r, Err(InstallError::NotOneSector));
    assert_eq!(disk.writes, 0);
    assert!(r.unwrap_err().to_string().contains("different sectors"));
}

#[test]
fn a_boot_loader_enrolling_another_conf_is_refused_before_any_write() {
    let mut old = old_files();
    enroll::enroll(&mut old.efi, b"another conf").unwrap();
    let disk = build(FAT32_512, &old.in_order());
    let (r, disk) = update_b(noise(60, 1000)).run(disk);
    assert_eq!(r, Err(InstallError::Inconsistent));
    assert_eq!(disk.writes, 0);
}

#[test]
fn a_boot_loader_without_an_enrolled_hash_stays_as_it_is() {
    let mut old = old_files();
    enroll::reset(&mut old.efi).unwrap();
    let disk = build(FAT16_4096, &old.in_order());
    let b = update_b(noise(60, 77_777));
    let (r, disk) = b.run(disk);
    assert!(
        matches!(r, Ok(Outcome::Installed { files: 2, .. })),
        "{r:?}"
    );
    let got = read_back(&disk);
    assert_eq!(got.efi, old.efi);
    assert_eq!(got.conf, b.expected(&old).conf);
    assert_eq!(got.kernel_b, b.kernel);
}

#[test]
fn a_full_esp_is_named_before_any_switch() {
    let old = old_files();
    let disk = build(FAT16_512, &old.in_order());
    let free = free_clusters(&disk);
    let (r, disk) = update_b(noise(60, 70 * MIB as usize)).run(disk);
    assert!(
        matches!(
            r,
            Err(InstallError::Fat(crate::fat::FatError::NoSpace { .. }))
        ),
        "{r:?}"
    );
    assert_eq!(read_back(&disk), old);
    assert_eq!(free_clusters(&disk), free);
}

#[test]
fn a_module_for_slot_b_and_a_short_slot_are_named() {
    let old = old_files();
    let disk = build(FAT16_512, &old.in_order());
    let mut b = update_b(noise(60, 1000));
    b.req.module = Some(Module {
        len: 10,
        block0: [0; BLOCK],
    });
    assert_eq!(b.run(disk.clone()).0, Err(InstallError::ModuleForB));
    let mut b = update_b(noise(60, 1000));
    b.req.kernel_len = 1 << 20;
    let (r, disk) = b.run(disk);
    assert!(matches!(r, Err(InstallError::Source { .. })), "{r:?}");
    assert_eq!(disk.writes, 0);
}

/// A slot whose bytes change after the first read.
struct Flaky {
    slot: SlotMem,
    reads: usize,
}

impl SlotBytes for Flaky {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.reads += 1;
        self.slot.read(offset, buf)?;
        if self.reads > 6 {
            buf[0] ^= 1;
        }
        Ok(())
    }
}

#[test]
fn a_slot_changing_between_the_passes_is_named_and_nothing_is_switched() {
    let old = old_files();
    let disk = build(FAT16_512, &old.in_order());
    let free = free_clusters(&disk);
    let b = update_b(noise(60, 300_000));
    let mut fat = Fat::open(disk).unwrap();
    let mut src = Flaky {
        slot: SlotMem(b.slot.clone()),
        reads: 0,
    };
    let r = install(&mut fat, &mut src, &b.req);
    let path = files::KERNEL_B;
    assert_eq!(r, Err(InstallError::SourceChanged { path }));
    let disk = fat.into_inner();
    assert_eq!(read_back(&disk), old);
    assert_eq!(free_clusters(&disk), free);
}
