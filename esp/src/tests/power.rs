//! Power cuts: an install stopped after every possible number of writes leaves a readable,
//! consistent ESP, and a re-run completes it.

use super::install::{check_installed, old_files, update_a, update_b, Update};
use super::*;
use crate::install::{InstallError, Outcome};
use bootproto::config::pinned;

/// Checks an ESP cut mid-install: readable, the conf and boot loader agree, the conf is all
/// old or all new, and every file the conf pins that the install does not replace matches.
fn check_cut(disk: &Disk, old: &BootFiles, new: &BootFiles, update: &Update) {
    let got = read_back(disk);
    assert!(consistent(&got), "the boot loader enrolls the conf");
    assert!(
        got.conf == old.conf || got.conf == new.conf,
        "the conf is old or new"
    );
    let conf = std::str::from_utf8(&got.conf).unwrap();
    let pins_match = |path, data: &[u8]| pinned(conf, path) == Some(blake2b512(data));
    let (others, ours): (Vec<_>, Vec<_>) = [
        (files::KERNEL_A, &got.kernel_a, crate::install::Target::A),
        (files::MODULE, &got.module, crate::install::Target::A),
        (files::KERNEL_B, &got.kernel_b, crate::install::Target::B),
    ]
    .into_iter()
    .partition(|(_, _, t)| *t != update.req.target);
    for (path, data, _) in others {
        assert!(pins_match(path, data), "{path} still matches its pin");
    }
    if got.conf == new.conf {
        for (path, data, _) in ours {
            assert!(
                pins_match(path, data),
                "{path} is in place before the conf pins it"
            );
        }
    }
}

/// Installs `update` over `old` on `layout`, cutting the power after 0, 1, 2, ... writes
/// until a run completes; returns how many runs were cut.
fn cut_everywhere(layout: Layout, old: &BootFiles, update: &Update, torn: bool) -> usize {
    let base = build(layout, &old.in_order());
    let new = update.expected(old);
    let fresh_free = free_clusters(&build(layout, &new.in_order()));
    for budget in 0.. {
        let mut disk = base.fresh_copy();
        disk.budget = Some(budget);
        disk.torn = torn;
        let (r, cut) = update.run(disk);
        match r {
            Ok(Outcome::Installed { .. }) => {
                check_installed(layout, &cut, &new);
                return budget;
            }
            Ok(Outcome::Unchanged) => panic!("{layout:?}: a changed kernel is installed"),
            Err(InstallError::Fat(crate::fat::FatError::Io { .. })) => {}
            Err(e) => panic!("{layout:?} after {budget} writes: {e}"),
        }
        check_cut(&cut, old, &new, update);
        let (r, done) = update.run(cut.fresh_copy());
        assert!(r.is_ok(), "{layout:?} {budget}: {r:?}");
        assert_eq!(
            read_back(&done),
            new,
            "{layout:?} after {budget} writes and a re-run"
        );
        assert_eq!(
            free_clusters(&done),
            fresh_free,
            "{layout:?} {budget}: nothing leaked"
        );
        assert!(
            budget < 1000,
            "an install of a few files takes far fewer writes"
        );
    }
    unreachable!()
}

#[test]
fn a_power_cut_after_any_write_of_a_slot_b_install_is_recovered() {
    for layout in LAYOUTS {
        let runs = cut_everywhere(layout, &old_files(), &update_b(noise(70, 310_000)), false);
        eprintln!("{layout:?}: slot B install cut after each of {runs} writes");
        assert!(runs > 10, "{layout:?}: {runs} writes");
    }
}

#[test]
fn a_power_cut_after_any_write_of_a_slot_a_install_is_recovered() {
    for layout in [FAT16_512, FAT32_4096] {
        let runs = cut_everywhere(
            layout,
            &old_files(),
            &update_a(noise(71, 290_000), 150_000),
            false,
        );
        eprintln!("{layout:?}: slot A install cut after each of {runs} writes");
        assert!(runs > 10, "{layout:?}: {runs} writes");
    }
}

/// A cut write may land in part, sector by sector (a sector write is atomic, a block write of
/// several sectors is not): the sectors it rewrites with their own bytes stay as they were.
#[test]
fn a_power_cut_tearing_the_last_write_into_sectors_is_recovered() {
    for layout in [FAT16_512, FAT32_512] {
        let runs = cut_everywhere(layout, &old_files(), &update_b(noise(73, 200_000)), true);
        assert!(runs > 10, "{layout:?}: {runs} writes");
        let update = update_a(noise(74, 100_000), 90_000);
        cut_everywhere(layout, &old_files(), &update, true);
    }
}

#[test]
fn a_cut_after_the_switch_leaves_lost_clusters_that_the_next_run_collects() {
    let old = old_files();
    let b = update_b(noise(72, 100_000));
    let full = {
        let (r, disk) = b.run(build(FAT16_512, &old.in_order()));
        r.unwrap();
        disk.writes
    };
    // The last writes free the old chains: cut before them.
    let mut disk = build(FAT16_512, &old.in_order());
    disk.budget = Some(full - 2);
    let (r, cut) = b.run(disk);
    assert!(r.is_err());
    assert_eq!(read_back(&cut), b.expected(&old), "switched already");
    let (r, _) = b.run(cut.fresh_copy());
    let Ok(Outcome::Installed {
        files: 0,
        lost_collected,
        ..
    }) = r
    else {
        panic!("{r:?}")
    };
    assert!(lost_collected > 0);
}
