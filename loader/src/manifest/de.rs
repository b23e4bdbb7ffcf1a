//! The manifest's top-level object: a hand-written serde visitor that keeps the precise [`LoadError`].
//!
//! serde's error type is the parser's, so a named error raised deep inside is parked in a [`Slot`] and
//! the parser is stopped with a placeholder; [`parse_checked`] then returns the parked error. The slot
//! also records where parsing was (`services[2]`) to give the parser's own errors a place.

use super::wire::{
    init_name, keyboard_layout, position, ring_update, EntryWire, KernelWire, Lenient, LenientVec,
};
use super::{Entry, Manifest, Name, MAX_ESCAPED_STRING, MAX_INIT, MAX_KEYBOARD_LAYOUT, MAX_NAME};
use crate::error::{bounded, Detail, Label, LoadError};
use crate::signature::MAX_RING_UPDATE;
use core::fmt::{self, Write};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Where parsing is, and the named error that stopped it, if any.
struct Slot {
    err: Option<LoadError>,
    at: Label,
}

impl Slot {
    /// Parks `err` and returns the placeholder that stops the parser.
    fn fail<E: de::Error>(&mut self, err: LoadError) -> E {
        self.err = Some(err);
        E::custom("stopped by the loader")
    }
}

/// Parses JSON already checked by `scan` into a [`Manifest`].
pub(super) fn parse_checked(json: &str, out: &mut Manifest) -> Result<(), LoadError> {
    let mut slot = Slot {
        err: None,
        at: bounded("manifest"),
    };
    if json.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(LoadError::ManifestSchema {
            at: slot.at,
            detail: bounded("the manifest must be a JSON object"),
        });
    }
    let mut unescape = [0u8; MAX_ESCAPED_STRING];
    let mut de = serde_json_core::de::Deserializer::new(json.as_bytes(), Some(&mut unescape));
    let result = de::Deserializer::deserialize_map(
        &mut de,
        ManifestVisitor {
            slot: &mut slot,
            out,
        },
    );
    // Trailing text was refused by the scan, so `de.end()` is not needed.
    result.map_err(|e| slot.err.take().unwrap_or_else(|| from_parser(e, slot.at)))
}

/// Turns one of serde-json-core's errors into a [`LoadError`] placed at `at`.
fn from_parser(e: serde_json_core::de::Error, at: Label) -> LoadError {
    use serde_json_core::de::Error as E;
    let detail: Detail = match e {
        E::EscapedStringIsTooLong => {
            return LoadError::EscapedStringTooLong {
                at,
                limit: MAX_ESCAPED_STRING,
            }
        }
        E::CustomErrorWithMessage(message) => bounded(&message),
        E::InvalidType => bounded("a value has the wrong JSON type"),
        E::InvalidNumber => bounded("a number is not a non-negative integer that fits its field"),
        other => {
            let mut d = Detail::new();
            // A cut message is still useful; the write error only means it was cut.
            let _ = write!(Cut(&mut d), "{other}");
            d
        }
    };
    LoadError::ManifestSchema { at, detail }
}

/// A writer that keeps what fits in a [`Detail`] and drops the rest.
struct Cut<'a>(&'a mut Detail);

impl Write for Cut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// A top-level key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    FormatVersion,
    Kernel,
    Services,
    Components,
    InitSequence,
    SecurityEpoch,
    RingUpdate,
    KeyboardLayout,
    Other,
}

