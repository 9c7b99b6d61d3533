//! Presigned upload URLs for the embedded backend, written and read here alone: the local server
//! plays S3's part, accepting a PUT only with a valid, unexpired HMAC over the key, content type
//! and size. A URL is `{origin}{layout::local_path(key)}?expires={unix}&signature={hex}`.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::BackendError;
use crate::store::BackendResult;
use crate::store::layout;

const SECRET_BYTES: usize = 32;

/// A new random secret at `path`, which must not exist yet (two servers starting at once must
/// not each write their own).
fn create_secret(path: &Path) -> BackendResult<Vec<u8>> {
    let secret = rand::random::<[u8; SECRET_BYTES]>().to_vec();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(BackendError::failed)?;
    file.write_all(&secret)
        .and_then(|()| file.sync_all())
        .map_err(BackendError::failed)?;
    Ok(secret)
}

pub struct UploadSigner {
    secret: Vec<u8>,
    origin: String,
}

impl UploadSigner {
    /// Reads the store's signing secret, creating it on first use: readable by its owner only,
    /// and on disk before any URL is signed with it. A damaged secret is an error, never replaced:
    /// replacing it would void every URL handed out.
    pub fn open(secret_file: &Path, origin: &str) -> BackendResult<Self> {
        let secret = match std::fs::read(secret_file) {
            Ok(secret) if secret.len() >= SECRET_BYTES => secret,
            Ok(_) => {
                return Err(BackendError::failed(format!(
                    "the upload signing secret {} is damaged; remove it to make a new one",
                    secret_file.display()
                )));
            }
            Err(error) if error.kind() == ErrorKind::NotFound => create_secret(secret_file)?,
            Err(error) => return Err(BackendError::failed(error)),
        };
        Ok(Self {
            secret,
            origin: origin.trim_end_matches('/').to_owned(),
        })
    }

    fn mac(&self, key: &str, content_type: &str, size: u64, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(format!("PUT\n{key}\n{content_type}\n{size}\n{expires}").as_bytes());
        mac
    }

    /// The URL through which `size` bytes of `content_type` may be PUT at `key` until `expires`.
    pub fn sign(&self, key: &str, content_type: &str, size: u64, expires: DateTime<Utc>) -> String {
        let expires = expires.timestamp();
        let signature = hex::encode(
            self.mac(key, content_type, size, expires)
                .finalize()
                .into_bytes(),
        );
        format!(
            "{}{}?expires={expires}&signature={signature}",
            self.origin,
            layout::local_path(key)
        )
    }

    /// The key a PUT to `path` with `query` may write, if it carries an unexpired signature
    /// over that key, `content_type` and `size`.
    pub fn verify_request<'a>(
        &self,
        path: &'a str,
        query: &HashMap<String, String>,
        content_type: &str,
        size: u64,
    ) -> Option<&'a str> {
        let key = layout::key_of_local_path(path)?;
        let expires = query.get("expires")?.parse().ok()?;
        let signature = query.get("signature")?;
        self.verify(key, content_type, size, expires, signature)
            .then_some(key)
    }

    /// Whether a PUT of `size` bytes of `content_type` at `key` matches an unexpired signature.
    fn verify(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires: i64,
        signature: &str,
    ) -> bool {
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        expires >= Utc::now().timestamp()
            && self
                .mac(key, content_type, size, expires)
                .verify_slice(&signature)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn parts(url: &str) -> (i64, String) {
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut signature = String::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "expires" => expires = value.parse().unwrap(),
                "signature" => signature = value.into_owned(),
                _ => {}
            }
        }
        (expires, signature)
    }

    /// The path and query of a URL, as the local server receives them.
    fn request_of(url: &str) -> (String, HashMap<String, String>) {
        let (path, query) = url
            .strip_prefix("http://h")
            .unwrap()
            .split_once('?')
            .unwrap();
        let query = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        (path.to_owned(), query)
    }

    #[test]
    fn a_damaged_secret_is_an_error_not_a_new_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"short").unwrap();
        assert!(UploadSigner::open(&path, "http://h").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"short", "left as it was");
    }

    #[test]
    fn a_signed_url_names_its_key_to_the_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let signer = UploadSigner::open(&dir.path().join("secret"), "http://h").unwrap();
        let key = "uploads/test/acct/image_x";
        let url = signer.sign(key, "image/png", 10, Utc::now() + Duration::minutes(15));
        let (path, query) = request_of(&url);
        assert_eq!(
            signer.verify_request(&path, &query, "image/png", 10),
            Some(key)
        );
        assert_eq!(signer.verify_request(&path, &query, "image/png", 9), None);
        let elsewhere = path.replace("image_x", "image_y");
        assert_eq!(
            signer.verify_request(&elsewhere, &query, "image/png", 10),
            None
        );
        assert_eq!(
            signer.verify_request(&path, &HashMap::new(), "image/png", 10),
            None
        );
    }

    #[test]
    fn accepts_exactly_what_was_signed_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let signer = UploadSigner::open(&dir.path().join("secret"), "http://h/").unwrap();
        let key = "uploads/test/acct/image_x";
        let url = signer.sign(key, "image/png", 10, Utc::now() + Duration::minutes(15));
        assert!(
            url.starts_with("http://h/uploads/test/acct/image_x?expires="),
            "{url}"
        );
        let (expires, signature) = parts(&url);
        assert!(signer.verify(key, "image/png", 10, expires, &signature));
        assert!(!signer.verify(key, "image/png", 11, expires, &signature));
        assert!(!signer.verify(key, "image/jpeg", 10, expires, &signature));
        assert!(!signer.verify(
            "uploads/test/acct/image_y",
            "image/png",
            10,
            expires,
            &signature
        ));
        assert!(!signer.verify(key, "image/png", 10, expires + 1, &signature));

        let reopened = UploadSigner::open(&dir.path().join("secret"), "http://h").unwrap();
        assert!(
            reopened.verify(key, "image/png", 10, expires, &signature),
            "the secret persists"
        );

        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secret is its owner's alone");

        let stale = signer.sign(key, "image/png", 10, Utc::now() - Duration::seconds(1));
        let (expires, signature) = parts(&stale);
        assert!(!signer.verify(key, "image/png", 10, expires, &signature));
    }
}
