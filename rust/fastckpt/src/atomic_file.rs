//! Replacing files so that readers see the old file whole or the new one whole, never a mix, and
//! optionally so that the new one survives a power loss.
//!
//! ```text
//! create   <dir>/<name>.tempstate-<host>-<pid>-<random>    written in the same folder, so the
//!                                                          rename never crosses filesystems
//! write    by the caller; [`AtomicFile::preallocate`] reserves the blocks of a large write ahead
//!          of it on ext4, which makes the write cheaper
//! commit   [fsync each file] → rename each over <dir>/<name>, in order → [fsync each folder]
//!          (on Linux an existing file is swapped out with RENAME_EXCHANGE and then removed)
//! drop     an uncommitted temporary file is removed
//! ```
//! The bracketed steps run with `sync`. A process that is killed leaves its temporary files
//! behind; the next [`AtomicFile::create`] for the same name removes those whose writer is gone:
//! the name carries the writer's host (a hash of its host name) and pid, and a file is removed only
//! when it was written on this host by a pid that no longer runs. On systems without `/proc`
//! nothing is removed. Files that TensorFlow leaves (`<name>.tempstate<digits>`) are never touched.
//!
//! The file replaced by a rename stays open until a background thread closes it: freeing the
//! blocks and cached pages of a large file can take longer than writing its successor. [`remove`]
//! deletes a file (an old checkpoint that retention drops) the same way.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What every temporary name has between the final name and the writer's host, pid and random.
const MARKER: &str = ".tempstate-";

/// A file being written under a temporary name, moved over its final name by [`commit`].
///
/// [`commit`]: AtomicFile::commit
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    file: File,
    /// Renamed into place: nothing to remove on drop.
    committed: bool,
}

impl AtomicFile {
    /// Creates an empty temporary file beside `path` (whose folder must exist), first removing
    /// temporary files of `path` that dead writers left (see the module notes).
    pub fn create(path: &Path) -> Result<Self> {
        remove_stale(path);
        let temp = temp_name(path);
        let file = File::create(&temp).map_err(|e| Error::io(path, e))?;
        Ok(AtomicFile { path: path.to_path_buf(), temp, file, committed: false })
    }

    /// The final name. Errors while writing name it, not the temporary file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open temporary file, to write to.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// The temporary file's own name, for writers that only take a path (the file committed is
    /// whatever is at this name then).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The temporary file's metadata (its permissions follow the umask).
    pub fn file_metadata(&self) -> Result<std::fs::Metadata> {
        self.file.metadata().map_err(|e| Error::io(&self.path, e))
    }

    /// Reserves disk blocks for the `len` bytes from `offset` that are about to be written, on
    /// ext4: a write into reserved blocks skips the per-block work of delayed allocation, which is
    /// most of what `write()` costs there besides the copy (see `benchmarks/README.md`, "Saves on
    /// disk"). The file's size is left alone, so it is always what was written. Best effort and
    /// nothing elsewhere: the writes that follow report any real error.
    pub fn preallocate(&self, offset: u64, len: u64) {
        #[cfg(target_os = "linux")]
        linux::preallocate(&self.file, offset, len);
        let _ = (offset, len);
    }

    /// Moves the file over its final name; see [`commit_all`].
    pub fn commit(self, sync: bool) -> Result<()> {
        commit_all(vec![self], sync)
    }
}

/// Moves every file over its final name, in the given order. With `sync`, each file's data is
/// flushed to the device before the first rename and each folder afterwards, so that after a power
/// loss the renamed files are there with their content. On an error, files not yet renamed are
/// removed.
///
/// The renames follow each other with nothing in between, and each is quick: a process killed
/// between two of them leaves a mix of old and new files, and this keeps that window to
/// microseconds. (On ext4, renaming over an existing file first flushes the new one, which takes
/// tens of milliseconds for a large file; a SIGKILL that arrives meanwhile takes effect after that
/// rename, before the next. See [`swap_in`].)
pub fn commit_all(mut files: Vec<AtomicFile>, sync: bool) -> Result<()> {
    // Open handles on the files about to be replaced: their blocks and cached pages are freed
    // when the last handle closes, which a background thread does after the renames.
    let replaced: Vec<Option<File>> = files
        .iter()
        .map(|f| File::open(&f.path).ok().filter(|old| old.metadata().is_ok_and(|m| m.is_file())))
        .collect();
    if sync {
        for f in &files {
            f.file.sync_all().map_err(|e| Error::io(&f.path, e))?;
        }
    }
    let mut exchanged = Vec::new();
    let renamed = files.iter_mut().zip(&replaced).try_for_each(|(f, old)| {
        if swap_in(&f.temp, &f.path, old.is_some()).map_err(|e| Error::io(&f.path, e))? {
            exchanged.push(f.temp.clone());
        }
        f.committed = true;
        Ok(())
    });
    for old in &exchanged {
        let _ = std::fs::remove_file(old);
    }
    // New files that replaced old ones: their writeback is started as ext4 starts it at a rename
    // over a file (an exchange does not), off the caller's path (it takes ~0.2 s per GiB).
    let flush: Vec<File> = if sync {
        Vec::new()
    } else {
        files
            .iter()
            .zip(&replaced)
            .filter(|(_, old)| old.is_some())
            .filter_map(|(f, _)| f.file.try_clone().ok())
            .collect()
    };
    let replaced: Vec<File> = replaced.into_iter().flatten().collect();
    if !replaced.is_empty() || !flush.is_empty() {
        in_background(move || {
            flush.iter().for_each(start_writeback);
            drop(replaced);
        });
    }
    renamed?;
    if sync {
        let mut folders: Vec<PathBuf> = files.iter().map(|f| folder_of(&f.path)).collect();
        folders.dedup();
        for folder in &folders {
            sync_folder(folder)?;
        }
    }
    Ok(())
}

