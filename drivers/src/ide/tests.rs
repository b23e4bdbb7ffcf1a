use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::fake::{FakeDrive, FakeHal, FakeIde, Issued, BM_BASE};
use super::proto::*;
use super::*;
use crate::ata::command as cmd;
use crate::pci::{Bar, BarKind};

const PRIMARY_MASTER: usize = 0;
const PRIMARY_SLAVE: usize = 1;
const SECONDARY_MASTER: usize = 2;
const SECONDARY_SLAVE: usize = 3;

/// The fake disks' byte at offset `i` of their data.
fn pattern(i: usize) -> u8 {
    (i * 7 + i / 512) as u8
}

fn probe(hal: &FakeHal) -> Vec<Result<IdeDisk<FakeHal>, ProbeError>> {
    let ports = hal.ide().controller_ports();
    Controller::new(hal.clone(), ports, Timeouts::default()).probe()
}

/// The disk probed at `index` (0 = primary master … 3 = secondary slave).
fn disk_at(hal: &FakeHal, index: usize) -> IdeDisk<FakeHal> {
    match probe(hal).remove(index) {
        Ok(disk) => disk,
        Err(e) => panic!("no disk: {e}"),
    }
}

fn failure(result: &Result<IdeDisk<FakeHal>, ProbeError>) -> Option<ProbeFailure> {
    result.as_ref().err().map(|e| e.failure)
}

/// A controller with one 2048-sector disk as primary master.
fn one_disk(bus_master: bool) -> FakeHal {
    let f = FakeIde::new().attach(0, 0, FakeDrive::new(2048, 512, "QEMU HARDDISK"));
    if bus_master {
        f
    } else {
        f.without_bus_master()
    }
    .into_hal()
}

fn last(hal: &FakeHal) -> Issued {
    hal.ide().issued.last().cloned().unwrap()
}

fn io_bar(address: u64, size: u64) -> Option<Bar> {
    Some(Bar {
        kind: BarKind::Io,
        address,
        size,
        prefetchable: false,
    })
}

// --- Ports -----------------------------------------------------------------------------------

#[test]
fn legacy_channels_use_the_compatibility_ports_and_bar4() {
    let mut bars = [None; 6];
    bars[4] = io_bar(0xc040, 16);
    // PIIX3 under QEMU: prog-if 0x80.
    let ports = ControllerPorts::from_pci(0x80, &bars);
    assert_eq!(
        ports.primary,
        Ok(ChannelPorts {
            command: 0x1f0,
            control: 0x3f6,
            bus_master: Some(0xc040),
            native: false
        })
    );
    assert_eq!(
        ports.secondary,
        Ok(ChannelPorts {
            command: 0x170,
            control: 0x376,
            bus_master: Some(0xc048),
            native: false
        })
    );
    // No bus-master bit, or no usable BAR4: PIO only.
    let pio = ControllerPorts::from_pci(0x00, &bars);
    assert_eq!(pio.primary.unwrap().bus_master, None);
    for bar4 in [None, io_bar(0, 16), io_bar(0xc040, 8)] {
        bars[4] = bar4;
        let ports = ControllerPorts::from_pci(0x80, &bars);
        assert_eq!(ports.secondary.unwrap().bus_master, None);
    }
    bars[4] = Some(Bar {
        kind: BarKind::Memory32,
        address: 0xfebf_0000,
        size: 16,
        prefetchable: false,
    });
    assert_eq!(
        ControllerPorts::from_pci(0x80, &bars)
            .primary
            .unwrap()
            .bus_master,
        None
    );
    assert_eq!(
        ControllerPorts::legacy(None),
        ControllerPorts::from_pci(0x8a, &[None; 6])
    );
}

#[test]
fn ports_read_as_one_log_line() {
    let mut bars = [None; 6];
    bars[4] = io_bar(0xc040, 16);
    assert_eq!(
        ControllerPorts::from_pci(0x80, &bars).to_string(),
        "primary legacy ports 0x1f0/0x3f6, bus master 0xc040; \
         secondary legacy ports 0x170/0x376, bus master 0xc048"
    );
    // Native mode without BARs: the channel is named unusable, with why.
    let text = ControllerPorts::from_pci(0x05, &[None; 6]).to_string();
    assert!(
        text.starts_with("primary unusable: native-mode channel without"),
        "{text}"
    );
}

#[test]
fn native_channels_use_their_bars() {
    let mut bars = [None; 6];
    bars[0] = io_bar(0xd000, 8);
    bars[1] = io_bar(0xd100, 4);
    bars[2] = io_bar(0xd200, 8);
    bars[3] = io_bar(0xd300, 4);
    bars[4] = io_bar(0xd400, 16);
    let ports = ControllerPorts::from_pci(0x8f, &bars);
    assert_eq!(
        ports.primary,
        Ok(ChannelPorts {
            command: 0xd000,
            control: 0xd102,
            bus_master: Some(0xd400),
            native: true
        })
    );
    assert_eq!(
        ports.secondary,
        Ok(ChannelPorts {
            command: 0xd200,
            control: 0xd302,
            bus_master: Some(0xd408),
            native: true
        })
    );
    // Primary native, secondary legacy (prog-if 0x81).
    let mixed = ControllerPorts::from_pci(0x81, &bars);
    assert_eq!(mixed.primary.unwrap().command, 0xd000);
    assert_eq!(mixed.secondary.unwrap().command, 0x170);
    assert_eq!(mixed.get(Channel::Secondary), mixed.secondary);
    // Missing and memory BARs.
    bars[2] = None;
    bars[1] = Some(Bar {
        kind: BarKind::Memory32,
        address: 0xfebf_0000,
        size: 4096,
        prefetchable: false,
    });
    let broken = ControllerPorts::from_pci(0x85, &bars);
    assert_eq!(broken.primary, Err(PortsError::NotIoBar { bar: 1 }));
    assert_eq!(broken.secondary, Err(PortsError::MissingBar { bar: 2 }));
    assert!(PortsError::MissingBar { bar: 2 }
        .to_string()
        .contains("BAR2"));
}

