//! The system description (`system/pandagen.json`): which services and components go into the image.
//!
//! It has the manifest's keys minus what the packer computes (`start_block`, `size_bytes`, `checksum`);
//! `kernel` and `format_version` are optional, and keys starting with `_` (`_comment`) are ignored.
//! Any other key is refused, so a misspelt `depend_on` is an error rather than a silently missing
//! dependency. [`Description::to_manifest`] turns it into a [`loader::Manifest`], reporting every
//! value over one of the loader's limits, and [`graph_problems`] runs the loader's graph checks.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use loader::error::bounded;
use loader::manifest::{
    Entry, Manifest, Name, MAX_BINARY_NAME, MAX_CAPABILITIES, MAX_CAPABILITY, MAX_COMPONENTS,
    MAX_DEPENDS, MAX_INIT, MAX_NAME, MAX_PROVIDES, MAX_SERVICES, MAX_TYPE,
};
use loader::{LoadError, Sha256Digest, FORMAT_VERSION};
use serde::Deserialize;

/// Where the checked-in description lives, relative to the workspace root.
pub const DEFAULT_PATH: &str = "system/pandagen.json";
/// The kernel entry when the description has no `kernel` object.
pub const DEFAULT_KERNEL_BINARY: &str = "kernel_bootstrap";
pub const DEFAULT_ENTRY_POINT: &str = "_start";

/// A parsed description.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Description {
    #[serde(default = "default_version")]
    pub format_version: u32,
    #[serde(default)]
    pub kernel: KernelDesc,
    #[serde(default)]
    pub services: Vec<EntryDesc>,
    #[serde(default)]
    pub components: Vec<EntryDesc>,
    #[serde(default)]
    pub init_sequence: Vec<String>,
    /// The manifest's `security_epoch` (rollback counter; default 0).
    #[serde(default)]
    pub security_epoch: u32,
    /// The manifest's `keyboard_layout` (optional: US without it); one the kernel knows
    /// (`drivers::ps2::Layout`), checked here so that a typo does not reach a machine.
    #[serde(default)]
    pub keyboard_layout: Option<String>,
    /// Keys not named above: `_`-prefixed ones are comments, any other is an error.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// The manifest's text for `layout` (each short name fits the loader's limit).
fn layout_name(
    layout: drivers::ps2::Layout,
) -> heapless::String<{ loader::manifest::MAX_KEYBOARD_LAYOUT }> {
    heapless::String::try_from(layout.name()).expect("layout names are short")
}

fn default_version() -> u32 {
    FORMAT_VERSION
}

/// The `kernel` object (optional): names only, the packer measures the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KernelDesc {
    #[serde(default = "default_kernel_binary")]
    pub binary: String,
    #[serde(default = "default_entry_point")]
    pub entry_point: String,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

fn default_kernel_binary() -> String {
    DEFAULT_KERNEL_BINARY.into()
}

fn default_entry_point() -> String {
    DEFAULT_ENTRY_POINT.into()
}

impl Default for KernelDesc {
    fn default() -> Self {
        KernelDesc {
            binary: default_kernel_binary(),
            entry_point: default_entry_point(),
            other: BTreeMap::new(),
        }
    }
}

/// A `services[]` or `components[]` entry. Its `name` is also the cargo package and binary name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EntryDesc {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub binary: String,
    /// The cargo package that builds `binary` (default: the entry's name). Lets several
    /// entries share one package or one binary (the test components do).
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub provides: Vec<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub start_timeout_ms: Option<u32>,
    /// One line of settings the component reads with the CONFIG system call.
    #[serde(default)]
    pub config: Option<String>,
    /// The state `test=boot` requires of the entry (test systems; default `up`).
    #[serde(default)]
    pub expected_state: Option<String>,
    /// How much memory the entry's process may use: `"16M"` or a number of bytes.
    #[serde(default)]
    pub memory_limit: Option<serde_json::Value>,
    /// The id of the `--sign-key` that signs this entry at build time (default: the system key,
    /// the first `--sign-key`).
    #[serde(default)]
    pub sign_with: Option<String>,
    /// A signature made by someone else (`ed25519:<hex>`, with `public_key_id`): the entry is
    /// placed as signed, not re-signed.
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub public_key_id: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// The file cargo produces for a manifest `binary` name: `services_storage.elf` → `services_storage`.
pub fn binary_file(binary: &str) -> &str {
    binary.strip_suffix(".elf").unwrap_or(binary)
}

