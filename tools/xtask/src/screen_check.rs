//! What the guest's screen shows, checked against text rendered on the host with `vt` exactly
//! as the kernel renders it (the font `Font::for_resolution` picks for the screen's size, the
//! VGA palette): QEMU's `screendump` (a binary PPM) is parsed, read back into characters cell
//! by cell (a cell is known only if its pixels equal a rendered glyph exactly), and regions are
//! compared pixel by pixel with rendered lines.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use vt::{Font, Geometry, MemSurface, Palette, PixelFormat, Renderer, Terminal};

/// A screen dump: `width` x `height` pixels, 3 bytes (R, G, B) each, row after row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Dump {
    /// Writes the dump as an 8-bit RGB PNG at `path`.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        crate::atomic::write_atomically(path, |file| {
            let mut encoder = png::Encoder::new(
                std::io::BufWriter::new(file),
                u32::try_from(self.width)?,
                u32::try_from(self.height)?,
            );
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::Best);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.rgb)?;
            writer.finish()?;
            Ok(())
        })
    }
}

/// Parses a binary PPM (`P6`, maximum value 255), as QEMU's `screendump` writes it.
pub fn parse_ppm(bytes: &[u8]) -> Result<Dump> {
    let mut at = 0;
    let mut fields = [0usize; 3];
    ensure!(bytes.starts_with(b"P6"), "not a binary PPM (no P6 magic)");
    at += 2;
    for field in &mut fields {
        // Whitespace and `#` comments, then a decimal number.
        loop {
            match bytes.get(at) {
                Some(b) if b.is_ascii_whitespace() => at += 1,
                Some(b'#') => {
                    while bytes.get(at).is_some_and(|b| *b != b'\n') {
                        at += 1;
                    }
                }
                _ => break,
            }
        }
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        *field = std::str::from_utf8(&bytes[start..at])?
            .parse()
            .context("PPM header: a number")?;
    }
    let [width, height, max] = fields;
    ensure!(max == 255, "PPM maximum value {max}, expected 255");
    ensure!(
        bytes.get(at).is_some_and(u8::is_ascii_whitespace),
        "PPM header: no whitespace before the pixels"
    );
    let rgb = bytes[at + 1..].to_vec();
    ensure!(
        rgb.len() == width * height * 3,
        "PPM of {width}x{height} has {} pixel bytes, expected {}",
        rgb.len(),
        width * height * 3
    );
    Ok(Dump { width, height, rgb })
}

/// What a cell shows: a character in a palette colour (on the default black background).
pub type Seen = Option<(char, u8)>;

/// Renders cells as the kernel does, and reads a dump back into text.
pub struct Reader {
    font: Font,
    cols: usize,
    rows: usize,
    /// The pixels (RGB) of every printable ASCII character in every palette colour.
    glyphs: HashMap<Vec<u8>, (char, u8)>,
}

impl Reader {
    /// A reader for a screen of `width` x `height` pixels.
    pub fn new(width: usize, height: usize) -> Reader {
        let font = Font::for_resolution(width, height);
        let (cols, rows) = font.grid_size(width, height);
        let chars: String = (' '..='~').collect();
        let mut glyphs = HashMap::new();
        for colour in 0..16u8 {
            let line = render_line(font, chars.len(), 0, &sgr_text(colour, &chars));
            for (i, c) in chars.chars().enumerate() {
                glyphs
                    .entry(cell_pixels(&line, font, 0, i))
                    .or_insert((c, if c == ' ' { 0 } else { colour }));
            }
        }
        Reader {
            font,
            cols,
            rows,
            glyphs,
        }
    }

    /// The grid: (columns, rows).
    pub fn grid(&self) -> (usize, usize) {
        (self.cols, self.rows)
    }

    /// Every cell of the dump, row by row (`None`: not a glyph of the palette on black, such
    /// as the cursor).
    pub fn read(&self, dump: &Dump) -> Vec<Vec<Seen>> {
        (0..self.rows)
            .map(|r| {
                (0..self.cols)
                    .map(|c| {
                        self.glyphs
                            .get(&cell_pixels(dump, self.font, r, c))
                            .copied()
                    })
                    .collect()
            })
            .collect()
    }

