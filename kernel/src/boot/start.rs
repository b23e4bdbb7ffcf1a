//! From a verified image to running components: read every binary off the image disk (and
//! check it again against the manifest), hand the disk's user-data region to the process core,
//! hand the network devices to the process core, and run the supervisor's start sequence.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use loader::manifest::Manifest;
use loader::sha256::Sha256Digest;
use loader::superblock::BLOCK_SIZE;
use loader::verify::BlockSource;

use bootlog::msg::{FRAMES_AFTER_ALL_ENDED, FRAMES_BEFORE_START, VBOOT_COMMITTED_START};

use crate::caps::Machine;
use crate::devices::net::NetProbe;
use crate::devices::Disk;
use crate::image::source::DiskSource;
use crate::image::VerifiedBoot;
use crate::supervisor::{LoadError, Outcome};
use crate::sysinfo::SYSINFO;
use crate::{process, supervisor};

/// Hands what the start sequence did to [`crate::sysinfo`] for the SERVICES and
/// COMPONENT_CAPS calls: each entry's capability record (empty when it was granted nothing:
/// refused, skipped, not started) and the live state table, which keeps `outcome`.
fn publish_outcome(outcome: Outcome) {
    SYSINFO.set_component_caps(
        outcome
            .records
            .iter()
            .map(|r| {
                let record = r.grants.as_ref().map(|g| g.caps_record());
                (r.name.clone(), record.unwrap_or_default())
            })
            .collect(),
    );
    SYSINFO.set_table(Box::new(move || {
        supervisor::current_table(&outcome).join("\n")
    }));
}