/// Everything wrong with a description, one problem per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    pub source: String,
    pub lines: Vec<String>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.lines.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.source,
            if n == 1 { "" } else { "s" }
        )?;
        for line in &self.lines {
            write!(f, "\n{}: {line}", self.source)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Keys the packer computes: refused with a specific message.
const COMPUTED_KEYS: &[&str] = &["start_block", "size_bytes", "checksum"];

fn unknown_keys(at: &str, other: &BTreeMap<String, serde_json::Value>, out: &mut Vec<String>) {
    for key in other.keys().filter(|k| !k.starts_with('_')) {
        if COMPUTED_KEYS.contains(&key.as_str()) {
            out.push(format!(
                "{at}: `{key}` is computed by the packer; remove it from the description"
            ));
        } else {
            out.push(format!("{at}: unknown key `{key}`"));
        }
    }
}

impl Description {
    /// Parses description text. `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, Problems> {
        serde_json::from_str(text).map_err(|e| Problems {
            source: source.into(),
            lines: vec![format!("not a valid description: {e}")],
        })
    }

    /// Reads and parses a description file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("reading the system description {}: {e}", path.display())
        })?;
        Ok(Self::parse(&text, &path.display().to_string())?)
    }

    /// Services then components, in description order.
    pub fn entries(&self) -> impl Iterator<Item = &EntryDesc> {
        self.services.iter().chain(self.components.iter())
    }

    /// The cargo packages (= binaries) to build: every entry's name, in order, without repeats.
    pub fn packages(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in self.entries() {
            let package = e.package.as_deref().unwrap_or(&e.name);
            if !out.contains(&package) {
                out.push(package);
            }
        }
        out
    }

    /// The binary files the packages build (each entry's `binary` without `.elf`), once each.
    pub fn binaries(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in self.entries() {
            let file = binary_file(&e.binary);
            if !out.contains(&file) {
                out.push(file);
            }
        }
        out
    }

    /// The manifest for this description, without sizes, checksums or block numbers; every value
    /// over one of the loader's limits (and every unknown key) is a line of the error.
    pub fn to_manifest(&self, source: &str) -> Result<Box<Manifest>, Problems> {
        let mut lines = Vec::new();
        let mut m = Box::<Manifest>::default();
        unknown_keys("description", &self.other, &mut lines);
        unknown_keys("kernel", &self.kernel.other, &mut lines);
        if self.format_version != FORMAT_VERSION {
            lines.push(format!(
                "format_version is {}, this tool writes version {FORMAT_VERSION}",
                self.format_version
            ));
        }
        m.format_version = FORMAT_VERSION;
        m.security_epoch = self.security_epoch;
        if let Some(name) = &self.keyboard_layout {
            match name.parse::<drivers::ps2::Layout>() {
                Ok(layout) => m.keyboard_layout = Some(layout_name(layout)),
                Err(e) => lines.push(format!("keyboard_layout `{name}`: {e}")),
            }
        }
        m.kernel.binary = text(&mut lines, "kernel", "binary", &self.kernel.binary);
        m.kernel.entry_point = text(
            &mut lines,
            "kernel",
            "entry_point",
            &self.kernel.entry_point,
        );
        for (list, entries, limit) in [
            ("services", &self.services, MAX_SERVICES),
            ("components", &self.components, MAX_COMPONENTS),
        ] {
            if entries.len() > limit {
                lines.push(LoadError::TooManyEntries { list, limit }.to_string());
            }
            for (i, e) in entries.iter().enumerate() {
                let entry = entry(&mut lines, &format!("{list}[{i}]"), e);
                let pushed = match list {
                    "services" => m.services.push(entry).is_ok(),
                    _ => m.components.push(entry).is_ok(),
                };
                if !pushed {
                    break;
                }
            }
        }
        if self.init_sequence.len() > MAX_INIT {
            lines.push(
                LoadError::TooManyEntries {
                    list: "init_sequence",
                    limit: MAX_INIT,
                }
                .to_string(),
            );
        }
        for (i, name) in self.init_sequence.iter().take(MAX_INIT).enumerate() {
            let label = format!("init_sequence[{i}]");
            if name.is_empty() {
                lines.push(
                    LoadError::EmptyName {
                        entry: bounded(&label),
                    }
                    .to_string(),
                );
            }
            let n: Name = text(&mut lines, &label, "name", name);
            let _ = m.init_sequence.push(n);
        }
        if lines.is_empty() {
            Ok(m)
        } else {
            Err(Problems {
                source: source.into(),
                lines,
            })
        }
    }
}