    /// Compares the cells of `e.row` from `e.col` on that `e.text` covers (and, if
    /// `e.to_end`, the rest of the row, which must be blank) with the text rendered in
    /// `e.colour`, skipping the cells in `e.skip`. Names the first cell that differs.
    pub fn compare(&self, dump: &Dump, e: &Expected<'_>) -> Result<()> {
        let len = e.text.chars().count();
        ensure!(
            e.row < self.rows && e.col + len <= self.cols,
            "{:?} does not fit at row {}, column {}",
            e.text,
            e.row,
            e.col
        );
        let sgr = match e.colour {
            Some(c) => sgr_text(c, e.text),
            None => e.text.to_string(),
        };
        let line = render_line(self.font, self.cols, e.col, &sgr);
        let end = if e.to_end { self.cols } else { e.col + len };
        for c in (e.col..end).filter(|c| !e.skip.contains(c)) {
            if cell_pixels(dump, self.font, e.row, c) != cell_pixels(&line, self.font, 0, c) {
                bail!(
                    "row {}, column {c}: the screen's pixels differ from {:?} rendered there",
                    e.row,
                    e.text.chars().nth(c - e.col).unwrap_or(' ')
                );
            }
        }
        Ok(())
    }
}

/// Text expected at a place of the screen.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub row: usize,
    pub col: usize,
    pub text: &'a str,
    /// Its palette colour (`None`: the default).
    pub colour: Option<u8>,
    /// The rest of the row must be blank.
    pub to_end: bool,
    /// Cells not compared (the cursor's).
    pub skip: &'a [usize],
}

impl<'a> Expected<'a> {
    /// `text` in the default colour at (`row`, `col`), the rest of the row not compared.
    pub fn at(row: usize, col: usize, text: &'a str) -> Expected<'a> {
        Expected {
            row,
            col,
            text,
            colour: None,
            to_end: false,
            skip: &[],
        }
    }
}

/// `text` in palette colour `colour` (SGR 38;5;n), then the default again.
fn sgr_text(colour: u8, text: &str) -> String {
    format!("\x1b[38;5;{colour}m{text}\x1b[0m")
}

/// One row of `cols` cells with `text` (escape sequences allowed) from column `col`, rendered
/// as the kernel renders it, without a cursor.
fn render_line(font: Font, cols: usize, col: usize, text: &str) -> Dump {
    let geometry = Geometry::packed(
        cols * font.cell_width(),
        font.cell_height(),
        PixelFormat::XRGB8888,
    )
    .expect("a small surface");
    let mut surface = MemSurface::new(geometry);
    let mut renderer = Renderer::new(font, Palette::VGA);
    let mut terminal = Terminal::new(cols, 1);
    terminal.feed(format!("\x1b[?25l\x1b[1;{}H{text}", col + 1).as_bytes());
    renderer.draw_full(terminal.screen_mut(), &mut surface);
    let (width, height) = (cols * font.cell_width(), font.cell_height());
    let mut rgb = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let p = surface.pixel(x, y).unwrap_or(vt::Rgb::from_u32(0));
            rgb.extend_from_slice(&[p.r, p.g, p.b]);
        }
    }
    Dump { width, height, rgb }
}

