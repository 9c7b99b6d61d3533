//! The AWS SDK as the storage adapters and the engines share it: one configuration per process,
//! and clients made the first time they are used, so that each Lambda builds only the clients
//! its handler calls (a `get-image` cold start makes a DynamoDB client and nothing else).

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The SDK's configuration from the environment (`AWS_REGION`, credentials, and
/// `AWS_ENDPOINT_URL` for an emulator), loaded once per process.
pub async fn sdk_config() -> SdkConfig {
    CONFIG
        .get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).load())
        .await
        .clone()
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
