//! PandaGen test components: small static programs (one `[[bin]]` each, linked like every
//! component by `../link.rs`) that fault, misbehave or probe the kernel's checks. They are only
//! packed by the test system descriptions under `system/tests/`, never by
//! `system/pandagen.json`.
//!
//! Every binary first logs `<name> started` and `<name>: granted capabilities: …` (as the seed
//! components do). What each then does, and what the kernel is expected to report:
//!
//! | binary               | does                                                                  | READY? | kernel's expected outcome |
//! |----------------------|-----------------------------------------------------------------------|--------|---------------------------|
//! | `t_pagefault`        | READY, then writes to `0x10` (unmapped)                               | before the fault | ring-3 **page fault** (#PF, vector 14) at address `0x10`, write, not present; entry state *ready → faulted*; the kernel keeps running |
//! | `t_gpfault`          | READY, then `hlt` (privileged in ring 3)                              | before the fault | **general protection** (#GP, vector 13, error code 0); *ready → faulted*. If `hlt` returns the component was not in ring 3: it logs an ERROR and exits 1 |
//! | `t_invalid_opcode`   | `ud2`, without READY                                                  | never  | **invalid opcode** (#UD, vector 6); *faulted before READY*: dependents skipped |
//! | `t_divide`           | `div` by a zero register, without READY                               | never  | **divide error** (#DE, vector 0); *faulted before READY*: dependents skipped |
//! | `t_stack_overflow`   | recurses with ~3 KiB frames, without READY                            | never  | **page fault** in the guard page below the user stack (write, not present; ideally reported as a stack overflow); *faulted before READY*: dependents skipped |
//! | `t_bad_syscall`      | LOG/CAPS with kernel, straddling and read-only pointers, absurd lengths, unknown numbers; logs `t_bad_syscall: kernel refused the bad pointer: bad pointer` (first check); then READY | after the checks | every call refused (`BadPointer`/`BadLength`/`InvalidSyscall`), no kernel fault; *ready → exited (0)* (1 and ERROR lines if a check failed) |
//! | `t_never_ready`      | loops calling YIELD, never READY                                      | never  | **start timeout** after the entry's `start_timeout_ms`; the kernel kills it; dependents skipped |
//! | `t_spin_after_ready` | READY, then spins forever without a syscall                           | yes    | stays *ready/running* forever; the entries after it still start and run (**preemption**) |
//! | `t_userdata_denied`  | USERDATA_READ/WRITE/INFO without `block_device`; logs `t_userdata_denied: refused: denied`; then READY | after the checks | each call `Denied`; *ready → exited (0)* |
//! | `t_power_denied`   | REBOOT and POWEROFF holding `console` but not `power`; logs `t_power_denied: REBOOT refused: denied` and `... POWEROFF refused: denied`; then READY | after the calls | each call `Denied` (the machine stays up); *ready → exited (0)* |
//! | `t_independent`      | READY, exit 0                                                         | yes    | *ready → exited (0)*: entries that depend on nothing that failed still start |
//! | `t_echo_server`      | provides `echo_api`: READY, then receives calls and replies with the same bytes, forever | yes | stays *ready*; serves `t_echo_client` |
//! | `t_echo_client`      | calls `echo_api` (`ping` → `ping`: `t_echo_client: echo OK`), then `crash_api` (not a dependency: `t_echo_client: call to crash_api refused: denied`) and `no_such_api` (`... refused: not found`); READY | after the calls | *ready → exited (0)* |
//! | `t_crash_server`     | provides `crash_api`: READY, receives one call, then page-faults without replying | yes | *ready → faulted*; its caller gets `ProviderGone` |
//! | `t_crash_client`     | calls `crash_api`, expects `ProviderGone` (`t_crash_client: provider gone: the provider exited or faulted`); READY | after the call | *ready → exited (0)* |
//! | `t_exit_early`     | exits 1, without READY                                                | never  | *failed (exited with code 1 before ready)*; in `broken_console.json` it is the console, and the normal boot check must fail |
//! | `t_dependent`        | READY, exit 0                                                         | yes    | must **never start** in the test descriptions: it is always declared depending on an entry that fails; state *skipped (dependency … failed)* |
//!
//! So `t_pagefault` and `t_gpfault` cover "fault after READY" and `t_invalid_opcode`,
//! `t_divide` and `t_stack_overflow` "fault before READY". A fault after READY cannot undo an
//! earlier start; the descriptions therefore place the dependents of `t_pagefault` and
//! `t_gpfault` late in `init_sequence`, when their dependency has long faulted.
//!
//! The shared code is here: [`start`], [`ready`] and the faults in [`fault`].
#![no_std]

pub mod fault;
pub mod ipc;
pub mod probe;

/// Logs `<name> started` and the granted capabilities.
pub fn start(name: &str) {
    runtime::announce(name);
}

/// Signals READY; `false` (after an ERROR line) if the kernel refused it.
pub fn ready(name: &str) -> bool {
    runtime::ready_or_log(name).is_ok()
}

/// Logs that an operation that should have trapped came back, and returns the exit code 1.
pub fn did_not_fault(name: &str, what: &str) -> i32 {
    runtime::error!("{name}: {what} did not fault: the kernel let it through");
    1
}

/// Checks a syscall result against the errors the kernel may give; logs `<name>: <ok_text>:
/// <error>` at INFO when it is one of them, or an ERROR line otherwise. Returns whether the
/// check passed.
pub fn expect_refused(
    name: &str,
    what: &str,
    ok_text: &str,
    result: Result<u64, runtime::Error>,
    allowed: &[runtime::Error],
) -> bool {
    match result {
        Err(e) if allowed.contains(&e) => {
            runtime::info!("{name}: {ok_text}: {e}");
            true
        }
        Err(e) => {
            runtime::error!("{name}: {what}: refused, but with an unexpected error: {e}");
            false
        }
        Ok(v) => {
            runtime::error!("{name}: {what}: ACCEPTED (returned {v}); it must be refused");
            false
        }
    }
}
