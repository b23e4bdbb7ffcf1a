//! Unit and property tests for ELF validation, on small hand-built images.

use super::*;
use proptest::prelude::*;

const BASE: u64 = 0xffff_ffff_8000_0000;

/// A program header to put in a test image.
#[derive(Clone, Copy)]
struct Ph {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    mem_size: u64,
}

fn load(flags: u32, offset: u64, vaddr: u64, file_size: u64, mem_size: u64) -> Ph {
    Ph {
        kind: PT_LOAD,
        flags,
        offset,
        vaddr,
        file_size,
        mem_size,
    }
}

/// Builds an ELF64 image: header, program headers at 64, file padded to `file_len`.
fn build(entry: u64, phs: &[Ph], file_len: usize) -> Vec<u8> {
    let mut b = vec![0u8; file_len.max(64 + 56 * phs.len())];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = ELFCLASS64;
    b[5] = ELFDATA2LSB;
    b[6] = 1;
    b[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
    b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&entry.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
    for (i, ph) in phs.iter().enumerate() {
        let at = 64 + 56 * i;
        let p = &mut b[at..at + 56];
        p[0..4].copy_from_slice(&ph.kind.to_le_bytes());
        p[4..8].copy_from_slice(&ph.flags.to_le_bytes());
        p[8..16].copy_from_slice(&ph.offset.to_le_bytes());
        p[16..24].copy_from_slice(&ph.vaddr.to_le_bytes());
        p[24..32].copy_from_slice(&ph.vaddr.to_le_bytes());
        p[32..40].copy_from_slice(&ph.file_size.to_le_bytes());
        p[40..48].copy_from_slice(&ph.mem_size.to_le_bytes());
        p[48..56].copy_from_slice(&PAGE.to_le_bytes());
    }
    b
}

/// A typical kernel: text (R+X) from offset 0x1000, data (R+W) with .bss after it.
fn kernel_phs() -> Vec<Ph> {
    vec![
        load(PF_R | PF_X, 0x1000, BASE + 0x1000, 0x800, 0x800),
        load(PF_R | PF_W, 0x2000, BASE + 0x2000, 0x100, 0x3000),
    ]
}

fn valid() -> Vec<u8> {
    build(BASE + 0x1010, &kernel_phs(), 0x2100)
}

fn parse_kernel(bytes: &[u8]) -> Result<Executable, ElfError> {
    parse(bytes, &Policy::KERNEL)
}

fn set16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn valid_kernel() {
    let exe = parse_kernel(&valid()).unwrap();
    assert_eq!(exe.entry, BASE + 0x1010);
    assert_eq!(exe.segments.len(), 2);
    let text = exe.segments[0];
    assert_eq!(
        text,
        Segment {
            vaddr: BASE + 0x1000,
            file_offset: 0x1000,
            file_size: 0x800,
            mem_size: 0x800,
            align: PAGE,
            flags: Flags {
                read: true,
                write: false,
                exec: true
            },
        }
    );
    assert!(exe.segments[1].flags.write);
    assert_eq!(exe.span(), (BASE + 0x1000, BASE + 0x5000));
}

#[test]
fn non_load_and_empty_segments_are_skipped() {
    let mut phs = kernel_phs();
    phs.insert(0, Ph { kind: 6, ..phs[0] }); // PT_PHDR
    phs.push(load(PF_R, 0, BASE + 0x10_0000, 0, 0));
    let exe = parse_kernel(&build(BASE + 0x1010, &phs, 0x2100)).unwrap();
    assert_eq!(exe.segments.len(), 2);
}

#[test]
fn too_short() {
    assert_eq!(
        parse_kernel(&valid()[..63]),
        Err(ElfError::TooShort { len: 63 })
    );
    assert_eq!(parse_kernel(&[]), Err(ElfError::TooShort { len: 0 }));
}

#[test]
fn header_identity() {
    let mut b = valid();
    b[1] = b'e';
    assert_eq!(parse_kernel(&b), Err(ElfError::BadMagic));
    let mut b = valid();
    b[4] = 1;
    assert_eq!(parse_kernel(&b), Err(ElfError::NotElf64 { class: 1 }));
    let mut b = valid();
    b[5] = 2;
    assert_eq!(parse_kernel(&b), Err(ElfError::NotLittleEndian { data: 2 }));
    let mut b = valid();
    set16(&mut b, 18, 183);
    assert_eq!(
        parse_kernel(&b),
        Err(ElfError::WrongMachine { machine: 183 })
    );
}

#[test]
fn file_types() {
    let mut b = valid();
    set16(&mut b, 16, ET_DYN);
    let err = parse_kernel(&b).unwrap_err();
    assert_eq!(err, ElfError::PositionIndependent);
    assert!(err
        .to_string()
        .contains("position-independent executables are not supported"));
    set16(&mut b, 16, 1);
    assert_eq!(parse_kernel(&b), Err(ElfError::NotExecutable { e_type: 1 }));
}

#[test]
fn program_header_table() {
    let mut b = valid();
    set16(&mut b, 54, 32);
    assert_eq!(
        parse_kernel(&b),
        Err(ElfError::BadProgramHeaderSize { phentsize: 32 })
    );
    let mut b = valid();
    set16(&mut b, 56, 200);
    assert_eq!(
        parse_kernel(&b),
        Err(ElfError::ProgramHeadersOutOfFile {
            phoff: 64,
            phnum: 200
        })
    );
    let mut b = valid();
    b[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        parse_kernel(&b),
        Err(ElfError::ProgramHeadersOutOfFile { .. })
    ));
}

