//! The supervisor on the real kernel: [`Processes`] over `crate::process`, logging on the
//! kernel log under the `supervisor` target (lines read `INFO  supervisor: ...`).

use super::{Config, KillReason, LoadError, Outcome, Pid, Processes, SpawnError, Status};
use crate::caps::{Grants, Machine};
use crate::{process, time};
use alloc::string::String;
use alloc::vec::Vec;
use loader::manifest::{Entry, Manifest, MemoryLimit};

/// `crate::process` as the supervisor sees it.
pub struct KernelProcesses;

impl Processes for KernelProcesses {
    fn now_us(&self) -> u64 {
        time::uptime_us()
    }

    fn spawn(
        &mut self,
        name: &str,
        elf: &[u8],
        grants: Grants,
        limit: MemoryLimit,
    ) -> Result<Pid, SpawnError> {
        // COMPONENT_CAPS answers with its grants from now on (a service it calls during the
        // start sequence may ask), not only once the whole sequence is over.
        let record = grants.caps_record();
        let pid = process::spawn(name, elf, grants, limit)?;
        crate::sysinfo::SYSINFO.set_caps_of(name, record);
        // Its `provides`/`depends_on` for IPC, before it first runs.
        process::bind_entry(pid, name);
        Ok(pid)
    }

    fn status(&self, pid: Pid) -> Option<Status> {
        process::status(pid)
    }

    fn kill(&mut self, pid: Pid, reason: KillReason) {
        process::kill(pid, reason);
    }

    fn wait_until(&mut self, deadline_us: u64, done: &mut dyn FnMut(&Self) -> bool) -> bool {
        let me: &Self = self;
        process::wait_until(deadline_us, &mut || done(me))
    }
}

/// Starts `manifest.init_sequence` on this machine, logs each step and the state table, and
/// returns what happened (keep it for [`current_table`]). `load` reads an entry's binary.
pub fn run_start_sequence(
    manifest: &Manifest,
    machine: &Machine,
    load: &mut dyn FnMut(&Entry) -> Result<Vec<u8>, LoadError>,
    vetoes: Vec<signing::image::Refusal>,
) -> Outcome {
    super::run(
        manifest,
        machine,
        &mut KernelProcesses,
        load,
        &Config {
            vetoes,
            ..Config::default()
        },
        &mut |level, line| log::log!(target: "supervisor", level, "{line}"),
    )
}

/// The state table as it is now (for a `services` command): header and one line per entry.
pub fn current_table(outcome: &Outcome) -> Vec<String> {
    outcome.table(&KernelProcesses)
}
