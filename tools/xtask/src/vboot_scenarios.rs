//! Verified-boot scenarios: which keys sign a test image and what its kernel trusts
//! ([`Signing`]), the test keys, and the scenarios that boot them (docs/security.md).

use std::path::Path;

use anyhow::Result;
use bootlog::harness::EXIT_FAIL;
use bootlog::msg::*;
use bootlog::state::StateKind::{Exited, Ready, Refused, Skipped};
use signing::image::{Reason, Refusal, MANIFEST_LABEL};
use signing::trust::Policy;
use signing::VerifyError;

use anyhow::Context;

use crate::atomic::write_atomically;
use crate::corrupt;
use crate::keys::{self, KeyPaths};
use crate::scenarios::{default_states, line, starts, states, End, Scenario, SecondBoot};
use crate::serial_log::Pattern;
use crate::sign::SignConfig;
use crate::system_image::ConfTweak;

/// How a test image is signed and what its kernel trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signing {
    /// What `build-image` does without `--sign-key`: the development key, policy permissive.
    Development,
    /// The same, with the test vendor key trusted too: the same signatures, a different kernel
    /// (its enrolled ring), as a key-ring change shipped in an update.
    DevelopmentAndVendor,
    /// Signed by the test system key (entries may name another in `sign_with`); the kernel
    /// trusts the system key (`*`) and the vendor key (`console`, `network_device`); enforce.
    Enforce,
    /// Nothing signed; the kernel as for [`Signing::Enforce`].
    UnsignedEnforce,
    /// Nothing signed; the same ring, policy permissive.
    UnsignedPermissive,
    /// The kernel trusts only [`ROTATE_V1`]; the image carries a key-ring update (generation
    /// 1, signed by v1) that adds [`ROTATE_V2`] and revokes v1, and is signed by v2. Enforce.
    RotateToV2,
    /// The same kernel ring; the image signed by [`ROTATE_V1`], no update. Enforce.
    RotateOldV1,
}

/// The key a rotation starts from.
pub const ROTATE_V1: &str = "test_rotate_v1";
/// The key it moves to.
pub const ROTATE_V2: &str = "test_rotate_v2";

/// The test system key (signs the manifest and every entry without `sign_with`).
pub const SYSTEM_KEY: &str = "test_system";
/// A key the kernel trusts for `console` and `network_device` only.
pub const VENDOR_KEY: &str = "test_vendor";
/// A key the kernel does not trust.
pub const UNTRUSTED_KEY: &str = "test_untrusted";
/// The vendor key's limits.
pub const VENDOR_LIMITS: &str = "console,network_device";

/// The test keys (made once under `dir`) and the development key.
pub struct TestKeys {
    system: KeyPaths,
    vendor: KeyPaths,
    untrusted: KeyPaths,
    v1: KeyPaths,
    v2: KeyPaths,
    target_dir: std::path::PathBuf,
}

impl TestKeys {
    /// Creates the three test key pairs under `dir` unless they are there.
    pub fn prepare(target_dir: &Path, dir: &Path) -> Result<Self> {
        let make = |id: &str, limits: &str| keys::key_once(dir, id, limits);
        // The development key too, now, before scenarios resolve it from two threads.
        keys::development_key(target_dir)?;
        Ok(Self {
            system: make(SYSTEM_KEY, "*")?,
            vendor: make(VENDOR_KEY, VENDOR_LIMITS)?,
            untrusted: make(UNTRUSTED_KEY, "*")?,
            v1: make(ROTATE_V1, "*")?,
            v2: make(ROTATE_V2, "*")?,
            target_dir: target_dir.to_path_buf(),
        })
    }

