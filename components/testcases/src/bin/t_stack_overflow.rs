//! `t_stack_overflow`: unbounded recursion before READY. Expected: a page fault in the guard
//! page below the user stack, before READY, so its dependents are skipped (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_stack_overflow";

fn main() -> i32 {
    testcases::start(NAME);
    runtime::info!(
        "{NAME}: recursing with {}-byte frames until the stack's guard page",
        testcases::fault::FRAME_BYTES
    );
    let depth = testcases::fault::stack_overflow(0);
    runtime::error!("{NAME}: the recursion came back ({depth}): the stack has no end");
    1
}
