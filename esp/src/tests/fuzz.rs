//! Damaged ESPs: random byte changes in the boot sector, the FATs and the directories of a
//! small image never make `open` or `install` panic; each returns Ok or a named error.

use super::install::update_b;
use super::*;

/// A small FAT16 and a small FAT32 ESP with the boot files.
fn small_images() -> Vec<(Disk, Vec<(u64, u64)>)> {
    let files = BootFiles::new(noise(1, 3000), noise(2, 5000), noise(3, 2000));
    let layouts = [
        Layout {
            size: 8 * MIB,
            fat: FatType::Fat16,
            sector: 512,
        },
        Layout {
            size: 40 * MIB,
            fat: FatType::Fat32,
            sector: 512,
        },
    ];
    layouts
        .into_iter()
        .map(|layout| {
            let disk = build(layout, &files.in_order());
            let spans = metadata(&disk);
            (disk, spans)
        })
        .collect()
}

/// Byte ranges holding metadata: the boot sector (and FSInfo), the start of each FAT, the
/// FAT16 root directory, the start of the data area (the directories come first).
fn metadata(disk: &Disk) -> Vec<(u64, u64)> {
    let mut b = [0u8; BLOCK];
    disk.fresh_copy().read_exact(&mut b).unwrap();
    let word = |at: usize| u64::from(u16::from_le_bytes([b[at], b[at + 1]]));
    let (sector, reserved, fats, root) = (word(11), word(14), u64::from(b[16]), word(17));
    let fat_sectors = match word(22) {
        0 => u64::from(u32::from_le_bytes([b[36], b[37], b[38], b[39]])),
        n => n,
    };
    let fat_start = reserved * sector;
    let root_start = fat_start + fats * fat_sectors * sector;
    let data = root_start + (root * 32).div_ceil(sector) * sector;
    let mut spans = vec![(0, 512), (sector, sector + 512)];
    for k in 0..fats {
        let at = fat_start + k * fat_sectors * sector;
        spans.push((at, at + 1024));
    }
    spans.push((root_start, root_start + 1024));
    spans.push((data, data + 24 * 1024));
    spans
}

#[test]
fn damaged_images_give_named_errors_not_panics() {
    let update = update_b(noise(80, 4000));
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x >> 8
    };
    let (mut ok, mut errors) = (0, 0);
    for (base, spans) in small_images() {
        for _ in 0..1500 {
            let mut disk = base.fresh_copy();
            for _ in 0..1 + next() % 4 {
                let (start, end) = spans[(next() % spans.len() as u64) as usize];
                let at = start + next() % (end - start);
                disk.seek(SeekFrom::Start(at)).unwrap();
                disk.write_all(&[next() as u8]).unwrap();
            }
            disk.seek(SeekFrom::Start(0)).unwrap();
            match update.run(disk).0 {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    errors += 1;
                }
            }
        }
    }
    eprintln!("damaged images: {ok} installed, {errors} named errors");
    assert!(ok > 0 && errors > 0, "{ok} installed, {errors} refused");
}
