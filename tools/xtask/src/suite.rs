//! `cargo xtask test`: host test phases, then the QEMU scenarios in parallel, then a tally.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::atomic::{copy_atomically, write_atomically};
use crate::build::{self, Profile, Workspace};
use crate::corrupt;
use crate::description;
use crate::fs_scenarios::{self, Driver};
use crate::pack;
use crate::qemu::{self, QemuConfig, Serial};
use crate::scenarios::{self, ConsoleStep, DriveRole, End, Scenario};
use crate::serial_log::{self, Pattern, QemuExit, Verdict};
use crate::suite_images;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const TIMEOUT_ENV: &str = "PANDAGEN_QEMU_TIMEOUT";
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const TAIL_LINES: usize = 30;

/// Host test phases: name and cargo arguments (run from the workspace root).
pub const HOST_PHASES: &[(&str, &[&str])] = &[
    (
        "host-tests",
        &[
            "test",
            "--workspace",
            "--exclude",
            build::KERNEL_PACKAGE,
            "--exclude",
            build::STUB_PACKAGE,
        ],
    ),
    (
        "kernel-lib-tests",
        &["test", "-p", build::KERNEL_PACKAGE, "--lib"],
    ),
];

#[derive(Debug, Clone)]
pub struct TestOptions {
    pub profile: Profile,
    /// A scenario or host phase name: run only that.
    pub only: Option<String>,
    pub jobs: usize,
    pub timeout: Duration,
}

/// `PANDAGEN_QEMU_TIMEOUT` in seconds (fractions allowed), or the default.
pub fn parse_timeout(value: Option<&str>) -> Result<Duration> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_TIMEOUT);
    };
    match v.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Ok(Duration::from_secs_f64(secs)),
        _ => bail!("{TIMEOUT_ENV}={v:?} is not a positive number of seconds"),
    }
}

/// What to run, after `--only`.
#[derive(Debug, PartialEq, Eq)]
pub struct Selection {
    pub phases: Vec<&'static str>,
    pub scenarios: Vec<Scenario>,
}

/// `only`: comma-separated host phase and scenario names (each run once, in suite order).
pub fn select(only: Option<&str>, all: Vec<Scenario>) -> Result<Selection> {
    let phases: Vec<&'static str> = HOST_PHASES.iter().map(|(n, _)| *n).collect();
    let Some(only) = only else {
        return Ok(Selection {
            phases,
            scenarios: all,
        });
    };
    let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
    for w in &wanted {
        if !phases.contains(w) && !all.iter().any(|s| s.name == *w) {
            let names: Vec<&str> = phases
                .iter()
                .copied()
                .chain(all.iter().map(|s| s.name))
                .collect();
            bail!("no test named {w:?}; known: {}", names.join(", "));
        }
    }
    Ok(Selection {
        phases: phases.into_iter().filter(|p| wanted.contains(p)).collect(),
        scenarios: all
            .into_iter()
            .filter(|s| wanted.contains(&s.name))
            .collect(),
    })
}

/// The tally line, exactly as CI reads it.
pub fn summary_line(passed: usize, failed: usize) -> String {
    format!("{passed} passed, {failed} failed")
}

/// Runs the suite; prints the tally last. `Ok(false)` when something failed.
pub fn run(ws: &Workspace, opts: &TestOptions) -> Result<bool> {
    let selection = select(opts.only.as_deref(), scenarios::all())?;
    let (mut passed, mut failed) = (0, 0);

    for name in &selection.phases {
        let args = HOST_PHASES
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .expect("selected from HOST_PHASES");
        println!("xtask: {name}: cargo {}", args.join(" "));
        match build::run_cargo(ws, args) {
            Ok(()) => {
                println!("PASS {name}");
                passed += 1;
            }
            Err(e) => {
                println!("FAIL {name}: {e:#}");
                failed += 1;
                println!("{}", summary_line(passed, failed));
                return Ok(false);
            }
        }
    }

    if !selection.scenarios.is_empty() {
        match run_scenarios(ws, opts, &selection.scenarios) {
            Ok((p, f)) => {
                passed += p;
                failed += f;
            }
            Err(e) => {
                println!("FAIL qemu scenarios: {e:#}");
                failed += selection.scenarios.len();
            }
        }
    }
    println!("{}", summary_line(passed, failed));
    Ok(failed == 0)
}

