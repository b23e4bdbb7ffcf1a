//! Unit tests for the limine.conf parser.

use super::*;
use crate::hash::blake2b512;

const KERNEL_HASH: &str = "694fb141587a720e94aabae7b444d6b415ff66efcbd2e7f2173c1f3b931070f13ea9664b27b66e09ad6efdd3dffe73d435047c9211a5d7cba076f41bfe872415";

fn err(text: &str) -> ConfigError {
    parse(text).expect_err("config should be rejected")
}

#[test]
fn full_example() {
    let text = "# PandaGen
timeout: 3
SERIAL: yes
interface_branding: PandaGen
wallpaper: boot():/bg.png

/PandaGen
    protocol: limine
    kernel_path: boot():/boot/kernel_bootstrap
    kernel_cmdline: log=debug
    module_path: boot(2):/boot/init
    module_string: init
    module_path: boot():/boot/fs
    kaslr: no
";
    let config = parse(text).unwrap();
    assert_eq!(config.timeout, Timeout::Seconds(3));
    assert!(config.serial);
    assert_eq!(config.entries.len(), 1);
    let entry = config.first_entry().unwrap();
    assert_eq!(entry.name, "PandaGen");
    assert_eq!(entry.protocol.as_deref(), Some("limine"));
    let path = entry.kernel_path.as_ref().unwrap();
    assert_eq!(path.resource, Resource::Boot { partition: None });
    assert_eq!(path.path, "/boot/kernel_bootstrap");
    assert_eq!(path.to_string(), "boot():/boot/kernel_bootstrap");
    assert_eq!(entry.cmdline, "log=debug");
    assert_eq!(entry.modules.len(), 2);
    assert_eq!(entry.modules[0].path.to_string(), "boot(2):/boot/init");
    assert_eq!(entry.modules[0].string, "init");
    assert_eq!(entry.modules[1].path.path, "/boot/fs");
    assert_eq!(entry.modules[1].string, "");
}

#[test]
fn defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.timeout, Timeout::Seconds(5));
    assert!(!config.serial);
    assert!(config.entries.is_empty());
    assert_eq!(config.first_entry(), Err(ConfigError::NoBootableEntry));
}

#[test]
fn timeout_no_and_bad() {
    assert_eq!(parse("timeout: no").unwrap().timeout, Timeout::Never);
    assert_eq!(parse("timeout:0").unwrap().timeout, Timeout::Seconds(0));
    assert_eq!(
        err("\n timeout: soon"),
        ConfigError::BadTimeout {
            line: 2,
            value: "soon".into()
        }
    );
    assert!(matches!(
        err("serial: maybe"),
        ConfigError::BadBool { line: 1, .. }
    ));
}

#[test]
fn aliases_and_case_insensitive_keys() {
    let config = parse("/A\nPROTOCOL: limine\nPath: boot():/k\nCmdline: a b\nmodule_path: boot():/m\nmodule_cmdline: s\n").unwrap();
    let entry = config.first_entry().unwrap();
    assert_eq!(entry.kernel_path.as_ref().unwrap().path, "/k");
    assert_eq!(entry.cmdline, "a b");
    assert_eq!(entry.modules[0].string, "s");
}

#[test]
fn first_entry_skips_directories() {
    let text = "/+Menu\n//Sub\nprotocol: limine\npath: boot():/k\n/Other\nprotocol: limine\n";
    let config = parse(text).unwrap();
    assert_eq!(config.entries.len(), 3);
    assert_eq!(config.entries[0].name, "Menu");
    assert_eq!(config.first_entry().unwrap().name, "Sub");
}

#[test]
fn global_keys_inside_entries_are_entry_keys() {
    // After the first entry, `timeout` is an (ignored) entry option, as in Limine.
    let config = parse("/A\ntimeout: 9\n").unwrap();
    assert_eq!(config.timeout, Timeout::Seconds(5));
}

#[test]
fn crlf_and_bom() {
    let config = parse("\u{feff}timeout: 1\r\n/A\r\nprotocol: limine\r\n").unwrap();
    assert_eq!(config.timeout, Timeout::Seconds(1));
    assert_eq!(config.entries[0].protocol.as_deref(), Some("limine"));
}

#[test]
fn hash_suffix() {
    let upper = KERNEL_HASH.to_ascii_uppercase();
    for hex in [KERNEL_HASH, upper.as_str()] {
        let text = format!("/A\npath: boot():/boot/kernel#{hex}\n");
        let config = parse(&text).unwrap();
        let path = config.entries[0].kernel_path.as_ref().unwrap();
        assert_eq!(path.path, "/boot/kernel");
        assert_eq!(path.blake2b, Some(blake2b512(b"kernel")));
        assert_eq!(path.to_string(), "boot():/boot/kernel");
        assert_eq!(
            path.with_hash().to_string(),
            format!("boot():/boot/kernel#{KERNEL_HASH}")
        );
    }
}

