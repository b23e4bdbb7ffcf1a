//! The editor scenarios: `services_editor_vi` driven from the serial console the way a user
//! would (docs/console.md, *The editor*), the file it saved read back with `cat` through
//! `services_fs_view`.

use crate::scenarios::{at_prompt, line, typed, ConsoleStep, End, Scenario, Typed};

/// What the status line shows when a new file is opened.
const NEW_FILE: &str = "\"notes.txt\" [New]";
/// The status line in Normal mode after a change: the name, `[+]`, no `-- INSERT --`.
const CHANGED_NORMAL: &str = "notes.txt [+]    ";

/// `edit notes.txt`, `i`, the text, Escape, `:wq`; then `cat` and `ls` through the file view.
///
/// The console harness ends every input with Enter, so the Escape is followed by an Enter
/// (in Normal mode: down a line, nothing on a one-line text); the Escape alone after the idle
/// time (`Idle`) is covered by the host tests of `line_editor::edit` and `editor_session`.
const EDIT_NOTES: &[ConsoleStep] = &[
    at_prompt("edit notes.txt"),
    ConsoleStep {
        after: NEW_FILE,
        input: Typed::Line("ihello from vi\u{1b}"),
    },
    ConsoleStep {
        after: CHANGED_NORMAL,
        input: Typed::Line(":wq"),
    },
    at_prompt("cat notes.txt"),
    at_prompt("ls -l"),
    at_prompt("poweroff"),
];

/// The editor scenarios, for `scenarios::all`.
pub fn editor_scenarios() -> Vec<Scenario> {
    let expect = vec![
        line("PandaGen console. Type 'help' for the list of commands."),
        typed("edit notes.txt"),
        line("edit: saved notes.txt"),
        typed("cat notes.txt"),
        line("hello from vi"),
        typed("ls -l"),
        crate::scenarios::shape("-         14 ", "", " notes.txt"),
        line("powering off..."),
    ];
    vec![Scenario {
        cmdline: "",
        // ACPI power-off: QEMU exits on its own with status 0.
        end: End::Exit(0),
        console: EDIT_NOTES,
        ..Scenario::boot("edit-notes", expect)
    }]
}
