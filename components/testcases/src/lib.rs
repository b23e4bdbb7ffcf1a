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
//! | `t_pagefault`        | provides `pagefault_api`: READY, waits for one call on it, then writes to `0x10` (unmapped) | before the fault | ring-3 **page fault** (#PF, vector 14) at address `0x10`, write, not present; entry state *ready → faulted*; the kernel keeps running |
//! | `t_gpfault`          | provides `gpfault_api`: READY, waits for one call on it, then `hlt` (privileged in ring 3) | before the fault | **general protection** (#GP, vector 13, error code 0); *ready → faulted*. If `hlt` returns the component was not in ring 3: it logs an ERROR and exits 1 |
//! | `t_invalid_opcode`   | `ud2`, without READY                                                  | never  | **invalid opcode** (#UD, vector 6); *faulted before READY*: dependents skipped |
//! | `t_divide`           | `div` by a zero register, without READY                               | never  | **divide error** (#DE, vector 0); *faulted before READY*: dependents skipped |
//! | `t_stack_overflow`   | recurses with ~3 KiB frames, without READY                            | never  | **page fault** in the guard page below the user stack (write, not present; ideally reported as a stack overflow); *faulted before READY*: dependents skipped |
//! | `t_bad_syscall`      | LOG/CAPS with kernel, straddling and read-only pointers, absurd lengths, unknown numbers; logs `t_bad_syscall: kernel refused the bad pointer: bad pointer` (first check); then READY | after the checks | every call refused (`BadPointer`/`BadLength`/`InvalidSyscall`), no kernel fault; *ready → exited (0)* (1 and ERROR lines if a check failed) |
//! | `t_never_ready`      | loops calling YIELD, never READY                                      | never  | **start timeout** after the entry's `start_timeout_ms`; the kernel kills it; dependents skipped |
//! | `t_spin_after_ready` | READY, then spins forever without a syscall                           | yes    | stays *ready/running* forever; the entries after it still start and run (**preemption**) |
//! | `t_userdata_denied`  | USERDATA_READ/WRITE/INFO without `block_device`; logs `t_userdata_denied: refused: denied`; then READY | after the checks | each call `Denied`; *ready → exited (0)* |
//! | `t_power_denied`   | REBOOT and POWEROFF holding `console` but not `power`; logs `t_power_denied: REBOOT refused: denied` and `... POWEROFF refused: denied`; then READY | after the calls | each call `Denied` (the machine stays up); *ready → exited (0)* |
//! | `t_screen_owner`   | holds `framebuffer`: FRAMEBUFFER_MAP (a second one must be `Busy`), writes a pixel, SCREEN_READ must start with the kernel's replay; logs `t_screen_owner: screen taken: WxH, N bytes of replay`; READY, exit 0 | after the checks | `screen: handed to t_screen_owner (WxH)`; *ready → exited (0)*, then `screen: taken back from pid N, ...` (the kernel redraws) |
//! | `t_screen_denied`  | FRAMEBUFFER_MAP and SCREEN_READ without `framebuffer`; logs `t_screen_denied: FRAMEBUFFER_MAP refused: denied` and `... SCREEN_READ refused: denied`; READY | after the calls | each call `Denied`; *ready → exited (0)* |
//! | `t_net_denied`     | NET_SEND, NET_INFO and NET_RECV on `eth0` holding `network_device:eth1` (or nothing); logs `t_net_denied: NET_SEND on eth0 refused: denied` and the same for NET_INFO and NET_RECV; READY | after the calls | each call `Denied` before its arguments are used; *ready → exited (0)* |
//! | `t_port_range`     | holds `port_range:9000-9009`; asks `network_api` to listen on TCP 8080 and bind UDP 53 (each refused: `t_port_range: listen on TCP port 8080 refused: port 8080 outside the granted range 9000-9009: …`, the same for `bind UDP port 53`), then to listen on TCP 9005 (`t_port_range: listen on TCP port 9005 (inside 9000-9009) accepted`); READY | after the calls | *ready → exited (0)*; the refusals come from `services_network`, not the kernel |
//! | `t_huge_bss`       | a 1 GiB `.bss` (assembled); if it ever runs: ERROR, exit 1            | never  | refused at load: its segments need more than its `memory_limit` (nothing mapped); *failed (cannot start: ...)* |
//! | `t_grow`           | MEMORY_GROW 1 MiB at a time, touching every page, logging every 4 MiB, until refused (`NoMemory`: exit 1) or stopped | never | past its `memory_limit`: *failed (killed: memory limit reached)*; on a full machine: *failed (exited with code 1 before ready)*; every frame comes back |
//! | `t_trigger_pagefault`, `t_trigger_gpfault` | call `pagefault_api` / `gpfault_api` (their dependency faults instead of replying: `ProviderGone`); READY | after the call | *ready → exited (0)*; the fault after READY happens before the next entry starts, whatever the timing |
//! | `t_independent`      | READY, exit 0                                                         | yes    | *ready → exited (0)*: entries that depend on nothing that failed still start |
//! | `t_echo_server`      | provides `echo_api`: READY, then receives calls and replies with the same bytes, forever | yes | stays *ready*; serves `t_echo_client` |
//! | `t_echo_client`      | calls `echo_api` (`ping` → `ping`: `t_echo_client: echo OK`), then `crash_api` (not a dependency: `t_echo_client: call to crash_api refused: denied`) and `no_such_api` (`... refused: not found`); READY | after the calls | *ready → exited (0)* |
//! | `t_crash_server`     | provides `crash_api`: READY, receives one call, then page-faults without replying | yes | *ready → faulted*; its caller gets `ProviderGone` |
//! | `t_crash_client`     | calls `crash_api`, expects `ProviderGone` (`t_crash_client: provider gone: the provider exited or faulted`); READY | after the call | *ready → exited (0)* |
//! | `t_exit_early`     | exits 1, without READY                                                | never  | *failed (exited with code 1 before ready)*; in `broken_console.json` it is the console, and the normal boot check must fail |
//! | `t_fpu_keep_a`       | READY; sums `1/k²` in `f64` (SSE2) while preempted in favour of another program 5 times and checks the sum bit for bit (`t_fpu_keep_a: f64 sum of 1/k² for k ≤ N kept across 5 preemptions (...)`); then loads XMM0-15 (YMM upper halves with AVX), ST0-7, FCW, MXCSR with values derived from its name and, in the same `asm!` block, spins until preempted 5 times more and re-reads them; checks them all: `t_fpu_keep_a: registers kept across 5 preemptions (...)`; then spins forever | first | stays *ready* (ERROR lines and exit 1 if a register or the sum changed or the preemptions did not come within 5 s) |
//! | `t_fpu_keep_b`       | the same with its own values and 10 + 10 preemptions (alongside `t_fpu_keep_a`); READY after the check, then exit 0 | after the check | *ready → exited (0)* |
//! | `t_fpu_yield_a`      | READY; loads its registers like `t_fpu_keep_a` and, in the same `asm!` block, calls YIELD 1000 times and re-reads them; checks them: `t_fpu_yield_a: registers kept across 1000 yields (C TSC cycles per yield)` | first | *ready → exited (0)* |
//! | `t_fpu_yield_b`      | the same with its own values and 2000 YIELDs (alongside `t_fpu_yield_a`), READY after the check | after the check | *ready → exited (0)* |
//! | `t_fpu_clean`        | reads its registers first thing: all zero, x87 stack empty, FCW 0x37F, MXCSR 0x1F80 (`t_fpu_clean: registers clean at start (...)`); READY | after the check | *ready → exited (0)*; an ERROR line and 1 if it saw another program's values |
//! | `t_dependent`        | READY, exit 0                                                         | yes    | must **never start** in the test descriptions: it is always declared depending on an entry that fails; state *skipped (dependency … failed)* |
//!
//! So `t_pagefault` and `t_gpfault` cover "fault after READY" and `t_invalid_opcode`,
//! `t_divide` and `t_stack_overflow` "fault before READY". A fault after READY cannot undo an
//! earlier start; the descriptions therefore start a trigger (which calls the faulting entry
//! and returns only once it has faulted) before the entries that depend on it, so those are
//! judged after the fault, however the scheduler interleaves the programs.
//!
//! The shared code is here: [`start`], [`ready`] and the faults in [`fault`].
#![no_std]

