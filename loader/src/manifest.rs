//! The manifest's schema as bounded types, its limits, `parse` (JSON in) and `to_json` (JSON out).
//!
//! Limits (each over-limit input is its own named [`LoadError`], never a truncation):
//!
//! | constant               | value | what                                                   |
//! |------------------------|-------|--------------------------------------------------------|
//! | [`MAX_MANIFEST_BYTES`] | 65536 | manifest length in bytes                               |
//! | [`MAX_SERVICES`]       | 16    | entries in `services`                                  |
//! | [`MAX_COMPONENTS`]     | 16    | entries in `components`                                |
//! | [`MAX_INIT`]           | 32    | names in `init_sequence`                               |
//! | [`MAX_NAME`]           | 32    | bytes in a name (entry, `provides`, `depends_on`, init) |
//! | [`MAX_BINARY_NAME`]    | 64    | bytes in `binary`                                      |
//! | [`MAX_ENTRY_POINT`]    | 64    | bytes in `kernel.entry_point`                          |
//! | [`MAX_TYPE`]           | 16    | bytes in `type`                                        |
//! | [`MAX_CAPABILITIES`]   | 16    | capabilities per entry                                 |
//! | [`MAX_CAPABILITY`]     | 64    | bytes in one capability                                |
//! | [`MAX_PROVIDES`]       | 8     | `provides` items per entry                             |
//! | [`MAX_DEPENDS`]        | 16    | `depends_on` items per entry                           |
//! | [`MAX_DEPTH`]          | 16    | nesting of arrays/objects (including unknown keys)     |
//! | [`MAX_ESCAPED_STRING`] | 1024  | unescaped bytes of a string that contains `\` escapes  |
//! | [`MAX_KEYBOARD_LAYOUT`] | 8    | bytes in `keyboard_layout`                             |
//! | [`MAX_CONFIG`]         | 128   | bytes in an entry's `config`                           |

mod de;
mod scan;
mod wire;

use crate::error::LoadError;
pub use crate::memory_limit::{MemoryLimit, DEFAULT_MEMORY_LIMIT};
use crate::sha256::Sha256Digest;
use crate::signature::{KeyIdText, RingUpdateBytes, Signature};
use serde::Serialize;

/// Longest manifest, in bytes (16 blocks).
pub const MAX_MANIFEST_BYTES: usize = 65536;
/// Most entries in `services`.
pub const MAX_SERVICES: usize = 16;
/// Most entries in `components`.
pub const MAX_COMPONENTS: usize = 16;
/// Most services and components together.
pub const MAX_ENTRIES: usize = MAX_SERVICES + MAX_COMPONENTS;
/// Most names in `init_sequence`.
pub const MAX_INIT: usize = 32;
/// Longest name, in bytes: entry names and the names in `provides`, `depends_on`, `init_sequence`.
pub const MAX_NAME: usize = 32;
/// Longest `binary`, in bytes.
pub const MAX_BINARY_NAME: usize = 64;
/// Longest `kernel.entry_point`, in bytes.
pub const MAX_ENTRY_POINT: usize = 64;
/// Longest `type`, in bytes.
pub const MAX_TYPE: usize = 16;
/// Most capabilities per entry.
pub const MAX_CAPABILITIES: usize = 16;
/// Longest capability string, in bytes.
pub const MAX_CAPABILITY: usize = 64;
/// Most `provides` items per entry.
pub const MAX_PROVIDES: usize = 8;
/// Most `depends_on` items per entry.
pub const MAX_DEPENDS: usize = 16;
/// Deepest nesting of JSON arrays and objects; bounds the parser's recursion on unknown keys.
pub const MAX_DEPTH: usize = 16;
/// Longest string containing `\` escapes, once unescaped (they are unescaped into a stack buffer this big).
pub const MAX_ESCAPED_STRING: usize = 1024;
/// Longest `keyboard_layout` name, in bytes.
pub const MAX_KEYBOARD_LAYOUT: usize = 8;

/// Longest entry `config` text, in bytes.
pub const MAX_CONFIG: usize = 128;

/// A name: of a service, a component, something provided, a dependency.
pub type Name = heapless::String<MAX_NAME>;
/// A capability string; parse it with [`crate::capability::Capability::parse`].
pub type CapabilityText = heapless::String<MAX_CAPABILITY>;
/// An entry's `config` text: one line the component reads with the CONFIG system call.
pub type ConfigText = heapless::String<MAX_CONFIG>;

