//! The PandaGen kernel: boot on the Limine protocol, arch (GDT/IDT/serial), memory, self-check.
//!
//! Pure logic (command line, frame allocator, self-check predicates) builds and is tested on the
//! host; everything that touches the machine is compiled only for `target_os = "none"`.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod acpi;
pub mod caps;
pub mod cmdline;
pub mod fault_report;
pub mod image;
pub mod ipc;
pub mod keyboard_layout;
pub mod memory;
pub mod process;
pub mod selfcheck;
pub mod supervisor;
pub mod sysinfo;
pub mod userdata;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod crash;
#[cfg(target_os = "none")]
pub mod devices;
#[cfg(target_os = "none")]
pub mod fatal;
/// The pure part of `arch::fpu` (save-area layout from CPUID, the clean state), tested on
/// the host; the kernel reaches it as `arch::fpu::layout`.
#[cfg(all(test, not(target_os = "none")))]
#[path = "arch/fpu/layout.rs"]
mod fpu_layout;
#[cfg(target_os = "none")]
pub mod klog;
pub mod klog_buffers;
#[cfg(target_os = "none")]
pub mod screen;
#[cfg(all(test, not(target_os = "none")))]
#[path = "screen/handover.rs"]
mod screen_handover;
/// The framebuffer surface of `screen`, tested on the host.
#[cfg(target_os = "none")]
pub mod testmode;
#[cfg(target_os = "none")]
pub mod time;
