//! Config enrollment at build time, as Limine's `limine enroll-config` does it: the BLAKE2b-512
//! hash of the generated limine.conf is written into the boot loader binary's config-hash slot
//! before the binary goes on the ESP, so the boot loader (the PandaGen stub, or Limine's
//! BOOTX64.EFI) refuses any other config. The marker and the enrolling are
//! [`bootproto::enroll`], shared with the stub and host-tested there.

use std::path::Path;

use anyhow::{Context, Result};

/// Enrolls the hash of `conf` (the exact bytes that go on the ESP) into `efi`, the bytes of the
/// boot loader read from `efi_path` (named in the error when it has no single slot).
pub fn enroll_config(efi_path: &Path, efi: &mut [u8], conf: &[u8]) -> Result<()> {
    bootproto::enroll::enroll(efi, conf).with_context(|| {
        format!(
            "cannot enroll limine.conf's BLAKE2b-512 hash into the boot loader {}",
            efi_path.display()
        )
    })
}

/// What [`edit_after_enrollment`] appends to the kernel command line.
pub const EDIT: &str = " edited-after-enrollment";

/// `conf` with its kernel command line changed, as someone editing limine.conf on the ESP after
/// the build would (for [`crate::system_image::ConfTweak::EditedConf`]).
pub fn edit_after_enrollment(conf: &str) -> Result<String> {
    let mut edited = false;
    let mut out = String::with_capacity(conf.len() + EDIT.len());
    for line in conf.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(text) if !edited && text.trim_start().starts_with("cmdline:") => {
                out.push_str(text);
                out.push_str(EDIT);
                out.push('\n');
                edited = true;
            }
            _ => out.push_str(line),
        }
    }
    anyhow::ensure!(
        edited,
        "limine.conf has no `cmdline:` line to edit:\n{conf}"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootproto::enroll::{Slot, EMPTY_MARKER};
    use bootproto::hash::blake2b512;

    #[test]
    fn enrolls_the_hash_or_names_the_file() {
        let mut efi = b"MZ stub ".to_vec();
        efi.extend_from_slice(&EMPTY_MARKER);
        enroll_config(Path::new("stub.efi"), &mut efi, b"timeout: 0\n").unwrap();
        assert_eq!(
            bootproto::enroll::enrolled(&efi).unwrap(),
            Slot::Enrolled(blake2b512(b"timeout: 0\n"))
        );

        let mut bare = b"MZ no slot".to_vec();
        let err = enroll_config(Path::new("/x/BOOTX64.EFI"), &mut bare, b"c").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("/x/BOOTX64.EFI"), "{text}");
        assert!(text.contains("no config-hash slot"), "{text}");
    }

    #[test]
    fn the_edit_changes_only_the_cmdline() {
        let conf = "timeout: 0\n\n/PandaGen\n    protocol: limine\n    cmdline: test=boot\n    module_path: boot():/m\n";
        let edited = edit_after_enrollment(conf).unwrap();
        assert_eq!(
            edited,
            conf.replace("test=boot\n", &format!("test=boot{EDIT}\n"))
        );
        assert_ne!(blake2b512(edited.as_bytes()), blake2b512(conf.as_bytes()));
        assert!(edit_after_enrollment("timeout: 0\n").is_err());
    }
}
