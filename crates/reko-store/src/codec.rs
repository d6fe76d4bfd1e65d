//! How records are written as bytes, the same on every backend: JSON for records (fields can be added
//! compatibly), and a face id followed by little-endian `f32`s for vectors.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;

/// Face ids are UUIDs: 36 ASCII bytes in front of each stored vector.
const FACE_ID_LEN: usize = 36;

pub(crate) fn decode<T: DeserializeOwned>(what: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt { key: format!("{what}/{key}"), reason: e.to_string() })
}

pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("records serialise")
}

pub(crate) fn encode_vector(face_id: &str, vector: &[f32]) -> Result<Vec<u8>, StoreError> {
    if face_id.len() != FACE_ID_LEN {
        return Err(StoreError::Backend(format!("face id {face_id:?} is not a UUID")));
    }
    let mut bytes = Vec::with_capacity(FACE_ID_LEN + vector.len() * 4);
    bytes.extend_from_slice(face_id.as_bytes());
    for v in vector {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    Ok(bytes)
}

pub(crate) fn decode_vector(key: u64, bytes: &[u8]) -> Result<(String, Vec<f32>), StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt { key: format!("vectors/{key}"), reason: reason.to_owned() };
    if bytes.len() < FACE_ID_LEN || !(bytes.len() - FACE_ID_LEN).is_multiple_of(4) {
        return Err(corrupt("bad length"));
    }
    let face_id = std::str::from_utf8(&bytes[..FACE_ID_LEN]).map_err(|_| corrupt("face id is not UTF-8"))?;
    let vector = bytes[FACE_ID_LEN..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok((face_id.to_owned(), vector))
}
