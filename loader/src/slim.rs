//! The few manifest fields a slot update needs (the kernel's and each entry's place and sum,
//! the security epoch), parsed with a small stack: the whole [`crate::Manifest`] is about
//! 80 KiB and its parse builds one on the stack, more than a component's 64 KiB stack or a
//! kernel task's 32 KiB stack holds. The console's `update` reads the running slot's regions
//! with it, and the kernel the written slot's before it lets it boot (docs/slots.md).

use serde::Deserialize;

use crate::manifest::{MAX_COMPONENTS, MAX_ENTRIES, MAX_SERVICES};
use crate::Sha256Digest;

/// A place and a sum in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed<'a> {
    /// The entry's name (`kernel` for the kernel).
    pub name: &'a str,
    /// First 4096-byte block.
    pub start_block: u64,
    /// Length in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
}

/// What an update reads from the running slot's manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slim<'a> {
    /// The kernel (block 1).
    pub kernel: Placed<'a>,
    /// Every entry, services first, in manifest order.
    pub entries: heapless::Vec<Placed<'a>, MAX_ENTRIES>,
    /// `security_epoch` (0 when absent).
    pub security_epoch: u32,
}

/// Why the manifest could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadManifest;

#[derive(Deserialize)]
struct RawKernel<'a> {
    start_block: u64,
    size_bytes: u64,
    checksum: &'a str,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    name: &'a str,
    start_block: u64,
    size_bytes: u64,
    checksum: &'a str,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    kernel: RawKernel<'a>,
    #[serde(borrow, default)]
    services: heapless::Vec<RawEntry<'a>, MAX_SERVICES>,
    #[serde(borrow, default)]
    components: heapless::Vec<RawEntry<'a>, MAX_COMPONENTS>,
    #[serde(default)]
    security_epoch: u32,
}

fn placed<'a>(
    name: &'a str,
    start_block: u64,
    size_bytes: u64,
    sum: &str,
) -> Result<Placed<'a>, BadManifest> {
    Ok(Placed {
        name,
        start_block,
        size_bytes,
        sha256: Sha256Digest::parse(sum).ok_or(BadManifest)?.0,
    })
}

/// Parses the fields an update needs from the manifest's JSON.
///
/// # Errors
/// [`BadManifest`] when the JSON (checked first for syntax and depth, as the full parse does:
/// [`crate::manifest::checked_text`]) or a field does not parse.
pub fn parse(json: &[u8]) -> Result<Slim<'_>, BadManifest> {
    let json = crate::manifest::checked_text(json).map_err(|_| BadManifest)?;
    let (raw, _) = serde_json_core::from_str::<Raw<'_>>(json).map_err(|_| BadManifest)?;
    let k = &raw.kernel;
    let kernel = placed("kernel", k.start_block, k.size_bytes, k.checksum)?;
    let mut entries = heapless::Vec::new();
    for e in raw.services.iter().chain(raw.components.iter()) {
        let e = placed(e.name, e.start_block, e.size_bytes, e.checksum)?;
        entries.push(e).map_err(|_| BadManifest)?;
    }
    Ok(Slim {
        kernel,
        entries,
        security_epoch: raw.security_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_an_update_needs_are_read_and_the_rest_skipped() {
        let sum = "sha256:".to_string() + &"ab".repeat(32);
        let json = format!(
            r#"{{"format_version":1,"kernel":{{"binary":"k","entry_point":"_start","start_block":1,"size_bytes":5000,"checksum":"{sum}"}},"services":[{{"name":"svc","type":"native","capabilities":["a"],"depends_on":[],"start_block":4,"size_bytes":9,"checksum":"{sum}","start_timeout_ms":15000}}],"components":[{{"name":"cli","start_block":5,"size_bytes":7,"checksum":"{sum}"}}],"init_sequence":["svc","cli"],"security_epoch":2}}"#
        );
        let slim = parse(json.as_bytes()).unwrap();
        assert_eq!(slim.kernel.size_bytes, 5000);
        assert_eq!(slim.kernel.sha256, [0xab; 32]);
        let names: Vec<&str> = slim.entries.iter().map(|e| e.name).collect();
        assert_eq!(names, ["svc", "cli"]);
        assert_eq!((slim.entries[1].start_block, slim.security_epoch), (5, 2));
        assert_eq!(parse(b"{}"), Err(BadManifest));
        // Nesting past the loader's depth limit is refused before serde recurses into it.
        let deep = json.replace(
            r#""init_sequence""#,
            &format!(
                r#""x":{}1{},"init_sequence""#,
                "[".repeat(5000),
                "]".repeat(5000)
            ),
        );
        assert_eq!(parse(deep.as_bytes()), Err(BadManifest));
        assert_eq!(
            parse(json.replace("sha256:", "md5:").as_bytes()),
            Err(BadManifest)
        );
    }
}
