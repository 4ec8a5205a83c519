//! Waiting for what is not possible yet: how long to keep trying, and the one loop
//! that does the trying, so that every wait gives up alike and keeps the last cause.
//! Mostly a proposal or a read waiting out an election (a leader, or from an edge a
//! core, to answer); also a starting node waiting for its cluster, and a stopping
//! node waiting for the last handle on its database.

use std::ops::ControlFlow;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{AttemptError, Unavailable};

/// How long to keep trying, and how long to pause between attempts.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub total: Duration,
    pub pause: Duration,
}

impl Patience {
    /// For a request waiting on the leader: longer than an election takes, short
    /// enough that a client told `temporarily_unavailable` can retry soon.
    pub const LEADER: Self = Self {
        total: Duration::from_secs(5),
        pause: Duration::from_millis(50),
    };

    /// Runs `attempt` until it breaks with a result, or until the patience is spent
    /// after an attempt that asked to continue; the failure it continued with is the
    /// cause of the [`Unavailable::GaveUp`] then returned. `attempt` is told how much
    /// of the patience is left. It always runs at least once.
    pub async fn retry<T>(
        &self,
        attempt: impl AsyncFnMut(Duration) -> ControlFlow<Result<T, Unavailable>, AttemptError>,
    ) -> Result<T, Unavailable> {
        self.retry_when(attempt, std::future::pending).await
    }

    /// As [`Patience::retry`], but the next attempt starts as soon as `woken`
    /// resolves (a new leader is known, say), the pause being only the longest wait
    /// for it: what made an attempt fail usually ends at a moment that can be
    /// watched for, and a fixed pause would add up to its length to every wait.
    pub async fn retry_when<T>(
        &self,
        mut attempt: impl AsyncFnMut(Duration) -> ControlFlow<Result<T, Unavailable>, AttemptError>,
        mut woken: impl AsyncFnMut(),
    ) -> Result<T, Unavailable> {
        let started = Instant::now();
        loop {
            let remaining = self.total.saturating_sub(started.elapsed());
            match attempt(remaining).await {
                ControlFlow::Break(result) => return result,
                ControlFlow::Continue(last) => {
                    if started.elapsed() + self.pause >= self.total {
                        return Err(Unavailable::gave_up(self.total, last));
                    }
                    let _ = tokio::time::timeout(self.pause, woken()).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Patience = Patience {
        total: Duration::from_millis(200),
        pause: Duration::from_millis(10),
    };

    #[tokio::test(start_paused = true)]
    async fn retries_until_done_and_gives_up_with_the_last_cause() {
        let mut calls = 0;
        let done = SHORT
            .retry(async |_| {
                calls += 1;
                if calls < 3 {
                    ControlFlow::Continue(AttemptError::NoLeaderYet)
                } else {
                    ControlFlow::Break(Ok(calls))
                }
            })
            .await;
        assert_eq!(done.ok(), Some(3));

        let mut calls = 0;
        let gave_up = SHORT
            .retry(
                async |_| -> ControlFlow<Result<(), Unavailable>, AttemptError> {
                    calls += 1;
                    ControlFlow::Continue(AttemptError::NoLeaderKnown(format!("node-{calls}")))
                },
            )
            .await;
        let Err(Unavailable::GaveUp { last, .. }) = gave_up else {
            panic!("expected to give up, got {gave_up:?}");
        };
        assert_eq!(
            last.to_string(),
            format!("node-{calls} is not the leader and knows of none")
        );
        assert!((19..=21).contains(&calls), "{calls} attempts");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_starts_the_next_attempt_before_the_pause_is_over() {
        let long = Patience {
            total: Duration::from_secs(60),
            pause: Duration::from_secs(10),
        };
        let started = Instant::now();
        let mut calls = 0;
        let done = long
            .retry_when(
                async |_| {
                    calls += 1;
                    if calls < 3 {
                        ControlFlow::Continue(AttemptError::NoLeaderYet)
                    } else {
                        ControlFlow::Break(Ok(calls))
                    }
                },
                async || tokio::time::sleep(Duration::from_millis(5)).await,
            )
            .await;
        assert_eq!(done.ok(), Some(3));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "waited {:?}: the pause, not the wake",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_failure_ends_at_once() {
        let mut calls = 0;
        let stopped = SHORT
            .retry(
                async |_| -> ControlFlow<Result<(), Unavailable>, AttemptError> {
                    calls += 1;
                    ControlFlow::Break(Err(Unavailable::NoCores))
                },
            )
            .await;
        assert!(matches!(stopped, Err(Unavailable::NoCores)));
        assert_eq!(calls, 1);
    }
}