    /// The signing configuration of `signing`.
    pub fn config(&self, signing: Signing) -> Result<SignConfig> {
        match signing {
            Signing::Development => {
                return SignConfig::resolve(&self.target_dir, &Default::default())
            }
            Signing::DevelopmentAndVendor => {
                let mut config = SignConfig::resolve(&self.target_dir, &Default::default())?;
                config.trust.push(keys::read_public(&self.vendor.public)?);
                return Ok(config);
            }
            Signing::RotateToV2 | Signing::RotateOldV1 => return self.rotation(signing),
            _ => {}
        }
        let trust = vec![
            keys::read_public(&self.system.public)?,
            keys::read_public(&self.vendor.public)?,
        ];
        let secrets = [&self.system, &self.vendor, &self.untrusted]
            .iter()
            .map(|k| keys::read_secret(&k.secret))
            .collect::<Result<Vec<_>>>()?;
        let (keys, policy) = match signing {
            Signing::Enforce => (secrets, Policy::Enforce),
            Signing::UnsignedEnforce => (Vec::new(), Policy::Enforce),
            _ => (Vec::new(), Policy::Permissive),
        };
        Ok(SignConfig {
            keys,
            trust,
            policy,
            development: false,
            ring_update: None,
        })
    }
}

impl TestKeys {
    /// [`Signing::RotateToV2`] or [`Signing::RotateOldV1`].
    fn rotation(&self, signing: Signing) -> Result<SignConfig> {
        let v1 = keys::read_secret(&self.v1.secret)?;
        let (key, ring_update) = match signing {
            Signing::RotateToV2 => {
                let v2 = keys::read_public(&self.v2.public)?;
                let update = crate::sign::make_ring_update(&v1, 1, &[v2], &[*v1.id()])?;
                (keys::read_secret(&self.v2.secret)?, Some(update))
            }
            _ => (v1, None),
        };
        Ok(SignConfig {
            keys: vec![key],
            trust: vec![keys::read_public(&self.v1.public)?],
            policy: Policy::Enforce,
            development: false,
            ring_update,
        })
    }
}

/// A test system with `security_epoch` 3.
pub const EPOCH3_SYSTEM: &str = "system/tests/epoch3.json";
/// The same system with `security_epoch` 2.
pub const EPOCH2_SYSTEM: &str = "system/tests/epoch2.json";

/// The test description with vendor- and untrusted-key entries.
pub const SIGNING_SYSTEM: &str = "system/tests/signing.json";

fn refusal(entry: &str, key: &str, reason: Reason) -> Refusal {
    Refusal {
        entry: entry.try_into().unwrap_or_default(),
        key_id: key.try_into().unwrap_or_default(),
        reason,
    }
}

/// The kernel's banner line for the test ring under `policy`.
fn test_ring_banner(policy: Policy) -> Pattern {
    line(&format!(
        "{VBOOT_START}policy {policy}, key ring {SYSTEM_KEY} [*], {VENDOR_KEY} [{VENDOR_LIMITS}]"
    ))
}

/// The image refused under `enforce`: its one line, then `test: FAIL`.
fn image_refused(r: &Refusal) -> Vec<Pattern> {
    vec![
        line(&format!("{IMAGE_FAIL_START}{VBOOT_REFUSED_START}{r}")),
        line(TEST_FAIL),
    ]
}

