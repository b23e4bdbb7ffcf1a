//! Limine request IDs and finding the base revision tag and requests in a loaded executable image.

use alloc::vec::Vec;
use core::fmt;

/// The first two words of every request ID.
pub const COMMON_MAGIC: [u64; 2] = [0xc7b1dd30df4c8b88, 0x0a82e883a194f07b];
/// Marks the start of the requests section (optional; without it the whole image is scanned).
pub const START_MARKER: [u64; 4] = [
    0xf6b8f4b39de7d1ae,
    0xfab91a6940fcb9cf,
    0x785c6ed015d3e316,
    0x181e920a7852b9d9,
];
/// Marks the end of the requests section.
pub const END_MARKER: [u64; 2] = [0xadc0e0531bb10d03, 0x9572709f31764c62];
/// The first two words of the base revision tag; the third is the requested revision.
pub const BASE_REVISION_MAGIC: [u64; 2] = [0xf9562b2d5c95a6c8, 0x6a7b384944536bdc];

/// Size of a request header as the stub sees it: 4 id words, revision, response pointer.
const REQUEST_WORDS: usize = 6;

/// The requests of the Limine protocol (IDs as in the `limine` crate 0.5.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Bootloader name and version.
    BootloaderInfo,
    /// Firmware type (BIOS, UEFI32, UEFI64, SBI).
    FirmwareType,
    /// Minimum stack size for the entry point.
    StackSize,
    /// Higher-half direct map offset.
    Hhdm,
    /// Framebuffers.
    Framebuffer,
    /// Paging mode (4- or 5-level).
    PagingMode,
    /// Application processors (SMP).
    Mp,
    /// Memory map.
    MemoryMap,
    /// Alternative entry point.
    EntryPoint,
    /// The executable file itself.
    ExecutableFile,
    /// Modules.
    Module,
    /// ACPI RSDP address.
    Rsdp,
    /// SMBIOS entry points.
    Smbios,
    /// EFI system table address.
    EfiSystemTable,
    /// EFI memory map.
    EfiMemoryMap,
    /// Boot time as a UNIX timestamp.
    DateAtBoot,
    /// Physical and virtual base of the executable.
    ExecutableAddress,
    /// The executable's command line.
    ExecutableCmdline,
    /// Device tree blob.
    DeviceTreeBlob,
    /// RISC-V BSP hart ID.
    BspHartid,
    /// An ID this crate does not know (the last two words of the 4-word id).
    Unknown([u64; 2]),
}

/// Every known kind with its ID (the two words after [`COMMON_MAGIC`]) and name.
const TABLE: [(Kind, [u64; 2], &str); 20] = [
    (
        Kind::BootloaderInfo,
        [0xf55038d8e2a1202f, 0x279426fcf5f59740],
        "bootloader_info",
    ),
    (
        Kind::FirmwareType,
        [0x8c2f75d90bef28a8, 0x7045a4688eac00c3],
        "firmware_type",
    ),
    (
        Kind::StackSize,
        [0x224ef0460a8e8926, 0xe1cb0fc25f46ea3d],
        "stack_size",
    ),
    (Kind::Hhdm, [0x48dcf1cb8ad2b852, 0x63984e959a98244b], "hhdm"),
    (
        Kind::Framebuffer,
        [0x9d5827dcd881dd75, 0xa3148604f6fab11b],
        "framebuffer",
    ),
    (
        Kind::PagingMode,
        [0x95c1a0edab0944cb, 0xa4e5cb3842f7488a],
        "paging_mode",
    ),
    (Kind::Mp, [0x95a67b819a1b857e, 0xa0b61b723b6a73e0], "mp"),
    (
        Kind::MemoryMap,
        [0x67cf3d9d378a806f, 0xe304acdfc50c3c62],
        "memmap",
    ),
    (
        Kind::EntryPoint,
        [0x13d86c035a1cd3e1, 0x2b0caa89d8f3026a],
        "entry_point",
    ),
    (
        Kind::ExecutableFile,
        [0xad97e90e83f1ed67, 0x31eb5d1c5ff23b69],
        "executable_file",
    ),
    (
        Kind::Module,
        [0x3e7e279702be32af, 0xca1c4f3bd1280cee],
        "module",
    ),
    (Kind::Rsdp, [0xc5e77b6b397e7b43, 0x27637845accdcf3c], "rsdp"),
    (
        Kind::Smbios,
        [0x9e9046f11e095391, 0xaa4a520fefbde5ee],
        "smbios",
    ),
    (
        Kind::EfiSystemTable,
        [0x5ceba5163eaaf6d6, 0x0a6981610cf65fcc],
        "efi_system_table",
    ),
    (
        Kind::EfiMemoryMap,
        [0x7df62a431d6872d5, 0xa4fcdfb3e57306c8],
        "efi_memmap",
    ),
    (
        Kind::DateAtBoot,
        [0x502746e184c088aa, 0xfbc5ec83e6327893],
        "date_at_boot",
    ),
    (
        Kind::ExecutableAddress,
        [0x71ba76863cc55f63, 0xb2644a48c516a487],
        "executable_address",
    ),
    (
        Kind::ExecutableCmdline,
        [0x4b161536e598651e, 0xb390ad4a2f1f303a],
        "executable_cmdline",
    ),
    (
        Kind::DeviceTreeBlob,
        [0xb40ddb48fb54bac7, 0x545081493f81ffb7],
        "dtb",
    ),
    (
        Kind::BspHartid,
        [0x1369359f025525f9, 0x2ff2a56178391bb6],
        "bsp_hartid",
    ),
];

