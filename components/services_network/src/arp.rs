//! ARP over Ethernet for IPv4 (RFC 826): the request "who has `target`? tell `sender`" as a
//! whole broadcast Ethernet frame, and the reply that answers it.

use core::fmt;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// A request frame's length: the 14-byte Ethernet header and the 28-byte ARP packet (the NIC
/// pads it to 60 bytes).
pub const FRAME_LEN: usize = 42;
/// The broadcast Ethernet address.
pub const BROADCAST: [u8; 6] = [0xff; 6];

const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;
/// Hardware type Ethernet, protocol IPv4, address lengths 6 and 4.
const ETH_IPV4: [u8; 6] = [0x00, 0x01, 0x08, 0x00, 6, 4];

/// An IPv4 address, shown dotted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4(pub [u8; 4]);

impl fmt::Display for Ipv4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// An Ethernet address, shown as `52:54:00:12:34:56`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The broadcast frame asking who has `target`, from `mac`/`ip`.
pub fn request(mac: Mac, ip: Ipv4, target: Ipv4) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..20].copy_from_slice(&ETH_IPV4);
    f[20..22].copy_from_slice(&OP_REQUEST.to_be_bytes());
    f[22..28].copy_from_slice(&mac.0);
    f[28..32].copy_from_slice(&ip.0);
    // Target hardware address: unknown, zero.
    f[38..42].copy_from_slice(&target.0);
    f
}

/// If `frame` is the ARP reply telling `me` (`mac`/`ip`) where `target` is, its hardware
/// address; `None` for any other frame.
pub fn parse_reply(frame: &[u8], mac: Mac, ip: Ipv4, target: Ipv4) -> Option<Mac> {
    let f = frame.get(..FRAME_LEN)?;
    let is_arp = f[12..14] == ETHERTYPE_ARP.to_be_bytes() && f[14..20] == ETH_IPV4;
    let is_reply = f[20..22] == OP_REPLY.to_be_bytes();
    let for_me = (f[0..6] == mac.0 || f[0..6] == BROADCAST) && f[38..42] == ip.0;
    if !(is_arp && is_reply && for_me && f[28..32] == target.0) {
        return None;
    }
    let mut sender = [0u8; 6];
    sender.copy_from_slice(&f[22..28]);
    Some(Mac(sender))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const GW_MAC: Mac = Mac([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
    const IP: Ipv4 = Ipv4([10, 0, 2, 15]);
    const GW: Ipv4 = Ipv4([10, 0, 2, 2]);

    /// What QEMU's user-mode network answers to [`request`] (its first 42 bytes).
    fn reply() -> [u8; FRAME_LEN] {
        let mut f = [0u8; FRAME_LEN];
        f[0..6].copy_from_slice(&MAC.0);
        f[6..12].copy_from_slice(&GW_MAC.0);
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        f[14..20].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
        f[20..22].copy_from_slice(&[0, 2]);
        f[22..28].copy_from_slice(&GW_MAC.0);
        f[28..32].copy_from_slice(&GW.0);
        f[32..38].copy_from_slice(&MAC.0);
        f[38..42].copy_from_slice(&IP.0);
        f
    }

    #[test]
    fn the_request_is_a_broadcast_who_has() {
        let f = request(MAC, IP, GW);
        let expected: [u8; FRAME_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10,
            0, 2, 15, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2,
        ];
        assert_eq!(f, expected);
    }

    #[test]
    fn the_gateways_reply_gives_its_address() {
        assert_eq!(parse_reply(&reply(), MAC, IP, GW), Some(GW_MAC));
        // Padded to 60 bytes, as a NIC delivers it.
        let mut padded = [0u8; 60];
        padded[..FRAME_LEN].copy_from_slice(&reply());
        assert_eq!(parse_reply(&padded, MAC, IP, GW), Some(GW_MAC));
        assert_eq!(GW_MAC.to_string(), "52:55:0a:00:02:02");
        assert_eq!(GW.to_string(), "10.0.2.2");
    }

    #[test]
    fn other_frames_are_not_the_reply() {
        let r = reply();
        assert_eq!(parse_reply(&r[..41], MAC, IP, GW), None, "short");
        assert_eq!(
            parse_reply(&request(GW_MAC, GW, IP), MAC, IP, GW),
            None,
            "a request"
        );
        let mut ipv4 = r;
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(parse_reply(&ipv4, MAC, IP, GW), None, "not ARP");
        let mut other_host = r;
        other_host[28..32].copy_from_slice(&[10, 0, 2, 3]);
        assert_eq!(
            parse_reply(&other_host, MAC, IP, GW),
            None,
            "another sender"
        );
        let mut not_me = r;
        not_me[0..6].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 1]);
        assert_eq!(parse_reply(&not_me, MAC, IP, GW), None, "another host's");
    }
}
