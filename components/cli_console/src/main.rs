//! `cli_console`: the interactive console on the serial line (COM1).
//!
//! After READY it prints a banner and the prompt `pandagen> `, then polls CONSOLE_READ
//! (yielding when nothing waits), feeds every byte to the line editor
//! (`line_editor::LineEditor`: echo, backspace, Ctrl-C, history, arrows), and runs each line
//! as a command (`line_editor::command::parse`, `line_editor::shell::run`): `help`,
//! `services`, `manifest`, `caps`, `ls`, `cat`, `stat`, `edit`, `sha256`, `write`, `append`,
//! `rm`, `mv`, `mkdir`, `rmdir`, `df`, `bootcount`, `bootlog`, `lastcrash`, `slots`, `slot`, `update`, `uptime`,
//! `net`, `ping`, `dns`, `http`, `reboot`, `poweroff`. `ls`, `cat` and `stat` are `fs_view_api` calls to `services_fs_view`
//! (read only); the other file commands are `storage_api` calls to `services_storage`;
//! `net`, `ping`, `dns` and `http` are `network_api` calls to `services_network` (`http`
//! also writes and reads files through `storage_api`).
//! `edit` hands the terminal to `services_editor_vi` (`editor_api`) until the editor quits:
//! the console keeps reading the terminal and forwards what is typed.
//! See `docs/console.md`.
//!
//! All the logic lives in the host-tested `line-editor` crate; this file is only the I/O.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use core::fmt::Write;

use line_editor::command::{self, Command};
use line_editor::shell::{self, System};
use line_editor::{Event, LineEditor, CANCEL_ECHO, NEWLINE, TOO_LONG_ECHO};
use runtime::abi::{SlotAction, SlotId};
use runtime::console;
use runtime::Error;

runtime::entry!(main);

const NAME: &str = "cli_console";

/// The prompt, printed at the start of every input line.
const PROMPT: &str = "pandagen> ";

/// Output is collected here and written once per batch of input (or per command).
type Out = console::Buffered<1024>;

/// The kernel logs the end of the start sequence (the state table) on this same serial line;
/// waiting for it puts the prompt last, where a user at the terminal expects it. Bounded: after
/// 10 s the prompt comes anyway.
fn wait_for_boot_to_finish() {
    let mut table = [0u8; 64];
    let deadline = runtime::uptime().unwrap_or(0).saturating_add(10_000_000);
    loop {
        let still_starting = runtime::services(&mut table)
            .map(|n| {
                table[..n.min(table.len())].starts_with(b"the start sequence is still running")
            })
            .unwrap_or(false);
        if !still_starting || runtime::uptime().unwrap_or(u64::MAX) > deadline {
            return;
        }
        runtime::yield_now();
    }
}

fn main() -> i32 {
    runtime::announce(NAME);
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    wait_for_boot_to_finish();
    let mut out = Out::new();
    banner(&mut out);
    out.push(PROMPT.as_bytes());
    if let Err(e) = out.flush() {
        runtime::error!("{NAME}: cannot write to the console: {e}");
        return 1;
    }
    let mut editor = LineEditor::new();
    let mut input = [0u8; 64];
    loop {
        let n = match console::read(&mut input) {
            Ok(0) => {
                runtime::yield_now();
                continue;
            }
            Ok(n) => n,
            Err(e) => {
                runtime::error!("{NAME}: cannot read the console: {e}");
                return 1;
            }
        };
        for &byte in &input[..n] {
            match editor.feed(byte) {
                Event::None => {}
                Event::Echo(bytes) => out.push(bytes),
                Event::Line(line) => {
                    out.push(NEWLINE);
                    execute(line, &mut out);
                    out.push(PROMPT.as_bytes());
                }
                Event::TooLong => {
                    out.push(TOO_LONG_ECHO);
                    out.push(PROMPT.as_bytes());
                }
                Event::Cancel => {
                    out.push(CANCEL_ECHO);
                    out.push(PROMPT.as_bytes());
                }
            }
        }
        // A console that stopped working is logged once per batch; the loop goes on.
        if let Err(e) = out.flush() {
            runtime::warn!("{NAME}: console write failed: {e}");
        }
    }
}

