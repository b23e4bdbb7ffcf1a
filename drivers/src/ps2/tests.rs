//! Host tests: bring-up against [`FakeI8042`] (success and every failure), the interrupt
//! handler's drain, the ring, and decoding in scancode sets 1 and 2 and several layouts.

use alloc::string::ToString;
use alloc::vec::Vec;

use super::controller::{command, config, drain, kbd};
use super::fake::FakeI8042;
use super::*;

fn bring_up(fake: &mut FakeI8042) -> Result<Ps2Info, Ps2Error> {
    init(fake, Config::default(), &Timeouts::default())
}

// ----- bring-up -----

#[test]
fn init_translating_controller() {
    let mut fake = FakeI8042::new();
    let info = bring_up(&mut fake).unwrap();
    assert_eq!(info.scancode_set, ScancodeSet::One);
    assert_eq!(
        fake.commands,
        [
            command::DISABLE_PORT1,
            command::DISABLE_PORT2,
            command::READ_CONFIG,
            command::WRITE_CONFIG,
            command::READ_CONFIG,
            command::SELF_TEST,
            command::WRITE_CONFIG,
            command::TEST_PORT1,
            command::ENABLE_PORT1,
            command::READ_CONFIG,
            command::WRITE_CONFIG,
        ]
    );
    // Reset and scanning, no scancode-set command when translating.
    assert!(fake.data_writes.contains(&kbd::RESET));
    assert!(!fake.data_writes.contains(&kbd::SET_SCANCODE_SET));
    assert!(fake.keyboard.scanning);
    assert!(fake.port1_enabled && !fake.port2_enabled);
    // Final configuration: port-1 IRQ on, port-2 IRQ off, translation on, port 2 clock off.
    assert_eq!(fake.config, info.config);
    assert_ne!(fake.config & config::PORT1_IRQ, 0);
    assert_eq!(fake.config & config::PORT2_IRQ, 0);
    assert_ne!(fake.config & config::TRANSLATE, 0);
    assert_ne!(fake.config & config::PORT2_CLOCK_OFF, 0);
    assert_eq!(fake.config & config::PORT1_CLOCK_OFF, 0);
    // The stale byte was flushed; nothing is left.
    assert!(fake.output.is_empty());
}

#[test]
fn init_interrupts_stay_off_until_the_end() {
    let mut fake = FakeI8042::new();
    bring_up(&mut fake).unwrap();
    // The first configuration write (data byte after the first WRITE_CONFIG) turned IRQs off.
    let first_config = fake.data_writes[0];
    assert_eq!(first_config & (config::PORT1_IRQ | config::PORT2_IRQ), 0);
}

#[test]
fn init_without_translation_selects_set_2() {
    let mut fake = FakeI8042::new();
    fake.keyboard.set = 1;
    let info = init(&mut fake, Config { translate: false }, &Timeouts::default()).unwrap();
    assert_eq!(info.scancode_set, ScancodeSet::Two);
    assert_eq!(fake.keyboard.set, 2);
    assert_eq!(fake.config & config::TRANSLATE, 0);
}

#[test]
fn controller_that_drops_translation_gets_set_2() {
    let mut fake = FakeI8042::new();
    fake.no_translation = true;
    let info = bring_up(&mut fake).unwrap();
    assert_eq!(info.scancode_set, ScancodeSet::Two);
    let i = fake
        .data_writes
        .iter()
        .position(|b| *b == kbd::SET_SCANCODE_SET)
        .unwrap();
    assert_eq!(fake.data_writes[i + 1], 2);
}

#[test]
fn self_test_resetting_the_configuration_is_undone() {
    let mut fake = FakeI8042::new();
    fake.config_after_self_test = Some(config::PORT1_IRQ | config::PORT2_IRQ);
    bring_up(&mut fake).unwrap();
    assert_eq!(fake.config & config::PORT2_IRQ, 0);
    assert_ne!(fake.config & config::TRANSLATE, 0);
}

#[test]
fn keyboard_answering_self_test_first_and_resends_work() {
    let mut fake = FakeI8042::new();
    fake.keyboard.bat_first = true;
    fake.keyboard.resends = 2;
    bring_up(&mut fake).unwrap();
    assert_eq!(
        fake.data_writes
            .iter()
            .filter(|b| **b == kbd::RESET)
            .count(),
        3
    );
}

