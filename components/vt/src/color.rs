//! Colours: 24-bit RGB values, the 16-colour palette that cells index, and the blending of a
//! glyph's coverage between background and foreground.

/// A colour as 8-bit red, green and blue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red, 0 to 255.
    pub r: u8,
    /// Green, 0 to 255.
    pub g: u8,
    /// Blue, 0 to 255.
    pub b: u8,
}

impl Rgb {
    /// The colour `0xRRGGBB`.
    pub const fn from_u32(rgb: u32) -> Self {
        Rgb {
            r: (rgb >> 16) as u8,
            g: (rgb >> 8) as u8,
            b: rgb as u8,
        }
    }

    /// The colour a pixel gets when a glyph covers `coverage`/255 of it: `fg` over `bg`, each
    /// channel `(bg * (255 - coverage) + fg * coverage + 127) / 255` (rounded to nearest). So
    /// coverage 0 is exactly `bg` and 255 exactly `fg`.
    pub fn blend(bg: Rgb, fg: Rgb, coverage: u8) -> Rgb {
        Rgb {
            r: blend_channel(bg.r, fg.r, coverage),
            g: blend_channel(bg.g, fg.g, coverage),
            b: blend_channel(bg.b, fg.b, coverage),
        }
    }
}

fn blend_channel(bg: u8, fg: u8, coverage: u8) -> u8 {
    let a = u32::from(coverage);
    let mixed = (u32::from(bg) * (255 - a) + u32::from(fg) * a + 127) / 255;
    // The weighted mean of two bytes is a byte.
    mixed as u8
}

/// How many colours a [`Palette`] has (and so the range of a cell's colour indices).
pub const PALETTE_LEN: usize = 16;

/// Index of the default foreground colour (SGR 39): light grey.
pub const DEFAULT_FG: u8 = 7;

/// Index of the default background colour (SGR 49): black.
pub const DEFAULT_BG: u8 = 0;

/// The 16 colours cells can have, in ANSI order: 0-7 are the normal colours of SGR 30-37 / 40-47
/// (black, red, green, yellow, blue, magenta, cyan, white), 8-15 their bright variants of
/// SGR 90-97 / 100-107.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette(pub [Rgb; PALETTE_LEN]);

impl Palette {
    /// The IBM VGA text-mode colours (what a PC console has always shown), in ANSI order:
    ///
    /// | index | colour        | RGB      | index | colour         | RGB      |
    /// |-------|---------------|----------|-------|----------------|----------|
    /// | 0     | black         | `000000` | 8     | dark grey      | `555555` |
    /// | 1     | red           | `AA0000` | 9     | bright red     | `FF5555` |
    /// | 2     | green         | `00AA00` | 10    | bright green   | `55FF55` |
    /// | 3     | yellow/brown  | `AA5500` | 11    | bright yellow  | `FFFF55` |
    /// | 4     | blue          | `0000AA` | 12    | bright blue    | `5555FF` |
    /// | 5     | magenta       | `AA00AA` | 13    | bright magenta | `FF55FF` |
    /// | 6     | cyan          | `00AAAA` | 14    | bright cyan    | `55FFFF` |
    /// | 7     | light grey    | `AAAAAA` | 15    | white          | `FFFFFF` |
    pub const VGA: Palette = Palette([
        Rgb::from_u32(0x000000),
        Rgb::from_u32(0xAA0000),
        Rgb::from_u32(0x00AA00),
        Rgb::from_u32(0xAA5500),
        Rgb::from_u32(0x0000AA),
        Rgb::from_u32(0xAA00AA),
        Rgb::from_u32(0x00AAAA),
        Rgb::from_u32(0xAAAAAA),
        Rgb::from_u32(0x555555),
        Rgb::from_u32(0xFF5555),
        Rgb::from_u32(0x55FF55),
        Rgb::from_u32(0xFFFF55),
        Rgb::from_u32(0x5555FF),
        Rgb::from_u32(0xFF55FF),
        Rgb::from_u32(0x55FFFF),
        Rgb::from_u32(0xFFFFFF),
    ]);

    /// The colour of index `index`, taken modulo [`PALETTE_LEN`] (cells only hold valid
    /// indices; this keeps any other value from panicking).
    pub fn get(&self, index: u8) -> Rgb {
        self.0[usize::from(index) % PALETTE_LEN]
    }
}

impl Default for Palette {
    fn default() -> Self {
        Palette::VGA
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_ends_are_exact() {
        let bg = Rgb::from_u32(0x102030);
        let fg = Rgb::from_u32(0xF0E0D0);
        assert_eq!(Rgb::blend(bg, fg, 0), bg);
        assert_eq!(Rgb::blend(bg, fg, 255), fg);
    }

    #[test]
    fn blend_midpoint_rounds() {
        let mid = Rgb::blend(Rgb::from_u32(0x000000), Rgb::from_u32(0xFFFFFF), 128);
        assert_eq!(mid, Rgb::from_u32(0x808080));
        // Reversed direction gives the complement.
        let mid = Rgb::blend(Rgb::from_u32(0xFFFFFF), Rgb::from_u32(0x000000), 128);
        assert_eq!(mid, Rgb::from_u32(0x7F7F7F));
    }

    #[test]
    fn palette_wraps_out_of_range_indices() {
        assert_eq!(Palette::VGA.get(16), Palette::VGA.get(0));
        assert_eq!(Palette::VGA.get(DEFAULT_FG), Rgb::from_u32(0xAAAAAA));
        assert_eq!(Palette::default(), Palette::VGA);
    }
}
