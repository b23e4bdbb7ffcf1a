use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::desc::*;
use super::msc::*;
use super::scsi::{self, Capacity, Cdb, Inquiry, Sense};
use super::xhci::fake::{
    config_descriptor, EpState, FakeDevice, FakeHal, FakeMsc, FakeXhci, DBOFF,
};
use super::xhci::proto::{self, code, ep_type, trb_type, CompletionCode, Speed, Trb};
use super::xhci::{split_at_64k, Controller, EnumError, Handoff, TransferError, XhciError};
use super::*;
use crate::block::{BlockDevice, BlockError, DeviceFailure};
use crate::hal::fake::storage_function;

fn fast() -> Timeouts {
    Timeouts {
        handoff_us: 20_000,
        halt_us: 20_000,
        reset_us: 20_000,
        command_us: 20_000,
        port_reset_us: 20_000,
        reset_recovery_us: 1_000,
        control_us: 50_000,
        bulk_us: 100_000,
    }
}

fn msc_fast() -> MscTimeouts {
    MscTimeouts {
        ready_tries: 5,
        ready_pause_us: 1_000,
    }
}

fn probe_fake(fake: FakeXhci) -> (FakeHal, ProbeReport<FakeHal>) {
    let hal = fake.into_hal();
    let report = probe(hal.clone(), fast(), msc_fast()).expect("probe");
    (hal, report)
}

fn storage(speed: Speed, blocks: usize, block_size: usize) -> FakeDevice {
    FakeDevice::storage(speed, FakeMsc::new(blocks, block_size))
}

/// A fake with one high-speed 512-byte-block disk of `blocks` blocks on port 1, probed; the
/// disk.
fn one_disk(msc: FakeMsc) -> (FakeHal, ProbeReport<FakeHal>) {
    let mut fake = FakeXhci::new();
    fake.attach(1, FakeDevice::storage(Speed::High, msc));
    let (hal, report) = probe_fake(fake);
    assert_eq!(report.disks.len(), 1, "{:?}", report.ports);
    (hal, report)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

// --- Structures ------------------------------------------------------------------------------

/// The kernel keeps disks as `Box<dyn BlockDevice + Send>`: a disk over a `Send` HAL is one.
#[allow(dead_code, reason = "a compile-time check, never called")]
fn disks_are_send<H: xhci::XhciHal + Send + 'static>(
    disk: UsbDisk<H>,
) -> alloc::boxed::Box<dyn BlockDevice + Send> {
    alloc::boxed::Box::new(disk)
}

