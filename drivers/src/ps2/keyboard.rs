//! [`Keyboard`]: PS/2 scancodes in, the console's bytes out.
//!
//! `pc-keyboard` decodes the scancode set (1 when the controller translates, else 2, E0/E1
//! prefixes included) into key events and tracks the modifiers (Shift, Ctrl, Alt, AltGr,
//! Caps Lock, Num Lock — on at start); a [`Layout`] maps keys to characters. The bytes are what
//! a VT100-style serial terminal sends, so the console cannot tell the two apart:
//!
//! | key                       | bytes                        |
//! |---------------------------|------------------------------|
//! | a character               | its UTF-8 (e.g. `ä` = C3 A4) |
//! | Ctrl + letter             | `0x01`–`0x1a` (Ctrl-C = 03)  |
//! | Enter, keypad Enter       | `\r`                         |
//! | Backspace                 | `0x7f`                       |
//! | Tab / Esc                 | `0x09` / `0x1b`              |
//! | Up, Down, Right, Left     | `ESC [ A`, `B`, `C`, `D`     |
//! | Home / End                | `ESC [ H` / `ESC [ F`        |
//! | Insert / Delete           | `ESC [ 2 ~` / `ESC [ 3 ~`    |
//! | Page Up / Page Down       | `ESC [ 5 ~` / `ESC [ 6 ~`    |
//!
//! Keypad keys with Num Lock off act as the editing keys printed on them. Key releases, lone
//! modifiers, function keys and other keys without a character produce nothing; so do bytes
//! that are not valid scancodes (they never panic).

use core::fmt;
use core::str::FromStr;

use pc_keyboard::layouts::{AnyLayout, Azerty, De105Key, Uk105Key, Us104Key};
use pc_keyboard::{
    DecodedKey, EventDecoder, HandleControl, KeyCode, KeyState, ScancodeSet as _, ScancodeSet1,
    ScancodeSet2,
};

/// Which scancode set the keyboard's bytes are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScancodeSet {
    /// Set 1 (XT): what an i8042 that translates delivers.
    One,
    /// Set 2 (AT): the keyboard's own, untranslated.
    Two,
}

/// A keyboard layout: which character each key gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// United States, 104 keys (ANSI): `us`.
    #[default]
    Us,
    /// United Kingdom, 105 keys (ISO): `uk`.
    Uk,
    /// German, 105 keys (QWERTZ, umlauts; AltGr for `@ { [ ] } \ ~ |`): `de`.
    De,
    /// French AZERTY, 105 keys: `fr`.
    Fr,
}

/// Every layout, in the order the error message lists them.
pub const LAYOUTS: [Layout; 4] = [Layout::Us, Layout::Uk, Layout::De, Layout::Fr];

impl Layout {
    /// The short name (`us`, `uk`, `de`, `fr`): what [`Layout::from_str`] parses.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Uk => "uk",
            Self::De => "de",
            Self::Fr => "fr",
        }
    }

    fn pc_keyboard(self) -> AnyLayout {
        match self {
            Self::Us => AnyLayout::Us104Key(Us104Key),
            Self::Uk => AnyLayout::Uk105Key(Uk105Key),
            Self::De => AnyLayout::De105Key(De105Key),
            Self::Fr => AnyLayout::Azerty(Azerty),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A layout name [`Layout::from_str`] does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownLayout;

impl fmt::Display for UnknownLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown keyboard layout (expected us, uk, de or fr)")
    }
}

impl FromStr for Layout {
    type Err = UnknownLayout;

    /// Parses a short name: `us`, `uk`, `de` or `fr` (lower case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LAYOUTS
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or(UnknownLayout)
    }
}

/// The bytes one key press produces: at most 4 (a UTF-8 character or `ESC [ 3 ~`).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyBytes {
    bytes: [u8; 4],
    len: u8,
}

impl KeyBytes {
    /// No bytes.
    pub const EMPTY: KeyBytes = KeyBytes {
        bytes: [0; 4],
        len: 0,
    };

    fn from_slice(s: &[u8]) -> Self {
        let mut out = Self::EMPTY;
        let n = s.len().min(4);
        out.bytes[..n].copy_from_slice(&s[..n]);
        out.len = n as u8;
        out
    }

    fn from_char(c: char) -> Self {
        let mut out = Self::EMPTY;
        out.len = c.encode_utf8(&mut out.bytes).len() as u8;
        out
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::ops::Deref for KeyBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyBytes({:02x?})", self.as_bytes())
    }
}

/// The scancode decoder for the set in use.
enum Decoder {
    One(ScancodeSet1),
    Two(ScancodeSet2),
}

