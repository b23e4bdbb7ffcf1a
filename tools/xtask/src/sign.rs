//! Signing an image at build time: the kernel's trust block (key ring and policy), each entry's
//! signature, and the manifest signature in block 0 (docs/security.md).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use loader::manifest::Manifest;
use loader::signature::{ManifestSignature, Signature};
use loader::Sha256Digest;
use signing::trust::{Policy, Trust, TRUST_LEN};
use signing::{KeyRing, PublicKey, SecretKey};

use crate::description::Description;
use crate::keys::{self, DEVELOPMENT_KEY_ID};

/// How an image is signed and what its kernel trusts.
#[derive(Debug, Clone)]
pub struct SignConfig {
    /// Signing keys; the first is the system key (it signs the manifest and every entry
    /// without `sign_with`). Empty: nothing is signed (negative tests only).
    pub keys: Vec<SecretKey>,
    /// The key ring enrolled into the kernel.
    pub trust: Vec<PublicKey>,
    /// The policy enrolled into the kernel.
    pub policy: Policy,
    /// Whether the ring is the development key (boot banners say so).
    pub development: bool,
    /// A signed key-ring update (`PGRINGUP`) the image carries (`--key-ring-update`).
    pub ring_update: Option<Vec<u8>>,
}

/// The `--sign-key`, `--trust` and `--policy` options as given.
#[derive(Debug, Clone, Default)]
pub struct SignArgs {
    pub sign_keys: Vec<PathBuf>,
    pub trust: Vec<PathBuf>,
    pub policy: Option<Policy>,
    pub ring_update: Option<PathBuf>,
}

impl SignConfig {
    /// Resolves the options: without `--sign-key`, the development key under `target_dir`
    /// (created once) and policy `permissive`; with one, policy `enforce`. Without `--trust`,
    /// the kernel trusts the system key's public file (`X.pub` beside `X.sec`).
    pub fn resolve(target_dir: &Path, args: &SignArgs) -> Result<Self> {
        let (secret_paths, development) = if args.sign_keys.is_empty() {
            (vec![keys::development_key(target_dir)?.secret], true)
        } else {
            (args.sign_keys.clone(), false)
        };
        let keys = secret_paths
            .iter()
            .map(|p| keys::read_secret(p))
            .collect::<Result<Vec<_>>>()?;
        let trust_paths = if args.trust.is_empty() {
            vec![keys::public_beside(&secret_paths[0])]
        } else {
            args.trust.clone()
        };
        let trust = trust_paths
            .iter()
            .map(|p| keys::read_public(p))
            .collect::<Result<Vec<_>>>()?;
        let policy = args.policy.unwrap_or(if development {
            Policy::Permissive
        } else {
            Policy::Enforce
        });
        let development =
            development || trust.iter().any(|k| k.id().as_str() == DEVELOPMENT_KEY_ID);
        let ring_update = match &args.ring_update {
            None => None,
            Some(p) => Some(read_ring_update(p)?),
        };
        Ok(Self {
            keys,
            trust,
            policy,
            development,
            ring_update,
        })
    }

    /// The system key, if anything is signed.
    pub fn system_key(&self) -> Option<&SecretKey> {
        self.keys.first()
    }

    /// One line for the build output: policy, ring, signing keys (never a secret).
    pub fn describe(&self) -> String {
        let ids = |it: &mut dyn Iterator<Item = &str>| it.collect::<Vec<_>>().join(", ");
        format!(
            "verified boot: policy {}, key ring [{}]{}, signed by [{}]",
            self.policy,
            ids(&mut self.trust.iter().map(|k| k.id().as_str())),
            if self.development {
                " (development key: do not ship)"
            } else {
                ""
            },
            ids(&mut self.keys.iter().map(|k| k.id().as_str()))
        )
    }

    /// The trust block the kernel carries.
    fn trust_block(&self) -> Result<Vec<u8>> {
        let mut ring = KeyRing::new();
        for key in &self.trust {
            ring.add(key.clone())
                .map_err(|e| anyhow::anyhow!("--trust: {e}"))?;
        }
        let trust = Trust {
            policy: self.policy,
            development: self.development,
            ring,
        };
        let mut block = vec![0u8; TRUST_LEN];
        trust
            .encode(&mut block)
            .map_err(|e| anyhow::anyhow!("the kernel's trust block: {e}"))?;
        Ok(block)
    }

    /// Writes the trust block into the kernel binary's placeholder.
    pub fn enroll_into_kernel(&self, kernel: &mut [u8]) -> Result<()> {
        let at = signing::trust::find_placeholder(kernel)
            .map_err(|e| anyhow::anyhow!("the kernel binary: {e}"))?;
        let block = self.trust_block()?;
        kernel
            .get_mut(at..at + TRUST_LEN)
            .context("the kernel's trust placeholder runs past its end")?
            .copy_from_slice(&block);
        Ok(())
    }

    /// Puts the key-ring update (if any) into the manifest, before it is signed.
    pub fn carry_ring_update(&self, manifest: &mut Manifest) -> Result<()> {
        manifest.key_ring_update = match &self.ring_update {
            None => None,
            Some(bytes) => Some(loader::signature::RingUpdateBytes(
                heapless::Vec::from_slice(bytes).map_err(|_| {
                    anyhow::anyhow!(
                        "the key-ring update is {} bytes; an image carries at most {}",
                        bytes.len(),
                        loader::signature::MAX_RING_UPDATE
                    )
                })?,
            )),
        };
        Ok(())
    }