/// Whether `text` may be an entry's `config`: one line of printable ASCII, spaces allowed.
pub fn is_config_line(text: &str) -> bool {
    text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// The system manifest.
///
/// About 75 KiB (`size_of::<Manifest>()`): a kernel should keep it in a static and use [`parse_into`]
/// and [`crate::verify::verify_image_into`], which fill it in place, rather than move it on a small stack.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Manifest {
    /// `format_version`: must equal block 0's.
    pub format_version: u32,
    /// `kernel`.
    pub kernel: Kernel,
    /// `services` (optional key, default empty).
    pub services: heapless::Vec<Entry, MAX_SERVICES>,
    /// `components` (optional key, default empty).
    pub components: heapless::Vec<Entry, MAX_COMPONENTS>,
    /// `init_sequence`: names to start, in order (optional key, default empty).
    pub init_sequence: heapless::Vec<Name, MAX_INIT>,
    /// `security_epoch` (optional, default 0): the rollback counter. A system refuses an image
    /// whose epoch is below the one it last committed (docs/security.md).
    #[serde(skip_serializing_if = "is_zero")]
    pub security_epoch: u32,
    /// `key_ring_update` (optional): a signed key-ring update, hex (docs/security.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ring_update: Option<RingUpdateBytes>,
    /// `keyboard_layout` (optional): the keyboards' layout, a short lowercase name (`de`). The
    /// loader checks only its shape, so that a newer layout does not make the image unreadable;
    /// the kernel keeps US for a name it does not know, and says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyboard_layout: Option<heapless::String<MAX_KEYBOARD_LAYOUT>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The `kernel` object.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Kernel {
    /// `binary`: the kernel's file name, informational.
    pub binary: heapless::String<MAX_BINARY_NAME>,
    /// `entry_point`: the entry symbol, informational (the ELF header is authoritative).
    pub entry_point: heapless::String<MAX_ENTRY_POINT>,
    /// `start_block`: optional in the manifest (the spec's example omits it); absent means 1.
    pub start_block: u64,
    /// `size_bytes`: the kernel file's exact length.
    pub size_bytes: u64,
    /// `checksum`: SHA-256 of the kernel file's exact bytes.
    pub checksum: Sha256Digest,
}

/// A `services[]` or `components[]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Entry {
    /// `name`: unique across services and components, 1..=[`MAX_NAME`] bytes.
    pub name: Name,
    /// `type`: must be `native` (checked by [`crate::graph`]).
    #[serde(rename = "type")]
    pub kind: heapless::String<MAX_TYPE>,
    /// `binary`: file name, informational.
    pub binary: heapless::String<MAX_BINARY_NAME>,
    /// `capabilities` (optional, default empty).
    pub capabilities: heapless::Vec<CapabilityText, MAX_CAPABILITIES>,
    /// `provides` (optional, default empty).
    pub provides: heapless::Vec<Name, MAX_PROVIDES>,
    /// `depends_on`: names of services/components (optional, default empty).
    pub depends_on: heapless::Vec<Name, MAX_DEPENDS>,
    /// `start_block`: first block of the binary.
    pub start_block: u64,
    /// `size_bytes`: the binary's exact length.
    pub size_bytes: u64,
    /// `checksum`: SHA-256 of the binary's exact bytes.
    pub checksum: Sha256Digest,
    /// `start_timeout_ms` (optional): how long the kernel waits for the entry to come up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_timeout_ms: Option<u32>,
    /// `expected_state` (optional; test systems): the state `test=boot` requires of this entry
    /// once the start sequence is over (`up`, the default, or a state word — see
    /// [`bootlog::state`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_state: Option<ExpectedState>,
    /// `memory_limit` (optional): how much memory the entry's process may use
    /// ([`crate::memory_limit`]); [`DEFAULT_MEMORY_LIMIT`] when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<MemoryLimit>,
    /// `signature` (optional, with `public_key_id`): Ed25519 signature of the entry's statement
    /// (name, binary SHA-256, capabilities; docs/security.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// `public_key_id` (optional, with `signature`): the id of the key that signed the entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_id: Option<KeyIdText>,
    /// `config` (optional): one line of settings for the component, which reads it with the
    /// CONFIG system call; its meaning is the component's (`services_network`: `dhcp` or
    /// `static 10.0.2.15/24 gw 10.0.2.2 dns 10.0.2.3`). Printable ASCII, no line breaks.
    /// Covered by the manifest's signature, not by the entry's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigText>,
}