#[test]
fn ide_functions_are_told_from_other_storage() {
    use crate::hal::fake::storage_function as function;
    assert!(is_ide_function(&function(0x8086, 0x7010, (1, 1, 0x80))));
    assert!(is_ide_function(&function(0x8086, 0x2920, (1, 1, 0x8f))));
    for other in [
        function(0x8086, 0x2922, (1, 6, 1)),
        function(0x1b36, 0x0010, (1, 8, 2)),
    ] {
        assert!(!is_ide_function(&other));
    }
}

// --- Task file, commands, PRD tables -----------------------------------------------------------

#[test]
fn task_files_are_written_in_order() {
    let tf = TaskFile {
        command: cmd::READ_SECTORS,
        drive: Drive::Slave,
        lba: 0x0abc_def1,
        count: 256,
        ext: false,
    };
    assert_eq!(
        tf.writes(),
        [
            (reg::FEATURES, 0),
            (reg::SECTOR_COUNT, 0), // 256
            (reg::LBA_LOW, 0xf1),
            (reg::LBA_MID, 0xde),
            (reg::LBA_HIGH, 0xbc),
            (reg::DEVICE, 0xfa), // 0xa0 | LBA | slave | bits 27:24
        ]
    );
    let tf = TaskFile {
        command: cmd::WRITE_DMA_EXT,
        drive: Drive::Master,
        lba: 0x0123_4567_89ab,
        count: 0x0102,
        ext: true,
    };
    assert_eq!(
        tf.writes(),
        [
            (reg::FEATURES, 0),
            (reg::FEATURES, 0),
            (reg::SECTOR_COUNT, 0x01),
            (reg::SECTOR_COUNT, 0x02),
            (reg::LBA_LOW, 0x45),
            (reg::LBA_MID, 0x23),
            (reg::LBA_HIGH, 0x01),
            (reg::LBA_LOW, 0xab),
            (reg::LBA_MID, 0x89),
            (reg::LBA_HIGH, 0x67),
            (reg::DEVICE, 0xe0),
        ]
    );
    assert_eq!(
        reported_lba([0xab, 0x89, 0x67], [0x45, 0x23, 0x01], 0xe0, true),
        0x0123_4567_89ab
    );
    assert_eq!(
        reported_lba([0xf1, 0xde, 0xbc], [9, 9, 9], 0xfa, false),
        0x0abc_def1
    );
}

#[test]
fn lba28_is_used_while_it_reaches() {
    assert!(!needs_lba48(0, 256));
    assert!(needs_lba48(0, 257));
    assert!(!needs_lba48(0x0fff_fffe - 256, 256));
    // LBA 0x0FFFFFFF itself goes through a 48-bit command.
    assert!(needs_lba48(0x0fff_fff0, 15));
    assert!(needs_lba48(1 << 28, 1));
    assert_eq!(rw_command(false, false, false), cmd::READ_SECTORS);
    assert_eq!(rw_command(false, false, true), cmd::READ_SECTORS_EXT);
    assert_eq!(rw_command(true, false, false), cmd::WRITE_SECTORS);
    assert_eq!(rw_command(true, false, true), cmd::WRITE_SECTORS_EXT);
    assert_eq!(rw_command(false, true, false), cmd::READ_DMA);
    assert_eq!(rw_command(false, true, true), cmd::READ_DMA_EXT);
    assert_eq!(rw_command(true, true, false), cmd::WRITE_DMA);
    assert_eq!(rw_command(true, true, true), cmd::WRITE_DMA_EXT);
}

#[test]
fn prd_tables_split_at_64k_boundaries() {
    let prds = build_prdt(0x10_1000, 0x2_0000, 512).unwrap();
    assert_eq!(
        prds,
        [
            Prd {
                address: 0x10_1000,
                bytes: 0xf000
            },
            Prd {
                address: 0x11_0000,
                bytes: 0x1_0000
            },
            Prd {
                address: 0x12_0000,
                bytes: 0x1000
            },
        ]
    );
    let bytes = prdt_bytes(&prds);
    assert_eq!(bytes.len(), 24);
    assert_eq!(bytes[..8], [0x00, 0x10, 0x10, 0x00, 0x00, 0xf0, 0x00, 0x00]);
    // 64 KiB is written as a count of 0; only the last entry has end-of-table.
    assert_eq!(
        bytes[8..16],
        [0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00]
    );
    assert_eq!(
        bytes[16..],
        [0x00, 0x00, 0x12, 0x00, 0x00, 0x10, 0x00, 0x80]
    );
    // Aligned 64 KiB: one entry; a buffer ending exactly at 4 GiB is fine.
    assert_eq!(build_prdt(0x2_0000, 0x1_0000, 512).unwrap().len(), 1);
    assert_eq!(build_prdt(0xffff_f000, 0x1000, 512).unwrap().len(), 1);
    assert_eq!(
        build_prdt(0xffff_f000, 0x2000, 512),
        Err(PrdtError::AboveFourGiB {
            address: 0xffff_f000
        })
    );
    assert_eq!(
        build_prdt(0x1001, 512, 512),
        Err(PrdtError::Unaligned {
            address: 0x1001,
            len: 512
        })
    );
    assert_eq!(build_prdt(0x1000, 0, 512), Err(PrdtError::Empty));
    assert_eq!(
        build_prdt(0x1000, 0x3_0000, 2),
        Err(PrdtError::TooManyEntries { max: 2 })
    );
}