#[test]
fn trb_is_byte_exact_and_decodes_event_fields() {
    let t = Trb {
        parameter: 0x1122_3344_5566_7788,
        status: 0x0d00_0010,
        control: 0x0583_8001,
    };
    let b = t.to_bytes();
    assert_eq!(&b[0..8], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(Trb::from_bytes(&b), t);
    assert_eq!(t.trb_type(), trb_type::TRANSFER_EVENT);
    assert_eq!(t.completion_code(), code::SHORT_PACKET);
    assert_eq!(t.residue(), 0x10);
    assert_eq!((t.slot_id(), t.endpoint_id()), (5, 3));
    assert!(t.cycle());
    assert_eq!(
        Trb::new(trb_type::LINK, 0x1000, 0, 2).control,
        (6 << 10) | 2
    );
    assert_eq!(CompletionCode(code::STALL).to_string(), "stall (code 6)");
    assert_eq!(
        CompletionCode(code::TRANSACTION).to_string(),
        "USB transaction error (code 4)"
    );
}

#[test]
fn contexts_round_trip() {
    let s = proto::SlotContext {
        route: 0,
        speed: 3,
        context_entries: 5,
        root_port: 2,
        address: 7,
        state: 2,
        ..Default::default()
    };
    assert_eq!(proto::SlotContext::from_dwords(s.to_dwords()), s);
    assert_eq!(s.to_dwords()[0], 3 << 20 | 5 << 27);
    assert_eq!(s.tier(), 0);
    let child = proto::SlotContext {
        route: 0x0003,
        speed: 1,
        mtt: true,
        root_port: 1,
        tt_hub_slot: 4,
        tt_port: 3,
        ..Default::default()
    };
    assert_eq!(proto::SlotContext::from_dwords(child.to_dwords()), child);
    assert_eq!(child.to_dwords()[2], 4 | 3 << 8);
    assert_eq!(child.tier(), 1);
    let hub = proto::SlotContext {
        hub: true,
        ports: 4,
        ttt: 2,
        route: 0x21,
        ..Default::default()
    };
    assert_eq!(proto::SlotContext::from_dwords(hub.to_dwords()), hub);
    assert_eq!(hub.to_dwords()[0] >> 26 & 1, 1);
    assert_eq!(hub.to_dwords()[1] >> 24, 4);
    assert_eq!(hub.tier(), 2);
    let e = proto::EndpointContext {
        state: 1,
        interval: 6,
        error_count: 3,
        ep_type: ep_type::BULK_IN,
        max_burst: 0,
        max_packet: 512,
        dequeue: 0x1_2345_6780 | 1,
        average_trb: 3072,
        max_esit_payload: 0,
    };
    assert_eq!(proto::EndpointContext::from_dwords(e.to_dwords()), e);
    assert_eq!(e.to_dwords()[1], 3 << 1 | 6 << 3 | 512 << 16);
    assert_eq!(proto::dci(1, true), 3);
    assert_eq!(proto::dci(2, false), 4);
}

#[test]
fn setup_packets_encode() {
    let s = SetupPacket::get_descriptor(dtype::CONFIGURATION, 9);
    assert_eq!(s.to_u64(), 0x0009_0000_0200_0680);
    assert_eq!(SetupPacket::from_u64(s.to_u64()), s);
    assert!(s.is_in());
    let c = SetupPacket::clear_halt(0x81);
    assert_eq!(
        (c.request_type, c.request, c.value, c.index),
        (2, 1, 0, 0x81)
    );
    let r = SetupPacket::class_interface(request::BOT_RESET, 0, false, 0);
    assert_eq!((r.request_type, r.request), (0x21, 0xff));
}

#[test]
fn transfers_split_at_64k_boundaries() {
    assert_eq!(split_at_64k(0x10_0000, 4096), vec![(0x10_0000, 4096)]);
    assert_eq!(
        split_at_64k(0x10_f000, 0x2000),
        vec![(0x10_f000, 0x1000), (0x11_0000, 0x1000)]
    );
    let p = split_at_64k(0x10_1000, 128 * 1024);
    assert_eq!(p.len(), 3);
    assert_eq!(p.iter().map(|x| x.1).sum::<usize>(), 128 * 1024);
    assert!(p
        .iter()
        .all(|&(a, n)| a / 0x10000 == (a + n as u64 - 1) / 0x10000));
    assert_eq!(split_at_64k(0x5000, 0), vec![(0x5000, 0)]);
}

#[test]
fn device_descriptor_parses() {
    let d = FakeDevice::storage(Speed::High, FakeMsc::new(8, 512)).device_descriptor;
    let p = parse_device_descriptor(&d).unwrap();
    assert_eq!(
        (p.vendor_id, p.product_id, p.max_packet0),
        (0x1234, 0x5678, 64)
    );
    assert_eq!((p.usb_version, p.configurations), (0x0200, 1));
    let head = parse_device_descriptor(&d[..8]).unwrap();
    assert_eq!((head.max_packet0, head.vendor_id), (64, 0));
    assert_eq!(
        parse_device_descriptor(&d[..5]),
        Err(DescriptorError::TooShort { dtype: 1, len: 5 })
    );
    let mut wrong = d.clone();
    wrong[1] = 2;
    assert_eq!(
        parse_device_descriptor(&wrong),
        Err(DescriptorError::WrongType {
            expected: 1,
            got: 2
        })
    );
}

#[test]
fn configuration_descriptor_parses_and_skips_class_descriptors() {
    let kb = FakeDevice::keyboard(Speed::Full).config_descriptor;
    let c = parse_configuration(&kb).unwrap();
    assert_eq!(c.value, 1);
    assert_eq!(usize::from(c.total_length), kb.len());
    assert_eq!(c.interfaces.len(), 1);
    let i = &c.interfaces[0];
    assert_eq!((i.class, i.subclass, i.protocol), (3, 1, 1));
    let ep = i.endpoint(TransferType::Interrupt, true).unwrap();
    assert_eq!((ep.address, ep.max_packet, ep.interval), (0x81, 8, 10));
    assert_eq!(ep.number(), 1);
    assert!(i.endpoint(TransferType::Bulk, true).is_none());
    // Truncated to the header: no interfaces, no error.
    assert!(parse_configuration(&kb[..9]).unwrap().interfaces.is_empty());
}

#[test]
fn malformed_configuration_descriptors_are_named_errors() {
    let good = config_descriptor((8, 6, 0x50), &[], &[(0x81, 2, 512, 0), (0x02, 2, 512, 0)]);
    // A zero-length descriptor (would loop forever if trusted).
    let mut zero = good.clone();
    zero[9] = 0;
    assert_eq!(
        parse_configuration(&zero),
        Err(DescriptorError::BadLength {
            offset: 9,
            length: 0
        })
    );
    // An endpoint running past the end.
    let mut long = good.clone();
    long[18] = 40;
    assert_eq!(
        parse_configuration(&long),
        Err(DescriptorError::BadLength {
            offset: 18,
            length: 40
        })
    );
    // An endpoint before any interface.
    let mut bare = vec![9, 2, 16, 0, 1, 1, 0, 0x80, 50];
    bare.extend_from_slice(&[7, 5, 0x81, 2, 0, 2, 0]);
    assert_eq!(
        parse_configuration(&bare),
        Err(DescriptorError::EndpointOutsideInterface { offset: 9 })
    );
    // Endpoint 0 or max packet 0.
    let mut ep0 = good.clone();
    ep0[20] = 0x80;
    assert_eq!(
        parse_configuration(&ep0),
        Err(DescriptorError::BadEndpoint { address: 0x80 })
    );
    // A short interface descriptor.
    let mut short_if = good.clone();
    short_if[9] = 4;
    assert!(matches!(
        parse_configuration(&short_if),
        Err(DescriptorError::BadLength { offset: 9, .. })
    ));
    assert_eq!(
        DescriptorError::BadLength {
            offset: 9,
            length: 0
        }
        .to_string(),
        "malformed configuration descriptor: length 0 at byte 9"
    );
}

#[test]
fn interfaces_are_described() {
    assert_eq!(describe_interface(3, 1, 1), "HID keyboard (boot protocol)");
    assert_eq!(describe_interface(3, 1, 2), "HID mouse (boot protocol)");
    assert_eq!(
        describe_interface(8, 6, 0x50),
        "mass storage (SCSI, bulk-only)"
    );
    assert_eq!(describe_interface(9, 0, 0), "hub");
    assert_eq!(
        describe_interface(0xe0, 1, 1),
        "class 0xe0 subclass 0x01 protocol 0x01"
    );
}

#[test]
fn cbw_is_byte_exact() {
    let cbw = Cbw {
        tag: 0x0102_0304,
        data_len: 4096,
        data_in: true,
        lun: 0,
        cdb: Cdb::rw10(false, 0x0a0b_0c0d, 8),
    };
    let b = cbw.to_bytes();
    assert_eq!(&b[0..4], b"USBC");
    assert_eq!(&b[4..8], &[4, 3, 2, 1]);
    assert_eq!(&b[8..12], &[0, 0x10, 0, 0]);
    assert_eq!((b[12], b[13], b[14]), (0x80, 0, 10));
    assert_eq!(&b[15..25], &[0x28, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 8, 0]);
    assert_eq!(Cbw::parse(&b), Some(cbw));
    assert_eq!(Cbw::parse(&b[..30]), None);
}

#[test]
fn csw_is_checked() {
    let csw = Csw {
        tag: 7,
        residue: 512,
        status: csw_status::FAILED,
    };
    let b = csw.to_bytes();
    assert_eq!(&b[0..4], b"USBS");
    assert_eq!(Csw::parse(&b, 7, 0x28), Ok(csw));
    let mut sig = b;
    sig[0] = b'X';
    assert_eq!(
        Csw::parse(&sig, 7, 0x28),
        Err(MscError::CswSignature {
            op: 0x28,
            signature: u32::from_le_bytes([b'X', b'S', b'B', b'S'])
        })
    );
    assert_eq!(
        Csw::parse(&b, 8, 0x28),
        Err(MscError::CswTag {
            op: 0x28,
            expected: 8,
            got: 7
        })
    );
    assert_eq!(
        Csw::parse(&b[..12], 7, 0x28),
        Err(MscError::CswLength { op: 0x28, len: 12 })
    );
    let mut status = b;
    status[12] = 3;
    assert_eq!(
        Csw::parse(&status, 7, 0x28),
        Err(MscError::CswStatus {
            op: 0x28,
            status: 3
        })
    );
    assert_eq!(
        MscError::CswTag {
            op: 0x28,
            expected: 8,
            got: 7
        }
        .to_string(),
        "READ (10): USB storage status wrapper for tag 0x7, expected 0x8 (device reset)"
    );
}

#[test]
fn scsi_commands_encode() {
    let r = Cdb::rw16(true, 0x1_0000_0000, 0x20);
    assert_eq!(r.len, 16);
    assert_eq!(r.bytes[0], scsi::op::WRITE_16);
    assert_eq!(&r.bytes[2..10], &[0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(&r.bytes[10..14], &[0, 0, 0, 0x20]);
    assert_eq!(r.lba_and_blocks(), Some((0x1_0000_0000, 0x20)));
    let c = Cdb::read_capacity_16();
    assert_eq!(
        (c.bytes[0], c.bytes[1], c.bytes[13], c.len),
        (0x9e, 0x10, 32, 16)
    );
    assert_eq!(Cdb::inquiry(36).bytes[..6], [0x12, 0, 0, 0, 36, 0]);
    assert_eq!(Cdb::request_sense(18).bytes[4], 18);
    assert_eq!(Cdb::synchronize_cache().len, 10);
    assert_eq!(Cdb::test_unit_ready().lba_and_blocks(), None);
}

#[test]
fn sense_inquiry_and_capacity_parse() {
    let s = Sense {
        key: scsi::key::MEDIUM_ERROR,
        asc: 0x11,
        ascq: 0,
    };
    assert_eq!(Sense::parse(&s.to_fixed()), Some(s));
    assert_eq!(
        Sense::parse(&[0x72, 0x06, 0x28, 0x00]),
        Some(Sense {
            key: 6,
            asc: 0x28,
            ascq: 0
        })
    );
    assert_eq!(Sense::parse(&[0x00; 18]), None);
    assert_eq!(Sense::parse(&[0x70, 0, 3]), None);
    assert_eq!(
        s.to_string(),
        "medium error (sense key 0x3, ASC 0x11, ASCQ 0x00: unrecovered read error)"
    );
    let mut inq = vec![0u8; 36];
    inq[1] = 0x80;
    inq[8..16].copy_from_slice(b"Kingston");
    inq[16..32].copy_from_slice(b"DataTraveler 3.0");
    let i = Inquiry::parse(&inq).unwrap();
    assert!(i.is_direct_access() && i.removable);
    assert_eq!(i.model(), "Kingston DataTraveler 3.0");
    inq[0] = 5;
    assert!(!Inquiry::parse(&inq).unwrap().is_direct_access());
    assert_eq!(Inquiry::parse(&inq[..4]), None);
    let c = Capacity::parse_10(&[0, 0, 0x0f, 0xff, 0, 0, 2, 0]).unwrap();
    assert_eq!((c.last_lba, c.block_size), (0xfff, 512));
    assert!(!c.needs_16());
    assert!(Capacity::parse_10(&[0xff; 8]).unwrap().needs_16());
    let c = Capacity::parse_16(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x10, 0]).unwrap();
    assert_eq!((c.last_lba, c.block_size), (1 << 32, 4096));
    assert_eq!(Capacity::parse_10(&[0; 7]), None);
}

#[test]
fn xhci_functions_are_recognised() {
    assert!(is_xhci_function(&storage_function(
        0x8086,
        0x1e31,
        (0x0c, 0x03, 0x30)
    )));
    assert!(!is_xhci_function(&storage_function(
        0x8086,
        0x1e26,
        (0x0c, 0x03, 0x20)
    )));
    assert!(!is_xhci_function(&storage_function(
        0x1b36,
        0x0010,
        (0x01, 0x08, 0x02)
    )));
}

// --- Controller bring-up ---------------------------------------------------------------------

#[test]
fn controller_comes_up() {
    let hal = FakeXhci::new().into_hal();
    let c = Controller::init(hal.clone(), fast()).unwrap();
    let caps = c.capabilities();
    assert_eq!((caps.cap_length, caps.version), (0x40, 0x0120));
    assert_eq!(
        (caps.max_slots, caps.max_ports, caps.max_scratchpads),
        (8, 4, 2)
    );
    assert!(caps.ac64 && !caps.csz);
    assert_eq!(
        (caps.dboff, caps.rtsoff, caps.xecp),
        (0x3000, 0x2000, 0x800)
    );
    assert_eq!(c.handoff(), Handoff::NotOwned);
    assert_eq!(c.max_slots(), 8);
    assert_eq!(c.scratchpad_count(), 2);
    assert_eq!(c.protocols().len(), 2);
    assert_eq!((c.protocols()[1].major, c.protocols()[1].first), (3, 3));
    assert_eq!(c.register_span(), DBOFF + 4 * 9);
    let mut f = hal.dev();
    assert_eq!(f.resets, 1);
    assert_eq!(f.config & 0xff, 8);
    assert!(f.usbcmd & proto::op::CMD_RUN != 0);
    assert_eq!(f.usbsts & proto::op::STS_HCH, 0);
    assert!(f.os_owned);
    // DCBAA[0] points at the scratchpad array, which points at two pages.
    let dcbaap = f.dcbaap;
    let array = u64::from_le_bytes(f.dma.read_mem(dcbaap, 8).try_into().unwrap());
    assert_ne!(array, 0);
    let pages = f.dma.read_mem(array, 16);
    assert!(pages.chunks(8).all(|p| p != [0; 8]));
    f.dma.tick();
}

#[test]
fn firmware_releases_the_controller() {
    let mut fake = FakeXhci::new();
    fake.bios_owned = true;
    fake.legctl = 0x0000_e011 | 0xe000_0000;
    let hal = fake.into_hal();
    let c = Controller::init(hal.clone(), fast()).unwrap();
    assert_eq!(c.handoff(), Handoff::Released);
    let f = hal.dev();
    assert!(!f.bios_owned && f.os_owned);
    assert_eq!(f.legctl & proto::ext::LEGCTL_SMI_ENABLES, 0);
}

#[test]
fn firmware_that_holds_on_is_overridden() {
    let mut fake = FakeXhci::new();
    fake.bios_owned = true;
    fake.bios_releases = false;
    let hal = fake.into_hal();
    let start = hal.dev().dma.clock;
    let c = Controller::init(hal.clone(), fast()).unwrap();
    assert_eq!(c.handoff(), Handoff::Forced);
    assert!(!hal.dev().bios_owned);
    assert!(hal.dev().dma.clock - start >= fast().handoff_us);
}

#[test]
fn no_legacy_capability_is_fine() {
    let mut fake = FakeXhci::new();
    fake.legacy = false;
    let c = Controller::init(fake.into_hal(), fast()).unwrap();
    assert_eq!(c.handoff(), Handoff::NoLegacyCapability);
}

#[test]
fn reset_that_never_finishes_is_a_named_error() {
    let mut fake = FakeXhci::new();
    fake.reset_stuck = true;
    let hal = fake.into_hal();
    let e = Controller::init(hal.clone(), fast()).err().unwrap();
    assert!(matches!(e, XhciError::ResetTimeout { usbcmd, .. } if usbcmd & 2 != 0));
    assert!(e
        .to_string()
        .starts_with("xHCI controller did not finish its reset"));
    assert!(probe(hal, fast(), msc_fast()).is_err());
}

#[test]
fn absent_controller_is_bad_capabilities() {
    let mut fake = FakeXhci::new();
    fake.absent = true;
    let e = Controller::init(fake.into_hal(), fast()).err().unwrap();
    assert!(matches!(e, XhciError::BadCapabilities { .. }));
}

#[test]
fn memory_above_4g_is_refused_without_ac64() {
    let mut fake = FakeXhci::new();
    fake.ac64 = false;
    fake.dma.mem_base = 1 << 32;
    let e = Controller::init(fake.into_hal(), fast()).err().unwrap();
    assert_eq!(e, XhciError::OutOfDmaMemory);
    // The same controller with memory below 4 GiB works, and so does a 64-bit one above.
    let mut fake = FakeXhci::new();
    fake.ac64 = false;
    assert!(Controller::init(fake.into_hal(), fast()).is_ok());
    let mut fake = FakeXhci::new();
    fake.dma.mem_base = 1 << 32;
    fake.attach(1, storage(Speed::High, 64, 512));
    let (_, mut report) = probe_fake(fake);
    let mut buf = vec![0u8; 512];
    report.disks[0].disk.read_blocks(3, &mut buf).unwrap();
}

#[test]
fn dropping_the_controller_halts_it_and_frees_memory() {
    let mut fake = FakeXhci::new();
    fake.attach(2, FakeDevice::keyboard(Speed::Low));
    let (hal, report) = probe_fake(fake);
    drop(report);
    let f = hal.dev();
    assert!(f.usbsts & proto::op::STS_HCH != 0);
    assert!(f.dma.frees >= 5, "{}", f.dma.frees);
}

// --- Enumeration -----------------------------------------------------------------------------

#[test]
fn usb2_port_is_reset_and_device_addressed() {
    let mut fake = FakeXhci::new();
    fake.attach(1, storage(Speed::High, 64, 512));
    let hal = fake.into_hal();
    let mut c = Controller::init(hal.clone(), fast()).unwrap();
    assert_eq!(c.connected_ports(), vec![1]);
    let st = c.port_status(1);
    assert!(st.connected() && !st.enabled() && !st.usb3);
    let d = c.enumerate_port(1).unwrap();
    assert_eq!((d.slot, d.port, d.speed), (1, 1, Speed::High));
    assert_eq!(d.descriptor.vendor_id, 0x1234);
    assert_eq!(d.configuration.interfaces[0].endpoints.len(), 2);
    assert!(c.port_status(1).enabled());
    let ctx = c.slot_context(1).unwrap();
    assert_eq!((ctx.address, ctx.state, ctx.root_port), (1, 2, 1));
    let f = hal.dev();
    assert_eq!(
        f.commands,
        vec![trb_type::ENABLE_SLOT, trb_type::ADDRESS_DEVICE]
    );
    assert_eq!(f.ep0_max_packet[&1], 64);
    // PRC was acknowledged.
    assert_eq!(f.ports[0].portsc & proto::portsc::CHANGE_BITS, 0);
}

#[test]
fn full_speed_max_packet_is_fixed_from_the_descriptor() {
    let mut fake = FakeXhci::new();
    fake.attach(2, storage(Speed::Full, 64, 512));
    let (hal, mut report) = probe_fake(fake);
    assert_eq!(report.ports[0].speed, Some(Speed::Full));
    let f = hal.dev();
    assert!(f.commands.contains(&trb_type::EVALUATE_CONTEXT));
    assert_eq!(f.ep0_max_packet[&1], 64);
    drop(f);
    let mut buf = vec![0u8; 1024];
    report.disks[0].disk.read_blocks(0, &mut buf).unwrap();
}

#[test]
fn usb3_port_needs_no_reset_and_uses_512_byte_control_packets() {
    let mut fake = FakeXhci::new();
    fake.csz = true;
    fake.attach(3, storage(Speed::Super, 64, 512));
    let (hal, mut report) = probe_fake(fake);
    assert_eq!(report.ports[0].speed, Some(Speed::Super));
    let f = hal.dev();
    assert_eq!(f.ep0_max_packet[&1], 512);
    assert!(!f.commands.contains(&trb_type::EVALUATE_CONTEXT));
    // Bulk endpoints configured with 1024-byte packets (64-byte contexts read right).
    let slot = &f.slots[&1];
    assert_eq!(slot.eps[&3].max_packet, 1024);
    assert_eq!(slot.eps[&3].ep_type, ep_type::BULK_IN);
    assert_eq!(slot.eps[&4].ep_type, ep_type::BULK_OUT);
    drop(f);
    let data = pattern(8 * 512, 9);
    let disk = &mut report.disks[0].disk;
    disk.write_blocks(10, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(10, &mut back).unwrap();
    assert_eq!(back, data);
}

#[test]
fn malformed_configuration_is_reported_not_panicked() {
    let mut fake = FakeXhci::new();
    let mut dev = storage(Speed::High, 64, 512);
    dev.config_descriptor[9] = 0;
    fake.attach(1, dev);
    let (hal, report) = probe_fake(fake);
    assert!(report.disks.is_empty());
    assert_eq!(
        report.ports[0].outcome,
        PortOutcome::Failed {
            error: EnumError::Descriptor(DescriptorError::BadLength {
                offset: 9,
                length: 0
            })
        }
    );
    assert!(report.ports[0]
        .to_string()
        .contains("malformed configuration descriptor"));
    // The slot was given back.
    let f = hal.dev();
    assert_eq!(f.commands.last(), Some(&trb_type::DISABLE_SLOT));
    assert!(f.slots.is_empty());
}

#[test]
fn bad_max_packet_is_a_named_error() {
    let mut fake = FakeXhci::new();
    let mut dev = storage(Speed::High, 64, 512);
    dev.device_descriptor[7] = 7;
    fake.attach(1, dev);
    let (_, report) = probe_fake(fake);
    assert_eq!(
        report.ports[0].outcome,
        PortOutcome::Failed {
            error: EnumError::BadMaxPacket { max_packet0: 7 }
        }
    );
}

#[test]
fn keyboard_is_listed_as_not_storage_and_configured() {
    let mut fake = FakeXhci::new();
    fake.attach(2, FakeDevice::keyboard(Speed::Full));
    let (hal, report) = probe_fake(fake);
    assert!(report.disks.is_empty());
    let p = &report.ports[0];
    assert_eq!(p.port, 2);
    assert_eq!((p.vendor_id, p.product_id), (0x046d, 0xc31c));
    assert_eq!(
        p.outcome,
        PortOutcome::NotStorage {
            slot: 1,
            interface: 0,
            class: 3,
            subclass: 1,
            protocol: 1,
            description: "HID keyboard (boot protocol)".into()
        }
    );
    assert_eq!(p.location(), "port 2 usb-hid");
    assert_eq!(
        p.to_string(),
        "port 2 usb-hid (full speed, 046d:c31c): HID keyboard (boot protocol) (class 0x03 subclass 0x01 protocol 0x01), not a storage device"
    );
    let mut f = hal.dev();
    let ep = f.slots[&1].eps[&3];
    assert_eq!(ep.ep_type, ep_type::INTERRUPT_IN);
    // bInterval 10 frames = 80 microframes: 2^6 = 64 is the largest power of two below.
    assert_eq!(ep.interval, 6);
    assert_eq!(f.device(2).unwrap().configuration, 1);
}

#[test]
fn port_that_never_finishes_reset_is_reported() {
    let mut fake = FakeXhci::new();
    fake.port_reset_stuck = true;
    fake.attach(1, storage(Speed::High, 64, 512));
    let (_, report) = probe_fake(fake);
    assert!(matches!(
        report.ports[0].outcome,
        PortOutcome::Failed {
            error: EnumError::PortResetTimeout { port: 1, .. }
        }
    ));
}

#[test]
fn commands_that_never_complete_time_out() {
    let mut fake = FakeXhci::new();
    fake.commands_hang = true;
    fake.attach(3, storage(Speed::Super, 64, 512));
    let (_, report) = probe_fake(fake);
    assert!(matches!(
        report.ports[0].outcome,
        PortOutcome::Failed {
            error: EnumError::Command(xhci::CommandError::Timeout {
                command: trb_type::ENABLE_SLOT
            })
        }
    ));
}

#[test]
fn several_devices_are_enumerated_in_port_order() {
    let mut fake = FakeXhci::new();
    fake.attach(1, storage(Speed::High, 128, 512));
    fake.attach(2, FakeDevice::keyboard(Speed::Low));
    fake.attach(4, storage(Speed::Super, 16, 4096));
    let (_, mut report) = probe_fake(fake);
    assert_eq!(
        report.ports.iter().map(|p| p.port).collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
    assert_eq!(report.disks.len(), 2);
    assert_eq!(report.disks[0].location, "port 1");
    assert_eq!(report.disks[1].location, "port 4");
    assert_eq!(report.disks[0].model, "PandaGen Fake Flash");
    assert_eq!(
        report.ports[0].to_string(),
        "port 1 usb-msc (high speed, 1234:5678): disk \"PandaGen Fake Flash\""
    );
    assert_eq!(report.disks[1].disk.block_size(), 4096);
    // Both disks share the controller and work in turn.
    let mut a = vec![0u8; 512];
    let mut b = vec![0u8; 4096];
    report.disks[0].disk.read_blocks(1, &mut a).unwrap();
    report.disks[1].disk.read_blocks(1, &mut b).unwrap();
    report.disks[0].disk.read_blocks(2, &mut a).unwrap();
}

#[test]
fn cdrom_is_refused_with_its_type() {
    let mut msc = FakeMsc::new(64, 512);
    msc.peripheral = 5;
    let mut fake = FakeXhci::new();
    fake.attach(1, FakeDevice::storage(Speed::High, msc));
    let (_, report) = probe_fake(fake);
    assert!(report.disks.is_empty());
    let PortOutcome::StorageRefused { error } = &report.ports[0].outcome else {
        panic!("{:?}", report.ports[0]);
    };
    assert_eq!(*error, MscError::NotDirectAccess { peripheral: 5 });
    assert_eq!(
        error.to_string(),
        "not a direct-access block device (SCSI peripheral type 0x05, qualifier 0)"
    );
}

#[test]
fn devices_behind_a_hub_are_enumerated() {
    let mut fake = FakeXhci::new();
    let hub = FakeDevice::hub(
        Speed::High,
        1,
        vec![
            Some(storage(Speed::High, 128, 512)),
            None,
            Some(FakeDevice::keyboard(Speed::Full)),
            Some(storage(Speed::Full, 32, 4096)),
        ],
    );
    fake.attach(1, hub);
    let (hal, mut report) = probe_fake(fake);
    let lines: Vec<_> = report.ports.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "port 1 usb-hub (high speed, 05e3:0608): hub with 4 ports",
            "port 1.1 usb-msc (high speed, 1234:5678): disk \"PandaGen Fake Flash\"",
            "port 1.3 usb-hid (full speed, 046d:c31c): HID keyboard (boot protocol) (class 0x03 subclass 0x01 protocol 0x01), not a storage device",
            "port 1.4 usb-msc (full speed, 1234:5678): disk \"PandaGen Fake Flash\"",
        ]
    );
    assert_eq!(report.disks.len(), 2);
    assert_eq!(report.disks[0].location, "port 1.1");
    assert_eq!(report.disks[1].location, "port 1.4");
    {
        let f = hal.dev();
        let hub = f.slots[&1].ctx;
        assert!(hub.hub && !hub.mtt);
        assert_eq!((hub.ports, hub.ttt, hub.route), (4, 2, 0));
        let hs = f.slots[&2].ctx;
        assert_eq!((hs.route, hs.root_port, hs.tt_hub_slot), (1, 1, 0));
        let kb = f.slots[&3].ctx;
        assert_eq!((kb.route, kb.tt_hub_slot, kb.tt_port), (3, 1, 3));
        let fs = f.slots[&4].ctx;
        assert_eq!(
            (fs.route, fs.tt_hub_slot, fs.tt_port, fs.speed),
            (4, 1, 4, 1)
        );
    }
    for found in &mut report.disks {
        let disk = &mut found.disk;
        let data = pattern(3 * disk.block_size(), 4);
        disk.write_blocks(5, &data).unwrap();
        let mut back = vec![0u8; data.len()];
        disk.read_blocks(5, &mut back).unwrap();
        assert_eq!(back, data);
    }
    let mut f = hal.dev();
    assert_eq!(
        &f.device_at(1, 4).unwrap().msc().unwrap().data[5 * 4096..8 * 4096],
        &pattern(3 * 4096, 4)[..]
    );
}

#[test]
fn nested_and_superspeed_hubs_are_reported_not_used() {
    let mut fake = FakeXhci::new();
    let inner = FakeDevice::hub(Speed::High, 2, vec![Some(storage(Speed::High, 8, 512))]);
    fake.attach(2, FakeDevice::hub(Speed::High, 2, vec![None, Some(inner)]));
    fake.attach(3, FakeDevice::hub(Speed::Super, 0, vec![None]));
    let (hal, report) = probe_fake(fake);
    assert!(report.disks.is_empty());
    let outcomes: Vec<_> = report
        .ports
        .iter()
        .map(|p| (p.port, p.hub_port, p.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (2, None, PortOutcome::Hub { ports: 2 }),
            (
                2,
                Some(2),
                PortOutcome::HubFailed {
                    error: hub::HubError::Nested
                }
            ),
            (
                3,
                None,
                PortOutcome::HubFailed {
                    error: hub::HubError::SuperSpeed
                }
            ),
        ]
    );
    assert_eq!(report.ports[1].location(), "port 2.2 usb");
    assert_eq!(report.ports[2].location(), "port 3 usb-hub");
    // A multi-TT hub says so.
    assert!(hal.dev().slots[&1].ctx.mtt);
}

#[test]
fn hub_descriptor_parses() {
    let d = hub::parse_hub_descriptor(&[9, 0x29, 4, 0x41, 0, 50, 100, 0, 0xff]).unwrap();
    assert_eq!((d.ports, d.think_time(), d.power_good_ms), (4, 2, 100));
    assert_eq!(
        hub::parse_hub_descriptor(&[9, 0x29, 4]),
        Err(DescriptorError::TooShort {
            dtype: 0x29,
            len: 3
        })
    );
    assert!(matches!(
        hub::parse_hub_descriptor(&[9, 0x2a, 4, 0, 0, 0, 0]),
        Err(DescriptorError::WrongType { .. })
    ));
}

#[test]
fn unplug_behind_a_hub_fails_fast() {
    let mut msc = FakeMsc::new(512, 512);
    msc.unplug_after = Some(9);
    let mut fake = FakeXhci::new();
    fake.attach(
        1,
        FakeDevice::hub(
            Speed::High,
            1,
            vec![Some(FakeDevice::storage(Speed::High, msc))],
        ),
    );
    let (hal, mut report) = probe_fake(fake);
    let disk = &mut report.disks[0].disk;
    let start = hal.dev().dma.clock;
    let e = disk.write_blocks(0, &pattern(8 * 512, 1)).unwrap_err();
    let spent = hal.dev().dma.clock - start;
    assert_eq!(e, BlockError::Io { lba: 0 });
    assert!(matches!(
        disk.last_error(),
        Some(MscError::Transfer {
            error: TransferError::Transaction { .. },
            ..
        })
    ));
    assert!(spent < 50_000, "took {spent} us");
}

#[test]
fn nothing_connected_gives_an_empty_report() {
    let (_, report) = probe_fake(FakeXhci::new());
    assert!(report.disks.is_empty() && report.ports.is_empty());
    let mut c = report.controller.lock();
    assert_eq!(
        c.enumerate_port(1).err(),
        Some(EnumError::NotConnected { port: 1 })
    );
    assert_eq!(
        c.enumerate_port(0).err(),
        Some(EnumError::NotConnected { port: 0 })
    );
    assert_eq!(
        c.enumerate_port(9).err(),
        Some(EnumError::NotConnected { port: 9 })
    );
}

// --- Mass storage ----------------------------------------------------------------------------

#[test]
fn open_runs_inquiry_test_unit_ready_and_read_capacity() {
    let (hal, report) = one_disk(FakeMsc::new(1000, 512));
    let disk = &report.disks[0].disk;
    assert_eq!((disk.block_size(), disk.num_blocks()), (512, 1000));
    assert!(!disk.is_read_only() && !disk.uses_16_byte_commands());
    assert_eq!(disk.inquiry().vendor, "PandaGen");
    assert_eq!(disk.max_transfer_bytes(), MAX_TRANSFER_BYTES);
    assert_eq!(
        hal.dev().msc(1).unwrap().opcodes(),
        vec![
            scsi::op::INQUIRY,
            scsi::op::TEST_UNIT_READY,
            scsi::op::READ_CAPACITY_10
        ]
    );
}

#[test]
fn reads_and_writes_round_trip_with_512_byte_blocks() {
    let (hal, mut report) = one_disk(FakeMsc::new(2048, 512));
    let disk = &mut report.disks[0].disk;
    // 300 KiB: three commands (128 + 128 + 44 KiB), multi-TRB TDs.
    let data = pattern(600 * 512, 1);
    disk.write_blocks(100, &data).unwrap();
    {
        let mut f = hal.dev();
        assert_eq!(&f.msc(1).unwrap().data[100 * 512..700 * 512], &data[..]);
        let writes: Vec<_> = f
            .msc(1)
            .unwrap()
            .commands
            .iter()
            .filter(|c| c.opcode() == scsi::op::WRITE_10)
            .map(|c| c.lba_and_blocks().unwrap())
            .collect();
        assert_eq!(writes, vec![(100, 256), (356, 256), (612, 88)]);
        assert!(f
            .tds
            .iter()
            .any(|td| td.trbs >= 2 && td.bytes == 128 * 1024));
        assert_eq!(f.boundary_violations, 0);
    }
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(100, &mut back).unwrap();
    assert_eq!(back, data);
    // Blocks around it are untouched.
    let mut edge = vec![0u8; 512];
    disk.read_blocks(99, &mut edge).unwrap();
    assert_eq!(edge, FakeMsc::new(2048, 512).data[99 * 512..100 * 512]);
}

#[test]
fn reads_and_writes_round_trip_with_4096_byte_blocks() {
    let mut fake = FakeXhci::new();
    fake.attach(3, storage(Speed::Super, 256, 4096));
    let (hal, mut report) = probe_fake(fake);
    let disk = &mut report.disks[0].disk;
    assert_eq!((disk.block_size(), disk.num_blocks()), (4096, 256));
    let data = pattern(40 * 4096, 2);
    disk.write_blocks(200, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    disk.read_blocks(200, &mut back).unwrap();
    assert_eq!(back, data);
    let f = hal.dev();
    assert!(f.tds.iter().all(|td| td.bytes <= MAX_TRANSFER_BYTES));
    assert_eq!(f.boundary_violations, 0);
}

#[test]
fn rings_wrap_over_many_requests() {
    let (hal, mut report) = one_disk(FakeMsc::new(512, 512));
    let disk = &mut report.disks[0].disk;
    for i in 0..300u64 {
        let data = pattern(512, i as u8);
        disk.write_blocks(i % 512, &data).unwrap();
        let mut back = vec![0u8; 512];
        disk.read_blocks(i % 512, &mut back).unwrap();
        assert_eq!(back, data, "round {i}");
    }
    assert!(hal.dev().events_written > 1000);
    assert_eq!(hal.dev().events_lost, 0);
}

#[test]
fn read_capacity_16_and_16_byte_commands_when_10_overflows() {
    let mut msc = FakeMsc::new(64, 512);
    msc.force_rc16 = true;
    let (hal, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    assert!(disk.uses_16_byte_commands());
    assert_eq!(disk.num_blocks(), 64);
    let mut buf = vec![0u8; 1024];
    disk.read_blocks(4, &mut buf).unwrap();
    disk.write_blocks(4, &buf).unwrap();
    let ops = hal.dev().msc(1).unwrap().opcodes();
    assert!(ops.contains(&scsi::op::SERVICE_ACTION_IN_16));
    assert!(ops.contains(&scsi::op::READ_16) && ops.contains(&scsi::op::WRITE_16));
    assert!(!ops.contains(&scsi::op::READ_10));
}

#[test]
fn flush_sends_synchronize_cache() {
    let (hal, mut report) = one_disk(FakeMsc::new(64, 512));
    report.disks[0].disk.flush().unwrap();
    assert_eq!(hal.dev().msc(1).unwrap().syncs, 1);
}

#[test]
fn bad_requests_are_rejected_before_any_transfer() {
    let (hal, mut report) = one_disk(FakeMsc::new(64, 512));
    let disk = &mut report.disks[0].disk;
    let before = hal.dev().tds.len();
    let mut buf = vec![0u8; 100];
    assert_eq!(
        disk.read_blocks(0, &mut buf),
        Err(BlockError::BufferNotMultiple {
            len: 100,
            block_size: 512
        })
    );
    let mut buf = vec![0u8; 1024];
    assert_eq!(
        disk.read_blocks(63, &mut buf),
        Err(BlockError::OutOfRange {
            lba: 63,
            count: 2,
            device_blocks: 64
        })
    );
    assert!(matches!(
        disk.write_blocks(u64::MAX, &buf),
        Err(BlockError::OutOfRange { .. })
    ));
    assert_eq!(disk.read_blocks(64, &mut []), Ok(()));
    assert_eq!(hal.dev().tds.len(), before);
}

#[test]
fn stall_with_unit_attention_is_recovered_and_retried() {
    let mut msc = FakeMsc::new(64, 512);
    msc.stall = Some((
        scsi::op::READ_10,
        Sense {
            key: scsi::key::UNIT_ATTENTION,
            asc: 0x28,
            ascq: 0,
        },
    ));
    let (hal, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    let mut buf = vec![0u8; 512];
    disk.read_blocks(5, &mut buf).unwrap();
    assert_eq!(buf, FakeMsc::new(64, 512).data[5 * 512..6 * 512]);
    let mut f = hal.dev();
    let ops = f.msc(1).unwrap().opcodes();
    assert_eq!(
        ops[ops.len() - 3..],
        [
            scsi::op::READ_10,
            scsi::op::REQUEST_SENSE,
            scsi::op::READ_10
        ]
    );
    assert!(f.commands.contains(&trb_type::RESET_ENDPOINT));
    assert!(f.commands.contains(&trb_type::SET_TR_DEQUEUE));
    assert_eq!(f.slots[&1].eps[&3].state, EpState::Running);
    assert!(f.device(1).unwrap().halted.is_empty());
    assert!(f
        .device(1)
        .unwrap()
        .requests
        .contains(&SetupPacket::clear_halt(0x81)));
}

#[test]
fn medium_error_sense_is_surfaced() {
    let sense = Sense {
        key: scsi::key::MEDIUM_ERROR,
        asc: 0x11,
        ascq: 0,
    };
    let mut msc = FakeMsc::new(64, 512);
    msc.stall = Some((scsi::op::READ_10, sense));
    let (_, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    let mut buf = vec![0u8; 1024];
    assert_eq!(
        disk.read_blocks(7, &mut buf),
        Err(BlockError::Io { lba: 7 })
    );
    assert_eq!(
        disk.last_error(),
        Some(&MscError::CheckCondition {
            op: scsi::op::READ_10,
            sense
        })
    );
    assert_eq!(
        disk.last_error().unwrap().to_string(),
        "READ (10) failed: medium error (sense key 0x3, ASC 0x11, ASCQ 0x00: unrecovered read error)"
    );
    // The endpoint was recovered: the next read works.
    disk.read_blocks(7, &mut buf).unwrap();
}

#[test]
fn failed_commands_map_sense_keys() {
    let mut msc = FakeMsc::new(64, 512);
    msc.fail = Some((
        scsi::op::WRITE_10,
        Sense {
            key: scsi::key::DATA_PROTECT,
            asc: 0x27,
            ascq: 0,
        },
    ));
    let (hal, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    let buf = vec![0u8; 512];
    assert_eq!(disk.write_blocks(1, &buf), Err(BlockError::ReadOnly));
    hal.dev().msc(1).unwrap().fail = Some((
        scsi::op::SYNCHRONIZE_CACHE_10,
        Sense {
            key: scsi::key::ILLEGAL_REQUEST,
            asc: 0x20,
            ascq: 0,
        },
    ));
    assert_eq!(
        disk.flush(),
        Err(BlockError::Device {
            lba: 0,
            failure: DeviceFailure::Unsupported
        })
    );
    disk.write_blocks(1, &buf).unwrap();
    disk.flush().unwrap();
}

#[test]
fn not_ready_device_is_waited_for() {
    let mut msc = FakeMsc::new(64, 512);
    msc.not_ready = 3;
    let (hal, _report) = one_disk(msc);
    let ops = hal.dev().msc(1).unwrap().opcodes();
    let turs = ops
        .iter()
        .filter(|&&o| o == scsi::op::TEST_UNIT_READY)
        .count();
    assert_eq!(turs, 4);
    assert_eq!(
        ops.iter()
            .filter(|&&o| o == scsi::op::REQUEST_SENSE)
            .count(),
        3
    );
}

#[test]
fn device_that_never_becomes_ready_is_refused() {
    let mut msc = FakeMsc::new(64, 512);
    msc.not_ready = 1000;
    let mut fake = FakeXhci::new();
    fake.attach(1, FakeDevice::storage(Speed::High, msc));
    let (_, report) = probe_fake(fake);
    let sense = Sense {
        key: scsi::key::NOT_READY,
        asc: 4,
        ascq: 1,
    };
    assert_eq!(
        report.ports[0].outcome,
        PortOutcome::StorageRefused {
            error: MscError::NotReady { sense }
        }
    );
    assert!(report.ports[0]
        .to_string()
        .contains("never became ready: not ready"));
}

#[test]
fn unplug_mid_write_fails_fast_and_stays_failed() {
    let mut msc = FakeMsc::new(2048, 512);
    // Open takes 7 bulk transfers (3 commands); the write's first command takes 3 more.
    msc.unplug_after = Some(11);
    let (hal, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    let data = pattern(512 * 512, 3);
    let start = hal.dev().dma.clock;
    let e = disk.write_blocks(0, &data).unwrap_err();
    let spent = hal.dev().dma.clock - start;
    assert_eq!(
        e,
        BlockError::Device {
            lba: 256,
            failure: DeviceFailure::Removed
        }
    );
    assert_eq!(disk.last_error(), Some(&MscError::Disconnected { port: 1 }));
    assert!(disk.is_gone());
    assert!(spent < 50_000, "took {spent} us");
    assert_eq!(
        disk.last_error().unwrap().to_string(),
        "USB storage device on port 1 was unplugged"
    );
    // Later requests fail at once, without touching the controller's rings.
    let tds = hal.dev().tds.len();
    let mut buf = vec![0u8; 512];
    assert!(disk.read_blocks(0, &mut buf).is_err());
    assert_eq!(hal.dev().tds.len(), tds);
    assert!(!report.controller.lock().is_connected(1));
}

#[test]
fn bulk_transfer_after_unplug_is_disconnected() {
    let (hal, report) = one_disk(FakeMsc::new(64, 512));
    hal.dev().detach(1);
    let mut c = report.controller.lock();
    let region = c.alloc_dma(4096).unwrap();
    assert_eq!(
        c.bulk(1, 0x81, &region, 0, 512),
        Err(TransferError::Disconnected { port: 1 })
    );
}

#[test]
fn bad_csw_signature_is_recovered_and_the_read_repeated() {
    let mut msc = FakeMsc::new(64, 512);
    msc.bad_signature_on = Some(scsi::op::READ_10);
    let (hal, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    let mut buf = vec![0u8; 512];
    // A transport error: the device is reset and the request repeated, which succeeds.
    disk.read_blocks(2, &mut buf).unwrap();
    assert_eq!(disk.retried(), 1);
    assert!(matches!(
        disk.last_error(),
        Some(MscError::CswSignature {
            op: scsi::op::READ_10,
            ..
        })
    ));
    {
        // Reset recovery: the class reset, then both bulk endpoints cleared on the device and
        // reset on the controller (not halted there: stopped, dropped and added again).
        let mut f = hal.dev();
        assert_eq!(f.msc(1).unwrap().resets, 1);
        let requests = f.device(1).unwrap().requests.clone();
        let n = requests.len();
        assert_eq!(
            requests[n - 3..],
            [
                SetupPacket::class_interface(request::BOT_RESET, 0, false, 0),
                SetupPacket::clear_halt(0x81),
                SetupPacket::clear_halt(0x02)
            ]
        );
        assert!(f.commands.ends_with(&[
            trb_type::RESET_ENDPOINT,
            trb_type::STOP_ENDPOINT,
            trb_type::CONFIGURE_ENDPOINT
        ]));
    }
    disk.read_blocks(2, &mut buf).unwrap();
    assert_eq!(buf, FakeMsc::new(64, 512).data[1024..1536]);
}

#[test]
fn bad_csw_tag_is_recovered_and_the_write_repeated() {
    let mut msc = FakeMsc::new(64, 512);
    msc.bad_tag_on = Some(scsi::op::WRITE_10);
    let (hal, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    let buf = vec![1u8; 512];
    // A transport error: the device is reset and the request repeated, which succeeds.
    disk.write_blocks(2, &buf).unwrap();
    assert_eq!(disk.retried(), 1);
    assert!(matches!(disk.last_error(), Some(MscError::CswTag { .. })));
    assert_eq!(hal.dev().msc(1).unwrap().resets, 1);
    disk.write_blocks(2, &buf).unwrap();
}

#[test]
fn device_that_never_answers_times_out_recovers_and_repeats() {
    let mut msc = FakeMsc::new(64, 512);
    msc.hang_on = Some(scsi::op::READ_10);
    let (hal, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    let mut buf = vec![0u8; 512];
    let start = hal.dev().dma.clock;
    // A transport error: the device is reset and the request repeated, which succeeds.
    disk.read_blocks(1, &mut buf).unwrap();
    assert_eq!(disk.retried(), 1);
    let spent = hal.dev().dma.clock - start;
    assert!(
        spent >= fast().bulk_us && spent < 4 * fast().bulk_us,
        "{spent}"
    );
    assert!(matches!(
        disk.last_error(),
        Some(MscError::Transfer {
            error: TransferError::Timeout {
                slot: 1,
                endpoint: 0x81
            },
            ..
        })
    ));
    {
        let f = hal.dev();
        assert!(f.commands.contains(&trb_type::STOP_ENDPOINT));
    }
    disk.read_blocks(1, &mut buf).unwrap();
    assert_eq!(buf, FakeMsc::new(64, 512).data[512..1024]);
}

#[test]
fn errors_map_to_block_errors() {
    let t = |error| MscError::Transfer { op: 0x28, error };
    let dev = |failure| BlockError::Device { lba: 9, failure };
    assert_eq!(
        t(TransferError::Stall {
            slot: 1,
            endpoint: 0x81
        })
        .to_block_error(9),
        BlockError::Io { lba: 9 }
    );
    assert_eq!(
        t(TransferError::Transaction {
            slot: 1,
            endpoint: 0x81
        })
        .to_block_error(9),
        BlockError::Io { lba: 9 }
    );
    assert_eq!(
        t(TransferError::Timeout {
            slot: 1,
            endpoint: 2
        })
        .to_block_error(9),
        dev(DeviceFailure::Timeout)
    );
    assert_eq!(
        MscError::Disconnected { port: 1 }.to_block_error(9),
        dev(DeviceFailure::Removed)
    );
    assert_eq!(
        MscError::PhaseError { op: 0x28 }.to_block_error(9),
        dev(DeviceFailure::Protocol)
    );
    assert_eq!(
        MscError::OutOfDmaMemory.to_block_error(9),
        dev(DeviceFailure::OutOfDmaMemory)
    );
    let sense = |key| MscError::CheckCondition {
        op: 0x28,
        sense: Sense {
            key,
            asc: 0,
            ascq: 0,
        },
    };
    assert_eq!(
        sense(scsi::key::HARDWARE_ERROR).to_block_error(9),
        BlockError::Io { lba: 9 }
    );
    assert_eq!(
        sense(scsi::key::NOT_READY).to_block_error(9),
        dev(DeviceFailure::NotReady)
    );
    assert_eq!(
        TransferError::Transaction {
            slot: 2,
            endpoint: 0x81
        }
        .to_string(),
        "USB transaction error on endpoint 0x81 (slot 2): check the cable or device"
    );
}

#[test]
fn phase_error_resets_the_device() {
    let mut msc = FakeMsc::new(64, 512);
    msc.phase_error_on = Some(scsi::op::READ_10);
    let (hal, mut report) = one_disk(msc);
    let disk = &mut report.disks[0].disk;
    let mut buf = vec![0u8; 512];
    // A transport error: the device is reset and the request repeated, which succeeds.
    disk.read_blocks(3, &mut buf).unwrap();
    assert_eq!(disk.retried(), 1);
    assert_eq!(
        disk.last_error(),
        Some(&MscError::PhaseError {
            op: scsi::op::READ_10
        })
    );
    assert_eq!(hal.dev().msc(1).unwrap().resets, 1);
    disk.read_blocks(3, &mut buf).unwrap();
}

#[test]
fn control_stall_is_named_and_the_endpoint_recovers() {
    let mut fake = FakeXhci::new();
    fake.attach(3, storage(Speed::Super, 64, 512));
    let hal = fake.into_hal();
    let mut c = Controller::init(hal.clone(), fast()).unwrap();
    let d = c.enumerate_port(3).unwrap();
    let mut buf = [0u8; 16];
    // String descriptors are not modelled: the fake stalls.
    let e = c
        .control_in(d.slot, SetupPacket::get_descriptor(3, 16), &mut buf)
        .unwrap_err();
    assert_eq!(
        e,
        TransferError::Stall {
            slot: d.slot,
            endpoint: 0
        }
    );
    assert!(e.is_halt() && !e.is_gone());
    assert_eq!(hal.dev().slots[&d.slot].eps[&1].state, EpState::Stopped);
    // The next request on the control endpoint works, and a short answer is measured.
    let mut big = [0u8; 64];
    let n = c
        .control_in(
            d.slot,
            SetupPacket::get_descriptor(dtype::DEVICE, 64),
            &mut big,
        )
        .unwrap();
    assert_eq!(n, 18);
    assert_eq!(hal.dev().slots[&d.slot].eps[&1].state, EpState::Running);
}

#[test]
fn unconfigured_endpoint_is_a_named_error() {
    let (_, report) = one_disk(FakeMsc::new(64, 512));
    let mut c = report.controller.lock();
    let region = c.alloc_dma(4096).unwrap();
    assert_eq!(
        c.bulk(1, 0x83, &region, 0, 512),
        Err(TransferError::NoSuchEndpoint {
            slot: 1,
            endpoint: 0x83
        })
    );
    assert_eq!(
        c.bulk(1, 0x81, &region, 4000, 512),
        Err(TransferError::TooLong { bytes: 512 })
    );
    assert_eq!(
        c.bulk(5, 0x81, &region, 0, 512),
        Err(TransferError::NoSuchEndpoint {
            slot: 5,
            endpoint: 0x81
        })
    );
}

#[test]
fn controller_without_scratchpads_gets_none() {
    let mut fake = FakeXhci::new();
    fake.scratchpads = 0;
    let hal = fake.into_hal();
    let c = Controller::init(hal.clone(), fast()).unwrap();
    assert_eq!(c.scratchpad_count(), 0);
    let f = hal.dev();
    assert_eq!(f.dma.read_mem(f.dcbaap, 8), vec![0; 8]);
}

#[test]
fn running_out_of_slots_is_named() {
    let mut fake = FakeXhci::new();
    fake.max_slots = 1;
    fake.attach(1, storage(Speed::High, 16, 512));
    fake.attach(2, FakeDevice::keyboard(Speed::Full));
    let (_, report) = probe_fake(fake);
    assert_eq!(report.disks.len(), 1);
    assert_eq!(
        report.ports[1].outcome,
        PortOutcome::Failed {
            error: EnumError::NoSlots
        }
    );
    assert_eq!(
        report.ports[1].to_string(),
        "port 2 usb (full speed): enumeration failed: the xHCI controller has no free device slot"
    );
}

#[test]
fn host_system_error_fails_requests_at_once() {
    let (hal, mut report) = one_disk(FakeMsc::new(64, 512));
    // A host system error halts the controller.
    hal.dev().usbsts |= proto::op::STS_HSE | proto::op::STS_HCH;
    let disk = &mut report.disks[0].disk;
    let mut buf = vec![0u8; 512];
    let start = hal.dev().dma.clock;
    assert_eq!(
        disk.read_blocks(0, &mut buf),
        Err(BlockError::Device {
            lba: 0,
            failure: DeviceFailure::NotReady
        })
    );
    assert!(hal.dev().dma.clock - start < 10_000);
    assert!(matches!(
        disk.last_error(),
        Some(MscError::Transfer {
            error: TransferError::ControllerFailed { .. },
            ..
        })
    ));
    // Every later request too, without waiting.
    assert!(disk.read_blocks(0, &mut buf).is_err());
    let mut c = report.controller.lock();
    let e = c.enumerate_port(2).unwrap_err();
    assert_eq!(e, EnumError::NotConnected { port: 2 });
}

#[test]
fn command_ring_wraps() {
    let (hal, mut report) = one_disk(FakeMsc::new(64, 512));
    {
        let mut c = report.controller.lock();
        for _ in 0..200 {
            // Not halted: Reset Endpoint (refused), Stop Endpoint, Configure Endpoint each time.
            c.clear_halt(1, 0x81).unwrap();
        }
    }
    let commands = hal.dev().commands.len();
    assert_eq!(
        hal.dev().commands[commands - 3..],
        [
            trb_type::RESET_ENDPOINT,
            trb_type::STOP_ENDPOINT,
            trb_type::CONFIGURE_ENDPOINT
        ]
    );
    assert!(commands > 2 * RING_TRBS_FOR_TEST, "{commands}");
    let mut buf = vec![0u8; 512];
    report.disks[0].disk.read_blocks(9, &mut buf).unwrap();
    assert_eq!(buf, FakeMsc::new(64, 512).data[9 * 512..10 * 512]);
    assert_eq!(hal.dev().events_lost, 0);
}

const RING_TRBS_FOR_TEST: usize = proto::RING_TRBS - 1;
