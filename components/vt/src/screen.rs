//! The grid of character cells: what the terminal shows, the cursor and pen, auto-wrap,
//! scrolling, erasing, and the damage (changed cells and pending scroll) the renderer redraws.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::color::{DEFAULT_BG, DEFAULT_FG, PALETTE_LEN};

/// Tab stops are every this many columns.
pub const TAB_WIDTH: usize = 8;

/// The largest grid side [`Screen::new`] accepts; larger values are clamped (a 16 px font on a
/// 16K-wide framebuffer still fits).
pub const MAX_SIDE: usize = 4096;

/// Display attributes of a cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Attrs {
    /// Drawn with thicker strokes (SGR 1).
    pub bold: bool,
    /// Foreground and background swapped (SGR 7).
    pub inverse: bool,
}

/// One character cell: a character, palette indices for its colours, and attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cell {
    /// The character (a space when blank).
    pub ch: char,
    /// Foreground palette index, below [`PALETTE_LEN`].
    pub fg: u8,
    /// Background palette index, below [`PALETTE_LEN`].
    pub bg: u8,
    /// Attributes.
    pub attrs: Attrs,
}

impl Default for Cell {
    fn default() -> Self {
        Pen::default().blank()
    }
}

/// The colours and attributes that printed characters get (set by SGR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pen {
    /// Foreground palette index.
    pub fg: u8,
    /// Background palette index.
    pub bg: u8,
    /// Attributes.
    pub attrs: Attrs,
}

impl Default for Pen {
    fn default() -> Self {
        Pen {
            fg: DEFAULT_FG,
            bg: DEFAULT_BG,
            attrs: Attrs::default(),
        }
    }
}

impl Pen {
    /// A cell showing `ch` with this pen.
    fn cell(&self, ch: char) -> Cell {
        Cell {
            ch,
            fg: self.fg,
            bg: self.bg,
            attrs: self.attrs,
        }
    }

    /// What erased and scrolled-in cells become: a space in the pen's colours, without
    /// attributes (so an erased area shows the current background, as on a VT220/xterm).
    fn blank(&self) -> Cell {
        Cell {
            attrs: Attrs::default(),
            ..self.cell(' ')
        }
    }
}

/// The cursor: a cell position, plus whether the next printed character first wraps to the
/// next line (it was printed into the last column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Row, from 0 at the top.
    pub row: usize,
    /// Column, from 0 at the left.
    pub col: usize,
    /// The last column was just written: the next printable character goes to the start of the
    /// next line (VT100 "deferred wrap").
    pub wrap_pending: bool,
}

/// A part of a row or of the screen that an erase clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erase {
    /// From the cursor to the end (inclusive).
    ToEnd,
    /// From the start to the cursor (inclusive).
    ToStart,
    /// Everything.
    All,
}

/// A change of the pen by SGR (one parameter of `CSI ... m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sgr {
    /// 0: default colours, no attributes.
    Reset,
    /// 1 / 22.
    Bold(bool),
    /// 7 / 27.
    Inverse(bool),
    /// 30-37, 90-97, 39, 38;5;n: foreground palette index.
    Foreground(u8),
    /// 40-47, 100-107, 49, 48;5;n: background palette index.
    Background(u8),
}

/// A cols x rows grid of cells with a cursor. Changes are recorded as damage: per row, the span
/// of columns changed since the last [`clear_damage`](Self::clear_damage), and how many lines
/// the whole screen scrolled up (which a renderer can apply by moving pixel rows).
#[derive(Debug, Clone)]
pub struct Screen {
    cols: usize,
    rows: usize,
    cells: Vec<Cell>,
    cursor: Cursor,
    cursor_visible: bool,
    pen: Pen,
    saved: Option<(Cursor, Pen)>,
    /// LNM: a line feed also returns to column 0.
    newline_mode: bool,
    /// Per row, the columns changed (an empty range when none).
    dirty: Vec<Range<usize>>,
    scrolled: usize,
}

