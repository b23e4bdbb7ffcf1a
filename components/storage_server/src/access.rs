//! Which paths a caller may read and write, from its `files:<dir>` and `files_read:<dir>`
//! capabilities (the kernel's `COMPONENT_CAPS` record: one capability per line). The rule
//! itself is [`protocol::access`], shared with `services_fs_view`.

use alloc::string::String;
use alloc::vec::Vec;
use protocol::access::{grant, is_under};
use protocol::storage::StorageError;

pub use protocol::access::{CAP_FILES, CAP_FILES_READ};

/// A caller's access rules: directories (normalized, `""` = the root) and whether each may
/// be written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    rules: Vec<(String, bool)>,
}

impl Access {
    /// Everything, read and write (host tools, tests).
    pub fn all() -> Access {
        Access {
            rules: alloc::vec![(String::new(), true)],
        }
    }

    /// The rules in a capability record (`files:/home\nconsole\n`); other capabilities and
    /// malformed directories are ignored (they grant nothing).
    pub fn from_caps(record: &str) -> Access {
        let rules = record
            .lines()
            .filter_map(grant)
            .map(|(dir, write)| (String::from(dir), write))
            .collect();
        Access { rules }
    }

    /// Whether any path is granted at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `Ok` if `path` (normalized) may be read, or written when `write`; else `Denied`.
    pub fn check(&self, path: &str, write: bool) -> Result<(), StorageError> {
        let granted = self
            .rules
            .iter()
            .any(|(dir, w)| (*w || !write) && is_under(path, dir));
        granted.then_some(()).ok_or(StorageError::Denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_come_from_the_capability_record() {
        let a = Access::from_caps("console\nfiles:/home/user\nfiles_read:/etc\nfiles:a//b\n");
        assert_eq!(a.check("home/user", true), Ok(()));
        assert_eq!(a.check("home/user/notes.txt", true), Ok(()));
        assert_eq!(a.check("home/username", false), Err(StorageError::Denied));
        assert_eq!(a.check("home", false), Err(StorageError::Denied));
        assert_eq!(a.check("etc/motd", false), Ok(()));
        assert_eq!(a.check("etc/motd", true), Err(StorageError::Denied));
        assert_eq!(a.check("", false), Err(StorageError::Denied));
        assert!(Access::from_caps("console\n").is_empty());
        assert_eq!(Access::from_caps("files:/").check("x/y", true), Ok(()));
        assert_eq!(Access::all().check("", true), Ok(()));
    }
}
