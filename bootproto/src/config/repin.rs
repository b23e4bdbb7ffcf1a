//! Changing the BLAKE2b-512 pins of files in a `limine.conf` text without reformatting it.

use alloc::string::String;
use core::fmt;

use crate::enroll::{parse_slot, slot_text, Slot, SLOT_LEN};

/// Why a config cannot be re-pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepinError {
    /// No `path:` or `module_path:` line names `boot():PATH#<hash>` for this path.
    NotPinned {
        /// The path looked for.
        path: &'static str,
    },
}

impl fmt::Display for RepinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPinned { path } => write!(
                f,
                "limine.conf pins no file {path} (no `path: boot():{path}#<hash>` line): rebuild the image"
            ),
        }
    }
}

impl core::error::Error for RepinError {}

/// The pin text of `line` when it is a `path:` or `module_path:` line naming
/// `boot():<path>#`: the byte range of what follows the `#` up to the line end.
fn pin_range(line: &str, path: &str) -> Option<core::ops::Range<usize>> {
    let body = line.trim_end_matches(['\n', '\r']);
    let t = body.trim_start();
    let value = t
        .strip_prefix("path:")
        .or_else(|| t.strip_prefix("module_path:"))?
        .trim_start();
    let rest = value.strip_prefix("boot():")?.strip_prefix(path)?;
    rest.strip_prefix('#')?;
    let start = body.len() - rest.len() + 1;
    Some(start..body.len())
}

/// `conf` with the pin (`#<hash>`) of each `(path, digest)` replaced by the digest's 128 lowercase
/// hex digits, on every `path:` or `module_path:` line naming `boot():<path>#`; everything
/// else, line endings included, stays byte for byte. A path no line pins is an error.
pub fn repin(conf: &str, pins: &[(&'static str, [u8; 64])]) -> Result<String, RepinError> {
    let mut out = String::with_capacity(conf.len() + pins.len() * SLOT_LEN);
    let mut found = alloc::vec![false; pins.len()];
    for line in conf.split_inclusive('\n') {
        let hit = pins
            .iter()
            .enumerate()
            .find_map(|(i, (path, d))| Some((i, pin_range(line, path)?, d)));
        match hit {
            Some((i, range, digest)) => {
                out.push_str(&line[..range.start]);
                // Hex digits are ASCII.
                out.extend(slot_text(digest).iter().map(|&b| char::from(b)));
                out.push_str(&line[range.end..]);
                found[i] = true;
            }
            None => out.push_str(line),
        }
    }
    match found.iter().position(|f| !f) {
        Some(i) => Err(RepinError::NotPinned { path: pins[i].0 }),
        None => Ok(out),
    }
}

/// The digest `conf` pins for `path` (on the first `path:` or `module_path:` line naming
/// `boot():<path>#`), or `None` when no line pins it or the pin is not 128 hex digits.
pub fn pinned(conf: &str, path: &str) -> Option<[u8; 64]> {
    let line = conf
        .split_inclusive('\n')
        .find(|line| pin_range(line, path).is_some())?;
    let range = pin_range(line, path)?;
    match parse_slot(line[range].trim_end().as_bytes()).ok()? {
        Slot::Enrolled(d) => Some(d),
        Slot::NotEnrolled => Some([0; 64]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{blake2b512, Hex};
    use alloc::format;

    fn conf(a: &[u8; 64], m: &[u8; 64], b: &[u8; 64]) -> String {
        format!(
            "timeout: 0\n\n/PandaGen slot A\n    protocol: limine\n    path: boot():/boot/kernel_bootstrap#{}\n    \
             cmdline: slot=A\n    module_path: boot():/boot/pandagen-system.mod#{}\n    module_string: x\n\n\
             /PandaGen slot B\n    protocol: limine\n    path: boot():/boot/kernel_bootstrap_b#{}\r\n    cmdline: slot=B",
            Hex(a),
            Hex(m),
            Hex(b)
        )
    }

    #[test]
    fn repin_changes_only_the_named_pins() {
        let (a, m, b) = (blake2b512(b"a"), blake2b512(b"m"), blake2b512(b"b"));
        let old = conf(&a, &m, &b);
        let nb = blake2b512(b"new b");
        let new = repin(&old, &[("/boot/kernel_bootstrap_b", nb)]).unwrap();
        assert_eq!(new, conf(&a, &m, &nb));
        let (na, nm) = (blake2b512(b"new a"), blake2b512(b"new m"));
        let pins = [
            ("/boot/kernel_bootstrap", na),
            ("/boot/pandagen-system.mod", nm),
        ];
        assert_eq!(repin(&old, &pins).unwrap(), conf(&na, &nm, &b));
        assert_eq!(repin(&old, &[]).unwrap(), old);
    }

    #[test]
    fn pinned_reads_each_pin() {
        let (a, m, b) = (blake2b512(b"a"), blake2b512(b"m"), blake2b512(b"b"));
        let text = conf(&a, &m, &b);
        assert_eq!(pinned(&text, "/boot/kernel_bootstrap"), Some(a));
        assert_eq!(pinned(&text, "/boot/pandagen-system.mod"), Some(m));
        assert_eq!(pinned(&text, "/boot/kernel_bootstrap_b"), Some(b));
        assert_eq!(pinned(&text, "/boot/kernel"), None);
        assert_eq!(pinned("path: boot():/k#12\n", "/k"), None);
    }

    #[test]
    fn an_unpinned_path_is_named() {
        let text = "/E\n    path: boot():/boot/kernel_bootstrap\n";
        let err = repin(text, &[("/boot/kernel_bootstrap", [0; 64])]).unwrap_err();
        assert_eq!(
            err,
            RepinError::NotPinned {
                path: "/boot/kernel_bootstrap"
            }
        );
        assert!(format!("{err}").contains("/boot/kernel_bootstrap"));
    }
}