#[test]
fn absent_controller_is_found_at_once() {
    let mut fake = FakeI8042::new();
    fake.absent = true;
    assert_eq!(bring_up(&mut fake), Err(Ps2Error::NoController));
    assert_eq!(fake.clock, 0, "no waiting");
    assert_eq!(
        Ps2Error::NoController.to_string(),
        "no i8042 controller (status reads 0xff)"
    );
}

#[test]
fn broken_self_test() {
    let mut fake = FakeI8042::new();
    fake.self_test = 0xfc;
    let e = bring_up(&mut fake).unwrap_err();
    assert_eq!(e, Ps2Error::SelfTest(0xfc));
    assert_eq!(
        e.to_string(),
        "i8042 self-test failed (answered 0xfc, expected 0x55)"
    );
}

#[test]
fn broken_port_test() {
    let mut fake = FakeI8042::new();
    fake.port_test = 0x02;
    let e = bring_up(&mut fake).unwrap_err();
    assert_eq!(e, Ps2Error::PortTest(0x02));
    assert!(e
        .to_string()
        .contains("keyboard port test failed (code 0x02"));
}

#[test]
fn mute_controller_times_out() {
    let mut fake = FakeI8042::new();
    fake.mute = true;
    let e = bring_up(&mut fake).unwrap_err();
    assert_eq!(
        e,
        Ps2Error::NoReply {
            command: command::READ_CONFIG
        }
    );
    assert_eq!(
        e.to_string(),
        "i8042 did not answer command 0x20 (read configuration)"
    );
    assert!(fake.clock >= Timeouts::default().byte_us);
}

#[test]
fn stuck_input_buffer_times_out() {
    let mut fake = FakeI8042::new();
    fake.input_stuck = true;
    let e = bring_up(&mut fake).unwrap_err();
    assert_eq!(
        e,
        Ps2Error::InputStuck {
            command: command::DISABLE_PORT1
        }
    );
    assert!(e.to_string().contains("input buffer stays full"));
}

#[test]
fn no_keyboard() {
    let mut fake = FakeI8042::new();
    fake.keyboard.silent = true;
    let e = bring_up(&mut fake).unwrap_err();
    assert_eq!(e, Ps2Error::KeyboardSilent);
    assert_eq!(
        e.to_string(),
        "keyboard did not answer reset (is one plugged in?)"
    );
    // It waited for the reset deadline, not forever.
    let t = Timeouts::default();
    assert!(fake.clock >= t.reset_us && fake.clock < t.reset_us * 4);
}

#[test]
fn keyboard_failing_its_self_test() {
    let mut fake = FakeI8042::new();
    fake.keyboard.self_test = 0xfc;
    assert_eq!(bring_up(&mut fake), Err(Ps2Error::KeyboardSelfTest(0xfc)));
}

#[test]
fn keyboard_without_self_test_result() {
    let mut fake = FakeI8042::new();
    fake.keyboard.no_bat = true;
    assert_eq!(bring_up(&mut fake), Err(Ps2Error::KeyboardNoSelfTest));
}

#[test]
fn keyboard_that_always_asks_for_resends() {
    let mut fake = FakeI8042::new();
    fake.keyboard.resends = usize::MAX;
    assert_eq!(bring_up(&mut fake), Err(Ps2Error::KeyboardSilent));
}

#[test]
fn keyboard_refusing_the_scancode_set() {
    let mut fake = FakeI8042::new();
    fake.keyboard.refuse_set = Some(0xfe - 1);
    let e = init(&mut fake, Config { translate: false }, &Timeouts::default()).unwrap_err();
    assert_eq!(
        e,
        Ps2Error::KeyboardRefused {
            command: kbd::SET_SCANCODE_SET,
            answer: 0xfd
        }
    );
    assert_eq!(
        e.to_string(),
        "keyboard refused command 0xf0 (set scancode set) (answered 0xfd)"
    );
}

#[test]
fn every_error_is_one_line() {
    let errors = [
        Ps2Error::NoController,
        Ps2Error::InputStuck { command: 0x20 },
        Ps2Error::NoReply { command: 0x99 },
        Ps2Error::SelfTest(0),
        Ps2Error::PortTest(1),
        Ps2Error::KeyboardSilent,
        Ps2Error::KeyboardNoSelfTest,
        Ps2Error::KeyboardSelfTest(0xfd),
        Ps2Error::KeyboardNoAck { command: 0xf4 },
        Ps2Error::KeyboardRefused {
            command: 0xf4,
            answer: 0x00,
        },
    ];
    for e in errors {
        let s = e.to_string();
        assert!(!s.is_empty() && !s.contains('\n'), "{s}");
    }
    assert_eq!(
        Ps2Error::NoReply { command: 0x99 }.to_string(),
        "i8042 did not answer command 0x99"
    );
}

