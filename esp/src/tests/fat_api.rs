//! `Fat` on its own: finding, reading, allocating, switching, freeing, collecting.

use super::*;
use crate::fat::{FatError, Kind};

fn small() -> (Disk, BootFiles) {
    let files = BootFiles::new(noise(1, 70_000), noise(2, 90_000), noise(3, 50_000));
    (build(FAT16_512, &files.in_order()), files)
}

#[test]
fn every_layout_opens_with_its_kind() {
    for layout in LAYOUTS {
        let files = BootFiles::new(noise(1, 5000), noise(2, 9000), noise(3, 3000));
        let disk = build(layout, &files.in_order());
        let fat = Fat::open(disk).unwrap();
        let kind = if layout.fat == FatType::Fat16 {
            Kind::Fat16
        } else {
            Kind::Fat32
        };
        assert_eq!(
            (fat.kind(), fat.sector_bytes()),
            (kind, u32::from(layout.sector))
        );
    }
}

#[test]
fn find_is_case_insensitive_and_reads_long_names() {
    let (disk, files) = small();
    let mut fat = Fat::open(disk).unwrap();
    for (path, data) in files.in_order() {
        for p in [path.to_string(), path.to_uppercase(), path.to_lowercase()] {
            let f = fat.find(&p).unwrap();
            assert_eq!(f.size() as usize, data.len(), "{p}");
            let mut buf = vec![0; data.len() + 10];
            assert_eq!(fat.read(&f, 0, &mut buf).unwrap(), data.len());
            assert_eq!(&buf[..data.len()], data);
            let mut part = vec![0; 3000];
            let n = fat.read(&f, 2047, &mut part).unwrap();
            let want = data.get(2047..).unwrap_or_default();
            assert_eq!(&part[..n], &want[..want.len().min(3000)]);
        }
    }
    assert_eq!(fat.find("/boot/nothing"), Err(FatError::NotFound));
    assert_eq!(fat.find("/boot"), Err(FatError::WrongKind));
    assert_eq!(
        fat.find("/EFI/BOOT/limine.conf/x"),
        Err(FatError::WrongKind)
    );
}

#[test]
fn fat12_is_refused_by_name() {
    let mut disk = Disk::new(4 * MIB);
    let options = FormatVolumeOptions::new().fat_type(FatType::Fat12);
    fatfs::format_volume(&mut disk, options).unwrap();
    let err = Fat::open(disk).err().unwrap();
    assert!(matches!(err, FatError::Fat12 { .. }), "{err:?}");
    assert!(err.to_string().contains("FAT12"));
}

#[test]
fn a_new_file_switched_in_replaces_the_old_and_the_old_chain_is_freed() {
    let (disk, _) = small();
    let free_before = free_clusters(&disk);
    let mut fat = Fat::open(disk).unwrap();
    let old = fat.find(files::KERNEL_B).unwrap();
    let data = noise(9, 123_457);
    let mut new = fat.allocate(data.len() as u64).unwrap();
    for piece in data.chunks(10_000) {
        fat.write(&mut new, piece).unwrap();
    }
    assert!(matches!(
        fat.write(&mut new, b"x"),
        Err(FatError::WrongLength { .. })
    ));
    fat.switch(&[(&old, &new)]).unwrap();
    assert_eq!(
        fat.count_lost().unwrap(),
        old.size().div_ceil(fat.cluster_bytes())
    );
    fat.free_chain(old.first_cluster()).unwrap();
    fat.flush().unwrap();
    let disk = fat.into_inner();
    assert_eq!(fatfs_read(&disk, files::KERNEL_B), data);
    let grown = (123_457u32.div_ceil(2048) as i64) - (50_000u32.div_ceil(2048) as i64);
    assert_eq!(
        i64::from(free_clusters(&disk)),
        i64::from(free_before) - grown
    );
}

#[test]
fn lost_chains_are_collected_and_incomplete_files_not_switched() {
    let (disk, _) = small();
    let free_before = free_clusters(&disk);
    let mut fat = Fat::open(disk).unwrap();
    let old = fat.find(files::KERNEL_A).unwrap();
    let new = fat.allocate(100_000).unwrap();
    let err = fat.switch(&[(&old, &new)]).unwrap_err();
    assert!(matches!(
        err,
        FatError::WrongLength {
            len: 100_000,
            written: 0
        }
    ));
    fat.flush().unwrap();
    let mut fat = Fat::open(fat.into_inner()).unwrap();
    assert_eq!(fat.collect_lost().unwrap(), 100_000u32.div_ceil(2048));
    fat.flush().unwrap();
    assert_eq!(free_clusters(&fat.into_inner()), free_before);
}

#[test]
fn entries_in_different_sectors_are_not_switched() {
    let (disk, _) = small();
    let mut fat = Fat::open(disk).unwrap();
    let a = fat.find(files::KERNEL_A).unwrap();
    let conf = fat.find(files::CONF).unwrap();
    let (mut na, mut nc) = (fat.allocate(1).unwrap(), fat.allocate(1).unwrap());
    fat.write(&mut na, b"a").unwrap();
    fat.write(&mut nc, b"c").unwrap();
    let writes = fat.device().writes;
    assert_eq!(
        fat.switch(&[(&a, &na), (&conf, &nc)]),
        Err(FatError::NotOneSector)
    );
    assert_eq!(fat.device().writes, writes, "nothing written");
}