/// One scenario's files under `target/qemu-tests/`.
struct Prepared {
    scenario: Scenario,
    config: QemuConfig,
    serial_log: PathBuf,
    qemu_log: PathBuf,
    /// Set when the host-side loader already disagrees with the scenario (not booted then).
    host_failure: Option<String>,
}

/// The data region of test images: small, but present (the truncation fault cuts inside it).
pub const TEST_DATA_SIZE: u64 = crate::image::MIB;

fn run_scenarios(ws: &Workspace, opts: &TestOptions, list: &[Scenario]) -> Result<(usize, usize)> {
    let qemu_bin = qemu::find_qemu_on_host()?;
    let ovmf = qemu::find_ovmf_on_host()?;
    // Every description the selected scenarios pack (slot B's and a second image's too); build
    // the union of their components.
    let mut systems: Vec<&str> = list
        .iter()
        .flat_map(|s| {
            let second = s
                .second_boot
                .as_ref()
                .and_then(|b| b.replace.map(|(p, _)| p));
            [Some(s.system), s.slot_b, second]
        })
        .flatten()
        .collect();
    systems.sort_unstable();
    systems.dedup();
    let descs = systems
        .iter()
        .map(|p| description::Description::load(&ws.root.join(p)))
        .collect::<Result<Vec<_>>>()?;
    let (mut packages, mut binaries): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for d in &descs {
        packages.extend(d.packages());
        binaries.extend(d.binaries());
    }
    packages.sort_unstable();
    packages.dedup();
    binaries.sort_unstable();
    binaries.dedup();
    let artifacts = build::build_all(ws, opts.profile, &packages, &binaries)?;
    let dir = ws.target_dir.join("qemu-tests");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let images = suite_images::Images::new(ws, &artifacts, &dir, list)?;
    let corrupt = list.iter().filter(|s| s.corruption.is_some()).count();
    let jobs = opts.jobs.max(1).min(list.len().max(1));
    println!(
        "xtask: running {} QEMU scenario(s), {jobs} at a time, timeout {:.0} s; each image is written \
         just before its boot ({corrupt} with a fault, each checked on the host with the loader) \
         and removed when its scenario passes",
        list.len(),
        opts.timeout.as_secs_f64()
    );
    let queue = Mutex::new(list.iter());
    let results = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let next = queue.lock().expect("queue lock").next();
                let Some(s) = next else { break };
                let outcome = match prepare(s, &images, &ovmf, &dir) {
                    Err(e) => Outcome {
                        passed: false,
                        report: format!("FAIL {} (its image): {e:#}\n", s.name),
                    },
                    Ok(p) => match &p.host_failure {
                        Some(why) => Outcome {
                            passed: false,
                            report: format!("FAIL {} (not booted): {why}\n", s.name),
                        },
                        None => {
                            let outcome = run_one(&qemu_bin, &p, opts.timeout);
                            if outcome.passed {
                                let disks: Vec<PathBuf> =
                                    p.config.disks.iter().map(|d| d.path.clone()).collect();
                                suite_images::remove_disks(&disks, &p.config.ovmf_vars);
                            }
                            outcome
                        }
                    },
                };
                print!("{}", outcome.report);
                results.lock().expect("results lock").push(outcome.passed);
            });
        }
    });
    let results = results.into_inner().expect("results lock");
    let passed = results.iter().filter(|p| **p).count();
    Ok((passed, results.len() - passed))
}

/// How many times the suite's timeout a network-boot scenario gets.
const NETBOOT_TIMEOUT_FACTOR: u32 = 3;

