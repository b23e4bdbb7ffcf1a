//! Every variant prints one non-empty line.

use super::*;

/// The variant's name; no wildcard, so a new variant must be added here (and to `all`).
fn name(e: &DeltaError) -> &'static str {
    use DeltaError::*;
    match e {
        Io { .. } => "Io",
        Truncated { .. } => "Truncated",
        TrailingBytes { .. } => "TrailingBytes",
        BadMagic { .. } => "BadMagic",
        UnsupportedVersion { .. } => "UnsupportedVersion",
        HeaderDamaged => "HeaderDamaged",
        BodyDamaged => "BodyDamaged",
        ReservedNotZero { .. } => "ReservedNotZero",
        BadSignatureRecord => "BadSignatureRecord",
        BadPartCount { .. } => "BadPartCount",
        BadPart { .. } => "BadPart",
        DuplicatePart { .. } => "DuplicatePart",
        PartOutOfPlace { .. } => "PartOutOfPlace",
        BodyLengthMismatch { .. } => "BodyLengthMismatch",
        MissingManifest => "MissingManifest",
        TargetIdMismatch => "TargetIdMismatch",
        Unsigned => "Unsigned",
        UntrustedKey { .. } => "UntrustedKey",
        RevokedKey { .. } => "RevokedKey",
        BadSignature { .. } => "BadSignature",
        WrongBase { .. } => "WrongBase",
        EpochRollback { .. } => "EpochRollback",
        NoSpace { .. } => "NoSpace",
        SourceMissing { .. } => "SourceMissing",
        SourceMismatch { .. } => "SourceMismatch",
        SourceDamaged { .. } => "SourceDamaged",
        BadPayload { .. } => "BadPayload",
        OutputMismatch { .. } => "OutputMismatch",
    }
}

const COUNT: usize = 28;

fn all() -> Vec<DeltaError> {
    use DeltaError::*;
    let n = || String::from("services_storage");
    let key_id = || String::from("release_v1");
    vec![
        Io {
            what: "delta file",
            offset: 4096,
        },
        Truncated {
            have: 100,
            need: 256,
        },
        TrailingBytes {
            have: 300,
            need: 256,
        },
        BadMagic {
            found: *b"PGDELTA9",
        },
        UnsupportedVersion { found: 2 },
        HeaderDamaged,
        BodyDamaged,
        ReservedNotZero { offset: 250 },
        BadSignatureRecord,
        BadPartCount { count: 65 },
        BadPart {
            index: 3,
            problem: PartProblem::UnknownKind(9),
        },
        DuplicatePart { name: n() },
        PartOutOfPlace { name: n() },
        BodyLengthMismatch {
            parts: 10,
            body: 12,
        },
        MissingManifest,
        TargetIdMismatch,
        Unsigned,
        UntrustedKey { key_id: key_id() },
        RevokedKey { key_id: key_id() },
        BadSignature {
            key_id: key_id(),
            error: signing::VerifyError::Mismatch,
        },
        WrongBase {
            expected: [0xab; 16],
            found: [0x01; 16],
        },
        EpochRollback {
            delta: 1,
            minimum: 2,
        },
        NoSpace {
            need: 1 << 20,
            capacity: 4096,
        },
        SourceMissing { name: n() },
        SourceMismatch { name: n() },
        SourceDamaged { name: n() },
        BadPayload {
            name: n(),
            detail: "a zstd frame header is malformed",
        },
        OutputMismatch { name: n() },
    ]
}

fn one_line(text: &str) {
    assert!(!text.is_empty());
    assert!(!text.contains('\n'), "{text}");
    assert!(text.len() < 240, "too long for one line: {text}");
}

#[test]
fn every_variant_displays_one_line() {
    let errors = all();
    let names: std::collections::BTreeSet<_> = errors.iter().map(name).collect();
    assert_eq!(names.len(), COUNT, "every variant once");
    for e in &errors {
        let text = e.to_string();
        one_line(&text);
        assert!(text.starts_with("delta: "), "{text}");
    }
}

#[test]
fn every_part_problem_displays_one_line() {
    use PartProblem::*;
    let problems = [
        UnknownKind(7),
        ReservedNotZero,
        BadName,
        BadLength,
        CopyChangesBytes,
        FullWithSource,
        BadPayloadLength,
    ];
    for p in problems {
        one_line(&p.to_string());
        one_line(
            &DeltaError::BadPart {
                index: 0,
                problem: p,
            }
            .to_string(),
        );
    }
}

#[test]
fn wrong_base_names_both_ids() {
    let e = DeltaError::WrongBase {
        expected: [0xab; 16],
        found: [0x01; 16],
    };
    let text = e.to_string();
    assert!(
        text.contains(&"ab".repeat(16)) && text.contains(&"01".repeat(16)),
        "{text}"
    );
}
