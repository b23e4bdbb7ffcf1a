//! The Limine boot protocol as plain data, shared by the UEFI stub and the kernel.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod config;
pub mod devpath;
pub mod elf;
pub mod enroll;
pub mod hash;
pub mod memmap;
pub mod requests;
