//! Host tests of the USB keyboard driver ([`super::hid`]) and the interrupt IN pipes under it,
//! against the fake xHCI controller's boot keyboard.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use pc_keyboard::{KeyState, ScancodeSet as _, ScancodeSet1};

use super::hid::*;
use super::msc::MscTimeouts;
use super::xhci::fake::{FakeDevice, FakeHal, FakeMsc, FakeXhci};
use super::xhci::proto::{trb_type, Speed};
use super::xhci::{Timeouts, TransferError};
use super::{probe, ProbeReport};
use crate::block::BlockDevice;
use crate::ps2::Layout;

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

fn probe_fake(fake: FakeXhci) -> (FakeHal, ProbeReport<FakeHal>) {
    let hal = fake.into_hal();
    let msc = MscTimeouts {
        ready_tries: 5,
        ready_pause_us: 1_000,
    };
    let report = probe(hal.clone(), fast(), msc).expect("probe");
    (hal, report)
}

/// A fake with a full-speed keyboard on port 2 (and `disk` on port 1), probed, the keyboard
/// opened with `layout`.
fn keyboard_with(
    layout: Layout,
    disk: Option<FakeMsc>,
) -> (FakeHal, ProbeReport<FakeHal>, UsbKeyboard<FakeHal>) {
    let mut fake = FakeXhci::new();
    if let Some(msc) = disk {
        fake.attach(1, FakeDevice::storage(Speed::High, msc));
    }
    fake.attach(2, FakeDevice::keyboard(Speed::Full));
    let (hal, report) = probe_fake(fake);
    let found = boot_keyboards(&report.ports);
    assert_eq!(found.len(), 1, "{:?}", report.ports);
    let k = &found[0];
    let kbd = UsbKeyboard::open(report.controller.clone(), k.slot, k.interface, layout)
        .expect("open keyboard");
    (hal, report, kbd)
}

fn keyboard(layout: Layout) -> (FakeHal, ProbeReport<FakeHal>, UsbKeyboard<FakeHal>) {
    keyboard_with(layout, None)
}

/// A boot report with `modifiers` and these keys.
fn report(modifiers: u8, keys: &[u8]) -> Vec<u8> {
    let mut r = vec![modifiers, 0, 0, 0, 0, 0, 0, 0];
    r[2..2 + keys.len()].copy_from_slice(keys);
    r
}

/// Sends each report from the keyboard on port 2.
fn send(hal: &FakeHal, reports: &[Vec<u8>]) {
    for r in reports {
        hal.dev().send_report(2, r);
    }
}

/// Everything the keyboard has for the console now.
fn read_all(kbd: &mut UsbKeyboard<FakeHal>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 3];
    loop {
        let n = kbd.read_available(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Taps each usage (press, release) with no modifier.
fn taps(usages: &[u8]) -> Vec<Vec<u8>> {
    usages
        .iter()
        .flat_map(|&u| [report(0, &[u]), report(0, &[])])
        .collect()
}

const LEFT_CTRL: u8 = 0x01;
const LEFT_SHIFT: u8 = 0x02;
const RIGHT_CTRL: u8 = 0x10;
const RIGHT_SHIFT: u8 = 0x20;
const RIGHT_ALT: u8 = 0x40;

#[test]
fn keyboard_is_found_and_set_to_boot_protocol() {
    let (hal, report, kbd) = keyboard(Layout::Us);
    assert_eq!(
        boot_keyboards(&report.ports),
        vec![FoundKeyboard {
            place: "port 2".into(),
            slot: 1,
            interface: 0
        }]
    );
    assert_eq!(kbd.layout(), Layout::Us);
    let mut f = hal.dev();
    let k = f.device(2).and_then(FakeDevice::keyboard_state).unwrap();
    assert_eq!(k.protocol, Some(0), "SET_PROTOCOL(boot)");
    assert_eq!(k.idle, Some(0), "SET_IDLE(0)");
    // One TD queued on the interrupt endpoint (DCI 3), not yet completed.
    assert!(f.tds.iter().all(|t| t.dci != 3));
    assert_eq!(
        f.device(2).unwrap().requests.last().map(|r| r.request),
        Some(request::SET_IDLE)
    );
}

#[test]
fn typing_ls_enter_arrives_as_bytes() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    assert_eq!(read_all(&mut kbd), b"");
    send(&hal, &taps(&[0x0f, 0x16, 0x28]));
    assert_eq!(read_all(&mut kbd), b"ls\r");
    assert_eq!(read_all(&mut kbd), b"");
}

#[test]
fn shift_gives_capitals_and_symbols() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    send(
        &hal,
        &[
            report(LEFT_SHIFT, &[]),
            report(LEFT_SHIFT, &[0x04]),
            report(LEFT_SHIFT, &[0x04, 0x1e]),
            // Shift released in the same report as `b` pressed: `b` is lower case.
            report(0, &[0x05]),
            report(RIGHT_SHIFT, &[0x05, 0x38]),
            report(0, &[]),
        ],
    );
    assert_eq!(read_all(&mut kbd), b"A!b?");
}

