//! `t_trigger_pagefault`: depends on `t_pagefault`. Calls its `pagefault_api`, which makes it fault
//! (after its READY) without replying; the call must end with `ProviderGone`. Then READY and
//! exit 0. The start sequence reaches the next entry only after that, so the fault has
//! certainly happened before the entries that depend on `t_pagefault` are judged.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_trigger_pagefault";

fn main() -> i32 {
    testcases::start(NAME);
    if testcases::trigger(NAME, "pagefault_api") && testcases::ready(NAME) {
        0
    } else {
        1
    }
}
