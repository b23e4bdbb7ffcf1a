//! Decoding a system call from the registers, and the checks that need no page tables: the
//! syscall number, lengths, log level, capability, and that a user range lies in the user half.

use abi::ipc::{MAX_MESSAGE, MAX_NAME};
use abi::{
    Error, LogLevel, Needs, SlotAction, SlotId, Syscall, CONSOLE_MAX_LEN, LOG_MAX_LEN,
    USERDATA_BLOCK_SIZE,
};

/// Where the user half ends (exclusive).
pub const USER_END: u64 = abi::layout::USER_END;

/// Longest `USERDATA_READ`/`USERDATA_WRITE` transfer in bytes (16 blocks); longer ones fail
/// with [`Error::BadLength`].
pub const USERDATA_MAX_LEN: u64 = abi::USERDATA_MAX_LEN as u64;

/// Longest capability list CAPS writes, in bytes (the kernel never builds a longer one).
pub const CAPS_MAX_LEN: u64 = 4096;

/// A decoded system call. Pointers are checked to lie in the user half (or be unused, for a
/// zero length); whether their pages are mapped is checked when the call runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Exit(i32),
    Log {
        ptr: u64,
        len: u64,
        level: LogLevel,
    },
    Ready,
    Yield,
    Caps {
        ptr: u64,
        cap: u64,
    },
    /// CONFIG into a user buffer of capacity `cap` (checked when it runs, as CAPS).
    Config {
        ptr: u64,
        cap: u64,
    },
    /// MEMORY_GROW by this many bytes (checked when it runs, against the caller's budget).
    MemoryGrow(u64),
    UserdataInfo,
    UserdataPersistent,
    UserdataFlush,
    UserdataRead {
        block: u64,
        ptr: u64,
        len: u64,
    },
    UserdataWrite {
        block: u64,
        ptr: u64,
        len: u64,
    },
    IpcCall {
        name: u64,
        name_len: u64,
        req: u64,
        req_len: u64,
        reply: u64,
        reply_cap: u64,
    },
    IpcReceive {
        name: u64,
        name_len: u64,
        buf: u64,
        cap: u64,
        received: u64,
        /// IPC_RECEIVE waits for a call; IPC_TRY_RECEIVE answers `Timeout` at once.
        wait: bool,
    },
    IpcReply {
        id: u64,
        ptr: u64,
        len: u64,
    },
    ConsoleWrite {
        ptr: u64,
        len: u64,
    },
    ConsoleRead {
        ptr: u64,
        cap: u64,
    },
    Uptime,
    Clock,
    Services {
        ptr: u64,
        cap: u64,
    },
    Manifest {
        ptr: u64,
        cap: u64,
    },
    ComponentCaps {
        name: u64,
        name_len: u64,
        ptr: u64,
        cap: u64,
    },
    Bootcount,
    Reboot,
    Poweroff,
    Bootlog {
        ptr: u64,
        cap: u64,
    },
    Slots {
        ptr: u64,
        cap: u64,
    },
    LastCrash {
        ptr: u64,
        cap: u64,
    },
    SlotSet {
        action: SlotAction,
        slot: SlotId,
        ptr: u64,
        cap: u64,
    },
    /// SLOT_READ of `len` bytes from block `block` of `slot`'s room into `ptr`.
    SlotRead {
        slot: SlotId,
        block: u64,
        ptr: u64,
        len: u64,
    },
    /// SLOT_WRITE of `len` bytes at `ptr` to block `block` of the inactive slot's room;
    /// `len` 0: flush.
    SlotWrite {
        block: u64,
        ptr: u64,
        len: u64,
    },
    /// FRAMEBUFFER_MAP, filling the record at this address.
    FramebufferMap(u64),
    ScreenRead {
        ptr: u64,
        cap: u64,
    },
    /// NET_INFO of the device named at `name`, filling the [`abi::net::Info`] at `info`.
    NetInfo {
        name: u64,
        name_len: u64,
        info: u64,
    },
    /// NET_SEND of the `len`-byte frame at `ptr` ([`abi::net::MIN_FRAME`]..=`MAX_FRAME`).
    NetSend {
        name: u64,
        name_len: u64,
        ptr: u64,
        len: u64,
    },
    /// NET_RECV into `cap` bytes at `ptr`, waiting up to `timeout_ms`.
    NetRecv {
        name: u64,
        name_len: u64,
        ptr: u64,
        cap: u64,
        timeout_ms: u64,
    },
}

