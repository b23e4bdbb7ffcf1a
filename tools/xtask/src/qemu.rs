//! Finding QEMU and OVMF on the host, and building QEMU command lines.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

pub const QEMU_BINARY: &str = "qemu-system-x86_64";
/// isa-debug-exit: the kernel writes a byte `v` to this port and QEMU exits with `(v << 1) | 1`.
pub const DEBUG_EXIT_IOBASE: u16 = bootlog::harness::EXIT_PORT;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Machine {
    Q35,
    Pc,
}

impl Machine {
    pub fn as_str(self) -> &'static str {
        match self {
            Machine::Q35 => "q35",
            Machine::Pc => "pc",
        }
    }
}

/// How a disk is attached to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attach {
    /// A virtio-blk PCI device (`-drive if=virtio`).
    Virtio,
    /// A SATA disk on an AHCI controller: on q35 the chipset's own (the spec's plain
    /// `-drive format=raw,file=…`), on pc an added `-device ahci` card.
    Ahci,
    /// A USB stick (`usb-storage`) on an added xHCI controller (`qemu-xhci`).
    Usb,
    /// A USB stick on an added USB 2.0 EHCI controller (`usb-ehci`), which the firmware boots
    /// from but the kernel does not drive: it runs from the boot module.
    UsbEhci,
    /// A CD-ROM (`-drive media=cdrom`, read-only): on q35 an ATAPI drive on the chipset's
    /// AHCI controller, on pc on the PIIX IDE controller. The file is an ISO (`build-iso`).
    Cdrom,
    /// An NVMe SSD (`-device nvme`), one namespace with 512-byte logical blocks.
    Nvme,
    /// An NVMe SSD whose namespace has 4096-byte logical blocks.
    Nvme4k,
    /// An IDE disk: on pc the chipset's PIIX controller (the spec's plain `-drive
    /// format=raw,file=…`), on q35 an added `piix3-ide` card.
    Ide,
}

impl Attach {
    /// The logical sector size of the disk QEMU makes, which the image's MBR and ESP must be
    /// laid out for.
    pub fn sector_size(self) -> crate::image::SectorSize {
        match self {
            Attach::Nvme4k => crate::image::SectorSize::S4096,
            _ => crate::image::SectorSize::S512,
        }
    }
}

/// A network card of the guest, on QEMU's user-mode network (`-netdev user`: the guest is
/// 10.0.2.15, the gateway 10.0.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nic {
    /// An Intel 82574L (`-device e1000e`), q35's default model.
    E1000e,
    /// A virtio network device (`-device virtio-net-pci`).
    VirtioNet,
}

impl Nic {
    /// QEMU's device name.
    pub fn device(self) -> &'static str {
        match self {
            Nic::E1000e => "e1000e",
            Nic::VirtioNet => "virtio-net-pci",
        }
    }
}

/// A host TCP port forwarded to a guest port on the first NIC's user-mode network
/// (`hostfwd=tcp:127.0.0.1:HOST-:GUEST`): connections to `127.0.0.1:host` on the host reach
/// `guest` on the guest's address (10.0.2.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub host: u16,
    pub guest: u16,
}

impl Forward {
    /// `guest` forwarded from a host port that is free now (the system picks it; another
    /// program could still take it before QEMU starts, which then fails to start and says so).
    pub fn free_host_port(guest: u16) -> std::io::Result<Forward> {
        let probe = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let host = probe.local_addr()?.port();
        Ok(Forward { host, guest })
    }

    /// QEMU's `hostfwd` option value.
    fn option(self) -> String {
        format!(",hostfwd=tcp:127.0.0.1:{}-:{}", self.host, self.guest)
    }
}

/// The QEMU device id of the USB stick that is disk `i` (for the monitor's `device_del`).
pub fn usb_device_id(i: usize) -> String {
    format!("usbstick{i}")
}

/// One disk of the guest, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    pub path: PathBuf,
    pub attach: Attach,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

/// Where the guest's first serial port goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serial {
    /// The terminal, multiplexed with the QEMU monitor (Ctrl-A X quits, Ctrl-A C monitor).
    MonStdio,
    File(PathBuf),
    /// A Unix socket QEMU listens on (and waits for before starting the guest), so a test can
    /// both read the console and type into it.
    Socket(PathBuf),
}

/// The OVMF firmware pair: read-only code and a variable-store template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ovmf {
    pub code: PathBuf,
    pub vars: PathBuf,
}

