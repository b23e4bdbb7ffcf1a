//! Decoding a system call from the registers, and the checks that need no page tables: the
//! syscall number, lengths, log level, capability, and that a user range lies in the user half.

use abi::{Error, LogLevel, Syscall, LOG_MAX_LEN, USERDATA_BLOCK_SIZE};

/// Where the user half ends (exclusive).
pub const USER_END: u64 = abi::layout::USER_END;

/// Longest `USERDATA_READ`/`USERDATA_WRITE` transfer in bytes (16 blocks); longer ones fail
/// with [`Error::BadLength`].
pub const USERDATA_MAX_LEN: u64 = 16 * USERDATA_BLOCK_SIZE as u64;

/// Longest capability list CAPS writes, in bytes (the kernel never builds a longer one).
pub const CAPS_MAX_LEN: u64 = 4096;

/// A decoded system call. Pointers are checked to lie in the user half (or be unused, for a
/// zero length); whether their pages are mapped is checked when the call runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Exit(i32),
    Log { ptr: u64, len: u64, level: LogLevel },
    Ready,
    Yield,
    Caps { ptr: u64, cap: u64 },
    UserdataInfo,
    UserdataRead { block: u64, ptr: u64, len: u64 },
    UserdataWrite { block: u64, ptr: u64, len: u64 },
}

/// Checks that `len` bytes at `ptr` lie in the user half: a non-empty range must not start
/// at address 0, wrap around, or end above [`USER_END`]. An empty range is always fine.
pub fn check_user_range(ptr: u64, len: u64) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    match ptr.checked_add(len) {
        Some(end) if ptr != 0 && end <= USER_END => Ok(()),
        _ => Err(Error::BadPointer),
    }
}

