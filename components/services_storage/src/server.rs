//! The IPC glue: receive a `storage_api` request, let the store execute it, reply. Everything
//! IPC-specific of the service is in this file.

use protocol::storage::ENDPOINT;
use protocol::MAX_MESSAGE;
use runtime::ipc;
use storage_format::Store;

use crate::device::UserData;

/// How many failed IPC_RECEIVEs in a row are logged before the service goes quiet (it keeps
/// trying: the storage service never exits).
const LOGGED_FAILURES: u32 = 8;

/// Serves `storage_api` forever (an unmounted `store` answers every request with
/// `Err(Unavailable)`).
pub fn serve_forever(name: &str, store: &mut Store<UserData>) -> ! {
    let mut request = [0u8; MAX_MESSAGE];
    let mut reply = [0u8; MAX_MESSAGE];
    let mut failures = 0u32;
    loop {
        let (len, from) = match ipc::receive(ENDPOINT, &mut request) {
            Ok(r) => r,
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures <= LOGGED_FAILURES {
                    runtime::error!("{name}: receive on {ENDPOINT} failed: {e}");
                }
                runtime::yield_now();
                continue;
            }
        };
        failures = 0;
        let msg = &request[..len.min(MAX_MESSAGE)];
        let n = store.serve(msg, &mut reply);
        if let Err(e) = ipc::reply(from.call_id, &reply[..n]) {
            let caller = from.caller().unwrap_or("?");
            runtime::warn!("{name}: reply to {caller} failed: {e}");
        }
    }
}
