//! PandaGen's text console without I/O, so that it can be tested on the host:
//!
//! * [`parser`]: a VT100/ANSI subset parser, fed byte by byte (UTF-8 included), producing
//!   [`Action`]s;
//! * [`screen`]: the grid of character cells those actions change, with a cursor, auto-wrap,
//!   scrolling and damage tracking;
//! * [`font`]: Noto Sans Mono bitmaps at a size chosen from the framebuffer resolution;
//! * [`surface`]: the framebuffer's pixel format (Limine's description) and the [`Surface`]
//!   trait the renderer draws on, with surfaces over plain memory;
//! * [`render`]: draws a screen, in full or only its damage;
//! * [`shadowed_slices`]: a framebuffer and its shadow copy, both borrowed (no allocation);
//! * [`Terminal`]: a parser and a screen together.
//!
//! The `text_renderer_host` component owns the I/O: it maps the framebuffer, wraps it with a
//! shadow copy of its own memory in a [`ShadowedSlices`] (so that scrolling never reads video
//! memory), feeds the kernel's output to a [`Terminal`] and calls [`Renderer::flush`].
//!
//! ```
//! use vt::{Font, Geometry, MemSurface, Palette, PixelFormat, Renderer, Terminal};
//!
//! let geometry = Geometry::packed(1280, 800, PixelFormat::XRGB8888).unwrap();
//! let mut surface = MemSurface::new(geometry); // a SliceSurface over the framebuffer in the OS
//! let mut renderer = Renderer::new(Font::for_resolution(1280, 800), Palette::VGA);
//! let (cols, rows) = renderer.grid_size(&surface);
//! let mut terminal = Terminal::new(cols, rows);
//! renderer.draw_full(terminal.screen_mut(), &mut surface);
//!
//! terminal.feed(b"\x1b[1;32mPandaGen\x1b[0m ready\r\n");
//! renderer.flush(terminal.screen_mut(), &mut surface);
//! assert_eq!(terminal.screen().cell(0, 0).unwrap().ch, 'P');
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod color;
pub mod font;
pub mod parser;
pub mod render;
pub mod screen;
pub mod shadowed_slices;
pub mod surface;
#[cfg(test)]
mod testing;
mod utf8;

pub use color::{Palette, Rgb};
pub use font::{Font, FontSize};
pub use parser::{Action, Parser};
pub use render::Renderer;
pub use screen::{Cell, Screen};
pub use shadowed_slices::ShadowedSlices;
pub use surface::{
    Channel, Geometry, MemSurface, PixelFormat, Shadowed, SliceSurface, Surface, SurfaceError,
};

/// A parser feeding a screen: bytes in, cells changed.
#[derive(Debug, Clone)]
pub struct Terminal {
    parser: Parser,
    screen: Screen,
}

impl Terminal {
    /// A terminal with a blank screen of `cols` x `rows` (see [`Screen::new`]).
    pub fn new(cols: usize, rows: usize) -> Terminal {
        Terminal {
            parser: Parser::new(),
            screen: Screen::new(cols, rows),
        }
    }

    /// Takes output bytes (sequences may be split across calls anywhere).
    pub fn feed(&mut self, bytes: &[u8]) {
        let screen = &mut self.screen;
        self.parser
            .advance_all(bytes, &mut |action| apply(screen, action));
    }

    /// The screen.
    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// The screen, to draw it (drawing clears its damage).
    pub fn screen_mut(&mut self) -> &mut Screen {
        &mut self.screen
    }
}

/// Carries out `action` on `screen`.
pub fn apply(screen: &mut Screen, action: Action) {
    let signed = |n: usize| isize::try_from(n).unwrap_or(isize::MAX);
    match action {
        Action::Print(c) => screen.print(c),
        Action::CarriageReturn => screen.carriage_return(),
        Action::LineFeed => screen.line_feed(),
        Action::Backspace => screen.backspace(),
        Action::Tab => screen.tab(),
        Action::CursorUp(n) => screen.move_by(-signed(n), 0),
        Action::CursorDown(n) => screen.move_by(signed(n), 0),
        Action::CursorForward(n) => screen.move_by(0, signed(n)),
        Action::CursorBack(n) => screen.move_by(0, -signed(n)),
        Action::CursorPosition { row, col } => screen.move_to(row, col),
        Action::EraseDisplay(erase) => screen.erase_display(erase),
        Action::EraseLine(erase) => screen.erase_line(erase),
        Action::Graphics(sgr) => screen.set_graphics(sgr),
        Action::ShowCursor(visible) => screen.set_cursor_visible(visible),
        Action::SaveCursor => screen.save_cursor(),
        Action::RestoreCursor => screen.restore_cursor(),
        Action::NewlineMode(on) => screen.set_newline_mode(on),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    fn text(t: &Terminal, row: usize) -> String {
        t.screen().row(row).iter().map(|c| c.ch).collect()
    }

    fn cells(t: &Terminal) -> Vec<Cell> {
        (0..t.screen().rows())
            .flat_map(|r| t.screen().row(r).to_vec())
            .collect()
    }

    #[test]
    fn sequences_act_on_the_screen() {
        let mut t = Terminal::new(10, 4);
        t.feed(b"hello\r\nworld\x1b[1;3HX\x1b[2;1H\x1b[K\x1b[4;10Hz\x1b[A\x1b[3D\x1b[1;33my");
        assert_eq!(text(&t, 0), "heXlo     ");
        assert_eq!(text(&t, 1), "          ");
        assert_eq!(text(&t, 2), "      y   ");
        assert_eq!(text(&t, 3), "         z");
        let y = t.screen().cell(2, 6).unwrap();
        assert_eq!((y.fg, y.attrs.bold), (3, true));
        t.feed(b"\x1b7\x1b[H\x1b[0m\x1b[2J\x1b8q\x1b[?25l");
        assert_eq!(text(&t, 2), "       q  ");
        assert_eq!(t.screen().cell(2, 7).unwrap().fg, 3);
        assert!(!t.screen().cursor_visible());
        t.feed(b"\x1b[s\x1b[4;1H\x1b[u\x1b[2C\x1b[1B!");
        assert_eq!(text(&t, 3), "         !");
    }

    #[test]
    fn feeding_in_pieces_gives_the_same_screen() {
        let input = "\x1b[2J\x1b[H\x1b[1;32m┌──┐\r\n│é │\x1b[0m\r\n\x1b[31mred\x1b[m plain\x1b[3;2H\x1b[1K\r\n\u{1F600}"
            .as_bytes();
        let mut whole = Terminal::new(8, 4);
        whole.feed(input);
        for size in 1..input.len() {
            let mut t = Terminal::new(8, 4);
            for chunk in input.chunks(size) {
                t.feed(chunk);
            }
            assert_eq!(cells(&t), cells(&whole), "chunks of {size}");
            assert_eq!(t.screen().cursor(), whole.screen().cursor());
        }
        assert_eq!(text(&whole, 0), "┌──┐    ");
        assert_eq!(text(&whole, 1), "│é │    ");
    }

    #[test]
    fn huge_moves_are_clamped() {
        let mut t = Terminal::new(5, 5);
        t.feed(b"\x1b[65535B\x1b[65535C*\x1b[65535A\x1b[65535D+");
        assert_eq!(text(&t, 4), "    *");
        assert_eq!(text(&t, 0), "+    ");
    }
}
