//! The IPC glue: receive a `storage_api` request, find the caller's access rules, let the
//! server execute it, reply. Everything IPC-specific of the service is in this file.

use alloc::string::String;
use alloc::vec::Vec;

use protocol::storage::ENDPOINT;
use protocol::MAX_MESSAGE;
use runtime::ipc;
use storage_server::{time_from_us, Access, Server};

use crate::device::UserData;

/// The time for modification stamps: the wall clock, or the uptime if there is none.
pub fn now() -> pgfs::Time {
    time_from_us(runtime::clock().or_else(|_| runtime::uptime()).unwrap_or(0))
}

/// Access rules per caller, read once from the kernel (`COMPONENT_CAPS`).
#[derive(Default)]
struct Rules(Vec<(String, Access)>);

impl Rules {
    fn of(&mut self, caller: &str) -> &Access {
        if let Some(i) = self.0.iter().position(|(c, _)| c == caller) {
            return &self.0[i].1;
        }
        let mut buf = [0u8; 1024];
        let access = match runtime::component_caps(caller, &mut buf) {
            Ok(n) => {
                Access::from_caps(core::str::from_utf8(&buf[..n.min(buf.len())]).unwrap_or(""))
            }
            Err(e) => {
                runtime::warn!("storage: capabilities of {caller}: {e}; it gets no access");
                Access::default()
            }
        };
        self.0.push((String::from(caller), access));
        &self.0.last().expect("just pushed").1
    }
}

/// Serves `storage_api` forever (the storage service never exits: a failed receive is logged
/// and retried).
pub fn serve_forever(name: &str, srv: &mut Server<UserData>) -> ! {
    let mut request = alloc::vec![0u8; MAX_MESSAGE];
    let mut reply = alloc::vec![0u8; MAX_MESSAGE];
    let mut rules = Rules::default();
    ipc::serve_forever(
        name,
        ENDPOINT,
        &mut request,
        &mut reply,
        |caller, msg, reply| srv.serve(caller, rules.of(caller), now(), msg, reply),
    )
}
