//! Scenarios of the user-data filesystem that a fixed console script cannot express: power
//! cuts (SIGKILL) at random moments over many boots of one image, and files moved between
//! the host (`cargo xtask fs`) and the guest.

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::guest::{Guest, PROMPT};
use crate::qemu::QemuConfig;

/// Which host-driven scenario a [`crate::scenarios::Scenario`] runs instead of a plain boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// [`power_cut`].
    PowerCut,
    /// [`big_file`].
    BigFile,
    /// [`convert`].
    Convert,
    /// An A/B slot scenario ([`crate::slot_scenarios`]).
    Slots(crate::slot_scenarios::SlotDriver),
    /// A screen scenario ([`crate::screen_scenarios`]).
    Screen(crate::screen_scenarios::ScreenDriver),
    /// A USB scenario ([`crate::usb_scenarios`]).
    Usb(crate::usb_scenarios::UsbDriver),
    /// A keyboard-layout scenario ([`crate::keyboard_scenarios`]).
    Keyboard(crate::keyboard_scenarios::KeyboardDriver),
    /// A delta-update scenario ([`crate::update_scenarios`]).
    Update(crate::update_scenarios::UpdateDriver),
    /// A network scenario ([`crate::net_scenarios`]).
    Net(crate::net_scenarios::NetDriver),
    /// An HTTP scenario ([`crate::http_scenarios`]).
    Http(crate::http_scenarios::HttpDriver),
    /// The `http` command against a server on the host ([`crate::http_get_scenarios`]).
    HttpGet,
}

/// What a driver needs to boot its image.
pub struct Env<'a> {
    pub qemu_bin: &'a Path,
    pub config: &'a QemuConfig,
    pub image: &'a Path,
    pub serial_log: &'a Path,
    pub qemu_log: &'a Path,
    /// Per boot.
    pub timeout: Duration,
}

impl Env<'_> {
    /// Boot `n` of the image: a new QEMU, its serial log beside the scenario's.
    pub fn boot(&self, n: usize) -> Result<Guest> {
        let serial = self.serial_log.with_extension(format!("boot{n}.log"));
        Guest::start(self.qemu_bin, self.config, &serial, self.qemu_log)
    }
}

/// Runs the driver; `Ok` holds the report lines.
pub fn run(driver: Driver, env: &Env<'_>) -> Result<String> {
    match driver {
        Driver::PowerCut => {
            let seed = seed_from_env("PANDAGEN_POWERCUT_SEED");
            power_cut(env, seed)
                .with_context(|| format!("seed {seed} (PANDAGEN_POWERCUT_SEED={seed} replays it)"))
        }
        Driver::BigFile => big_file(env),
        Driver::Convert => convert(env),
        Driver::Slots(d) => crate::slot_scenarios::run(d, env),
        Driver::Screen(d) => crate::screen_scenarios::run(d, env),
        Driver::Usb(d) => crate::usb_scenarios::run(d, env),
        Driver::Keyboard(d) => crate::keyboard_scenarios::run(d, env),
        Driver::Update(d) => crate::update_scenarios::run(d, env),
        Driver::Net(d) => crate::net_scenarios::run(d, env),
        Driver::Http(d) => crate::http_scenarios::run(d, env),
        Driver::HttpGet => crate::http_get_scenarios::run(env),
    }
}

/// A power-cut scenario's random seed: `var` if set (to replay a run), else the clock.
pub fn seed_from_env(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        })
}

/// Boots of the power-cut scenario, each killed (the last one powers off cleanly).
pub const POWER_CUT_BOOTS: usize = 12;
const NAMES: [&str; 5] = ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"];

