//! Host tests of delta updates: old + delta = new, byte for byte, for slot B and slot A; every
//! refusal leaves the image as it was.

use std::fs;
use std::path::{Path, PathBuf};

use signing::{CapKind, KeyId};

use super::*;
use crate::image;
use crate::limine_conf::{blake2b512, CONF_ESP_PATH, KERNEL_B_ESP_PATH};
use crate::pack::PackOptions;
use crate::sign::SignConfig;
use crate::system_image::tests::fake_build;
use crate::system_image::{self, SystemImage};
use crate::testutil::TempDir;

/// Each slot's room in the tests' images: 1 MiB (the fake systems are a few KiB).
const ROOM: u64 = image::MIB;

fn key() -> SecretKey {
    SecretKey::from_seed(KeyId::new("test_release").unwrap(), [9; 32]).unwrap()
}

/// A fake build in `dir/name` (fake kernel with a trust placeholder, stub, components) for
/// `description` (under system/), signed and enforced with [`key`] when `signed`.
fn build(dir: &TempDir, name: &str, description: &str, signed: bool) -> SystemImage {
    let at = dir.path().join(name);
    fs::create_dir_all(&at).unwrap();
    let mut img = fake_build(&at);
    let kernel = [&b"\x7fELF fake kernel "[..], &signing::trust::placeholder()].concat();
    fs::write(&img.kernel, kernel).unwrap();
    img.description = crate::build::Workspace::locate().root.join(description);
    if signed {
        img.signing = Some(SignConfig {
            keys: vec![key()],
            trust: vec![key().public_key(&[CapKind::new("*").unwrap()]).unwrap()],
            policy: Policy::Enforce,
            development: false,
            ring_update: None,
        });
    }
    img
}

/// Writes `img` as a two-slot image (the same system twice) with [`ROOM`] per slot.
fn pack_two(img: &SystemImage, out: &Path) -> pack::Packed {
    let options = PackOptions {
        slot_size: Some(ROOM),
        ..PackOptions::default()
    };
    system_image::write_system_image_with(img, Some(img), out, options, |_, _| Ok(())).unwrap()
}

/// `img` with the file `name` of its build replaced by `bytes`.
fn changed(img: &SystemImage, name: &str, bytes: &[u8]) -> SystemImage {
    let path = if name == "kernel" {
        img.kernel.clone()
    } else {
        img.components_dir.join(name)
    };
    fs::write(path, bytes).unwrap();
    img.clone()
}

fn bytes(path: &Path, range: std::ops::Range<u64>) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    raw[range.start as usize..range.end as usize].to_vec()
}

/// The image's bytes and modification time: what a refusal must leave as it was.
fn snapshot(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        fs::read(path).unwrap(),
        fs::metadata(path).unwrap().modified().unwrap(),
    )
}

fn refusal(img: &Path, delta: &Path) -> DeltaError {
    let before = snapshot(img);
    let err = apply_delta(img, delta).unwrap_err();
    assert_eq!(snapshot(img), before, "a refusal changed the image");
    assert_eq!(err.to_string().lines().count(), 1, "{err}");
    match err.downcast::<UpdateError>() {
        Ok(UpdateError::Refused { error, .. }) => error,
        other => panic!("not a refusal: {other:?}"),
    }
}

/// The files beside `img` (no temp copy may be left behind).
fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

/// OLD (two slots) and NEW (`change` applied to a copy of OLD's build), and the delta between.
struct Pair {
    dir: TempDir,
    old: PathBuf,
    new: PathBuf,
    new_packed: pack::Packed,
    delta: PathBuf,
}

fn pair(tag: &str, signed: bool, change: impl FnOnce(&SystemImage) -> SystemImage) -> Pair {
    let dir = TempDir::new(tag);
    let old_img = build(&dir, "old", "system/pandagen.json", signed);
    let new_img = change(&build(&dir, "new", "system/pandagen.json", signed));
    let (old, new) = (dir.path().join("old.img"), dir.path().join("new.img"));
    pack_two(&old_img, &old);
    let new_packed = pack_two(&new_img, &new);
    let delta = dir.path().join("update.pgdelta");
    write_delta(&old, &new, Some(&key()), &delta).unwrap();
    Pair {
        dir,
        old,
        new,
        new_packed,
        delta,
    }
}

