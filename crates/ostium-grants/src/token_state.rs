//! The replicated token state as the grant actors see it: propose one command and
//! get its outcome once it is applied, and read what every acknowledged write has
//! made of a token.
//!
//! A narrow trait rather than the Raft node itself, because a core node reads its own
//! state machine while an edge reads through the hot cache and asks a core when the
//! cache cannot answer; and so that grant tests can run against a plain in-memory
//! [`State`].

use std::sync::Mutex;

use ostium_state::{
    Denial, EdgeState, RefreshTokenRecord, ReplicatedState, State, StateCommand, StateResponse,
    TokenDigest, TokenFacts,
};

use crate::password_validator::BoxFuture;

/// The state could not take the command or answer the read now (no leader, or the
/// node is stopping). Whether a command that failed this way was applied is unknown;
/// commands are designed so that proposing the same one again is safe.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the token state is unavailable: {0}")]
pub struct StateUnavailable(pub String);

impl From<ostium_state::Unavailable> for StateUnavailable {
    fn from(e: ostium_state::Unavailable) -> Self {
        Self(e.0)
    }
}

pub trait TokenState: Send + Sync + 'static {
    /// Appends `command` to the replicated log and returns its outcome once applied.
    fn propose(&self, command: StateCommand) -> BoxFuture<Result<StateResponse, StateUnavailable>>;

    /// What is known of the opaque token with this digest at `now`, seeing every
    /// write acknowledged before the call (a revocation, say).
    fn lookup(
        &self,
        digest: TokenDigest,
        now: u64,
    ) -> BoxFuture<Result<TokenFacts, StateUnavailable>>;

    /// Whether `denial` is in force at `now`, seeing every acknowledged write.
    fn is_denied(&self, denial: Denial, now: u64) -> BoxFuture<Result<bool, StateUnavailable>>;

    /// Called once a revocation is committed, before it is answered: makes it
    /// visible to every node that reads through the hot cache.
    fn publish_denial(&self, denial: Denial, until: u64) -> BoxFuture<()>;

    /// The refresh token with this digest as known here, possibly stale: only for
    /// checks that the state's own `apply` repeats.
    fn peek_refresh(&self, digest: TokenDigest) -> BoxFuture<Option<RefreshTokenRecord>>;
}

/// A core node: its own state machine, after catching up where a read must see
/// every acknowledged write; proposals are forwarded to the leader.
impl TokenState for ReplicatedState {
    fn propose(&self, command: StateCommand) -> BoxFuture<Result<StateResponse, StateUnavailable>> {
        // The futures must own what they use; the node and client are cheap handles.
        let state = self.clone();
        Box::pin(async move { Ok(ReplicatedState::propose(&state, command).await?) })
    }

    fn lookup(
        &self,
        digest: TokenDigest,
        now: u64,
    ) -> BoxFuture<Result<TokenFacts, StateUnavailable>> {
        let state = self.clone();
        Box::pin(async move { Ok(ReplicatedState::lookup(&state, &digest, now).await?) })
    }

    fn is_denied(&self, denial: Denial, now: u64) -> BoxFuture<Result<bool, StateUnavailable>> {
        let state = self.clone();
        Box::pin(async move { Ok(ReplicatedState::is_denied(&state, &denial, now).await?) })
    }

    fn publish_denial(&self, denial: Denial, until: u64) -> BoxFuture<()> {
        let state = self.clone();
        Box::pin(async move { ReplicatedState::publish_denial(&state, denial, until).await })
    }

    fn peek_refresh(&self, digest: TokenDigest) -> BoxFuture<Option<RefreshTokenRecord>> {
        let found = self.read(|state| state.refresh_token(&digest).cloned());
        Box::pin(std::future::ready(found))
    }
}

/// An edge node: the hot cache, else a core.
impl TokenState for std::sync::Arc<EdgeState> {
    fn propose(&self, command: StateCommand) -> BoxFuture<Result<StateResponse, StateUnavailable>> {
        let edge = self.clone();
        Box::pin(async move { Ok(EdgeState::propose(&edge, command).await?) })
    }

    fn lookup(
        &self,
        digest: TokenDigest,
        now: u64,
    ) -> BoxFuture<Result<TokenFacts, StateUnavailable>> {
        let edge = self.clone();
        Box::pin(async move { Ok(EdgeState::lookup(&edge, &digest, now).await?) })
    }

    fn is_denied(&self, denial: Denial, now: u64) -> BoxFuture<Result<bool, StateUnavailable>> {
        let edge = self.clone();
        Box::pin(async move { Ok(EdgeState::is_denied(&edge, &denial, now).await?) })
    }

    fn publish_denial(&self, denial: Denial, until: u64) -> BoxFuture<()> {
        let edge = self.clone();
        Box::pin(async move { EdgeState::publish_denial(&edge, denial, until).await })
    }

    fn peek_refresh(&self, digest: TokenDigest) -> BoxFuture<Option<RefreshTokenRecord>> {
        // Nothing on an edge is cheaper than a lookup; it is usually a cache hit.
        let edge = self.clone();
        Box::pin(async move {
            let now = crate::context::now();
            EdgeState::lookup(&edge, &digest, now)
                .await
                .ok()
                .and_then(|facts| facts.refresh)
        })
    }
}

/// The state machine without Raft, for tests of the grants.
#[derive(Default)]
pub struct InMemoryState(Mutex<State>);

impl InMemoryState {
    fn read<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        // A poisoned lock only means another test thread panicked; the state is intact.
        read(&self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl TokenState for InMemoryState {
    fn propose(&self, command: StateCommand) -> BoxFuture<Result<StateResponse, StateUnavailable>> {
        let response = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(&command);
        Box::pin(std::future::ready(Ok(response)))
    }

    fn lookup(
        &self,
        digest: TokenDigest,
        now: u64,
    ) -> BoxFuture<Result<TokenFacts, StateUnavailable>> {
        let facts = self.read(|state| state.lookup(&digest, now));
        Box::pin(std::future::ready(Ok(facts)))
    }

    fn is_denied(&self, denial: Denial, now: u64) -> BoxFuture<Result<bool, StateUnavailable>> {
        let denied = self.read(|state| state.is_denied(&denial, now));
        Box::pin(std::future::ready(Ok(denied)))
    }

    fn publish_denial(&self, _: Denial, _: u64) -> BoxFuture<()> {
        Box::pin(std::future::ready(()))
    }

    fn peek_refresh(&self, digest: TokenDigest) -> BoxFuture<Option<RefreshTokenRecord>> {
        let found = self.read(|state| state.refresh_token(&digest).cloned());
        Box::pin(std::future::ready(found))
    }
}
