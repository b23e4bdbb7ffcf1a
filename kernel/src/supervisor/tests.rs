use super::*;
use crate::caps::Machine;
use loader::manifest::{Entry, Manifest, DEFAULT_MEMORY_LIMIT};

// ---- a fake process table with scripted behaviour and virtual time ----

#[derive(Clone, Debug)]
enum Script {
    /// READY `ms` after spawn, then stays alive.
    Ready(u64),
    /// READY at `ready`, EXIT(`code`) at `exit` (ms after spawn).
    ReadyThenExit { ready: u64, exit: u64, code: i32 },
    /// READY at `ready`, page fault at `fault`.
    ReadyThenFault { ready: u64, fault: u64 },
    /// EXIT(`code`) at `ms`, never READY.
    ExitBeforeReady { ms: u64, code: i32 },
    /// Page fault at `ms`, never READY.
    Fault(u64),
    /// Never READY, never exits.
    Hang,
}

impl Script {
    /// (READY time, exit time and how), in ms after spawn.
    fn events(&self) -> (Option<u64>, Option<(u64, Exit)>) {
        let fault = Exit::Fault {
            fault: FaultKind::PageFault,
            rip: 0x40_1000,
            addr: Some(0),
        };
        match *self {
            Self::Ready(r) => (Some(r), None),
            Self::ReadyThenExit { ready, exit, code } => {
                (Some(ready), Some((exit, Exit::Code(code))))
            }
            Self::ReadyThenFault { ready, fault: f } => (Some(ready), Some((f, fault))),
            Self::ExitBeforeReady { ms, code } => (None, Some((ms, Exit::Code(code)))),
            Self::Fault(ms) => (None, Some((ms, fault))),
            Self::Hang => (None, None),
        }
    }
}

struct Proc {
    name: String,
    started_us: u64,
    script: Script,
    killed: Option<(u64, KillReason)>,
}

#[derive(Default)]
struct Fake {
    now: u64,
    scripts: Vec<(&'static str, Script)>,
    spawn_fails: Vec<&'static str>,
    procs: Vec<Proc>,
    /// (name, time, grants) per spawn.
    spawned: Vec<(String, u64, Grants)>,
    /// Spawns that happened while an earlier process had neither signalled READY nor ended.
    gating_violations: Vec<String>,
    kills: Vec<(String, KillReason)>,
}

impl Fake {
    fn new(scripts: &[(&'static str, Script)]) -> Fake {
        Fake {
            now: 1_000_000,
            scripts: scripts.to_vec(),
            ..Fake::default()
        }
    }

    fn spawned_names(&self) -> Vec<&str> {
        self.spawned.iter().map(|(n, _, _)| n.as_str()).collect()
    }
}

impl Processes for Fake {
    fn now_us(&self) -> u64 {
        self.now
    }

    fn spawn(
        &mut self,
        name: &str,
        elf: &[u8],
        grants: Grants,
        _limit: MemoryLimit,
    ) -> Result<Pid, SpawnError> {
        assert_eq!(elf, format!("ELF of {name}").as_bytes());
        for pid in 1..=self.procs.len() as Pid {
            let s = self.status(pid).unwrap();
            if s.ready_us.is_none() && s.exit.is_none() {
                self.gating_violations.push(name.to_string());
            }
        }
        self.spawned.push((name.to_string(), self.now, grants));
        if self.spawn_fails.contains(&name) {
            return Err(SpawnError::OutOfMemory);
        }
        self.now += 500; // spawning takes time
        let script = self
            .scripts
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Script::Ready(1), |(_, s)| s.clone());
        self.procs.push(Proc {
            name: name.to_string(),
            started_us: self.now,
            script,
            killed: None,
        });
        Ok(self.procs.len() as Pid)
    }

    fn status(&self, pid: Pid) -> Option<Status> {
        let p = self.procs.get((pid as usize).checked_sub(1)?)?;
        let at = |ms: u64| p.started_us + ms * 1000;
        let (ready, exit) = p.script.events();
        let mut end: Option<(u64, Exit)> = exit
            .map(|(ms, e)| (at(ms), e))
            .filter(|(t, _)| *t <= self.now);
        if let Some((t, reason)) = p.killed {
            if end.as_ref().is_none_or(|(e, _)| t < *e) {
                end = Some((t, Exit::Killed(reason)));
            }
        }
        let ready_us = ready
            .map(at)
            .filter(|&r| r <= self.now && end.as_ref().is_none_or(|(e, _)| r <= *e));
        Some(Status {
            started_us: p.started_us,
            ready_us,
            exit: end.map(|(_, e)| e),
        })
    }

    fn kill(&mut self, pid: Pid, reason: KillReason) {
        let now = self.now;
        let p = &mut self.procs[pid as usize - 1];
        self.kills.push((p.name.clone(), reason));
        p.killed.get_or_insert((now, reason));
    }

    fn wait_until(&mut self, deadline_us: u64, done: &mut dyn FnMut(&Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if self.now >= deadline_us {
                return false;
            }
            self.now = (self.now + 100).min(deadline_us);
        }
    }
}

// ---- manifests ----

fn entry(name: &str, caps: &[&str], deps: &[&str], timeout_ms: Option<u32>) -> Entry {
    let mut e = Entry {
        name: name.try_into().unwrap(),
        kind: "native".try_into().unwrap(),
        start_timeout_ms: timeout_ms,
        expected_state: None,
        memory_limit: None,
        size_bytes: 1,
        ..Entry::default()
    };
    for c in caps {
        e.capabilities.push((*c).try_into().unwrap()).unwrap();
    }
    for d in deps {
        e.depends_on.push((*d).try_into().unwrap()).unwrap();
    }
    e
}

fn manifest(services: Vec<Entry>, components: Vec<Entry>, init: &[&str]) -> Manifest {
    let mut m = Manifest {
        format_version: 1,
        ..Manifest::default()
    };
    for s in services {
        m.services.push(s).unwrap();
    }
    for c in components {
        m.components.push(c).unwrap();
    }
    for n in init {
        m.init_sequence.push((*n).try_into().unwrap()).unwrap();
    }
    m
}

fn machine() -> Machine {
    Machine {
        user_data: true,
        console: true,
        framebuffer: true,
        network_devices: Vec::new(),
    }
}

struct Run {
    outcome: Outcome,
    log: Vec<(Level, String)>,
}

impl Run {
    fn state(&self, name: &str) -> &State {
        &self.outcome.get(name).unwrap().start
    }

