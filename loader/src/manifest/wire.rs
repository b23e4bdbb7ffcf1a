//! Lenient wire forms of the manifest's strings, lists and entries, and their strict conversion.
//!
//! serde-json-core reports an over-long `heapless` string or list as a bare error with no place in it.
//! These wire types accept any length and remember the real one, so the conversion to the public types
//! can name the limit, the field and the entry.

use super::{
    ConfigText, Entry, ExpectedState, Kernel, Name, MAX_BINARY_NAME, MAX_CAPABILITIES,
    MAX_CAPABILITY, MAX_CONFIG, MAX_DEPENDS, MAX_ENTRY_POINT, MAX_NAME, MAX_PROVIDES, MAX_TYPE,
};
use crate::error::{bounded, Label, LoadError};
use crate::memory_limit::{MemoryLimit, MemoryLimitError, MAX_MEMORY_LIMIT_TEXT};
use crate::sha256::{self, Sha256Digest};
use crate::signature::{self, KeyIdText, Signature, MAX_KEY_ID};
use bootlog::state::Expected;
use core::fmt::{self, Write};
use core::marker::PhantomData;
use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// A string of any length: its first `N` bytes (cut at a character boundary) and its real length.
#[derive(Default)]
pub(super) struct Lenient<const N: usize> {
    text: heapless::String<N>,
    len: usize,
}

impl<const N: usize> Lenient<N> {
    /// The string, or [`LoadError::StringTooLong`] naming `entry` and `field`.
    pub(super) fn strict(
        self,
        entry: &Label,
        field: &'static str,
    ) -> Result<heapless::String<N>, LoadError> {
        if self.len > N {
            return Err(LoadError::StringTooLong {
                entry: entry.clone(),
                field,
                length: self.len,
                limit: N,
            });
        }
        Ok(self.text)
    }

    /// Whether the string is empty.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<'de, const N: usize> Deserialize<'de> for Lenient<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<const N: usize> Visitor<'_> for V<N> {
            type Value = Lenient<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Lenient<N>, E> {
                Ok(Lenient {
                    text: bounded(v),
                    len: v.len(),
                })
            }
        }
        d.deserialize_str(V::<N>)
    }
}

/// A list of any length: its first `N` items and its real length.
pub(super) struct LenientVec<T, const N: usize> {
    items: heapless::Vec<T, N>,
    len: usize,
}

impl<T, const N: usize> Default for LenientVec<T, N> {
    fn default() -> Self {
        Self {
            items: heapless::Vec::new(),
            len: 0,
        }
    }
}

impl<const M: usize, const N: usize> LenientVec<Lenient<M>, N> {
    /// The list of strings, or the first limit it breaks, naming `entry` and `list`.
    fn strict(
        self,
        entry: &Label,
        list: &'static str,
    ) -> Result<heapless::Vec<heapless::String<M>, N>, LoadError> {
        if self.len > N {
            return Err(LoadError::TooManyItems {
                entry: entry.clone(),
                list,
                limit: N,
            });
        }
        let mut out = heapless::Vec::new();
        for item in self.items {
            // Cannot fail: `items` holds at most N.
            let _ = out.push(item.strict(entry, list)?);
        }
        Ok(out)
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for LenientVec<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = LenientVec<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = LenientVec::default();
                // Items past N are still parsed (the JSON must be consumed) but only counted.
                while let Some(item) = seq.next_element::<T>()? {
                    out.len = out.len.saturating_add(1);
                    let _ = out.items.push(item);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V::<T, N>(PhantomData))
    }
}

/// `services[3]`-style label for an entry whose name cannot be used.
pub(super) fn position(list: &str, index: usize) -> Label {
    let mut label = Label::new();
    // Cannot overflow: the longest list name plus an index fits in LABEL_LEN.
    let _ = write!(label, "{list}[{index}]");
    label
}

/// Parses a checksum string, or [`LoadError::BadChecksumSyntax`] naming `entry`.
fn checksum(text: Lenient<{ sha256::TEXT_LEN }>, entry: &Label) -> Result<Sha256Digest, LoadError> {
    let bad = || LoadError::BadChecksumSyntax {
        entry: entry.clone(),
    };
    if text.len > sha256::TEXT_LEN {
        return Err(bad());
    }
    Sha256Digest::parse(&text.text).ok_or_else(bad)
}

