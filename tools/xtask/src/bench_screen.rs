//! `cargo xtask bench screen`: what the screen's text costs to draw with `vt`, as the kernel and
//! `text_renderer_host` draw it (a shadow copy in RAM in front of the framebuffer, which is plain
//! memory here): a full screen of text, and one line scrolled in at the bottom of a full screen,
//! at 1024x768, 1280x800 (OVMF's default mode) and 3840x2160. Prints numbers; asserts nothing.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use vt::{Font, Geometry, MemSurface, Palette, PixelFormat, Renderer, Shadowed, Terminal};

/// Resolutions measured.
const MODES: [(usize, usize); 3] = [(1024, 768), (1280, 800), (3840, 2160)];
/// Repetitions of each measurement; the median is reported.
const FULL_RUNS: usize = 30;
const SCROLL_RUNS: usize = 200;

/// One line of log-like text, `cols` wide, different per `n` (coloured every fourth line).
fn text_line(n: usize, cols: usize) -> Vec<u8> {
    let words = "[    0.412345] INFO  devices: virtio-blk 00:04.0: 8192 blocks of 512 bytes ";
    let body: String = words.chars().cycle().skip(n % 17).take(cols - 1).collect();
    let coloured = n.is_multiple_of(4);
    let mut line = Vec::new();
    if coloured {
        line.extend_from_slice(b"\x1b[93m");
    }
    line.extend_from_slice(body.as_bytes());
    if coloured {
        line.extend_from_slice(b"\x1b[0m");
    }
    line.extend_from_slice(b"\r\n");
    line
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Full-screen and scroll medians at `width` x `height`.
fn measure(width: usize, height: usize) -> Result<String> {
    let geometry = Geometry::packed(width, height, PixelFormat::XRGB8888)
        .map_err(|e| anyhow!("{width}x{height}: {e:?}"))?;
    let mut surface =
        Shadowed::new(MemSurface::new(geometry)).map_err(|e| anyhow!("{width}x{height}: {e:?}"))?;
    let font = Font::for_resolution(width, height);
    let mut renderer = Renderer::new(font, Palette::VGA);
    let (cols, rows) = renderer.grid_size(&surface);
    let mut terminal = Terminal::new(cols, rows);
    let mut full = Vec::new();
    for run in 0..FULL_RUNS {
        // A screen of new text: every cell changes, as after a clear and a full redraw.
        terminal.feed(b"\x1b[2J\x1b[H");
        for n in 0..rows - 1 {
            terminal.feed(&text_line(n + run, cols));
        }
        let start = Instant::now();
        renderer.draw_full(terminal.screen_mut(), &mut surface);
        full.push(start.elapsed());
    }
    let mut scroll = Vec::new();
    for n in 0..SCROLL_RUNS {
        // The screen is full: each line moves every pixel row up by one text row.
        let start = Instant::now();
        terminal.feed(&text_line(n, cols));
        renderer.flush(terminal.screen_mut(), &mut surface);
        scroll.push(start.elapsed());
    }
    Ok(format!(
        "bench: screen {width}x{height} ({cols}x{rows} cells, font {:?}): full screen of text {:.2} ms, one line scrolled in {:.3} ms (medians of {FULL_RUNS} and {SCROLL_RUNS})",
        font.size(),
        ms(median(full)),
        ms(median(scroll))
    ))
}

/// Prints one line per resolution.
pub fn run() -> Result<()> {
    for (width, height) in MODES {
        println!("{}", measure(width, height)?);
    }
    Ok(())
}