#[test]
fn errors_map_to_block_errors_and_display_one_line() {
    let location = Location {
        channel: Channel::Secondary,
        drive: Drive::Slave,
    };
    assert_eq!(location.to_string(), "secondary slave");
    let e = |failure| CommandError {
        location,
        command: cmd::READ_DMA_EXT,
        lba: 100,
        failure,
    };
    let device = e(CommandFailure::Device {
        status: 0x51,
        error: AtaErrorBits(AtaErrorBits::UNC),
        reported_lba: 103,
    });
    assert_eq!(device.to_block_error(), BlockError::Io { lba: 103 });
    let s = device.to_string();
    assert!(
        s.starts_with("secondary slave: READ DMA EXT at LBA 100: device error UNC"),
        "{s}"
    );
    let cases = [
        (
            CommandFailure::Timeout { status: 0x80 },
            BlockError::Device {
                lba: 100,
                failure: DeviceFailure::Timeout,
            },
        ),
        (
            CommandFailure::DeviceFault { status: 0x61 },
            BlockError::Io { lba: 100 },
        ),
        (
            CommandFailure::Dma {
                bm_status: 3,
                status: 0x58,
            },
            BlockError::Device {
                lba: 100,
                failure: DeviceFailure::Protocol,
            },
        ),
        (
            CommandFailure::ChannelFailed,
            BlockError::Device {
                lba: 100,
                failure: DeviceFailure::NotReady,
            },
        ),
        (
            CommandFailure::Prdt(PrdtError::Empty),
            BlockError::Device {
                lba: 100,
                failure: DeviceFailure::Unsupported,
            },
        ),
    ];
    for (failure, block) in cases {
        assert_eq!(e(failure).to_block_error(), block);
        let s = e(failure).to_string();
        assert!(!s.contains('\n'), "{s}");
    }
    let probe = ProbeError {
        location,
        failure: ProbeFailure::Atapi,
    };
    assert_eq!(
        probe.to_string(),
        "secondary slave: ATAPI device skipped (only ATA disks are supported)"
    );
    assert!(probe.is_skipped() && !probe.is_absent());
    let mode = TransferMode::Pio(PioReason::DmaFailed(e(CommandFailure::Timeout {
        status: 0x80,
    })));
    assert!(mode
        .to_string()
        .starts_with("PIO (DMA failed: secondary slave"));
    assert_eq!(TransferMode::Dma.to_string(), "DMA");
}

// --- Detection ---------------------------------------------------------------------------------

#[test]
fn a_missing_controller_is_reported_at_once() {
    let mut f = FakeIde::new();
    f.missing = true;
    let hal = f.into_hal();
    let results = probe(&hal);
    assert_eq!(results.len(), 4);
    for r in &results {
        assert_eq!(failure(r), Some(ProbeFailure::FloatingBus { status: 0xff }));
        assert!(r.as_ref().err().unwrap().is_absent());
    }
    // No reset, no waiting.
    assert!(hal.ide().dma.clock < 1_000, "{}", hal.ide().dma.clock);
}

#[test]
fn empty_and_floating_positions_are_absent() {
    // Secondary channel floats (0x7F, bit 7 pulled low); primary slave reads 0x00 (QEMU).
    let mut f = FakeIde::new().attach(0, 0, FakeDrive::new(64, 512, "A"));
    f.channels[1].absent = 0x7f;
    let hal = f.into_hal();
    let results = probe(&hal);
    assert!(results[PRIMARY_MASTER].is_ok());
    assert_eq!(
        failure(&results[PRIMARY_SLAVE]),
        Some(ProbeFailure::NoDevice { status: 0 })
    );
    for i in [SECONDARY_MASTER, SECONDARY_SLAVE] {
        assert_eq!(
            failure(&results[i]),
            Some(ProbeFailure::FloatingBus { status: 0x7f })
        );
    }
    assert_eq!(hal.ide().channels[0].srsts, 1);
    assert_eq!(hal.ide().channels[1].srsts, 0);

    // An empty channel that reads 0x00 (QEMU) is reset and found empty; a floating slave is
    // absent too.
    let mut f = FakeIde::new().attach(1, 0, FakeDrive::new(64, 512, "B"));
    f.channels[1].absent = 0xff;
    let hal = f.into_hal();
    let results = probe(&hal);
    assert_eq!(
        failure(&results[PRIMARY_MASTER]),
        Some(ProbeFailure::NoDevice { status: 0 })
    );
    assert!(results[SECONDARY_MASTER].is_ok());
    assert_eq!(
        failure(&results[SECONDARY_SLAVE]),
        Some(ProbeFailure::NoDevice { status: 0xff })
    );
    assert_eq!(hal.ide().channels[0].srsts, 1);
}

#[test]
fn disks_are_identified_and_atapi_devices_skipped() {
    let hal = FakeIde::new()
        .attach(0, 0, FakeDrive::new(131072, 512, "QEMU HARDDISK"))
        .attach(0, 1, FakeDrive::atapi())
        .attach(1, 0, FakeDrive::atapi())
        .attach(1, 1, FakeDrive::new(64, 512, "SLAVE DISK"))
        .into_hal();
    let results = probe(&hal);
    let master = results[PRIMARY_MASTER].as_ref().ok().unwrap();
    assert_eq!(master.location().to_string(), "primary master");
    assert_eq!(master.info().model, "QEMU HARDDISK");
    assert_eq!((master.block_size(), master.num_blocks()), (512, 131072));
    assert!(master.info().lba48);
    assert!(!master.is_read_only());
    assert_eq!(master.transfer_mode(), TransferMode::Dma);
    for i in [PRIMARY_SLAVE, SECONDARY_MASTER] {
        let e = results[i].as_ref().err().unwrap();
        assert_eq!(e.failure, ProbeFailure::Atapi);
        assert!(e.is_skipped());
    }
    let slave = results[SECONDARY_SLAVE].as_ref().ok().unwrap();
    assert_eq!(slave.location().to_string(), "secondary slave");
    assert_eq!(slave.info().model, "SLAVE DISK");
    // IDENTIFY went to the right drives, with interrupts off.
    let h = hal.ide();
    let identifies: Vec<_> = h
        .issued
        .iter()
        .filter(|i| i.command == cmd::IDENTIFY_DEVICE)
        .map(|i| (i.channel, i.drive, i.devctl & ctl::NIEN))
        .collect();
    assert_eq!(identifies, [(0, 0, ctl::NIEN), (1, 1, ctl::NIEN)]);
}