/// The scenario's image, firmware variables and QEMU configuration, made just before it boots.
fn prepare(
    s: &Scenario,
    images: &suite_images::Images<'_>,
    ovmf: &qemu::Ovmf,
    dir: &Path,
) -> Result<Prepared> {
    let made = images.prepare(s)?;
    let image = made.image;
    let vars = dir.join(format!("{}.vars.fd", s.name));
    let serial_log = dir.join(format!("{}.serial.log", s.name));
    let qemu_log = dir.join(format!("{}.qemu.log", s.name));
    copy_atomically(&ovmf.vars, &vars)?;
    let mut config = QemuConfig::new(
        ovmf.code.clone(),
        vars,
        image.clone(),
        Serial::File(serial_log.clone()),
    );
    config.disks = drives_for(s, &image, dir)?;
    config.machine = s.machine;
    config.cpu = s.cpu.map(String::from);
    config.debug_exit = true;
    config.nics = s.nics.to_vec();
    if s.netboot {
        config.tftp_root = Some(image.clone());
    }
    if s.spec_command {
        config.ovmf_code = qemu::spec_bios(ovmf);
        config.bios = true;
        config.memory_mib = None;
    }
    Ok(Prepared {
        scenario: s.clone(),
        config,
        serial_log,
        qemu_log,
        host_failure: made.host_failure,
    })
}

/// Size of a scenario's blank disk.
const BLANK_DISK_BYTES: u64 = 8 * crate::image::MIB;

/// The scenario's disks in order: its image, and fresh (sparse, zero) blank disks.
fn drives_for(s: &Scenario, image: &Path, dir: &Path) -> Result<Vec<qemu::Drive>> {
    let mut drives = Vec::new();
    for (i, role) in s.drives.iter().enumerate() {
        drives.push(match *role {
            DriveRole::Image(attach) => qemu::Drive {
                path: image.to_path_buf(),
                attach,
            },
            DriveRole::Blank(attach) => {
                let path = dir.join(format!("{}.blank{i}.img", s.name));
                let file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                file.set_len(BLANK_DISK_BYTES)?;
                qemu::Drive { path, attach }
            }
        });
    }
    Ok(drives)
}

struct Outcome {
    passed: bool,
    /// Complete text to print at once, so parallel scenarios do not interleave.
    report: String,
}

/// Kills and reaps QEMU however the runner leaves.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn run_one(qemu_bin: &Path, p: &Prepared, timeout: Duration) -> Outcome {
    // A network boot fetches the (debug) kernel and module over TFTP in 512-byte blocks:
    // some 40 s for 50 MiB on a busy 2-core host, on top of the boot itself.
    let timeout = if p.scenario.netboot {
        timeout * NETBOOT_TIMEOUT_FACTOR
    } else {
        timeout
    };
    if let Some(driver) = p.scenario.driver {
        return run_driven(qemu_bin, p, driver, timeout);
    }
    let first = Boot {
        config: p.config.clone(),
        serial_log: &p.serial_log,
        expect: &p.scenario.expect,
        end: p.scenario.end,
        console: p.scenario.console,
    };
    let mut outcome = run_boot(qemu_bin, p, &first, "", timeout);
    if let (true, Some(second)) = (outcome.passed, &p.scenario.second_boot) {
        // The same image file again (what the first boot wrote must be there), with its
        // own serial log.
        if second.replace.is_some() {
            let disk = &p.config.disks[0].path;
            if let Err(e) = splice_system(&suite_images::next_image(disk), disk) {
                outcome.passed = false;
                outcome
                    .report
                    .push_str(&format!("FAIL {} (second image): {e:#}\n", p.scenario.name));
                return outcome;
            }
        }
        let serial_log = p.serial_log.with_extension("boot2.log");
        let mut config = p.config.clone();
        config.serial = Serial::File(serial_log.clone());
        let boot = Boot {
            config,
            serial_log: &serial_log,
            expect: &second.expect,
            end: second.end,
            console: second.console,
        };
        let again = run_boot(qemu_bin, p, &boot, " (second boot)", timeout);
        outcome.passed = again.passed;
        outcome.report.push_str(&again.report);
    }
    if outcome.passed && !p.scenario.inspect_after.is_empty() {
        let disk = &p.config.disks[0].path;
        if let Err(e) = check_inspect(disk, p.scenario.inspect_after) {
            outcome.passed = false;
            outcome
                .report
                .push_str(&format!("FAIL {} (inspect): {e:#}\n", p.scenario.name));
        }
    }
    outcome
}

