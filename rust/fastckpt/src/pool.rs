//! The engine's worker threads: one rayon pool per process, which every parallel path enters
//! through [`install`] or [`join`] (never rayon's global pool).
//!
//! Why not the global pool: `fork()` copies only the calling thread, so a child inherits a pool
//! whose workers do not exist, and its first parallel call waits for them forever. PyTorch's
//! DataLoader workers and `multiprocessing`'s fork start method do exactly that. Here the pool
//! is tagged with the id of the process that built it; a process that finds another id builds
//! its own pool and leaks the inherited one (its threads are gone, and dropping it would wait on
//! them).
//!
//! ```text
//! POOL ──► ProcessPool { pid: 4711, pool }      parent: used as is
//!          after fork, child (pid 4712) sees 4711 ≠ 4712 → builds a new ProcessPool, swaps it in
//! ```

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use rayon::{ThreadPool, ThreadPoolBuilder};

struct ProcessPool {
    pid: u32,
    pool: ThreadPool,
}

/// The pool of the process that stored it; null until the first parallel call. A pointer that
/// was ever stored here is never freed.
static POOL: AtomicPtr<ProcessPool> = AtomicPtr::new(ptr::null_mut());

/// The calling process's pool, built on first use (and again in a forked child).
fn current() -> &'static ThreadPool {
    let pid = std::process::id();
    loop {
        let seen = POOL.load(Ordering::Acquire);
        // SAFETY: a non-null pointer in POOL came from `Box::into_raw` below and is never freed,
        // so it is valid for 'static; `ProcessPool` is only read through shared references.
        if let Some(existing) = unsafe { seen.as_ref() } {
            if existing.pid == pid {
                return &existing.pool;
            }
        }
        let fresh = Box::into_raw(Box::new(ProcessPool { pid, pool: build() }));
        match POOL.compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // The inherited pool (if any) is leaked on purpose, see the module comment.
            // SAFETY: `fresh` is now in POOL, hence never freed.
            Ok(_) => return unsafe { &(*fresh).pool },
            Err(_) => {
                // Another thread of this process got there first: use its pool, drop ours (its
                // workers are alive and idle, so dropping it just stops them).
                // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
    }
}

fn build() -> ThreadPool {
    let builder = ThreadPoolBuilder::new().thread_name(|i| format!("fastckpt-{i}"));
    match builder.build() {
        Ok(pool) => pool,
        // Spawning threads failed (resource limits): a pool of one thread still runs everything,
        // and if even that fails there is nothing sensible left to do but stop.
        Err(_) => match ThreadPoolBuilder::new().num_threads(1).build() {
            Ok(pool) => pool,
            Err(e) => panic!("fastckpt cannot start a worker thread: {e}"),
        },
    }
}

/// Runs `op` inside this process's pool, so that rayon's parallel iterators in it use the pool's
/// workers. Already on one of them, `op` just runs.
pub fn install<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    current().install(op)
}

/// `rayon::join` on this process's pool.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    install(|| rayon::join(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn work_runs_on_the_engine_pool() {
        let names: Vec<String> = install(|| {
            (0..64).into_par_iter().map(|_| std::thread::current().name().unwrap_or("").to_owned()).collect()
        });
        assert!(names.iter().all(|n| n.starts_with("fastckpt-")), "{names:?}");
        let (a, b) = join(|| 1, || 2);
        assert_eq!((a, b), (1, 2));
        assert!(ptr::eq(current(), current()));
    }
}
