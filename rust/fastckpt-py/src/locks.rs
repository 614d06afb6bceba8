//! Taking the glue's locks without stalling Python: a lock that is busy is waited for with the
//! GIL released. (A thread that blocked on a lock while holding the GIL would stop every Python
//! thread until, say, a long `import_graph_def` — which holds the graph's lock without the GIL —
//! finished.) A poisoned lock only records a panic elsewhere; the data behind it stays usable.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use pyo3::Python;

use crate::forks;

/// `lock.read()`, waiting (if it must) with the GIL released.
pub fn read<'a, T: Send + Sync>(py: Python<'_>, lock: &'a RwLock<T>) -> RwLockReadGuard<'a, T> {
    loop {
        match lock.try_read() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                let _section = forks::enter(py);
                py.detach(|| drop(lock.read()))
            }
        }
    }
}

/// `lock.write()`, waiting (if it must) with the GIL released.
pub fn write<'a, T: Send + Sync>(py: Python<'_>, lock: &'a RwLock<T>) -> RwLockWriteGuard<'a, T> {
    loop {
        match lock.try_write() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                let _section = forks::enter(py);
                py.detach(|| drop(lock.write()))
            }
        }
    }
}
