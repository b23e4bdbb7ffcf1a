//! Key files on the host: `cargo xtask keygen`, reading `--sign-key`/`--trust` files, and the
//! development key created once under `target/` (formats: `docs/security.md`).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use signing::{CapKind, KeyId, PublicKey, SecretKey};

use crate::atomic::write_atomically;

/// The development key's id: boot banners name it so nobody ships it by accident.
pub const DEVELOPMENT_KEY_ID: &str = "development";
/// The extension of a public key file.
pub const PUBLIC_EXT: &str = "pub";
/// The extension of a secret key file.
pub const SECRET_EXT: &str = "sec";

/// A generated key pair's two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPaths {
    pub public: PathBuf,
    pub secret: PathBuf,
}

impl KeyPaths {
    /// `DIR/ID.pub` and `DIR/ID.sec`.
    pub fn in_dir(dir: &Path, id: &str) -> Self {
        Self {
            public: dir.join(format!("{id}.{PUBLIC_EXT}")),
            secret: dir.join(format!("{id}.{SECRET_EXT}")),
        }
    }
}

/// 32 bytes from the operating system's random source.
fn random_seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading 32 random bytes from /dev/urandom")?;
    Ok(seed)
}

/// Parses `console,network_device` (or `*`) into capability limits.
pub fn parse_limits(text: &str) -> Result<Vec<CapKind>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| CapKind::new(s).map_err(|e| anyhow::anyhow!("capability limit `{s}`: {e}")))
        .collect()
}

/// Writes a new key pair `ID.pub` (with `limits`) and `ID.sec` (mode 0600) into `dir`;
/// refuses to overwrite either file.
pub fn keygen(id: &str, dir: &Path, limits: &[CapKind]) -> Result<KeyPaths> {
    let key_id = KeyId::new(id).map_err(|e| anyhow::anyhow!("key id `{id}`: {e}"))?;
    let paths = KeyPaths::in_dir(dir, id);
    for p in [&paths.public, &paths.secret] {
        if p.exists() {
            bail!(
                "{} exists; keygen never overwrites a key (move it away first)",
                p.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret = loop {
        // An all-zero seed is refused; /dev/urandom will not give one twice.
        if let Ok(k) = SecretKey::from_seed(key_id, random_seed()?) {
            break k;
        }
    };
    let public = secret
        .public_key(limits)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    write_secret(&paths.secret, &secret)?;
    write_public(&paths.public, &public)?;
    Ok(paths)
}

fn write_secret(path: &Path, key: &SecretKey) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = vec![0u8; key.encoded_len()];
    key.encode(&mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    write_atomically(path, |f| {
        // Owner-only before a byte of the key is written.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        std::io::Write::write_all(f, &bytes)?;
        Ok(())
    })
}

fn write_public(path: &Path, key: &PublicKey) -> Result<()> {
    let mut bytes = vec![0u8; key.encoded_len()];
    key.encode(&mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    write_atomically(path, |f| Ok(std::io::Write::write_all(f, &bytes)?))
}

/// Reads a secret key file; refuses one that others can read.
pub fn read_secret(path: &Path) -> Result<SecretKey> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        );
    }
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SecretKey::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Reads a public key file.
pub fn read_public(path: &Path) -> Result<PublicKey> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    PublicKey::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The public key file beside a secret one (`X.sec` → `X.pub`).
pub fn public_beside(secret: &Path) -> PathBuf {
    secret.with_extension(PUBLIC_EXT)
}

/// The development key pair under `target_dir`, created on first use (limits: `*`).
pub fn development_key(target_dir: &Path) -> Result<KeyPaths> {
    key_once(&target_dir.join("pandagen-keys"), DEVELOPMENT_KEY_ID, "*")
}

/// The key pair `ID` in `dir`, generated unless both files are there. Holds `dir/.lock` while it
/// looks, so two threads or processes asking at once get the same pair (without it, one could
/// replace a half-written pair the other already signs with).
pub fn key_once(dir: &Path, id: &str, limits: &str) -> Result<KeyPaths> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock_path = dir.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let paths = KeyPaths::in_dir(dir, id);
    if paths.secret.exists() && paths.public.exists() {
        return Ok(paths);
    }
    // A pair cut short by an interrupted keygen: start again.
    let _ = fs::remove_file(&paths.secret);
    let _ = fs::remove_file(&paths.public);
    keygen(id, dir, &parse_limits(limits)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keygen_writes_an_owner_only_secret_and_a_matching_public_key() {
        let dir = TempDir::new("keygen");
        let paths = keygen(
            "vendor_a",
            dir.path(),
            &parse_limits("console,network_device").unwrap(),
        )
        .unwrap();
        let mode = fs::metadata(&paths.secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let secret = read_secret(&paths.secret).unwrap();
        let public = read_public(&paths.public).unwrap();
        assert_eq!(public.id().as_str(), "vendor_a");
        assert_eq!(
            secret.public_key(&[]).unwrap().key_bytes(),
            public.key_bytes()
        );
        assert!(public.allows("network_device:eth0"));
        assert!(!public.allows("block_device"));
        // Never overwrites.
        assert!(keygen("vendor_a", dir.path(), &[]).is_err());
        // A secret others can read is refused.
        fs::set_permissions(&paths.secret, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret(&paths.secret).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn development_key_is_created_once() {
        let dir = TempDir::new("devkey");
        let a = development_key(dir.path()).unwrap();
        let first = fs::read(&a.secret).unwrap();
        let b = development_key(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(fs::read(&b.secret).unwrap(), first);
    }

    #[test]
    fn threads_asking_at_once_all_get_one_matching_pair() {
        for round in 0..20 {
            let dir = TempDir::new(&format!("devkey-race-{round}"));
            let got: Vec<(Vec<u8>, Vec<u8>)> = std::thread::scope(|s| {
                let workers: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            let p = development_key(dir.path()).unwrap();
                            let secret = read_secret(&p.secret).unwrap();
                            let public = read_public(&p.public).unwrap();
                            let derived = secret.public_key(&[]).unwrap().key_bytes().to_vec();
                            assert_eq!(derived, public.key_bytes(), "a mismatched pair");
                            (fs::read(&p.secret).unwrap(), derived)
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            assert!(got.windows(2).all(|w| w[0] == w[1]), "two different pairs");
        }
    }
}
