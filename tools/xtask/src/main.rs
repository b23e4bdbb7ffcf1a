//! `cargo xtask`: build PandaGen, pack its disk image, run it in QEMU, test it, lint it.
#![allow(
    clippy::result_large_err,
    reason = "loader::LoadError carries its names inline (no_std, no heap); image errors are never hot"
)]

mod atomic;
mod bench;
mod bench_net;
mod bench_qemu;
mod bench_screen;
mod bench_update;
mod build;
mod corrupt;
mod crash_scenarios;
mod description;
mod editor_scenarios;
mod enroll;
mod fs;
mod fs_scenarios;
mod guest;
mod http_get_scenarios;
mod http_scenarios;
mod image;
mod inspect;
mod iso;
mod keyboard_scenarios;
mod keys;
mod limine_conf;
mod lint;
mod monitor;
mod net_scenarios;
mod netboot;
mod pack;
mod push;
mod qemu;
mod run;
mod scenarios;
mod screen_check;
mod screen_scenarios;
mod serial_log;
mod sign;
mod slot_scenarios;
mod slots;
mod suite;
mod suite_images;
mod system_image;
#[cfg(test)]
mod testutil;
mod toolchain;
mod update;
mod update_esp;
mod update_scenarios;
mod usb_scenarios;
mod vboot_scenarios;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use build::{Artifacts, Profile, Workspace};
use image::{SectorSize, SectorSizeError};
use qemu::{Attach, Machine};
use system_image::{BootLoader, ConfTweak, SystemImage};

