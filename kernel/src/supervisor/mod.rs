//! The supervisor: starts the manifest's entries one by one in `init_sequence` order.
//!
//! For each name in `init_sequence`:
//!
//! 1. if a dependency did not come up (it failed, was refused, was skipped, was not started), the
//!    entry is **skipped**; dependents of a skipped entry are skipped in turn, so a failure
//!    propagates transitively;
//! 2. its capabilities are granted ([`crate::caps::grant`]) or the entry is **refused**;
//! 3. its binary is read (a callback of the caller) and spawned;
//! 4. the supervisor waits until it signals READY, exits, faults or its start timeout passes
//!    (`start_timeout_ms` in the manifest, default [`DEFAULT_START_TIMEOUT_MS`]); a timed-out
//!    process is killed. Only then does the next entry start. Entries that do not depend on a
//!    failed one still start.
//!
//! Entries that are not in `init_sequence` are not started. After a short settle
//! ([`SETTLE_MS`]) the state table is logged, one line per entry ([`table_lines`]).
//!
//! The logic is generic over [`Processes`] so that it is host-tested with a fake; the kernel's
//! adapter onto `crate::process` is [`run_start_sequence`] (target only).

#[cfg(target_os = "none")]
mod kernel_processes;
#[cfg(test)]
mod tests;

#[cfg(target_os = "none")]
pub use kernel_processes::{current_table, run_start_sequence, KernelProcesses};

use crate::caps::{self, Grants, Machine};
use crate::image::source::SourceError;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use bootlog::state::{Expected, StateKind};
use core::fmt;
use loader::manifest::{Entry, Manifest, MemoryLimit};
use log::Level;

/// How long an entry may take to signal READY when its manifest entry does not say.
pub const DEFAULT_START_TIMEOUT_MS: u32 = 3000;
/// How long the supervisor lets things settle after the last start, before the table.
pub const SETTLE_MS: u32 = 100;

// The process core's own types: the supervisor reads them as they are.
pub use crate::process::{Exit, FaultKind, KillReason, Pid, SpawnError, Status};

/// The process operations the supervisor uses (the kernel's `process` module, or a test's fake).
pub trait Processes {
    /// Microseconds since boot.
    fn now_us(&self) -> u64;
    /// Creates and starts a process.
    ///
    /// # Errors
    /// Why it could not be started.
    fn spawn(
        &mut self,
        name: &str,
        elf: &[u8],
        grants: Grants,
        limit: MemoryLimit,
    ) -> Result<Pid, SpawnError>;
    /// The process's state; `None` for an unknown pid.
    fn status(&self, pid: Pid) -> Option<Status>;
    /// Ends the process.
    fn kill(&mut self, pid: Pid, reason: KillReason);
    /// Runs processes until `done` says so (`true`) or `deadline_us` passes (`false`).
    fn wait_until(&mut self, deadline_us: u64, done: &mut dyn FnMut(&Self) -> bool) -> bool;
}

/// Knobs of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Start timeout for entries without `start_timeout_ms`.
    pub default_timeout_ms: u32,
    /// Wait after the sequence before the table (cut short when every process has exited).
    pub settle_ms: u32,
    /// Entries verified boot refused (policy `enforce`): each is refused, not started.
    pub vetoes: Vec<signing::image::Refusal>,
}

/// Why an entry was refused before it was started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A declared capability cannot be granted on this machine.
    Capability(caps::Refusal),
    /// Verified boot refused the entry's signature.
    Signature(signing::image::Refusal),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Capability(r) => write!(f, "{r}"),
            Self::Signature(r) => write!(f, "signature: {r}"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_timeout_ms: DEFAULT_START_TIMEOUT_MS,
            settle_ms: SETTLE_MS,
            vetoes: Vec::new(),
        }
    }
}

