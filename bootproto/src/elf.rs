//! ELF64 executable validation and the load plan (which segments go where) for the stub.

use alloc::vec::Vec;
use core::fmt;

/// Page size the segments are mapped with.
const PAGE: u64 = 4096;
/// Size of the ELF64 file header.
const EHDR_SIZE: usize = 64;
/// Size of an ELF64 program header (larger `e_phentsize` values are accepted as a stride).
const PHDR_SIZE: usize = 56;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EM_X86_64: u16 = 62;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

/// A segment's permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags {
    /// Readable (`PF_R`).
    pub read: bool,
    /// Writable (`PF_W`).
    pub write: bool,
    /// Executable (`PF_X`).
    pub exec: bool,
}

/// A `PT_LOAD` segment to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Offset of the segment's bytes in the file.
    pub file_offset: u64,
    /// Bytes to copy from the file.
    pub file_size: u64,
    /// Bytes in memory; those past `file_size` are zero.
    pub mem_size: u64,
    /// `p_align` as written (informational; mapping is page-wise).
    pub align: u64,
    /// Permissions.
    pub flags: Flags,
}

impl Segment {
    /// One past the last virtual byte (parse guarantees this does not overflow).
    pub fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.mem_size)
    }
}

/// What an executable is allowed to look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Lowest allowed virtual address.
    pub min_vaddr: u64,
    /// One past the highest allowed virtual address.
    pub max_vaddr: u64,
    /// Whether a segment may be both writable and executable.
    pub allow_write_exec: bool,
}

impl Policy {
    /// Limine's rule for kernels: loaded in the top 2 GiB.
    pub const KERNEL: Policy = Policy {
        min_vaddr: 0xffff_ffff_8000_0000,
        max_vaddr: u64::MAX,
        allow_write_exec: true,
    };

    /// PandaGen components (ring-3 programs): linked at or above `0x40_0000`
    /// (`abi::layout::COMPONENT_BASE`), ending at or below `0x7fff_0000_0000`, which leaves the
    /// top 4 GiB of the 128 TiB user half to the kernel-provided stack and its guard area; no
    /// segment both writable and executable.
    pub const COMPONENT: Policy = Policy {
        min_vaddr: 0x40_0000,
        max_vaddr: 0x0000_7fff_0000_0000,
        allow_write_exec: false,
    };
}

/// A validated executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    /// The entry point's virtual address.
    pub entry: u64,
    /// The `PT_LOAD` segments with a non-zero memory size, in program header order.
    pub segments: Vec<Segment>,
}

impl Executable {
    /// The page-aligned virtual range `[start, end)` covering all segments; `(0, 0)` if there are none.
    pub fn span(&self) -> (u64, u64) {
        let low = self.segments.iter().map(|s| s.vaddr).min();
        let high = self.segments.iter().map(Segment::end).max();
        match (low, high) {
            (Some(low), Some(high)) => (
                low - low % PAGE,
                // parse rejects segments whose page-rounded end overflows.
                high.checked_next_multiple_of(PAGE)
                    .unwrap_or(u64::MAX - (PAGE - 1)),
            ),
            _ => (0, 0),
        }
    }
}

