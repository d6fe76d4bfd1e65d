//! Access keys: which secret signs for which account.

use std::collections::HashMap;

use serde::Deserialize;

/// The account of every caller in dev mode (no keys configured).
pub const DEV_ACCOUNT_ID: &str = "000000000000";

/// One access key pair and the account it belongs to.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default = "dev_account")]
    pub account_id: String,
}

fn dev_account() -> String {
    DEV_ACCOUNT_ID.to_owned()
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// The keys the server accepts.
#[derive(Debug, Clone)]
pub enum KeyRing {
    /// No keys configured: any well-formed signature is accepted and every caller is
    /// [`DEV_ACCOUNT_ID`]. Only for a server bound to loopback.
    Dev,
    /// Signatures are verified against these keys, by access key id.
    Keys(HashMap<String, AccessKey>),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("credentials file: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("access key {0:?}: account_id must be 12 digits")]
    BadAccount(String),
    #[error("access key {0:?} is listed twice")]
    Duplicate(String),
    #[error("access key ids and secrets must not be empty")]
    Empty,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    #[serde(default)]
    keys: Vec<AccessKey>,
}

impl KeyRing {
    /// A key ring of the given keys; checks account ids and duplicates.
    pub fn from_keys(keys: impl IntoIterator<Item = AccessKey>) -> Result<KeyRing, KeyRingError> {
        let mut map = HashMap::new();
        for key in keys {
            if key.access_key_id.is_empty() || key.secret_access_key.is_empty() {
                return Err(KeyRingError::Empty);
            }
            if key.account_id.len() != 12 || !key.account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(KeyRingError::BadAccount(key.access_key_id));
            }
            if map.contains_key(&key.access_key_id) {
                return Err(KeyRingError::Duplicate(key.access_key_id));
            }
            map.insert(key.access_key_id.clone(), key);
        }
        Ok(KeyRing::Keys(map))
    }

    /// Parses a credentials file:
    ///
    /// ```toml
    /// [[keys]]
    /// access_key_id = "AKIDEXAMPLE"
    /// secret_access_key = "..."
    /// account_id = "111122223333"
    /// ```
    pub fn from_toml(text: &str) -> Result<KeyRing, KeyRingError> {
        let file: CredentialsFile = toml::from_str(text)?;
        KeyRing::from_keys(file.keys)
    }

    pub fn is_dev(&self) -> bool {
        matches!(self, KeyRing::Dev)
    }

    pub fn len(&self) -> usize {
        match self {
            KeyRing::Dev => 0,
            KeyRing::Keys(keys) => keys.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_credentials_file_and_rejects_bad_accounts() {
        let ring = KeyRing::from_toml(
            "[[keys]]\naccess_key_id = \"A\"\nsecret_access_key = \"s\"\naccount_id = \"111122223333\"\n\
             [[keys]]\naccess_key_id = \"B\"\nsecret_access_key = \"t\"\n",
        )
        .unwrap();
        assert_eq!(ring.len(), 2);
        let KeyRing::Keys(keys) = ring else { panic!() };
        assert_eq!(keys["B"].account_id, DEV_ACCOUNT_ID);
        assert!(matches!(
            KeyRing::from_toml("[[keys]]\naccess_key_id = \"A\"\nsecret_access_key = \"s\"\naccount_id = \"12\"\n"),
            Err(KeyRingError::BadAccount(_))
        ));
        assert!(KeyRing::from_toml("[[keys]]\naccess_key = \"A\"\n").is_err());
    }
}
