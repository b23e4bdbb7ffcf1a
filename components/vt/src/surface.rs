//! Where pixels go: the framebuffer's [`PixelFormat`] (as the boot loader describes it: bits per
//! pixel and a size and shift for each colour channel), the [`Surface`] trait the renderer draws
//! on, and two surfaces over plain memory: [`SliceSurface`] (a borrowed buffer, such as the
//! mapped framebuffer) and [`MemSurface`] (an owned one, for tests and benchmarks).

use alloc::vec;
use alloc::vec::Vec;

use crate::color::Rgb;

/// Where one colour channel sits in a pixel: `size` bits starting at bit `shift` of the
/// little-endian pixel value (Limine's `*_mask_size` / `*_mask_shift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    /// Number of bits, 1 to 8.
    pub size: u8,
    /// Position of the lowest bit.
    pub shift: u8,
}

impl Channel {
    /// `value` (0-255) reduced to this channel's bits, in place in the pixel value.
    fn encode(self, value: u8) -> u32 {
        u32::from(value >> (8 - self.size)) << self.shift
    }

    /// This channel's bits of `pixel`, scaled back to 0-255 (the high bits repeated into the
    /// low ones, so a full channel gives 255).
    fn decode(self, pixel: u32) -> u8 {
        let max = (1u32 << self.size) - 1;
        let bits = (pixel >> self.shift) & max;
        // At most 255 since bits <= max.
        (bits * 255 / max) as u8
    }
}

/// Which channel a [`SurfaceError::BadChannel`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelName {
    /// Red.
    Red,
    /// Green.
    Green,
    /// Blue.
    Blue,
}

/// Why a framebuffer description cannot be drawn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceError {
    /// Only 24 and 32 bits per pixel are supported.
    UnsupportedBpp(u16),
    /// A channel has a size of 0 or more than 8 bits, or does not fit in the pixel.
    BadChannel(ChannelName),
    /// The pitch (bytes per row) is smaller than a row of pixels.
    PitchTooSmall,
    /// The dimensions overflow `usize`.
    TooLarge,
    /// The buffer holds fewer than `pitch * height` bytes.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}

/// How a colour is stored in a pixel: 3 or 4 bytes, little-endian, with each channel's bits
/// where its [`Channel`] says (the rest of the bits are written as zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelFormat {
    bytes_per_pixel: usize,
    red: Channel,
    green: Channel,
    blue: Channel,
}

/// One encoded pixel: the first [`PixelFormat::bytes_per_pixel`] bytes are used.
pub type Pixel = [u8; 4];

impl PixelFormat {
    /// 32 bits, `0x00RRGGBB` (what Limine gives on QEMU and most UEFI firmware).
    pub const XRGB8888: PixelFormat = PixelFormat {
        bytes_per_pixel: 4,
        red: Channel { size: 8, shift: 16 },
        green: Channel { size: 8, shift: 8 },
        blue: Channel { size: 8, shift: 0 },
    };

    /// 32 bits, `0x00BBGGRR`.
    pub const XBGR8888: PixelFormat = PixelFormat {
        bytes_per_pixel: 4,
        red: Channel { size: 8, shift: 0 },
        green: Channel { size: 8, shift: 8 },
        blue: Channel { size: 8, shift: 16 },
    };

    /// The format of a framebuffer with `bpp` bits per pixel and these channels, if supported.
    pub fn new(
        bpp: u16,
        red: Channel,
        green: Channel,
        blue: Channel,
    ) -> Result<PixelFormat, SurfaceError> {
        if bpp != 24 && bpp != 32 {
            return Err(SurfaceError::UnsupportedBpp(bpp));
        }
        for (channel, name) in [
            (red, ChannelName::Red),
            (green, ChannelName::Green),
            (blue, ChannelName::Blue),
        ] {
            let fits = u16::from(channel.shift) + u16::from(channel.size) <= bpp;
            if channel.size == 0 || channel.size > 8 || !fits {
                return Err(SurfaceError::BadChannel(name));
            }
        }
        Ok(PixelFormat {
            bytes_per_pixel: usize::from(bpp / 8),
            red,
            green,
            blue,
        })
    }

    /// Bytes per pixel: 3 or 4.
    pub fn bytes_per_pixel(&self) -> usize {
        self.bytes_per_pixel
    }

