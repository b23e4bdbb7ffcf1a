//! The network frame calls' state, apart from the machine so that it is host-tested: the
//! devices by name (`eth0`, … — a name whose NIC did not come up has no device), each with
//! the one frame the kernel took off the NIC to see whether a waiter is due (the rest stay in
//! the NIC's own receive ring, where the DMA put them), the processes
//! blocked in NET_RECV with their deadlines, and the mapping of driver errors to the ABI's.
//! `net_calls` puts it behind a lock and adds the user copies and the blocking.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use abi::net::{Info, MAX_FRAME};
use abi::Error;
use drivers::net::{NetDevice, NetError};

use super::Pid;

/// The Ethernet MTU every device has (no jumbo frames).
pub const MTU: u16 = 1500;

/// One device name and, if its NIC came up, the device.
struct Port {
    name: String,
    device: Option<Box<dyn NetDevice + Send>>,
    /// A frame polled off the device for a waiter, not yet read.
    pending: Option<Vec<u8>>,
}

/// A process blocked in NET_RECV.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Waiter {
    pid: Pid,
    port: usize,
    deadline_us: u64,
}

/// The devices and the waiters.
#[derive(Default)]
pub struct Net {
    ports: Vec<Port>,
    waiters: Vec<Waiter>,
}

/// Whether the caller may use device `name`: it is one of its granted `network_device`s.
///
/// # Errors
/// [`Error::Denied`] otherwise (a process without the capability is refused by name).
pub fn check_granted(granted: &[String], name: &str) -> Result<(), Error> {
    if granted.iter().any(|g| g == name) {
        Ok(())
    } else {
        Err(Error::Denied)
    }
}

/// A driver error as the ABI's: frame sizes are [`Error::BadLength`], a link down
/// [`Error::NotFound`] (no one to send to), a stalled ring [`Error::Timeout`], a device gone or
/// broken [`Error::Unsupported`].
pub fn to_abi(e: NetError) -> Error {
    match e {
        NetError::FrameTooLarge { .. }
        | NetError::FrameTooShort { .. }
        | NetError::BufferTooSmall { .. } => Error::BadLength,
        NetError::LinkDown => Error::NotFound,
        NetError::TxTimeout { .. } | NetError::QueueFull => Error::Timeout,
        NetError::Removed | NetError::Device(_) => Error::Unsupported,
    }
}

impl Net {
    /// Every name in `names` (in order), with the devices of those in `devices` that came up.
    pub fn new(names: Vec<String>, devices: Vec<(String, Box<dyn NetDevice + Send>)>) -> Net {
        let mut ports: Vec<Port> = names
            .into_iter()
            .map(|name| Port {
                name,
                device: None,
                pending: None,
            })
            .collect();
        for (name, device) in devices {
            if let Some(port) = ports.iter_mut().find(|p| p.name == name) {
                port.device = Some(device);
            }
        }
        Net {
            ports,
            waiters: Vec::new(),
        }
    }

    /// The index of device `name`, if it has a working driver.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a name the machine does not have; [`Error::Unsupported`] for a
    /// device without a working driver.
    pub fn port(&self, name: &str) -> Result<usize, Error> {
        let i = self
            .ports
            .iter()
            .position(|p| p.name == name)
            .ok_or(Error::NotFound)?;
        match self.ports[i].device {
            Some(_) => Ok(i),
            None => Err(Error::Unsupported),
        }
    }

    fn device(&mut self, port: usize) -> Result<&mut (dyn NetDevice + Send + 'static), Error> {
        self.ports
            .get_mut(port)
            .and_then(|p| p.device.as_deref_mut())
            .ok_or(Error::Unsupported)
    }

    /// NET_INFO's record for `port`.
    ///
    /// # Errors
    /// As [`Net::port`].
    pub fn info(&mut self, port: usize) -> Result<Info, Error> {
        let device = self.device(port)?;
        Ok(Info {
            mac: device.mac_address().0,
            link_up: device.link_up(),
            mtu: MTU,
        })
    }

    /// Sends `frame` on `port`.
    ///
    /// # Errors
    /// The driver's error through [`to_abi`].
    pub fn send(&mut self, port: usize, frame: &[u8]) -> Result<(), Error> {
        self.device(port)?.transmit(frame).map_err(to_abi)
    }