/// `s` as a bounded string; a [`LoadError::StringTooLong`] line when it does not fit.
fn text<const N: usize>(
    lines: &mut Vec<String>,
    entry: &str,
    field: &'static str,
    s: &str,
) -> heapless::String<N> {
    match heapless::String::try_from(s) {
        Ok(t) => t,
        Err(_) => {
            lines.push(
                LoadError::StringTooLong {
                    entry: bounded(entry),
                    field,
                    length: s.len(),
                    limit: N,
                }
                .to_string(),
            );
            heapless::String::new()
        }
    }
}

/// A list of bounded strings; one line if it has too many items, one per string too long.
fn list<const LEN: usize, const N: usize>(
    lines: &mut Vec<String>,
    entry: &str,
    field: &'static str,
    items: &[String],
) -> heapless::Vec<heapless::String<LEN>, N> {
    if items.len() > N {
        lines.push(
            LoadError::TooManyItems {
                entry: bounded(entry),
                list: field,
                limit: N,
            }
            .to_string(),
        );
    }
    items
        .iter()
        .take(N)
        .map(|s| text::<LEN>(lines, entry, field, s))
        .collect()
}

fn entry(lines: &mut Vec<String>, position: &str, e: &EntryDesc) -> Entry {
    // Errors name the entry by its name when that is usable, else by its position.
    let label = if e.name.is_empty() || e.name.len() > MAX_NAME {
        position.to_string()
    } else {
        e.name.clone()
    };
    unknown_keys(&format!("entry `{label}`"), &e.other, lines);
    if e.name.is_empty() {
        lines.push(
            LoadError::EmptyName {
                entry: bounded(position),
            }
            .to_string(),
        );
    }
    Entry {
        name: text::<MAX_NAME>(lines, &label, "name", &e.name),
        kind: text::<MAX_TYPE>(lines, &label, "type", &e.kind),
        binary: text::<MAX_BINARY_NAME>(lines, &label, "binary", &e.binary),
        capabilities: list::<MAX_CAPABILITY, MAX_CAPABILITIES>(
            lines,
            &label,
            "capabilities",
            &e.capabilities,
        ),
        provides: list::<MAX_NAME, MAX_PROVIDES>(lines, &label, "provides", &e.provides),
        depends_on: list::<MAX_NAME, MAX_DEPENDS>(lines, &label, "depends_on", &e.depends_on),
        start_block: 0,
        size_bytes: 0,
        checksum: Sha256Digest::default(),
        start_timeout_ms: e.start_timeout_ms,
        expected_state: expected_state(lines, &label, e.expected_state.as_deref()),
        memory_limit: memory_limit(lines, &label, e.memory_limit.as_ref()),
        config: e.config.as_ref().map(|c| config(lines, &label, c)),
        signature: presigned(lines, &label, e),
        public_key_id: e
            .public_key_id
            .as_ref()
            .filter(|_| e.signature.is_some())
            .map(|id| {
                text::<{ loader::signature::MAX_KEY_ID }>(lines, &label, "public_key_id", id)
            }),
    }
}

/// `config`: within the loader's limit and one line of printable ASCII, or a named line.
fn config(lines: &mut Vec<String>, label: &str, c: &str) -> loader::manifest::ConfigText {
    if !loader::manifest::is_config_line(c) {
        lines.push(
            LoadError::BadConfig {
                entry: bounded(label),
            }
            .to_string(),
        );
    }
    text::<{ loader::manifest::MAX_CONFIG }>(lines, label, "config", c)
}

/// A signature made by someone else: `signature` and `public_key_id` together, and no
/// `sign_with` (an entry is either placed as signed or signed at build time).
fn presigned(
    lines: &mut Vec<String>,
    label: &str,
    e: &EntryDesc,
) -> Option<loader::signature::Signature> {
    match (&e.signature, &e.public_key_id, &e.sign_with) {
        (None, None, _) => None,
        (Some(_), Some(_), Some(_)) => {
            lines.push(format!(
                "entry `{label}`: `sign_with` and a ready-made `signature` exclude each other; keep one"
            ));
            None
        }
        (Some(text), Some(_), None) => {
            let parsed = loader::signature::Signature::parse(text);
            if parsed.is_none() {
                lines.push(
                    LoadError::BadSignatureSyntax {
                        entry: bounded(label),
                    }
                    .to_string(),
                );
            }
            parsed
        }
        _ => {
            lines.push(
                LoadError::SignatureWithoutKeyId {
                    entry: bounded(label),
                }
                .to_string(),
            );
            None
        }
    }
}

