//! Renderer tests: pixels compared with the font crate's rasters and the documented blend,
//! channel masks, scrolling by moving rows against a full redraw, and the cursor.

use super::*;
use crate::color::{DEFAULT_FG, PALETTE_LEN};
use crate::font::FontSize;
use crate::surface::{Channel, Geometry, MemSurface, PixelFormat, Shadowed};
use crate::testing::Rng;
use crate::Terminal;
use alloc::vec::Vec;
use noto_sans_mono_bitmap::{get_raster, FontWeight, RasterHeight};

/// The documented blend, written out again: `(bg * (255 - a) + fg * a + 127) / 255`.
fn expected_blend(bg: u32, fg: u32, a: u8) -> u32 {
    let channel = |shift: u32| {
        let (b, f, a) = ((bg >> shift) & 0xFF, (fg >> shift) & 0xFF, u32::from(a));
        ((b * (255 - a) + f * a + 127) / 255) << shift
    };
    channel(16) | channel(8) | channel(0)
}

/// Pixel (`x`, `y`) of an XRGB8888 surface as `0xRRGGBB`, read from the raw bytes.
fn xrgb_at(surface: &MemSurface, x: usize, y: usize) -> u32 {
    let pitch = surface.geometry().pitch();
    let at = y * pitch + x * 4;
    let b = &surface.bytes()[at..at + 4];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0xFF_FFFF
}

fn vga(index: u8) -> u32 {
    let c = Palette::VGA.get(index);
    (u32::from(c.r) << 16) | (u32::from(c.g) << 8) | u32::from(c.b)
}

/// A terminal and a surface exactly `cols` x `rows` cells of `size`.
fn setup(
    size: FontSize,
    cols: usize,
    rows: usize,
    format: PixelFormat,
) -> (Renderer, Terminal, MemSurface) {
    let font = Font::new(size);
    let geometry =
        Geometry::packed(cols * font.cell_width(), rows * font.cell_height(), format).unwrap();
    (
        Renderer::new(font, Palette::VGA),
        Terminal::new(cols, rows),
        MemSurface::new(geometry),
    )
}

/// Checks that the cell at (`row`, `col`) shows `c` from the `raster` height, each raster
/// pixel repeated `scale` times, between colours `bg` and `fg`; `bold` as documented.
#[allow(
    clippy::too_many_arguments,
    reason = "a test helper describing one cell fully"
)]
fn assert_cell(
    surface: &MemSurface,
    row: usize,
    col: usize,
    c: char,
    raster: RasterHeight,
    scale: usize,
    (fg, bg): (u32, u32),
    bold: bool,
) {
    let glyph = get_raster(c, FontWeight::Regular, raster).unwrap();
    let (w, h) = (glyph.width(), glyph.height());
    let rows: Vec<&[u8]> = glyph.rows().collect();
    for y in 0..h * scale {
        for x in 0..w * scale {
            let (rx, ry) = (x / scale, y / scale);
            let mut a = rows[ry][rx];
            if bold && rx > 0 {
                a = a.max(rows[ry][rx - 1]);
            }
            let got = xrgb_at(surface, col * w * scale + x, row * h * scale + y);
            assert_eq!(
                got,
                expected_blend(bg, fg, a),
                "{c:?} at cell ({row},{col}) pixel ({x},{y})"
            );
        }
    }
}

#[test]
fn text_matches_the_font_rasters() {
    let (mut r, mut t, mut s) = setup(FontSize::Px16, 8, 2, PixelFormat::XRGB8888);
    t.feed("\x1b[?25lHi, é!\r\n\x1b[31;44mq\x1b[1mW".as_bytes());
    r.draw_full(t.screen_mut(), &mut s);
    let normal = (vga(DEFAULT_FG), vga(0));
    for (col, c) in "Hi, é!".chars().enumerate() {
        assert_cell(&s, 0, col, c, RasterHeight::Size16, 1, normal, false);
    }
    assert_cell(&s, 0, 7, ' ', RasterHeight::Size16, 1, normal, false);
    assert_cell(
        &s,
        1,
        0,
        'q',
        RasterHeight::Size16,
        1,
        (vga(1), vga(4)),
        false,
    );
    assert_cell(
        &s,
        1,
        1,
        'W',
        RasterHeight::Size16,
        1,
        (vga(1), vga(4)),
        true,
    );
}

#[test]
fn doubled_font_repeats_raster_pixels() {
    let (mut r, mut t, mut s) = setup(FontSize::Px48, 3, 1, PixelFormat::XRGB8888);
    t.feed(b"\x1b[?25l\x1b[93mA&");
    r.draw_full(t.screen_mut(), &mut s);
    assert_cell(
        &s,
        0,
        0,
        'A',
        RasterHeight::Size24,
        2,
        (vga(11), vga(0)),
        false,
    );
    assert_cell(
        &s,
        0,
        1,
        '&',
        RasterHeight::Size24,
        2,
        (vga(11), vga(0)),
        false,
    );
}

