//! The part of the zip format an npz uses: stored (uncompressed) members, ZIP64 where a size or
//! offset does not fit 32 bits. All integers little-endian.
//!
//! ```text
//! per member:  local header  PK\3\4 ver flags method=0 time date crc32 csize usize nlen xlen name extra
//!              data          (the bytes as they are)
//! directory:   PK\1\2 … the same fields + offset of the local header, per member
//! [ZIP64 end record PK\6\6 + locator PK\6\7]   when counts, sizes or offsets overflow
//! end record:  PK\5\6 disk counts, entries, directory size, directory offset, comment length
//! ```
//!
//! A size or offset above 2³¹ − 1 (`ZIP64_LIMIT`, Python's `zipfile.ZIP64_LIMIT`: where zipfile,
//! and so numpy, switches to ZIP64; readers that take the 32-bit fields as signed are safe too) is
//! written as all ones and its value moves to the ZIP64 extra field (id 1): sizes (uncompressed,
//! compressed), then offset, only those that overflowed. 65,535 members or more, or a directory
//! that starts beyond the limit or is larger than it, adds the ZIP64 end record. Timestamps are
//! 1980-01-01 00:00 (reproducible).

use std::io::Write;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 1;
const MAX32: u64 = 0xFFFF_FFFF;
const ZIP64_LIMIT: u64 = (1 << 31) - 1;
const DOS_DATE_1980_01_01: u16 = (1 << 5) | 1;
/// Bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;

/// One member as the directory records it.
#[derive(Debug)]
struct Written {
    name: String,
    crc32: u32,
    size: u64,
    offset: u64,
}

/// Writes stored members one after another; `finish` writes the directory.
#[derive(Debug)]
pub struct ZipWriter<W: Write> {
    out: W,
    position: u64,
    members: Vec<Written>,
}

fn flags(name: &str) -> u16 {
    if name.is_ascii() {
        0
    } else {
        FLAG_UTF8
    }
}

/// A size or offset as its 32-bit field holds it: all ones when it is in the ZIP64 extra instead.
fn field32(value: u64) -> u32 {
    u32::try_from(value).ok().filter(|_| value <= ZIP64_LIMIT).unwrap_or(u32::MAX)
}

