//! The screen: what the kernel and `text_renderer_host` draw on the framebuffer, read with the
//! QEMU monitor's `screendump` and checked against text rendered on the host
//! ([`crate::screen_check`]): the boot log and (drawn by the renderer) the console prompt after
//! a boot, the refusal of a damaged image, the kernel's redraw when it takes the screen back
//! from its owner, and a boot without any display device (the console on serial only).

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bootlog::line;
use bootlog::msg::{
    BANNER_BOOTLOADER, BANNER_START, CRASH_SAVED, IMAGE_FAIL_START, PANICKED, SCREEN_HANDED_START,
    SCREEN_TAKEN_BACK_START, TEST_CRASH_PANIC,
};

use crate::corrupt::Corruption;
use crate::fs_scenarios::{Driver, Env};
use crate::guest::{Guest, PROMPT};
use crate::monitor::{boot_with_monitor, boot_with_monitor_using, Monitor};
use crate::scenarios::{line as whole_line, shape, starts, End, Scenario};
use crate::screen_check::{self, Dump, Expected, Reader};
use crate::system_image::ConfTweak;

/// Which screen scenario a driven [`Scenario`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenDriver {
    /// [`boot_log_and_prompt`].
    BootLogAndPrompt,
    /// [`shows_refusal`].
    ShowsRefusal,
    /// [`no_framebuffer`].
    NoFramebuffer,
    /// [`ps2_services`].
    Ps2Services,
    /// [`ps2_edit`].
    Ps2Edit,
    /// [`taken_back`].
    TakenBack,
    /// [`shows_crash`].
    ShowsCrash,
}

/// The component that owns the screen once it is up.
const RENDERER: &str = "text_renderer_host";
/// The console's banner, its first line.
const CONSOLE_BANNER: &str = "PandaGen console. Type 'help' for the list of commands.";
/// What the kernel logs when the machine has no framebuffer (`boot::screen`).
const NO_FRAMEBUFFER: &str = "screen: no framebuffer: ";
/// The last line of a failed boot outside test mode (`fatal::stop`).
const HALTED: &str = "kernel halted after a failure (see above)";
/// The damage done to the refused image: a changed service, whose checksum then fails.
const REFUSAL: Corruption = Corruption::ServiceBytesChanged;
/// How long the screen may take to show what serial already shows.
const SETTLE: Duration = Duration::from_secs(10);

/// The screen scenarios.
pub fn screen_scenarios() -> Vec<Scenario> {
    let driven = |name, driver, expect, tweak| Scenario {
        cmdline: "",
        end: End::Exit(0),
        tweak,
        driver: Some(Driver::Screen(driver)),
        ..Scenario::boot(name, expect)
    };
    vec![
        driven(
            "screen-boot-log-and-prompt",
            ScreenDriver::BootLogAndPrompt,
            vec![whole_line(CONSOLE_BANNER)],
            ConfTweak::None,
        ),
        // Without a boot module, so the kernel has only the damaged disk (as corrupt-*).
        driven(
            "screen-shows-refusal",
            ScreenDriver::ShowsRefusal,
            vec![shape(IMAGE_FAIL_START, "", "")],
            ConfTweak::NoModule,
        ),
        driven(
            "ps2-keyboard-services",
            ScreenDriver::Ps2Services,
            vec![whole_line(CONSOLE_BANNER)],
            ConfTweak::None,
        ),
        driven(
            "ps2-keyboard-edit",
            ScreenDriver::Ps2Edit,
            vec![whole_line(CONSOLE_BANNER)],
            ConfTweak::None,
        ),
        driven(
            "no-framebuffer-console",
            ScreenDriver::NoFramebuffer,
            vec![whole_line(CONSOLE_BANNER)],
            ConfTweak::None,
        ),
        Scenario {
            system: TAKEN_BACK_SYSTEM,
            ..driven(
                "screen-taken-back",
                ScreenDriver::TakenBack,
                vec![starts(SCREEN_TAKEN_BACK_START)],
                ConfTweak::None,
            )
        },
        Scenario {
            cmdline: "test=crash",
            ..driven(
                "screen-shows-crash",
                ScreenDriver::ShowsCrash,
                vec![whole_line(CRASH_SAVED)],
                ConfTweak::None,
            )
        },
    ]
}