/// Everything that varies between QEMU runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuConfig {
    pub machine: Machine,
    pub accel: Accel,
    /// The CPU model (`-cpu`); `None`: QEMU's default under TCG (`qemu64`, without SMEP, SMAP
    /// or UMIP), `host` under KVM.
    pub cpu: Option<String>,
    /// Guest memory; `None`: QEMU's default (128 MiB), as the spec's plain command has it.
    pub memory_mib: Option<u32>,
    pub ovmf_code: PathBuf,
    /// A writable copy of the variable store, private to this run.
    pub ovmf_vars: PathBuf,
    /// Load the firmware with `-bios ovmf_code` and no variable store (the spec's plain
    /// command) instead of the two pflash drives.
    pub bios: bool,
    /// The disks, attached in this order.
    pub disks: Vec<Drive>,
    pub serial: Serial,
    /// Adds `isa-debug-exit` so the guest can end QEMU with a status.
    pub debug_exit: bool,
    /// The machine's display device: `false` gives `-vga none` (no framebuffer at all).
    pub vga: bool,
    /// The QEMU monitor on a Unix socket QEMU listens on (without waiting), for
    /// `screendump`.
    pub monitor: Option<PathBuf>,
    /// A USB keyboard (`usb-kbd` on the xHCI controller) as the only keyboard: on q35 the
    /// chipset's i8042 is left out (`i8042=off`), so typed keys can only come from USB.
    pub usb_keyboard: bool,
    /// The network cards, in this order, each on its own user-mode network (`-netdev user`);
    /// empty: QEMU's default NIC (q35: e1000e, pc: e1000, on a user-mode network).
    pub nics: Vec<Nic>,
    /// Network boot: the first NIC's user-mode network serves this directory over TFTP with
    /// the boot file `/EFI/BOOT/BOOTX64.EFI`, and the NIC comes first in the boot order without
    /// QEMU's iPXE option ROM (`romfile=`), so OVMF's own PXE boots from it.
    pub tftp_root: Option<PathBuf>,
    /// Host ports forwarded to the guest on the first NIC's network; with no `nics`, the
    /// first NIC is then an e1000e (QEMU's default NIC has no `-netdev` to carry them).
    pub forwards: Vec<Forward>,
}

impl QemuConfig {
    pub fn new(ovmf_code: PathBuf, ovmf_vars: PathBuf, disk: PathBuf, serial: Serial) -> Self {
        QemuConfig {
            machine: Machine::Q35,
            accel: Accel::Tcg,
            cpu: None,
            memory_mib: Some(256),
            ovmf_code,
            ovmf_vars,
            bios: false,
            disks: vec![Drive {
                path: disk,
                attach: Attach::Virtio,
            }],
            serial,
            debug_exit: false,
            vga: true,
            monitor: None,
            usb_keyboard: false,
            nics: Vec::new(),
            tftp_root: None,
            forwards: Vec::new(),
        }
    }
}

/// QEMU's option syntax ends a value at a comma; a literal comma is written twice.
fn opt_path(path: &Path) -> OsString {
    let s = path.as_os_str().to_string_lossy();
    OsString::from(s.replace(',', ",,"))
}

fn kv(prefix: &str, path: &Path, suffix: &str) -> OsString {
    let mut s = OsString::from(prefix);
    s.push(opt_path(path));
    s.push(suffix);
    s
}

/// The arguments after the QEMU binary.
pub fn qemu_args(cfg: &QemuConfig) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: &str| args.push(a.into());
    push("-machine");
    push(&match (cfg.usb_keyboard, cfg.machine) {
        (true, Machine::Q35) => format!("{},i8042=off", cfg.machine.as_str()),
        _ => cfg.machine.as_str().to_string(),
    });
    if let Some(mib) = cfg.memory_mib {
        push("-m");
        push(&format!("{mib}M"));
    }
    match cfg.accel {
        Accel::Tcg => {
            push("-accel");
            push("tcg");
            if let Some(cpu) = &cfg.cpu {
                push("-cpu");
                push(cpu);
            }
        }
        Accel::Kvm => {
            push("-accel");
            push("kvm");
            push("-cpu");
            push(cfg.cpu.as_deref().unwrap_or("host"));
        }
    }
    if cfg.bios {
        args.push("-bios".into());
        args.push(cfg.ovmf_code.clone().into());
    } else {
        args.push("-drive".into());
        args.push(kv(
            "if=pflash,format=raw,readonly=on,file=",
            &cfg.ovmf_code,
            "",
        ));
        args.push("-drive".into());
        args.push(kv("if=pflash,format=raw,file=", &cfg.ovmf_vars, ""));
    }
    if cfg.usb_keyboard || cfg.disks.iter().any(|d| d.attach == Attach::Usb) {
        args.push("-device".into());
        args.push("qemu-xhci,id=xhci".into());
    }
    if cfg.usb_keyboard {
        args.push("-device".into());
        args.push("usb-kbd,bus=xhci.0".into());
    }
    push_drives(&mut args, cfg.machine, &cfg.disks);
    let nics = if cfg.nics.is_empty() && !cfg.forwards.is_empty() {
        vec![Nic::E1000e]
    } else {
        cfg.nics.clone()
    };
    push_nics(&mut args, &nics, cfg.tftp_root.as_deref(), &cfg.forwards);
    match &cfg.serial {
        Serial::Socket(p) => {
            args.push("-chardev".into());
            args.push(kv("socket,id=console,path=", p, ",server=on,wait=on"));
            args.push("-serial".into());
            args.push("chardev:console".into());
        }
        other => {
            args.push("-serial".into());
            args.push(match other {
                Serial::File(p) => kv("file:", p, ""),
                _ => "mon:stdio".into(),
            });
        }
    }
    if cfg.debug_exit {
        args.push("-device".into());
        args.push(format!("isa-debug-exit,iobase={DEBUG_EXIT_IOBASE:#x},iosize=0x04").into());
    }
    if !cfg.vga {
        push_all(&mut args, &["-vga", "none"]);
    }
    if let Some(m) = &cfg.monitor {
        args.push("-monitor".into());
        args.push(kv("unix:", m, ",server=on,wait=off"));
    }
    args.push("-display".into());
    args.push("none".into());
    args.push("-no-reboot".into());
    args
}

