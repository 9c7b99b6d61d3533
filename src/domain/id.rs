//! Image ids: `image_` + 10 base36 chars of creation time in ms + 14 random chars, so that ids sort
//! by creation time and "newest first" is plain reverse key order.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngExt;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "image_";
const TIME_CHARS: usize = 10;
const RANDOM_CHARS: usize = 14;
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageId(String);

impl ImageId {
    /// A new id for an image created at `created_at`.
    pub fn generate(created_at: DateTime<Utc>) -> Self {
        let mut id = String::with_capacity(PREFIX.len() + TIME_CHARS + RANDOM_CHARS);
        id.push_str(PREFIX);
        let millis = u64::try_from(created_at.timestamp_millis()).unwrap_or(0);
        let mut time = [b'0'; TIME_CHARS];
        let mut rest = millis;
        for slot in time.iter_mut().rev() {
            *slot = ALPHABET[(rest % 36) as usize];
            rest /= 36;
        }
        id.extend(time.iter().map(|&b| b as char));
        let mut rng = rand::rng();
        id.extend((0..RANDOM_CHARS).map(|_| ALPHABET[rng.random_range(0..36)] as char));
        Self(id)
    }

    /// Parses a client-supplied id; `None` unless it has exactly the shape we generate.
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(PREFIX)?;
        let well_formed = body.len() == TIME_CHARS + RANDOM_CHARS
            && body
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        well_formed.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The creation time the id carries, to the millisecond.
    pub fn created_at(&self) -> DateTime<Utc> {
        let time = &self.0[PREFIX.len()..PREFIX.len() + TIME_CHARS];
        let millis = time.bytes().fold(0i64, |total, digit| {
            let value = ALPHABET.iter().position(|&b| b == digit).unwrap_or(0);
            total * 36 + value as i64
        });
        DateTime::from_timestamp_millis(millis).unwrap_or_default()
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ImageId {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or_else(|| format!("{raw} is not a valid image id"))
    }
}

impl From<ImageId> for String {
    fn from(id: ImageId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn generated_ids_have_the_documented_shape() {
        let id = ImageId::generate(Utc::now());
        assert_eq!(id.as_str().len(), 30);
        assert!(ImageId::parse(id.as_str()).is_some(), "{id}");
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let earlier = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
        let later = Utc.timestamp_millis_opt(1_700_000_000_001).unwrap();
        for _ in 0..100 {
            assert!(ImageId::generate(earlier) < ImageId::generate(later));
        }
    }

    #[test]
    fn time_prefix_is_base36_milliseconds() {
        let at = Utc.timestamp_millis_opt(36 * 36 + 35).unwrap();
        assert!(
            ImageId::generate(at)
                .as_str()
                .starts_with("image_000000010z")
        );
    }

    #[test]
    fn parse_rejects_other_shapes() {
        for bad in [
            "",
            "image_",
            "image_ABCDEFGHIJKLMNOPQRSTUVWX",
            "image_abc",
            "img_etm0g3x5iap4cld1qcfsjvo2",
            "image_etm0g3x5iap4cld1qcfsjvo2x",
            "image_etm0g3x5iap4cld1qcfsjv-2",
        ] {
            assert!(ImageId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(ImageId::parse("image_etm0g3x5iap4cld1qcfsjvo2").is_some());
    }
}
