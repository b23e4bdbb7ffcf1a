use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::fake::{capabilities, namespace_data, Action, FakeHal, FakeNamespace, FakeNvme, Fault};
use super::proto::*;
use super::*;

// --- Byte-exact structures -------------------------------------------------------------------

#[test]
fn submission_entry_is_byte_exact() {
    let mut c = Command::read_write(io::WRITE, 1, 0x0000_0012_3456_789a, 8);
    c.cid = 0x0102;
    c.prp1 = 0x0000_0001_0000_2000;
    c.prp2 = 0x3000;
    let b = c.to_bytes();
    assert_eq!(&b[0..8], &[0x01, 0, 0x02, 0x01, 1, 0, 0, 0]);
    assert_eq!(&b[8..24], &[0; 16]);
    assert_eq!(&b[24..32], &[0x00, 0x20, 0, 0, 1, 0, 0, 0]);
    assert_eq!(&b[32..40], &[0x00, 0x30, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        &b[40..52],
        &[0x9a, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 7, 0, 0, 0]
    );
    assert_eq!(Command::from_bytes(&b), c);
    assert_eq!(c.lba(), 0x12_3456_789a);
}

#[test]
fn completion_entry_round_trips_and_decodes_status() {
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&0x000f_000fu32.to_le_bytes());
    b[8..12].copy_from_slice(&[3, 0, 1, 0]);
    // CID 5, phase 1, SCT 2 (media), SC 0x81, DNR.
    let dw3: u32 = 5 | 1 << 16 | (1 << 14 | 2 << 8 | 0x81) << 17;
    b[12..16].copy_from_slice(&dw3.to_le_bytes());
    let c = Completion::from_bytes(&b);
    assert_eq!((c.result, c.sq_head, c.sqid, c.cid), (0x000f_000f, 3, 1, 5));
    assert!(c.phase);
    assert_eq!((c.status.sct(), c.status.sc()), (2, 0x81));
    assert!(c.status.dnr() && c.status.is_media_error() && !c.status.is_success());
    assert_eq!(c.to_bytes(), b);
    assert_eq!(
        c.status.to_string(),
        "unrecovered read error (type 0x2, code 0x81, do not retry)"
    );
}

#[test]
fn status_codes_are_named() {
    let s = |t, c| Status::new(t, c).name();
    assert_eq!(
        s(sct::GENERIC, generic::INVALID_FIELD),
        "invalid field in command"
    );
    assert_eq!(
        s(sct::GENERIC, generic::LBA_OUT_OF_RANGE),
        "LBA out of range"
    );
    assert_eq!(s(sct::GENERIC, 0x55), "generic command error");
    assert_eq!(s(sct::COMMAND_SPECIFIC, 0x02), "invalid queue size");
    assert_eq!(s(sct::MEDIA, media::WRITE_FAULT), "write fault");
    assert_eq!(s(sct::PATH, 0), "path related error");
    assert!(Status::default().is_success());
    assert!(Status::new(sct::GENERIC, generic::DATA_TRANSFER_ERROR).is_media_error());
    assert!(!Status::new(sct::GENERIC, generic::INTERNAL_ERROR).is_media_error());
}

#[test]
fn capabilities_and_doorbells_decode() {
    let cap = Capabilities(capabilities(32, 2) | 0x0000_0000_0a00_0000);
    assert_eq!(cap.max_queue_entries(), 32);
    assert_eq!(cap.doorbell_stride(), 2);
    assert!(cap.supports_nvm() && cap.contiguous_queues_required());
    assert_eq!(cap.ready_timeout_us(), 11 * 500_000);
    assert_eq!(cap.min_page_shift(), 0);
    assert_eq!(reg::sq_tail_doorbell(0, 0), 0x1000);
    assert_eq!(reg::cq_head_doorbell(0, 0), 0x1004);
    assert_eq!(reg::sq_tail_doorbell(1, 0), 0x1008);
    assert_eq!(reg::cq_head_doorbell(1, 0), 0x100c);
    assert_eq!(reg::sq_tail_doorbell(1, 2), 0x1020);
    assert_eq!(reg::cq_head_doorbell(1, 2), 0x1030);
}

