//! `t_spin_after_ready`: READY, then burns CPU forever without a syscall. Expected: it stays
//! running and the entries after it still start (the kernel preempts it; see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_spin_after_ready";

fn main() -> i32 {
    testcases::start(NAME);
    if !testcases::ready(NAME) {
        return 1;
    }
    runtime::info!("{NAME}: spinning forever without syscalls");
    loop {
        core::hint::spin_loop();
    }
}