/// Runs `driver`; `Ok` holds the report lines.
pub fn run(driver: ScreenDriver, env: &Env<'_>) -> Result<String> {
    match driver {
        ScreenDriver::BootLogAndPrompt => boot_log_and_prompt(env),
        ScreenDriver::ShowsRefusal => shows_refusal(env),
        ScreenDriver::NoFramebuffer => no_framebuffer(env),
        ScreenDriver::Ps2Services => ps2_services(env),
        ScreenDriver::Ps2Edit => ps2_edit(env),
        ScreenDriver::TakenBack => taken_back(env),
        ScreenDriver::ShowsCrash => shows_crash(env),
    }
}

/// The kernel banner (from its level on, as the serial line has it) is on the screen once
/// serial shows it (a dump taken then: later in the boot it scrolls away); the kernel hands
/// the screen to `text_renderer_host`; after the boot the console's banner and the prompt (the
/// whole row, but the cursor's cell), which the renderer draws, are on it, pixel for pixel.
fn boot_log_and_prompt(env: &Env<'_>) -> Result<String> {
    let (mut g, mut monitor) = boot_with_monitor(env)?;
    g.wait_for(&format!("boot: {BANNER_START}"), env.timeout)?;
    g.wait_for("\n", env.timeout)?;
    let banner = kernel_line(&g.log(), |m| {
        m.starts_with(BANNER_START) && m.contains(BANNER_BOOTLOADER)
    })?;
    let dump_path = env.serial_log.with_extension("screen.ppm");
    let banner_row = settle(&mut monitor, &dump_path, |dump, reader, cells| {
        let row = find_line(cells, &banner)?;
        let (text, col) = visible_part(&banner, reader.grid().0);
        reader.compare(dump, &Expected::at(row, col, text))?;
        Ok(row)
    })?;
    g.wait_for(
        &format!("screen: {SCREEN_HANDED_START}{RENDERER} ("),
        env.timeout,
    )?;
    g.wait_for(PROMPT, env.timeout)?;
    let prompt_row = settle(&mut monitor, &dump_path, |dump, reader, cells| {
        let prompt = (0..cells.len())
            .rev()
            .find(|&r| screen_check::row_text(&cells[r]).starts_with(PROMPT))
            .context("no row starts with the prompt")?;
        // The cursor sits right after the prompt.
        let prompt_row = Expected {
            to_end: true,
            skip: &[PROMPT.len()],
            ..Expected::at(prompt, 0, PROMPT)
        };
        reader.compare(dump, &prompt_row)?;
        let console = (0..prompt)
            .rev()
            .find(|&r| screen_check::row_text(&cells[r]).starts_with(CONSOLE_BANNER))
            .context("no row above the prompt shows the console's banner")?;
        let banner_row = Expected {
            to_end: true,
            ..Expected::at(console, 0, CONSOLE_BANNER)
        };
        reader.compare(dump, &banner_row)?;
        Ok(prompt)
    })?;
    g.type_line("poweroff")?;
    g.wait_exit(env.timeout)?;
    // The screen that matched, as a PNG (the README's screenshot is this file).
    let screenshot = env.serial_log.with_extension("screen.png");
    screen_check::parse_ppm(&std::fs::read(&dump_path)?)?.write_png(&screenshot)?;
    Ok(format!(
        "screen: the kernel banner (row {banner_row}) while booting, then (drawn by {RENDERER}) the console banner and the prompt (row {prompt_row}) match the text rendered on the host; screenshot in {}\n",
        screenshot.display()
    ))
}

/// The command typed on the PS/2 keyboard in [`ps2_services`], and a line its answer holds.
const TYPED: &str = "services";
const TABLE_HOLDS: &str = "services_storage";