/// The manifest re-serialised as JSON (what the MANIFEST call returns).
fn manifest_json(manifest: &Manifest) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; loader::manifest::MAX_MANIFEST_BYTES];
    let n = manifest.to_json(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// A binary read from the image, by entry name.
pub struct Binary {
    pub name: String,
    pub bytes: Result<Vec<u8>, LoadError>,
}

/// Reads every service and component binary of the verified image from `disk`. Each is hashed
/// again: the image was verified moments ago, but what runs must be what was verified, not
/// what the disk says now.
pub fn read_binaries(disk: &mut Disk, verified: &VerifiedBoot) -> Vec<Binary> {
    let manifest = &verified.manifest;
    let mut out = Vec::new();
    let mut win = crate::image::slots::window(&mut *disk.device, verified.window);
    let mut source = match DiskSource::new(&mut win) {
        Ok(s) => Some(s),
        Err(e) => {
            log::error!("disk {}: {e}", disk.location);
            None
        }
    };
    for entry in manifest.entries() {
        let bytes = match source.as_mut() {
            None => Err(LoadError::DiskUnreadable),
            Some(src) => {
                let size = entry.size_bytes as usize;
                let mut bytes = Vec::new();
                let room = size.next_multiple_of(BLOCK_SIZE);
                if bytes.try_reserve_exact(room).is_err() {
                    out.push(Binary {
                        name: String::from(entry.name.as_str()),
                        bytes: Err(LoadError::TooBig { size }),
                    });
                    continue;
                }
                bytes.resize(room, 0);
                match src.read_blocks(entry.start_block, &mut bytes) {
                    Err(error) => Err(LoadError::Read {
                        block: entry.start_block,
                        error,
                    }),
                    Ok(()) => {
                        bytes.truncate(size);
                        if Sha256Digest::of(&bytes) == entry.checksum {
                            Ok(bytes)
                        } else {
                            Err(LoadError::ChecksumMismatch {
                                block: entry.start_block,
                            })
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

/// Hands the NICs that came up to the process core's frame calls and answers every network
/// device's name (`eth0`, `eth1`, … in PCI order): what `network_device:<name>` grants, a NIC
/// that failed included (its calls then say it has no working driver).
pub fn hand_over_network(probe: NetProbe) -> Vec<String> {
    let devices = probe.nics.into_iter().map(|n| (n.name, n.device)).collect();
    process::set_network(probe.names.clone(), devices);
    probe.names
}

/// Once every process has ended (a test system whose entries all finish), the free frames: a
/// test compares them with the count before the sequence — every frame must have come back.
fn log_frames_if_all_ended() {
    if process::process_count() != 0 {
        return;
    }
    // The last task's kernel stack is freed after the switch away from it: let ticks pass.
    process::wait_until(crate::time::uptime_us() + 10_000, &mut || false);
    if let Some(n) = crate::memory::free_frames() {
        log::info!("{FRAMES_AFTER_ALL_ENDED}{n}");
    }
}

/// Starts the processes: the process core, the user-data region (taken from the image disk),
/// and the supervisor's start sequence. Returns whether every entry reached the state the image
/// expects of it (manifest `expected_state`, default up); each entry that did not is logged as
/// one `test=boot: ...` line. `false` too when the process core could not start.
pub fn start_components(
    disk: Disk,
    verified: &VerifiedBoot,
    binaries: Vec<Binary>,
    network: Vec<String>,
    journal: Option<crate::userdata::journal::Stored>,
    booting: Option<&super::slots::Booting>,
) -> bool {
    if let Err(e) = process::init() {
        log::error!("the process core could not start: {e}");
        return false;
    }
    let user_data = match process::user_data_from_disk(disk.device, &verified.region) {
        Ok(region) => {
            process::set_user_data(region, !verified.from_module);
            process::set_slot_preparer(crate::image::boot_files::prepare_other);
            crate::crash::set_recorder(crate::crash::Recorder {
                boot: || SYSINFO.boot_count().unwrap_or(0),
                write: process::save_crash_record,
            });
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
        framebuffer: crate::screen::is_up(),
        network_devices: network,
    };
    crate::process::init_ipc(crate::ipc::Registry::from_manifest(&verified.manifest));
    // Until the sequence is over, every entry reads as granted nothing yet.
    SYSINFO.set_component_caps(
        verified
            .manifest
            .entries()
            .map(|e| (String::from(e.name.as_str()), String::new()))
            .collect(),
    );
    match manifest_json(&verified.manifest) {
        Some(json) => SYSINFO.set_manifest_json(json),
        None => log::warn!("the manifest could not be re-serialised: MANIFEST will fail"),
    }
    let mut binaries = binaries;
    let frames_before = crate::memory::free_frames();
    if let Some(n) = frames_before {
        log::info!("{FRAMES_BEFORE_START}{n}");
    }
    let outcome = supervisor::run_start_sequence(
        &verified.manifest,
        &machine,
        &mut |entry| match binaries.iter_mut().find(|b| b.name == entry.name.as_str()) {
            Some(b) => core::mem::replace(&mut b.bytes, Err(LoadError::AlreadyStarted)),
            None => Err(LoadError::NotInImage),
        },
        verified.vetoes.clone(),
    );
    log::info!("{}", outcome.summary());
    log_frames_if_all_ended();
    let unmet = supervisor::unmet_expectations(&outcome.rows_at_end, &verified.manifest);
    for line in &unmet {
        log::warn!("{line}");
    }
    let came_up = all_came_up(&outcome.rows_at_end);
    commit_security(verified, came_up);
    finish_journal(journal, &outcome, booting.and_then(super::slots::fell_back));
    if let Some(b) = booting {
        super::slots::after_start(b, came_up);
    }
    publish_outcome(outcome);
    unmet.is_empty()
}

/// Sets this boot's outcome in the journal: `up` when every started entry came up, else
/// `failed` with the summary (after `fell_back`, when the slot choice passed over the other).
fn finish_journal(
    journal: Option<crate::userdata::journal::Stored>,
    outcome: &Outcome,
    fell_back: Option<String>,
) {
    let Some(mut stored) = journal else {
        return;
    };
    let result = if all_came_up(&outcome.rows_at_end) {
        bootslots::journal::Outcome::Up
    } else {
        bootslots::journal::Outcome::Failed
    };
    match fell_back {
        Some(f) => stored.finish(result, &alloc::format!("{f}; {}", outcome.summary())),
        None => stored.finish(result, &outcome.summary()),
    }
    let mut block = [0u8; loader::superblock::BLOCK_SIZE];
    let at = stored.next_copy(&mut block);
    match process::write_kernel_block(at, &block) {
        Ok(()) => SYSINFO.set_boot_journal(stored.lines()),
        Err(e) => log::warn!("userdata: the boot journal could not be updated: {e}"),
    }
}

/// Whether every entry the sequence started (all but those not in `init_sequence`) came up.
fn all_came_up(rows: &[supervisor::Row]) -> bool {
    rows.iter()
        .filter(|r| r.state != supervisor::State::NotStarted && !r.state.lacks_optional_device())
        .all(|r| r.state.came_up())
}

/// After a boot in which every started entry came up, writes verified boot's security record
/// (the epoch minimum only advances then; an image that does not come up changes nothing).
fn commit_security(verified: &VerifiedBoot, came_up: bool) {
    let Some(commit) = &verified.commit else {
        return;
    };
    if !came_up {
        log::info!("verified boot: not every entry came up: the security record is not advanced");
        return;
    }
    let mut block = [0u8; loader::superblock::BLOCK_SIZE];
    crate::userdata::security::encode(&commit.record, commit.generation, &mut block);
    match process::write_kernel_block(commit.block, &block) {
        Ok(()) => log::info!(
            "{VBOOT_COMMITTED_START}{} (key-ring update generation {}, {} revoked key id(s); record generation {})",
            commit.record.min_epoch,
            commit.record.ring_generation,
            commit.record.revoked.len(),
            commit.generation
        ),
        Err(e) => log::warn!("verified boot: the security record could not be written: {e}"),
    }
}
