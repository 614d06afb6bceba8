//! A steady read (the checkpoint open, its data file open, the tensor verified once) of a tensor
//! into memory the caller owns allocates nothing in the engine: its plan borrows the dims and
//! the data file the reader worked out at open. A restore loop calls it once per tensor.

#![allow(clippy::unwrap_used)] // test code, not data paths

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fastckpt::bundle::writer::Payload;
use fastckpt::{BundleReader, BundleWriter, DataType};

/// The system allocator, counting the allocations of the thread that asked for it.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator as it is; the counters are const
// thread-locals, which allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.get() {
            ALLOCATIONS.set(ALLOCATIONS.get() + 1);
        }
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCATIONS.set(0);
    COUNTING.set(true);
    f();
    COUNTING.set(false);
    ALLOCATIONS.get()
}

#[test]
fn a_steady_planned_read_allocates_nothing() {
    let dir = std::env::temp_dir().join(format!("fastckpt-steady-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("p");
    let values: Vec<u8> = (0..4 * 2 * 3 * 512).map(|i| (i % 251) as u8).collect();
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    w.add(b"scalar", DataType::INT64, &[], Payload::Fixed(&7i64.to_le_bytes())).unwrap();
    w.add(b"w", DataType::FLOAT, &[2, 3, 512], Payload::Fixed(&values)).unwrap();
    w.finish().unwrap();

    let r = BundleReader::open(&prefix, true).unwrap();
    for (key, shape, expected) in [(&b"w"[..], &[2, 3, 512][..], &values[..]), (b"scalar", &[], &7i64.to_le_bytes())] {
        let mut out = vec![0u8; expected.len()];
        // The first read opens the data file and checks the crc32c.
        r.read_into(key, &mut out).unwrap();
        out.fill(0);
        let made = allocations(|| {
            for _ in 0..3 {
                let plan = r.plan(key).unwrap().unwrap();
                assert_eq!((plan.shape(), plan.byte_size()), (shape, expected.len()));
                if !r.read_planned_cached(key, &plan, &mut out).unwrap() {
                    r.read_planned(key, &plan, &mut out).unwrap();
                }
            }
        });
        assert_eq!(out, expected);
        assert_eq!(made, 0, "a steady read of {:?} allocated {made} times", String::from_utf8_lossy(key));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
