//! API keys: `x-api-key` in, an owner out.

use chrono::Utc;
use lambda_http::Request;

use crate::domain::{ApiError, KeyRecord, Owner, Stage, hash_api_key, new_api_key, stage_of_key};
use crate::store::{BackendResult, KeyStore};

use super::Caller;
use crate::app::App;

pub const API_KEY_HEADER: &str = "x-api-key";

pub async fn authenticate(keys: &dyn KeyStore, request: &Request) -> Result<Caller, ApiError> {
    let key = request
        .headers()
        .get(API_KEY_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("Missing API key: send it in the x-api-key header.".into())
        })?;
    let invalid = || ApiError::Unauthorized("Invalid API key.".into());
    let stage = stage_of_key(key).ok_or_else(invalid)?;
    let key_hash = hash_api_key(key);
    let record = keys
        .find(&key_hash)
        .await?
        .filter(|record| record.active && record.owner.stage == stage)
        .ok_or_else(invalid)?;
    Ok(Caller {
        owner: record.owner,
        key_hash,
    })
}

/// Counts the request against its key's limit for this minute, if its stage has one.
pub async fn admit(app: &App, caller: &Caller) -> Result<(), ApiError> {
    let Some(limit) = app.limits.rate_limit(caller.owner.stage) else {
        return Ok(());
    };
    let now = Utc::now().timestamp();
    let minute = now.div_euclid(60);
    if app
        .store
        .rate_limiter
        .admit(&caller.key_hash, minute, limit)
        .await?
    {
        Ok(())
    } else {
        let retry_after = u64::try_from(60 - now.rem_euclid(60)).unwrap_or(60);
        Err(ApiError::TooManyRequests { retry_after })
    }
}

/// Mints a key for `account` in `stage`, stores its hash, and returns the key: the only time it
/// is ever seen.
pub async fn create_key(keys: &dyn KeyStore, account: &str, stage: Stage) -> BackendResult<String> {
    let key = new_api_key(stage);
    keys.insert(&KeyRecord {
        hash: hash_api_key(&key),
        owner: Owner {
            account: account.to_owned(),
            stage,
        },
        active: true,
    })
    .await?;
    Ok(key)
}
