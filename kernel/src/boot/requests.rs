//! The Limine requests, between the start and end markers, in the sections the linker script
//! keeps (`.limine_requests*`). The boot loader fills in their responses before entry.
//!
//! `#[link_section]` and `#[used]` are what put these statics where Limine looks; that is the
//! only reason this module allows `unsafe_code` (the lint counts `link_section` as unsafe).
#![allow(unsafe_code)]

use limine::request::{
    BootloaderInfoRequest, DateAtBootRequest, ExecutableAddressRequest, ExecutableCmdlineRequest,
    ExecutableFileRequest, FirmwareTypeRequest, FramebufferRequest, HhdmRequest, MemoryMapRequest,
    ModuleRequest, RequestsEndMarker, RequestsStartMarker, RsdpRequest, StackSizeRequest,
};
use limine::BaseRevision;

/// The boot stack the kernel asks for. The self-check verifies it was honoured.
/// 1 MiB: an unoptimised build needs ~256 KiB of stack to verify the image (the manifest
/// parser is deep), and the self-check proves every page of it is there.
pub const STACK_SIZE: u64 = 1024 * 1024;

#[used]
#[unsafe(link_section = ".limine_requests_start")]
static START_MARKER: RequestsStartMarker = RequestsStartMarker::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static BASE_REVISION: BaseRevision = BaseRevision::with_revision(3);

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static BOOTLOADER_INFO: BootloaderInfoRequest = BootloaderInfoRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static FIRMWARE_TYPE: FirmwareTypeRequest = FirmwareTypeRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static STACK_SIZE_REQUEST: StackSizeRequest = StackSizeRequest::new().with_size(STACK_SIZE);

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static HHDM: HhdmRequest = HhdmRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static MEMORY_MAP: MemoryMapRequest = MemoryMapRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static FRAMEBUFFER: FramebufferRequest = FramebufferRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static RSDP: RsdpRequest = RsdpRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static EXECUTABLE_FILE: ExecutableFileRequest = ExecutableFileRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static EXECUTABLE_ADDRESS: ExecutableAddressRequest = ExecutableAddressRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static EXECUTABLE_CMDLINE: ExecutableCmdlineRequest = ExecutableCmdlineRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static MODULES: ModuleRequest = ModuleRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests")]
pub static DATE_AT_BOOT: DateAtBootRequest = DateAtBootRequest::new();

#[used]
#[unsafe(link_section = ".limine_requests_end")]
static END_MARKER: RequestsEndMarker = RequestsEndMarker::new();