    /// `color` as stored in a pixel.
    pub fn encode(&self, color: Rgb) -> Pixel {
        let value =
            self.red.encode(color.r) | self.green.encode(color.g) | self.blue.encode(color.b);
        value.to_le_bytes()
    }

    /// The colour stored in `pixel` (its first [`bytes_per_pixel`](Self::bytes_per_pixel)
    /// bytes; missing bytes read as zero). Exact for 8-bit channels.
    pub fn decode(&self, pixel: &[u8]) -> Rgb {
        let mut bytes = [0u8; 4];
        for (to, from) in bytes
            .iter_mut()
            .zip(pixel.iter().take(self.bytes_per_pixel))
        {
            *to = *from;
        }
        let value = u32::from_le_bytes(bytes);
        Rgb {
            r: self.red.decode(value),
            g: self.green.decode(value),
            b: self.blue.decode(value),
        }
    }
}

/// A rectangle of pixels the renderer can draw on. Every method clips to the surface: parts
/// outside it are ignored, so no coordinates can make it fail.
pub trait Surface {
    /// Width in pixels.
    fn width(&self) -> usize;
    /// Height in pixels.
    fn height(&self) -> usize;
    /// How pixels are stored.
    fn format(&self) -> PixelFormat;
    /// Writes a run of encoded pixels (`bytes_per_pixel` bytes each, in [`format`](Self::format))
    /// on row `y`, from column `x` to the right.
    fn write_pixels(&mut self, x: usize, y: usize, pixels: &[u8]);
    /// Fills `width` x `height` pixels from (`x`, `y`) with `pixel`.
    fn fill_rect(&mut self, x: usize, y: usize, width: usize, height: usize, pixel: Pixel);
    /// Copies `count` whole pixel rows starting at row `src_y` to start at row `dst_y` (the
    /// ranges may overlap, as a `memmove`): how the renderer scrolls.
    fn copy_rows(&mut self, src_y: usize, dst_y: usize, count: usize);
}

/// The shape of a framebuffer in memory: `height` rows of `width` pixels, each row starting
/// `pitch` bytes after the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    width: usize,
    height: usize,
    pitch: usize,
    format: PixelFormat,
}

impl Geometry {
    /// Checks that a row of `width` pixels fits in `pitch` bytes and that the whole buffer's
    /// size is representable.
    pub fn new(
        width: usize,
        height: usize,
        pitch: usize,
        format: PixelFormat,
    ) -> Result<Geometry, SurfaceError> {
        let row = width
            .checked_mul(format.bytes_per_pixel)
            .ok_or(SurfaceError::TooLarge)?;
        if pitch < row {
            return Err(SurfaceError::PitchTooSmall);
        }
        pitch.checked_mul(height).ok_or(SurfaceError::TooLarge)?;
        Ok(Geometry {
            width,
            height,
            pitch,
            format,
        })
    }

    /// A tightly packed buffer (`pitch = width * bytes_per_pixel`).
    pub fn packed(
        width: usize,
        height: usize,
        format: PixelFormat,
    ) -> Result<Geometry, SurfaceError> {
        let pitch = width
            .checked_mul(format.bytes_per_pixel)
            .ok_or(SurfaceError::TooLarge)?;
        Geometry::new(width, height, pitch, format)
    }

    /// Bytes per row.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// Bytes the buffer needs: `pitch * height` (checked in [`new`](Self::new)).
    pub fn byte_len(&self) -> usize {
        self.pitch * self.height
    }

    /// Byte offset of pixel (`x`, `y`), which must be inside.
    fn offset(&self, x: usize, y: usize) -> usize {
        y * self.pitch + x * self.format.bytes_per_pixel
    }

    fn write_pixels(&self, bytes: &mut [u8], x: usize, y: usize, pixels: &[u8]) {
        let bpp = self.format.bytes_per_pixel;
        if y >= self.height || x >= self.width {
            return;
        }
        let count = (pixels.len() / bpp).min(self.width - x);
        let start = self.offset(x, y);
        let len = count * bpp;
        bytes[start..start + len].copy_from_slice(&pixels[..len]);
    }

