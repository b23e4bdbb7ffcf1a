//! Inter-component calls: the pure half (host-tested). The process core
//! (`crate::process`, target only) blocks and wakes tasks around it.
//!
//! * [`Registry`]: built from the manifest — which entry provides which endpoint, and whom each
//!   entry may call (the providers it names *directly* in `depends_on`);
//! * [`Calls`]: the call table — calls queued for a provider, the one it received and has not
//!   answered yet, finished calls waiting for their caller to pick up the result, the receivers
//!   waiting for a call, the deadlines, the call ids.
//!
//! Every operation that makes a blocked task runnable returns that task's pid: the caller of
//! these functions wakes it (the table itself never touches the scheduler). See `docs/ipc.md`.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use abi::ipc::{CALL_TIMEOUT_MS, MAX_MESSAGE};
use abi::Error;
use loader::manifest::Manifest;

/// A process id (as `crate::process::Pid`).
pub type Pid = u32;
/// A call's id, unique for the kernel's lifetime (never 0).
pub type CallId = u64;

/// One entry's IPC relations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Relations {
    /// The entry's name.
    pub name: String,
    /// The endpoints it provides.
    pub provides: Vec<String>,
    /// The entries it depends on (and so may call).
    pub depends_on: Vec<String>,
}

/// Who provides what, and who may call whom: the manifest's `provides` and `depends_on`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    entries: Vec<Relations>,
}

impl Registry {
    /// A registry over these entries. When two entries provide the same endpoint the first one
    /// owns it.
    pub fn new(entries: Vec<Relations>) -> Registry {
        Registry { entries }
    }

    /// The relations of every entry of `manifest`.
    pub fn from_manifest(manifest: &Manifest) -> Registry {
        Registry::new(
            manifest
                .entries()
                .map(|e| Relations {
                    name: e.name.to_string(),
                    provides: e.provides.iter().map(|p| p.to_string()).collect(),
                    depends_on: e.depends_on.iter().map(|d| d.to_string()).collect(),
                })
                .collect(),
        )
    }

    /// The relations of entry `name`.
    pub fn entry(&self, name: &str) -> Option<&Relations> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The entry that provides `endpoint`.
    pub fn provider_of(&self, endpoint: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.provides.iter().any(|p| p == endpoint))
            .map(|e| e.name.as_str())
    }

    /// Whether entry `entry` provides `endpoint` (it may receive on it).
    pub fn provides(&self, entry: &str, endpoint: &str) -> bool {
        self.entry(entry)
            .is_some_and(|e| e.provides.iter().any(|p| p == endpoint))
    }

    /// Which entry a call from `caller` to `endpoint` goes to.
    ///
    /// # Errors
    /// [`Error::NotFound`]: no entry provides `endpoint`. [`Error::Denied`]: the provider is
    /// not directly in `caller`'s `depends_on` (a dependency of a dependency is not enough),
    /// or it is the caller itself.
    pub fn resolve(&self, caller: &str, endpoint: &str) -> Result<&str, Error> {
        let provider = self.provider_of(endpoint).ok_or(Error::NotFound)?;
        let allowed = provider != caller
            && self
                .entry(caller)
                .is_some_and(|c| c.depends_on.iter().any(|d| d == provider));
        if allowed {
            Ok(provider)
        } else {
            Err(Error::Denied)
        }
    }
}

/// Where a call is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    /// Waiting for the provider to receive it.
    Queued,
    /// The provider received it and has not replied yet.
    Received,
    /// Finished: the reply, or why there is none. The caller picks it up.
    Done(Result<Vec<u8>, Error>),
}

/// One call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Its id.
    pub id: CallId,
    /// The calling process.
    pub caller: Pid,
    /// The calling entry's name (for the provider).
    pub caller_name: String,
    /// The providing process.
    pub provider: Pid,
    /// The endpoint called.
    pub endpoint: String,
    /// The request bytes (kernel copy).
    pub request: Vec<u8>,
    /// Uptime (µs) after which it fails with [`Error::Timeout`].
    pub deadline_us: u64,
    /// Where it is.
    pub state: CallState,
}

/// A request handed to a provider by [`Calls::next_request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The call's id (for the reply).
    pub id: CallId,
    /// The calling entry's name.
    pub caller_name: String,
    /// The request bytes.
    pub request: Vec<u8>,
}

/// The call table. Each caller blocks on its call, so it holds at most one call per process.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    next_id: CallId,
    calls: BTreeMap<CallId, Call>,
    /// Providers blocked in receive, with the endpoint they wait on.
    receivers: Vec<(Pid, String)>,
}

impl Calls {
    /// An empty table.
    pub fn new() -> Calls {
        Calls::default()
    }

