//! Where everything lives: the keys of blobs and the paths and URLs they are reached by. Every
//! adapter, the local server and the tests ask this module; none spells a key or path itself.
//!
//! ```text
//! originals/{stage}/{account}/{image_id}   private originals, never served
//! uploads/{stage}/{account}/{image_id}     direct uploads, until they are ingested
//! public/images/{image_id}                 published copies: the CDN's origin is `public/`,
//!                                          so the CDN serves them at /images/{image_id}
//! ```

use crate::domain::{ImageId, Owner, Stage};

/// The prefix the CDN reads from; the only one it may read.
pub const PUBLIC_PREFIX: &str = "public";
pub const UPLOADS_PREFIX: &str = "uploads";

/// Published copies never change under their id: caches may keep them for a year.
pub const PUBLIC_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Where an image's original lives: private, never served directly.
pub fn original_key(owner: &Owner, id: &ImageId) -> String {
    format!("originals/{}/{}/{id}", owner.stage, owner.account)
}

/// Where a published copy lives.
pub fn public_key(id: &ImageId) -> String {
    format!("{PUBLIC_PREFIX}{}", public_path(id))
}

/// The path a published copy has under the CDN's origin (`{cdn}/images/{id}`), which is also
/// what an invalidation names.
pub fn public_path(id: &ImageId) -> String {
    format!("/images/{id}")
}

/// A published copy's URL on a CDN whose base URL is `base` (scheme and host, maybe a path).
pub fn public_url(base: &str, id: &ImageId) -> String {
    format!("{}{}", base.trim_end_matches('/'), public_path(id))
}

/// The CDN's origin path in the bucket: the distribution serves `public/images/…` as
/// `/images/…`.
pub fn cdn_origin_path() -> String {
    format!("/{PUBLIC_PREFIX}")
}

/// The cache policy a blob is stored with: only published copies are cacheable.
pub fn cache_control(key: &str) -> Option<&'static str> {
    key.strip_prefix(PUBLIC_PREFIX)
        .is_some_and(|rest| rest.starts_with('/'))
        .then_some(PUBLIC_CACHE_CONTROL)
}

/// Where a direct upload lands before it is ingested.
pub fn upload_key(owner: &Owner, id: &ImageId) -> String {
    format!("{UPLOADS_PREFIX}/{}/{}/{id}", owner.stage, owner.account)
}

/// The owner and image id an upload key stands for, if it is one.
pub fn parse_upload_key(key: &str) -> Option<(Owner, ImageId)> {
    let mut parts = key
        .strip_prefix(UPLOADS_PREFIX)?
        .strip_prefix('/')?
        .split('/');
    let (stage, account, id) = (parts.next()?, parts.next()?, parts.next()?);
    let owner = Owner {
        stage: Stage::parse(stage)?,
        account: account.to_owned(),
    };
    let plain = !account.is_empty() && parts.next().is_none();
    plain.then_some((owner, ImageId::parse(id)?))
}

/// The local server stands in for the bucket and the CDN under its own origin: a key `k` is
/// reachable at `/{k}`, so the CDN's `/images/{id}` is `/public/images/{id}` there and a direct
/// upload's PUT goes to `/uploads/…`.
pub fn local_path(key: &str) -> String {
    format!("/{key}")
}

/// The blob key a local path names: the inverse of [`local_path`].
pub fn key_of_local_path(path: &str) -> Option<&str> {
    path.strip_prefix('/').filter(|key| !key.is_empty())
}

/// The local server's routes (axum syntax) for published copies and for direct uploads.
pub fn local_public_route() -> String {
    format!("/{PUBLIC_PREFIX}/images/{{image_id}}")
}

pub fn local_uploads_route() -> String {
    format!("/{UPLOADS_PREFIX}/{{*rest}}")
}

/// Base of published URLs on the local server at `origin`.
pub fn local_public_base(origin: &str) -> String {
    format!("{}{}", origin.trim_end_matches('/'), cdn_origin_path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn owner() -> Owner {
        Owner {
            stage: Stage::Test,
            account: "acct_1".into(),
        }
    }

    #[test]
    fn upload_keys_round_trip_and_nothing_else_parses() {
        let id = ImageId::generate(Utc::now());
        let key = upload_key(&owner(), &id);
        assert_eq!(parse_upload_key(&key), Some((owner(), id.clone())));
        for other in [
            original_key(&owner(), &id),
            format!("{key}/extra"),
            format!("uploadsx/test/acct_1/{id}"),
            format!("uploads/test//{id}"),
        ] {
            assert_eq!(parse_upload_key(&other), None, "{other}");
        }
    }

    #[test]
    fn the_local_server_serves_what_the_cdn_serves_at_the_same_key() {
        let id = ImageId::generate(Utc::now());
        let local = public_url(&local_public_base("http://127.0.0.1:3000/"), &id);
        assert_eq!(local, format!("http://127.0.0.1:3000/public/images/{id}"));
        let path = local.strip_prefix("http://127.0.0.1:3000").unwrap();
        assert_eq!(key_of_local_path(path), Some(public_key(&id).as_str()));
        assert_eq!(
            public_url("https://d1.cloudfront.net", &id),
            format!("https://d1.cloudfront.net/images/{id}")
        );
    }

    #[test]
    fn only_public_copies_are_cacheable() {
        let id = ImageId::generate(Utc::now());
        assert_eq!(cache_control(&public_key(&id)), Some(PUBLIC_CACHE_CONTROL));
        assert_eq!(cache_control(&original_key(&owner(), &id)), None);
        assert_eq!(cache_control("publicity/x"), None);
    }
}
