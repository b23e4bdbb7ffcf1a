//! The text screen on the boot framebuffer: the kernel log (mirrored by `klog`, WARN and
//! ERROR lines coloured), the console's output (CONSOLE_WRITE) and fatal reports, drawn with
//! `vt`. Beside the layers like `klog`: it uses nothing above `arch`, and `boot` hands it the
//! framebuffer and the RAM for its shadow copy (from `memory`).
//!
//! Only `vt`'s non-generic entry points are called (`Terminal::feed`, the `Screen` methods,
//! `Renderer::flush_dyn`), so that the drawing runs as `vt` was compiled (optimised even in a
//! debug kernel), not as this crate was.
//!
//! Drawing is cheap except a scroll, which moves and rewrites the whole framebuffer: a scroll
//! is drawn at once only if the previous one was drawn [`SCROLL_BATCH_US`] ago or more;
//! otherwise it waits (several lines then move the pixels once) until the next line after
//! that time, a console write or read, or a fatal report.
//!
//! The screen can be handed to a process (`text_renderer_host`, FRAMEBUFFER_MAP): then the
//! kernel draws nothing; what it would have drawn goes, as terminal bytes, into a bounded
//! stream the owner reads (SCREEN_READ), starting with a replay of the screen as it was. The
//! kernel keeps its own terminal up to date meanwhile, so that it can redraw everything when
//! it takes the screen back: when the owner ends, or for a fatal report.

pub mod handover;

use bootlog::line::Level;
use bootlog::msg::{SCREEN_HANDED_START, SCREEN_TAKEN_BACK_START};
use spin::Mutex;
use vt::screen::Sgr;
use vt::{Font, Geometry, Palette, Renderer, ShadowedSlices, Surface, SurfaceError, Terminal};

use handover::{HandoverError, Owner, Stream, STREAM_BYTES};

/// The shortest time between two drawn scrolls; scrolls in between are batched.
pub const SCROLL_BATCH_US: u64 = 100_000;

/// Palette indices of the kernel's colours (`vt::Palette::VGA`).
const BRIGHT_RED: u8 = 9;
const BRIGHT_YELLOW: u8 = 11;
const DARK_GREY: u8 = 8;

/// Everything the screen needs, once [`init`] has run.
struct State {
    renderer: Renderer,
    /// The console's output goes through its parser; kernel text goes to its screen directly
    /// (so a sequence the console left unfinished cannot swallow a log line).
    terminal: Terminal,
    surface: ShadowedSlices<'static>,
    /// When a scroll was last drawn.
    last_scroll_us: u64,
    /// Damage is waiting (a batched scroll).
    pending: bool,
    /// A fatal report has begun (its first piece started a new line).
    in_report: bool,
    stats: Stats,
    /// Who draws.
    owner: Owner,
    /// What a process owner has yet to draw.
    stream: Stream,
    /// The framebuffer as FRAMEBUFFER_MAP describes it (`addr`: its physical address).
    described: abi::screen::Framebuffer,
}

/// What drawing has cost so far (for the boot log).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Time spent in the screen's calls, from the first full draw on.
    pub busy_us: u64,
    /// Log lines drawn.
    pub lines: u64,
    /// Console writes drawn.
    pub writes: u64,
    /// Scrolls drawn (each moving one or more lines).
    pub scrolls: u64,
    /// Time spent in the draws that scrolled (part of `busy_us`).
    pub scroll_us: u64,
}

impl core::fmt::Display for Stats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}.{:03} ms spent drawing {} log lines and {} console writes, {}.{:03} ms of it in {} \
             draws that scrolled",
            self.busy_us / 1000,
            self.busy_us % 1000,
            self.lines,
            self.writes,
            self.scroll_us / 1000,
            self.scroll_us % 1000,
            self.scrolls
        )
    }
}

static SCREEN: Mutex<Option<State>> = Mutex::new(None);

/// The grid [`init`] set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub cols: usize,
    pub rows: usize,
    pub cell_width: usize,
    pub cell_height: usize,
    pub shadowed: bool,
}

