//! Every way the stub can refuse to boot, each with what went wrong and where.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use bootproto::{
    config::ConfigError, elf::ElfError, enroll::SlotError, hash::HashMismatch, requests::ScanError,
};

/// Why the stub will not boot the kernel.
#[derive(Debug)]
pub enum StubError {
    /// The firmware gave no file system for the volume the stub was loaded from.
    NoBootVolume(uefi::Status),
    /// The firmware's PXE Base Code protocol failed a step (`start`, `DHCP`).
    Pxe(&'static str, uefi::Status),
    /// Booted from the network, but no DHCP reply named a TFTP server (next-server).
    NoTftpServer,
    /// A file could not be fetched over TFTP.
    TftpFailed {
        path: String,
        server: core::net::Ipv4Addr,
        status: uefi::Status,
    },
    /// No limine.conf in any of the places Limine looks.
    ConfigNotFound,
    /// A file named by limine.conf could not be read.
    ReadFailed { path: String, status: uefi::Status },
    /// limine.conf is not valid (line numbers inside).
    Config(ConfigError),
    /// limine.conf is not UTF-8.
    ConfigNotText,
    /// limine.conf does not hash to the BLAKE2b-512 enrolled in the stub's binary.
    ConfigHashMismatch {
        path: String,
        mismatch: Box<HashMismatch>,
    },
    /// The config-hash slot in the stub's binary is neither empty nor a hex digest.
    ConfigHashSlot(SlotError),
    /// The first entry is not `protocol: limine`.
    UnsupportedProtocol(String),
    /// The first entry has no `path`/`kernel_path`.
    NoKernelPath,
    /// `boot(N):` names a partition; the stub only reads its own boot partition.
    UnsupportedPartition { path: String, partition: u32 },
    /// A `#<blake2b>` suffix did not match the file.
    HashMismatch {
        path: String,
        mismatch: Box<HashMismatch>,
    },
    /// The kernel is not an ELF executable the stub can load.
    Elf(ElfError),
    /// The kernel's Limine requests are malformed (e.g. one request twice).
    Requests(ScanError),
    /// The kernel's base-revision tag asks for a revision this stub does not implement.
    UnsupportedRevision(u64),
    /// The firmware could not give the memory the stub needs.
    OutOfMemory {
        what: &'static str,
        status: uefi::Status,
    },
    /// A fixed-size area the stub prepared is too small (a bug or an unusual machine).
    Capacity { what: &'static str },
}

impl fmt::Display for StubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBootVolume(s) => write!(f, "cannot open the boot volume's file system ({s:?})"),
            Self::Pxe(step, s) => write!(
                f,
                "network boot: the firmware's PXE {step} failed ({s:?}); check the cable/link and the DHCP server"
            ),
            Self::NoTftpServer => write!(
                f,
                "network boot: the DHCP reply names no TFTP server (next-server/siaddr); set it on the DHCP server"
            ),
            Self::TftpFailed {
                path,
                server,
                status,
            } => write!(
                f,
                "tftp: cannot fetch {path} from {server} ({status:?}); {}",
                tftp_hint(*status)
            ),
            Self::ConfigNotFound => write!(
                f,
                "no limine.conf next to the stub or in /boot/limine, /boot, /limine, / or /EFI/BOOT of the boot volume"
            ),
            Self::ReadFailed { path, status } => write!(f, "cannot read {path} ({status:?})"),
            Self::Config(e) => write!(f, "limine.conf: {e}"),
            Self::ConfigNotText => write!(f, "limine.conf is not UTF-8 text"),
            Self::ConfigHashMismatch { path, mismatch } => write!(
                f,
                "{}{path}: {mismatch}{}{}",
                bootlog::msg::STUB_CONFIG_HASH_MISMATCH_START,
                bootlog::msg::STUB_CONFIG_HASH_ACTION,
                bootlog::msg::STUB_REFUSING_END
            ),
            Self::ConfigHashSlot(e) => write!(
                f,
                "the config-hash slot in this boot loader's binary is damaged ({e}); enroll the config again (cargo xtask build-image, or limine enroll-config){}",
                bootlog::msg::STUB_REFUSING_END
            ),
            Self::UnsupportedProtocol(p) => write!(
                f,
                "the first entry uses `protocol: {p}`; this stub only boots `protocol: limine`"
            ),
            Self::NoKernelPath => write!(f, "the first entry has no `path:` (or `kernel_path:`)"),
            Self::UnsupportedPartition { path, partition } => write!(
                f,
                "{path}: boot({partition}): names another partition; this stub reads only its own boot partition (use boot():)"
            ),
            Self::HashMismatch { path, mismatch } => write!(
                f,
                "{}{path}: {mismatch}; the file is not the one limine.conf pins{}",
                bootlog::msg::STUB_HASH_MISMATCH_START,
                bootlog::msg::STUB_REFUSING_END
            ),
            Self::Elf(e) => write!(f, "kernel ELF: {e}"),
            Self::Requests(e) => write!(f, "kernel's Limine requests: {e}"),
            Self::UnsupportedRevision(r) => write!(
                f,
                "the kernel asks for Limine base revision {r} (0 if it has no base-revision tag); this stub implements only revision 3"
            ),
            Self::OutOfMemory { what, status } => {
                write!(f, "out of memory allocating {what} ({status:?})")
            }
            Self::Capacity { what } => write!(f, "internal table too small: {what}"),
        }
    }
}

/// What to do about a TFTP failure with `status`.
fn tftp_hint(status: uefi::Status) -> &'static str {
    match status {
        uefi::Status::TFTP_ERROR => "is it in the TFTP root (cargo xtask build-netboot)?",
        uefi::Status::UNSUPPORTED => "this PXE Base Code cannot ask a file's size (iPXE's cannot): network-boot with the firmware's own PXE instead",
        _ => "check the link and the TFTP server",
    }
}