/// `services` + Enter typed on the PS/2 keyboard (the monitor's `sendkey`; q35's i8042, no
/// other keyboard): the console echoes it and the state table appears on serial and on screen.
fn ps2_services(env: &Env<'_>) -> Result<String> {
    let (mut g, mut monitor) = boot_with_monitor(env)?;
    g.wait_for(PROMPT, env.timeout)?;
    monitor.type_text(&format!("{TYPED}\n"))?;
    // Serial is past the prompt already: the echo follows it.
    g.wait_for(TYPED, env.timeout)?;
    g.wait_for(TABLE_HOLDS, env.timeout)?;
    let echoed = format!("{PROMPT}{TYPED}");
    g.wait_for(PROMPT, env.timeout)?;
    let dump_path = env.serial_log.with_extension("screen.ppm");
    let rows = settle(&mut monitor, &dump_path, |_, _, cells| {
        let command = (0..cells.len())
            .rev()
            .find(|&r| screen_check::row_text(&cells[r]).starts_with(&echoed))
            .context("no row shows the typed command after the prompt")?;
        let table = (command + 1..cells.len())
            .find(|&r| screen_check::row_text(&cells[r]).contains(TABLE_HOLDS))
            .context("no row below the command shows the state table")?;
        Ok((command, table))
    })?;
    g.type_line("poweroff")?;
    g.wait_exit(env.timeout)?;
    Ok(format!(
        "screen: `{TYPED}` typed on the PS/2 keyboard is echoed (row {}) and the state table follows (row {}), on serial too\n",
        rows.0, rows.1
    ))
}

/// The text [`ps2_edit`] types into the editor.
const EDITED: &str = "typed on ps2";

/// The editor driven from the PS/2 keyboard alone: `edit notes.txt`, `i`, text, Escape (a key
/// of its own, so the editor takes it alone after the console's idle time), `:wq`; then `cat`
/// shows the text, on serial and on the screen.
fn ps2_edit(env: &Env<'_>) -> Result<String> {
    let (mut g, mut monitor) = boot_with_monitor(env)?;
    g.wait_for(PROMPT, env.timeout)?;
    monitor.type_text("edit notes.txt\n")?;
    g.wait_for("\"notes.txt\" [New]", env.timeout)?;
    monitor.type_text(&format!("i{EDITED}\u{1b}"))?;
    g.wait_for("notes.txt [+]    ", env.timeout)?;
    monitor.type_text(":wq\n")?;
    g.wait_for("edit: saved notes.txt", env.timeout)?;
    g.wait_for(PROMPT, env.timeout)?;
    monitor.type_text("cat notes.txt\n")?;
    g.wait_for(&format!("\n{EDITED}\r"), env.timeout)?;
    let dump_path = env.serial_log.with_extension("screen.ppm");
    let row = settle(&mut monitor, &dump_path, |_, _, cells| {
        (0..cells.len())
            .rev()
            .find(|&r| screen_check::row_text(&cells[r]).trim_end() == EDITED)
            .context("no row shows the saved text")
    })?;
    g.type_line("poweroff")?;
    g.wait_exit(env.timeout)?;
    Ok(format!(
        "screen: the editor driven from the PS/2 keyboard saved notes.txt; `cat` shows \"{EDITED}\" on serial and on the screen (row {row})\n"
    ))
}

/// A damaged image: the kernel's refusal is on the screen in the error colour, and so is the
/// first kernel line (logged before the screen existed).
fn shows_refusal(env: &Env<'_>) -> Result<String> {
    let good = env.image.with_extension("good.img");
    std::fs::rename(env.image, &good).context("keeping the good image")?;
    REFUSAL.apply(&good, env.image)?;
    let _ = std::fs::remove_file(&good);
    let (mut g, mut monitor) = boot_with_monitor(env)?;
    g.wait_for(HALTED, env.timeout)?;
    let log = g.log();
    let refusal = kernel_line(&log, |m| m.starts_with(IMAGE_FAIL_START))?;
    let first = kernel_line(&log, |_| true)?;
    let dump_path = env.serial_log.with_extension("screen.ppm");
    let rows = settle(&mut monitor, &dump_path, |dump, reader, cells| {
        let cols = reader.grid().0;
        let row = find_line(cells, &refusal)?;
        let (text, col) = visible_part(&refusal, cols);
        let refusal_row = Expected {
            colour: Some(ERROR_COLOUR),
            ..Expected::at(row, col, text)
        };
        reader.compare(dump, &refusal_row)?;
        let first_row = find_line(cells, &first)?;
        let (text, col) = visible_part(&first, cols);
        reader.compare(dump, &Expected::at(first_row, col, text))?;
        Ok((first_row, row))
    })?;
    drop(g.kill());
    Ok(format!(
        "screen: the first kernel line (row {}) and the refusal in red (row {}) match the text rendered on the host\n",
        rows.0, rows.1
    ))
}