/// Why an entry's binary could not be read (the `load` callback of [`run`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The image has no binary for the entry.
    NotInImage,
    /// The binary was handed out already (an entry is started once).
    AlreadyStarted,
    /// The image disk cannot be read at all.
    DiskUnreadable,
    /// The binary does not fit in the kernel heap.
    TooBig {
        /// Its size, in bytes.
        size: usize,
    },
    /// Reading its blocks failed.
    Read {
        /// Its first block.
        block: u64,
        /// What the disk said.
        error: SourceError,
    },
    /// What the disk holds now does not hash to the manifest's checksum.
    ChecksumMismatch {
        /// Its first block.
        block: u64,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInImage => f.write_str("not in the image"),
            Self::AlreadyStarted => f.write_str("already started"),
            Self::DiskUnreadable => f.write_str("the image disk cannot be read"),
            Self::TooBig { size } => write!(f, "{size} bytes do not fit in the kernel heap"),
            Self::Read { block, error } => write!(f, "reading block {block}: {error}"),
            Self::ChecksumMismatch { block } => write!(
                f,
                "its blocks changed since verification (SHA-256 mismatch at block {block})"
            ),
        }
    }
}

/// Why an entry that was to be started did not come up (or went down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Its binary could not be read.
    Load(LoadError),
    /// The process could not be created.
    Spawn(SpawnError),
    /// No READY within the start timeout; it was killed.
    Timeout {
        /// The timeout, in milliseconds.
        ms: u64,
    },
    /// It exited before signalling READY.
    ExitedBeforeReady(i32),
    /// It took a CPU exception.
    Fault {
        /// The exception.
        fault: FaultKind,
        /// Where.
        rip: u64,
        /// The faulting address, when there is one.
        addr: Option<u64>,
    },
    /// The kernel killed it.
    Killed(KillReason),
    /// The process table no longer knows its pid.
    Vanished,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Load(e) => write!(f, "cannot read its binary: {e}"),
            Self::Spawn(e) => write!(f, "cannot start: {e}"),
            Self::Timeout { ms } => write!(f, "timeout after {ms} ms"),
            Self::ExitedBeforeReady(code) => write!(f, "exited with code {code} before ready"),
            Self::Fault { fault, rip, addr } => {
                write!(f, "{fault} at RIP {rip:#x}")?;
                match addr {
                    Some(a) => write!(f, " address {a:#x}"),
                    None => Ok(()),
                }
            }
            Self::Killed(reason) => write!(f, "killed: {reason}"),
            Self::Vanished => write!(f, "the process is no longer known to the kernel"),
        }
    }
}

/// An entry's state, as the table shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Signalled READY and still alive.
    Ready,
    /// Alive but never signalled READY (does not happen after a run: such a process is killed
    /// at its start timeout; listed so that the table is total).
    Running,
    /// Signalled READY, then exited with this code.
    Exited(i32),
    /// Did not come up, or went down abnormally (fault, killed) after READY.
    Failed(Failure),
    /// Not started because a dependency did not come up.
    Skipped {
        /// The dependency.
        dependency: String,
        /// `failed`, `was refused`, `was skipped`, `was not started`, `does not exist`.
        its_state: &'static str,
    },
    /// Not started because a capability could not be granted, or verified boot refused it.
    Refused(Refusal),
    /// In the manifest but not in `init_sequence`.
    NotStarted,
}

impl State {
    /// The entry came up: it signalled READY (whether or not it is still alive).
    pub fn came_up(&self) -> bool {
        matches!(self, Self::Ready | Self::Exited(_))
    }

    /// Refused only because the machine lacks an optional device
    /// ([`caps::Reason::optional_device_missing`]): not expected to come up.
    pub fn lacks_optional_device(&self) -> bool {
        matches!(self, Self::Refused(Refusal::Capability(r)) if r.reason.optional_device_missing())
    }

    /// Whether an entry that depends on this one may start: it signalled READY and has not
    /// failed since (still alive, or exited with code 0).
    pub fn satisfies_dependents(&self) -> bool {
        matches!(self, Self::Ready | Self::Exited(0))
    }

