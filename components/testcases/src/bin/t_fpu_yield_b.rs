//! `t_fpu_yield_b`: loads values derived from its name into its x87/SSE (and AVX) registers,
//! calls YIELD 2000 times (alongside `t_fpu_yield_a` at first), checks every register, then
//! signals READY. Expected: `t_fpu_yield_b: registers kept across 2000 yields (C TSC cycles per
//! yield)`, exit 0 (see the crate docs and `testcases::fpu`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_fpu_yield_b";

fn main() -> i32 {
    testcases::fpu::yield_keep(NAME, testcases::fpu::Ready::Last, 2000)
}