#[test]
fn prps_describe_one_two_or_many_pages() {
    let p = build_prps(0x10_0000, 4096, 0x9000).unwrap();
    assert_eq!((p.prp1, p.prp2, p.list.len()), (0x10_0000, 0, 0));
    let p = build_prps(0x10_0000, 8192, 0x9000).unwrap();
    assert_eq!((p.prp1, p.prp2, p.list.len()), (0x10_0000, 0x10_1000, 0));
    let p = build_prps(0x10_0000, 3 * 4096, 0x9000).unwrap();
    assert_eq!((p.prp1, p.prp2), (0x10_0000, 0x9000));
    assert_eq!(p.list, [0x10_1000, 0x10_2000]);
    // An offset into the first page: the first entry covers the rest of that page only.
    let p = build_prps(0x10_0200, 4096, 0x9000).unwrap();
    assert_eq!((p.prp1, p.prp2), (0x10_0200, 0x10_1000));
    let p = build_prps(0x10_0000, 2 * 1024 * 1024, 0x9000).unwrap();
    assert_eq!(p.list.len(), 511);
    assert_eq!(
        build_prps(0x10_0000, 4096 * 514, 0x9000),
        Err(PrpError::TooLong { bytes: 4096 * 514 })
    );
    assert_eq!(
        build_prps(0, 4096 * 3, 0x9004),
        Err(PrpError::UnalignedList { address: 0x9004 })
    );
}

#[test]
fn identify_data_parses() {
    let info = parse_identify_controller(&FakeNvme::new(vec![]).controller_data());
    assert_eq!(info.model, "QEMU NVMe Ctrl");
    assert_eq!(info.serial, "deadbeef");
    assert_eq!(info.firmware, "9.2.0");
    assert_eq!((info.mdts, info.sqes, info.cqes), (5, 0x66, 0x44));
    assert_eq!(info.max_transfer_bytes(), Some(128 * 1024));
    assert!(info.volatile_write_cache);
    assert_eq!(
        ControllerInfo::default().max_transfer_bytes(),
        None,
        "MDTS 0: no limit"
    );

    let ns = namespace_data(&FakeNamespace::new(100, 4096));
    let info = parse_identify_namespace(&ns).unwrap();
    assert_eq!(
        (info.blocks, info.lba_bytes, info.format_index),
        (100, 4096, 1)
    );
    assert_eq!(info.metadata_bytes, 0);
    let mut bad = ns.clone();
    bad[26] = 3;
    assert_eq!(
        parse_identify_namespace(&bad),
        Err(NamespaceDataError::FormatIndex {
            index: 3,
            formats: 2
        })
    );
    let mut bad = ns;
    bad[134] = 40;
    assert_eq!(
        parse_identify_namespace(&bad),
        Err(NamespaceDataError::BlockSizeShift { lbads: 40 })
    );
    assert_eq!(
        parse_identify_namespace(&[0u8; 4096]),
        Err(NamespaceDataError::Inactive)
    );
    // Short data reads as zeros past its end rather than panicking.
    assert_eq!(
        parse_identify_namespace(&[1u8; 3]),
        Err(NamespaceDataError::BlockSizeShift { lbads: 0 })
    );

    let mut list = vec![0u8; 4096];
    list[0..12].copy_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0]);
    assert_eq!(parse_namespace_list(&list), [1, 2, 7]);
}

#[test]
fn nvme_functions_are_told_from_other_storage() {
    use crate::hal::fake::storage_function;
    let function = |class| storage_function(0x1b36, 0x0010, class);
    assert!(is_nvme_function(&function((1, 8, 2))));
    for other in [(1, 6, 1), (1, 8, 1), (1, 8, 3), (1, 0, 0)] {
        assert!(!is_nvme_function(&function(other)));
    }
}

// --- Bring-up against the fake controller ----------------------------------------------------

/// Short command timeouts, so that tests of hangs stay quick.
fn quick() -> Timeouts {
    Timeouts {
        admin_us: 100_000,
        io_us: 100_000,
        flush_us: 200_000,
        ..Timeouts::default()
    }
}

fn bring_up(dev: FakeNvme) -> (FakeHal, Controller<FakeHal>) {
    let hal = dev.into_hal();
    let c = Controller::init(hal.clone(), quick()).unwrap();
    (hal, c)
}

