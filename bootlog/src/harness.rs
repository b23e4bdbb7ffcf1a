//! How a test run ends: the kernel command line that asks for it and the isa-debug-exit device
//! through which the kernel (and the stub, when it refuses to boot) leave QEMU with a verdict.

/// A kernel command line word starting with this selects an in-kernel test (`test=boot`, ...).
pub const TEST_WORD_START: &str = "test=";

/// The I/O port the harness puts QEMU's isa-debug-exit device at
/// (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const EXIT_PORT: u16 = 0xf4;
/// The values written to [`EXIT_PORT`].
pub const EXIT_VALUE_PASS: u32 = 0x10;
pub const EXIT_VALUE_FAIL: u32 = 0x11;
/// QEMU's exit status for a value `v` written to the device: `(v << 1) | 1`.
pub const fn qemu_status(value: u32) -> i32 {
    ((value << 1) | 1) as i32
}
/// QEMU's exit statuses for pass (33) and fail (35).
pub const EXIT_PASS: i32 = qemu_status(EXIT_VALUE_PASS);
pub const EXIT_FAIL: i32 = qemu_status(EXIT_VALUE_FAIL);

/// Whether a kernel command line asks for a test (`test=...` as one of its words).
pub fn is_test_cmdline(cmdline: &str) -> bool {
    cmdline
        .split_ascii_whitespace()
        .any(|w| w.starts_with(TEST_WORD_START))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!((EXIT_PASS, EXIT_FAIL), (33, 35));
    }

    #[test]
    fn test_cmdlines() {
        assert!(is_test_cmdline("test=boot"));
        assert!(is_test_cmdline("loglevel=debug test=disk"));
        assert!(!is_test_cmdline(""));
        assert!(!is_test_cmdline("loglevel=debug"));
        assert!(!is_test_cmdline("nottest=boot"));
    }
}