    fn has_line(&self, line: &str) -> bool {
        self.log.iter().any(|(_, l)| l == line)
    }
}

fn run_with(m: &Manifest, fake: &mut Fake, machine: &Machine) -> Run {
    run_config(m, fake, machine, &Config::default())
}

fn run_config(m: &Manifest, fake: &mut Fake, machine: &Machine, config: &Config) -> Run {
    let mut log = Vec::new();
    let outcome = run(
        m,
        machine,
        fake,
        &mut |e: &Entry| Ok(format!("ELF of {}", e.name).into_bytes()),
        config,
        &mut |level, line| log.push((level, line.to_string())),
    );
    Run { outcome, log }
}

fn states(run: &Run, fake: &Fake) -> Vec<(String, String)> {
    run.outcome
        .rows(fake)
        .into_iter()
        .map(|r| (r.name, r.state.to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// ---- tests ----

#[test]
fn starts_in_init_sequence_order_each_after_the_previous_is_ready() {
    let m = manifest(
        vec![
            entry("c", &[], &["a", "b"], None),
            entry("a", &[], &[], None),
            entry("b", &[], &[], None),
        ],
        vec![],
        &["b", "a", "c"],
    );
    let mut fake = Fake::new(&[
        ("b", Script::Ready(40)),
        ("a", Script::Ready(5)),
        ("c", Script::Ready(12)),
    ]);
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(fake.spawned_names(), ["b", "a", "c"]);
    assert!(
        fake.gating_violations.is_empty(),
        "{:?}",
        fake.gating_violations
    );
    // b was spawned at t0 and took 0.5 ms to spawn, then 40 ms to be ready: a starts after that.
    let t = |n: &str| fake.spawned.iter().find(|s| s.0 == n).unwrap().1;
    assert!(t("a") >= t("b") + 40_500, "{} {}", t("a"), t("b"));
    assert!(t("c") >= t("a") + 5_500);
    for (name, after) in [("b", 40_000), ("a", 5_000), ("c", 12_000)] {
        let rec = r.outcome.get(name).unwrap();
        assert_eq!(rec.start, State::Ready, "{name}");
        assert_eq!(rec.ready_after_us, Some(after), "{name}");
    }
    assert!(r.has_line("b ready after 40.0 ms"));
    assert_eq!(
        states(&r, &fake),
        pairs(&[("b", "ready"), ("a", "ready"), ("c", "ready")])
    );
}

#[test]
fn timeout_kills_fails_and_skips_dependents_transitively_independents_still_start() {
    let m = manifest(
        vec![
            entry("slow", &[], &[], Some(50)),
            entry("mid", &[], &["slow"], None),
            entry("other", &[], &[], None),
        ],
        vec![entry("top", &[], &["mid", "other"], None)],
        &["slow", "mid", "other", "top"],
    );
    let mut fake = Fake::new(&[("slow", Script::Hang), ("other", Script::Ready(3))]);
    let t0 = fake.now;
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(fake.spawned_names(), ["slow", "other"]);
    assert_eq!(r.state("slow"), &State::Failed(Failure::Timeout { ms: 50 }));
    assert_eq!(fake.kills, [("slow".to_string(), KillReason::StartTimeout)]);
    // Waited 50 ms from its start (0.5 ms after t0), no more.
    let other_at = fake.spawned[1].1;
    assert_eq!(other_at, t0 + 500 + 50_000);
    assert_eq!(
        r.state("mid"),
        &State::Skipped {
            dependency: "slow".into(),
            its_state: "failed"
        }
    );
    assert_eq!(
        r.state("top"),
        &State::Skipped {
            dependency: "mid".into(),
            its_state: "was skipped"
        }
    );
    assert_eq!(r.state("other"), &State::Ready);
    assert!(r.has_line("slow failed: timeout after 50 ms; killing it"));
    assert!(r.has_line("mid skipped: depends on slow, which failed"));
    assert!(r.has_line("top skipped: depends on mid, which was skipped"));
    assert_eq!(
        states(&r, &fake),
        pairs(&[
            ("slow", "failed(timeout after 50 ms)"),
            ("mid", "skipped(because slow failed)"),
            ("other", "ready"),
            ("top", "skipped(because mid was skipped)"),
        ])
    );
    let warn: Vec<&str> = r
        .log
        .iter()
        .filter(|(l, _)| *l == Level::Warn)
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(warn.len(), 3, "{warn:?}");
}

#[test]
fn default_timeout_is_three_seconds() {
    let m = manifest(vec![entry("a", &[], &[], None)], vec![], &["a"]);
    let mut fake = Fake::new(&[("a", Script::Hang)]);
    let t0 = fake.now;
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(r.state("a"), &State::Failed(Failure::Timeout { ms: 3000 }));
    assert_eq!(r.outcome.elapsed_us, 500 + 3_000_000);
    // After the kill it is gone, so the settle is cut short.
    assert_eq!(fake.now, t0 + 500 + 3_000_000);
    assert_eq!(
        states(&r, &fake),
        pairs(&[("a", "failed(timeout after 3000 ms)")])
    );
}

#[test]
fn ready_at_the_deadline_counts_as_ready() {
    let m = manifest(vec![entry("a", &[], &[], Some(20))], vec![], &["a"]);
    let mut fake = Fake::new(&[("a", Script::Ready(20))]);
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(r.state("a"), &State::Ready);
    assert!(fake.kills.is_empty());
}

#[test]
fn exit_before_ready_fails_and_skips_dependents() {
    let m = manifest(
        vec![entry("a", &[], &[], None), entry("b", &[], &[], None)],
        vec![entry("c", &[], &["a"], None)],
        &["a", "b", "c"],
    );
    let mut fake = Fake::new(&[("a", Script::ExitBeforeReady { ms: 2, code: 3 })]);
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(r.state("a"), &State::Failed(Failure::ExitedBeforeReady(3)));
    assert!(fake.kills.is_empty());
    assert_eq!(fake.spawned_names(), ["a", "b"]);
    assert!(r.has_line("a failed: exited with code 3 before ready"));
    assert_eq!(
        states(&r, &fake),
        pairs(&[
            ("a", "failed(exited with code 3 before ready)"),
            ("b", "ready"),
            ("c", "skipped(because a failed)"),
        ])
    );
}

#[test]
fn each_entry_logs_one_state_record_that_parses_back() {
    let m = manifest(
        vec![entry("a", &[], &[], None), entry("b", &[], &[], None)],
        vec![entry("c", &[], &["a"], None), entry("d", &[], &[], None)],
        &["a", "b", "c", "d"],
    );
    let mut fake = Fake::new(&[
        ("a", Script::ExitBeforeReady { ms: 2, code: 1 }),
        ("b", Script::Ready(5)),
        (
            "d",
            Script::ReadyThenExit {
                ready: 3,
                exit: 4,
                code: 0,
            },
        ),
    ]);
    let r = run_with(&m, &mut fake, &machine());
    let records: Vec<_> = r
        .log
        .iter()
        .filter_map(|(_, l)| bootlog::state::Record::parse(l))
        .map(|rec| (rec.name.to_string(), rec.state, rec.detail.to_string()))
        .collect();
    use bootlog::state::StateKind::*;
    assert_eq!(
        records,
        [
            ("a".into(), Failed, "exited with code 1 before ready".into()),
            ("b".into(), Ready, String::new()),
            ("c".into(), Skipped, "because a failed".into()),
            ("d".into(), Exited(0), String::new()),
        ]
    );
    assert!(r.has_line("state: b ready 5.0"), "{:?}", r.log);
    assert_eq!(r.outcome.rows_at_end, r.outcome.rows(&fake));
}

#[test]
fn test_boot_judges_every_entry_against_its_expected_state() {
    use bootlog::state::{Expected, StateKind};
    let mut c = entry("c", &[], &["a"], None);
    c.expected_state = Some(loader::manifest::ExpectedState(Expected::Is(
        StateKind::Skipped,
    )));
    let mut a = entry("a", &[], &[], None);
    let m = |a: &Entry| {
        manifest(
            vec![a.clone(), entry("b", &[], &[], None)],
            vec![c.clone()],
            &["a", "b", "c"],
        )
    };
    let script = || {
        Fake::new(&[
            ("a", Script::ExitBeforeReady { ms: 2, code: 1 }),
            ("b", Script::Ready(5)),
        ])
    };
    // `a` fails, which the image does not expect (default: up); `c` is skipped, as it expects.
    let mut fake = script();
    let r = run_with(&m(&a), &mut fake, &machine());
    assert_eq!(
        unmet_expectations(&r.outcome.rows_at_end, &m(&a)),
        ["test=boot: a is failed(exited with code 1 before ready), the image expects up"]
    );
    // The image says `a` must fail: every entry is where it should be.
    a.expected_state = Some(loader::manifest::ExpectedState(Expected::Is(
        StateKind::Failed,
    )));
    let mut fake = script();
    let r = run_with(&m(&a), &mut fake, &machine());
    assert!(unmet_expectations(&r.outcome.rows_at_end, &m(&a)).is_empty());
}

/// A screen owner on a machine without a framebuffer is refused, which the image's default
/// expectation (up) excuses: a headless machine boots fine without it.
#[test]
fn a_missing_framebuffer_is_excused() {
    let m = manifest(
        vec![entry("svc", &[], &[], None)],
        vec![entry("renderer", &["framebuffer"], &[], None)],
        &["renderer", "svc"],
    );
    let mut fake = Fake::new(&[("svc", Script::Ready(5)), ("renderer", Script::Ready(5))]);
    let headless = Machine {
        framebuffer: false,
        ..machine()
    };
    let r = run_with(&m, &mut fake, &headless);
    let renderer = &r.outcome.rows_at_end[0];
    assert_eq!(renderer.name, "renderer");
    assert!(renderer.state.lacks_optional_device(), "{}", renderer.state);
    assert!(unmet_expectations(&r.outcome.rows_at_end, &m).is_empty());
    let mut fake = Fake::new(&[("svc", Script::Ready(5)), ("renderer", Script::Ready(5))]);
    let r = run_with(&m, &mut fake, &machine());
    assert!(r.outcome.rows_at_end.iter().all(|r| r.state.came_up()));
}

#[test]
fn fault_before_ready_names_the_fault() {
    let m = manifest(
        vec![entry("a", &[], &[], None)],
        vec![entry("c", &[], &["a"], None)],
        &["a", "c"],
    );
    let mut fake = Fake::new(&[("a", Script::Fault(1))]);
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(
        states(&r, &fake),
        pairs(&[
            ("a", "failed(#PF page fault at RIP 0x401000 address 0x0)"),
            ("c", "skipped(because a failed)"),
        ])
    );
    assert!(r.has_line("a failed: #PF page fault at RIP 0x401000 address 0x0"));
    let no_addr = Failure::Fault {
        fault: FaultKind::GeneralProtection,
        rip: 0x40_1234,
        addr: None,
    };
    assert_eq!(
        no_addr.to_string(),
        "#GP general protection fault at RIP 0x401234"
    );
    assert_eq!(
        Failure::Killed(KillReason::MemoryLimitReached).to_string(),
        "killed: memory limit reached"
    );
}

#[test]
fn refused_capability_refuses_the_entry_and_skips_dependents() {
    let m = manifest(
        vec![
            entry(
                "storage",
                &["block_device", "persistent_storage"],
                &[],
                None,
            ),
            entry(
                "network",
                &["network_device:eth0", "port_range:1024-65535"],
                &[],
                None,
            ),
            entry("gpu_user", &["console", "gpu"], &[], None),
        ],
        vec![entry("web", &["console"], &["network"], None)],
        &["storage", "network", "gpu_user", "web"],
    );
    let mut fake = Fake::new(&[]);
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(fake.spawned_names(), ["storage"]);
    assert!(fake.spawned[0].2.user_data());
    assert_eq!(
        fake.spawned[0].2.names,
        ["block_device", "persistent_storage"]
    );
    assert!(r.has_line("starting storage (capabilities: block_device, persistent_storage)"));
    assert!(
        r.has_line("network refused: capability network_device:eth0: no network device named eth0")
    );
    assert!(r.has_line("gpu_user refused: capability gpu: unknown capability kind `gpu`"));
    assert!(r.has_line("web skipped: depends on network, which was refused"));
    assert_eq!(
        states(&r, &fake),
        pairs(&[
            ("storage", "ready"),
            (
                "network",
                "refused(capability network_device:eth0: no network device named eth0)"
            ),
            (
                "gpu_user",
                "refused(capability gpu: unknown capability kind `gpu`)"
            ),
            ("web", "skipped(because network was refused)"),
        ])
    );
    let rows = r.outcome.rows(&fake);
    assert_eq!(rows[0].capabilities, "block_device, persistent_storage");
    assert_eq!(rows[1].capabilities, "-");
}

#[test]
fn a_signature_veto_refuses_the_entry_alone_and_skips_dependents() {
    let m = manifest(
        vec![entry("storage", &["block_device"], &[], None)],
        vec![
            entry("vendor", &["console"], &[], None),
            entry("web", &["console"], &["vendor"], None),
            entry("other", &[], &[], None),
        ],
        &["storage", "vendor", "web", "other"],
    );
    let veto = signing::image::Refusal {
        entry: "vendor".try_into().unwrap(),
        key_id: "vendor_key".try_into().unwrap(),
        reason: signing::image::Reason::UnknownKey,
    };
    let config = Config {
        vetoes: alloc::vec![veto.clone()],
        ..Config::default()
    };
    let mut fake = Fake::new(&[]);
    let r = run_config(&m, &mut fake, &machine(), &config);
    assert_eq!(fake.spawned_names(), ["storage", "other"]);
    assert!(r.has_line(&format!("vendor refused: signature: {veto}")));
    assert!(r.has_line("web skipped: depends on vendor, which was refused"));
    assert_eq!(
        states(&r, &fake)[1],
        ("vendor".to_string(), format!("refused(signature: {veto})"))
    );
}

#[test]
fn entries_not_in_init_sequence_are_not_started() {
    let m = manifest(
        vec![
            entry("a", &[], &[], None),
            entry("idle", &["console"], &[], None),
        ],
        vec![entry("extra", &[], &["a"], None)],
        &["a"],
    );
    let mut fake = Fake::new(&[]);
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(fake.spawned_names(), ["a"]);
    assert_eq!(r.log[0].1, "idle is not in init_sequence: not started");
    assert_eq!(r.log[1].1, "extra is not in init_sequence: not started");
    assert_eq!(
        states(&r, &fake),
        pairs(&[
            ("a", "ready"),
            ("idle", "not started (not in init_sequence)"),
            ("extra", "not started (not in init_sequence)"),
        ])
    );
}

#[test]
fn a_dependency_outside_init_sequence_skips_its_dependent() {
    // The image check forbids this; the supervisor still says why.
    let m = manifest(
        vec![
            entry("a", &[], &["ghost_free"], None),
            entry("ghost_free", &[], &[], None),
        ],
        vec![entry("b", &[], &["nobody"], None)],
        &["a", "b"],
    );
    let mut fake = Fake::new(&[]);
    let r = run_with(&m, &mut fake, &machine());
    assert!(fake.spawned.is_empty());
    assert_eq!(
        states(&r, &fake),
        pairs(&[
            ("a", "skipped(because ghost_free was not started)"),
            ("b", "skipped(because nobody does not exist)"),
            ("ghost_free", "not started (not in init_sequence)"),
        ])
    );
}

#[test]
fn state_after_ready_follows_the_process() {
    let m = manifest(
        vec![
            entry("quick", &[], &[], None),
            entry("server", &[], &[], None),
            entry("crashy", &[], &[], None),
        ],
        vec![entry("cli", &[], &["quick"], None)],
        &["quick", "server", "crashy", "cli"],
    );
    let mut fake = Fake::new(&[
        (
            "quick",
            Script::ReadyThenExit {
                ready: 1,
                exit: 2,
                code: 0,
            },
        ),
        ("server", Script::Ready(1)),
        (
            "crashy",
            Script::ReadyThenFault {
                ready: 1,
                fault: 50,
            },
        ),
        (
            "cli",
            Script::ReadyThenExit {
                ready: 1,
                exit: 30,
                code: 7,
            },
        ),
    ]);
    let r = run_with(&m, &mut fake, &machine());
    // quick exited right after READY, before cli started: cli still starts (quick came up).
    assert_eq!(fake.spawned_names(), ["quick", "server", "crashy", "cli"]);
    assert_eq!(r.state("quick"), &State::Ready);
    assert_eq!(
        states(&r, &fake),
        pairs(&[
            ("quick", "exited(0)"),
            ("server", "ready"),
            (
                "crashy",
                "failed(#PF page fault at RIP 0x401000 address 0x0)"
            ),
            ("cli", "exited(7)"),
        ])
    );
    // The settle waited the whole 100 ms: server is still alive.
    let table = r
        .log
        .iter()
        .position(|(_, l)| l.starts_with("NAME"))
        .unwrap();
    assert!(r.log[table + 1].1.contains("exited(0)"), "{:?}", r.log);
}

#[test]
fn settle_is_cut_short_when_everything_has_exited() {
    let m = manifest(vec![entry("a", &[], &[], None)], vec![], &["a"]);
    let mut fake = Fake::new(&[(
        "a",
        Script::ReadyThenExit {
            ready: 1,
            exit: 3,
            code: 0,
        },
    )]);
    let t0 = fake.now;
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(fake.now, t0 + 500 + 3000);
    assert_eq!(states(&r, &fake), pairs(&[("a", "exited(0)")]));
}

#[test]
fn load_and_spawn_failures() {
    let m = manifest(
        vec![
            entry("unreadable", &[], &[], None),
            entry("unspawnable", &[], &[], None),
            entry("fine", &[], &[], None),
        ],
        vec![entry("dep", &[], &["unreadable"], None)],
        &["unreadable", "unspawnable", "fine", "dep"],
    );
    let mut fake = Fake::new(&[]);
    fake.spawn_fails.push("unspawnable");
    let mut log = Vec::new();
    let outcome = run(
        &m,
        &machine(),
        &mut fake,
        &mut |e: &Entry| {
            if e.name == "unreadable" {
                Err(LoadError::ChecksumMismatch { block: 7 })
            } else {
                Ok(format!("ELF of {}", e.name).into_bytes())
            }
        },
        &Config::default(),
        &mut |_, line| log.push(line.to_string()),
    );
    assert_eq!(fake.spawned_names(), ["unspawnable", "fine"]);
    let rows: Vec<String> = outcome
        .rows(&fake)
        .iter()
        .map(|r| r.state.to_string())
        .collect();
    assert_eq!(
        rows,
        [
            "failed(cannot read its binary: its blocks changed since verification (SHA-256 mismatch at block 7))",
            "failed(cannot start: out of physical memory for the program)",
            "ready",
            "skipped(because unreadable failed)",
        ]
    );
    assert!(log
        .contains(&"unreadable failed: cannot read its binary: its blocks changed since verification (SHA-256 mismatch at block 7)".to_string()));
}

#[test]
fn the_system_description_on_a_machine_without_network() {
    let m = manifest(
        vec![
            entry(
                "services_storage",
                &["block_device", "persistent_storage"],
                &[],
                None,
            ),
            entry("services_logger", &["console"], &[], None),
            entry(
                "services_network",
                &["network_device:eth0", "port_range:1024-65535"],
                &[],
                None,
            ),
        ],
        vec![entry(
            "cli_console",
            &["console"],
            &["services_storage", "services_logger"],
            None,
        )],
        &[
            "services_storage",
            "services_logger",
            "services_network",
            "cli_console",
        ],
    );
    let exit_after_ready = Script::ReadyThenExit {
        ready: 12,
        exit: 13,
        code: 0,
    };
    let mut fake = Fake::new(&[
        ("services_storage", exit_after_ready.clone()),
        ("services_logger", exit_after_ready.clone()),
        ("cli_console", exit_after_ready),
    ]);
    let r = run_with(&m, &mut fake, &machine());
    let lines: Vec<&str> = r.log.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "starting services_storage (capabilities: block_device, persistent_storage)",
            "services_storage ready after 12.0 ms",
            "starting services_logger (capabilities: console)",
            "services_logger ready after 12.0 ms",
            "services_network refused: capability network_device:eth0: no network device named eth0",
            "starting cli_console (capabilities: console)",
            "cli_console ready after 12.0 ms",
            "start sequence done in 37.5 ms: 4 entries: 3 came up, 1 refused",
            "NAME              STATE                                                                  CAPABILITIES                      READY (ms)",
            "services_storage  exited(0)                                                              block_device, persistent_storage  12.0",
            "services_logger   exited(0)                                                              console                           12.0",
            "services_network  refused(capability network_device:eth0: no network device named eth0)  -                                 -",
            "cli_console       exited(0)                                                              console                           12.0",
            "state: services_storage exited(0) 12.0",
            "state: services_logger exited(0) 12.0",
            "state: services_network refused - capability network_device:eth0: no network device named eth0",
            "state: cli_console exited(0) 12.0",
        ]
    );
}

#[test]
fn table_lines_align_columns_and_show_every_state() {
    let grants = crate::caps::grant(&["console"], &machine()).unwrap();
    let row = |name: &str, state: State, caps: &str, ready: Option<u64>| Row {
        name: name.into(),
        state,
        capabilities: caps.into(),
        ready_after_us: ready,
    };
    let rows = [
        row("a", State::Ready, &grants.display_list(), Some(1_234)),
        row("bb", State::Running, "none", None),
        row("c", State::Exited(-1), "none", Some(99)),
        row(
            "d",
            State::Failed(Failure::Timeout { ms: 3000 }),
            "none",
            None,
        ),
        row(
            "e",
            State::Skipped {
                dependency: "d".into(),
                its_state: "failed",
            },
            "-",
            None,
        ),
        row(
            "f",
            State::Refused(Refusal::Capability(
                crate::caps::grant(&["gpu"], &machine()).unwrap_err(),
            )),
            "-",
            None,
        ),
        row("g", State::NotStarted, "-", None),
    ];
    assert_eq!(
        table_lines(&rows),
        [
            "NAME  STATE                                                   CAPABILITIES  READY (ms)",
            "a     ready                                                   console       1.2",
            "bb    running                                                 none          -",
            "c     exited(-1)                                              none          0.0",
            "d     failed(timeout after 3000 ms)                           none          -",
            "e     skipped(because d failed)                               -             -",
            "f     refused(capability gpu: unknown capability kind `gpu`)  -             -",
            "g     not started (not in init_sequence)                      -             -",
        ]
    );
    assert_eq!(table_lines(&[]), ["NAME  STATE  CAPABILITIES  READY (ms)"]);
}

#[test]
fn running_is_alive_without_ready() {
    let mut fake = Fake::new(&[("x", Script::Hang)]);
    let pid = fake
        .spawn("x", b"ELF of x", Grants::none(), DEFAULT_MEMORY_LIMIT)
        .unwrap();
    let outcome = Outcome {
        records: vec![Record {
            name: "x".into(),
            start: State::Ready,
            pid: Some(pid),
            grants: Some(Grants::none()),
            ready_after_us: None,
        }],
        elapsed_us: 0,
        rows_at_end: Vec::new(),
    };
    assert_eq!(outcome.rows(&fake)[0].state, State::Running);
    fake.kill(pid, KillReason::Operator);
    assert_eq!(
        outcome.rows(&fake)[0].state.to_string(),
        "failed(killed: operator)"
    );
    let gone = Outcome {
        records: vec![Record {
            pid: Some(42),
            ..outcome.records[0].clone()
        }],
        elapsed_us: 0,
        rows_at_end: Vec::new(),
    };
    assert_eq!(gone.rows(&fake)[0].state, State::Failed(Failure::Vanished));
}

#[test]
fn init_sequence_repeats_and_unknown_names_are_ignored() {
    let m = manifest(
        vec![entry("a", &[], &[], None)],
        vec![],
        &["a", "ghost", "a"],
    );
    let mut fake = Fake::new(&[]);
    let r = run_with(&m, &mut fake, &machine());
    assert_eq!(fake.spawned_names(), ["a"]);
    assert!(r.has_line("ghost is in init_sequence but not in the manifest: ignored"));
    assert!(r.has_line("a is listed twice in init_sequence: started once"));
    assert_eq!(r.outcome.records.len(), 1);
}

/// Regression: a dependency that signalled READY and then faulted (or exited with an error)
/// before its dependent was due used to count as "up", so the dependent started anyway.
#[test]
fn a_dependency_that_failed_after_ready_skips_its_dependents() {
    let m = manifest(
        vec![
            entry("faulty", &[], &[], None),
            entry("erring", &[], &[], None),
            entry("fine", &[], &[], None),
        ],
        vec![
            entry("needs_faulty", &[], &["faulty"], None),
            entry("needs_erring", &[], &["erring"], None),
            entry("needs_fine", &[], &["fine"], None),
        ],
        &[
            "faulty",
            "erring",
            "fine",
            "needs_faulty",
            "needs_erring",
            "needs_fine",
        ],
    );
    let mut fake = Fake::new(&[
        ("faulty", Script::ReadyThenFault { ready: 1, fault: 2 }),
        (
            "erring",
            Script::ReadyThenExit {
                ready: 1,
                exit: 2,
                code: 3,
            },
        ),
        (
            "fine",
            Script::ReadyThenExit {
                ready: 1,
                exit: 2,
                code: 0,
            },
        ),
        ("needs_fine", Script::Ready(1)),
    ]);
    let r = run_with(&m, &mut fake, &machine());
    let got = states(&r, &fake);
    assert_eq!(
        got[3],
        (
            "needs_faulty".to_string(),
            "skipped(because faulty failed)".to_string()
        )
    );
    assert_eq!(
        got[4],
        (
            "needs_erring".to_string(),
            "skipped(because erring exited with an error)".to_string()
        )
    );
    assert_eq!(got[5], ("needs_fine".to_string(), "ready".to_string()));
}

#[test]
fn load_errors_read_as_one_line() {
    let cases = [
        (LoadError::NotInImage, "not in the image"),
        (LoadError::AlreadyStarted, "already started"),
        (LoadError::DiskUnreadable, "the image disk cannot be read"),
        (
            LoadError::TooBig { size: 4096 },
            "4096 bytes do not fit in the kernel heap",
        ),
        (
            LoadError::Read {
                block: 9,
                error: SourceError::UnsupportedSectorSize(520),
            },
            "reading block 9: sector size 520 bytes is not supported (512 and 4096 are)",
        ),
        (
            LoadError::ChecksumMismatch { block: 3 },
            "its blocks changed since verification (SHA-256 mismatch at block 3)",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
        assert_eq!(
            Failure::Load(e).to_string(),
            format!("cannot read its binary: {text}")
        );
    }
}