/// A controller with one namespace of `blocks` blocks of `bs` bytes, and its disk.
fn one_disk(dev: FakeNvme) -> (FakeHal, Controller<FakeHal>, NvmeDisk<FakeHal>) {
    let (hal, mut c) = bring_up(dev);
    let disk = c.open_namespace(1).unwrap();
    (hal, c, disk)
}

fn simple(blocks: u64, bs: usize) -> FakeNvme {
    FakeNvme::new(vec![FakeNamespace::new(blocks, bs)])
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (i >> 9) as u8)
        .collect()
}

#[test]
fn bring_up_identifies_the_controller_and_namespace() {
    let (hal, mut c) = bring_up(simple(2048, 512));
    {
        let d = hal.dev();
        assert_eq!((d.enables, d.disables), (1, 0));
        assert_eq!(d.cc, 0x0046_0001);
        assert_eq!(d.aqa, 31 << 16 | 31);
        assert_eq!(d.asq % 4096, 0);
        assert_eq!(d.acq, d.asq + 4096);
        assert_eq!(d.intms, u32::MAX);
    }
    assert_eq!(c.info().model, "QEMU NVMe Ctrl");
    assert_eq!(c.info().serial, "deadbeef");
    assert_eq!(c.info().firmware, "9.2.0");
    assert_eq!(c.version_string(), "1.4");
    assert_eq!(c.namespaces(), [1]);
    assert_eq!(c.io_queue_pairs(), WANTED_IO_QUEUES);
    let disk = c.open_namespace(1).unwrap();
    assert_eq!(disk.block_size(), 512);
    assert_eq!(disk.num_blocks(), 2048);
    assert!(!disk.is_read_only());
    assert_eq!((disk.nsid(), disk.queue_id()), (1, 1));
    // MDTS 5 = 128 KiB, below the bounce buffer.
    assert_eq!(disk.max_transfer_bytes(), 128 * 1024);
    assert_eq!(hal.dev().io_queues(), [1]);
    let opcodes: Vec<u8> = hal
        .dev()
        .submitted
        .iter()
        .map(|s| s.command.opcode)
        .collect();
    assert_eq!(
        opcodes,
        [
            admin::IDENTIFY,
            admin::SET_FEATURES,
            admin::IDENTIFY,
            admin::IDENTIFY,
            admin::CREATE_IO_CQ,
            admin::CREATE_IO_SQ
        ]
    );
}