#[test]
fn unknown_characters_show_the_fallback() {
    let (mut r, mut t, mut s) = setup(FontSize::Px24, 2, 1, PixelFormat::XRGB8888);
    t.feed("\x1b[?25l中\u{1}\u{7}".as_bytes());
    r.draw_full(t.screen_mut(), &mut s);
    assert_cell(
        &s,
        0,
        0,
        '\u{FFFD}',
        RasterHeight::Size24,
        1,
        (vga(DEFAULT_FG), vga(0)),
        false,
    );
}

#[test]
fn masks_place_the_channels() {
    let ch = |size, shift| Channel { size, shift };
    let formats = [
        PixelFormat::XRGB8888,
        PixelFormat::XBGR8888,
        PixelFormat::new(24, ch(8, 16), ch(8, 8), ch(8, 0)).unwrap(),
        PixelFormat::new(24, ch(8, 0), ch(8, 8), ch(8, 16)).unwrap(),
    ];
    let surfaces: Vec<MemSurface> = formats
        .iter()
        .map(|&f| {
            let (mut r, mut t, mut s) = setup(FontSize::Px16, 4, 1, f);
            t.feed(b"\x1b[91;46m#\x1b[0m|\x1b[92mx");
            r.draw_full(t.screen_mut(), &mut s);
            s
        })
        .collect();
    let [xrgb, xbgr, rgb24, bgr24] = &surfaces[..] else {
        unreachable!()
    };
    let pixels = |s: &MemSurface| s.bytes().len() / s.format().bytes_per_pixel();
    assert_eq!(pixels(xrgb), pixels(rgb24));
    for i in 0..pixels(xrgb) {
        let p = &xrgb.bytes()[i * 4..i * 4 + 4];
        let q = &xbgr.bytes()[i * 4..i * 4 + 4];
        // 0x00RRGGBB little-endian is B, G, R, 0; 0x00BBGGRR is R, G, B, 0.
        assert_eq!([p[0], p[1], p[2], p[3]], [q[2], q[1], q[0], 0]);
        assert_eq!(&rgb24.bytes()[i * 3..i * 3 + 3], &p[..3]);
        assert_eq!(&bgr24.bytes()[i * 3..i * 3 + 3], &q[..3]);
    }
    // And the colour itself: a background pixel of the first cell is VGA cyan.
    assert_eq!(xrgb_at(xrgb, 0, 0), vga(6));
    assert_eq!(&xbgr.bytes()[..4], &[0x00, 0xAA, 0xAA, 0]);
}

#[test]
fn cursor_is_the_inverted_cell() {
    let (mut r, mut t, mut s) = setup(FontSize::Px16, 4, 2, PixelFormat::XRGB8888);
    let (fg, bg) = (vga(DEFAULT_FG), vga(0));
    t.feed(b"ab");
    r.draw_full(t.screen_mut(), &mut s);
    // The cursor on the blank cell 2: all foreground.
    assert_cell(&s, 0, 2, ' ', RasterHeight::Size16, 1, (bg, fg), false);
    assert_cell(&s, 0, 1, 'b', RasterHeight::Size16, 1, (fg, bg), false);
    // Back onto 'b': it is inverted, and cell 2 is plain again.
    t.feed(b"\x1b[D");
    r.flush(t.screen_mut(), &mut s);
    assert_cell(&s, 0, 1, 'b', RasterHeight::Size16, 1, (bg, fg), false);
    assert_cell(&s, 0, 2, ' ', RasterHeight::Size16, 1, (fg, bg), false);
    // On an inverse cell the cursor shows it plain; hiding the cursor restores the cell.
    t.feed(b"\x1b[7mX\x1b[D");
    r.flush(t.screen_mut(), &mut s);
    assert_cell(&s, 0, 1, 'X', RasterHeight::Size16, 1, (fg, bg), false);
    t.feed(b"\x1b[?25l");
    r.flush(t.screen_mut(), &mut s);
    assert_cell(&s, 0, 1, 'X', RasterHeight::Size16, 1, (bg, fg), false);
}

#[test]
fn drawn_block_fills_the_cell() {
    let (mut r, mut t, mut s) = setup(FontSize::Px32, 2, 1, PixelFormat::XRGB8888);
    t.feed("\x1b[?25l\x1b[35m█▌".as_bytes());
    r.draw_full(t.screen_mut(), &mut s);
    let w = r.font().cell_width();
    for y in 0..32 {
        for x in 0..w {
            assert_eq!(xrgb_at(&s, x, y), vga(5));
            let half = if x < w / 2 { vga(5) } else { vga(0) };
            assert_eq!(xrgb_at(&s, w + x, y), half);
        }
    }
}

