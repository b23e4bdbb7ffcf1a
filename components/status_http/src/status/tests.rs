//! Host tests of the state table's parsing and rendering.

extern crate std;

use super::*;

/// A table as the supervisor's `table_lines` aligns it.
const TABLE: &str = "\
NAME                STATE                                                      CAPABILITIES                            READY (ms)
services_storage    ready                                                      block_device, persistent_storage        12.0
services_network    ready                                                      network_device:eth0, port_range:1024-65535  900.5
t_x                 refused(capability network_device:eth1: no network device named eth1)  -  -
cli_console         exited(0)                                                  console                                 3.1
status_http         not started (not in init_sequence)                         -                                       -";

#[test]
fn the_table_parses_by_its_header() {
    let rows = parse_table(TABLE).unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].name, "services_storage");
    assert_eq!(rows[0].state, "ready");
    assert_eq!(rows[0].capabilities, ["block_device", "persistent_storage"]);
    assert_eq!(rows[0].ready_ms, Some("12.0"));
    assert_eq!(rows[3].state_word(), "exited");
    assert_eq!(rows[4].state, "not started (not in init_sequence)");
    assert_eq!(rows[4].state_word(), "not started");
    assert!(rows[4].capabilities.is_empty() && rows[4].ready_ms.is_none());
}

#[test]
fn during_the_start_sequence_there_is_no_table() {
    let note = "the start sequence is still running";
    assert!(parse_table(note).is_none());
    let json = services_json(note);
    assert_eq!(
        json,
        "{\"complete\":false,\"components\":[],\"note\":\"the start sequence is still running\"}\n"
    );
}

#[test]
fn json_of_the_table() {
    let json = services_json(TABLE);
    assert!(
        json.starts_with(
            "{\"complete\":true,\"components\":[{\"name\":\"services_storage\",\
         \"state\":\"ready\",\"state_word\":\"ready\",\"capabilities\":[\"block_device\",\
         \"persistent_storage\"],\"ready_ms\":\"12.0\"}"
        ),
        "{json}"
    );
    assert!(json.contains("\"capabilities\":[],\"ready_ms\":null}]}"));
}

#[test]
fn strings_are_escaped() {
    let mut s = String::new();
    json_string(&mut s, "a\"b\\c\nd\u{1}");
    assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001\"");
    let mut h = String::new();
    html_text(&mut h, "<a href=\"x\">&</a>");
    assert_eq!(h, "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
}

#[test]
fn the_page_holds_the_table_and_the_journal() {
    let page = index_html(TABLE, Ok("#3 slot A\n#2 slot A"), 12_345);
    assert!(page.contains("<td>services_network</td><td>ready</td>"));
    assert!(page.contains("uptime 12.345 s"));
    assert!(page.contains("#3 slot A\n#2 slot A\n</pre>"));
    let page = index_html("starting", Err("no boot journal (not found)"), 0);
    assert!(page.contains("<pre>starting</pre>"));
    assert!(page.contains("no boot journal (not found)</pre>"));
}
