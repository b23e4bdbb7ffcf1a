//! Generates the `limine.conf` (Limine 10.x syntax) that both Limine and the PandaGen stub read.

use std::fmt::Write as _;

pub use bootproto::hash::blake2b512;
use bootproto::hash::Hex;
use bootslots::Slot;

/// Where the boot files live on the ESP (FAT paths; `boot():` prefixes them in the config),
/// as `bootproto::files` defines them.
pub use bootproto::files::{
    CONF as CONF_ESP_PATH, KERNEL_A as KERNEL_ESP_PATH, KERNEL_B as KERNEL_B_ESP_PATH,
    MODULE as MODULE_ESP_PATH, MODULE_STRING,
};
pub const ENTRY_NAME: &str = "PandaGen";

/// A module handed to the kernel (`module_path` + `module_string`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Absolute path on the boot volume, e.g. `/boot/initrd`.
    pub path: String,
    /// BLAKE2b-512 of the module file, appended to the path as `#<hex>`; `None` omits the check.
    pub hash: Option<[u8; 64]>,
    pub string: String,
}

impl Module {
    /// A module at `path` with these bytes, pinned by their BLAKE2b-512 hash.
    pub fn pinned(path: &str, bytes: &[u8], string: &str) -> Self {
        Module {
            path: path.into(),
            hash: Some(blake2b512(bytes)),
            string: string.into(),
        }
    }
}

/// One boot entry (`/Name`): a kernel, its command line and its modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// Absolute path on the boot volume.
    pub kernel_path: String,
    /// BLAKE2b-512 of the kernel file, appended as `#<hex>`; `None` omits the check.
    pub kernel_hash: Option<[u8; 64]>,
    /// Omitted from the file when empty.
    pub cmdline: String,
    pub modules: Vec<Module>,
}

impl Entry {
    /// An entry named `name` for a kernel with these bytes at `kernel_path`, pinned by its hash.
    pub fn pinned(name: &str, kernel_path: &str, kernel: &[u8], cmdline: &str) -> Self {
        Entry {
            name: name.into(),
            kernel_path: kernel_path.into(),
            kernel_hash: Some(blake2b512(kernel)),
            cmdline: cmdline.into(),
            modules: Vec::new(),
        }
    }
}

/// What goes into the config: global options, then the entries in order (the first boots by
/// default). Construct with [`LimineConf::for_kernel`] to hash the kernel, or fill an entry's
/// `kernel_hash` yourself (e.g. with a wrong hash for a negative test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimineConf {
    pub timeout: u32,
    pub serial: bool,
    pub entries: Vec<Entry>,
}

impl LimineConf {
    /// The one PandaGen entry for a kernel with these bytes at [`KERNEL_ESP_PATH`].
    pub fn for_kernel(kernel: &[u8], cmdline: &str) -> Self {
        LimineConf {
            timeout: 0,
            serial: true,
            entries: vec![Entry::pinned(ENTRY_NAME, KERNEL_ESP_PATH, kernel, cmdline)],
        }
    }

    /// The two entries of a two-slot image: `PandaGen slot A` (slot A's kernel at
    /// [`KERNEL_ESP_PATH`]) and `PandaGen slot B` (at [`KERNEL_B_ESP_PATH`]), each command line
    /// starting with its `slot=` token ([`slot_cmdline`]).
    pub fn for_slots(kernel_a: &[u8], kernel_b: &[u8], cmdline: &str) -> Self {
        let entry = |slot, path, kernel| {
            let name = format!("{ENTRY_NAME} slot {slot}");
            Entry::pinned(&name, path, kernel, &slot_cmdline(slot, cmdline))
        };
        LimineConf {
            entries: vec![
                entry(Slot::A, KERNEL_ESP_PATH, kernel_a),
                entry(Slot::B, KERNEL_B_ESP_PATH, kernel_b),
            ],
            ..LimineConf::for_kernel(kernel_a, cmdline)
        }
    }
}

