//! A/B slots at boot: judge the booted slot against the metadata (`bootslots::own`), write
//! what the rules say before any component starts, and leave (reset, so the boot stub starts
//! the other slot) or refuse when this slot cannot boot; after the start sequence, mark the
//! slot successful, or reset after a trial boot that did not come up.

use alloc::format;
use alloc::string::String;

use bootlog::msg::{
    SLOTS_BOOTING_START, SLOTS_LEAVING_START, SLOTS_MARKED_START, SLOTS_TRIAL_FAILED_START,
};
use bootslots::choose::{Choice, Reason};
use bootslots::meta::Slot;
use bootslots::own::{self, Verdict};

use crate::devices::Disk;
use crate::fatal::{self, Outcome};
use crate::image::slots::{self, SlotDisk};

/// The booted slot, once judged bootable.
pub struct Booting {
    pub slot: Slot,
    pub choice: Choice,
    /// A boot that does not come up resets the machine.
    pub trial: bool,
    pub disk: SlotDisk,
}

/// Why the booted slot's image failed verification.
pub struct Failure {
    /// The one-line error.
    pub line: String,
    /// Where (an entry, `ROLLBACK`), for the journal's short reason.
    pub at: Option<String>,
}

/// Judges the booted slot; `failure`: why its image failed verification, if it did. Writes
/// the metadata the rules ask for. Returns when this slot boots; otherwise records the boot in
/// the journal and resets (`via_stub`: the boot loader chooses slots) or stops.
pub fn judge(
    disk: &mut Disk,
    mut slot_disk: SlotDisk,
    failure: Option<&Failure>,
    via_stub: bool,
) -> Booting {
    let me = slot_disk.booted;
    if let Some(e) = &slot_disk.stored.damaged {
        log::warn!("{e}; using the defaults (both slots bootable, A first)");
    }
    let before = slot_disk.stored.meta;
    let verdict = own::judge(&before, me, failure.is_none());
    let write = match &verdict {
        Verdict::Boot { choice, .. } => choice.write,
        Verdict::Leave { write, .. } => *write,
        Verdict::Refuse(_) => None,
    };
    if let Some(meta) = write {
        if let Err(e) = slots::write_meta(
            &mut *disk.device,
            &slot_disk.disk,
            &mut slot_disk.stored,
            meta,
        ) {
            log::warn!("the slot metadata could not be written: {e}");
        }
    }
    match verdict {
        Verdict::Boot { choice, trial } => {
            log::info!(
                "{SLOTS_BOOTING_START}{me} ({}){}; {}",
                choice.reason,
                if trial {
                    ", a trial boot: if it does not come up the machine resets"
                } else {
                    ""
                },
                slot_disk.stored.meta
            );
            crate::sysinfo::SYSINFO.set_booted_slot(Some(me));
            crate::sysinfo::SYSINFO.set_slot_rooms(crate::sysinfo::SlotRooms {
                b_start: slot_disk.table.b_start,
                b_blocks: slot_disk.table.b_blocks,
                data_start: slot_disk.disk.data_start,
                total_blocks: slot_disk.disk.total_blocks,
            });
            Booting {
                slot: me,
                choice,
                trial,
                disk: slot_disk,
            }
        }
        Verdict::Leave { because, to, .. } => {
            let detail = failure.map_or(String::new(), |f| format!(": {}", f.line));
            let reason = match failure.and_then(|f| f.at.as_deref()) {
                Some(at) => format!("{because} at {at}; slot {to} boots next"),
                None => format!("{because}; slot {to} boots next"),
            };
            log::error!(
                "{SLOTS_LEAVING_START}{me} ({because}{detail}); tries left {}; slot {to} boots next; {}",
                before.slot(me).tries_remaining(),
                slot_disk.stored.meta
            );
            journal(disk, &slot_disk, me, &reason);
            leave(to, via_stub)
        }
        Verdict::Refuse(none) => {
            log::error!("{none}");
            journal(disk, &slot_disk, me, "no slot can boot");
            fatal::stop(Outcome::Fail)
        }
    }
}

/// Resets so the boot stub starts slot `to`; with a boot loader that does not choose slots,
/// stops and says which menu entry to pick.
fn leave(to: Slot, via_stub: bool) -> ! {
    if via_stub {
        log::info!("resetting: the boot stub starts slot {to}");
        crate::arch::power::reboot();
    } else {
        log::error!(
            "this boot loader does not read the slot metadata: choose the `PandaGen slot {to}` menu entry"
        );
    }
    fatal::stop(Outcome::Fail)
}

/// Records a boot of `slot` that did not start (refused) in the journal.
fn journal(disk: &mut Disk, slot_disk: &SlotDisk, slot: Slot, reason: &str) {
    let written =
        crate::userdata::boot::open(&mut *disk.device, &slot_disk.disk).and_then(|mut region| {
            let mut stored = crate::userdata::boot::read_journal(&mut region)?;
            let boot = stored.journal.next_boot_number();
            stored.push(bootslots::journal::Record::new(
                boot,
                Some(slot),
                bootslots::journal::Outcome::Refused,
                reason,
            ));
            crate::userdata::boot::write_journal(&mut region, &mut stored)
        });
    if let Err(e) = written {
        log::warn!("userdata: the boot could not be written to the boot journal: {e}");
    }
}

/// The journal record that starts this boot.
pub fn record(boot: u32, booting: &Booting) -> bootslots::journal::Record {
    bootslots::journal::Record::for_choice(boot, &booting.choice)
}

/// After the start sequence: marks the slot successful when every entry came up (written
/// through the process core's kernel-block path), or, after a trial boot that did not come
/// up, resets so the next boot chooses again (the journal is written before).
pub fn after_start(booting: &Booting, came_up: bool) {
    let me = booting.slot;
    let meta = booting.disk.stored.meta;
    if came_up {
        if meta.slot(me).successful()
            && meta.slot(me).tries_remaining() == bootslots::meta::MAX_TRIES
        {
            return;
        }
        match crate::process::mark_slot_successful(me) {
            Ok(state) => log::info!(
                "{SLOTS_MARKED_START}{me} came up; {}",
                state.replace('\n', "; ")
            ),
            Err(e) => {
                log::warn!("slot {me} came up but could not be marked successful: {e}")
            }
        }
    } else if booting.trial {
        let left = meta.slot(me).tries_remaining();
        log::error!(
            "{SLOTS_TRIAL_FAILED_START}{me} did not come up on a trial boot ({left} tries left); resetting: the next boot chooses again"
        );
        crate::arch::power::reboot();
    }
}

/// Whether the choice passed over the other slot (for the journal's final reason).
pub fn fell_back(booting: &Booting) -> Option<String> {
    match booting.choice.reason {
        Reason::FellBack { from, because } => Some(format!("fell back from {from} ({because})")),
        _ => None,
    }
}