// ----- the interrupt handler's drain and the ring -----

#[test]
fn drain_moves_keyboard_bytes_and_drops_mouse_bytes() {
    let mut fake = FakeI8042::new();
    bring_up(&mut fake).unwrap();
    fake.type_bytes(&[0x1e, 0x9e]);
    fake.mouse_bytes(&[0x08]);
    fake.type_bytes(&[0x30]);
    let ring = ScancodeRing::<16>::new();
    assert_eq!(drain(&mut fake, &ring, 16), 3);
    let got: Vec<u8> = core::iter::from_fn(|| ring.pop()).collect();
    assert_eq!(got, [0x1e, 0x9e, 0x30]);
    assert_eq!(drain(&mut fake, &ring, 16), 0);
}

#[test]
fn drain_is_bounded_and_stops_on_an_absent_controller() {
    let mut fake = FakeI8042::new();
    fake.type_bytes(&[1; 40]);
    let ring = ScancodeRing::<64>::new();
    assert_eq!(drain(&mut fake, &ring, 8), 8);
    fake.absent = true;
    assert_eq!(drain(&mut fake, &ring, 8), 0);
}

#[test]
fn ring_fifo_full_and_wrapping() {
    let ring = ScancodeRing::<4>::new();
    assert!(ring.is_empty());
    assert_eq!(ring.capacity(), 4);
    for b in 0..4 {
        assert!(ring.push(b));
    }
    assert!(!ring.push(9));
    assert_eq!(ring.dropped(), 1);
    assert_eq!(ring.len(), 4);
    assert_eq!(ring.pop(), Some(0));
    assert!(ring.push(4));
    let rest: Vec<u8> = core::iter::from_fn(|| ring.pop()).collect();
    assert_eq!(rest, [1, 2, 3, 4]);
    assert_eq!(ring.pop(), None);
    for round in 0..100u8 {
        assert!(ring.push(round));
        assert_eq!(ring.pop(), Some(round));
    }
}

// ----- decoding -----

/// Feeds `scancodes` and concatenates the output.
fn decode(kb: &mut Keyboard, scancodes: &[u8]) -> Vec<u8> {
    scancodes
        .iter()
        .flat_map(|b| kb.feed(*b).as_bytes().to_vec())
        .collect()
}

fn set1(layout: Layout) -> Keyboard {
    Keyboard::new(layout, ScancodeSet::One)
}

#[test]
fn set1_letters_and_releases() {
    let mut kb = set1(Layout::Us);
    // a down, a up, b down, b up.
    assert_eq!(decode(&mut kb, &[0x1e, 0x9e, 0x30, 0xb0]), b"ab");
    // A release alone gives nothing.
    assert_eq!(decode(&mut kb, &[0x9e]), b"");
}

#[test]
fn set1_shift_and_caps_lock() {
    let mut kb = set1(Layout::Us);
    // LShift down, a, LShift up, a.
    assert_eq!(
        decode(&mut kb, &[0x2a, 0x1e, 0x9e, 0xaa, 0x1e, 0x9e]),
        b"Aa"
    );
    // Shift + 1 = '!'.
    assert_eq!(decode(&mut kb, &[0x36, 0x02, 0x82, 0xb6]), b"!");
    // Caps Lock on: A; with Shift: a; Caps Lock off again.
    assert_eq!(decode(&mut kb, &[0x3a, 0xba, 0x1e, 0x9e]), b"A");
    assert_eq!(decode(&mut kb, &[0x2a, 0x1e, 0x9e, 0xaa]), b"a");
    // Caps Lock does not shift digits.
    assert_eq!(decode(&mut kb, &[0x02, 0x82]), b"1");
    assert_eq!(decode(&mut kb, &[0x3a, 0xba, 0x1e]), b"a");
}

