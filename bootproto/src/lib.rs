//! The Limine boot protocol as plain data, shared by the UEFI stub and the kernel.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod config;
pub mod devpath;
pub mod elf;
pub mod enroll;
pub mod files;
pub mod hash;
pub mod memmap;
pub mod requests;
pub mod slots;

/// The name the PandaGen boot stub gives in its bootloader-info response: a kernel that sees
/// it knows the boot loader chooses the A/B slot (and so may reset to let it).
pub const STUB_NAME: &str = "PandaGen bootstub";