/// `cargo xtask inspect`'s report of `disk` holds every text of `want`.
fn check_inspect(disk: &Path, want: &[&str]) -> Result<()> {
    let findings = crate::inspect::examine(disk)?;
    let report = crate::inspect::inspect_report(disk, &findings);
    for text in want {
        anyhow::ensure!(
            report.contains(text),
            "the inspect report has no {text:?}:\n{report}"
        );
    }
    Ok(())
}

/// Writes `next`'s system (everything before its user-data region) with `disk`'s user-data
/// region over `disk`: another system booting on the same data (a downgrade, an update).
fn splice_system(next: &Path, disk: &Path) -> Result<()> {
    let region = |path: &Path| -> Result<(File, loader::Superblock)> {
        let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut block0 = vec![0u8; loader::BLOCK_SIZE];
        f.read_exact(&mut block0)?;
        let sb = loader::Superblock::decode(&block0)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok((f, sb))
    };
    let (_, old) = region(disk)?;
    let (mut src, new) = region(next)?;
    let blocks = |sb: &loader::Superblock| sb.total_blocks - sb.data_start;
    anyhow::ensure!(
        blocks(&old) == blocks(&new),
        "the two images' user-data regions differ in size"
    );
    let mut data = vec![0u8; (blocks(&old) * pack::BLOCK) as usize];
    {
        use std::io::{Seek, SeekFrom};
        let mut f = File::open(disk)?;
        f.seek(SeekFrom::Start(old.data_start * pack::BLOCK))?;
        f.read_exact(&mut data)?;
    }
    write_atomically(disk, |out| {
        use std::io::{Seek, SeekFrom};
        corrupt::copy_sparse(&mut src, out)?;
        out.seek(SeekFrom::Start(new.data_start * pack::BLOCK))?;
        out.write_all(&data)?;
        Ok(())
    })
}

/// A host-driven scenario ([`fs_scenarios`]): its own boots and checks.
fn run_driven(qemu_bin: &Path, p: &Prepared, driver: Driver, timeout: Duration) -> Outcome {
    let name = p.scenario.name;
    let start = Instant::now();
    println!("xtask: {name}: starting (host-driven, several boots)");
    let env = fs_scenarios::Env {
        qemu_bin,
        config: &p.config,
        image: &p.config.disks[0].path,
        serial_log: &p.serial_log,
        qemu_log: &p.qemu_log,
        timeout,
    };
    let secs = || start.elapsed().as_secs_f64();
    match fs_scenarios::run(driver, &env) {
        Ok(report) => Outcome {
            passed: true,
            report: format!("{report}PASS {name} ({:.1} s)\n", secs()),
        },
        Err(e) => Outcome {
            passed: false,
            report: format!("FAIL {name} after {:.1} s: {e:#}\n", secs()),
        },
    }
}

fn run_boot(
    qemu_bin: &Path,
    p: &Prepared,
    boot: &Boot<'_>,
    which: &str,
    timeout: Duration,
) -> Outcome {
    let name = p.scenario.name;
    match watch(qemu_bin, p, boot, timeout) {
        Ok((verdict, first, elapsed)) => {
            let mut report = String::new();
            if let Some(t) = first {
                report.push_str(&format!(
                    "{name}{which}: {} after {:.1} s\n",
                    boot.expect[0],
                    t.as_secs_f64()
                ));
            }
            if p.scenario.check_must_fail {
                report.push_str(&must_fail_report(name, &verdict, elapsed));
                let passed = matches!(&verdict, Verdict::Fail(f) if f.is_about_states());
                if !passed {
                    report.push_str(&failure_details(p, boot.serial_log));
                }
                return Outcome { passed, report };
            }
            let passed = verdict == Verdict::Pass;
            if let Verdict::Fail(failure) = verdict {
                report.push_str(&format!(
                    "FAIL {name}{which} after {:.1} s: {failure}\n",
                    elapsed.as_secs_f64()
                ));
                report.push_str(&failure_details(p, boot.serial_log));
            } else {
                report.push_str(&format!(
                    "PASS {name}{which} ({:.1} s)\n",
                    elapsed.as_secs_f64()
                ));
            }
            Outcome { passed, report }
        }
        Err(e) => Outcome {
            passed: false,
            report: format!(
                "FAIL {name}{which}: {e:#}\n{}",
                failure_details(p, boot.serial_log)
            ),
        },
    }
}

