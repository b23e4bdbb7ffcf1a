//! Where PandaGen's boot files live on the boot volume (FAT paths; limine.conf names each as
//! `boot():PATH`). One definition for the packer, the host update tool and the kernel, which
//! rewrites them when an update changes a slot's kernel (docs/slots.md).

/// The boot loader, where UEFI firmware looks for a removable medium's on x86_64.
pub const BOOT_EFI: &str = "/EFI/BOOT/BOOTX64.EFI";
/// limine.conf, in the boot loader's own directory: Limine 10.3+ and the stub look there
/// first (older 10.x last, with nothing shadowing it), and one directory sector then holds
/// both files' entries, so that a new config and the boot loader that enrolls its hash are
/// switched in one sector write.
pub const CONF: &str = "/EFI/BOOT/limine.conf";
/// Slot A's kernel (the one kernel of a one-slot image).
pub const KERNEL_A: &str = "/boot/kernel_bootstrap";
/// Slot B's kernel (slot B has no module: it boots only from a disk the kernel drives).
pub const KERNEL_B: &str = "/boot/kernel_bootstrap_b";
/// Slot A's system image module.
pub const MODULE: &str = "/boot/pandagen-system.mod";
/// The `module_string` the kernel finds the system image module by.
pub const MODULE_STRING: &str = "pandagen-system-image";
