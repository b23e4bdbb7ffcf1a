//! Reading files from the volume the stub was loaded from, and finding limine.conf where Limine
//! looks for it.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use uefi::boot;
use uefi::fs::{FileSystem, PathBuf};
use uefi::proto::device_path::media::{FilePath, HardDrive, PartitionSignature};
use uefi::proto::device_path::DevicePath;
use uefi::proto::loaded_image::LoadedImage;
use uefi::CString16;

use crate::error::StubError;

/// The boot volume, opened once.
pub struct BootVolume {
    fs: FileSystem,
    /// Directory of the EFI application on the volume (e.g. `/EFI/BOOT`), if the firmware said.
    pub app_dir: Option<String>,
    /// 1-based partition number and MBR disk signature, from the device path (0 if unknown).
    pub partition_index: u32,
    pub mbr_disk_id: u32,
}

impl BootVolume {
    /// Opens the file system of the volume the stub was loaded from.
    pub fn open() -> Result<Self, StubError> {
        let image = boot::image_handle();
        let sfs =
            boot::get_image_file_system(image).map_err(|e| StubError::NoBootVolume(e.status()))?;
        let (app_dir, partition_index, mbr_disk_id) = describe_image(image);
        Ok(Self {
            fs: FileSystem::new(sfs),
            app_dir,
            partition_index,
            mbr_disk_id,
        })
    }

    /// Reads a whole file; `path` is absolute with `/` separators.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, StubError> {
        let failed = |status| StubError::ReadFailed {
            path: path.to_string(),
            status,
        };
        let uefi_path = to_uefi_path(path).ok_or(failed(uefi::Status::INVALID_PARAMETER))?;
        self.fs.read(&*uefi_path).map_err(|e| failed(fs_status(&e)))
    }

    fn exists(&mut self, path: &str) -> bool {
        to_uefi_path(path).is_some_and(|p| self.fs.try_exists(&*p).unwrap_or(false))
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
            if self.exists(&path) {
                let bytes = self.read(&path)?;
                return Ok((path, bytes));
            }
        }
        Err(StubError::ConfigNotFound)
    }
}

fn fs_status(e: &uefi::fs::Error) -> uefi::Status {
    match e {
        uefi::fs::Error::Io(io) => io.uefi_error.status(),
        _ => uefi::Status::NOT_FOUND,
    }
}

/// `/a/b` → `\a\b` as UEFI wants it.
fn to_uefi_path(path: &str) -> Option<PathBuf> {
    let converted: String = path
        .chars()
        .map(|c| if c == '/' { '\\' } else { c })
        .collect();
    CString16::try_from(converted.as_str())
        .ok()
        .map(PathBuf::from)
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