/// The report of a test of the test: the normal check must have failed, on the state records.
fn must_fail_report(name: &str, verdict: &Verdict, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    match verdict {
        Verdict::Fail(f) if f.is_about_states() => format!(
            "PASS {name} ({secs:.1} s): the normal boot check failed on this broken image, as it must: {f}\n"
        ),
        Verdict::Fail(f) => format!(
            "FAIL {name} after {secs:.1} s: the normal boot check failed, but not on the state records: {f}\n"
        ),
        _ => format!(
            "FAIL {name} after {secs:.1} s: the normal boot check PASSED on an image whose console exits before READY\n"
        ),
    }
}

fn failure_details(p: &Prepared, serial: &Path) -> String {
    let log = serial_log::printable(&read_lossy(serial));
    let mut s = format!(
        "--- last {TAIL_LINES} lines of {} ---\n{}\n",
        serial.display(),
        serial_log::last_lines(&log, TAIL_LINES)
    );
    let qemu_out = serial_log::printable(&read_lossy(&p.qemu_log));
    if !qemu_out.trim().is_empty() {
        s.push_str(&format!(
            "--- QEMU output ({}) ---\n{}\n",
            p.qemu_log.display(),
            serial_log::last_lines(&qemu_out, 10)
        ));
    }
    s.push_str("---\n");
    s
}

/// One QEMU run of a scenario: its configuration, serial log and expectations.
struct Boot<'a> {
    config: QemuConfig,
    serial_log: &'a Path,
    expect: &'a [Pattern],
    end: End,
    /// Typed on the console; when non-empty the serial line is a socket (see [`Console`]).
    console: &'static [ConsoleStep],
}

/// Spawns QEMU and polls until the verdict; returns it with the time of the first match.
fn watch(
    qemu_bin: &Path,
    p: &Prepared,
    boot: &Boot<'_>,
    timeout: Duration,
) -> Result<(Verdict, Option<Duration>, Duration)> {
    let s = &p.scenario;
    match fs::remove_file(boot.serial_log) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", boot.serial_log.display()))
        }
        _ => {}
    }
    let out =
        File::create(&p.qemu_log).with_context(|| format!("creating {}", p.qemu_log.display()))?;
    let err = out.try_clone()?;
    println!(
        "xtask: {}: starting QEMU (-machine {}, cmdline {:?})",
        s.name,
        s.machine.as_str(),
        s.cmdline
    );
    let mut config = boot.config.clone();
    let socket = boot.serial_log.with_extension("sock");
    if !boot.console.is_empty() {
        let _ = fs::remove_file(&socket);
        config.serial = Serial::Socket(socket.clone());
    }
    let start = Instant::now();
    let child = Command::new(qemu_bin)
        .args(qemu::qemu_args(&config))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", qemu_bin.display()))?;
    let mut child = KillOnDrop(child);
    let mut console = if boot.console.is_empty() {
        None
    } else {
        Some(Console::connect(
            &socket,
            boot.serial_log,
            boot.console,
            &mut child.0,
        )?)
    };
    let mut first_match = None;
    loop {
        // Observe the exit before reading the log, so a final read sees everything.
        let exit = child.0.try_wait()?.map(|st| QemuExit(st.code()));
        if exit.is_some() {
            if let Some(c) = console.take() {
                c.finish();
            }
        }
        let log = read_lossy(boot.serial_log);
        if let Some(c) = console.as_mut() {
            c.type_ready_steps(&log)?;
        }
        let text = serial_log::printable(&log);
        let scan = serial_log::scan(&text, boot.expect, s.forbid, exit.is_some());
        if scan.matched > 0 && first_match.is_none() {
            first_match = Some(start.elapsed());
        }
        let timed_out = start.elapsed() >= timeout;
        match serial_log::judge(boot.expect, &scan, boot.end, exit, timed_out) {
            Verdict::Running => thread::sleep(POLL_INTERVAL),
            verdict => return Ok((verdict, first_match, start.elapsed())),
        }
    }
}