pub mod fault;
pub mod fpu;
pub mod ipc;
pub mod probe;

/// Logs `<name> started` and the granted capabilities.
pub fn start(name: &str) {
    runtime::announce(name);
}

/// The message buffers of the test components: their messages are short (an IPC message may
/// be up to `abi::ipc::MAX_MESSAGE`, too large for a component's 64 KiB stack).
pub const MESSAGE: usize = 4096;

/// Signals READY; `false` (after an ERROR line) if the kernel refused it.
pub fn ready(name: &str) -> bool {
    runtime::ready_or_log(name).is_ok()
}

/// Waits for one call on `endpoint` (the trigger of a fault after READY); `false` (after an
/// ERROR line) if the receive failed.
pub fn wait_for_trigger(name: &str, endpoint: &str) -> bool {
    let mut buf = [0u8; MESSAGE];
    match ipc::receive(endpoint, &mut buf) {
        Ok((_, call)) => {
            runtime::info!("{name}: call {} on {endpoint}: faulting now", call.call_id);
            true
        }
        Err(e) => {
            runtime::error!("{name}: receive on {endpoint} failed: {e}");
            false
        }
    }
}

/// Calls `endpoint`, whose provider faults instead of replying: the call must end with
/// `ProviderGone`. Returns whether it did (an ERROR line otherwise).
pub fn trigger(name: &str, endpoint: &str) -> bool {
    let mut reply = [0u8; MESSAGE];
    match ipc::call(endpoint, b"fault now", &mut reply) {
        Err(runtime::Error::ProviderGone) => {
            runtime::info!("{name}: {endpoint}'s provider faulted, as it must");
            true
        }
        other => {
            runtime::error!("{name}: calling {endpoint}: expected ProviderGone, got {other:?}");
            false
        }
    }
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