fn push_all(args: &mut Vec<OsString>, more: &[&str]) {
    args.extend(more.iter().map(OsString::from));
}

/// `-netdev user,id=nN -device MODEL,netdev=nN` for each NIC, in order (QEMU then makes no
/// default NIC); nothing for none. With `tftp_root`, the first NIC network-boots from it;
/// `forwards` go on the first NIC's network.
fn push_nics(
    args: &mut Vec<OsString>,
    nics: &[Nic],
    tftp_root: Option<&Path>,
    forwards: &[Forward],
) {
    for (i, nic) in nics.iter().enumerate() {
        args.push("-netdev".into());
        let mut netdev: OsString = match (i, tftp_root) {
            (0, Some(root)) => kv(
                &format!("user,id=n{i},tftp="),
                root,
                &format!(",bootfile={}", crate::system_image::BOOT_EFI_ESP_PATH),
            ),
            _ => format!("user,id=n{i}").into(),
        };
        if i == 0 {
            for f in forwards {
                netdev.push(f.option());
            }
        }
        args.push(netdev);
        args.push("-device".into());
        let pxe = if i == 0 && tftp_root.is_some() {
            ",bootindex=1,romfile="
        } else {
            ""
        };
        args.push(format!("{},netdev=n{i}{pxe}", nic.device()).into());
    }
}

/// The `-drive`/`-device` options for `disks`, in order.
fn push_drives(args: &mut Vec<OsString>, machine: Machine, disks: &[Drive]) {
    let mut ahci_port = 0;
    let mut ide_unit = 0;
    let mut ehci = false;
    for (i, d) in disks.iter().enumerate() {
        match (d.attach, machine) {
            // The xHCI controller is added before the drives (`qemu_args`).
            (Attach::Usb, _) => {
                args.push("-drive".into());
                args.push(kv(
                    &format!("if=none,format=raw,id=stick{i},file="),
                    &d.path,
                    "",
                ));
                args.push("-device".into());
                args.push(
                    format!(
                        "usb-storage,bus=xhci.0,drive=stick{i},id={}",
                        usb_device_id(i)
                    )
                    .into(),
                );
            }
            (Attach::UsbEhci, _) => {
                if !ehci {
                    args.push("-device".into());
                    args.push("usb-ehci,id=ehci".into());
                    ehci = true;
                }
                args.push("-drive".into());
                args.push(kv(
                    &format!("if=none,format=raw,id=stick{i},file="),
                    &d.path,
                    "",
                ));
                args.push("-device".into());
                args.push(format!("usb-storage,bus=ehci.0,drive=stick{i}").into());
            }
            (Attach::Cdrom, _) => {
                args.push("-drive".into());
                args.push(kv("media=cdrom,format=raw,file=", &d.path, ""));
            }
            (Attach::Virtio, _) => {
                args.push("-drive".into());
                args.push(kv("if=virtio,format=raw,file=", &d.path, ""));
            }
            (Attach::Nvme | Attach::Nvme4k, _) => {
                args.push("-drive".into());
                args.push(kv(
                    &format!("if=none,format=raw,id=nvm{i},file="),
                    &d.path,
                    "",
                ));
                let lba = if d.attach == Attach::Nvme4k {
                    ",logical_block_size=4096,physical_block_size=4096"
                } else {
                    ""
                };
                args.push("-device".into());
                args.push(format!("nvme,serial=pandagen{i},drive=nvm{i}{lba}").into());
            }
            // pc's PIIX IDE takes plain drives: exactly the spec's Option 1 command.
            (Attach::Ide, Machine::Pc) => {
                args.push("-drive".into());
                args.push(kv("format=raw,file=", &d.path, ""));
            }
            (Attach::Ide, Machine::Q35) => {
                let bus = format!("bus=pide.{},unit={}", ide_unit / 2, ide_unit % 2);
                let card = (ide_unit == 0).then_some("piix3-ide,id=pide");
                push_card_disk(args, card, &format!("ide{i}"), &d.path, &bus);
                ide_unit += 1;
            }
            // q35's ICH9 AHCI takes plain drives: exactly the spec's QEMU command.
            (Attach::Ahci, Machine::Q35) => {
                args.push("-drive".into());
                args.push(kv("format=raw,file=", &d.path, ""));
            }
            (Attach::Ahci, Machine::Pc) => {
                let card = (ahci_port == 0).then_some("ahci,id=ahci");
                let bus = format!("bus=ahci.{ahci_port}");
                push_card_disk(args, card, &format!("disk{i}"), &d.path, &bus);
                ahci_port += 1;
            }
        }
    }
}

