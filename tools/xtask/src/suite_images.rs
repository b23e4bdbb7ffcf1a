//! The suite's disk images, made when a scenario is about to boot and removed once nothing needs
//! them: a base per distinct build (kept while scenarios still copy it), each scenario's own copy
//! (deleted when it passes), so the suite's disk use stays at a few images, not one per scenario.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};

use crate::atomic::write_atomically;
use crate::build::{self, Workspace};
use crate::corrupt;
use crate::image::SectorSize;
use crate::iso;
use crate::limine_conf::MODULE_ESP_PATH;
use crate::pack;
use crate::qemu::Attach;
use crate::scenarios::{DriveRole, Scenario};
use crate::system_image::{self, BootLoader, ConfTweak, SystemImage};
use crate::vboot_scenarios::{Signing, Tamper, TestKeys};

/// What makes two scenarios' base images the same.
type Key = (
    &'static str,
    ConfTweak,
    &'static str,
    u64,
    Signing,
    Option<&'static str>,
    SectorSize,
);

fn key(s: &Scenario) -> Key {
    (
        s.cmdline,
        s.tweak,
        s.system,
        s.data_size,
        s.signing,
        s.slot_b,
        image_sector_size(s),
    )
}

/// A base image and how many scenarios have yet to copy it.
struct Base {
    key: Key,
    path: PathBuf,
    packed: Option<Arc<pack::Packed>>,
    users_left: usize,
}

/// A scenario's image, ready to boot.
pub struct Prepared {
    pub image: PathBuf,
    /// Set when the host-side loader already disagrees with the scenario (not booted then).
    pub host_failure: Option<String>,
}

pub struct Images<'a> {
    ws: &'a Workspace,
    artifacts: &'a build::Artifacts,
    dir: PathBuf,
    keys: TestKeys,
    bases: Mutex<Vec<Base>>,
    xorriso: OnceLock<Result<PathBuf, String>>,
}

impl<'a> Images<'a> {
    /// Counts, per base, the scenarios of `list` that will copy it; writes nothing yet.
    pub fn new(
        ws: &'a Workspace,
        artifacts: &'a build::Artifacts,
        dir: &Path,
        list: &[Scenario],
    ) -> Result<Self> {
        let mut bases: Vec<Base> = Vec::new();
        for s in list.iter().filter(|s| !is_iso(s) && !s.netboot) {
            let k = key(s);
            match bases.iter_mut().find(|b| b.key == k) {
                Some(b) => b.users_left += 1,
                None => bases.push(Base {
                    key: k,
                    path: dir.join(format!("{}.base.img", s.name)),
                    packed: None,
                    users_left: 1,
                }),
            }
        }
        Ok(Self {
            ws,
            artifacts,
            dir: dir.to_path_buf(),
            keys: TestKeys::prepare(&ws.target_dir, &dir.join("keys"))?,
            bases: Mutex::new(bases),
            xorriso: OnceLock::new(),
        })
    }

    fn system_image(&self, s: &Scenario) -> Result<SystemImage> {
        Ok(SystemImage {
            kernel: self.artifacts.kernel.clone(),
            boot_loader: BootLoader::Stub(self.artifacts.stub.clone()),
            cmdline: s.cmdline.into(),
            tweak: s.tweak,
            description: self.ws.root.join(s.system),
            components_dir: self.artifacts.components_dir.clone(),
            data_size: s.data_size,
            signing: Some(self.keys.config(s.signing)?),
        })
    }

    /// The scenario's own image: the base itself or, for a corruption scenario, the base with its
    /// fault, checked on the host to yield exactly the intended `LoadError` before it is booted.
    pub fn prepare(&self, s: &Scenario) -> Result<Prepared> {
        let img = self.system_image(s)?;
        if is_iso(s) {
            return Ok(self.prepare_iso(s, &img));
        }
        if s.netboot {
            return Ok(prepare_netboot(&self.dir, s, &img));
        }
        let k = key(s);
        let made = self
            .base(s, &img, k)
            .and_then(|(base, packed)| self.copy_for(s, &img, &base, packed.as_deref()));
        self.release(k);
        made
    }

