//! `services_network`'s pure parts, host-tested: [`arp`], the ARP request it sends for the
//! gateway and the reply it waits for.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod arp;
