//! `t_bad_syscall`: system calls with kernel, null, straddling and read-only pointers, absurd
//! lengths and unknown numbers; each must be refused. Logs one line per check (the first is
//! `t_bad_syscall: kernel refused the bad pointer: bad pointer`), then READY, exit 0 (1 if any
//! check failed). Give it at least one capability, so CAPS has something to write. See the
//! crate docs.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::abi::{layout::USER_END, LOG_MAX_LEN};
use runtime::Error::{BadLength, BadPointer, InvalidSyscall};
use testcases::expect_refused;
use testcases::probe::{self, KERNEL_ADDR};

runtime::entry!(main);

const NAME: &str = "t_bad_syscall";

fn main() -> i32 {
    testcases::start(NAME);
    let checks = [
        expect_refused(
            NAME,
            "LOG of a kernel address with an absurd length",
            "kernel refused the bad pointer",
            probe::log_raw(KERNEL_ADDR, 1 << 40),
            &[BadPointer, BadLength],
        ),
        expect_refused(
            NAME,
            "LOG of 16 bytes at a kernel address",
            "kernel refused a kernel address",
            probe::log_raw(KERNEL_ADDR, 16),
            &[BadPointer],
        ),
        expect_refused(
            NAME,
            "LOG of a buffer straddling the end of user space",
            "kernel refused a buffer straddling the end of user space",
            probe::log_raw(USER_END - 8, 16),
            &[BadPointer],
        ),
        expect_refused(
            NAME,
            "LOG of a null pointer",
            "kernel refused a null pointer",
            probe::log_raw(0, 8),
            &[BadPointer],
        ),
        expect_refused(
            NAME,
            "LOG with a length that wraps around the address space",
            "kernel refused a wrapping length",
            probe::log_raw(probe::readable_addr(), u64::MAX),
            &[BadPointer, BadLength],
        ),
        expect_refused(
            NAME,
            "LOG of a message one byte over the limit",
            "kernel refused an over-long message",
            probe::log_long(LOG_MAX_LEN as u64 + 1),
            &[BadLength],
        ),
        expect_refused(
            NAME,
            "CAPS into a kernel address",
            "kernel refused to write to a kernel address",
            probe::caps_raw(KERNEL_ADDR, 64),
            &[BadPointer],
        ),
        expect_refused(
            NAME,
            "CAPS into read-only memory",
            "kernel refused to write to read-only memory",
            probe::caps_into_read_only(),
            &[BadPointer],
        ),
        expect_refused(
            NAME,
            "syscall number 999",
            "kernel refused an unknown syscall number",
            probe::syscall_number(999),
            &[InvalidSyscall],
        ),
        expect_refused(
            NAME,
            "syscall number u64::MAX",
            "kernel refused syscall number u64::MAX",
            probe::syscall_number(u64::MAX),
            &[InvalidSyscall],
        ),
    ];
    let failed = checks.iter().filter(|ok| !**ok).count();
    if failed == 0 {
        runtime::info!("{NAME}: all {} bad calls refused", checks.len());
    } else {
        runtime::error!(
            "{NAME}: {failed} of {} bad calls were not refused properly",
            checks.len()
        );
    }
    if !testcases::ready(NAME) {
        return 1;
    }
    i32::from(failed != 0)
}
