//! The VT100/ANSI parser: a state machine fed one byte at a time that decodes UTF-8 and turns
//! control characters and escape sequences into [`Action`]s. Unknown and malformed sequences
//! are consumed and ignored; no input makes it fail.

use crate::color::{DEFAULT_BG, DEFAULT_FG, PALETTE_LEN};
use crate::screen::{Erase, Sgr};
use crate::utf8::{Step, Utf8};

/// Parameters kept per CSI sequence; later ones are dropped (the sequence still acts on the
/// kept ones).
pub const MAX_PARAMS: usize = 16;

/// The character shown for malformed UTF-8.
pub const REPLACEMENT: char = '\u{FFFD}';

const BEL: u8 = 0x07;
const BS: u8 = 0x08;
const HT: u8 = 0x09;
const LF: u8 = 0x0A;
const FF: u8 = 0x0C;
const CR: u8 = 0x0D;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1A;
const ESC: u8 = 0x1B;

/// What the input asks the screen to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Show this character at the cursor.
    Print(char),
    /// CR: to column 0.
    CarriageReturn,
    /// LF, VT, FF, `ESC D`: down a line, scrolling at the bottom.
    LineFeed,
    /// BS: left one column.
    Backspace,
    /// HT: to the next tab stop.
    Tab,
    /// `CSI n A` (n defaults to 1, as does 0).
    CursorUp(usize),
    /// `CSI n B`.
    CursorDown(usize),
    /// `CSI n C`.
    CursorForward(usize),
    /// `CSI n D`.
    CursorBack(usize),
    /// `CSI row ; col H` or `f`, converted to 0-based (missing or 0 parameters mean 1).
    CursorPosition {
        /// Row from 0.
        row: usize,
        /// Column from 0.
        col: usize,
    },
    /// `CSI n J`: 0 (default) to the end, 1 to the start, 2 (or 3) everything.
    EraseDisplay(Erase),
    /// `CSI n K`: the same within the cursor's row.
    EraseLine(Erase),
    /// One parameter of `CSI ... m`.
    Graphics(Sgr),
    /// `CSI ? 25 h` (true) and `CSI ? 25 l` (false).
    ShowCursor(bool),
    /// `ESC 7` or `CSI s`.
    SaveCursor,
    /// `ESC 8` or `CSI u`.
    RestoreCursor,
    /// `CSI 20 h` (true) and `CSI 20 l` (false): LNM, whether line feeds also return to
    /// column 0 (off at first, as on a VT100: output should then use CR LF).
    NewlineMode(bool),
}

/// Where the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Text.
    Ground,
    /// After ESC.
    Escape,
    /// After ESC and intermediate bytes (such as `ESC ( B`): ignored up to the final byte.
    EscapeIntermediate,
    /// In `ESC [` parameters.
    Csi,
    /// In an OSC, DCS, SOS, PM or APC string: ignored up to BEL or `ESC \`.
    String,
}

/// The parameters of the CSI sequence being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    values: [u16; MAX_PARAMS],
    /// Index of the parameter being read (may pass `MAX_PARAMS`; those are dropped).
    current: usize,
    /// Any parameter byte was seen (else there are no parameters at all).
    any: bool,
    /// The `?` private marker came first.
    private: bool,
    /// The sequence has a form this parser does not handle (an intermediate byte, another
    /// private marker, a marker after parameters): it is consumed without effect.
    ignore: bool,
}

impl Params {
    const EMPTY: Params = Params {
        values: [0; MAX_PARAMS],
        current: 0,
        any: false,
        private: false,
        ignore: false,
    };

    fn count(&self) -> usize {
        if self.any {
            (self.current + 1).min(MAX_PARAMS)
        } else {
            0
        }
    }

    /// Parameter `i`, 0 when missing.
    fn get(&self, i: usize) -> u16 {
        if i < self.count() {
            self.values[i]
        } else {
            0
        }
    }

    /// Parameter `i` as a count: missing or 0 mean 1.
    fn count_at(&self, i: usize) -> usize {
        usize::from(self.get(i).max(1))
    }

    fn digit(&mut self, digit: u8) {
        self.any = true;
        if let Some(value) = self.values.get_mut(self.current) {
            *value = value.saturating_mul(10).saturating_add(u16::from(digit));
        }
    }

