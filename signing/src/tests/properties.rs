//! Property tests: parsing never panics, and encoding round-trips.

use proptest::prelude::*;

use crate::{PublicKey, SecretKey};

proptest! {
    #[test]
    fn parse_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = PublicKey::parse(&bytes);
        let _ = SecretKey::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_after_valid_header(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        let public = [b"PGKEYPUB\x01\x00".as_slice(), &tail].concat();
        let secret = [b"PGKEYSEC\x01\x00".as_slice(), &tail].concat();
        if let Ok(key) = PublicKey::parse(&public) {
            let mut buf = vec![0u8; key.encoded_len()];
            prop_assert_eq!(key.encode(&mut buf), Ok(public.len()));
            prop_assert_eq!(buf, public);
        }
        let _ = SecretKey::parse(&secret);
    }

    #[test]
    fn statement_never_panics(name in ".{0,40}", caps in proptest::collection::vec(".{0,12}", 0..6), len in 0usize..300) {
        let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
        let mut buf = vec![0u8; len];
        let _ = crate::entry_statement(&name, &[0; 32], &caps, &mut buf);
    }
}

proptest! {
    #[test]
    fn trust_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = crate::Trust::decode(&bytes);
        let _ = crate::find_placeholder(&bytes);
        let _ = crate::find_enrolled(&bytes);
    }

    #[test]
    fn trust_decode_never_panics_after_magic(
        magic in prop_oneof![Just(crate::trust::MAGIC), Just(crate::trust::PLACEHOLDER_MAGIC)],
        header in proptest::collection::vec(0u8..20, 8),
        body in proptest::collection::vec(any::<u8>(), 0..1500),
        tail in proptest::collection::vec((0usize..crate::TRUST_LEN, any::<u8>()), 0..4),
    ) {
        let mut block = [magic.as_slice(), &header, &body].concat();
        block.resize(crate::TRUST_LEN, 0);
        for (at, byte) in tail {
            block[at] = byte;
        }
        if let Ok(Some(trust)) = crate::Trust::decode(&block) {
            let mut again = vec![0u8; crate::TRUST_LEN];
            prop_assert_eq!(trust.encode(&mut again), Ok(()));
            prop_assert_eq!(crate::Trust::decode(&again), Ok(Some(trust)));
        }
    }

    #[test]
    fn update_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let ring = crate::KeyRing::new();
        let _ = crate::update::apply(&ring, &bytes, 0);
    }

    #[test]
    fn update_never_panics_after_header(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (v1, ring) = full_authority_ring();
        let bytes = [b"PGRINGUP\x01\x00".as_slice(), &tail].concat();
        prop_assert!(crate::update::apply(&ring, &bytes, 0).is_err());
        // Whatever parses and is then sealed by the trusted key applies or is refused cleanly.
        if tail.len() > 64 {
            let body = &bytes[..bytes.len() - 64];
            let sig = crate::verify::sign_bytes(&v1, &[crate::statement::KEYRING_DOMAIN, body].concat());
            let _ = crate::update::apply(&ring, &[body, &sig].concat(), 0);
        }
    }
}

fn full_authority_ring() -> (SecretKey, crate::KeyRing) {
    let v1 = super::secret("release_v1", 1);
    let mut ring = crate::KeyRing::new();
    ring.add(super::public(&v1, &["*"])).unwrap();
    (v1, ring)
}