fn banner(out: &mut Out) {
    let _ = out.write_str("\r\nPandaGen console. Type 'help' for the list of commands.\r\n");
    if let Ok(n) = runtime::bootcount() {
        let _ = write!(out, "This is boot number {n}.\r\n");
    }
}

/// Parses and runs one line, writing its output (or its one error line) to `out`.
fn execute(line: &str, out: &mut Out) {
    let cmd = match command::parse(line) {
        Ok(Some(cmd)) => cmd,
        Ok(None) => return,
        Err(e) => {
            let _ = write!(out, "{e}\r\n");
            return;
        }
    };
    if let Some(bye) = shell::farewell(&cmd) {
        out.push(bye.as_bytes());
        // Out before the machine goes away.
        let _ = out.flush();
    }
    if let Command::Edit(_) | Command::HttpGet { .. } | Command::HttpPut { .. } = cmd {
        // The editor draws straight on the terminal, and `http` writes its progress lines
        // there: what the console has to say comes first.
        let _ = out.flush();
    }
    if let Command::Reboot | Command::Poweroff | Command::Slot { .. } | Command::Update(_) = cmd {
        runtime::info!("{NAME}: {} requested on the console", line.trim());
    }
    if let Command::Update(file) = cmd {
        // Outside `shell::run`, with its buffer on the heap: applying a delta goes deep (the
        // zstd decoders, the key ring) and a component's stack is 64 KiB.
        let mut buf = alloc::vec![0u8; shell::MANIFEST_BUF];
        let _ = line_editor::update::console::update(&mut Syscalls, &mut buf, file, out);
        return;
    }
    let _ = shell::run(cmd, &mut Syscalls, out);
}

/// The commands' system calls, through the runtime.
struct Syscalls;

impl System for Syscalls {
    fn services(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        runtime::services(buf)
    }
    fn manifest(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        runtime::manifest(buf)
    }
    fn component_caps(&mut self, name: &str, buf: &mut [u8]) -> Result<usize, Error> {
        runtime::component_caps(name, buf)
    }
    fn storage_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        runtime::ipc::call(line_editor::shell::STORAGE_ENDPOINT, request, reply)
    }
    fn fs_view_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        runtime::ipc::call(shell::FS_VIEW_ENDPOINT, request, reply)
    }
    fn editor_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        runtime::ipc::call(shell::EDITOR_ENDPOINT, request, reply)
    }
    fn network_call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        runtime::ipc::call(line_editor::net::NETWORK_ENDPOINT, request, reply)
    }
    fn terminal_read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        console::read(buf)
    }
    fn terminal_write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        console::write_all(bytes)
    }
    fn pause(&mut self) {
        runtime::yield_now();
    }
    fn bootcount(&mut self) -> Result<u64, Error> {
        runtime::bootcount()
    }
    fn bootlog(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        runtime::bootlog(buf)
    }
    fn lastcrash(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        runtime::lastcrash(buf)
    }
    fn slots(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        runtime::slots(buf)
    }
    fn slot_set(
        &mut self,
        action: SlotAction,
        slot: SlotId,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        runtime::slot_set(action, slot, buf)
    }
    fn slot_read(&mut self, slot: SlotId, block: u64, buf: &mut [u8]) -> Result<(), Error> {
        runtime::slot_read(slot, block, buf)
    }
    fn slot_write(&mut self, block: u64, data: &[u8]) -> Result<(), Error> {
        runtime::slot_write(block, data)
    }
    fn uptime(&mut self) -> Result<u64, Error> {
        runtime::uptime()
    }
    fn reboot(&mut self) -> Error {
        match runtime::reboot() {
            Err(e) => e,
        }
    }
    fn poweroff(&mut self) -> Error {
        match runtime::poweroff() {
            Err(e) => e,
        }
    }
}