    fn separator(&mut self) {
        self.any = true;
        self.current = self.current.saturating_add(1);
    }
}

/// The parser. Feed it bytes with [`advance`](Self::advance); sequences may be split across
/// calls in any way.
#[derive(Debug, Clone)]
pub struct Parser {
    state: State,
    utf8: Utf8,
    params: Params,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser in the ground state.
    pub const fn new() -> Parser {
        Parser {
            state: State::Ground,
            utf8: Utf8::new(),
            params: Params::EMPTY,
        }
    }

    /// Takes one byte, calling `act` for each action it completes (none, one, or several: a
    /// broken UTF-8 sequence gives U+FFFD and then the byte's own action, and `CSI ... m` one
    /// [`Action::Graphics`] per parameter).
    pub fn advance(&mut self, byte: u8, act: &mut impl FnMut(Action)) {
        match self.state {
            State::Ground => self.ground(byte, act),
            State::Escape => self.escape(byte, act),
            State::EscapeIntermediate => self.escape_intermediate(byte, act),
            State::Csi => self.csi(byte, act),
            State::String => self.string(byte),
        }
    }

    /// Takes every byte of `bytes`.
    pub fn advance_all(&mut self, bytes: &[u8], act: &mut impl FnMut(Action)) {
        for &byte in bytes {
            self.advance(byte, act);
        }
    }

    fn ground(&mut self, byte: u8, act: &mut impl FnMut(Action)) {
        let continuation = byte & 0xC0 == 0x80;
        if self.utf8.pending() && !continuation {
            self.utf8.reset();
            act(Action::Print(REPLACEMENT));
        }
        if byte >= 0x80 || self.utf8.pending() {
            match self.utf8.feed(byte) {
                Step::Pending => {}
                // C1 controls (U+0080-U+009F) are not shown.
                Step::Char(c) if ('\u{80}'..='\u{9f}').contains(&c) => {}
                Step::Char(c) => act(Action::Print(c)),
                Step::Invalid => act(Action::Print(REPLACEMENT)),
            }
            return;
        }
        match byte {
            0x20..=0x7E => act(Action::Print(char::from(byte))),
            ESC => self.enter(State::Escape),
            _ => control(byte, act),
        }
    }

    /// Starts `state` with fresh parameters.
    fn enter(&mut self, state: State) {
        self.state = state;
        self.params = Params::EMPTY;
    }

    /// Handles a byte that interrupts a sequence (a control character or a non-ASCII byte);
    /// returns whether it did.
    fn interrupt(&mut self, byte: u8, act: &mut impl FnMut(Action)) -> bool {
        match byte {
            ESC => self.enter(State::Escape),
            CAN | SUB => self.enter(State::Ground),
            0x00..=0x1F => control(byte, act),
            0x80..=0xFF => {
                self.enter(State::Ground);
                self.ground(byte, act);
            }
            _ => return false,
        }
        true
    }

    fn escape(&mut self, byte: u8, act: &mut impl FnMut(Action)) {
        if self.interrupt(byte, act) {
            return;
        }
        self.state = State::Ground;
        match byte {
            b'[' => self.enter(State::Csi),
            b']' | b'P' | b'X' | b'^' | b'_' => self.enter(State::String),
            0x20..=0x2F => self.state = State::EscapeIntermediate,
            b'7' => act(Action::SaveCursor),
            b'8' => act(Action::RestoreCursor),
            b'D' => act(Action::LineFeed),
            b'E' => {
                act(Action::CarriageReturn);
                act(Action::LineFeed);
            }
            // Other final bytes (and DEL) end an unsupported sequence.
            _ => {}
        }
    }

    fn escape_intermediate(&mut self, byte: u8, act: &mut impl FnMut(Action)) {
        if self.interrupt(byte, act) {
            return;
        }
        if !(0x20..=0x2F).contains(&byte) {
            self.state = State::Ground;
        }
    }

    fn csi(&mut self, byte: u8, act: &mut impl FnMut(Action)) {
        if self.interrupt(byte, act) {
            return;
        }
        let params = &mut self.params;
        match byte {
            b'0'..=b'9' => params.digit(byte - b'0'),
            // `:` separates sub-parameters (`38:5:n`); treated like `;`.
            b';' | b':' => params.separator(),
            b'?' if !params.any && !params.private => params.private = true,
            // Other private markers, markers after parameters, intermediates: not supported.
            0x3C..=0x3F | 0x20..=0x2F => params.ignore = true,
            0x40..=0x7E => {
                self.state = State::Ground;
                let params = self.params;
                if !params.ignore {
                    dispatch_csi(&params, byte, act);
                }
            }
            // DEL: ignored.
            _ => {}
        }
    }

