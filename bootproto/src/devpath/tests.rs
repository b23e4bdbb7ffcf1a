use super::*;

// The nodes of `ConOut` as OVMF sets it on QEMU q35 (read from the firmware by the stub).
const PCI_ROOT: &[u8] = &[0x02, 0x01, 0x0c, 0x00, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0];
const PCI_1_0: &[u8] = &[0x01, 0x01, 0x06, 0x00, 0x00, 0x01];
const ACPI_ADR: &[u8] = &[0x02, 0x03, 0x08, 0x00, 0x00, 0x01, 0x01, 0x80];
const END_OF_INSTANCE: &[u8] = &[0x7f, 0x01, 0x04, 0x00];
const PCI_1F_0: &[u8] = &[0x01, 0x01, 0x06, 0x00, 0x00, 0x1f];
/// `Serial(0x0)`: `Acpi(PNP0501,0)`.
const SERIAL_0: &[u8] = &[0x02, 0x01, 0x0c, 0x00, 0xd0, 0x41, 0x01, 0x05, 0, 0, 0, 0];
/// `Uart(115200,8,N,1)`.
const UART: &[u8] = &[
    0x03, 0x0e, 0x13, 0x00, 0, 0, 0, 0, 0x00, 0xc2, 0x01, 0, 0, 0, 0, 0, 8, 1, 1,
];
const VEN_PC_ANSI: &[u8] = &[
    0x03, 0x0a, 0x14, 0x00, 0x53, 0x47, 0xc1, 0xe0, 0xbe, 0xf9, 0xd2, 0x11, 0x9a, 0x0c, 0x00, 0x90,
    0x27, 0x3f, 0xc1, 0x4d,
];
const END_OF_LIST: &[u8] = &[0x7f, 0xff, 0x04, 0x00];

/// OVMF's `ConOut` on q35: the display, `PciRoot(0x0)/Pci(0x1,0x0)/AcpiAdr(0x80010100)`, then
/// the serial console, `PciRoot(0x0)/Pci(0x1F,0x0)/Serial(0x0)/Uart(115200,8,N,1)/VenPcAnsi()`.
fn ovmf_q35() -> Vec<u8> {
    [
        PCI_ROOT,
        PCI_1_0,
        ACPI_ADR,
        END_OF_INSTANCE,
        PCI_ROOT,
        PCI_1F_0,
        SERIAL_0,
        UART,
        VEN_PC_ANSI,
        END_OF_LIST,
    ]
    .concat()
}

/// The same bytes as the stub read them from OVMF (hex), to keep the pieces above honest.
const OVMF_Q35_HEX: &str = "02010c00d041030a0000000001010600000102030800000101807f01040002010c00d041030a0000000001010600001f02010c00d041010500000000030e13000000000000c2010000000000080101030a14005347c1e0bef9d2119a0c0090273fc14d7fff0400";

/// The display instance alone, as on a PC whose firmware does not redirect its console.
fn display_only() -> Vec<u8> {
    [PCI_ROOT, PCI_1_0, ACPI_ADR, END_OF_LIST].concat()
}

#[test]
fn the_test_list_is_what_ovmf_gave() {
    assert_eq!(crate::hash::Hex(&ovmf_q35()).to_string(), OVMF_Q35_HEX);
}

#[test]
fn ovmf_mirrors_its_console_to_serial() {
    let list = ovmf_q35();
    assert_eq!(reaches_serial(&list), Ok(true));
    let n = nodes(&list).unwrap();
    assert_eq!(n.len(), 9, "eight nodes and one end-of-instance");
    assert_eq!((n[7].kind, n[7].sub_type), (MESSAGING, MSG_UART));
    assert!(is_serial(&n[7]) && is_serial(&n[8]));
    assert!(!n[..7].iter().any(is_serial));
}

#[test]
fn a_display_alone_does_not() {
    assert_eq!(reaches_serial(&display_only()), Ok(false));
    // An empty list (just the end node) reaches nothing either.
    assert_eq!(reaches_serial(&[0x7f, 0xff, 0x04, 0x00]), Ok(false));
}

#[test]
fn a_terminal_node_alone_counts_and_another_vendor_node_does_not() {
    let vendor = |guid: [u8; 16]| {
        let mut v = vec![0x03, 0x0a, 0x14, 0x00];
        v.extend_from_slice(&guid);
        v.extend_from_slice(&[0x7f, 0xff, 0x04, 0x00]);
        v
    };
    for g in TERMINAL_GUIDS {
        assert_eq!(reaches_serial(&vendor(g)), Ok(true));
    }
    // The UART flow-control vendor node is not a terminal type.
    let flow = guid("37499a9d-542f-4c89-a026-35da142094e4");
    assert_eq!(reaches_serial(&vendor(flow)), Ok(false));
    // A vendor node too short for a GUID is no terminal.
    assert_eq!(
        reaches_serial(&[0x03, 0x0a, 0x06, 0x00, 0x53, 0x47, 0x7f, 0xff, 0x04, 0x00]),
        Ok(false)
    );
}

#[test]
fn the_tty_guid_is_stored_as_edk2_writes_its_pcd() {
    // OvmfPkg's PcdTerminalTypeGuidBuffer for TTY_TERMINAL builds.
    let pcd = [
        0x80, 0x6d, 0x91, 0x7d, 0xb1, 0x5b, 0x8c, 0x45, 0xa4, 0x8f, 0xe2, 0x5f, 0xdd, 0x51, 0xef,
        0x94,
    ];
    assert_eq!(TERMINAL_GUIDS[4], pcd);
}

#[test]
fn the_pc_ansi_guid_is_stored_as_ovmf_stores_it() {
    assert_eq!(TERMINAL_GUIDS[0][..], VEN_PC_ANSI[4..]);
}

#[test]
fn malformed_lists_are_errors_not_answers() {
    let list = ovmf_q35();
    // Cut before the end node: the serial nodes are there, but the list is not whole.
    assert_eq!(
        reaches_serial(&list[..list.len() - 4]),
        Err(DevicePathError::NoEnd)
    );
    // Cut inside the UART node.
    assert_eq!(
        reaches_serial(&list[..70]),
        Err(DevicePathError::NodePastEnd {
            offset: 60,
            length: 19
        })
    );
    // Cut inside a header.
    assert_eq!(
        reaches_serial(&list[..2]),
        Err(DevicePathError::ShortNode { offset: 0 })
    );
    // A node claiming fewer bytes than its header (would loop forever if taken).
    assert_eq!(
        reaches_serial(&[0x02, 0x01, 0x00, 0x00, 0x7f, 0xff, 0x04, 0x00]),
        Err(DevicePathError::ShortNode { offset: 0 })
    );
    assert_eq!(reaches_serial(&[]), Err(DevicePathError::NoEnd));
    for e in [
        DevicePathError::NoEnd,
        DevicePathError::ShortNode { offset: 3 },
        DevicePathError::NodePastEnd {
            offset: 4,
            length: 9,
        },
    ] {
        assert!(!e.to_string().contains('\n'));
    }
}

#[test]
fn any_bytes_give_an_answer_or_an_error_without_panicking() {
    // Every prefix and every single-byte change of the real list.
    let list = ovmf_q35();
    for n in 0..=list.len() {
        let _ = reaches_serial(&list[..n]);
    }
    for i in 0..list.len() {
        for b in [0x00, 0x01, 0x04, 0x7f, 0xff] {
            let mut v = list.clone();
            v[i] = b;
            let _ = reaches_serial(&v);
        }
    }
}
