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
//! [`PerProcess`] holds such a value; the tokio runtime of `storage` uses it too.
//!
//! ```text
//! POOL ──► (pid 4711, pool)                      parent: used as is
//!          after fork, child (pid 4712) sees 4711 ≠ 4712 → builds a new pool, swaps it in
//! ```

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// A value built lazily once per process: a process that finds the value of another process id
/// (inherited through `fork()`) builds its own and leaks the inherited one, whose threads do not
/// exist in the child. A value that was ever stored is never freed, so references are 'static.
pub(crate) struct PerProcess<T: 'static> {
    slot: AtomicPtr<(u32, T)>,
}

impl<T: Send + Sync + 'static> PerProcess<T> {
    pub(crate) const fn new() -> Self {
        Self { slot: AtomicPtr::new(ptr::null_mut()) }
    }

    /// This process's value, built by `build` on first use (and again in a forked child).
    pub(crate) fn get(&self, build: impl Fn() -> T) -> &'static T {
        let pid = std::process::id();
        loop {
            let seen = self.slot.load(Ordering::Acquire);
            // SAFETY: a non-null pointer in the slot came from `Box::into_raw` below and is never
            // freed, so it is valid for 'static; the pair is only read through shared references.
            if let Some((owner, value)) = unsafe { seen.as_ref() } {
                if *owner == pid {
                    return value;
                }
            }
            let fresh = Box::into_raw(Box::new((pid, build())));
            match self.slot.compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire) {
                // The inherited value (if any) is leaked on purpose, see the module comment.
                // SAFETY: `fresh` is now in the slot, hence never freed.
                Ok(_) => return unsafe { &(*fresh).1 },
                // Another thread of this process got there first: use its value, drop ours (a
                // pool or runtime of this process whose workers are idle just stops them).
                // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
                Err(_) => drop(unsafe { Box::from_raw(fresh) }),
            }
        }
    }
}

/// The pool of the process that built it.
static POOL: PerProcess<ThreadPool> = PerProcess::new();

/// The calling process's pool, built on first use (and again in a forked child).
fn current() -> &'static ThreadPool {
    POOL.get(build)
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
