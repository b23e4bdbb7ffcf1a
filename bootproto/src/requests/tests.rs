//! Unit tests for request scanning.

use super::*;

/// Builds an image from words.
fn image(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The six words of a request with a null response pointer.
fn request(kind: Kind, revision: u64) -> [u64; 6] {
    let [a, b, c, d] = kind.full_id();
    [a, b, c, d, revision, 0]
}

#[test]
fn ids_round_trip() {
    for kind in Kind::ALL {
        assert_eq!(Kind::from_id(kind.id()), kind);
        assert_ne!(kind.name(), "unknown");
    }
    let unknown = Kind::from_id([1, 2]);
    assert_eq!(unknown, Kind::Unknown([1, 2]));
    assert_eq!(unknown.id(), [1, 2]);
    assert_eq!(unknown.name(), "unknown");
    assert_eq!(Kind::Hhdm.id(), [0x48dcf1cb8ad2b852, 0x63984e959a98244b]);
    assert_eq!(Kind::MemoryMap.name(), "memmap");
}

#[test]
fn names_and_ids_are_unique() {
    for (i, a) in Kind::ALL.iter().enumerate() {
        for b in Kind::ALL.iter().skip(i + 1) {
            assert_ne!(a.id(), b.id());
            assert_ne!(a.name(), b.name());
        }
    }
}

#[test]
fn read_write_bounds() {
    let mut buf = vec![0u8; 12];
    assert!(write_u64(&mut buf, 3, 0x1122_3344_5566_7788));
    assert_eq!(read_u64(&buf, 3), Some(0x1122_3344_5566_7788));
    assert_eq!(buf[3], 0x88);
    assert!(!write_u64(&mut buf, 5, 1));
    assert!(!write_u64(&mut buf, usize::MAX, 1));
    assert_eq!(read_u64(&buf, 5), None);
    assert_eq!(read_u64(&buf, usize::MAX - 2), None);
}

#[test]
fn whole_image_without_markers() {
    let mut words = vec![0u64, 7];
    words.extend(BASE_REVISION_MAGIC);
    words.push(3);
    words.extend(request(Kind::Hhdm, 0));
    words.extend(request(Kind::MemoryMap, 1));
    words.extend(request(Kind::Unknown([5, 6]), 2));
    let scan = scan(&image(&words)).unwrap();
    assert_eq!(
        scan.base_revision,
        Some(BaseRevisionTag {
            offset: 16,
            requested: 3
        })
    );
    assert_eq!(scan.markers, None);
    let kinds: Vec<Kind> = scan.requests.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [Kind::Hhdm, Kind::MemoryMap, Kind::Unknown([5, 6])]);
    let memmap = scan.find(Kind::MemoryMap).unwrap();
    assert_eq!(memmap.offset, 40 + 48);
    assert_eq!(memmap.revision, 1);
    assert_eq!(memmap.response_offset(), 40 + 48 + 40);
}

#[test]
fn markers_limit_the_section() {
    let mut words = Vec::new();
    words.extend(request(Kind::Rsdp, 0)); // before the start marker: ignored
    words.extend(START_MARKER);
    words.extend(request(Kind::Hhdm, 0));
    words.extend(END_MARKER);
    words.extend(request(Kind::Smbios, 0)); // after the end marker: ignored
    words.extend(BASE_REVISION_MAGIC); // the tag is found anywhere
    words.push(2);
    let scan = scan(&image(&words)).unwrap();
    assert_eq!(scan.markers, Some((48, 48 + 32 + 48)));
    assert_eq!(scan.requests.len(), 1);
    assert_eq!(scan.requests[0].kind, Kind::Hhdm);
    assert_eq!(scan.base_revision.unwrap().requested, 2);
}

#[test]
fn request_cut_by_end_marker_is_ignored() {
    let mut words = Vec::new();
    words.extend(START_MARKER);
    words.extend(&request(Kind::Hhdm, 0)[..5]);
    words.extend(END_MARKER);
    words.push(0);
    let scan = scan(&image(&words)).unwrap();
    assert!(scan.requests.is_empty());
}

#[test]
fn request_cut_by_image_end_is_ignored() {
    let words = request(Kind::Hhdm, 0);
    let bytes = image(&words);
    assert_eq!(scan(&bytes).unwrap().requests.len(), 1);
    assert!(scan(&bytes[..47]).unwrap().requests.is_empty());
}

#[test]
fn unaligned_request_is_ignored() {
    let mut bytes = vec![0u8; 4];
    bytes.extend(image(&request(Kind::Hhdm, 0)));
    bytes.extend([0u8; 4]);
    assert!(scan(&bytes).unwrap().requests.is_empty());
}

#[test]
fn unterminated_section() {
    let mut words = vec![0];
    words.extend(END_MARKER); // an end marker before the start does not count
    words.extend(START_MARKER);
    words.extend(request(Kind::Hhdm, 0));
    assert_eq!(
        scan(&image(&words)),
        Err(ScanError::UnterminatedRequestsSection { start: 24 })
    );
    let text = ScanError::UnterminatedRequestsSection { start: 24 }.to_string();
    assert!(text.contains("0x18"), "{text}");
}

#[test]
fn duplicate_request() {
    let mut words = Vec::new();
    words.extend(request(Kind::Framebuffer, 0));
    words.push(0);
    words.extend(request(Kind::Framebuffer, 1));
    let err = scan(&image(&words)).unwrap_err();
    assert_eq!(
        err,
        ScanError::DuplicateRequest {
            name: "framebuffer",
            id: Kind::Framebuffer.id(),
            first: 0,
            second: 56
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("framebuffer") && text.contains("0x38"),
        "{text}"
    );
}

#[test]
fn base_revision_tag_cut_off() {
    let bytes = image(&BASE_REVISION_MAGIC);
    assert_eq!(scan(&bytes).unwrap().base_revision, None);
    let tag = BaseRevisionTag {
        offset: 8,
        requested: 3,
    };
    assert_eq!(tag.loaded_revision_offset(), Some(16));
    assert_eq!(tag.requested_offset(), Some(24));
}

proptest::proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = scan(&bytes);
    }

    #[test]
    fn never_panics_on_word_soup(
        picks in proptest::collection::vec(0usize..8, 0..64),
        cut in 0usize..8,
    ) {
        // Words drawn from the magic values make markers and requests likely.
        let pool = [
            COMMON_MAGIC[0], COMMON_MAGIC[1], Kind::Hhdm.id()[0], Kind::Hhdm.id()[1],
            START_MARKER[0], END_MARKER[0], BASE_REVISION_MAGIC[0], 0,
        ];
        let mut words: Vec<u64> = picks.iter().map(|&i| pool[i]).collect();
        if cut == 0 {
            words.extend(START_MARKER);
        }
        let mut bytes = image(&words);
        bytes.truncate(bytes.len().saturating_sub(cut));
        if let Ok(found) = scan(&bytes) {
            for r in &found.requests {
                proptest::prop_assert!(r.response_offset() + 8 <= bytes.len());
            }
        }
    }
}
