//! Reading the boot files over the network the firmware booted the stub from: TFTP through the
//! UEFI PXE Base Code protocol on the loaded image's device, from the server of the DHCP ack.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr};

use uefi::boot::{self, MemoryType, ScopedProtocol};
use uefi::proto::network::pxe::{BaseCode, Packet};
use uefi::{CStr8, Handle};

use crate::error::StubError;
use crate::memory::{alloc_pages, PAGE};

/// TFTP on the boot device, with the server every file comes from.
pub struct Tftp {
    pxe: ScopedProtocol<BaseCode>,
    server: Ipv4Addr,
}

impl Tftp {
    /// The PXE Base Code protocol of `device`, if the firmware has one there: the stub was
    /// started from the network (a disk partition's handle never carries it).
    pub fn on(device: Handle) -> Option<ScopedProtocol<BaseCode>> {
        boot::open_protocol_exclusive::<BaseCode>(device).ok()
    }

    /// Readies `pxe` (started and configured by DHCP, as the firmware left it after booting
    /// us, or now) and finds the TFTP server: the DHCP ack's (or proxy offer's) next server.
    pub fn new(mut pxe: ScopedProtocol<BaseCode>) -> Result<Self, StubError> {
        if !pxe.mode().started() {
            pxe.start(false)
                .map_err(|e| StubError::Pxe("start", e.status()))?;
        }
        if !pxe.mode().dhcp_ack_received() {
            pxe.dhcp(false)
                .map_err(|e| StubError::Pxe("DHCP", e.status()))?;
        }
        let mode = pxe.mode();
        let server = [mode.dhcp_ack(), mode.proxy_offer()]
            .into_iter()
            .map(next_server)
            .find(|ip| !ip.is_unspecified())
            .ok_or(StubError::NoTftpServer)?;
        Ok(Self { pxe, server })
    }

    /// The server's address, for the log.
    pub fn server(&self) -> Ipv4Addr {
        self.server
    }

    /// The size of `path` on the server, or why not.
    pub fn size(&mut self, path: &str) -> Result<usize, StubError> {
        let name = tftp_name(path);
        let name = as_cstr8(path, &name)?;
        let size = self
            .pxe
            .tftp_get_file_size(&IpAddr::V4(self.server), name)
            .map_err(|e| self.failed(path, e.status()))?;
        usize::try_from(size).map_err(|_| self.failed(path, uefi::Status::BAD_BUFFER_SIZE))
    }

    /// Reads all of `path` into `buf`, which is exactly its size.
    pub fn read_into(&mut self, path: &str, buf: &mut [u8]) -> Result<(), StubError> {
        let name = tftp_name(path);
        let name = as_cstr8(path, &name)?;
        let got = self
            .pxe
            .tftp_read_file(&IpAddr::V4(self.server), name, Some(buf))
            .map_err(|e| self.failed(path, e.status()))?;
        if got != buf.len() as u64 {
            return Err(self.failed(path, uefi::Status::END_OF_FILE));
        }
        Ok(())
    }

    /// Reads a whole small file (limine.conf).
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, StubError> {
        let started = crate::clock::now();
        let mut bytes = alloc::vec![0; self.size(path)?];
        self.read_into(path, &mut bytes)?;
        self.log(path, bytes.len(), started);
        Ok(bytes)
    }

    /// Reads a whole file into fresh pages of memory type `ty` (zero-padded to a page).
    pub fn read_to_pages(
        &mut self,
        path: &str,
        ty: MemoryType,
        what: &'static str,
    ) -> Result<(u64, &'static [u8]), StubError> {
        let started = crate::clock::now();
        let size = self.size(path)?;
        let (phys, mem) = alloc_pages(size.div_ceil(PAGE as usize), ty, what)?;
        let bytes = &mut mem[..size];
        self.read_into(path, bytes)?;
        self.log(path, size, started);
        Ok((phys, bytes))
    }

    fn log(&self, path: &str, size: usize, started: u64) {
        crate::say!(
            "bootstub: tftp: {} {} from {} in {}",
            path.trim_start_matches('/'),
            crate::clock::Size(size as u64),
            self.server,
            crate::clock::Elapsed(crate::clock::since(started))
        );
    }

    fn failed(&self, path: &str, status: uefi::Status) -> StubError {
        StubError::TftpFailed {
            path: path.to_string(),
            server: self.server,
            status,
        }
    }
}

/// The name sent to the server, NUL-terminated: the path as limine.conf writes it (rooted at
/// the TFTP root, as Limine sends `boot():` paths when booted over PXE).
fn tftp_name(path: &str) -> Vec<u8> {
    let mut name: Vec<u8> = alloc::format!("/{}", path.trim_start_matches('/')).into_bytes();
    name.push(0);
    name
}

fn as_cstr8<'a>(path: &str, name: &'a [u8]) -> Result<&'a CStr8, StubError> {
    CStr8::from_bytes_with_nul(name).map_err(|_| StubError::ReadFailed {
        path: path.to_string(),
        status: uefi::Status::INVALID_PARAMETER,
    })
}

/// A DHCPv4 reply's `siaddr` (BOOTP's next server: where the boot files are).
fn next_server(packet: &Packet) -> Ipv4Addr {
    let raw: &[u8; 1472] = packet.as_ref();
    Ipv4Addr::new(raw[20], raw[21], raw[22], raw[23])
}