/// Applies the pair's delta to a copy of OLD and checks slot B against NEW's, byte for byte,
/// its kernel on the ESP, limine.conf's pin and the boot loader's enrolled hash.
fn check_slot_b_is_new(p: &Pair) -> PathBuf {
    let img = p.dir.path().join("target.img");
    fs::copy(&p.old, &img).unwrap();
    let listed = dir_entries(p.dir.path());
    let done = apply_delta(&img, &p.delta).unwrap();
    assert_eq!(dir_entries(p.dir.path()), listed, "a temp file was left");
    assert_eq!((done.from, done.slot), (Slot::A, Slot::B));
    let b = p.new_packed.slot_b.as_ref().unwrap().table;
    let slot_b = b.b_start * BLOCK..b.b_end() * BLOCK;
    assert!(
        bytes(&img, slot_b.clone()) == bytes(&p.new, slot_b),
        "slot B differs from NEW's"
    );
    assert!(bytes(&img, 0..b.b_start * BLOCK) == bytes(&p.old, 0..b.b_start * BLOCK));
    let layout = &p.new_packed.layout;
    let esp = |path: &Path, file| system_image::read_esp_file(path, layout, file).unwrap();
    assert_eq!(esp(&img, KERNEL_B_ESP_PATH), esp(&p.new, KERNEL_B_ESP_PATH));
    let conf = esp(&img, CONF_ESP_PATH);
    let entry_b = |conf: &[u8]| {
        let text = String::from_utf8(conf.to_vec()).unwrap();
        text.split("/PandaGen slot B").nth(1).unwrap().to_string()
    };
    assert_eq!(entry_b(&conf), entry_b(&esp(&p.new, CONF_ESP_PATH)));
    let efi = esp(&img, system_image::BOOT_EFI_ESP_PATH);
    assert_eq!(
        bootproto::enroll::enrolled(&efi).unwrap(),
        bootproto::enroll::Slot::Enrolled(blake2b512(&conf))
    );
    let (meta, ..) = slots::read_metadata(&img).unwrap();
    assert_eq!(
        meta.slot(Slot::B),
        bootslots::SlotState::new(15, 7, false).unwrap()
    );
    assert_eq!(meta.slot(Slot::A).priority(), 14);
    assert!(pack::verify_path(&img).unwrap().is_ok());
    img
}

#[test]
fn a_changed_binary_gives_new_slot_b_byte_for_byte() {
    let p = pair("update-binary", true, |img| {
        changed(img, "services_logger", &[0x42; 2100])
    });
    check_slot_b_is_new(&p);
}

#[test]
fn a_changed_kernel_gives_new_slot_b_and_repins_it() {
    let p = pair("update-kernel", false, |img| {
        let kernel = [
            &b"\x7fELF new kernel, longer "[..],
            &[7; 5000],
            &signing::trust::placeholder(),
        ]
        .concat();
        changed(img, "kernel", &kernel)
    });
    let img = check_slot_b_is_new(&p);
    // Slot A's kernel and pin are untouched.
    let layout = &p.new_packed.layout;
    let esp = |path: &Path, file| system_image::read_esp_file(path, layout, file).unwrap();
    let k = crate::limine_conf::KERNEL_ESP_PATH;
    assert_eq!(esp(&img, k), esp(&p.old, k));
}

#[test]
fn slot_a_is_updated_while_b_runs_keeping_the_mbr_and_slot_table() {
    let p = pair("update-slot-a", false, |img| {
        changed(img, "cli_console", &[0x17; 3000])
    });
    let img = check_slot_b_is_new(&p);
    // B (active, on trial) runs; a delta from NEW to NEWER goes into slot A.
    let newer_img = changed(
        &build(&p.dir, "newer", "system/tests/epoch2.json", false),
        "services_network",
        &[0x99; 9000],
    );
    let newer = p.dir.path().join("newer.img");
    let packed = pack_two(&newer_img, &newer);
    let delta = p.dir.path().join("newer.pgdelta");
    write_delta(&p.new, &newer, None, &delta).unwrap();
    let before = fs::read(&img).unwrap();
    let done = apply_delta(&img, &delta).unwrap();
    assert_eq!((done.from, done.slot), (Slot::B, Slot::A));
    let room = packed.slot_b.as_ref().unwrap().table.b_start * BLOCK;
    let (got, want) = (bytes(&img, 0..room), bytes(&newer, 0..room));
    // Block 0: NEWER's fields; the disk's MBR (its disk signature) and slot table kept.
    assert_eq!(got[..440], want[..440]);
    assert_eq!(got[440..512], before[440..512]);
    assert!(got[512..] == want[512..], "slot A differs from NEWER's");
    let esp = |path: &Path, file| system_image::read_esp_file(path, &packed.layout, file).unwrap();
    let module = crate::limine_conf::MODULE_ESP_PATH;
    assert_eq!(esp(&img, module), esp(&newer, module));
    let (meta, ..) = slots::read_metadata(&img).unwrap();
    assert_eq!(
        meta.slot(Slot::A),
        bootslots::SlotState::new(15, 7, false).unwrap()
    );
    assert!(pack::verify_path(&img).unwrap().is_ok());
}

