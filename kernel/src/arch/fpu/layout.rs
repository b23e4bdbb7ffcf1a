//! The pure part of [`super`]: which save instruction to use, which state components to
//! enable (XCR0) and how big and aligned a process's save area is, from what CPUID reports; and
//! the clean state every process starts with. Built and tested on the host too.

/// XCR0 / XSAVE state-component bits.
pub const X87: u64 = 1 << 0;
/// SSE: XMM0-15 and MXCSR.
pub const SSE: u64 = 1 << 1;
/// AVX: the upper halves of YMM0-15.
pub const AVX: u64 = 1 << 2;

/// Size of the legacy (FXSAVE) region, and of an FXSAVE area.
pub const FXSAVE_SIZE: usize = 512;
/// FXSAVE/FXRSTOR need 16-byte alignment.
pub const FXSAVE_ALIGN: usize = 16;
/// The legacy region plus the 64-byte XSAVE header: the smallest XSAVE area.
pub const XSAVE_MIN_SIZE: usize = 576;
/// XSAVE/XRSTOR need 64-byte alignment.
pub const XSAVE_ALIGN: usize = 64;

/// The x87 control word after `FNINIT`: every exception masked, 64-bit precision, round to
/// nearest.
pub const FCW_CLEAN: u16 = 0x037f;
/// MXCSR at reset: every SIMD exception masked, round to nearest, no flush-to-zero.
pub const MXCSR_CLEAN: u32 = 0x1f80;

/// Offsets in the legacy region (the same for FXSAVE and XSAVE).
const FCW_OFFSET: usize = 0;
const MXCSR_OFFSET: usize = 24;

/// How the state is saved and restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// `fxsave64` / `fxrstor64`: x87 and SSE only (512 bytes).
    Fxsave,
    /// `xsave64` / `xrstor64` over the components in [`Plan::xcr0`].
    Xsave,
    /// `xsaveopt64` / `xrstor64`: as `Xsave`, skipping components that are unchanged since
    /// the last restore from the same area.
    Xsaveopt,
}

impl Mechanism {
    /// The save instruction's name, for the boot log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fxsave => "fxsave",
            Self::Xsave => "xsave",
            Self::Xsaveopt => "xsaveopt",
        }
    }
}

/// What CPUID says about the FPU state features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// CPUID.1:ECX.XSAVE[bit 26].
    pub xsave: bool,
    /// CPUID.1:ECX.AVX[bit 28].
    pub avx: bool,
    /// CPUID.(EAX=0DH,ECX=1):EAX.XSAVEOPT[bit 0].
    pub xsaveopt: bool,
    /// CPUID.(EAX=0DH,ECX=0):EDX:EAX, the components XCR0 may enable.
    pub xcr0_supported: u64,
    /// CPUID.(EAX=0DH,ECX=2): (EBX offset, EAX size) of the AVX component in the standard
    /// XSAVE format.
    pub avx_area: (u32, u32),
}

/// What the kernel enables and how it keeps each process's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub mechanism: Mechanism,
    /// The components enabled in XCR0 and saved (the requested-feature bitmap); 0 when
    /// XSAVE is not used.
    pub xcr0: u64,
    /// Bytes of one save area.
    pub size: usize,
    /// Its alignment.
    pub align: usize,
}

impl Plan {
    /// What every x86_64 CPU can do: FXSAVE.
    pub const FXSAVE: Plan = Plan {
        mechanism: Mechanism::Fxsave,
        xcr0: 0,
        size: FXSAVE_SIZE,
        align: FXSAVE_ALIGN,
    };
}

/// The plan for a CPU: XSAVE (XSAVEOPT when available) over x87, SSE and, when the CPU has it
/// and XCR0 can enable it, AVX; FXSAVE when there is no XSAVE (or it cannot even enable x87
/// and SSE).
pub fn plan(cpu: &CpuFeatures) -> Plan {
    let base = X87 | SSE;
    if !cpu.xsave || cpu.xcr0_supported & base != base {
        return Plan::FXSAVE;
    }
    let mut xcr0 = base;
    let mut size = XSAVE_MIN_SIZE;
    let (avx_offset, avx_size) = cpu.avx_area;
    if cpu.avx && cpu.xcr0_supported & AVX != 0 && avx_size != 0 {
        xcr0 |= AVX;
        size = size.max(avx_offset as usize + avx_size as usize);
    }
    Plan {
        mechanism: if cpu.xsaveopt {
            Mechanism::Xsaveopt
        } else {
            Mechanism::Xsave
        },
        xcr0,
        size: size.next_multiple_of(XSAVE_ALIGN),
        align: XSAVE_ALIGN,
    }
}

