//! `test=smap`: maps a user page in a throwaway address space and reads it from the kernel,
//! outside any user copy. With SMAP on, the read faults and the exception report (naming SMAP)
//! ends the run with `test: FAIL`; everything else fails here with the reason.

use bootlog::msg::{SMAP_TEST_START, SMAP_TEST_UNAVAILABLE};

use crate::arch::protection;
use crate::fatal::{self, Outcome};
use crate::memory::{self, paging, user::AddressSpace};

/// A throwaway user page's address (any lower-half page would do).
const SMAP_PROBE_PAGE: u64 = 0x40_0000;

/// Runs the probe (`arch::protection::read_user_page_directly`); never returns.
pub(super) fn run() -> ! {
    if !protection::active().smap {
        log::error!("{SMAP_TEST_UNAVAILABLE}");
        fatal::stop(Outcome::Fail);
    }
    let space = probe_space();
    log::info!("{SMAP_TEST_START}{SMAP_PROBE_PAGE:#x} from the kernel, outside any user copy");
    match protection::read_user_page_directly(&space, SMAP_PROBE_PAGE) {
        Ok(value) => log::error!(
            "test=smap: read {value:#x} from user page {SMAP_PROBE_PAGE:#x} without a fault: SMAP did not stop it"
        ),
        Err(e) => log::error!("test=smap: {e}"),
    }
    fatal::stop(Outcome::Fail)
}

/// An address space with one read-only user page at [`SMAP_PROBE_PAGE`]; stops on failure.
fn probe_space() -> AddressSpace {
    let made = memory::with_frames(|frames| {
        let mut space = AddressSpace::new(frames)?;
        space
            .map_new_page(
                SMAP_PROBE_PAGE,
                paging::PageFlags {
                    writable: false,
                    executable: false,
                    user: true,
                },
                |bytes| bytes[..8].copy_from_slice(&0x5a5a_5a5a_5a5a_5a5a_u64.to_le_bytes()),
                frames,
            )
            .map(|()| space)
    });
    match made {
        Some(Ok(space)) => space,
        Some(Err(e)) => {
            log::error!("test=smap: cannot map the user page: {e}");
            fatal::stop(Outcome::Fail);
        }
        None => {
            log::error!("test=smap: memory is not initialised");
            fatal::stop(Outcome::Fail);
        }
    }
}
