use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::fake::{FakeE1000e, FakeHal};
use super::*;
use crate::hal::fake::{storage_function, HasFakeRegisters};
use crate::net::{MAX_FRAME, MIN_FRAME};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

fn up(dev: FakeE1000e) -> (E1000e<FakeHal>, FakeHal) {
    let hal = dev.into_hal();
    let nic = E1000e::init(hal.clone(), Timeouts::default()).expect("bring-up");
    (nic, hal)
}

/// A frame of `len` bytes to our MAC, its payload numbered by `seed`.
fn frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    f[..6].copy_from_slice(&MAC);
    f
}

fn position(writes: &[(usize, u32)], pred: impl Fn(&(usize, u32)) -> bool) -> usize {
    writes.iter().position(pred).expect("write not found")
}

#[test]
fn takes_the_82574l_only() {
    let nic = |device| storage_function(0x8086, device, (0x02, 0x00, 0x00));
    assert!(is_e1000e_function(&nic(0x10d3)));
    assert!(!is_e1000e_function(&nic(0x100e)));
    assert!(!is_e1000e_function(&storage_function(
        0x1af4,
        0x10d3,
        (2, 0, 0)
    )));
}

#[test]
fn brings_up_in_order_with_the_mac_from_ral() {
    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    assert_eq!(nic.mac_address(), MacAddress(MAC));
    assert_eq!(nic.mac_address().to_string(), "52:54:00:12:34:56");
    assert!(nic.link_up());
    let dev = hal.dev();
    let w = &dev.writes;
    let imc = position(w, |&(r, v)| r == IMC && v == u32::MAX);
    let rst = position(w, |&(r, v)| r == CTRL && v & CTRL_RST != 0);
    let rdt = position(w, |&(r, _)| r == RDT);
    let rctl = position(w, |&(r, v)| r == RCTL && v & RCTL_EN != 0);
    let tdlen = position(w, |&(r, _)| r == TDLEN);
    let tctl = position(w, |&(r, v)| r == TCTL && v & TCTL_EN != 0);
    let slu = position(w, |&(r, v)| r == CTRL && v & CTRL_SLU != 0);
    assert!(imc < rst && rst < rdt && rdt < rctl && rctl < tdlen && tdlen < tctl && tctl < slu);
    assert_eq!(dev.resets, 1);
    assert_eq!(dev.reg(IMS), 0, "interrupts stay masked");
    assert_eq!(dev.reg(RCTL), RCTL_EN | RCTL_BAM | RCTL_SECRC);
    assert_eq!(
        dev.reg(TCTL),
        TCTL_EN | TCTL_PSP | (0x0f << 4) | (0x3f << 12)
    );
    assert_eq!(dev.reg(TIPG), TIPG_COPPER);
    assert_eq!(dev.reg(RDLEN), (RX_DESCRIPTORS * 16) as u32);
    assert_eq!(dev.reg(TDLEN), (TX_DESCRIPTORS * 16) as u32);
    assert_eq!((dev.reg(RDH), dev.reg(RDT)), (0, RX_DESCRIPTORS as u32 - 1));
    assert_eq!((dev.reg(TDH), dev.reg(TDT)), (0, 0));
    assert_eq!(dev.reg(RAH0) & RAH_AV, RAH_AV);
    assert!((0..MTA_LEN).all(|i| w.contains(&(MTA + 4 * i, 0))));
}

#[test]
fn reads_the_mac_from_the_eeprom_when_ral_is_empty() {
    let mut dev = FakeE1000e::new(MAC);
    dev.mac_in_ral = false;
    let (nic, hal) = up(dev);
    assert_eq!(nic.mac_address(), MacAddress(MAC));
    let dev = hal.dev();
    assert_eq!(dev.reg(RAL0), 0x1200_5452);
    assert_eq!(dev.reg(RAH0), 0x5634 | RAH_AV);
}

#[test]
fn a_sent_frame_reaches_the_device_byte_for_byte() {
    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    let (short, full) = (frame(MIN_FRAME, 1), frame(MAX_FRAME, 2));
    nic.transmit(&short).unwrap();
    nic.transmit(&full).unwrap();
    let dev = hal.dev();
    assert_eq!(dev.sent, [short, full]);
    let cmd = TX_CMD_EOP | TX_CMD_IFCS | TX_CMD_RS;
    assert_eq!(dev.tx_commands, [cmd, cmd]);
    assert_eq!((dev.reg(TDH), dev.reg(TDT)), (2, 2));
    drop(dev);
    assert_eq!(nic.stats().tx_frames, 2);
}

#[test]
fn an_injected_frame_is_received_byte_for_byte() {
    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    let mut buf = [0u8; 2048];
    assert_eq!(nic.receive(&mut buf), Ok(None));
    let f = frame(1000, 7);
    assert!(hal.dev().inject(&f));
    assert_eq!(nic.receive(&mut buf), Ok(Some(1000)));
    assert_eq!(&buf[..1000], &f[..]);
    assert_eq!(nic.receive(&mut buf), Ok(None));
    assert_eq!(hal.dev().reg(RDT), 0, "descriptor 0 given back");
    assert_eq!(nic.stats().rx_frames, 1);
}