    /// The state as one word of the `state:` record.
    pub fn kind(&self) -> StateKind {
        match self {
            Self::Ready => StateKind::Ready,
            Self::Running => StateKind::Running,
            Self::Exited(code) => StateKind::Exited(*code),
            Self::Failed(_) => StateKind::Failed,
            Self::Skipped { .. } => StateKind::Skipped,
            Self::Refused(_) => StateKind::Refused,
            Self::NotStarted => StateKind::NotStarted,
        }
    }

    /// Why, for the `state:` record (failed, skipped, refused); empty otherwise.
    pub fn detail(&self) -> String {
        match self {
            Self::Failed(why) => why.to_string(),
            Self::Skipped {
                dependency,
                its_state,
            } => format!("because {dependency} {its_state}"),
            Self::Refused(r) => r.to_string(),
            Self::Ready | Self::Running | Self::Exited(_) | Self::NotStarted => String::new(),
        }
    }

    /// For a dependent: how this dependency's state reads after "which ..."/"because X ...".
    fn as_dependency(&self) -> &'static str {
        match self {
            Self::Ready | Self::Exited(0) => "is up",
            Self::Exited(_) => "exited with an error",
            Self::Running => "never became ready",
            Self::Failed(_) => "failed",
            Self::Refused(_) => "was refused",
            Self::Skipped { .. } => "was skipped",
            Self::NotStarted => "was not started",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready => f.write_str("ready"),
            Self::Running => f.write_str("running"),
            Self::Exited(code) => write!(f, "exited({code})"),
            Self::Failed(why) => write!(f, "failed({why})"),
            Self::Skipped {
                dependency,
                its_state,
            } => write!(f, "skipped(because {dependency} {its_state})"),
            Self::Refused(r) => write!(f, "refused({r})"),
            Self::NotStarted => f.write_str("not started (not in init_sequence)"),
        }
    }
}

/// What the supervisor did with one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The entry's name.
    pub name: String,
    /// The state at the end of its start step: `Ready` (it signalled READY), `Failed`,
    /// `Skipped`, `Refused` or `NotStarted`. [`Outcome::rows`] refreshes it from the process.
    pub start: State,
    /// Its process, once spawned.
    pub pid: Option<Pid>,
    /// What it was granted (`None`: not granted anything, i.e. refused, skipped, not started).
    pub grants: Option<Grants>,
    /// Spawn to READY, in µs.
    pub ready_after_us: Option<u64>,
}

/// One line of the state table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The entry's name.
    pub name: String,
    /// Its state now.
    pub state: State,
    /// Granted capabilities (`none`), or `-` when it was not granted anything.
    pub capabilities: String,
    /// Spawn to READY, in µs.
    pub ready_after_us: Option<u64>,
}

/// The result of a run: one record per manifest entry, in `init_sequence` order, then the
/// entries not in `init_sequence` in manifest order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The records.
    pub records: Vec<Record>,
    /// How long the sequence took (first start to last start step done), µs.
    pub elapsed_us: u64,
    /// The rows as logged at the end of the sequence (the table and the `state:` records).
    pub rows_at_end: Vec<Row>,
}

impl Outcome {
    /// The record of `name`.
    pub fn get(&self, name: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.name == name)
    }

    /// The table's rows, with states refreshed from the processes.
    pub fn rows<P: Processes + ?Sized>(&self, procs: &P) -> Vec<Row> {
        self.records
            .iter()
            .map(|r| Row {
                name: r.name.clone(),
                state: current_state(r, procs),
                capabilities: r
                    .grants
                    .as_ref()
                    .map_or_else(|| "-".to_string(), Grants::display_list),
                ready_after_us: r.ready_after_us,
            })
            .collect()
    }

    /// The state table now, as lines ([`table_lines`] of [`Outcome::rows`]).
    pub fn table<P: Processes + ?Sized>(&self, procs: &P) -> Vec<String> {
        table_lines(&self.rows(procs))
    }

    /// `4 entries: 2 came up, 1 refused, 1 skipped` (came up = signalled READY).
    pub fn summary(&self) -> String {
        let count =
            |f: &dyn Fn(&State) -> bool| self.records.iter().filter(|r| f(&r.start)).count();
        let parts = [
            (count(&|s| s.came_up()), "came up"),
            (count(&|s| matches!(s, State::Failed(_))), "failed"),
            (count(&|s| matches!(s, State::Refused(_))), "refused"),
            (count(&|s| matches!(s, State::Skipped { .. })), "skipped"),
            (
                count(&|s| matches!(s, State::NotStarted)),
                "not in init_sequence",
            ),
        ];
        let list: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        format!(
            "{} entries: {}",
            self.records.len(),
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        )
    }
}