#[test]
fn identify_data_decides_addressing_and_sector_size() {
    // LBA28 only: words 60-61 count, 28-bit commands, FLUSH CACHE.
    let hal = FakeIde::new()
        .attach(0, 0, FakeDrive::lba28(1000, "OLD"))
        .into_hal();
    let disk = disk_at(&hal, PRIMARY_MASTER);
    assert!(!disk.info().lba48);
    assert_eq!((disk.num_blocks(), disk.info().lba28_sectors), (1000, 1000));

    // 4096-byte logical sectors.
    let hal = FakeIde::new()
        .attach(0, 0, FakeDrive::new(256, 4096, "4Kn"))
        .into_hal();
    let disk = disk_at(&hal, PRIMARY_MASTER);
    assert_eq!((disk.block_size(), disk.num_blocks()), (4096, 256));

    // 520-byte sectors, no LBA, and no DMA.
    let mut no_lba = FakeDrive::new(64, 512, "CHS");
    no_lba.set_word(49, 0);
    let mut no_dma = FakeDrive::new(64, 512, "PIO ONLY");
    no_dma.set_word(49, 1 << 9);
    let hal = FakeIde::new()
        .attach(0, 0, FakeDrive::new(16, 520, "ODD"))
        .attach(0, 1, no_lba)
        .attach(1, 0, no_dma)
        .into_hal();
    let results = probe(&hal);
    assert_eq!(
        failure(&results[PRIMARY_MASTER]),
        Some(ProbeFailure::UnsupportedSectorSize(520))
    );
    assert_eq!(failure(&results[PRIMARY_SLAVE]), Some(ProbeFailure::NoLba));
    let pio = results[SECONDARY_MASTER].as_ref().ok().unwrap();
    assert_eq!(
        pio.transfer_mode(),
        TransferMode::Pio(PioReason::NoDeviceDma)
    );
}

#[test]
fn a_channel_stuck_in_reset_is_reported() {
    let mut d = FakeDrive::new(64, 512, "STUCK");
    d.always_busy = true;
    let hal = FakeIde::new().attach(0, 0, d).into_hal();
    let results = probe(&hal);
    for i in [PRIMARY_MASTER, PRIMARY_SLAVE] {
        assert_eq!(
            failure(&results[i]),
            Some(ProbeFailure::ResetTimeout { status: 0x80 })
        );
    }
    let clock = hal.ide().dma.clock;
    assert!((2_000_000..2_200_000).contains(&clock), "{clock}");
}

#[test]
fn busy_hung_and_foreign_devices_are_reported() {
    let mut busy = FakeDrive::new(64, 512, "BUSY");
    busy.always_busy = true;
    let mut hangs = FakeDrive::new(64, 512, "HANGS");
    hangs.identify_hangs = true;
    let mut semb = FakeDrive::new(64, 512, "SEMB");
    semb.signature = Some((0x3c, 0xc3));
    let hal = FakeIde::new()
        .attach(0, 0, FakeDrive::new(64, 512, "FINE"))
        .attach(0, 1, busy)
        .attach(1, 0, hangs)
        .attach(1, 1, semb)
        .into_hal();
    let results = probe(&hal);
    assert!(results[PRIMARY_MASTER].is_ok());
    assert_eq!(
        failure(&results[PRIMARY_SLAVE]),
        Some(ProbeFailure::Busy { status: 0x80 })
    );
    let Some(ProbeFailure::Identify(e)) = failure(&results[SECONDARY_MASTER]) else {
        panic!("{:?}", failure(&results[SECONDARY_MASTER]));
    };
    assert_eq!(e.failure, CommandFailure::Timeout { status: 0x80 });
    assert_eq!(e.command, cmd::IDENTIFY_DEVICE);
    // The timed-out IDENTIFY left the channel reset (once at probe, once after it).
    assert_eq!(hal.ide().channels[1].srsts, 2);
    let semb = results[SECONDARY_SLAVE].as_ref().err().unwrap();
    assert_eq!(
        semb.failure,
        ProbeFailure::NotAta {
            kind: crate::ata::DeviceKind::Semb,
            mid: 0x3c,
            high: 0xc3
        }
    );
    assert!(semb.is_skipped());
    assert!(semb.to_string().contains("enclosure management bridge"));
}

#[test]
fn a_drive_busy_before_a_command_gets_a_reset_first() {
    let hal = one_disk(false);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    // The drive shows BSY for longer than the ready timeout; the reset clears it.
    hal.ide().channels[0].busy_reads = u32::MAX;
    let resets = hal.ide().channels[0].srsts;
    disk.read_blocks(0, &mut [0u8; 512]).unwrap();
    assert_eq!(hal.ide().channels[0].srsts, resets + 1);
}

