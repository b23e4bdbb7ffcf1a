//! Key file round trips and every parse error.

use super::{hex, public, secret, RFC1_PUBLIC};
use crate::ident::IdentError;
use crate::{KeyError, PublicKey, SecretKey};

/// Builds a public key file by hand, field by field.
fn pub_file(id: &[u8], key: [u8; 32], caps: &[&[u8]]) -> Vec<u8> {
    let mut f = b"PGKEYPUB".to_vec();
    f.extend_from_slice(&1u16.to_le_bytes());
    f.push(id.len() as u8);
    f.extend_from_slice(id);
    f.extend_from_slice(&key);
    f.push(caps.len() as u8);
    for cap in caps {
        f.push(cap.len() as u8);
        f.extend_from_slice(cap);
    }
    f
}

fn good() -> Vec<u8> {
    pub_file(
        b"vendor_1",
        hex(RFC1_PUBLIC),
        &[b"console", b"network_device"],
    )
}

fn encode_pub(key: &PublicKey) -> Vec<u8> {
    let mut buf = vec![0u8; key.encoded_len()];
    assert_eq!(key.encode(&mut buf), Ok(buf.len()));
    buf
}

#[test]
fn public_file_matches_documented_layout_and_round_trips() {
    let key = PublicKey::parse(&good()).unwrap();
    assert_eq!(key.id().as_str(), "vendor_1");
    assert_eq!(key.key_bytes(), hex::<32>(RFC1_PUBLIC));
    let kinds: Vec<&str> = key.capability_limits().iter().map(|c| c.as_str()).collect();
    assert_eq!(kinds, ["console", "network_device"]);
    assert_eq!(encode_pub(&key), good());
}

#[test]
fn secret_file_round_trips_and_derives_public() {
    let sk = secret("release_2026", 7);
    let mut buf = vec![0u8; sk.encoded_len()];
    assert_eq!(sk.encode(&mut buf), Ok(buf.len()));
    assert_eq!(&buf[..10], b"PGKEYSEC\x01\x00");
    assert_eq!(&buf[buf.len() - 32..], &[7u8; 32]);
    let back = SecretKey::parse(&buf).unwrap();
    assert_eq!(back.id(), sk.id());
    assert_eq!(public(&back, &["*"]), public(&sk, &["*"]));
}

#[test]
fn secret_debug_hides_seed() {
    let text = format!("{:?}", secret("k", 0xab));
    assert!(!text.contains("171") && !text.contains("ab,"), "{text}");
}

#[test]
fn every_truncation_is_reported() {
    let file = good();
    for len in 0..file.len() {
        assert!(
            matches!(
                PublicKey::parse(&file[..len]),
                Err(KeyError::Truncated { .. })
            ),
            "len {len}"
        );
    }
    assert_eq!(
        PublicKey::parse(&file[..9]),
        Err(KeyError::Truncated { field: "version" })
    );
}

#[test]
fn bad_magic_and_wrong_kind() {
    let mut file = good();
    file[0] = b'X';
    assert_eq!(
        PublicKey::parse(&file),
        Err(KeyError::BadMagic {
            expected: "PGKEYPUB"
        })
    );
    let mut sec = vec![0u8; 64];
    let n = secret("k", 1).encode(&mut sec).unwrap();
    assert_eq!(
        PublicKey::parse(&sec[..n]),
        Err(KeyError::WrongKind {
            expected: "PGKEYPUB"
        })
    );
    let err = SecretKey::parse(&good()).unwrap_err();
    assert_eq!(
        err,
        KeyError::WrongKind {
            expected: "PGKEYSEC"
        }
    );
}

#[test]
fn unsupported_version() {
    let mut file = good();
    file[8] = 2;
    assert_eq!(
        PublicKey::parse(&file),
        Err(KeyError::UnsupportedVersion(2))
    );
}

