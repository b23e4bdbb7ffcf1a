//! `t_fsbench`: the filesystem benchmark (`cargo xtask bench`, system `system/tests/fsbench.json`).
//! In one boot it measures the raw user-data throughput (USERDATA_WRITE/READ in 64 KiB calls
//! on the top 64 MiB of the region, which pgfs's first-fit allocator does not reach with one
//! 64 MiB file in a region of 192 MiB or more), then the same 64 MiB as one file through
//! `storage_api` (Open, Write in MAX_CHUNK pieces, Close; then Read back and compare), then
//! how fast empty files are created (only the I/O calls are timed, not making or checking the
//! data). It logs one `t_fsbench: ...` line with the numbers (the
//! benchmark reports them; nothing here asserts a speed), READY, and exits 0 (1 after an
//! ERROR line if an operation failed or the data read back differed).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use protocol::storage::{OpenFlags, Request, Response, MAX_CHUNK};
use runtime::abi::ipc::MAX_MESSAGE;

runtime::entry!(main);

const NAME: &str = "t_fsbench";
const BYTES: u64 = 64 << 20;
const RAW_CALL: usize = 64 * 1024;
const SMALL_FILES: u32 = 200;

/// The byte at `offset` of the test data.
fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn now_us() -> u64 {
    runtime::uptime().unwrap_or(0)
}

/// MiB/s × 10 (one decimal without floats in the log).
fn rate(bytes: u64, us: u64) -> u64 {
    bytes * 10 * 1_000_000 / us.max(1) / (1 << 20)
}

fn call<'r>(req: &Request<'_>, reply: &'r mut [u8]) -> Result<Response<'r>, &'static str> {
    let mut msg = alloc::vec![0u8; MAX_MESSAGE];
    let n = req.encode(&mut msg).map_err(|_| "encode")?;
    let len =
        testcases::ipc::call(protocol::storage::ENDPOINT, &msg[..n], reply).map_err(|_| "ipc")?;
    match Response::decode(&reply[..len]) {
        Ok(Response::Err(e, _)) => Err(e.as_str()),
        Ok(r) => Ok(r),
        Err(_) => Err("bad reply"),
    }
}

/// Microseconds spent in the timed calls only (making and checking the data are left out, so
/// the raw and the file numbers time the same thing: the I/O).
#[derive(Default)]
struct Stopwatch(u64);

impl Stopwatch {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = now_us();
        let r = f();
        self.0 += now_us().saturating_sub(t);
        r
    }
}

fn raw(write: bool) -> Result<u64, &'static str> {
    let blocks = runtime::userdata_info().map_err(|_| "USERDATA_INFO")?;
    let count = BYTES / 4096;
    let first = blocks.checked_sub(count).ok_or("region too small")?;
    let mut buf = alloc::vec![0u8; RAW_CALL];
    let per = (RAW_CALL / 4096) as u64;
    let mut sw = Stopwatch::default();
    for i in 0..count / per {
        let block = first + i * per;
        if write {
            buf.iter_mut()
                .enumerate()
                .for_each(|(j, b)| *b = pattern(block * 4096 + j as u64));
            sw.time(|| runtime::userdata_write(block, &buf))
                .map_err(|_| "USERDATA_WRITE")?;
        } else {
            sw.time(|| runtime::userdata_read(block, &mut buf))
                .map_err(|_| "USERDATA_READ")?;
        }
    }
    if write {
        sw.time(runtime::userdata_flush)
            .map_err(|_| "USERDATA_FLUSH")?;
    }
    Ok(sw.0)
}

fn open(path: &str, flags: OpenFlags) -> Result<u32, &'static str> {
    let mut reply = alloc::vec![0u8; MAX_MESSAGE];
    match call(&Request::Open { path, flags }, &mut reply)? {
        Response::Opened { handle, .. } => Ok(handle),
        _ => Err("unexpected reply to Open"),
    }
}

fn close(handle: u32) -> Result<(), &'static str> {
    let mut reply = alloc::vec![0u8; MAX_MESSAGE];
    call(&Request::Close { handle }, &mut reply).map(drop)
}

