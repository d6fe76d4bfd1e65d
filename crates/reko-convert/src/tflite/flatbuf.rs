//! A small bounds-checked flatbuffer reader (tables via vtables, scalars, vectors, strings, unions):
//! every read is checked against the buffer, so malformed input gives an error, never a panic.

use std::fmt;

/// A malformed flatbuffer: what was being read and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FbError(pub String);

impl fmt::Display for FbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FbError {}

pub type FbResult<T> = Result<T, FbError>;

fn slice(buf: &[u8], pos: usize, len: usize) -> FbResult<&[u8]> {
    pos.checked_add(len)
        .filter(|&end| end <= buf.len())
        .map(|end| &buf[pos..end])
        .ok_or_else(|| FbError(format!("read of {len} bytes at offset {pos} is past the end ({} bytes)", buf.len())))
}

fn read_u16(buf: &[u8], pos: usize) -> FbResult<u16> {
    let b = slice(buf, pos, 2)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn read_u32(buf: &[u8], pos: usize) -> FbResult<u32> {
    let b = slice(buf, pos, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_u64(buf: &[u8], pos: usize) -> FbResult<u64> {
    let b = slice(buf, pos, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

/// Follows the unsigned 32-bit offset stored at `pos` (relative to `pos`).
fn follow(buf: &[u8], pos: usize) -> FbResult<usize> {
    let off = read_u32(buf, pos)? as usize;
    let target = pos.checked_add(off).ok_or_else(|| FbError(format!("offset overflow at {pos}")))?;
    if target >= buf.len() {
        return Err(FbError(format!("offset at {pos} points past the end ({target} >= {})", buf.len())));
    }
    Ok(target)
}

/// One table: its position and its vtable.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
    table_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of `buf`, checking the 4-byte file identifier when one is given.
    pub fn root(buf: &'a [u8], identifier: Option<&[u8; 4]>) -> FbResult<Self> {
        if let Some(id) = identifier {
            let found = slice(buf, 4, 4).map_err(|_| FbError("file too short for a flatbuffer header".into()))?;
            if found != id {
                return Err(FbError(format!(
                    "file identifier is {:?}, expected {:?}",
                    String::from_utf8_lossy(found),
                    String::from_utf8_lossy(id)
                )));
            }
        }
        let pos = follow(buf, 0)?;
        Self::at(buf, pos)
    }

    /// The table at absolute position `pos`.
    pub fn at(buf: &'a [u8], pos: usize) -> FbResult<Self> {
        let soffset = read_u32(buf, pos)? as i32 as i64;
        let vtable = pos as i64 - soffset;
        if vtable < 0 || vtable as usize >= buf.len() {
            return Err(FbError(format!("table at {pos} has its vtable out of bounds ({vtable})")));
        }
        let vtable = vtable as usize;
        let vtable_len = read_u16(buf, vtable)? as usize;
        let table_len = read_u16(buf, vtable + 2)? as usize;
        if vtable_len < 4 || !vtable_len.is_multiple_of(2) {
            return Err(FbError(format!("vtable at {vtable} has a bad size {vtable_len}")));
        }
        slice(buf, vtable, vtable_len)?;
        slice(buf, pos, table_len.max(4))?;
        Ok(Self { buf, pos, vtable, vtable_len, table_len })
    }

    /// Absolute position of field `id`, or `None` when it is absent (default value).
    fn field(&self, id: usize, size: usize) -> FbResult<Option<usize>> {
        let slot = 4 + 2 * id;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = read_u16(self.buf, self.vtable + slot)? as usize;
        if off == 0 {
            return Ok(None);
        }
        if off + size > self.table_len {
            return Err(FbError(format!("field {id} of the table at {} lies outside the table", self.pos)));
        }
        Ok(Some(self.pos + off))
    }

    pub fn u8(&self, id: usize, default: u8) -> FbResult<u8> {
        match self.field(id, 1)? {
            Some(p) => Ok(slice(self.buf, p, 1)?[0]),
            None => Ok(default),
        }
    }

    pub fn i8(&self, id: usize, default: i8) -> FbResult<i8> {
        Ok(self.u8(id, default as u8)? as i8)
    }

    pub fn bool(&self, id: usize, default: bool) -> FbResult<bool> {
        Ok(self.u8(id, default as u8)? != 0)
    }

    pub fn u32(&self, id: usize, default: u32) -> FbResult<u32> {
        match self.field(id, 4)? {
            Some(p) => read_u32(self.buf, p),
            None => Ok(default),
        }
    }

    pub fn i32(&self, id: usize, default: i32) -> FbResult<i32> {
        Ok(self.u32(id, default as u32)? as i32)
    }

    pub fn f32(&self, id: usize, default: f32) -> FbResult<f32> {
        Ok(f32::from_bits(self.u32(id, default.to_bits())?))
    }

    pub fn u64(&self, id: usize, default: u64) -> FbResult<u64> {
        match self.field(id, 8)? {
            Some(p) => read_u64(self.buf, p),
            None => Ok(default),
        }
    }

    /// A sub-table field.
    pub fn table(&self, id: usize) -> FbResult<Option<Table<'a>>> {
        match self.field(id, 4)? {
            Some(p) => Ok(Some(Table::at(self.buf, follow(self.buf, p)?)?)),
            None => Ok(None),
        }
    }

    /// A vector field whose elements are `elem_size` bytes each (4 for offsets to tables/strings).
    pub fn vector(&self, id: usize, elem_size: usize) -> FbResult<Option<Vector<'a>>> {
        let Some(p) = self.field(id, 4)? else { return Ok(None) };
        let at = follow(self.buf, p)?;
        let len = read_u32(self.buf, at)? as usize;
        let bytes = len.checked_mul(elem_size).ok_or_else(|| FbError(format!("vector at {at} is too long")))?;
        slice(self.buf, at + 4, bytes)
            .map_err(|_| FbError(format!("vector at {at} ({len} elements) runs past the end")))?;
        Ok(Some(Vector { buf: self.buf, start: at + 4, len, elem_size }))
    }

    /// A string field (UTF-8 checked).
    pub fn string(&self, id: usize) -> FbResult<Option<&'a str>> {
        match self.vector(id, 1)? {
            Some(v) => {
                let bytes = v.bytes()?;
                std::str::from_utf8(bytes).map(Some).map_err(|_| FbError(format!("string field {id} is not UTF-8")))
            }
            None => Ok(None),
        }
    }

    /// A union stored as a type field `type_id` (u8) and a value field `type_id + 1`: the type and
    /// the value table, or `None` when the type is NONE (0).
    pub fn union(&self, type_id: usize) -> FbResult<Option<(u8, Table<'a>)>> {
        let kind = self.u8(type_id, 0)?;
        if kind == 0 {
            return Ok(None);
        }
        match self.table(type_id + 1)? {
            Some(t) => Ok(Some((kind, t))),
            None => Err(FbError(format!("union field {} has type {kind} but no value", type_id + 1))),
        }
    }
}

/// A vector of scalars or of offsets.
#[derive(Clone, Copy, Debug)]
pub struct Vector<'a> {
    buf: &'a [u8],
    start: usize,
    len: usize,
    elem_size: usize,
}