fn version_needed(zip64: bool) -> u16 {
    if zip64 {
        45
    } else {
        20
    }
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W) -> Self {
        ZipWriter { out, position: 0, members: Vec::new() }
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Adds a member made of `parts` (written in order), whose CRC-32 the caller computed.
    pub fn add(&mut self, name: &str, crc32: u32, parts: &[&[u8]]) -> std::io::Result<()> {
        let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let zip64 = size > ZIP64_LIMIT;
        let mut header = Vec::with_capacity(64 + name.len());
        header.extend_from_slice(&LOCAL.to_le_bytes());
        header.extend_from_slice(&version_needed(zip64).to_le_bytes());
        header.extend_from_slice(&flags(name).to_le_bytes());
        header.extend_from_slice(&[0, 0, 0, 0]); // method stored, time 00:00
        header.extend_from_slice(&DOS_DATE_1980_01_01.to_le_bytes());
        header.extend_from_slice(&crc32.to_le_bytes());
        header.extend_from_slice(&field32(size).to_le_bytes());
        header.extend_from_slice(&field32(size).to_le_bytes());
        header.extend_from_slice(&len16(name.len())?.to_le_bytes());
        header.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
        header.extend_from_slice(name.as_bytes());
        if zip64 {
            header.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
            header.extend_from_slice(&16u16.to_le_bytes());
            header.extend_from_slice(&size.to_le_bytes());
            header.extend_from_slice(&size.to_le_bytes());
        }
        let offset = self.position;
        self.put(&header)?;
        for part in parts {
            self.put(part)?;
        }
        self.members.push(Written { name: name.to_owned(), crc32, size, offset });
        Ok(())
    }

    /// Writes the central directory and the end records; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        let directory_offset = self.position;
        let members = std::mem::take(&mut self.members);
        for m in &members {
            let mut extra = Vec::new();
            if m.size > ZIP64_LIMIT {
                extra.extend_from_slice(&m.size.to_le_bytes());
                extra.extend_from_slice(&m.size.to_le_bytes());
            }
            if m.offset > ZIP64_LIMIT {
                extra.extend_from_slice(&m.offset.to_le_bytes());
            }
            let zip64 = !extra.is_empty();
            let mut record = Vec::with_capacity(80 + m.name.len());
            record.extend_from_slice(&CENTRAL.to_le_bytes());
            record.extend_from_slice(&version_needed(zip64).to_le_bytes()); // made by
            record.extend_from_slice(&version_needed(zip64).to_le_bytes());
            record.extend_from_slice(&flags(&m.name).to_le_bytes());
            record.extend_from_slice(&[0, 0, 0, 0]);
            record.extend_from_slice(&DOS_DATE_1980_01_01.to_le_bytes());
            record.extend_from_slice(&m.crc32.to_le_bytes());
            record.extend_from_slice(&field32(m.size).to_le_bytes());
            record.extend_from_slice(&field32(m.size).to_le_bytes());
            record.extend_from_slice(&len16(m.name.len())?.to_le_bytes());
            let extra_len = if zip64 { len16(extra.len() + 4)? } else { 0 };
            record.extend_from_slice(&extra_len.to_le_bytes());
            record.extend_from_slice(&[0; 8]); // comment length, disk, internal and external attributes
            record.extend_from_slice(&[0; 2]);
            record.extend_from_slice(&field32(m.offset).to_le_bytes());
            record.extend_from_slice(m.name.as_bytes());
            if zip64 {
                record.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
                record.extend_from_slice(&len16(extra.len())?.to_le_bytes());
                record.extend_from_slice(&extra);
            }
            self.put(&record)?;
        }
        let directory_size = self.position - directory_offset;
        let count = members.len() as u64;
        let zip64 = count >= u64::from(u16::MAX) || directory_size > ZIP64_LIMIT || directory_offset > ZIP64_LIMIT;
        let mut end = Vec::with_capacity(100);
        if zip64 {
            let end64_offset = self.position;
            end.extend_from_slice(&END64.to_le_bytes());
            end.extend_from_slice(&44u64.to_le_bytes());
            end.extend_from_slice(&45u16.to_le_bytes());
            end.extend_from_slice(&45u16.to_le_bytes());
            end.extend_from_slice(&[0; 8]); // this disk, directory's disk
            end.extend_from_slice(&count.to_le_bytes());
            end.extend_from_slice(&count.to_le_bytes());
            end.extend_from_slice(&directory_size.to_le_bytes());
            end.extend_from_slice(&directory_offset.to_le_bytes());
            end.extend_from_slice(&LOCATOR64.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&end64_offset.to_le_bytes());
            end.extend_from_slice(&1u32.to_le_bytes());
        }
        end.extend_from_slice(&END.to_le_bytes());
        end.extend_from_slice(&[0; 4]);
        let small_count = u16::try_from(count).ok().filter(|&c| c < u16::MAX).unwrap_or(u16::MAX);
        end.extend_from_slice(&small_count.to_le_bytes());
        end.extend_from_slice(&small_count.to_le_bytes());
        end.extend_from_slice(&field32(directory_size).to_le_bytes());
        end.extend_from_slice(&field32(directory_offset).to_le_bytes());
        end.extend_from_slice(&[0, 0]);
        self.put(&end)?;
        Ok(self.out)
    }
}

/// A member found in the directory of an archive.
#[derive(Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub compressed: bool,
    /// Where the member's bytes start in the archive, and how many there are.
    pub data_start: usize,
    pub size: usize,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(|| "zip record cut short".into())
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(|| "zip record cut short".into())
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| "zip record cut short".into())
}

fn to_usize(v: u64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| "zip offset beyond the address space".into())
}

