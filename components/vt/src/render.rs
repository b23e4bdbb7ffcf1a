//! Drawing a [`Screen`] on a [`Surface`]: every cell is its glyph's coverage blended from the
//! cell's background to its foreground ([`Rgb::blend`]), the cursor is its cell drawn inverted,
//! and after the first full draw only the damage is redrawn, a scroll being a move of pixel
//! rows.

use alloc::vec::Vec;
use core::ops::Range;

use crate::color::{Palette, Rgb, DEFAULT_BG};
use crate::font::{Font, Glyph};
use crate::screen::{Cell, Screen};
use crate::surface::{Pixel, PixelFormat, Surface};

/// Draws screens with one font and palette, remembering where it drew the cursor.
///
/// The grid's cell (row, col) covers the pixels from (`col * cell_width`, `row * cell_height`);
/// pixels right of and below the last whole cell are the margin, filled with the default
/// background by [`draw_full`](Self::draw_full).
#[derive(Debug, Clone)]
pub struct Renderer {
    font: Font,
    palette: Palette,
    /// Where the cursor was last drawn, if it was.
    drawn_cursor: Option<(usize, usize)>,
    /// One pixel row of the cells being drawn, encoded.
    line: Vec<u8>,
    /// The glyph and shades of each cell being drawn.
    cells: Vec<CellLook>,
    /// One pixel row of one glyph's coverage.
    coverage: Vec<u8>,
    /// Recently used colour pairs with their encoded blends.
    shades: Vec<Shades>,
    /// The format the shades are encoded in.
    shades_format: Option<PixelFormat>,
}

/// How many colour pairs [`Renderer`] keeps blended between spans (a screen rarely shows more
/// at once).
const SHADES_CACHED: usize = 8;

/// A cell ready to draw.
#[derive(Debug, Clone, Copy)]
struct CellLook {
    glyph: Glyph,
    /// Index of its colours in `Renderer::shades`.
    shades: usize,
}

/// The 256 pixels from `bg` (coverage 0) to `fg` (coverage 255), [`Rgb::blend`]ed and encoded.
#[derive(Debug, Clone)]
struct Shades {
    fg: Rgb,
    bg: Rgb,
    pixels: [Pixel; 256],
}

impl Shades {
    fn new(fg: Rgb, bg: Rgb, format: PixelFormat) -> Shades {
        let mut pixels = [[0; 4]; 256];
        for (coverage, pixel) in (0..=u8::MAX).zip(pixels.iter_mut()) {
            *pixel = format.encode(Rgb::blend(bg, fg, coverage));
        }
        Shades { fg, bg, pixels }
    }
}

impl Renderer {
    /// A renderer drawing with `font` and `palette`.
    pub fn new(font: Font, palette: Palette) -> Renderer {
        Renderer {
            font,
            palette,
            drawn_cursor: None,
            line: Vec::new(),
            cells: Vec::new(),
            coverage: Vec::new(),
            shades: Vec::new(),
            shades_format: None,
        }
    }

    /// The font.
    pub fn font(&self) -> Font {
        self.font
    }

    /// The grid that fits the surface: `(columns, rows)` (possibly 0 for a tiny surface;
    /// [`Screen::new`] makes that at least 1).
    pub fn grid_size(&self, surface: &(impl Surface + ?Sized)) -> (usize, usize) {
        self.font.grid_size(surface.width(), surface.height())
    }

    /// Draws the whole screen and the margin, and clears the screen's damage.
    pub fn draw_full(&mut self, screen: &mut Screen, surface: &mut (impl Surface + ?Sized)) {
        self.draw_margin(screen, surface);
        screen.damage_all();
        self.drawn_cursor = None;
        self.flush(screen, surface);
    }

    /// Draws what changed since the last draw: replays the scroll by moving pixel rows, then
    /// redraws the damaged cells and the cursor's old and new cells, and clears the damage.
    /// Assumes the surface still shows the previous draw.
    pub fn flush(&mut self, screen: &mut Screen, surface: &mut (impl Surface + ?Sized)) {
        let scrolled = screen.scrolled();
        if scrolled > 0 {
            let height = self.font.cell_height();
            let kept = screen.rows().saturating_sub(scrolled);
            surface.copy_rows(scrolled * height, 0, kept * height);
            self.drawn_cursor = self
                .drawn_cursor
                .and_then(|(row, col)| Some((row.checked_sub(scrolled)?, col)));
        }
        let cursor = screen
            .cursor_visible()
            .then(|| (screen.cursor().row, screen.cursor().col));
        for row in 0..screen.rows() {
            let cols = screen.dirty_cols(row);
            self.draw_cells(screen, surface, row, cols, cursor);
        }
        if let Some((row, col)) = self.drawn_cursor.take() {
            self.draw_cells(screen, surface, row, col..col + 1, cursor);
        }
        if let Some((row, col)) = cursor {
            self.draw_cells(screen, surface, row, col..col + 1, cursor);
        }
        self.drawn_cursor = cursor;
        screen.clear_damage();
    }