/// A record's state now: a started entry's state follows its process.
fn current_state<P: Processes + ?Sized>(record: &Record, procs: &P) -> State {
    let (State::Ready, Some(pid)) = (&record.start, record.pid) else {
        return record.start.clone();
    };
    let Some(status) = procs.status(pid) else {
        return State::Failed(Failure::Vanished);
    };
    match status.exit {
        None if status.ready_us.is_some() => State::Ready,
        None => State::Running,
        Some(Exit::Code(code)) => State::Exited(code),
        Some(Exit::Fault { fault, rip, addr }) => {
            State::Failed(Failure::Fault { fault, rip, addr })
        }
        Some(Exit::Killed(reason)) => State::Failed(Failure::Killed(reason)),
    }
}

/// One `state:` record per row ([`bootlog::state::Record`]), in table order.
pub fn state_records(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let detail = r.state.detail();
            bootlog::state::Record {
                name: &r.name,
                state: r.state.kind(),
                ready_tenth_ms: r.ready_after_us.map(|us| us / 100),
                detail: &detail,
            }
            .to_string()
        })
        .collect()
}

/// The rows whose state the manifest does not expect (`expected_state`, default `up`), each as
/// a `test=boot: NAME is STATE, the image expects EXPECTED` line. Empty: every entry is where
/// the image wants it. A row without a manifest entry is expected to be up.
pub fn unmet_expectations(rows: &[Row], manifest: &Manifest) -> Vec<String> {
    rows.iter()
        .filter_map(|r| {
            let expected = manifest
                .find(&r.name)
                .map(Entry::expected)
                .unwrap_or_default();
            let excused = expected == Expected::Up && r.state.lacks_optional_device();
            (!excused && !expected.admits(r.state.kind())).then(|| {
                format!(
                    "{}{} is {}{}{expected}",
                    bootlog::msg::UNMET_START,
                    r.name,
                    r.state,
                    bootlog::msg::UNMET_MIDDLE
                )
            })
        })
        .collect()
}

/// `12.3` (milliseconds, one decimal) from µs.
pub fn ms(us: u64) -> String {
    format!("{}.{}", us / 1000, (us % 1000) / 100)
}

/// The state table: a header and one line per row, columns aligned:
/// name, state, granted capabilities, time to ready (ms).
pub fn table_lines(rows: &[Row]) -> Vec<String> {
    let header = ["NAME", "STATE", "CAPABILITIES", "READY (ms)"];
    let mut cells: Vec<[String; 4]> = Vec::with_capacity(rows.len() + 1);
    cells.push(header.map(String::from));
    for r in rows {
        cells.push([
            r.name.clone(),
            r.state.to_string(),
            r.capabilities.clone(),
            r.ready_after_us.map_or_else(|| "-".to_string(), ms),
        ]);
    }
    let mut width = [0usize; 4];
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    cells
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(width).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    for _ in cell.chars().count()..w {
                        line.push(' ');
                    }
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// Starts the manifest's `init_sequence`, then logs the state table; see the module docs.
///
/// `load` reads an entry's binary; `log` receives each line (without a `supervisor:` prefix)
/// with its level.
pub fn run<P: Processes + ?Sized>(
    manifest: &Manifest,
    machine: &Machine,
    procs: &mut P,
    load: &mut dyn FnMut(&Entry) -> Result<Vec<u8>, LoadError>,
    config: &Config,
    log: &mut dyn FnMut(Level, &str),
) -> Outcome {
    let started_at = procs.now_us();
    let mut seq = Sequence {
        manifest,
        machine,
        procs,
        load,
        config,
        log,
        records: Vec::new(),
    };
    seq.start_all();
    let elapsed_us = seq.procs.now_us().saturating_sub(started_at);
    seq.add_not_started();
    seq.settle();
    seq.finish(elapsed_us)
}

/// One run of the start sequence: what it works with and the records so far.
struct Sequence<'a, P: Processes + ?Sized> {
    manifest: &'a Manifest,
    machine: &'a Machine,
    procs: &'a mut P,
    load: &'a mut dyn FnMut(&Entry) -> Result<Vec<u8>, LoadError>,
    config: &'a Config,
    log: &'a mut dyn FnMut(Level, &str),
    records: Vec<Record>,
}

