//! `t_grow`: grows its memory with MEMORY_GROW, 1 MiB at a time, writing to every new page,
//! until the kernel refuses (`NoMemory`: the machine is full) or stops it (its
//! `memory_limit`). Logs how far it got every 4 MiB. Without READY: when stopped it is
//! *failed (killed: memory limit reached)*; when refused it logs `t_grow: refused after N MiB:
//! no memory left` and exits 1 (*failed (exited with code 1 before ready)*). Either way it
//! must fail alone and give every frame back. See the crate docs.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_grow";
/// How often it logs how far it got.
const REPORT_EVERY: u64 = 4 * STEP;
const STEP: u64 = 1024 * 1024;

fn main() -> i32 {
    testcases::start(NAME);
    let mut grown = 0u64;
    loop {
        match runtime::memory_grow(STEP) {
            Ok(addr) => {
                testcases::probe::touch_pages(addr, STEP);
                grown += STEP;
                if grown.is_multiple_of(REPORT_EVERY) {
                    runtime::info!("{NAME}: grown by {} MiB", grown / STEP);
                }
            }
            Err(e) => {
                runtime::info!("{NAME}: refused after {} MiB: {e}", grown / STEP);
                return 1;
            }
        }
    }
}
