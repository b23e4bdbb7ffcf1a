//! Host tests: ESP images built in memory with `fatfs`, laid out as the packer lays them out.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

use bootproto::enroll::{self, Slot as Enrolled, EMPTY_MARKER};
use bootproto::files;
use bootproto::hash::{blake2b512, Hex};
use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};

use crate::fat::{Blocks, Fat, IoError, BLOCK};
use crate::install::SlotBytes;

mod fat_api;
mod fuzz;
mod install;
mod power;

const MIB: u64 = 1 << 20;

/// A sparse in-memory disk of 4096-byte blocks; counts writes and can lose power.
#[derive(Clone, Default)]
pub struct Disk {
    blocks: BTreeMap<u64, Box<[u8; BLOCK]>>,
    size: u64,
    pos: u64,
    /// Block writes done through [`Blocks`].
    pub writes: usize,
    /// Flushes done through [`Blocks`].
    pub flushes: usize,
    /// Writes left before the power is cut (`None`: never).
    pub budget: Option<usize>,
    /// The write the power is cut in lands in part: some of its 512-byte sectors (each whole).
    pub torn: bool,
}

impl Disk {
    fn new(size: u64) -> Self {
        Disk {
            size,
            ..Disk::default()
        }
    }

    /// A copy with no budget and zero counters.
    fn fresh_copy(&self) -> Disk {
        Disk {
            budget: None,
            torn: false,
            writes: 0,
            flushes: 0,
            pos: 0,
            ..self.clone()
        }
    }

    fn spend(&mut self) -> Result<(), IoError> {
        match self.budget.as_mut() {
            Some(0) => Err(IoError),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Disk {
    /// The write the power is cut in, when [`Disk::torn`]: about two thirds of its 512-byte
    /// sectors land, each whole; later writes are lost.
    fn tear(&mut self, block: u64, data: &[u8]) {
        if !std::mem::take(&mut self.torn) {
            return;
        }
        let base = block * BLOCK as u64;
        for (i, sector) in data.chunks(512).enumerate() {
            let n = base / 512 + i as u64;
            if !n.wrapping_mul(0x9E37_79B9).is_multiple_of(3) {
                self.pos = base + 512 * i as u64;
                Write::write_all(self, sector).unwrap();
            }
        }
    }
}

impl Blocks for Disk {
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        assert!(buf.len().is_multiple_of(BLOCK) && buf.len() <= 16 * BLOCK && !buf.is_empty());
        assert!(block + (buf.len() / BLOCK) as u64 <= self.block_count());
        for (i, chunk) in buf.chunks_mut(BLOCK).enumerate() {
            match self.blocks.get(&(block + i as u64)) {
                Some(b) => chunk.copy_from_slice(&b[..]),
                None => chunk.fill(0),
            }
        }
        Ok(())
    }

    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), IoError> {
        assert!(data.len().is_multiple_of(BLOCK) && data.len() <= 16 * BLOCK && !data.is_empty());
        assert!(block + (data.len() / BLOCK) as u64 <= self.block_count());
        if let Err(e) = self.spend() {
            self.tear(block, data);
            return Err(e);
        }
        self.writes += 1;
        for (i, chunk) in data.chunks(BLOCK).enumerate() {
            let mut b = Box::new([0u8; BLOCK]);
            b.copy_from_slice(chunk);
            self.blocks.insert(block + i as u64, b);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        if self.budget == Some(0) {
            return Err(IoError);
        }
        self.flushes += 1;
        Ok(())
    }

    fn block_count(&self) -> u64 {
        self.size / BLOCK as u64
    }
}

impl Disk {
    /// Copies between the disk's bytes from `self.pos` on and `len` bytes of a buffer, a block
    /// at a time; returns how many.
    fn each_span(&mut self, len: usize, mut f: impl FnMut(&mut Self, u64, usize, usize)) -> usize {
        let n = (self.size.saturating_sub(self.pos) as usize).min(len);
        let mut done = 0;
        while done < n {
            let at = self.pos + done as u64;
            let k = (BLOCK - (at % BLOCK as u64) as usize).min(n - done);
            f(self, at, done, k);
            done += k;
        }
        self.pos += n as u64;
        n
    }
}

impl Read for Disk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.each_span(buf.len(), |d, at, done, k| {
            let within = (at % BLOCK as u64) as usize;
            match d.blocks.get(&(at / BLOCK as u64)) {
                Some(b) => buf[done..done + k].copy_from_slice(&b[within..within + k]),
                None => buf[done..done + k].fill(0),
            }
        }))
    }
}

impl Write for Disk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.each_span(buf.len(), |d, at, done, k| {
            let within = (at % BLOCK as u64) as usize;
            let b = d.blocks.entry(at / BLOCK as u64);
            let b = b.or_insert_with(|| Box::new([0; BLOCK]));
            b[within..within + k].copy_from_slice(&buf[done..done + k]);
        }))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Disk {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(n) => n,
            SeekFrom::End(d) => self.size.saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

/// An ESP layout the packer makes.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub size: u64,
    pub fat: FatType,
    pub sector: u16,
}

pub const FAT16_512: Layout = Layout {
    size: 64 * MIB,
    fat: FatType::Fat16,
    sector: 512,
};
pub const FAT32_512: Layout = Layout {
    size: 512 * MIB,
    fat: FatType::Fat32,
    sector: 512,
};
pub const FAT16_4096: Layout = Layout {
    size: 64 * MIB,
    fat: FatType::Fat16,
    sector: 4096,
};
pub const FAT32_4096: Layout = Layout {
    size: 1024 * MIB,
    fat: FatType::Fat32,
    sector: 4096,
};
pub const LAYOUTS: [Layout; 4] = [FAT16_512, FAT32_512, FAT16_4096, FAT32_4096];

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The ESP's five boot files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootFiles {
    pub efi: Vec<u8>,
    pub conf: Vec<u8>,
    pub kernel_a: Vec<u8>,
    pub module: Vec<u8>,
    pub kernel_b: Vec<u8>,
}

