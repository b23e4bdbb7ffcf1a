//! Unit and property tests for manifest parsing, limits and serialization.

use super::*;
use crate::error::bounded;
use proptest::prelude::*;

const SUM: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/// The spec's example manifest with the settled extra keys (`start_block`, `size_bytes`, `checksum`).
pub(crate) fn spec_example() -> String {
    format!(
        r#"{{
  "format_version": 1,
  "kernel": {{
    "binary": "kernel_bootstrap",
    "entry_point": "_start",
    "size_bytes": 524288,
    "checksum": "{SUM}"
  }},
  "services": [
    {{
      "name": "services_storage",
      "type": "native",
      "binary": "services_storage.elf",
      "capabilities": ["block_device", "persistent_storage"],
      "provides": ["storage_api"],
      "start_block": 200, "size_bytes": 1000, "checksum": "{SUM}"
    }},
    {{
      "name": "services_network",
      "type": "native",
      "binary": "services_network.elf",
      "capabilities": ["network_device"],
      "provides": ["network_api"],
      "depends_on": [],
      "start_block": 201, "size_bytes": 1000, "checksum": "{SUM}"
    }}
  ],
  "components": [
    {{
      "name": "cli_console",
      "type": "native",
      "binary": "cli_console.elf",
      "depends_on": ["services_storage", "services_fs_view"],
      "provides": ["cli_interface"],
      "start_block": 202, "size_bytes": 1000, "checksum": "{SUM}"
    }}
  ],
  "init_sequence": [
    "services_storage",
    "services_logger",
    "services_network",
    "cli_console"
  ]
}}"#
    )
}

/// A minimal manifest with the given `services` array body.
fn with_services(services: &str) -> String {
    format!(
        r#"{{"format_version":1,"kernel":{{"binary":"k","entry_point":"_start","size_bytes":1,"checksum":"{SUM}"}},"services":[{services}]}}"#
    )
}

/// One service entry with `extra` keys appended (e.g. `,"depends_on":[]`).
fn service(name: &str, extra: &str) -> String {
    format!(
        r#"{{"name":"{name}","type":"native","binary":"b","start_block":9,"size_bytes":1,"checksum":"{SUM}"{extra}}}"#
    )
}

/// Parses into a boxed manifest: a 75 KiB `Result` per call would overflow the test thread's stack.
pub(crate) fn parse_boxed(bytes: &[u8]) -> Result<Box<Manifest>, LoadError> {
    let mut m = Box::<Manifest>::default();
    parse_into(bytes, &mut m)?;
    Ok(m)
}

fn parse_str(s: &str) -> Result<Box<Manifest>, LoadError> {
    parse_boxed(s.as_bytes())
}

fn list(n: usize, item: &str) -> String {
    vec![format!("\"{item}\""); n].join(",")
}

#[test]
fn parses_the_spec_example() {
    let m = parse_str(&spec_example()).unwrap();
    assert_eq!(m.format_version, 1);
    assert_eq!(m.kernel.entry_point, "_start");
    assert_eq!(
        m.kernel.start_block, 1,
        "absent kernel start_block means block 1"
    );
    assert_eq!(m.kernel.size_bytes, 524288);
    assert_eq!(m.services.len(), 2);
    assert_eq!(m.services[0].capabilities.len(), 2);
    assert_eq!(m.services[0].depends_on.len(), 0);
    assert_eq!(m.components[0].depends_on[1], "services_fs_view");
    assert_eq!(m.components[0].capabilities.len(), 0);
    assert_eq!(m.init_sequence.len(), 4);
    assert_eq!(m.find("cli_console").unwrap().start_block, 202);
    assert_eq!(m.entries().count(), 3);
}

