//! From a verified image to running components: read every binary off the image disk (and
//! check it again against the manifest), hand the disk's user-data region to the process core,
//! name the network devices, and run the supervisor's start sequence.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use drivers::pci::PciDevice;
use loader::manifest::Manifest;
use loader::sha256::Sha256Digest;
use loader::superblock::BLOCK_SIZE;
use loader::verify::BlockSource;

use crate::caps::Machine;
use crate::devices::Disk;
use crate::image::source::DiskSource;
use crate::image::VerifiedBoot;
use crate::{process, supervisor};

/// A binary read from the image, by entry name.
pub struct Binary {
    pub name: String,
    pub bytes: Result<Vec<u8>, String>,
}

/// Reads every service and component binary from `disk`. Each is hashed again: the image was
/// verified moments ago, but what runs must be what was verified, not what the disk says now.
pub fn read_binaries(disk: &mut Disk, manifest: &Manifest) -> Vec<Binary> {
    let mut out = Vec::new();
    let mut source = match DiskSource::new(&mut *disk.device) {
        Ok(s) => Some(s),
        Err(e) => {
            log::error!("disk {}: {e}", disk.location);
            None
        }
    };
    for entry in manifest.entries() {
        let bytes = match source.as_mut() {
            None => Err(String::from("the image disk cannot be read")),
            Some(src) => {
                let size = entry.size_bytes as usize;
                let mut bytes = vec![0u8; size.next_multiple_of(BLOCK_SIZE)];
                match src.read_blocks(entry.start_block, &mut bytes) {
                    Err(e) => Err(alloc::format!("reading block {}: {e}", entry.start_block)),
                    Ok(()) => {
                        bytes.truncate(size);
                        if Sha256Digest::of(&bytes) == entry.checksum {
                            Ok(bytes)
                        } else {
                            Err(alloc::format!(
                                "its blocks changed since verification (SHA-256 mismatch at block {})",
                                entry.start_block
                            ))
                        }
                    }
                }
            }
        };
        out.push(Binary {
            name: String::from(entry.name.as_str()),
            bytes,
        });
    }
    out
}

/// Network interfaces by PCI order (`eth0`, `eth1`, …): what `network_device:<name>` names.
pub fn network_devices(pci: &[PciDevice]) -> Vec<String> {
    pci.iter()
        .filter(|d| d.class == 0x02)
        .enumerate()
        .map(|(i, d)| {
            let name = alloc::format!("eth{i}");
            log::info!("network device {name}: {d}");
            name
        })
        .collect()
}

/// Starts the processes: the process core, the user-data region (taken from the image disk),
/// and the supervisor's start sequence. Returns whether the sequence ran (it always does once
/// the process core is up; the table says how each entry fared).
pub fn start_components(
    disk: Disk,
    verified: &VerifiedBoot,
    binaries: Vec<Binary>,
    network: Vec<String>,
) -> bool {
    if let Err(e) = process::init() {
        log::error!("the process core could not start: {e}");
        return false;
    }
    let user_data = match process::user_data_from_disk(disk.device, &verified.superblock) {
        Ok(region) => {
            process::set_user_data(region);
            true
        }
        Err(e) => {
            log::warn!("no user-data region for the components: {e}");
            false
        }
    };
    let machine = Machine {
        user_data,
        console: true,
        network_devices: network,
    };
    let mut binaries = binaries;
    let outcome =
        supervisor::run_start_sequence(&verified.manifest, &machine, &mut |entry| match binaries
            .iter_mut()
            .find(|b| b.name == entry.name.as_str())
        {
            Some(b) => core::mem::replace(&mut b.bytes, Err(String::from("already started"))),
            None => Err(String::from("not in the image")),
        });
    log::info!("{}", outcome.summary());
    true
}
