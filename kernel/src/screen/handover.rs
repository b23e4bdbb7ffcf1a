//! The screen's handover to a process (`text_renderer_host`), its pure parts: who owns the
//! screen ([`Owner`]), the bounded stream of what the kernel would have drawn ([`Stream`]),
//! and the bytes it puts there: kernel text with its colours ([`kernel_text_bytes`]) and the
//! kernel's screen as it was at the handover ([`replay`]). Host-tested.

use alloc::collections::VecDeque;
use core::fmt::Write;

use vt::screen::Pen;
use vt::Screen;

/// How many bytes wait for the owner at most; older ones are dropped first.
pub const STREAM_BYTES: usize = 64 * 1024;

/// Who draws on the screen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Owner {
    /// The kernel (from the boot on, and after a take-back).
    #[default]
    Kernel,
    /// The process with this pid.
    Process(u32),
}

/// Why the screen cannot be handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoverError {
    /// A process (maybe the caller) owns it already.
    Busy { owner: u32 },
}

impl Owner {
    /// Hands the screen to `pid`, if the kernel has it.
    pub fn hand_to(&mut self, pid: u32) -> Result<(), HandoverError> {
        match *self {
            Owner::Kernel => {
                *self = Owner::Process(pid);
                Ok(())
            }
            Owner::Process(owner) => Err(HandoverError::Busy { owner }),
        }
    }

    /// Process `pid` ended: the kernel takes the screen back if it was `pid`'s. Returns
    /// whether it did.
    pub fn ended(&mut self, pid: u32) -> bool {
        if *self == Owner::Process(pid) {
            *self = Owner::Kernel;
            return true;
        }
        false
    }

    /// The kernel takes the screen back whoever has it (a fatal report); returns whether a
    /// process had it.
    pub fn take_back(&mut self) -> bool {
        core::mem::take(self) != Owner::Kernel
    }

    /// Whether `pid` owns the screen.
    pub fn is(self, pid: u32) -> bool {
        self == Owner::Process(pid)
    }
}

/// Bytes for the screen's owner: at most `capacity`; when full, the oldest go first and are
/// counted (a cut may split a sequence or a character: the owner's terminal copes).
#[derive(Clone, Debug)]
pub struct Stream {
    bytes: VecDeque<u8>,
    capacity: usize,
    lost: u64,
}

impl Stream {
    /// An empty stream holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> Stream {
        Stream {
            bytes: VecDeque::new(),
            capacity,
            lost: 0,
        }
    }

    /// Appends `data`, dropping the oldest bytes beyond the capacity.
    pub fn push(&mut self, data: &[u8]) {
        let data = match data.len().checked_sub(self.capacity) {
            Some(extra) => {
                self.lost += (extra + self.bytes.len()) as u64;
                self.bytes.clear();
                &data[extra..]
            }
            None => data,
        };
        let over = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..over);
        self.lost += over as u64;
        self.bytes.extend(data);
    }

    /// Moves the oldest bytes into `out`; returns how many.
    pub fn take(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.bytes.len());
        for (o, b) in out.iter_mut().zip(self.bytes.drain(..n)) {
            *o = b;
        }
        n
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes dropped so far because the owner did not read them in time.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

/// Writes into a `FnMut(&[u8])`.
struct Sink<'a, 'b>(&'a mut (dyn FnMut(&[u8]) + 'b));

impl Write for Sink<'_, '_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        (self.0)(s.as_bytes());
        Ok(())
    }
}

/// The SGR sequence that sets the pen to `pen` from any state.
pub fn pen_sgr(pen: Pen, out: &mut dyn FnMut(&[u8])) {
    let _ = write!(
        Sink(out),
        "\x1b[0;38;5;{};48;5;{}{}{}m",
        pen.fg,
        pen.bg,
        if pen.attrs.bold { ";1" } else { "" },
        if pen.attrs.inverse { ";7" } else { "" }
    );
}

