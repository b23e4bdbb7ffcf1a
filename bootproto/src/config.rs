//! Parser for the subset of Limine 10.x `limine.conf` syntax the boot stub understands.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::hash::Hex;

/// Where Limine looks for its configuration on the boot partition, in order (after the boot
/// loader's own directory, when the firmware says which it is: not over PXE). PandaGen's is
/// the last, `/EFI/BOOT/limine.conf` (`crate::files::CONF`).
pub const SEARCH_PATHS: [&str; 5] = [
    "/boot/limine/limine.conf",
    "/boot/limine.conf",
    "/limine/limine.conf",
    "/limine.conf",
    "/EFI/BOOT/limine.conf",
];

/// How long the menu waits before booting the default entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Boot the default entry after this many seconds (0 = immediately).
    Seconds(u64),
    /// `timeout: no`: wait for the user forever.
    Never,
}

/// Limine's timeout when the configuration does not set one.
const DEFAULT_TIMEOUT: Timeout = Timeout::Seconds(5);

/// A parsed `limine.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The global `timeout` option.
    pub timeout: Timeout,
    /// The global `serial` option (mirror the console on the serial port).
    pub serial: bool,
    /// Entries and sub-entries, in file order (the tree is flattened).
    pub entries: Vec<Entry>,
}

/// One menu entry (`/Name`) or sub-entry (`//Name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name after the slashes (and after an optional `+` "expanded" marker).
    pub name: String,
    /// The `protocol` value as written; `None` for directory-like entries.
    pub protocol: Option<String>,
    /// The `path` (alias `kernel_path`) of the executable.
    pub kernel_path: Option<PathSpec>,
    /// The `cmdline` (alias `kernel_cmdline`); empty when absent.
    pub cmdline: String,
    /// The modules, in file order.
    pub modules: Vec<Module>,
}

/// A `module_path` and its optional `module_string`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Where the module is loaded from.
    pub path: PathSpec,
    /// The module's string (`module_string` / `module_cmdline`); empty when absent.
    pub string: String,
}

/// A file reference such as `boot(2):/boot/kernel#<blake2b>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathSpec {
    /// The volume the path lives on.
    pub resource: Resource,
    /// The absolute path on that volume (always starts with `/`).
    pub path: String,
    /// The pinned BLAKE2b-512 digest, if the path ended in `#<128 hex digits>`.
    pub blake2b: Option<[u8; 64]>,
}

/// The resources (volumes) the stub can read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// `boot()` is the partition the stub was loaded from; `boot(N)` is partition N of the boot drive.
    Boot {
        /// `N` in `boot(N)`; `None` for `boot()`.
        partition: Option<u32>,
    },
}

impl fmt::Display for PathSpec {
    /// Prints the path as written in the config, without the hash suffix (it is 128 characters of noise in logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.resource {
            Resource::Boot { partition: None } => write!(f, "boot():{}", self.path),
            Resource::Boot { partition: Some(n) } => write!(f, "boot({n}):{}", self.path),
        }
    }
}

impl PathSpec {
    /// Displays the path including its `#hash` suffix, exactly as it could be written back to a config.
    pub fn with_hash(&self) -> impl fmt::Display + '_ {
        WithHash(self)
    }
}

/// Display adapter behind [`PathSpec::with_hash`].
struct WithHash<'a>(&'a PathSpec);

impl fmt::Display for WithHash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        match &self.0.blake2b {
            Some(hash) => write!(f, "#{}", Hex(hash)),
            None => Ok(()),
        }
    }
}