/// Lists the members of the archive `bytes` from its central directory, each bounds-checked.
pub fn members(bytes: &[u8]) -> Result<Vec<Member>, String> {
    // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
    let search_from = bytes.len().saturating_sub(22 + 0xFFFF);
    let end = (search_from..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&at| u32_at(bytes, at) == Ok(END))
        .ok_or("not a zip archive (no end of central directory record)")?;
    let mut count = u64::from(u16_at(bytes, end + 10)?);
    let mut directory = u64::from(u32_at(bytes, end + 16)?);
    if end >= 20 && u32_at(bytes, end - 20) == Ok(LOCATOR64) {
        let at = to_usize(u64_at(bytes, end - 12)?)?;
        if u32_at(bytes, at)? != END64 {
            return Err("ZIP64 end record missing".into());
        }
        count = u64_at(bytes, at + 32)?;
        directory = u64_at(bytes, at + 48)?;
    }
    let mut at = to_usize(directory)?;
    let mut out = Vec::new();
    for _ in 0..count {
        if u32_at(bytes, at)? != CENTRAL {
            return Err(format!("bad central directory record at offset {at}"));
        }
        let method = u16_at(bytes, at + 10)?;
        let mut compressed_size = u64::from(u32_at(bytes, at + 20)?);
        let mut size = u64::from(u32_at(bytes, at + 24)?);
        let name_len = usize::from(u16_at(bytes, at + 28)?);
        let extra_len = usize::from(u16_at(bytes, at + 30)?);
        let comment_len = usize::from(u16_at(bytes, at + 32)?);
        let mut local = u64::from(u32_at(bytes, at + 42)?);
        let name_bytes = bytes.get(at + 46..at + 46 + name_len).ok_or("zip record cut short")?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let extra = bytes.get(at + 46 + name_len..at + 46 + name_len + extra_len).ok_or("zip record cut short")?;
        // ZIP64 values, in order, for the fields that hold all ones.
        let mut x = 0;
        while x + 4 <= extra.len() {
            let (id, len) = (u16_at(extra, x)?, usize::from(u16_at(extra, x + 2)?));
            if id == ZIP64_EXTRA {
                let mut v = x + 4;
                for field in [&mut size, &mut compressed_size, &mut local] {
                    if *field == MAX32 {
                        *field = u64_at(extra, v)?;
                        v += 8;
                    }
                }
            }
            x += 4 + len;
        }
        let local = to_usize(local)?;
        if u32_at(bytes, local)? != LOCAL {
            return Err(format!("member '{name}': bad local header at offset {local}"));
        }
        let data_start = local + 30 + usize::from(u16_at(bytes, local + 26)?) + usize::from(u16_at(bytes, local + 28)?);
        let stored = to_usize(compressed_size)?;
        if data_start.checked_add(stored).is_none_or(|e| e > bytes.len()) {
            return Err(format!("member '{name}' runs past the end of the archive"));
        }
        out.push(Member { name, compressed: method != 0, data_start, size: stored });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// A length stored in 16 bits (member names, extra fields): longer ones cannot be written.
fn len16(n: usize) -> std::io::Result<u16> {
    u16::try_from(n).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("a zip member field of {n} bytes is over 65535"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_members_list_back() {
        let mut zip = ZipWriter::new(Vec::new());
        zip.add("a.npy", crc32fast::hash(b"hello"), &[b"hel", b"lo"]).unwrap();
        zip.add("ü.npy", 0, &[]).unwrap();
        let bytes = zip.finish().unwrap();
        let found = members(&bytes).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(&bytes[found[0].data_start..found[0].data_start + found[0].size], b"hello");
        assert_eq!(found[1].name, "ü.npy");
        assert!(members(&bytes[..bytes.len() - 1]).is_err());
    }

    fn u32_le(b: &[u8], at: usize) -> u32 {
        u32_at(b, at).unwrap()
    }

    fn u64_le(b: &[u8], at: usize) -> u64 {
        u64_at(b, at).unwrap()
    }

    /// A MiB of zeros that `SparseFile` skips instead of writing.
    static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

    /// A file with holes where `ZEROS` is written: an archive of many GiB of zeros costs neither
    /// disk nor memory.
    struct SparseFile(std::fs::File, u64);

    impl Write for SparseFile {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            use std::io::{Seek, SeekFrom};
            if std::ptr::eq(buf, &ZEROS[..]) {
                self.0.seek(SeekFrom::Current(i64::try_from(buf.len()).unwrap()))?;
            } else {
                self.0.write_all(buf)?;
            }
            self.1 += buf.len() as u64;
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.0.set_len(self.1)
        }
    }

    #[test]
    fn sizes_and_offsets_beyond_2_gib_go_to_zip64_fields_as_zipfile_writes_them() {
        const GIB: usize = 1 << 30;
        let path = std::env::temp_dir().join(format!("fastckpt-zip64-{}.zip", std::process::id()));
        let gib_of_zeros = |n: usize| vec![&ZEROS[..]; n * GIB / ZEROS.len()];
        let mut zip = ZipWriter::new(SparseFile(std::fs::File::create(&path).unwrap(), 0));
        // 4 GiB + 2: beyond 32 bits; 3 GiB: beyond zipfile's ZIP64_LIMIT but not 32 bits.
        let big = [&[7u8][..]].into_iter().chain(gib_of_zeros(4)).chain([&[9u8][..]]).collect::<Vec<_>>();
        zip.add("big.npy", 1, &big).unwrap();
        zip.add("mid.npy", 2, &gib_of_zeros(3)).unwrap();
        zip.add("small.npy", 3, &[b"hello"]).unwrap();
        let mut file = zip.finish().unwrap();
        file.flush().unwrap();
        let map = {
            let f = std::fs::File::open(&path).unwrap();
            // SAFETY: the file is this test's own, nobody changes it while it is mapped.
            unsafe { memmap2::Mmap::map(&f) }.unwrap()
        };
        std::fs::remove_file(&path).unwrap();
        let b = &map[..];

        // Local headers: all ones in the 32-bit sizes, the sizes in a 16-byte ZIP64 extra.
        assert_eq!((u16_at(b, 4).unwrap(), u32_le(b, 18), u32_le(b, 22)), (45, u32::MAX, u32::MAX));
        assert_eq!((u16_at(b, 28).unwrap(), &b[30..37]), (20, &b"big.npy"[..]));
        assert_eq!((u16_at(b, 37).unwrap(), u16_at(b, 39).unwrap()), (1, 16));
        assert_eq!((u64_le(b, 41), u64_le(b, 49)), ((4 * GIB + 2) as u64, (4 * GIB + 2) as u64));
        let mid_at = 57 + 4 * GIB + 2;
        assert_eq!((u32_le(b, mid_at), u32_le(b, mid_at + 18)), (LOCAL, u32::MAX));
        assert_eq!(u64_le(b, mid_at + 41), (3 * GIB) as u64);
        let small_at = mid_at + 57 + 3 * GIB;
        assert_eq!((u32_le(b, small_at), u16_at(b, small_at + 4).unwrap(), u32_le(b, small_at + 18)), (LOCAL, 20, 5));
        assert_eq!((u16_at(b, small_at + 26).unwrap(), u16_at(b, small_at + 28).unwrap()), (9, 0)); // no extra
                                                                                                    // Central directory: big's record has the sizes in its extra, mid's the sizes and the
                                                                                                    // offset, small's only the offset.
        let directory = small_at + 30 + 9 + 5;
        assert_eq!(
            (u32_le(b, directory), u16_at(b, directory + 30).unwrap(), u32_le(b, directory + 42)),
            (CENTRAL, 20, 0)
        );
        let mid_record = directory + 46 + 7 + 20;
        assert_eq!((u16_at(b, mid_record + 30).unwrap(), u64_le(b, mid_record + 57 + 16)), (28, mid_at as u64));
        let record = mid_record + 46 + 7 + 28;
        assert_eq!((u32_le(b, record), u32_le(b, record + 20), u32_le(b, record + 42)), (CENTRAL, 5, u32::MAX));
        assert_eq!((u16_at(b, record + 30).unwrap(), u16_at(b, record + 55).unwrap()), (12, 1));
        assert_eq!(u64_le(b, record + 59), small_at as u64);
        // End records: ZIP64 (the directory starts beyond the limit), then the classic one.
        let end64 = record + 46 + 9 + 12;
        assert_eq!((u32_le(b, end64), u64_le(b, end64 + 32), u64_le(b, end64 + 48)), (END64, 3, directory as u64));
        assert_eq!((u32_le(b, end64 + 56), u64_le(b, end64 + 64)), (LOCATOR64, end64 as u64));
        let end = end64 + 56 + 20;
        assert_eq!((u32_le(b, end), u16_at(b, end + 10).unwrap(), u32_le(b, end + 16)), (END, 3, u32::MAX));
        assert_eq!(b.len(), end + 22);

        let found = members(b).unwrap();
        let names: Vec<_> = found.iter().map(|m| (m.name.as_str(), m.size)).collect();
        assert_eq!(names, [("big.npy", 4 * GIB + 2), ("mid.npy", 3 * GIB), ("small.npy", 5)]);
        let [big, mid, small] = &found[..] else { unreachable!() };
        assert_eq!((b[big.data_start], b[big.data_start + big.size - 1]), (7, 9));
        assert_eq!(mid.data_start, mid_at + 57);
        assert_eq!(&b[small.data_start..small.data_start + 5], b"hello");
    }

    #[test]
    fn more_than_65534_members_add_the_zip64_end_record() {
        for (count, zip64) in [(65_534, false), (65_535, true), (70_000, true)] {
            let mut zip = ZipWriter::new(Vec::new());
            for i in 0..count {
                zip.add(&format!("a{i}.npy"), 0, &[]).unwrap();
            }
            let bytes = zip.finish().unwrap();
            let end = bytes.len() - 22;
            assert_eq!(u32_le(&bytes, end), END);
            assert_eq!(u16_at(&bytes, end + 10).unwrap(), if zip64 { u16::MAX } else { 65_534 });
            assert_eq!(u32_le(&bytes, end - 20) == LOCATOR64, zip64);
            let found = members(&bytes).unwrap();
            assert_eq!(found.len(), count);
            assert_eq!(found[count - 1].name, format!("a{}.npy", count - 1));
        }
    }
}