/// limine.conf as `LimineConf::for_slots` renders it, with a module for slot A.
pub fn conf_text(kernel_a: &[u8], module: &[u8], kernel_b: &[u8]) -> Vec<u8> {
    format!(
        "# Generated by cargo xtask build-image\ntimeout: 0\nserial: yes\n\n\
         /PandaGen slot A\n    protocol: limine\n    path: boot():{}#{}\n    cmdline: slot=A\n    \
         module_path: boot():{}#{}\n    module_string: {}\n\n\
         /PandaGen slot B\n    protocol: limine\n    path: boot():{}#{}\n    cmdline: slot=B\n",
        files::KERNEL_A,
        Hex(&blake2b512(kernel_a)),
        files::MODULE,
        Hex(&blake2b512(module)),
        files::MODULE_STRING,
        files::KERNEL_B,
        Hex(&blake2b512(kernel_b)),
    )
    .into_bytes()
}

/// A fake boot loader of `len` bytes with the empty marker, enrolled with `conf`'s hash.
pub fn efi_for(conf: &[u8], len: usize) -> Vec<u8> {
    let mut efi = b"MZ fake boot loader ".to_vec();
    efi.extend_from_slice(&EMPTY_MARKER);
    efi.extend(noise(7, len - efi.len()).iter().map(|b| b & 0x7F));
    enroll::enroll(&mut efi, conf).unwrap();
    efi
}

impl BootFiles {
    /// Consistent files for these kernels and module (the EFI enrolls the conf).
    pub fn new(kernel_a: Vec<u8>, module: Vec<u8>, kernel_b: Vec<u8>) -> Self {
        let conf = conf_text(&kernel_a, &module, &kernel_b);
        BootFiles {
            efi: efi_for(&conf, 60 * 1024 + 123),
            conf,
            kernel_a,
            module,
            kernel_b,
        }
    }

    /// The files in the packer's order (boot loader, conf, kernel A, module, kernel B).
    pub fn in_order(&self) -> [(&'static str, &[u8]); 5] {
        [
            (files::BOOT_EFI, &self.efi),
            (files::CONF, &self.conf),
            (files::KERNEL_A, &self.kernel_a),
            (files::MODULE, &self.module),
            (files::KERNEL_B, &self.kernel_b),
        ]
    }
}

/// Formats a volume as `layout` says and writes `files` in order, creating directories.
pub fn build(layout: Layout, files: &[(&str, &[u8])]) -> Disk {
    let mut disk = Disk::new(layout.size);
    let options = FormatVolumeOptions::new()
        .volume_label(*b"PANDAGEN   ")
        .bytes_per_sector(layout.sector)
        .fat_type(layout.fat);
    fatfs::format_volume(&mut disk, options).unwrap();
    disk.seek(SeekFrom::Start(0)).unwrap();
    {
        let fs = FileSystem::new(&mut disk, FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), layout.fat);
        for (path, data) in files {
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            let (name, dirs) = parts.split_last().unwrap();
            let mut dir = fs.root_dir();
            for d in dirs {
                dir = dir.create_dir(d).unwrap();
            }
            let mut f = dir.create_file(name).unwrap();
            f.truncate().unwrap();
            f.write_all(data).unwrap();
        }
        fs.unmount().unwrap();
    }
    disk.fresh_copy()
}

/// Reads a file through fatfs.
pub fn fatfs_read(disk: &Disk, path: &str) -> Vec<u8> {
    let mut copy = disk.fresh_copy();
    let fs = FileSystem::new(&mut copy, FsOptions::new()).unwrap();
    let mut data = Vec::new();
    let mut f = fs
        .root_dir()
        .open_file(path.trim_start_matches('/'))
        .unwrap();
    f.read_to_end(&mut data).unwrap();
    data
}

/// The five boot files as fatfs reads them.
pub fn read_back(disk: &Disk) -> BootFiles {
    BootFiles {
        efi: fatfs_read(disk, files::BOOT_EFI),
        conf: fatfs_read(disk, files::CONF),
        kernel_a: fatfs_read(disk, files::KERNEL_A),
        module: fatfs_read(disk, files::MODULE),
        kernel_b: fatfs_read(disk, files::KERNEL_B),
    }
}

/// Free clusters as fatfs counts them, and as `Fat` does; also no lost clusters.
pub fn free_clusters(disk: &Disk) -> u32 {
    let mut copy = disk.fresh_copy();
    let theirs = FileSystem::new(&mut copy, FsOptions::new())
        .unwrap()
        .stats()
        .unwrap()
        .free_clusters();
    let mut fat = Fat::open(disk.fresh_copy()).unwrap();
    assert_eq!(fat.free_clusters(), theirs, "fatfs and Fat count alike");
    assert_eq!(fat.count_lost().unwrap(), 0, "no lost clusters");
    theirs
}

/// Whether the EFI enrolls the conf's hash.
pub fn consistent(f: &BootFiles) -> bool {
    enroll::enrolled(&f.efi) == Ok(Enrolled::Enrolled(blake2b512(&f.conf)))
}

/// A slot's bytes in memory.
pub struct SlotMem(pub Vec<u8>);

impl SlotBytes for SlotMem {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let start = usize::try_from(offset).map_err(|_| IoError)?;
        let end = start.checked_add(buf.len()).ok_or(IoError)?;
        buf.copy_from_slice(self.0.get(start..end).ok_or(IoError)?);
        Ok(())
    }
}