pub fn vboot_scenarios() -> Vec<Scenario> {
    let unsigned_manifest = refusal(MANIFEST_LABEL, "", Reason::Unsigned);
    let vendor_block = refusal(
        "t_vendor_block",
        VENDOR_KEY,
        Reason::CapabilityNotAllowed("block_device".try_into().unwrap_or_default()),
    );
    let untrusted = refusal("t_untrusted", UNTRUSTED_KEY, Reason::UnknownKey);
    let tampered = Tamper::CapabilityAdded.expected();
    let signature_detail = |r: &Refusal| format!("signature: {r}");
    vec![
        // The default build: the development key, permissive, said in the banner; everything
        // signed, so no warning.
        Scenario {
            forbid: &[VBOOT_PERMISSIVE_START, PANICKED],
            ..Scenario::boot(
                "vboot-development-key",
                vec![
                    line(&format!(
                        "{VBOOT_START}policy permissive, key ring {} [*] ({VBOOT_DEVELOPMENT})",
                        keys::DEVELOPMENT_KEY_ID
                    )),
                    starts(&format!("{VBOOT_CHECKED_START}`{}`; 8 of 8 entries signed by trusted keys; checked in ", keys::DEVELOPMENT_KEY_ID)),
                    default_states(),
                    line(TEST_PASS),
                ],
            )
        },
        // Enforce: vendor-key entries within the key's limits run; one asking for
        // block_device is refused alone (its dependent skipped); one signed by an untrusted
        // key is refused naming the entry and the key; the rest comes up.
        Scenario {
            system: SIGNING_SYSTEM,
            signing: Signing::Enforce,
            ..Scenario::boot(
                "vboot-enforce-entries",
                vec![
                    test_ring_banner(Policy::Enforce),
                    starts(&format!("{VBOOT_CHECKED_START}`{SYSTEM_KEY}`; 5 of 7 entries signed by trusted keys")),
                    line(&format!("{VBOOT_ENTRY_REFUSED_START}{vendor_block}")),
                    line(&format!("{VBOOT_ENTRY_REFUSED_START}{untrusted}")),
                    states(&[
                        ("services_storage", Ready, ""),
                        ("cli_console", Ready, ""),
                        ("t_vendor_ok", Exited(0), ""),
                        ("t_vendor_block", Refused, &signature_detail(&vendor_block)),
                        ("dep_vendor_block", Skipped, "because t_vendor_block was refused"),
                        ("t_untrusted", Refused, &signature_detail(&untrusted)),
                        ("t_independent", Exited(0), ""),
                    ]),
                    line(TEST_PASS),
                ],
            )
        },
        // Enforce, nothing signed: the image is refused with one line.
        Scenario {
            signing: Signing::UnsignedEnforce,
            end: End::Exit(EXIT_FAIL),
            forbid: &[BOOT_COUNT_START, PANICKED],
            ..Scenario::boot("vboot-unsigned-refused", image_refused(&unsigned_manifest))
        },
        // Permissive, nothing signed: the same refusals are warnings and the system boots.
        Scenario {
            signing: Signing::UnsignedPermissive,
            ..Scenario::boot(
                "vboot-permissive-unsigned",
                vec![
                    test_ring_banner(Policy::Permissive),
                    line(&format!(
                        "{VBOOT_PERMISSIVE_START}{unsigned_manifest}{VBOOT_PERMISSIVE_END}"
                    )),
                    line(&format!(
                        "{VBOOT_PERMISSIVE_START}{}{VBOOT_PERMISSIVE_END}",
                        refusal("services_storage", "", Reason::Unsigned)
                    )),
                    starts(BOOT_COUNT_START),
                    default_states(),
                    line(TEST_PASS),
                ],
            )
        },
        // Rollback: a boot of epoch 3 that comes up commits 3; an image of epoch 2 on the same
        // user-data region is then refused, naming both numbers.
        Scenario {
            system: EPOCH3_SYSTEM,
            signing: Signing::Enforce,
            // The second boot's refusal is its expected line (the first must reach `test: PASS`).
            forbid: &[PANICKED],
            second_boot: Some(SecondBoot {
                expect: vec![
                    line(&format!(
                        "{IMAGE_FAIL_START}{VBOOT_REFUSED_START}{VBOOT_ROLLBACK}: the image has security_epoch 2, below 3, the lowest this system still boots; boot an image with security_epoch 3 or later"
                    )),
                    line(TEST_FAIL),
                ],
                end: End::Exit(EXIT_FAIL),
                console: &[],
                replace: Some((EPOCH2_SYSTEM, Signing::Enforce)),
            }),
            ..Scenario::boot(
                "vboot-rollback",
                vec![
                    default_states(),
                    starts(&format!("{VBOOT_COMMITTED_START}3 (")),
                    line(TEST_PASS),
                ],
            )
        },
        // Key rotation: a kernel that trusts v1 boots an image carrying an update (signed by
        // v1) that adds v2 and revokes v1, signed by v2; the boot commits the revocation, so
        // an image signed by v1 on the same data is then refused, naming the key.
        Scenario {
            signing: Signing::RotateToV2,
            forbid: &[PANICKED],
            second_boot: Some(SecondBoot {
                expect: vec![
                    line(&format!(
                        "{IMAGE_FAIL_START}{VBOOT_REFUSED_START}{}",
                        refusal(MANIFEST_LABEL, ROTATE_V1, Reason::Revoked)
                    )),
                    line(TEST_FAIL),
                ],
                end: End::Exit(EXIT_FAIL),
                console: &[],
                replace: Some((crate::description::DEFAULT_PATH, Signing::RotateOldV1)),
            }),
            ..Scenario::boot(
                "vboot-key-rotation",
                vec![
                    line(&format!("{VBOOT_START}policy enforce, key ring {ROTATE_V1} [*]")),
                    line(&format!(
                        "{VBOOT_START}key-ring update generation 1 applied: ring now {ROTATE_V2}; revoked {ROTATE_V1}"
                    )),
                    starts(&format!("{VBOOT_CHECKED_START}`{ROTATE_V2}`; 8 of 8 entries")),
                    default_states(),
                    starts(&format!("{VBOOT_COMMITTED_START}0 (key-ring update generation 1, 1 revoked key id(s)")),
                    line(TEST_PASS),
                ],
            )
        },
        // An attacker who knows the format adds block_device to cli_console and recomputes
        // the manifest length, the image id and block 0's checksum: the loader accepts it, the
        // manifest signature does not.
        Scenario {
            signing: Signing::Enforce,
            tweak: ConfTweak::NoModule,
            tamper: Some(Tamper::CapabilityAdded),
            end: End::Exit(EXIT_FAIL),
            forbid: &[BOOT_COUNT_START, PANICKED],
            ..Scenario::boot("vboot-capability-added", image_refused(&tampered))
        },
    ]
}

