//! Who is calling: API keys, the account they belong to and the stage they work in.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngExt;
use sha2::{Digest, Sha256};

/// `test` and `live` keys of one account never see each other's images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Test,
    Live,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Live => "live",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "test" => Some(Self::Test),
            "live" => Some(Self::Live),
            _ => None,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The partition an image lives in: one account in one stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub account: String,
    pub stage: Stage,
}

const KEY_SECRET_CHARS: usize = 32;
const ACCOUNT_CHARS: usize = 16;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A new account id (`acct_` + 16 lowercase alphanumerics).
pub fn new_account_id() -> String {
    format!("acct_{}", random_string(&BASE62[..36], ACCOUNT_CHARS))
}

/// Account ids become parts of storage keys: 1 to 64 of `[A-Za-z0-9_-]`.
pub fn valid_account_id(account: &str) -> bool {
    (1..=64).contains(&account.len())
        && account
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// A freshly minted key: `{stage}_` + 32 base62 chars (about 190 random bits).
pub fn new_api_key(stage: Stage) -> String {
    format!("{stage}_{}", random_string(BASE62, KEY_SECRET_CHARS))
}

/// Keys are stored only as this hash; the key itself is shown once and never kept.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The stage a key claims by its prefix; keys without one are not ours.
pub fn stage_of_key(key: &str) -> Option<Stage> {
    let (prefix, secret) = key.split_once('_')?;
    (!secret.is_empty()).then_some(())?;
    Stage::parse(prefix)
}

/// What the key store keeps for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub hash: String,
    pub owner: Owner,
    pub active: bool,
    /// When it was made, to the second (unknown for keys made before this was kept).
    pub created_at: Option<DateTime<Utc>>,
}

impl KeyRecord {
    /// What names the key in listings and revocations without revealing it: the start of its
    /// hash.
    pub fn id(&self) -> &str {
        &self.hash[..self.hash.len().min(KEY_ID_LENGTH)]
    }
}

/// Hex digits of a key's hash that name it.
pub const KEY_ID_LENGTH: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_carry_their_stage_and_are_unique() {
        let test_key = new_api_key(Stage::Test);
        let live_key = new_api_key(Stage::Live);
        assert_eq!(stage_of_key(&test_key), Some(Stage::Test));
        assert_eq!(stage_of_key(&live_key), Some(Stage::Live));
        assert_eq!(test_key.len(), "test_".len() + 32);
        assert_ne!(new_api_key(Stage::Test), new_api_key(Stage::Test));
    }

    #[test]
    fn keys_without_a_known_stage_prefix_are_refused() {
        for bad in ["", "test_", "prod_abc", "testabc", "TEST_abc"] {
            assert_eq!(stage_of_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn account_ids_are_safe_in_storage_keys() {
        assert!(valid_account_id(&new_account_id()));
        assert!(valid_account_id("acct_Team-1"));
        for bad in ["", "a/b", "a#b", "..", "a b", &"a".repeat(65)] {
            assert!(!valid_account_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