#[test]
fn both_rings_wrap_around() {
    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    let mut buf = [0u8; 2048];
    let n = 3 * RX_DESCRIPTORS.max(TX_DESCRIPTORS) + 5;
    for i in 0..n {
        let out = frame(60 + i, i as u8);
        nic.transmit(&out).unwrap();
        let f = frame(100 + i, !(i as u8));
        assert!(hal.dev().inject(&f), "frame {i}");
        assert_eq!(nic.receive(&mut buf), Ok(Some(f.len())));
        assert_eq!(&buf[..f.len()], &f[..], "frame {i}");
    }
    let dev = hal.dev();
    assert_eq!(dev.sent.len(), n);
    assert!(dev
        .sent
        .iter()
        .enumerate()
        .all(|(i, s)| *s == frame(60 + i, i as u8)));
}

#[test]
fn a_full_receive_ring_drops_at_the_device_until_drained() {
    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    let injected = (0..RX_DESCRIPTORS + 3)
        .filter(|&i| hal.dev().inject(&frame(64, i as u8)))
        .count();
    assert_eq!(injected, RX_DESCRIPTORS - 1);
    let mut buf = [0u8; 2048];
    for i in 0..injected {
        assert_eq!(nic.receive(&mut buf), Ok(Some(64)));
        assert_eq!(buf[..64], frame(64, i as u8)[..]);
    }
    assert_eq!(nic.receive(&mut buf), Ok(None));
    assert!(hal.dev().inject(&frame(64, 0)));
}

#[test]
fn frames_out_of_bounds_are_refused() {
    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    let big = vec![0u8; MAX_FRAME + 1];
    assert_eq!(
        nic.transmit(&big),
        Err(NetError::FrameTooLarge {
            len: 1515,
            max: 1514
        })
    );
    assert_eq!(
        nic.transmit(&[0u8; 13]),
        Err(NetError::FrameTooShort { len: 13, min: 14 })
    );
    assert!(hal.dev().sent.is_empty());
}

#[test]
fn a_frame_too_big_for_the_buffer_stays_queued() {
    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    let f = frame(600, 3);
    hal.dev().inject(&f);
    let mut small = [0u8; 100];
    assert_eq!(
        nic.receive(&mut small),
        Err(NetError::BufferTooSmall {
            len: 100,
            need: 600
        })
    );
    let mut buf = [0u8; 2048];
    assert_eq!(nic.receive(&mut buf), Ok(Some(600)));
    assert_eq!(&buf[..600], &f[..]);
}

#[test]
fn bad_received_frames_are_dropped_and_counted() {
    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    let good = frame(80, 9);
    {
        let mut dev = hal.dev();
        dev.inject_raw(&frame(80, 1), STA_DD | RX_STA_EOP, 0x01);
        dev.inject_raw(&frame(80, 2), STA_DD, 0);
        dev.inject(&good);
    }
    let mut buf = [0u8; 2048];
    assert_eq!(nic.receive(&mut buf), Ok(Some(80)));
    assert_eq!(&buf[..80], &good[..]);
    assert_eq!(nic.stats().rx_dropped, 2);
}

#[test]
fn a_reset_that_never_completes_is_a_timeout_within_its_deadline() {
    let mut dev = FakeE1000e::new(MAC);
    dev.reset_stuck = true;
    let hal = dev.into_hal();
    let t = Timeouts::default();
    let err = E1000e::init(hal.clone(), t).err();
    let ctrl = CTRL_RST;
    assert_eq!(
        err,
        Some(NetError::Device(DeviceFailure::ResetTimeout { ctrl }))
    );
    let clock = hal.dev().dma.clock;
    assert!(
        clock <= QUIESCE_US + RESET_SETTLE_US + t.reset_us + 1_000,
        "{clock}"
    );
    assert_eq!(hal.dev().dma.dma_in_use, 0);
}

#[test]
fn a_link_that_never_comes_up_is_link_down_within_its_deadline() {
    let mut dev = FakeE1000e::new(MAC);
    dev.link_never = true;
    let (mut nic, hal) = up(dev);
    assert!(!nic.link_up());
    let start = hal.dev().dma.clock;
    assert_eq!(nic.wait_for_link(200_000), Err(NetError::LinkDown));
    let waited = hal.dev().dma.clock - start;
    assert!((200_000..=201_000).contains(&waited), "{waited}");
    assert_eq!(nic.transmit(&frame(60, 0)), Err(NetError::LinkDown));
    assert!(hal.dev().sent.is_empty());
}

#[test]
fn a_link_that_is_up_is_reported_at_once() {
    let (mut nic, _hal) = up(FakeE1000e::new(MAC));
    assert_eq!(nic.wait_for_link(200_000), Ok(()));
}

