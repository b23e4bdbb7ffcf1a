//! The console font: Noto Sans Mono pre-rasterized by `noto-sans-mono-bitmap` (8-bit coverage
//! per pixel) in three raster heights, optionally scaled 2x, the choice of a size for a
//! framebuffer resolution, and glyph lookup with drawn box-drawing characters and a fallback.

mod drawn;

use noto_sans_mono_bitmap::{
    get_raster, get_raster_width, FontWeight, RasterHeight, RasterizedChar,
};

use drawn::Drawn;

/// The sizes the console can use, by cell height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FontSize {
    /// 16 px raster, 7 x 16 cells.
    Px16,
    /// 24 px raster, 11 x 24 cells.
    Px24,
    /// 32 px raster, 14 x 32 cells.
    Px32,
    /// The 24 px raster scaled 2x, 22 x 48 cells.
    Px48,
    /// The 32 px raster scaled 2x, 28 x 64 cells.
    Px64,
}

impl FontSize {
    /// Every size, smallest cells first.
    pub const ALL: [FontSize; 5] = [
        FontSize::Px16,
        FontSize::Px24,
        FontSize::Px32,
        FontSize::Px48,
        FontSize::Px64,
    ];

    /// The raster used and how many times each of its pixels is repeated across and down.
    fn raster_and_scale(self) -> (RasterHeight, usize) {
        match self {
            FontSize::Px16 => (RasterHeight::Size16, 1),
            FontSize::Px24 => (RasterHeight::Size24, 1),
            FontSize::Px32 => (RasterHeight::Size32, 1),
            FontSize::Px48 => (RasterHeight::Size24, 2),
            FontSize::Px64 => (RasterHeight::Size32, 2),
        }
    }
}

/// The fewest columns [`Font::for_resolution`] accepts for a size other than the smallest.
pub const MIN_COLS: usize = 80;

/// The fewest rows [`Font::for_resolution`] accepts for a size other than the smallest.
pub const MIN_ROWS: usize = 45;

/// The character drawn for characters the font does not have: U+FFFD "�".
pub const FALLBACK: char = '\u{FFFD}';

/// The only weight stored; bold is synthesized (see [`Glyph::coverage`]).
const WEIGHT: FontWeight = FontWeight::Regular;

/// A monospace font at one size: every character fills one cell of
/// [`cell_width`](Self::cell_width) x [`cell_height`](Self::cell_height) pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Font {
    size: FontSize,
    raster: RasterHeight,
    scale: usize,
}

impl Font {
    /// The font at `size`.
    pub fn new(size: FontSize) -> Font {
        let (raster, scale) = size.raster_and_scale();
        Font {
            size,
            raster,
            scale,
        }
    }

    /// The font for a framebuffer of `width` x `height` pixels: the largest size whose grid
    /// still has at least [`MIN_COLS`] columns and [`MIN_ROWS`] rows, else the smallest.
    /// Text then stays about the same physical size from 1024x768 to 5K: 1024x768 up to
    /// 1680x1050 get 16 px, 1920x1080 and 1920x1200 get 24 px (174 x 45 cells), 2560x1440
    /// gets 32 px, 3840x2160 gets 48 px (the 24 px raster doubled, again 174 x 45 cells).
    pub fn for_resolution(width: usize, height: usize) -> Font {
        FontSize::ALL
            .iter()
            .rev()
            .map(|&size| Font::new(size))
            .find(|font| {
                let (cols, rows) = font.grid_size(width, height);
                cols >= MIN_COLS && rows >= MIN_ROWS
            })
            .unwrap_or(Font::new(FontSize::Px16))
    }

    /// The size of this font.
    pub fn size(&self) -> FontSize {
        self.size
    }

    /// How many times each raster pixel is repeated across and down (1 or 2).
    pub fn scale(&self) -> usize {
        self.scale
    }

    /// Width of a cell in pixels.
    pub fn cell_width(&self) -> usize {
        get_raster_width(WEIGHT, self.raster) * self.scale
    }

    /// Height of a cell in pixels.
    pub fn cell_height(&self) -> usize {
        self.raster.val() * self.scale
    }

    /// How many whole cells fit in `width` x `height` pixels: `(columns, rows)`.
    pub fn grid_size(&self, width: usize, height: usize) -> (usize, usize) {
        (width / self.cell_width(), height / self.cell_height())
    }

