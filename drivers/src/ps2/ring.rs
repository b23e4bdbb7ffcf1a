//! [`ScancodeRing`]: a fixed-size byte ring between one producer (an interrupt handler) and one
//! consumer (the reader), on atomics only: no lock the handler could deadlock on, no
//! allocation, usable in a `static`.

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// A single-producer single-consumer ring of `N` bytes (`N` a power of two, at most 2^31).
///
/// [`push`](Self::push) may only be called from one context at a time (the producer) and
/// [`pop`](Self::pop) from one context at a time (the consumer); the two may run concurrently,
/// including the producer interrupting the consumer. A full ring drops new bytes and counts
/// them ([`dropped`](Self::dropped)); it never overwrites bytes the consumer has not read.
pub struct ScancodeRing<const N: usize> {
    bytes: [AtomicU8; N],
    /// Total bytes pushed (wrapping); only the producer writes it.
    head: AtomicUsize,
    /// Total bytes popped (wrapping); only the consumer writes it.
    tail: AtomicUsize,
    dropped: AtomicUsize,
}

impl<const N: usize> Default for ScancodeRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ScancodeRing<N> {
    /// An empty ring.
    pub const fn new() -> Self {
        const {
            assert!(
                N.is_power_of_two() && N <= 1 << 31,
                "ring size must be a power of two"
            )
        };
        Self {
            bytes: [const { AtomicU8::new(0) }; N],
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
        }
    }

    /// Appends `byte` (producer side); false, and the byte counted as dropped, if the ring is
    /// full.
    pub fn push(&self, byte: u8) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= N {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.bytes[head % N].store(byte, Ordering::Relaxed);
        self.head.store(head.wrapping_add(1), Ordering::Release);
        true
    }

    /// Takes the oldest byte (consumer side), if any.
    pub fn pop(&self) -> Option<u8> {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        let byte = self.bytes[tail % N].load(Ordering::Relaxed);
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Some(byte)
    }

    /// How many bytes wait.
    pub fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        head.wrapping_sub(self.tail.load(Ordering::Acquire))
    }

    /// Whether no byte waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many bytes [`push`](Self::push) dropped because the ring was full.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The ring's capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}