#[test]
fn a_channel_held_too_long_is_not_ready() {
    let hal = one_disk(false);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    disk.channel.busy.store(true, Ordering::Release);
    let issued = hal.ide().issued.len();
    assert_eq!(
        disk.read_blocks(0, &mut [0u8; 512]),
        Err(BlockError::Device {
            lba: 0,
            failure: DeviceFailure::NotReady
        })
    );
    assert_eq!(
        disk.last_error().unwrap().failure,
        CommandFailure::ChannelBusy
    );
    assert_eq!(hal.ide().issued.len(), issued);
    disk.channel.busy.store(false, Ordering::Release);
    disk.read_blocks(0, &mut [0u8; 512]).unwrap();
    // The lock is given back after each command.
    assert!(!disk.channel.busy.load(Ordering::Acquire));
}

// --- Transfers ---------------------------------------------------------------------------------

#[test]
fn pio_lba28_round_trip() {
    let hal = one_disk(false);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    assert_eq!(
        disk.transfer_mode(),
        TransferMode::Pio(PioReason::NoBusMaster)
    );
    let data: Vec<u8> = (0..3 * 512).map(|i| (i % 251) as u8).collect();
    disk.write_blocks(0x123, &data).unwrap();
    let w = last(&hal);
    assert_eq!((w.command, w.lba, w.count), (cmd::WRITE_SECTORS, 0x123, 3));
    assert_eq!(w.regs.lba[0][0], 0x23);
    assert_eq!(w.regs.device, 0xe0);
    assert_eq!(w.devctl & ctl::NIEN, ctl::NIEN);
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(0x123, &mut back).unwrap();
    assert_eq!(back, data);
    assert_eq!(last(&hal).command, cmd::READ_SECTORS);
    // Neighbours untouched.
    let mut one = [0u8; 512];
    disk.read_blocks(0x122, &mut one).unwrap();
    assert!(one
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern(0x122 * 512 + i)));
}

#[test]
fn dma_lba28_round_trip_with_prd_table() {
    let hal = one_disk(true);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    assert_eq!(disk.transfer_mode(), TransferMode::Dma);
    assert_eq!(disk.max_transfer_bytes(), MAX_COMMAND_BYTES);
    let mut buf = vec![0u8; 128 * 1024];
    disk.read_blocks(10, &mut buf).unwrap();
    assert!(buf
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern(10 * 512 + i)));
    let r = last(&hal);
    assert_eq!((r.command, r.lba, r.count), (cmd::READ_DMA, 10, 256));
    assert_eq!(r.regs.count[0], 0, "256 sectors are written as 0");
    // The PRD table sits at the region's start (1 MiB), the bounce buffer after it; entries
    // stop at 64 KiB boundaries and the last has end-of-table.
    assert_eq!(
        r.prds,
        [
            (0x10_1000, 0xf000, false),
            (0x11_0000, 0x1_0000, false),
            (0x12_0000, 0x1000, true)
        ]
    );
    assert_eq!(hal.ide().channels[0].bm_prdt, 0x10_0000);
    let data: Vec<u8> = (0..8 * 512).map(|i| (i % 253) as u8).collect();
    disk.write_blocks(2040, &data).unwrap();
    let w = last(&hal);
    assert_eq!((w.command, w.lba, w.count), (cmd::WRITE_DMA, 2040, 8));
    assert_eq!(w.prds, [(0x10_1000, 4096, true)]);
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(2040, &mut back).unwrap();
    assert_eq!(back, data);
    // The engine is stopped and its status clean after each command.
    let h = hal.ide();
    assert_eq!(h.channels[0].bm_command & bm::CMD_START, 0);
    assert_eq!(h.channels[0].bm_status & (bm::ST_ERROR | bm::ST_ACTIVE), 0);
}

/// A disk claiming 2^28 + 4096 sectors, with data for the 8192 sectors around LBA 2^28.
fn big_disk(bus_master: bool) -> (FakeHal, IdeDisk<FakeHal>) {
    let f = FakeIde::new().attach(
        0,
        0,
        FakeDrive::window((1 << 28) + 4096, (1 << 28) - 4096, 8192),
    );
    let hal = if bus_master {
        f
    } else {
        f.without_bus_master()
    }
    .into_hal();
    let disk = disk_at(&hal, PRIMARY_MASTER);
    (hal, disk)
}

#[test]
fn requests_beyond_lba28_use_48_bit_commands() {
    for dma in [false, true] {
        let (hal, mut disk) = big_disk(dma);
        let first = (1u64 << 28) - 4096;
        let at = |lba: u64| ((lba - first) * 512) as usize;
        // Below the limit: a 28-bit command with bits 27:24 in the device register.
        let mut buf = vec![0u8; 512];
        disk.read_blocks(first, &mut buf).unwrap();
        let r = last(&hal);
        let read28 = if dma {
            cmd::READ_DMA
        } else {
            cmd::READ_SECTORS
        };
        assert_eq!((r.command, r.lba), (read28, first));
        assert_eq!(r.regs.device & 0x0f, 0x0f);
        // Above 2^28: EXT, high bytes in the registers' previous values.
        let lba = (1u64 << 28) + 5;
        disk.read_blocks(lba, &mut buf).unwrap();
        let r = last(&hal);
        let read48 = if dma {
            cmd::READ_DMA_EXT
        } else {
            cmd::READ_SECTORS_EXT
        };
        assert_eq!((r.command, r.lba, r.count), (read48, lba, 1));
        assert_eq!(r.regs.lba[0], [0x05, 0x10]);
        assert_eq!(r.regs.count, [1, 0]);
        assert!(buf
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern(at(lba) + i)));
        // Straddling LBA 0x0FFFFFFF: EXT as well.
        let data = vec![0x5au8; 32 * 512];
        disk.write_blocks(0x0fff_fff0, &data).unwrap();
        let w = last(&hal);
        let write48 = if dma {
            cmd::WRITE_DMA_EXT
        } else {
            cmd::WRITE_SECTORS_EXT
        };
        assert_eq!((w.command, w.lba, w.count), (write48, 0x0fff_fff0, 32));
        let h = hal.ide();
        let d = h.channels[0].drives[0].as_ref().unwrap();
        assert_eq!(&d.data[at(0x0fff_fff0)..at(0x1000_0010)], &data[..]);
    }
}