/// The serial console as a socket: a thread copies everything the guest prints into the serial
/// log, and [`Console::type_ready_steps`] types each step's input once its cue has appeared.
struct Console {
    stream: UnixStream,
    reader: Option<thread::JoinHandle<()>>,
    steps: &'static [ConsoleStep],
    next: usize,
    cursor: usize,
}

impl Console {
    fn connect(
        socket: &Path,
        log: &Path,
        steps: &'static [ConsoleStep],
        qemu: &mut Child,
    ) -> Result<Self> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline && qemu.try_wait()?.is_none() => {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("connecting to QEMU's console socket {}", socket.display())
                    })
                }
            }
        };
        let mut from_guest = stream.try_clone()?;
        let mut out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from_guest.read(&mut buf) {
                if n == 0 || out.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        Ok(Console {
            stream,
            reader: Some(reader),
            steps,
            next: 0,
            cursor: 0,
        })
    }

    /// Types every step whose cue is in `log` past the previous cue (one step per cue).
    fn type_ready_steps(&mut self, log: &str) -> Result<()> {
        while let Some(step) = self.steps.get(self.next) {
            let Some(at) = log
                .get(self.cursor..)
                .and_then(|rest| rest.find(step.after))
            else {
                break;
            };
            self.cursor += at + step.after.len();
            // Type slowly enough for a 16-byte UART FIFO polled by the guest.
            for chunk in step.input.bytes().chunks(8) {
                self.stream.write_all(chunk)?;
                thread::sleep(Duration::from_millis(2));
            }
            self.next += 1;
        }
        Ok(())
    }

    /// Waits for the reader to drain what QEMU printed last.
    fn finish(mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_parsing() {
        assert_eq!(parse_timeout(None).unwrap(), DEFAULT_TIMEOUT);
        assert_eq!(parse_timeout(Some("")).unwrap(), DEFAULT_TIMEOUT);
        assert_eq!(
            parse_timeout(Some("120")).unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            parse_timeout(Some(" 2.5 ")).unwrap(),
            Duration::from_millis(2500)
        );
        for bad in ["0", "-1", "abc", "inf", "NaN"] {
            assert!(parse_timeout(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn selection() {
        let all = scenarios::all();
        let sel = select(None, all.clone()).unwrap();
        assert_eq!(sel.phases, vec!["host-tests", "kernel-lib-tests"]);
        assert_eq!(sel.scenarios.len(), all.len());

        let sel = select(Some("boot-pc"), all.clone()).unwrap();
        assert!(sel.phases.is_empty());
        assert_eq!(sel.scenarios.len(), 1);
        assert_eq!(sel.scenarios[0].name, "boot-pc");

        let sel = select(Some("host-tests"), all.clone()).unwrap();
        assert_eq!(sel.phases, vec!["host-tests"]);
        assert!(sel.scenarios.is_empty());

        let sel = select(Some("boot-pc,host-tests,boot-q35"), all.clone()).unwrap();
        assert_eq!(sel.phases, vec!["host-tests"]);
        let names: Vec<_> = sel.scenarios.iter().map(|s| s.name).collect();
        assert_eq!(names, ["boot-q35", "boot-pc"]);

        let err = select(Some("nope"), all).unwrap_err().to_string();
        assert!(
            err.contains("boot-q35") && err.contains("kernel-lib-tests"),
            "{err}"
        );
    }

    #[test]
    fn tally_line_shape() {
        assert_eq!(summary_line(5, 1), "5 passed, 1 failed");
    }
}