#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "PandaGen build, image, QEMU and test tooling"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernel (x86_64-unknown-none), the UEFI boot stub (x86_64-unknown-uefi) and the
    /// services and components of the system description (x86_64-unknown-linux-gnu, release).
    Build {
        /// Build the kernel in release mode (the stub and the components are always release).
        #[arg(long)]
        release: bool,
    },
    /// Build everything (kernel in release unless --debug), then write the PandaGen system image:
    /// superblock + MBR, kernel, manifest, services and components, FAT ESP (boot loader,
    /// limine.conf, kernel and the system image as a boot module), user data.
    BuildImage {
        /// Where to write the image.
        #[arg(long, short)]
        output: PathBuf,
        /// Build the kernel in debug mode.
        #[arg(long)]
        debug: bool,
        #[command(flatten)]
        image: ImageArgs,
        /// Logical sector size of the disk the image is for: 512, or 4096 for a 4Kn disk (e.g.
        /// an NVMe namespace formatted with 4 KiB LBAs). The MBR and the FAT ESP count in it.
        #[arg(long, value_name = "BYTES", default_value = "512", value_parser = SectorSize::parse)]
        sector_size: SectorSize,
    },
    /// Build everything (kernel in release unless --debug), then write a UEFI-bootable ISO 9660
    /// image (CD/DVD, virtual media, or a USB stick): an El Torito EFI boot image holding the
    /// boot loader, limine.conf, the kernel and the system image module, which the kernel runs
    /// from (user data in RAM). Needs xorriso.
    BuildIso {
        /// Where to write the ISO.
        #[arg(long, short)]
        output: PathBuf,
        /// Build the kernel in debug mode.
        #[arg(long)]
        debug: bool,
        #[command(flatten)]
        module: ModuleArgs,
        /// System slots: an ISO holds one (A/B slots need a writable disk: use build-image).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        slots: u8,
        /// An ISO keeps 512 (its El Torito FAT image); 4096 is for build-image (4Kn disks).
        #[arg(long, value_name = "BYTES", default_value = "512", value_parser = SectorSize::parse)]
        sector_size: SectorSize,
    },
    /// Build everything (kernel in release unless --debug), then write a TFTP root for network
    /// (PXE) boot: EFI/BOOT/BOOTX64.EFI (the DHCP boot file), EFI/BOOT/limine.conf,
    /// boot/kernel_bootstrap and boot/pandagen-system.mod, the same files and pins as the ISO.
    BuildNetboot {
        /// The directory to write the TFTP root into (created if missing).
        #[arg(long, short)]
        output: PathBuf,
        /// Build the kernel in debug mode.
        #[arg(long)]
        debug: bool,
        #[command(flatten)]
        module: ModuleArgs,
    },
    /// Generate an Ed25519 key pair: DIR/ID.pub (public, with its capability limits) and
    /// DIR/ID.sec (secret, mode 0600). Formats: docs/security.md.
    Keygen {
        /// Key id: 1 to 32 bytes of [a-z0-9_] (e.g. system_key_v1).
        #[arg(long)]
        id: String,
        /// Directory to write the two files into (created if missing).
        #[arg(long, short)]
        output: PathBuf,
        /// Capability kinds entries signed by this key may hold, comma-separated, or `*` (all).
        #[arg(long, default_value = "*", value_name = "KINDS")]
        caps: String,
    },
    /// Make a signed key-ring update (PGRINGUP): SIGN_KEY (a key the kernels' rings trust
    /// with `*`) adds the --add public keys and revokes the --revoke key ids, as generation N.
    /// Images carry it with `build-image --key-ring-update FILE`.
    KeyringUpdate {
        /// The signing key's secret file.
        #[arg(long, value_name = "FILE")]
        sign_key: PathBuf,
        /// The update's generation: greater than the last one the systems applied.
        #[arg(long)]
        generation: u32,
        /// Public key files to add (repeatable).
        #[arg(long, value_name = "KEYFILE")]
        add: Vec<PathBuf>,
        /// Key ids to revoke (repeatable).
        #[arg(long, value_name = "ID")]
        revoke: Vec<String>,
        /// Where to write the update.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Build the image into target/ and boot it in QEMU with the serial console on this terminal.
    Run {
        #[command(flatten)]
        image: ImageArgs,
        /// Build the kernel in release mode.
        #[arg(long)]
        release: bool,
        /// QEMU machine type.
        #[arg(long, value_enum, default_value_t = Machine::Q35)]
        machine: Machine,
        /// How the image is attached: virtio-blk; AHCI (SATA; on q35 the chipset's controller, as
        /// in the spec's plain `-drive format=raw,file=…`); a USB stick on an xHCI controller; or
        /// cdrom: the ISO (`build-iso`, needs xorriso) as a CD-ROM. The kernel has no USB or CD
        /// driver: it runs from the boot module then, with user data in RAM.
        #[arg(long, value_enum, default_value_t = Attach::Virtio)]
        attach: Attach,
        /// Use KVM (`-accel kvm -cpu host`) instead of TCG.
        #[arg(long)]
        kvm: bool,
        /// Do not run cargo; pack the image from the last build's artifacts.
        #[arg(long)]
        no_build: bool,
        /// Forward a host TCP port to this guest port on the first NIC (QEMU `hostfwd`): the
        /// host port is a free one, printed at start (`--forward 8080` opens status_http's page
        /// at http://127.0.0.1:PORT/). May be given more than once.
        #[arg(long, value_name = "GUEST_PORT")]
        forward: Vec<u16>,
    },
    /// Run the test suite: host tests, then the QEMU scenarios; ends with "N passed, N failed".
    Test {
        /// Build the kernel in release mode.
        #[arg(long)]
        release: bool,
        /// Run only these scenarios or host phases, comma-separated (e.g. boot-q35,host-tests).
        #[arg(long)]
        only: Option<String>,
        /// QEMU scenarios run at the same time.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: u16,
    },
    /// Show an image: block map, manifest summary, start order, and any problem.
    Inspect {
        /// A disk image, an ISO (its system image module is shown) or a bare module file.
        image: PathBuf,
    },
    /// Run every check the kernel runs on an image; one line per problem, non-zero exit if any.
    Verify {
        /// A disk image, an ISO (its system image module is checked) or a bare module file.
        image: PathBuf,
        /// Also check the signatures as the kernel does, against these public key files
        /// (repeatable; the key ring the image's kernel was built with).
        #[arg(long, value_name = "KEYFILE")]
        trust: Vec<PathBuf>,
    },
    /// Throughput: loader verification vs raw SHA-256, the pack step vs cat + sha256sum,
    /// `fs put`/`fs get` of a 64 MiB file, the QEMU benchmarks, and the screen's drawing cost.
    Bench {
        /// Only this part (default: all).
        #[arg(value_enum, default_value_t = bench::Part::All)]
        part: bench::Part,
    },
    /// A two-slot image's A/B slots (docs/slots.md): show the slot table, each slot's system and
    /// the slot metadata, or edit the metadata (set-active, try, mark-unbootable,
    /// mark-successful A|B) in place, as the kernel does.
    Slot {
        /// A two-slot disk image (`build-image --slots 2`).
        image: PathBuf,
        #[command(subcommand)]
        command: slots::SlotCmd,
    },
    /// The user-data filesystem (pgfs) of an image, from the host: ls, cat, get, put, rm, mkdir,
    /// rmdir, mv, df, check (docs/host-tools.md).
    Fs {
        /// A disk image (`build-image`); an ISO (`build-iso`) or a bare module file read-only.
        image: PathBuf,
        #[command(subcommand)]
        command: fs::FsCmd,
    },
    /// A signed delta update (PGDELTA1, docs/update-format.md) from OLD's active slot to NEW's:
    /// the new manifest and only the changed kernel and binaries (zstd or a bsdiff patch).
    Delta {
        /// The image the system to update runs (its active slot is the delta's base).
        #[arg(long, value_name = "OLD.img")]
        from: PathBuf,
        /// The image holding the new system (its active slot).
        #[arg(long, value_name = "NEW.img")]
        to: PathBuf,
        /// Where to write the delta.
        #[arg(long, short, value_name = "UPDATE.pgdelta")]
        output: PathBuf,
        /// Sign with this secret key file (a key of the system's ring). Default: the
        /// development key under target/.
        #[arg(long, value_name = "FILE", conflicts_with = "unsigned")]
        sign_key: Option<PathBuf>,
        /// Leave the delta unsigned (a system under policy enforce refuses it).
        #[arg(long)]
        unsigned: bool,
    },
    /// Apply a delta into the inactive slot of a two-slot image, atomically (a copy beside it,
    /// verified, renamed over it), and make that slot the one tried at the next boot.
    ApplyDelta {
        /// A two-slot disk image (`build-image --slots 2`).
        image: PathBuf,
        /// The delta (`cargo xtask delta`).
        delta: PathBuf,
    },
    /// Update a running machine over the network: the delta from the image it runs (its
    /// image id, from status_http's /manifest.json) to IMG's active slot, sent as
    /// `PUT /update` to its status_http.
    Push {
        /// The image holding the new system (its active slot).
        image: PathBuf,
        /// The machine's status_http: `http://HOST:PORT`.
        url: String,
        /// The image the machine runs, to make a small delta against (its id must be the
        /// machine's). Without it every region is sent whole.
        #[arg(long, value_name = "OLD.img")]
        from: Option<PathBuf>,
        /// Sign with this secret key file (a key of the machine's ring). Default: the
        /// development key under target/.
        #[arg(long, value_name = "FILE", conflicts_with = "unsigned")]
        sign_key: Option<PathBuf>,
        /// Send it unsigned (a system under policy enforce refuses it).
        #[arg(long)]
        unsigned: bool,
    },
    /// rustfmt check and clippy (-D warnings) for the host, kernel, stub and component targets.
    Lint,
}