/// Takes over the framebuffer `front` (laid out as `geometry`, described for a process owner
/// as `described`, with its physical address), drawing through `shadow` (as many bytes,
/// zeroed) if given: clears it and sets up a grid for the font its size calls for.
pub fn init(
    front: &'static mut [u8],
    shadow: Option<&'static mut [u8]>,
    geometry: Geometry,
    described: abi::screen::Framebuffer,
) -> Result<Grid, SurfaceError> {
    let started = crate::time::uptime_us();
    let mut surface = ShadowedSlices::new(front, shadow, geometry)?;
    let font = Font::for_resolution(surface.width(), surface.height());
    let renderer = Renderer::new(font, Palette::VGA);
    let (cols, rows) = renderer.grid_size(&surface);
    let mut terminal = Terminal::new(cols, rows);
    // A blank screen is all black, which is zero in any RGB layout: clear the pixels instead
    // of drawing every blank cell (the shadow starts zeroed).
    surface.clear_front();
    terminal.screen_mut().clear_damage();
    let grid = Grid {
        cols: terminal.screen().cols(),
        rows: terminal.screen().rows(),
        cell_width: font.cell_width(),
        cell_height: font.cell_height(),
        shadowed: surface.shadowed(),
    };
    let state = State {
        renderer,
        terminal,
        surface,
        last_scroll_us: 0,
        pending: false,
        in_report: false,
        stats: Stats {
            busy_us: crate::time::uptime_us().saturating_sub(started),
            ..Stats::default()
        },
        owner: Owner::Kernel,
        stream: Stream::new(STREAM_BYTES),
        described,
    };
    x86_64::instructions::interrupts::without_interrupts(|| *SCREEN.lock() = Some(state));
    Ok(grid)
}

/// The foreground a log line of `level` is drawn in (`None`: the default).
fn level_colour(level: Level) -> Option<u8> {
    match level {
        Level::Error => Some(BRIGHT_RED),
        Level::Warn => Some(BRIGHT_YELLOW),
        Level::Info => None,
        Level::Debug | Level::Trace => Some(DARK_GREY),
    }
}

impl State {
    /// Kernel text in `colour`, starting on a line of its own (after whatever the console left
    /// on the current one). Line ends in `text` start new lines; other controls are dropped.
    fn kernel_text(&mut self, colour: Option<u8>, text: &str) {
        let screen = self.terminal.screen_mut();
        let pen = screen.pen();
        new_line_unless_at_start(screen);
        screen.set_graphics(Sgr::Reset);
        if let Some(c) = colour {
            screen.set_graphics(Sgr::Foreground(c));
        }
        put_text(screen, text);
        // The console's own colours again, for what it prints next.
        screen.set_graphics(Sgr::Reset);
        screen.set_graphics(Sgr::Foreground(pen.fg));
        screen.set_graphics(Sgr::Background(pen.bg));
        screen.set_graphics(Sgr::Bold(pen.attrs.bold));
        screen.set_graphics(Sgr::Inverse(pen.attrs.inverse));
    }

    /// The kernel draws again: forgets the stream and redraws everything (the front shows
    /// the owner's picture; the shadow is still the kernel's).
    fn take_back(&mut self) {
        self.owner.take_back();
        self.stream = Stream::new(STREAM_BYTES);
        self.terminal.screen_mut().damage_all();
        self.flush(true);
    }

    /// Draws the damage; a scroll only if `force` or the last one was drawn long enough ago.
    /// Nothing while a process owns the screen.
    fn flush(&mut self, force: bool) {
        if self.owner != Owner::Kernel {
            return;
        }
        let now = crate::time::uptime_us();
        let scrolls = self.terminal.screen().scrolled() > 0;
        if scrolls {
            if !force && now.saturating_sub(self.last_scroll_us) < SCROLL_BATCH_US {
                self.pending = true;
                return;
            }
            self.last_scroll_us = now;
            self.stats.scrolls += 1;
        }
        self.renderer
            .flush_dyn(self.terminal.screen_mut(), &mut self.surface);
        self.pending = false;
        if scrolls {
            self.stats.scroll_us += crate::time::uptime_us().saturating_sub(now);
        }
    }
}

/// Starts a new line unless the cursor is at the start of one.
fn new_line_unless_at_start(screen: &mut vt::Screen) {
    let cursor = screen.cursor();
    if cursor.col != 0 || cursor.wrap_pending {
        screen.carriage_return();
        screen.line_feed();
    }
}

/// Prints `text` at the cursor: a line end starts a new line, other controls are dropped.
fn put_text(screen: &mut vt::Screen, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => {
                screen.carriage_return();
                screen.line_feed();
            }
            c if c.is_control() => {}
            c => screen.print(c),
        }
    }
}

/// Runs `f` on the screen with interrupts off, counting its time; nothing before [`init`].
fn with_screen(f: impl FnOnce(&mut State)) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(state) = SCREEN.lock().as_mut() {
            let start = crate::time::uptime_us();
            f(state);
            state.stats.busy_us += crate::time::uptime_us().saturating_sub(start);
        }
    });
}

/// What drawing has cost so far; `None` without a screen.
pub fn stats() -> Option<Stats> {
    x86_64::instructions::interrupts::without_interrupts(|| SCREEN.lock().as_ref().map(|s| s.stats))
}

