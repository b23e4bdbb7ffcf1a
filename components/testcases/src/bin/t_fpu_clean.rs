//! `t_fpu_clean`: reads its x87/SSE (and AVX) registers before doing anything else and checks
//! they are the clean start state: all zero, x87 stack empty, FCW 0x37F, MXCSR 0x1F80 —
//! never the values another program left there. Expected: `t_fpu_clean: registers clean at
//! start`, READY, exit 0 (see the crate docs and `testcases::fpu`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_fpu_clean";

fn main() -> i32 {
    testcases::fpu::clean(NAME)
}
