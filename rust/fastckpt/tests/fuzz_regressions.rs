//! The fuzz targets' bodies (`fuzz/src/lib.rs`, included as they are) run on the committed seeds
//! (`fuzz/seeds/<target>/`, written by TensorFlow) and on every input with which fuzzing once
//! found a panic, hang or runaway allocation (`tests/data/fuzz/<target>/`, minimized): each is
//! now read, written back and imported, or refused with an error, in every `cargo test`, with no
//! libFuzzer needed.

#![allow(clippy::unwrap_used)] // test helpers, not data paths

use std::path::{Path, PathBuf};

#[allow(dead_code)] // the libFuzzer entry points' helpers
#[path = "../../../fuzz/src/lib.rs"]
mod targets;

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("fastckpt-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// Runs every file under `root/<target>/` through its target; returns how many ran.
fn replay(root: &Path, name: &str) -> usize {
    let dir = scratch(name);
    let mut count = 0;
    for (target, run) in targets::TARGETS {
        let Ok(files) = std::fs::read_dir(root.join(target)) else { continue };
        let mut files: Vec<PathBuf> = files.map(|f| f.unwrap().path()).collect();
        files.sort();
        for file in files {
            eprintln!("{target}: {}", file.display());
            run(&std::fs::read(&file).unwrap(), &dir.0);
            count += 1;
        }
    }
    count
}

#[test]
fn seeds_written_by_tensorflow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    assert!(replay(&root, "seeds") >= targets::TARGETS.len());
}

#[test]
fn inputs_of_past_findings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    assert!(replay(&root, "findings") > 0);
}