#[test]
fn ctrl_c_is_0x03_with_either_ctrl() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    send(
        &hal,
        &[
            report(LEFT_CTRL, &[0x06]),
            report(0, &[]),
            report(RIGHT_CTRL, &[0x06]),
            report(0, &[]),
        ],
    );
    assert_eq!(read_all(&mut kbd), b"\x03\x03");
}

#[test]
fn editing_keys_are_vt100_sequences() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    // Up, Down, Right, Left, Home, End, Insert, Delete, Page Up, Page Down, Backspace, Tab, Esc.
    send(
        &hal,
        &taps(&[
            0x52, 0x51, 0x4f, 0x50, 0x4a, 0x4d, 0x49, 0x4c, 0x4b, 0x4e, 0x2a, 0x2b, 0x29,
        ]),
    );
    assert_eq!(
        read_all(&mut kbd),
        b"\x1b[A\x1b[B\x1b[C\x1b[D\x1b[H\x1b[F\x1b[2~\x1b[3~\x1b[5~\x1b[6~\x7f\t\x1b"
    );
}

#[test]
fn keypad_with_num_lock_on() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    // 1, 0, '.', /, *, -, +, Enter.
    send(
        &hal,
        &taps(&[0x59, 0x62, 0x63, 0x54, 0x55, 0x56, 0x57, 0x58]),
    );
    assert_eq!(read_all(&mut kbd), b"10./*-+\r");
}

#[test]
fn a_key_held_across_reports_gives_one_character() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    send(
        &hal,
        &[
            report(0, &[0x04]),
            report(0, &[0x04]),
            report(0, &[0x04, 0x04]),
            report(0, &[0x04]),
        ],
    );
    assert_eq!(read_all(&mut kbd), b"a");
    // Released, then pressed again: a second one.
    send(&hal, &[report(0, &[]), report(0, &[0x04]), report(0, &[])]);
    assert_eq!(read_all(&mut kbd), b"a");
}

#[test]
fn releases_and_overlapping_keys() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    send(
        &hal,
        &[
            report(0, &[0x04]),
            report(0, &[0x04, 0x05]),
            report(0, &[0x05]),
            report(0, &[0x05, 0x04]),
            report(0, &[]),
        ],
    );
    assert_eq!(read_all(&mut kbd), b"aba");
}

#[test]
fn rollover_reports_are_ignored() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    send(
        &hal,
        &[
            report(0, &[0x04]),
            report(0, &[1, 1, 1, 1, 1, 1]),
            // Still `a` held (not pressed again), `b` new.
            report(0, &[0x04, 0x05]),
            report(0, &[]),
        ],
    );
    assert_eq!(read_all(&mut kbd), b"ab");
}

