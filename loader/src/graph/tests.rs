//! Unit tests for the dependency graph and start-order checks.

use super::*;
use crate::error::Label;
use crate::manifest::{Kernel, Name};
use crate::sha256::Sha256Digest;

fn l(s: &str) -> Label {
    bounded(s)
}

fn entry(name: &str, deps: &[&str]) -> Entry {
    Entry {
        name: bounded(name),
        kind: bounded("native"),
        binary: bounded("x.elf"),
        capabilities: heapless::Vec::new(),
        provides: heapless::Vec::new(),
        depends_on: deps.iter().map(|d| Name::try_from(*d).unwrap()).collect(),
        start_block: 0,
        size_bytes: 1,
        checksum: Sha256Digest::default(),
        start_timeout_ms: None,
        expected_state: None,
        memory_limit: None,
        signature: None,
        public_key_id: None,
        config: None,
    }
}

fn manifest(services: Vec<Entry>, components: Vec<Entry>, init: &[&str]) -> Manifest {
    Manifest {
        format_version: 1,
        kernel: Kernel {
            binary: bounded("k"),
            entry_point: bounded("_start"),
            start_block: 1,
            size_bytes: 1,
            checksum: Sha256Digest::default(),
        },
        services: services.into_iter().collect(),
        components: components.into_iter().collect(),
        init_sequence: init.iter().map(|n| Name::try_from(*n).unwrap()).collect(),
        security_epoch: 0,
        key_ring_update: None,
        keyboard_layout: None,
    }
}

fn all(m: &Manifest) -> Vec<LoadError> {
    let mut found = Vec::new();
    check_all(m, &mut |e| found.push(e));
    found
}

#[test]
fn spec_example_has_exactly_two_problems() {
    let m = crate::manifest::tests::parse_boxed(crate::manifest::tests::spec_example().as_bytes())
        .unwrap();
    assert_eq!(
        all(&m),
        vec![
            LoadError::UnknownDependency {
                entry: l("cli_console"),
                dependency: l("services_fs_view")
            },
            LoadError::UnknownInInitSequence {
                name: l("services_logger")
            },
        ]
    );
    assert_eq!(
        check(&m),
        Err(LoadError::UnknownDependency {
            entry: l("cli_console"),
            dependency: l("services_fs_view")
        })
    );
}

#[test]
fn a_good_graph_passes() {
    let m = manifest(
        vec![entry("storage", &[]), entry("net", &["storage"])],
        vec![entry("cli", &["storage", "net"])],
        &["storage", "net", "cli"],
    );
    assert_eq!(check(&m), Ok(()));
    // Entries left out of init_sequence are not started, so not checked for order.
    let m = manifest(
        vec![entry("storage", &[]), entry("net", &["storage"])],
        vec![],
        &["storage"],
    );
    assert_eq!(check(&m), Ok(()));
}

#[test]
fn duplicate_names_across_lists() {
    let m = manifest(vec![entry("a", &[])], vec![entry("a", &[])], &[]);
    assert_eq!(all(&m), vec![LoadError::DuplicateName { name: l("a") }]);
}

#[test]
fn unsupported_type() {
    let mut e = entry("a", &[]);
    e.kind = bounded("wasm");
    assert_eq!(
        check(&manifest(vec![e], vec![], &[])),
        Err(LoadError::UnsupportedType {
            entry: l("a"),
            found: l("wasm")
        })
    );
}

#[test]
fn bad_capability() {
    let mut e = entry("a", &[]);
    e.capabilities.push(bounded("console")).unwrap();
    e.capabilities.push(bounded("port_range:9-1")).unwrap();
    assert_eq!(
        check(&manifest(vec![e], vec![], &[])),
        Err(LoadError::BadCapability {
            entry: l("a"),
            capability: bounded("port_range:9-1"),
            reason: crate::capability::CapabilityError::RangeReversed
        })
    );
}

#[test]
fn capability_format_rule() {
    // Unknown but well-formed kinds pass (the kernel refuses them per entry); malformed strings and
    // known kinds with bad parameters are image errors.
    let mut e = entry("a", &[]);
    for cap in [
        "gpu",
        "camera:front",
        "network_device:eth0",
        "port_range:1-2",
    ] {
        e.capabilities.push(bounded(cap)).unwrap();
    }
    assert_eq!(check(&manifest(vec![e], vec![], &["a"])), Ok(()));

    use crate::capability::CapabilityError as E;
    let mut e = entry("b", &[]);
    let bad = [
        ("Gpu", E::BadSyntax),
        ("gpu:", E::BadSyntax),
        ("port_range:1024-", E::MalformedRange),
        ("port_range:9-1", E::RangeReversed),
        ("network_device:", E::EmptyDeviceName),
    ];
    for (cap, _) in bad {
        e.capabilities.push(bounded(cap)).unwrap();
    }
    let expected: Vec<LoadError> = bad
        .iter()
        .map(|(cap, reason)| LoadError::BadCapability {
            entry: l("b"),
            capability: bounded(cap),
            reason: *reason,
        })
        .collect();
    assert_eq!(all(&manifest(vec![e], vec![], &["b"])), expected);
}

#[test]
fn init_sequence_problems() {
    let m = manifest(vec![entry("a", &[])], vec![], &["a", "ghost", "a"]);
    assert_eq!(
        all(&m),
        vec![
            LoadError::UnknownInInitSequence { name: l("ghost") },
            LoadError::DuplicateInInitSequence { name: l("a") },
        ]
    );
}

#[test]
fn cycles_are_reported_once_each() {
    // a -> b -> c -> a, d -> a (depends on the cycle, not on it), e -> e.
    let m = manifest(
        vec![
            entry("d", &["a"]),
            entry("a", &["b"]),
            entry("b", &["c"]),
            entry("c", &["a"]),
        ],
        vec![entry("e", &["e"])],
        &[],
    );
    let found = all(&m);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        matches!(&found[0], LoadError::DependencyCycle { entry } if ["a", "b", "c"].contains(&entry.as_str()))
    );
    assert_eq!(found[1], LoadError::DependencyCycle { entry: l("e") });
}

#[test]
fn started_before_dependency() {
    let m = manifest(
        vec![entry("a", &["b"]), entry("b", &[])],
        vec![],
        &["a", "b"],
    );
    assert_eq!(
        check(&m),
        Err(LoadError::StartedBeforeDependency {
            entry: l("a"),
            dependency: l("b")
        })
    );
    // A dependency never started counts too: the dependent would wait for ever.
    let m = manifest(vec![entry("a", &["b"]), entry("b", &[])], vec![], &["a"]);
    assert_eq!(
        check(&m),
        Err(LoadError::StartedBeforeDependency {
            entry: l("a"),
            dependency: l("b")
        })
    );
}

#[test]
fn full_manifest_does_not_overflow_arrays() {
    let services: Vec<Entry> = (0..16).map(|i| entry(&format!("s{i}"), &[])).collect();
    let components: Vec<Entry> = (0..16).map(|i| entry(&format!("c{i}"), &["s0"])).collect();
    let init: Vec<String> = (0..16)
        .map(|i| format!("s{i}"))
        .chain((0..16).map(|i| format!("c{i}")))
        .collect();
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    assert_eq!(check(&manifest(services, components, &init)), Ok(()));
}