/// A hard disk on an added controller card: the card first (`card`, for the card's first
/// disk), then `-drive if=none,id=ID` and `-device ide-hd,drive=ID,BUS`.
fn push_card_disk(args: &mut Vec<OsString>, card: Option<&str>, id: &str, path: &Path, bus: &str) {
    if let Some(card) = card {
        args.push("-device".into());
        args.push(card.into());
    }
    args.push("-drive".into());
    args.push(kv(&format!("if=none,format=raw,id={id},file="), path, ""));
    args.push("-device".into());
    args.push(format!("ide-hd,drive={id},{bus}").into());
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FindError {
    #[error(
        "{QEMU_BINARY} was not found on PATH. Install it:\n  \
         Debian/Ubuntu: sudo apt-get install qemu-system-x86\n  \
         Fedora:        sudo dnf install qemu-system-x86\n  \
         Arch:          sudo pacman -S qemu-full   (or qemu-system-x86)\n  \
         macOS:         brew install qemu"
    )]
    QemuNotFound,
    #[error("OVMF_CODE is set to {0}, which does not exist")]
    EnvCodeMissing(PathBuf),
    #[error("OVMF_VARS is set to {0}, which does not exist")]
    EnvVarsMissing(PathBuf),
    #[error(
        "OVMF_CODE is {0}, but no variable store was found beside it; set OVMF_VARS to the \
         matching OVMF_VARS file"
    )]
    EnvVarsNotGuessable(PathBuf),
    #[error(
        "found the OVMF code file {code} but not its variable store {vars}; reinstall the OVMF \
         package or set OVMF_CODE and OVMF_VARS"
    )]
    VarsMissing { code: PathBuf, vars: PathBuf },
    #[error(
        "OVMF (UEFI firmware for QEMU) was not found. Install it:\n  \
         Debian/Ubuntu: sudo apt-get install ovmf\n  \
         Fedora:        sudo dnf install edk2-ovmf\n  \
         Arch:          sudo pacman -S edk2-ovmf\n  \
         macOS:         brew install qemu   (ships edk2-x86_64-code.fd)\n\
         or point OVMF_CODE (and OVMF_VARS) at the firmware files."
    )]
    OvmfNotFound,
}

/// The firmware file the spec's plain command names (`-bios`), on the hosts that have it.
pub const SPEC_BIOS: &str = "/usr/share/OVMF/OVMF_CODE.fd";

/// The firmware for a `-bios` boot: the spec's file if this host has it, else the code file
/// found for pflash boots.
pub fn spec_bios(found: &Ovmf) -> PathBuf {
    let spec = Path::new(SPEC_BIOS);
    if spec.is_file() {
        spec.to_path_buf()
    } else {
        found.code.clone()
    }
}

/// Known (code, vars) locations, in search order.
pub const OVMF_CANDIDATES: &[(&str, &str)] = &[
    // Debian / Ubuntu
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    // Fedora
    (
        "/usr/share/edk2/ovmf/OVMF_CODE.fd",
        "/usr/share/edk2/ovmf/OVMF_VARS.fd",
    ),
    // Arch
    (
        "/usr/share/edk2/x64/OVMF_CODE.4m.fd",
        "/usr/share/edk2/x64/OVMF_VARS.4m.fd",
    ),
    (
        "/usr/share/edk2-ovmf/x64/OVMF_CODE.fd",
        "/usr/share/edk2-ovmf/x64/OVMF_VARS.fd",
    ),
    // Homebrew (Apple silicon, then Intel)
    (
        "/opt/homebrew/share/qemu/edk2-x86_64-code.fd",
        "/opt/homebrew/share/qemu/edk2-i386-vars.fd",
    ),
    (
        "/usr/local/share/qemu/edk2-x86_64-code.fd",
        "/usr/local/share/qemu/edk2-i386-vars.fd",
    ),
];