#[test]
fn set1_ctrl_letters_are_control_codes() {
    let mut kb = set1(Layout::Us);
    // LCtrl down, c, LCtrl up.
    assert_eq!(decode(&mut kb, &[0x1d, 0x2e, 0xae, 0x9d]), [0x03]);
    // Right Ctrl (E0 1D) + a.
    assert_eq!(
        decode(&mut kb, &[0xe0, 0x1d, 0x1e, 0x9e, 0xe0, 0x9d]),
        [0x01]
    );
    // Released: plain c again.
    assert_eq!(decode(&mut kb, &[0x2e]), b"c");
}

#[test]
fn set1_editing_keys_are_vt100_sequences() {
    let mut kb = set1(Layout::Us);
    let cases: [(&[u8], &[u8]); 14] = [
        (&[0xe0, 0x48], b"\x1b[A"),
        (&[0xe0, 0x50], b"\x1b[B"),
        (&[0xe0, 0x4d], b"\x1b[C"),
        (&[0xe0, 0x4b], b"\x1b[D"),
        (&[0xe0, 0x47], b"\x1b[H"),
        (&[0xe0, 0x4f], b"\x1b[F"),
        (&[0xe0, 0x53], b"\x1b[3~"),
        (&[0xe0, 0x52], b"\x1b[2~"),
        (&[0xe0, 0x49], b"\x1b[5~"),
        (&[0xe0, 0x51], b"\x1b[6~"),
        (&[0x1c], b"\r"),
        (&[0x0e], b"\x7f"),
        (&[0x0f], b"\t"),
        (&[0x01], b"\x1b"),
    ];
    for (scancodes, want) in cases {
        assert_eq!(decode(&mut kb, scancodes), want, "{scancodes:02x?}");
    }
    // Releases of extended keys give nothing.
    assert_eq!(decode(&mut kb, &[0xe0, 0xc8, 0xe0, 0xd3]), b"");
    // Keypad Enter (E0 1C) is Enter too.
    assert_eq!(decode(&mut kb, &[0xe0, 0x1c]), b"\r");
}

#[test]
fn keypad_follows_num_lock() {
    let mut kb = set1(Layout::Us);
    // Num Lock starts on: keypad 8 and keypad '.' are characters.
    assert_eq!(decode(&mut kb, &[0x48, 0xc8, 0x53, 0xd3]), b"8.");
    // Num Lock off: they are Up and Delete.
    assert_eq!(decode(&mut kb, &[0x45, 0xc5]), b"");
    assert_eq!(decode(&mut kb, &[0x48, 0xc8, 0x53, 0xd3]), b"\x1b[A\x1b[3~");
    assert_eq!(decode(&mut kb, &[0x47, 0x4f]), b"\x1b[H\x1b[F");
}

#[test]
fn set2_decoding() {
    let mut kb = Keyboard::new(Layout::Us, ScancodeSet::Two);
    // a, a released (F0 1C), LShift + a.
    assert_eq!(decode(&mut kb, &[0x1c, 0xf0, 0x1c]), b"a");
    assert_eq!(decode(&mut kb, &[0x12, 0x1c, 0xf0, 0x1c, 0xf0, 0x12]), b"A");
    // Ctrl-C: LCtrl 14, c 21.
    assert_eq!(
        decode(&mut kb, &[0x14, 0x21, 0xf0, 0x21, 0xf0, 0x14]),
        [0x03]
    );
    // Arrows, Home/End, Delete (E0 prefixed), releases (E0 F0 xx) silent.
    assert_eq!(
        decode(
            &mut kb,
            &[0xe0, 0x75, 0xe0, 0xf0, 0x75, 0xe0, 0x6b, 0xe0, 0x6c, 0xe0, 0x69, 0xe0, 0x71]
        ),
        b"\x1b[A\x1b[D\x1b[H\x1b[F\x1b[3~"
    );
    // Enter, Backspace.
    assert_eq!(decode(&mut kb, &[0x5a, 0x66]), b"\r\x7f");
}