    /// Moves the next frame of `port` into `buf` (the pending one, else the device's);
    /// `None` when there is none. A frame is always taken off the device whole (into a
    /// [`MAX_FRAME`] buffer), so one that does not fit `buf` is never lost, whatever the
    /// driver does with short buffers.
    ///
    /// # Errors
    /// [`Error::BadLength`] when it does not fit `buf` (it stays pending); the driver's
    /// errors through [`to_abi`].
    pub fn take(&mut self, port: usize, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        if !self.fetch(port)? {
            return Ok(None);
        }
        let p = self.ports.get_mut(port).ok_or(Error::Unsupported)?;
        let Some(frame) = p.pending.take_if(|f| f.len() <= buf.len()) else {
            return Err(Error::BadLength);
        };
        buf[..frame.len()].copy_from_slice(&frame);
        Ok(Some(frame.len()))
    }

    /// Whether `port` has a frame pending, taking one off the device if none is.
    ///
    /// # Errors
    /// [`Error::Unsupported`] without a device; the driver's errors through [`to_abi`].
    fn fetch(&mut self, port: usize) -> Result<bool, Error> {
        let p = self.ports.get_mut(port).ok_or(Error::Unsupported)?;
        if p.pending.is_some() {
            return Ok(true);
        }
        let device = p.device.as_deref_mut().ok_or(Error::Unsupported)?;
        let mut frame = vec![0u8; MAX_FRAME];
        let Some(n) = device.receive(&mut frame).map_err(to_abi)? else {
            return Ok(false);
        };
        frame.truncate(n);
        p.pending = Some(frame);
        Ok(true)
    }

    /// Whether `port` has a frame waiting ([`Net::fetch`]); errors count as no frame (the
    /// reader sees them when it takes).
    fn poll(&mut self, port: usize) -> bool {
        self.fetch(port).unwrap_or(false)
    }

    /// `pid` waits in NET_RECV on `port` until `deadline_us` (replacing an earlier wait).
    pub fn wait(&mut self, pid: Pid, port: usize, deadline_us: u64) {
        self.stop_waiting(pid);
        self.waiters.push(Waiter {
            pid,
            port,
            deadline_us,
        });
    }

    /// `pid` no longer waits (it got a frame, timed out, or ended).
    pub fn stop_waiting(&mut self, pid: Pid) {
        self.waiters.retain(|w| w.pid != pid);
    }

    /// Whether anyone waits (the timer's check costs nothing otherwise).
    pub fn has_waiters(&self) -> bool {
        !self.waiters.is_empty()
    }

    /// The waiters to wake at `now_us`: those whose device has a frame (polled here, once per
    /// device) or whose deadline has passed. They stop waiting.
    pub fn due(&mut self, now_us: u64) -> Vec<Pid> {
        let mut ready = vec![false; self.ports.len()];
        let ports: Vec<usize> = self.waiters.iter().map(|w| w.port).collect();
        for port in ports {
            if !ready.get(port).copied().unwrap_or(true) {
                ready[port] = self.poll(port);
            }
        }
        let mut wake = Vec::new();
        self.waiters.retain(|w| {
            let due = w.deadline_us <= now_us || ready.get(w.port).copied().unwrap_or(true);
            if due {
                wake.push(w.pid);
            }
            !due
        });
        wake
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::VecDeque;
    use alloc::string::ToString;
    use drivers::net::MacAddress;
    use std::sync::{Arc, Mutex};

    /// A NIC whose received frames the test queues.
    struct Fake {
        rx: Arc<Mutex<VecDeque<Vec<u8>>>>,
        sent: Arc<Mutex<Vec<Vec<u8>>>>,
        link: bool,
    }

    impl NetDevice for Fake {
        fn mac_address(&self) -> MacAddress {
            MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        }
        fn link_up(&mut self) -> bool {
            self.link
        }
        fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
            drivers::net::check_frame_len(frame.len())?;
            if !self.link {
                return Err(NetError::LinkDown);
            }
            self.sent.lock().unwrap().push(frame.to_vec());
            Ok(())
        }
        fn receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>, NetError> {
            let mut rx = self.rx.lock().unwrap();
            let Some(frame) = rx.front() else {
                return Ok(None);
            };
            let need = frame.len();
            if need > buf.len() {
                return Err(NetError::BufferTooSmall {
                    len: buf.len(),
                    need,
                });
            }
            buf[..need].copy_from_slice(frame);
            rx.pop_front();
            Ok(Some(need))
        }
    }