    fn fill_rect(&self, bytes: &mut [u8], x: usize, y: usize, w: usize, h: usize, pixel: Pixel) {
        let bpp = self.format.bytes_per_pixel;
        if y >= self.height || x >= self.width {
            return;
        }
        let w = w.min(self.width - x);
        let h = h.min(self.height - y);
        if w == 0 || h == 0 {
            return;
        }
        // The first row pixel by pixel, the others copied from it.
        let first = self.offset(x, y);
        let len = w * bpp;
        match bpp {
            4 => fill_pixels::<4>(&mut bytes[first..first + len], pixel),
            _ => fill_pixels::<3>(&mut bytes[first..first + len], pixel),
        }
        for row in y + 1..y + h {
            bytes.copy_within(first..first + len, self.offset(x, row));
        }
    }

    fn copy_rows(&self, bytes: &mut [u8], src_y: usize, dst_y: usize, count: usize) {
        let count = count
            .min(self.height.saturating_sub(src_y))
            .min(self.height.saturating_sub(dst_y));
        if count == 0 || src_y == dst_y {
            return;
        }
        let src = src_y * self.pitch;
        bytes.copy_within(src..src + count * self.pitch, dst_y * self.pitch);
    }
}

/// Fills `bytes` with copies of the first `N` bytes of `pixel` (`N` a constant, so that each
/// is one fixed-size store).
fn fill_pixels<const N: usize>(bytes: &mut [u8], pixel: Pixel) {
    for out in bytes.chunks_exact_mut(N) {
        out.copy_from_slice(&pixel[..N]);
    }
}

/// A surface over borrowed memory laid out as a [`Geometry`] says: the framebuffer itself once
/// it is mapped, or a back buffer.
#[derive(Debug)]
pub struct SliceSurface<'a> {
    bytes: &'a mut [u8],
    geometry: Geometry,
}

impl<'a> SliceSurface<'a> {
    /// A surface over `bytes`, which must hold at least `geometry.byte_len()` bytes.
    pub fn new(bytes: &'a mut [u8], geometry: Geometry) -> Result<Self, SurfaceError> {
        check_len(bytes.len(), geometry)?;
        Ok(SliceSurface { bytes, geometry })
    }
}

fn check_len(got: usize, geometry: Geometry) -> Result<(), SurfaceError> {
    let needed = geometry.byte_len();
    if got < needed {
        return Err(SurfaceError::BufferTooSmall { needed, got });
    }
    Ok(())
}

/// A surface in its own heap memory, all black (zero bytes) at first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemSurface {
    bytes: Vec<u8>,
    geometry: Geometry,
}

impl MemSurface {
    /// A zeroed buffer of `geometry.byte_len()` bytes.
    pub fn new(geometry: Geometry) -> Self {
        MemSurface {
            bytes: vec![0; geometry.byte_len()],
            geometry,
        }
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The shape of the buffer.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The pixels of row `y` (`width * bytes_per_pixel` bytes), or `None` outside the surface.
    pub fn row_bytes(&self, y: usize) -> Option<&[u8]> {
        let g = self.geometry;
        if y >= g.height {
            return None;
        }
        let start = g.offset(0, y);
        self.bytes
            .get(start..start + g.width * g.format.bytes_per_pixel)
    }

    /// The colour of pixel (`x`, `y`), or `None` outside the surface.
    pub fn pixel(&self, x: usize, y: usize) -> Option<Rgb> {
        let g = self.geometry;
        if x >= g.width || y >= g.height {
            return None;
        }
        let start = g.offset(x, y);
        let bytes = self.bytes.get(start..start + g.format.bytes_per_pixel)?;
        Some(g.format.decode(bytes))
    }
}

/// Implements [`Surface`] for a type with `bytes` and `geometry` fields.
macro_rules! memory_surface {
    ($ty:ty) => {
        impl Surface for $ty {
            fn width(&self) -> usize {
                self.geometry.width
            }
            fn height(&self) -> usize {
                self.geometry.height
            }
            fn format(&self) -> PixelFormat {
                self.geometry.format
            }
            fn write_pixels(&mut self, x: usize, y: usize, pixels: &[u8]) {
                self.geometry.write_pixels(&mut self.bytes, x, y, pixels);
            }
            fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, pixel: Pixel) {
                self.geometry.fill_rect(&mut self.bytes, x, y, w, h, pixel);
            }
            fn copy_rows(&mut self, src_y: usize, dst_y: usize, count: usize) {
                self.geometry
                    .copy_rows(&mut self.bytes, src_y, dst_y, count);
            }
        }
    };
}

