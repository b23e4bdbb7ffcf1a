//! The heap (feature `heap`): `alloc` for components that need it, on memory from MEMORY_GROW.
//!
//! One `linked_list_allocator::Heap` behind a spin lock (a component is one thread; the lock
//! only makes the static `Sync`). When an allocation does not fit, the heap grows by at least
//! [`GROW_STEP`] through MEMORY_GROW, whose pages always follow the previous growth, so the
//! heap stays one contiguous range and `extend` applies. Out of memory (the entry's
//! `memory_limit` ends the process first; a full machine returns `NoMemory`) is a null return:
//! the `alloc` error handler then panics with a message.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};

use linked_list_allocator::Heap;
use spin::Mutex;

/// The least the heap grows by (bytes; a multiple of `abi::PAGE_SIZE`).
pub const GROW_STEP: usize = 256 * 1024;

/// The allocator type behind `#[global_allocator]`.
pub struct GrowingHeap(Mutex<Heap>);

impl GrowingHeap {
    /// An empty heap; the first allocation grows it.
    pub const fn new() -> GrowingHeap {
        GrowingHeap(Mutex::new(Heap::empty()))
    }
}

impl Default for GrowingHeap {
    fn default() -> Self {
        Self::new()
    }
}

fn grow(heap: &mut Heap, layout: Layout) -> bool {
    let page = abi::PAGE_SIZE as usize;
    let want = layout.size() + layout.align() + 64;
    let bytes = want.max(GROW_STEP).div_ceil(page) * page;
    let Ok(addr) = crate::memory_grow(bytes as u64) else {
        return false;
    };
    if heap.size() == 0 {
        // SAFETY: MEMORY_GROW just mapped `bytes` zeroed, writable bytes at `addr` that
        // nothing else uses; they belong to the heap from now on.
        unsafe { heap.init(addr as *mut u8, bytes) };
    } else {
        debug_assert_eq!(addr as usize, heap.top() as usize, "growth not contiguous");
        // SAFETY: the new pages start at the heap's top (MEMORY_GROW maps right after the
        // previous growth, and only the heap grows memory) and are unused.
        unsafe { heap.extend(bytes) };
    }
    true
}

// SAFETY: allocations come from `Heap`, which hands out disjoint, suitably aligned blocks
// from memory it owns; `dealloc` returns exactly what `alloc` gave, with its layout.
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        loop {
            if let Ok(p) = heap.allocate_first_fit(layout) {
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
            unsafe { self.0.lock().deallocate(p, layout) };
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
