//! `t_fpu_yield_a`: signals READY (so `t_fpu_yield_b` starts and yields alongside with values
//! of its own), loads values derived from its name into its x87/SSE (and AVX) registers,
//! calls YIELD 1000 times (half as many as `t_fpu_yield_b`, so it is done first) and checks
//! every register. Expected: `t_fpu_yield_a: registers kept across 1000 yields (C TSC cycles
//! per yield)`, exit 0 (see the crate docs and `testcases::fpu`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_fpu_yield_a";

fn main() -> i32 {
    testcases::fpu::yield_keep(NAME, testcases::fpu::Ready::First, 1000)
}