#[test]
fn the_spec_example_as_written_lacks_block_numbers() {
    let original = spec_example().replace(
        r#""start_block": 200, "size_bytes": 1000, "checksum": "#,
        r#""x": "#,
    );
    assert_eq!(
        parse_str(&original),
        Err(LoadError::ManifestSchema {
            at: bounded("services[0]"),
            detail: bounded("missing field `start_block`")
        })
    );
}

#[test]
fn unknown_keys_are_ignored_at_every_level() {
    let text = with_services(&service(
        "a",
        r#","sig2":"ed25519:x","extra":{"deep":[1,{"x":null}],"n":-1.5e3}"#,
    ))
    .replace(
        r#""kernel":{"#,
        r#""future":[true,false],"kernel":{"public_key_id":"k1","#,
    );
    let m = parse_str(&text).unwrap();
    assert_eq!(m.services[0].name, "a");
}

#[test]
fn signatures_and_the_epoch() {
    let sig = format!("ed25519:{}", "0f".repeat(64));
    let keys = format!(r#","signature":"{sig}","public_key_id":"system_key_v1""#);
    let text = with_services(&service("a", &keys)).replace("{", r#"{"security_epoch":3,"#);
    let m = parse_str(&text).unwrap();
    assert_eq!(m.security_epoch, 3);
    let e = &m.services[0];
    assert_eq!(e.signature.unwrap().0, [0x0f; 64]);
    assert_eq!(e.public_key_id.as_deref(), Some("system_key_v1"));
    // It serialises back to the same fields.
    let mut out = vec![0u8; MAX_MANIFEST_BYTES];
    let n = m.to_json(&mut out).unwrap();
    assert_eq!(parse(&out[..n]).unwrap(), *m);

    let alone = with_services(&service("a", &format!(r#","signature":"{sig}""#)));
    assert!(matches!(
        parse_str(&alone),
        Err(LoadError::SignatureWithoutKeyId { .. })
    ));
    let upper = with_services(&service(
        "a",
        &keys
            .to_uppercase()
            .replace("ED25519", "ed25519")
            .replace("SIGNATURE", "signature")
            .replace("PUBLIC_KEY_ID", "public_key_id")
            .replace("SYSTEM_KEY_V1", "k"),
    ));
    assert!(matches!(
        parse_str(&upper),
        Err(LoadError::BadSignatureSyntax { .. })
    ));
    // A key-ring update: hex in, the same hex out.
    let with_update =
        with_services(&service("a", "")).replace("{", r#"{"key_ring_update":"00ff10","#);
    let m = parse_str(&with_update).unwrap();
    assert_eq!(
        m.key_ring_update.as_ref().unwrap().0.as_slice(),
        &[0x00, 0xff, 0x10]
    );
    let n = m.to_json(&mut out).unwrap();
    assert!(std::str::from_utf8(&out[..n])
        .unwrap()
        .contains(r#""key_ring_update":"00ff10""#));
    for bad in ["0", "0F", "zz", ""] {
        let text = with_services(&service("a", ""))
            .replace("{", &format!(r#"{{"key_ring_update":"{bad}","#));
        assert!(
            matches!(parse_str(&text), Err(LoadError::BadKeyRingUpdate { .. })),
            "{bad}"
        );
    }
    // No epoch key: 0, and not written out.
    let plain = parse_str(&with_services(&service("a", ""))).unwrap();
    assert_eq!(plain.security_epoch, 0);
    let n = plain.to_json(&mut out).unwrap();
    assert!(!std::str::from_utf8(&out[..n])
        .unwrap()
        .contains("security_epoch"));
}

#[test]
fn keyboard_layout_round_trips_and_only_its_shape_is_checked() {
    let mut out = [0u8; 4096];
    // A name the kernel may not know still parses (the kernel decides); it is written back.
    for name in ["de", "us", "klingon"] {
        let text = with_services(&service("a", ""))
            .replace("{", &format!(r#"{{"keyboard_layout":"{name}","#));
        let m = parse_str(&text).unwrap();
        assert_eq!(m.keyboard_layout.as_deref(), Some(name));
        let n = m.to_json(&mut out).unwrap();
        assert!(std::str::from_utf8(&out[..n])
            .unwrap()
            .contains(&format!(r#""keyboard_layout":"{name}""#)));
    }
    for bad in ["", "d", "DE", "de-ch", "toolongname"] {
        let text = with_services(&service("a", ""))
            .replace("{", &format!(r#"{{"keyboard_layout":"{bad}","#));
        assert!(
            matches!(
                parse_str(&text),
                Err(LoadError::BadKeyboardLayout { length }) if length == bad.len()
            ),
            "{bad}"
        );
    }
    // Absent: none, and not written out.
    let plain = parse_str(&with_services(&service("a", ""))).unwrap();
    assert_eq!(plain.keyboard_layout, None);
    let n = plain.to_json(&mut out).unwrap();
    assert!(!std::str::from_utf8(&out[..n])
        .unwrap()
        .contains("keyboard_layout"));
}

#[test]
fn optional_keys() {
    let m = parse_str(&with_services(&service("a", r#","start_timeout_ms":2500"#))).unwrap();
    assert_eq!(m.services[0].start_timeout_ms, Some(2500));
    assert!(m.components.is_empty() && m.init_sequence.is_empty());
    let m = parse_str(&with_services(&service("a", r#","start_timeout_ms":null"#))).unwrap();
    assert_eq!(m.services[0].start_timeout_ms, None);
}

#[test]
fn config_is_one_printable_line_kept_through_json() {
    let line = "static 10.0.2.50/24 gw 10.0.2.2 dns 10.0.2.3";
    let m = parse_str(&with_services(&service(
        "a",
        &format!(r#","config":"{line}""#),
    )))
    .unwrap();
    assert_eq!(m.services[0].config.as_deref(), Some(line));
    let mut out = vec![0u8; MAX_MANIFEST_BYTES];
    let n = m.to_json(&mut out).unwrap();
    let again = parse_boxed(&out[..n]).unwrap();
    assert_eq!(again.services[0].config.as_deref(), Some(line));
    assert_eq!(
        parse_str(&with_services(&service("a", "")))
            .unwrap()
            .services[0]
            .config,
        None
    );
    assert!(matches!(
        parse_str(&with_services(&service("a", r#","config":"a\tb""#))),
        Err(LoadError::BadConfig { .. })
    ));
    let long = "x".repeat(MAX_CONFIG + 1);
    assert!(matches!(
        parse_str(&with_services(&service(
            "a",
            &format!(r#","config":"{long}""#)
        ))),
        Err(LoadError::StringTooLong {
            field: "config",
            limit: MAX_CONFIG,
            ..
        })
    ));
}

#[test]
fn memory_limit_is_a_number_of_pages() {
    let m = parse_str(&with_services(&service("a", ""))).unwrap();
    assert_eq!(m.services[0].memory_limit(), DEFAULT_MEMORY_LIMIT);
    for (text, bytes) in [("16M", 16u64 << 20), ("65536", 65536), ("1G", 1 << 30)] {
        let extra = format!(r#","memory_limit":"{text}""#);
        let m = parse_str(&with_services(&service("a", &extra))).unwrap();
        assert_eq!(m.services[0].memory_limit().bytes(), bytes, "{text}");
        let mut buf = vec![0u8; MAX_MANIFEST_BYTES];
        let n = m.to_json(&mut buf).unwrap();
        let again = parse_str(core::str::from_utf8(&buf[..n]).unwrap()).unwrap();
        assert_eq!(again.services[0].memory_limit, m.services[0].memory_limit);
    }
    for bad in ["16MB", "0", "100", "", "123456789012345678901234"] {
        let extra = format!(r#","memory_limit":"{bad}""#);
        assert!(
            matches!(
                parse_str(&with_services(&service("a", &extra))),
                Err(LoadError::BadMemoryLimit { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn expected_state_is_a_state_word() {
    use bootlog::state::{Expected, StateKind};
    let m = parse_str(&with_services(&service("a", ""))).unwrap();
    assert_eq!(m.services[0].expected(), Expected::Up);
    for (word, want) in [
        ("up", Expected::Up),
        ("failed", Expected::Is(StateKind::Failed)),
        ("exited(1)", Expected::Is(StateKind::Exited(1))),
        ("not-started", Expected::Is(StateKind::NotStarted)),
    ] {
        let extra = format!(r#","expected_state":"{word}""#);
        let m = parse_str(&with_services(&service("a", &extra))).unwrap();
        assert_eq!(m.services[0].expected(), want, "{word}");
        // It survives a round trip through the packer's JSON.
        let mut buf = vec![0u8; MAX_MANIFEST_BYTES];
        let n = m.to_json(&mut buf).unwrap();
        let again = parse_str(core::str::from_utf8(&buf[..n]).unwrap()).unwrap();
        assert_eq!(again.services[0].expected(), want, "{word}");
    }
    for bad in ["sleeping", "", "exited(99999999999999999999)", "Ready"] {
        let extra = format!(r#","expected_state":"{bad}""#);
        assert!(
            matches!(
                parse_str(&with_services(&service("a", &extra))),
                Err(LoadError::BadExpectedState { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn escapes_are_decoded() {
    let m = parse_str(&with_services(&service("a\\u0062\\\"", ""))).unwrap();
    assert_eq!(m.services[0].name, "ab\"");
}

#[test]
fn stops_at_the_first_zero_byte() {
    let mut bytes = with_services(&service("a", "")).into_bytes();
    bytes.extend_from_slice(&[0, b'x', b'y']);
    assert!(parse_boxed(&bytes).is_ok());
}

#[test]
fn empty_and_too_large() {
    assert_eq!(parse_boxed(&[]), Err(LoadError::ManifestEmpty));
    assert_eq!(parse_boxed(&[0, b'{']), Err(LoadError::ManifestEmpty));
    let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
    assert_eq!(
        parse_boxed(&big),
        Err(LoadError::ManifestTooLarge {
            bytes: 65537,
            limit: 65536
        })
    );
}

#[test]
fn not_utf8_gives_the_offset() {
    let mut bytes = with_services("").into_bytes();
    bytes[20] = 0xff;
    assert_eq!(
        parse_boxed(&bytes),
        Err(LoadError::ManifestNotUtf8 { offset: 20 })
    );
}

#[test]
fn not_json_gives_the_offset() {
    let text =
        with_services(&service("a", "")).replace(r#""type":"native","#, r#""type":"native",,"#);
    let offset = text.find(",,").unwrap() + 1;
    assert!(
        matches!(parse_str(&text), Err(LoadError::ManifestNotJson { offset: o, .. }) if o == offset)
    );
    assert!(matches!(
        parse_str("{\"a\":1} {}"),
        Err(LoadError::ManifestNotJson { offset: 8, .. })
    ));
}

#[test]
fn too_deep() {
    let text = format!(r#"{{"x":{}{}}}"#, "[".repeat(20), "]".repeat(20));
    assert_eq!(
        parse_str(&text),
        Err(LoadError::ManifestTooDeep {
            offset: 20,
            limit: MAX_DEPTH
        })
    );
}

#[test]
fn schema_errors_name_the_place() {
    let schema = |at: &str, detail: &str| {
        Err(LoadError::ManifestSchema {
            at: bounded(at),
            detail: bounded(detail),
        })
    };
    assert_eq!(
        parse_str("[]"),
        schema("manifest", "the manifest must be a JSON object")
    );
    assert_eq!(
        parse_str(r#"{"format_version":1}"#),
        schema("manifest", "missing key `kernel`")
    );
    let no_version = with_services("").replace(r#""format_version":1,"#, "");
    assert_eq!(
        parse_str(&no_version),
        schema("manifest", "missing key `format_version`")
    );
    let twice = with_services("").replace(
        r#""format_version":1,"#,
        r#""format_version":1,"format_version":1,"#,
    );
    assert_eq!(
        parse_str(&twice),
        schema("manifest", "duplicate key `format_version`")
    );
    let text =
        with_services(&service("a", "")).replace(r#""start_block":9"#, r#""start_block":"9""#);
    assert_eq!(
        parse_str(&text),
        schema("services[0]", "a value has the wrong JSON type")
    );
    let text =
        with_services(&service("a", "")).replace(r#""start_block":9"#, r#""start_block":-9"#);
    assert!(
        matches!(parse_str(&text), Err(LoadError::ManifestSchema { at, .. }) if at == "services[0]")
    );
    let text = with_services(&service("a", r#","name":"b""#));
    assert_eq!(
        parse_str(&text),
        schema("services[0]", "duplicate field `name`")
    );
    let text = with_services("").replace(r#""size_bytes":1"#, r#""size_bytes":1.5"#);
    assert!(
        matches!(parse_str(&text), Err(LoadError::ManifestSchema { at, .. }) if at == "kernel")
    );
    let text = with_services("").replace(r#""services":[]"#, r#""services":{}"#);
    assert_eq!(
        parse_str(&text),
        schema("services", "a value has the wrong JSON type")
    );
}

#[test]
fn escaped_string_too_long() {
    let long = format!("\\n{}", "x".repeat(MAX_ESCAPED_STRING));
    let text = with_services(&service("a", &format!(r#","note":"{long}""#)));
    assert_eq!(
        parse_str(&text),
        Err(LoadError::EscapedStringTooLong {
            at: bounded("services[0]"),
            limit: MAX_ESCAPED_STRING
        })
    );
    // Without escapes, a long unknown string is fine.
    let text = with_services(&service("a", &format!(r#","note":"{}""#, "x".repeat(5000))));
    assert!(parse_str(&text).is_ok());
}

#[test]
fn too_many_entries() {
    let names: Vec<String> = (0..MAX_SERVICES)
        .map(|i| service(&format!("s{i}"), ""))
        .collect();
    assert!(parse_str(&with_services(&names.join(","))).is_ok());
    let names: Vec<String> = (0..=MAX_SERVICES)
        .map(|i| service(&format!("s{i}"), ""))
        .collect();
    assert_eq!(
        parse_str(&with_services(&names.join(","))),
        Err(LoadError::TooManyEntries {
            list: "services",
            limit: MAX_SERVICES
        })
    );
    let comps: Vec<String> = (0..=MAX_COMPONENTS)
        .map(|i| service(&format!("c{i}"), ""))
        .collect();
    let text = with_services("").replace(
        r#""services":[]"#,
        &format!(r#""components":[{}]"#, comps.join(",")),
    );
    assert_eq!(
        parse_str(&text),
        Err(LoadError::TooManyEntries {
            list: "components",
            limit: MAX_COMPONENTS
        })
    );
    let init = |n| {
        with_services("").replace(
            r#""services":[]"#,
            &format!(r#""init_sequence":[{}]"#, list(n, "a")),
        )
    };
    assert!(parse_str(&init(MAX_INIT)).is_ok());
    assert_eq!(
        parse_str(&init(MAX_INIT + 1)),
        Err(LoadError::TooManyEntries {
            list: "init_sequence",
            limit: MAX_INIT
        })
    );
}

#[test]
fn too_many_items() {
    let cases = [
        ("capabilities", MAX_CAPABILITIES, "console"),
        ("provides", MAX_PROVIDES, "api"),
        ("depends_on", MAX_DEPENDS, "x"),
    ];
    for (key, limit, item) in cases {
        let at_limit = service("a", &format!(r#","{key}":[{}]"#, list(limit, item)));
        assert!(parse_str(&with_services(&at_limit)).is_ok(), "{key}");
        let over = service("a", &format!(r#","{key}":[{}]"#, list(limit + 1, item)));
        assert_eq!(
            parse_str(&with_services(&over)),
            Err(LoadError::TooManyItems {
                entry: bounded("a"),
                list: key,
                limit
            }),
        );
    }
}

#[test]
fn strings_too_long() {
    let too_long = |entry: &str, field, length, limit| {
        Err(LoadError::StringTooLong {
            entry: bounded(entry),
            field,
            length,
            limit,
        })
    };
    let name = "n".repeat(MAX_NAME);
    assert!(parse_str(&with_services(&service(&name, ""))).is_ok());
    let name = "é".repeat(17); // 34 bytes, 17 characters: the limit is in bytes
    assert_eq!(
        parse_str(&with_services(&service(&name, ""))),
        too_long("services[0]", "name", 34, MAX_NAME)
    );
    let entry = |key: &str, value: String| {
        with_services(&service("a", "").replace(
            &format!(r#""{key}":"#),
            &format!(r#""{key}":{value},"old":"#),
        ))
    };
    let s = |n: usize| format!("\"{}\"", "x".repeat(n));
    assert_eq!(
        parse_str(&entry("binary", s(65))),
        too_long("a", "binary", 65, MAX_BINARY_NAME)
    );
    assert_eq!(
        parse_str(&entry("type", s(17))),
        too_long("a", "type", 17, MAX_TYPE)
    );
    let caps = service("a", &format!(r#","capabilities":["console",{}]"#, s(65)));
    assert_eq!(
        parse_str(&with_services(&caps)),
        too_long("a", "capabilities", 65, MAX_CAPABILITY)
    );
    let prov = service("a", &format!(r#","provides":[{}]"#, s(33)));
    assert_eq!(
        parse_str(&with_services(&prov)),
        too_long("a", "provides", 33, MAX_NAME)
    );
    let deps = service("a", &format!(r#","depends_on":[{}]"#, s(33)));
    assert_eq!(
        parse_str(&with_services(&deps)),
        too_long("a", "depends_on", 33, MAX_NAME)
    );
    let kernel = with_services("").replace(
        r#""entry_point":"_start""#,
        &format!(r#""entry_point":{}"#, s(65)),
    );
    assert_eq!(
        parse_str(&kernel),
        too_long("kernel", "entry_point", 65, MAX_ENTRY_POINT)
    );
    let kernel = with_services("").replace(r#""binary":"k""#, &format!(r#""binary":{}"#, s(65)));
    assert_eq!(
        parse_str(&kernel),
        too_long("kernel", "binary", 65, MAX_BINARY_NAME)
    );
    let init = with_services("").replace(
        r#""services":[]"#,
        &format!(r#""init_sequence":["a",{}]"#, s(33)),
    );
    assert_eq!(
        parse_str(&init),
        too_long("init_sequence[1]", "name", 33, MAX_NAME)
    );
}

#[test]
fn empty_names() {
    assert_eq!(
        parse_str(&with_services(&service("", ""))),
        Err(LoadError::EmptyName {
            entry: bounded("services[0]")
        })
    );
    let init = with_services("").replace(r#""services":[]"#, r#""init_sequence":[""]"#);
    assert_eq!(
        parse_str(&init),
        Err(LoadError::EmptyName {
            entry: bounded("init_sequence[0]")
        })
    );
}

#[test]
fn bad_checksum_syntax() {
    let upper = SUM.replace("ba78", "BA78");
    for bad in [
        upper.as_str(),
        "sha256:",
        "sha512:00",
        &SUM[..SUM.len() - 1],
        &format!("{SUM}00"),
        &format!("{SUM}{}", "0".repeat(100)),
        "md5:x",
    ] {
        let text = with_services(&service("a", "").replace(SUM, bad));
        assert_eq!(
            parse_str(&text),
            Err(LoadError::BadChecksumSyntax {
                entry: bounded("a")
            }),
            "{bad}"
        );
    }
    let text = with_services("").replacen(SUM, &upper, 1);
    assert_eq!(
        parse_str(&text),
        Err(LoadError::BadChecksumSyntax {
            entry: bounded("kernel")
        })
    );
}

#[test]
fn to_json_reports_a_small_buffer() {
    let m = parse_str(&spec_example()).unwrap();
    let mut small = [0u8; 10];
    assert_eq!(
        m.to_json(&mut small),
        Err(LoadError::JsonBufferFull { len: 10 })
    );
}

fn name_strategy() -> impl Strategy<Value = Name> {
    // Any characters, including quotes, backslashes, control characters and NUL, to test escaping.
    proptest::collection::vec(any::<char>(), 1..12)
        .prop_map(|cs| bounded(&cs.into_iter().collect::<String>()))
        .prop_filter("non-empty", |n: &Name| !n.is_empty())
}

fn entry_strategy() -> impl Strategy<Value = Entry> {
    (
        name_strategy(),
        proptest::collection::vec("[a-z_:0-9-]{0,20}", 0..4),
        proptest::collection::vec(name_strategy(), 0..3),
        proptest::collection::vec(name_strategy(), 0..3),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<Option<u32>>(),
    )
        .prop_map(
            |(name, caps, provides, deps, start_block, size_bytes, sum, start_timeout_ms)| Entry {
                name,
                kind: bounded("native"),
                binary: bounded("x.elf"),
                capabilities: caps.iter().map(|c| bounded(c)).collect(),
                provides: provides.into_iter().collect(),
                depends_on: deps.into_iter().collect(),
                start_block,
                size_bytes,
                checksum: Sha256Digest(sum),
                start_timeout_ms,
                expected_state: None,
                memory_limit: None,
                signature: None,
                public_key_id: None,
                config: None,
            },
        )
}

fn manifest_strategy() -> impl Strategy<Value = Box<Manifest>> {
    (
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(entry_strategy(), 0..4),
        proptest::collection::vec(entry_strategy(), 0..3),
        proptest::collection::vec(name_strategy(), 0..5),
    )
        .prop_map(
            |(format_version, start_block, size_bytes, services, components, init)| {
                let mut m = Box::<Manifest>::default();
                m.format_version = format_version;
                m.kernel = Kernel {
                    binary: bounded("kernel_bootstrap"),
                    entry_point: bounded("_start"),
                    start_block,
                    size_bytes,
                    checksum: Sha256Digest::of(b"k"),
                };
                m.services = services.into_iter().collect();
                m.components = components.into_iter().collect();
                m.init_sequence = init.into_iter().collect();
                m
            },
        )
}

proptest! {
    #[test]
    fn to_json_parse_round_trip(m in manifest_strategy()) {
        let mut out = vec![0u8; MAX_MANIFEST_BYTES];
        let len = m.to_json(&mut out).unwrap();
        prop_assert!(!out[..len].contains(&0), "JSON must hold no zero byte");
        prop_assert_eq!(parse_boxed(&out[..len]), Ok(m));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_boxed(&bytes);
    }

    #[test]
    fn json_like_text_never_panics(text in r#"[{}\[\]",:a-z0-9 \\\-.eé]{0,300}"#) {
        let _ = parse_boxed(text.as_bytes());
    }

    #[test]
    fn mutated_example_never_panics(at in 0usize..1500, byte: u8, cut in 0usize..1600) {
        let mut bytes = spec_example().into_bytes();
        if let Some(b) = bytes.get_mut(at) { *b = byte; }
        bytes.truncate(cut);
        if let Ok(m) = parse_boxed(&bytes) {
            let _ = crate::graph::check(&m);
        }
    }
}
