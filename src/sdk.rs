//! The AWS SDK as the storage adapters and the engines share it: one configuration per process,
//! and clients made the first time they are used, so that each Lambda builds only the clients
//! its handler calls (a `get-image` cold start makes a DynamoDB client and nothing else).
//!
//! Where the configuration comes from depends on who runs: the CLI and the local server take the
//! SDK's whole default chain ([`sdk_config`]: profiles, SSO, `credential_process`, instance
//! roles), a Lambda only its environment ([`from_lambda_environment`]). A Lambda's code never
//! calls the default chain, which keeps its STS, SSO, IMDS and profile code out of every function.

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use tokio::sync::OnceCell;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The SDK's default chain, loaded once per process: region and credentials from the
/// environment, profiles (with SSO and `credential_process`), container and instance roles;
/// `AWS_ENDPOINT_URL` (and per-service variants) for an emulator.
pub async fn sdk_config() -> SdkConfig {
    CONFIG
        .get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).load())
        .await
        .clone()
}

/// The configuration from what a Lambda's runtime sets, given by `var`: `AWS_REGION` and the
/// function role's credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`; and `AWS_ENDPOINT_URL`, which a local run against an emulator adds. The
/// credentials are read once: a role's credentials do not change during its execution
/// environment's life.
pub fn from_lambda_environment(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(
            var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .map(Region::new),
        );
    config.set_endpoint_url(var("AWS_ENDPOINT_URL"));
    if let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "Lambda");
        config.set_credentials_provider(Some(SharedCredentialsProvider::new(credentials)));
    }
    config.build()
}

/// An SDK client made on first use.
pub struct LazyClient<C> {
    client: OnceLock<C>,
    make: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C> LazyClient<C> {
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self {
            client: OnceLock::new(),
            make: Box::new(make),
        }
    }

    /// The client, made now if it was not yet (logged at debug level, so that a cold start
    /// shows which clients its function made).
    pub fn get(&self) -> &C {
        self.client.get_or_init(|| {
            tracing::debug!(
                client = std::any::type_name::<C>(),
                "making an AWS SDK client"
            );
            (self.make)()
        })
    }

    /// A client from `sdk` by `make`, made on first use.
    pub fn from_sdk(sdk: &SdkConfig, make: fn(&SdkConfig) -> C) -> Self
    where
        C: 'static,
    {
        let sdk = sdk.clone();
        Self::new(move || make(&sdk))
    }
}

/// A client made already (tests give mocked ones).
impl<C: Clone + Send + Sync + 'static> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self::new(move || client.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_client_is_made_once_and_only_when_used() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let client = LazyClient::new(move || counter.fetch_add(1, Ordering::SeqCst) + 100);
        assert_eq!(made.load(Ordering::SeqCst), 0, "not made before use");
        assert_eq!(*client.get(), 100);
        assert_eq!(*client.get(), 100);
        assert_eq!(made.load(Ordering::SeqCst), 1, "made once");
    }
}