#[test]
fn no_space_is_named_and_takes_nothing() {
    let (disk, _) = small();
    let mut fat = Fat::open(disk).unwrap();
    let free = fat.free_clusters();
    let err = fat.allocate(64 * MIB).unwrap_err();
    assert!(matches!(err, FatError::NoSpace { free: f, .. } if f == free));
    assert_eq!(fat.free_clusters(), free);
    assert!(matches!(
        fat.allocate(5 << 30),
        Err(FatError::TooLong { .. })
    ));
}

#[test]
fn the_packer_order_puts_both_entries_in_the_directory_s_first_sector() {
    for layout in LAYOUTS {
        let files = BootFiles::new(noise(1, 5000), noise(2, 9000), noise(3, 3000));
        let mut fat = Fat::open(build(layout, &files.in_order())).unwrap();
        let efi = fat.find(files::BOOT_EFI).unwrap();
        let conf = fat.find(files::CONF).unwrap();
        assert!(fat.same_sector(&[&efi, &conf]), "{layout:?}");
        // fatfs gives every entry a long name, `.` and `..` included: entries 0..4 are theirs,
        // then BOOTX64.EFI (its short entry is 5), then limine.conf (7).
        assert_eq!(efi.entry_offset() % 512, 5 * 32, "{layout:?}");
        assert_eq!(
            conf.entry_offset() - efi.entry_offset(),
            2 * 32,
            "{layout:?}"
        );
    }
}

#[test]
fn fat32_fsinfo_hints_become_unknown_when_allocation_changes() {
    let files = BootFiles::new(noise(1, 5000), noise(2, 9000), noise(3, 3000));
    let disk = build(FAT32_512, &files.in_order());
    let fsinfo = |d: &Disk| {
        let mut sector = [0u8; 512];
        let mut d = d.fresh_copy();
        d.seek(SeekFrom::Start(512)).unwrap();
        d.read_exact(&mut sector).unwrap();
        sector
    };
    assert_eq!(&fsinfo(&disk)[..4], b"RRaA", "FSInfo is sector 1");
    let mut fat = Fat::open(disk).unwrap();
    assert_eq!(fat.collect_lost().unwrap(), 0);
    fat.flush().unwrap();
    assert_ne!(
        fsinfo(fat.device())[488..496],
        [0xFF; 8],
        "nothing changed: kept"
    );
    let new = fat.allocate(10_000).unwrap();
    fat.flush().unwrap();
    assert_eq!(fsinfo(fat.device())[488..496], [0xFF; 8]);
    fat.discard(new).unwrap();
    fat.flush().unwrap();
    let disk = fat.into_inner();
    assert_eq!(
        free_clusters(&build(FAT32_512, &files.in_order())),
        free_clusters(&disk)
    );
}

#[test]
fn an_empty_device_is_an_error() {
    assert!(matches!(
        Fat::open(Disk::new(0)),
        Err(FatError::PastDevice { .. })
    ));
}

/// Sets FAT16 entry `cluster` to `value` in the first FAT of a FAT16_512 image.
fn set_fat16(disk: &mut Disk, cluster: u32, value: u16) {
    let mut bpb = [0u8; 512];
    disk.seek(SeekFrom::Start(0)).unwrap();
    disk.read_exact(&mut bpb).unwrap();
    let reserved = u64::from(u16::from_le_bytes([bpb[14], bpb[15]]));
    disk.seek(SeekFrom::Start(reserved * 512 + 2 * u64::from(cluster)))
        .unwrap();
    disk.write_all(&value.to_le_bytes()).unwrap();
}

#[test]
fn loops_and_cross_links_are_named() {
    let (mut disk, _) = small();
    let mut fat = Fat::open(disk.fresh_copy()).unwrap();
    let b = fat.find(files::KERNEL_B).unwrap();
    let a = fat.find(files::KERNEL_A).unwrap();
    let last_b = b.first_cluster() + b.size().div_ceil(2048) - 1;
    // The chain's last cluster points back to its first.
    set_fat16(&mut disk, last_b, b.first_cluster() as u16);
    let mut fat = Fat::open(disk.fresh_copy()).unwrap();
    let err = fat.find(files::KERNEL_B).unwrap_err();
    assert_eq!(
        err,
        FatError::ChainLoop {
            first: b.first_cluster()
        }
    );
    assert_eq!(fat.collect_lost(), Err(err));
    // Slot B's chain runs into slot A's.
    set_fat16(&mut disk, last_b, a.first_cluster() as u16);
    let mut fat = Fat::open(disk.fresh_copy()).unwrap();
    let err = fat.count_lost().unwrap_err();
    assert!(matches!(err, FatError::CrossLinked { .. }), "{err:?}");
    // A chain that ends early.
    set_fat16(&mut disk, b.first_cluster(), 0xFFFF);
    let mut fat = Fat::open(disk.fresh_copy()).unwrap();
    let err = fat.find(files::KERNEL_B).unwrap_err();
    assert!(matches!(err, FatError::ChainTooShort { .. }), "{err:?}");
    // A cluster number past the volume.
    set_fat16(&mut disk, b.first_cluster(), 0xFFF0);
    let mut fat = Fat::open(disk).unwrap();
    let err = fat.find(files::KERNEL_B).unwrap_err();
    assert!(
        matches!(err, FatError::BadCluster { value: 0xFFF0, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains('\n'));
}
