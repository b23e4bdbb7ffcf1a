//! The boot step that brings up the screen: checks the boot loader's framebuffer, takes it and
//! a shadow copy from `memory`, hands them to `crate::screen` and registers the screen as the
//! log's mirror (which replays the lines logged so far). Without a usable framebuffer the
//! console and the log stay on serial only.

use core::fmt;

use bootproto::memmap;
use vt::{Channel, Geometry, PixelFormat, SurfaceError};

use super::info::FramebufferInfo;
use crate::memory::framebuffer::{self as fbmem, FramebufferMemoryError};
use crate::{klog, screen};

/// Why the framebuffer cannot be drawn on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScreenError {
    /// The memory model is not RGB.
    NotRgb,
    /// The dimensions do not fit in memory.
    TooLarge,
    /// The pixel format or layout is not one `vt` draws (bpp, channels, pitch).
    Format(SurfaceError),
    /// The framebuffer's memory is not what the memory map and page tables say it must be.
    Memory(FramebufferMemoryError),
}

impl fmt::Display for ScreenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRgb => write!(f, "its memory model is not RGB"),
            Self::TooLarge => write!(f, "its size does not fit in memory"),
            Self::Format(SurfaceError::UnsupportedBpp(bpp)) => {
                write!(f, "{bpp} bits per pixel are not supported (24 or 32 are)")
            }
            Self::Format(e) => write!(f, "its pixel layout is not supported: {e:?}"),
            Self::Memory(e) => write!(f, "{e}"),
        }
    }
}

/// Brings up the screen on `fb` (if any); logs what it set up, or why not.
pub fn bring_up(fb: Option<FramebufferInfo>, map: &[memmap::Entry]) {
    let Some(fb) = fb else {
        klog::no_mirror();
        log::info!("no framebuffer: the console and the log stay on serial only");
        return;
    };
    match take(&fb, map) {
        Ok(grid) => {
            klog::set_mirror(klog::Mirror {
                line: screen::log_line,
                emergency: screen::emergency,
            });
            log::info!(
                "{}x{} framebuffer, {}x{} cells of {}x{} px, {}",
                fb.width,
                fb.height,
                grid.cols,
                grid.rows,
                grid.cell_width,
                grid.cell_height,
                if grid.shadowed {
                    "drawn through a shadow copy in RAM"
                } else {
                    "drawn directly (no RAM for a shadow copy)"
                }
            );
        }
        Err(e) => {
            klog::no_mirror();
            log::warn!(
                "the {}x{} framebuffer ({} bpp) cannot be used: {e}; the console and the log stay on serial only",
                fb.width,
                fb.height,
                fb.bpp
            );
        }
    }
}

/// Logs what drawing the screen has cost so far (at the end of the boot).
pub fn report() {
    if let Some(stats) = screen::stats() {
        log::info!("{stats}");
    }
}

/// Checks `fb`, takes its memory and a shadow copy, and starts the screen on them.
fn take(fb: &FramebufferInfo, map: &[memmap::Entry]) -> Result<screen::Grid, ScreenError> {
    if !fb.rgb {
        return Err(ScreenError::NotRgb);
    }
    let channel = |(size, shift): (u8, u8)| Channel { size, shift };
    let format = PixelFormat::new(fb.bpp, channel(fb.red), channel(fb.green), channel(fb.blue))
        .map_err(ScreenError::Format)?;
    let size = |v: u64| usize::try_from(v).map_err(|_| ScreenError::TooLarge);
    let geometry = Geometry::new(size(fb.width)?, size(fb.height)?, size(fb.pitch)?, format)
        .map_err(ScreenError::Format)?;
    let len = geometry.byte_len();
    let front = fbmem::framebuffer_bytes(map, fb.addr, len as u64).map_err(ScreenError::Memory)?;
    let described = abi::screen::Framebuffer {
        // Checked to be mapped just above.
        addr: crate::memory::paging::translate(fb.addr).map_or(0, |m| m.phys),
        width: fb.width,
        height: fb.height,
        pitch: fb.pitch,
        bpp: u64::from(fb.bpp),
        channels: abi::screen::Framebuffer::pack_channels([fb.red, fb.green, fb.blue]),
    };
    let shadow = fbmem::permanent_bytes(len);
    screen::init(front, shadow, geometry, described).map_err(ScreenError::Format)
}