/// A console operation on the files and the line that acknowledges it.
#[derive(Debug, Clone)]
enum Op {
    Write(&'static str, String),
    Append(&'static str, String),
    Move(&'static str, &'static str),
    Remove(&'static str),
}

type Files = BTreeMap<&'static str, String>;

impl Op {
    fn command(&self) -> String {
        match self {
            Op::Write(f, t) => format!("write {f} {t}"),
            Op::Append(f, t) => format!("append {f} {t}"),
            Op::Move(a, b) => format!("mv {a} {b}"),
            Op::Remove(f) => format!("rm {f}"),
        }
    }

    fn ack(&self) -> String {
        match self {
            Op::Write(f, t) => format!("wrote {} bytes to {f}", t.len()),
            Op::Append(f, t) => format!("appended {} bytes to {f}", t.len()),
            Op::Move(a, b) => format!("moved {a} to {b}"),
            Op::Remove(f) => format!("removed {f}"),
        }
    }

    fn apply(&self, files: &Files) -> Files {
        let mut after = files.clone();
        match self {
            Op::Write(f, t) => {
                after.insert(f, t.clone());
            }
            Op::Append(f, t) => after.entry(f).or_default().push_str(t),
            Op::Move(a, b) => {
                let v = after.remove(a).unwrap_or_default();
                after.insert(b, v);
            }
            Op::Remove(f) => {
                after.remove(f);
            }
        }
        after
    }
}

/// xorshift64*: the scenario's choices, replayable from the seed it prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn random_op(rng: &mut Rng, files: &Files, tag: &str) -> Op {
    let existing: Vec<&'static str> = files.keys().copied().collect();
    let text = format!("{tag} {}", rng.below(1_000_000));
    match (rng.below(10), existing.is_empty()) {
        (0..=3, _) | (_, true) => Op::Write(rng.pick(&NAMES), text),
        // The console takes the text after one space: it cannot start with a space.
        (4..=5, false) => Op::Append(rng.pick(&NAMES), format!("+{text}")),
        (6..=7, false) => {
            let from = rng.pick(&existing);
            let to = NAMES
                .iter()
                .copied()
                .find(|n| *n != from && rng.below(2) == 0);
            Op::Move(
                from,
                to.unwrap_or(if from == NAMES[0] { NAMES[1] } else { NAMES[0] }),
            )
        }
        _ => Op::Remove(rng.pick(&existing)),
    }
}

/// What the guest holds now: `cat` of every name.
fn read_files(g: &mut Guest, timeout: Duration) -> Result<Files> {
    let mut files = Files::new();
    for name in NAMES {
        let out = g.command(&format!("cat {name}"), timeout)?;
        match out.as_slice() {
            [e] if *e == format!("error: cat {name}: not found") => {}
            [e] if e.starts_with("error:") => bail!("cat {name} failed: {e}"),
            lines => {
                files.insert(name, lines.join("\n"));
            }
        }
    }
    Ok(files)
}

/// At least [`POWER_CUT_BOOTS`] boots of one image, each killed with SIGKILL at a random
/// moment while the console writes, appends, renames and deletes files (the first one while
/// the storage service formats the blank region); after each, every acknowledged operation
/// must be there, and the one in flight either wholly there or not at all.
fn power_cut(env: &Env<'_>, seed: u64) -> Result<String> {
    let mut rng = Rng(seed);
    let mut report = format!("power cut: seed {seed} (PANDAGEN_POWERCUT_SEED={seed} replays it)\n");
    // Boot 0: killed while the storage service makes the filesystem.
    let mut g = env.boot(0)?;
    g.wait_for("services_storage started", env.timeout)?;
    thread::sleep(Duration::from_millis(rng.below(20)));
    let log = g.kill();
    let formatted = log.contains("new pgfs filesystem");
    report.push_str(&format!(
        "boot 0: killed during the first format ({})\n",
        if formatted {
            "it had finished"
        } else {
            "before it finished"
        }
    ));
    let (mut model, mut in_flight): (Files, Option<(Files, Files)>) = (Files::new(), None);
    let (mut acked, mut cuts) = (0, 0);
    for boot in 1..=POWER_CUT_BOOTS {
        let mut g = env.boot(boot)?;
        g.wait_for(PROMPT, env.timeout)?;
        let found = read_files(&mut g, env.timeout)?;
        model = match in_flight.take() {
            Some((before, after)) if found == before || found == after => found,
            Some((before, after)) => bail!(
                "boot {boot}: after the cut the files are {found:?}; expected every acknowledged operation, the one in flight done or not: {before:?} or {after:?}"
            ),
            None if found == model => found,
            None => bail!("boot {boot}: the files are {found:?}, expected {model:?}"),
        };
        if boot == POWER_CUT_BOOTS {
            g.command("poweroff", env.timeout).ok();
            report.push_str(&format!(
                "{POWER_CUT_BOOTS} boots after the first: {cuts} cut during an operation, {acked} acknowledged operations all found\n"
            ));
            return Ok(report);
        }
        // The longest an operation took, from the end of typing to the next prompt: the
        // window the cut is aimed at.
        let mut window = Duration::from_millis(20);
        for i in 0..1 + rng.below(6) {
            let op = random_op(&mut rng, &model, &format!("b{boot}o{i}"));
            g.type_line(&op.command())?;
            let t = Instant::now();
            let out = g.output(&op.command(), env.timeout)?;
            window = window.max(t.elapsed());
            if out != [op.ack()] {
                bail!(
                    "boot {boot}: `{}` printed {out:?}, expected {:?}",
                    op.command(),
                    op.ack()
                );
            }
            model = op.apply(&model);
            acked += 1;
        }
        // The last one: pull the plug at a random moment after typing it.
        let op = random_op(&mut rng, &model, &format!("b{boot}cut"));
        let after = op.apply(&model);
        let mark = g.log().len();
        g.type_line(&op.command())?;
        thread::sleep(window.mul_f64(rng.below(1000) as f64 / 1000.0));
        let log = g.kill();
        if log.get(mark..).is_some_and(|t| t.contains(&op.ack())) {
            model = after;
            acked += 1;
        } else {
            in_flight = Some((model.clone(), after));
            cuts += 1;
        }
    }
    unreachable!("the last boot returns")
}

/// A 64 MiB file put on the host is read back in the guest with `sha256`; a file written in
/// the guest is read back on the host with `fs get`.
fn big_file(env: &Env<'_>) -> Result<String> {
    let dir = env.serial_log.parent().context("scenario directory")?;
    let host = dir.join("big-file.bin");
    let data = big_data(64 << 20);
    std::fs::write(&host, &data).with_context(|| format!("writing {}", host.display()))?;
    let want = sha256_hex(&data);
    let t = std::time::Instant::now();
    crate::fs::put_file(env.image, &host, "/big.bin")?;
    let put = t.elapsed();
    let _ = std::fs::remove_file(&host);
    let mut g = env.boot(0)?;
    g.wait_for(PROMPT, env.timeout)?;
    let out = g.command("sha256 /big.bin", env.timeout * 4)?;
    if out != [format!("{want}  /big.bin")] {
        bail!("sha256 in the guest printed {out:?}, expected {want}  /big.bin");
    }
    let text = "written in the guest";
    let out = g.command(&format!("write /from-guest.txt {text}"), env.timeout)?;
    if out != [format!("wrote {} bytes to /from-guest.txt", text.len())] {
        bail!("write printed {out:?}");
    }
    g.type_line("poweroff")?;
    g.wait_exit(env.timeout)?;
    let got = dir.join("from-guest.txt");
    crate::fs::get_file(env.image, "/from-guest.txt", &got)?;
    let back = std::fs::read(&got).with_context(|| format!("reading {}", got.display()))?;
    if back != text.as_bytes() {
        bail!(
            "fs get /from-guest.txt gave {:?}, expected {text:?}",
            String::from_utf8_lossy(&back)
        );
    }
    Ok(format!(
        "64 MiB put on the host in {:.1} s, sha256 in the guest matches ({want}); the guest's file read back on the host\n",
        put.as_secs_f64()
    ))
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The files of the milestone-1 store the conversion scenario writes: (path, contents).
fn old_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = (0..20)
        .map(|i| (format!("notes/n{i}.txt"), format!("note number {i}")))
        .collect();
    files.push(("top.txt".into(), "at the top".into()));
    files.push(("a/b/c/deep.txt".into(), "four levels".into()));
    files.push(("full.txt".into(), "x".repeat(storage_format::MAX_FILE_SIZE)));
    files
}

/// An image whose region holds the milestone-1 record store (written on the host with the
/// old store's own crate): the storage service converts it on the first boot and every file
/// reads back the same in the console.
fn convert(env: &Env<'_>) -> Result<String> {
    let dev = crate::fs::device::open(env.image, true)?.dev;
    let mut store = storage_format::Store::new(storage_format::convert::PgfsBlocks(dev));
    store
        .mount_in_place()
        .map_err(|e| anyhow::anyhow!("making the old store: {e:?}"))?;
    let files = old_files();
    for (path, text) in &files {
        store
            .write(path, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("old store: writing {path}: {e}"))?;
    }
    drop(store);
    let mut g = env.boot(0)?;
    let converted = format!("services_storage: {}", storage_server::msg::CONVERTED);
    g.wait_for(&converted, env.timeout)?;
    let summary = g.wait_for("\n", env.timeout)?;
    g.wait_for(PROMPT, env.timeout)?;
    for (path, text) in &files {
        let out = g.command(&format!("cat /{path}"), env.timeout)?;
        if out != [text.as_str()] {
            bail!("after the conversion `cat /{path}` printed {out:?}, expected {text:?}");
        }
    }
    g.type_line("poweroff")?;
    g.wait_exit(env.timeout)?;
    Ok(format!(
        "converted on the first boot: {}{}; all {} files read back in the console\n",
        storage_server::msg::CONVERTED,
        summary.trim_end(),
        files.len()
    ))
}

/// Deterministic, incompressible-looking bytes.
fn big_data(len: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}
