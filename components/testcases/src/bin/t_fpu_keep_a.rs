//! `t_fpu_keep_a`: signals READY (so `t_fpu_keep_b` starts and runs alongside with values of
//! its own); sums `1/k²` in `f64` while preempted in favour of another program 5 times and
//! checks the sum; loads values derived from its name into XMM0-15 (and the upper halves of
//! YMM0-15 when AVX is on), ST0-7, FCW and MXCSR and spins until preempted 5 times more;
//! checks every register; then spins forever (so `t_fpu_keep_b` always has someone to be
//! preempted for). Expected: `t_fpu_keep_a: f64 sum of 1/k² for k ≤ N kept across 5
//! preemptions (...)`, `t_fpu_keep_a: registers kept across 5 preemptions (...)`, state ready
//! (see the crate docs and `testcases::fpu`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_fpu_keep_a";

fn main() -> i32 {
    testcases::fpu::keep(NAME, testcases::fpu::Ready::First, 5)
}
