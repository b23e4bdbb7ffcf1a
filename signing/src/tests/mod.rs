//! Host tests: RFC 8032 vectors, key files, statements, the key ring, the trust block,
//! key-ring updates, and fuzzing.

mod image;
mod keyfile;
mod properties;
mod ring;
mod statement;
mod trust;
mod update;
mod vectors;

use crate::{CapKind, KeyId, PublicKey, SecretKey};

/// Decodes a hex string of exactly `N` bytes (test input only).
pub(crate) fn hex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    assert_eq!(s.len(), 2 * N, "hex length");
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex digit");
    }
    out
}

/// RFC 8032 section 7.1, test 1: secret key (seed).
pub(crate) const RFC1_SEED: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// RFC 8032 section 7.1, test 1: public key.
pub(crate) const RFC1_PUBLIC: &str =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// RFC 8032 section 7.1, test 1: signature of the empty message.
pub(crate) const RFC1_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

pub(crate) fn caps(kinds: &[&str]) -> Vec<CapKind> {
    kinds
        .iter()
        .map(|k| CapKind::new(k).expect("valid kind"))
        .collect()
}

/// A secret key from a seed filled with `byte`.
pub(crate) fn secret(id: &str, byte: u8) -> SecretKey {
    SecretKey::from_seed(KeyId::new(id).expect("valid id"), [byte; 32]).expect("non-zero seed")
}

/// The public half of `secret`, with the given limits.
pub(crate) fn public(secret: &SecretKey, kinds: &[&str]) -> PublicKey {
    secret.public_key(&caps(kinds)).expect("valid public key")
}