/// The grants a call may need, as far as decoding is concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    /// `block_device` and `persistent_storage`: the `USERDATA_*` calls.
    pub user_data: bool,
    /// `console`: `CONSOLE_*`.
    pub console: bool,
    /// `power`: `REBOOT`, `POWEROFF`.
    pub power: bool,
    /// `update`: `SLOT_SET`, `SLOT_READ`, `SLOT_WRITE`.
    pub update: bool,
    /// `framebuffer`: `FRAMEBUFFER_MAP`, `SCREEN_READ`.
    pub framebuffer: bool,
    /// Some `network_device`: the `NET_*` calls (which device: checked when the call runs).
    pub network: bool,
}

impl Allowed {
    /// Whether a caller with these grants may make a call that needs `needs` (the ABI's
    /// table, [`abi::SYSCALLS`], says which call needs what).
    pub const fn permits(self, needs: Needs) -> bool {
        match needs {
            Needs::Nothing => true,
            Needs::Console => self.console,
            Needs::Power => self.power,
            Needs::UserData => self.user_data,
            Needs::Update => self.update,
            Needs::Framebuffer => self.framebuffer,
            Needs::NetworkDevice => self.network,
        }
    }
}

/// Longest text buffer (`SERVICES`, `MANIFEST`, `COMPONENT_CAPS`, `BOOTLOG`, `SLOTS`) the kernel writes
/// in one call, in bytes; a larger capacity is fine, only this much is ever written.
pub const TEXT_MAX_LEN: u64 = 64 * 1024;

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
    decode_for(
        number,
        args,
        Allowed {
            user_data: user_data_allowed,
            ..Allowed::default()
        },
    )
}

/// Checks an endpoint or component name argument: 1..=[`MAX_NAME`] bytes in the user half.
fn name_arg(ptr: u64, len: u64) -> Result<(), Error> {
    if len == 0 || len > MAX_NAME as u64 {
        return Err(Error::BadLength);
    }
    check_user_range(ptr, len)
}

