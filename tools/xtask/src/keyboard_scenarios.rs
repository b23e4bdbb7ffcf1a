//! The keyboards' layout from the manifest (`keyboard_layout`): keys typed with the monitor's
//! `sendkey` on a PS/2 keyboard, then on a USB keyboard, reach the console as that layout's
//! characters.

use anyhow::{ensure, Result};
use drivers::ps2::Layout;
use line_editor::command::ParseError;

use crate::fs_scenarios::{Driver, Env};
use crate::guest::PROMPT;
use crate::monitor::boot_n_with_monitor;
use crate::scenarios::{line, End, Scenario};

/// Which keyboard scenario a driven [`Scenario`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyboardDriver {
    /// [`manifest_layout`].
    ManifestLayout,
}

/// The test system: the default one with `"keyboard_layout": "de"`.
const GERMAN_SYSTEM: &str = "system/tests/keyboard_de.json";
/// The layout [`GERMAN_SYSTEM`] names.
const LAYOUT: Layout = Layout::De;
/// The keys pressed (QEMU's names: US positions) and what a German keyboard makes of them
/// (Y and Z trade places); a US keyboard would give "yz".
const KEYS: [&str; 2] = ["y", "z"];
const GERMAN_TEXT: &str = "zy";

/// The keyboard scenarios.
pub fn keyboard_scenarios() -> Vec<Scenario> {
    vec![Scenario {
        cmdline: "",
        end: End::Exit(0),
        system: GERMAN_SYSTEM,
        driver: Some(Driver::Keyboard(KeyboardDriver::ManifestLayout)),
        ..Scenario::boot(
            "keyboard-layout-from-manifest",
            vec![line(&ParseError::Unknown(GERMAN_TEXT).to_string())],
        )
    }]
}

/// Runs `driver`; `Ok` holds the report lines.
pub fn run(driver: KeyboardDriver, env: &Env<'_>) -> Result<String> {
    match driver {
        KeyboardDriver::ManifestLayout => manifest_layout(env),
    }
}

/// Boot 0 with q35's PS/2 keyboard, boot 1 with a USB keyboard instead: [`KEYS`] and Enter
/// reach the console as [`GERMAN_TEXT`], which it echoes and refuses as an unknown command.
fn manifest_layout(env: &Env<'_>) -> Result<String> {
    let unknown = ParseError::Unknown(GERMAN_TEXT).to_string();
    let mut report = String::new();
    for (n, usb) in [(0, false), (1, true)] {
        let mut config = env.config.clone();
        config.usb_keyboard = usb;
        // Fresh firmware variables: boot 0's boot entries name the disk where it sat on a
        // machine without the USB controller, and the firmware would try the network first.
        config.ovmf_vars = env.serial_log.with_extension(format!("boot{n}.vars.fd"));
        crate::atomic::copy_atomically(&env.config.ovmf_vars, &config.ovmf_vars)?;
        let (mut g, mut monitor) = boot_n_with_monitor(env, config, n)?;
        g.wait_for(&format!("layout {}", LAYOUT.name()), env.timeout)?;
        g.wait_for(PROMPT, env.timeout)?;
        for key in KEYS.iter().chain(&["ret"]) {
            let answer = monitor.command(&format!("sendkey {key}"))?;
            ensure!(
                answer.is_empty(),
                "sendkey {key}: the monitor said {answer:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        g.wait_for(&unknown, env.timeout)?;
        g.type_line("poweroff")?;
        g.wait_exit(env.timeout)?;
        let keyboard = if usb { "USB" } else { "PS/2" };
        report.push_str(&format!(
            "keyboard: keys {KEYS:?} on the {keyboard} keyboard reached the console as \"{GERMAN_TEXT}\" (layout {LAYOUT} from the manifest)\n"
        ));
    }
    Ok(report)
}