/// Why a `limine.conf` was rejected. Line numbers are 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A non-comment line that is neither `/Entry` nor `key: value`.
    ExpectedKeyValue {
        /// The offending line.
        line: usize,
    },
    /// A line of only slashes (an entry without a name).
    EmptyEntryName {
        /// The offending line.
        line: usize,
    },
    /// A `${NAME}=value` macro definition; macros are not implemented.
    UnsupportedMacro {
        /// The offending line.
        line: usize,
    },
    /// `timeout` is neither an integer nor `no`.
    BadTimeout {
        /// The offending line.
        line: usize,
        /// The value as written.
        value: String,
    },
    /// A yes/no option has some other value.
    BadBool {
        /// The offending line.
        line: usize,
        /// The option's key.
        key: String,
        /// The value as written.
        value: String,
    },
    /// A path names a resource other than `boot`.
    UnsupportedResource {
        /// The offending line.
        line: usize,
        /// The resource name, e.g. `hdd` or `guid`.
        resource: String,
    },
    /// A path is not of the form `resource(args):/path`.
    BadPathSyntax {
        /// The offending line.
        line: usize,
    },
    /// `boot(N)` where N is not a decimal partition number.
    BadPartition {
        /// The offending line.
        line: usize,
    },
    /// The part after `):` does not start with `/`.
    RelativePath {
        /// The offending line.
        line: usize,
    },
    /// A `#` suffix that is not exactly 128 hex digits.
    BadHash {
        /// The offending line.
        line: usize,
    },
    /// A `module_string` before any `module_path` in its entry.
    ModuleStringWithoutPath {
        /// The offending line.
        line: usize,
    },
    /// A key that may appear only once per entry (or per module) appears again.
    DuplicateKey {
        /// The line of the second occurrence.
        line: usize,
        /// The line of the first occurrence.
        first_line: usize,
        /// The key (its canonical name, e.g. `path` for `kernel_path`).
        key: &'static str,
    },
    /// No entry has a `protocol`, so there is nothing to boot.
    NoBootableEntry,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExpectedKeyValue { line } => {
                write!(f, "limine.conf line {line}: expected `key: value` or `/Entry name`")
            }
            Self::EmptyEntryName { line } => write!(f, "limine.conf line {line}: entry has no name"),
            Self::UnsupportedMacro { line } => {
                write!(f, "limine.conf line {line}: macros (`${{NAME}}=...`) are not supported")
            }
            Self::BadTimeout { line, value } => write!(
                f,
                "limine.conf line {line}: timeout `{value}` is neither a number of seconds nor `no`"
            ),
            Self::BadBool { line, key, value } => {
                write!(f, "limine.conf line {line}: {key} `{value}` is neither `yes` nor `no`")
            }
            Self::UnsupportedResource { line, resource } => write!(
                f,
                "limine.conf line {line}: resource `{resource}()` is not supported (only `boot()`)"
            ),
            Self::BadPathSyntax { line } => write!(
                f,
                "limine.conf line {line}: path is not of the form `boot():/path` or `boot(N):/path`"
            ),
            Self::BadPartition { line } => {
                write!(f, "limine.conf line {line}: `boot(N)` needs a decimal partition number")
            }
            Self::RelativePath { line } => {
                write!(f, "limine.conf line {line}: path after `):` must start with `/`")
            }
            Self::BadHash { line } => write!(
                f,
                "limine.conf line {line}: `#` must be followed by exactly 128 hex digits (BLAKE2b-512)"
            ),
            Self::ModuleStringWithoutPath { line } => {
                write!(f, "limine.conf line {line}: module_string without a module_path before it")
            }
            Self::DuplicateKey {
                line,
                first_line,
                key,
            } => write!(
                f,
                "limine.conf line {line}: `{key}` already given on line {first_line}"
            ),
            Self::NoBootableEntry => write!(f, "limine.conf: no entry has a `protocol`"),
        }
    }
}

impl Config {
    /// The entry Limine boots by default: the first one (in file order) that has a protocol.
    pub fn first_entry(&self) -> Result<&Entry, ConfigError> {
        self.entries
            .iter()
            .find(|e| e.protocol.is_some())
            .ok_or(ConfigError::NoBootableEntry)
    }
}

/// An entry being built, with the line numbers needed to report duplicates.
struct Builder {
    entry: Entry,
    protocol_line: Option<usize>,
    path_line: Option<usize>,
    cmdline_line: Option<usize>,
    /// Line of the current module's `module_string`, if it has one.
    module_string_line: Option<usize>,
}

impl Builder {
    fn new(name: String) -> Self {
        Self {
            entry: Entry {
                name,
                protocol: None,
                kernel_path: None,
                cmdline: String::new(),
                modules: Vec::new(),
            },
            protocol_line: None,
            path_line: None,
            cmdline_line: None,
            module_string_line: None,
        }
    }
}

/// Records that `key` was seen on `line`, or reports the earlier occurrence.
fn once(seen: &mut Option<usize>, line: usize, key: &'static str) -> Result<(), ConfigError> {
    match *seen {
        Some(first_line) => Err(ConfigError::DuplicateKey {
            line,
            first_line,
            key,
        }),
        None => {
            *seen = Some(line);
            Ok(())
        }
    }
}

/// Parses a whole `limine.conf`.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    // A file saved by some Windows editors starts with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut config = Config {
        timeout: DEFAULT_TIMEOUT,
        serial: false,
        entries: Vec::new(),
    };
    let mut current: Option<Builder> = None;

    for (index, raw) in text.lines().enumerate() {
        let line = index.saturating_add(1);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('/') {
            if let Some(done) = current.take() {
                config.entries.push(done.entry);
            }
            current = Some(Builder::new(entry_name(trimmed, line)?));
            continue;
        }
        if trimmed.starts_with("${") {
            return Err(ConfigError::UnsupportedMacro { line });
        }
        let (key, value) = split_key_value(trimmed, line)?;
        match current.as_mut() {
            None => global_option(&mut config, &key, value, line)?,
            Some(builder) => entry_option(builder, &key, value, line)?,
        }
    }
    if let Some(done) = current.take() {
        config.entries.push(done.entry);
    }
    Ok(config)
}

/// Extracts the name from `/Name`, `//Name`, `/+Name` (the `+` marks a directory shown expanded).
fn entry_name(trimmed: &str, line: usize) -> Result<String, ConfigError> {
    let name = trimmed.trim_start_matches('/');
    let name = name.strip_prefix('+').unwrap_or(name).trim();
    if name.is_empty() {
        return Err(ConfigError::EmptyEntryName { line });
    }
    Ok(name.to_string())
}

