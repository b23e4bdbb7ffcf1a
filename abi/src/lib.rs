//! The PandaGen system-call ABI, shared by the kernel and the component runtime.
//!
//! # Calling convention
//!
//! A component (a ring-3 program) enters the kernel with the `syscall` instruction:
//!
//! | register | on entry                | on return                        |
//! |----------|-------------------------|----------------------------------|
//! | `rax`    | syscall number          | return value (negative = error)  |
//! | `rdi`    | argument 0              | preserved                        |
//! | `rsi`    | argument 1              | preserved                        |
//! | `rdx`    | argument 2              | preserved                        |
//! | `r10`    | argument 3              | preserved                        |
//! | `r8`     | argument 4              | preserved                        |
//! | `r9`     | argument 5              | preserved                        |
//! | `rcx`    | —                       | clobbered (user `rip`)           |
//! | `r11`    | —                       | clobbered (user `rflags`)        |
//!
//! (`r10` replaces `rcx` as argument 3 because `syscall` overwrites `rcx`.) All other
//! registers are preserved. The kernel does not touch the user stack. A return value is an
//! `i64`: non-negative values are results ([`decode_return`] gives `Ok`), negative values are
//! [`Error`] codes. Unused arguments should be 0.
//!
//! # Process entry
//!
//! The kernel starts a component at its ELF entry point in ring 3 with `rsp` at the top of a
//! kernel-provided stack (any alignment: the runtime aligns it) and no arguments; what a
//! component may do is asked with [`Syscall::Caps`]. Components are static, non-PIE ELF
//! executables linked in the lower half ([`layout`]).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::fmt;

/// Where components live in the address space.
pub mod layout {
    /// The address components are linked at (`components/link.ld`).
    pub const COMPONENT_BASE: u64 = 0x40_0000;
    /// First address of the kernel's (upper) half; every user mapping lies below it.
    pub const USER_END: u64 = 0x0000_8000_0000_0000;
    /// [`crate::Syscall::MemoryGrow`]'s first pages start at the first multiple of this above
    /// the component's highest ELF segment plus one unmapped page; later growths follow
    /// without a gap.
    pub const GROWTH_ALIGN: u64 = 2 * 1024 * 1024;
    /// Where [`crate::Syscall::FramebufferMap`] maps the framebuffer: above everything
    /// MEMORY_GROW and a component's segments may use (the kernel checks this), below the stack.
    pub const FRAMEBUFFER_BASE: u64 = 0x0000_7fff_0000_0000;
    /// The most bytes the framebuffer mapping may take (1 GiB); a larger framebuffer is
    /// [`crate::Error::Unsupported`].
    pub const FRAMEBUFFER_MAX: u64 = 1024 * 1024 * 1024;
}

/// The page size of every user mapping.
pub const PAGE_SIZE: u64 = 4096;
/// Most bytes one [`Syscall::MemoryGrow`] maps (64 MiB).
pub const MEMORY_GROW_MAX: u64 = 64 * 1024 * 1024;

/// The capability a system call needs. A caller without it gets [`Error::Denied`] before any
/// argument is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Needs {
    /// Any component may make the call.
    Nothing,
    /// `console`.
    Console,
    /// `power`.
    Power,
    /// `block_device` and `persistent_storage`.
    UserData,
    /// `update`.
    Update,
    /// `framebuffer`.
    Framebuffer,
    /// A `network_device` (any): the call names the device, which must be one of the
    /// caller's granted devices ([`Error::Denied`] otherwise).
    NetworkDevice,
}

/// One row of [`SYSCALLS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyscallInfo {
    /// The call (its number is `syscall.number()`).
    pub syscall: Syscall,
    /// The upper-case name used in documentation and kernel logs.
    pub name: &'static str,
    /// What the caller must hold.
    pub needs: Needs,
}