/// One kernel log line (the `klog` mirror): coloured by level, then drawn (or queued for
/// the screen's owner).
pub fn log_line(level: Level, text: &str) {
    with_screen(|s| {
        s.stats.lines += 1;
        if s.owner != Owner::Kernel {
            let screen = s.terminal.screen();
            let c = screen.cursor();
            let stream = &mut s.stream;
            let at_start = c.col == 0 && !c.wrap_pending;
            handover::kernel_text_bytes(
                at_start,
                level_colour(level),
                text,
                screen.pen(),
                &mut |b| stream.push(b),
            );
            stream.push(b"\r\n");
        }
        s.kernel_text(level_colour(level), text);
        let screen = s.terminal.screen_mut();
        screen.carriage_return();
        screen.line_feed();
        s.flush(false);
    });
}

/// Console output (CONSOLE_WRITE), as the program wrote it; drawn at once (or queued for the
/// screen's owner).
pub fn console_write(bytes: &[u8]) {
    with_screen(|s| {
        s.stats.writes += 1;
        if s.owner != Owner::Kernel {
            s.stream.push(bytes);
        }
        s.terminal.feed(bytes);
        s.flush(true);
    });
}

/// Draws whatever is still waiting (a batched scroll).
pub fn flush() {
    with_screen(|s| {
        if s.pending {
            s.flush(true);
        }
    });
}

/// Whether the kernel draws on a framebuffer (so it can hand it over).
pub fn is_up() -> bool {
    x86_64::instructions::interrupts::without_interrupts(|| SCREEN.lock().is_some())
}

/// The framebuffer, if the kernel has it to hand over: its description (`addr`: physical)
/// and length in bytes.
///
/// # Errors
/// [`HandoverError::Busy`] when a process owns it already.
pub fn available() -> Option<Result<(abi::screen::Framebuffer, u64), HandoverError>> {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let guard = SCREEN.lock();
        let s = guard.as_ref()?;
        Some(match s.owner {
            Owner::Kernel => Ok((s.described, s.surface.front_len() as u64)),
            Owner::Process(owner) => Err(HandoverError::Busy { owner }),
        })
    })
}

/// Hands the screen to process `pid` (named `name`, for the log): from now on the kernel
/// queues what it would draw, starting with its screen as it is.
///
/// # Errors
/// [`HandoverError::Busy`] when a process owns it already; nothing changes then.
pub fn hand_over(pid: u32, name: &str) -> Result<(), HandoverError> {
    let mut result = Ok((0, 0));
    with_screen(|s| {
        result = s
            .owner
            .hand_to(pid)
            .map(|()| (s.described.width, s.described.height));
        if result.is_ok() {
            // What the kernel batched is on its screen, so it goes out in the replay.
            let stream = &mut s.stream;
            handover::replay(s.terminal.screen(), &mut |b| stream.push(b));
        }
    });
    let (width, height) = result?;
    log::info!("{SCREEN_HANDED_START}{name} ({width}x{height})");
    Ok(())
}

/// Moves what the owner `pid` has yet to draw into `out`; `None` if `pid` does not own the
/// screen.
pub fn read(pid: u32, out: &mut [u8]) -> Option<usize> {
    let mut n = None;
    with_screen(|s| {
        if s.owner.is(pid) {
            n = Some(s.stream.take(out));
        }
    });
    n
}

/// Process `pid` ended: if it owned the screen, the kernel takes it back and redraws it.
pub fn process_ended(pid: u32) {
    let mut lost = None;
    with_screen(|s| {
        if s.owner.ended(pid) {
            lost = Some(s.stream.lost());
            s.take_back();
        }
    });
    if let Some(lost) = lost {
        log::info!(
            "{SCREEN_TAKEN_BACK_START}{pid}, which ended ({lost} bytes it had not read were dropped)"
        );
    }
}

/// A piece of a fatal report (the `klog` mirror's emergency path), in bright red, drawn at
/// once. Never waits: if the screen is busy (the fault interrupted a draw) only the serial
/// line gets it.
pub fn emergency(text: &str) {
    let Some(mut guard) = SCREEN.try_lock() else {
        return;
    };
    let Some(s) = guard.as_mut() else { return };
    // Whoever owned the screen, the report is drawn: a user must see why the machine stopped.
    if s.owner != Owner::Kernel {
        s.take_back();
    }
    // The report starts on a line of its own; its pieces are parts of lines.
    let screen = s.terminal.screen_mut();
    if !s.in_report {
        new_line_unless_at_start(screen);
        s.in_report = true;
    }
    screen.set_graphics(Sgr::Reset);
    screen.set_graphics(Sgr::Foreground(BRIGHT_RED));
    put_text(screen, text);
    screen.set_graphics(Sgr::Reset);
    s.flush(true);
}
