//! The async side of object storage: one tokio runtime per process, and the stores built on it
//! (one per bucket, reused), which the rest of the engine enters through [`block_on`].
//!
//! Like [`crate::pool`], the runtime is tagged with the id of the process that built it: a child
//! after `fork()` finds another id, builds its own runtime and stores, and leaks the inherited
//! ones (their worker threads do not exist in the child, and their connections belong to the
//! parent). `memory://` stores are plain data, not tied to a runtime: they live once per process
//! image, so a save then a load in one process (or a forked child) see the same objects.
//!
//! Callers block on the runtime from their own threads (Python threads with the GIL released,
//! the engine's rayon workers), never from one of the runtime's workers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use object_store::memory::InMemory;
use object_store::{ObjectStore, RetryConfig};
use tokio::runtime::{Builder, Runtime};

use crate::pool::PerProcess;

struct ProcessRuntime {
    runtime: Runtime,
    /// Stores by `scheme://bucket` and configuration.
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

/// The runtime of the process that built it.
static RUNTIME: PerProcess<ProcessRuntime> = PerProcess::new();

/// `memory://<bucket>` stores, one per bucket name.
static MEMORY: LazyLock<Mutex<HashMap<String, Arc<InMemory>>>> = LazyLock::new(Default::default);

fn current() -> &'static ProcessRuntime {
    RUNTIME.get(|| ProcessRuntime { runtime: build(), stores: Mutex::default() })
}

fn build() -> Runtime {
    // TLS through rustls with the `ring` provider; installing fails harmlessly when another
    // library of the process installed one first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fastckpt-io")
        .enable_all()
        .build()
        .or_else(|_| Builder::new_current_thread().enable_all().build());
    match runtime {
        Ok(runtime) => runtime,
        Err(e) => panic!("fastckpt cannot start its I/O runtime: {e}"),
    }
}

/// Runs `future` to completion on the process's runtime, blocking the calling thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    current().runtime.block_on(future)
}

/// Starts `future` on the runtime without waiting for it (clean-up after a failure).
pub fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
    drop(current().runtime.spawn(future));
}

/// Runs `op` inside the runtime's context (for APIs that spawn tasks from synchronous code).
pub fn enter<R>(op: impl FnOnce() -> R) -> R {
    let _guard = current().runtime.enter();
    op()
}

/// The store of `scheme://bucket`, built on first use with `build` (or the process-wide memory
/// store for `memory`). A store is reused while the environment variables it was configured from
/// (those starting with `env_prefix`) stay the same.
pub fn store(
    scheme: &str,
    bucket: &str,
    env_prefix: &str,
    build: impl FnOnce(RetryConfig) -> object_store::Result<Arc<dyn ObjectStore>>,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    if scheme == "memory" {
        let mut stores = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
        return Ok(stores.entry(bucket.to_owned()).or_insert_with(|| Arc::new(InMemory::new())).clone());
    }
    let mut config: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with(env_prefix)).collect();
    config.sort();
    let key = format!("{scheme}://{bucket} {config:?}");
    let mut stores = current().stores.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(store) = stores.get(&key) {
        return Ok(store.clone());
    }
    // Building reads credentials and may start the HTTP client: inside the runtime's context.
    let store = enter(|| build(retry_config()))?;
    stores.insert(key, store.clone());
    Ok(store)
}

/// The crate's retry policy (exponential backoff on throttling, 5xx and connection errors),
/// with its bounds adjustable by `FASTCKPT_STORAGE_MAX_RETRIES` and
/// `FASTCKPT_STORAGE_RETRY_TIMEOUT` (seconds).
fn retry_config() -> RetryConfig {
    let mut config = RetryConfig::default();
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<f64>().ok());
    if let Some(n) = var("FASTCKPT_STORAGE_MAX_RETRIES").filter(|n| *n >= 0.0) {
        #[allow(clippy::cast_possible_truncation, reason = "a small count from the environment")]
        let n = n as usize;
        config.max_retries = n;
    }
    if let Some(secs) = var("FASTCKPT_STORAGE_RETRY_TIMEOUT").filter(|s| s.is_finite() && *s >= 0.0) {
        config.retry_timeout = Duration::from_secs_f64(secs);
    }
    config
}
