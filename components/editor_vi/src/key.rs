//! Decoding the bytes a VT100 terminal sends into [`Key`]s, including multibyte UTF-8 and the
//! lone-Escape-versus-sequence ambiguity (resolved by the caller's [`KeyDecoder::timeout`]).
//!
//! `line_editor` has its own decoder, but it is private to its `LineEditor` (and turns keys
//! straight into line edits), so the editor has this one; it accepts the same sequences.

/// One key press, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character: printable ASCII, Tab (`'\t'`), or a complete UTF-8 character.
    Char(char),
    /// `\r`, `\n` or `\r\n`.
    Enter,
    /// `0x7f` or `0x08`.
    Backspace,
    /// `ESC [ 3 ~`.
    Delete,
    /// A lone `ESC` (seen as such after [`KeyDecoder::timeout`] or a byte that cannot follow it).
    Esc,
    /// Ctrl-C: acts as Escape (it never quits the editor).
    Interrupt,
    /// `ESC [ A` or `ESC O A`.
    Up,
    /// `ESC [ B` or `ESC O B`.
    Down,
    /// `ESC [ C` or `ESC O C`.
    Right,
    /// `ESC [ D` or `ESC O D`.
    Left,
    /// `ESC [ H`, `ESC O H`, `ESC [ 1 ~` or `ESC [ 7 ~`.
    Home,
    /// `ESC [ F`, `ESC O F`, `ESC [ 4 ~` or `ESC [ 8 ~`.
    End,
}

/// The keys one byte (or a timeout) produced: none, one, or up to three when an ambiguous
/// prefix turned out to be plain keys (`ESC O x` is Escape, `O`, `x`).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    keys: [Option<Key>; 3],
    next: usize,
}

impl Keys {
    fn push(&mut self, key: Option<Key>) {
        if let Some(slot) = self.keys.iter_mut().find(|k| k.is_none()) {
            *slot = key;
        }
    }
}

impl Iterator for Keys {
    type Item = Key;

    fn next(&mut self) -> Option<Key> {
        let key = self.keys.get_mut(self.next)?.take();
        self.next += 1;
        key
    }
}

/// Where the decoder is inside a multi-byte input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// After `ESC`.
    Esc,
    /// After `ESC [`: the first numeric parameter so far; `more` once a `;` ended it.
    Csi {
        param: u16,
        more: bool,
    },
    /// After `ESC O`.
    Ss3,
    /// Inside a UTF-8 character: the bytes so far and how many in all.
    Utf8 {
        bytes: [u8; 4],
        len: u8,
        need: u8,
    },
}

const ESC: u8 = 0x1b;

/// Turns terminal bytes into keys. Feed every byte to [`feed`](Self::feed); when no byte came
/// for a short while (the caller's choice, e.g. 50 ms) and [`is_pending`](Self::is_pending),
/// call [`timeout`](Self::timeout) so that an Escape typed alone takes effect.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    state: State,
    /// The last byte was `\r`: a `\n` right after it is part of the same Enter.
    after_cr: bool,
}

impl Default for KeyDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyDecoder {
    /// A decoder between keys.
    pub const fn new() -> Self {
        KeyDecoder {
            state: State::Ground,
            after_cr: false,
        }
    }

    /// Whether bytes of an unfinished key are held (then a [`timeout`](Self::timeout) is due
    /// when the input goes idle).
    pub fn is_pending(&self) -> bool {
        self.state != State::Ground
    }