/// A change to a signed image by someone without the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tamper {
    /// [`TAMPERED_ENTRY`] gets `block_device`; manifest length, image id and block 0's
    /// checksum are recomputed; the manifest signature record is left as it was.
    CapabilityAdded,
}

/// The entry [`Tamper::CapabilityAdded`] changes.
pub const TAMPERED_ENTRY: &str = "cli_console";

impl Tamper {
    /// Writes `out`: the good image `good` with this change (atomically).
    pub fn apply(self, good: &Path, out: &Path) -> Result<()> {
        let mut src = std::fs::File::open(good)?;
        let (sb, manifest) = corrupt::read_layout(&mut src)
            .map_err(|e| anyhow::anyhow!("{} is not a good image: {e}", good.display()))?;
        let mut m = manifest.clone();
        let entry = m
            .services
            .iter_mut()
            .chain(m.components.iter_mut())
            .find(|e| e.name == TAMPERED_ENTRY)
            .with_context(|| format!("the good image has no entry {TAMPERED_ENTRY}"))?;
        entry
            .capabilities
            .push("block_device".try_into().unwrap_or_default())
            .map_err(|_| anyhow::anyhow!("{TAMPERED_ENTRY} has too many capabilities"))?;
        let mut json = vec![0u8; loader::manifest::MAX_MANIFEST_BYTES];
        let len = m.to_json(&mut json).map_err(|e| anyhow::anyhow!("{e}"))?;
        json.truncate(len);
        write_atomically(out, |file| {
            corrupt::copy_sparse(&mut src, file)?;
            corrupt::reseal_manifest(file, &sb, &manifest, &json)
        })
    }

    /// The refusal the kernel (and `verify`) must report for the tampered image.
    pub fn expected(self) -> Refusal {
        refusal(
            MANIFEST_LABEL,
            SYSTEM_KEY,
            Reason::BadSignature(VerifyError::Mismatch),
        )
    }
}