/// A kernel panic while `text_renderer_host` owns the screen (`test=crash`, after the
/// components came up): the kernel takes the screen back for the report, so the panic line is
/// on the screen in red, and so is the crash record's line after it. The machine has no exit
/// device here, so the kernel halts (instead of leaving QEMU) and the screen can be read.
fn shows_crash(env: &Env<'_>) -> Result<String> {
    let mut config = env.config.clone();
    config.debug_exit = false;
    let (mut g, mut monitor) = boot_with_monitor_using(env, config)?;
    g.wait_for(&format!("screen: {SCREEN_HANDED_START}"), env.timeout)?;
    g.wait_for(CRASH_SAVED, env.timeout)?;
    let log = g.log();
    let panic = log
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| l.contains(PANICKED) && l.ends_with(TEST_CRASH_PANIC))
        .context("the panic line was not in the serial log")?
        .to_string();
    let dump_path = env.serial_log.with_extension("screen.ppm");
    let rows = settle(&mut monitor, &dump_path, |dump, reader, cells| {
        let row = find_line(cells, &panic)?;
        let (text, col) = visible_part(&panic, reader.grid().0);
        let panic_row = Expected {
            colour: Some(ERROR_COLOUR),
            ..Expected::at(row, col, text)
        };
        reader.compare(dump, &panic_row)?;
        let saved = (row + 1..cells.len())
            .find(|&r| screen_check::row_text(&cells[r]).contains(CRASH_SAVED))
            .context("no row below the panic shows the crash record's line")?;
        Ok((row, saved))
    })?;
    drop(g.kill());
    Ok(format!(
        "screen: the panic (row {}, red) and `{CRASH_SAVED}` (row {}) are on the screen after {RENDERER} had it\n",
        rows.0, rows.1
    ))
}

/// A screen owner that takes the screen, never draws, and exits (`t_screen_owner`).
const TAKEN_BACK_SYSTEM: &str = "system/tests/screen.json";

/// The screen's owner takes it and exits without drawing the kernel's lines: once the
/// kernel has taken the screen back, its take-back line, logged after the owner ended, is
/// drawn, and so is a line the owner logged while it had the screen (the kernel's redraw).
fn taken_back(env: &Env<'_>) -> Result<String> {
    let (mut g, mut monitor) = boot_with_monitor(env)?;
    g.wait_for(&format!("screen: {SCREEN_TAKEN_BACK_START}"), env.timeout)?;
    g.wait_for("\n", env.timeout)?;
    let log = g.log();
    let back = kernel_line(&log, |m| m.starts_with(SCREEN_TAKEN_BACK_START))?;
    let during = kernel_line(&log, |m| m.ends_with("bytes of replay"))?;
    let dump_path = env.serial_log.with_extension("screen.ppm");
    let rows = settle(&mut monitor, &dump_path, |dump, reader, cells| {
        let cols = reader.grid().0;
        let mut rows = [0; 2];
        for (row, line) in rows.iter_mut().zip([&during, &back]) {
            *row = find_line(cells, line)?;
            let (text, col) = visible_part(line, cols);
            reader.compare(dump, &Expected::at(*row, col, text))?;
        }
        Ok(rows)
    })?;
    drop(g.kill());
    Ok(format!(
        "screen: after the owner ended, the kernel drew the line logged while it was owned (row {}) and its take-back line (row {})\n",
        rows[0], rows[1]
    ))
}