    /// The glyph drawn for `c`: box-drawing characters (U+2500-U+257F, most of them) and block
    /// elements (U+2580-U+259F) are drawn to fill the cell so that they join their neighbours;
    /// other characters come from the raster (Basic Latin, Latin-1 and U+FFFD), and the rest
    /// get the [`FALLBACK`] glyph. `bold` thickens raster glyphs (drawn ones are unchanged).
    pub fn glyph(&self, c: char, bold: bool) -> Glyph {
        let shape = match drawn::lookup(c) {
            Some(drawn) => Shape::Drawn(drawn),
            None => self
                .raster(c)
                .or_else(|| self.raster(FALLBACK))
                .map_or(Shape::Blank, Shape::Raster),
        };
        Glyph {
            shape,
            scale: self.scale,
            width: self.cell_width(),
            height: self.cell_height(),
            bold,
        }
    }

    fn raster(&self, c: char) -> Option<RasterizedChar> {
        get_raster(c, WEIGHT, self.raster)
    }
}

/// What a glyph is made of.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Raster(RasterizedChar),
    Drawn(Drawn),
    /// Nothing (only if even the fallback character were missing from the raster).
    Blank,
}

/// One character's picture at one font size: the coverage of each pixel of its cell.
#[derive(Debug, Clone, Copy)]
pub struct Glyph {
    shape: Shape,
    scale: usize,
    width: usize,
    height: usize,
    bold: bool,
}

impl Glyph {
    /// How much of pixel (`x`, `y`) of the cell the character covers, from 0 (background) to
    /// 255 (foreground); 0 outside the cell. A raster glyph's pixel (`x`, `y`) is raster pixel
    /// (`x / scale`, `y / scale`); bold takes the larger of that raster pixel and its left
    /// neighbour, which widens every stroke by one raster pixel.
    pub fn coverage(&self, x: usize, y: usize) -> u8 {
        if x >= self.width || y >= self.height {
            return 0;
        }
        match &self.shape {
            Shape::Raster(raster) => self.raster_coverage(raster_row(raster, y / self.scale), x),
            Shape::Drawn(drawn) => drawn.coverage(x, y, self.width, self.height),
            Shape::Blank => 0,
        }
    }

    /// The [`coverage`](Self::coverage) of pixels (0, `y`), (1, `y`), ... into `out`, one
    /// byte per pixel (what the renderer uses; fastest when `out` is one cell wide).
    pub fn coverage_row(&self, y: usize, out: &mut [u8]) {
        match &self.shape {
            Shape::Raster(raster) if y < self.height && out.len() == self.width => {
                let row = raster_row(raster, y / self.scale);
                match self.scale {
                    1 => spread::<1>(row, self.bold, out),
                    2 => spread::<2>(row, self.bold, out),
                    _ => {
                        for (x, out) in out.iter_mut().enumerate() {
                            *out = self.raster_coverage(row, x);
                        }
                    }
                }
            }
            _ => {
                for (x, out) in out.iter_mut().enumerate() {
                    *out = self.coverage(x, y);
                }
            }
        }
    }

    /// Coverage of cell pixel column `x` on a row of the raster (the scale and bold rule).
    fn raster_coverage(&self, row: &[u8], x: usize) -> u8 {
        if x >= self.width {
            return 0;
        }
        let rx = x / self.scale;
        let own = row.get(rx).copied().unwrap_or(0);
        if self.bold && rx > 0 {
            own.max(row.get(rx - 1).copied().unwrap_or(0))
        } else {
            own
        }
    }
}

/// A raster row, each pixel repeated `N` times, into `out`, with the bold rule of
/// [`Glyph::coverage`] (the fast path of [`Glyph::coverage_row`]).
fn spread<const N: usize>(row: &[u8], bold: bool, out: &mut [u8]) {
    let mut left = 0;
    for (&own, out) in row.iter().zip(out.chunks_exact_mut(N)) {
        let value = if bold { own.max(left) } else { own };
        out.copy_from_slice(&[value; N]);
        left = own;
    }
}

