//! Opaque pagination tokens that name the last item returned, so that a token stays valid while items
//! are added or deleted. Tokens fit the model's 255-character `PaginationToken`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::ServiceError;

/// Ids up to this many bytes are carried whole (base64url: at most 252 characters).
const WHOLE_ID_MAX: usize = 189;
/// Longer ids are carried as this many leading bytes plus a hash of the whole id.
const PREFIX_BYTES: usize = 150;

/// Where a listing resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Strictly after this id.
    After(String),
    /// After the id that starts with `prefix` and whose hash is `hash`.
    AfterHashed { prefix: String, hash: String },
}

pub fn encode(last_id: &str) -> String {
    if last_id.len() <= WHOLE_ID_MAX {
        return URL_SAFE_NO_PAD.encode(last_id);
    }
    let mut cut = PREFIX_BYTES;
    while !last_id.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("~{}~{}", URL_SAFE_NO_PAD.encode(&last_id[..cut]), id_hash(last_id))
}

pub fn decode(token: &str) -> Result<Resume, ServiceError> {
    let text = |encoded: &str| -> Result<String, ServiceError> {
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| ServiceError::InvalidPaginationToken)?;
        String::from_utf8(bytes).map_err(|_| ServiceError::InvalidPaginationToken)
    };
    match token.strip_prefix('~') {
        None => Ok(Resume::After(text(token)?)),
        Some(rest) => {
            let (prefix, hash) = rest.split_once('~').ok_or(ServiceError::InvalidPaginationToken)?;
            if hash.len() != 16 {
                return Err(ServiceError::InvalidPaginationToken);
            }
            Ok(Resume::AfterHashed { prefix: text(prefix)?, hash: hash.to_owned() })
        }
    }
}

/// The page size: `max_results` when given and positive, else `default`.
pub fn page_size(max_results: Option<u32>, default: usize) -> usize {
    match max_results {
        Some(n) if n > 0 => n as usize,
        _ => default,
    }
}

/// Where a listing of short ids (face and user ids, always carried whole) resumes.
pub fn resume_after(token: Option<&str>) -> Result<Option<String>, ServiceError> {
    match token.map(decode).transpose()? {
        None => Ok(None),
        Some(Resume::After(id)) => Ok(Some(id)),
        Some(Resume::AfterHashed { .. }) => Err(ServiceError::InvalidPaginationToken),
    }
}

pub fn id_hash(id: &str) -> String {
    hex::encode(&Sha256::digest(id.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_fit_the_model_limit() {
        for id in ["a", &"x".repeat(189), &"y".repeat(190), &"z".repeat(255)] {
            let token = encode(id);
            assert!(token.len() <= 255, "{}", token.len());
            match decode(&token).unwrap() {
                Resume::After(after) => assert_eq!(after, id),
                Resume::AfterHashed { prefix, hash } => {
                    assert!(id.starts_with(&prefix));
                    assert_eq!(hash, id_hash(id));
                }
            }
        }
        assert!(decode("!!!").is_err());
        assert!(decode("~abc").is_err());
    }
}