/// Deletes the file at `path` now; its blocks and cached pages are freed by a background thread
/// (which closes the last handle), not by the caller. On tmpfs, freeing 256 MiB takes as long as
/// a third of writing them. What is not a regular file is just unlinked.
pub fn remove(path: &Path) -> std::io::Result<()> {
    let held = std::fs::symlink_metadata(path)?.is_file().then(|| File::open(path).ok()).flatten();
    std::fs::remove_file(path)?;
    if let Some(file) = held {
        in_background(move || drop(file));
    }
    Ok(())
}

/// Runs `work` on a thread of its own. Where no thread can be started, `work` is dropped here
/// unrun, and with it what it owns: the files it would close are closed on this thread.
fn in_background(work: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name("fastckpt-close".into()).spawn(work);
}

/// Puts `temp` at `path`. Over an existing file (`replacing`), Linux exchanges the two names
/// atomically (`renameat2(RENAME_EXCHANGE)`), which unlike a rename does not flush the new file
/// first, and returns `true`: the old file is then at `temp`, for the caller to remove. Elsewhere,
/// or where the filesystem cannot exchange, a plain rename.
fn swap_in(temp: &Path, path: &Path, replacing: bool) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    if replacing && linux::exchange(temp, path).is_ok() {
        return Ok(true);
    }
    let _ = replacing;
    std::fs::rename(temp, path).map(|()| false)
}

/// Starts (does not wait for) writing the file's cached pages to the device, as ext4 does when a
/// file is renamed over another: after a power loss, the new file's data is then as likely to be
/// there as with a plain rename. Best effort.
fn start_writeback(file: &File) {
    #[cfg(target_os = "linux")]
    linux::start_writeback(file);
    let _ = file;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CString;
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
        let a = CString::new(a.as_os_str().as_bytes())?;
        let b = CString::new(b.as_os_str().as_bytes())?;
        // SAFETY: both pointers are NUL-terminated strings that live until the call returns; the
        // kernel only reads them. The raw syscall avoids needing glibc's wrapper (2.28+).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    pub fn preallocate(file: &File, offset: u64, len: u64) {
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else { return };
        if on_ext4(file) {
            // SAFETY: the descriptor belongs to `file`, which is borrowed (open) for the whole
            // call; fallocate reads no memory of ours.
            let _ = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
        }
    }

    /// Whether `file` lives on an ext2/3/4 filesystem.
    pub fn on_ext4(file: &File) -> bool {
        let mut fs = std::mem::MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: the descriptor belongs to `file`, which is borrowed (open) for the whole call;
        // `fs` is writable memory of a statfs's size.
        let filled = unsafe { libc::fstatfs(file.as_raw_fd(), fs.as_mut_ptr()) } == 0;
        // SAFETY: read only once the kernel filled it.
        filled && unsafe { fs.assume_init_ref() }.f_type == 0xEF53 // EXT4_SUPER_MAGIC
    }

    pub fn start_writeback(file: &File) {
        // SAFETY: the descriptor belongs to `file`, which is borrowed (open) for the whole call;
        // sync_file_range reads no memory of ours.
        let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes the folder's entries (the renames) durable.
fn sync_folder(folder: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(folder).and_then(|dir| dir.sync_all()).map_err(|e| Error::io(folder, e))?;
    #[cfg(not(unix))]
    let _ = folder; // folders cannot be opened as files there; renames are durable once made
    Ok(())
}

/// `<path>.tempstate-<host>-<pid>-<random>`.
fn temp_name(path: &Path) -> PathBuf {
    let mut random = [0u8; 8];
    // A clock-derived fallback keeps names distinct enough if the OS has no entropy to give.
    let n = match getrandom::fill(&mut random) {
        Ok(()) => u64::from_le_bytes(random),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().rotate_left(30) ^ u64::from(d.subsec_nanos())),
    };
    let mut name = OsString::from(path.as_os_str());
    name.push(format!("{MARKER}{:08x}-{}-{n:016x}", host_tag().unwrap_or(0), std::process::id()));
    PathBuf::from(name)
}

/// A short tag of the host name: temporary files on a shared folder are judged only by the host
/// that wrote them. `None` where the host name cannot be read.
fn host_tag() -> Option<u32> {
    let name = std::fs::read("/proc/sys/kernel/hostname").ok()?;
    Some(crate::crc::value(name.trim_ascii()))
}