    /// Takes one byte; returns the keys it completed.
    pub fn feed(&mut self, byte: u8) -> Keys {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        let mut keys = Keys::default();
        match self.state {
            State::Ground => keys.push(self.ground(byte, after_cr)),
            State::Esc => match byte {
                b'[' => {
                    self.state = State::Csi {
                        param: 0,
                        more: false,
                    }
                }
                b'O' => self.state = State::Ss3,
                // Escape twice: the first is a lone one, the second may start a sequence.
                ESC => keys.push(Some(Key::Esc)),
                _ => {
                    self.state = State::Ground;
                    keys.push(Some(Key::Esc));
                    keys.push(self.ground(byte, false));
                }
            },
            State::Csi { param, more } => match byte {
                b'0'..=b'9' if !more => {
                    let digit = u16::from(byte - b'0');
                    let param = param.saturating_mul(10).saturating_add(digit);
                    self.state = State::Csi { param, more };
                }
                // Further parameters and intermediate bytes: part of the sequence.
                0x20..=0x3f => self.state = State::Csi { param, more: true },
                0x40..=0x7e => {
                    self.state = State::Ground;
                    keys.push(csi_key(byte, param));
                }
                // A control character cannot be in a sequence: drop it, take the byte.
                _ => {
                    self.state = State::Ground;
                    keys.push(self.ground(byte, false));
                }
            },
            State::Ss3 => {
                self.state = State::Ground;
                match ss3_key(byte) {
                    Some(key) => keys.push(Some(key)),
                    // Not a sequence after all: Escape, `O`, then the byte.
                    None => {
                        keys.push(Some(Key::Esc));
                        keys.push(Some(Key::Char('O')));
                        keys.push(self.ground(byte, false));
                    }
                }
            }
            State::Utf8 {
                mut bytes,
                len,
                need,
            } => {
                if (0x80..=0xbf).contains(&byte) {
                    if let Some(slot) = bytes.get_mut(usize::from(len)) {
                        *slot = byte;
                    }
                    let len = len + 1;
                    if len == need {
                        self.state = State::Ground;
                        let done = bytes.get(..usize::from(len)).unwrap_or(&[]);
                        let ch = core::str::from_utf8(done)
                            .ok()
                            .and_then(|s| s.chars().next());
                        keys.push(ch.map(Key::Char));
                    } else {
                        self.state = State::Utf8 { bytes, len, need };
                    }
                } else {
                    // A broken character is dropped; the byte starts afresh.
                    self.state = State::Ground;
                    keys.push(self.ground(byte, false));
                }
            }
        }
        keys
    }

    /// The input went idle: a held `ESC` is a lone Escape (`ESC O` is Escape then `O`, a cut
    /// `ESC [ ...` is Escape); a cut UTF-8 character is dropped.
    pub fn timeout(&mut self) -> Keys {
        let mut keys = Keys::default();
        match core::mem::replace(&mut self.state, State::Ground) {
            State::Ground | State::Utf8 { .. } => {}
            State::Esc | State::Csi { .. } => keys.push(Some(Key::Esc)),
            State::Ss3 => {
                keys.push(Some(Key::Esc));
                keys.push(Some(Key::Char('O')));
            }
        }
        keys
    }

    /// A byte outside any sequence.
    fn ground(&mut self, byte: u8, after_cr: bool) -> Option<Key> {
        match byte {
            b'\n' if after_cr => None,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                Some(Key::Enter)
            }
            0x08 | 0x7f => Some(Key::Backspace),
            0x03 => Some(Key::Interrupt),
            b'\t' => Some(Key::Char('\t')),
            ESC => {
                self.state = State::Esc;
                None
            }
            0x20..=0x7e => Some(Key::Char(char::from(byte))),
            0xc2..=0xf4 => {
                let need = match byte {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
                self.state = State::Utf8 {
                    bytes: [byte, 0, 0, 0],
                    len: 1,
                    need,
                };
                None
            }
            // Other control characters and bytes that cannot start UTF-8: ignored.
            _ => None,
        }
    }
}

/// The key of `ESC [ <param> <final>`, if the editor knows it.
fn csi_key(final_byte: u8, param: u16) -> Option<Key> {
    match (final_byte, param) {
        (b'~', 1 | 7) => Some(Key::Home),
        (b'~', 4 | 8) => Some(Key::End),
        (b'~', 3) => Some(Key::Delete),
        (b'~', _) => None,
        _ => ss3_key(final_byte),
    }
}

/// The key of `ESC O <final>` (also the final bytes `ESC [` shares with it).
fn ss3_key(final_byte: u8) -> Option<Key> {
    match final_byte {
        b'A' => Some(Key::Up),
        b'B' => Some(Key::Down),
        b'C' => Some(Key::Right),
        b'D' => Some(Key::Left),
        b'H' => Some(Key::Home),
        b'F' => Some(Key::End),
        _ => None,
    }
}