#[derive(Args)]
struct ImageArgs {
    /// Boot with Limine from this Limine 10.x binary release directory (its BOOTX64.EFI)
    /// instead of the PandaGen stub. Default: $LIMINE_DIR, if set.
    #[arg(long, value_name = "DIR")]
    limine: Option<PathBuf>,
    /// Kernel command line written to limine.conf.
    #[arg(long, default_value = "")]
    cmdline: String,
    /// Size of the user data region: bytes or with a unit (16M, 1G); a multiple of 4096.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = pack::parse_size)]
    data_size: u64,
    /// The system description to pack (default: system/pandagen.json).
    #[arg(long, value_name = "FILE")]
    system: Option<PathBuf>,
    /// System slots: 2 packs the system twice, as slots A and B (docs/slots.md), with a
    /// limine.conf entry each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    slots: u8,
    /// With --slots 2: each slot's room (16M, 64M, ...), so that an update growing the
    /// system still fits (`apply-delta`). Default: the system and half again, to 1 MiB.
    #[arg(long, value_name = "SIZE", value_parser = pack::parse_size)]
    slot_size: Option<u64>,
    /// Put every file and directory of DIR (recursively) into the image's user-data
    /// filesystem (formatted for it) before the image is moved into place.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    sign: SignOpts,
}

/// What a system booted from its module (an ISO, a TFTP root) is built from.
#[derive(Args)]
struct ModuleArgs {
    /// Boot with Limine from this Limine 10.x binary release directory (its BOOTX64.EFI)
    /// instead of the PandaGen stub. Default: $LIMINE_DIR, if set.
    #[arg(long, value_name = "DIR")]
    limine: Option<PathBuf>,
    /// Kernel command line written to limine.conf.
    #[arg(long, default_value = "")]
    cmdline: String,
    /// The system description to pack (default: system/pandagen.json).
    #[arg(long, value_name = "FILE")]
    system: Option<PathBuf>,
    #[command(flatten)]
    sign: SignOpts,
}

impl ModuleArgs {
    /// The packing options: one slot, the default user-data size (in RAM when booted).
    fn options(self, ws: &Workspace, sector_size: SectorSize) -> Result<ImageOptions> {
        let opts = ImageOptions {
            limine: limine_dir(self.limine)?,
            cmdline: self.cmdline,
            data_size: pack::DEFAULT_DATA_SIZE,
            description: description::path_or_default(&ws.root, self.system.as_deref()),
            data_dir: None,
            signing: self.sign.resolve(ws)?,
            slots: 1,
            slot_size: None,
            sector_size,
        };
        description::load_checked(&opts.description)?;
        Ok(opts)
    }
}