#[test]
fn margin_is_the_default_background() {
    let font = Font::new(FontSize::Px16);
    let geometry = Geometry::new(7 * 3 + 5, 16 + 9, 200, PixelFormat::XRGB8888).unwrap();
    let mut s = MemSurface::new(geometry);
    s.fill_rect(0, 0, 100, 100, [0xFF; 4]);
    let mut r = Renderer::new(font, Palette::VGA);
    assert_eq!(r.grid_size(&s), (3, 1));
    let mut t = Terminal::new(3, 1);
    t.feed(b"\x1b[41m\x1b[2J");
    r.draw_full(t.screen_mut(), &mut s);
    assert_eq!(xrgb_at(&s, 22, 3), vga(0));
    assert_eq!(xrgb_at(&s, 2, 20), vga(0));
    // Cell 1 (cell 0 has the cursor).
    assert_eq!(xrgb_at(&s, 9, 3), vga(1));
}

/// A surface that counts what it is asked to do.
struct Counting {
    inner: MemSurface,
    copies: usize,
    written: usize,
}

impl Surface for Counting {
    fn width(&self) -> usize {
        self.inner.width()
    }
    fn height(&self) -> usize {
        self.inner.height()
    }
    fn format(&self) -> PixelFormat {
        self.inner.format()
    }
    fn write_pixels(&mut self, x: usize, y: usize, pixels: &[u8]) {
        self.written += pixels.len() / self.format().bytes_per_pixel();
        self.inner.write_pixels(x, y, pixels);
    }
    fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, pixel: Pixel) {
        self.inner.fill_rect(x, y, w, h, pixel);
    }
    fn copy_rows(&mut self, src_y: usize, dst_y: usize, count: usize) {
        self.copies += 1;
        self.inner.copy_rows(src_y, dst_y, count);
    }
}

/// Draws `screen` from scratch on a new surface like `like`.
fn redrawn(font: Font, screen: &Screen, like: &MemSurface) -> MemSurface {
    let mut fresh = MemSurface::new(like.geometry());
    Renderer::new(font, Palette::VGA).draw_full(&mut screen.clone(), &mut fresh);
    fresh
}

#[test]
fn scrolling_moves_rows_and_matches_a_full_redraw() {
    let (mut r, mut t, s) = setup(FontSize::Px16, 20, 6, PixelFormat::XRGB8888);
    let mut s = Counting {
        inner: s,
        copies: 0,
        written: 0,
    };
    t.feed(b"\x1b[44mline 0\r\nline 1\r\n\x1b[0mline 2");
    r.draw_full(t.screen_mut(), &mut s);
    for i in 3..12 {
        s.written = 0;
        t.feed(alloc::format!("\r\n\x1b[3{}mline {i}", i % 8).as_bytes());
        r.flush(t.screen_mut(), &mut s);
        assert_eq!(
            s.inner,
            redrawn(r.font(), t.screen(), &s.inner),
            "after line {i}"
        );
        // One line scrolled at most: a copy, then at most two rows redrawn.
        assert!(s.written <= 2 * 20 * 7 * 16, "{}", s.written);
    }
    assert_eq!(s.copies, 6);
    // Scrolling by a whole screen between flushes: a full redraw, no copy.
    t.feed(b"\n\n\n\n\n\n");
    r.flush(t.screen_mut(), &mut s);
    assert_eq!(s.copies, 6);
    assert!(s.inner == redrawn(r.font(), t.screen(), &s.inner));
    // More than a screen: only the lines after the last whole screen are copied.
    t.feed(b"x\n\n\n\n\n\n\n\ny");
    r.flush(t.screen_mut(), &mut s);
    assert_eq!(s.copies, 7);
    assert!(s.inner == redrawn(r.font(), t.screen(), &s.inner));
}

/// Mostly sequences the terminal acts on, with random bytes between.
fn chunk(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"\r\n",
        b"\n",
        b"\x1b[A",
        b"\x1b[3B",
        b"\x1b[C",
        b"\x1b[9D",
        b"\x1b[2;5H",
        b"\x1b[J",
        b"\x1b[1J",
        b"\x1b[2J",
        b"\x1b[K",
        b"\x1b[1K",
        b"\x1b[2K",
        b"\x1b[1;7;33;104m",
        b"\x1b[m",
        b"\x1b[?25l",
        b"\x1b[?25h",
        b"\x1b7",
        b"\x1b8",
        b"\x1b[s",
        b"\x1b[u",
        b"\t",
        b"\x08",
        "é─█╬".as_bytes(),
        b"hello world",
        b"\x1b[99;99H",
    ];
    let mut out = Vec::new();
    for _ in 0..(rng.next() % 8) {
        let r = rng.next();
        if r.is_multiple_of(4) {
            out.push((r >> 8) as u8);
        } else {
            out.extend_from_slice(PIECES[(r >> 8) as usize % PIECES.len()]);
        }
    }
    out
}