impl<'a> Vector<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The raw element bytes.
    pub fn bytes(&self) -> FbResult<&'a [u8]> {
        slice(self.buf, self.start, self.len * self.elem_size)
    }

    /// All elements as i32 (a vector of 4-byte scalars).
    pub fn i32s(&self) -> FbResult<Vec<i32>> {
        if self.elem_size != 4 {
            return Err(FbError("not a vector of 4-byte scalars".into()));
        }
        Ok(self.bytes()?.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// Element `i` of a vector of tables.
    pub fn table(&self, i: usize) -> FbResult<Table<'a>> {
        if i >= self.len || self.elem_size != 4 {
            return Err(FbError(format!("table {i} of a vector of {}", self.len)));
        }
        Table::at(self.buf, follow(self.buf, self.start + 4 * i)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Root table with one u32 field (id 0 = 7), one string field (id 1 = "hi"), one vector of
    /// i32 (id 2 = [1, -2]).
    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&20u32.to_le_bytes()); // 0: root offset -> table at 20
        b.extend_from_slice(b"TEST"); // 4: identifier
        // 8: vtable: size 10, table size 16, fields at +4, +8, +12
        for v in [10u16, 16, 4, 8, 12, 0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&12i32.to_le_bytes()); // 20: table, soffset = 20 - 8
        b.extend_from_slice(&7u32.to_le_bytes()); // 24: field 0
        b.extend_from_slice(&8u32.to_le_bytes()); // 28: field 1 -> string at 36
        b.extend_from_slice(&12u32.to_le_bytes()); // 32: field 2 -> vector at 44
        b.extend_from_slice(&2u32.to_le_bytes()); // 36: string length
        b.extend_from_slice(b"hi\0\0"); // 40
        b.extend_from_slice(&2u32.to_le_bytes()); // 44: vector length
        b.extend_from_slice(&1i32.to_le_bytes());
        b.extend_from_slice(&(-2i32).to_le_bytes());
        b
    }

    #[test]
    fn reads_a_well_formed_table() {
        let b = sample();
        let t = Table::root(&b, Some(b"TEST")).unwrap();
        assert_eq!(t.u32(0, 0).unwrap(), 7);
        assert_eq!(t.string(1).unwrap(), Some("hi"));
        assert_eq!(t.vector(2, 4).unwrap().unwrap().i32s().unwrap(), vec![1, -2]);
        // fields beyond the vtable take their defaults
        assert_eq!(t.i32(5, 42).unwrap(), 42);
        assert!(t.table(6).unwrap().is_none());
    }

    #[test]
    fn wrong_identifier_is_an_error() {
        let b = sample();
        assert!(Table::root(&b, Some(b"TFL3")).unwrap_err().0.contains("identifier"));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = sample();
        for len in 0..b.len() {
            let cut = &b[..len];
            let result = Table::root(cut, Some(b"TEST")).and_then(|t| {
                t.u32(0, 0)?;
                t.string(1)?;
                t.vector(2, 4)?.map(|v| v.i32s()).transpose()?;
                Ok(())
            });
            assert!(result.is_err(), "truncated to {len} bytes should fail");
        }
    }

    #[test]
    fn corrupted_offsets_are_errors() {
        let mut b = sample();
        b[0..4].copy_from_slice(&1000u32.to_le_bytes()); // root past the end
        assert!(Table::root(&b, None).is_err());
        let mut b = sample();
        b[20..24].copy_from_slice(&(-4000i32).to_le_bytes()); // vtable past the end
        assert!(Table::root(&b, None).is_err());
        let mut b = sample();
        b[44..48].copy_from_slice(&u32::MAX.to_le_bytes()); // huge vector length
        let t = Table::root(&b, None).unwrap();
        assert!(t.vector(2, 4).is_err());
        let mut b = sample();
        b[40] = 0xff; // invalid UTF-8
        assert!(Table::root(&b, None).unwrap().string(1).is_err());
        let mut b = sample();
        b[8..10].copy_from_slice(&3u16.to_le_bytes()); // odd vtable size
        assert!(Table::root(&b, None).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // a cheap deterministic fuzz: random buffers with a plausible header
        let mut state = 0x1234_5678_u32;
        for _ in 0..2000 {
            let mut b = Vec::new();
            for _ in 0..64 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                b.push((state % 64) as u8);
            }
            if let Ok(t) = Table::root(&b, None) {
                for id in 0..6 {
                    let _ = t.u32(id, 0);
                    let _ = t.string(id);
                    let _ = t.table(id);
                    let _ = t.union(id);
                    if let Ok(Some(v)) = t.vector(id, 4) {
                        let _ = v.i32s();
                        for i in 0..v.len().min(4) {
                            let _ = v.table(i);
                        }
                    }
                }
            }
        }
    }
}