/// How the image is signed and what its kernel trusts (docs/security.md).
#[derive(Args, Clone, Default)]
struct SignOpts {
    /// Sign with this secret key file (repeatable): the first is the system key (the manifest
    /// and every entry without `sign_with`); others sign the entries naming them in `sign_with`.
    /// Default: the development key under target/, and policy permissive.
    #[arg(long, value_name = "FILE")]
    sign_key: Vec<PathBuf>,
    /// Public key files enrolled into the kernel as its key ring (repeatable).
    /// Default: the system key's public file (X.pub beside X.sec).
    #[arg(long, value_name = "KEYFILE")]
    trust: Vec<PathBuf>,
    /// What the kernel does with an unsigned or badly signed image: enforce (refuse) or
    /// permissive (warn and boot). Default: enforce with --sign-key, else permissive.
    #[arg(long, value_parser = parse_policy)]
    policy: Option<signing::trust::Policy>,
    /// Carry this signed key-ring update (`cargo xtask keyring-update`) in the manifest: the
    /// kernel applies it to its ring (docs/security.md).
    #[arg(long, value_name = "FILE")]
    key_ring_update: Option<PathBuf>,
}

fn parse_policy(text: &str) -> Result<signing::trust::Policy, String> {
    signing::trust::Policy::parse(text)
        .ok_or_else(|| format!("`{text}`: use enforce or permissive"))
}

impl SignOpts {
    /// The signing configuration (keys read now, so a bad key fails before cargo runs).
    fn resolve(&self, ws: &Workspace) -> Result<sign::SignConfig> {
        sign::SignConfig::resolve(
            &ws.target_dir,
            &sign::SignArgs {
                sign_keys: self.sign_key.clone(),
                trust: self.trust.clone(),
                policy: self.policy,
                ring_update: self.key_ring_update.clone(),
            },
        )
    }
}

impl ImageArgs {
    fn description(&self, ws: &Workspace) -> PathBuf {
        description::path_or_default(&ws.root, self.system.as_deref())
    }

    fn limine_dir(&self) -> Result<Option<PathBuf>> {
        limine_dir(self.limine.clone())
    }

    /// The options, with the keys read and `--limine` checked.
    fn options(&self, ws: &Workspace) -> Result<ImageOptions> {
        Ok(ImageOptions {
            limine: self.limine_dir()?,
            cmdline: self.cmdline.clone(),
            data_size: self.data_size,
            description: self.description(ws),
            data_dir: self.data_dir.clone(),
            signing: self.sign.resolve(ws)?,
            slots: self.slots,
            slot_size: self.slot_size,
            sector_size: SectorSize::default(),
        })
    }
}

