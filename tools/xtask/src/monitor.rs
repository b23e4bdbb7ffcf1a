//! The QEMU monitor on a Unix socket (the human monitor protocol), for scenarios that act on
//! the machine from outside: `screendump`, `sendkey`, `device_del`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::fs_scenarios::Env;
use crate::guest::Guest;
use crate::qemu::QemuConfig;
use crate::screen_check::{self, Dump};

/// Boots the scenario's image once with the QEMU monitor on a socket beside the serial log.
pub fn boot_with_monitor(env: &Env<'_>) -> Result<(Guest, Monitor)> {
    boot_with_monitor_using(env, env.config.clone())
}

/// [`boot_with_monitor`] with the machine `config` (the scenario's, changed).
pub fn boot_with_monitor_using(env: &Env<'_>, config: QemuConfig) -> Result<(Guest, Monitor)> {
    boot_n_with_monitor(env, config, 0)
}

/// Boot `n` of the scenario's image on the machine `config`, its serial log `boot<n>.log`.
pub fn boot_n_with_monitor(
    env: &Env<'_>,
    mut config: QemuConfig,
    n: usize,
) -> Result<(Guest, Monitor)> {
    let socket = env.serial_log.with_extension("monitor.sock");
    let _ = std::fs::remove_file(&socket);
    config.monitor = Some(socket.clone());
    let serial = env.serial_log.with_extension(format!("boot{n}.log"));
    let guest = Guest::start(env.qemu_bin, &config, &serial, env.qemu_log)?;
    let monitor = Monitor::connect(&socket)?;
    Ok((guest, monitor))
}

/// The QEMU monitor on a Unix socket (the human monitor protocol).
pub struct Monitor {
    stream: UnixStream,
}

const MONITOR_PROMPT: &[u8] = b"(qemu) ";

impl Monitor {
    pub fn connect(socket: &Path) -> Result<Monitor> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("connecting to the QEMU monitor at {}", socket.display())
                    })
                }
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut m = Monitor { stream };
        m.until_prompt()?;
        Ok(m)
    }

    /// Reads until the monitor's prompt; returns what came before it.
    fn until_prompt(&mut self) -> Result<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(MONITOR_PROMPT) {
            let n = self
                .stream
                .read(&mut buf)
                .context("reading the QEMU monitor")?;
            ensure!(n > 0, "the QEMU monitor closed");
            got.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&got).into_owned())
    }

    /// `screendump PATH`, then the dump parsed.
    pub fn screendump(&mut self, path: &Path) -> Result<Dump> {
        let _ = std::fs::remove_file(path);
        let absolute: PathBuf = std::path::absolute(path)?;
        writeln!(self.stream, "screendump {}", absolute.display())?;
        let answer = self.until_prompt()?;
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "screendump wrote no {} (monitor: {answer:?})",
                path.display()
            )
        })?;
        screen_check::parse_ppm(&bytes)
    }

    /// Runs one monitor command; returns what the monitor answered before its next prompt.
    pub fn command(&mut self, command: &str) -> Result<String> {
        writeln!(self.stream, "{command}")?;
        let answer = self.until_prompt()?;
        // The monitor echoes the command line first and ends with its prompt.
        let answer = answer.strip_suffix("(qemu) ").unwrap_or(&answer);
        Ok(answer
            .split_once('\n')
            .map_or(String::new(), |(_, rest)| rest.trim().to_string()))
    }

    /// Types `text` on the machine's keyboard, one `sendkey` per character ([`key_name`]).
    ///
    /// # Errors
    /// A character with no key name, or the monitor refusing a key.
    pub fn type_text(&mut self, text: &str) -> Result<()> {
        for c in text.chars() {
            let Some(key) = key_name(c) else {
                bail!("no QEMU key for {c:?}");
            };
            let answer = self.command(&format!("sendkey {key}"))?;
            ensure!(
                answer.trim().is_empty(),
                "sendkey {key}: the monitor said {answer:?}"
            );
            // Let the guest see the release before the next press.
            thread::sleep(Duration::from_millis(30));
        }
        Ok(())
    }
}

/// QEMU's `sendkey` name for a character typed on a US keyboard.
pub fn key_name(c: char) -> Option<String> {
    let plain = match c {
        'a'..='z' | '0'..='9' => c.to_string(),
        'A'..='Z' => format!("shift-{}", c.to_ascii_lowercase()),
        ' ' => "spc".into(),
        '\n' | '\r' => "ret".into(),
        '-' => "minus".into(),
        '=' => "equal".into(),
        '.' => "dot".into(),
        ',' => "comma".into(),
        '/' => "slash".into(),
        ':' => "shift-semicolon".into(),
        ';' => "semicolon".into(),
        '_' => "shift-minus".into(),
        '\u{1b}' => "esc".into(),
        _ => return None,
    };
    Some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_for_a_console_command() {
        let keys: Vec<String> = "ls -l X:\n".chars().map(|c| key_name(c).unwrap()).collect();
        assert_eq!(
            keys,
            [
                "l",
                "s",
                "spc",
                "minus",
                "l",
                "spc",
                "shift-x",
                "shift-semicolon",
                "ret"
            ]
        );
        assert_eq!(key_name('\u{e9}'), None);
    }
}
