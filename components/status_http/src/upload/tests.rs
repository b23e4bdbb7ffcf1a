//! The limits, the status of every kind of refusal, and the answer lines.

use super::*;
use alloc::boxed::Box;

#[test]
fn limits() {
    assert_eq!(check(BodyFraming::Length(1)), Ok(1));
    assert_eq!(check(BodyFraming::Length(MAX_UPLOAD)), Ok(MAX_UPLOAD));
    let big = check(BodyFraming::Length(MAX_UPLOAD + 1)).unwrap_err();
    assert_eq!(big.status, Status::ContentTooLarge);
    assert!(big.line.contains("67108865 bytes"), "{}", big.line);
    assert_eq!(
        check(BodyFraming::Chunked).unwrap_err().status,
        Status::LengthRequired
    );
    assert_eq!(
        check(BodyFraming::None).unwrap_err().status,
        Status::LengthRequired
    );
}

#[test]
fn refusals_map_to_statuses() {
    let delta = |d| UpdateError::Delta(Box::new(d));
    for (e, status) in [
        (UpdateError::OneSlot, Status::Conflict),
        (
            delta(DeltaError::WrongBase {
                expected: [1; 16],
                found: [2; 16],
            }),
            Status::Conflict,
        ),
        (
            delta(DeltaError::EpochRollback {
                delta: 1,
                minimum: 2,
            }),
            Status::Conflict,
        ),
        (
            delta(DeltaError::NoSpace {
                need: 2,
                capacity: 1,
            }),
            Status::Conflict,
        ),
        (delta(DeltaError::BodyDamaged), Status::UnprocessableContent),
        (
            delta(DeltaError::HeaderDamaged),
            Status::UnprocessableContent,
        ),
        (delta(DeltaError::Unsigned), Status::UnprocessableContent),
        (UpdateError::Layout, Status::UnprocessableContent),
        (
            delta(DeltaError::Io {
                what: "delta file",
                offset: 0,
            }),
            Status::InternalServerError,
        ),
        (
            UpdateError::Slot {
                step: update_driver::Step::Write,
                error: abi::Error::Denied,
            },
            Status::InternalServerError,
        ),
        (
            UpdateError::Unverified(abi::SlotId::A),
            Status::InternalServerError,
        ),
    ] {
        assert_eq!(status_of(&e), status, "{e}");
        let r = reply(Err(e.clone()), 5);
        assert_eq!(r.status, status);
        assert_eq!(r.line, format!("update: {e}"));
        assert!(!r.line.contains('\n'));
    }
}

#[test]
fn the_done_line_is_the_consoles() {
    let r = reply(
        Ok(Done {
            slot: abi::SlotId::B,
            parts: 10,
            written: 28_495_872,
        }),
        10_896,
    );
    assert_eq!(r.status, Status::Ok);
    assert_eq!(
        r.line,
        "update: slot B written (10 parts, 28495872 bytes) in 10896 ms; reboot to try it"
    );
}

#[test]
fn the_store_path_is_in_the_store_dir() {
    assert!(protocol::access::is_under(
        &STORE_PATH[1..],
        &STORE_DIR[1..]
    ));
}
