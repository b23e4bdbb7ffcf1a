//! The heap (feature `heap`): `alloc` for components that need it, on memory from MEMORY_GROW.
//!
//! One `buddy_system_allocator::Heap` behind a spin lock (a component is one thread; the lock
//! only makes the static `Sync`): allocation and free in O(log n) whatever the number of live
//! blocks (a first-fit list allocator walked thousands of small blocks per allocation in
//! `services_storage`). When an allocation does not fit, the heap grows by at least
//! [`GROW_STEP`] through MEMORY_GROW, and the new pages are added to it. Out of memory (the entry's
//! `memory_limit` ends the process first; a full machine returns `NoMemory`) is a null return:
//! the `alloc` error handler then panics with a message.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};

use buddy_system_allocator::Heap;
use spin::Mutex;

/// The least the heap grows by (bytes; a multiple of `abi::PAGE_SIZE`).
pub const GROW_STEP: usize = 256 * 1024;

/// Buddy orders: blocks up to 2^(ORDER-1) bytes (one growth of 64 MiB fits).
const ORDER: usize = 32;

/// The allocator type behind `#[global_allocator]`.
pub struct GrowingHeap(Mutex<Heap<ORDER>>);

impl GrowingHeap {
    /// An empty heap; the first allocation grows it.
    pub const fn new() -> GrowingHeap {
        GrowingHeap(Mutex::new(Heap::new()))
    }
}

impl Default for GrowingHeap {
    fn default() -> Self {
        Self::new()
    }
}

fn grow(heap: &mut Heap<ORDER>, layout: Layout) -> bool {
    let page = abi::PAGE_SIZE as usize;
    // A buddy block is a power of two aligned to its size: ask for twice the need.
    let want = 2 * layout.size().max(layout.align()).next_power_of_two();
    let bytes = want.max(GROW_STEP).div_ceil(page) * page;
    let Ok(addr) = crate::memory_grow(bytes as u64) else {
        return false;
    };
    // SAFETY: MEMORY_GROW just mapped `bytes` zeroed, writable bytes at `addr` that nothing
    // else uses; they belong to the heap from now on.
    unsafe { heap.add_to_heap(addr as usize, addr as usize + bytes) };
    true
}

// SAFETY: allocations come from the buddy `Heap`, which hands out disjoint, aligned blocks
// from memory it owns; `dealloc` returns exactly what `alloc` gave, with its layout.
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        loop {
            if let Ok(p) = heap.alloc(layout) {
                return p.as_ptr();
            }
            if !grow(&mut heap, layout) {
                return null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: the caller passes a block this allocator returned, with its layout.
            unsafe { self.0.lock().dealloc(p, layout) };
        }
    }
}

/// Rust's prebuilt `alloc` for the components' target (`x86_64-unknown-linux-gnu`) was compiled
/// with unwinding and references this libgcc symbol on its cleanup paths. Components are built
/// with `panic = "abort"`, so no unwind ever starts and those paths never run; if one did, the
/// component ends as a panic would.
#[cfg(pandagen_component)]
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    crate::exit(abi::EXIT_PANIC)
}