#[test]
fn layouts_are_the_ps2_ones() {
    let (hal, _report, mut kbd) = keyboard(Layout::De);
    // The US `y` position is `z` in German; AltGr+q is `@`; Shift+2 is `"`.
    send(
        &hal,
        &[
            report(0, &[0x1c]),
            report(0, &[]),
            report(RIGHT_ALT, &[0x14]),
            report(0, &[]),
            report(LEFT_SHIFT, &[0x1f]),
            report(0, &[]),
        ],
    );
    assert_eq!(read_all(&mut kbd), b"z@\"");
    let (hal, _report, mut kbd) = keyboard(Layout::Uk);
    // The ISO key by Enter (usage 0x32) is `#` in the UK layout.
    send(&hal, &taps(&[0x32]));
    assert_eq!(read_all(&mut kbd), b"#");
}

#[test]
fn bytes_that_do_not_fit_wait_for_the_next_read() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    send(&hal, &taps(&[0x52, 0x04]));
    let mut one = [0u8; 1];
    let mut got = Vec::new();
    for _ in 0..4 {
        assert_eq!(kbd.read_available(&mut one), 1);
        got.push(one[0]);
    }
    assert_eq!(got, b"\x1b[Aa");
    assert_eq!(kbd.read_available(&mut one), 0);
}

#[test]
fn report_during_a_disk_transfer_is_kept_and_the_disk_read_completes() {
    let (hal, mut probed, mut kbd) = keyboard_with(Layout::Us, Some(FakeMsc::new(64, 512)));
    hal.dev().report_during_next_bulk = Some((2, report(0, &[0x0f])));
    let mut buf = vec![0u8; 1024];
    probed.disks[0]
        .disk
        .read_blocks(3, &mut buf)
        .expect("disk read");
    let expected = hal.dev().msc(1).unwrap().data[3 * 512..5 * 512].to_vec();
    assert_eq!(buf, expected);
    // The keyboard's completion arrived while the disk transfer waited: kept, not dropped.
    assert_eq!(probed.controller.lock().kept_completions(), 1);
    assert_eq!(read_all(&mut kbd), b"l");
    assert_eq!(probed.controller.lock().kept_completions(), 0);
    // And the other way round: a report completes between disk transfers too.
    send(&hal, &[report(0, &[])]);
    probed.disks[0].disk.read_blocks(5, &mut buf).unwrap();
    send(&hal, &taps(&[0x16]));
    assert_eq!(read_all(&mut kbd), b"s");
}

#[test]
fn console_read_never_waits_for_a_busy_controller() {
    let (hal, report, mut kbd) = keyboard(Layout::Us);
    send(&hal, &taps(&[0x04]));
    {
        let _disk_transfer = report.controller.lock();
        assert_eq!(kbd.read_available(&mut [0u8; 8]), 0);
    }
    assert_eq!(read_all(&mut kbd), b"a");
}

#[test]
fn unplugged_keyboard_gives_a_named_error_and_is_dropped() {
    let (hal, report, mut kbd) = keyboard(Layout::Us);
    send(&hal, &taps(&[0x04]));
    assert_eq!(read_all(&mut kbd), b"a");
    // A TD is queued when the keyboard goes.
    hal.dev().detach(2);
    let mut buf = [0u8; 8];
    let err = kbd.read(&mut buf).unwrap_err();
    assert_eq!(err, HidError::Unplugged { port: 2 });
    assert_eq!(
        err.to_string(),
        "USB keyboard on port 2 was unplugged; plug it in and reboot to use it again"
    );
    assert_eq!(kbd.gone(), Some(err));
    assert_eq!(kbd.read(&mut buf), Err(err));
    assert_eq!(kbd.read_available(&mut buf), 0);
    // The pipe was given back: its TD stopped and skipped, nothing kept for it.
    let commands = hal.dev().commands.clone();
    assert!(commands.ends_with(&[trb_type::STOP_ENDPOINT, trb_type::SET_TR_DEQUEUE]));
    assert_eq!(report.controller.lock().kept_completions(), 0);
}