    /// The base for `k`, written on first use.
    fn base(
        &self,
        s: &Scenario,
        img: &SystemImage,
        k: Key,
    ) -> Result<(PathBuf, Option<Arc<pack::Packed>>)> {
        let mut bases = self.bases.lock().expect("bases lock");
        let base = bases
            .iter_mut()
            .find(|b| b.key == k)
            .expect("counted in new");
        if base.packed.is_none() {
            let slot_b = s.slot_b.map(|b| SystemImage {
                description: self.ws.root.join(b),
                ..img.clone()
            });
            let packed = system_image::write_system_image_for(
                img,
                slot_b.as_ref(),
                image_sector_size(s),
                &base.path,
            )
            .with_context(|| format!("base image for {}", s.name))?;
            base.packed = Some(Arc::new(packed));
        }
        Ok((base.path.clone(), base.packed.clone()))
    }

    /// One scenario fewer needs base `k`: the last one removes it.
    fn release(&self, k: Key) {
        let mut bases = self.bases.lock().expect("bases lock");
        if let Some(b) = bases.iter_mut().find(|b| b.key == k) {
            b.users_left = b.users_left.saturating_sub(1);
            if b.users_left == 0 {
                let _ = fs::remove_file(&b.path);
            }
        }
    }

    fn copy_for(
        &self,
        s: &Scenario,
        img: &SystemImage,
        base: &Path,
        packed: Option<&pack::Packed>,
    ) -> Result<Prepared> {
        let image = self.dir.join(format!("{}.img", s.name));
        let packed = packed.expect("bases are packed");
        let host_failure = match (s.corruption, s.tamper) {
            (None, Some(t)) => {
                t.apply(base, &image)?;
                check_tampered(&image, t)?
            }
            (None, None) => {
                write_atomically(&image, |f| {
                    corrupt::copy_sparse(&mut fs::File::open(base)?, f)
                })?;
                match s.tweak {
                    ConfTweak::CorruptModule => check_corrupt_module(&image, packed)?,
                    _ => None,
                }
            }
            (Some(c), _) => {
                c.apply(base, &image)?;
                match pack::verify_path(&image)? {
                    Err(e) if c.is_expected(&e, &packed.superblock, &packed.manifest) => None,
                    got => Some(format!(
                        "the host loader reports {got:?} for this image, expected {:?}",
                        c.expected_error(&packed.superblock, &packed.manifest)
                    )),
                }
            }
        };
        if let Some((system, signing)) = s.second_boot.as_ref().and_then(|b| b.replace) {
            let next = SystemImage {
                description: self.ws.root.join(system),
                signing: Some(self.keys.config(signing)?),
                ..img.clone()
            };
            system_image::write_system_image(&next, &next_image(&image), false)
                .with_context(|| format!("the second image of {}", s.name))?;
        }
        if let Some((system, signing)) = s.third_image {
            let third = SystemImage {
                description: self.ws.root.join(system),
                signing: Some(self.keys.config(signing)?),
                ..img.clone()
            };
            system_image::write_system_image(&third, &third_image(&image), false)
                .with_context(|| format!("the third image of {}", s.name))?;
        }
        Ok(Prepared {
            image,
            host_failure,
        })
    }

    /// The scenario's image is an ISO (read-only on a CD-ROM: no base copy needed).
    fn prepare_iso(&self, s: &Scenario, img: &SystemImage) -> Prepared {
        let image = self.dir.join(format!("{}.iso", s.name));
        let xorriso = self
            .xorriso
            .get_or_init(|| iso::find_xorriso_on_host().map_err(|e| e.to_string()));
        let host_failure = match xorriso {
            Ok(x) => system_image::pack_input(img)
                .and_then(|input| iso::write_iso(x, &input.esp_files, &image))
                .err()
                .map(|e| format!("{e:#}")),
            Err(e) => Some(e.clone()),
        };
        Prepared {
            image,
            host_failure,
        }
    }
}

