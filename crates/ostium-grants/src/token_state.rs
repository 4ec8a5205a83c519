//! The replicated token state as the grant actors see it: propose one command and
//! get its outcome once it is applied, or read what is applied on this node.
//!
//! A narrow trait rather than the Raft node itself, so that a node that is not the
//! leader can forward proposals (the server decides how), and so that grant tests
//! can run against a plain in-memory [`State`].

use std::sync::Mutex;

use ostium_state::{
    FamilyId, ReferenceTokenRecord, RefreshFamily, RefreshTokenRecord, ReplicatedState, State,
    StateCommand, StateResponse, TokenDigest,
};

use crate::password_validator::BoxFuture;

/// The state could not take the command now (no leader, or the node is stopping).
/// Whether a command that failed this way was applied is unknown; commands are
/// designed so that proposing the same one again is safe.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the token state is unavailable: {0}")]
pub struct StateUnavailable(pub String);

pub trait TokenState: Send + Sync + 'static {
    /// Appends `command` to the replicated log and returns its outcome once applied.
    fn propose(&self, command: StateCommand) -> BoxFuture<Result<StateResponse, StateUnavailable>>;

    /// Waits until this node has applied every write acknowledged before the call, so
    /// that the reads after it see them (a revocation, say).
    fn catch_up(&self) -> BoxFuture<Result<(), StateUnavailable>>;

    /// Runs `read` on the state as applied on this node.
    fn read_applied(&self, read: &mut dyn FnMut(&State));

    /// The refresh token with this digest, as applied on this node.
    fn refresh_token(&self, digest: &TokenDigest) -> Option<RefreshTokenRecord> {
        let mut found = None;
        self.read_applied(&mut |state| found = state.refresh_token(digest).cloned());
        found
    }

    /// The family a refresh token belongs to, as applied on this node.
    fn refresh_family(&self, family: &FamilyId) -> Option<RefreshFamily> {
        let mut found = None;
        self.read_applied(&mut |state| found = state.refresh_family(family).cloned());
        found
    }

    /// The live reference token with this digest, as applied on this node.
    fn reference_token(&self, digest: &TokenDigest, now: u64) -> Option<ReferenceTokenRecord> {
        let mut found = None;
        self.read_applied(&mut |state| found = state.reference_token(digest, now).cloned());
        found
    }

    /// Whether a self-contained token's id is on the deny list, as applied on this node.
    fn is_revoked(&self, token_id: &str, now: u64) -> bool {
        let mut revoked = false;
        self.read_applied(&mut |state| revoked = state.is_revoked(token_id, now));
        revoked
    }
}

/// The replicated state of a node: proposals are forwarded to the leader.
impl TokenState for ReplicatedState {
    fn propose(&self, command: StateCommand) -> BoxFuture<Result<StateResponse, StateUnavailable>> {
        // The future must own what it uses; the node and client are cheap handles.
        let state = self.clone();
        Box::pin(async move {
            ReplicatedState::propose(&state, command)
                .await
                .map_err(|e| StateUnavailable(e.0))
        })
    }

    fn catch_up(&self) -> BoxFuture<Result<(), StateUnavailable>> {
        let state = self.clone();
        Box::pin(async move {
            ReplicatedState::catch_up(&state)
                .await
                .map_err(|e| StateUnavailable(e.0))
        })
    }

    fn read_applied(&self, read: &mut dyn FnMut(&State)) {
        self.read(|state| read(state));
    }
}

/// The state machine without Raft, for tests of the grants.
#[derive(Default)]
pub struct InMemoryState(Mutex<State>);

impl TokenState for InMemoryState {
    fn propose(&self, command: StateCommand) -> BoxFuture<Result<StateResponse, StateUnavailable>> {
        // A poisoned lock only means another test thread panicked; the state is intact.
        let response = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(&command);
        Box::pin(std::future::ready(Ok(response)))
    }

    fn catch_up(&self) -> BoxFuture<Result<(), StateUnavailable>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn read_applied(&self, read: &mut dyn FnMut(&State)) {
        read(&self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}