#[test]
fn a_report_completed_before_the_unplug_is_still_read() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    send(&hal, &[report(0, &[0x05])]);
    hal.dev().detach(2);
    let mut buf = [0u8; 8];
    assert_eq!(kbd.read(&mut buf), Ok(1));
    assert_eq!(&buf[..1], b"b");
    assert_eq!(kbd.read(&mut buf), Err(HidError::Unplugged { port: 2 }));
}

#[test]
fn a_stalled_report_is_recovered() {
    let (hal, _report, mut kbd) = keyboard(Layout::Us);
    hal.dev()
        .device(2)
        .and_then(FakeDevice::keyboard_state)
        .unwrap()
        .stall_next = true;
    send(&hal, &taps(&[0x04]));
    // The stall: halt cleared (CLEAR_FEATURE(ENDPOINT_HALT) to 0x81), TD queued again.
    assert_eq!(kbd.read_available(&mut [0u8; 8]), 0);
    assert!(hal
        .dev()
        .device(2)
        .unwrap()
        .requests
        .iter()
        .any(|r| r.request == 0x01 && r.index == 0x81));
    assert_eq!(read_all(&mut kbd), b"a");
    assert_eq!(kbd.gone(), None);
}

#[test]
fn set_protocol_refused_is_named_and_set_idle_refused_is_not_fatal() {
    let mut fake = FakeXhci::new();
    let mut dev = FakeDevice::keyboard(Speed::Full);
    if let Some(k) = dev.keyboard_state() {
        k.refuse_protocol = true;
    }
    fake.attach(2, dev);
    let (_hal, report) = probe_fake(fake);
    let err = UsbKeyboard::open(report.controller.clone(), 1, 0, Layout::Us).unwrap_err();
    assert!(matches!(
        err,
        HidError::SetProtocol {
            slot: 1,
            error: TransferError::Stall { .. }
        }
    ));
    assert!(
        err.to_string().contains("refused the boot protocol"),
        "{err}"
    );

    let mut fake = FakeXhci::new();
    let mut dev = FakeDevice::keyboard(Speed::Full);
    if let Some(k) = dev.keyboard_state() {
        k.refuse_idle = true;
    }
    fake.attach(2, dev);
    let (hal, report) = probe_fake(fake);
    let mut kbd = UsbKeyboard::open(report.controller.clone(), 1, 0, Layout::Us).unwrap();
    send(&hal, &taps(&[0x05]));
    assert_eq!(read_all(&mut kbd), b"b");
}

#[test]
fn a_slot_without_interrupt_endpoint_is_refused() {
    let (_hal, report, _kbd) = keyboard(Layout::Us);
    assert_eq!(
        UsbKeyboard::open(report.controller.clone(), 7, 0, Layout::Us).unwrap_err(),
        HidError::NoInterruptEndpoint { slot: 7 }
    );
}

/// A small deterministic generator for the garbage tests.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u8
    }
}

#[test]
fn garbage_reports_never_panic() {
    let mut rng = Lcg(7);
    for layout in crate::ps2::keyboard::LAYOUTS {
        let mut d = ReportDecoder::new(layout);
        let mut buf = [0u8; 5];
        for i in 0..4000 {
            let len = usize::from(rng.next()) % 12;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next()).collect();
            d.feed_report(&bytes);
            if i % 3 == 0 {
                d.read(&mut buf);
            }
        }
        while d.read(&mut buf) > 0 {}
    }
    // Through the fake too, lengths the endpoint may deliver (short packets, empty ones).
    let (hal, _report, mut kbd) = keyboard(Layout::Fr);
    let mut rng = Lcg(99);
    for _ in 0..300 {
        let len = usize::from(rng.next()) % 9;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next()).collect();
        send(&hal, &[bytes]);
        kbd.read_available(&mut [0u8; 7]);
    }
    assert_eq!(kbd.gone(), None);
}