/// Decodes syscall `number` with arguments `args` (`rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`).
/// `user_data_allowed` says whether the caller holds the grants the `USERDATA_*` calls need;
/// without them those calls are [`Error::Denied`] before any argument is looked at.
pub fn decode(number: u64, args: [u64; 6], user_data_allowed: bool) -> Result<Call, Error> {
    let [a0, a1, a2, ..] = args;
    let syscall = Syscall::try_from(number)?;
    let user_data = matches!(
        syscall,
        Syscall::UserdataInfo | Syscall::UserdataRead | Syscall::UserdataWrite
    );
    if user_data && !user_data_allowed {
        return Err(Error::Denied);
    }
    let transfer = |block: u64, ptr: u64, len: u64| {
        if len == 0 || !len.is_multiple_of(USERDATA_BLOCK_SIZE as u64) || len > USERDATA_MAX_LEN {
            return Err(Error::BadLength);
        }
        check_user_range(ptr, len)?;
        Ok((block, ptr, len))
    };
    Ok(match syscall {
        // The code is an i32, sign-extended into rdi: the low 32 bits are the value.
        Syscall::Exit => Call::Exit(a0 as u32 as i32),
        Syscall::Log => {
            if a1 > LOG_MAX_LEN as u64 {
                return Err(Error::BadLength);
            }
            let level = LogLevel::try_from(a2)?;
            check_user_range(a0, a1)?;
            Call::Log {
                ptr: a0,
                len: a1,
                level,
            }
        }
        Syscall::Ready => Call::Ready,
        Syscall::Yield => Call::Yield,
        Syscall::Caps => {
            // Only the bytes actually written are checked, when the call runs.
            Call::Caps { ptr: a0, cap: a1 }
        }
        Syscall::UserdataInfo => Call::UserdataInfo,
        Syscall::UserdataRead => {
            let (block, ptr, len) = transfer(a0, a1, a2)?;
            Call::UserdataRead { block, ptr, len }
        }
        Syscall::UserdataWrite => {
            let (block, ptr, len) = transfer(a0, a1, a2)?;
            Call::UserdataWrite { block, ptr, len }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 0x40_1000;

    #[test]
    fn user_ranges() {
        assert_eq!(check_user_range(0, 0), Ok(()));
        assert_eq!(check_user_range(u64::MAX, 0), Ok(()));
        assert_eq!(check_user_range(P, 16), Ok(()));
        assert_eq!(check_user_range(USER_END - 16, 16), Ok(()));
        assert_eq!(check_user_range(0, 1), Err(Error::BadPointer));
        assert_eq!(check_user_range(USER_END - 16, 17), Err(Error::BadPointer));
        assert_eq!(check_user_range(USER_END, 1), Err(Error::BadPointer));
        assert_eq!(
            check_user_range(0xffff_ffff_8000_0000, 8),
            Err(Error::BadPointer)
        );
        assert_eq!(check_user_range(u64::MAX - 4, 8), Err(Error::BadPointer));
    }

    #[test]
    fn simple_calls() {
        assert_eq!(decode(0, [0; 6], false), Ok(Call::Exit(0)));
        assert_eq!(
            decode(0, [(-3i64) as u64, 0, 0, 0, 0, 0], false),
            Ok(Call::Exit(-3))
        );
        assert_eq!(
            decode(0, [0x1_0000_0007, 0, 0, 0, 0, 0], false),
            Ok(Call::Exit(7))
        );
        assert_eq!(decode(2, [9; 6], false), Ok(Call::Ready));
        assert_eq!(decode(3, [0; 6], false), Ok(Call::Yield));
        assert_eq!(
            decode(4, [P, 64, 0, 0, 0, 0], false),
            Ok(Call::Caps { ptr: P, cap: 64 })
        );
    }

    #[test]
    fn unknown_numbers() {
        for n in [5, 15, 19, 31, 32, 63, 64, u64::MAX] {
            assert_eq!(decode(n, [0; 6], true), Err(Error::InvalidSyscall), "{n}");
        }
    }

    #[test]
    fn log_arguments() {
        assert_eq!(
            decode(1, [P, 5, 2, 0, 0, 0], false),
            Ok(Call::Log {
                ptr: P,
                len: 5,
                level: LogLevel::Info
            })
        );
        let max = LOG_MAX_LEN as u64;
        assert!(decode(1, [P, max, 0, 0, 0, 0], false).is_ok());
        assert_eq!(
            decode(1, [P, max + 1, 0, 0, 0, 0], false),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode(1, [P, 5, 5, 0, 0, 0], false),
            Err(Error::Unsupported)
        );
        assert_eq!(decode(1, [0, 5, 2, 0, 0, 0], false), Err(Error::BadPointer));
        assert_eq!(
            decode(1, [USER_END - 2, 5, 2, 0, 0, 0], false),
            Err(Error::BadPointer)
        );
        // An empty message needs no buffer.
        assert!(decode(1, [0, 0, 2, 0, 0, 0], false).is_ok());
    }

    #[test]
    fn user_data_calls_need_the_grant_first() {
        for n in 16..=18 {
            // Denied even with arguments that would be bad otherwise.
            assert_eq!(decode(n, [0, 0, 1, 0, 0, 0], false), Err(Error::Denied));
        }
        assert_eq!(decode(16, [0; 6], true), Ok(Call::UserdataInfo));
        assert_eq!(
            decode(17, [3, P, 4096, 0, 0, 0], true),
            Ok(Call::UserdataRead {
                block: 3,
                ptr: P,
                len: 4096
            })
        );
        assert_eq!(
            decode(18, [3, P, 8192, 0, 0, 0], true),
            Ok(Call::UserdataWrite {
                block: 3,
                ptr: P,
                len: 8192
            })
        );
        for len in [0, 1, 4095, 4097, USERDATA_MAX_LEN + 4096] {
            assert_eq!(
                decode(17, [0, P, len, 0, 0, 0], true),
                Err(Error::BadLength),
                "{len}"
            );
        }
        assert_eq!(
            decode(18, [0, 0, 4096, 0, 0, 0], true),
            Err(Error::BadPointer)
        );
        assert_eq!(
            decode(17, [0, USER_END - 4096, 8192, 0, 0, 0], true),
            Err(Error::BadPointer)
        );
    }
}