/// For an `OVMF_CODE` override without `OVMF_VARS`: the sibling named with VARS for CODE.
fn guess_vars_beside(code: &Path) -> Vec<PathBuf> {
    let Some(name) = code.file_name().and_then(OsStr::to_str) else {
        return Vec::new();
    };
    let mut names = vec![
        name.replace("CODE", "VARS"),
        name.replace("code", "vars"),
        name.replace("x86_64-code", "i386-vars"),
    ];
    names.retain(|n| n != name);
    names.dedup();
    names.into_iter().map(|n| code.with_file_name(n)).collect()
}

/// Finds OVMF: the `OVMF_CODE`/`OVMF_VARS` overrides first, then [`OVMF_CANDIDATES`].
/// Pure over `exists` so the order can be tested.
pub fn find_ovmf(
    env_code: Option<PathBuf>,
    env_vars: Option<PathBuf>,
    exists: impl Fn(&Path) -> bool,
) -> Result<Ovmf, FindError> {
    if let Some(code) = env_code {
        if !exists(&code) {
            return Err(FindError::EnvCodeMissing(code));
        }
        let vars = match env_vars {
            Some(v) if exists(&v) => v,
            Some(v) => return Err(FindError::EnvVarsMissing(v)),
            None => guess_vars_beside(&code)
                .into_iter()
                .find(|v| exists(v))
                .ok_or_else(|| FindError::EnvVarsNotGuessable(code.clone()))?,
        };
        return Ok(Ovmf { code, vars });
    }
    let mut code_without_vars = None;
    for (code, vars) in OVMF_CANDIDATES {
        let (code, vars) = (Path::new(code), Path::new(vars));
        if !exists(code) {
            continue;
        }
        let vars = match &env_vars {
            Some(v) => v.as_path(),
            None => vars,
        };
        if exists(vars) {
            return Ok(Ovmf {
                code: code.to_path_buf(),
                vars: vars.to_path_buf(),
            });
        }
        code_without_vars.get_or_insert((code.to_path_buf(), vars.to_path_buf()));
    }
    match code_without_vars {
        Some((code, vars)) => Err(FindError::VarsMissing { code, vars }),
        None => Err(FindError::OvmfNotFound),
    }
}

/// [`find_ovmf`] with the real environment and file system.
pub fn find_ovmf_on_host() -> Result<Ovmf, FindError> {
    let env = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    find_ovmf(env("OVMF_CODE"), env("OVMF_VARS"), |p| p.is_file())
}

/// Finds `qemu-system-x86_64` in the `PATH`-style list `path_var`.
pub fn find_qemu(
    path_var: Option<&OsStr>,
    exists: impl Fn(&Path) -> bool,
) -> Result<PathBuf, FindError> {
    find_on_path(QEMU_BINARY, path_var, exists).ok_or(FindError::QemuNotFound)
}

/// The first `program` (with the platform's executable suffix) in the `PATH`-style list
/// `path_var` for which `exists` holds. Shared by every host tool lookup.
pub fn find_on_path(
    program: &str,
    path_var: Option<&OsStr>,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    let exe = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(&exe))
        .find(|p| exists(p))
}

