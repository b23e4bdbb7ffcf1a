//! The status pages from the system's own texts: [`parse_table`] reads the supervisor's state
//! table as SERVICES writes it (the console's `services` shows the same text), [`services_json`]
//! and [`index_html`] render it; the manifest is served as MANIFEST gives it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// One row of the state table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// The manifest entry's name.
    pub name: &'a str,
    /// Its state as the table says it (`ready`, `exited(0)`, `refused(…)`).
    pub state: &'a str,
    /// The granted capabilities (empty for none).
    pub capabilities: Vec<&'a str>,
    /// Milliseconds from spawn to READY (`12.0`), or `None` (`-`).
    pub ready_ms: Option<&'a str>,
}

impl Row<'_> {
    /// The state's word: `ready`, `exited`, `failed`, `not started`…
    pub fn state_word(&self) -> &str {
        self.state.split('(').next().unwrap_or(self.state).trim()
    }
}

/// The table's rows, from SERVICES's text: a header (`NAME  STATE  CAPABILITIES  READY (ms)`)
/// gives the column positions. `None` when the text has no such header (during the start
/// sequence SERVICES says so in one line instead).
pub fn parse_table(text: &str) -> Option<Vec<Row<'_>>> {
    let mut lines = text.lines();
    let header = lines.next()?;
    let state_at = header.find("STATE")?;
    let caps_at = header.find("CAPABILITIES")?;
    let ready_at = header.find("READY (ms)")?;
    if !(header.starts_with("NAME") && state_at < caps_at && caps_at < ready_at) {
        return None;
    }
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let col = |from: usize, to: usize| {
                let to = to.min(line.len());
                line.get(from.min(to)..to).unwrap_or("").trim()
            };
            let caps = col(caps_at, ready_at);
            let ready = col(ready_at, line.len());
            Row {
                name: col(0, state_at),
                state: col(state_at, caps_at),
                capabilities: if caps == "-" || caps.is_empty() {
                    Vec::new()
                } else {
                    caps.split(", ").collect()
                },
                ready_ms: (ready != "-" && !ready.is_empty()).then_some(ready),
            }
        })
        .collect();
    Some(rows)
}

/// `s` as a JSON string, quotes included.
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The state table as JSON: `{"complete": true, "components": [{"name", "state",
/// "state_word", "capabilities", "ready_ms"}]}`; `complete` is false (and the list empty)
/// while the start sequence runs, and `note` then holds SERVICES's line.
pub fn services_json(table_text: &str) -> String {
    let mut out = String::from("{");
    match parse_table(table_text) {
        Some(rows) => {
            out.push_str("\"complete\":true,\"components\":[");
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                row_json(&mut out, r);
            }
            out.push(']');
        }
        None => {
            out.push_str("\"complete\":false,\"components\":[],\"note\":");
            json_string(&mut out, table_text.trim());
        }
    }
    out.push_str("}\n");
    out
}

fn row_json(out: &mut String, r: &Row<'_>) {
    out.push_str("{\"name\":");
    json_string(out, r.name);
    out.push_str(",\"state\":");
    json_string(out, r.state);
    out.push_str(",\"state_word\":");
    json_string(out, r.state_word());
    out.push_str(",\"capabilities\":[");
    for (i, c) in r.capabilities.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, c);
    }
    out.push_str("],\"ready_ms\":");
    match r.ready_ms {
        Some(ms) => json_string(out, ms),
        None => out.push_str("null"),
    }
    out.push('}');
}

/// `s` escaped for HTML text.
pub fn html_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// The HTML page: the state table (as a table when it parses, else SERVICES's text) and the
/// boot journal's newest lines (`journal`: `Err` holds why it is not there).
pub fn index_html(table_text: &str, journal: Result<&str, &str>, uptime_ms: u64) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>PandaGen status</title>\
         </head><body>\n<h1>PandaGen status</h1>\n",
    );
    let _ = writeln!(
        out,
        "<p>uptime {}.{:03} s</p>",
        uptime_ms / 1000,
        uptime_ms % 1000
    );
    out.push_str("<h2>Components</h2>\n");
    match parse_table(table_text) {
        Some(rows) => table_html(&mut out, &rows),
        None => {
            out.push_str("<pre>");
            html_text(&mut out, table_text);
            out.push_str("</pre>\n");
        }
    }
    out.push_str("<h2>Boot log</h2>\n<pre>");
    match journal {
        Ok(text) => {
            for line in text.lines().take(JOURNAL_LINES) {
                html_text(&mut out, line);
                out.push('\n');
            }
        }
        Err(why) => html_text(&mut out, why),
    }
    out.push_str(
        "</pre>\n<p><a href=\"/services.json\">services.json</a> \
                  <a href=\"/manifest.json\">manifest.json</a></p>\n</body></html>\n",
    );
    out
}

/// How many of the boot journal's lines (newest first) the page shows.
pub const JOURNAL_LINES: usize = 10;

fn table_html(out: &mut String, rows: &[Row<'_>]) {
    out.push_str(
        "<table border=\"1\"><tr><th>name</th><th>state</th><th>capabilities</th>\
         <th>ready (ms)</th></tr>\n",
    );
    for r in rows {
        out.push_str("<tr><td>");
        html_text(out, r.name);
        out.push_str("</td><td>");
        html_text(out, r.state);
        out.push_str("</td><td>");
        html_text(out, &r.capabilities.join(", "));
        out.push_str("</td><td>");
        html_text(out, r.ready_ms.unwrap_or("-"));
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests;