#[test]
fn no_load_segment() {
    assert_eq!(
        parse_kernel(&build(BASE, &[], 64)),
        Err(ElfError::NoLoadSegment)
    );
    let note = Ph {
        kind: 4,
        ..kernel_phs()[0]
    };
    assert_eq!(
        parse_kernel(&build(BASE, &[note], 0x2000)),
        Err(ElfError::NoLoadSegment)
    );
}

#[test]
fn segment_out_of_file() {
    let b = build(BASE + 0x1010, &kernel_phs(), 0x20ff);
    assert_eq!(
        parse_kernel(&b),
        Err(ElfError::SegmentOutOfFile {
            index: 1,
            offset: 0x2000,
            file_size: 0x100
        })
    );
    let mut phs = kernel_phs();
    phs[0].offset = u64::MAX;
    assert!(matches!(
        parse_kernel(&build(BASE + 0x1010, &phs, 0x2100)),
        Err(ElfError::SegmentOutOfFile { index: 0, .. })
    ));
}

#[test]
fn mem_size_below_file_size() {
    let mut phs = kernel_phs();
    phs[1].mem_size = 0x80;
    assert_eq!(
        parse_kernel(&build(BASE + 0x1010, &phs, 0x2100)),
        Err(ElfError::MemSizeBelowFileSize {
            index: 1,
            file_size: 0x100,
            mem_size: 0x80
        })
    );
}

#[test]
fn vaddr_overflow() {
    let mut phs = kernel_phs();
    phs[1].vaddr = u64::MAX - 0xfff;
    phs[1].mem_size = 0x2000;
    phs[1].offset = 0x2000;
    assert!(matches!(
        parse_kernel(&build(BASE + 0x1010, &phs, 0x2100)),
        Err(ElfError::VaddrOverflow { index: 1, .. })
    ));
    // Ending inside the last page would overflow when rounded up to a page.
    phs[1].mem_size = 0xfff;
    assert!(matches!(
        parse_kernel(&build(BASE + 0x1010, &phs, 0x2100)),
        Err(ElfError::VaddrOverflow { index: 1, .. })
    ));
    // Ending exactly at the last page boundary is fine.
    phs[1].vaddr = u64::MAX - 0x1fff;
    phs[1].mem_size = 0x1000;
    let exe = parse_kernel(&build(BASE + 0x1010, &phs, 0x2100)).unwrap();
    assert_eq!(exe.span(), (BASE + 0x1000, u64::MAX - 0xfff));
}

#[test]
fn out_of_range() {
    let low = 0x20_0000;
    let phs = [load(PF_R | PF_X, 0x1000, low + 0x1000, 0x10, 0x10)];
    let b = build(low + 0x1000, &phs, 0x1010);
    assert_eq!(
        parse_kernel(&b),
        Err(ElfError::OutOfRange {
            index: 0,
            vaddr: low + 0x1000,
            end: low + 0x1010
        })
    );
    let user = Policy {
        min_vaddr: 0x1000,
        max_vaddr: low + 0x1008,
        allow_write_exec: false,
    };
    assert!(matches!(
        parse(&b, &user),
        Err(ElfError::OutOfRange { index: 0, .. })
    ));
    let user = Policy {
        max_vaddr: low + 0x1010,
        ..user
    };
    assert!(parse(&b, &user).is_ok());
}

#[test]
fn misaligned() {
    let mut phs = kernel_phs();
    phs[0].offset = 0x1008;
    assert_eq!(
        parse_kernel(&build(BASE + 0x1010, &phs, 0x2100)),
        Err(ElfError::Misaligned {
            index: 0,
            vaddr: BASE + 0x1000,
            offset: 0x1008
        })
    );
}

#[test]
fn overlap_at_page_granularity() {
    let mut phs = kernel_phs();
    // Data starting in the last page of text shares that page.
    phs[1].vaddr = BASE + 0x1800;
    phs[1].offset = 0x1800;
    phs.insert(0, Ph { kind: 6, ..phs[0] });
    assert_eq!(
        parse_kernel(&build(BASE + 0x1010, &phs, 0x2100)),
        Err(ElfError::Overlap {
            first: 1,
            second: 2
        })
    );
}

