//! The exact mode: every vector in one f32 array, scanned with the [`crate::kernels::dot`] kernel, and its
//! snapshot format.

use std::collections::HashMap;
use std::io::{Read, Write};

use crate::kernels::dot;
use crate::{Hit, IndexError};

/// Leads a snapshot of the exact mode (a snapshot of the approximate mode is USearch's own file).
pub(crate) const MAGIC: &[u8; 8] = b"REKOFLT1";

/// Keys and their vectors, row `i` of `vectors` belonging to `keys[i]`.
pub(crate) struct Flat {
    dim: usize,
    keys: Vec<u64>,
    /// `keys.len() * dim` values.
    vectors: Vec<f32>,
    /// key → row.
    rows: HashMap<u64, usize>,
}

impl std::fmt::Debug for Flat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flat").field("dim", &self.dim).field("len", &self.keys.len()).finish()
    }
}

impl Flat {
    pub(crate) fn new(dim: usize) -> Flat {
        Flat { dim, keys: Vec::new(), vectors: Vec::new(), rows: HashMap::new() }
    }

    /// Takes `keys` (distinct) and their row-major `vectors`.
    pub(crate) fn from_rows(dim: usize, keys: Vec<u64>, vectors: Vec<f32>) -> Flat {
        debug_assert_eq!(keys.len() * dim, vectors.len());
        let rows = keys.iter().enumerate().map(|(row, &key)| (key, row)).collect();
        Flat { dim, keys, vectors, rows }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.rows.contains_key(&key)
    }

    /// Each key with its vector.
    pub(crate) fn rows(&self) -> impl ExactSizeIterator<Item = (u64, &[f32])> + '_ {
        self.keys.iter().copied().zip(self.vectors.chunks_exact(self.dim))
    }

    pub(crate) fn insert(&mut self, key: u64, vector: &[f32]) {
        let dim = self.dim;
        match self.rows.get(&key) {
            Some(&row) => self.vectors[row * dim..(row + 1) * dim].copy_from_slice(vector),
            None => {
                self.rows.insert(key, self.keys.len());
                self.keys.push(key);
                self.vectors.extend_from_slice(vector);
            }
        }
    }

    pub(crate) fn remove(&mut self, key: u64) -> bool {
        let Some(row) = self.rows.remove(&key) else { return false };
        let dim = self.dim;
        let last = self.keys.len() - 1;
        if row != last {
            self.keys.swap(row, last);
            self.vectors.copy_within(last * dim..(last + 1) * dim, row * dim);
            self.rows.insert(self.keys[row], row);
        }
        self.keys.pop();
        self.vectors.truncate(last * dim);
        true
    }

    pub(crate) fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        let mut hits: Vec<Hit> = self.rows().map(|(key, vector)| Hit { key, cosine: dot(query, vector) }).collect();
        let k = k.min(hits.len());
        if k == 0 {
            return Vec::new();
        }
        hits.select_nth_unstable_by(k - 1, |a, b| b.cosine.total_cmp(&a.cosine));
        hits.truncate(k);
        hits.sort_by(|a, b| b.cosine.total_cmp(&a.cosine).then(a.key.cmp(&b.key)));
        hits
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        // A hash map entry: the (key, row) pair plus one control byte, over its capacity.
        self.vectors.capacity() * 4 + self.keys.capacity() * 8 + self.rows.capacity() * 17
    }

    /// Writes `MAGIC`, the dimension (u32), the count (u64), the keys and the vectors, little-endian.
    pub(crate) fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(MAGIC)?;
        out.write_all(&(self.dim as u32).to_le_bytes())?;
        out.write_all(&(self.keys.len() as u64).to_le_bytes())?;
        for key in &self.keys {
            out.write_all(&key.to_le_bytes())?;
        }
        for value in &self.vectors {
            out.write_all(&value.to_le_bytes())?;
        }
        Ok(())
    }

    /// Reads what [`Flat::write`] wrote, after its `MAGIC`.
    pub(crate) fn read(input: &mut impl Read, dim: usize) -> Result<Flat, IndexError> {
        let mut word = [0u8; 4];
        input.read_exact(&mut word)?;
        let stored_dim = u32::from_le_bytes(word) as usize;
        if stored_dim != dim {
            return Err(IndexError::Snapshot(format!(
                "snapshot holds {stored_dim}-dimensional vectors, the index is configured for {dim}"
            )));
        }
        let mut long = [0u8; 8];
        input.read_exact(&mut long)?;
        let count = usize::try_from(u64::from_le_bytes(long))
            .map_err(|_| IndexError::Snapshot("snapshot count out of range".into()))?;
        let mut keys = Vec::with_capacity(count.min(1 << 24));
        for _ in 0..count {
            input.read_exact(&mut long)?;
            keys.push(u64::from_le_bytes(long));
        }
        let mut vectors = Vec::with_capacity(keys.len() * dim);
        for _ in 0..count * dim {
            input.read_exact(&mut word)?;
            vectors.push(f32::from_le_bytes(word));
        }
        let flat = Flat::from_rows(dim, keys, vectors);
        if flat.rows.len() != flat.keys.len() {
            return Err(IndexError::Snapshot("snapshot repeats a key".into()));
        }
        Ok(flat)
    }
}
