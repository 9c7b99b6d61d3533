//! The AWS SDK as the storage adapters and the engines share it: one configuration per process,
//! and clients made the first time they are used, so that each Lambda builds only the clients
//! its handler calls (a `get-image` cold start makes a DynamoDB client and nothing else).
//!
//! Where the configuration comes from is the entry point's choice ([`load_with`]): the CLI and
//! the local server take the SDK's whole default chain (profiles, SSO, `credential_process`,
//! instance roles), a Lambda only its environment. Neither links the other's loader, which
//! keeps the default chain's code (STS, SSO, IMDS, profile parsing) out of every function.

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;

/// How a process loads its SDK configuration.
pub type Loader = fn() -> BoxFuture<'static, SdkConfig>;

static LOADER: OnceLock<Loader> = OnceLock::new();
static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// Chooses how this process loads its SDK configuration. The entry point calls it once, before
/// anything makes a client; a later choice is ignored.
pub fn load_with(loader: Loader) {
    let _ = LOADER.set(loader);
}

/// The process's SDK configuration, loaded once by the loader its entry point chose.
///
/// # Panics
///
/// If the entry point chose no loader: a programming error, which any use of AWS shows at once.
pub async fn sdk_config() -> SdkConfig {
    CONFIG
        .get_or_init(|| {
            let load = LOADER.get().expect(
                "the entry point chooses how to load the AWS configuration (sdk::load_with)",
            );
            load()
        })
        .await
        .clone()
}

/// The SDK's default chain: region and credentials from the environment, profiles (with SSO and
/// `credential_process`), container and instance roles; `AWS_ENDPOINT_URL` (and per-service
/// variants) for an emulator.
pub fn default_chain() -> BoxFuture<'static, SdkConfig> {
    Box::pin(aws_config::defaults(BehaviorVersion::latest()).load())
}

/// What a Lambda's runtime sets: `AWS_REGION` and the function role's credentials in
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; and `AWS_ENDPOINT_URL`,
/// which a local run against an emulator adds.
pub fn lambda_environment() -> BoxFuture<'static, SdkConfig> {
    Box::pin(std::future::ready(from_lambda_environment(|name| {
        std::env::var(name).ok()
    })))
}

/// [`lambda_environment`] over any source of variables. The credentials are read once: a
/// function's role credentials do not change during its execution environment's life.
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
