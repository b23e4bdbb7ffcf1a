//! Reading files from where the stub was loaded from (its volume, or over the network with
//! TFTP), and finding limine.conf where Limine looks for it.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use uefi::boot::{self, MemoryType, ScopedProtocol};
use uefi::proto::device_path::media::{FilePath, HardDrive, PartitionSignature};
use uefi::proto::device_path::DevicePath;
use uefi::proto::loaded_image::LoadedImage;
use uefi::proto::media::file::{File, FileAttribute, FileInfo, FileMode, RegularFile};
use uefi::proto::media::fs::SimpleFileSystem;
use uefi::CString16;

use crate::error::StubError;
use crate::memory::{alloc_pages, PAGE};
use crate::net::Tftp;

/// Where the boot files are read from.
enum Source {
    /// The file system of the volume the stub was loaded from.
    Disk(ScopedProtocol<SimpleFileSystem>),
    /// The TFTP server the firmware booted the stub from.
    Net(Tftp),
}

/// The boot volume (or network boot server), opened once.
pub struct BootVolume {
    source: Source,
    /// Directory of the EFI application on the volume (e.g. `/EFI/BOOT`), if the firmware said.
    pub app_dir: Option<String>,
    /// 1-based partition number and MBR disk signature, from the device path (0 if unknown).
    pub partition_index: u32,
    pub mbr_disk_id: u32,
}

/// A whole file read into pages of its own (the memory the kernel is handed), read there
/// directly: a large module or kernel is in memory once, not twice, so the spec's plain QEMU
/// command (128 MiB) still boots a debug build.
pub struct PagedFile {
    pub phys: u64,
    pub bytes: &'static [u8],
}

impl BootVolume {
    /// Opens where the stub was loaded from: TFTP when its device carries the PXE Base Code
    /// protocol (the firmware booted it from the network; a partition never does, and iPXE's
    /// virtual file system on that device holds no boot files), otherwise the volume's file system.
    pub fn open() -> Result<Self, StubError> {
        let image = boot::image_handle();
        let (app_dir, partition_index, mbr_disk_id) = describe_image(image);
        let source = match image_device(image).and_then(Tftp::on) {
            Some(pxe) => {
                let tftp = Tftp::new(pxe)?;
                crate::say!(
                    "bootstub: started from the network: reading the boot files over TFTP from {}",
                    tftp.server()
                );
                Source::Net(tftp)
            }
            None => Source::Disk(
                boot::get_image_file_system(image)
                    .map_err(|e| StubError::NoBootVolume(e.status()))?,
            ),
        };
        Ok(Self {
            source,
            app_dir,
            partition_index,
            mbr_disk_id,
        })
    }