/// `memory_limit` as a string (`"16M"`) or a JSON number of bytes, checked as the loader
/// checks it; a bad value is one more problem line.
fn memory_limit(
    lines: &mut Vec<String>,
    label: &str,
    value: Option<&serde_json::Value>,
) -> Option<loader::manifest::MemoryLimit> {
    use loader::memory_limit::{MemoryLimit, MemoryLimitError};
    let value = value?;
    let parsed = match value {
        serde_json::Value::String(s) => MemoryLimit::parse(s),
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or(MemoryLimitError::Syntax)
            .and_then(MemoryLimit::from_bytes),
        _ => Err(MemoryLimitError::Syntax),
    };
    match parsed {
        Ok(limit) => Some(limit),
        Err(reason) => {
            lines.push(
                LoadError::BadMemoryLimit {
                    entry: bounded(label),
                    found: bounded(&value.to_string()),
                    reason,
                }
                .to_string(),
            );
            None
        }
    }
}

/// `expected_state` checked as the loader checks it; a bad word is one more problem line.
fn expected_state(
    lines: &mut Vec<String>,
    label: &str,
    word: Option<&str>,
) -> Option<loader::manifest::ExpectedState> {
    let word = word?;
    match bootlog::state::Expected::parse(word) {
        Some(e) => Some(loader::manifest::ExpectedState(e)),
        None => {
            lines.push(
                LoadError::BadExpectedState {
                    entry: bounded(label),
                    found: bounded(word),
                }
                .to_string(),
            );
            None
        }
    }
}

/// Every graph problem the loader finds (unique names, types, capabilities, dependencies, start
/// order), one line each.
pub fn graph_problems(manifest: &Manifest) -> Vec<String> {
    let mut lines = Vec::new();
    loader::graph::check_all(manifest, &mut |e| lines.push(e.to_string()));
    lines
}

/// [`Description::load`] + [`Description::to_manifest`] + [`graph_problems`]: a manifest ready
/// for sizes and checksums, or every problem found.
pub fn load_checked(path: &Path) -> anyhow::Result<(Description, Box<Manifest>)> {
    let source = path.display().to_string();
    let desc = Description::load(path)?;
    let manifest = desc.to_manifest(&source)?;
    let lines = graph_problems(&manifest);
    if !lines.is_empty() {
        return Err(Problems { source, lines }.into());
    }
    Ok((desc, manifest))
}

/// The description path: `explicit`, else [`DEFAULT_PATH`] under `root`.
pub fn path_or_default(root: &Path, explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(|| root.join(DEFAULT_PATH), Path::to_path_buf)
}