/// Writes the clean state into the start of a zeroed save area (`area` is its first bytes, at
/// least 28; it is zeroed, then the two non-zero fields are set): every register zero, the x87 stack empty, the control word
/// [`FCW_CLEAN`] and MXCSR [`MXCSR_CLEAN`]. In the XSAVE format the header stays zero
/// (XSTATE_BV = 0: every component in its initial state — zero registers; MXCSR is loaded from
/// the legacy region anyway), so restoring it gives a process the state `FNINIT` plus a reset
/// MXCSR would, whatever ran before.
pub fn write_clean(area: &mut [u8]) {
    area.fill(0);
    area[FCW_OFFSET..FCW_OFFSET + 2].copy_from_slice(&FCW_CLEAN.to_le_bytes());
    area[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&MXCSR_CLEAN.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's `-cpu max` under TCG (and most CPUs since Sandy Bridge): AVX at 576, 256 bytes.
    const WITH_AVX: CpuFeatures = CpuFeatures {
        xsave: true,
        avx: true,
        xsaveopt: true,
        xcr0_supported: X87 | SSE | AVX | (1 << 9),
        avx_area: (576, 256),
    };

    #[test]
    fn no_xsave_means_fxsave() {
        assert_eq!(plan(&CpuFeatures::default()), Plan::FXSAVE);
        // QEMU's default `qemu64` model: no XSAVE.
        let cpu = CpuFeatures {
            xsave: false,
            avx: false,
            ..WITH_AVX
        };
        assert_eq!(plan(&cpu), Plan::FXSAVE);
    }

    #[test]
    fn xsave_with_avx() {
        let p = plan(&WITH_AVX);
        assert_eq!(p.mechanism, Mechanism::Xsaveopt);
        assert_eq!(p.mechanism.name(), "xsaveopt");
        // PKRU (bit 9) is supported but not asked for.
        assert_eq!(p.xcr0, X87 | SSE | AVX);
        assert_eq!(p.size, 832);
        assert_eq!(p.align, 64);
    }

    #[test]
    fn xsave_without_avx_or_xsaveopt() {
        let cpu = CpuFeatures {
            avx: false,
            xsaveopt: false,
            ..WITH_AVX
        };
        let p = plan(&cpu);
        assert_eq!(p.mechanism, Mechanism::Xsave);
        assert_eq!(p.xcr0, X87 | SSE);
        assert_eq!(p.size, XSAVE_MIN_SIZE);
        // AVX in CPUID.1 but not enabled in XCR0's supported mask: not used.
        let cpu = CpuFeatures {
            xcr0_supported: X87 | SSE,
            ..WITH_AVX
        };
        assert_eq!(plan(&cpu).xcr0, X87 | SSE);
        assert_eq!(plan(&cpu).size, XSAVE_MIN_SIZE);
    }

    #[test]
    fn odd_sizes_round_up_to_the_alignment() {
        let cpu = CpuFeatures {
            avx_area: (600, 250),
            ..WITH_AVX
        };
        let p = plan(&cpu);
        assert_eq!(p.size, 896);
        assert_eq!(p.size % p.align, 0);
    }

    #[test]
    fn xsave_that_cannot_enable_sse_falls_back() {
        let cpu = CpuFeatures {
            xcr0_supported: X87,
            ..WITH_AVX
        };
        assert_eq!(plan(&cpu), Plan::FXSAVE);
    }

    #[test]
    fn clean_image() {
        let mut area = [0xaau8; XSAVE_MIN_SIZE];
        write_clean(&mut area);
        assert_eq!(&area[0..2], &[0x7f, 0x03]);
        assert_eq!(&area[24..28], &[0x80, 0x1f, 0, 0]);
        // Status word, tag word (abridged: all empty), registers, header: zero.
        assert!(area[2..24].iter().all(|&b| b == 0));
        assert!(area[28..].iter().all(|&b| b == 0));
    }
}