    /// [`flush`](Self::flush) on a `dyn Surface`. Not generic, so it is compiled (and
    /// optimised) with this crate, not with the caller: what an unoptimised kernel build uses.
    pub fn flush_dyn(&mut self, screen: &mut Screen, surface: &mut dyn Surface) {
        self.flush(screen, surface);
    }

    /// Fills the pixels right of and below the grid with the default background.
    fn draw_margin(&self, screen: &Screen, surface: &mut (impl Surface + ?Sized)) {
        let margin = surface.format().encode(self.palette.get(DEFAULT_BG));
        let (width, height) = (surface.width(), surface.height());
        let grid_width = screen.cols() * self.font.cell_width();
        let grid_height = screen.rows() * self.font.cell_height();
        surface.fill_rect(
            grid_width,
            0,
            width.saturating_sub(grid_width),
            height,
            margin,
        );
        surface.fill_rect(
            0,
            grid_height,
            width,
            height.saturating_sub(grid_height),
            margin,
        );
    }

    /// Draws cells `cols` of row `row` (clipped to the screen), the one at `cursor` inverted.
    fn draw_cells(
        &mut self,
        screen: &Screen,
        surface: &mut (impl Surface + ?Sized),
        row: usize,
        cols: Range<usize>,
        cursor: Option<(usize, usize)>,
    ) {
        let cells = screen.row(row);
        let Some(cells) = cells.get(cols.start..cols.end.min(cells.len())) else {
            return;
        };
        if cells.is_empty() {
            return;
        }
        let format = surface.format();
        // Forget the cached colour pairs when they are too many (only between spans: the
        // cells of a span refer to them by index) or in another format.
        if self.shades_format != Some(format) || self.shades.len() > SHADES_CACHED {
            self.shades.clear();
            self.shades_format = Some(format);
        }
        self.cells.clear();
        for (i, cell) in cells.iter().enumerate() {
            let inverted = cursor == Some((row, cols.start + i));
            let look = self.look(cell, inverted, format);
            self.cells.push(look);
        }
        let (width, height) = (self.font.cell_width(), self.font.cell_height());
        let bpp = format.bytes_per_pixel();
        self.line.resize(self.cells.len() * width * bpp, 0);
        self.coverage.resize(width, 0);
        for y in 0..height {
            let line_width = width * bpp;
            for (look, line) in self
                .cells
                .iter()
                .zip(self.line.chunks_exact_mut(line_width))
            {
                look.glyph.coverage_row(y, &mut self.coverage);
                let shades = &self.shades[look.shades].pixels;
                match bpp {
                    4 => put_pixels::<4>(line, &self.coverage, shades),
                    _ => put_pixels::<3>(line, &self.coverage, shades),
                }
            }
            surface.write_pixels(cols.start * width, row * height + y, &self.line);
        }
    }

    /// The glyph and colours of `cell`; `inverted` (the cursor) swaps the colours once more.
    fn look(&mut self, cell: &Cell, inverted: bool, format: PixelFormat) -> CellLook {
        let (mut fg, mut bg) = (self.palette.get(cell.fg), self.palette.get(cell.bg));
        if cell.attrs.inverse != inverted {
            core::mem::swap(&mut fg, &mut bg);
        }
        CellLook {
            glyph: self.font.glyph(cell.ch, cell.attrs.bold),
            shades: self.shades_for(fg, bg, format),
        }
    }

    /// Index in `shades` of the pair `fg`, `bg`, blending it if it is not cached yet.
    fn shades_for(&mut self, fg: Rgb, bg: Rgb, format: PixelFormat) -> usize {
        if let Some(i) = self.shades.iter().position(|s| s.fg == fg && s.bg == bg) {
            return i;
        }
        self.shades.push(Shades::new(fg, bg, format));
        self.shades.len() - 1
    }
}

/// Writes the pixel of each coverage value into `line`, `N` bytes per pixel (a constant, so
/// that each pixel is one fixed-size copy).
fn put_pixels<const N: usize>(line: &mut [u8], coverage: &[u8], shades: &[Pixel; 256]) {
    for (out, &c) in line.chunks_exact_mut(N).zip(coverage) {
        out.copy_from_slice(&shades[usize::from(c)][..N]);
    }
}

#[cfg(test)]
mod tests;
