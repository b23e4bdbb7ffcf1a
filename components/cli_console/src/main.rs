//! `cli_console`: the command-line console. For now it checks the capability system from the
//! refused side: it has no `block_device` capability, so after READY its USERDATA_READ must
//! fail with `Denied`. It logs the outcome and exits (0 when refused as expected, 1 otherwise).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::abi::USERDATA_BLOCK_SIZE;
use runtime::Error;

runtime::entry!(main);

const NAME: &str = "cli_console";

fn main() -> i32 {
    runtime::announce(NAME);
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    let mut buf = [0u8; USERDATA_BLOCK_SIZE];
    match runtime::userdata_read(2, &mut buf) {
        Err(Error::Denied) => {
            runtime::info!(
                "{NAME}: user-data access refused as expected: {}",
                Error::Denied
            );
            0
        }
        Err(e) => {
            runtime::error!("{NAME}: user-data access failed, but not with `denied`: {e}");
            1
        }
        Ok(_) => {
            runtime::error!(
                "{NAME}: user-data access SUCCEEDED without the block_device capability"
            );
            1
        }
    }
}
