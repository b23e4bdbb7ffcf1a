//! `kernel_bootstrap`: the PandaGen kernel binary. Everything lives in the `kernel` library;
//! this file only provides what a freestanding binary must: the panic handler.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

// The entry point (`_start`, see kernel/src/arch/entry.rs) is pulled in through the library.
#[allow(unused_imports)]
use kernel as _;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    kernel::fatal::panic(info)
}