/// Splits `key: value`, lowercasing the key (Limine keys are case-insensitive).
fn split_key_value(trimmed: &str, line: usize) -> Result<(String, &str), ConfigError> {
    let (key, value) = trimmed
        .split_once(':')
        .ok_or(ConfigError::ExpectedKeyValue { line })?;
    let key = key.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(ConfigError::ExpectedKeyValue { line });
    }
    Ok((key.to_ascii_lowercase(), value.trim()))
}

fn global_option(
    config: &mut Config,
    key: &str,
    value: &str,
    line: usize,
) -> Result<(), ConfigError> {
    match key {
        "timeout" => config.timeout = parse_timeout(value, line)?,
        "serial" => config.serial = parse_bool("serial", value, line)?,
        // Limine has dozens of cosmetic/global options; the stub honours none of them.
        _ => {}
    }
    Ok(())
}

fn entry_option(
    builder: &mut Builder,
    key: &str,
    value: &str,
    line: usize,
) -> Result<(), ConfigError> {
    match key {
        "protocol" => {
            once(&mut builder.protocol_line, line, "protocol")?;
            builder.entry.protocol = Some(value.to_string());
        }
        "path" | "kernel_path" => {
            once(&mut builder.path_line, line, "path")?;
            builder.entry.kernel_path = Some(parse_path(value, line)?);
        }
        "cmdline" | "kernel_cmdline" => {
            once(&mut builder.cmdline_line, line, "cmdline")?;
            builder.entry.cmdline = value.to_string();
        }
        "module_path" => {
            builder.entry.modules.push(Module {
                path: parse_path(value, line)?,
                string: String::new(),
            });
            builder.module_string_line = None;
        }
        "module_string" | "module_cmdline" => {
            let module = builder
                .entry
                .modules
                .last_mut()
                .ok_or(ConfigError::ModuleStringWithoutPath { line })?;
            once(&mut builder.module_string_line, line, "module_string")?;
            module.string = value.to_string();
        }
        // Options for other protocols (e.g. `kaslr`, `textmode`) do not concern the stub.
        _ => {}
    }
    Ok(())
}

fn parse_timeout(value: &str, line: usize) -> Result<Timeout, ConfigError> {
    if value.eq_ignore_ascii_case("no") {
        return Ok(Timeout::Never);
    }
    value
        .parse::<u64>()
        .map(Timeout::Seconds)
        .map_err(|_| ConfigError::BadTimeout {
            line,
            value: value.to_string(),
        })
}

fn parse_bool(key: &str, value: &str, line: usize) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err(ConfigError::BadBool {
            line,
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

/// Parses `boot():/path`, `boot(N):/path`, each optionally followed by `#<blake2b>`.
pub fn parse_path(value: &str, line: usize) -> Result<PathSpec, ConfigError> {
    let (resource, rest) = value
        .split_once('(')
        .ok_or(ConfigError::BadPathSyntax { line })?;
    let resource = resource.trim();
    let (argument, rest) = rest
        .split_once("):")
        .ok_or(ConfigError::BadPathSyntax { line })?;
    if resource.is_empty() || resource.contains(|c: char| !c.is_ascii_alphanumeric()) {
        return Err(ConfigError::BadPathSyntax { line });
    }
    if resource != "boot" {
        return Err(ConfigError::UnsupportedResource {
            line,
            resource: resource.to_string(),
        });
    }
    let partition = match argument.trim() {
        "" => None,
        digits if digits.bytes().all(|b| b.is_ascii_digit()) => Some(
            digits
                .parse::<u32>()
                .map_err(|_| ConfigError::BadPartition { line })?,
        ),
        _ => return Err(ConfigError::BadPartition { line }),
    };
    // The hash is the last `#`: a BLAKE2b digest never contains one, a file name might.
    let (path, blake2b) = match rest.rsplit_once('#') {
        Some((path, hex)) => (path, Some(parse_hash(hex, line)?)),
        None => (rest, None),
    };
    if !path.starts_with('/') {
        return Err(ConfigError::RelativePath { line });
    }
    Ok(PathSpec {
        resource: Resource::Boot { partition },
        path: path.to_string(),
        blake2b,
    })
}

/// Decodes exactly 128 hex digits (either case) into a BLAKE2b-512 digest.
fn parse_hash(hex: &str, line: usize) -> Result<[u8; 64], ConfigError> {
    let bytes = hex.as_bytes();
    if bytes.len() != 128 {
        return Err(ConfigError::BadHash { line });
    }
    let mut out = [0u8; 64];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
            return Err(ConfigError::BadHash { line });
        };
        let (Some(hi), Some(lo)) = (hex_digit(hi), hex_digit(lo)) else {
            return Err(ConfigError::BadHash { line });
        };
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

mod repin;
pub use repin::{pinned, repin, RepinError};

#[cfg(test)]
mod tests;
