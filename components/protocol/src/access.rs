//! Who may read or write which path: the rule of the `files:<dir>` and `files_read:<dir>`
//! capabilities, as the kernel's `COMPONENT_CAPS` record lists them (one capability a line).
//!
//! `services_storage` (`storage_server::access`) and `services_fs_view` both apply it, so that
//! a component reading through `fs_view_api` sees exactly what `storage_api` would show it.
//! Pure and allocation-free: the record is scanned on every check.

use crate::storage::normalize;

/// The capability kind that grants reading and writing under a directory.
pub const CAP_FILES: &str = "files";
/// The capability kind that grants reading under a directory.
pub const CAP_FILES_READ: &str = "files_read";

/// The directory a capability line grants, normalized (`""` = the root), and whether it may
/// be written; `None` for other capabilities and malformed directories (they grant nothing).
pub fn grant(cap: &str) -> Option<(&str, bool)> {
    let (kind, dir) = cap.split_once(':').unwrap_or((cap, ""));
    let write = match kind {
        CAP_FILES => true,
        CAP_FILES_READ => false,
        _ => return None,
    };
    normalize(dir).ok().map(|dir| (dir, write))
}

/// Whether normalized `path` is `dir` (normalized) or inside it.
pub fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Whether the capability `record` (`files:/home\nconsole\n`) lets its holder read normalized
/// `path` (or write it, when `write`).
pub fn permits(record: &str, path: &str, write: bool) -> bool {
    record
        .lines()
        .filter_map(grant)
        .any(|(dir, w)| (w || !write) && is_under(path, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_decides() {
        let rec = "console\nfiles:/home/user\nfiles_read:/etc\nfiles:a//b\n";
        assert!(permits(rec, "home/user", true));
        assert!(permits(rec, "home/user/notes.txt", true));
        assert!(!permits(rec, "home/username", false));
        assert!(!permits(rec, "home", false));
        assert!(permits(rec, "etc/motd", false));
        assert!(!permits(rec, "etc/motd", true));
        assert!(!permits(rec, "", false), "the root is not granted");
        assert!(
            !permits(rec, "a/b", false),
            "a malformed directory grants nothing"
        );
        assert!(!permits("console\n", "x", false));
        assert!(!permits("", "x", false));
        assert!(permits("files_read:/", "x/y", false));
        assert!(!permits("files_read:/", "x/y", true));
        assert!(permits("files:/", "", true));
        // A kind that merely starts like one of ours grants nothing.
        assert!(!permits("files_x:/\nfilesread:/\n", "x", false));
    }

    #[test]
    fn grants_of_single_lines() {
        assert_eq!(grant("files:/"), Some(("", true)));
        assert_eq!(grant("files_read:/a/b"), Some(("a/b", false)));
        assert_eq!(grant("files:/a/../b"), None);
        assert_eq!(grant("console"), None);
        assert_eq!(
            grant("files"),
            Some(("", true)),
            "no directory: as the root"
        );
    }
}