#[test]
fn write_exec() {
    let mut phs = kernel_phs();
    phs[0].flags = PF_R | PF_W | PF_X;
    let b = build(BASE + 0x1010, &phs, 0x2100);
    assert!(parse_kernel(&b).is_ok());
    let strict = Policy {
        allow_write_exec: false,
        ..Policy::KERNEL
    };
    assert_eq!(parse(&b, &strict), Err(ElfError::WriteExec { index: 0 }));
}

#[test]
fn entry_must_be_executable() {
    for entry in [BASE + 0x2010, BASE + 0x1800, 0, BASE + 0xfff] {
        let b = build(entry, &kernel_phs(), 0x2100);
        assert_eq!(
            parse_kernel(&b),
            Err(ElfError::EntryNotExecutable { entry })
        );
    }
    assert!(parse_kernel(&build(BASE + 0x17ff, &kernel_phs(), 0x2100)).is_ok());
}

#[test]
fn errors_display_indices() {
    let text = ElfError::Overlap {
        first: 1,
        second: 3,
    }
    .to_string();
    assert!(text.contains("segments 1 and 3"), "{text}");
}

#[test]
fn span_of_nothing() {
    let exe = Executable {
        entry: 0,
        segments: Vec::new(),
    };
    assert_eq!(exe.span(), (0, 0));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_kernel(&bytes);
    }

    #[test]
    fn mutated_elf_never_panics(
        edits in prop::collection::vec((0usize..0x2100, any::<u8>()), 1..8),
        words in prop::collection::vec((0usize..22, any::<u64>()), 0..3),
        cut in prop::option::of(0usize..0x2100),
    ) {
        let mut b = valid();
        for (at, v) in edits {
            b[at] = v;
        }
        // Whole-word edits inside the header and program headers hit the interesting fields.
        for (word, v) in words {
            let at = word * 8;
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        if let Some(cut) = cut {
            b.truncate(cut);
        }
        if let Ok(exe) = parse_kernel(&b) {
            let (lo, hi) = exe.span();
            prop_assert!(lo <= hi);
            for s in &exe.segments {
                prop_assert!(s.vaddr >= Policy::KERNEL.min_vaddr);
                prop_assert!(s.file_offset + s.file_size <= b.len() as u64);
            }
        }
    }
}

/// A component as `components/link.ld` lays it out: text, rodata, data+bss from 0x400000.
fn component_phs() -> Vec<Ph> {
    const C: u64 = 0x40_0000;
    vec![
        load(PF_R | PF_X, 0x1000, C, 0x800, 0x800),
        load(PF_R, 0x2000, C + 0x1000, 0x100, 0x100),
        load(PF_R | PF_W, 0x3000, C + 0x2000, 0x100, 0x3000),
    ]
}

#[test]
fn component_policy_accepts_a_linked_component() {
    let exe = parse(
        &build(0x40_0000, &component_phs(), 0x3100),
        &Policy::COMPONENT,
    )
    .unwrap();
    assert_eq!(exe.entry, 0x40_0000);
    assert_eq!(exe.segments.len(), 3);
    assert_eq!(exe.span(), (0x40_0000, 0x40_5000));
}

#[test]
fn component_policy_bounds_and_wx() {
    let policy = Policy::COMPONENT;
    // Below the component base (the null page and the low 4 MiB stay unmapped).
    let phs = [load(PF_R | PF_X, 0x1000, 0x1000, 0x100, 0x100)];
    assert!(matches!(
        parse(&build(0x1000, &phs, 0x1100), &policy),
        Err(ElfError::OutOfRange { index: 0, .. })
    ));
    // Into the stack area at the top of the user half.
    let top = policy.max_vaddr;
    let phs = [load(PF_R | PF_X, 0x1000, top - 0x1000, 0x100, 0x2000)];
    assert!(matches!(
        parse(&build(top - 0x1000, &phs, 0x1100), &policy),
        Err(ElfError::OutOfRange { index: 0, .. })
    ));
    // Exactly up to the limit is fine.
    let phs = [load(PF_R | PF_X, 0x1000, top - 0x1000, 0x100, 0x1000)];
    assert!(parse(&build(top - 0x1000, &phs, 0x1100), &policy).is_ok());
    // Kernel addresses are refused.
    assert!(matches!(
        parse(&valid(), &policy),
        Err(ElfError::OutOfRange { index: 0, .. })
    ));
    // Writable and executable together is refused.
    let phs = [load(PF_R | PF_W | PF_X, 0x1000, 0x40_0000, 0x100, 0x100)];
    assert_eq!(
        parse(&build(0x40_0000, &phs, 0x1100), &policy),
        Err(ElfError::WriteExec { index: 0 })
    );
    // Entry must be in the executable segment, not in data.
    assert_eq!(
        parse(&build(0x40_2000, &component_phs(), 0x3100), &policy),
        Err(ElfError::EntryNotExecutable { entry: 0x40_2000 })
    );
}