/// Why an ELF file cannot be loaded. `index` is the program header's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the 64-byte ELF64 header.
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// Does not start with `\x7fELF`.
    BadMagic,
    /// `EI_CLASS` is not ELFCLASS64.
    NotElf64 {
        /// The `EI_CLASS` byte.
        class: u8,
    },
    /// `EI_DATA` is not little-endian.
    NotLittleEndian {
        /// The `EI_DATA` byte.
        data: u8,
    },
    /// `e_machine` is not x86_64.
    WrongMachine {
        /// The `e_machine` value.
        machine: u16,
    },
    /// `e_type` is ET_DYN.
    PositionIndependent,
    /// `e_type` is neither ET_EXEC nor ET_DYN.
    NotExecutable {
        /// The `e_type` value.
        e_type: u16,
    },
    /// `e_phentsize` is smaller than an ELF64 program header.
    BadProgramHeaderSize {
        /// The `e_phentsize` value.
        phentsize: u16,
    },
    /// The program header table does not fit in the file.
    ProgramHeadersOutOfFile {
        /// `e_phoff`.
        phoff: u64,
        /// `e_phnum`.
        phnum: u16,
    },
    /// No `PT_LOAD` segment with a non-zero memory size.
    NoLoadSegment,
    /// A segment's file bytes lie (partly) outside the file.
    SegmentOutOfFile {
        /// The program header.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        file_size: u64,
    },
    /// `p_memsz < p_filesz`.
    MemSizeBelowFileSize {
        /// The program header.
        index: usize,
        /// `p_filesz`.
        file_size: u64,
        /// `p_memsz`.
        mem_size: u64,
    },
    /// `p_vaddr + p_memsz`, rounded up to a page, overflows.
    VaddrOverflow {
        /// The program header.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_memsz`.
        mem_size: u64,
    },
    /// A segment lies (partly) outside the policy's virtual range.
    OutOfRange {
        /// The program header.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_vaddr + p_memsz`.
        end: u64,
    },
    /// `p_vaddr` and `p_offset` differ modulo the page size, so the segment cannot be mapped page-wise.
    Misaligned {
        /// The program header.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_offset`.
        offset: u64,
    },
    /// Two segments share a page.
    Overlap {
        /// The earlier program header.
        first: usize,
        /// The later program header.
        second: usize,
    },
    /// A writable and executable segment, which the policy forbids.
    WriteExec {
        /// The program header.
        index: usize,
    },
    /// The entry point is not inside an executable segment.
    EntryNotExecutable {
        /// `e_entry`.
        entry: u64,
    },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { len } => {
                write!(f, "ELF: file is {len} bytes, shorter than the 64-byte header")
            }
            Self::BadMagic => write!(f, "ELF: bad magic (not an ELF file)"),
            Self::NotElf64 { class } => write!(f, "ELF: class {class} is not ELFCLASS64"),
            Self::NotLittleEndian { data } => {
                write!(f, "ELF: data encoding {data} is not little-endian")
            }
            Self::WrongMachine { machine } => {
                write!(f, "ELF: machine {machine} is not x86_64 (62)")
            }
            Self::PositionIndependent => write!(
                f,
                "ELF: position-independent executables are not supported (type ET_DYN)"
            ),
            Self::NotExecutable { e_type } => {
                write!(f, "ELF: type {e_type} is not an executable (ET_EXEC)")
            }
            Self::BadProgramHeaderSize { phentsize } => write!(
                f,
                "ELF: program header size {phentsize} is smaller than {PHDR_SIZE}"
            ),
            Self::ProgramHeadersOutOfFile { phoff, phnum } => write!(
                f,
                "ELF: {phnum} program headers at offset {phoff:#x} run past the end of the file"
            ),
            Self::NoLoadSegment => write!(f, "ELF: no PT_LOAD segment"),
            Self::SegmentOutOfFile {
                index,
                offset,
                file_size,
            } => write!(
                f,
                "ELF: segment {index} file range {offset:#x}+{file_size:#x} is outside the file"
            ),
            Self::MemSizeBelowFileSize {
                index,
                file_size,
                mem_size,
            } => write!(
                f,
                "ELF: segment {index} memory size {mem_size:#x} is below its file size {file_size:#x}"
            ),
            Self::VaddrOverflow {
                index,
                vaddr,
                mem_size,
            } => write!(
                f,
                "ELF: segment {index} at {vaddr:#x} with size {mem_size:#x} overflows the address space"
            ),
            Self::OutOfRange { index, vaddr, end } => write!(
                f,
                "ELF: segment {index} [{vaddr:#x}, {end:#x}) is outside the allowed address range"
            ),
            Self::Misaligned {
                index,
                vaddr,
                offset,
            } => write!(
                f,
                "ELF: segment {index} vaddr {vaddr:#x} and file offset {offset:#x} differ modulo 4096"
            ),
            Self::Overlap { first, second } => {
                write!(f, "ELF: segments {first} and {second} share a page")
            }
            Self::WriteExec { index } => {
                write!(f, "ELF: segment {index} is both writable and executable")
            }
            Self::EntryNotExecutable { entry } => write!(
                f,
                "ELF: entry point {entry:#x} is not inside an executable segment"
            ),
        }
    }
}

/// Little-endian field readers; `None` when the field runs past the slice.
fn bytes<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    bytes(b, at).map(u16::from_le_bytes)
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    bytes(b, at).map(u32::from_le_bytes)
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    bytes(b, at).map(u64::from_le_bytes)
}

