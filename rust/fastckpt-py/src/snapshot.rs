//! The copy behind a background save: every array's bytes copied into a new array of its own by
//! the thread pool with the GIL released (big arrays in pieces shared by the threads), so that the
//! caller is blocked for less than copying the arrays one by one would take.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rayon::prelude::*;

/// Big buffers are copied in pieces of this size, so that the threads share one big tensor.
const CHUNK: usize = 4 << 20;

fn range(buffer: &PyBuffer<u8>) -> (usize, usize) {
    let start = buffer.buf_ptr() as usize;
    (start, start + buffer.len_bytes())
}

/// Copies each source buffer into the destination buffer of the same position. Buffers are
/// C-contiguous bytes of equal length pairwise; destinations are writable and overlap neither
/// each other nor any source.
#[pyfunction]
pub fn copy_into(py: Python<'_>, sources: Vec<PyBuffer<u8>>, dests: Vec<PyBuffer<u8>>) -> PyResult<()> {
    if sources.len() != dests.len() {
        return Err(PyValueError::new_err("one destination per source is needed"));
    }
    let mut dest_ranges = Vec::with_capacity(dests.len());
    let mut pieces: Vec<(usize, usize, usize)> = Vec::new(); // (source address, dest address, length)
    for (source, dest) in sources.iter().zip(&dests) {
        if dest.readonly() || !dest.is_c_contiguous() || !source.is_c_contiguous() {
            return Err(PyValueError::new_err("sources must be C-contiguous, destinations also writable"));
        }
        let len = source.len_bytes();
        if dest.len_bytes() != len {
            return Err(PyValueError::new_err("a destination's size differs from its source's"));
        }
        if len > 0 {
            dest_ranges.push(range(dest));
        }
        let (from, to) = (source.buf_ptr() as usize, dest.buf_ptr() as usize);
        pieces.extend((0..len).step_by(CHUNK).map(|at| (from + at, to + at, CHUNK.min(len - at))));
    }
    dest_ranges.sort_unstable();
    let overlaps = |(start, end): (usize, usize)| {
        let after = dest_ranges.partition_point(|r| r.1 <= start);
        dest_ranges.get(after).is_some_and(|r| r.0 < end)
    };
    let sources_clash = sources.iter().filter(|s| s.len_bytes() > 0).any(|s| overlaps(range(s)));
    if dest_ranges.windows(2).any(|w| w[0].1 > w[1].0) || sources_clash {
        return Err(PyValueError::new_err("destinations overlap each other or a source"));
    }
    py.detach(|| {
        fastckpt::pool::install(|| {
            pieces.par_iter().for_each(|&(from, to, len)| {
                // SAFETY: the buffer exports (`sources`, `dests`) keep every range alive and in place
                // until this function returns; each piece lies inside its exports, and destination
                // ranges overlap neither each other nor any source (checked above). A Python thread
                // changing a source meanwhile can only make the copy a mix of old and new bytes.
                unsafe { std::ptr::copy_nonoverlapping(from as *const u8, to as *mut u8, len) }
            })
        })
    });
    Ok(())
}
