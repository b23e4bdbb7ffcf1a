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