/// The palette colour of ERROR lines (bright red).
const ERROR_COLOUR: u8 = 9;

/// `-vga none`: no framebuffer; the console still comes up on serial and powers off.
fn no_framebuffer(env: &Env<'_>) -> Result<String> {
    let mut config = env.config.clone();
    config.vga = false;
    let serial = env.serial_log.with_extension("boot0.log");
    let mut g = Guest::start(env.qemu_bin, &config, &serial, env.qemu_log)?;
    g.wait_for(NO_FRAMEBUFFER, env.timeout)?;
    g.wait_for(PROMPT, env.timeout)?;
    let out = g.command("bootcount", env.timeout)?;
    ensure!(
        out == ["boot count: 1"],
        "bootcount printed {out:?}, expected boot count: 1"
    );
    g.type_line("poweroff")?;
    let (code, _) = g.wait_exit(env.timeout)?;
    ensure!(code == Some(0), "QEMU exited with {code:?} after poweroff");
    Ok("no display device: the kernel says so, and the console works on serial\n".into())
}

/// The first kernel line of `log` whose message satisfies `want`, as printed (without the
/// line end).
fn kernel_line(log: &str, want: impl Fn(&str) -> bool) -> Result<String> {
    log.lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| line::parse(l).is_some_and(|p| want(p.message)))
        .map(str::to_string)
        .context("the kernel line was not in the serial log")
}

/// The part of a kernel line from its level on (the timestamp differs between serial and
/// screen only if a line was cut, but its digits make a poor search key), cut to the row,
/// with the column it starts at.
fn visible_part(kernel_line: &str, cols: usize) -> (&str, usize) {
    let col = kernel_line.find("] ").map_or(0, |i| i + 2);
    let rest = &kernel_line[col..];
    let fits = cols.saturating_sub(col);
    let end = rest.char_indices().nth(fits).map_or(rest.len(), |(i, _)| i);
    (&rest[..end], col)
}

/// The row showing `kernel_line` (from its level on).
fn find_line(cells: &[Vec<screen_check::Seen>], kernel_line: &str) -> Result<usize> {
    let (text, col) = visible_part(kernel_line, cells.first().map_or(0, Vec::len));
    (0..cells.len())
        .find(|&r| {
            let row = screen_check::row_text(&cells[r]);
            row.chars().skip(col).collect::<String>().starts_with(text)
        })
        .with_context(|| format!("no row shows {text:?}"))
}

/// Takes screen dumps until `check` passes on one (the screen is drawn just after serial is
/// written), for at most [`SETTLE`]; the last failure says why, with the screen's text.
fn settle<T>(
    monitor: &mut Monitor,
    path: &Path,
    check: impl Fn(&Dump, &Reader, &[Vec<screen_check::Seen>]) -> Result<T>,
) -> Result<T> {
    let start = Instant::now();
    let mut reader: Option<Reader> = None;
    loop {
        let dump = monitor.screendump(path)?;
        let reader = match &mut reader {
            Some(r) => &*r,
            None => reader.insert(Reader::new(dump.width, dump.height)),
        };
        let cells = reader.read(&dump);
        match check(&dump, reader, &cells) {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() >= SETTLE => {
                bail!(
                    "{e:#} (screen {}x{}, dump in {}); the screen reads:\n{}",
                    dump.width,
                    dump.height,
                    path.display(),
                    screen_check::screen_text(&cells)
                )
            }
            Err(_) => thread::sleep(Duration::from_millis(300)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootlog::line::Level;

    #[test]
    fn visible_part_starts_at_the_level_and_fits_the_row() {
        let l = "[    0.139282] INFO  boot: PandaGen kernel 0.1.0 | bootloader: x";
        assert_eq!(
            visible_part(l, 200),
            ("INFO  boot: PandaGen kernel 0.1.0 | bootloader: x", 15)
        );
        assert_eq!(visible_part(l, 20), ("INFO ", 15));
        assert_eq!(Level::Error.tag(), "ERROR");
    }
}
