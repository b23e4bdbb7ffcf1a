//! Fakes for host tests (of this crate and of `services_network`): a clock the test moves, and
//! an in-memory Ethernet switch whose ports are [`Frames`] devices, with a delay, a per-port
//! frame dropper and a per-port link switch.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use crate::link::{Frames, LinkError};

/// Frames a port queues before the switch drops more.
const MAX_QUEUE: usize = 4096;

/// A source of milliseconds.
pub trait Clock {
    /// Milliseconds since an arbitrary start; never goes backwards.
    fn now_ms(&self) -> u64;
}

/// A clock that moves only when told; clones share the time.
#[derive(Debug, Clone, Default)]
pub struct FakeClock(Rc<Cell<u64>>);

impl FakeClock {
    /// A clock at 0 ms.
    pub fn new() -> Self {
        FakeClock::default()
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

struct Port {
    mac: [u8; 6],
    up: bool,
    queue: VecDeque<(u64, Vec<u8>)>,
    drop_every: u32,
    sent: u32,
    dropped: u64,
}

struct Switch {
    clock: FakeClock,
    delay_ms: u64,
    ports: Vec<Port>,
}

/// An Ethernet switch in memory: a frame goes to the port of its destination MAC, or to every
/// other port for broadcast and multicast (and unknown MACs), after the wire's delay.
#[derive(Clone)]
pub struct Wire(Rc<RefCell<Switch>>);

impl Wire {
    /// A switch with no ports and no delay, timed by `clock`.
    pub fn new(clock: FakeClock) -> Self {
        Wire(Rc::new(RefCell::new(Switch {
            clock,
            delay_ms: 0,
            ports: Vec::new(),
        })))
    }

    /// Plugs in a device with MAC `mac`, link up.
    pub fn port(&self, mac: [u8; 6]) -> WirePort {
        let mut sw = self.0.borrow_mut();
        sw.ports.push(Port {
            mac,
            up: true,
            queue: VecDeque::new(),
            drop_every: 0,
            sent: 0,
            dropped: 0,
        });
        WirePort {
            wire: self.clone(),
            id: sw.ports.len() - 1,
        }
    }

    /// Every frame arrives `ms` after it was sent.
    pub fn set_delay(&self, ms: u64) {
        self.0.borrow_mut().delay_ms = ms;
    }
}

/// One device on a [`Wire`].
#[derive(Clone)]
pub struct WirePort {
    wire: Wire,
    id: usize,
}

impl WirePort {
    fn with<R>(&self, f: impl FnOnce(&mut Port) -> R) -> R {
        f(&mut self.wire.0.borrow_mut().ports[self.id])
    }

    /// Plugs (`true`) or cuts (`false`) this port's cable.
    pub fn set_link(&self, up: bool) {
        self.with(|p| {
            p.up = up;
            p.queue.clear();
        });
    }

    /// From now on, drops every `n`th frame this port sends (the `n`th, `2n`th, …; 0: none).
    pub fn drop_every(&self, n: u32) {
        self.with(|p| (p.drop_every, p.sent) = (n, 0));
    }

    /// Frames of this port the dropper dropped.
    pub fn dropped(&self) -> u64 {
        self.with(|p| p.dropped)
    }
}

impl Frames for WirePort {
    fn mac(&self) -> [u8; 6] {
        self.with(|p| p.mac)
    }

    fn link_up(&self) -> bool {
        self.with(|p| p.up)
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        let mut sw = self.wire.0.borrow_mut();
        let at = sw.clock.now_ms() + sw.delay_ms;
        let me = &mut sw.ports[self.id];
        if !me.up {
            return Err(LinkError::Down);
        }
        me.sent = me.sent.wrapping_add(1);
        if me.drop_every != 0 && me.sent.is_multiple_of(me.drop_every) {
            me.dropped += 1;
            return Ok(());
        }
        let dst: Option<[u8; 6]> = frame.get(..6).and_then(|d| d.try_into().ok());
        let known = sw.ports.iter().any(|p| Some(p.mac) == dst);
        let group = dst.is_none_or(|d| d[0] & 1 == 1) || !known;
        for (i, p) in sw.ports.iter_mut().enumerate() {
            let wanted = group || Some(p.mac) == dst;
            if i != self.id && p.up && wanted && p.queue.len() < MAX_QUEUE {
                p.queue.push_back((at, frame.to_vec()));
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, LinkError> {
        let mut sw = self.wire.0.borrow_mut();
        let now = sw.clock.now_ms();
        let me = &mut sw.ports[self.id];
        if !me.up {
            return Err(LinkError::Down);
        }
        match me.queue.front() {
            Some((at, _)) if *at <= now => {}
            _ => return Ok(None),
        }
        let Some((_, frame)) = me.queue.pop_front() else {
            return Ok(None);
        };
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        Ok(Some(n))
    }
}