/// Row `y` of `raster` (empty below it).
fn raster_row(raster: &RasterizedChar, y: usize) -> &'static [u8] {
    let width = raster.width();
    raster
        .pixels()
        .get(y * width..(y + 1) * width)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_rule() {
        let size = |w, h| Font::for_resolution(w, h).size();
        assert_eq!(size(1024, 768), FontSize::Px16);
        assert_eq!(size(1280, 800), FontSize::Px16);
        assert_eq!(size(1680, 1050), FontSize::Px16);
        assert_eq!(size(1920, 1080), FontSize::Px24);
        assert_eq!(size(1920, 1200), FontSize::Px24);
        assert_eq!(size(2560, 1440), FontSize::Px32);
        assert_eq!(size(3840, 2160), FontSize::Px48);
        assert_eq!(size(5120, 2880), FontSize::Px64);
        // Too small for anything: still the smallest, never a panic.
        assert_eq!(size(0, 0), FontSize::Px16);
        assert_eq!(size(usize::MAX, usize::MAX), FontSize::Px64);
        // Portrait 1080x1920: 98 columns at 11 px, so 24 px.
        assert_eq!(size(1080, 1920), FontSize::Px24);
    }

    #[test]
    fn cell_sizes() {
        let cells: [(usize, usize); 5] = FontSize::ALL.map(|s| {
            let f = Font::new(s);
            (f.cell_width(), f.cell_height())
        });
        assert_eq!(cells, [(7, 16), (11, 24), (14, 32), (22, 48), (28, 64)]);
        assert_eq!(
            Font::for_resolution(1920, 1080).grid_size(1920, 1080),
            (174, 45)
        );
        assert_eq!(
            Font::for_resolution(3840, 2160).grid_size(3840, 2160),
            (174, 45)
        );
    }

    #[test]
    fn raster_glyph_matches_the_crate() {
        for size in FontSize::ALL {
            let font = Font::new(size);
            let (raster_height, scale) = size.raster_and_scale();
            let raster = get_raster('g', FontWeight::Regular, raster_height).unwrap();
            let glyph = font.glyph('g', false);
            for y in 0..font.cell_height() {
                for x in 0..font.cell_width() {
                    let expected = raster.rows().nth(y / scale).unwrap()[x / scale];
                    assert_eq!(glyph.coverage(x, y), expected, "{size:?} ({x},{y})");
                }
            }
            assert_eq!(glyph.coverage(font.cell_width(), 0), 0);
        }
    }

    #[test]
    fn unknown_characters_fall_back() {
        let font = Font::new(FontSize::Px16);
        let fallback = get_raster(FALLBACK, FontWeight::Regular, RasterHeight::Size16).unwrap();
        for c in ['\u{4e2d}', '\u{1F600}', '\0', '\u{7f}', '\u{100}'] {
            let glyph = font.glyph(c, false);
            for (y, row) in fallback.rows().enumerate() {
                for (x, &v) in row.iter().enumerate() {
                    assert_eq!(glyph.coverage(x, y), v, "{c:?}");
                }
            }
        }
        // Latin-1 is there: not the fallback.
        let e_acute = font.glyph('é', false);
        let differs = (0..16)
            .any(|y| (0..7).any(|x| e_acute.coverage(x, y) != fallback.rows().nth(y).unwrap()[x]));
        assert!(differs);
    }

    #[test]
    fn rows_agree_with_pixels() {
        for size in FontSize::ALL {
            let font = Font::new(size);
            let (w, h) = (font.cell_width(), font.cell_height());
            for c in ['A', 'm', '\u{FFFD}', '┼', '▒', '\u{1}'] {
                for bold in [false, true] {
                    let glyph = font.glyph(c, bold);
                    let mut row = alloc::vec![0xAA; w + 3];
                    for y in 0..h + 2 {
                        glyph.coverage_row(y, &mut row);
                        for (x, &got) in row.iter().enumerate() {
                            assert_eq!(got, glyph.coverage(x, y), "{c:?} {size:?} ({x},{y})");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bold_widens_strokes() {
        let font = Font::new(FontSize::Px16);
        let raster = get_raster('l', FontWeight::Regular, RasterHeight::Size16).unwrap();
        let bold = font.glyph('l', true);
        for (y, row) in raster.rows().enumerate() {
            for x in 0..row.len() {
                let left = if x == 0 { 0 } else { row[x - 1] };
                assert_eq!(bold.coverage(x, y), row[x].max(left));
            }
        }
    }
}
