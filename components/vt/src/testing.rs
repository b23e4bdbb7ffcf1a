//! Helpers shared by the tests.

/// A xorshift64 generator: deterministic pseudo-random numbers for fuzz-like loops.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next number (never 0 if the seed is not 0).
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
