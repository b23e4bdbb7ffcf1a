//! USB from outside the guest: a stick unplugged (the monitor's `device_del`) while the kernel
//! writes to it must end in a named error, never a hang (`test=unplug`).

use anyhow::{ensure, Result};
use bootlog::harness::EXIT_PASS;
use bootlog::msg::{
    TEST_PASS, UNPLUG_FAILED_START, UNPLUG_NEXT_FAILED_START, UNPLUG_WRITING_START,
};

use crate::fs_scenarios::{Driver, Env};
use crate::guest::PROMPT;
use crate::monitor::{boot_with_monitor, boot_with_monitor_using};
use crate::qemu::{usb_device_id, Attach};
use crate::scenarios::{line, starts, DriveRole, End, Scenario};

/// Which USB scenario a driven [`Scenario`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsbDriver {
    /// [`unplug_during_write`].
    UnplugDuringWrite,
    /// [`keyboard_types`].
    KeyboardTypes,
}

/// The disks of the unplug scenario: the image, then the blank stick that is unplugged.
const UNPLUG_DRIVES: &[DriveRole] = &[
    DriveRole::Image(Attach::Virtio),
    DriveRole::Blank(Attach::Usb),
];
/// Which of [`UNPLUG_DRIVES`] is the stick.
const STICK: usize = 1;

/// The USB scenarios.
pub fn usb_scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            cmdline: "",
            end: End::Exit(0),
            driver: Some(Driver::Usb(UsbDriver::KeyboardTypes)),
            ..Scenario::boot("usb-keyboard-types", vec![starts(KEYBOARD_ANSWER)])
        },
        Scenario {
            cmdline: "test=unplug",
            end: End::Exit(EXIT_PASS),
            drives: UNPLUG_DRIVES,
            driver: Some(Driver::Usb(UsbDriver::UnplugDuringWrite)),
            ..Scenario::boot(
                "usb-unplug-during-write",
                vec![starts(UNPLUG_WRITING_START), line(TEST_PASS)],
            )
        },
    ]
}

/// Runs `driver`; `Ok` holds the report lines.
pub fn run(driver: UsbDriver, env: &Env<'_>) -> Result<String> {
    match driver {
        UsbDriver::UnplugDuringWrite => unplug_during_write(env),
        UsbDriver::KeyboardTypes => keyboard_types(env),
    }
}

/// What [`keyboard_types`] types, and the start of the console's answer.
const KEYBOARD_COMMAND: &str = "bootcount";
const KEYBOARD_ANSWER: &str = "boot count: ";

/// A USB keyboard as the only keyboard (q35 without its i8042): `bootcount` + Enter typed on
/// it with the monitor's `sendkey` is echoed on the console and answered.
fn keyboard_types(env: &Env<'_>) -> Result<String> {
    let mut config = env.config.clone();
    config.usb_keyboard = true;
    let (mut g, mut monitor) = boot_with_monitor_using(env, config)?;
    g.wait_for(PROMPT, env.timeout)?;
    monitor.type_text(&format!("{KEYBOARD_COMMAND}\n"))?;
    g.wait_for(KEYBOARD_COMMAND, env.timeout)?;
    g.wait_for(KEYBOARD_ANSWER, env.timeout)?;
    let answer = g.wait_for("\n", env.timeout)?;
    g.type_line("poweroff")?;
    g.wait_exit(env.timeout)?;
    Ok(format!(
        "usb: `{KEYBOARD_COMMAND}` typed on the USB keyboard was answered: {KEYBOARD_ANSWER}{}\n",
        answer.trim()
    ))
}

/// Once the kernel writes to the stick, `device_del` it: the kernel must log the named error
/// of the failed write and of the request after it, and pass.
fn unplug_during_write(env: &Env<'_>) -> Result<String> {
    let (mut g, mut monitor) = boot_with_monitor(env)?;
    g.wait_for(UNPLUG_WRITING_START, env.timeout)?;
    let answer = monitor.command(&format!("device_del {}", usb_device_id(STICK)))?;
    ensure!(answer.is_empty(), "device_del: the monitor said {answer:?}");
    g.wait_for(UNPLUG_FAILED_START, env.timeout)?;
    let failed = g.wait_for("\n", env.timeout)?;
    g.wait_for(UNPLUG_NEXT_FAILED_START, env.timeout)?;
    let next = g.wait_for("\n", env.timeout)?;
    let (status, _) = g.wait_exit(env.timeout)?;
    ensure!(
        status == Some(EXIT_PASS),
        "QEMU ended with {status:?}, not the test's pass status {EXIT_PASS}"
    );
    Ok(format!(
        "usb: unplugged during writes: {UNPLUG_FAILED_START}{}; {UNPLUG_NEXT_FAILED_START}{}\n",
        failed.trim(),
        next.trim()
    ))
}