/// The bytes that do to a terminal what `screen::State::kernel_text` does to the kernel's
/// screen: a new line unless `at_line_start`, `text` in `colour` (a palette index; `None`:
/// the default) with line ends as CR LF and other controls dropped, then `pen` (the
/// console's) again.
pub fn kernel_text_bytes(
    at_line_start: bool,
    colour: Option<u8>,
    text: &str,
    pen: Pen,
    out: &mut dyn FnMut(&[u8]),
) {
    if !at_line_start {
        out(b"\r\n");
    }
    out(b"\x1b[0m");
    if let Some(c) = colour {
        let _ = write!(Sink(out), "\x1b[38;5;{c}m");
    }
    let mut buf = [0u8; 4];
    for c in text.chars() {
        match c {
            '\n' => out(b"\r\n"),
            c if c.is_control() => {}
            c => out(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    pen_sgr(pen, out);
}

/// The bytes that draw `screen` on a blank terminal of its size: every row (trailing blanks
/// in the default pen left out), then the cursor's place, visibility and pen.
pub fn replay(screen: &Screen, out: &mut dyn FnMut(&[u8])) {
    let default = Pen::default();
    out(b"\x1b[0m\x1b[2J");
    let mut buf = [0u8; 4];
    for row in 0..screen.rows() {
        let cells = screen.row(row);
        let blank = |c: &vt::Cell| c.ch == ' ' && pen_of(c) == default;
        let end = cells.iter().rposition(|c| !blank(c)).map_or(0, |i| i + 1);
        if end == 0 {
            continue;
        }
        let _ = write!(Sink(out), "\x1b[{};1H", row + 1);
        let mut pen = None;
        for cell in &cells[..end] {
            if pen != Some(pen_of(cell)) {
                pen_sgr(pen_of(cell), out);
                pen = Some(pen_of(cell));
            }
            out(cell.ch.encode_utf8(&mut buf).as_bytes());
        }
    }
    let cursor = screen.cursor();
    let _ = write!(Sink(out), "\x1b[{};{}H", cursor.row + 1, cursor.col + 1);
    if !screen.cursor_visible() {
        out(b"\x1b[?25l");
    }
    pen_sgr(screen.pen(), out);
}

/// The pen a cell was printed with.
fn pen_of(cell: &vt::Cell) -> Pen {
    Pen {
        fg: cell.fg,
        bg: cell.bg,
        attrs: cell.attrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use vt::screen::Sgr;
    use vt::Terminal;

    fn bytes(f: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut |b: &[u8]| v.extend_from_slice(b));
        v
    }

    #[test]
    fn the_stream_drops_the_oldest_and_counts_them() {
        let mut s = Stream::new(8);
        s.push(b"abcde");
        s.push(b"fghij");
        assert_eq!((s.len(), s.lost()), (8, 2));
        let mut out = [0u8; 3];
        assert_eq!(s.take(&mut out), 3);
        assert_eq!(&out, b"cde");
        s.push(b"0123456789AB");
        assert_eq!((s.len(), s.lost()), (8, 2 + 5 + 4));
        let mut out = [0u8; 16];
        assert_eq!(s.take(&mut out), 8);
        assert_eq!(&out[..8], b"456789AB");
        assert!(s.is_empty());
        assert_eq!(s.take(&mut out), 0);
        let mut big = Stream::new(STREAM_BYTES);
        big.push(&[b'x'; STREAM_BYTES + 1]);
        assert_eq!((big.len(), big.lost()), (STREAM_BYTES, 1));
    }

    #[test]
    fn one_owner_at_a_time_and_back_to_the_kernel() {
        let mut o = Owner::default();
        assert_eq!(o.hand_to(7), Ok(()));
        assert!(o.is(7) && !o.is(8));
        assert_eq!(o.hand_to(8), Err(HandoverError::Busy { owner: 7 }));
        assert_eq!(o.hand_to(7), Err(HandoverError::Busy { owner: 7 }));
        assert!(!o.ended(8), "another process's end changes nothing");
        assert!(o.ended(7));
        assert_eq!(o, Owner::Kernel);
        assert!(!o.ended(7));
        assert_eq!(o.hand_to(9), Ok(()));
        assert!(o.take_back());
        assert!(!o.take_back());
        assert_eq!(o, Owner::Kernel);
    }

    /// What the kernel does to its own screen, for comparison (as `screen::State`).
    fn kernel_text(t: &mut Terminal, colour: Option<u8>, text: &str) {
        let s = t.screen_mut();
        let pen = s.pen();
        let c = s.cursor();
        if c.col != 0 || c.wrap_pending {
            s.carriage_return();
            s.line_feed();
        }
        s.set_graphics(Sgr::Reset);
        if let Some(c) = colour {
            s.set_graphics(Sgr::Foreground(c));
        }
        for ch in text.chars() {
            match ch {
                '\n' => {
                    s.carriage_return();
                    s.line_feed();
                }
                ch if ch.is_control() => {}
                ch => s.print(ch),
            }
        }
        s.set_graphics(Sgr::Reset);
        s.set_graphics(Sgr::Foreground(pen.fg));
        s.set_graphics(Sgr::Background(pen.bg));
        s.set_graphics(Sgr::Bold(pen.attrs.bold));
        s.set_graphics(Sgr::Inverse(pen.attrs.inverse));
    }

    fn same(a: &Terminal, b: &Terminal) {
        for r in 0..a.screen().rows() {
            assert_eq!(a.screen().row(r), b.screen().row(r), "row {r}");
        }
        assert_eq!(a.screen().cursor(), b.screen().cursor());
        assert_eq!(a.screen().pen(), b.screen().pen());
    }

    #[test]
    fn kernel_text_bytes_do_what_the_kernel_does() {
        let (mut kernel, mut owner) = (Terminal::new(12, 4), Terminal::new(12, 4));
        for t in [&mut kernel, &mut owner] {
            t.feed(b"\x1b[1;32;44mprompt> ");
        }
        for (colour, text) in [(Some(9), "ERROR bad\tthing\nhere"), (None, "INFO é ok")] {
            let c = kernel.screen().cursor();
            let at_start = c.col == 0 && !c.wrap_pending;
            let pen = kernel.screen().pen();
            owner.feed(&bytes(|o| {
                kernel_text_bytes(at_start, colour, text, pen, o)
            }));
            kernel_text(&mut kernel, colour, text);
            same(&kernel, &owner);
        }
        assert_eq!(kernel.screen().cell(1, 0).unwrap().fg, 9);
    }

    #[test]
    fn a_replay_redraws_the_screen() {
        let mut kernel = Terminal::new(10, 4);
        kernel.feed(
            b"plain\r\n\x1b[91mred \x1b[1;7mbold\x1b[0m\r\n\x1b[44m  \x1b[0m x\x1b[2;3H\x1b[33m",
        );
        let mut owner = Terminal::new(10, 4);
        owner.feed(b"old junk everywhere\r\nmore");
        owner.feed(&bytes(|o| replay(kernel.screen(), o)));
        same(&kernel, &owner);
        kernel.feed(b"\x1b[?25l");
        let mut hidden = Terminal::new(10, 4);
        hidden.feed(&bytes(|o| replay(kernel.screen(), o)));
        assert!(!hidden.screen().cursor_visible());
    }
}
