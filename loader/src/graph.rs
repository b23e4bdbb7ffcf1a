//! The manifest's consistency: unique names, supported types, capability syntax, dependencies and start order.
//!
//! Capabilities are checked for *format* only ([`crate::capability::check_format`]): an unknown but
//! well-formed kind passes here and is refused by the kernel for that one entry when it starts it.
//!
//! A dependency that is not in `init_sequence` while its dependent is counts as
//! [`LoadError::StartedBeforeDependency`]: it would never be started, so the dependent would wait forever.
//! Entries not in `init_sequence` are not started and their order is not checked.

use crate::capability;
use crate::error::{bounded, LoadError};
use crate::manifest::{Entry, Manifest, MAX_ENTRIES};

/// Checks the manifest and returns the first problem found, in the order [`check_all`] reports them.
///
/// # Errors
/// [`LoadError::DuplicateName`], [`LoadError::UnsupportedType`], [`LoadError::BadCapability`],
/// [`LoadError::UnknownDependency`], [`LoadError::UnknownInInitSequence`],
/// [`LoadError::DuplicateInInitSequence`], [`LoadError::DependencyCycle`],
/// [`LoadError::StartedBeforeDependency`].
pub fn check(manifest: &Manifest) -> Result<(), LoadError> {
    let mut first = None;
    check_all(manifest, &mut |e| {
        if first.is_none() {
            first = Some(e);
        }
    });
    first.map_or(Ok(()), Err)
}

/// Checks the manifest and calls `report` once per problem (for a tool that lists them all).
pub fn check_all(manifest: &Manifest, report: &mut impl FnMut(LoadError)) {
    let entries: heapless::Vec<&Entry, MAX_ENTRIES> = manifest.entries().collect();
    let index_of = |name: &str| entries.iter().position(|e| e.name == name);

    for (i, entry) in entries.iter().enumerate() {
        let label = bounded(&entry.name);
        if index_of(&entry.name) != Some(i) {
            report(LoadError::DuplicateName {
                name: label.clone(),
            });
        }
        if entry.kind != "native" {
            report(LoadError::UnsupportedType {
                entry: label.clone(),
                found: bounded(&entry.kind),
            });
        }
        for cap in &entry.capabilities {
            if let Err(reason) = capability::check_format(cap) {
                report(LoadError::BadCapability {
                    entry: label.clone(),
                    capability: cap.clone(),
                    reason,
                });
            }
        }
        for dep in &entry.depends_on {
            if index_of(dep).is_none() {
                report(LoadError::UnknownDependency {
                    entry: label.clone(),
                    dependency: bounded(dep),
                });
            }
        }
    }

    // Position in init_sequence of each entry (first mention).
    let mut started: [Option<usize>; MAX_ENTRIES] = [None; MAX_ENTRIES];
    for (pos, name) in manifest.init_sequence.iter().enumerate() {
        let earlier = manifest.init_sequence.iter().take(pos).any(|n| n == name);
        match index_of(name) {
            _ if earlier => report(LoadError::DuplicateInInitSequence {
                name: bounded(name),
            }),
            None => report(LoadError::UnknownInInitSequence {
                name: bounded(name),
            }),
            Some(i) => {
                if let Some(slot) = started.get_mut(i) {
                    *slot = Some(pos);
                }
            }
        }
    }

    cycles(&entries, &index_of, report);

    for (pos, name) in manifest.init_sequence.iter().enumerate() {
        let Some(entry) = index_of(name).and_then(|i| entries.get(i)) else {
            continue;
        };
        if started
            .get(index_of(name).unwrap_or(usize::MAX))
            .copied()
            .flatten()
            != Some(pos)
        {
            continue; // a repeated mention, already reported
        }
        for dep in &entry.depends_on {
            let Some(j) = index_of(dep) else { continue };
            match started.get(j).copied().flatten() {
                Some(dep_pos) if dep_pos <= pos => {}
                _ => report(LoadError::StartedBeforeDependency {
                    entry: bounded(&entry.name),
                    dependency: bounded(dep),
                }),
            }
        }
    }
}

/// Reports one entry on each dependency cycle.
///
/// Entries are resolved once all their (known) dependencies are; whatever stays unresolved depends,
/// directly or not, on a cycle. Following "first unresolved dependency" from such an entry for
/// `n` steps must land on a cycle.
fn cycles(
    entries: &[&Entry],
    index_of: &impl Fn(&str) -> Option<usize>,
    report: &mut impl FnMut(LoadError),
) {
    let n = entries.len().min(MAX_ENTRIES);
    let mut resolved = [false; MAX_ENTRIES];
    let deps_of = |i: usize| {
        entries
            .get(i)
            .into_iter()
            .flat_map(|e| e.depends_on.iter())
            .filter_map(|d| index_of(d))
    };
    loop {
        let mut progress = false;
        for i in 0..n {
            let ready = deps_of(i).all(|j| resolved.get(j).copied().unwrap_or(true));
            if let Some(r) = resolved.get_mut(i).filter(|r| !**r && ready) {
                *r = true;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    let next = |i: usize| deps_of(i).find(|&j| !resolved.get(j).copied().unwrap_or(true));
    let mut on_reported_cycle = [false; MAX_ENTRIES];
    for start in (0..n).filter(|&i| !resolved.get(i).copied().unwrap_or(true)) {
        let mut c = start;
        for _ in 0..n {
            c = next(c).unwrap_or(c);
        }
        if on_reported_cycle.get(c).copied().unwrap_or(true) {
            continue;
        }
        // Mark the whole cycle so it is reported once.
        let mut k = c;
        for _ in 0..n {
            if let Some(m) = on_reported_cycle.get_mut(k) {
                *m = true;
            }
            k = next(k).unwrap_or(c);
            if k == c {
                break;
            }
        }
        if let Some(e) = entries.get(c) {
            report(LoadError::DependencyCycle {
                entry: bounded(&e.name),
            });
        }
    }
}

#[cfg(test)]
mod tests;
