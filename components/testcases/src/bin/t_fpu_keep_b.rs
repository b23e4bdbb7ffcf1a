//! `t_fpu_keep_b`: sums `1/k²` in `f64` while preempted in favour of another program
//! (`t_fpu_keep_a`) 10 times and checks the sum; loads values derived from its name into
//! XMM0-15 (and the upper halves of YMM0-15 when AVX is on), ST0-7, FCW and MXCSR; spins until
//! preempted 10 times more; checks every register; then signals READY and exits. Expected:
//! `t_fpu_keep_b: registers kept across 10 preemptions (...)`, exit 0 (see the crate docs and
//! `testcases::fpu`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_fpu_keep_b";

fn main() -> i32 {
    testcases::fpu::keep(NAME, testcases::fpu::Ready::Last, 10)
}