impl Kind {
    /// Every known kind, in the order of the Limine protocol document.
    pub const ALL: [Kind; 20] = {
        let mut all = [Kind::BootloaderInfo; 20];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    /// The kind for an ID (the two words after [`COMMON_MAGIC`]).
    pub fn from_id(id: [u64; 2]) -> Kind {
        TABLE
            .iter()
            .find(|(_, known, _)| *known == id)
            .map_or(Kind::Unknown(id), |(kind, _, _)| *kind)
    }

    /// The ID (the two words after [`COMMON_MAGIC`]).
    pub fn id(&self) -> [u64; 2] {
        match self {
            Kind::Unknown(id) => *id,
            known => TABLE
                .iter()
                .find(|(kind, _, _)| kind == known)
                .map_or([0, 0], |(_, id, _)| *id),
        }
    }

    /// The request's name as in the Limine C header (`LIMINE_<NAME>_REQUEST`, lowercase), or `unknown`.
    pub fn name(&self) -> &'static str {
        TABLE
            .iter()
            .find(|(kind, _, _)| kind == self)
            .map_or("unknown", |(_, _, name)| name)
    }

    /// The full 4-word ID as it appears in the image.
    pub fn full_id(&self) -> [u64; 4] {
        let [a, b] = self.id();
        [COMMON_MAGIC[0], COMMON_MAGIC[1], a, b]
    }
}

/// The base revision tag found in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseRevisionTag {
    /// Byte offset of the tag's first word in the image.
    pub offset: usize,
    /// The base revision the executable asks for (the tag's third word).
    pub requested: u64,
}

impl BaseRevisionTag {
    /// Offset of the second word, which the loader overwrites with the revision it actually used.
    pub fn loaded_revision_offset(&self) -> Option<usize> {
        self.offset.checked_add(8)
    }

    /// Offset of the third word, which the loader sets to 0 when it supports the requested revision.
    pub fn requested_offset(&self) -> Option<usize> {
        self.offset.checked_add(16)
    }
}

/// One request found in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Byte offset of the request's first word in the image.
    pub offset: usize,
    /// Which request it is.
    pub kind: Kind,
    /// The request's revision (its fifth word).
    pub revision: u64,
}

impl Request {
    /// Where the loader writes the response pointer (the sixth word).
    pub fn response_offset(&self) -> usize {
        // scan() only reports requests whose six words fit in the image, so this cannot overflow;
        // saturate anyway so a hand-made Request cannot panic.
        self.offset.saturating_add(40)
    }
}

/// Everything [`scan`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// The first base revision tag in the image; `None` means base revision 0.
    pub base_revision: Option<BaseRevisionTag>,
    /// Byte offsets of the start marker and of the end marker, when the image has a requests section.
    pub markers: Option<(usize, usize)>,
    /// Requests in image order.
    pub requests: Vec<Request>,
}

impl Scan {
    /// The request of the given kind, if the executable made one.
    pub fn find(&self, kind: Kind) -> Option<&Request> {
        self.requests.iter().find(|r| r.kind == kind)
    }
}

