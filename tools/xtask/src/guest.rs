//! A booted guest driven like a user at the serial console: type a command, read what it
//! printed up to the next prompt, pull the plug (SIGKILL) at any moment. Used by the scenarios
//! that need more than a fixed script (power cuts, host-side files).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::qemu::{self, QemuConfig, Serial};
use crate::serial_log;

/// The console's prompt (`cli_console`).
pub const PROMPT: &str = "pandagen> ";

/// How often waits look at the log.
const POLL: Duration = Duration::from_millis(5);

/// One QEMU run with its serial line on a socket.
pub struct Guest {
    child: Child,
    stream: UnixStream,
    /// Everything the guest printed so far (also copied to the serial log file).
    text: Arc<Mutex<Vec<u8>>>,
    reader: Option<thread::JoinHandle<()>>,
    /// Where the next wait starts looking.
    pos: usize,
}

impl Guest {
    /// Starts QEMU with `config` (its serial line becomes a socket next to `serial_log`).
    pub fn start(
        qemu_bin: &Path,
        config: &QemuConfig,
        serial_log: &Path,
        qemu_log: &Path,
    ) -> Result<Guest> {
        let socket = serial_log.with_extension("sock");
        let _ = fs::remove_file(&socket);
        let mut config = config.clone();
        config.serial = Serial::Socket(socket.clone());
        let out =
            File::create(qemu_log).with_context(|| format!("creating {}", qemu_log.display()))?;
        let err = out.try_clone()?;
        let mut child = Command::new(qemu_bin)
            .args(qemu::qemu_args(&config))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", qemu_bin.display()))?;
        let stream = match connect(&socket, &mut child) {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let text = Arc::new(Mutex::new(Vec::new()));
        let reader = spawn_reader(stream.try_clone()?, Arc::clone(&text), serial_log)?;
        Ok(Guest {
            child,
            stream,
            text,
            reader: Some(reader),
            pos: 0,
        })
    }

    /// Everything printed so far, as printable text.
    pub fn log(&self) -> String {
        let bytes = self.text.lock().expect("log lock").clone();
        serial_log::printable(&String::from_utf8_lossy(&bytes))
    }

    /// Waits until `needle` appears after the last match; returns the text up to and
    /// including it (from the last match) and moves past it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        self.wait_any(&[needle], timeout).map(|(_, text)| text)
    }

    /// Waits for the first of `needles` to appear after the last match; returns its index and
    /// the text up to and including it, and moves past it.
    pub fn wait_any(&mut self, needles: &[&str], timeout: Duration) -> Result<(usize, String)> {
        let start = Instant::now();
        loop {
            let found = {
                let bytes = self.text.lock().expect("log lock");
                let rest = bytes.get(self.pos..).unwrap_or(&[]);
                let hits = needles
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| find(rest, n.as_bytes()).map(|at| (at, i, n.len())));
                hits.min().map(|(at, i, len)| {
                    let end = self.pos + at + len;
                    let text = String::from_utf8_lossy(&bytes[self.pos..end]).into_owned();
                    (i, text, end)
                })
            };
            if let Some((i, text, end)) = found {
                self.pos = end;
                return Ok((i, text));
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "QEMU exited ({status}) before {needles:?} appeared; last lines:\n{}",
                    self.tail()
                );
            }
            if start.elapsed() >= timeout {
                bail!(
                    "no {needles:?} within {:.0} s; last lines:\n{}",
                    timeout.as_secs_f64(),
                    self.tail()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Types `line` and Enter, slowly enough for the guest's 16-byte UART FIFO.
    pub fn type_line(&mut self, line: &str) -> Result<()> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\r');
        for chunk in bytes.chunks(8) {
            self.stream.write_all(chunk)?;
            thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// At a prompt: types `command`, waits for the next prompt and returns the lines the
    /// command printed (kernel log lines left out).
    pub fn command(&mut self, command: &str, timeout: Duration) -> Result<Vec<String>> {
        self.type_line(command)?;
        self.output(command, timeout)
    }

    /// After typing `command`: waits for the next prompt and returns what it printed.
    pub fn output(&mut self, command: &str, timeout: Duration) -> Result<Vec<String>> {
        let out = self.wait_for(&format!("\n{PROMPT}"), timeout)?;
        Ok(output_lines(&out, command))
    }

    /// Pulls the plug: SIGKILL, then waits for QEMU and the reader. The disk image holds
    /// whatever QEMU had written to it (QEMU opens it without a host cache of its own).
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.finish()
    }

    /// Waits for QEMU to end on its own (e.g. after `poweroff`); returns its exit code.
    pub fn wait_exit(mut self, timeout: Duration) -> Result<(Option<i32>, String)> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok((status.code(), self.finish()));
            }
            if start.elapsed() >= timeout {
                let log = self.kill();
                bail!(
                    "QEMU did not exit within {:.0} s; last lines:\n{}",
                    timeout.as_secs_f64(),
                    tail(&log)
                );
            }
            thread::sleep(POLL);
        }
    }

    fn finish(&mut self) -> String {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.log()
    }

    fn tail(&self) -> String {
        tail(&self.log())
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(log: &str) -> String {
    serial_log::last_lines(log, 20).to_string()
}

fn connect(socket: &Path, qemu: &mut Child) -> Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match UnixStream::connect(socket) {
            Ok(s) => return Ok(s),
            Err(_) if Instant::now() < deadline && qemu.try_wait()?.is_none() => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("connecting to QEMU's console socket {}", socket.display())
                })
            }
        }
    }
}

fn spawn_reader(
    mut from: UnixStream,
    text: Arc<Mutex<Vec<u8>>>,
    log: &Path,
) -> Result<thread::JoinHandle<()>> {
    let mut out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    Ok(thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = out.write_all(&buf[..n]);
            text.lock().expect("log lock").extend_from_slice(&buf[..n]);
        }
    }))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The lines a command printed: after its echo, without the prompt and kernel log lines.
fn output_lines(out: &str, command: &str) -> Vec<String> {
    let out = out.strip_suffix(PROMPT).unwrap_or(out);
    let text = serial_log::printable(out);
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    // Up to and including the echo of the command.
    for l in lines.by_ref() {
        if l.ends_with(command) {
            break;
        }
    }
    lines
        .filter(|l| !is_kernel_line(l) && !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `[    6.007976] INFO  ...`: a kernel log line interleaved with the console's output.
fn is_kernel_line(l: &str) -> bool {
    l.starts_with('[')
        && l.contains("] ")
        && l[1..]
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_output_skips_the_echo_and_kernel_lines() {
        let out = "cat a.txt\r\nline one\r\n[    6.0] INFO  x: y\r\nline two\r\npandagen> ";
        assert_eq!(output_lines(out, "cat a.txt"), ["line one", "line two"]);
        assert!(is_kernel_line("[   12.345] WARN  a"));
        assert!(!is_kernel_line("[not a time] x"));
    }
}
