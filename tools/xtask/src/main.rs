//! `cargo xtask`: build PandaGen, pack its disk image, run it in QEMU, test it, lint it.

mod atomic;
mod build;
mod image;
mod limine_conf;
mod lint;
mod qemu;
mod run;
mod scenarios;
mod serial_log;
mod suite;
mod system_image;
#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use build::{Artifacts, Profile, Workspace};
use qemu::Machine;
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
    /// Build the kernel (x86_64-unknown-none) and the UEFI boot stub (x86_64-unknown-uefi).
    Build {
        /// Build the kernel in release mode (the stub is always release).
        #[arg(long)]
        release: bool,
    },
    /// Build, then write a UEFI-bootable raw disk image (MBR + FAT ESP).
    BuildImage {
        /// Where to write the image.
        #[arg(long, short)]
        output: PathBuf,
        #[command(flatten)]
        image: ImageArgs,
    },
    /// Build the image into target/ and boot it in QEMU with the serial console on this terminal.
    Run {
        #[command(flatten)]
        image: ImageArgs,
        /// QEMU machine type.
        #[arg(long, value_enum, default_value_t = Machine::Q35)]
        machine: Machine,
        /// Use KVM (`-accel kvm -cpu host`) instead of TCG.
        #[arg(long)]
        kvm: bool,
        /// Do not run cargo; pack the image from the last build's artifacts.
        #[arg(long)]
        no_build: bool,
    },
    /// Run the test suite: host tests, then the QEMU scenarios; ends with "N passed, N failed".
    Test {
        /// Build the kernel in release mode.
        #[arg(long)]
        release: bool,
        /// Run only this scenario or host phase (e.g. boot-q35, host-tests).
        #[arg(long)]
        only: Option<String>,
        /// QEMU scenarios run at the same time.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: u16,
    },
    /// rustfmt check and clippy (-D warnings) for the host, kernel and stub targets.
    Lint,
}

#[derive(Args)]
struct ImageArgs {
    /// Build the kernel in release mode.
    #[arg(long)]
    release: bool,
    /// Boot with Limine from this Limine 10.x binary release directory (its BOOTX64.EFI)
    /// instead of the PandaGen stub. Default: $LIMINE_DIR, if set.
    #[arg(long, value_name = "DIR")]
    limine: Option<PathBuf>,
    /// Kernel command line written to limine.conf.
    #[arg(long, default_value = "")]
    cmdline: String,
}

impl ImageArgs {
    fn profile(&self) -> Profile {
        Profile::from_release(self.release)
    }

    /// `--limine`, else a non-empty `LIMINE_DIR`; checked to hold `BOOTX64.EFI`.
    fn limine_dir(&self) -> Result<Option<PathBuf>> {
        let dir = self.limine.clone().or_else(|| {
            std::env::var_os("LIMINE_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        if let Some(dir) = &dir {
            system_image::check_limine_dir(dir)?;
        }
        Ok(dir)
    }
}

/// Packs the built artifacts into a disk image at `output` and says which loader it carries.
pub(crate) fn pack_image(
    artifacts: &Artifacts,
    limine: Option<PathBuf>,
    cmdline: &str,
    output: &Path,
) -> Result<()> {
    let boot_loader = match limine {
        Some(dir) => BootLoader::Limine(dir),
        None => BootLoader::Stub(artifacts.stub.clone()),
    };
    let img = SystemImage {
        kernel: artifacts.kernel.clone(),
        boot_loader,
        cmdline: cmdline.into(),
        tweak: ConfTweak::None,
    };
    println!("xtask: boot loader: {}", img.boot_loader.describe());
    let layout = system_image::write_system_image(&img, output)?;
    println!(
        "xtask: wrote {} ({} MiB, ESP {:?} at {} MiB)",
        output.display(),
        layout.total_size / image::MIB,
        layout.fat_type,
        layout.esp_start / image::MIB
    );
    Ok(())
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
            build::build_all(&ws, Profile::from_release(release))?;
        }
        Cmd::BuildImage { output, image } => {
            let limine = image.limine_dir()?;
            let artifacts = build::build_all(&ws, image.profile())?;
            pack_image(&artifacts, limine, &image.cmdline, &output)?;
        }
        Cmd::Run {
            image,
            machine,
            kvm,
            no_build,
        } => run::run(
            &ws,
            &run::RunOptions {
                profile: image.profile(),
                limine: image.limine_dir()?,
                machine,
                kvm,
                cmdline: image.cmdline.clone(),
                no_build,
            },
        )?,
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
        Cmd::Lint => lint::run(&ws)?,
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
            machine,
            kvm,
            no_build,
        } = cli.command
        else {
            panic!("not run");
        };
        assert!(image.release && kvm && no_build);
        assert_eq!(machine, Machine::Pc);
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
    }
}
