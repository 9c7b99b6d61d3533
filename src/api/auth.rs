//! API keys: `x-api-key` in, an owner out.

use chrono::{DateTime, Utc};
use lambda_http::http::HeaderMap;

use crate::domain::{ApiError, KeyRecord, Owner, Stage, hash_api_key, new_api_key, stage_of_key};
use crate::store::{BackendResult, KeyStore, Window};

use super::Caller;
use crate::app::App;

pub const API_KEY_HEADER: &str = "x-api-key";

/// The caller whose key the `x-api-key` header carries: the headers suffice, so that a request
/// without a valid key is refused before its body is read.
pub async fn authenticate(keys: &dyn KeyStore, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let key = headers
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

/// Counts the request against its key's limit, if its stage has one: at most that many
/// requests in any sixty seconds.
pub async fn admit(app: &App, caller: &Caller) -> Result<(), ApiError> {
    match app.limits.rate_limit(caller.owner.stage) {
        Some(limit) => admit_within(app, &caller.key_hash, limit, 60).await,
        None => Ok(()),
    }
}

/// Counts a publish or unpublish against its key's hourly limit: each may invalidate a path
/// on the CDN, which is billed per path.
pub async fn admit_publishing(app: &App, caller: &Caller) -> Result<(), ApiError> {
    let subject = format!("{}#publishing", caller.key_hash);
    admit_within(app, &subject, app.limits.publish_limit, 3600).await
}

/// Admits one request of `subject` if fewer than `limit` were admitted in the last `period`
/// seconds, so that no burst fits at a window's edge. The window slides as estimated from two
/// fixed windows' counters: the previous one's count weighs by how much of it the sliding
/// window still covers.
async fn admit_within(app: &App, subject: &str, limit: u32, period: u32) -> Result<(), ApiError> {
    let limiter = app.store.rate_limiter.as_ref();
    let now = Utc::now().timestamp();
    let window = Window::at(now, period);
    let elapsed = now.rem_euclid(i64::from(period)) as u32;
    let sliding = SlidingWindow {
        limit,
        period,
        previous: limiter.count(subject, window.previous()).await?,
    };
    let allowance = sliding.allowance(elapsed);
    if allowance > 0 && limiter.admit(subject, window, allowance).await? {
        return Ok(());
    }
    // Refused: this window's count has reached the allowance.
    Err(ApiError::TooManyRequests {
        retry_after: sliding.retry_after(allowance, elapsed),
    })
}

/// A limit of requests per `period` seconds, and what was used in the previous fixed window.
struct SlidingWindow {
    limit: u32,
    period: u32,
    previous: u32,
}

impl SlidingWindow {
    /// The requests of a window counting `count` still inside the sliding window `elapsed`
    /// seconds into the next one, rounded up so that the estimate never admits too many.
    fn carried(&self, count: u32, elapsed: u32) -> u32 {
        (u64::from(count) * u64::from(self.period - elapsed)).div_ceil(u64::from(self.period))
            as u32
    }

    /// How many requests this window may count, `elapsed` seconds into it.
    fn allowance(&self, elapsed: u32) -> u32 {
        self.limit
            .saturating_sub(self.carried(self.previous, elapsed))
    }

    /// Seconds from `elapsed` until a request would be admitted, given `current` requests
    /// counted in this window: later in it as the previous window slides out, or in the next,
    /// where this window's count is the one sliding out. Never, for a limit of 0: a period.
    fn retry_after(&self, current: u32, elapsed: u32) -> u64 {
        let in_this_window = (elapsed..self.period)
            .find(|&later| self.carried(self.previous, later) + current < self.limit)
            .map(|later| later - elapsed);
        let in_the_next = || {
            (0..self.period)
                .find(|&later| self.carried(current, later) < self.limit)
                .map(|later| self.period - elapsed + later)
        };
        u64::from(
            in_this_window
                .or_else(in_the_next)
                .unwrap_or(self.period)
                .max(1),
        )
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
        created_at: DateTime::from_timestamp(Utc::now().timestamp(), 0),
    })
    .await?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::SlidingWindow;

    fn per_minute(limit: u32, previous: u32) -> SlidingWindow {
        SlidingWindow {
            limit,
            period: 60,
            previous,
        }
    }

    #[test]
    fn the_previous_minute_weighs_by_what_the_window_still_covers() {
        let window = per_minute(10, 10);
        assert_eq!(window.allowance(0), 0, "a full minute just ended");
        assert_eq!(window.allowance(30), 5);
        assert_eq!(
            window.allowance(59),
            9,
            "one sixth of a request still counts"
        );
        let idle = per_minute(10, 0);
        assert_eq!(idle.allowance(0), 10);
    }

    #[test]
    fn no_burst_fits_at_a_minute_edge() {
        // Ten requests at 0:59 leave none for 1:00, and only one by 1:06.
        let window = per_minute(10, 10);
        assert_eq!(window.allowance(0), 0);
        assert_eq!(window.allowance(6), 1);
        assert_eq!(window.retry_after(0, 0), 6);
    }

    #[test]
    fn a_full_minute_waits_for_its_own_count_to_slide_out() {
        let window = per_minute(10, 0);
        // Ten counted by 0:50: the next is admitted once a tenth of them has slid out, 6 s
        // into the next minute.
        assert_eq!(window.retry_after(10, 50), 16);
    }

    #[test]
    fn longer_periods_slide_the_same_way() {
        let hourly = SlidingWindow {
            limit: 60,
            period: 3600,
            previous: 60,
        };
        assert_eq!(hourly.allowance(1800), 30);
        assert_eq!(hourly.retry_after(30, 1800), 60, "one more a minute");
    }

    #[test]
    fn a_limit_of_zero_admits_nothing() {
        let window = per_minute(0, 0);
        assert_eq!(window.allowance(0), 0);
        assert_eq!(window.retry_after(0, 10), 60);
    }
}