impl<P: Processes + ?Sized> Sequence<'_, P> {
    fn say(&mut self, level: Level, line: &str) {
        (self.log)(level, line);
    }

    /// Every name of `init_sequence`, in order (repeats and unknown names are logged).
    fn start_all(&mut self) {
        let manifest = self.manifest;
        for entry in manifest.entries() {
            if !manifest.init_sequence.contains(&entry.name) {
                self.say(
                    Level::Info,
                    &format!("{} is not in init_sequence: not started", entry.name),
                );
            }
        }
        for name in &manifest.init_sequence {
            if self.records.iter().any(|r| r.name == name.as_str()) {
                self.say(
                    Level::Warn,
                    &format!("{name} is listed twice in init_sequence: started once"),
                );
                continue;
            }
            let Some(entry) = manifest.find(name) else {
                self.say(
                    Level::Warn,
                    &format!("{name} is in init_sequence but not in the manifest: ignored"),
                );
                continue;
            };
            let record = self.start_one(entry);
            self.records.push(record);
        }
    }

    /// The entries not in `init_sequence`, in manifest order.
    fn add_not_started(&mut self) {
        for entry in self.manifest.entries() {
            if !self.records.iter().any(|r| r.name == entry.name.as_str()) {
                self.records
                    .push(Record::new(entry.name.as_str(), State::NotStarted));
            }
        }
    }

    /// Lets components that exit right after READY do so, so the table shows `exited(0)`.
    fn settle(&mut self) {
        let pids: Vec<Pid> = self.records.iter().filter_map(|r| r.pid).collect();
        let settle = self
            .procs
            .now_us()
            .saturating_add(u64::from(self.config.settle_ms) * 1000);
        self.procs.wait_until(settle, &mut |p| {
            pids.iter()
                .all(|&pid| p.status(pid).is_none_or(|s| s.exit.is_some()))
        });
    }

    /// The outcome, after logging the summary, the table and the `state:` records.
    fn finish(mut self, elapsed_us: u64) -> Outcome {
        let mut outcome = Outcome {
            records: core::mem::take(&mut self.records),
            elapsed_us,
            rows_at_end: Vec::new(),
        };
        self.say(
            Level::Info,
            &format!(
                "start sequence done in {} ms: {}",
                ms(elapsed_us),
                outcome.summary()
            ),
        );
        let rows = outcome.rows(&*self.procs);
        for line in table_lines(&rows).iter().chain(&state_records(&rows)) {
            self.say(Level::Info, line);
        }
        outcome.rows_at_end = rows;
        outcome
    }

    /// One entry's start step: dependencies, capabilities, load and spawn, wait.
    fn start_one(&mut self, entry: &Entry) -> Record {
        let name = entry.name.as_str();
        if let Some(skipped) = self.skipped(entry) {
            return Record::new(name, skipped);
        }
        let veto = self.config.vetoes.iter().find(|v| v.entry == name);
        let granted = match veto {
            Some(v) => Err(Refusal::Signature(v.clone())),
            None => caps::grant(&entry.capabilities, self.machine).map_err(Refusal::Capability),
        };
        let grants = match granted {
            Ok(g) => Grants {
                config: entry.config.as_deref().map(String::from),
                ..g
            },
            Err(refusal) => {
                self.say(Level::Warn, &format!("{name} refused: {refusal}"));
                return Record::new(name, State::Refused(refusal));
            }
        };
        self.say(
            Level::Info,
            &format!("starting {name} (capabilities: {})", grants.display_list()),
        );
        let mut record = Record::new(name, State::NotStarted);
        record.grants = Some(grants.clone());
        match self.load_and_spawn(entry, grants) {
            Ok(pid) => {
                record.pid = Some(pid);
                self.wait_for(entry, pid, &mut record);
            }
            Err(why) => self.fail(&mut record, why),
        }
        record
    }

    /// `Skipped` when a dependency did not come up (what it is doing now, not when it
    /// started: one that signalled READY and then failed has failed its dependents too).
    fn skipped(&mut self, entry: &Entry) -> Option<State> {
        for dep in &entry.depends_on {
            let its_state = match self.records.iter().find(|r| r.name == dep.as_str()) {
                Some(r) => match current_state(r, &*self.procs) {
                    state if state.satisfies_dependents() => continue,
                    state => state.as_dependency(),
                },
                None if self.manifest.find(dep).is_some() => "was not started",
                None => "does not exist",
            };
            let name = entry.name.as_str();
            self.say(
                Level::Warn,
                &format!("{name} skipped: depends on {dep}, which {its_state}"),
            );
            return Some(State::Skipped {
                dependency: dep.to_string(),
                its_state,
            });
        }
        None
    }

    /// Reads the entry's binary and spawns it.
    fn load_and_spawn(&mut self, entry: &Entry, grants: Grants) -> Result<Pid, Failure> {
        let elf = (self.load)(entry).map_err(Failure::Load)?;
        self.procs
            .spawn(entry.name.as_str(), &elf, grants, entry.memory_limit())
            .map_err(Failure::Spawn)
    }

    /// Waits for READY, an exit, a fault or the start timeout (then kills it).
    fn wait_for(&mut self, entry: &Entry, pid: Pid, record: &mut Record) {
        let name = entry.name.as_str();
        let timeout_ms = u64::from(
            entry
                .start_timeout_ms
                .unwrap_or(self.config.default_timeout_ms),
        );
        let spawned_us = self.procs.now_us();
        let started_us = self.procs.status(pid).map_or(spawned_us, |s| s.started_us);
        let deadline = started_us.saturating_add(timeout_ms * 1000);
        self.procs.wait_until(deadline, &mut |p| {
            p.status(pid)
                .is_none_or(|s| s.ready_us.is_some() || s.exit.is_some())
        });
        let Some(status) = self.procs.status(pid) else {
            return self.fail(record, Failure::Vanished);
        };
        if let Some(ready) = status.ready_us {
            let after = ready.saturating_sub(status.started_us);
            record.ready_after_us = Some(after);
            record.start = State::Ready;
            self.say(Level::Info, &format!("{name} ready after {} ms", ms(after)));
            return;
        }
        let why = match status.exit {
            Some(Exit::Code(code)) => Failure::ExitedBeforeReady(code),
            Some(Exit::Fault { fault, rip, addr }) => Failure::Fault { fault, rip, addr },
            Some(Exit::Killed(reason)) => Failure::Killed(reason),
            None => {
                self.say(
                    Level::Warn,
                    &format!("{name} failed: timeout after {timeout_ms} ms; killing it"),
                );
                self.procs.kill(pid, KillReason::StartTimeout);
                record.start = State::Failed(Failure::Timeout { ms: timeout_ms });
                return;
            }
        };
        self.fail(record, why);
    }

    fn fail(&mut self, record: &mut Record, why: Failure) {
        self.say(Level::Warn, &format!("{} failed: {why}", record.name));
        record.start = State::Failed(why);
    }
}

impl Record {
    /// A record of `name` in state `start`, with nothing granted or spawned yet.
    fn new(name: &str, start: State) -> Record {
        Record {
            name: name.to_string(),
            start,
            pid: None,
            grants: None,
            ready_after_us: None,
        }
    }
}
