//! What the firmware knows about the machine: keyboard, GOP framebuffer, ACPI RSDP, RTC time.

use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams};
use uefi::proto::console::gop::{GraphicsOutput, PixelFormat};
use uefi::table::cfg::ConfigTableEntry;

use crate::responses::FramebufferInfo;

/// Whether a key is waiting (consumes it).
pub fn key_pressed() -> bool {
    uefi::system::with_stdin(|input| matches!(input.read_key(), Ok(Some(_))))
}

/// Blocks until a key is pressed.
pub fn wait_for_key() {
    loop {
        if key_pressed() {
            return;
        }
        boot::stall(core::time::Duration::from_millis(50));
    }
}

/// The GOP framebuffer of the console, if there is one with a linear pixel layout.
pub fn framebuffer() -> Option<FramebufferInfo> {
    let handle = boot::get_handle_for_protocol::<GraphicsOutput>().ok()?;
    // SAFETY: GetProtocol does not take the GOP away from the console driver (an exclusive
    // open would disconnect it and blank the screen); we only read the current mode and never
    // change it, so sharing the protocol with its owner is sound.
    let mut gop = unsafe {
        boot::open_protocol::<GraphicsOutput>(
            OpenProtocolParams {
                handle,
                agent: boot::image_handle(),
                controller: None,
            },
            OpenProtocolAttributes::GetProtocol,
        )
    }
    .ok()?;
    let mode = gop.current_mode_info();
    let (width, height) = mode.resolution();
    let masks = match mode.pixel_format() {
        PixelFormat::Rgb => [(8, 0), (8, 8), (8, 16)],
        PixelFormat::Bgr => [(8, 16), (8, 8), (8, 0)],
        PixelFormat::Bitmask => {
            let m = mode.pixel_bitmask()?;
            [mask(m.red), mask(m.green), mask(m.blue)]
        }
        _ => return None,
    };
    let stride = mode.stride() as u64;
    let mut fb = gop.frame_buffer();
    Some(FramebufferInfo {
        phys: fb.as_mut_ptr() as u64,
        size: fb.size() as u64,
        width: width as u64,
        height: height as u64,
        pitch: stride * 4,
        bpp: 32,
        masks,
    })
}

/// (size, shift) of a contiguous bit mask.
fn mask(m: u32) -> (u8, u8) {
    if m == 0 {
        return (0, 0);
    }
    (m.count_ones() as u8, m.trailing_zeros() as u8)
}

/// Physical address of the ACPI RSDP (ACPI 2.0+ preferred).
pub fn rsdp() -> Option<u64> {
    uefi::system::with_config_table(|entries: &[ConfigTableEntry]| {
        let find = |guid| {
            entries
                .iter()
                .find(|e| e.guid == guid)
                .map(|e| e.address as u64)
        };
        find(ConfigTableEntry::ACPI2_GUID).or_else(|| find(ConfigTableEntry::ACPI_GUID))
    })
}

/// The RTC's time as a Unix timestamp (the RTC is taken as UTC, as Limine does).
pub fn unix_time() -> Option<i64> {
    let t = uefi::runtime::get_time().ok()?;
    Some(
        unix_from_civil(
            i64::from(t.year()),
            i64::from(t.month()),
            i64::from(t.day()),
        ) * 86_400
            + i64::from(t.hour()) * 3600
            + i64::from(t.minute()) * 60
            + i64::from(t.second()),
    )
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn unix_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