#[test]
fn a_removed_device_is_named_at_bring_up_and_later() {
    let mut dev = FakeE1000e::new(MAC);
    dev.removed = true;
    let err = E1000e::init(dev.into_hal(), Timeouts::default()).err();
    assert_eq!(err, Some(NetError::Removed));

    let (mut nic, hal) = up(FakeE1000e::new(MAC));
    hal.dev().removed = true;
    assert_eq!(nic.transmit(&frame(60, 0)), Err(NetError::Removed));
    assert_eq!(nic.receive(&mut [0u8; 2048]), Err(NetError::Removed));
    assert!(!nic.link_up());
    drop(nic);
    assert!(hal.dev().dma.dma_in_use > 0, "DMA memory leaked, not freed");
}

#[test]
fn transmit_that_never_completes_is_a_timeout_within_its_deadline() {
    let mut dev = FakeE1000e::new(MAC);
    dev.tx_stuck = true;
    let (mut nic, hal) = up(dev);
    for i in 0..TX_DESCRIPTORS - 1 {
        nic.transmit(&frame(60, i as u8)).unwrap();
    }
    let start = hal.dev().dma.clock;
    let tail = TX_DESCRIPTORS as u32 - 1;
    assert_eq!(
        nic.transmit(&frame(60, 0)),
        Err(NetError::TxTimeout { head: 0, tail })
    );
    let waited = hal.dev().dma.clock - start;
    assert!(waited <= Timeouts::default().tx_us + 1_000, "{waited}");
    // Once the device catches up, the ring drains and sending works again.
    {
        let mut dev = hal.dev();
        dev.tx_stuck = false;
        dev.write_register(TDT, tail);
    }
    nic.transmit(&frame(60, 0)).unwrap();
    assert_eq!(hal.dev().sent.len(), TX_DESCRIPTORS);
}

#[test]
fn an_eeprom_that_never_answers_is_a_timeout() {
    let mut dev = FakeE1000e::new(MAC);
    dev.mac_in_ral = false;
    dev.eeprom_stuck = true;
    let err = E1000e::init(dev.into_hal(), Timeouts::default()).err();
    let word = 0;
    assert_eq!(
        err,
        Some(NetError::Device(DeviceFailure::EepromTimeout { word }))
    );
}

#[test]
fn no_usable_mac_is_named() {
    for eeprom in [[0u16; 64], [0xffff; 64]] {
        let mut dev = FakeE1000e::new(MAC);
        dev.mac_in_ral = false;
        dev.eeprom = eeprom;
        let err = E1000e::init(dev.into_hal(), Timeouts::default()).err();
        assert_eq!(err, Some(NetError::Device(DeviceFailure::NoMacAddress)));
    }
}

#[test]
fn out_of_dma_memory_is_named_and_nothing_leaks() {
    let mut dev = FakeE1000e::new(MAC);
    dev.dma.dma_limit = 4096 + RX_DESCRIPTORS * BUFFER_BYTES;
    let hal = dev.into_hal();
    let err = E1000e::init(hal.clone(), Timeouts::default()).err();
    assert_eq!(err, Some(NetError::Device(DeviceFailure::OutOfDmaMemory)));
    assert_eq!(hal.dev().dma.dma_in_use, 0);
}

#[test]
fn drop_resets_the_device_and_frees_its_memory() {
    let (nic, hal) = up(FakeE1000e::new(MAC));
    drop(nic);
    let dev = hal.dev();
    assert_eq!((dev.resets, dev.dma.dma_in_use, dev.dma.frees), (2, 0, 3));
    assert_eq!(dev.reg(RCTL) & RCTL_EN, 0);
}

#[test]
fn drop_leaks_the_memory_when_the_reset_hangs() {
    let (nic, hal) = up(FakeE1000e::new(MAC));
    hal.dev().reset_stuck = true;
    drop(nic);
    assert_eq!(hal.dev().dma.frees, 0);
}

#[test]
fn every_error_displays_one_line() {
    let errors = [
        NetError::FrameTooLarge {
            len: 1515,
            max: 1514,
        },
        NetError::FrameTooShort { len: 3, min: 14 },
        NetError::BufferTooSmall {
            len: 100,
            need: 600,
        },
        NetError::TxTimeout { head: 0, tail: 31 },
        NetError::LinkDown,
        NetError::Removed,
        NetError::Device(DeviceFailure::ResetTimeout { ctrl: CTRL_RST }),
        NetError::Device(DeviceFailure::EepromTimeout { word: 2 }),
        NetError::Device(DeviceFailure::NoMacAddress),
        NetError::Device(DeviceFailure::OutOfDmaMemory),
        NetError::QueueFull,
    ];
    let lines: Vec<_> = errors.iter().map(|e| e.to_string()).collect();
    for l in &lines {
        assert!(!l.is_empty() && !l.contains('\n'), "{l:?}");
    }
    assert!(lines[0].contains("1515") && lines[3].contains("TDT 31"));
    assert!(lines[6].contains("0x04000000") && lines[7].contains("word 2"));
    let distinct: alloc::collections::BTreeSet<_> = lines.iter().collect();
    assert_eq!(distinct.len(), lines.len());
}