impl Key {
    const KNOWN: [(&'static str, Key); 8] = [
        ("format_version", Key::FormatVersion),
        ("kernel", Key::Kernel),
        ("services", Key::Services),
        ("components", Key::Components),
        ("init_sequence", Key::InitSequence),
        ("security_epoch", Key::SecurityEpoch),
        ("key_ring_update", Key::RingUpdate),
        ("keyboard_layout", Key::KeyboardLayout),
    ];

    /// The key's text, for messages.
    fn name(self) -> &'static str {
        Self::KNOWN
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                // Unknown keys are ignored so later versions can add keys.
                Ok(Key::KNOWN
                    .iter()
                    .find(|(n, _)| *n == v)
                    .map_or(Key::Other, |(_, k)| *k))
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Visits the top-level object, filling `out` in place.
struct ManifestVisitor<'s, 'o> {
    slot: &'s mut Slot,
    out: &'o mut Manifest,
}

impl<'de> Visitor<'de> for ManifestVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the manifest object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let slot = self.slot;
        let out = self.out;
        out.services.clear();
        out.components.clear();
        out.init_sequence.clear();
        out.security_epoch = 0;
        out.key_ring_update = None;
        out.keyboard_layout = None;
        let mut seen: heapless::Vec<Key, { Key::KNOWN.len() }> = heapless::Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            if key != Key::Other {
                if seen.contains(&key) {
                    let mut detail = Detail::new();
                    let _ = write!(detail, "duplicate key `{}`", key.name());
                    return Err(slot.fail(LoadError::ManifestSchema {
                        at: bounded("manifest"),
                        detail,
                    }));
                }
                let _ = seen.push(key);
                slot.at = bounded(key.name());
            }
            match key {
                Key::FormatVersion => out.format_version = map.next_value()?,
                Key::SecurityEpoch => out.security_epoch = map.next_value()?,
                Key::RingUpdate => {
                    let text: Lenient<{ 2 * MAX_RING_UPDATE }> = map.next_value()?;
                    out.key_ring_update = Some(ring_update(text).map_err(|e| slot.fail(e))?);
                }
                Key::KeyboardLayout => {
                    let text: Lenient<MAX_KEYBOARD_LAYOUT> = map.next_value()?;
                    out.keyboard_layout = Some(keyboard_layout(text).map_err(|e| slot.fail(e))?);
                }
                Key::Kernel => {
                    let wire: KernelWire = map.next_value()?;
                    out.kernel = wire.finish().map_err(|e| slot.fail(e))?;
                }
                Key::Services => map.next_value_seed(Entries {
                    list: "services",
                    out: &mut out.services,
                    slot,
                })?,
                Key::Components => map.next_value_seed(Entries {
                    list: "components",
                    out: &mut out.components,
                    slot,
                })?,
                Key::InitSequence => {
                    let wire: LenientVec<Lenient<MAX_NAME>, MAX_INIT> = map.next_value()?;
                    init(wire, &mut out.init_sequence).map_err(|e| slot.fail(e))?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        slot.at = bounded("manifest");
        let missing = |key: &str| {
            let mut detail = Detail::new();
            let _ = write!(detail, "missing key `{key}`");
            LoadError::ManifestSchema {
                at: bounded("manifest"),
                detail,
            }
        };
        for required in [Key::FormatVersion, Key::Kernel] {
            if !seen.contains(&required) {
                return Err(slot.fail(missing(required.name())));
            }
        }
        Ok(())
    }
}

/// Converts `init_sequence`, refusing too many names or a bad one.
fn init(
    wire: LenientVec<Lenient<MAX_NAME>, MAX_INIT>,
    out: &mut heapless::Vec<Name, MAX_INIT>,
) -> Result<(), LoadError> {
    let (items, len) = wire.into_parts();
    if len > MAX_INIT {
        return Err(LoadError::TooManyEntries {
            list: "init_sequence",
            limit: MAX_INIT,
        });
    }
    out.clear();
    for (index, name) in items.into_iter().enumerate() {
        // Cannot fail: `items` holds at most MAX_INIT.
        let _ = out.push(init_name(name, index)?);
    }
    Ok(())
}

/// Parses `services` or `components` straight into the manifest's list, one entry at a time, so only
/// one lenient entry is ever on the stack.
struct Entries<'a, 's, const N: usize> {
    list: &'static str,
    out: &'a mut heapless::Vec<Entry, N>,
    slot: &'s mut Slot,
}

impl<'de, const N: usize> DeserializeSeed<'de> for Entries<'_, '_, N> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Entries<'_, '_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            self.slot.at = position(self.list, index);
            let Some(wire) = seq.next_element::<EntryWire>()? else {
                return Ok(());
            };
            if self.out.len() == N {
                return Err(self.slot.fail(LoadError::TooManyEntries {
                    list: self.list,
                    limit: N,
                }));
            }
            let entry = wire
                .finish(self.list, index)
                .map_err(|e| self.slot.fail(e))?;
            // Cannot fail: checked above.
            let _ = self.out.push(entry);
            index += 1;
        }
    }
}
