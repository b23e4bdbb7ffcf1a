//! The 82574L's registers, bits and legacy descriptors, under the datasheet's names (Intel
//! 82574 GbE Controller Family datasheet, chapter 10 and section 7): the one place the driver
//! and the fake take them from.

/// Device Control (10.2.2.1).
pub const CTRL: usize = 0x0000;
/// Device Status (10.2.2.2).
pub const STATUS: usize = 0x0008;
/// EEPROM/Flash Control.
pub const EECD: usize = 0x0010;
/// EEPROM Read (10.2.2.5).
pub const EERD: usize = 0x0014;
/// Interrupt Cause Read (read to clear).
pub const ICR: usize = 0x00c0;
/// Interrupt Mask Set/Read.
pub const IMS: usize = 0x00d0;
/// Interrupt Mask Clear.
pub const IMC: usize = 0x00d8;
/// Receive Control.
pub const RCTL: usize = 0x0100;
/// Transmit Control.
pub const TCTL: usize = 0x0400;
/// Transmit Inter Packet Gap.
pub const TIPG: usize = 0x0410;
/// Receive descriptor ring: base low/high, length in bytes, head, tail.
pub const RDBAL: usize = 0x2800;
pub const RDBAH: usize = 0x2804;
pub const RDLEN: usize = 0x2808;
pub const RDH: usize = 0x2810;
pub const RDT: usize = 0x2818;
/// Transmit descriptor ring: base low/high, length in bytes, head, tail.
pub const TDBAL: usize = 0x3800;
pub const TDBAH: usize = 0x3804;
pub const TDLEN: usize = 0x3808;
pub const TDH: usize = 0x3810;
pub const TDT: usize = 0x3818;
/// Multicast Table Array: 128 registers.
pub const MTA: usize = 0x5200;
pub const MTA_LEN: usize = 128;
/// Receive Address Low/High, entry 0 (the station address).
pub const RAL0: usize = 0x5400;
pub const RAH0: usize = 0x5404;
/// Size of the register BAR (BAR0, 128 KiB): every offset the driver uses is below it.
pub const BAR0_BYTES: usize = 0x2_0000;

/// CTRL: Set Link Up.
pub const CTRL_SLU: u32 = 1 << 6;
/// CTRL: Auto-Speed Detection Enable.
pub const CTRL_ASDE: u32 = 1 << 5;
/// CTRL: Device Reset (self-clearing).
pub const CTRL_RST: u32 = 1 << 26;
/// STATUS: Link Up.
pub const STATUS_LU: u32 = 1 << 1;
/// EECD: the device has finished loading its settings (MAC address included) from the NVM.
pub const EECD_AUTO_RD: u32 = 1 << 9;
/// EERD: Start Read, Read Done, word address shift, data shift (82574 layout).
pub const EERD_START: u32 = 1 << 0;
pub const EERD_DONE: u32 = 1 << 1;
pub const EERD_ADDR_SHIFT: u32 = 2;
pub const EERD_DATA_SHIFT: u32 = 16;
/// RAH: Address Valid.
pub const RAH_AV: u32 = 1 << 31;
/// RCTL: Enable, Broadcast Accept Mode, Strip Ethernet CRC. BSIZE = 00 with BSEX = 0 is
/// 2048-byte buffers.
pub const RCTL_EN: u32 = 1 << 1;
pub const RCTL_BAM: u32 = 1 << 15;
pub const RCTL_BSIZE_2048: u32 = 0;
pub const RCTL_SECRC: u32 = 1 << 26;
/// TCTL: Enable, Pad Short Packets, Collision Threshold (bits 11:4), Collision Distance
/// (bits 21:12).
pub const TCTL_EN: u32 = 1 << 1;
pub const TCTL_PSP: u32 = 1 << 3;
pub const TCTL_CT_SHIFT: u32 = 4;
pub const TCTL_COLD_SHIFT: u32 = 12;
/// The datasheet's recommended values: CT = 0x0F, COLD = 0x3F (full duplex).
pub const TCTL_CT: u32 = 0x0f;
pub const TCTL_COLD: u32 = 0x3f;
/// TIPG for copper: IPGT 8, IPGR1 8, IPGR2 6.
pub const TIPG_COPPER: u32 = 8 | (8 << 10) | (6 << 20);

/// A legacy descriptor's size; ring lengths must be multiples of 128 bytes (8 descriptors).
pub const DESC_BYTES: usize = 16;
/// Legacy transmit descriptor CMD bits: End Of Packet, Insert FCS, Report Status.
pub const TX_CMD_EOP: u8 = 1 << 0;
pub const TX_CMD_IFCS: u8 = 1 << 1;
pub const TX_CMD_RS: u8 = 1 << 3;
/// Descriptor status: Descriptor Done (both rings); receive End Of Packet.
pub const STA_DD: u8 = 1 << 0;
pub const RX_STA_EOP: u8 = 1 << 1;
/// Offsets inside a legacy descriptor: the status byte (TX: STA at 12; RX: status at 12),
/// the length (both at 8), the RX errors byte (13).
pub const DESC_LENGTH: usize = 8;
pub const DESC_STATUS: usize = 12;
pub const RX_DESC_ERRORS: usize = 13;

/// A legacy transmit descriptor: one buffer, the whole frame, FCS inserted, status reported.
pub fn tx_descriptor(address: u64, len: u16) -> [u8; DESC_BYTES] {
    let mut d = [0u8; DESC_BYTES];
    d[..8].copy_from_slice(&address.to_le_bytes());
    d[DESC_LENGTH..DESC_LENGTH + 2].copy_from_slice(&len.to_le_bytes());
    d[11] = TX_CMD_EOP | TX_CMD_IFCS | TX_CMD_RS;
    d
}

/// A legacy receive descriptor handed to the device: its buffer, status cleared.
pub fn rx_descriptor(address: u64) -> [u8; DESC_BYTES] {
    let mut d = [0u8; DESC_BYTES];
    d[..8].copy_from_slice(&address.to_le_bytes());
    d
}
