use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::ImageId;

/// The formats the API stores and returns; anything else is refused at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    pub fn from_mime_type(mime: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png, Self::Webp]
            .into_iter()
            .find(|format| format.mime_type() == mime)
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "jpeg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::Webp),
            _ => None,
        }
    }
}

/// The Image object of the API, field for field; `url` is `null` while the image is private.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    pub id: ImageId,
    pub name: String,
    pub url: Option<String>,
    pub width: u32,
    pub height: u32,
    pub format: Format,
    pub size: u64,
    #[serde(serialize_with = "iso8601_millis")]
    pub created_at: DateTime<Utc>,
}

impl Image {
    /// A new, private image; it was created when its id was made.
    pub fn new(
        id: ImageId,
        name: String,
        format: Format,
        width: u32,
        height: u32,
        size: u64,
    ) -> Self {
        Self {
            created_at: id.created_at(),
            id,
            name,
            url: None,
            width,
            height,
            format,
            size,
        }
    }
}

/// `2021-09-01T12:00:00.000Z`: always milliseconds, always `Z`, as the reference shows.
pub fn format_timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn iso8601_millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_timestamp(at))
}

/// Image names: 1 to 30 characters, as on every endpoint of the reference.
pub const NAME_MAX_CHARS: usize = 30;

/// The validation message for a bad name, or `None` if it is acceptable.
pub fn name_problem(field: &str, name: &str) -> Option<String> {
    let chars = name.chars().count();
    (chars == 0 || chars > NAME_MAX_CHARS)
        .then(|| format!("{field} must be between 1 and {NAME_MAX_CHARS} characters long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn serializes_exactly_the_eight_keys_of_the_reference() {
        let created_at = Utc.timestamp_millis_opt(1_630_497_600_000).unwrap();
        let image = Image {
            id: ImageId::parse("image_etm0g3x5iap4cld1qcfsjvo2").unwrap(),
            name: "Processed Image".into(),
            url: None,
            width: 460,
            height: 460,
            format: Format::Jpeg,
            size: 282_000,
            created_at,
        };
        let json = serde_json::to_value(&image).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "image_etm0g3x5iap4cld1qcfsjvo2",
                "name": "Processed Image",
                "url": null,
                "width": 460,
                "height": 460,
                "format": "jpeg",
                "size": 282000,
                "created_at": "2021-09-01T12:00:00.000Z"
            })
        );
    }

    #[test]
    fn names_are_one_to_thirty_characters() {
        assert!(name_problem("name", "").is_some());
        assert!(name_problem("name", "a").is_none());
        assert!(name_problem("name", &"é".repeat(30)).is_none());
        assert!(name_problem("name", &"a".repeat(31)).is_some());
    }
}