/// Why an image's requests cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// A start marker without an end marker after it.
    UnterminatedRequestsSection {
        /// Byte offset of the start marker.
        start: usize,
    },
    /// Two requests with the same ID (Limine refuses to boot such an executable).
    DuplicateRequest {
        /// The request's name ([`Kind::name`]).
        name: &'static str,
        /// The request's ID (the two words after [`COMMON_MAGIC`]).
        id: [u64; 2],
        /// Byte offset of the first copy.
        first: usize,
        /// Byte offset of the second copy.
        second: usize,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnterminatedRequestsSection { start } => write!(
                f,
                "requests start marker at image offset {start:#x} has no end marker after it"
            ),
            Self::DuplicateRequest {
                name,
                id,
                first,
                second,
            } => write!(
                f,
                "duplicate {name} request (id {:#018x} {:#018x}) at image offsets {first:#x} and {second:#x}",
                id[0], id[1]
            ),
        }
    }
}

/// Reads the little-endian u64 at `offset` (any alignment); `None` if it does not fit.
pub fn read_u64(image: &[u8], offset: usize) -> Option<u64> {
    let end = offset.checked_add(8)?;
    let bytes: [u8; 8] = image.get(offset..end)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Writes `v` little-endian at `offset`; returns false (and writes nothing) if it does not fit.
pub fn write_u64(image: &mut [u8], offset: usize, v: u64) -> bool {
    let Some(end) = offset.checked_add(8) else {
        return false;
    };
    match image.get_mut(offset..end) {
        Some(slot) => {
            slot.copy_from_slice(&v.to_le_bytes());
            true
        }
        None => false,
    }
}

/// True if the words at `offset` are `words`.
fn matches(image: &[u8], offset: usize, words: &[u64]) -> bool {
    words.iter().enumerate().all(|(i, &w)| {
        i.checked_mul(8)
            .and_then(|d| offset.checked_add(d))
            .and_then(|at| read_u64(image, at))
            == Some(w)
    })
}

/// 8-byte aligned offsets in `[from, to)` (empty when `from >= to`).
fn aligned(from: usize, to: usize) -> impl Iterator<Item = usize> {
    (from..to).step_by(8)
}

/// Finds the base revision tag, the requests section and the requests in a loaded image.
///
/// `image` starts at the executable's lowest page-aligned virtual address, so every
/// 8-byte aligned virtual address is an 8-byte aligned offset.
pub fn scan(image: &[u8]) -> Result<Scan, ScanError> {
    let len = image.len();
    let base_revision = aligned(0, len)
        .find(|&o| matches(image, o, &BASE_REVISION_MAGIC))
        .and_then(|offset| {
            let requested = read_u64(image, offset.checked_add(16)?)?;
            Some(BaseRevisionTag { offset, requested })
        });

    let start = aligned(0, len).find(|&o| matches(image, o, &START_MARKER));
    let (markers, from, to) = match start {
        None => (None, 0, len),
        Some(start) => {
            let body = start.saturating_add(START_MARKER.len() * 8);
            let end = aligned(body, len)
                .find(|&o| matches(image, o, &END_MARKER))
                .ok_or(ScanError::UnterminatedRequestsSection { start })?;
            (Some((start, end)), body, end)
        }
    };

    let mut requests: Vec<Request> = Vec::new();
    for offset in aligned(from, to) {
        // A request must lie wholly inside the scanned range; a partial one is ignored.
        let fits = offset
            .checked_add(REQUEST_WORDS * 8)
            .is_some_and(|end| end <= to);
        if !fits || !matches(image, offset, &COMMON_MAGIC) {
            continue;
        }
        let word = |i: usize| read_u64(image, offset.saturating_add(i * 8)).unwrap_or(0);
        let id = [word(2), word(3)];
        let request = Request {
            offset,
            kind: Kind::from_id(id),
            revision: word(4),
        };
        if let Some(first) = requests.iter().find(|r| r.kind == request.kind) {
            return Err(ScanError::DuplicateRequest {
                name: request.kind.name(),
                id,
                first: first.offset,
                second: offset,
            });
        }
        requests.push(request);
    }

    Ok(Scan {
        base_revision,
        markers,
        requests,
    })
}

#[cfg(test)]
mod tests;