/// Turns scancode bytes into console bytes (see the module documentation). Feed it every byte
/// the keyboard sends, in order.
pub struct Keyboard {
    decoder: Decoder,
    events: EventDecoder<AnyLayout>,
    layout: Layout,
    /// The last key's bytes that [`read`](Self::read) has not handed out yet.
    pending: KeyBytes,
    sent: usize,
}

impl fmt::Debug for Keyboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyboard")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl Keyboard {
    /// A decoder for `set` and `layout`, no key held, Caps Lock off, Num Lock on.
    pub fn new(layout: Layout, set: ScancodeSet) -> Self {
        let decoder = match set {
            ScancodeSet::One => Decoder::One(ScancodeSet1::new()),
            ScancodeSet::Two => Decoder::Two(ScancodeSet2::new()),
        };
        Self {
            decoder,
            events: EventDecoder::new(layout.pc_keyboard(), HandleControl::MapLettersToUnicode),
            layout,
            pending: KeyBytes::EMPTY,
            sent: 0,
        }
    }

    /// The layout in use.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Switches to `layout` from the next key on (the modifiers held stay held).
    pub fn set_layout(&mut self, layout: Layout) {
        self.events.change_layout(layout.pc_keyboard());
        self.layout = layout;
    }

    /// Fills `buf` with console bytes: first what is left of the last key, then the keys of the
    /// scancodes `next` hands out, until `buf` is full or `next` has none. A key whose bytes do
    /// not all fit is finished by the next call (no scancode is taken then until it is).
    /// Returns how many bytes it wrote.
    pub fn read(&mut self, mut next: impl FnMut() -> Option<u8>, buf: &mut [u8]) -> usize {
        let mut n = 0;
        loop {
            let rest = &self.pending[self.sent..];
            let take = rest.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&rest[..take]);
            n += take;
            self.sent += take;
            if n == buf.len() {
                return n;
            }
            let Some(code) = next() else {
                return n;
            };
            self.pending = self.feed(code);
            self.sent = 0;
        }
    }

    /// Takes one scancode byte; answers the bytes for the console (often none: prefixes,
    /// releases, modifiers). [`read`](Self::read) is this plus buffering.
    pub fn feed(&mut self, scancode: u8) -> KeyBytes {
        let event = match &mut self.decoder {
            Decoder::One(d) => d.advance_state(scancode),
            Decoder::Two(d) => d.advance_state(scancode),
        };
        let Ok(Some(event)) = event else {
            return KeyBytes::EMPTY;
        };
        let code = event.code;
        let pressed = event.state == KeyState::Down;
        // Always through the event decoder: it tracks the modifiers on releases too.
        let decoded = self.events.process_keyevent(event);
        if !pressed {
            return KeyBytes::EMPTY;
        }
        if let Some(bytes) = editing_key(code) {
            return bytes;
        }
        match decoded {
            Some(DecodedKey::Unicode(c)) => character(code, c),
            Some(DecodedKey::RawKey(key)) => editing_key(key).unwrap_or(KeyBytes::EMPTY),
            None => KeyBytes::EMPTY,
        }
    }
}

/// The bytes of a key that gives the same bytes whatever the layout and modifiers.
fn editing_key(code: KeyCode) -> Option<KeyBytes> {
    let bytes: &[u8] = match code {
        KeyCode::Return | KeyCode::NumpadEnter => b"\r",
        KeyCode::Backspace => b"\x7f",
        KeyCode::Tab => b"\t",
        KeyCode::Escape => b"\x1b",
        KeyCode::ArrowUp => b"\x1b[A",
        KeyCode::ArrowDown => b"\x1b[B",
        KeyCode::ArrowRight => b"\x1b[C",
        KeyCode::ArrowLeft => b"\x1b[D",
        KeyCode::Home => b"\x1b[H",
        KeyCode::End => b"\x1b[F",
        KeyCode::Insert => b"\x1b[2~",
        KeyCode::Delete => b"\x1b[3~",
        KeyCode::PageUp => b"\x1b[5~",
        KeyCode::PageDown => b"\x1b[6~",
        _ => return None,
    };
    Some(KeyBytes::from_slice(bytes))
}

/// The bytes of a character key: keypad `.` with Num Lock off is Delete (`pc-keyboard` gives
/// it as U+007F); everything else is the character's UTF-8.
fn character(code: KeyCode, c: char) -> KeyBytes {
    if code == KeyCode::NumpadPeriod && c == '\u{7f}' {
        return KeyBytes::from_slice(b"\x1b[3~");
    }
    KeyBytes::from_char(c)
}