impl Screen {
    /// A blank screen of `cols` x `rows` cells (each clamped to 1..=[`MAX_SIDE`]), the cursor
    /// visible at the top left; all of it is damaged (nothing has been drawn yet).
    pub fn new(cols: usize, rows: usize) -> Screen {
        let cols = cols.clamp(1, MAX_SIDE);
        let rows = rows.clamp(1, MAX_SIDE);
        Screen {
            cols,
            rows,
            cells: vec![Cell::default(); cols * rows],
            cursor: Cursor::default(),
            cursor_visible: true,
            pen: Pen::default(),
            saved: None,
            newline_mode: false,
            dirty: vec![0..cols; rows],
            scrolled: 0,
        }
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The cell at (`row`, `col`), or `None` outside the grid.
    pub fn cell(&self, row: usize, col: usize) -> Option<&Cell> {
        if row >= self.rows || col >= self.cols {
            return None;
        }
        self.cells.get(row * self.cols + col)
    }

    /// The cells of row `row` (empty outside the grid).
    pub fn row(&self, row: usize) -> &[Cell] {
        let start = row.min(self.rows) * self.cols;
        let end = (start + self.cols).min(self.cells.len());
        &self.cells[start..end]
    }

    /// The cursor.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Whether the cursor is shown (DECTCEM).
    pub fn cursor_visible(&self) -> bool {
        self.cursor_visible
    }

    /// The current pen.
    pub fn pen(&self) -> Pen {
        self.pen
    }

    /// Columns of row `row` changed since the damage was last cleared (empty if none).
    pub fn dirty_cols(&self, row: usize) -> Range<usize> {
        self.dirty.get(row).cloned().unwrap_or(0..0)
    }

    /// How many lines the screen scrolled up since the damage was last cleared (always less
    /// than [`rows`](Self::rows): scrolling a whole screen or more damages every row instead).
    /// The damage of the rows is already expressed in their new positions.
    pub fn scrolled(&self) -> usize {
        self.scrolled
    }

    /// Forgets the damage, once it has been drawn.
    pub fn clear_damage(&mut self) {
        self.dirty.fill(0..0);
        self.scrolled = 0;
    }

    /// Marks every cell damaged and forgets the pending scroll (for a full redraw).
    pub fn damage_all(&mut self) {
        self.dirty.fill(0..self.cols);
        self.scrolled = 0;
    }

    fn damage(&mut self, row: usize, cols: Range<usize>) {
        if cols.is_empty() {
            return;
        }
        if let Some(span) = self.dirty.get_mut(row) {
            *span = if span.start >= span.end {
                cols
            } else {
                span.start.min(cols.start)..span.end.max(cols.end)
            };
        }
    }

    /// Sets the cells `cols` of row `row` to `cell`, damaging them.
    fn fill(&mut self, row: usize, cols: Range<usize>, cell: Cell) {
        let cols = cols.start.min(self.cols)..cols.end.min(self.cols);
        if row >= self.rows || cols.is_empty() {
            return;
        }
        let base = row * self.cols;
        self.cells[base + cols.start..base + cols.end].fill(cell);
        self.damage(row, cols);
    }

    /// Prints `ch` at the cursor with the pen, wrapping first if a wrap is pending, and moves
    /// the cursor right (or sets the wrap pending in the last column).
    pub fn print(&mut self, ch: char) {
        if self.cursor.wrap_pending {
            self.cursor.col = 0;
            self.line_feed();
        }
        let Cursor { row, col, .. } = self.cursor;
        let cell = self.pen.cell(ch);
        self.fill(row, col..col + 1, cell);
        if col + 1 < self.cols {
            self.cursor.col = col + 1;
        } else {
            self.cursor.wrap_pending = true;
        }
    }

    /// Moves the cursor to column 0.
    pub fn carriage_return(&mut self) {
        self.cursor.col = 0;
        self.cursor.wrap_pending = false;
    }

    /// Moves the cursor down a row, scrolling the screen up by one on the last row; in newline
    /// mode also to column 0.
    pub fn line_feed(&mut self) {
        if self.newline_mode {
            self.cursor.col = 0;
        }
        self.cursor.wrap_pending = false;
        if self.cursor.row + 1 < self.rows {
            self.cursor.row += 1;
        } else {
            self.scroll_up(1);
        }
    }

    /// Moves the cursor one column left, stopping at column 0.
    pub fn backspace(&mut self) {
        self.move_by(0, -1);
    }

    /// Moves the cursor to the next tab stop, stopping at the last column.
    pub fn tab(&mut self) {
        let next = (self.cursor.col / TAB_WIDTH + 1) * TAB_WIDTH;
        self.cursor.col = next.min(self.cols - 1);
        self.cursor.wrap_pending = false;
    }

    /// Moves the cursor by `rows` down and `cols` right (negative: up, left), stopping at the
    /// edges (never scrolls).
    pub fn move_by(&mut self, rows: isize, cols: isize) {
        let row = self.cursor.row.saturating_add_signed(rows);
        let col = self.cursor.col.saturating_add_signed(cols);
        self.move_to(row, col);
    }

    /// Moves the cursor to (`row`, `col`), clamped to the grid.
    pub fn move_to(&mut self, row: usize, col: usize) {
        self.cursor = Cursor {
            row: row.min(self.rows - 1),
            col: col.min(self.cols - 1),
            wrap_pending: false,
        };
    }

    /// Scrolls everything up by `lines`: the top lines are lost, blank lines (in the pen's
    /// background) come in at the bottom. The cursor does not move.
    pub fn scroll_up(&mut self, lines: usize) {
        let lines = lines.min(self.rows);
        if lines == 0 {
            return;
        }
        self.cells.copy_within(lines * self.cols.., 0);
        self.dirty.rotate_left(lines);
        let blank = self.pen.blank();
        let cols = self.cols;
        for row in self.rows - lines..self.rows {
            self.dirty[row] = 0..0;
            self.fill(row, 0..cols, blank);
        }
        self.scrolled += lines;
        if self.scrolled >= self.rows {
            self.damage_all();
        }
    }

    /// Erases part of the screen relative to the cursor (ED); the cursor does not move.
    pub fn erase_display(&mut self, erase: Erase) {
        let Cursor { row, .. } = self.cursor;
        let (rows, line) = match erase {
            Erase::ToEnd => (row + 1..self.rows, Erase::ToEnd),
            Erase::ToStart => (0..row, Erase::ToStart),
            Erase::All => (0..self.rows, Erase::All),
        };
        let blank = self.pen.blank();
        let cols = self.cols;
        for r in rows {
            self.fill(r, 0..cols, blank);
        }
        if erase != Erase::All {
            self.erase_line(line);
        }
    }

    /// Erases part of the cursor's row (EL); the cursor does not move.
    pub fn erase_line(&mut self, erase: Erase) {
        let Cursor { row, col, .. } = self.cursor;
        let cols = match erase {
            Erase::ToEnd => col..self.cols,
            Erase::ToStart => 0..col + 1,
            Erase::All => 0..self.cols,
        };
        self.fill(row, cols, self.pen.blank());
        self.cursor.wrap_pending = false;
    }

    /// Changes the pen.
    pub fn set_graphics(&mut self, sgr: Sgr) {
        let pen = &mut self.pen;
        match sgr {
            Sgr::Reset => *pen = Pen::default(),
            Sgr::Bold(on) => pen.attrs.bold = on,
            Sgr::Inverse(on) => pen.attrs.inverse = on,
            Sgr::Foreground(index) if usize::from(index) < PALETTE_LEN => pen.fg = index,
            Sgr::Background(index) if usize::from(index) < PALETTE_LEN => pen.bg = index,
            Sgr::Foreground(_) | Sgr::Background(_) => {}
        }
    }

    /// Sets newline mode (LNM): whether [`line_feed`](Self::line_feed) also returns to
    /// column 0 (off at first).
    pub fn set_newline_mode(&mut self, on: bool) {
        self.newline_mode = on;
    }

    /// Shows or hides the cursor (DECTCEM).
    pub fn set_cursor_visible(&mut self, visible: bool) {
        self.cursor_visible = visible;
    }

    /// Remembers the cursor and pen (DECSC).
    pub fn save_cursor(&mut self) {
        self.saved = Some((self.cursor, self.pen));
    }

    /// Returns to the remembered cursor and pen (DECRC), or to the top left with the default
    /// pen if none was saved.
    pub fn restore_cursor(&mut self) {
        let (cursor, pen) = self.saved.unwrap_or_default();
        self.pen = pen;
        self.move_to(cursor.row, cursor.col);
        self.cursor.wrap_pending = cursor.wrap_pending;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn text(s: &Screen, row: usize) -> String {
        s.row(row).iter().map(|c| c.ch).collect()
    }

    fn print(s: &mut Screen, text: &str) {
        for c in text.chars() {
            s.print(c);
        }
    }

    #[test]
    fn sizes_are_clamped() {
        let s = Screen::new(0, 0);
        assert_eq!((s.cols(), s.rows()), (1, 1));
        let s = Screen::new(usize::MAX, 2);
        assert_eq!((s.cols(), s.rows()), (MAX_SIDE, 2));
        assert_eq!(s.cell(2, 0), None);
        assert_eq!(s.row(7), &[]);
    }

    #[test]
    fn wrap_is_deferred() {
        let mut s = Screen::new(4, 3);
        print(&mut s, "abcd");
        assert_eq!(
            s.cursor(),
            Cursor {
                row: 0,
                col: 3,
                wrap_pending: true
            }
        );
        print(&mut s, "e");
        assert_eq!(text(&s, 0), "abcd");
        assert_eq!(text(&s, 1), "e   ");
        assert_eq!(
            s.cursor(),
            Cursor {
                row: 1,
                col: 1,
                wrap_pending: false
            }
        );
        // A carriage return cancels the pending wrap.
        print(&mut s, "fgh");
        s.carriage_return();
        print(&mut s, "X");
        assert_eq!(text(&s, 1), "Xfgh");
        assert_eq!(text(&s, 2), "    ");
    }

    #[test]
    fn scrolls_at_the_bottom() {
        let mut s = Screen::new(3, 2);
        s.clear_damage();
        print(&mut s, "abcdefg");
        assert_eq!(text(&s, 0), "def");
        assert_eq!(text(&s, 1), "g  ");
        assert_eq!(s.scrolled(), 1);
        // Row 0 was row 1 before the scroll: its damage moved with it.
        assert_eq!(s.dirty_cols(0), 0..3);
        assert_eq!(s.dirty_cols(1), 0..3);
        s.clear_damage();
        assert_eq!((s.scrolled(), s.dirty_cols(0)), (0, 0..0));
        s.line_feed();
        s.line_feed();
        // Two lines on a two-row screen: everything damaged, no scroll to replay.
        assert_eq!(s.scrolled(), 0);
        assert_eq!(s.dirty_cols(0), 0..3);
        assert_eq!(text(&s, 0), "   ");
    }

    #[test]
    fn scrolled_damage_is_moved() {
        let mut s = Screen::new(5, 3);
        s.clear_damage();
        s.move_to(2, 1);
        print(&mut s, "x");
        s.line_feed();
        assert_eq!(s.scrolled(), 1);
        assert_eq!(s.dirty_cols(1), 1..2);
        assert_eq!(s.dirty_cols(0), 0..0);
        assert_eq!(s.dirty_cols(2), 0..5);
    }

    #[test]
    fn cursor_moves_are_clamped() {
        let mut s = Screen::new(10, 5);
        s.move_by(-3, -3);
        assert_eq!((s.cursor().row, s.cursor().col), (0, 0));
        s.move_by(isize::MAX, isize::MAX);
        assert_eq!((s.cursor().row, s.cursor().col), (4, 9));
        s.move_to(usize::MAX, 2);
        assert_eq!((s.cursor().row, s.cursor().col), (4, 2));
        s.backspace();
        s.backspace();
        s.backspace();
        assert_eq!(s.cursor().col, 0);
        s.tab();
        assert_eq!(s.cursor().col, 8);
        s.tab();
        assert_eq!(s.cursor().col, 9);
    }

    #[test]
    fn erase_display_and_line() {
        let fill = |s: &mut Screen| {
            s.move_to(0, 0);
            print(s, "aaabbbccc");
            s.move_to(1, 1);
        };
        let mut s = Screen::new(3, 3);
        fill(&mut s);
        s.erase_display(Erase::ToEnd);
        assert_eq!(
            [text(&s, 0), text(&s, 1), text(&s, 2)],
            ["aaa", "b  ", "   "]
        );
        fill(&mut s);
        s.erase_display(Erase::ToStart);
        assert_eq!(
            [text(&s, 0), text(&s, 1), text(&s, 2)],
            ["   ", "  b", "ccc"]
        );
        fill(&mut s);
        s.erase_display(Erase::All);
        assert_eq!(
            [text(&s, 0), text(&s, 1), text(&s, 2)],
            ["   ", "   ", "   "]
        );
        assert_eq!((s.cursor().row, s.cursor().col), (1, 1));
        fill(&mut s);
        s.erase_line(Erase::ToEnd);
        assert_eq!(text(&s, 1), "b  ");
        fill(&mut s);
        s.erase_line(Erase::ToStart);
        assert_eq!(text(&s, 1), "  b");
        fill(&mut s);
        s.erase_line(Erase::All);
        assert_eq!(text(&s, 1), "   ");
    }

    #[test]
    fn erase_uses_the_pen_background() {
        let mut s = Screen::new(2, 1);
        s.set_graphics(Sgr::Background(4));
        s.set_graphics(Sgr::Inverse(true));
        s.erase_line(Erase::All);
        assert_eq!(s.cell(0, 0).unwrap().bg, 4);
        assert!(!s.cell(0, 0).unwrap().attrs.inverse);
    }

    #[test]
    fn damage_spans_merge() {
        let mut s = Screen::new(10, 2);
        s.clear_damage();
        s.move_to(1, 6);
        print(&mut s, "x");
        s.move_to(1, 2);
        print(&mut s, "y");
        assert_eq!(s.dirty_cols(1), 2..7);
        assert_eq!(s.dirty_cols(0), 0..0);
        assert_eq!(s.dirty_cols(9), 0..0);
    }

    #[test]
    fn newline_mode() {
        let mut s = Screen::new(4, 3);
        print(&mut s, "ab");
        s.line_feed();
        assert_eq!((s.cursor().row, s.cursor().col), (1, 2));
        s.set_newline_mode(true);
        s.line_feed();
        assert_eq!((s.cursor().row, s.cursor().col), (2, 0));
    }

    #[test]
    fn save_and_restore() {
        let mut s = Screen::new(10, 5);
        s.restore_cursor();
        assert_eq!(s.cursor(), Cursor::default());
        s.move_to(2, 3);
        s.set_graphics(Sgr::Foreground(1));
        s.save_cursor();
        s.set_graphics(Sgr::Reset);
        s.move_to(4, 4);
        s.restore_cursor();
        assert_eq!((s.cursor().row, s.cursor().col, s.pen().fg), (2, 3, 1));
    }

    #[test]
    fn sgr_rejects_out_of_palette_colours() {
        let mut s = Screen::new(1, 1);
        s.set_graphics(Sgr::Foreground(16));
        s.set_graphics(Sgr::Background(200));
        assert_eq!(s.pen(), Pen::default());
    }
}
