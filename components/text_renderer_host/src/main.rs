//! `text_renderer_host`: the component that owns the screen. It takes the boot framebuffer
//! over from the kernel (FRAMEBUFFER_MAP), draws it through a shadow copy of the same size
//! (one MEMORY_GROW, so a scroll never reads video memory) with `vt` at the font size the resolution calls for, and
//! then draws what the kernel hands it (SCREEN_READ): first the screen as the kernel showed
//! it, then the kernel's log lines and the console's output. When it ends, the kernel takes
//! the screen back.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use runtime::screen::{self, Mapped};
use vt::{Channel, Font, Geometry, Palette, PixelFormat, Renderer, ShadowedSlices};
use vt::{Surface as _, SurfaceError, Terminal};

runtime::entry!(main);

const NAME: &str = "text_renderer_host";

/// Bytes taken from the kernel in one SCREEN_READ; reads go on (up to [`BATCH`]) before a
/// draw, so a burst of lines scrolls the pixels once.
const READ: usize = 4096;
/// The most bytes fed to the terminal between two draws.
const BATCH: usize = 64 * 1024;

fn main() -> i32 {
    // It depends on nothing: its few lines go to the kernel's log (and so to its screen).
    runtime::log_to_kernel_only();
    let fb = match screen::framebuffer_map() {
        Ok(fb) => fb,
        Err(e) => {
            runtime::error!("{NAME}: FRAMEBUFFER_MAP failed: {e}");
            return 1;
        }
    };
    let (width, height) = (fb.info.width, fb.info.height);
    let geometry = match geometry(&fb) {
        Ok(g) => g,
        Err(e) => {
            runtime::error!("{NAME}: the {width}x{height} framebuffer cannot be drawn: {e:?}");
            return 1;
        }
    };
    let shadow = match runtime::memory_grow_slice(geometry.byte_len()) {
        Ok(s) => s,
        Err(e) => {
            runtime::error!("{NAME}: no memory for the shadow copy: {e}");
            return 1;
        }
    };
    let mut surface = match ShadowedSlices::new(fb.bytes, Some(shadow), geometry) {
        Ok(s) => s,
        Err(e) => {
            runtime::error!("{NAME}: the {width}x{height} framebuffer cannot be drawn: {e:?}");
            return 1;
        }
    };
    let font = Font::for_resolution(surface.width(), surface.height());
    let mut renderer = Renderer::new(font, Palette::VGA);
    let (cols, rows) = renderer.grid_size(&surface);
    let mut terminal = Terminal::new(cols, rows);
    // The kernel's screen (its replay) first, then one full draw.
    let mut buf = [0u8; READ];
    if feed(&mut terminal, &mut buf).is_err() {
        return 1;
    }
    renderer.draw_full(terminal.screen_mut(), &mut surface);
    runtime::info!(
        "{NAME}: {width}x{height} framebuffer, {cols}x{rows} cells of {}x{} px",
        font.cell_width(),
        font.cell_height()
    );
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    loop {
        match feed(&mut terminal, &mut buf) {
            Ok(0) => runtime::yield_now(),
            Ok(_) => renderer.flush(terminal.screen_mut(), &mut surface),
            Err(()) => return 1,
        }
    }
}

/// The framebuffer's layout, as FRAMEBUFFER_MAP described it.
fn geometry(fb: &Mapped) -> Result<Geometry, SurfaceError> {
    let i = fb.info;
    let channel = |(size, shift): (u8, u8)| Channel { size, shift };
    let [r, g, b] = i.rgb();
    let bpp = u16::try_from(i.bpp).map_err(|_| SurfaceError::UnsupportedBpp(u16::MAX))?;
    let format = PixelFormat::new(bpp, channel(r), channel(g), channel(b))?;
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    Geometry::new(size(i.width), size(i.height), size(i.pitch), format)
}

/// Feeds the terminal what the kernel has for it, up to [`BATCH`] bytes; returns how many.
fn feed(terminal: &mut Terminal, buf: &mut [u8; READ]) -> Result<usize, ()> {
    let mut total = 0;
    while total < BATCH {
        match screen::read(buf) {
            Ok(0) => break,
            Ok(n) => {
                terminal.feed(&buf[..n]);
                total += n;
            }
            Err(e) => {
                runtime::error!("{NAME}: SCREEN_READ failed: {e}");
                return Err(());
            }
        }
    }
    Ok(total)
}
