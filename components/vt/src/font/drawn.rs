//! Box-drawing characters and block elements, drawn from their description at the cell's size
//! instead of taken from the raster (the raster has none): lines always meet their neighbours'
//! lines at the cell edges, and blocks fill the cell exactly.

/// The weight of one arm of a box-drawing character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Weight {
    None,
    Light,
    Heavy,
    Double,
}

use Weight::{Double as D, Heavy as H, Light as L, None as N};

/// A drawn glyph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drawn {
    /// Lines from the centre to the edges: arms up, down, left, right.
    Lines([Weight; 4]),
    /// A filled rectangle given in eighths of the cell: x from, x to, y from, y to.
    Rect([usize; 4]),
    /// Filled quadrants: bit 0 upper left, 1 upper right, 2 lower left, 3 lower right.
    Quadrants(u8),
    /// The whole cell at one coverage (the shades ░ ▒ ▓).
    Shade(u8),
}

/// The drawn glyph for `c`, if it is one of the supported box-drawing or block characters.
pub(super) fn lookup(c: char) -> Option<Drawn> {
    match u32::from(c) {
        0x2500..=0x257F => lines(c).map(Drawn::Lines),
        0x2580..=0x259F => Some(block(c)),
        _ => None,
    }
}

/// The arms (up, down, left, right) of the supported box-drawing characters. Dashed lines are
/// drawn solid and rounded corners square; mixed light/heavy/double junctions are not drawn.
fn lines(c: char) -> Option<[Weight; 4]> {
    Some(match c {
        '─' | '┄' | '┈' | '╌' => [N, N, L, L],
        '━' | '┅' | '┉' | '╍' => [N, N, H, H],
        '│' | '┆' | '┊' | '╎' => [L, L, N, N],
        '┃' | '┇' | '┋' | '╏' => [H, H, N, N],
        '┌' | '╭' => [N, L, N, L],
        '┐' | '╮' => [N, L, L, N],
        '└' | '╰' => [L, N, N, L],
        '┘' | '╯' => [L, N, L, N],
        '├' => [L, L, N, L],
        '┤' => [L, L, L, N],
        '┬' => [N, L, L, L],
        '┴' => [L, N, L, L],
        '┼' => [L, L, L, L],
        '┏' => [N, H, N, H],
        '┓' => [N, H, H, N],
        '┗' => [H, N, N, H],
        '┛' => [H, N, H, N],
        '┣' => [H, H, N, H],
        '┫' => [H, H, H, N],
        '┳' => [N, H, H, H],
        '┻' => [H, N, H, H],
        '╋' => [H, H, H, H],
        '═' => [N, N, D, D],
        '║' => [D, D, N, N],
        '╔' => [N, D, N, D],
        '╗' => [N, D, D, N],
        '╚' => [D, N, N, D],
        '╝' => [D, N, D, N],
        '╠' => [D, D, N, D],
        '╣' => [D, D, D, N],
        '╦' => [N, D, D, D],
        '╩' => [D, N, D, D],
        '╬' => [D, D, D, D],
        '╴' => [N, N, L, N],
        '╵' => [L, N, N, N],
        '╶' => [N, N, N, L],
        '╷' => [N, L, N, N],
        '╸' => [N, N, H, N],
        '╹' => [H, N, N, N],
        '╺' => [N, N, N, H],
        '╻' => [N, H, N, N],
        _ => return None,
    })
}