/// `slot=A` / `slot=B` ([`bootslots::CMDLINE_KEY`]) followed by `cmdline` (when not empty).
pub fn slot_cmdline(slot: Slot, cmdline: &str) -> String {
    let token = format!("{}={slot}", bootslots::CMDLINE_KEY);
    if cmdline.is_empty() {
        token
    } else {
        format!("{token} {cmdline}")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimineConfError {
    #[error("{what} must be a single line: {value:?}")]
    Multiline { what: &'static str, value: String },
    #[error("{what} must be an absolute path without `#`: {value:?}")]
    BadPath { what: &'static str, value: String },
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    Hex(bytes).to_string()
}

/// Changes exactly one hex digit of the hash's text form (the last one).
pub fn corrupt_hash(hash: &mut [u8; 64]) {
    hash[63] ^= 0x01;
}

fn single_line(what: &'static str, value: &str) -> Result<(), LimineConfError> {
    if value.contains(['\n', '\r']) {
        return Err(LimineConfError::Multiline {
            what,
            value: value.into(),
        });
    }
    Ok(())
}

fn boot_path(what: &'static str, value: &str) -> Result<String, LimineConfError> {
    single_line(what, value)?;
    if !value.starts_with('/') || value.contains('#') {
        return Err(LimineConfError::BadPath {
            what,
            value: value.into(),
        });
    }
    Ok(format!("boot():{value}"))
}

/// Renders the config text.
pub fn render(conf: &LimineConf) -> Result<String, LimineConfError> {
    let mut s = String::new();
    s.push_str("# Generated by cargo xtask build-image\n");
    let _ = writeln!(s, "timeout: {}", conf.timeout);
    let _ = writeln!(s, "serial: {}", if conf.serial { "yes" } else { "no" });
    for entry in &conf.entries {
        s.push('\n');
        render_entry(&mut s, entry)?;
    }
    Ok(s)
}

/// Appends one `/Name` entry.
fn render_entry(s: &mut String, entry: &Entry) -> Result<(), LimineConfError> {
    single_line("entry name", &entry.name)?;
    single_line("kernel command line", &entry.cmdline)?;
    let _ = writeln!(s, "/{}", entry.name);
    s.push_str("    protocol: limine\n");
    let _ = writeln!(
        s,
        "    path: {}",
        pinned_path(
            "kernel path",
            &entry.kernel_path,
            entry.kernel_hash.as_ref()
        )?
    );
    if !entry.cmdline.is_empty() {
        let _ = writeln!(s, "    cmdline: {}", entry.cmdline);
    }
    for m in &entry.modules {
        let path = pinned_path("module path", &m.path, m.hash.as_ref())?;
        let _ = writeln!(s, "    module_path: {path}");
        single_line("module string", &m.string)?;
        if !m.string.is_empty() {
            let _ = writeln!(s, "    module_string: {}", m.string);
        }
    }
    Ok(())
}

/// `boot():<path>`, followed by `#<hex>` when a hash is given.
fn pinned_path(
    what: &'static str,
    path: &str,
    hash: Option<&[u8; 64]>,
) -> Result<String, LimineConfError> {
    let mut out = boot_path(what, path)?;
    if let Some(hash) = hash {
        out.push('#');
        out.push_str(&hex(hash));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake2b512_known_answer() {
        // BLAKE2b-512("abc") from RFC 7693, appendix A.
        assert_eq!(
            hex(&blake2b512(b"abc")),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
    }

    #[test]
    fn renders_the_documented_shape() {
        let conf = LimineConf::for_kernel(b"abc", "test=boot");
        let text = render(&conf).unwrap();
        let expected = "# Generated by cargo xtask build-image\n\
            timeout: 0\n\
            serial: yes\n\
            \n\
            /PandaGen\n\
            \x20   protocol: limine\n\
            \x20   path: boot():/boot/kernel_bootstrap#ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923\n\
            \x20   cmdline: test=boot\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn wrong_hash_differs_in_one_hex_digit() {
        let good = LimineConf::for_kernel(b"kernel", "");
        let mut bad = good.clone();
        corrupt_hash(bad.entries[0].kernel_hash.as_mut().unwrap());
        let (good, bad) = (render(&good).unwrap(), render(&bad).unwrap());
        assert_eq!(good.len(), bad.len());
        let diffs = good
            .chars()
            .zip(bad.chars())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(diffs, 1);
        assert!(!good.contains("cmdline"), "empty cmdline is omitted");
    }

    #[test]
    fn modules_timeout_and_no_hash() {
        let mut conf = LimineConf::for_kernel(b"", "");
        conf.entries[0].kernel_hash = None;
        conf.timeout = 5;
        conf.serial = false;
        conf.entries[0].modules = vec![
            Module {
                path: "/boot/initrd".into(),
                hash: None,
                string: "initrd".into(),
            },
            Module {
                path: "/boot/blob".into(),
                hash: None,
                string: String::new(),
            },
        ];
        let text = render(&conf).unwrap();
        assert!(text.contains("timeout: 5\nserial: no\n"));
        assert!(text.contains("    path: boot():/boot/kernel_bootstrap\n"));
        assert!(text.ends_with(
            "    module_path: boot():/boot/initrd\n    module_string: initrd\n    module_path: boot():/boot/blob\n"
        ));
    }

    #[test]
    fn the_system_module_is_pinned_and_named() {
        let mut conf = LimineConf::for_kernel(b"abc", "test=boot");
        conf.entries[0].modules.push(Module::pinned(
            MODULE_ESP_PATH,
            b"module bytes",
            MODULE_STRING,
        ));
        let text = render(&conf).unwrap();
        let hash = hex(&blake2b512(b"module bytes"));
        assert_eq!(hash.len(), 128);
        assert!(text.ends_with(&format!(
            "    cmdline: test=boot\n    module_path: boot():/boot/pandagen-system.mod#{hash}\n    module_string: pandagen-system-image\n"
        )));
        // The stub's own parser reads it back: path, pinned hash and string.
        let parsed = bootproto::config::parse(&text).unwrap();
        let entry = parsed
            .entries
            .iter()
            .find(|e| e.protocol.is_some())
            .unwrap();
        assert_eq!(entry.modules.len(), 1);
        assert_eq!(entry.modules[0].string, MODULE_STRING);
        assert_eq!(entry.modules[0].path.path, MODULE_ESP_PATH);
        assert_eq!(
            entry.modules[0].path.blake2b,
            Some(blake2b512(b"module bytes"))
        );
    }

    #[test]
    fn rejects_injection() {
        let mut conf = LimineConf::for_kernel(b"", "a\n/Evil");
        assert!(matches!(
            render(&conf),
            Err(LimineConfError::Multiline { .. })
        ));
        conf.entries[0].cmdline.clear();
        conf.entries[0].kernel_path = "boot/kernel".into();
        assert!(matches!(
            render(&conf),
            Err(LimineConfError::BadPath { .. })
        ));
        conf.entries[0].kernel_path = "/boot/k#x".into();
        assert!(matches!(
            render(&conf),
            Err(LimineConfError::BadPath { .. })
        ));
    }

    #[test]
    fn two_slots_are_two_pinned_entries_with_their_slot_token() {
        let text = render(&LimineConf::for_slots(b"ka", b"kb", "test=boot")).unwrap();
        let parsed = bootproto::config::parse(&text).unwrap();
        let entries: Vec<_> = parsed
            .entries
            .iter()
            .filter(|e| e.protocol.is_some())
            .collect();
        assert_eq!(entries.len(), 2, "{text}");
        for (entry, (slot, path, kernel)) in entries.iter().zip([
            (Slot::A, KERNEL_ESP_PATH, b"ka"),
            (Slot::B, KERNEL_B_ESP_PATH, b"kb"),
        ]) {
            assert_eq!(entry.name, format!("PandaGen slot {slot}"));
            assert!(entry.modules.is_empty());
            assert!(text.contains(&format!(
                "    path: boot():{path}#{}\n    cmdline: slot={slot} test=boot\n",
                hex(&blake2b512(kernel))
            )));
            assert_eq!(
                bootslots::cmdline_slot(&slot_cmdline(slot, "test=boot")),
                Some(slot)
            );
        }
        assert_eq!(slot_cmdline(Slot::B, ""), "slot=B");
    }
}
