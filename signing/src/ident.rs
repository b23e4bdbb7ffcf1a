//! Short ASCII identifiers: key ids and capability kinds, fixed capacity, no allocation.

use core::fmt;

/// The maximum length in bytes of a key id or a capability kind.
pub const MAX_IDENT_LEN: usize = 32;

/// Why a string is not a valid key id or capability kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentError {
    /// Empty, or longer than [`MAX_IDENT_LEN`] bytes.
    BadLength(usize),
    /// A byte outside `[a-z0-9_]` (or, for a capability kind, not the lone `*`).
    BadByte(u8),
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength(len) => write!(
                f,
                "identifier is {len} bytes long; use 1 to {MAX_IDENT_LEN} bytes of [a-z0-9_]"
            ),
            Self::BadByte(b) => write!(
                f,
                "identifier contains byte 0x{b:02x}; use only lowercase letters, digits and '_'"
            ),
        }
    }
}

/// Fixed-capacity storage for a validated ASCII identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Ident {
    bytes: [u8; MAX_IDENT_LEN],
    len: u8,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

impl Ident {
    fn new(raw: &[u8], allow_star: bool) -> Result<Self, IdentError> {
        if raw.is_empty() || raw.len() > MAX_IDENT_LEN {
            return Err(IdentError::BadLength(raw.len()));
        }
        if !(allow_star && raw == b"*") {
            if let Some(&bad) = raw.iter().find(|&&b| !is_ident_byte(b)) {
                return Err(IdentError::BadByte(bad));
            }
        }
        let mut bytes = [0u8; MAX_IDENT_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        // The length was checked against MAX_IDENT_LEN (32) above, so it fits in a u8.
        let len = u8::try_from(raw.len()).map_err(|_| IdentError::BadLength(raw.len()))?;
        Ok(Self { bytes, len })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever stored, so this cannot fail; "" keeps it panic-free regardless.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// A key id: 1 to 32 bytes of `[a-z0-9_]`, for example `pandagen_release_2026`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(Ident);

impl KeyId {
    /// Validates `id` as a key id.
    pub fn new(id: &str) -> Result<Self, IdentError> {
        Self::from_bytes(id.as_bytes())
    }

    /// Validates raw bytes as a key id.
    pub fn from_bytes(id: &[u8]) -> Result<Self, IdentError> {
        Ident::new(id, false).map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The id as bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:?})", self.as_str())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A capability kind a key may grant: 1 to 32 bytes of `[a-z0-9_]`, or `*` for every kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CapKind(Ident);

impl CapKind {
    /// The wildcard kind `*`: the key may grant every capability.
    pub const WILDCARD: &'static str = "*";

    /// Validates `kind` as a capability kind.
    pub fn new(kind: &str) -> Result<Self, IdentError> {
        Self::from_bytes(kind.as_bytes())
    }

    /// Validates raw bytes as a capability kind.
    pub fn from_bytes(kind: &[u8]) -> Result<Self, IdentError> {
        Ident::new(kind, true).map(Self)
    }

    /// The kind as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The kind as bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Whether this limit allows `capability`: `*` allows all, otherwise the capability's
    /// kind (its text before the first `:`, or all of it) must be equal to this kind.
    pub fn allows(&self, capability: &str) -> bool {
        self.as_str() == Self::WILDCARD || self.as_str() == capability_kind(capability)
    }
}

/// The kind of a declared capability: its text before the first `:`, or all of it.
pub fn capability_kind(capability: &str) -> &str {
    capability.split(':').next().unwrap_or(capability)
}

impl fmt::Debug for CapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CapKind({:?})", self.as_str())
    }
}

impl fmt::Display for CapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