memory_surface!(SliceSurface<'_>);
memory_surface!(MemSurface);

/// A surface drawn twice: into a copy in RAM and through to `front` (the framebuffer), so that
/// nothing is ever read back from the front. A scroll moves the copy's rows and writes them out
/// again: on real hardware video memory is write-combined and reading it is very slow, so
/// this beats a `copy_rows` on the framebuffer itself.
#[derive(Debug)]
pub struct Shadowed<S> {
    shadow: MemSurface,
    front: S,
}

impl<S: Surface> Shadowed<S> {
    /// A shadow of `front`, whose current content is assumed to be black (zero bytes) like
    /// the new copy; draw everything once (as [`Renderer::draw_full`] does) to be sure.
    ///
    /// [`Renderer::draw_full`]: crate::Renderer::draw_full
    pub fn new(front: S) -> Result<Self, SurfaceError> {
        let geometry = Geometry::packed(front.width(), front.height(), front.format())?;
        Ok(Shadowed {
            shadow: MemSurface::new(geometry),
            front,
        })
    }

    /// The copy in RAM.
    pub fn shadow(&self) -> &MemSurface {
        &self.shadow
    }

    /// The front surface.
    pub fn front(&self) -> &S {
        &self.front
    }
}

impl<S: Surface> Surface for Shadowed<S> {
    fn width(&self) -> usize {
        self.shadow.width()
    }
    fn height(&self) -> usize {
        self.shadow.height()
    }
    fn format(&self) -> PixelFormat {
        self.shadow.format()
    }
    fn write_pixels(&mut self, x: usize, y: usize, pixels: &[u8]) {
        self.shadow.write_pixels(x, y, pixels);
        self.front.write_pixels(x, y, pixels);
    }
    fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, pixel: Pixel) {
        self.shadow.fill_rect(x, y, w, h, pixel);
        self.front.fill_rect(x, y, w, h, pixel);
    }
    fn copy_rows(&mut self, src_y: usize, dst_y: usize, count: usize) {
        self.shadow.copy_rows(src_y, dst_y, count);
        for y in dst_y..dst_y.saturating_add(count).min(self.shadow.height()) {
            if let Some(row) = self.shadow.row_bytes(y) {
                self.front.write_pixels(0, y, row);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(size: u8, shift: u8) -> Channel {
        Channel { size, shift }
    }

    #[test]
    fn formats_are_checked() {
        assert_eq!(
            PixelFormat::new(16, ch(5, 11), ch(6, 5), ch(5, 0)),
            Err(SurfaceError::UnsupportedBpp(16))
        );
        assert_eq!(
            PixelFormat::new(32, ch(0, 16), ch(8, 8), ch(8, 0)),
            Err(SurfaceError::BadChannel(ChannelName::Red))
        );
        assert_eq!(
            PixelFormat::new(24, ch(8, 16), ch(8, 8), ch(8, 17)),
            Err(SurfaceError::BadChannel(ChannelName::Blue))
        );
        assert_eq!(
            PixelFormat::new(32, ch(8, 16), ch(8, 8), ch(8, 0)),
            Ok(PixelFormat::XRGB8888)
        );
    }

    #[test]
    fn encode_follows_the_masks() {
        let c = Rgb::from_u32(0x123456);
        assert_eq!(PixelFormat::XRGB8888.encode(c), [0x56, 0x34, 0x12, 0]);
        assert_eq!(PixelFormat::XBGR8888.encode(c), [0x12, 0x34, 0x56, 0]);
        let rgb565ish = PixelFormat::new(24, ch(5, 11), ch(6, 5), ch(5, 0)).unwrap();
        let p = rgb565ish.encode(Rgb::from_u32(0xFFFFFF));
        assert_eq!(p, [0xFF, 0xFF, 0, 0]);
        assert_eq!(rgb565ish.decode(&p), Rgb::from_u32(0xFFFFFF));
        for f in [PixelFormat::XRGB8888, PixelFormat::XBGR8888] {
            assert_eq!(f.decode(&f.encode(c)), c);
        }
    }

    #[test]
    fn geometry_is_checked() {
        let f = PixelFormat::XRGB8888;
        assert_eq!(
            Geometry::new(10, 10, 39, f),
            Err(SurfaceError::PitchTooSmall)
        );
        assert_eq!(
            Geometry::new(usize::MAX, 1, 0, f),
            Err(SurfaceError::TooLarge)
        );
        assert_eq!(
            Geometry::new(1, usize::MAX, 4, f),
            Err(SurfaceError::TooLarge)
        );
        let g = Geometry::new(10, 10, 48, f).unwrap();
        let mut small = [0u8; 479];
        assert_eq!(
            SliceSurface::new(&mut small, g).err(),
            Some(SurfaceError::BufferTooSmall {
                needed: 480,
                got: 479
            })
        );
    }

    #[test]
    fn writes_are_clipped() {
        let g = Geometry::new(4, 3, 20, PixelFormat::XRGB8888).unwrap();
        let mut s = MemSurface::new(g);
        let white = PixelFormat::XRGB8888.encode(Rgb::from_u32(0xFFFFFF));
        s.fill_rect(2, 1, 100, 100, white);
        s.fill_rect(4, 0, 1, 1, white);
        s.write_pixels(3, 0, &[1; 40]);
        s.write_pixels(0, 3, &[1; 4]);
        s.write_pixels(0, 0, &[9; 3]); // less than one pixel: nothing
        s.copy_rows(2, 0, 10);
        s.copy_rows(5, 0, 1);
        s.copy_rows(0, 5, 1);
        assert_eq!(s.pixel(3, 0), Some(Rgb::from_u32(0xFFFFFF)));
        assert_eq!(s.pixel(0, 0), Some(Rgb::from_u32(0)));
        assert_eq!(s.pixel(4, 0), None);
        // The padding past each row's pixels is never touched.
        assert!(s.bytes()[16..20].iter().all(|&b| b == 0));
    }

    #[test]
    fn fill_rect_24_bits() {
        let rgb24 = PixelFormat::new(24, ch(8, 16), ch(8, 8), ch(8, 0)).unwrap();
        let mut s = MemSurface::new(Geometry::new(3, 3, 10, rgb24).unwrap());
        s.fill_rect(1, 1, 5, 5, rgb24.encode(Rgb::from_u32(0x123456)));
        let mut expected = [0u8; 30];
        for row in [10, 20] {
            expected[row + 3..row + 9].copy_from_slice(&[0x56, 0x34, 0x12, 0x56, 0x34, 0x12]);
        }
        assert_eq!(s.bytes(), &expected);
    }

    #[test]
    fn shadowed_writes_through() {
        let g = Geometry::new(3, 4, 16, PixelFormat::XRGB8888).unwrap();
        let mut s = Shadowed::new(MemSurface::new(g)).unwrap();
        let red = PixelFormat::XRGB8888.encode(Rgb::from_u32(0xFF0000));
        s.fill_rect(0, 2, 3, 2, red);
        s.write_pixels(1, 3, &[7; 4]);
        s.copy_rows(2, 0, 2);
        s.copy_rows(0, 3, 9);
        assert_eq!(s.shadow().row_bytes(4), None);
        for y in 0..4 {
            for x in 0..3 {
                assert_eq!(s.front().pixel(x, y), s.shadow().pixel(x, y), "({x},{y})");
            }
        }
        assert_eq!(s.front().pixel(0, 0), Some(Rgb::from_u32(0xFF0000)));
        assert_eq!(s.front().pixel(1, 1), Some(Rgb::from_u32(0x070707)));
    }

    #[test]
    fn copy_rows_overlapping() {
        let g = Geometry::packed(1, 4, PixelFormat::XRGB8888).unwrap();
        let mut bytes = [0u8; 16];
        for (i, px) in bytes.chunks_exact_mut(4).enumerate() {
            px[0] = i as u8;
        }
        let mut s = SliceSurface::new(&mut bytes, g).unwrap();
        s.copy_rows(1, 0, 3);
        assert_eq!([bytes[0], bytes[4], bytes[8], bytes[12]], [1, 2, 3, 3]);
        let mut s = SliceSurface::new(&mut bytes, g).unwrap();
        s.copy_rows(0, 1, 3);
        assert_eq!([bytes[0], bytes[4], bytes[8], bytes[12]], [1, 1, 2, 3]);
    }
}
