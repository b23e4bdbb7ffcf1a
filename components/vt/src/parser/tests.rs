//! Parser tests: each supported sequence, sequences split at every byte, and garbage input.

use super::*;
use crate::screen::Sgr::{Background, Bold, Foreground, Inverse, Reset};
use crate::testing::Rng;
use alloc::vec::Vec;

fn parse(bytes: &[u8]) -> Vec<Action> {
    let mut parser = Parser::new();
    let mut out = Vec::new();
    parser.advance_all(bytes, &mut |a| out.push(a));
    out
}

/// Parses `bytes` split in two at every position, with one parser across both calls.
fn parse_split_everywhere(bytes: &[u8]) {
    let whole = parse(bytes);
    for at in 0..=bytes.len() {
        let mut parser = Parser::new();
        let mut out = Vec::new();
        parser.advance_all(&bytes[..at], &mut |a| out.push(a));
        parser.advance_all(&bytes[at..], &mut |a| out.push(a));
        assert_eq!(out, whole, "split at {at}");
    }
}

fn prints(s: &str) -> Vec<Action> {
    s.chars().map(Action::Print).collect()
}

#[test]
fn text_and_controls() {
    use Action::*;
    assert_eq!(
        parse(b"a\rb\nc\x08\t\x07\x0b\x0c\x00\x7f"),
        [
            Print('a'),
            CarriageReturn,
            Print('b'),
            LineFeed,
            Print('c'),
            Backspace,
            Tab,
            LineFeed,
            LineFeed
        ]
    );
}

#[test]
fn utf8_text() {
    assert_eq!(parse("é─😀".as_bytes()), prints("é─😀"));
    assert_eq!(parse(b"\xC3(\xFF"), prints("\u{FFFD}(\u{FFFD}"));
    // A broken sequence interrupted by ESC: replacement, then the sequence acts.
    assert_eq!(
        parse(b"\xE2\x94\x1b[2J"),
        [Action::Print(REPLACEMENT), Action::EraseDisplay(Erase::All)]
    );
    // C1 controls encoded in UTF-8 are not shown.
    assert_eq!(parse("\u{85}x".as_bytes()), prints("x"));
}

#[test]
fn cursor_moves_default_to_one() {
    use Action::*;
    assert_eq!(
        parse(b"\x1b[A\x1b[0B\x1b[5C\x1b[12D\x1b[;D"),
        [
            CursorUp(1),
            CursorDown(1),
            CursorForward(5),
            CursorBack(12),
            CursorBack(1)
        ]
    );
}

#[test]
fn cursor_position() {
    let pos = |row, col| Action::CursorPosition { row, col };
    assert_eq!(parse(b"\x1b[H"), [pos(0, 0)]);
    assert_eq!(parse(b"\x1b[5;10H"), [pos(4, 9)]);
    assert_eq!(parse(b"\x1b[5H"), [pos(4, 0)]);
    assert_eq!(parse(b"\x1b[;7f"), [pos(0, 6)]);
    assert_eq!(parse(b"\x1b[0;0f"), [pos(0, 0)]);
    // Huge numbers saturate instead of overflowing.
    assert_eq!(
        parse(b"\x1b[99999999999;3H"),
        [pos(usize::from(u16::MAX) - 1, 2)]
    );
}

#[test]
fn erase() {
    use Action::*;
    assert_eq!(
        parse(b"\x1b[J\x1b[0J\x1b[1J\x1b[2J\x1b[3J\x1b[4J"),
        [
            EraseDisplay(Erase::ToEnd),
            EraseDisplay(Erase::ToEnd),
            EraseDisplay(Erase::ToStart),
            EraseDisplay(Erase::All),
            EraseDisplay(Erase::All)
        ]
    );
    assert_eq!(
        parse(b"\x1b[K\x1b[1K\x1b[2K\x1b[9K"),
        [
            EraseLine(Erase::ToEnd),
            EraseLine(Erase::ToStart),
            EraseLine(Erase::All)
        ]
    );
}