/// Fills in the kernel's and each entry's `size_bytes` and `checksum` from their bytes
/// (`binaries` in manifest order: services, then components).
pub fn measure(manifest: &mut Manifest, kernel: &[u8], binaries: &[Vec<u8>]) -> anyhow::Result<()> {
    let count = manifest.entries().count();
    anyhow::ensure!(
        binaries.len() == count,
        "{} binaries for {count} manifest entries",
        binaries.len()
    );
    manifest.kernel.size_bytes = kernel.len() as u64;
    manifest.kernel.checksum = Sha256Digest::of(kernel);
    let entries = manifest
        .services
        .iter_mut()
        .chain(manifest.components.iter_mut());
    for (entry, bytes) in entries.zip(binaries) {
        anyhow::ensure!(
            !bytes.is_empty(),
            "{}",
            LoadError::EntryEmpty {
                entry: bounded(&entry.name)
            }
        );
        entry.size_bytes = bytes.len() as u64;
        entry.checksum = Sha256Digest::of(bytes);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked_in() -> String {
        let root = crate::build::Workspace::locate().root;
        std::fs::read_to_string(root.join(DEFAULT_PATH)).unwrap()
    }

    #[test]
    fn the_checked_in_description_is_valid() {
        let d = Description::parse(&checked_in(), "pandagen.json").unwrap();
        assert_eq!(
            d.packages(),
            [
                "services_storage",
                "services_fs_view",
                "services_editor_vi",
                "services_logger",
                "services_network",
                "text_renderer_host",
                "status_http",
                "cli_console"
            ]
        );
        let m = d.to_manifest("pandagen.json").unwrap();
        assert_eq!(graph_problems(&m), Vec::<String>::new());
        assert_eq!(m.kernel.binary, DEFAULT_KERNEL_BINARY);
        assert_eq!(m.kernel.entry_point, DEFAULT_ENTRY_POINT);
        assert_eq!(m.format_version, 1);
        let net = m.find("services_network").unwrap();
        assert_eq!(
            net.capabilities.as_slice(),
            ["network_device:eth0", "port_range:1024-65535"]
        );
        assert_eq!(m.init_sequence.len(), 8);
        let renderer = m.find("text_renderer_host").unwrap();
        assert_eq!(renderer.capabilities.as_slice(), ["framebuffer"]);
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let err = Description::parse("{\"services\": [", "d.json").unwrap_err();
        assert_eq!(err.lines.len(), 1);
        assert!(
            err.to_string().contains("d.json: not a valid description"),
            "{err}"
        );
        let err = Description::parse(r#"{"services":[{"name":"a"}]}"#, "d.json").unwrap_err();
        assert!(err.lines[0].contains("missing field `type`"), "{err}");
    }

    #[test]
    fn every_limit_and_key_problem_is_its_own_line() {
        let long = "x".repeat(MAX_NAME + 1);
        let caps: Vec<String> = (1..=17)
            .map(|i| format!("\"port_range:{i}-{i}\""))
            .collect();
        let text = format!(
            r#"{{"_comment": "ignored", "bogus": 1,
                "services": [
                  {{"name": "{long}", "type": "native", "binary": "a.elf"}},
                  {{"name": "b", "type": "native", "binary": "b.elf", "capabilities": [{}],
                    "checksum": "sha256:00", "depend_on": []}},
                  {{"name": "", "type": "native", "binary": "c.elf"}}
                ],
                "init_sequence": ["b"]}}"#,
            caps.join(",")
        );
        let d = Description::parse(&text, "d.json").unwrap();
        let err = d.to_manifest("d.json").unwrap_err();
        let expected = [
            "description: unknown key `bogus`",
            "manifest entry `services[0]`: `name` is 33 bytes, the limit is 32",
            "entry `b`: `checksum` is computed by the packer; remove it from the description",
            "entry `b`: unknown key `depend_on`",
            "manifest entry `b`: `capabilities` has more than 16 items",
            "manifest services[2]: name is empty",
        ];
        assert_eq!(err.lines, expected, "{err}");
        let shown = err.to_string();
        assert!(shown.starts_with("d.json: 6 problems\n"), "{shown}");
        assert_eq!(shown.lines().count(), 7);
    }

    #[test]
    fn graph_problems_are_all_reported() {
        let text = r#"{
            "services": [
              {"name": "a", "type": "wasm", "binary": "a.elf", "capabilities": ["port_range:9-1"]},
              {"name": "b", "type": "native", "binary": "b.elf", "depends_on": ["c", "ghost"],
               "capabilities": ["telepathy"]},
              {"name": "c", "type": "native", "binary": "c.elf", "depends_on": ["b"]}
            ],
            "init_sequence": ["a", "b", "c", "nobody"]}"#;
        let m = Description::parse(text, "d")
            .unwrap()
            .to_manifest("d")
            .unwrap();
        let lines = graph_problems(&m);
        let expect = [
            "type \"wasm\" is not supported",
            "capability \"port_range:9-1\"",
            "depends on `ghost`",
            "`nobody` is neither a service nor a component",
            "dependency cycle through",
            "`b` starts before its dependency `c`",
        ];
        assert_eq!(lines.len(), expect.len(), "{lines:#?}");
        for (line, want) in lines.iter().zip(expect) {
            assert!(line.contains(want), "{line:?} should contain {want:?}");
        }
    }

    #[test]
    fn measure_fills_sizes_and_checksums() {
        let d = Description::parse(&checked_in(), "p").unwrap();
        let mut m = d.to_manifest("p").unwrap();
        let bins: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        measure(&mut m, b"kernel", &bins).unwrap();
        assert_eq!(m.kernel.size_bytes, 6);
        assert_eq!(m.kernel.checksum, Sha256Digest::of(b"kernel"));
        assert_eq!(m.find("cli_console").unwrap().size_bytes, 107);
        assert!(measure(&mut m, b"k", &bins[..6]).is_err());
        let mut empty = bins.clone();
        empty[3].clear();
        let err = measure(&mut m, b"k", &empty).unwrap_err().to_string();
        assert!(err.contains("services_logger"), "{err}");
    }

    #[test]
    fn entries_can_share_a_package_and_a_binary() {
        let text = r#"{
            "services": [
                {"name": "a", "type": "native", "binary": "t_x.elf", "package": "testcases"},
                {"name": "b", "type": "native", "binary": "t_x.elf", "package": "testcases"},
                {"name": "services_storage", "type": "native", "binary": "services_storage.elf"}
            ],
            "init_sequence": ["a", "b", "services_storage"]
        }"#;
        let d = Description::parse(text, "t").unwrap();
        assert_eq!(d.packages(), vec!["testcases", "services_storage"]);
        assert_eq!(d.binaries(), vec!["t_x", "services_storage"]);
        assert_eq!(binary_file("cli_console.elf"), "cli_console");
    }

    #[test]
    fn memory_limit_and_expected_state_reach_the_manifest_or_are_named() {
        let entry = |extra: &str| {
            format!(
                r#"{{"services": [{{"name": "a", "type": "native", "binary": "a.elf"{extra}}}],
                    "init_sequence": ["a"]}}"#
            )
        };
        let good = entry(r#", "memory_limit": "16M", "expected_state": "failed""#);
        let m = Description::parse(&good, "t")
            .unwrap()
            .to_manifest("t")
            .unwrap();
        assert_eq!(m.services[0].memory_limit().bytes(), 16 << 20);
        assert_eq!(
            m.services[0].expected(),
            bootlog::state::Expected::Is(bootlog::state::StateKind::Failed)
        );
        let bytes = entry(r#", "memory_limit": 65536"#);
        let m = Description::parse(&bytes, "t")
            .unwrap()
            .to_manifest("t")
            .unwrap();
        assert_eq!(m.services[0].memory_limit().bytes(), 65536);
        let cfg = entry(r#", "config": "static 10.0.2.50/24 gw 10.0.2.2""#);
        let m = Description::parse(&cfg, "t")
            .unwrap()
            .to_manifest("t")
            .unwrap();
        assert_eq!(
            m.services[0].config.as_deref(),
            Some("static 10.0.2.50/24 gw 10.0.2.2")
        );
        let long = format!(r#", "config": "{}""#, "x".repeat(200));
        for bad in [
            r#", "memory_limit": "16MB""#,
            r#", "memory_limit": 100"#,
            r#", "expected_state": "asleep""#,
            r#", "config": "a\nb""#,
            &long,
        ] {
            let err = Description::parse(&entry(bad), "t")
                .unwrap()
                .to_manifest("t")
                .unwrap_err();
            assert!(err.to_string().contains("manifest entry `a`"), "{err}");
        }
    }

    #[test]
    fn keyboard_layout_is_one_the_kernel_knows() {
        let with = |layout: &str| {
            format!(
                r#"{{"keyboard_layout": "{layout}", "services": [{{"name": "a", "type": "native", "binary": "a.elf"}}],
                    "init_sequence": ["a"]}}"#
            )
        };
        // Every layout the kernel knows passes the loader's shape check, as written.
        for layout in drivers::ps2::LAYOUTS {
            let text = with(layout.name());
            let m = Description::parse(&text, "t")
                .unwrap()
                .to_manifest("t")
                .unwrap();
            assert_eq!(m.keyboard_layout.as_deref(), Some(layout.name()));
            let mut out = vec![0u8; 4096];
            let n = m.to_json(&mut out).unwrap();
            let back = loader::manifest::parse(&out[..n]);
            assert_eq!(back.unwrap().keyboard_layout, m.keyboard_layout);
        }
        let err = Description::parse(&with("xx"), "t")
            .unwrap()
            .to_manifest("t")
            .unwrap_err();
        assert!(
            err.to_string().contains(
                "keyboard_layout `xx`: unknown keyboard layout (expected us, uk, de or fr)"
            ),
            "{err}"
        );
    }
}