/// The block elements U+2580-U+259F (all of them).
fn block(c: char) -> Drawn {
    let code = u32::from(c);
    match code {
        // ▀ upper half.
        0x2580 => Drawn::Rect([0, 8, 0, 4]),
        // ▁ to █: lower one to eight eighths.
        0x2581..=0x2588 => Drawn::Rect([0, 8, 8 - eighths(code - 0x2580), 8]),
        // ▉ to ▏: left seven eighths down to one eighth.
        0x2589..=0x258F => Drawn::Rect([0, eighths(0x2590 - code), 0, 8]),
        // ▐ right half.
        0x2590 => Drawn::Rect([4, 8, 0, 8]),
        0x2591 => Drawn::Shade(64),
        0x2592 => Drawn::Shade(128),
        0x2593 => Drawn::Shade(192),
        // ▔ upper eighth, ▕ right eighth.
        0x2594 => Drawn::Rect([0, 8, 0, 1]),
        0x2595 => Drawn::Rect([7, 8, 0, 8]),
        // ▖ ▗ ▘ ▙ ▚ ▛ ▜ ▝ ▞ ▟
        0x2596 => Drawn::Quadrants(0b0100),
        0x2597 => Drawn::Quadrants(0b1000),
        0x2598 => Drawn::Quadrants(0b0001),
        0x2599 => Drawn::Quadrants(0b1101),
        0x259A => Drawn::Quadrants(0b1001),
        0x259B => Drawn::Quadrants(0b0111),
        0x259C => Drawn::Quadrants(0b1011),
        0x259D => Drawn::Quadrants(0b0010),
        0x259E => Drawn::Quadrants(0b0110),
        _ => Drawn::Quadrants(0b1110),
    }
}

/// A count of eighths (at most 8 for the ranges above).
fn eighths(n: u32) -> usize {
    n.min(8) as usize
}

/// The pixels `[start, end)` of a stroke `thickness` wide centred on `centre`.
fn band(centre: usize, thickness: usize) -> (usize, usize) {
    let start = centre.saturating_sub(thickness / 2);
    (start, start + thickness)
}

fn inside(v: usize, (start, end): (usize, usize)) -> bool {
    start <= v && v < end
}

/// Stroke sizes for a cell `width` pixels wide.
struct Strokes {
    light: usize,
}

impl Strokes {
    fn new(width: usize) -> Strokes {
        Strokes {
            light: (width / 10).max(1),
        }
    }

    /// Thickness of a stroke (for a double line: both lines and the gap between them).
    fn thickness(&self, weight: Weight) -> usize {
        match weight {
            Weight::None => 0,
            Weight::Light => self.light,
            Weight::Heavy => 2 * self.light + 1,
            Weight::Double => 3 * self.light,
        }
    }
}

impl Drawn {
    /// Coverage of pixel (`x`, `y`) in a `width` x `height` cell.
    pub(super) fn coverage(&self, x: usize, y: usize, width: usize, height: usize) -> u8 {
        let on = match *self {
            Drawn::Lines(arms) => lines_cover(arms, x, y, width, height),
            Drawn::Rect([x0, x1, y0, y1]) => {
                x0 * width <= 8 * x
                    && 8 * x < x1 * width
                    && y0 * height <= 8 * y
                    && 8 * y < y1 * height
            }
            Drawn::Quadrants(bits) => {
                let right = 2 * x >= width;
                let lower = 2 * y >= height;
                let bit = usize::from(right) + 2 * usize::from(lower);
                bits & (1 << bit) != 0
            }
            Drawn::Shade(level) => return level,
        };
        if on {
            255
        } else {
            0
        }
    }
}

/// Whether the arms cover pixel (`x`, `y`). Each arm is a stroke from the cell edge through the
/// centre, as far as the far side of the thickest perpendicular stroke, so corners close. Double
/// lines are the thick stroke minus the gap strokes (also running through the centre), which
/// leaves the inner corners open the way they should be.
fn lines_cover(arms: [Weight; 4], x: usize, y: usize, width: usize, height: usize) -> bool {
    let strokes = Strokes::new(width);
    let widest = arms.iter().copied().max().unwrap_or(Weight::None);
    let thickness = |w: Weight| strokes.thickness(w);
    let solid = arms_cover(arms.map(thickness), thickness(widest), x, y, width, height);
    if widest != Weight::Double {
        return solid;
    }
    let gap = arms.map(|w| {
        if w == Weight::Double {
            strokes.light
        } else {
            0
        }
    });
    solid && !arms_cover(gap, strokes.light, x, y, width, height)
}

