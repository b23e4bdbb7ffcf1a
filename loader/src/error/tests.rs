//! Every variant prints one non-empty line.

use super::*;
use crate::capability::CapabilityError;
use std::collections::BTreeSet;

fn l(s: &str) -> Label {
    bounded(s)
}

/// The variant's name; no wildcard, so a new variant must be added here (and to `all`).
fn name(e: &LoadError) -> &'static str {
    use LoadError::*;
    match e {
        Io { .. } => "Io",
        ImageEmpty => "ImageEmpty",
        ShortBlock { .. } => "ShortBlock",
        BadMagic { .. } => "BadMagic",
        UnsupportedVersion { .. } => "UnsupportedVersion",
        SuperblockChecksumMismatch => "SuperblockChecksumMismatch",
        ReservedNotZero { .. } => "ReservedNotZero",
        BadSignatureRecord => "BadSignatureRecord",
        BadSlotTable { .. } => "BadSlotTable",
        BadSignatureSyntax { .. } => "BadSignatureSyntax",
        BadConfig { .. } => "BadConfig",
        BadKeyRingUpdate { .. } => "BadKeyRingUpdate",
        BadKeyboardLayout { .. } => "BadKeyboardLayout",
        SignatureWithoutKeyId { .. } => "SignatureWithoutKeyId",
        KernelStartNotOne { .. } => "KernelStartNotOne",
        KernelEmpty => "KernelEmpty",
        ManifestStartMismatch { .. } => "ManifestStartMismatch",
        ManifestEmpty => "ManifestEmpty",
        ManifestTooLarge { .. } => "ManifestTooLarge",
        RegionOutOfOrder { .. } => "RegionOutOfOrder",
        RegionOutsideImage { .. } => "RegionOutsideImage",
        EspMisaligned { .. } => "EspMisaligned",
        ImageTruncated { .. } => "ImageTruncated",
        ManifestLengthMismatch { .. } => "ManifestLengthMismatch",
        ManifestPaddingNotZero { .. } => "ManifestPaddingNotZero",
        ImageIdMismatch => "ImageIdMismatch",
        ManifestNotUtf8 { .. } => "ManifestNotUtf8",
        ManifestNotJson { .. } => "ManifestNotJson",
        ManifestTooDeep { .. } => "ManifestTooDeep",
        ManifestSchema { .. } => "ManifestSchema",
        EscapedStringTooLong { .. } => "EscapedStringTooLong",
        TooManyEntries { .. } => "TooManyEntries",
        TooManyItems { .. } => "TooManyItems",
        StringTooLong { .. } => "StringTooLong",
        EmptyName { .. } => "EmptyName",
        BadChecksumSyntax { .. } => "BadChecksumSyntax",
        FormatVersionMismatch { .. } => "FormatVersionMismatch",
        UnsupportedType { .. } => "UnsupportedType",
        BadExpectedState { .. } => "BadExpectedState",
        BadMemoryLimit { .. } => "BadMemoryLimit",
        BadCapability { .. } => "BadCapability",
        UnknownDependency { .. } => "UnknownDependency",
        UnknownInInitSequence { .. } => "UnknownInInitSequence",
        DuplicateName { .. } => "DuplicateName",
        DuplicateInInitSequence { .. } => "DuplicateInInitSequence",
        DependencyCycle { .. } => "DependencyCycle",
        StartedBeforeDependency { .. } => "StartedBeforeDependency",
        KernelStartMismatch { .. } => "KernelStartMismatch",
        KernelSizeMismatch { .. } => "KernelSizeMismatch",
        EntryEmpty { .. } => "EntryEmpty",
        EntryOutsideRegion { .. } => "EntryOutsideRegion",
        EntriesOverlap { .. } => "EntriesOverlap",
        JsonBufferFull { .. } => "JsonBufferFull",
        KernelTooLarge { .. } => "KernelTooLarge",
        ChecksumMismatch { .. } => "ChecksumMismatch",
    }
}

const COUNT: usize = 55;