/// Parses `expected_state`, or [`LoadError::BadExpectedState`] naming `entry`.
fn expected_state(
    word: Lenient<{ Expected::MAX_LEN }>,
    entry: &Label,
) -> Result<ExpectedState, LoadError> {
    match Expected::parse(&word.text) {
        Some(e) if word.len <= Expected::MAX_LEN => Ok(ExpectedState(e)),
        _ => Err(LoadError::BadExpectedState {
            entry: entry.clone(),
            found: bounded(&word.text),
        }),
    }
}

/// Parses `memory_limit`, or [`LoadError::BadMemoryLimit`] naming `entry`.
fn memory_limit(
    text: Lenient<MAX_MEMORY_LIMIT_TEXT>,
    entry: &Label,
) -> Result<MemoryLimit, LoadError> {
    let parsed = if text.len > MAX_MEMORY_LIMIT_TEXT {
        Err(MemoryLimitError::TooLarge)
    } else {
        MemoryLimit::parse(&text.text)
    };
    parsed.map_err(|reason| LoadError::BadMemoryLimit {
        entry: entry.clone(),
        found: bounded(&text.text),
        reason,
    })
}

/// The default kernel start block when `kernel.start_block` is absent.
fn one() -> u64 {
    1
}

/// A `services[]`/`components[]` entry as written.
#[derive(serde::Deserialize)]
pub(super) struct EntryWire {
    name: Lenient<MAX_NAME>,
    #[serde(rename = "type")]
    kind: Lenient<MAX_TYPE>,
    binary: Lenient<MAX_BINARY_NAME>,
    #[serde(default)]
    capabilities: LenientVec<Lenient<MAX_CAPABILITY>, MAX_CAPABILITIES>,
    #[serde(default)]
    provides: LenientVec<Lenient<MAX_NAME>, MAX_PROVIDES>,
    #[serde(default)]
    depends_on: LenientVec<Lenient<MAX_NAME>, MAX_DEPENDS>,
    start_block: u64,
    size_bytes: u64,
    checksum: Lenient<{ sha256::TEXT_LEN }>,
    #[serde(default)]
    start_timeout_ms: Option<u32>,
    #[serde(default)]
    expected_state: Option<Lenient<{ Expected::MAX_LEN }>>,
    #[serde(default)]
    memory_limit: Option<Lenient<MAX_MEMORY_LIMIT_TEXT>>,
    #[serde(default)]
    signature: Option<Lenient<{ signature::TEXT_LEN }>>,
    #[serde(default)]
    public_key_id: Option<Lenient<MAX_KEY_ID>>,
    #[serde(default)]
    config: Option<Lenient<MAX_CONFIG>>,
}

/// An entry's `config`: within [`MAX_CONFIG`], printable ASCII (spaces allowed, no control
/// characters: it is one line).
fn config(text: Lenient<MAX_CONFIG>, entry: &Label) -> Result<ConfigText, LoadError> {
    let text = text.strict(entry, "config")?;
    if super::is_config_line(&text) {
        Ok(text)
    } else {
        Err(LoadError::BadConfig {
            entry: entry.clone(),
        })
    }
}

/// Parses an entry's `signature` and `public_key_id`: both or neither.
fn signed_by(
    text: Option<Lenient<{ signature::TEXT_LEN }>>,
    key_id: Option<Lenient<MAX_KEY_ID>>,
    entry: &Label,
) -> Result<(Option<Signature>, Option<KeyIdText>), LoadError> {
    match (text, key_id) {
        (None, None) => Ok((None, None)),
        (Some(text), Some(key_id)) => {
            let bad = || LoadError::BadSignatureSyntax {
                entry: entry.clone(),
            };
            if text.len > signature::TEXT_LEN {
                return Err(bad());
            }
            let sig = Signature::parse(&text.text).ok_or_else(bad)?;
            Ok((Some(sig), Some(key_id.strict(entry, "public_key_id")?)))
        }
        _ => Err(LoadError::SignatureWithoutKeyId {
            entry: entry.clone(),
        }),
    }
}