#[test]
fn graphics() {
    let sgr = |bytes: &[u8]| -> Vec<Sgr> {
        parse(bytes)
            .into_iter()
            .map(|a| match a {
                Action::Graphics(s) => s,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(sgr(b"\x1b[m"), [Reset]);
    assert_eq!(sgr(b"\x1b[0m"), [Reset]);
    assert_eq!(
        sgr(b"\x1b[1;7;22;27m"),
        [Bold(true), Inverse(true), Bold(false), Inverse(false)]
    );
    assert_eq!(
        sgr(b"\x1b[30;37;90;97m"),
        [Foreground(0), Foreground(7), Foreground(8), Foreground(15)]
    );
    assert_eq!(
        sgr(b"\x1b[40;47;100;107m"),
        [Background(0), Background(7), Background(8), Background(15)]
    );
    assert_eq!(
        sgr(b"\x1b[39;49m"),
        [Foreground(DEFAULT_FG), Background(DEFAULT_BG)]
    );
    // Unknown parameters are skipped, the rest still applies; empty ones are resets.
    assert_eq!(sgr(b"\x1b[4;31;5m"), [Foreground(1)]);
    assert_eq!(sgr(b"\x1b[;1m"), [Reset, Bold(true)]);
    // Extended colours: their numbers are not read as attributes.
    assert_eq!(
        sgr(b"\x1b[38;5;12;48;5;200;1m"),
        [Foreground(12), Bold(true)]
    );
    assert_eq!(sgr(b"\x1b[38;2;1;7;1;32m"), [Foreground(2)]);
    assert_eq!(sgr(b"\x1b[48:5:3m"), [Background(3)]);
    assert_eq!(sgr(b"\x1b[38;5m\x1b[38m\x1b[38;9;1m"), []);
}

#[test]
fn cursor_visibility_and_saving() {
    use Action::*;
    assert_eq!(
        parse(b"\x1b[?25l\x1b[?25h\x1b[?7l\x1b[25h\x1b7\x1b8\x1b[s\x1b[u"),
        [
            ShowCursor(false),
            ShowCursor(true),
            SaveCursor,
            RestoreCursor,
            SaveCursor,
            RestoreCursor
        ]
    );
}

#[test]
fn newline_mode() {
    use Action::*;
    assert_eq!(
        parse(b"\x1b[20h\x1b[20l\x1b[4h\x1b[?20h"),
        [NewlineMode(true), NewlineMode(false)]
    );
}

#[test]
fn index_and_next_line() {
    use Action::*;
    assert_eq!(parse(b"\x1bD\x1bE"), [LineFeed, CarriageReturn, LineFeed]);
}

#[test]
fn unknown_sequences_are_swallowed() {
    // Unknown CSI finals, intermediates, other private markers, charset selection, OSC
    // titles ended by BEL or ST, DCS strings, unknown ESC finals.
    let input = b"\x1b[6n\x1b[1 q\x1b[>0c\x1b[1?h\x1b(B\x1b)0\x1b]0;title\x07\x1b]2;t\xc3\xa9\x1b\\\x1bP1$r\x1b\\\x1bZ\x1bc";
    assert_eq!(parse(input), []);
    let mut with_text = input.to_vec();
    with_text.extend_from_slice(b"ok");
    assert_eq!(parse(&with_text), prints("ok"));
}

#[test]
fn controls_inside_sequences() {
    use Action::*;
    // C0 controls act in the middle of a sequence, which then goes on.
    assert_eq!(parse(b"\x1b[1\r2A"), [CarriageReturn, CursorUp(12)]);
    // CAN and SUB abort it; ESC starts a new one.
    assert_eq!(parse(b"\x1b[1\x18A"), prints("A"));
    assert_eq!(parse(b"\x1b[1\x1b[2J"), [EraseDisplay(Erase::All)]);
    // A non-ASCII byte aborts it and is text.
    assert_eq!(parse("\x1b[1é".as_bytes()), prints("é"));
    // CAN ends an OSC string too.
    assert_eq!(parse(b"\x1b]0;x\x18y"), prints("y"));
}

#[test]
fn overlong_parameter_lists() {
    let mut seq = Vec::from(&b"\x1b["[..]);
    for _ in 0..10_000 {
        seq.extend_from_slice(b"31;");
    }
    seq.extend_from_slice(b"1m");
    let actions = parse(&seq);
    // Only the first MAX_PARAMS parameters are kept.
    assert_eq!(actions.len(), MAX_PARAMS);
    assert!(actions
        .iter()
        .all(|a| *a == Action::Graphics(Foreground(1))));
    let mut seq = Vec::from(&b"\x1b["[..]);
    seq.extend(core::iter::repeat_n(b'9', 100_000));
    seq.push(b'B');
    assert_eq!(parse(&seq), [Action::CursorDown(usize::from(u16::MAX))]);
}

#[test]
fn split_anywhere() {
    parse_split_everywhere(
        b"ab\x1b[12;34Hc\x1b[1;31;42m\xe2\x94\x80\x1b[?25l\x1b]0;t\x07\x1b7\x1b[2K\r\n",
    );
    parse_split_everywhere("x\u{1F600}\x1b[38;5;9mé\x1b[u".as_bytes());
}

/// A byte biased toward the interesting ones: ESC, CSI pieces, UTF-8 lead bytes.
fn biased_byte(rng: &mut Rng) -> u8 {
    const INTERESTING: &[u8] =
        b"\x1b[;?0123456789mHJKABCDsuhl7835\x07\x18\x1a\r\n\x08\t:]P\\\xc3\xe2\xf0\x80\xbf";
    let r = rng.next();
    if r.is_multiple_of(3) {
        INTERESTING[(r >> 8) as usize % INTERESTING.len()]
    } else {
        (r >> 16) as u8
    }
}

#[test]
fn garbage_never_panics_and_splits_do_not_matter() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2_000 {
        let len = (rng.next() % 200) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| biased_byte(&mut rng)).collect();
        let whole = parse(&bytes);
        // Every action is sane.
        for a in &whole {
            if let Action::Print(c) = a {
                assert!(!c.is_control() || *c == REPLACEMENT, "{c:?}");
            }
        }
        // Fed in random chunks, the same actions come out.
        let mut parser = Parser::new();
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + (rng.next() as usize % rest.len());
            parser.advance_all(&rest[..n], &mut |a| out.push(a));
            rest = &rest[n..];
        }
        assert_eq!(out, whole);
    }
}
