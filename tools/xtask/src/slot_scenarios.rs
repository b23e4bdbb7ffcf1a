//! A/B slot scenarios: a two-slot image booted over several power cycles (each reset ends
//! QEMU, which runs with `-no-reboot`; the next boot is a new QEMU on the same file), with
//! the slot metadata set and read on the host between boots (docs/slots.md).

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::thread;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bootlog::harness::EXIT_PASS;
use bootlog::msg::{
    IMAGE_VERIFIED_START, SLOTS_BOOTING_START, SLOTS_LEAVING_START, SLOTS_MARKED_START,
    SLOTS_TRIAL_FAILED_START, TEST_PASS, VBOOT_COMMITTED_START, VBOOT_ROLLBACK,
};
use bootlog::state::RECORD_PREFIX;
use bootslots::choose::{choose, mark_unbootable, set_active};
use bootslots::meta::{Metadata, Slot, SlotState};

use crate::fs_scenarios::{Driver, Env};
use crate::scenarios::{at_prompt, line, starts, typed, ConsoleStep, End, Scenario, SecondBoot};
use crate::slots::{read_metadata, write_metadata};
use crate::vboot_scenarios::{Signing, EPOCH2_SYSTEM, EPOCH3_SYSTEM};

/// Which slot scenario a driven [`crate::scenarios::Scenario`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDriver {
    /// [`damaged_a`].
    DamagedA,
    /// [`tries_exhausted`].
    TriesExhausted,
    /// [`one_shot_trial`].
    OneShotTrial,
    /// [`commit_keeps_fallback`].
    CommitKeepsFallback,
    /// [`power_cut`].
    PowerCut,
}

/// The stub's line for the slot it boots (`bootproto::slots`).
pub(crate) const STUB_BOOTING: &str = "bootstub: slots: booting slot ";
/// The user-data region's journal and metadata are shared; a reset ends QEMU with status 0.
const RESET: Option<i32> = Some(0);

/// Runs `driver`; `Ok` holds the report lines.
pub fn run(driver: SlotDriver, env: &Env<'_>) -> Result<String> {
    match driver {
        SlotDriver::DamagedA => damaged_a(env),
        SlotDriver::TriesExhausted => tries_exhausted(env),
        SlotDriver::OneShotTrial => one_shot_trial(env),
        SlotDriver::CommitKeepsFallback => commit_keeps_fallback(env),
        SlotDriver::PowerCut => {
            let seed = crate::fs_scenarios::seed_from_env("PANDAGEN_SLOTCUT_SEED");
            power_cut(env, seed)
                .with_context(|| format!("seed {seed} (PANDAGEN_SLOTCUT_SEED={seed} replays it)"))
        }
    }
}

/// One boot to its end: QEMU's exit status and the serial log.
fn boot(env: &Env<'_>, n: usize) -> Result<(Option<i32>, String)> {
    env.boot(n)?.wait_exit(env.timeout)
}

