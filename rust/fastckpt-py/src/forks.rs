//! Forking while other threads work without the GIL. `fork()` copies only the calling thread: a
//! lock another thread held at that instant, or a lazily decoded message it was part-way through
//! decoding, stays taken in the child for good, and the child hangs the first time it touches it.
//! So glue code that holds shared state (a message tree, a graph, a reader, a writer) with the GIL
//! released runs inside a [`Section`], and a fork, through `os.register_at_fork`, closes the gate
//! and waits until the sections in progress have ended. Sections that start meanwhile wait at the
//! gate (holding nothing) until the fork is done.
//!
//! ```text
//!   thread A   ──enter──[ encode: message lock held, lazy fields decoded ]──leave──
//!   thread B   os.fork(): close ····· wait for A ·····················─┘ fork() open
//!   thread C                      enter: waits at the closed gate ·················──[ … ]
//! ```
//!
//! The gate is two atomics, not a mutex: the child must never find the gate itself taken.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use pyo3::prelude::*;

/// Sections in progress, across threads (a thread's nested sections count once).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Set while a fork is under way.
static CLOSED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// How deep this thread is in sections: a nested one must not wait at a gate its outer one
    /// keeps a fork waiting behind.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// One thread's stay in a section; ends when dropped, on the thread that entered.
pub struct Section {
    _same_thread: PhantomData<*const ()>,
}

/// Enters a section, first waiting (with the GIL released) for a fork under way to finish.
pub fn enter(py: Python<'_>) -> Section {
    let depth = DEPTH.get();
    if depth == 0 {
        while !try_enter() {
            py.detach(|| pause_while(|| CLOSED.load(SeqCst)));
        }
    }
    DEPTH.set(depth + 1);
    Section { _same_thread: PhantomData }
}

/// Counts this thread in unless the gate is closed. Both sides use sequentially consistent
/// operations, so a fork that closes the gate sees this count, or this thread sees it closed.
fn try_enter() -> bool {
    ACTIVE.fetch_add(1, SeqCst);
    if CLOSED.load(SeqCst) {
        ACTIVE.fetch_sub(1, SeqCst);
        return false;
    }
    true
}

impl Drop for Section {
    fn drop(&mut self) {
        let depth = DEPTH.get() - 1;
        DEPTH.set(depth);
        if depth == 0 {
            ACTIVE.fetch_sub(1, SeqCst);
        }
    }
}

/// Sleeps in growing steps (up to a millisecond) while `busy` holds: waits here last as long as
/// a section or a fork, which is rare and short, and need no lock that a fork could copy taken.
fn pause_while(busy: impl Fn() -> bool) {
    let mut step = Duration::from_micros(20);
    while busy() {
        std::thread::sleep(step);
        step = (step * 2).min(Duration::from_millis(1));
    }
}

/// `os.register_at_fork(before=...)`: closes the gate and waits for the sections in progress.
#[pyfunction]
fn close_for_fork(py: Python<'_>) {
    CLOSED.store(true, SeqCst);
    // A fork from inside a section (Python code run by one) does not wait for itself.
    let own = usize::from(DEPTH.get() > 0);
    py.detach(|| pause_while(|| ACTIVE.load(SeqCst) > own));
}

/// `os.register_at_fork(after_in_parent=..., after_in_child=...)`: opens the gate again.
#[pyfunction]
fn open_after_fork() {
    CLOSED.store(false, SeqCst);
}

/// Registers the gate's handlers with `os.register_at_fork` (absent where there is no fork).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let os = py.import("os")?;
    if !os.hasattr("register_at_fork")? {
        return Ok(());
    }
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("before", wrap_pyfunction!(close_for_fork, m)?)?;
    let open = wrap_pyfunction!(open_after_fork, m)?;
    kwargs.set_item("after_in_parent", &open)?;
    kwargs.set_item("after_in_child", &open)?;
    os.call_method("register_at_fork", (), Some(&kwargs))?;
    Ok(())
}