#[test]
fn incremental_flushes_always_match_a_full_redraw() {
    for (seed, size, format) in [
        (1u64, FontSize::Px16, PixelFormat::XRGB8888),
        (2, FontSize::Px24, PixelFormat::XBGR8888),
        (3, FontSize::Px16, PixelFormat::XRGB8888),
    ] {
        let (mut r, mut t, mut s) = setup(size, 9, 5, format);
        r.draw_full(t.screen_mut(), &mut s);
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        for step in 0..300 {
            t.feed(&chunk(&mut rng));
            r.flush(t.screen_mut(), &mut s);
            if step % 10 == 0 {
                assert_eq!(
                    s,
                    redrawn(r.font(), t.screen(), &s),
                    "seed {seed} step {step}"
                );
            }
        }
        let cells = t.screen().row(0).iter().chain(t.screen().row(4));
        assert!(cells
            .clone()
            .all(|c| usize::from(c.fg) < PALETTE_LEN && usize::from(c.bg) < PALETTE_LEN));
    }
}

#[test]
fn garbage_and_tiny_surfaces_never_panic() {
    let mut rng = Rng(0xDEAD_BEEF);
    for (w, h) in [(0, 0), (1, 1), (6, 15), (7, 16), (50, 17)] {
        let geometry = Geometry::packed(w, h, PixelFormat::XRGB8888).unwrap();
        let mut s = MemSurface::new(geometry);
        let mut r = Renderer::new(Font::for_resolution(w, h), Palette::VGA);
        let (cols, rows) = r.grid_size(&s);
        let mut t = Terminal::new(cols, rows);
        r.draw_full(t.screen_mut(), &mut s);
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..(rng.next() % 64)).map(|_| rng.next() as u8).collect();
            t.feed(&bytes);
            t.feed(&chunk(&mut rng));
            r.flush(t.screen_mut(), &mut s);
        }
    }
}

#[test]
fn a_mismatched_screen_is_clipped() {
    // A screen larger than the surface, and a surface larger than the screen.
    let (mut r, _, mut s) = setup(FontSize::Px16, 3, 2, PixelFormat::XRGB8888);
    let mut big = Terminal::new(50, 40);
    big.feed(b"x\x1b[40;50Hy");
    r.draw_full(big.screen_mut(), &mut s);
    let mut small = Terminal::new(1, 1);
    small.feed(b"zz\n");
    r.draw_full(small.screen_mut(), &mut s);
    r.flush(small.screen_mut(), &mut s);
}

#[test]
fn many_colour_pairs_in_one_row() {
    let (mut r, mut t, mut s) = setup(FontSize::Px16, 32, 2, PixelFormat::XRGB8888);
    t.feed(b"\x1b[?25l");
    for row in 0..2u8 {
        for i in 0..16u8 {
            let (fg, bg) = ((i + row) % 16, 15 - i);
            t.feed(alloc::format!("\x1b[38;5;{fg};48;5;{bg}m \u{2588}").as_bytes());
        }
    }
    r.draw_full(t.screen_mut(), &mut s);
    for row in 0..2u8 {
        for i in 0..16u8 {
            let (fg, bg) = ((i + row) % 16, 15 - i);
            let (x, y) = (usize::from(i) * 14, usize::from(row) * 16);
            assert_eq!(xrgb_at(&s, x + 3, y + 5), vga(bg), "row {row} pair {i}");
            assert_eq!(xrgb_at(&s, x + 7 + 3, y + 5), vga(fg), "row {row} pair {i}");
        }
    }
}

#[test]
fn shadowed_front_matches_a_plain_surface() {
    let (mut r, mut t, plain) = setup(FontSize::Px16, 10, 4, PixelFormat::XRGB8888);
    let mut plain = plain;
    let mut shadowed = Shadowed::new(MemSurface::new(plain.geometry())).unwrap();
    let mut r2 = r.clone();
    r.draw_full(&mut t.screen().clone(), &mut plain);
    r2.draw_full(t.screen_mut(), &mut shadowed);
    let mut rng = Rng(77);
    for _ in 0..100 {
        t.feed(&chunk(&mut rng));
        r.flush(&mut t.screen().clone(), &mut plain);
        r2.flush(t.screen_mut(), &mut shadowed);
        assert!(shadowed.front() == &plain);
    }
}
