use alloc::vec;
use alloc::vec::Vec;

use super::fake::{FakeDisk, FakeHal, FakeHba};
use super::proto::*;
use super::*;

const MIB: usize = 1024 * 1024;

// --- Byte-exact structures -------------------------------------------------------------------

#[test]
fn h2d_fis_is_byte_exact() {
    let fis = H2dFis::lba48(ata::READ_DMA_EXT, 0x0123_4567_89ab, 0x0102);
    assert_eq!(
        fis.to_bytes(),
        [
            0x27, 0x80, 0x25, 0x00, 0xab, 0x89, 0x67, 0x40, 0x45, 0x23, 0x01, 0x00, 0x02, 0x01, 0,
            0, 0, 0, 0, 0
        ]
    );
    let fis = H2dFis::plain(ata::FLUSH_CACHE_EXT);
    assert_eq!(
        fis.to_bytes(),
        [0x27, 0x80, 0xea, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn command_header_is_byte_exact() {
    let h = CommandHeader {
        fis_dwords: 5,
        write: true,
        prdt_len: 3,
        table: 0x0000_0001_2345_6780,
    };
    let mut expected = [0u8; 32];
    expected[..4].copy_from_slice(&[0x45, 0x00, 0x03, 0x00]);
    expected[8..16].copy_from_slice(&[0x80, 0x67, 0x45, 0x23, 0x01, 0, 0, 0]);
    assert_eq!(h.to_bytes(), expected);
    let read = CommandHeader { write: false, ..h };
    assert_eq!(read.to_bytes()[0], 0x05);
}

#[test]
fn prd_is_byte_exact() {
    let p = Prd {
        address: 0x0000_0002_0000_3000,
        bytes: 4 * MIB as u32,
    };
    assert_eq!(
        p.to_bytes(),
        [0x00, 0x30, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x3f, 0x00]
    );
    let p = Prd {
        address: 0x1000,
        bytes: 512,
    };
    assert_eq!(&p.to_bytes()[12..], &[0xff, 0x01, 0, 0]);
}

#[test]
fn prdt_splits_at_4_mib_and_at_buffer_boundaries() {
    // One 10 MiB segment: 4 + 4 + 2 MiB.
    let prds = build_prdt(&[(0x100_0000, 10 * MIB)], 10 * MIB, 64).unwrap();
    assert_eq!(
        prds,
        [
            Prd {
                address: 0x100_0000,
                bytes: (4 * MIB) as u32
            },
            Prd {
                address: 0x140_0000,
                bytes: (4 * MIB) as u32
            },
            Prd {
                address: 0x180_0000,
                bytes: (2 * MIB) as u32
            },
        ]
    );
    // Exactly 4 MiB: one entry.
    assert_eq!(build_prdt(&[(0, 4 * MIB)], 4 * MIB, 64).unwrap().len(), 1);
    // Two discontiguous buffers: an entry never spans them; the transfer ends inside the second.
    let prds = build_prdt(&[(0x1000, 0x3000), (0x9000, 0x5000)], 0x6000, 64).unwrap();
    assert_eq!(
        prds,
        [
            Prd {
                address: 0x1000,
                bytes: 0x3000
            },
            Prd {
                address: 0x9000,
                bytes: 0x3000
            }
        ]
    );
    // A 5 MiB buffer then a 1 MiB one.
    let prds = build_prdt(&[(0x1000_0000, 5 * MIB), (0x2000_0000, MIB)], 6 * MIB, 64).unwrap();
    let sizes: Vec<_> = prds.iter().map(|p| (p.address, p.bytes as usize)).collect();
    assert_eq!(
        sizes,
        [
            (0x1000_0000, 4 * MIB),
            (0x1040_0000, MIB),
            (0x2000_0000, MIB)
        ]
    );
    assert_eq!(build_prdt(&[(0, 4096)], 0, 64).unwrap(), []);
    assert_eq!(
        build_prdt(&[(0, 4096)], 8192, 64),
        Err(PrdtError::TooShort {
            bytes: 8192,
            available: 4096
        })
    );
    assert_eq!(
        build_prdt(&[(0, 9 * MIB)], 9 * MIB, 2),
        Err(PrdtError::TooManyEntries { max: 2 })
    );
    assert_eq!(
        build_prdt(&[(0x1001, 512)], 512, 64),
        Err(PrdtError::Unaligned {
            address: 0x1001,
            len: 512
        })
    );
}

// --- D2H FIS and errors -----------------------------------------------------------------------

#[test]
fn d2h_fis_lba_decodes() {
    let mut fis = [0u8; 20];
    fis[4..7].copy_from_slice(&[0x01, 0x02, 0x03]);
    fis[8..11].copy_from_slice(&[0x04, 0x05, 0x06]);
    assert_eq!(d2h_lba(&fis), 0x0605_0403_0201);
}

#[test]
fn command_errors_map_to_block_errors_and_display() {
    let dev = CommandError::Device {
        port: 1,
        command: ata::READ_DMA_EXT,
        lba: 100,
        status: 0x51,
        error: AtaErrorBits(AtaErrorBits::UNC),
        reported_lba: 103,
    };
    assert_eq!(dev.to_block_error(), BlockError::Io { lba: 103 });
    let s = dev.to_string();
    assert!(
        s.contains("port 1") && s.contains("READ DMA EXT") && s.contains("UNC"),
        "{s}"
    );
    let t = CommandError::Timeout {
        port: 2,
        command: ata::FLUSH_CACHE_EXT,
        lba: 0,
    };
    assert_eq!(
        t.to_block_error(),
        BlockError::Device {
            lba: 0,
            failure: DeviceFailure::Timeout
        }
    );
    assert!(t.to_string().contains("timed out"));
}

// --- Bring-up against the fake HBA -----------------------------------------------------------

fn disk_hba() -> FakeHba {
    FakeHba::new(4).attach(0, FakeDisk::new(2048, 512, "QEMU HARDDISK"))
}

fn open(hal: FakeHal, port: u8) -> Result<AhciDisk<FakeHal>, PortError> {
    let mut c = Controller::init(hal, Timeouts::default()).unwrap();
    c.open_port(port)
}

#[test]
fn init_hands_off_from_the_bios_and_resets() {
    let mut hba = disk_hba();
    hba.cap2 = hba::CAP2_BOH;
    hba.bohc = hba::BOHC_BOS;
    let hal = hba.into_hal();
    let c = Controller::init(hal.clone(), Timeouts::default()).unwrap();
    let h = hal.hba();
    assert_eq!(h.bohc & (hba::BOHC_OOS | hba::BOHC_BOS), hba::BOHC_OOS);
    assert_eq!(h.resets, 1);
    assert_eq!(h.ghc, hba::GHC_AE);
    assert_eq!(c.version_string(), "1.3.1");
    assert_eq!(c.ports().collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert!(!c.handoff_forced());
}

#[test]
fn busy_bios_is_waited_for_then_overruled() {
    let mut hba = disk_hba();
    hba.cap2 = hba::CAP2_BOH;
    hba.bohc = hba::BOHC_BOS | hba::BOHC_BB;
    // The fake only releases BOS when BB is clear in the written value; BB stays set here.
    let hal = hba.into_hal();
    let c = Controller::init(hal.clone(), Timeouts::default()).unwrap();
    assert!(c.handoff_forced());
    let clock = hal.hba().dma.clock;
    assert!((2_000_000..3_000_000).contains(&clock), "{clock}");
}

#[test]
fn hba_reset_times_out_instead_of_hanging() {
    let mut hba = disk_hba();
    hba.reset_stuck = true;
    let hal = hba.into_hal();
    let err = Controller::init(hal.clone(), Timeouts::default()).err();
    assert!(matches!(err, Some(AhciError::HbaResetTimeout { .. })));
    let clock = hal.hba().dma.clock;
    assert!((1_000_000..1_100_000).contains(&clock), "{clock}");
}

#[test]
fn no_ports_is_an_error() {
    let mut hba = FakeHba::new(1);
    hba.pi = 0;
    assert_eq!(
        Controller::init(hba.into_hal(), Timeouts::default()).err(),
        Some(AhciError::NoPorts)
    );
}

#[test]
fn ports_are_discovered_and_non_disks_skipped() {
    let mut atapi = FakeDisk::new(16, 512, "CD");
    atapi.signature = sig::ATAPI;
    let hba = FakeHba::new(6)
        .attach(0, FakeDisk::new(2048, 512, "DISK A"))
        .attach(1, atapi)
        .attach(4, FakeDisk::new(4096, 512, "DISK B"))
        .attach(6, FakeDisk::new(16, 512, "NOT IMPLEMENTED"));
    let hal = hba.into_hal();
    let mut c = Controller::init(hal, Timeouts::default()).unwrap();
    let results = c.open_ports();
    let summary: Vec<_> = results
        .iter()
        .map(|(p, r)| match r {
            Ok(d) => (*p, Ok(d.info().model.clone())),
            Err(e) => (*p, Err(e.clone())),
        })
        .collect();
    assert_eq!(summary[0], (0, Ok("DISK A".into())));
    assert_eq!(
        summary[1],
        (
            1,
            Err(PortError::NotSataDisk {
                port: 1,
                signature: sig::ATAPI
            })
        )
    );
    assert!(summary[1]
        .1
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("ATAPI"));
    assert_eq!(
        summary[2],
        (2, Err(PortError::NoDevice { port: 2, det: 0 }))
    );
    assert_eq!(summary[4], (4, Ok("DISK B".into())));
    assert_eq!(summary.len(), 6);
    assert_eq!(
        c.open_port(6).err(),
        Some(PortError::NotImplemented { port: 6 })
    );
}

#[test]
fn a_port_gives_one_disk_only() {
    let hal = disk_hba().into_hal();
    let mut c = Controller::init(hal.clone(), Timeouts::default()).unwrap();
    let mut disk = c.open_port(0).unwrap();
    let programmed = |hal: &FakeHal| {
        let hba = hal.hba();
        (hba.ports[0].clb, hba.ports[0].fb)
    };
    let before = programmed(&hal);
    // A second disk on the port would reprogram its command list under the first.
    assert_eq!(c.open_port(0).err(), Some(PortError::InUse { port: 0 }));
    let again = c.open_port(0).err().map(|e| e.to_string());
    assert!(again.is_some_and(|e| e.contains("already opened")));
    assert_eq!(programmed(&hal), before);
    let mut block = [0u8; 512];
    assert_eq!(disk.read_blocks(0, &mut block), Ok(()));
    // A port that gave no disk can be tried again.
    assert!(matches!(
        c.open_port(1),
        Err(PortError::NoDevice { port: 1, .. })
    ));
    assert!(matches!(
        c.open_port(1),
        Err(PortError::NoDevice { port: 1, .. })
    ));
}

#[test]
fn identify_is_sent_and_the_disk_described() {
    let hal = disk_hba().into_hal();
    let disk = open(hal.clone(), 0).unwrap();
    assert_eq!(disk.block_size(), 512);
    assert_eq!(disk.num_blocks(), 2048);
    assert_eq!(disk.info().model, "QEMU HARDDISK");
    assert!(!disk.is_read_only());
    let h = hal.hba();
    let id = &h.issued[0];
    assert_eq!(id.fis[..4], [0x27, 0x80, 0xec, 0x00]);
    // One PRD, 512 bytes, into the bounce buffer; not a write; FIS of 5 dwords.
    assert_eq!(id.header[0..4], [0x05, 0x00, 0x01, 0x00]);
    assert_eq!(&id.prds[0][12..16], &[0xff, 0x01, 0, 0]);
    // The port runs with FIS reception on and interrupts off.
    let p = &h.ports[0];
    assert_eq!(
        p.cmd & (preg::CMD_ST | preg::CMD_FRE),
        preg::CMD_ST | preg::CMD_FRE
    );
    assert_eq!(p.ie, 0);
    assert_eq!(p.clb % 1024, 0);
    assert_eq!(p.fb % 256, 0);
}

#[test]
fn reads_and_writes_round_trip_across_bounce_chunks() {
    let hal = FakeHba::new(1)
        .attach(0, FakeDisk::new(4096, 512, "D"))
        .into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    assert_eq!(disk.max_transfer_bytes(), BOUNCE_BYTES);
    // 300 KiB: two commands (256 KiB + 44 KiB).
    let data: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    hal.hba().issued.clear();
    disk.write_blocks(10, &data).unwrap();
    {
        let h = hal.hba();
        assert_eq!(h.issued.len(), 2);
        let first = &h.issued[0];
        assert_eq!(first.fis[..4], [0x27, 0x80, 0x35, 0x00]);
        assert_eq!(first.fis[4], 10);
        assert_eq!(first.fis[12..14], [0x00, 0x02]); // 512 sectors
        assert_eq!(first.header[0], 0x45); // W
        let second = &h.issued[1];
        assert_eq!(second.fis[4..7], [0x0a, 0x02, 0x00]); // LBA 522 = 10 + 512
        assert_eq!(u16::from_le_bytes([second.fis[12], second.fis[13]]), 88);
        let d = &h.ports[0].disk.as_ref().unwrap().data;
        assert_eq!(&d[10 * 512..10 * 512 + data.len()], &data[..]);
    }
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(10, &mut back).unwrap();
    assert_eq!(back, data);
    let read = hal.hba().issued[3].clone();
    assert_eq!(read.fis[2], ata::READ_DMA_EXT);
    assert_eq!(read.header[0], 0x05);
    // Untouched neighbours.
    let mut one = [0u8; 512];
    disk.read_blocks(9, &mut one).unwrap();
    assert!(one
        .iter()
        .enumerate()
        .all(|(i, &b)| b == ((9 * 512 + i) * 7 + 9) as u8));
}

#[test]
fn requests_are_validated_before_the_device_is_touched() {
    let hal = disk_hba().into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    let before = hal.hba().issued.len();
    assert!(matches!(
        disk.read_blocks(2047, &mut [0u8; 1024]),
        Err(BlockError::OutOfRange { .. })
    ));
    assert!(matches!(
        disk.write_blocks(0, &[0u8; 100]),
        Err(BlockError::BufferNotMultiple { .. })
    ));
    disk.read_blocks(5, &mut []).unwrap();
    assert_eq!(hal.hba().issued.len(), before);
}

#[test]
fn four_k_sector_disks_count_in_4k_sectors() {
    let hal = FakeHba::new(1)
        .attach(0, FakeDisk::new(256, 4096, "4Kn"))
        .into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    assert_eq!((disk.block_size(), disk.num_blocks()), (4096, 256));
    let data = vec![0xa5u8; 3 * 4096];
    disk.write_blocks(7, &data).unwrap();
    let mut back = vec![0u8; 3 * 4096];
    disk.read_blocks(7, &mut back).unwrap();
    assert_eq!(back, data);
    let h = hal.hba();
    let w = &h.issued[1];
    assert_eq!((w.fis[2], w.fis[4], w.fis[12]), (ata::WRITE_DMA_EXT, 7, 3));
    assert_eq!(&w.prds[0][12..16], &(3 * 4096u32 - 1).to_le_bytes());
    drop(h);
    assert!(matches!(
        disk.read_blocks(0, &mut [0u8; 512]),
        Err(BlockError::BufferNotMultiple { .. })
    ));
}

#[test]
fn device_errors_are_decoded_and_the_port_recovers() {
    let mut d = FakeDisk::new(2048, 512, "D");
    d.error_at = Some((105, AtaErrorBits::UNC));
    let hal = FakeHba::new(1).attach(0, d).into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    let mut buf = vec![0u8; 16 * 512];
    assert_eq!(
        disk.read_blocks(100, &mut buf),
        Err(BlockError::Io { lba: 105 })
    );
    assert_eq!(
        disk.last_error(),
        Some(CommandError::Device {
            port: 0,
            command: ata::READ_DMA_EXT,
            lba: 100,
            status: 0x51,
            error: AtaErrorBits(AtaErrorBits::UNC),
            reported_lba: 105
        })
    );
    // The port was restarted: the next request works.
    disk.read_blocks(0, &mut buf).unwrap();
    assert!(!disk.is_failed());
    assert_eq!(hal.hba().ports[0].cmd & preg::CMD_ST, preg::CMD_ST);
}

#[test]
fn timeouts_reset_the_port_and_never_hang() {
    let hal = disk_hba().into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    hal.hba().ports[0].disk.as_mut().unwrap().hang = true;
    let start = hal.hba().dma.clock;
    let mut buf = [0u8; 512];
    assert_eq!(
        disk.read_blocks(42, &mut buf),
        Err(BlockError::Device {
            lba: 42,
            failure: DeviceFailure::Timeout
        })
    );
    assert_eq!(
        disk.last_error(),
        Some(CommandError::Timeout {
            port: 0,
            command: ata::READ_DMA_EXT,
            lba: 42
        })
    );
    let elapsed = hal.hba().dma.clock - start;
    assert!((5_000_000..5_200_000).contains(&elapsed), "{elapsed}");
    assert_eq!(hal.hba().ports[0].comresets, 1);
    // COMRESET cured the fake device.
    disk.read_blocks(42, &mut buf).unwrap();
}

#[test]
fn a_failed_recovery_takes_the_port_out_of_service() {
    let hal = disk_hba().into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    {
        let mut h = hal.hba();
        h.ports[0].disk.as_mut().unwrap().hang = true;
        h.ports[0].always_busy = true;
    }
    let mut buf = [0u8; 512];
    assert!(matches!(
        disk.read_blocks(1, &mut buf),
        Err(BlockError::Device {
            failure: DeviceFailure::Timeout,
            ..
        })
    ));
    assert!(disk.is_failed());
    let issued = hal.hba().issued.len();
    assert_eq!(
        disk.read_blocks(1, &mut buf),
        Err(BlockError::Device {
            lba: 1,
            failure: DeviceFailure::NotReady
        })
    );
    assert_eq!(hal.hba().issued.len(), issued);
}

#[test]
fn flush_sends_flush_cache_ext_or_nothing() {
    let hal = disk_hba().into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    disk.flush().unwrap();
    {
        let h = hal.hba();
        let f = h.issued.last().unwrap();
        assert_eq!(f.fis[2], ata::FLUSH_CACHE_EXT);
        assert_eq!(f.header[2..4], [0, 0]); // no PRDs
        assert_eq!(h.ports[0].disk.as_ref().unwrap().flushes, 1);
    }
    // A disk without FLUSH CACHE (EXT): nothing to do.
    let mut d = FakeDisk::new(64, 512, "D");
    d.identify[166..168].copy_from_slice(&(0x4000u16 | 1 << 10).to_le_bytes());
    let hal = FakeHba::new(1).attach(0, d).into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    let n = hal.hba().issued.len();
    disk.flush().unwrap();
    assert_eq!(hal.hba().issued.len(), n);
}

#[test]
fn flush_timeout_uses_the_flush_timeout() {
    let hal = disk_hba().into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    hal.hba().ports[0].disk.as_mut().unwrap().hang = true;
    let start = hal.hba().dma.clock;
    assert_eq!(
        disk.flush(),
        Err(BlockError::Device {
            lba: 0,
            failure: DeviceFailure::Timeout
        })
    );
    let elapsed = hal.hba().dma.clock - start;
    assert!((30_000_000..30_300_000).contains(&elapsed), "{elapsed}");
}

#[test]
fn disks_without_lba48_are_refused() {
    let mut d = FakeDisk::new(64, 512, "D");
    d.identify[166..168].copy_from_slice(&0x4000u16.to_le_bytes());
    let hal = FakeHba::new(1).attach(0, d).into_hal();
    assert_eq!(
        open(hal.clone(), 0).err(),
        Some(PortError::NoLba48 { port: 0 })
    );
    // The port was stopped and its memory returned.
    let h = hal.hba();
    assert_eq!(h.dma.dma_in_use, 0);
    assert_eq!(h.ports[0].cmd & (preg::CMD_ST | preg::CMD_CR), 0);
}

#[test]
fn stuck_ports_and_devices_are_reported() {
    let mut hba = disk_hba();
    hba.ports[0].stop_stuck = true;
    hba.ports[0].cmd = preg::CMD_ST | preg::CMD_CR | preg::CMD_FRE | preg::CMD_FR;
    // The HBA reset would clear CMD; keep the port running through it.
    hba.reset_stuck = false;
    let hal = hba.into_hal();
    let mut c = Controller::init(hal.clone(), Timeouts::default()).unwrap();
    hal.hba().ports[0].cmd = preg::CMD_ST | preg::CMD_CR | preg::CMD_FRE | preg::CMD_FR;
    assert!(matches!(
        c.open_port(0),
        Err(PortError::StopTimeout { port: 0, .. })
    ));

    let mut hba = disk_hba();
    hba.ports[0].always_busy = true;
    let hal = hba.into_hal();
    assert!(matches!(
        open(hal.clone(), 0),
        Err(PortError::DeviceBusy { port: 0, tfd: 0x80 })
    ));
    assert_eq!(hal.hba().ports[0].comresets, 1);
    assert_eq!(hal.hba().dma.dma_in_use, 0);
}

#[test]
fn dma_memory_limits_are_handled() {
    // No memory at all.
    let mut hba = disk_hba();
    hba.dma.dma_limit = 0;
    assert_eq!(
        open(hba.into_hal(), 0).err(),
        Some(PortError::OutOfDmaMemory { port: 0 })
    );
    // Room for the port page and a 64 KiB bounce buffer only.
    let mut hba = disk_hba();
    hba.dma.dma_limit = 4096 + 64 * 1024;
    let hal = hba.into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    assert_eq!(disk.max_transfer_bytes(), 64 * 1024);
    let mut buf = vec![0u8; 200 * 1024];
    disk.read_blocks(0, &mut buf).unwrap();
    assert!(buf
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i * 7 + i / 512) as u8));
    // 32-bit HBA, memory above 4 GiB.
    let mut hba = disk_hba();
    hba.cap &= !hba::CAP_S64A;
    hba.dma.mem_base = 0x1_0000_0000;
    assert_eq!(
        open(hba.into_hal(), 0).err(),
        Some(PortError::DmaNotReachable {
            port: 0,
            phys: 0x1_0000_0000
        })
    );
    // 64-bit HBA: the upper halves are programmed.
    let mut hba = disk_hba();
    hba.dma.mem_base = 0x2_0000_0000;
    let hal = hba.into_hal();
    let mut disk = open(hal.clone(), 0).unwrap();
    disk.read_blocks(0, &mut [0u8; 512]).unwrap();
    let h = hal.hba();
    assert_eq!(h.ports[0].clb >> 32, 2);
    assert_eq!(&h.issued[1].prds[0][4..8], &[2, 0, 0, 0]);
}

#[test]
fn dropping_a_disk_stops_the_port_and_frees_its_memory() {
    let hal = disk_hba().into_hal();
    let disk = open(hal.clone(), 0).unwrap();
    assert!(hal.hba().dma.dma_in_use > 0);
    drop(disk);
    let h = hal.hba();
    assert_eq!(h.dma.dma_in_use, 0);
    assert_eq!(h.dma.frees, 2);
    assert_eq!(h.ports[0].cmd & (preg::CMD_ST | preg::CMD_FRE), 0);
}

#[test]
fn a_port_that_will_not_stop_leaks_rather_than_frees() {
    let hal = disk_hba().into_hal();
    let disk = open(hal.clone(), 0).unwrap();
    hal.hba().ports[0].stop_stuck = true;
    drop(disk);
    assert_eq!(hal.hba().dma.frees, 0);
}

#[test]
fn ahci_functions_are_told_from_other_storage() {
    use crate::hal::fake::storage_function as function;
    let ich9 = function(0x8086, 0x2922, (1, 6, 1));
    assert!(is_ahci_function(&ich9) && !ich9.is_virtio_block());
    // SATA in IDE mode, NVMe, virtio-blk: another driver's (or none).
    for other in [
        function(0x8086, 0x2920, (1, 1, 0x8a)),
        function(0x8086, 0x2922, (1, 6, 0)),
        function(0x1b36, 0x0010, (1, 8, 2)),
        function(0x1af4, 0x1001, (1, 0, 0)),
    ] {
        assert!(!is_ahci_function(&other));
    }
}