/// The RGB bytes of cell (`row`, `col`) of `dump` (empty outside it).
fn cell_pixels(dump: &Dump, font: Font, row: usize, col: usize) -> Vec<u8> {
    let (w, h) = (font.cell_width(), font.cell_height());
    let (x0, y0) = (col * w, row * h);
    if x0 + w > dump.width || y0 + h > dump.height {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(w * h * 3);
    for y in y0..y0 + h {
        let start = (y * dump.width + x0) * 3;
        out.extend_from_slice(&dump.rgb[start..start + w * 3]);
    }
    out
}

/// A row's text (`\u{FFFD}` for unknown cells).
pub fn row_text(row: &[Seen]) -> String {
    row.iter()
        .map(|s| s.map_or('\u{FFFD}', |(c, _)| c))
        .collect()
}

/// The screen as text, one line per row, trailing blanks removed (for reports).
pub fn screen_text(cells: &[Vec<Seen>]) -> String {
    cells
        .iter()
        .map(|r| row_text(r).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A screen rendered as the kernel would: `lines` (with escape sequences) from the top,
    /// the cursor after the last.
    fn screen(width: usize, height: usize, lines: &str) -> Dump {
        let font = Font::for_resolution(width, height);
        let geometry = Geometry::packed(width, height, PixelFormat::XRGB8888).unwrap();
        let mut surface = MemSurface::new(geometry);
        let mut renderer = Renderer::new(font, Palette::VGA);
        let (cols, rows) = renderer.grid_size(&surface);
        let mut t = Terminal::new(cols, rows);
        t.feed(lines.as_bytes());
        renderer.draw_full(t.screen_mut(), &mut surface);
        let mut ppm = format!("P6\n# made by a test\n{width} {height}\n255\n").into_bytes();
        for y in 0..height {
            for x in 0..width {
                let p = surface.pixel(x, y).unwrap();
                ppm.extend_from_slice(&[p.r, p.g, p.b]);
            }
        }
        parse_ppm(&ppm).unwrap()
    }

    #[test]
    fn png_holds_the_dump_pixel_for_pixel() {
        let dump = screen(320, 200, "\x1b[91mERROR\x1b[0m pandagen> ");
        let dir = crate::testutil::TempDir::new("png");
        let path = dir.path().join("screen.png");
        dump.write_png(&path).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!((info.width, info.height), (320, 200));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(&rgb[..info.buffer_size()], dump.rgb.as_slice());
    }

    #[test]
    fn ppm_headers_are_checked() {
        assert!(parse_ppm(b"P5\n1 1\n255\n\0").is_err());
        assert!(parse_ppm(b"P6\n1 1\n65535\n\0\0\0\0\0\0").is_err());
        assert!(parse_ppm(b"P6\n2 1\n255\n\0\0\0").is_err());
        let d = parse_ppm(b"P6 1 1 255\n\x01\x02\x03").unwrap();
        assert_eq!((d.width, d.height, d.rgb), (1, 1, vec![1, 2, 3]));
    }

    #[test]
    fn reads_back_text_and_colours() {
        let d = screen(640, 480, "hello \x1b[91mERROR x\x1b[0m\r\npandagen> ");
        let r = Reader::new(640, 480);
        let cells = r.read(&d);
        assert_eq!(row_text(&cells[0]).trim_end(), "hello ERROR x");
        assert_eq!(cells[0][6], Some(('E', 9)));
        assert_eq!(cells[0][0], Some(('h', 7)));
        // The cursor cell is inverted: not a known glyph.
        assert_eq!(row_text(&cells[1]).trim_end(), "pandagen> \u{FFFD}");
        let prompt = Expected {
            to_end: true,
            skip: &[10],
            ..Expected::at(1, 0, "pandagen> ")
        };
        r.compare(&d, &prompt).unwrap();
        r.compare(
            &d,
            &Expected {
                colour: Some(9),
                ..Expected::at(0, 6, "ERROR x")
            },
        )
        .unwrap();
    }

    #[test]
    fn differences_are_found() {
        let d = screen(640, 480, "pandagen> x\r\n");
        let r = Reader::new(640, 480);
        let whole_row = Expected {
            to_end: true,
            ..Expected::at(0, 0, "pandagen> ")
        };
        let e = r.compare(&d, &whole_row).unwrap_err();
        assert!(e.to_string().contains("column 10"), "{e}");
        // The same text in another colour, or one cell to the right.
        let red = Expected {
            colour: Some(9),
            ..Expected::at(0, 0, "pandagen>")
        };
        assert!(r.compare(&d, &red).is_err());
        assert!(r.compare(&d, &Expected::at(0, 1, "pandagen>")).is_err());
        assert!(r.compare(&d, &Expected::at(0, 0, "pandagen>")).is_ok());
    }
}
