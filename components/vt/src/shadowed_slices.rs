//! A framebuffer as a [`Surface`] drawn through a shadow copy in RAM of the same layout, both
//! borrowed byte slices (so a scroll moves RAM and writes the rows out once, never reading
//! video memory), or directly when there is no copy. What the kernel draws its screen on, and
//! `text_renderer_host` after it; unlike [`crate::Shadowed`] it allocates nothing.

use crate::surface::{Geometry, Pixel, PixelFormat, SliceSurface, Surface, SurfaceError};

/// A framebuffer and its optional shadow, both laid out as `geometry` says.
#[derive(Debug)]
pub struct ShadowedSlices<'a> {
    front: &'a mut [u8],
    shadow: Option<&'a mut [u8]>,
    geometry: Geometry,
    format: PixelFormat,
    width: usize,
    height: usize,
}

impl<'a> ShadowedSlices<'a> {
    /// A surface over `front` laid out as `geometry` says, drawn through `shadow` (as many
    /// bytes, zeroed) if given. The front is assumed black like the shadow: draw everything
    /// once.
    pub fn new(
        front: &'a mut [u8],
        mut shadow: Option<&'a mut [u8]>,
        geometry: Geometry,
    ) -> Result<ShadowedSlices<'a>, SurfaceError> {
        let (width, height, format) = {
            let s = SliceSurface::new(&mut *front, geometry)?;
            (s.width(), s.height(), s.format())
        };
        if let Some(s) = shadow.as_deref_mut() {
            SliceSurface::new(s, geometry)?;
        }
        Ok(ShadowedSlices {
            front,
            shadow,
            geometry,
            format,
            width,
            height,
        })
    }

    /// Makes the front all black (zero bytes), as the shadow starts.
    pub fn clear_front(&mut self) {
        self.front.fill(0);
    }

    /// The framebuffer's length in bytes.
    pub fn front_len(&self) -> usize {
        self.front.len()
    }

    /// Whether drawing goes through a copy in RAM.
    pub fn shadowed(&self) -> bool {
        self.shadow.is_some()
    }

    /// Runs `f` on the shadow (if any) and the front, each as a [`SliceSurface`].
    fn both(&mut self, mut f: impl FnMut(&mut SliceSurface<'_>)) {
        let g = self.geometry;
        if let Some(s) = self.shadow.as_deref_mut() {
            if let Ok(mut s) = SliceSurface::new(s, g) {
                f(&mut s);
            }
        }
        if let Ok(mut front) = SliceSurface::new(self.front, g) {
            f(&mut front);
        }
    }
}

impl Surface for ShadowedSlices<'_> {
    fn width(&self) -> usize {
        self.width
    }

    fn height(&self) -> usize {
        self.height
    }

    fn format(&self) -> PixelFormat {
        self.format
    }

    fn write_pixels(&mut self, x: usize, y: usize, pixels: &[u8]) {
        self.both(|s| s.write_pixels(x, y, pixels));
    }

    fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, pixel: Pixel) {
        self.both(|s| s.fill_rect(x, y, w, h, pixel));
    }

    fn copy_rows(&mut self, src_y: usize, dst_y: usize, count: usize) {
        let g = self.geometry;
        let Some(shadow) = self.shadow.as_deref_mut() else {
            if let Ok(mut front) = SliceSurface::new(self.front, g) {
                front.copy_rows(src_y, dst_y, count);
            }
            return;
        };
        if let Ok(mut s) = SliceSurface::new(shadow, g) {
            s.copy_rows(src_y, dst_y, count);
        }
        // The moved rows, from the shadow to the front (same layout: one copy).
        let count = count
            .min(self.height.saturating_sub(src_y))
            .min(self.height.saturating_sub(dst_y));
        let (start, end) = (dst_y * g.pitch(), (dst_y + count) * g.pitch());
        if let (Some(from), Some(to)) = (shadow.get(start..end), self.front.get_mut(start..end)) {
            to.copy_from_slice(from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemSurface, Rgb};
    use alloc::boxed::Box;
    use alloc::vec;

    fn leaked(len: usize) -> &'static mut [u8] {
        Box::leak(vec![0u8; len].into_boxed_slice())
    }

    /// The same drawing on a plain memory surface and on the framebuffer surface, with and
    /// without a shadow, with a pitch wider than a row: the same pixels, shadow and front alike.
    #[test]
    fn draws_like_a_memory_surface() {
        let format = PixelFormat::XRGB8888;
        let geometry = Geometry::new(5, 6, 24, format).unwrap();
        let red = format.encode(Rgb::from_u32(0xFF0000));
        let draw = |s: &mut dyn Surface| {
            s.fill_rect(0, 1, 5, 3, red);
            s.write_pixels(2, 4, &[7; 8]);
            s.copy_rows(1, 0, 5);
            s.copy_rows(0, 2, 9);
        };
        let mut expected = MemSurface::new(geometry);
        draw(&mut expected);
        for shadowed in [true, false] {
            let shadow = shadowed.then(|| leaked(geometry.byte_len()));
            let mut fb =
                ShadowedSlices::new(leaked(geometry.byte_len()), shadow, geometry).unwrap();
            assert_eq!(fb.shadowed(), shadowed);
            assert_eq!(fb.front_len(), geometry.byte_len());
            draw(&mut fb);
            for (y, want) in (0..6).map(|y| (y, expected.row_bytes(y).unwrap())) {
                let row = y * 24..y * 24 + 20;
                assert_eq!(&fb.front[row.clone()], want, "front row {y}");
                if let Some(s) = &fb.shadow {
                    assert_eq!(&s[row], want, "shadow row {y}");
                }
            }
        }
    }

    #[test]
    fn clearing_makes_the_front_black() {
        let geometry = Geometry::packed(2, 2, PixelFormat::XBGR8888).unwrap();
        let front = Box::leak(vec![0xAAu8; 16].into_boxed_slice());
        let mut fb = ShadowedSlices::new(front, None, geometry).unwrap();
        fb.clear_front();
        assert!(fb.front.iter().all(|b| *b == 0));
    }

    #[test]
    fn short_buffers_are_refused() {
        let geometry = Geometry::packed(4, 4, PixelFormat::XRGB8888).unwrap();
        assert!(ShadowedSlices::new(leaked(63), None, geometry).is_err());
        assert!(ShadowedSlices::new(leaked(64), Some(leaked(10)), geometry).is_err());
    }
}