impl Drop for Images<'_> {
    /// Bases whose scenarios never ran (an error stopped the suite) go too.
    fn drop(&mut self) {
        for b in self.bases.get_mut().expect("bases lock").iter() {
            let _ = fs::remove_file(&b.path);
        }
    }
}

/// Removes what a passed scenario booted from (its disks, second image, firmware variables);
/// its logs stay. A failed scenario keeps everything, to be looked at.
pub fn remove_disks(disks: &[PathBuf], vars: &Path) {
    for d in disks {
        let _ = fs::remove_file(d);
        let _ = fs::remove_file(next_image(d));
        let _ = fs::remove_file(third_image(d));
    }
    let _ = fs::remove_file(vars);
}

/// The scenario's TFTP root (`build-netboot`'s files, its tweak applied), in place of an image.
fn prepare_netboot(dir: &Path, s: &Scenario, img: &SystemImage) -> Prepared {
    let root = dir.join(format!("{}.tftp", s.name));
    let host_failure = system_image::pack_input(img)
        .and_then(|input| crate::netboot::write_tftp_root(&input.esp_files, &root))
        .err()
        .map(|e| format!("{e:#}"));
    Prepared {
        image: root,
        host_failure,
    }
}

fn is_iso(s: &Scenario) -> bool {
    s.drives.contains(&DriveRole::Image(Attach::Cdrom))
}

/// The sector size the scenario's image is laid out for: that of the disk it is attached as.
pub fn image_sector_size(s: &Scenario) -> SectorSize {
    s.drives
        .iter()
        .find_map(|role| match role {
            DriveRole::Image(attach) => Some(attach.sector_size()),
            DriveRole::Blank(_) => None,
        })
        .unwrap_or_default()
}

/// Where a scenario's second image (`SecondBoot::replace`) is written.
pub fn next_image(image: &Path) -> PathBuf {
    image.with_extension("next.img")
}

/// Where a scenario's third image is written ([`crate::scenarios::Scenario::third_image`]).
pub fn third_image(image: &Path) -> PathBuf {
    image.with_extension("third.img")
}

/// A tampered image passes the loader but its signature check (`verify`, as the kernel runs it,
/// against the kernel's own ring) must refuse it with the expected line.
fn check_tampered(image: &Path, t: Tamper) -> Result<Option<String>> {
    let f = crate::inspect::examine(image)?;
    if !f.problems.is_empty() {
        return Ok(Some(format!(
            "the loader refuses the tampered image: {:?}",
            f.problems
        )));
    }
    let report = crate::inspect::signature_report(&f, None);
    Ok(match report.as_ref().and_then(|r| r.manifest_refusal()) {
        Some(r) if *r == t.expected() => None,
        got => Some(format!(
            "the host signature check reports {got:?}, expected {:?}",
            t.expected()
        )),
    })
}

/// The damaged module on the image's ESP must fail the loader with the disk fault's error.
fn check_corrupt_module(image: &Path, packed: &pack::Packed) -> Result<Option<String>> {
    let module = system_image::read_esp_file(image, &packed.layout, MODULE_ESP_PATH)?;
    let expected = corrupt::Corruption::ServiceBytesChanged;
    Ok(
        match pack::verify_module(&module, &mut Box::<loader::Manifest>::default()) {
            Err(e) if expected.is_expected(&e, &packed.superblock, &packed.manifest) => None,
            got => Some(format!(
                "the host loader reports {got:?} for the damaged module, expected {:?}",
                expected.expected_error(&packed.superblock, &packed.manifest)
            )),
        },
    )
}
