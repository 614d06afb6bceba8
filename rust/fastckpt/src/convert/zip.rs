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
//! A field that overflows holds all ones and its value moves to the ZIP64 extra field (id 1):
//! sizes, then offset, only those that overflowed. Timestamps are 1980-01-01 00:00 (reproducible).

use std::io::Write;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 1;
const MAX32: u64 = 0xFFFF_FFFF;
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
        let zip64 = size >= MAX32;
        let mut header = Vec::with_capacity(64 + name.len());
        header.extend_from_slice(&LOCAL.to_le_bytes());
        header.extend_from_slice(&version_needed(zip64).to_le_bytes());
        header.extend_from_slice(&flags(name).to_le_bytes());
        header.extend_from_slice(&[0, 0, 0, 0]); // method stored, time 00:00
        header.extend_from_slice(&DOS_DATE_1980_01_01.to_le_bytes());
        header.extend_from_slice(&crc32.to_le_bytes());
        let small = u32::try_from(size).unwrap_or(u32::MAX); // 0xFFFFFFFF: the size is in the ZIP64 extra
        header.extend_from_slice(&small.to_le_bytes());
        header.extend_from_slice(&small.to_le_bytes());
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
            if m.size >= MAX32 {
                extra.extend_from_slice(&m.size.to_le_bytes());
                extra.extend_from_slice(&m.size.to_le_bytes());
            }
            if m.offset >= MAX32 {
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
            let size = u32::try_from(m.size).unwrap_or(u32::MAX);
            record.extend_from_slice(&size.to_le_bytes());
            record.extend_from_slice(&size.to_le_bytes());
            record.extend_from_slice(&len16(m.name.len())?.to_le_bytes());
            let extra_len = if zip64 { len16(extra.len() + 4)? } else { 0 };
            record.extend_from_slice(&extra_len.to_le_bytes());
            record.extend_from_slice(&[0; 8]); // comment length, disk, internal and external attributes
            record.extend_from_slice(&[0; 2]);
            record.extend_from_slice(&u32::try_from(m.offset).unwrap_or(u32::MAX).to_le_bytes());
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
        let zip64 = count >= 0xFFFF || directory_size >= MAX32 || directory_offset >= MAX32;
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
        let small_count = count.min(0xFFFF) as u16;
        end.extend_from_slice(&small_count.to_le_bytes());
        end.extend_from_slice(&small_count.to_le_bytes());
        end.extend_from_slice(&(directory_size.min(MAX32) as u32).to_le_bytes());
        end.extend_from_slice(&(directory_offset.min(MAX32) as u32).to_le_bytes());
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
}
