//! Authentication: AWS Signature Version 4 (header form, service `rekognition`, any region) and the
//! access keys that map a caller to an account.
//!
//! The server checks the head with [`verify_head`] before it reads a body, then hands [`verify`] the request
//! head and body; what comes back is the [`Principal`] whose
//! account scopes everything the request touches. [`sign`] is the same algorithm from the client side,
//! for tests and tools.

mod keys;
mod sigv4;

pub use keys::{AccessKey, DEV_ACCOUNT_ID, KeyRing, KeyRingError};
pub use sigv4::{AuthError, MAX_CLOCK_SKEW_SECS, Principal, RequestParts, SERVICE, sign, verify, verify_head};