#[test]
fn german_layout() {
    let mut kb = set1(Layout::De);
    // The key right of T (US y) is z; the key right of LShift (US z) is y.
    assert_eq!(decode(&mut kb, &[0x15, 0x95, 0x2c, 0xac]), b"zy");
    // Umlauts as UTF-8: ö (US ;), ä (US '), ü (US [), and Shift + ä = Ä.
    assert_eq!(decode(&mut kb, &[0x27, 0x28, 0x1a]), "öäü".as_bytes());
    assert_eq!(decode(&mut kb, &[0x2a, 0x28, 0xaa]), "Ä".as_bytes());
    // AltGr (E0 38) + q = @; ß on the US '-' key.
    assert_eq!(decode(&mut kb, &[0xe0, 0x38, 0x10, 0xe0, 0xb8]), b"@");
    assert_eq!(decode(&mut kb, &[0x0c]), "ß".as_bytes());
    // Ctrl-C is still 03 (c does not move).
    assert_eq!(decode(&mut kb, &[0x1d, 0x2e, 0x9d]), [0x03]);
}

#[test]
fn layout_changes_from_the_next_key() {
    let mut kb = set1(Layout::Us);
    // Shift held across the change stays held.
    assert_eq!(decode(&mut kb, &[0x2a, 0x15, 0x95]), b"Y");
    kb.set_layout(Layout::De);
    assert_eq!(kb.layout(), Layout::De);
    assert_eq!(decode(&mut kb, &[0x15, 0x95, 0xaa, 0x15]), b"Zz");
}

#[test]
fn uk_and_french_layouts() {
    let mut uk = set1(Layout::Uk);
    // Shift + 3 = £, Shift + 2 = ".
    assert_eq!(decode(&mut uk, &[0x2a, 0x04, 0x03, 0xaa]), "£\"".as_bytes());
    let mut fr = set1(Layout::Fr);
    // AZERTY: the US q key is a, the US a key is q.
    assert_eq!(decode(&mut fr, &[0x10, 0x1e]), b"aq");
}

#[test]
fn layout_names() {
    for l in keyboard::LAYOUTS {
        assert_eq!(l.name().parse::<Layout>(), Ok(l));
        assert_eq!(l.to_string(), l.name());
    }
    assert_eq!("de".parse::<Layout>(), Ok(Layout::De));
    assert_eq!("dvorak".parse::<Layout>(), Err(UnknownLayout));
    assert_eq!("".parse::<Layout>(), Err(UnknownLayout));
    assert_eq!(Layout::default(), Layout::Us);
    assert!(UnknownLayout.to_string().contains("us, uk, de or fr"));
    let kb = Keyboard::new(Layout::Fr, ScancodeSet::Two);
    assert_eq!(kb.layout(), Layout::Fr);
}

#[test]
fn garbage_never_panics() {
    // Every byte after every byte, in both sets and every layout; then a pseudo-random stream.
    for layout in keyboard::LAYOUTS {
        for set in [ScancodeSet::One, ScancodeSet::Two] {
            let mut kb = Keyboard::new(layout, set);
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    let out = kb.feed(a);
                    assert!(out.len() <= 4);
                    kb.feed(b);
                }
            }
            let mut x = 0x1234_5678u32;
            for _ in 0..100_000 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                kb.feed(x as u8);
            }
        }
    }
}

#[test]
fn keyboard_answers_between_scancodes_are_harmless() {
    // ACK, self-test passed, resend and overrun bytes arriving in the scancode stream.
    let mut kb = set1(Layout::Us);
    assert_eq!(decode(&mut kb, &[0xfa, 0xaa, 0xfe, 0x00, 0xff, 0x1e]), b"a");
    let mut kb = Keyboard::new(Layout::Us, ScancodeSet::Two);
    assert_eq!(decode(&mut kb, &[0xfa, 0xaa, 0x1c]), b"a");
}

#[test]
fn read_hands_out_keys_across_small_buffers() {
    let mut kb = set1(Layout::De);
    // Delete (4 bytes), ö (2 bytes), a: read one byte at a time.
    let mut codes = [0xe0u8, 0x53, 0xe0, 0xd3, 0x27, 0xa7, 0x1e].into_iter();
    let mut got = Vec::new();
    let mut one = [0u8; 1];
    while kb.read(|| codes.next(), &mut one) == 1 {
        got.push(one[0]);
    }
    assert_eq!(got, "\x1b[3~öa".as_bytes());
    // A big buffer takes everything at once; an empty one takes nothing (and no scancode).
    let mut codes = [0x2e, 0xae, 0x1e].into_iter();
    assert_eq!(kb.read(|| codes.next(), &mut []), 0);
    let mut buf = [0u8; 16];
    let n = kb.read(|| codes.next(), &mut buf);
    assert_eq!(&buf[..n], b"ca");
    assert_eq!(kb.read(|| None, &mut buf), 0);
}