/// [`decode`] with every grant that matters spelled out: calls that need a grant the caller
/// lacks are [`Error::Denied`] before any argument is looked at.
pub fn decode_for(number: u64, args: [u64; 6], allowed: Allowed) -> Result<Call, Error> {
    let [a0, a1, a2, a3, a4, a5] = args;
    let syscall = Syscall::try_from(number)?;
    if !allowed.permits(syscall.needs()) {
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
        Syscall::Config => Call::Config { ptr: a0, cap: a1 },
        Syscall::MemoryGrow => Call::MemoryGrow(a0),
        Syscall::UserdataInfo => Call::UserdataInfo,
        Syscall::UserdataPersistent => Call::UserdataPersistent,
        Syscall::UserdataFlush => Call::UserdataFlush,
        Syscall::UserdataRead => {
            let (block, ptr, len) = transfer(a0, a1, a2)?;
            Call::UserdataRead { block, ptr, len }
        }
        Syscall::UserdataWrite => {
            let (block, ptr, len) = transfer(a0, a1, a2)?;
            Call::UserdataWrite { block, ptr, len }
        }
        Syscall::IpcCall => {
            name_arg(a0, a1)?;
            if a3 > MAX_MESSAGE as u64 {
                return Err(Error::BadLength);
            }
            check_user_range(a2, a3)?;
            check_user_range(a4, a5)?;
            Call::IpcCall {
                name: a0,
                name_len: a1,
                req: a2,
                req_len: a3,
                reply: a4,
                reply_cap: a5,
            }
        }
        Syscall::IpcReceive | Syscall::IpcTryReceive => {
            name_arg(a0, a1)?;
            check_user_range(a2, a3)?;
            check_user_range(a4, abi::ipc::Received::SIZE as u64)?;
            Call::IpcReceive {
                name: a0,
                name_len: a1,
                buf: a2,
                cap: a3,
                received: a4,
                wait: syscall == Syscall::IpcReceive,
            }
        }
        Syscall::IpcReply => {
            if a2 > MAX_MESSAGE as u64 {
                return Err(Error::BadLength);
            }
            check_user_range(a1, a2)?;
            Call::IpcReply {
                id: a0,
                ptr: a1,
                len: a2,
            }
        }
        Syscall::ConsoleWrite => {
            if a1 > CONSOLE_MAX_LEN as u64 {
                return Err(Error::BadLength);
            }
            check_user_range(a0, a1)?;
            Call::ConsoleWrite { ptr: a0, len: a1 }
        }
        Syscall::ConsoleRead => {
            check_user_range(a0, a1)?;
            Call::ConsoleRead { ptr: a0, cap: a1 }
        }
        Syscall::Uptime => Call::Uptime,
        Syscall::Clock => Call::Clock,
        // Only the bytes actually written are checked, when the call runs.
        Syscall::Services => Call::Services { ptr: a0, cap: a1 },
        Syscall::Manifest => Call::Manifest { ptr: a0, cap: a1 },
        Syscall::ComponentCaps => {
            name_arg(a0, a1)?;
            Call::ComponentCaps {
                name: a0,
                name_len: a1,
                ptr: a2,
                cap: a3,
            }
        }
        Syscall::Bootcount => Call::Bootcount,
        Syscall::Reboot => Call::Reboot,
        Syscall::Poweroff => Call::Poweroff,
        Syscall::Bootlog => Call::Bootlog { ptr: a0, cap: a1 },
        Syscall::Slots => Call::Slots { ptr: a0, cap: a1 },
        Syscall::LastCrash => Call::LastCrash { ptr: a0, cap: a1 },
        Syscall::SlotSet => Call::SlotSet {
            action: SlotAction::try_from(a0)?,
            slot: SlotId::try_from(a1)?,
            ptr: a2,
            cap: a3,
        },
        Syscall::SlotRead => {
            let slot = SlotId::try_from(a0)?;
            let (block, ptr, len) = transfer(a1, a2, a3)?;
            Call::SlotRead {
                slot,
                block,
                ptr,
                len,
            }
        }
        Syscall::SlotWrite if a2 == 0 => Call::SlotWrite {
            block: a0,
            ptr: 0,
            len: 0,
        },
        Syscall::SlotWrite => {
            let (block, ptr, len) = transfer(a0, a1, a2)?;
            Call::SlotWrite { block, ptr, len }
        }
        Syscall::FramebufferMap => {
            check_user_range(a0, abi::screen::Framebuffer::SIZE as u64)?;
            Call::FramebufferMap(a0)
        }
        Syscall::ScreenRead => {
            check_user_range(a0, a1)?;
            Call::ScreenRead { ptr: a0, cap: a1 }
        }
        Syscall::NetInfo | Syscall::NetSend | Syscall::NetRecv => decode_net(syscall, args)?,
    })
}