    fn string(&mut self, byte: u8) {
        match byte {
            BEL | CAN | SUB => self.state = State::Ground,
            ESC => self.enter(State::Escape),
            _ => {}
        }
    }
}

/// A C0 control character (outside or inside a sequence).
fn control(byte: u8, act: &mut impl FnMut(Action)) {
    match byte {
        BS => act(Action::Backspace),
        HT => act(Action::Tab),
        LF..=FF => act(Action::LineFeed),
        CR => act(Action::CarriageReturn),
        // BEL and the others: ignored.
        _ => {}
    }
}

fn erase(param: u16) -> Option<Erase> {
    match param {
        0 => Some(Erase::ToEnd),
        1 => Some(Erase::ToStart),
        2 | 3 => Some(Erase::All),
        _ => None,
    }
}

/// The action of a complete `CSI params final` sequence.
fn dispatch_csi(params: &Params, final_byte: u8, act: &mut impl FnMut(Action)) {
    if params.private {
        if params.get(0) == 25 && matches!(final_byte, b'h' | b'l') {
            act(Action::ShowCursor(final_byte == b'h'));
        }
        return;
    }
    let action = match final_byte {
        b'A' => Action::CursorUp(params.count_at(0)),
        b'B' => Action::CursorDown(params.count_at(0)),
        b'C' => Action::CursorForward(params.count_at(0)),
        b'D' => Action::CursorBack(params.count_at(0)),
        b'H' | b'f' => Action::CursorPosition {
            row: params.count_at(0) - 1,
            col: params.count_at(1) - 1,
        },
        b'J' => match erase(params.get(0)) {
            Some(e) => Action::EraseDisplay(e),
            None => return,
        },
        b'K' => match erase(params.get(0)) {
            Some(e) => Action::EraseLine(e),
            None => return,
        },
        b'h' | b'l' if params.get(0) == 20 => Action::NewlineMode(final_byte == b'h'),
        b's' => Action::SaveCursor,
        b'u' => Action::RestoreCursor,
        b'm' => return graphics(params, act),
        _ => return,
    };
    act(action);
}

/// The actions of `CSI ... m`, one per parameter (none: reset).
fn graphics(params: &Params, act: &mut impl FnMut(Action)) {
    let count = params.count();
    if count == 0 {
        act(Action::Graphics(Sgr::Reset));
        return;
    }
    let mut i = 0;
    while i < count {
        let p = params.get(i);
        i += 1;
        let sgr = match p {
            0 => Sgr::Reset,
            1 => Sgr::Bold(true),
            22 => Sgr::Bold(false),
            7 => Sgr::Inverse(true),
            27 => Sgr::Inverse(false),
            30..=37 => Sgr::Foreground(ansi_index(p - 30)),
            90..=97 => Sgr::Foreground(ansi_index(p - 90 + 8)),
            39 => Sgr::Foreground(DEFAULT_FG),
            40..=47 => Sgr::Background(ansi_index(p - 40)),
            100..=107 => Sgr::Background(ansi_index(p - 100 + 8)),
            49 => Sgr::Background(DEFAULT_BG),
            38 | 48 => {
                // `38;5;n` (256 colours: only the first 16 are shown) or `38;2;r;g;b`
                // (direct colour: not shown). Their numbers are skipped either way.
                let (skip, index) = match params.get(i) {
                    5 if i + 1 < count => (2, Some(params.get(i + 1))),
                    2 => (4, None),
                    _ => (count, None),
                };
                i += skip;
                match index {
                    Some(n) if usize::from(n) < PALETTE_LEN => {
                        let n = ansi_index(n);
                        if p == 38 {
                            Sgr::Foreground(n)
                        } else {
                            Sgr::Background(n)
                        }
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        act(Action::Graphics(sgr));
    }
}

/// A palette index computed from a parameter known to be below 16.
fn ansi_index(n: u16) -> u8 {
    // Callers pass values below PALETTE_LEN.
    (n % PALETTE_LEN as u16) as u8
}

#[cfg(test)]
mod tests;