/// The system calls: number, name and the capability each needs. The [`Syscall`] enum,
/// [`SYSCALLS`], [`Syscall::ALL`], [`Syscall::name`], [`Syscall::needs`] and
/// `TryFrom<u64>` are all generated from this one list, so they cannot disagree; adding a call
/// starts here (see `docs/components.md`).
macro_rules! syscalls {
    (
        $(#[$enum_meta:meta])*
        pub enum $enum:ident {
            $(
                $(#[$meta:meta])*
                $variant:ident = $number:literal, $name:literal, $needs:ident;
            )*
        }
    ) => {
        $(#[$enum_meta])*
        #[repr(u64)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $enum {
            $(
                $(#[$meta])*
                $variant = $number,
            )*
        }

        /// Every defined system call, in number order: the ABI's one table.
        pub const SYSCALLS: [SyscallInfo; [$($number),*].len()] = [
            $(
                SyscallInfo {
                    syscall: $enum::$variant,
                    name: $name,
                    needs: Needs::$needs,
                },
            )*
        ];

        impl $enum {
            /// This call's row of [`SYSCALLS`].
            pub const fn info(self) -> SyscallInfo {
                match self {
                    $(
                        $enum::$variant => SyscallInfo {
                            syscall: $enum::$variant,
                            name: $name,
                            needs: Needs::$needs,
                        },
                    )*
                }
            }

            /// The call with number `number`, if one is defined.
            pub const fn from_number(number: u64) -> Option<$enum> {
                match number {
                    $($number => Some($enum::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

syscalls! {
    /// A system call number (`rax` on entry).
    ///
    /// | no. | name    | arguments                      | result                          |
    /// |-----|---------|--------------------------------|---------------------------------|
    /// | 0   | `EXIT`  | code (`i32`, sign-extended)    | does not return                 |
    /// | 1   | `LOG`   | ptr, len, [`LogLevel`]         | 0                               |
    /// | 2   | `READY` | —                              | 0                               |
    /// | 3   | `YIELD` | —                              | 0                               |
    /// | 4   | `CAPS`  | buf ptr, buf len               | full length of the list (bytes) |
    /// | 5   | `MEMORY_GROW` | bytes (pages)            | address of the new zeroed pages |
    /// | 6   | `CONFIG` | buf ptr, buf len               | full length of the entry's `config` line |
    /// | 16  | `USERDATA_INFO`  | —                     | size of the user-data region (blocks) |
    /// | 17  | `USERDATA_READ`  | block, buf ptr, len   | 0                               |
    /// | 18  | `USERDATA_WRITE` | block, buf ptr, len   | 0                               |
    /// | 19  | `USERDATA_PERSISTENT` | —                | 1: on a disk, 0: in RAM         |
    /// | 20  | `USERDATA_FLUSH` | —                     | 0 (every earlier write is durable) |
    /// | 32  | `IPC_CALL`       | name ptr, name len, req ptr, req len, reply ptr, reply cap | reply length |
    /// | 33  | `IPC_RECEIVE`    | name ptr, name len, buf ptr, buf cap, [`ipc::Received`] ptr | request length |
    /// | 34  | `IPC_REPLY`      | call id, reply ptr, reply len | 0                        |
    /// | 35  | `IPC_TRY_RECEIVE` | as `IPC_RECEIVE`; [`Error::Timeout`] at once when no call waits | request length |
    /// | 40  | `CONSOLE_WRITE`  | ptr, len (≤ [`CONSOLE_MAX_LEN`]) | bytes written         |
    /// | 41  | `CONSOLE_READ`   | buf ptr, buf cap      | bytes read (0: none waiting)    |
    /// | 42  | `UPTIME`         | —                     | µs since kernel entry           |
    /// | 43  | `SERVICES`       | buf ptr, buf cap      | full length of the state table  |
    /// | 44  | `MANIFEST`       | buf ptr, buf cap      | full length of the manifest JSON |
    /// | 45  | `COMPONENT_CAPS` | name ptr, name len, buf ptr, buf cap | full length of the list |
    /// | 46  | `BOOTCOUNT`      | —                     | this boot's number              |
    /// | 47  | `REBOOT`         | —                     | does not return (error if it cannot) |
    /// | 48  | `POWEROFF`       | —                     | does not return (error if it cannot) |
    /// | 49  | `CLOCK`          | —                     | µs since 1970-01-01 UTC         |
    /// | 50  | `BOOTLOG`        | buf ptr, buf cap      | full length of the boot journal |
    /// | 51  | `SLOTS`          | buf ptr, buf cap      | full length of the slot state text |
    /// | 52  | `SLOT_SET`       | [`SlotAction`], [`SlotId`], buf ptr, buf cap | full length of the new slot state text |
    /// | 53  | `FRAMEBUFFER_MAP`| [`screen::Framebuffer`] ptr | 0 (the screen is the caller's) |
    /// | 54  | `SCREEN_READ`    | buf ptr, buf cap      | bytes read (0: none waiting)    |
    /// | 55  | `LASTCRASH`      | buf ptr, buf cap      | full length of the crash record as text |
    /// | 56  | `NET_INFO`       | name ptr, name len, [`net::Info`] ptr | 0               |
    /// | 57  | `NET_SEND`       | name ptr, name len, frame ptr, frame len | frame length  |
    /// | 58  | `NET_RECV`       | name ptr, name len, buf ptr, buf cap, timeout ms | frame length |
    /// | 59  | `SLOT_READ`      | [`SlotId`], block, buf ptr, len | 0                      |
    /// | 60  | `SLOT_WRITE`     | block, buf ptr, len (0: flush) | 0                       |
    ///
    /// Numbers in [`RESERVED_BLOCK`] and [`RESERVED_IPC`] that are not listed are kept for
    /// block-device and IPC/system calls; until they are defined they fail with
    /// [`Error::InvalidSyscall`] like any other unknown number. See `docs/ipc.md` for the IPC
    /// model (endpoints, permissions, blocking, timeouts, provider death).
    pub enum Syscall {
        /// End the calling component with an exit code (`rdi`, an `i32`). Never returns.
        Exit = 0, "EXIT", Nothing;
        /// Write a UTF-8 message (`rdi` = pointer, `rsi` = length in bytes, at most
        /// [`LOG_MAX_LEN`]) at a [`LogLevel`] (`rdx`) to the system log.
        Log = 1, "LOG", Nothing;
        /// Tell the kernel (and whoever waits on this component) that it is ready to serve.
        Ready = 2, "READY", Nothing;
        /// Give the rest of the time slice to other components.
        Yield = 3, "YIELD", Nothing;
        /// Write the list of capabilities granted to the caller into a buffer (`rdi` = pointer,
        /// `rsi` = capacity in bytes). Returns the full length of the list; when that exceeds the
        /// capacity only the first `capacity` bytes were written, and the caller may retry with a
        /// larger buffer. The record is each granted capability string followed by `\n`, in the
        /// order the manifest declares them.
        Caps = 4, "CAPS", Nothing;
        /// Grow the caller's memory by `rdi` bytes (a non-zero multiple of [`PAGE_SIZE`], at most
        /// [`MEMORY_GROW_MAX`] per call): maps that many zeroed, writable, non-executable pages
        /// right after the previous growth (the first above its ELF segments, see
        /// [`layout::GROWTH_ALIGN`]) and returns their address. Every page counts against the entry's `memory_limit`: a call that would pass
        /// it ends the process (`killed: memory limit reached`). [`Error::NoMemory`] when the
        /// machine has no free memory left (nothing was mapped), [`Error::BadLength`] for a bad
        /// size.
        MemoryGrow = 5, "MEMORY_GROW", Nothing;
        /// The caller's manifest `config` line (`rdi` = buffer, `rsi` = capacity; the line is
        /// at most 128 bytes, the manifest's limit): settings whose meaning is the component's.
        /// Returns the full length (only the first `capacity` bytes are written, as
        /// [`Syscall::Caps`]); [`Error::NotFound`] when its entry has no `config`.
        Config = 6, "CONFIG", Nothing;
        /// The size of the components' part of the user-data region ([`userdata`]) in
        /// [`USERDATA_BLOCK_SIZE`]-byte blocks. Needs the `block_device` and `persistent_storage`
        /// capabilities ([`Error::Denied`] without them).
        UserdataInfo = 16, "USERDATA_INFO", UserData;
        /// Read `len` bytes (`rdx`, a non-zero multiple of [`USERDATA_BLOCK_SIZE`]) starting at
        /// block `rdi` of the components' part of the user-data region into the buffer at `rsi`, at most 64 KiB per
        /// call. Needs `block_device` and `persistent_storage`; blocks outside the region give
        /// [`Error::BadLength`], a bad buffer [`Error::BadPointer`].
        UserdataRead = 17, "USERDATA_READ", UserData;
        /// Write `len` bytes (`rdx`, a non-zero multiple of [`USERDATA_BLOCK_SIZE`]) from the
        /// buffer at `rsi` to user-data blocks starting at `rdi`. Same rules as
        /// [`Syscall::UserdataRead`]. The data may wait in the disk's write cache: it is durable
        /// once a later [`Syscall::UserdataFlush`] returns.
        UserdataWrite = 18, "USERDATA_WRITE", UserData;
        /// Whether the user-data region is on a disk (1) or in RAM (0: the system runs from the
        /// boot module and nothing written survives a reboot). Needs what USERDATA_INFO needs.
        UserdataPersistent = 19, "USERDATA_PERSISTENT", UserData;
        /// Make every earlier USERDATA_WRITE durable (the disk's cache flush). Needs what
        /// USERDATA_INFO needs.
        UserdataFlush = 20, "USERDATA_FLUSH", UserData;
        /// Call an endpoint and wait for the reply: `rdi`/`rsi` = endpoint name (a `provides` name
        /// of another entry), `rdx`/`r10` = request (at most [`ipc::MAX_MESSAGE`] bytes), `r8`/`r9`
        /// = reply buffer and its capacity. Returns the reply length. Errors:
        /// [`Error::NotFound`] (no running component provides the name), [`Error::Denied`] (the
        /// provider is not directly in the caller's `depends_on`), [`Error::Timeout`] (no reply
        /// within [`ipc::CALL_TIMEOUT_MS`]), [`Error::ProviderGone`] (the provider ended before
        /// replying), [`Error::BadLength`] (request too long, or the reply does not fit the
        /// buffer: give [`ipc::MAX_MESSAGE`]), [`Error::BadPointer`].
        IpcCall = 32, "IPC_CALL", Nothing;
        /// Wait for a call on one of the caller's own endpoints: `rdi`/`rsi` = endpoint name (one
        /// of the caller's `provides`, else [`Error::Denied`]), `rdx`/`r10` = request buffer and
        /// capacity (at least [`ipc::MAX_MESSAGE`] recommended; a longer request is
        /// [`Error::BadLength`] and stays queued), `r8` = pointer to an [`ipc::Received`] the
        /// kernel fills. Returns the request length. Blocks until a call arrives. A call received
        /// earlier and not yet replied to fails with [`Error::ProviderGone`] for its caller.
        IpcReceive = 33, "IPC_RECEIVE", Nothing;
        /// Answer a received call: `rdi` = its `call_id`, `rsi`/`rdx` = reply (at most
        /// [`ipc::MAX_MESSAGE`] bytes). Returns 0; [`Error::NotFound`] if the call is not pending
        /// for the caller (e.g. it timed out).
        IpcReply = 34, "IPC_REPLY", Nothing;
        /// [`Syscall::IpcReceive`] that never blocks: same arguments and results, but
        /// [`Error::Timeout`] at once when no call for the endpoint is queued. For a provider
        /// that also waits for something else (`services_network` waits for frames).
        IpcTryReceive = 35, "IPC_TRY_RECEIVE", Nothing;
        /// Write bytes (`rdi` = pointer, `rsi` = length, at most [`CONSOLE_MAX_LEN`]) to the
        /// console (COM1) as they are, without a log prefix. Needs the `console` capability.
        /// Returns the number of bytes written.
        ConsoleWrite = 40, "CONSOLE_WRITE", Console;
        /// Read the bytes waiting on the console (COM1) into a buffer (`rdi` = pointer, `rsi` =
        /// capacity). Non-blocking: returns 0 when nothing waits (poll with YIELD in between).
        /// Needs the `console` capability.
        ConsoleRead = 41, "CONSOLE_READ", Console;
        /// Microseconds since kernel entry.
        Uptime = 42, "UPTIME", Nothing;
        /// The supervisor's state table as it is now (`rdi` = buffer, `rsi` = capacity): a header
        /// line and one line per entry, joined with `\n`. Returns the full length; only the first
        /// `capacity` bytes are written (as [`Syscall::Caps`]).
        Services = 43, "SERVICES", Nothing;
        /// The image's manifest as JSON (`rdi` = buffer, `rsi` = capacity); length semantics as
        /// [`Syscall::Services`].
        Manifest = 44, "MANIFEST", Nothing;
        /// The capabilities granted to an entry (`rdi`/`rsi` = its name, `rdx`/`r10` = buffer and
        /// capacity), in the [`Syscall::Caps`] record format (empty when it was granted nothing);
        /// [`Error::NotFound`] for a name the manifest does not have. Length semantics as
        /// [`Syscall::Services`].
        ComponentCaps = 45, "COMPONENT_CAPS", Nothing;
        /// This boot's number (the boot counter kept in the user-data region);
        /// [`Error::NotFound`] when the counter could not be read.
        Bootcount = 46, "BOOTCOUNT", Nothing;
        /// Reset the machine. Needs `power`. Returns [`Error::Unsupported`] only if no reset
        /// method worked.
        Reboot = 47, "REBOOT", Power;
        /// Switch the machine off (ACPI S5). Needs `power`. Returns [`Error::Unsupported`] only
        /// if it did not work.
        Poweroff = 48, "POWEROFF", Power;
        /// The wall clock: microseconds since 1970-01-01 00:00 UTC (the boot loader's date at
        /// boot plus the uptime). [`Error::NotFound`] if the boot loader gave no date.
        Clock = 49, "CLOCK", Nothing;
        /// The boot journal (`rdi` = buffer, `rsi` = capacity): one line per boot, newest
        /// first (the kernel keeps the last 32), joined with `\n`, e.g.
        /// `#12 slot B: fell back from A (tries exhausted)`. Length semantics as
        /// [`Syscall::Services`]; [`Error::NotFound`] when the kernel has no journal (no
        /// user-data region).
        Bootlog = 50, "BOOTLOG", Nothing;
        /// The A/B system slots' state (`rdi` = buffer, `rsi` = capacity), one fact a line,
        /// joined with `\n`:
        /// `slot A: priority 15, 7 tries left, successful (booted now)`,
        /// `slot B: priority 14, 7 tries left, successful`, `one-shot trial: none` (or the
        /// slot), `metadata generation 5` (or that no copy is valid and the two-slot defaults
        /// are shown). Length semantics as [`Syscall::Services`]. [`Error::NotFound`] when the
        /// image has one system slot; [`Error::Unsupported`] when the slot metadata cannot be
        /// read (no user-data region, a disk error).
        Slots = 51, "SLOTS", Nothing;
        /// Changes which system slot boots: `rdi` = [`SlotAction`] (0 = set active, 1 = one-shot
        /// trial on the next boot), `rsi` = [`SlotId`] (0 = A, 1 = B), `rdx`/`r10` = buffer and
        /// capacity for the new state, written as [`Syscall::Slots`] writes it (length semantics
        /// as [`Syscall::Services`]; the first `capacity` bytes, at most 64 KiB, must be
        /// writable: [`Error::BadPointer`] is checked before anything changes). The new
        /// metadata is durable when the call returns. Needs
        /// `update` ([`Error::Denied`] without it); [`Error::Unsupported`] for an action or
        /// slot number not listed (as an unknown [`LogLevel`]) and when the metadata cannot be
        /// read or written; [`Error::NotFound`] when the image has one system slot.
        SlotSet = 52, "SLOT_SET", Update;
        /// Take the screen: maps the boot framebuffer at [`layout::FRAMEBUFFER_BASE`] into the
        /// caller (writable, not executable; it does not count against `memory_limit`) and
        /// fills the [`screen::Framebuffer`] at `rdi`. From then on the kernel draws nothing: what
        /// it would have drawn (its log lines, with their colours, and the console's output)
        /// waits for [`Syscall::ScreenRead`], starting with the screen as the kernel showed it.
        /// The kernel takes the screen back when the caller ends (and for a fatal report).
        /// Needs `framebuffer` ([`Error::Denied`]); [`Error::Busy`] when another process owns
        /// the screen (or the caller already does); [`Error::NotFound`] without a screen.
        FramebufferMap = 53, "FRAMEBUFFER_MAP", Framebuffer;
        /// Read what the screen's owner must draw (`rdi` = buffer, `rsi` = capacity): bytes for
        /// a terminal (text, line ends, CSI sequences). Non-blocking: 0 when nothing waits
        /// (poll with YIELD in between). Needs `framebuffer` and owning the screen
        /// ([`Error::Denied`] otherwise).
        ScreenRead = 54, "SCREEN_READ", Framebuffer;
        /// The crash record (`rdi` = buffer, `rsi` = capacity): how the last boot that ended
        /// in a kernel panic or kernel exception ended, and its last kernel log lines, as text
        /// (`bootslots::crash`'s form: the headline, when it was first shown, the summary's
        /// other lines, the log lines). Length semantics as [`Syscall::Services`];
        /// [`Error::NotFound`] when the user data holds no crash record (or there is no
        /// user-data region).
        LastCrash = 55, "LASTCRASH", Nothing;
        /// Describe a network device: `rdi`/`rsi` = its name (`eth0`; one of the caller's
        /// granted `network_device`s, else [`Error::Denied`]), `rdx` = pointer to the
        /// [`net::Info`] the kernel fills (MAC address, link, MTU). Returns 0.
        /// [`Error::Unsupported`] when the device is present but has no working driver (none
        /// for its model, or it failed to come up at boot). See `docs/network.md`.
        NetInfo = 56, "NET_INFO", NetworkDevice;
        /// Send one Ethernet frame (`rdx`/`r10` = frame, [`net::MIN_FRAME`]..=[`net::MAX_FRAME`]
        /// bytes: destination, source, EtherType, payload; no FCS, no padding needed) on the
        /// device named by `rdi`/`rsi`. Returns the frame length once the device has it.
        /// [`Error::Denied`] (device not granted), [`Error::BadLength`] (frame size),
        /// [`Error::Unsupported`] (no working driver), [`Error::NotFound`] (link down),
        /// [`Error::Timeout`] (the device took no frame in time), [`Error::BadPointer`].
        NetSend = 57, "NET_SEND", NetworkDevice;
        /// Receive the next Ethernet frame of the device named by `rdi`/`rsi` into the buffer
        /// `rdx`/`r10` (capacity; [`net::MAX_FRAME`] always fits), waiting up to `r8`
        /// milliseconds (0: do not wait) for one to arrive; the caller is blocked meanwhile,
        /// not spinning. Returns the frame's length. [`Error::Timeout`] when none arrived in
        /// time; [`Error::BadLength`] when the frame does not fit (it stays queued);
        /// [`Error::Denied`], [`Error::Unsupported`], [`Error::BadPointer`] as NET_SEND.
        NetRecv = 58, "NET_RECV", NetworkDevice;
        /// Read a system slot's room (`docs/slots.md`, "Updating the running system"): `rdi` =
        /// [`SlotId`], `rsi` = the first 4096-byte block counted from the slot's block 0, `rdx`
        /// = buffer, `r10` = length (a non-zero multiple of [`USERDATA_BLOCK_SIZE`], at most
        /// [`USERDATA_MAX_LEN`]). Returns 0. Needs `update` ([`Error::Denied`]);
        /// [`Error::BadLength`] for blocks outside the slot's room, [`Error::NotFound`] on a
        /// one-slot image, [`Error::Unsupported`] for a disk error.
        SlotRead = 59, "SLOT_READ", Update;
        /// Write the *inactive* system slot's room (the slot not booted now): `rdi` = the first
        /// block counted from that slot's block 0, `rsi` = buffer, `rdx` = length (as
        /// [`Syscall::SlotRead`]; 0 flushes the disk's write cache instead). Returns 0. Only
        /// slot B while slot A runs: [`Error::Refused`] when slot B runs (slot A's kernel and
        /// module are pinned on the ESP: `cargo xtask apply-delta` updates it);
        /// [`Error::BadLength`] for blocks outside the room (user data, the slot metadata and
        /// the running slot are never reached); [`Error::NotFound`] on a one-slot image.
        /// Needs `update`. The slot stays unbootable until a [`SlotAction::Try`] that verifies it.
        SlotWrite = 60, "SLOT_WRITE", Update;
    }
}

/// Syscall numbers reserved for block-device calls (read, write, ...).
pub const RESERVED_BLOCK: core::ops::Range<u64> = 16..32;
/// Syscall numbers reserved for inter-component communication and system services (32–35
/// IPC, 40–55 console, system and screen calls, 56–58 network frames, 59–60 slot updates).
pub const RESERVED_IPC: core::ops::Range<u64> = 32..64;
const _: () = assert!(RESERVED_BLOCK.end <= RESERVED_IPC.start && RESERVED_BLOCK.start > 4);

/// Longest [`Syscall::ConsoleWrite`] in bytes; longer ones fail with [`Error::BadLength`].
pub const CONSOLE_MAX_LEN: usize = 4096;

/// Inter-component calls ([`Syscall::IpcCall`], [`Syscall::IpcReceive`],
/// [`Syscall::IpcReply`]); see `docs/ipc.md`.
pub mod ipc {
    /// Longest request or reply, in bytes, each way; longer ones are [`crate::Error::BadLength`].
    pub const MAX_MESSAGE: usize = 64 * 1024;
    /// How long a call waits for its reply (queued or received) before it fails with
    /// [`crate::Error::Timeout`], in milliseconds.
    pub const CALL_TIMEOUT_MS: u64 = 5000;
    /// Longest endpoint or component name, in bytes (the manifest's limit).
    pub const MAX_NAME: usize = 32;

    /// What [`crate::Syscall::IpcReceive`] tells the provider about the call it received.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Received {
        /// The id to pass to [`crate::Syscall::IpcReply`].
        pub call_id: u64,
        /// How many bytes of `caller` are the caller's name.
        pub caller_len: u64,
        /// The calling component's (manifest entry) name, UTF-8, `caller_len` bytes.
        pub caller: [u8; MAX_NAME],
        /// The request's length in bytes.
        pub len: u64,
    }

    impl Received {
        /// The size of the structure in memory (`repr(C)`, no padding), in bytes.
        pub const SIZE: usize = 8 + 8 + MAX_NAME + 8;

        /// An empty record.
        pub const fn empty() -> Received {
            Received {
                call_id: 0,
                caller_len: 0,
                caller: [0; MAX_NAME],
                len: 0,
            }
        }

        /// The caller's name, if it is valid UTF-8 of a valid length.
        pub fn caller(&self) -> Option<&str> {
            let n = usize::try_from(self.caller_len).ok()?;
            core::str::from_utf8(self.caller.get(..n)?).ok()
        }

        /// The record as the kernel writes it to memory (native = little-endian layout).
        pub fn to_bytes(&self) -> [u8; Self::SIZE] {
            let mut out = [0u8; Self::SIZE];
            out[0..8].copy_from_slice(&self.call_id.to_le_bytes());
            out[8..16].copy_from_slice(&self.caller_len.to_le_bytes());
            out[16..16 + MAX_NAME].copy_from_slice(&self.caller);
            out[16 + MAX_NAME..].copy_from_slice(&self.len.to_le_bytes());
            out
        }

        /// Decodes [`Received::to_bytes`].
        pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Received {
            let word = |at: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&bytes[at..at + 8]);
                u64::from_le_bytes(w)
            };
            let mut caller = [0u8; MAX_NAME];
            caller.copy_from_slice(&bytes[16..16 + MAX_NAME]);
            Received {
                call_id: word(0),
                caller_len: word(8),
                caller,
                len: word(16 + MAX_NAME),
            }
        }
    }

    const _: () = assert!(core::mem::size_of::<Received>() == Received::SIZE);
}

/// The screen's handover to its owner ([`Syscall::FramebufferMap`], [`Syscall::ScreenRead`]).
pub mod screen {
    /// The framebuffer as [`crate::Syscall::FramebufferMap`] describes it.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Framebuffer {
        /// Where it is mapped (always [`crate::layout::FRAMEBUFFER_BASE`]).
        pub addr: u64,
        /// Width in pixels.
        pub width: u64,
        /// Height in pixels.
        pub height: u64,
        /// Bytes from one row to the next.
        pub pitch: u64,
        /// Bits per pixel (24 or 32).
        pub bpp: u64,
        /// Size and shift (bit position) of the red, green and blue channels: byte 0 is the
        /// red size, byte 1 its shift, then green's, then blue's.
        pub channels: u64,
    }

    impl Framebuffer {
        /// The size of the record in memory, in bytes (six little-endian `u64`s).
        pub const SIZE: usize = 6 * 8;

        /// The channels' (size, shift) pairs, red, green, blue.
        pub const fn rgb(&self) -> [(u8, u8); 3] {
            let b = self.channels.to_le_bytes();
            [(b[0], b[1]), (b[2], b[3]), (b[4], b[5])]
        }

        /// `channels` for the given (size, shift) pairs, red, green, blue.
        pub const fn pack_channels(rgb: [(u8, u8); 3]) -> u64 {
            u64::from_le_bytes([
                rgb[0].0, rgb[0].1, rgb[1].0, rgb[1].1, rgb[2].0, rgb[2].1, 0, 0,
            ])
        }

        /// The record as the kernel writes it.
        pub fn to_bytes(&self) -> [u8; Self::SIZE] {
            let mut out = [0u8; Self::SIZE];
            let words = [
                self.addr,
                self.width,
                self.height,
                self.pitch,
                self.bpp,
                self.channels,
            ];
            for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
                chunk.copy_from_slice(&w.to_le_bytes());
            }
            out
        }

        /// Decodes [`Framebuffer::to_bytes`].
        pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Framebuffer {
            let mut w = [0u64; 6];
            for (word, chunk) in w.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                *word = u64::from_le_bytes(b);
            }
            let [addr, width, height, pitch, bpp, channels] = w;
            Framebuffer {
                addr,
                width,
                height,
                pitch,
                bpp,
                channels,
            }
        }
    }
}

/// Network frames ([`Syscall::NetInfo`], [`Syscall::NetSend`], [`Syscall::NetRecv`]); see
/// `docs/network.md`.
pub mod net {
    /// The largest frame NET_SEND takes and NET_RECV returns: a 14-byte Ethernet header and a
    /// 1500-byte payload, without the FCS.
    pub const MAX_FRAME: usize = 1514;
    /// The smallest frame NET_SEND takes: an Ethernet header (the device pads to 60 bytes).
    pub const MIN_FRAME: usize = 14;
    /// Longest device name, in bytes.
    pub const MAX_NAME: usize = 32;

    /// What [`crate::Syscall::NetInfo`] says about a device.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Info {
        /// The station (MAC) address.
        pub mac: [u8; 6],
        /// Whether the link is up now.
        pub link_up: bool,
        /// The largest payload of a frame (1500): a frame is at most `mtu + 14` bytes.
        pub mtu: u16,
    }

    impl Info {
        /// The size of the record in memory, in bytes: the MAC, the link byte (0 or 1), a
        /// zero byte, the MTU (little-endian `u16`), six zero bytes.
        pub const SIZE: usize = 16;

        /// The record as the kernel writes it.
        pub fn to_bytes(&self) -> [u8; Self::SIZE] {
            let mut out = [0u8; Self::SIZE];
            out[..6].copy_from_slice(&self.mac);
            out[6] = u8::from(self.link_up);
            out[8..10].copy_from_slice(&self.mtu.to_le_bytes());
            out
        }

        /// Decodes [`Info::to_bytes`].
        pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Info {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&bytes[..6]);
            Info {
                mac,
                link_up: bytes[6] != 0,
                mtu: u16::from_le_bytes([bytes[8], bytes[9]]),
            }
        }
    }
}

/// Block size of the user-data region: `USERDATA_*` lengths are multiples of it.
pub const USERDATA_BLOCK_SIZE: usize = 4096;
/// The most one USERDATA_READ or USERDATA_WRITE moves, in bytes (16 blocks).
pub const USERDATA_MAX_LEN: usize = 16 * USERDATA_BLOCK_SIZE;

/// The user-data region's layout, in region-relative [`USERDATA_BLOCK_SIZE`]-byte blocks: the
/// kernel's records first, then what components see. The `USERDATA_*` calls address the
/// components' part only — their block 0 is region block [`userdata::KERNEL_BLOCKS`] — so no
/// component, whatever it holds, can reach the kernel's blocks.
pub mod userdata {
    /// The kernel's boot counter.
    pub const BOOT_COUNTER_BLOCK: u64 = 0;
    /// The `test=persist` record, then its pattern blocks.
    pub const PERSIST_FIRST_BLOCK: u64 = 1;
    /// Blocks of the `test=persist` record and pattern.
    pub const PERSIST_BLOCKS: u64 = 16;
    /// Verified boot's security record (rollback minimum, key-ring generation, revocations):
    /// two copies, the newer valid one wins.
    pub const SECURITY_BLOCKS: [u64; 2] = [17, 18];
    /// The A/B slot metadata: two copies.
    pub const SLOT_META_BLOCKS: [u64; 2] = [19, 20];
    /// The boot journal: two copies.
    pub const JOURNAL_BLOCKS: [u64; 2] = [21, 22];
    /// The crash record (`bootslots::crash`): its first block and block count.
    pub const CRASH_FIRST_BLOCK: u64 = 23;
    /// Blocks of the crash record.
    pub const CRASH_BLOCKS: u64 = 3;
    /// Blocks `0..KERNEL_BLOCKS` are the kernel's (the rest of them spare).
    pub const KERNEL_BLOCKS: u64 = 32;
    const _: () = assert!(BOOT_COUNTER_BLOCK < PERSIST_FIRST_BLOCK);
    const _: () = assert!(PERSIST_FIRST_BLOCK + PERSIST_BLOCKS <= SECURITY_BLOCKS[0]);
    const _: () = assert!(SECURITY_BLOCKS[1] < SLOT_META_BLOCKS[0]);
    const _: () = assert!(SLOT_META_BLOCKS[1] < JOURNAL_BLOCKS[0]);
    const _: () = assert!(JOURNAL_BLOCKS[1] < CRASH_FIRST_BLOCK);
    const _: () = assert!(CRASH_FIRST_BLOCK + CRASH_BLOCKS <= KERNEL_BLOCKS);
}

/// Longest message [`Syscall::Log`] accepts, in bytes; longer ones fail with
/// [`Error::BadLength`].
pub const LOG_MAX_LEN: usize = 1024;

/// Exit code the runtime uses when a component panics.
pub const EXIT_PANIC: i32 = 101;

impl Syscall {
    /// Every defined syscall, in number order (the calls of [`SYSCALLS`]).
    pub const ALL: [Syscall; SYSCALLS.len()] = {
        let mut all = [Syscall::Exit; SYSCALLS.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = SYSCALLS[i].syscall;
            i += 1;
        }
        all
    };

    /// The number passed in `rax`.
    pub const fn number(self) -> u64 {
        self as u64
    }

    /// The upper-case name used in documentation and kernel logs.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The capability the caller must hold.
    pub const fn needs(self) -> Needs {
        self.info().needs
    }
}

// The table is in strictly increasing number order, and each number decodes to its own row.
const _: () = {
    let mut i = 0;
    while i < SYSCALLS.len() {
        let number = SYSCALLS[i].syscall.number();
        assert!(i == 0 || SYSCALLS[i - 1].syscall.number() < number);
        assert!(matches!(Syscall::from_number(number), Some(s) if s.number() == number));
        i += 1;
    }
};

impl TryFrom<u64> for Syscall {
    type Error = Error;

    /// Decodes `rax`; unknown and reserved numbers give [`Error::InvalidSyscall`].
    fn try_from(number: u64) -> Result<Self, Error> {
        Syscall::from_number(number).ok_or(Error::InvalidSyscall)
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A syscall failure. The codes are stable: they are part of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The syscall number is not defined (or only reserved).
    InvalidSyscall,
    /// A pointer argument is null, misaligned, or not mapped for the caller with the
    /// access the call needs.
    BadPointer,
    /// A length argument is out of range (e.g. a log message longer than [`LOG_MAX_LEN`], or
    /// not UTF-8).
    BadLength,
    /// The caller lacks the capability for this call.
    Denied,
    /// The named object does not exist.
    NotFound,
    /// The call waited longer than allowed.
    Timeout,
    /// The call or an argument value is recognised but not supported (yet).
    Unsupported,
    /// The provider of an IPC endpoint exited or faulted before it replied.
    ProviderGone,
    /// The machine has no free memory for the request.
    NoMemory,
    /// What the call asks for is held by another process (the screen, for
    /// [`Syscall::FramebufferMap`]).
    Busy,
    /// The kernel checked what the call asks for and refused it (a slot that does not verify
    /// for [`SlotAction::Try`], a write into slot A while slot B runs); the kernel log names why.
    Refused,
}

impl Error {
    /// Every error, in code order (-1, -2, ...).
    pub const ALL: [Error; 11] = [
        Error::InvalidSyscall,
        Error::BadPointer,
        Error::BadLength,
        Error::Denied,
        Error::NotFound,
        Error::Timeout,
        Error::Unsupported,
        Error::ProviderGone,
        Error::NoMemory,
        Error::Busy,
        Error::Refused,
    ];

    /// The negative code returned in `rax`.
    pub const fn to_code(self) -> i64 {
        match self {
            Error::InvalidSyscall => -1,
            Error::BadPointer => -2,
            Error::BadLength => -3,
            Error::Denied => -4,
            Error::NotFound => -5,
            Error::Timeout => -6,
            Error::Unsupported => -7,
            Error::ProviderGone => -8,
            Error::NoMemory => -9,
            Error::Busy => -10,
            Error::Refused => -11,
        }
    }

    /// The error with this code, if it is one.
    pub const fn from_code(code: i64) -> Option<Error> {
        Some(match code {
            -1 => Error::InvalidSyscall,
            -2 => Error::BadPointer,
            -3 => Error::BadLength,
            -4 => Error::Denied,
            -5 => Error::NotFound,
            -6 => Error::Timeout,
            -7 => Error::Unsupported,
            -8 => Error::ProviderGone,
            -9 => Error::NoMemory,
            -10 => Error::Busy,
            -11 => Error::Refused,
            _ => return None,
        })
    }

    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::InvalidSyscall => "invalid syscall",
            Error::BadPointer => "bad pointer",
            Error::BadLength => "bad length",
            Error::Denied => "denied",
            Error::NotFound => "not found",
            Error::Timeout => "timed out",
            Error::Unsupported => "unsupported",
            Error::ProviderGone => "the provider exited or faulted",
            Error::NoMemory => "no memory left",
            Error::Busy => "in use by another process",
            Error::Refused => "refused",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `rax` value the kernel returns for a syscall result.
///
/// Values above `i64::MAX` cannot be represented; the kernel never produces them.
pub const fn encode_return(result: Result<u64, Error>) -> i64 {
    match result {
        Ok(value) => value as i64,
        Err(e) => e.to_code(),
    }
}

/// Decodes the `rax` value a syscall returned. A negative value that is not a known code
/// (a newer kernel) decodes as [`Error::Unsupported`].
pub const fn decode_return(raw: i64) -> Result<u64, Error> {
    if raw >= 0 {
        Ok(raw as u64)
    } else {
        match Error::from_code(raw) {
            Some(e) => Err(e),
            None => Err(Error::Unsupported),
        }
    }
}

/// Severity of a [`Syscall::Log`] message (`rdx`).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Something failed.
    Error = 0,
    /// Something looks wrong.
    Warn = 1,
    /// Normal operation.
    Info = 2,
    /// Detail for developers.
    Debug = 3,
    /// Very fine detail.
    Trace = 4,
}

impl LogLevel {
    /// Every level, most severe first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The value passed in `rdx`.
    pub const fn to_raw(self) -> u64 {
        self as u64
    }

    /// The upper-case name, as in log output.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
            LogLevel::Trace => "TRACE",
        }
    }
}

impl TryFrom<u64> for LogLevel {
    type Error = Error;

    /// Decodes `rdx` of a LOG call; an unknown level is [`Error::Unsupported`].
    fn try_from(raw: u64) -> Result<Self, Error> {
        Ok(match raw {
            0 => LogLevel::Error,
            1 => LogLevel::Warn,
            2 => LogLevel::Info,
            3 => LogLevel::Debug,
            4 => LogLevel::Trace,
            _ => return Err(Error::Unsupported),
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Syscall::SlotSet`] does (`rdi`).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotAction {
    /// Boot this slot from now on (priority 15; the other slot keeps a lower one).
    SetActive = 0,
    /// Boot this slot once, on the next boot; the boot after goes back to the normal choice.
    /// For the slot not booted now the kernel first verifies its image as at boot (sums and
    /// signatures): [`Error::Refused`] when it does not verify.
    Try = 1,
    /// Take this slot out of service (priority 0, no tries, not successful; a trial of it is
    /// cancelled) before its room is overwritten; refused ([`Error::Refused`]) for the booted slot.
    MarkUnbootable = 2,
}

impl SlotAction {
    /// The value passed in `rdi`.
    pub const fn to_raw(self) -> u64 {
        self as u64
    }
}

impl TryFrom<u64> for SlotAction {
    type Error = Error;

    /// Decodes `rdi` of a SLOT_SET call; another value is [`Error::Unsupported`].
    fn try_from(raw: u64) -> Result<Self, Error> {
        match raw {
            0 => Ok(SlotAction::SetActive),
            1 => Ok(SlotAction::Try),
            2 => Ok(SlotAction::MarkUnbootable),
            _ => Err(Error::Unsupported),
        }
    }
}

/// A system slot as [`Syscall::SlotSet`] names it (`rsi`).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotId {
    /// Slot A.
    A = 0,
    /// Slot B.
    B = 1,
}

impl SlotId {
    /// The value passed in `rsi`.
    pub const fn to_raw(self) -> u64 {
        self as u64
    }

    /// `A` or `B`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SlotId::A => "A",
            SlotId::B => "B",
        }
    }
}

impl TryFrom<u64> for SlotId {
    type Error = Error;

    /// Decodes `rsi` of a SLOT_SET call; another value is [`Error::Unsupported`].
    fn try_from(raw: u64) -> Result<Self, Error> {
        match raw {
            0 => Ok(SlotId::A),
            1 => Ok(SlotId::B),
            _ => Err(Error::Unsupported),
        }
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_are_stable() {
        assert_eq!(Syscall::Exit.number(), 0);
        assert_eq!(Syscall::Log.number(), 1);
        assert_eq!(Syscall::Ready.number(), 2);
        assert_eq!(Syscall::Yield.number(), 3);
        assert_eq!(Syscall::Caps.number(), 4);
        assert_eq!(Syscall::MemoryGrow.number(), 5);
        assert_eq!(Syscall::Config.number(), 6);
        assert_eq!(Syscall::Config.name(), "CONFIG");
        assert_eq!(Syscall::UserdataInfo.number(), 16);
        assert_eq!(Syscall::UserdataRead.number(), 17);
        assert_eq!(Syscall::UserdataWrite.number(), 18);
        let more = [
            (Syscall::IpcCall, 32, "IPC_CALL"),
            (Syscall::IpcReceive, 33, "IPC_RECEIVE"),
            (Syscall::IpcReply, 34, "IPC_REPLY"),
            (Syscall::IpcTryReceive, 35, "IPC_TRY_RECEIVE"),
            (Syscall::ConsoleWrite, 40, "CONSOLE_WRITE"),
            (Syscall::ConsoleRead, 41, "CONSOLE_READ"),
            (Syscall::Uptime, 42, "UPTIME"),
            (Syscall::Services, 43, "SERVICES"),
            (Syscall::Manifest, 44, "MANIFEST"),
            (Syscall::ComponentCaps, 45, "COMPONENT_CAPS"),
            (Syscall::Bootcount, 46, "BOOTCOUNT"),
            (Syscall::Reboot, 47, "REBOOT"),
            (Syscall::Poweroff, 48, "POWEROFF"),
            (Syscall::UserdataFlush, 20, "USERDATA_FLUSH"),
            (Syscall::Clock, 49, "CLOCK"),
            (Syscall::Bootlog, 50, "BOOTLOG"),
            (Syscall::Slots, 51, "SLOTS"),
            (Syscall::SlotSet, 52, "SLOT_SET"),
            (Syscall::FramebufferMap, 53, "FRAMEBUFFER_MAP"),
            (Syscall::ScreenRead, 54, "SCREEN_READ"),
            (Syscall::LastCrash, 55, "LASTCRASH"),
            (Syscall::NetInfo, 56, "NET_INFO"),
            (Syscall::NetSend, 57, "NET_SEND"),
            (Syscall::NetRecv, 58, "NET_RECV"),
            (Syscall::SlotRead, 59, "SLOT_READ"),
            (Syscall::SlotWrite, 60, "SLOT_WRITE"),
        ];
        for (s, n, name) in more {
            assert_eq!(s.number(), n);
            assert_eq!(s.name(), name);
        }
    }

    #[test]
    fn network_calls_need_a_network_device_and_info_round_trips() {
        for s in [Syscall::NetInfo, Syscall::NetSend, Syscall::NetRecv] {
            assert_eq!(s.needs(), Needs::NetworkDevice);
            assert!(RESERVED_IPC.contains(&s.number()));
        }
        let info = net::Info {
            mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            link_up: true,
            mtu: 1500,
        };
        let bytes = info.to_bytes();
        assert_eq!(
            &bytes[..10],
            &[0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 0xdc, 0x05]
        );
        assert_eq!(net::Info::from_bytes(&bytes), info);
        assert_eq!(net::MAX_FRAME - 14, 1500);
    }

    #[test]
    fn the_table_and_the_enum_agree() {
        for (row, s) in SYSCALLS.iter().zip(Syscall::ALL) {
            assert_eq!(row.syscall, s);
            assert_eq!(s.info(), *row);
            assert_eq!(s.name(), row.name);
            assert_eq!(s.needs(), row.needs);
            assert_eq!(Syscall::try_from(s.number()), Ok(s));
        }
        let names: std::collections::HashSet<&str> = SYSCALLS.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), SYSCALLS.len(), "names are unique");
        for row in SYSCALLS {
            assert!(row
                .name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_'));
        }
    }

    #[test]
    fn what_each_call_needs() {
        let needing = |needs: Needs| -> Vec<Syscall> {
            Syscall::ALL
                .into_iter()
                .filter(|s| s.needs() == needs)
                .collect()
        };
        assert_eq!(
            needing(Needs::UserData),
            [
                Syscall::UserdataInfo,
                Syscall::UserdataRead,
                Syscall::UserdataWrite,
                Syscall::UserdataPersistent,
                Syscall::UserdataFlush
            ]
        );
        assert_eq!(
            needing(Needs::Console),
            [Syscall::ConsoleWrite, Syscall::ConsoleRead]
        );
        assert_eq!(needing(Needs::Power), [Syscall::Reboot, Syscall::Poweroff]);
        // Reading the slot state needs nothing; changing it needs `update`, not `power`.
        assert_eq!(
            needing(Needs::Update),
            [Syscall::SlotSet, Syscall::SlotRead, Syscall::SlotWrite]
        );
        assert_eq!(Syscall::Slots.needs(), Needs::Nothing);
        assert_eq!(
            needing(Needs::Framebuffer),
            [Syscall::FramebufferMap, Syscall::ScreenRead]
        );
    }

    #[test]
    fn framebuffer_record_round_trips() {
        let rgb = [(8, 16), (8, 8), (8, 0)];
        let fb = screen::Framebuffer {
            addr: layout::FRAMEBUFFER_BASE,
            width: 1280,
            height: 800,
            pitch: 5120,
            bpp: 32,
            channels: screen::Framebuffer::pack_channels(rgb),
        };
        assert_eq!(screen::Framebuffer::from_bytes(&fb.to_bytes()), fb);
        assert_eq!(fb.rgb(), rgb);
        assert_eq!(Error::from_code(-10), Some(Error::Busy));
    }

    #[test]
    fn slot_arguments_round_trip() {
        for a in [
            SlotAction::SetActive,
            SlotAction::Try,
            SlotAction::MarkUnbootable,
        ] {
            assert_eq!(SlotAction::try_from(a.to_raw()), Ok(a));
        }
        for s in [SlotId::A, SlotId::B] {
            assert_eq!(SlotId::try_from(s.to_raw()), Ok(s));
        }
        assert_eq!(SlotAction::SetActive.to_raw(), 0);
        assert_eq!(SlotAction::Try.to_raw(), 1);
        assert_eq!((SlotId::A.to_raw(), SlotId::B.to_raw()), (0, 1));
        assert_eq!(SlotAction::try_from(3), Err(Error::Unsupported));
        assert_eq!(SlotId::try_from(2), Err(Error::Unsupported));
        assert_eq!(SlotId::B.to_string(), "B");
    }

    #[test]
    fn all_is_in_number_order_and_complete() {
        for w in Syscall::ALL.windows(2) {
            assert!(w[0].number() < w[1].number());
        }
        let defined = (0..256u64)
            .filter(|n| Syscall::try_from(*n).is_ok())
            .count();
        assert_eq!(defined, Syscall::ALL.len());
    }

    #[test]
    fn received_layout() {
        let mut r = ipc::Received::empty();
        r.call_id = 7;
        r.caller_len = 4;
        r.caller[..4].copy_from_slice(b"echo");
        r.len = 4096;
        let bytes = r.to_bytes();
        assert_eq!(bytes.len(), ipc::Received::SIZE);
        assert_eq!(ipc::Received::from_bytes(&bytes), r);
        assert_eq!(r.caller(), Some("echo"));
        assert_eq!(&bytes[16..20], b"echo");
        r.caller_len = 33;
        assert_eq!(r.caller(), None);
        assert_eq!(ipc::MAX_MESSAGE, 65536);
        assert_eq!(ipc::CALL_TIMEOUT_MS, 5000);
    }

    #[test]
    fn syscall_round_trip() {
        for s in Syscall::ALL {
            assert_eq!(Syscall::try_from(s.number()), Ok(s));
        }
        for n in 0..256u64 {
            if let Ok(s) = Syscall::try_from(n) {
                assert_eq!(s.number(), n);
            }
        }
        assert_eq!(Syscall::try_from(7), Err(Error::InvalidSyscall));
        assert_eq!(Syscall::try_from(u64::MAX), Err(Error::InvalidSyscall));
    }

    #[test]
    fn reserved_ranges_are_free_and_disjoint() {
        // Block-device calls defined so far; the rest of the range is still free.
        let block_calls = [
            Syscall::UserdataInfo,
            Syscall::UserdataRead,
            Syscall::UserdataWrite,
            Syscall::UserdataPersistent,
            Syscall::UserdataFlush,
        ];
        for n in RESERVED_BLOCK {
            match Syscall::try_from(n) {
                Ok(s) => assert!(block_calls.contains(&s), "{s} at {n}"),
                Err(e) => assert_eq!(e, Error::InvalidSyscall),
            }
        }
        for s in Syscall::ALL {
            assert_eq!(
                RESERVED_BLOCK.contains(&s.number()),
                block_calls.contains(&s)
            );
            // Everything above the first seven (the process's own calls) is a block-device or
            // IPC/system call.
            if s.number() > 6 {
                assert!(RESERVED_BLOCK.contains(&s.number()) || RESERVED_IPC.contains(&s.number()));
            }
        }
        assert_eq!(Syscall::try_from(36), Err(Error::InvalidSyscall));
        assert_eq!(Syscall::try_from(61), Err(Error::InvalidSyscall));
    }

    #[test]
    fn error_codes_are_stable() {
        let expected = [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11];
        for (e, code) in Error::ALL.iter().zip(expected) {
            assert_eq!(e.to_code(), code, "{e:?}");
        }
    }

    #[test]
    fn error_round_trip() {
        for e in Error::ALL {
            assert!(e.to_code() < 0);
            assert_eq!(Error::from_code(e.to_code()), Some(e));
            assert_eq!(decode_return(encode_return(Err(e))), Err(e));
        }
        for code in [0, 1, -12, i64::MIN, i64::MAX] {
            assert_eq!(Error::from_code(code), None);
        }
    }

    #[test]
    fn return_values_round_trip() {
        for v in [0u64, 1, 4096, i64::MAX as u64] {
            assert_eq!(encode_return(Ok(v)), v as i64);
            assert_eq!(decode_return(encode_return(Ok(v))), Ok(v));
        }
        assert_eq!(decode_return(-1000), Err(Error::Unsupported));
        assert_eq!(decode_return(i64::MIN), Err(Error::Unsupported));
    }

    #[test]
    fn log_level_round_trip() {
        for (i, l) in LogLevel::ALL.iter().enumerate() {
            assert_eq!(l.to_raw(), i as u64);
            assert_eq!(LogLevel::try_from(l.to_raw()), Ok(*l));
        }
        assert_eq!(LogLevel::try_from(5), Err(Error::Unsupported));
        assert!(LogLevel::Error < LogLevel::Trace);
    }

    #[test]
    fn display() {
        assert_eq!(Error::BadPointer.to_string(), "bad pointer");
        assert_eq!(Error::Timeout.to_string(), "timed out");
        assert_eq!(
            Error::ProviderGone.to_string(),
            "the provider exited or faulted"
        );
        assert_eq!(Syscall::Ready.to_string(), "READY");
        assert_eq!(LogLevel::Warn.to_string(), "WARN");
    }
}