/// The `NET_*` calls' arguments: a device name of 1..=[`abi::net::MAX_NAME`] bytes, a record,
/// frame or buffer in the user half, a frame of [`abi::net::MIN_FRAME`]..=`MAX_FRAME` bytes.
fn decode_net(syscall: Syscall, args: [u64; 6]) -> Result<Call, Error> {
    use abi::net::{Info, MAX_FRAME, MAX_NAME as MAX_NET_NAME, MIN_FRAME};
    let [name, name_len, a2, a3, a4, _] = args;
    if name_len == 0 || name_len > MAX_NET_NAME as u64 {
        return Err(Error::BadLength);
    }
    check_user_range(name, name_len)?;
    Ok(match syscall {
        Syscall::NetInfo => {
            check_user_range(a2, Info::SIZE as u64)?;
            Call::NetInfo {
                name,
                name_len,
                info: a2,
            }
        }
        Syscall::NetSend => {
            if !(MIN_FRAME as u64..=MAX_FRAME as u64).contains(&a3) {
                return Err(Error::BadLength);
            }
            check_user_range(a2, a3)?;
            Call::NetSend {
                name,
                name_len,
                ptr: a2,
                len: a3,
            }
        }
        _ => {
            check_user_range(a2, a3)?;
            Call::NetRecv {
                name,
                name_len,
                ptr: a2,
                cap: a3,
                timeout_ms: a4,
            }
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
        assert_eq!(
            decode(6, [P, 128, 0, 0, 0, 0], false),
            Ok(Call::Config { ptr: P, cap: 128 })
        );
    }

    #[test]
    fn unknown_numbers() {
        for n in [7, 15, 21, 31, 36, 39, 61, 63, 64, u64::MAX] {
            assert_eq!(decode(n, [0; 6], true), Err(Error::InvalidSyscall), "{n}");
        }
    }

    #[test]
    fn memory_grow_needs_no_grant_and_is_checked_when_it_runs() {
        // The size is checked against the caller's budget, which decoding does not know.
        assert_eq!(
            decode(5, [4096, 0, 0, 0, 0, 0], false),
            Ok(Call::MemoryGrow(4096))
        );
        assert_eq!(decode(5, [0; 6], false), Ok(Call::MemoryGrow(0)));
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
        assert_eq!(decode(19, [0; 6], true), Ok(Call::UserdataPersistent));
        assert_eq!(decode(19, [0; 6], false), Err(Error::Denied));
        assert_eq!(decode(20, [0; 6], true), Ok(Call::UserdataFlush));
        assert_eq!(decode(20, [0; 6], false), Err(Error::Denied));
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

    const ALL: Allowed = Allowed {
        user_data: true,
        console: true,
        power: true,
        update: true,
        framebuffer: true,
        network: true,
    };

    #[test]
    fn console_calls_need_the_console_grant_first() {
        let none = Allowed::default();
        for n in [40, 41, 47, 48] {
            assert_eq!(decode_for(n, [0, 1, 0, 0, 0, 0], none), Err(Error::Denied));
        }
        assert_eq!(
            decode_for(40, [P, 5, 0, 0, 0, 0], ALL),
            Ok(Call::ConsoleWrite { ptr: P, len: 5 })
        );
        assert_eq!(
            decode_for(40, [P, CONSOLE_MAX_LEN as u64 + 1, 0, 0, 0, 0], ALL),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(41, [0, 16, 0, 0, 0, 0], ALL),
            Err(Error::BadPointer)
        );
        assert_eq!(decode_for(47, [0; 6], ALL), Ok(Call::Reboot));
        assert_eq!(decode_for(48, [0; 6], ALL), Ok(Call::Poweroff));
        // REBOOT and POWEROFF need `power`, not `console`: the console alone cannot switch the
        // machine off.
        let console_only = Allowed {
            console: true,
            ..Allowed::default()
        };
        let power_only = Allowed {
            power: true,
            ..Allowed::default()
        };
        for n in [47, 48] {
            assert_eq!(decode_for(n, [0; 6], console_only), Err(Error::Denied));
        }
        assert_eq!(decode_for(47, [0; 6], power_only), Ok(Call::Reboot));
        assert_eq!(
            decode_for(40, [P, 5, 0, 0, 0, 0], power_only),
            Err(Error::Denied)
        );
        // The information calls need nothing.
        assert_eq!(decode_for(42, [0; 6], none), Ok(Call::Uptime));
        assert_eq!(decode_for(46, [0; 6], none), Ok(Call::Bootcount));
        assert_eq!(
            decode_for(43, [P, 10, 0, 0, 0, 0], none),
            Ok(Call::Services { ptr: P, cap: 10 })
        );
        assert_eq!(
            decode_for(44, [P, 10, 0, 0, 0, 0], none),
            Ok(Call::Manifest { ptr: P, cap: 10 })
        );
        assert_eq!(
            decode_for(50, [P, 4096, 0, 0, 0, 0], none),
            Ok(Call::Bootlog { ptr: P, cap: 4096 })
        );
        // As SERVICES: the buffer is checked when the call runs, for the bytes it writes.
        assert_eq!(
            decode_for(50, [0, 0, 0, 0, 0, 0], none),
            Ok(Call::Bootlog { ptr: 0, cap: 0 })
        );
        // LASTCRASH: the same, and it needs nothing either.
        assert_eq!(
            decode_for(55, [P, 4096, 0, 0, 0, 0], none),
            Ok(Call::LastCrash { ptr: P, cap: 4096 })
        );
    }

    #[test]
    fn every_call_is_gated_by_what_the_table_says_it_needs() {
        let none = Allowed::default();
        for s in abi::Syscall::ALL {
            // Arguments that are bad for every call: a grant check comes first.
            let got = decode_for(s.number(), [0, u64::MAX, 1, 0, 0, 0], none);
            match s.needs() {
                Needs::Nothing => assert_ne!(got, Err(Error::Denied), "{s}"),
                _ => assert_eq!(got, Err(Error::Denied), "{s}"),
            }
            let only = match s.needs() {
                Needs::Nothing => none,
                Needs::Console => Allowed {
                    console: true,
                    ..none
                },
                Needs::Power => Allowed {
                    power: true,
                    ..none
                },
                Needs::UserData => Allowed {
                    user_data: true,
                    ..none
                },
                Needs::Update => Allowed {
                    update: true,
                    ..none
                },
                Needs::Framebuffer => Allowed {
                    framebuffer: true,
                    ..none
                },
                Needs::NetworkDevice => Allowed {
                    network: true,
                    ..none
                },
            };
            assert_ne!(
                decode_for(s.number(), [0, u64::MAX, 1, 0, 0, 0], only),
                Err(Error::Denied),
                "{s}"
            );
        }
    }

    #[test]
    fn network_calls_need_a_network_device_first() {
        // Everything but the network grant: NET_SEND is refused before its arguments.
        let without = Allowed {
            network: false,
            ..ALL
        };
        for n in 56..=58 {
            assert_eq!(
                decode_for(n, [P, 4, P, 60, 0, 0], without),
                Err(Error::Denied),
                "{n}"
            );
        }
        let net = Allowed {
            network: true,
            ..Allowed::default()
        };
        assert_eq!(
            decode_for(57, [P, 4, P + 64, 42, 0, 0], net),
            Ok(Call::NetSend {
                name: P,
                name_len: 4,
                ptr: P + 64,
                len: 42
            })
        );
        assert_eq!(
            decode_for(56, [P, 4, P + 64, 0, 0, 0], net),
            Ok(Call::NetInfo {
                name: P,
                name_len: 4,
                info: P + 64
            })
        );
        assert_eq!(
            decode_for(58, [P, 4, P + 64, 1514, 250, 0], net),
            Ok(Call::NetRecv {
                name: P,
                name_len: 4,
                ptr: P + 64,
                cap: 1514,
                timeout_ms: 250
            })
        );
        // Frame sizes, names and pointers.
        for len in [0, 13, 1515] {
            assert_eq!(
                decode_for(57, [P, 4, P, len, 0, 0], net),
                Err(Error::BadLength),
                "{len}"
            );
        }
        assert_eq!(
            decode_for(57, [P, 0, P, 60, 0, 0], net),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(57, [P, 33, P, 60, 0, 0], net),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(57, [P, 4, USER_END - 10, 60, 0, 0], net),
            Err(Error::BadPointer)
        );
        assert_eq!(
            decode_for(56, [P, 4, 0, 0, 0, 0], net),
            Err(Error::BadPointer)
        );
        assert_eq!(
            decode_for(58, [0, 4, P, 1514, 0, 0], net),
            Err(Error::BadPointer)
        );
    }

    #[test]
    fn slot_calls() {
        let none = Allowed::default();
        let update = Allowed {
            update: true,
            ..none
        };
        // Reading needs nothing; the buffer is checked when the call runs.
        assert_eq!(
            decode_for(51, [P, 512, 0, 0, 0, 0], none),
            Ok(Call::Slots { ptr: P, cap: 512 })
        );
        // Changing needs `update`, before any argument is looked at; `power` is not enough.
        let without = Allowed {
            update: false,
            ..ALL
        };
        assert_eq!(
            decode_for(52, [9, 9, 0, 0, 0, 0], without),
            Err(Error::Denied)
        );
        assert_eq!(
            decode_for(52, [1, 1, P, 512, 0, 0], update),
            Ok(Call::SlotSet {
                action: SlotAction::Try,
                slot: SlotId::B,
                ptr: P,
                cap: 512
            })
        );
        assert_eq!(
            decode_for(52, [0, 0, 0, 0, 0, 0], update),
            Ok(Call::SlotSet {
                action: SlotAction::SetActive,
                slot: SlotId::A,
                ptr: 0,
                cap: 0
            })
        );
        // An action or slot not defined: as an unknown log level.
        assert_eq!(
            decode_for(52, [3, 0, P, 1, 0, 0], update),
            Err(Error::Unsupported)
        );
        // SLOT_READ and SLOT_WRITE: `update`, whole blocks, length 0 of a write is a flush.
        assert_eq!(
            decode_for(59, [1, 2, P, 4096, 0, 0], without),
            Err(Error::Denied)
        );
        assert_eq!(
            decode_for(59, [1, 2, P, 4096, 0, 0], update),
            Ok(Call::SlotRead {
                slot: SlotId::B,
                block: 2,
                ptr: P,
                len: 4096
            })
        );
        assert_eq!(
            decode_for(59, [1, 2, P, 0, 0, 0], update),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(60, [7, P, 100, 0, 0, 0], update),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(60, [0, 0, 0, 0, 0, 0], update),
            Ok(Call::SlotWrite {
                block: 0,
                ptr: 0,
                len: 0
            })
        );
        assert_eq!(
            decode_for(52, [0, 2, P, 1, 0, 0], update),
            Err(Error::Unsupported)
        );
    }

    #[test]
    fn ipc_arguments() {
        let none = Allowed::default();
        let m = MAX_MESSAGE as u64;
        assert_eq!(
            decode_for(32, [P, 8, P + 64, 4, P + 4096, m], none),
            Ok(Call::IpcCall {
                name: P,
                name_len: 8,
                req: P + 64,
                req_len: 4,
                reply: P + 4096,
                reply_cap: m
            })
        );
        // Names: 1..=32 bytes.
        assert_eq!(
            decode_for(32, [P, 0, P, 4, P, m], none),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(32, [P, 33, P, 4, P, m], none),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(32, [0, 8, P, 4, P, m], none),
            Err(Error::BadPointer)
        );
        // Request bound and pointers.
        assert_eq!(
            decode_for(32, [P, 8, P, m + 1, P, m], none),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(32, [P, 8, USER_END - 2, 4, P, m], none),
            Err(Error::BadPointer)
        );
        assert_eq!(
            decode_for(32, [P, 8, P, 4, USER_END - 16, m], none),
            Err(Error::BadPointer)
        );
        assert_eq!(
            decode_for(33, [P, 8, P, m, P, 0], none),
            Ok(Call::IpcReceive {
                name: P,
                name_len: 8,
                buf: P,
                cap: m,
                received: P,
                wait: true
            })
        );
        assert_eq!(
            decode_for(35, [P, 8, P, m, P, 0], none),
            Ok(Call::IpcReceive {
                name: P,
                name_len: 8,
                buf: P,
                cap: m,
                received: P,
                wait: false
            })
        );
        assert_eq!(
            decode_for(33, [P, 8, P, m, 0, 0], none),
            Err(Error::BadPointer)
        );
        assert_eq!(
            decode_for(34, [7, P, 4, 0, 0, 0], none),
            Ok(Call::IpcReply {
                id: 7,
                ptr: P,
                len: 4
            })
        );
        assert_eq!(
            decode_for(34, [7, P, m + 1, 0, 0, 0], none),
            Err(Error::BadLength)
        );
        assert_eq!(
            decode_for(45, [P, 3, P, 100, 0, 0], none),
            Ok(Call::ComponentCaps {
                name: P,
                name_len: 3,
                ptr: P,
                cap: 100
            })
        );
        assert_eq!(
            decode_for(45, [P, 40, P, 100, 0, 0], none),
            Err(Error::BadLength)
        );
    }
}