/// [`find_qemu`] with the real `PATH`.
pub fn find_qemu_on_host() -> Result<PathBuf, FindError> {
    find_qemu(std::env::var_os("PATH").as_deref(), |p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn fs(files: &[&str]) -> impl Fn(&Path) -> bool {
        let set: HashSet<PathBuf> = files.iter().map(PathBuf::from).collect();
        move |p| set.contains(p)
    }

    fn ovmf(code: &str, vars: &str) -> Ovmf {
        Ovmf {
            code: code.into(),
            vars: vars.into(),
        }
    }

    #[test]
    fn debian_4m_wins_over_plain() {
        let files = fs(&[
            "/usr/share/OVMF/OVMF_CODE.fd",
            "/usr/share/OVMF/OVMF_VARS.fd",
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
        ]);
        assert_eq!(
            find_ovmf(None, None, files),
            Ok(ovmf(
                "/usr/share/OVMF/OVMF_CODE_4M.fd",
                "/usr/share/OVMF/OVMF_VARS_4M.fd"
            ))
        );
    }

    #[test]
    fn each_distro_is_found() {
        for (code, vars) in OVMF_CANDIDATES {
            assert_eq!(
                find_ovmf(None, None, fs(&[code, vars])),
                Ok(ovmf(code, vars))
            );
        }
        assert!(OVMF_CANDIDATES
            .iter()
            .any(|(c, v)| c.starts_with("/opt/homebrew") && v.ends_with("edk2-i386-vars.fd")));
    }

    #[test]
    fn incomplete_pair_is_skipped_then_reported() {
        // Debian 4M code without vars, but Fedora complete: take Fedora.
        let files = fs(&[
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/edk2/ovmf/OVMF_CODE.fd",
            "/usr/share/edk2/ovmf/OVMF_VARS.fd",
        ]);
        assert_eq!(
            find_ovmf(None, None, files).unwrap().code,
            PathBuf::from("/usr/share/edk2/ovmf/OVMF_CODE.fd")
        );
        let files = fs(&["/usr/share/OVMF/OVMF_CODE_4M.fd"]);
        assert_eq!(
            find_ovmf(None, None, files),
            Err(FindError::VarsMissing {
                code: "/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
                vars: "/usr/share/OVMF/OVMF_VARS_4M.fd".into()
            })
        );
    }

    #[test]
    fn nothing_found_names_packages() {
        let err = find_ovmf(None, None, fs(&[])).unwrap_err();
        assert_eq!(err, FindError::OvmfNotFound);
        let msg = err.to_string();
        for needle in [
            "apt-get install ovmf",
            "dnf install edk2-ovmf",
            "pacman -S edk2-ovmf",
            "brew install qemu",
            "OVMF_CODE",
        ] {
            assert!(msg.contains(needle), "{needle} in {msg}");
        }
    }

    #[test]
    fn env_override_comes_first() {
        let files = fs(&[
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
            "/my/CODE.fd",
            "/my/VARS.fd",
            "/my/other-vars.fd",
        ]);
        assert_eq!(
            find_ovmf(Some("/my/CODE.fd".into()), None, &files),
            Ok(ovmf("/my/CODE.fd", "/my/VARS.fd"))
        );
        assert_eq!(
            find_ovmf(
                Some("/my/CODE.fd".into()),
                Some("/my/other-vars.fd".into()),
                &files
            ),
            Ok(ovmf("/my/CODE.fd", "/my/other-vars.fd"))
        );
        assert_eq!(
            find_ovmf(Some("/nope.fd".into()), None, &files),
            Err(FindError::EnvCodeMissing("/nope.fd".into()))
        );
        assert_eq!(
            find_ovmf(Some("/my/CODE.fd".into()), Some("/nope".into()), &files),
            Err(FindError::EnvVarsMissing("/nope".into()))
        );
        let files = fs(&["/my/firmware.fd"]);
        assert_eq!(
            find_ovmf(Some("/my/firmware.fd".into()), None, files),
            Err(FindError::EnvVarsNotGuessable("/my/firmware.fd".into()))
        );
    }

    #[test]
    fn qemu_on_path() {
        let files = fs(&["/b/qemu-system-x86_64", "/c/qemu-system-x86_64"]);
        let path = std::env::join_paths(["/a", "/b", "/c"]).unwrap();
        assert_eq!(
            find_qemu(Some(&path), &files),
            Ok(PathBuf::from("/b/qemu-system-x86_64"))
        );
        let err = find_qemu(None, &files).unwrap_err();
        let msg = err.to_string();
        for needle in [
            "apt-get install qemu-system-x86",
            "dnf install qemu-system-x86",
            "pacman -S qemu-full",
            "brew install qemu",
        ] {
            assert!(msg.contains(needle), "{needle} in {msg}");
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn interactive_command_line() {
        let cfg = QemuConfig::new(
            "/fw/CODE.fd".into(),
            "target/vars.fd".into(),
            "target/pandagen-system.img".into(),
            Serial::MonStdio,
        );
        assert_eq!(
            strings(qemu_args(&cfg)).join(" "),
            "-machine q35 -m 256M -accel tcg \
             -drive if=pflash,format=raw,readonly=on,file=/fw/CODE.fd \
             -drive if=pflash,format=raw,file=target/vars.fd \
             -drive if=virtio,format=raw,file=target/pandagen-system.img \
             -serial mon:stdio -display none -no-reboot"
        );
    }

    #[test]
    fn test_command_line_with_kvm_pc_and_debug_exit() {
        let mut cfg = QemuConfig::new(
            "/fw/CODE.fd".into(),
            "/t/a,b.vars".into(),
            "/t/x.img".into(),
            Serial::File("/t/x.serial.log".into()),
        );
        cfg.machine = Machine::Pc;
        cfg.accel = Accel::Kvm;
        cfg.debug_exit = true;
        let args = strings(qemu_args(&cfg));
        let joined = args.join(" ");
        assert!(joined.starts_with("-machine pc -m 256M -accel kvm -cpu host "));
        assert!(args.contains(&"if=pflash,format=raw,file=/t/a,,b.vars".to_string()));
        assert!(joined.contains("-serial file:/t/x.serial.log"));
        assert!(joined.contains("-device isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(joined.ends_with("-display none -no-reboot"));
    }

    #[test]
    fn cpu_model() {
        let mut cfg = QemuConfig::new(
            "/c.fd".into(),
            "/v.fd".into(),
            "/x.img".into(),
            Serial::MonStdio,
        );
        cfg.cpu = Some("max".into());
        let joined = strings(qemu_args(&cfg)).join(" ");
        assert!(
            joined.starts_with("-machine q35 -m 256M -accel tcg -cpu max -drive"),
            "{joined}"
        );
        cfg.accel = Accel::Kvm;
        let joined = strings(qemu_args(&cfg)).join(" ");
        assert!(
            joined.starts_with("-machine q35 -m 256M -accel kvm -cpu max -drive"),
            "{joined}"
        );
    }

    #[test]
    fn usb_stick_and_cdrom() {
        let mut cfg = QemuConfig::new(
            "/c.fd".into(),
            "/v.fd".into(),
            "/stick.img".into(),
            Serial::MonStdio,
        );
        cfg.disks[0].attach = Attach::Usb;
        cfg.disks.push(Drive {
            path: "/second.img".into(),
            attach: Attach::Usb,
        });
        cfg.disks.push(Drive {
            path: "/boot.iso".into(),
            attach: Attach::Cdrom,
        });
        let q35 = strings(qemu_args(&cfg)).join(" ");
        assert!(
            q35.contains(
                "-device qemu-xhci,id=xhci \
                 -drive if=none,format=raw,id=stick0,file=/stick.img -device usb-storage,bus=xhci.0,drive=stick0,id=usbstick0 \
                 -drive if=none,format=raw,id=stick1,file=/second.img -device usb-storage,bus=xhci.0,drive=stick1,id=usbstick1 \
                 -drive media=cdrom,format=raw,file=/boot.iso -serial"
            ),
            "{q35}"
        );
        assert_eq!(q35.matches("qemu-xhci").count(), 1, "one controller");
    }

    #[test]
    fn the_specs_plain_command() {
        let mut cfg = QemuConfig::new(
            "/usr/share/OVMF/OVMF_CODE.fd".into(),
            "/unused.vars".into(),
            "pandagen-system.img".into(),
            Serial::File("/t/s.log".into()),
        );
        cfg.machine = Machine::Pc;
        cfg.memory_mib = None;
        cfg.bios = true;
        cfg.disks[0].attach = Attach::Ide;
        assert_eq!(
            strings(qemu_args(&cfg)).join(" "),
            "-machine pc -accel tcg -bios /usr/share/OVMF/OVMF_CODE.fd \
             -drive format=raw,file=pandagen-system.img \
             -serial file:/t/s.log -display none -no-reboot"
        );
    }

    #[test]
    fn a_usb_keyboard_is_the_only_keyboard() {
        let mut cfg = QemuConfig::new(
            "/c.fd".into(),
            "/v.fd".into(),
            "/image.img".into(),
            Serial::MonStdio,
        );
        cfg.usb_keyboard = true;
        let q35 = strings(qemu_args(&cfg)).join(" ");
        assert!(q35.starts_with("-machine q35,i8042=off "), "{q35}");
        assert!(
            q35.contains("-device qemu-xhci,id=xhci -device usb-kbd,bus=xhci.0 -drive if=virtio"),
            "{q35}"
        );
        cfg.disks[0].attach = Attach::Usb;
        let with_stick = strings(qemu_args(&cfg)).join(" ");
        assert_eq!(with_stick.matches("qemu-xhci").count(), 1, "one controller");
    }

    #[test]
    fn ide_drives_on_q35_get_a_piix_card() {
        let mut cfg = QemuConfig::new(
            "/c.fd".into(),
            "/v.fd".into(),
            "/image.img".into(),
            Serial::MonStdio,
        );
        for path in ["/a.img", "/b.img", "/c.img"] {
            cfg.disks.push(Drive {
                path: path.into(),
                attach: Attach::Ide,
            });
        }
        let q35 = strings(qemu_args(&cfg)).join(" ");
        assert!(
            q35.contains(
                "-device piix3-ide,id=pide \
                 -drive if=none,format=raw,id=ide1,file=/a.img -device ide-hd,drive=ide1,bus=pide.0,unit=0 \
                 -drive if=none,format=raw,id=ide2,file=/b.img -device ide-hd,drive=ide2,bus=pide.0,unit=1 \
                 -drive if=none,format=raw,id=ide3,file=/c.img -device ide-hd,drive=ide3,bus=pide.1,unit=0"
            ),
            "{q35}"
        );
    }

    #[test]
    fn ahci_drives_follow_the_machine() {
        let mut cfg = QemuConfig::new(
            "/c.fd".into(),
            "/v.fd".into(),
            "/blank.img".into(),
            Serial::MonStdio,
        );
        cfg.disks.push(Drive {
            path: "/image.img".into(),
            attach: Attach::Ahci,
        });
        cfg.disks.push(Drive {
            path: "/second.img".into(),
            attach: Attach::Ahci,
        });
        let q35 = strings(qemu_args(&cfg)).join(" ");
        assert!(
            q35.contains(
                "-drive if=virtio,format=raw,file=/blank.img \
                 -drive format=raw,file=/image.img -drive format=raw,file=/second.img"
            ),
            "{q35}"
        );
        cfg.machine = Machine::Pc;
        let pc = strings(qemu_args(&cfg)).join(" ");
        assert!(
            pc.contains(
                "-device ahci,id=ahci \
                 -drive if=none,format=raw,id=disk1,file=/image.img -device ide-hd,drive=disk1,bus=ahci.0 \
                 -drive if=none,format=raw,id=disk2,file=/second.img -device ide-hd,drive=disk2,bus=ahci.1"
            ),
            "{pc}"
        );
    }

    #[test]
    fn monitor_socket_and_no_vga() {
        let mut cfg = QemuConfig::new(
            "/c.fd".into(),
            "/v.fd".into(),
            "/image.img".into(),
            Serial::File("/t/s.log".into()),
        );
        let plain = strings(qemu_args(&cfg)).join(" ");
        assert!(
            !plain.contains("-vga") && !plain.contains("-monitor"),
            "{plain}"
        );
        cfg.vga = false;
        cfg.monitor = Some("/t/m,1.sock".into());
        let args = strings(qemu_args(&cfg)).join(" ");
        assert!(
            args.contains("-vga none -monitor unix:/t/m,,1.sock,server=on,wait=off -display none"),
            "{args}"
        );
    }

    #[test]
    fn netboot_serves_the_tftp_root_on_the_first_nic_without_ipxe() {
        let mut cfg = QemuConfig::new(
            "/c.fd".into(),
            "/v.fd".into(),
            "/image.img".into(),
            Serial::File("/t/s.log".into()),
        );
        cfg.disks.clear();
        cfg.nics = vec![Nic::VirtioNet, Nic::E1000e];
        cfg.tftp_root = Some("/t/root,1".into());
        let args = strings(qemu_args(&cfg)).join(" ");
        assert!(
            args.contains(
                "-netdev user,id=n0,tftp=/t/root,,1,bootfile=/EFI/BOOT/BOOTX64.EFI \
                 -device virtio-net-pci,netdev=n0,bootindex=1,romfile= \
                 -netdev user,id=n1 -device e1000e,netdev=n1 "
            ),
            "{args}"
        );
        assert!(
            !args.contains("if=none") && !args.contains("virtio-blk"),
            "{args}"
        );
    }

    #[test]
    fn forwards_go_on_the_first_nic_and_make_one_if_needed() {
        let mut cfg = QemuConfig::new("c".into(), "v".into(), "d".into(), Serial::MonStdio);
        cfg.forwards = vec![Forward {
            host: 40123,
            guest: 8080,
        }];
        let args = qemu_args(&cfg);
        let s: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        let line = s.join(" ");
        assert!(
            line.contains(
                "-netdev user,id=n0,hostfwd=tcp:127.0.0.1:40123-:8080 -device e1000e,netdev=n0"
            ),
            "{line}"
        );
        cfg.nics = vec![Nic::VirtioNet, Nic::E1000e];
        let line = qemu_args(&cfg)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            line.contains(
                "-netdev user,id=n0,hostfwd=tcp:127.0.0.1:40123-:8080 -device virtio-net-pci,netdev=n0 \
                 -netdev user,id=n1 -device e1000e"
            ),
            "{line}"
        );
        let free = Forward::free_host_port(8080).unwrap();
        assert!(free.host != 0 && free.guest == 8080);
    }

    #[test]
    fn nics_each_get_a_user_network() {
        let mut cfg = QemuConfig::new(
            "/c.fd".into(),
            "/v.fd".into(),
            "/image.img".into(),
            Serial::File("/t/s.log".into()),
        );
        let plain = strings(qemu_args(&cfg)).join(" ");
        assert!(!plain.contains("-netdev"), "QEMU's default NIC: {plain}");
        cfg.nics = vec![Nic::E1000e, Nic::VirtioNet];
        let args = strings(qemu_args(&cfg)).join(" ");
        assert!(
            args.contains(
                "-netdev user,id=n0 -device e1000e,netdev=n0 \
                 -netdev user,id=n1 -device virtio-net-pci,netdev=n1"
            ),
            "{args}"
        );
    }
}
