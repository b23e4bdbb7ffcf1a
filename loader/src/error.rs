//! `LoadError`: every way an image can be rejected, each naming the block, entry or byte at fault.

use crate::capability::CapabilityError;
use core::fmt;

/// Longest entry label kept in an error: a name (at most [`crate::manifest::MAX_NAME`] bytes) or a
/// position such as `components[15]` when the name itself is unusable.
pub const LABEL_LEN: usize = 48;
/// Longest free-text detail kept in an error (the JSON parser's message).
pub const DETAIL_LEN: usize = 64;

/// Which entry an error is about: its name, `kernel`, or its position (`services[3]`) when the name is unusable.
pub type Label = heapless::String<LABEL_LEN>;
/// A short free-text detail (bounded; cut at a character boundary if longer).
pub type Detail = heapless::String<DETAIL_LEN>;

/// Copies `s` into a bounded string, cutting at a character boundary if it does not fit.
///
/// Only used for error context, where a shortened name still points at the right place.
pub fn bounded<const N: usize>(s: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// Why an image, a superblock or a manifest was rejected.
///
/// `Display` prints one line: what is wrong, where, and when it helps, what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    // ---- the block source ----
    /// The block source failed to read blocks `block..block + count` (its own error is the driver's to log).
    Io {
        /// First block of the failed read.
        block: u64,
        /// Number of blocks asked for.
        count: u64,
    },
    /// The block source has no blocks at all.
    ImageEmpty,

    // ---- block 0 ----
    /// The superblock buffer is shorter than one block.
    ShortBlock {
        /// Length of the buffer given.
        len: usize,
    },
    /// Block 0 does not start with `PANDAGEN`.
    BadMagic {
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// Block 0 carries a format version this loader does not read.
    UnsupportedVersion {
        /// The version found at byte 8.
        found: u32,
    },
    /// The SHA-256 at bytes 88..120 of block 0 does not match bytes 0..88: block 0 is damaged.
    SuperblockChecksumMismatch,
    /// Block 0's manifest signature record (bytes 120..224) has a malformed key id.
    BadSignatureRecord,
    /// Block 0's slot table (bytes 224..280) is damaged or places slot B outside its room.
    BadSlotTable {
        /// Why.
        reason: crate::slots::TableError,
    },
    /// A byte of block 0 that must be zero is not.
    ReservedNotZero {
        /// Byte offset in block 0.
        offset: usize,
    },
    /// The kernel does not start at block 1.
    KernelStartNotOne {
        /// The kernel start block found.
        found: u64,
    },
    /// The superblock gives the kernel zero blocks.
    KernelEmpty,
    /// The manifest does not start right after the kernel.
    ManifestStartMismatch {
        /// kernel start + kernel blocks.
        expected: u64,
        /// The manifest start block found.
        found: u64,
    },
    /// The manifest is empty (length 0, or its first byte is zero).
    ManifestEmpty,
    /// The manifest is longer than [`crate::manifest::MAX_MANIFEST_BYTES`].
    ManifestTooLarge {
        /// Its length in bytes (as far as it was seen).
        bytes: u64,
        /// The limit.
        limit: usize,
    },
    /// A region starts before the previous one ends (`region` is `manifest`, `esp` or `data`).
    RegionOutOfOrder {
        /// The region that starts too early.
        region: &'static str,
        /// Its start block.
        start: u64,
        /// End block (exclusive) of the region before it.
        previous_end: u64,
    },
    /// A region ends past the image's total block count (or its end overflows).
    RegionOutsideImage {
        /// The region.
        region: &'static str,
        /// Its end block (exclusive; `u64::MAX` on overflow).
        end: u64,
        /// The superblock's total block count.
        total: u64,
    },
    /// The ESP does not start on a 1 MiB boundary (a multiple of 256 blocks), or has a start but no length.
    EspMisaligned {
        /// The ESP start block.
        start: u64,
        /// The ESP length in blocks.
        blocks: u64,
    },
    /// The device is shorter than the superblock says the image is.
    ImageTruncated {
        /// Blocks the superblock claims.
        total_blocks: u64,
        /// Blocks the device has.
        actual_blocks: u64,
    },

    // ---- manifest bytes ----
    /// The manifest's length (first zero byte) disagrees with the superblock's manifest length.
    ManifestLengthMismatch {
        /// Length recorded in block 0.
        superblock: u64,
        /// Offset of the first zero byte (or the region's end).
        found: u64,
    },
    /// A padding byte after the manifest is not zero.
    ManifestPaddingNotZero {
        /// Byte offset from the manifest's first byte.
        offset: u64,
    },
    /// The image id in block 0 is not the one derived from the manifest: the manifest was changed or damaged.
    ImageIdMismatch,
    /// The manifest is not valid UTF-8.
    ManifestNotUtf8 {
        /// Byte offset of the first bad byte, from the manifest's first byte.
        offset: usize,
    },
    /// The manifest is not well-formed JSON.
    ManifestNotJson {
        /// Byte offset of the problem, from the manifest's first byte.
        offset: usize,
        /// What was expected there.
        detail: &'static str,
    },
    /// The manifest nests arrays/objects deeper than [`crate::manifest::MAX_DEPTH`].
    ManifestTooDeep {
        /// Byte offset of the opening bracket that goes too deep.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// Well-formed JSON that does not fit the schema (missing key, wrong type, duplicate key).
    ManifestSchema {
        /// Where: `manifest`, `kernel`, `services[2]`, `init_sequence`.
        at: Label,
        /// The parser's message.
        detail: Detail,
    },
    /// A string with escape sequences is longer, unescaped, than [`crate::manifest::MAX_ESCAPED_STRING`].
    EscapedStringTooLong {
        /// Where (as for [`LoadError::ManifestSchema`]).
        at: Label,
        /// The limit.
        limit: usize,
    },
    /// A top-level list has more entries than its limit.
    TooManyEntries {
        /// `services`, `components` or `init_sequence`.
        list: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A per-entry list has more items than its limit.
    TooManyItems {
        /// The entry.
        entry: Label,
        /// `capabilities`, `provides` or `depends_on`.
        list: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A string field is longer than its limit.
    StringTooLong {
        /// The entry (`kernel`, a name, or a position when the name is the long string).
        entry: Label,
        /// The field (`name`, `binary`, `capabilities`, ...).
        field: &'static str,
        /// Its length in bytes.
        length: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// An entry's name (or a name in `init_sequence`) is empty.
    EmptyName {
        /// Its position, e.g. `services[0]`.
        entry: Label,
    },
    /// `key_ring_update` is not 2 to 4096 lowercase hex digits, an even number of them.
    BadKeyRingUpdate {
        /// Its length in characters.
        hex_digits: usize,
    },
    /// `keyboard_layout` is not 2 to 8 lowercase ASCII letters.
    BadKeyboardLayout {
        /// Its length in bytes.
        length: usize,
    },
    /// An entry's `signature` is not `ed25519:` followed by 128 lowercase hex digits.
    BadSignatureSyntax {
        /// The entry.
        entry: Label,
    },
    /// An entry's `config` has a control character (it must be one line of printable ASCII).
    BadConfig {
        /// The entry.
        entry: Label,
    },
    /// An entry has `signature` without `public_key_id`, or the reverse.
    SignatureWithoutKeyId {
        /// The entry.
        entry: Label,
    },
    /// A checksum is not `sha256:` followed by 64 lowercase hex digits.
    BadChecksumSyntax {
        /// The entry.
        entry: Label,
    },
    /// The manifest's `format_version` differs from block 0's.
    FormatVersionMismatch {
        /// Version in block 0.
        superblock: u32,
        /// Version in the manifest.
        manifest: u32,
    },

    // ---- graph ----
    /// An entry's `type` is not `native`.
    UnsupportedType {
        /// The entry.
        entry: Label,
        /// The type found.
        found: Label,
    },
    /// An entry's `memory_limit` is not a limit.
    BadMemoryLimit {
        /// The entry.
        entry: Label,
        /// The text found (cut to the label's length).
        found: Label,
        /// What is wrong with it.
        reason: crate::memory_limit::MemoryLimitError,
    },
    /// An entry's `expected_state` is not `up` or a state word.
    BadExpectedState {
        /// The entry.
        entry: Label,
        /// The value found (cut to the label's length).
        found: Label,
    },
    /// A capability string does not parse.
    BadCapability {
        /// The entry.
        entry: Label,
        /// The capability string.
        capability: heapless::String<{ crate::manifest::MAX_CAPABILITY }>,
        /// What is wrong with it.
        reason: CapabilityError,
    },
    /// `depends_on` names an entry that is in neither `services` nor `components`.
    UnknownDependency {
        /// The entry.
        entry: Label,
        /// The unknown name.
        dependency: Label,
    },
    /// `init_sequence` names an entry that is in neither `services` nor `components`.
    UnknownInInitSequence {
        /// The unknown name.
        name: Label,
    },
    /// Two entries (services and components together) share a name.
    DuplicateName {
        /// The name.
        name: Label,
    },
    /// `init_sequence` lists a name twice.
    DuplicateInInitSequence {
        /// The name.
        name: Label,
    },
    /// The dependencies form a cycle.
    DependencyCycle {
        /// One entry on the cycle.
        entry: Label,
    },
    /// `init_sequence` starts an entry before one of its dependencies (or never starts the dependency).
    StartedBeforeDependency {
        /// The entry started too early.
        entry: Label,
        /// The dependency that is started later or not at all.
        dependency: Label,
    },

    // ---- layout and contents ----
    /// The manifest's kernel `start_block` is not block 0's kernel start.
    KernelStartMismatch {
        /// Kernel start in block 0.
        superblock: u64,
        /// `kernel.start_block` in the manifest.
        manifest: u64,
    },
    /// The kernel's `size_bytes` does not round up to block 0's kernel block count.
    KernelSizeMismatch {
        /// `kernel.size_bytes`.
        size_bytes: u64,
        /// Kernel blocks in block 0.
        kernel_blocks: u32,
    },
    /// A service or component has `size_bytes` 0.
    EntryEmpty {
        /// The entry.
        entry: Label,
    },
    /// An entry's blocks are not inside the binaries region (after the manifest, before the ESP/data).
    EntryOutsideRegion {
        /// The entry.
        entry: Label,
        /// Its start block.
        start_block: u64,
        /// Its length in blocks.
        blocks: u64,
    },
    /// Two entries' blocks overlap.
    EntriesOverlap {
        /// The earlier entry in manifest order.
        first: Label,
        /// The later one.
        second: Label,
    },
    /// [`crate::Manifest::to_json`]'s output buffer is too small.
    JsonBufferFull {
        /// The buffer's length.
        len: usize,
    },
    /// The packer was given a kernel larger than block 0's 32-bit kernel block count can describe.
    KernelTooLarge {
        /// The kernel's size.
        bytes: u64,
        /// The largest kernel the format holds ([`crate::pack::MAX_KERNEL_BYTES`]).
        max: u64,
    },
    /// The bytes on disk do not hash to the manifest's checksum.
    ChecksumMismatch {
        /// The entry (`kernel` or a name).
        entry: Label,
        /// Its start block.
        start_block: u64,
    },
}

impl LoadError {
    /// The entry whose bytes on disk failed (`kernel` or a name): a damaged, empty or
    /// misplaced binary. `None` for every other error.
    pub fn entry(&self) -> Option<&str> {
        match self {
            Self::ChecksumMismatch { entry, .. }
            | Self::EntryEmpty { entry }
            | Self::EntryOutsideRegion { entry, .. } => Some(entry.as_str()),
            _ => None,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::manifest::MAX_NAME;
        match self {
            Self::Io { block, count } => {
                write!(f, "I/O error reading blocks {block}..{} of the image", block.saturating_add(*count))
            }
            Self::ImageEmpty => write!(f, "the device has no blocks: there is no image to load"),
            Self::ShortBlock { len } => {
                write!(f, "block 0: got {len} bytes, a superblock needs one whole {}-byte block", crate::BLOCK_SIZE)
            }
            Self::BadMagic { found } => write!(
                f,
                "block 0: magic is {:?}, not \"PANDAGEN\": this is not a PandaGen system image",
                Ascii(found)
            ),
            Self::UnsupportedVersion { found } => write!(
                f,
                "block 0: format version {found} is not supported (this loader reads version {}); rebuild the image",
                crate::FORMAT_VERSION
            ),
            Self::BadSignatureRecord => write!(
                f,
                "block 0: the manifest signature record (bytes 120..224) has a malformed key id: re-sign the image"
            ),
            Self::BadSlotTable { reason } => write!(
                f,
                "block 0: the slot table (bytes 224..280) is unusable: {reason}; rebuild the image with `cargo xtask build-image --slots 2`"
            ),
            Self::SuperblockChecksumMismatch => {
                write!(f, "block 0: the SHA-256 at bytes 88..120 does not match bytes 0..88: block 0 is damaged")
            }
            Self::ReservedNotZero { offset } => {
                write!(f, "block 0: byte {offset} is reserved and must be zero")
            }
            Self::KernelStartNotOne { found } => {
                write!(f, "block 0: kernel starts at block {found}, format version 1 puts it at block 1")
            }
            Self::KernelEmpty => write!(f, "block 0: kernel size is 0 blocks"),
            Self::ManifestStartMismatch { expected, found } => write!(
                f,
                "block 0: manifest starts at block {found}, expected {expected} (right after the kernel)"
            ),
            Self::ManifestEmpty => write!(f, "manifest is empty"),
            Self::ManifestTooLarge { bytes, limit } => {
                write!(f, "manifest is {bytes} bytes, the limit is {limit}")
            }
            Self::RegionOutOfOrder { region, start, previous_end } => write!(
                f,
                "block 0: {region} region starts at block {start}, before the previous region ends at block {previous_end}"
            ),
            Self::RegionOutsideImage { region, end, total } => write!(
                f,
                "block 0: {region} region ends at block {end}, past the image's {total} blocks"
            ),
            Self::EspMisaligned { start, blocks } => write!(
                f,
                "block 0: ESP at block {start} ({blocks} blocks) must start on a 1 MiB boundary (multiple of 256 blocks) and be non-empty"
            ),
            Self::ImageTruncated { total_blocks, actual_blocks } => write!(
                f,
                "image is truncated: block 0 says {total_blocks} blocks, the device has {actual_blocks}"
            ),
            Self::ManifestLengthMismatch { superblock, found } => write!(
                f,
                "manifest: block 0 says it is {superblock} bytes, its first zero byte is at {found}"
            ),
            Self::ManifestPaddingNotZero { offset } => write!(
                f,
                "manifest: padding byte {offset} (manifest block {}) is not zero",
                offset / crate::BLOCK_SIZE as u64
            ),
            Self::ImageIdMismatch => write!(
                f,
                "block 0: image id is not derived from this manifest: the manifest was changed or damaged"
            ),
            Self::ManifestNotUtf8 { offset } => write!(
                f,
                "manifest: not UTF-8 at byte {offset} (manifest block {})",
                offset / crate::BLOCK_SIZE
            ),
            Self::ManifestNotJson { offset, detail } => write!(
                f,
                "manifest: not JSON at byte {offset} (manifest block {}): {detail}",
                offset / crate::BLOCK_SIZE
            ),
            Self::ManifestTooDeep { offset, limit } => write!(
                f,
                "manifest: nesting deeper than {limit} levels at byte {offset}"
            ),
            Self::ManifestSchema { at, detail } => write!(f, "manifest {at}: {detail}"),
            Self::EscapedStringTooLong { at, limit } => write!(
                f,
                "manifest {at}: a string with escape sequences is longer than {limit} bytes; write it without escapes"
            ),
            Self::TooManyEntries { list, limit } => {
                write!(f, "manifest: `{list}` has more than {limit} entries")
            }
            Self::TooManyItems { entry, list, limit } => {
                write!(f, "manifest entry `{entry}`: `{list}` has more than {limit} items")
            }
            Self::StringTooLong { entry, field, length, limit } => write!(
                f,
                "manifest entry `{entry}`: `{field}` is {length} bytes, the limit is {limit}"
            ),
            Self::EmptyName { entry } => write!(f, "manifest {entry}: name is empty"),
            Self::BadKeyRingUpdate { hex_digits } => write!(
                f,
                "manifest: key_ring_update ({hex_digits} characters) must be an even number of lowercase hex digits, at most {}; re-make it with the host tool",
                2 * crate::signature::MAX_RING_UPDATE
            ),
            Self::BadKeyboardLayout { length } => write!(
                f,
                "manifest: keyboard_layout ({length} bytes) must be 2 to {} lowercase letters, a layout's short name such as \"de\"",
                crate::manifest::MAX_KEYBOARD_LAYOUT
            ),
            Self::BadSignatureSyntax { entry } => write!(
                f,
                "manifest entry `{entry}`: signature must be \"ed25519:\" followed by 128 lowercase hex digits"
            ),
            Self::BadConfig { entry } => write!(
                f,
                "manifest entry `{entry}`: config must be one line of printable ASCII (spaces allowed, no tabs or line breaks)"
            ),
            Self::SignatureWithoutKeyId { entry } => write!(
                f,
                "manifest entry `{entry}`: `signature` and `public_key_id` go together; re-sign the entry with the host tool"
            ),
            Self::BadChecksumSyntax { entry } => write!(
                f,
                "manifest entry `{entry}`: checksum must be \"sha256:\" followed by 64 lowercase hex digits"
            ),
            Self::FormatVersionMismatch { superblock, manifest } => write!(
                f,
                "manifest format_version is {manifest} but block 0 says {superblock}"
            ),
            Self::BadMemoryLimit { entry, found, reason } => write!(
                f,
                "manifest entry `{entry}`: memory_limit \"{found}\" is {reason}"
            ),
            Self::BadExpectedState { entry, found } => write!(
                f,
                "manifest entry `{entry}`: expected_state \"{found}\" is not one of up, ready, \
                 running, exited(N), failed, skipped, refused, not-started"
            ),
            Self::UnsupportedType { entry, found } => write!(
                f,
                "manifest entry `{entry}`: type \"{found}\" is not supported (only \"native\")"
            ),
            Self::BadCapability { entry, capability, reason } => write!(
                f,
                "manifest entry `{entry}`: capability \"{capability}\": {reason}"
            ),
            Self::UnknownDependency { entry, dependency } => write!(
                f,
                "manifest entry `{entry}`: depends on `{dependency}`, which is neither a service nor a component"
            ),
            Self::UnknownInInitSequence { name } => write!(
                f,
                "manifest init_sequence: `{name}` is neither a service nor a component"
            ),
            Self::DuplicateName { name } => {
                write!(f, "manifest: two entries are named `{name}` (names must be unique, max {MAX_NAME} bytes)")
            }
            Self::DuplicateInInitSequence { name } => {
                write!(f, "manifest init_sequence: `{name}` is listed twice")
            }
            Self::DependencyCycle { entry } => {
                write!(f, "manifest: dependency cycle through `{entry}`")
            }
            Self::StartedBeforeDependency { entry, dependency } => write!(
                f,
                "manifest init_sequence: `{entry}` starts before its dependency `{dependency}` (or `{dependency}` is never started)"
            ),
            Self::KernelStartMismatch { superblock, manifest } => write!(
                f,
                "manifest kernel: start_block is {manifest}, block 0 says {superblock}"
            ),
            Self::KernelSizeMismatch { size_bytes, kernel_blocks } => write!(
                f,
                "manifest kernel: size_bytes {size_bytes} does not fill block 0's {kernel_blocks} kernel blocks"
            ),
            Self::EntryEmpty { entry } => write!(f, "manifest entry `{entry}`: size_bytes is 0"),
            Self::EntryOutsideRegion { entry, start_block, blocks } => write!(
                f,
                "manifest entry `{entry}`: blocks {start_block}..{} are outside the binaries region (after the manifest, before the ESP and data)",
                start_block.saturating_add(*blocks)
            ),
            Self::EntriesOverlap { first, second } => {
                write!(f, "manifest: the blocks of `{first}` and `{second}` overlap")
            }
            Self::JsonBufferFull { len } => {
                write!(f, "manifest does not fit the {len}-byte output buffer")
            }
            Self::KernelTooLarge { bytes, max } => write!(
                f,
                "the kernel is {bytes} bytes; the image format holds at most {max} (2^32 - 1 blocks): build a smaller kernel"
            ),
            Self::ChecksumMismatch { entry, start_block } => write!(
                f,
                "`{entry}` at block {start_block}: SHA-256 of its bytes does not match the manifest; the image is damaged"
            ),
        }
    }
}

/// Prints bytes as ASCII, escaping the rest, for a magic that may be garbage.
struct Ascii<'a>(&'a [u8; 8]);

impl fmt::Debug for Ascii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            for c in core::ascii::escape_default(b) {
                write!(f, "{}", c as char)?;
            }
        }
        f.write_str("\"")
    }
}

impl core::error::Error for LoadError {}

#[cfg(test)]
mod tests;
