//! The memory budget: image work is admitted only while the memory it will hold (estimated from
//! the file's header by `imaging::*_memory`) fits in what is left of the budget. Work that
//! would wait too long is a 503 to retry; work that could never fit is refused before it starts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::ApiError;
use crate::imaging::ImagingError;
use crate::runtime::off_the_async_threads;

const MIB: u64 = 1024 * 1024;

/// How long work waits for memory before it is told to come back.
const LONGEST_WAIT: Duration = Duration::from_secs(10);

/// Memory held by work in progress, in MiB, out of a fixed total.
#[derive(Clone)]
pub struct MemoryBudget {
    available: Arc<Semaphore>,
    total_mib: u32,
}

/// Memory reserved for one piece of work, returned to the budget when dropped.
struct Reservation {
    _permit: OwnedSemaphorePermit,
}

/// Why image work did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImageWorkError {
    /// The input's fault (it could never fit the budget, or the engine refused it): a 422.
    #[error(transparent)]
    Refused(#[from] ImagingError),
    /// The budget stayed full: a 503 to retry.
    #[error(transparent)]
    Busy(ApiError),
}

impl ImageWorkError {
    /// The refusal as the API answers it, `subject` naming the file refused.
    pub fn about(self, subject: &str) -> ApiError {
        match self {
            Self::Refused(error) => ApiError::validation(error.about(subject)),
            Self::Busy(error) => error,
        }
    }
}

impl From<ImageWorkError> for ApiError {
    fn from(refusal: ImageWorkError) -> Self {
        refusal.about("the image")
    }
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> Self {
        let total_mib = u32::try_from(bytes / MIB).unwrap_or(u32::MAX).max(1);
        Self {
            available: Arc::new(Semaphore::new(total_mib as usize)),
            total_mib,
        }
    }

    /// Runs `work` off the async threads once `bytes` are reserved for it. The reservation is
    /// held by the work itself, so that it lasts until the work ends even if the request that
    /// started it is dropped first (timed out, say).
    pub async fn run<T: Send + 'static>(
        &self,
        bytes: u64,
        work: impl FnOnce() -> Result<T, ImagingError> + Send + 'static,
    ) -> Result<T, ImageWorkError> {
        let reservation = self.reserve(bytes).await?;
        Ok(off_the_async_threads(move || {
            let _held = reservation;
            work()
        })
        .await?)
    }

    /// Reserves `bytes` for work about to start, waiting for other work to finish if need be.
    async fn reserve(&self, bytes: u64) -> Result<Reservation, ImageWorkError> {
        let needed_mib = u32::try_from(bytes.div_ceil(MIB))
            .unwrap_or(u32::MAX)
            .max(1);
        if needed_mib > self.total_mib {
            return Err(ImageWorkError::Refused(ImagingError::TooLargeToProcess {
                needed_mib,
                budget_mib: self.total_mib,
            }));
        }
        let acquired = tokio::time::timeout(
            LONGEST_WAIT,
            self.available.clone().acquire_many_owned(needed_mib),
        )
        .await;
        match acquired {
            Ok(Ok(permit)) => Ok(Reservation { _permit: permit }),
            // Timed out (the semaphore is never closed).
            _ => Err(ImageWorkError::Busy(ApiError::Unavailable {
                retry_after: 2,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_waits_for_memory_and_what_never_fits_is_refused_at_once() {
        let budget = MemoryBudget::new(10 * MIB);
        let first = budget.reserve(6 * MIB).await.unwrap();
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(6 * MIB).await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "6 + 6 MiB do not fit in 10");
        drop(first);
        waiting.await.unwrap().unwrap();
        assert!(matches!(
            budget.reserve(11 * MIB).await,
            Err(ImageWorkError::Refused(ImagingError::TooLargeToProcess {
                needed_mib: 11,
                budget_mib: 10
            }))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_that_stays_full_is_a_503() {
        let budget = MemoryBudget::new(10 * MIB);
        let _held = budget.reserve(10 * MIB).await.unwrap();
        let refused = budget.reserve(MIB).await.map(|_| ()).unwrap_err();
        assert!(matches!(
            ApiError::from(refused),
            ApiError::Unavailable { .. }
        ));
    }
}
