//! Host tests: round trips through the encoder, refusals, truncations and bit flips, sizes.

mod refusals;
mod roundtrip;

use crate::encode::{self, Encoded, NewRegion, OldRegion, Options};
use crate::format::sha256;
use crate::{apply, Applied, DeltaError, MemTarget, OldSlot, Region, Rules};
use signing::{CapKind, KeyId, KeyRing, Policy, SecretKey};

/// A slot laid out as the tests see it: named regions, each on a 4096-byte boundary.
pub(crate) struct Slot {
    pub bytes: Vec<u8>,
    pub regions: Vec<Region>,
}

impl Slot {
    pub fn new(regions: &[(&str, Vec<u8>)]) -> Self {
        let mut bytes = Vec::new();
        let mut out = Vec::new();
        for (name, data) in regions {
            let offset = bytes.len() as u64;
            bytes.extend_from_slice(data);
            bytes.resize(bytes.len().div_ceil(4096) * 4096, 0);
            let region = Region {
                name: (*name).into(),
                offset,
                len: data.len() as u64,
                sha256: sha256(data),
            };
            out.push(region);
        }
        Self {
            bytes,
            regions: out,
        }
    }

    pub fn region_bytes(&self, r: &Region) -> &[u8] {
        &self.bytes[r.offset as usize..(r.offset + r.len) as usize]
    }

    pub fn image_id(&self) -> [u8; 16] {
        let manifest = self
            .regions
            .iter()
            .find(|r| r.name == "manifest")
            .expect("a manifest");
        loader::sha256::image_id(self.region_bytes(manifest))
    }

    pub fn old_regions(&self) -> Vec<OldRegion<'_>> {
        self.regions
            .iter()
            .map(|r| OldRegion {
                name: &r.name,
                bytes: self.region_bytes(r),
                sha256: r.sha256,
            })
            .collect()
    }

    pub fn new_regions(&self) -> Vec<NewRegion<'_>> {
        self.regions
            .iter()
            .map(|r| NewRegion {
                name: &r.name,
                offset: r.offset,
                bytes: self.region_bytes(r),
                sha256: r.sha256,
            })
            .collect()
    }

    pub fn old_slot(&self) -> OldSlot<'_, &[u8]> {
        OldSlot {
            image_id: self.image_id(),
            regions: &self.regions,
            reader: &self.bytes[..],
        }
    }
}

pub(crate) fn key() -> SecretKey {
    SecretKey::from_seed(KeyId::new("release_v1").unwrap(), [7; 32]).unwrap()
}

pub(crate) fn ring() -> KeyRing {
    let mut ring = KeyRing::new();
    ring.add(key().public_key(&[CapKind::new("*").unwrap()]).unwrap())
        .unwrap();
    ring
}

/// Encodes old -> new, signed by the test key unless `signed` is false.
pub(crate) fn delta(old: &Slot, new: &Slot, signed: bool) -> Encoded {
    let key = key();
    let opts = Options {
        base_image_id: old.image_id(),
        security_epoch: 3,
        target_len: new.bytes.len() as u64,
        level: 19,
        sign_key: signed.then_some(&key),
    };
    encode::encode(&old.old_regions(), &new.new_regions(), &opts).expect("encodes")
}

/// Applies under enforce with the test ring and rollback minimum 3 into a slot of garbage.
pub(crate) fn apply_to(
    delta: &[u8],
    old: &Slot,
    capacity: usize,
) -> (Result<Applied, DeltaError>, MemTarget) {
    let ring = ring();
    let rules = Rules {
        policy: Policy::Enforce,
        ring: &ring,
        min_epoch: 3,
    };
    let mut target = MemTarget::new(capacity, 0xEE);
    let result = apply(delta, &mut old.old_slot(), &mut target, &rules);
    (result, target)
}

/// Deterministic pseudo-random bytes (xorshift64*), like a compiled binary's entropy.
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// A zstd frame whose window is over the format's 1 MiB is refused by name before any
/// allocation of that size; the encoder's frames of the same bytes decode (their window is
/// at most 1 MiB however large the region).
#[test]
fn zstd_windows_over_a_mebibyte_are_refused() {
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let big_window = zstd::bulk::compress(&data, 3).unwrap();
    let src = core::cell::RefCell::new(&big_window[..]);
    let len = big_window.len() as u64;
    let e = crate::patch::full(&src, 0, len, data.len()).unwrap_err();
    assert!(e.contains("window over 1 MiB"), "{e}");
    let ours = crate::encode::compress(&data, 3).unwrap();
    let src = core::cell::RefCell::new(&ours[..]);
    let back = crate::patch::full(&src, 0, ours.len() as u64, data.len()).unwrap();
    assert!(back == data);
}