#[test]
fn large_requests_are_split() {
    for dma in [false, true] {
        let hal = one_disk(dma);
        let mut disk = disk_at(&hal, PRIMARY_MASTER);
        hal.ide().issued.clear();
        // 300 KiB: 256 + 256 + 88 sectors.
        let data: Vec<u8> = (0..300 * 1024).map(|i| (i % 249) as u8).collect();
        disk.write_blocks(100, &data).unwrap();
        let mut back = vec![0u8; data.len()];
        disk.read_blocks(100, &mut back).unwrap();
        assert_eq!(back, data);
        let h = hal.ide();
        let seen: Vec<_> = h.issued.iter().map(|i| (i.lba, i.count)).collect();
        assert_eq!(
            seen,
            [
                (100, 256),
                (356, 256),
                (612, 88),
                (100, 256),
                (356, 256),
                (612, 88)
            ]
        );
        for i in &h.issued {
            let total: u32 = i.prds.iter().map(|p| p.1).sum();
            assert_eq!(total as u64, if dma { i.count * 512 } else { 0 });
        }
    }
}

#[test]
fn four_k_sector_disks_move_whole_sectors() {
    for dma in [false, true] {
        let f = FakeIde::new().attach(0, 0, FakeDrive::new(256, 4096, "4Kn"));
        let hal = if dma { f } else { f.without_bus_master() }.into_hal();
        let mut disk = disk_at(&hal, PRIMARY_MASTER);
        let data: Vec<u8> = (0..40 * 4096).map(|i| (i % 241) as u8).collect();
        disk.write_blocks(7, &data).unwrap();
        let mut back = vec![0u8; data.len()];
        disk.read_blocks(7, &mut back).unwrap();
        assert_eq!(back, data);
        // 128 KiB per command: 32 sectors, then 8.
        let h = hal.ide();
        let seen: Vec<_> = h.issued[1..].iter().map(|i| (i.lba, i.count)).collect();
        assert_eq!(seen, [(7, 32), (39, 8), (7, 32), (39, 8)]);
        drop(h);
        assert!(matches!(
            disk.read_blocks(0, &mut [0u8; 512]),
            Err(BlockError::BufferNotMultiple { .. })
        ));
    }
}

#[test]
fn master_and_slave_share_a_channel() {
    let hal = FakeIde::new()
        .attach(0, 0, FakeDrive::new(64, 512, "M"))
        .attach(0, 1, FakeDrive::new(64, 512, "S"))
        .into_hal();
    let mut results = probe(&hal);
    let (Ok(mut slave), Ok(mut master)) = (results.remove(1), results.remove(0)) else {
        panic!("two disks expected");
    };
    master.write_blocks(1, &[0x11; 512]).unwrap();
    slave.write_blocks(1, &[0x22; 512]).unwrap();
    let mut buf = [0u8; 512];
    master.read_blocks(1, &mut buf).unwrap();
    assert_eq!(buf, [0x11; 512]);
    slave.read_blocks(1, &mut buf).unwrap();
    assert_eq!(buf, [0x22; 512]);
    let h = hal.ide();
    let drives: Vec<_> = h.issued[2..]
        .iter()
        .map(|i| (i.drive, i.regs.device))
        .collect();
    assert_eq!(drives, [(0, 0xe0), (1, 0xf0), (0, 0xe0), (1, 0xf0)]);
    // Each disk has its own DMA region.
    assert_eq!(h.dma.dma_in_use, 2 * (4096 + MAX_COMMAND_BYTES));
}

#[test]
fn requests_are_validated_before_the_device_is_touched() {
    let hal = one_disk(true);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    let before = hal.ide().issued.len();
    assert_eq!(
        disk.read_blocks(2047, &mut [0u8; 1024]),
        Err(BlockError::OutOfRange {
            lba: 2047,
            count: 2,
            device_blocks: 2048
        })
    );
    assert!(matches!(
        disk.write_blocks(0, &[0u8; 100]),
        Err(BlockError::BufferNotMultiple { .. })
    ));
    disk.read_blocks(5, &mut []).unwrap();
    disk.write_blocks(2048, &[]).unwrap();
    assert_eq!(hal.ide().issued.len(), before);
    assert_eq!(disk.commands_issued(), 0);
}

// --- Errors, timeouts, fallback ----------------------------------------------------------------

#[test]
fn device_errors_become_io_errors_at_the_reported_lba() {
    for dma in [false, true] {
        let hal = one_disk(dma);
        hal.ide().drive(0, 0).error_at = Some((105, AtaErrorBits::UNC));
        let mut disk = disk_at(&hal, PRIMARY_MASTER);
        let mut buf = vec![0u8; 16 * 512];
        assert_eq!(
            disk.read_blocks(100, &mut buf),
            Err(BlockError::Io { lba: 105 })
        );
        let e = disk.last_error().unwrap();
        assert_eq!(e.lba, 100);
        assert_eq!(
            e.failure,
            CommandFailure::Device {
                status: status::DRDY | status::ERR,
                error: AtaErrorBits(AtaErrorBits::UNC),
                reported_lba: 105
            }
        );
        // A media error is not DMA's fault: the disk keeps its mode, and the next request works.
        let expected = if dma {
            TransferMode::Dma
        } else {
            TransferMode::Pio(PioReason::NoBusMaster)
        };
        assert_eq!(disk.transfer_mode(), expected);
        disk.read_blocks(0, &mut buf).unwrap();
    }
}