    type Rx = Arc<Mutex<VecDeque<Vec<u8>>>>;
    type Sent = Arc<Mutex<Vec<Vec<u8>>>>;

    /// eth0 with a fake NIC, eth1 named but without a driver.
    fn net() -> (Net, Rx, Sent) {
        let rx = Rx::default();
        let sent = Sent::default();
        let fake = Fake {
            rx: rx.clone(),
            sent: sent.clone(),
            link: true,
        };
        let names = vec!["eth0".to_string(), "eth1".to_string()];
        let net = Net::new(names, vec![("eth0".to_string(), Box::new(fake))]);
        (net, rx, sent)
    }

    #[test]
    fn only_granted_devices_are_reachable() {
        let granted = ["eth0".to_string()];
        assert_eq!(check_granted(&granted, "eth0"), Ok(()));
        assert_eq!(check_granted(&granted, "eth1"), Err(Error::Denied));
        assert_eq!(check_granted(&[], "eth0"), Err(Error::Denied));
    }

    #[test]
    fn names_without_a_driver_are_unsupported_and_unknown_names_not_found() {
        let (mut net, _, _) = net();
        let eth0 = net.port("eth0").unwrap();
        assert_eq!(net.port("eth1"), Err(Error::Unsupported));
        assert_eq!(net.port("wlan0"), Err(Error::NotFound));
        let info = net.info(eth0).unwrap();
        assert_eq!(info.mac, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert!(info.link_up);
        assert_eq!(info.mtu, 1500);
    }

    #[test]
    fn send_checks_sizes_through_the_driver() {
        let (mut net, _, sent) = net();
        assert_eq!(net.send(0, &[0xff; 42]), Ok(()));
        assert_eq!(net.send(0, &[0; 13]), Err(Error::BadLength));
        assert_eq!(net.send(0, &[0; MAX_FRAME + 1]), Err(Error::BadLength));
        assert_eq!(sent.lock().unwrap().len(), 1);
        assert_eq!(to_abi(NetError::LinkDown), Error::NotFound);
    }

    #[test]
    fn waiters_wake_on_a_frame_or_their_deadline() {
        let (mut net, rx, _) = net();
        net.wait(7, 0, 1_000);
        net.wait(8, 0, 5_000);
        assert!(net.due(500).is_empty(), "no frame, no deadline yet");
        assert_eq!(net.due(1_000), [7], "deadline");
        rx.lock().unwrap().push_back(vec![1; 60]);
        assert_eq!(net.due(1_001), [8], "a frame");
        assert!(!net.has_waiters());
        // The frame the poll took waits for the reader.
        let mut buf = [0u8; MAX_FRAME];
        assert_eq!(net.take(0, &mut buf), Ok(Some(60)));
        assert_eq!(net.take(0, &mut buf), Ok(None));
    }

    #[test]
    fn a_pending_frame_that_does_not_fit_stays_pending() {
        let (mut net, rx, _) = net();
        rx.lock().unwrap().push_back(vec![2; 100]);
        net.wait(7, 0, u64::MAX);
        assert_eq!(net.due(0), [7]);
        let mut small = [0u8; 64];
        assert_eq!(net.take(0, &mut small), Err(Error::BadLength));
        let mut buf = [0u8; 128];
        assert_eq!(net.take(0, &mut buf), Ok(Some(100)));
        assert_eq!(buf[99], 2);
        // Taken straight off the device into a small buffer: kept too.
        rx.lock().unwrap().push_back(vec![3; 100]);
        assert_eq!(net.take(0, &mut small), Err(Error::BadLength));
        assert!(rx.lock().unwrap().is_empty(), "off the device, pending");
        assert_eq!(net.take(0, &mut buf), Ok(Some(100)));
        assert_eq!(buf[99], 3);
    }

    #[test]
    fn a_process_waits_once() {
        let (mut net, _, _) = net();
        net.wait(7, 0, 10);
        net.wait(7, 0, 20);
        assert!(net.due(15).is_empty());
        net.stop_waiting(7);
        assert!(!net.has_waiters());
    }
}
