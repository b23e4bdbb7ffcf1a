//! Finding the PandaGen image among the disks and proving it before anything runs: superblock,
//! manifest, graph, layout, every checksum (streaming), and the kernel the boot loader loaded.

pub mod choice;
pub mod module_disk;
pub mod source;
pub mod trust;

#[cfg(target_os = "none")]
pub mod boot_files;
#[cfg(target_os = "none")]
pub mod signatures;
#[cfg(target_os = "none")]
pub mod slots;

#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
pub use boot::{pick, verify, ImageError, Picked, Refused, VerifiedBoot};