#[test]
fn wrong_base_damage_and_every_cut_are_refused_before_the_image_changes() {
    let p = pair("update-refusals", true, |img| {
        changed(img, "services_logger", &[0x42; 2100])
    });
    let img = p.dir.path().join("target.img");
    fs::copy(&p.new, &img).unwrap();
    assert!(matches!(
        refusal(&img, &p.delta),
        DeltaError::WrongBase { .. }
    ));
    fs::copy(&p.old, &img).unwrap();
    let good = fs::read(&p.delta).unwrap();
    let cut = p.dir.path().join("cut.pgdelta");
    let step = (good.len() / 40).max(1);
    for len in (0..good.len())
        .step_by(step)
        .chain([good.len() - 1, 255, 256, 257])
    {
        fs::write(&cut, &good[..len]).unwrap();
        let e = refusal(&img, &cut);
        assert!(
            matches!(e, DeltaError::Truncated { .. }),
            "cut at {len}: {e}"
        );
    }
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    fs::write(&cut, &flipped).unwrap();
    assert_eq!(refusal(&img, &cut), DeltaError::BodyDamaged);
}

#[test]
fn unsigned_under_enforce_a_lower_epoch_and_no_room_are_refused() {
    let p = pair("update-policy", true, |img| {
        changed(img, "services_logger", &[0x42; 2100])
    });
    let img = p.dir.path().join("target.img");
    fs::copy(&p.old, &img).unwrap();
    let unsigned = p.dir.path().join("unsigned.pgdelta");
    write_delta(&p.old, &p.new, None, &unsigned).unwrap();
    assert_eq!(refusal(&img, &unsigned), DeltaError::Unsigned);

    // OLD at epoch 2, NEW at the default epoch (0): a rollback.
    let dir = &p.dir;
    let epoch2 = build(dir, "epoch2", "system/tests/epoch2.json", true);
    let (old2, lower) = (dir.path().join("old2.img"), dir.path().join("lower.img"));
    pack_two(&epoch2, &old2);
    let delta = dir.path().join("lower.pgdelta");
    write_delta(&old2, &p.new, Some(&key()), &delta).unwrap();
    let e = refusal(&old2, &delta);
    assert!(
        matches!(
            e,
            DeltaError::EpochRollback {
                delta: 0,
                minimum: 2
            }
        ),
        "{e}"
    );

    // A system that outgrows the slot's room.
    let big = changed(
        &build(dir, "big", "system/pandagen.json", true),
        "services_logger",
        &vec![1; 2 << 20],
    );
    let options = PackOptions {
        slot_size: Some(4 * ROOM),
        ..PackOptions::default()
    };
    system_image::write_system_image_with(&big, Some(&big), &lower, options, |_, _| Ok(()))
        .unwrap();
    write_delta(&p.old, &lower, Some(&key()), &delta).unwrap();
    let e = refusal(&img, &delta);
    assert!(
        matches!(e, DeltaError::NoSpace { capacity: ROOM, .. }),
        "{e}"
    );
}

#[test]
fn a_one_slot_image_is_refused_in_one_line() {
    let dir = TempDir::new("update-one-slot");
    let img = build(&dir, "one", "system/pandagen.json", false);
    let one = dir.path().join("one.img");
    system_image::write_system_image(&img, &one, false).unwrap();
    let delta = dir.path().join("d.pgdelta");
    write_delta(&one, &one, None, &delta).unwrap();
    let err = apply_delta(&one, &delta).unwrap_err().to_string();
    assert!(
        err.ends_with("this image has one slot; build with --slots 2"),
        "{err}"
    );
}

#[test]
fn a_delta_whose_epoch_is_not_its_manifests_is_refused_with_the_image_unchanged() {
    let p = pair("update-epoch", false, |img| {
        changed(img, "services_logger", &[0x42; 2100])
    });
    let (old, new) = (read_active(&p.old).unwrap(), read_active(&p.new).unwrap());
    let encoded = encode_slots(&old, &new, new.manifest.security_epoch + 5, None).unwrap();
    let delta = p.dir.path().join("epoch.pgdelta");
    fs::write(&delta, &encoded.bytes).unwrap();
    let img = p.dir.path().join("target.img");
    fs::copy(&p.old, &img).unwrap();
    let (before, listed) = (snapshot(&img), dir_entries(p.dir.path()));
    let err = apply_delta(&img, &delta).unwrap_err();
    assert_eq!(
        (snapshot(&img), dir_entries(p.dir.path())),
        (before, listed)
    );
    assert_eq!(err.to_string().lines().count(), 1, "{err}");
    assert!(
        matches!(
            err.downcast_ref::<UpdateError>(),
            Some(UpdateError::EpochMismatch {
                header: 5,
                manifest: 0,
                ..
            })
        ),
        "{err}"
    );
}