    /// Number of calls in the table (any state).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The call `id`, if it is in the table.
    pub fn get(&self, id: CallId) -> Option<&Call> {
        self.calls.get(&id)
    }

    /// Queues a call from `caller` to `provider`'s `endpoint`, due by `now_us` +
    /// [`CALL_TIMEOUT_MS`]. Returns its id and the provider to wake, if it was blocked
    /// receiving on that endpoint.
    ///
    /// # Errors
    /// [`Error::BadLength`] for a request longer than [`MAX_MESSAGE`].
    pub fn submit(
        &mut self,
        caller: Pid,
        caller_name: &str,
        provider: Pid,
        endpoint: &str,
        request: Vec<u8>,
        now_us: u64,
    ) -> Result<(CallId, Option<Pid>), Error> {
        if request.len() > MAX_MESSAGE {
            return Err(Error::BadLength);
        }
        self.next_id += 1;
        let id = self.next_id;
        self.calls.insert(
            id,
            Call {
                id,
                caller,
                caller_name: caller_name.to_string(),
                provider,
                endpoint: endpoint.to_string(),
                request,
                deadline_us: now_us.saturating_add(CALL_TIMEOUT_MS * 1000),
                state: CallState::Queued,
            },
        );
        let before = self.receivers.len();
        self.receivers
            .retain(|(pid, ep)| !(*pid == provider && ep == endpoint));
        let wake = (self.receivers.len() != before).then_some(provider);
        Ok((id, wake))
    }

    /// Fails the call `provider` received and did not answer (it is receiving again) with
    /// [`Error::ProviderGone`]; returns the callers to wake.
    pub fn abandon_received(&mut self, provider: Pid) -> Vec<Pid> {
        let mut wake = Vec::new();
        for call in self.calls.values_mut() {
            if call.provider == provider && call.state == CallState::Received {
                call.state = CallState::Done(Err(Error::ProviderGone));
                wake.push(call.caller);
            }
        }
        wake
    }

    /// The oldest call queued for `provider` on `endpoint`, now marked received; `None` if
    /// there is none (then call [`Calls::wait_for_call`] and block).
    ///
    /// # Errors
    /// [`Error::BadLength`] when the request is longer than `capacity` (it stays queued).
    pub fn next_request(
        &mut self,
        provider: Pid,
        endpoint: &str,
        capacity: u64,
    ) -> Result<Option<Delivery>, Error> {
        let Some(call) = self.calls.values_mut().find(|c| {
            c.provider == provider && c.endpoint == endpoint && c.state == CallState::Queued
        }) else {
            return Ok(None);
        };
        if call.request.len() as u64 > capacity {
            return Err(Error::BadLength);
        }
        call.state = CallState::Received;
        Ok(Some(Delivery {
            id: call.id,
            caller_name: call.caller_name.clone(),
            request: call.request.clone(),
        }))
    }

    /// Puts a received call back in the queue (the provider could not take it, e.g. its
    /// buffer was not writable).
    pub fn requeue(&mut self, id: CallId) {
        if let Some(call) = self.calls.get_mut(&id) {
            if call.state == CallState::Received {
                call.state = CallState::Queued;
            }
        }
    }

    /// Records that `provider` blocks receiving on `endpoint`.
    pub fn wait_for_call(&mut self, provider: Pid, endpoint: &str) {
        self.receivers.retain(|(pid, _)| *pid != provider);
        self.receivers.push((provider, endpoint.to_string()));
    }

    /// Whether `provider` is recorded as blocked in receive.
    pub fn is_receiving(&self, provider: Pid) -> bool {
        self.receivers.iter().any(|(pid, _)| *pid == provider)
    }

    /// `provider` answers call `id`; returns the caller to wake.
    ///
    /// # Errors
    /// [`Error::NotFound`]: `id` is not a call `provider` received and has not answered (it
    /// timed out, was answered already, or is someone else's). [`Error::BadLength`]: the reply
    /// is longer than [`MAX_MESSAGE`].
    pub fn reply(&mut self, provider: Pid, id: CallId, reply: Vec<u8>) -> Result<Pid, Error> {
        if reply.len() > MAX_MESSAGE {
            return Err(Error::BadLength);
        }
        match self.calls.get_mut(&id) {
            Some(call) if call.provider == provider && call.state == CallState::Received => {
                call.state = CallState::Done(Ok(reply));
                call.request = Vec::new();
                Ok(call.caller)
            }
            _ => Err(Error::NotFound),
        }
    }

    /// The result of `caller`'s call `id`, if it is finished (the call leaves the table).
    pub fn take_result(&mut self, caller: Pid, id: CallId) -> Option<Result<Vec<u8>, Error>> {
        match self.calls.get(&id) {
            Some(c) if c.caller == caller && matches!(c.state, CallState::Done(_)) => {}
            _ => return None,
        }
        match self.calls.remove(&id)?.state {
            CallState::Done(result) => Some(result),
            _ => None,
        }
    }

