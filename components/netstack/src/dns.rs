//! Name look-ups (A records) through the configured DNS servers, with smoltcp's DNS socket
//! (one query in flight per handle; each server is given 10 s, then the next is tried).

use core::net::Ipv4Addr;

use smoltcp::socket::dns::{self, GetQueryResultError, QueryHandle, StartQueryError};
use smoltcp::wire::{DnsQueryType, IpAddress};

use crate::link::Frames;
use crate::sockets::{bad_or_wrong, ClientId, Entry, Handle};
use crate::{NetError, Stack};

/// The longest name looked up, in bytes.
pub const MAX_NAME: usize = 255;

pub(crate) struct Query {
    handle: QueryHandle,
    /// DNS answers seen when the query started: a failure after one came is `NameNotFound`,
    /// without one `TimedOut`.
    answers_at_start: u32,
    outcome: Option<Result<Ipv4Addr, NetError>>,
}

/// Stops a query still in flight.
pub(crate) fn cancel<F: Frames>(st: &mut Stack<F>, q: Query) {
    if q.outcome.is_none() {
        st.sockets
            .get_mut::<dns::Socket>(st.dns_socket)
            .cancel_query(q.handle);
    }
}

/// Whether `name` looks like a host name: labels of letters, digits, `-` and `_`.
fn valid_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl<F: Frames> Stack<F> {
    /// Starts looking up `name`'s IPv4 address; follow it with [`Stack::dns_result`]. Takes
    /// one of the client's handles until closed.
    pub fn dns_start(&mut self, c: ClientId, name: &str) -> Result<Handle, NetError> {
        if !valid_name(name) {
            return Err(NetError::BadName);
        }
        self.ready()?;
        if self.dns_servers().is_empty() {
            return Err(NetError::NoDnsServer);
        }
        let limits = self.limits;
        self.client(c)?.check_room(&limits)?;
        let sock = self.sockets.get_mut::<dns::Socket>(self.dns_socket);
        let handle = sock
            .start_query(self.iface.context(), name, DnsQueryType::A)
            .map_err(|e| match e {
                StartQueryError::NoFreeSlot => NetError::TooManySockets {
                    limit: limits.max_sockets_per_client,
                },
                StartQueryError::InvalidName | StartQueryError::NameTooLong => NetError::BadName,
            })?;
        let q = Query {
            handle,
            answers_at_start: self.link.sniffed.dns_answers,
            outcome: None,
        };
        self.client_mut(c)?.insert(&limits, Entry::Dns(q))
    }

    /// The address found: `WouldBlock` while pending, `NameNotFound` (NXDOMAIN or no A
    /// record), `TimedOut` (no server answered). The answer stays until the handle is closed.
    pub fn dns_result(&mut self, c: ClientId, h: Handle) -> Result<Ipv4Addr, NetError> {
        let answers = self.link.sniffed.dns_answers;
        let client = self.clients.get_mut(&c.0).ok_or(NetError::UnknownClient)?;
        let q = match client.entries.get_mut(&h.0) {
            Some(Entry::Dns(q)) => q,
            other => return Err(bad_or_wrong(other.map(|e| &*e))),
        };
        if let Some(outcome) = q.outcome {
            return outcome;
        }
        let sock = self.sockets.get_mut::<dns::Socket>(self.dns_socket);
        let outcome = match sock.get_query_result(q.handle) {
            Err(GetQueryResultError::Pending) => return Err(NetError::WouldBlock),
            Err(GetQueryResultError::Failed) if answers != q.answers_at_start => {
                Err(NetError::NameNotFound)
            }
            Err(GetQueryResultError::Failed) => Err(NetError::TimedOut),
            Ok(addrs) => addrs
                .iter()
                .map(|IpAddress::Ipv4(v4)| *v4)
                .next()
                .ok_or(NetError::NameNotFound),
        };
        q.outcome = Some(outcome);
        outcome
    }
}