    /// Signs every entry (measured: checksums set) that is not already signed, with its
    /// description's `sign_with` key or the system key.
    pub fn sign_entries(&self, manifest: &mut Manifest, desc: &Description) -> Result<()> {
        let Some(system) = self.system_key() else {
            return Ok(());
        };
        let wanted: Vec<(String, Option<String>)> = desc
            .services
            .iter()
            .chain(&desc.components)
            .map(|e| (e.name.clone(), e.sign_with.clone()))
            .collect();
        for entry in manifest
            .services
            .iter_mut()
            .chain(manifest.components.iter_mut())
        {
            if entry.signature.is_some() {
                continue;
            }
            let with = wanted
                .iter()
                .find(|(n, _)| *n == entry.name.as_str())
                .and_then(|(_, w)| w.as_deref());
            let key = match with {
                None => system,
                Some(id) => self
                    .keys
                    .iter()
                    .find(|k| k.id().as_str() == id)
                    .with_context(|| {
                        format!(
                            "entry `{}` is to be signed with `{id}`, but no --sign-key has that id",
                            entry.name
                        )
                    })?,
            };
            let caps: Vec<&str> = entry.capabilities.iter().map(|c| c.as_str()).collect();
            let mut scratch = vec![
                0u8;
                signing::entry_statement_len(&entry.name, &caps).map_err(
                    |e| anyhow::anyhow!("entry `{}`: {e}", entry.name)
                )?
            ];
            let sig = signing::sign_entry(key, &entry.name, &entry.checksum.0, &caps, &mut scratch)
                .map_err(|e| anyhow::anyhow!("entry `{}`: {e}", entry.name))?;
            entry.signature = Some(Signature(sig));
            entry.public_key_id = Some(
                key.id()
                    .as_str()
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("key id `{}` is too long", key.id()))?,
            );
        }
        Ok(())
    }

    /// The manifest signature record for the manifest's exact bytes `json` (none when nothing
    /// is signed).
    pub fn manifest_signature(&self, json: &[u8]) -> Option<ManifestSignature> {
        let key = self.system_key()?;
        let sig = signing::sign_manifest(key, &Sha256Digest::of(json).0);
        ManifestSignature::new(key.id().as_str(), Signature(sig))
    }
}

/// Reads a `PGRINGUP` file and checks it parses (its signature is checked at boot).
pub fn read_ring_update(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    signing::update::RingUpdate::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(bytes)
}

/// A signed key-ring update: `signer` (a key the running ring trusts with `*`) adds the
/// public keys `add` and revokes the ids `revoke`, as generation `generation`.
pub fn make_ring_update(
    signer: &SecretKey,
    generation: u32,
    add: &[PublicKey],
    revoke: &[signing::KeyId],
) -> Result<Vec<u8>> {
    let mut out = vec![0u8; 16 * 1024];
    let len = signing::update::sign_update(signer, generation, add, revoke, &mut out)
        .map_err(|e| anyhow::anyhow!("key-ring update: {e}"))?;
    out.truncate(len);
    Ok(out)
}

/// The ring to check an image against on the host: `--trust` files, or none.
pub fn ring_of(paths: &[PathBuf]) -> Result<KeyRing> {
    let mut ring = KeyRing::new();
    for p in paths {
        ring.add(keys::read_public(p)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    }
    if paths.is_empty() {
        bail!("give the keys to trust with --trust KEYFILE (a .pub file)");
    }
    Ok(ring)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system_image::{tests::fake_build, write_system_image};
    use crate::testutil::TempDir;

    /// A signed image of the fake build: the kernel carries the ring, every signature checks,
    /// and no byte of the secret key is anywhere in the image.
    #[test]
    fn a_signed_image_verifies_and_never_carries_the_secret_key() {
        let dir = TempDir::new("sign");
        let mut img = fake_build(dir.path());
        let mut kernel = b"\x7fELF fake kernel ".to_vec();
        kernel.extend_from_slice(&signing::trust::placeholder());
        std::fs::write(&img.kernel, &kernel).unwrap();
        let keys_dir = dir.path().join("keys");
        let paths = keys::keygen(
            "system_key_v1",
            &keys_dir,
            &keys::parse_limits("*").unwrap(),
        )
        .unwrap();
        let config = SignConfig::resolve(
            dir.path(),
            &SignArgs {
                sign_keys: vec![paths.secret.clone()],
                ..SignArgs::default()
            },
        )
        .unwrap();
        assert_eq!(config.policy, Policy::Enforce);
        assert!(!config.development);
        img.signing = Some(config);
        let out = dir.path().join("signed.img");
        write_system_image(&img, &out, false).unwrap();

        let f = crate::inspect::examine(&out).unwrap();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let trust = f
            .trust
            .as_ref()
            .expect("the kernel carries its trust block");
        assert_eq!(trust.policy, Policy::Enforce);
        let report = crate::inspect::signature_report(&f, None).unwrap();
        assert!(report.refusals.is_empty(), "{:?}", report.refusals);
        assert_eq!(report.signed_entries, 8);

        let secret = std::fs::read(&paths.secret).unwrap();
        let seed = &secret[secret.len() - 32..];
        let bytes = std::fs::read(&out).unwrap();
        assert!(
            !bytes.windows(32).any(|w| w == seed),
            "the seed is in the image"
        );
    }
}