    /// Fails every unfinished call due by `now_us` with [`Error::Timeout`]; returns the callers
    /// to wake. A provider that answers one later gets [`Error::NotFound`].
    pub fn expire(&mut self, now_us: u64) -> Vec<Pid> {
        let mut wake = Vec::new();
        for call in self.calls.values_mut() {
            if !matches!(call.state, CallState::Done(_)) && call.deadline_us <= now_us {
                call.state = CallState::Done(Err(Error::Timeout));
                call.request = Vec::new();
                wake.push(call.caller);
            }
        }
        wake
    }

    /// The earliest deadline of an unfinished call.
    pub fn next_deadline(&self) -> Option<u64> {
        self.calls
            .values()
            .filter(|c| !matches!(c.state, CallState::Done(_)))
            .map(|c| c.deadline_us)
            .min()
    }

    /// Process `pid` ended: its unfinished calls *as provider* fail with
    /// [`Error::ProviderGone`] (returned: the callers to wake); its own calls *as caller* are
    /// dropped; it no longer waits to receive.
    pub fn process_ended(&mut self, pid: Pid) -> Vec<Pid> {
        self.receivers.retain(|(p, _)| *p != pid);
        self.calls.retain(|_, c| c.caller != pid);
        let mut wake = Vec::new();
        for call in self.calls.values_mut() {
            if call.provider == pid && !matches!(call.state, CallState::Done(_)) {
                call.state = CallState::Done(Err(Error::ProviderGone));
                call.request = Vec::new();
                wake.push(call.caller);
            }
        }
        wake
    }
}

/// Which process runs which manifest entry (filled by the supervisor as it spawns).
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    by_pid: BTreeMap<Pid, String>,
}

impl Bindings {
    /// No bindings.
    pub fn new() -> Bindings {
        Bindings::default()
    }

    /// Process `pid` runs entry `name` (replacing an earlier process of that entry).
    pub fn bind(&mut self, pid: Pid, name: &str) {
        self.by_pid.retain(|_, n| n != name);
        self.by_pid.insert(pid, name.to_string());
    }

    /// Process `pid` ended.
    pub fn unbind(&mut self, pid: Pid) {
        self.by_pid.remove(&pid);
    }

    /// The entry process `pid` runs.
    pub fn entry_of(&self, pid: Pid) -> Option<&str> {
        self.by_pid.get(&pid).map(String::as_str)
    }

    /// The running process of entry `name`.
    pub fn pid_of(&self, name: &str) -> Option<Pid> {
        self.by_pid
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(p, _)| *p)
    }
}

/// The whole IPC state the kernel keeps.
#[derive(Clone, Debug, Default)]
pub struct Ipc {
    /// From the manifest.
    pub registry: Registry,
    /// Running entries.
    pub bindings: Bindings,
    /// The call table.
    pub calls: Calls,
}

impl Ipc {
    /// State over `registry`, with nothing running.
    pub fn new(registry: Registry) -> Ipc {
        Ipc {
            registry,
            bindings: Bindings::new(),
            calls: Calls::new(),
        }
    }

    /// Starts a call from process `caller` to `endpoint` at `now_us`: permission, provider
    /// lookup, queueing. Returns the call id and the provider to wake.
    ///
    /// # Errors
    /// [`Error::Denied`] (caller runs no entry, or may not call the provider),
    /// [`Error::NotFound`] (nobody provides the endpoint, or its provider is not running),
    /// [`Error::BadLength`] (request too long).
    pub fn call(
        &mut self,
        caller: Pid,
        endpoint: &str,
        request: Vec<u8>,
        now_us: u64,
    ) -> Result<(CallId, Option<Pid>), Error> {
        let caller_name = self.bindings.entry_of(caller).ok_or(Error::Denied)?;
        let provider = self.registry.resolve(caller_name, endpoint)?;
        let provider_pid = self.bindings.pid_of(provider).ok_or(Error::NotFound)?;
        let caller_name = caller_name.to_string();
        self.calls.submit(
            caller,
            &caller_name,
            provider_pid,
            endpoint,
            request,
            now_us,
        )
    }

    /// Whether process `pid` may receive on `endpoint` (its entry provides it).
    pub fn may_receive(&self, pid: Pid, endpoint: &str) -> bool {
        self.bindings
            .entry_of(pid)
            .is_some_and(|entry| self.registry.provides(entry, endpoint))
    }

    /// Process `pid` ended; returns the callers to wake (see [`Calls::process_ended`]).
    pub fn process_ended(&mut self, pid: Pid) -> Vec<Pid> {
        self.bindings.unbind(pid);
        self.calls.process_ended(pid)
    }
}

#[cfg(test)]
mod tests;