#[test]
fn lba48_errors_report_the_high_bytes() {
    let (hal, mut disk) = big_disk(false);
    let bad = (1u64 << 28) + 0x0123;
    hal.ide().drive(0, 0).error_at = Some((bad, AtaErrorBits::IDNF));
    let mut buf = vec![0u8; 512 * 512];
    assert_eq!(
        disk.read_blocks((1 << 28) - 16, &mut buf),
        Err(BlockError::Io { lba: bad })
    );
    assert!(disk.last_error().unwrap().to_string().contains("IDNF"));
}

#[test]
fn a_hang_times_out_and_resets_the_channel() {
    let hal = one_disk(false);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    hal.ide().drive(0, 0).hang = true;
    let start = hal.ide().dma.clock;
    let resets = hal.ide().channels[0].srsts;
    let mut buf = [0u8; 512];
    assert_eq!(
        disk.read_blocks(42, &mut buf),
        Err(BlockError::Device {
            lba: 42,
            failure: DeviceFailure::Timeout
        })
    );
    let e = disk.last_error().unwrap();
    assert_eq!(e.failure, CommandFailure::Timeout { status: 0x80 });
    assert_eq!(e.command, cmd::READ_SECTORS);
    let elapsed = hal.ide().dma.clock - start;
    assert!((5_000_000..5_300_000).contains(&elapsed), "{elapsed}");
    assert_eq!(hal.ide().channels[0].srsts, resets + 1);
    // The reset cured the fake drive; interrupts are still off.
    disk.read_blocks(42, &mut buf).unwrap();
    assert_eq!(hal.ide().channels[0].devctl, ctl::NIEN);
}

#[test]
fn flush_timeout_uses_the_flush_timeout() {
    let hal = one_disk(false);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    hal.ide().drive(0, 0).hang = true;
    let start = hal.ide().dma.clock;
    assert_eq!(
        disk.flush(),
        Err(BlockError::Device {
            lba: 0,
            failure: DeviceFailure::Timeout
        })
    );
    let elapsed = hal.ide().dma.clock - start;
    assert!((30_000_000..30_500_000).contains(&elapsed), "{elapsed}");
}

#[test]
fn a_failed_reset_takes_the_channel_out_of_service() {
    let hal = FakeIde::new()
        .attach(0, 0, FakeDrive::new(64, 512, "M"))
        .attach(0, 1, FakeDrive::new(64, 512, "S"))
        .without_bus_master()
        .into_hal();
    let mut results = probe(&hal);
    let (Ok(mut slave), Ok(mut master)) = (results.remove(1), results.remove(0)) else {
        panic!("two disks expected");
    };
    hal.ide().drive(0, 0).always_busy = true;
    let mut buf = [0u8; 512];
    assert!(matches!(
        master.read_blocks(1, &mut buf),
        Err(BlockError::Device {
            failure: DeviceFailure::Timeout,
            ..
        })
    ));
    let issued = hal.ide().issued.len();
    for disk in [&mut master, &mut slave] {
        assert_eq!(
            disk.read_blocks(1, &mut buf),
            Err(BlockError::Device {
                lba: 1,
                failure: DeviceFailure::NotReady
            })
        );
        assert_eq!(
            disk.last_error().unwrap().failure,
            CommandFailure::ChannelFailed
        );
    }
    assert_eq!(hal.ide().issued.len(), issued);
}

#[test]
fn dma_failures_fall_back_to_pio() {
    // A bus-master error, a device that aborts DMA commands, a DMA command that hangs.
    for knob in 0..3 {
        let hal = one_disk(true);
        let mut disk = disk_at(&hal, PRIMARY_MASTER);
        match knob {
            0 => hal.ide().dma_error = true,
            1 => hal.ide().drive(0, 0).abort_dma = true,
            _ => hal.ide().drive(0, 0).hang = true,
        }
        let resets = hal.ide().channels[0].srsts;
        let mut buf = vec![0u8; 4 * 512];
        disk.read_blocks(8, &mut buf).unwrap();
        assert!(buf
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern(8 * 512 + i)));
        let TransferMode::Pio(PioReason::DmaFailed(e)) = disk.transfer_mode() else {
            panic!("still {}", disk.transfer_mode());
        };
        assert_eq!((e.command, e.lba), (cmd::READ_DMA, 8));
        match knob {
            0 => assert!(matches!(
                e.failure,
                CommandFailure::Dma { bm_status, .. } if bm_status & bm::ST_ERROR != 0
            )),
            1 => assert!(matches!(e.failure, CommandFailure::Device { .. })),
            _ => assert!(matches!(e.failure, CommandFailure::Timeout { .. })),
        }
        // The channel was reset, the DMA memory given back, the command repeated by PIO.
        let h = hal.ide();
        assert_eq!(h.channels[0].srsts, resets + 1);
        assert_eq!(h.dma.dma_in_use, 0);
        let commands: Vec<_> = h.issued[1..].iter().map(|i| i.command).collect();
        assert_eq!(commands, [cmd::READ_DMA, cmd::READ_SECTORS]);
        drop(h);
        // From now on PIO, also for writes.
        disk.write_blocks(8, &buf).unwrap();
        assert_eq!(last(&hal).command, cmd::WRITE_SECTORS);
        assert_eq!(disk.commands_issued(), 3);
    }
}