/// Whether process `pid` of this host (and pid namespace) runs; `None` when that cannot be known.
fn is_running(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

/// The host tag and pid in a temporary name of `file_name`, if `candidate` is one.
fn owner(file_name: &[u8], candidate: &[u8]) -> Option<(u32, u32)> {
    let rest = candidate.strip_prefix(file_name)?.strip_prefix(MARKER.as_bytes())?;
    let mut fields = std::str::from_utf8(rest).ok()?.split('-');
    let host = u32::from_str_radix(fields.next()?, 16).ok()?;
    let pid = fields.next()?.parse().ok()?;
    let random = fields.next()?;
    (random.len() == 16 && fields.next().is_none()).then_some((host, pid))
}

/// Removes temporary files of `path` whose writer ran on this host and has exited. Best effort:
/// anything unexpected leaves the files where they are.
fn remove_stale(path: &Path) {
    let (Some(host), Some(file_name)) = (host_tag(), path.file_name()) else { return };
    let Ok(entries) = std::fs::read_dir(folder_of(path)) else { return };
    let file_name = file_name.as_encoded_bytes();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((tag, pid)) = owner(file_name, name.as_encoded_bytes()) else { continue };
        if tag == host && is_running(pid) == Some(false) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fastckpt-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn commit_replaces_and_drop_discards() {
        let dir = scratch("commit");
        let path = dir.join("f");
        std::fs::write(&path, b"old").unwrap();
        let mut f = AtomicFile::create(&path).unwrap();
        f.file().write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(&dir).len(), 2);
        f.commit(true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let mut g = AtomicFile::create(&path).unwrap();
        g.file().write_all(b"newer").unwrap();
        drop(g);
        assert_eq!((std::fs::read(&path).unwrap(), names(&dir)), (b"new".to_vec(), vec!["f".to_string()]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn remove_unlinks_now() {
        let dir = scratch("remove");
        let (file, link) = (dir.join("f"), dir.join("l"));
        std::fs::write(&file, vec![7u8; 1 << 20]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&file, &link).unwrap();
        #[cfg(unix)]
        remove(&link).unwrap(); // the link goes, not its target
        remove(&file).unwrap();
        assert!(names(&dir).is_empty());
        assert_eq!(remove(&file).unwrap_err().kind(), std::io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn preallocated_blocks_take_the_writes_and_leave_the_size() {
        let dir = scratch("preallocate");
        let path = dir.join("f");
        let data: Vec<u8> = (0..(8u32 << 20) + 5).map(|i| (i % 251) as u8).collect();
        let mut f = AtomicFile::create(&path).unwrap();
        f.preallocate(0, data.len() as u64);
        let reserved = f.file_metadata().unwrap();
        assert_eq!(reserved.len(), 0, "the size is only ever what was written");
        #[cfg(target_os = "linux")]
        if linux::on_ext4(&f.file) {
            use std::os::unix::fs::MetadataExt;
            assert!(reserved.blocks() * 512 >= data.len() as u64, "{} blocks reserved", reserved.blocks());
        }
        f.file().write_all(&data).unwrap();
        f.commit(false).unwrap();
        assert!(std::fs::read(&path).unwrap() == data);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_names_carry_host_and_pid() {
        let path = Path::new("/d/ckpt.index");
        let temp = temp_name(path);
        let (host, pid) = owner(b"ckpt.index", temp.file_name().unwrap().as_encoded_bytes()).unwrap();
        assert_eq!((host, pid), (host_tag().unwrap_or(0), std::process::id()));
        assert_eq!(owner(b"ckpt.index", b"ckpt.index.tempstate12345"), None, "TensorFlow's names");
        assert_eq!(owner(b"ckpt", b"ckpt.index.tempstate-00000000-1-0000000000000000"), None);
    }

    #[test]
    fn stale_files_of_dead_writers_are_removed_live_ones_kept() {
        if host_tag().is_none() || is_running(std::process::id()) != Some(true) {
            return; // no /proc: nothing is ever removed, as `remove_stale` documents
        }
        let dir = scratch("stale");
        let path = dir.join("ckpt.index");
        let host = host_tag().unwrap();
        // A pid that has exited: a child that was waited for.
        let dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        let mut dead = dead;
        dead.wait().unwrap();
        let stale = format!("ckpt.index{MARKER}{host:08x}-{dead_pid}-{:016x}", 1);
        let live = format!("ckpt.index{MARKER}{host:08x}-{}-{:016x}", std::process::id(), 2);
        let other_host = format!("ckpt.index{MARKER}{:08x}-{dead_pid}-{:016x}", host ^ 1, 3);
        let other_name = format!("ckpt.data-00000-of-00001{MARKER}{host:08x}-{dead_pid}-{:016x}", 4);
        let tensorflow = "ckpt.index.tempstate123456789".to_string();
        for name in [&stale, &live, &other_host, &other_name, &tensorflow] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let f = AtomicFile::create(&path).unwrap();
        let mut left = names(&dir);
        left.retain(|n| !n.contains(&format!("-{}-", std::process::id())) || n == &live);
        let mut expected = vec![live, other_host, other_name, tensorflow];
        expected.sort();
        assert_eq!(left, expected);
        drop(f);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