#[test]
fn bad_hashes() {
    let short = &KERNEL_HASH[..126];
    let long = format!("{KERNEL_HASH}0");
    let not_hex = format!("{}zz", &KERNEL_HASH[..126]);
    for hex in [short, long.as_str(), not_hex.as_str(), ""] {
        let text = format!("/A\n\nmodule_path: boot():/m#{hex}\n");
        assert_eq!(err(&text), ConfigError::BadHash { line: 3 }, "{hex}");
    }
}

#[test]
fn unsupported_resources() {
    for resource in ["hdd", "guid", "fslabel", "uuid", "tftp", "odd"] {
        let text = format!("/A\npath: {resource}(1:2):/k\n");
        assert_eq!(
            err(&text),
            ConfigError::UnsupportedResource {
                line: 2,
                resource: resource.into()
            }
        );
    }
}

#[test]
fn bad_paths() {
    assert_eq!(
        err("/A\npath: /boot/k"),
        ConfigError::BadPathSyntax { line: 2 }
    );
    assert_eq!(
        err("/A\npath: boot()/k"),
        ConfigError::BadPathSyntax { line: 2 }
    );
    assert_eq!(
        err("/A\npath: (): /k"),
        ConfigError::BadPathSyntax { line: 2 }
    );
    assert_eq!(
        err("/A\npath: boot():k"),
        ConfigError::RelativePath { line: 2 }
    );
    assert_eq!(
        err("/A\npath: boot():"),
        ConfigError::RelativePath { line: 2 }
    );
    assert_eq!(
        err("/A\npath: boot(x):/k"),
        ConfigError::BadPartition { line: 2 }
    );
    assert_eq!(
        err("/A\npath: boot(99999999999):/k"),
        ConfigError::BadPartition { line: 2 }
    );
    let config = parse("/A\npath: boot( 7 ):/k").unwrap();
    assert_eq!(
        config.entries[0].kernel_path.as_ref().unwrap().resource,
        Resource::Boot { partition: Some(7) }
    );
}

#[test]
fn structural_errors() {
    assert_eq!(err("just words"), ConfigError::ExpectedKeyValue { line: 1 });
    assert_eq!(err(": value"), ConfigError::ExpectedKeyValue { line: 1 });
    assert_eq!(err("# c\n//  \n"), ConfigError::EmptyEntryName { line: 2 });
    assert_eq!(
        err("${ROOT}=boot()"),
        ConfigError::UnsupportedMacro { line: 1 }
    );
    assert_eq!(
        err("/A\nmodule_string: x"),
        ConfigError::ModuleStringWithoutPath { line: 2 }
    );
    assert_eq!(
        err("/A\npath: boot():/a\nkernel_path: boot():/b"),
        ConfigError::DuplicateKey {
            line: 3,
            first_line: 2,
            key: "path"
        }
    );
    assert_eq!(
        err("/A\nmodule_path: boot():/a\nmodule_string: x\nmodule_string: y"),
        ConfigError::DuplicateKey {
            line: 4,
            first_line: 3,
            key: "module_string"
        }
    );
    // Each entry has its own keys; a module_string never reaches back into another entry.
    assert!(parse("/A\npath: boot():/a\n/B\npath: boot():/b").is_ok());
    assert_eq!(
        err("/A\nmodule_path: boot():/a\n/B\nmodule_string: x"),
        ConfigError::ModuleStringWithoutPath { line: 4 }
    );
}

#[test]
fn errors_display_line_numbers() {
    let text = err("/A\n\n\npath: hdd(1:1):/k").to_string();
    assert!(text.contains("line 4"), "{text}");
    assert!(text.contains("hdd"), "{text}");
}

#[test]
fn search_paths_are_absolute() {
    assert!(SEARCH_PATHS
        .iter()
        .all(|p| p.starts_with('/') && p.ends_with("limine.conf")));
    assert!(SEARCH_PATHS.contains(&crate::files::CONF));
}

proptest::proptest! {
    #[test]
    fn never_panics(text in "\\PC*") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_config_like_text(
        lines in proptest::collection::vec(
            "(/{1,2}[a-z]{0,3}|[a-z_]{1,12}: ?(boot|hdd)?\\(?[0-9]{0,2}\\)?:?/?[a-z#0-9]{0,140}|#.*|)",
            0..12,
        )
    ) {
        let text = lines.join("\n");
        match parse(&text) {
            Ok(config) => {
                let _ = config.first_entry();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}