fn all() -> Vec<LoadError> {
    use LoadError::*;
    vec![
        Io {
            block: 7,
            count: 16,
        },
        ImageEmpty,
        ShortBlock { len: 12 },
        BadMagic {
            found: *b"\x7fELF\0\x01\xff ",
        },
        UnsupportedVersion { found: 9 },
        SuperblockChecksumMismatch,
        ReservedNotZero { offset: 200 },
        BadSignatureRecord,
        BadSlotTable {
            reason: crate::slots::TableError::Checksum,
        },
        BadKeyRingUpdate { hex_digits: 3 },
        BadKeyboardLayout { length: 1 },
        BadSignatureSyntax {
            entry: l("cli_console"),
        },
        BadConfig {
            entry: l("services_network"),
        },
        SignatureWithoutKeyId {
            entry: l("cli_console"),
        },
        KernelStartNotOne { found: 3 },
        KernelEmpty,
        ManifestStartMismatch {
            expected: 4,
            found: 5,
        },
        ManifestEmpty,
        ManifestTooLarge {
            bytes: 70_000,
            limit: 65_536,
        },
        RegionOutOfOrder {
            region: "data",
            start: 3,
            previous_end: 9,
        },
        RegionOutsideImage {
            region: "esp",
            end: 900,
            total: 800,
        },
        EspMisaligned {
            start: 257,
            blocks: 256,
        },
        ImageTruncated {
            total_blocks: 100,
            actual_blocks: 50,
        },
        ManifestLengthMismatch {
            superblock: 100,
            found: 90,
        },
        ManifestPaddingNotZero { offset: 5000 },
        ImageIdMismatch,
        ManifestNotUtf8 { offset: 4100 },
        ManifestNotJson {
            offset: 12,
            detail: "expected a value",
        },
        ManifestTooDeep {
            offset: 16,
            limit: 16,
        },
        ManifestSchema {
            at: l("services[2]"),
            detail: bounded("missing field `checksum`"),
        },
        EscapedStringTooLong {
            at: l("kernel"),
            limit: 1024,
        },
        TooManyEntries {
            list: "services",
            limit: 16,
        },
        TooManyItems {
            entry: l("cli"),
            list: "capabilities",
            limit: 16,
        },
        StringTooLong {
            entry: l("cli"),
            field: "binary",
            length: 80,
            limit: 64,
        },
        EmptyName {
            entry: l("components[0]"),
        },
        BadChecksumSyntax { entry: l("cli") },
        FormatVersionMismatch {
            superblock: 1,
            manifest: 2,
        },
        UnsupportedType {
            entry: l("cli"),
            found: l("wasm"),
        },
        BadExpectedState {
            entry: l("cli"),
            found: l("sleeping"),
        },
        BadMemoryLimit {
            entry: l("cli"),
            found: l("16MB"),
            reason: crate::memory_limit::MemoryLimitError::Syntax,
        },
        BadCapability {
            entry: l("cli"),
            capability: bounded("Gpu"),
            reason: CapabilityError::BadSyntax,
        },
        UnknownDependency {
            entry: l("cli_console"),
            dependency: l("services_fs_view"),
        },
        UnknownInInitSequence {
            name: l("services_logger"),
        },
        DuplicateName { name: l("cli") },
        DuplicateInInitSequence { name: l("cli") },
        DependencyCycle { entry: l("a") },
        StartedBeforeDependency {
            entry: l("a"),
            dependency: l("b"),
        },
        KernelStartMismatch {
            superblock: 1,
            manifest: 2,
        },
        KernelSizeMismatch {
            size_bytes: 5000,
            kernel_blocks: 3,
        },
        EntryEmpty { entry: l("cli") },
        EntryOutsideRegion {
            entry: l("cli"),
            start_block: 2,
            blocks: 1,
        },
        EntriesOverlap {
            first: l("a"),
            second: l("b"),
        },
        JsonBufferFull { len: 10 },
        KernelTooLarge {
            bytes: 1 << 45,
            max: crate::pack::MAX_KERNEL_BYTES,
        },
        ChecksumMismatch {
            entry: l("kernel"),
            start_block: 1,
        },
    ]
}

#[test]
fn every_variant_displays_one_line() {
    let errors = all();
    let names: BTreeSet<_> = errors.iter().map(name).collect();
    assert_eq!(names.len(), COUNT, "each variant once in `all`");
    for e in &errors {
        let text = e.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
    }
}

#[test]
fn display_names_the_place() {
    assert_eq!(
        LoadError::UnknownDependency { entry: l("cli_console"), dependency: l("services_fs_view") }.to_string(),
        "manifest entry `cli_console`: depends on `services_fs_view`, which is neither a service nor a component"
    );
    assert!(LoadError::BadMagic {
        found: *b"\x7fELF\0\x01\xff "
    }
    .to_string()
    .contains("\\x7fELF"));
    assert!(LoadError::ManifestNotUtf8 { offset: 4100 }
        .to_string()
        .contains("manifest block 1"));
    assert!(LoadError::Io {
        block: 7,
        count: 16
    }
    .to_string()
    .contains("7..23"));
}

#[test]
fn bounded_cuts_at_char_boundary() {
    let s: heapless::String<4> = bounded("aéé");
    assert_eq!(s.as_str(), "aé");
}

#[test]
fn entry_names_the_binary_that_failed() {
    for e in all() {
        let named = matches!(
            e,
            LoadError::ChecksumMismatch { .. }
                | LoadError::EntryEmpty { .. }
                | LoadError::EntryOutsideRegion { .. }
        );
        assert_eq!(e.entry().is_some(), named, "{e:?}");
    }
    let e = LoadError::ChecksumMismatch {
        entry: l("services_storage"),
        start_block: 9,
    };
    assert_eq!(e.entry(), Some("services_storage"));
}