    /// Reads a whole file; `path` is absolute with `/` separators.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, StubError> {
        if let Source::Net(tftp) = &mut self.source {
            return tftp.read(path);
        }
        let (mut file, size) = self.open_file(path)?;
        let mut bytes = alloc::vec![0; size];
        fill(&mut file, &mut bytes).map_err(|status| read_failed(path, status))?;
        Ok(bytes)
    }

    /// Reads a whole file into fresh pages of memory type `ty` (zero-padded to a page).
    pub fn read_to_pages(
        &mut self,
        path: &str,
        ty: MemoryType,
        what: &'static str,
    ) -> Result<PagedFile, StubError> {
        if let Source::Net(tftp) = &mut self.source {
            let (phys, bytes) = tftp.read_to_pages(path, ty, what)?;
            return Ok(PagedFile { phys, bytes });
        }
        let (mut file, size) = self.open_file(path)?;
        let (phys, mem) = alloc_pages(size.div_ceil(PAGE as usize), ty, what)?;
        let bytes = &mut mem[..size];
        fill(&mut file, bytes).map_err(|status| read_failed(path, status))?;
        Ok(PagedFile { phys, bytes })
    }

    /// Opens a regular file; answers it with its size.
    fn open_file(&mut self, path: &str) -> Result<(RegularFile, usize), StubError> {
        let name = to_uefi_path(path).ok_or(read_failed(path, uefi::Status::INVALID_PARAMETER))?;
        let Source::Disk(fs) = &mut self.source else {
            return Err(read_failed(path, uefi::Status::UNSUPPORTED));
        };
        let mut root = fs
            .open_volume()
            .map_err(|e| read_failed(path, e.status()))?;
        let handle = root
            .open(&name, FileMode::Read, FileAttribute::empty())
            .map_err(|e| read_failed(path, e.status()))?;
        let mut file = handle
            .into_regular_file()
            .ok_or(read_failed(path, uefi::Status::INVALID_PARAMETER))?;
        let info = file
            .get_boxed_info::<FileInfo>()
            .map_err(|e| read_failed(path, e.status()))?;
        let size = usize::try_from(info.file_size())
            .map_err(|_| read_failed(path, uefi::Status::BAD_BUFFER_SIZE))?;
        Ok((file, size))
    }

    /// Whether `path` is there. Over TFTP only the server's error packet (file not found)
    /// means no; any other failure (e.g. iPXE's PXE Base Code, which has no
    /// `TFTP_GET_FILE_SIZE`: UNSUPPORTED) is the error, not a missing file.
    fn exists(&mut self, path: &str) -> Result<bool, StubError> {
        match &mut self.source {
            Source::Net(tftp) => match tftp.size(path) {
                Ok(_) => Ok(true),
                Err(StubError::TftpFailed { status, .. }) if status == uefi::Status::TFTP_ERROR => {
                    Ok(false)
                }
                Err(e) => Err(e),
            },
            Source::Disk(_) => Ok(self.open_file(path).is_ok()),
        }
    }

    /// Finds limine.conf: first beside the EFI application, then Limine's fixed places.
    pub fn find_config(&mut self) -> Result<(String, Vec<u8>), StubError> {
        let mut candidates: Vec<String> = Vec::new();
        if let Some(dir) = &self.app_dir {
            candidates.push(format!("{}/limine.conf", dir.trim_end_matches('/')));
        }
        candidates.extend(
            bootproto::config::SEARCH_PATHS
                .iter()
                .map(|p| p.to_string()),
        );
        for path in candidates {
            if self.exists(&path)? {
                let bytes = self.read(&path)?;
                return Ok((path, bytes));
            }
        }
        Err(StubError::ConfigNotFound)
    }
}

fn read_failed(path: &str, status: uefi::Status) -> StubError {
    StubError::ReadFailed {
        path: path.to_string(),
        status,
    }
}

/// Reads until `buf` is full; a file that ends early is an end-of-file error.
fn fill(file: &mut RegularFile, buf: &mut [u8]) -> Result<(), uefi::Status> {
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..]) {
            Ok(0) => return Err(uefi::Status::END_OF_FILE),
            Ok(n) => done += n,
            Err(e) => return Err(e.status()),
        }
    }
    Ok(())
}

/// `/a/b` → `a\b` as UEFI's Open wants it, relative to the volume's root directory.
fn to_uefi_path(path: &str) -> Option<CString16> {
    let converted: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| if c == '/' { '\\' } else { c })
        .collect();
    CString16::try_from(converted.as_str()).ok()
}

/// The device the stub was loaded from, as the loaded-image protocol names it.
fn image_device(image: uefi::Handle) -> Option<uefi::Handle> {
    boot::open_protocol_exclusive::<LoadedImage>(image)
        .ok()?
        .device()
}

/// The application's directory and partition, from its loaded-image device paths.
fn describe_image(image: uefi::Handle) -> (Option<String>, u32, u32) {
    let Ok(loaded) = boot::open_protocol_exclusive::<LoadedImage>(image) else {
        return (None, 0, 0);
    };
    let app_dir = loaded.file_path().and_then(file_dir);
    let (mut partition, mut disk_id) = (0, 0);
    if let Some(device) = loaded.device() {
        if let Ok(path) = boot::open_protocol_exclusive::<DevicePath>(device) {
            for node in path.node_iter() {
                if let Ok(hd) = <&HardDrive>::try_from(node) {
                    partition = hd.partition_number();
                    if let PartitionSignature::Mbr(sig) = hd.partition_signature() {
                        disk_id = u32::from_le_bytes(sig);
                    }
                }
            }
        }
    }
    (app_dir, partition, disk_id)
}

fn file_dir(path: &DevicePath) -> Option<String> {
    let mut full = String::new();
    for node in path.node_iter() {
        if let Ok(fp) = <&FilePath>::try_from(node) {
            let units: Vec<u16> = fp.path_name().to_vec();
            let text: String = char::decode_utf16(units.into_iter().take_while(|u| *u != 0))
                .map(|c| c.unwrap_or('?'))
                .collect();
            full.push_str(&text.replace('\\', "/"));
        }
    }
    let dir = full.rsplit_once('/').map(|(d, _)| d.to_string())?;
    Some(if dir.starts_with('/') {
        dir
    } else {
        format!("/{dir}")
    })
}
