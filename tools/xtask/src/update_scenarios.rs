//! Delta-update scenarios (docs/update-format.md, docs/host-tools.md "Delta updates"): a
//! two-slot image boots its old system, gets a file put from the host, takes a delta to a new
//! system with `apply-delta` on the host, and boots the new slot on trial, which comes up, is
//! marked successful and finds the user data as it was.

use std::fs;

use anyhow::{ensure, Context, Result};
use bootlog::harness::EXIT_PASS;
use bootlog::msg::{BOOT_COUNT_START, SLOTS_BOOTING_START, SLOTS_MARKED_START, TEST_PASS};
use bootslots::meta::Slot;

use crate::fs_scenarios::{Driver, Env};
use crate::scenarios::{line, End, Scenario, SecondBoot};
use crate::slot_scenarios::{boot_expecting, STUB_BOOTING};
use crate::vboot_scenarios::{Signing, EPOCH2_SYSTEM};

/// Which update scenario a driven [`Scenario`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateDriver {
    /// [`host_delta`].
    HostDelta,
}

/// Runs `driver`; `Ok` holds the report lines.
pub fn run(driver: UpdateDriver, env: &Env<'_>) -> Result<String> {
    match driver {
        UpdateDriver::HostDelta => host_delta(env),
    }
}

/// The file put before the update, and its contents.
const KEPT_PATH: &str = "/before-update.txt";
const KEPT_TEXT: &[u8] = b"put by the host before the delta update\n";

/// Boot 1: the old system (slot A) comes up, boot count 1. Then on the host: a file is put,
/// the delta from the old system to the new one (epoch 2, `system/tests/epoch2.json`) is made
/// and applied. Boot 2: the stub boots slot B, on trial; it comes up, is marked successful,
/// boot count 2; the file is still there.
fn host_delta(env: &Env<'_>) -> Result<String> {
    let booting_a = format!("{SLOTS_BOOTING_START}A (highest priority)");
    boot_expecting(
        env,
        1,
        Some(EXIT_PASS),
        &[&booting_a, &format!("{BOOT_COUNT_START}1 "), TEST_PASS],
    )?;
    let kept = env.image.with_extension("kept.txt");
    fs::write(&kept, KEPT_TEXT)?;
    crate::fs::put_file(env.image, &kept, KEPT_PATH)?;
    let new = crate::suite_images::next_image(env.image);
    let delta = env.image.with_extension("pgdelta");
    let target_dir = crate::build::Workspace::locate().target_dir;
    let key = crate::keys::read_secret(&crate::keys::development_key(&target_dir)?.secret)?;
    let made = crate::update::write_delta(env.image, &new, Some(&key), &delta)?;
    let done = crate::update::apply_delta(env.image, &delta)?;
    ensure!(
        done.slot == Slot::B,
        "the delta went into slot {}",
        done.slot
    );
    let trial = format!("{SLOTS_BOOTING_START}B (highest priority), a trial boot");
    let log = boot_expecting(
        env,
        2,
        Some(EXIT_PASS),
        &[
            &format!("{STUB_BOOTING}B"),
            &trial,
            &format!("{BOOT_COUNT_START}2 "),
        ],
    )?;
    let marked = format!("{SLOTS_MARKED_START}B came up");
    ensure!(
        log.contains(&marked) && log.contains(TEST_PASS),
        "boot 2: slot B was not marked successful (`{marked}`) or did not pass"
    );
    check_after(env)?;
    let _ = fs::remove_file(&delta);
    let _ = fs::remove_file(&kept);
    Ok(format!(
        "update: delta {} bytes, applied into slot B in {:.1} s; B booted on trial, came up, marked successful; boot count 2; {KEPT_PATH} kept\n",
        made.encoded.bytes.len(),
        done.elapsed.as_secs_f64()
    ))
}

/// After boot 2: the metadata has B successful and active, and the file is there as put.
fn check_after(env: &Env<'_>) -> Result<()> {
    let (meta, ..) = crate::slots::read_metadata(env.image)?;
    let b = meta.slot(Slot::B);
    ensure!(
        b.successful() && b.priority() == 15,
        "slot B is not the committed active slot: {meta}"
    );
    let back = env.image.with_extension("back.txt");
    crate::fs::get_file(env.image, KEPT_PATH, &back)
        .with_context(|| format!("{KEPT_PATH} after the update"))?;
    let text = fs::read(&back)?;
    let _ = fs::remove_file(&back);
    ensure!(text == KEPT_TEXT, "{KEPT_PATH} changed: {text:?}");
    Ok(())
}

/// The update scenarios.
pub fn update_scenarios() -> Vec<Scenario> {
    vec![Scenario {
        end: End::Exit(0),
        driver: Some(Driver::Update(UpdateDriver::HostDelta)),
        slot_b: Some(crate::description::DEFAULT_PATH),
        // The new system, written beside the image (`suite_images::next_image`).
        second_boot: Some(SecondBoot {
            expect: Vec::new(),
            end: End::Exit(0),
            console: &[],
            replace: Some((EPOCH2_SYSTEM, Signing::Development)),
        }),
        ..Scenario::boot("update-delta-host", vec![line(TEST_PASS)])
    }]
}