fn file_write() -> Result<u64, &'static str> {
    let mut sw = Stopwatch::default();
    let rw = OpenFlags::WRITE
        .with(OpenFlags::CREATE)
        .with(OpenFlags::TRUNCATE);
    let handle = sw.time(|| open("/bench.bin", rw))?;
    let mut data = alloc::vec![0u8; MAX_CHUNK];
    let mut reply = alloc::vec![0u8; MAX_MESSAGE];
    let mut offset = 0;
    while offset < BYTES {
        let n = (MAX_CHUNK as u64).min(BYTES - offset) as usize;
        data[..n]
            .iter_mut()
            .enumerate()
            .for_each(|(j, b)| *b = pattern(offset + j as u64));
        let req = Request::Write {
            handle,
            offset,
            data: &data[..n],
        };
        sw.time(|| call(&req, &mut reply).map(drop))?;
        offset += n as u64;
    }
    sw.time(|| close(handle))?;
    Ok(sw.0)
}

fn file_read() -> Result<u64, &'static str> {
    let mut sw = Stopwatch::default();
    let handle = sw.time(|| open("/bench.bin", OpenFlags::READ))?;
    let mut reply = alloc::vec![0u8; MAX_MESSAGE];
    let mut offset = 0;
    while offset < BYTES {
        let req = Request::Read {
            handle,
            offset,
            len: MAX_CHUNK as u32,
        };
        let mut msg = [0u8; 64];
        let len = req.encode(&mut msg).map_err(|_| "encode")?;
        let got =
            sw.time(|| testcases::ipc::call(protocol::storage::ENDPOINT, &msg[..len], &mut reply));
        let got = got.map_err(|_| "ipc")?;
        let d = match Response::decode(&reply[..got]) {
            Ok(Response::Data(d)) => d,
            Ok(Response::Err(e, _)) => return Err(e.as_str()),
            _ => return Err("unexpected reply to Read"),
        };
        let n = d.len();
        if n == 0 {
            return Err("file shorter than written");
        }
        if d.iter()
            .enumerate()
            .any(|(j, b)| *b != pattern(offset + j as u64))
        {
            return Err("data read back differs");
        }
        offset += n as u64;
    }
    sw.time(|| close(handle))?;
    Ok(sw.0)
}

fn small_files() -> Result<u64, &'static str> {
    let mut reply = alloc::vec![0u8; MAX_MESSAGE];
    call(&Request::Mkdir { path: "/small" }, &mut reply)?;
    let t = now_us();
    for i in 0..SMALL_FILES {
        let mut name = runtime::StackWriter::<32>::new();
        let _ = core::fmt::Write::write_fmt(&mut name, format_args!("/small/f{i}"));
        let excl = OpenFlags::WRITE
            .with(OpenFlags::CREATE)
            .with(OpenFlags::EXCLUSIVE);
        close(open(name.as_str(), excl)?)?;
    }
    Ok(now_us() - t)
}

fn run() -> Result<(), &'static str> {
    let raw_w = raw(true)?;
    let raw_r = raw(false)?;
    let fw = file_write()?;
    let fr = file_read()?;
    let small = small_files()?;
    let (rw, rr, w, r) = (
        rate(BYTES, raw_w),
        rate(BYTES, raw_r),
        rate(BYTES, fw),
        rate(BYTES, fr),
    );
    runtime::info!(
        "{NAME}: 64 MiB raw write {}.{} MiB/s, raw read {}.{} MiB/s; storage_api write {}.{} MiB/s ({}% of raw), read {}.{} MiB/s ({}% of raw); {} empty files created at {} files/s",
        rw / 10, rw % 10, rr / 10, rr % 10,
        w / 10, w % 10, w * 100 / rw.max(1),
        r / 10, r % 10, r * 100 / rr.max(1),
        SMALL_FILES,
        u64::from(SMALL_FILES) * 1_000_000 / small.max(1)
    );
    Ok(())
}

fn main() -> i32 {
    runtime::announce(NAME);
    let result = run();
    if let Err(e) = result {
        runtime::error!("{NAME}: {e}");
    }
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    i32::from(result.is_err())
}