/// `--limine`, else a non-empty `LIMINE_DIR`; checked to hold `BOOTX64.EFI`.
fn limine_dir(arg: Option<PathBuf>) -> Result<Option<PathBuf>> {
    let dir = arg.or_else(|| {
        std::env::var_os("LIMINE_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(dir) = &dir {
        system_image::check_limine_dir(dir)?;
    }
    Ok(dir)
}

/// What `pack_image` needs beside the build.
pub(crate) struct ImageOptions {
    pub limine: Option<PathBuf>,
    pub cmdline: String,
    pub data_size: u64,
    pub description: PathBuf,
    /// `--data-dir`: files for the user-data filesystem.
    pub data_dir: Option<PathBuf>,
    /// `--sign-key`, `--trust`, `--policy`, resolved.
    pub signing: sign::SignConfig,
    /// `--slots`: 1, or 2 for the same system in slots A and B.
    pub slots: u8,
    /// `--slot-size`: each slot's room in a two-slot image (`None`: the default headroom).
    pub slot_size: Option<u64>,
    /// `build-image --sector-size`: the disk's logical sector size the MBR and the ESP are for.
    pub sector_size: SectorSize,
}

/// An ISO keeps 512-byte FAT sectors: refuses any other `--sector-size` with one line.
fn check_iso_sector_size(sector_size: SectorSize) -> Result<(), SectorSizeError> {
    if sector_size == SectorSize::S512 {
        Ok(())
    } else {
        Err(SectorSizeError::NotForIso)
    }
}

/// The image inputs for the built artifacts and the options.
fn system_image_for(artifacts: &Artifacts, opts: &ImageOptions) -> SystemImage {
    let boot_loader = match &opts.limine {
        Some(dir) => BootLoader::Limine(dir.clone()),
        None => BootLoader::Stub(artifacts.stub.clone()),
    };
    SystemImage {
        kernel: artifacts.kernel.clone(),
        boot_loader,
        cmdline: opts.cmdline.clone(),
        tweak: ConfTweak::None,
        description: opts.description.clone(),
        components_dir: artifacts.components_dir.clone(),
        data_size: opts.data_size,
        signing: Some(opts.signing.clone()),
    }
}

/// Packs the built artifacts into a bootable ISO at `output` (with `xorriso`) and says what it wrote.
pub(crate) fn pack_iso(
    xorriso: &Path,
    artifacts: &Artifacts,
    opts: &ImageOptions,
    output: &Path,
) -> Result<()> {
    anyhow::ensure!(
        opts.slots == 1,
        "an ISO holds one system slot: A/B slots need a writable disk (use build-image --slots 2)"
    );
    check_iso_sector_size(opts.sector_size)?;
    let img = system_image_for(artifacts, opts);
    println!("xtask: boot loader: {}", img.boot_loader.describe());
    println!("xtask: {}", opts.signing.describe());
    let input = system_image::pack_input(&img)?;
    let summary = iso::write_iso(xorriso, &input.esp_files, output)?;
    let sb = summary.verified.superblock;
    println!(
        "xtask: wrote {} ({:.1} MiB ISO 9660, UEFI El Torito boot image {} MiB (FAT) with {}; module {} ({} bytes): image {}, {} services/components; verified)",
        output.display(),
        summary.iso_bytes as f64 / image::MIB as f64,
        summary.efi_image_bytes / image::MIB,
        input
            .esp_files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        summary.found.name,
        summary.found.len,
        inspect::uuid(&sb.image_id),
        input.manifest.entries().count()
    );
    Ok(())
}

/// Writes the TFTP root for `build-netboot` (the ISO's boot files) and says what it holds.
fn pack_netboot(artifacts: &Artifacts, opts: &ImageOptions, output: &Path) -> Result<()> {
    let img = system_image_for(artifacts, opts);
    println!("xtask: boot loader: {}", img.boot_loader.describe());
    println!("xtask: {}", opts.signing.describe());
    let input = system_image::pack_input(&img)?;
    let root = netboot::write_tftp_root(&input.esp_files, output)?;
    let listed: Vec<String> = root
        .files
        .iter()
        .map(|(p, n)| format!("{} ({n} bytes)", p.trim_start_matches('/')))
        .collect();
    println!(
        "xtask: wrote the TFTP root {}: {}; module image {}, {} services/components (verified); DHCP boot file: {}",
        output.display(),
        listed.join(", "),
        inspect::uuid(&root.verified.superblock.image_id),
        input.manifest.entries().count(),
        system_image::BOOT_EFI_ESP_PATH
    );
    Ok(())
}

/// `cargo xtask delta`: writes the delta and says what it carries.
/// The key a delta is signed with: `--sign-key`, none with `--unsigned`, else the
/// development key.
fn delta_key(
    ws: &Workspace,
    sign_key: Option<&Path>,
    unsigned: bool,
) -> Result<Option<signing::SecretKey>> {
    Ok(match (sign_key, unsigned) {
        (_, true) => None,
        (Some(path), false) => Some(keys::read_secret(path)?),
        (None, false) => Some(keys::read_secret(
            &keys::development_key(&ws.target_dir)?.secret,
        )?),
    })
}

fn make_delta(
    ws: &Workspace,
    from: &Path,
    to: &Path,
    output: &Path,
    sign_key: Option<&Path>,
    unsigned: bool,
) -> Result<()> {
    let key = delta_key(ws, sign_key, unsigned)?;
    let made = update::write_delta(from, to, key.as_ref(), output)?;
    for (name, kind, payload) in &made.encoded.choices {
        println!("xtask: delta: {name}: {kind:?}, {payload} bytes");
    }
    println!(
        "xtask: wrote {} ({} bytes, {}): slot {} of {} -> slot {} of {} (image {}, {} bytes)",
        output.display(),
        made.encoded.bytes.len(),
        key.as_ref().map_or("unsigned".to_string(), |k| format!(
            "signed by `{}`",
            k.id()
        )),
        made.old,
        from.display(),
        made.new,
        to.display(),
        inspect::uuid(&made.new_image_id),
        made.target_len
    );
    Ok(())
}

/// `cargo xtask apply-delta`: installs the delta and says what it did.
fn apply_delta(image: &Path, delta: &Path) -> Result<()> {
    let done = update::apply_delta(image, delta)?;
    if let pgdelta::verify::Authenticity::Accepted(warning) = &done.authenticity {
        println!("xtask: warning (policy permissive): {warning}");
    }
    println!(
        "xtask: slot {} of {} now holds image {} ({} bytes written{}; {:.1} s); slot {} stays as the fallback; slot {} is active and tried at the next boot",
        done.slot,
        image.display(),
        inspect::uuid(&done.image_id),
        done.written,
        if done.kernel_changed { ", its kernel on the ESP and limine.conf re-pinned" } else { "" },
        done.elapsed.as_secs_f64(),
        done.from,
        done.slot
    );
    Ok(())
}

/// Packs the built artifacts into a system image at `output` and says what it wrote.
pub(crate) fn pack_image(artifacts: &Artifacts, opts: &ImageOptions, output: &Path) -> Result<()> {
    let img = system_image_for(artifacts, opts);
    println!("xtask: boot loader: {}", img.boot_loader.describe());
    println!("xtask: {}", opts.signing.describe());
    let data = match &opts.data_dir {
        Some(dir) => Some(fs::DataDir::scan(dir)?),
        None => None,
    };
    let mut filled = None;
    let slot_b = (opts.slots == 2).then_some(&img);
    let options = pack::PackOptions {
        progress: true,
        sector_size: opts.sector_size,
        slot_size: opts.slot_size,
    };
    let packed =
        system_image::write_system_image_with(&img, slot_b, output, options, |file, sb| {
            if let Some(data) = &data {
                filled = Some(fs::fill_image(file, sb, data)?);
            }
            Ok(())
        })?;
    let sb = packed.superblock;
    let names: Vec<&str> = packed.manifest.entries().map(|e| e.name.as_str()).collect();
    println!(
        "xtask: manifest: {} bytes, kernel {} bytes, {} ({})",
        packed.json.len(),
        packed.manifest.kernel.size_bytes,
        names.len(),
        names.join(", ")
    );
    println!(
        "xtask: wrote {} ({} MiB = {} blocks; image {}; ESP {:?} ({}-byte sectors) at block {}, user data {} MiB at block {}; verified)",
        output.display(),
        packed.layout.total_size / image::MIB,
        sb.total_blocks,
        inspect::uuid(&sb.image_id),
        packed.layout.fat_type,
        packed.layout.sector_size,
        sb.esp_start,
        packed.layout.data_size / image::MIB,
        sb.data_start
    );
    if let Some(b) = &packed.slot_b {
        println!(
            "xtask: slots: {} MiB each; slot B: blocks {}..{} (its block 0, kernel, manifest and {} services/components), image {}; boot entries `PandaGen slot A` and `PandaGen slot B`",
            b.table.b_blocks * pack::BLOCK / image::MIB,
            b.table.b_start,
            b.table.b_end(),
            b.manifest.entries().count(),
            inspect::uuid(&b.superblock.image_id)
        );
    }
    if let (Some((files, dirs, bytes)), Some(dir)) = (filled, &opts.data_dir) {
        println!(
            "xtask: user data: {files} files ({}) and {dirs} directories from {}",
            fs::human(bytes),
            dir.display()
        );
    }
    Ok(())
}

/// Loads the description and builds everything it names.
fn build_for(ws: &Workspace, profile: Profile, description: &Path) -> Result<Artifacts> {
    let desc = description::Description::load(description)?;
    build::build_all(ws, profile, &desc.packages(), &desc.binaries())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Cmd) -> Result<bool> {
    let ws = Workspace::locate();
    match command {
        Cmd::Build { release } => {
            let description = description::path_or_default(&ws.root, None);
            build_for(&ws, Profile::from_release(release), &description)?;
        }
        Cmd::BuildImage {
            output,
            debug,
            image,
            sector_size,
        } => {
            let opts = ImageOptions {
                sector_size,
                ..image.options(&ws)?
            };
            // Refuse an invalid description or --data-dir before spending time on cargo.
            description::load_checked(&opts.description)?;
            if let Some(dir) = &opts.data_dir {
                fs::DataDir::scan(dir)?.check_fits(opts.data_size)?;
            }
            let artifacts = build_for(&ws, Profile::from_release(!debug), &opts.description)?;
            pack_image(&artifacts, &opts, &output)?;
        }
        Cmd::BuildIso {
            output,
            debug,
            module,
            slots,
            sector_size,
        } => {
            anyhow::ensure!(
                slots == 1,
                "an ISO holds one system slot: A/B slots need a writable disk (use build-image --slots 2)"
            );
            check_iso_sector_size(sector_size)?;
            // Find xorriso before spending time on cargo.
            let xorriso = iso::find_xorriso_on_host()?;
            let opts = module.options(&ws, sector_size)?;
            let artifacts = build_for(&ws, Profile::from_release(!debug), &opts.description)?;
            pack_iso(&xorriso, &artifacts, &opts, &output)?;
        }
        Cmd::BuildNetboot {
            output,
            debug,
            module,
        } => {
            let opts = module.options(&ws, SectorSize::S512)?;
            let artifacts = build_for(&ws, Profile::from_release(!debug), &opts.description)?;
            pack_netboot(&artifacts, &opts, &output)?;
        }
        Cmd::Run {
            image,
            release,
            machine,
            attach,
            kvm,
            no_build,
            forward,
        } => run::run(
            &ws,
            &run::RunOptions {
                profile: Profile::from_release(release),
                // The image is laid out for the disk QEMU makes (4Kn for `nvme4k`).
                image: ImageOptions {
                    sector_size: attach.sector_size(),
                    ..image.options(&ws)?
                },
                machine,
                attach,
                kvm,
                no_build,
                forward,
            },
        )?,
        Cmd::Inspect { image } => {
            let findings = inspect::examine(&image)?;
            print!("{}", inspect::inspect_report(&image, &findings));
            return Ok(findings.is_ok());
        }
        Cmd::Keygen { id, output, caps } => {
            let paths = keys::keygen(&id, &output, &keys::parse_limits(&caps)?)?;
            println!(
                "xtask: wrote {} (public, capability limits: {caps}) and {} (secret, mode 0600: keep it off the image and out of logs)",
                paths.public.display(),
                paths.secret.display()
            );
        }
        Cmd::KeyringUpdate {
            sign_key,
            generation,
            add,
            revoke,
            output,
        } => {
            let signer = keys::read_secret(&sign_key)?;
            let add = add
                .iter()
                .map(|p| keys::read_public(p))
                .collect::<Result<Vec<_>>>()?;
            let revoke = revoke
                .iter()
                .map(|id| {
                    signing::KeyId::new(id).map_err(|e| anyhow::anyhow!("--revoke {id}: {e}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let bytes = sign::make_ring_update(&signer, generation, &add, &revoke)?;
            atomic::write_atomically(&output, |f| Ok(std::io::Write::write_all(f, &bytes)?))?;
            println!(
                "xtask: wrote {} ({} bytes): generation {generation}, signed by {}, adds {} key(s), revokes {}",
                output.display(),
                bytes.len(),
                signer.id(),
                add.len(),
                revoke.len()
            );
        }
        Cmd::Verify { image, trust } => {
            let ring = if trust.is_empty() {
                None
            } else {
                Some(sign::ring_of(&trust)?)
            };
            let findings = inspect::examine(&image)?;
            let (text, ok) = inspect::verify_report(&image, &findings, ring.as_ref());
            print!("{text}");
            return Ok(ok);
        }
        Cmd::Bench { part } => bench::run(&ws, part)?,
        Cmd::Fs { image, command } => return Ok(fs::run(&image, command)),
        Cmd::Slot { image, command } => slots::run(&image, command)?,
        Cmd::Delta {
            from,
            to,
            output,
            sign_key,
            unsigned,
        } => make_delta(&ws, &from, &to, &output, sign_key.as_deref(), unsigned)?,
        Cmd::ApplyDelta { image, delta } => apply_delta(&image, &delta)?,
        Cmd::Push {
            image,
            url,
            from,
            sign_key,
            unsigned,
        } => {
            let key = delta_key(&ws, sign_key.as_deref(), unsigned)?;
            let done = push::push(&image, &url, from.as_deref(), key.as_ref())?;
            println!(
                "xtask: push: {url} ran image {}; sent a {}-byte delta to image {}; it answered \
                 in {:.1} s: {}",
                inspect::uuid(&done.base),
                done.delta_bytes,
                inspect::uuid(&done.target),
                done.elapsed.as_secs_f64(),
                done.answer
            );
        }
        Cmd::Test {
            release,
            only,
            jobs,
        } => {
            let timeout = suite::parse_timeout(std::env::var(suite::TIMEOUT_ENV).ok().as_deref())?;
            let opts = suite::TestOptions {
                profile: Profile::from_release(release),
                only,
                jobs: usize::from(jobs),
                timeout,
            };
            return suite::run(&ws, &opts);
        }
        Cmd::Lint => {
            toolchain::ensure_targets(&ws)?;
            lint::run(&ws)?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "xtask",
            "run",
            "--release",
            "--machine",
            "pc",
            "--kvm",
            "--cmdline",
            "test=boot",
            "--no-build",
        ])
        .unwrap();
        let Cmd::Run {
            image,
            release,
            machine,
            attach,
            kvm,
            no_build,
            ..
        } = cli.command
        else {
            panic!("not run");
        };
        assert!(release && kvm && no_build);
        assert_eq!(image.data_size, 64 << 20);
        assert_eq!(machine, Machine::Pc);
        assert_eq!(attach, Attach::Virtio);
        assert_eq!(image.cmdline, "test=boot");

        let cli = Cli::try_parse_from(["xtask", "test", "--only", "boot-q35", "--jobs", "1"]);
        assert!(matches!(
            cli.unwrap().command,
            Cmd::Test {
                jobs: 1,
                only: Some(_),
                release: false
            }
        ));
        assert!(Cli::try_parse_from(["xtask", "test", "--jobs", "0"]).is_err());
        assert!(
            Cli::try_parse_from(["xtask", "build-image"]).is_err(),
            "--output required"
        );
        let cli = Cli::try_parse_from([
            "xtask",
            "build-image",
            "--output",
            "pandagen-system.img",
            "--data-size",
            "16M",
            "--debug",
        ])
        .unwrap();
        let Cmd::BuildImage {
            output,
            debug,
            image,
            sector_size,
        } = cli.command
        else {
            panic!("not build-image");
        };
        assert_eq!(output, Path::new("pandagen-system.img"));
        assert!(debug);
        assert_eq!(sector_size, SectorSize::S512, "the default");
        assert_eq!(image.data_size, 16 << 20);
        let cli = Cli::try_parse_from(["xtask", "build-image", "-o", "x.img"]).unwrap();
        assert!(matches!(
            cli.command,
            Cmd::BuildImage { debug: false, ref image, .. } if image.data_size == 64 << 20
        ));
        for bad in ["1000", "1.5G", "12Q"] {
            assert!(
                Cli::try_parse_from(["xtask", "build-image", "-o", "x", "--data-size", bad])
                    .is_err(),
                "{bad}"
            );
        }
        let cli = Cli::try_parse_from([
            "xtask",
            "build-iso",
            "--output",
            "pandagen-boot.iso",
            "--cmdline",
            "test=boot",
            "--debug",
        ])
        .unwrap();
        let Cmd::BuildIso {
            output,
            debug,
            module:
                ModuleArgs {
                    limine,
                    cmdline,
                    system,
                    sign,
                },
            ..
        } = cli.command
        else {
            panic!("not build-iso");
        };
        assert_eq!(output, Path::new("pandagen-boot.iso"));
        assert!(debug && limine.is_none() && system.is_none());
        assert!(sign.sign_key.is_empty() && sign.trust.is_empty() && sign.policy.is_none());
        let cli = Cli::try_parse_from([
            "xtask",
            "build-image",
            "-o",
            "x.img",
            "--sign-key",
            "a.sec",
            "--sign-key",
            "b.sec",
            "--trust",
            "a.pub",
            "--policy",
            "permissive",
        ])
        .unwrap();
        let Cmd::BuildImage { image, .. } = cli.command else {
            panic!("not build-image");
        };
        assert_eq!(
            image.sign.sign_key,
            [Path::new("a.sec"), Path::new("b.sec")]
        );
        assert_eq!(image.sign.trust, [Path::new("a.pub")]);
        assert_eq!(image.sign.policy, Some(signing::trust::Policy::Permissive));
        assert!(
            Cli::try_parse_from(["xtask", "build-image", "-o", "x", "--policy", "lax"]).is_err()
        );
        assert_eq!(cmdline, "test=boot");
        assert!(Cli::try_parse_from(["xtask", "build-iso"]).is_err());
        for (attach, want) in [("usb", Attach::Usb), ("cdrom", Attach::Cdrom)] {
            let cli = Cli::try_parse_from(["xtask", "run", "--attach", attach]).unwrap();
            assert!(matches!(cli.command, Cmd::Run { attach, .. } if attach == want));
        }
        assert!(matches!(
            Cli::try_parse_from(["xtask", "verify", "a.img"])
                .unwrap()
                .command,
            Cmd::Verify { .. }
        ));
        let cli = Cli::try_parse_from(["xtask", "build-image", "-o", "x", "--slots", "2"]);
        assert!(matches!(cli.unwrap().command, Cmd::BuildImage { image, .. } if image.slots == 2));
        assert!(Cli::try_parse_from(["xtask", "build-image", "-o", "x", "--slots", "3"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "build-image", "-o", "x", "--sector-size", "4096"]);
        assert!(matches!(
            cli.unwrap().command,
            Cmd::BuildImage {
                sector_size: SectorSize::S4096,
                ..
            }
        ));
        for bad in ["1024", "4k", ""] {
            let err =
                Cli::try_parse_from(["xtask", "build-image", "-o", "x", "--sector-size", bad])
                    .err()
                    .unwrap()
                    .to_string();
            assert!(err.contains("use 512 (the default) or 4096"), "{err}");
        }
        let cli = Cli::try_parse_from(["xtask", "build-iso", "-o", "x", "--sector-size", "4096"]);
        let Cmd::BuildIso { sector_size, .. } = cli.unwrap().command else {
            panic!("not build-iso");
        };
        let err = check_iso_sector_size(sector_size).unwrap_err().to_string();
        assert!(
            err.contains("--sector-size 4096 is for build-image"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        assert!(check_iso_sector_size(SectorSize::S512).is_ok());
        assert!(Cli::try_parse_from(["xtask", "run", "--sector-size", "4096"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "slot", "a.img", "try", "B"]).unwrap();
        assert!(matches!(
            cli.command,
            Cmd::Slot {
                command: slots::SlotCmd::Try {
                    slot: bootslots::Slot::B
                },
                ..
            }
        ));
        for cmd in ["show", "set-active", "mark-unbootable", "mark-successful"] {
            let args = ["xtask", "slot", "a.img", cmd, "a"];
            let args = if cmd == "show" { &args[..4] } else { &args[..] };
            assert!(Cli::try_parse_from(args).is_ok(), "{cmd}");
        }
        assert!(Cli::try_parse_from(["xtask", "slot", "a.img", "try", "C"]).is_err());
        assert!(matches!(
            Cli::try_parse_from(["xtask", "inspect", "a.img"])
                .unwrap()
                .command,
            Cmd::Inspect { .. }
        ));
    }
}