/// An entry's `expected_state`: [`bootlog::state::Expected`], serialised as its word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ExpectedState(pub bootlog::state::Expected);

impl serde::Serialize for ExpectedState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut word = heapless::String::<{ bootlog::state::Expected::MAX_LEN }>::new();
        // Cannot fail: MAX_LEN is the longest spelling (a bootlog test checks it).
        let _ = core::fmt::write(&mut word, format_args!("{}", self.0));
        s.serialize_str(&word)
    }
}

impl Entry {
    /// The memory the entry's process may use.
    pub fn memory_limit(&self) -> MemoryLimit {
        self.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT)
    }

    /// The state `test=boot` requires of this entry (`up` unless the manifest says otherwise).
    pub fn expected(&self) -> bootlog::state::Expected {
        self.expected_state.map(|e| e.0).unwrap_or_default()
    }
}

impl Manifest {
    /// Services then components, in manifest order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.services.iter().chain(self.components.iter())
    }

    /// The first service or component called `name`.
    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.entries().find(|e| e.name == name)
    }

    /// Writes the manifest as compact JSON into `out`, returning the length written.
    ///
    /// The output contains no zero byte (serde-json-core escapes control characters), so it can be
    /// written to the image and padded with zeros as is.
    ///
    /// # Errors
    /// [`LoadError::JsonBufferFull`] when `out` is too small.
    pub fn to_json(&self, out: &mut [u8]) -> Result<usize, LoadError> {
        serde_json_core::to_slice(self, out)
            .map_err(|_| LoadError::JsonBufferFull { len: out.len() })
    }
}

/// The manifest's text: `bytes` up to the first zero byte (or all of it), checked for length and UTF-8.
///
/// # Errors
/// [`LoadError::ManifestEmpty`], [`LoadError::ManifestTooLarge`], [`LoadError::ManifestNotUtf8`].
pub fn text(bytes: &[u8]) -> Result<&str, LoadError> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if end == 0 {
        return Err(LoadError::ManifestEmpty);
    }
    if end > MAX_MANIFEST_BYTES {
        return Err(LoadError::ManifestTooLarge {
            bytes: end as u64,
            limit: MAX_MANIFEST_BYTES,
        });
    }
    let json = bytes.get(..end).unwrap_or_default();
    core::str::from_utf8(json).map_err(|e| LoadError::ManifestNotUtf8 {
        offset: e.valid_up_to(),
    })
}

/// Parses the manifest region: JSON up to the first zero byte (or the end of `bytes`).
///
/// Checks syntax, the schema, every limit and every checksum's spelling; not the dependency graph
/// ([`crate::graph::check`]) nor the layout ([`crate::verify`]).
///
/// # Errors
/// Those of [`text`]; [`LoadError::ManifestNotJson`], [`LoadError::ManifestTooDeep`],
/// [`LoadError::ManifestSchema`], [`LoadError::EscapedStringTooLong`], [`LoadError::TooManyEntries`],
/// [`LoadError::TooManyItems`], [`LoadError::StringTooLong`], [`LoadError::EmptyName`],
/// [`LoadError::BadChecksumSyntax`].
pub fn parse(bytes: &[u8]) -> Result<Manifest, LoadError> {
    let mut manifest = Manifest::default();
    parse_into(bytes, &mut manifest)?;
    Ok(manifest)
}

/// [`parse`], filling `out` in place (no 75 KiB return value). On error `out` holds an unspecified
/// part of the manifest.
///
/// # Errors
/// As [`parse`].
pub fn parse_into(bytes: &[u8], out: &mut Manifest) -> Result<(), LoadError> {
    de::parse_checked(checked_text(bytes)?, out)
}

/// The manifest region's JSON ([`text`]) once its syntax and nesting depth ([`MAX_DEPTH`])
/// are checked: what any serde parser of a manifest must be given (serde-json-core recurses
/// into the values it skips, so unchecked nesting could exhaust the stack).
///
/// # Errors
/// Those of [`text`]; [`LoadError::ManifestNotJson`], [`LoadError::ManifestTooDeep`].
pub fn checked_text(bytes: &[u8]) -> Result<&str, LoadError> {
    let json = text(bytes)?;
    scan::check(json)?;
    Ok(json)
}

#[cfg(test)]
pub(crate) mod tests;