impl EntryWire {
    /// Checks every limit and the checksum's spelling; errors name the entry (or its position).
    pub(super) fn finish(self, list: &'static str, index: usize) -> Result<Entry, LoadError> {
        let at = position(list, index);
        if self.name.is_empty() {
            return Err(LoadError::EmptyName { entry: at });
        }
        let name: Name = self.name.strict(&at, "name")?;
        let entry: Label = bounded(&name);
        let (signature, public_key_id) = signed_by(self.signature, self.public_key_id, &entry)?;
        Ok(Entry {
            signature,
            public_key_id,
            kind: self.kind.strict(&entry, "type")?,
            binary: self.binary.strict(&entry, "binary")?,
            capabilities: self.capabilities.strict(&entry, "capabilities")?,
            provides: self.provides.strict(&entry, "provides")?,
            depends_on: self.depends_on.strict(&entry, "depends_on")?,
            start_block: self.start_block,
            size_bytes: self.size_bytes,
            checksum: checksum(self.checksum, &entry)?,
            start_timeout_ms: self.start_timeout_ms,
            expected_state: self
                .expected_state
                .map(|word| expected_state(word, &entry))
                .transpose()?,
            memory_limit: self
                .memory_limit
                .map(|text| memory_limit(text, &entry))
                .transpose()?,
            config: self.config.map(|t| config(t, &entry)).transpose()?,
            name,
        })
    }
}

/// The `kernel` object as written.
#[derive(serde::Deserialize)]
pub(super) struct KernelWire {
    binary: Lenient<MAX_BINARY_NAME>,
    entry_point: Lenient<MAX_ENTRY_POINT>,
    #[serde(default = "one")]
    start_block: u64,
    size_bytes: u64,
    checksum: Lenient<{ sha256::TEXT_LEN }>,
}

impl KernelWire {
    /// Checks every limit and the checksum's spelling.
    pub(super) fn finish(self) -> Result<Kernel, LoadError> {
        let at: Label = bounded("kernel");
        Ok(Kernel {
            binary: self.binary.strict(&at, "binary")?,
            entry_point: self.entry_point.strict(&at, "entry_point")?,
            start_block: self.start_block,
            size_bytes: self.size_bytes,
            checksum: checksum(self.checksum, &at)?,
        })
    }
}

/// Parses `key_ring_update`, or [`LoadError::BadKeyRingUpdate`].
pub(super) fn ring_update(
    text: Lenient<{ 2 * signature::MAX_RING_UPDATE }>,
) -> Result<signature::RingUpdateBytes, LoadError> {
    let bad = LoadError::BadKeyRingUpdate {
        hex_digits: text.len,
    };
    if text.len > 2 * signature::MAX_RING_UPDATE {
        return Err(bad);
    }
    signature::RingUpdateBytes::parse(&text.text).ok_or(bad)
}

/// Parses `keyboard_layout`: 2 to [`MAX_KEYBOARD_LAYOUT`] lowercase ASCII letters, or
/// [`LoadError::BadKeyboardLayout`].
pub(super) fn keyboard_layout(
    text: Lenient<{ super::MAX_KEYBOARD_LAYOUT }>,
) -> Result<heapless::String<{ super::MAX_KEYBOARD_LAYOUT }>, LoadError> {
    let letters = text.text.bytes().all(|b| b.is_ascii_lowercase());
    if text.len < 2 || text.len > super::MAX_KEYBOARD_LAYOUT || !letters {
        return Err(LoadError::BadKeyboardLayout { length: text.len });
    }
    Ok(text.text)
}

/// Converts `init_sequence` names, naming the position of the first bad one.
pub(super) fn init_name(name: Lenient<MAX_NAME>, index: usize) -> Result<Name, LoadError> {
    let at = position("init_sequence", index);
    if name.is_empty() {
        return Err(LoadError::EmptyName { entry: at });
    }
    name.strict(&at, "name")
}

impl<T, const N: usize> LenientVec<T, N> {
    /// The first `N` items and the real length.
    pub(super) fn into_parts(self) -> (heapless::Vec<T, N>, usize) {
        (self.items, self.len)
    }
}
