//! `cargo xtask push IMG http://HOST:PORT`: updates a running machine over the network. The
//! machine's `status_http` serves its manifest byte for byte (`GET /manifest.json`), whose
//! SHA-256 gives the image id it runs; the delta from that image to IMG's active slot is made
//! (against `--from OLD.img` when given, which must be that image; else with every region
//! whole) and sent as `PUT /update`. The machine checks the signature, as for any delta,
//! applies it into slot B and answers one line (`update: slot B written (…); reboot to try
//! it`, or the refusal); any status but 2xx is an error.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use signing::SecretKey;

use crate::http_scenarios::{exchange_at, exchange_at_with, Answer};
use crate::{inspect, update};

/// How long the machine may take to answer `PUT /update`: it applies the delta before it
/// answers (tens of MB of slot in a TCG-emulated debug build take minutes).
pub const PUT_TIMEOUT: Duration = Duration::from_secs(900);

/// What [`push`] did.
pub struct Pushed {
    /// The image the machine ran.
    pub base: [u8; 16],
    /// The delta's size in bytes and the image it installs.
    pub delta_bytes: usize,
    pub target: [u8; 16],
    /// The machine's answer's body (one line).
    pub answer: String,
    /// From sending the delta to the answer (the upload and the apply).
    pub elapsed: Duration,
}

/// `http://HOST:PORT[/]` → (HOST, PORT).
pub fn parse_url(url: &str) -> Result<(String, u16)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: want http://HOST:PORT (status_http's address)"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest
        .rsplit_once(':')
        .with_context(|| format!("{url}: no port (status_http listens on 8080)"))?;
    ensure!(
        !host.is_empty() && !host.contains('/'),
        "{url}: want http://HOST:PORT with no path"
    );
    let port = port
        .parse()
        .with_context(|| format!("{url}: bad port {port:?}"))?;
    Ok((host.to_string(), port))
}

/// Makes the delta for the machine at `url` and sends it.
pub fn push(
    image: &Path,
    url: &str,
    from: Option<&Path>,
    key: Option<&SecretKey>,
) -> Result<Pushed> {
    let (host, port) = parse_url(url)?;
    let addr = (host.as_str(), port);
    let get = b"GET /manifest.json HTTP/1.1\r\nHost: pandagen\r\nConnection: close\r\n\r\n";
    let manifest = exchange_at(addr, get).with_context(|| format!("GET {url}/manifest.json"))?;
    ensure!(
        manifest.status == 200,
        "GET {url}/manifest.json answered {}: is status_http running there?",
        manifest.status
    );
    let base = loader::sha256::image_id(&manifest.body);
    let made = update::make_delta_for(base, from, image, key)?;
    let bytes = &made.encoded.bytes;
    let mut put = format!(
        "PUT /update HTTP/1.1\r\nHost: pandagen\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .into_bytes();
    put.extend_from_slice(bytes);
    let started = Instant::now();
    let answer =
        exchange_at_with(addr, &put, PUT_TIMEOUT).with_context(|| format!("PUT {url}/update"))?;
    let body = one_line(&answer);
    match answer.status {
        200..=299 => Ok(Pushed {
            base,
            delta_bytes: bytes.len(),
            target: made.new_image_id,
            answer: body,
            elapsed: started.elapsed(),
        }),
        s => bail!(
            "{url}: PUT /update of a {}-byte delta answered {s}: {body} (the machine runs image {})",
            bytes.len(),
            inspect::uuid(&base)
        ),
    }
}

/// The answer's body as one line, for messages.
fn one_line(a: &Answer) -> String {
    String::from_utf8_lossy(&a.body)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_and_port() {
        assert_eq!(
            parse_url("http://10.0.0.7:8080").unwrap(),
            ("10.0.0.7".into(), 8080)
        );
        assert_eq!(parse_url("http://box:80/").unwrap(), ("box".into(), 80));
        for bad in [
            "10.0.0.7:8080",
            "http://box",
            "http://box:x",
            "http://box:80/update",
            "http://:80",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