/// Whether arms of these thicknesses (up, down, left, right; 0 = no arm) cover (`x`, `y`), each
/// reaching across the centre over a stroke of `reach` pixels.
fn arms_cover(
    arms: [usize; 4],
    reach: usize,
    x: usize,
    y: usize,
    width: usize,
    height: usize,
) -> bool {
    let (cx, cy) = (width / 2, height / 2);
    let [up, down, left, right] = arms;
    let across_x = band(cx, reach);
    let across_y = band(cy, reach);
    let vertical = |t: usize| t > 0 && inside(x, band(cx, t));
    let horizontal = |t: usize| t > 0 && inside(y, band(cy, t));
    (vertical(up) && y < across_y.1)
        || (vertical(down) && y >= across_y.0)
        || (horizontal(left) && x < across_x.1)
        || (horizontal(right) && x >= across_x.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// The glyph as text, `#` for covered pixels.
    fn picture(c: char, width: usize, height: usize) -> Vec<String> {
        let drawn = lookup(c).unwrap();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| {
                        if drawn.coverage(x, y, width, height) == 255 {
                            '#'
                        } else {
                            '.'
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn light_corner() {
        assert_eq!(
            picture('┌', 7, 8),
            [
                ".......", ".......", ".......", ".......", "...####", "...#...", "...#...",
                "...#..."
            ]
        );
    }

    #[test]
    fn double_corner_and_cross() {
        assert_eq!(
            picture('╔', 7, 8),
            [
                ".......", ".......", ".......", "..#####", "..#....", "..#.###", "..#.#..",
                "..#.#.."
            ]
        );
        assert_eq!(
            picture('╬', 7, 8),
            [
                "..#.#..", "..#.#..", "..#.#..", "###.###", ".......", "###.###", "..#.#..",
                "..#.#.."
            ]
        );
    }

    #[test]
    fn lines_reach_the_edges() {
        // Horizontal lines of neighbouring cells meet: the left and right columns are covered
        // on the same rows.
        for c in ['─', '━', '═', '┼', '╋', '╬'] {
            for (w, h) in [(7, 16), (11, 24), (14, 32), (22, 48), (28, 64)] {
                let p = picture(c, w, h);
                let left: Vec<bool> = p.iter().map(|r| r.starts_with('#')).collect();
                let right: Vec<bool> = p.iter().map(|r| r.ends_with('#')).collect();
                assert_eq!(left, right, "{c} {w}x{h}");
                assert!(left.contains(&true));
            }
        }
    }

    #[test]
    fn blocks() {
        assert_eq!(picture('▀', 2, 4), ["##", "##", "..", ".."]);
        assert_eq!(picture('▄', 2, 4), ["..", "..", "##", "##"]);
        assert_eq!(picture('█', 2, 2), ["##", "##"]);
        assert_eq!(picture('▌', 4, 1), ["##.."]);
        assert_eq!(picture('▐', 4, 1), ["..##"]);
        assert_eq!(picture('▁', 1, 8), [".", ".", ".", ".", ".", ".", ".", "#"]);
        assert_eq!(picture('▏', 8, 1), ["#......."]);
        assert_eq!(picture('▚', 2, 2), ["#.", ".#"]);
        assert_eq!(picture('▟', 2, 2), [".#", "##"]);
        assert_eq!(lookup('▒').unwrap().coverage(0, 0, 7, 16), 128);
        assert_eq!(lookup('a'), None);
        assert_eq!(lookup('╱'), None);
    }

    #[test]
    fn every_drawn_character_stays_in_bounds() {
        for code in 0x2500..=0x259F {
            let Some(drawn) = char::from_u32(code).and_then(lookup) else {
                continue;
            };
            for (w, h) in [(0, 0), (1, 1), (7, 16), (28, 64)] {
                for y in 0..h + 2 {
                    for x in 0..w + 2 {
                        let _ = drawn.coverage(x, y, w, h);
                    }
                }
            }
        }
    }
}