/// Checks that `log` holds each of `needles`, in order; names the first missing one.
fn expect_in_order(log: &str, boot: usize, needles: &[&str]) -> Result<()> {
    let mut at = 0;
    for needle in needles {
        match log[at..].find(needle) {
            Some(i) => at += i + needle.len(),
            None => bail!(
                "boot {boot}: expected `{needle}` (in this order) in the log; last lines:\n{}",
                tail(log)
            ),
        }
    }
    Ok(())
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A boot that must end with `status` and show `needles` in order.
pub(crate) fn boot_expecting(
    env: &Env<'_>,
    n: usize,
    status: Option<i32>,
    needles: &[&str],
) -> Result<String> {
    let (code, log) = boot(env, n)?;
    expect_in_order(&log, n, needles)?;
    ensure!(
        code == status,
        "boot {n}: QEMU ended with {code:?}, expected {status:?}; last lines:\n{}",
        tail(&log)
    );
    Ok(log)
}

fn state(priority: u8, tries: u8, successful: bool) -> Result<SlotState> {
    SlotState::new(priority, tries, successful).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The journal's lines, newest first.
fn journal(image: &Path) -> Result<Vec<String>> {
    crate::inspect::examine(image)?
        .journal
        .context("the image has no valid boot journal")
}

/// Checks that slot A was demoted (priority 0); returns the journal's lines, newest first.
fn a_demoted_journal(image: &Path) -> Result<Vec<String>> {
    let (meta, _, _) = read_metadata(image)?;
    ensure!(
        meta.slot(Slot::A).priority() == 0,
        "slot A was not demoted: {meta}"
    );
    journal(image)
}

/// Flips one byte in the middle of slot A's copy of `entry`.
fn damage_slot_a(image: &Path, entry: &str) -> Result<()> {
    let mut f = OpenOptions::new().read(true).write(true).open(image)?;
    let (_, manifest) = crate::corrupt::read_layout(&mut f).map_err(|e| anyhow::anyhow!("{e}"))?;
    let e = manifest
        .entries()
        .find(|e| e.name.as_str() == entry)
        .with_context(|| format!("no entry {entry}"))?;
    let at = e.start_block * loader::BLOCK_SIZE as u64 + e.size_bytes / 2;
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(at))?;
    std::io::Read::read_exact(&mut f, &mut byte)?;
    f.seek(SeekFrom::Start(at))?;
    f.write_all(&[byte[0] ^ 0x5a])?;
    f.sync_all()?;
    Ok(())
}

/// Slot A damaged (one byte of its services_storage): A's kernel demotes A and resets; the
/// stub then boots B, which comes up. The journal says what happened.
fn damaged_a(env: &Env<'_>) -> Result<String> {
    damage_slot_a(env.image, "services_storage")?;
    let leaving = format!("{SLOTS_LEAVING_START}A (verification failed: ");
    boot_expecting(
        env,
        1,
        RESET,
        &[&format!("{STUB_BOOTING}A"), &leaving, "slot B boots next"],
    )?;
    let booting_b = format!("{SLOTS_BOOTING_START}B (highest priority)");
    boot_expecting(
        env,
        2,
        Some(EXIT_PASS),
        &[&format!("{STUB_BOOTING}B"), &booting_b, TEST_PASS],
    )?;
    let j = a_demoted_journal(env.image)?;
    ensure!(
        j.len() >= 2
            && j[0].starts_with("#2 slot B: up")
            && j[1] == "#1 slot A: refused (verification failed at services_storage; slot B boots next)",
        "the journal does not tell the fallback: {j:?}"
    );
    Ok(format!(
        "slots: A damaged: A refused and demoted, B up; journal: {:?}\n",
        &j[..2]
    ))
}

/// Slot A (its console exits before READY) on trial with 2 tries: two boots spend them and
/// reset; the third falls back to B (A's tries exhausted), which comes up.
fn tries_exhausted(env: &Env<'_>) -> Result<String> {
    write_metadata(
        env.image,
        &Metadata::new(state(15, 2, false)?, state(14, 7, true)?, None),
    )?;
    for (n, left) in [(1, 1), (2, 0)] {
        let failed = format!(
            "{SLOTS_TRIAL_FAILED_START}A did not come up on a trial boot ({left} tries left)"
        );
        boot_expecting(
            env,
            n,
            RESET,
            &[
                &format!("{SLOTS_BOOTING_START}A (highest priority), a trial boot"),
                &failed,
            ],
        )?;
    }
    let fell_back = "B (fell back from A (tries exhausted))";
    boot_expecting(
        env,
        3,
        Some(EXIT_PASS),
        &[
            &format!("{STUB_BOOTING}{fell_back}"),
            &format!("{SLOTS_BOOTING_START}{fell_back}"),
            TEST_PASS,
        ],
    )?;
    let j = a_demoted_journal(env.image)?;
    ensure!(
        j.len() >= 2
            && j[0].starts_with("#3 slot B: up (fell back from A (tries exhausted)")
            && j[1].starts_with("#2 slot A: failed"),
        "the journal does not tell the fallback: {j:?}"
    );
    Ok(format!(
        "slots: A never came up: 2 tries spent, then B; journal: {:?}\n",
        &j[..3.min(j.len())]
    ))
}

/// `slot try B` (B not yet successful, its console broken): B boots once and fails; the next
/// boot is A, with no try of A spent.
fn one_shot_trial(env: &Env<'_>) -> Result<String> {
    write_metadata(
        env.image,
        &Metadata::new(state(15, 7, true)?, state(14, 3, false)?, None),
    )?;
    crate::slots::run(env.image, crate::slots::SlotCmd::Try { slot: Slot::B })?;
    boot_expecting(
        env,
        1,
        RESET,
        &[
            &format!("{STUB_BOOTING}B (one-shot trial)"),
            &format!("{SLOTS_BOOTING_START}B (one-shot trial), a trial boot"),
            &format!("{SLOTS_TRIAL_FAILED_START}B did not come up on a trial boot (2 tries left)"),
        ],
    )?;
    boot_expecting(
        env,
        2,
        Some(EXIT_PASS),
        &[
            &format!("{SLOTS_BOOTING_START}A (highest priority); "),
            TEST_PASS,
        ],
    )?;
    let (meta, _, _) = read_metadata(env.image)?;
    let expected = Metadata::new(state(15, 7, true)?, state(14, 2, false)?, None);
    ensure!(
        meta == expected,
        "after the trial: {meta}, expected {expected}"
    );
    Ok(format!(
        "slots: one-shot trial of B failed, A booted next untouched: {meta}\n"
    ))
}

/// Slot A runs epoch 2, slot B (just installed, not yet successful, active) epoch 3, both
/// signed (enforce). B comes up and is marked successful; the security minimum advances only
/// to 2 (A is still bootable); B's next boot writes no metadata; then A, made active again,
/// boots — no ROLLBACK.
fn commit_keeps_fallback(env: &Env<'_>) -> Result<String> {
    let fresh = bootslots::meta::TWO_SLOTS;
    let b_installed = set_active(&fresh.with_slot(Slot::B, state(1, 0, false)?), Slot::B);
    write_metadata(env.image, &b_installed)?;
    boot_expecting(
        env,
        1,
        Some(EXIT_PASS),
        &[
            &format!("{SLOTS_BOOTING_START}B (highest priority), a trial boot"),
            &format!("{VBOOT_COMMITTED_START}2 ("),
            &format!("{SLOTS_MARKED_START}B came up"),
            TEST_PASS,
        ],
    )?;
    let (after_commit, generation, _) = read_metadata(env.image)?;
    ensure!(
        after_commit.slot(Slot::B) == state(15, 7, true)?,
        "B not marked successful: {after_commit}"
    );
    let log = boot_expecting(
        env,
        2,
        Some(EXIT_PASS),
        &[
            &format!("{SLOTS_BOOTING_START}B (highest priority); "),
            TEST_PASS,
        ],
    )?;
    ensure!(
        !log.contains("a trial boot"),
        "boot 2: a committed slot booted as a trial"
    );
    let (_, again, _) = read_metadata(env.image)?;
    ensure!(
        again == generation,
        "boot 2 of a committed slot wrote the metadata (generation {generation} -> {again})"
    );
    crate::slots::run(
        env.image,
        crate::slots::SlotCmd::SetActive { slot: Slot::A },
    )?;
    let log = boot_expecting(
        env,
        3,
        Some(EXIT_PASS),
        &[
            &format!("{SLOTS_BOOTING_START}A (highest priority); "),
            TEST_PASS,
        ],
    )?;
    ensure!(
        !log.contains(VBOOT_ROLLBACK),
        "boot 3: the fallback slot was refused"
    );
    Ok(String::from("slots: B (epoch 3) committed with minimum 2; its reboot wrote nothing; A (epoch 2) still boots\n"))
}

/// Boots of slot B on trial (just installed: active, not yet successful), each killed
/// (SIGKILL) at a random moment of the kernel's part: within half a second after the image is
/// verified, which spans the slot metadata write, the start sequence and the commit. After
/// every cut: a slot can still boot, slot A (committed) is never abandoned, and B is
/// successful only if it came up. B is installed again whenever it committed, so every boot
/// is a trial. The last boot runs to the end and must come up.
fn power_cut(env: &Env<'_>, seed: u64) -> Result<String> {
    const CUTS: usize = 8;
    let mut rng = seed;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut report = format!("slots power cut: seed {seed}\n");
    let mut b_came_up = false;
    for n in 1..=CUTS {
        let (meta, _, _) = read_metadata(env.image)?;
        if n == 1 || meta.slot(Slot::B).successful() {
            write_metadata(env.image, &install_b(&meta)?)?;
            b_came_up = false;
        }
        let mut g = env.boot(n)?;
        g.wait_for(IMAGE_VERIFIED_START, env.timeout)?;
        let delay = next(500);
        thread::sleep(Duration::from_millis(delay));
        let log = g.kill();
        let (meta, generation, _) = read_metadata(env.image)?;
        // B came up in this boot: its state records (logged before the commit is written).
        b_came_up |= log.contains(&format!("{RECORD_PREFIX}cli_console ready"));
        let marked = log.contains(&format!("{SLOTS_MARKED_START}B came up"));
        check_after_cut(&meta, b_came_up, marked)
            .with_context(|| format!("after cut {n} ({delay} ms after verification)"))?;
        let stage = match (marked, b_came_up) {
            (true, _) => "after B's commit was logged",
            (false, true) => "after B came up",
            (false, false) => "before B came up",
        };
        report.push_str(&format!(
            "cut {n}: {delay} ms after verification ({stage}); metadata generation {generation}: {meta}\n"
        ));
    }
    boot_expecting(env, CUTS + 1, Some(EXIT_PASS), &[TEST_PASS])?;
    Ok(report)
}

/// `meta` with slot B just installed: taken out of service, then made active (priority 15,
/// 7 tries, not yet successful; A lowered to 14).
fn install_b(meta: &Metadata) -> Result<Metadata> {
    Ok(set_active(&mark_unbootable(meta, Slot::B), Slot::B))
}

/// After a cut: some slot can boot and A keeps its committed state; B is successful only if
/// it came up in some boot (`b_came_up`), and is when this boot logged its commit (`marked`);
/// once successful it stays bootable.
fn check_after_cut(meta: &Metadata, b_came_up: bool, marked: bool) -> Result<()> {
    ensure!(
        choose(meta, [true, true]).is_ok(),
        "no slot can boot: {meta}"
    );
    let a = meta.slot(Slot::A);
    ensure!(
        a.successful() && a.priority() > 0,
        "committed slot A abandoned: {meta}"
    );
    let b = meta.slot(Slot::B);
    ensure!(
        !b.successful() || b_came_up,
        "slot B successful though it never came up: {meta}"
    );
    ensure!(
        b.successful() || !marked,
        "slot B's commit was logged but is not stored: {meta}"
    );
    ensure!(
        !b.successful() || b.priority() > 0,
        "committed slot B abandoned: {meta}"
    );
    Ok(())
}

/// The A/B slot scenarios: driven ones over several boots, and the console's commands.
pub fn slot_scenarios() -> Vec<Scenario> {
    const DEFAULT: &str = crate::description::DEFAULT_PATH;
    const BROKEN: &str = "system/tests/broken_console.json";
    let driven = |name, driver, a: &'static str, b: &'static str| Scenario {
        end: End::Exit(0),
        driver: Some(driver),
        system: a,
        slot_b: Some(b),
        ..Scenario::boot(name, vec![line(TEST_PASS)])
    };
    let mut fallback = driven(
        "slots-commit-keeps-fallback",
        Driver::Slots(SlotDriver::CommitKeepsFallback),
        EPOCH2_SYSTEM,
        EPOCH3_SYSTEM,
    );
    fallback.signing = Signing::Enforce;
    vec![
        driven(
            "slots-damaged-a",
            Driver::Slots(SlotDriver::DamagedA),
            DEFAULT,
            DEFAULT,
        ),
        driven(
            "slots-tries-exhausted",
            Driver::Slots(SlotDriver::TriesExhausted),
            BROKEN,
            DEFAULT,
        ),
        driven(
            "slots-one-shot-trial",
            Driver::Slots(SlotDriver::OneShotTrial),
            DEFAULT,
            BROKEN,
        ),
        fallback,
        driven(
            "slots-power-cut",
            Driver::Slots(SlotDriver::PowerCut),
            DEFAULT,
            DEFAULT,
        ),
        console(),
    ]
}

/// `slots` and `slot set-active B` on the console; the next boot is slot B's.
fn console() -> Scenario {
    const FIRST: &[ConsoleStep] = &[
        at_prompt("slots"),
        at_prompt("slot set-active B"),
        at_prompt("poweroff"),
    ];
    const SECOND: &[ConsoleStep] = &[at_prompt("slots"), at_prompt("poweroff")];
    let first = vec![
        starts(&format!("{SLOTS_BOOTING_START}A (highest priority); ")),
        typed("slots"),
        line("slot A: priority 15, 7 tries left, successful (booted now)"),
        line("slot B: priority 14, 7 tries left, successful"),
        line("one-shot trial: none"),
        // (The console logs the change as it is typed: the echo is split, not matched.)
        line("slot B is now active: it boots from the next boot on"),
        line("slot A: priority 14, 7 tries left, successful (booted now)"),
        line("slot B: priority 15, 7 tries left, successful"),
        line("powering off..."),
    ];
    let second = vec![
        starts(&format!("{STUB_BOOTING}B (highest priority)")),
        starts(&format!("{SLOTS_BOOTING_START}B (highest priority); ")),
        typed("slots"),
        line("slot A: priority 14, 7 tries left, successful"),
        line("slot B: priority 15, 7 tries left, successful (booted now)"),
        line("powering off..."),
    ];
    Scenario {
        cmdline: "",
        end: End::Exit(0),
        slot_b: Some(crate::description::DEFAULT_PATH),
        second_boot: Some(SecondBoot {
            expect: second,
            end: End::Exit(0),
            console: SECOND,
            replace: None,
        }),
        console: FIRST,
        ..Scenario::boot("slots-console", first)
    }
}
