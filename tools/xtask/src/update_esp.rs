//! The ESP's side of a slot update (docs/image-format.md, "The ESP's files"): the updated
//! slot's kernel file (and slot A's module), limine.conf with their BLAKE2b-512 pins changed,
//! and the boot loader with the new config's hash enrolled.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

use anyhow::{Context, Result};
use bootslots::meta::Slot;
use loader::Superblock;

use crate::image::{self, DiskLayout, SectorSize};
use crate::limine_conf::{
    blake2b512, CONF_ESP_PATH, KERNEL_B_ESP_PATH, KERNEL_ESP_PATH, MODULE_ESP_PATH,
};
use crate::pack::BLOCK;
use crate::system_image::BOOT_EFI_ESP_PATH;

/// The ESP of the disk `disk`, as its FAT boot sector says it is laid out.
pub fn esp_layout(file: &File, disk: &Superblock) -> Result<DiskLayout> {
    let mut boot = [0u8; 512];
    file.read_exact_at(&mut boot, disk.esp_start * BLOCK)?;
    let sector_size = SectorSize::of_boot_sector(&boot)
        .context("the ESP's boot sector names no supported sector size")?;
    let esp_size = disk.esp_blocks * BLOCK;
    Ok(DiskLayout {
        esp_start: disk.esp_start * BLOCK,
        esp_size,
        data_start: disk.data_start * BLOCK,
        data_size: (disk.total_blocks - disk.data_start) * BLOCK,
        total_size: disk.total_blocks * BLOCK,
        fat_type: image::fat_type_for(esp_size),
        sector_size,
    })
}

/// The module image of a slot whose bytes (block 0 to its last binary) are `slot` and whose
/// block 0 is `sb`: the same bytes behind a module's block 0 (no ESP, no MBR, no slot table,
/// a [`MODULE_DATA_BLOCKS`] data region right after the last binary), as `pack::module_image`
/// writes it.
pub fn module_of(slot: &[u8], sb: &Superblock) -> Vec<u8> {
    let module = loader::slots::module_superblock(sb, slot.len() as u64 / BLOCK);
    let mut bytes = slot.to_vec();
    bytes[..loader::BLOCK_SIZE].copy_from_slice(&module.encode());
    bytes
}

/// Writes `slot`'s kernel (and slot A's `module`) onto the ESP of the image file, re-pins them
/// in limine.conf and enrolls the new config's hash into the boot loader.
pub fn refresh(
    file: &File,
    disk: &Superblock,
    slot: Slot,
    kernel: &[u8],
    module: Option<&[u8]>,
) -> Result<()> {
    let layout = esp_layout(file, disk)?;
    let fat = image::open_esp(file, &layout).context("opening the ESP")?;
    let root = fat.root_dir();
    let read = |path: &str| -> Result<Vec<u8>> {
        let mut data = Vec::new();
        root.open_file(path.trim_start_matches('/'))
            .with_context(|| format!("{path} on the ESP"))?
            .read_to_end(&mut data)?;
        Ok(data)
    };
    let kernel_path = match slot {
        Slot::A => KERNEL_ESP_PATH,
        Slot::B => KERNEL_B_ESP_PATH,
    };
    let mut files: Vec<(&'static str, Vec<u8>)> = vec![(kernel_path, kernel.to_vec())];
    if let Some(module) = module {
        files.push((MODULE_ESP_PATH, module.to_vec()));
    }
    let conf = String::from_utf8(read(CONF_ESP_PATH)?).context("limine.conf is not UTF-8")?;
    let pins: Vec<(&'static str, [u8; 64])> =
        files.iter().map(|(p, d)| (*p, blake2b512(d))).collect();
    let conf = bootproto::config::repin(&conf, &pins)?;
    let mut efi = read(BOOT_EFI_ESP_PATH)?;
    bootproto::enroll::enroll(&mut efi, conf.as_bytes())
        .context("enrolling limine.conf's hash into the boot loader")?;
    files.push((CONF_ESP_PATH, conf.into_bytes()));
    files.push((BOOT_EFI_ESP_PATH, efi));
    for (path, data) in &files {
        let mut f = root
            .create_file(path.trim_start_matches('/'))
            .with_context(|| format!("writing {path} on the ESP"))?;
        f.truncate()?;
        f.write_all(data)
            .with_context(|| format!("writing {path} on the ESP (is the ESP full?)"))?;
        f.flush()?;
    }
    drop(root);
    fat.unmount().context("closing the ESP")?;
    Ok(())
}