#[test]
fn flush_sends_flush_cache_ext_flush_cache_or_nothing() {
    let hal = one_disk(true);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    disk.flush().unwrap();
    assert_eq!(last(&hal).command, cmd::FLUSH_CACHE_EXT);
    assert_eq!(hal.ide().drive(0, 0).flushes, 1);

    let hal = FakeIde::new()
        .attach(0, 0, FakeDrive::lba28(64, "OLD"))
        .into_hal();
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    disk.flush().unwrap();
    assert_eq!(last(&hal).command, cmd::FLUSH_CACHE);

    let mut d = FakeDrive::new(64, 512, "NO CACHE");
    d.set_word(83, 0x4000 | 1 << 10);
    let hal = FakeIde::new().attach(0, 0, d).into_hal();
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    let n = hal.ide().issued.len();
    disk.flush().unwrap();
    assert_eq!(hal.ide().issued.len(), n);
}

// --- DMA memory ---------------------------------------------------------------------------------

#[test]
fn dma_memory_limits_are_handled() {
    // None at all: PIO.
    let mut f = FakeIde::new().attach(0, 0, FakeDrive::new(2048, 512, "D"));
    f.dma.dma_limit = 0;
    let hal = f.into_hal();
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    assert_eq!(
        disk.transfer_mode(),
        TransferMode::Pio(PioReason::OutOfDmaMemory)
    );
    disk.read_blocks(0, &mut [0u8; 512]).unwrap();

    // Room for a 32 KiB bounce buffer: DMA in 64-sector commands.
    let mut f = FakeIde::new().attach(0, 0, FakeDrive::new(2048, 512, "D"));
    f.dma.dma_limit = 4096 + 32 * 1024;
    let hal = f.into_hal();
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    assert_eq!(disk.transfer_mode(), TransferMode::Dma);
    assert_eq!(disk.max_transfer_bytes(), 32 * 1024);
    let mut buf = vec![0u8; 100 * 512];
    disk.read_blocks(0, &mut buf).unwrap();
    assert!(buf.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    let counts: Vec<_> = hal.ide().issued[1..].iter().map(|i| i.count).collect();
    assert_eq!(counts, [64, 36]);

    // Memory above 4 GiB: given back, PIO.
    let mut f = FakeIde::new().attach(0, 0, FakeDrive::new(2048, 512, "D"));
    f.dma.mem_base = 0x1_0000_0000;
    let hal = f.into_hal();
    let disk = disk_at(&hal, PRIMARY_MASTER);
    assert_eq!(
        disk.transfer_mode(),
        TransferMode::Pio(PioReason::DmaAboveFourGiB {
            phys: 0x1_0000_0000
        })
    );
    let h = hal.ide();
    assert_eq!((h.dma.dma_in_use, h.dma.frees), (0, 1));
}

#[test]
fn dropping_a_disk_stops_the_bus_master_and_frees_its_memory() {
    let hal = one_disk(true);
    let mut disk = disk_at(&hal, PRIMARY_MASTER);
    disk.read_blocks(0, &mut [0u8; 512]).unwrap();
    assert!(hal.ide().dma.dma_in_use > 0);
    hal.ide().channels[0].bm_command = bm::CMD_START;
    drop(disk);
    let h = hal.ide();
    assert_eq!((h.dma.dma_in_use, h.dma.frees), (0, 1));
    assert_eq!(h.channels[0].bm_command, 0);
}

#[test]
fn native_mode_ports_are_driven() {
    let mut f = FakeIde::new().attach(1, 0, FakeDrive::new(64, 512, "NATIVE"));
    f.ports = [
        ChannelPorts {
            command: 0xd000,
            control: 0xd102,
            bus_master: Some(0xd400),
            native: true,
        },
        ChannelPorts {
            command: 0xd200,
            control: 0xd302,
            bus_master: Some(0xd408),
            native: true,
        },
    ];
    let hal = f.into_hal();
    let mut disk = disk_at(&hal, SECONDARY_MASTER);
    disk.write_blocks(3, &[0x77; 1024]).unwrap();
    let mut back = [0u8; 1024];
    disk.read_blocks(3, &mut back).unwrap();
    assert_eq!(back, [0x77; 1024]);
    assert_eq!(last(&hal).channel, 1);
    assert_eq!(BM_BASE, 0xc040);
}

/// A HAL that is `Send`, to check that disks are.
#[derive(Clone)]
struct SendHal;

impl PortIo for SendHal {
    fn read8(&mut self, _: u16) -> u8 {
        0xff
    }
    fn read16(&mut self, _: u16) -> u16 {
        0xffff
    }
    fn read32(&mut self, _: u16) -> u32 {
        u32::MAX
    }
    fn write8(&mut self, _: u16, _: u8) {}
    fn write16(&mut self, _: u16, _: u16) {}
    fn write32(&mut self, _: u16, _: u32) {}
}

// SAFETY: no memory is ever handed out and no port reaches hardware.
unsafe impl DmaHal for SendHal {
    fn dma_alloc(&mut self, _: usize) -> Option<DmaRegion> {
        None
    }
    fn dma_free(&mut self, _: DmaRegion) {}
    fn dma_read(&mut self, _: &DmaRegion, _: usize, _: &mut [u8]) {}
    fn dma_write(&mut self, _: &DmaRegion, _: usize, _: &[u8]) {}
    fn now_us(&mut self) -> u64 {
        0
    }
}

// SAFETY: as above.
unsafe impl IdeHal for SendHal {}

#[test]
fn disks_are_send_when_the_hal_is() {
    fn assert_send<T: Send>() {}
    assert_send::<IdeDisk<SendHal>>();
    // And a controller over nothing finds nothing, quickly.
    let results =
        Controller::new(SendHal, ControllerPorts::legacy(None), Timeouts::default()).probe();
    assert!(results.iter().all(|r| matches!(r, Err(e) if e.is_absent())));
}
