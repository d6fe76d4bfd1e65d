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

/// A token for the page that starts at `offset`, for listings read whole on every call (a video job's
/// results, a dataset's entries).
pub fn encode_offset(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

pub fn decode_offset(token: &str) -> Result<usize, ServiceError> {
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| ServiceError::InvalidPaginationToken)?;
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| text.strip_prefix("offset:"))
        .and_then(|n| n.parse().ok())
        .ok_or(ServiceError::InvalidPaginationToken)
}

/// The items of a listing of `len` that the page of `size` from `offset` holds, and where the next page
/// starts, if there is one.
pub fn offset_page(len: usize, offset: usize, size: usize) -> (std::ops::Range<usize>, Option<usize>) {
    let end = offset.saturating_add(size).min(len);
    (offset.min(len)..end, (end < len).then_some(end))
}

pub fn id_hash(id: &str) -> String {
    hex::encode(&Sha256::digest(id.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_tokens_round_trip_and_refuse_garbage() {
        assert_eq!(decode_offset(&encode_offset(1000)).unwrap(), 1000);
        assert!(decode_offset("bm90IGFuIG9mZnNldA").is_err());
        assert!(decode_offset("!!").is_err());
        assert_eq!(offset_page(10, 4, 3), (4..7, Some(7)));
        assert_eq!(offset_page(10, 8, 3), (8..10, None));
        assert_eq!(offset_page(10, 12, 3), (10..10, None));
    }

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

/// Property/fuzz tests: decoding arbitrary tokens never panics (an error is `InvalidPaginationToken`), and
/// `encode` → `decode` round-trips for arbitrary ids. A longer campaign:
/// `REKO_FUZZ_CASES=100000 cargo test --profile fuzz -p reko-service --lib pagination::fuzz` (or `scripts/fuzz`);
/// the default is 256 cases per property.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Cases per property: `REKO_FUZZ_CASES`, 256 when unset.
    fn cases() -> u32 {
        std::env::var("REKO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    }

    /// Tokens: arbitrary strings, base64url-looking ones, and the hashed form with any prefix and hash.
    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_-]{0,300}",
            "[A-Za-z0-9_+/=-]{0,40}",
            "~[A-Za-z0-9_-]{0,60}~[0-9a-f]{14,18}",
            "~?[ -~]{0,40}(~[ -~]{0,20})*",
            "~\\PC{0,20}~\\PC{16}",
        ]
    }

    /// Ids: arbitrary strings (multi-byte characters around the 150-byte cut), face ids, long ones.
    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[a-zA-Z0-9_.\\-:]{1,255}",
            "\\PC{40,120}",
            (140usize..200, "\\PC{0,4}").prop_map(|(n, tail)| format!("{}{tail}", "x".repeat(n))),
            (0usize..4, 180usize..260, any::<char>()).prop_map(|(pad, n, c)| {
                let mut s = "y".repeat(pad);
                while s.len() < n {
                    s.push(c);
                }
                s
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

        #[test]
        fn decoding_arbitrary_tokens_never_panics(token in token()) {
            let decoded = decode(&token);
            let resumed = resume_after(Some(&token));
            match decoded {
                Ok(Resume::After(id)) => prop_assert_eq!(resumed.ok(), Some(Some(id))),
                Ok(Resume::AfterHashed { hash, .. }) => {
                    prop_assert_eq!(hash.len(), 16);
                    prop_assert!(matches!(resumed, Err(ServiceError::InvalidPaginationToken)));
                }
                Err(err) => {
                    prop_assert!(matches!(err, ServiceError::InvalidPaginationToken), "{err:?}");
                    prop_assert!(matches!(resumed, Err(ServiceError::InvalidPaginationToken)));
                }
            }
        }

        #[test]
        fn tokens_round_trip(id in id()) {
            let token = encode(&id);
            // the model's PaginationToken holds at most 255 characters
            prop_assert!(token.len() <= 255, "{} characters for an id of {} bytes", token.len(), id.len());
            match decode(&token) {
                Ok(Resume::After(after)) => {
                    prop_assert!(id.len() <= WHOLE_ID_MAX);
                    prop_assert_eq!(&after, &id);
                    prop_assert_eq!(resume_after(Some(&token)).ok(), Some(Some(id)));
                }
                Ok(Resume::AfterHashed { prefix, hash }) => {
                    prop_assert!(id.len() > WHOLE_ID_MAX);
                    prop_assert!(id.starts_with(&prefix) && prefix.len() <= PREFIX_BYTES && prefix.len() > PREFIX_BYTES - 4);
                    prop_assert_eq!(hash, id_hash(&id));
                }
                Err(err) => prop_assert!(false, "{token:?} of {id:?} does not decode: {err:?}"),
            }
        }
    }
}