/// Every usage with a scancode: the inverse table gives it back (the ISO `#` key gives the
/// ANSI `\` it shares 0x2B with), make codes are unique otherwise, and the PS/2 decoder reads
/// the make and break bytes as that key going down and up.
#[test]
fn usage_scancode_table_round_trips() {
    let usages: Vec<u8> = (0x00..=0xff).filter(|&u| scancode(u).is_some()).collect();
    assert_eq!(
        usages.len(),
        0x62 - 1 + 8,
        "all of 0x04-0x65 but Pause, and 8 modifiers"
    );
    for &u in &usages {
        let s = scancode(u).unwrap();
        let back = ALIASES.iter().find(|a| a.0 == u).map_or(u, |a| a.1);
        assert_eq!(usage_of(s), Some(back), "usage {u:#04x}");
        let mut decoder = ScancodeSet1::new();
        let mut events = Vec::new();
        for pressed in [true, false] {
            let mut b = [0u8; 2];
            let n = scancode_bytes(KeyChange { usage: u, pressed }, &mut b);
            assert_eq!(n, if s.extended { 2 } else { 1 });
            for &byte in &b[..n] {
                if let Some(ev) = decoder.advance_state(byte).expect("known scancode") {
                    events.push(ev);
                }
            }
        }
        assert_eq!(events.len(), 2, "usage {u:#04x}");
        assert_eq!(events[0].code, events[1].code);
        assert_eq!(
            (events[0].state, events[1].state),
            (KeyState::Down, KeyState::Up)
        );
    }
    let mut codes: Vec<Scancode> = usages
        .iter()
        .filter(|u| !ALIASES.iter().any(|a| a.0 == **u))
        .map(|&u| scancode(u).unwrap())
        .collect();
    let n = codes.len();
    codes.sort_by_key(|s| (s.extended, s.code));
    codes.dedup();
    assert_eq!(codes.len(), n, "make codes are unique");
    for u in [0x00, 0x01, 0x02, 0x03, 0x48, 0x66, 0xdf, 0xe8, 0xff] {
        assert_eq!(scancode(u), None, "usage {u:#04x}");
        assert_eq!(
            scancode_bytes(
                KeyChange {
                    usage: u,
                    pressed: true
                },
                &mut [0; 2]
            ),
            0
        );
    }
}

#[test]
fn diff_orders_releases_before_presses() {
    let mut changes = Vec::new();
    let old = BootReport {
        modifiers: LEFT_SHIFT,
        keys: [0x04, 0, 0, 0, 0, 0],
    };
    let new = BootReport {
        modifiers: LEFT_CTRL,
        keys: [0x05, 0, 0, 0, 0, 0],
    };
    diff(&old, &new, |c| changes.push((c.usage, c.pressed)));
    assert_eq!(
        changes,
        vec![(0x04, false), (0xe1, false), (0xe0, true), (0x05, true)]
    );
    assert_eq!(BootReport::parse(&[]), None);
    assert_eq!(
        BootReport::parse(&[2, 0, 4]),
        Some(BootReport {
            modifiers: 2,
            keys: [4, 0, 0, 0, 0, 0]
        })
    );
    assert_eq!(BootReport::parse(&[0, 0, 4, 3]), None, "ErrorUndefined");
}

#[test]
fn interrupt_pipe_errors_are_named() {
    let (_hal, report, _kbd) = keyboard(Layout::Us);
    let mut c = report.controller.lock();
    assert_eq!(
        c.open_interrupt_in(1, 0x82, 8).unwrap_err(),
        TransferError::NoSuchEndpoint {
            slot: 1,
            endpoint: 0x82
        }
    );
    assert_eq!(
        c.open_interrupt_in(1, 0x81, 0).unwrap_err(),
        TransferError::TooLong { bytes: 0 }
    );
    assert_eq!(c.interrupt_in_endpoint(1), Some((0x81, 8)));
    assert_eq!(c.interrupt_in_endpoint(9), None);
}