/// Validates an ELF64 x86_64 executable against `policy` and returns its load plan.
pub fn parse(bytes: &[u8], policy: &Policy) -> Result<Executable, ElfError> {
    let header = bytes
        .get(..EHDR_SIZE)
        .ok_or(ElfError::TooShort { len: bytes.len() })?;
    let field16 = |at| u16_at(header, at).unwrap_or(0);
    let field64 = |at| u64_at(header, at).unwrap_or(0);
    if header.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ElfError::BadMagic);
    }
    let class = header.get(4).copied().unwrap_or(0);
    if class != ELFCLASS64 {
        return Err(ElfError::NotElf64 { class });
    }
    let data = header.get(5).copied().unwrap_or(0);
    if data != ELFDATA2LSB {
        return Err(ElfError::NotLittleEndian { data });
    }
    let machine = field16(18);
    if machine != EM_X86_64 {
        return Err(ElfError::WrongMachine { machine });
    }
    match field16(16) {
        ET_EXEC => {}
        ET_DYN => return Err(ElfError::PositionIndependent),
        e_type => return Err(ElfError::NotExecutable { e_type }),
    }
    let entry = field64(24);
    let phoff = field64(32);
    let phentsize = field16(54);
    let phnum = field16(56);
    if usize::from(phentsize) < PHDR_SIZE {
        return Err(ElfError::BadProgramHeaderSize { phentsize });
    }
    let table = usize::try_from(phoff)
        .ok()
        .and_then(|start| {
            let len = usize::from(phentsize).checked_mul(usize::from(phnum))?;
            bytes.get(start..start.checked_add(len)?)
        })
        .ok_or(ElfError::ProgramHeadersOutOfFile { phoff, phnum })?;

    let mut segments: Vec<Segment> = Vec::new();
    let mut indices: Vec<usize> = Vec::new(); // program header index of each segment
    for (index, ph) in table.chunks_exact(usize::from(phentsize)).enumerate() {
        if u32_at(ph, 0) != Some(PT_LOAD) {
            continue;
        }
        let Some(segment) = load_segment(ph, index, bytes.len(), policy)? else {
            continue;
        };
        if let Some(first) = segments.iter().position(|s| share_page(s, &segment)) {
            return Err(ElfError::Overlap {
                first: indices.get(first).copied().unwrap_or(first),
                second: index,
            });
        }
        segments.push(segment);
        indices.push(index);
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadSegment);
    }
    let entry_ok = segments
        .iter()
        .any(|s| s.flags.exec && s.vaddr <= entry && entry < s.end());
    if !entry_ok {
        return Err(ElfError::EntryNotExecutable { entry });
    }
    Ok(Executable { entry, segments })
}

/// Validates one PT_LOAD program header; `Ok(None)` for an empty segment, which maps nothing.
fn load_segment(
    ph: &[u8],
    index: usize,
    file_len: usize,
    policy: &Policy,
) -> Result<Option<Segment>, ElfError> {
    let word = |at| u64_at(ph, at).unwrap_or(0);
    let p_flags = u32_at(ph, 4).unwrap_or(0);
    let (offset, vaddr, file_size, mem_size, align) =
        (word(8), word(16), word(32), word(40), word(48));
    let in_file = offset
        .checked_add(file_size)
        .is_some_and(|end| usize::try_from(end).is_ok_and(|end| end <= file_len));
    if !in_file {
        return Err(ElfError::SegmentOutOfFile {
            index,
            offset,
            file_size,
        });
    }
    if mem_size < file_size {
        return Err(ElfError::MemSizeBelowFileSize {
            index,
            file_size,
            mem_size,
        });
    }
    if mem_size == 0 {
        return Ok(None);
    }
    // Rounding the end up must fit too, so span() and page-wise mapping cannot overflow.
    let end = vaddr
        .checked_add(mem_size)
        .filter(|end| end.checked_next_multiple_of(PAGE).is_some())
        .ok_or(ElfError::VaddrOverflow {
            index,
            vaddr,
            mem_size,
        })?;
    if vaddr < policy.min_vaddr || end > policy.max_vaddr {
        return Err(ElfError::OutOfRange { index, vaddr, end });
    }
    if vaddr % PAGE != offset % PAGE {
        return Err(ElfError::Misaligned {
            index,
            vaddr,
            offset,
        });
    }
    let flags = Flags {
        read: p_flags & PF_R != 0,
        write: p_flags & PF_W != 0,
        exec: p_flags & PF_X != 0,
    };
    if flags.write && flags.exec && !policy.allow_write_exec {
        return Err(ElfError::WriteExec { index });
    }
    Ok(Some(Segment {
        vaddr,
        file_offset: offset,
        file_size,
        mem_size,
        align,
        flags,
    }))
}

/// Whether two non-empty segments touch a common 4 KiB page.
fn share_page(a: &Segment, b: &Segment) -> bool {
    let first_page = |s: &Segment| s.vaddr / PAGE;
    // end > vaddr for non-empty segments, so end - 1 is the last byte.
    let last_page = |s: &Segment| s.end().saturating_sub(1) / PAGE;
    first_page(a) <= last_page(b) && first_page(b) <= last_page(a)
}

#[cfg(test)]
mod tests;