#[test]
fn reads_and_writes_round_trip_with_512_byte_blocks() {
    let (hal, _c, mut disk) = one_disk(simple(2048, 512));
    let data = pattern(3 * 4096 + 512, 1);
    disk.write_blocks(7, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(7, &mut back).unwrap();
    assert_eq!(back, data);
    let d = hal.dev();
    assert_eq!(
        &d.namespaces[0].as_ref().unwrap().data[7 * 512..7 * 512 + data.len()],
        &data[..]
    );
    // Untouched neighbours.
    let mut before = vec![0u8; 512];
    drop(d);
    disk.read_blocks(6, &mut before).unwrap();
    assert_eq!(before, FakeNamespace::new(2048, 512).data[6 * 512..7 * 512]);
}

#[test]
fn four_k_namespaces_count_in_4k_blocks() {
    let (hal, _c, mut disk) = one_disk(simple(100, 4096));
    assert_eq!((disk.block_size(), disk.num_blocks()), (4096, 100));
    let data = pattern(5 * 4096, 2);
    disk.write_blocks(95, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(95, &mut back).unwrap();
    assert_eq!(back, data);
    let write = hal.dev().io_commands()[0].clone();
    assert_eq!(write.command.lba(), 95);
    assert_eq!(write.command.cdw[2], 4, "NLB is 0-based");
    assert_eq!(
        disk.read_blocks(96, &mut back),
        Err(BlockError::OutOfRange {
            lba: 96,
            count: 5,
            device_blocks: 100
        })
    );
}

#[test]
fn requests_larger_than_mdts_are_split() {
    let mut dev = simple(4096, 512);
    dev.mdts = 1; // 8 KiB
    let (hal, _c, mut disk) = one_disk(dev);
    assert_eq!(disk.max_transfer_bytes(), 8192);
    let data = pattern(40 * 1024 + 1024, 3);
    disk.write_blocks(5, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(5, &mut back).unwrap();
    assert_eq!(back, data);
    let cmds = hal.dev().io_commands();
    assert_eq!(cmds.len(), 12, "6 writes, 6 reads");
    let lbas: Vec<u64> = cmds[..6].iter().map(|s| s.command.lba()).collect();
    assert_eq!(lbas, [5, 21, 37, 53, 69, 85]);
    assert!(cmds.iter().all(|s| s.command.cdw[2] & 0xffff < 16));
    assert_eq!(cmds[5].command.cdw[2], 1, "the tail: 2 blocks");
    assert!(
        cmds.iter().all(|s| s.prp_list.is_empty()),
        "two pages at most"
    );
}

#[test]
fn transfers_over_two_pages_use_a_prp_list() {
    let mut dev = simple(4096, 512);
    dev.mdts = 0; // no limit: the bounce buffer and one PRP list page decide
    let (hal, _c, mut disk) = one_disk(dev);
    assert_eq!(disk.max_transfer_bytes(), BOUNCE_BYTES);
    let data = pattern(64 * 1024, 4);
    disk.write_blocks(1, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(1, &mut back).unwrap();
    assert_eq!(back, data);
    let mut one_page = vec![0u8; 4096];
    disk.read_blocks(0, &mut one_page).unwrap();
    let mut two_pages = vec![0u8; 8192];
    disk.read_blocks(0, &mut two_pages).unwrap();
    let mut big = vec![0u8; BOUNCE_BYTES + 4096];
    disk.read_blocks(0, &mut big).unwrap();
    assert_eq!(big[512..512 + data.len()], data[..]);

    let cmds = hal.dev().io_commands();
    let (write, read) = (&cmds[0], &cmds[1]);
    assert_eq!(write.prp_list.len(), 15);
    assert_eq!(read.prp_list.len(), 15);
    assert_eq!(write.command.prp2 % 4096, 0);
    assert_eq!(write.prp_list[0], write.command.prp1 + 4096);
    assert_eq!((cmds[2].command.prp2, cmds[2].prp_list.len()), (0, 0));
    assert_eq!(cmds[3].command.prp2, cmds[3].command.prp1 + 4096);
    assert!(cmds[3].prp_list.is_empty());
    // 260 KiB: a full bounce buffer (63 list entries), then one page.
    assert_eq!(cmds[4].prp_list.len(), 63);
    assert_eq!(cmds.len(), 6);
}

#[test]
fn flush_is_sent() {
    let (hal, _c, mut disk) = one_disk(simple(64, 512));
    disk.flush().unwrap();
    let d = hal.dev();
    assert_eq!(d.flushes, 1);
    let cmds = d.io_commands();
    let flush = &cmds[0];
    assert_eq!((flush.command.opcode, flush.command.nsid), (io::FLUSH, 1));
}

#[test]
fn error_statuses_are_named_and_the_queue_keeps_working() {
    let (hal, _c, mut disk) = one_disk(simple(64, 512));
    let unrecovered = Status::new(sct::MEDIA, media::UNRECOVERED_READ_ERROR);
    hal.dev().faults.push(Fault {
        admin: false,
        opcode: io::READ,
        lba: Some(10),
        action: Action::Fail(unrecovered),
    });
    let mut buf = vec![0u8; 4 * 512];
    assert_eq!(
        disk.read_blocks(8, &mut buf),
        Err(BlockError::Io { lba: 8 })
    );
    let e = disk.last_error().unwrap();
    assert_eq!(
        e,
        CommandError::Status {
            cmd: CommandContext {
                qid: 1,
                opcode: io::READ,
                lba: 8
            },
            status: unrecovered
        }
    );
    assert_eq!(
        e.to_string(),
        "NVMe READ at LBA 8 (queue 1): unrecovered read error (type 0x2, code 0x81)"
    );
    // Other blocks still read; the queue is fine.
    disk.read_blocks(11, &mut buf).unwrap();
    assert!(!disk.is_failed());
    // A generic error that is not about the data is a device failure.
    hal.dev().faults = vec![Fault {
        admin: false,
        opcode: io::WRITE,
        lba: None,
        action: Action::Fail(Status::new(sct::GENERIC, generic::INVALID_FIELD)),
    }];
    assert_eq!(
        disk.write_blocks(0, &buf),
        Err(BlockError::Device {
            lba: 0,
            failure: DeviceFailure::Unsupported
        })
    );
    hal.dev().faults.clear();
    disk.write_blocks(0, &buf).unwrap();
}

#[test]
fn a_timeout_is_named_and_later_requests_fail_fast() {
    let (hal, _c, mut disk) = one_disk(simple(64, 512));
    hal.dev().faults.push(Fault {
        admin: false,
        opcode: io::WRITE,
        lba: None,
        action: Action::Hang,
    });
    let start = hal.dev().dma.clock;
    let buf = vec![0u8; 512];
    assert_eq!(
        disk.write_blocks(3, &buf),
        Err(BlockError::Device {
            lba: 3,
            failure: DeviceFailure::Timeout
        })
    );
    let waited = hal.dev().dma.clock - start;
    assert!((100_000..200_000).contains(&waited), "{waited}");
    assert!(disk.is_failed());
    assert!(matches!(
        disk.last_error(),
        Some(CommandError::Timeout { .. })
    ));
    // Fail fast: nothing submitted, no waiting, the bounce buffer untouched.
    hal.dev().faults.clear();
    let sent = hal.dev().submitted.len();
    let clock = hal.dev().dma.clock;
    let mut back = vec![0u8; 512];
    assert_eq!(
        disk.read_blocks(0, &mut back),
        Err(BlockError::Device {
            lba: 0,
            failure: DeviceFailure::NotReady
        })
    );
    assert_eq!(
        disk.flush().unwrap_err(),
        BlockError::Device {
            lba: 0,
            failure: DeviceFailure::NotReady
        }
    );
    assert!(matches!(
        disk.last_error(),
        Some(CommandError::QueueFailed { .. })
    ));
    assert_eq!(hal.dev().submitted.len(), sent);
    assert!(hal.dev().dma.clock - clock < 1_000);
    // The queue's memory may still be written by the controller: dropping leaks it.
    let frees = hal.dev().dma.frees;
    drop(disk);
    assert_eq!(hal.dev().dma.frees, frees);
}

#[test]
fn controller_fatal_status_is_named() {
    // CFS already set: the request is refused before it is submitted.
    let (hal, _c, mut disk) = one_disk(simple(64, 512));
    hal.dev().csts |= reg::CSTS_CFS;
    let sent = hal.dev().submitted.len();
    let mut buf = vec![0u8; 512];
    assert_eq!(
        disk.read_blocks(1, &mut buf),
        Err(BlockError::Device {
            lba: 1,
            failure: DeviceFailure::NotReady
        })
    );
    assert!(matches!(
        disk.last_error(),
        Some(CommandError::ControllerFatal { csts, .. }) if csts & reg::CSTS_CFS != 0
    ));
    assert_eq!(hal.dev().submitted.len(), sent);

    // CFS set while a command is outstanding: reported at the deadline as fatal, not a timeout.
    let (hal, _c, mut disk) = one_disk(simple(64, 512));
    hal.dev().faults.push(Fault {
        admin: false,
        opcode: io::READ,
        lba: None,
        action: Action::Fatal,
    });
    assert!(disk.read_blocks(1, &mut buf).is_err());
    let e = disk.last_error().unwrap();
    assert!(matches!(e, CommandError::ControllerFatal { .. }), "{e:?}");
    assert!(e.to_string().contains("controller fatal status"));
    assert!(disk.is_failed());
}

#[test]
fn requests_are_validated_before_the_device_is_touched() {
    let (hal, _c, mut disk) = one_disk(simple(64, 512));
    let sent = hal.dev().submitted.len();
    let mut buf = vec![0u8; 1000];
    assert_eq!(
        disk.read_blocks(0, &mut buf),
        Err(BlockError::BufferNotMultiple {
            len: 1000,
            block_size: 512
        })
    );
    assert_eq!(
        disk.write_blocks(63, &[0u8; 1024]),
        Err(BlockError::OutOfRange {
            lba: 63,
            count: 2,
            device_blocks: 64
        })
    );
    assert!(matches!(
        disk.write_blocks(u64::MAX, &[0u8; 512]),
        Err(BlockError::OutOfRange { .. })
    ));
    disk.read_blocks(64, &mut []).unwrap();
    assert_eq!(hal.dev().submitted.len(), sent);
}

#[test]
fn namespaces_the_driver_cannot_use_are_refused() {
    let mut odd = FakeNamespace::new(16, 1024);
    odd.lbads = 10;
    let mut meta = FakeNamespace::new(16, 512);
    meta.metadata = 8;
    let mut dev = FakeNvme::new(vec![odd, meta, FakeNamespace::new(16, 512)]);
    dev.namespaces.push(None);
    let (hal, mut c) = bring_up(dev);
    assert_eq!(c.namespaces(), [1, 2, 3]);
    assert_eq!(
        c.open_namespace(1).err(),
        Some(NamespaceError::UnsupportedBlockSize {
            nsid: 1,
            bytes: 1024
        })
    );
    assert_eq!(
        c.open_namespace(2).err(),
        Some(NamespaceError::Metadata { nsid: 2, bytes: 8 })
    );
    assert_eq!(
        c.open_namespace(4).err(),
        Some(NamespaceError::Inactive { nsid: 4 })
    );
    assert!(matches!(
        c.open_namespace(9),
        Err(NamespaceError::Command {
            nsid: 9,
            error: CommandError::Status { .. }
        })
    ));
    assert!(
        hal.dev().io_queues().is_empty(),
        "no queue created for them"
    );
    let _disk = c.open_namespace(3).unwrap();
    assert_eq!(
        c.open_namespace(3).err(),
        Some(NamespaceError::InUse { nsid: 3 })
    );
    assert_eq!(
        NamespaceError::UnsupportedBlockSize {
            nsid: 1,
            bytes: 1024
        }
        .to_string(),
        "namespace 1: 1024-byte blocks are not supported (only 512 and 4096)"
    );
}

#[test]
fn completion_phase_wraps_around_small_queues() {
    let mut dev = simple(256, 512);
    dev.cap = capabilities(4, 0);
    let (hal, _c, mut disk) = one_disk(dev);
    assert_eq!(hal.dev().aqa, 3 << 16 | 3);
    for i in 0..25u64 {
        let data = pattern(1024, i as u8);
        disk.write_blocks(i * 2, &data).unwrap();
        let mut back = vec![0u8; 1024];
        disk.read_blocks(i * 2, &mut back).unwrap();
        assert_eq!(back, data, "round {i}");
    }
    disk.flush().unwrap();
    assert_eq!(disk.commands_issued(), 51);
    // 51 completions on the I/O queue (12 wraps) and 6 on the admin queue (1 wrap).
    assert_eq!(hal.dev().wraps, 12 + 1);
}

#[test]
fn the_doorbell_stride_is_respected() {
    let mut dev = simple(64, 4096);
    dev.cap = capabilities(16, 3);
    let (_hal, _c, mut disk) = one_disk(dev);
    let data = pattern(3 * 4096, 9);
    disk.write_blocks(2, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(2, &mut back).unwrap();
    assert_eq!(back, data);
}

#[test]
fn each_namespace_gets_its_own_queue_pair() {
    let dev = FakeNvme::new(vec![
        FakeNamespace::new(32, 512),
        FakeNamespace::new(8, 4096),
    ]);
    let (hal, mut c) = bring_up(dev);
    let mut disks: Vec<_> = c
        .open_namespaces()
        .into_iter()
        .map(|(nsid, d)| (nsid, d.unwrap()))
        .collect();
    assert_eq!(hal.dev().io_queues(), [1, 2]);
    let (_, b) = disks.pop().unwrap();
    let (_, a) = disks.pop().unwrap();
    let (mut a, mut b) = (a, b);
    assert_eq!((a.queue_id(), b.queue_id()), (1, 2));
    a.write_blocks(0, &[0xaa; 512]).unwrap();
    b.write_blocks(0, &[0xbb; 4096]).unwrap();
    let mut buf = vec![0u8; 512];
    a.read_blocks(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&x| x == 0xaa));
    let mut buf = vec![0u8; 4096];
    b.read_blocks(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&x| x == 0xbb));
    // A hang on one queue leaves the other working.
    hal.dev().faults.push(Fault {
        admin: false,
        opcode: io::READ,
        lba: None,
        action: Action::Hang,
    });
    assert!(b.read_blocks(0, &mut buf).is_err());
    hal.dev().faults.clear();
    a.write_blocks(1, &[1; 512]).unwrap();
}

#[test]
fn queue_grants_limit_the_namespaces_opened() {
    let mut dev = FakeNvme::new(vec![FakeNamespace::new(8, 512), FakeNamespace::new(8, 512)]);
    dev.max_queue_pairs = 1;
    let (_hal, mut c) = bring_up(dev);
    assert_eq!(c.io_queue_pairs(), 1);
    let _a = c.open_namespace(1).unwrap();
    assert_eq!(
        c.open_namespace(2).err(),
        Some(NamespaceError::NoQueuesLeft { nsid: 2, queues: 1 })
    );
}

#[test]
fn controllers_without_a_namespace_list_are_probed() {
    let mut dev = FakeNvme::new(vec![FakeNamespace::new(8, 512)]);
    dev.namespaces.push(None);
    dev.vs = 0x0001_0000;
    let (_hal, mut c) = bring_up(dev);
    assert_eq!(c.namespaces(), [1, 2]);
    let results = c.open_namespaces();
    assert!(results[0].1.is_ok());
    assert_eq!(
        results[1].1.as_ref().err(),
        Some(&NamespaceError::Inactive { nsid: 2 })
    );
}

#[test]
fn bring_up_failures_are_named_and_give_memory_back() {
    let init = |dev: FakeNvme| {
        let hal = dev.into_hal();
        let r = Controller::init(hal.clone(), quick()).err();
        assert_eq!(hal.dev().dma.dma_in_use, 0, "memory given back");
        r
    };
    let mut dev = simple(8, 512);
    dev.ready_stuck = true;
    assert!(matches!(init(dev), Some(NvmeError::EnableTimeout { .. })));
    let mut dev = simple(8, 512);
    dev.fatal_on_enable = true;
    let e = init(dev).unwrap();
    assert!(matches!(e, NvmeError::ControllerFatal { .. }));
    assert_eq!(
        e.to_string(),
        "controller fatal status while starting (CSTS 0x00000002)"
    );
    let mut dev = simple(8, 512);
    dev.cap &= !(1 << 37);
    assert!(matches!(init(dev), Some(NvmeError::NoNvmCommandSet { .. })));
    let mut dev = simple(8, 512);
    dev.cap |= 1 << 48;
    assert_eq!(
        init(dev),
        Some(NvmeError::PageSizeUnsupported {
            min_page_bytes: 8192
        })
    );
    let mut dev = simple(8, 512);
    dev.cap = u64::MAX;
    assert!(matches!(init(dev), Some(NvmeError::BadCapabilities { .. })));
    let mut dev = simple(8, 512);
    dev.faults.push(Fault {
        admin: true,
        opcode: admin::IDENTIFY,
        lba: None,
        action: Action::Hang,
    });
    assert_eq!(
        init(dev),
        Some(NvmeError::Admin(CommandError::Timeout {
            cmd: CommandContext {
                qid: 0,
                opcode: admin::IDENTIFY,
                lba: 0
            }
        }))
    );
    let mut dev = simple(8, 512);
    dev.dma.dma_limit = 0;
    assert_eq!(init(dev), Some(NvmeError::OutOfDmaMemory));
}

#[test]
fn a_controller_that_will_not_stop_is_reported_and_its_memory_leaked() {
    // Left enabled (by the firmware) and stuck: init's reset fails, nothing allocated.
    let mut dev = simple(8, 512);
    dev.stop_stuck = true;
    dev.cc = reg::CC_EN;
    dev.csts = reg::CSTS_RDY;
    let hal = dev.into_hal();
    assert_eq!(
        Controller::init(hal.clone(), quick()).err(),
        Some(NvmeError::DisableTimeout {
            csts: reg::CSTS_RDY
        })
    );
    assert_eq!(hal.dev().dma.dma_in_use, 0);
    // Stuck later: the controller, dropped without disks, leaks its admin queues.
    let (hal, c) = bring_up(simple(8, 512));
    hal.dev().stop_stuck = true;
    drop(c);
    assert_eq!(hal.dev().dma.frees, 0);
    assert_eq!(hal.dev().dma.dma_in_use, 3 * 4096);
}

#[test]
fn dropping_gives_dma_memory_back() {
    // No disk opened: the controller is disabled and its admin queues freed.
    let (hal, c) = bring_up(simple(8, 512));
    drop(c);
    assert_eq!(hal.dev().dma.dma_in_use, 0);
    assert_eq!(hal.dev().csts & reg::CSTS_RDY, 0);
    // A disk gives back its queues and bounce buffer; the controller stays enabled for it.
    let (hal, c, disk) = one_disk(simple(8, 512));
    let admin_only = 3 * 4096;
    drop(c);
    assert_ne!(hal.dev().csts & reg::CSTS_RDY, 0);
    drop(disk);
    assert_eq!(hal.dev().dma.dma_in_use, admin_only);
}

#[test]
fn the_bounce_buffer_shrinks_when_dma_memory_is_short() {
    let mut dev = simple(256, 512);
    dev.mdts = 0;
    // Admin queues, I/O queues, and 64 KiB.
    dev.dma.dma_limit = 6 * 4096 + 64 * 1024;
    let (hal, _c, mut disk) = one_disk(dev);
    assert_eq!(disk.max_transfer_bytes(), 64 * 1024);
    let data = pattern(200 * 512, 5);
    disk.write_blocks(0, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(0, &mut back).unwrap();
    assert_eq!(back, data);
    assert_eq!(hal.dev().io_commands().len(), 4);
    let mut dev = simple(64, 512);
    dev.dma.dma_limit = 6 * 4096;
    let (_hal, mut c) = bring_up(dev);
    assert_eq!(
        c.open_namespace(1).err(),
        Some(NamespaceError::OutOfDmaMemory { nsid: 1 })
    );
}

#[test]
fn command_errors_map_to_block_errors_and_display() {
    let cmd = CommandContext {
        qid: 2,
        opcode: io::WRITE,
        lba: 77,
    };
    let cases = [
        (
            CommandError::Timeout { cmd },
            BlockError::Device {
                lba: 77,
                failure: DeviceFailure::Timeout,
            },
            "NVMe WRITE at LBA 77 (queue 2): timed out; queue out of service",
        ),
        (
            CommandError::QueueFailed { cmd },
            BlockError::Device {
                lba: 77,
                failure: DeviceFailure::NotReady,
            },
            "NVMe WRITE at LBA 77 (queue 2): not sent: queue out of service after an earlier failure",
        ),
        (
            CommandError::Status {
                cmd,
                status: Status::new(sct::MEDIA, media::WRITE_FAULT),
            },
            BlockError::Io { lba: 77 },
            "NVMe WRITE at LBA 77 (queue 2): write fault (type 0x2, code 0x80)",
        ),
        (
            CommandError::Status {
                cmd,
                status: Status::new(sct::GENERIC, generic::NAMESPACE_NOT_READY),
            },
            BlockError::Device {
                lba: 77,
                failure: DeviceFailure::NotReady,
            },
            "NVMe WRITE at LBA 77 (queue 2): namespace not ready (type 0x0, code 0x82)",
        ),
        (
            CommandError::WrongCompletion {
                cmd,
                cid: 4,
                sqid: 1,
            },
            BlockError::Device {
                lba: 77,
                failure: DeviceFailure::Protocol,
            },
            "NVMe WRITE at LBA 77 (queue 2): completion for command 4 of queue 1 instead; queue out of service",
        ),
    ];
    for (e, block, text) in cases {
        assert_eq!(e.to_block_error(), block);
        assert_eq!(e.to_string(), text);
    }
    let ctx = CommandContext {
        qid: 0,
        opcode: admin::CREATE_IO_SQ,
        lba: 0,
    };
    assert_eq!(
        CommandError::Status {
            cmd: ctx,
            status: Status::new(sct::COMMAND_SPECIFIC, 0),
        }
        .to_string(),
        "NVMe CREATE I/O SQ: completion queue invalid (type 0x1, code 0x00)"
    );
}