#[test]
fn bad_key_ids() {
    let key = hex(RFC1_PUBLIC);
    let parse = |id: &[u8]| PublicKey::parse(&pub_file(id, key, &[]));
    assert_eq!(
        parse(b""),
        Err(KeyError::BadKeyId(IdentError::BadLength(0)))
    );
    assert_eq!(
        parse(&[b'a'; 33]),
        Err(KeyError::BadKeyId(IdentError::BadLength(33)))
    );
    assert_eq!(
        parse(b"Vendor"),
        Err(KeyError::BadKeyId(IdentError::BadByte(b'V')))
    );
    assert_eq!(
        parse(b"*"),
        Err(KeyError::BadKeyId(IdentError::BadByte(b'*')))
    );
    assert!(parse(&[b'a'; 32]).is_ok());
}

#[test]
fn invalid_and_weak_public_keys() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        PublicKey::parse(&pub_file(b"k", identity, &[])),
        Err(KeyError::WeakPublicKey)
    );
    let mut non_canonical = [0xffu8; 32];
    non_canonical[31] = 0x7f;
    let err = PublicKey::parse(&pub_file(b"k", non_canonical, &[])).unwrap_err();
    assert!(
        matches!(err, KeyError::BadPublicKey | KeyError::WeakPublicKey),
        "{err:?}"
    );
    let not_on_curve = (2u8..=255).any(|y| {
        let mut k = [0u8; 32];
        k[0] = y;
        PublicKey::parse(&pub_file(b"k", k, &[])) == Err(KeyError::BadPublicKey)
    });
    assert!(not_on_curve, "some small y is not on the curve");
}

#[test]
fn capability_list_errors() {
    let key = hex(RFC1_PUBLIC);
    let parse = |caps: &[&[u8]]| PublicKey::parse(&pub_file(b"k", key, caps));
    assert_eq!(
        parse(&[b"x".as_slice(); 17]),
        Err(KeyError::TooManyCapabilities(17))
    );
    assert!(parse(&[b"x".as_slice(); 16]).is_ok());
    let bad = |index, error| Err(KeyError::BadCapability { index, error });
    assert_eq!(parse(&[b"console", b""]), bad(1, IdentError::BadLength(0)));
    assert_eq!(parse(&[b"block-device"]), bad(0, IdentError::BadByte(b'-')));
    assert_eq!(parse(&[b"**"]), bad(0, IdentError::BadByte(b'*')));
    assert_eq!(parse(&[b"console:0"]), bad(0, IdentError::BadByte(b':')));
    assert!(parse(&[b"*"]).is_ok());
}

#[test]
fn trailing_bytes_zero_seed_and_small_buffers() {
    let mut file = good();
    file.push(0);
    assert_eq!(PublicKey::parse(&file), Err(KeyError::TrailingBytes(1)));
    let mut sec = b"PGKEYSEC\x01\x00\x01k".to_vec();
    sec.extend_from_slice(&[0; 32]);
    assert_eq!(SecretKey::parse(&sec).unwrap_err(), KeyError::ZeroSeed);
    sec.push(9);
    assert_eq!(
        SecretKey::parse(&sec).unwrap_err(),
        KeyError::TrailingBytes(1)
    );
    let key = PublicKey::parse(&good()).unwrap();
    let mut small = vec![0u8; key.encoded_len() - 1];
    let have = small.len();
    assert_eq!(
        key.encode(&mut small),
        Err(KeyError::BufferTooSmall {
            needed: have + 1,
            have
        })
    );
}

#[test]
fn errors_display_one_line() {
    let errors = [
        KeyError::Truncated { field: "seed" },
        KeyError::BadMagic {
            expected: "PGKEYPUB",
        },
        KeyError::WrongKind {
            expected: "PGKEYSEC",
        },
        KeyError::UnsupportedVersion(9),
        KeyError::BadKeyId(IdentError::BadByte(b'A')),
        KeyError::BadPublicKey,
        KeyError::WeakPublicKey,
        KeyError::TooManyCapabilities(17),
        KeyError::BadCapability {
            index: 2,
            error: IdentError::BadLength(0),
        },
        KeyError::TrailingBytes(3),
        KeyError::ZeroSeed,
        KeyError::BufferTooSmall { needed: 9, have: 1 },
    ];
    for e in errors {
        let text = e.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text}");
    }
}
