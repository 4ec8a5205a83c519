//! The replicated state as the rest of Ostium uses it: a storage API per flow, with
//! typed outcomes, the same on every kind of node (fosite's per-flow storage
//! interfaces). Grants and the server never build a [`StateCommand`] or read a
//! [`crate::StateResponse`]; that vocabulary belongs to the Raft log.
//!
//! - [`refresh`]: issue, redeem and revoke refresh tokens.
//! - [`reference`]: store and revoke reference access tokens.
//! - [`deny`]: deny self-contained tokens, and ask whether something is denied.
//! - [`signing_keys`]: the cluster's sealed signing keys.
//! - [`codes`]: store, read and exchange authorization codes.
//! - [`consents`]: remember, read and forget what users allowed clients.
//!
//! The inputs (`NewRefreshToken`, `Redemption`, …) are types of the API's own, not
//! the log's commands, though they carry the same fields today: a command is frozen
//! once released (it is decoded from logs written long ago), while the API may
//! change with the grants.
//!
//! Whether this node is a core (its own state machine, catching up where a read must
//! see every acknowledged write, proposals forwarded to the leader), an edge (the hot
//! cache, else a core) or a single process without Raft (tests and tools) is decided
//! here, once, by the [`Backend`] a [`TokenStore`] was made with.

pub mod codes;
pub mod consents;
pub mod deny;
pub mod reference;
pub mod refresh;
pub mod signing_keys;

use std::sync::Arc;

use crate::cache::CacheWrites;
use crate::cache::{HotCache, Watermark};
use crate::command::{StateCommand, StateResponse};
use crate::digest::TokenDigest;
use crate::edge::EdgeState;
use crate::error::Unavailable;
use crate::network::cluster::{StateAnswer, StateRead};
use crate::record::{
    AuthorizationCodeRecord, Denial, RefreshTokenRecord, SigningKeyRecord, TokenFacts,
};
use crate::replicated::ReplicatedState;
use crate::state::{StateView, StoreError};
use crate::store::StateDb;
use crate::typ::NodeId;

pub use self::codes::{CodeRedeemed, CodeRedemption, CodeStorage, NewAuthorizationCode};
pub use self::consents::{ConsentStorage, NewConsent};
pub use self::deny::DenyStorage;
pub use self::reference::{NewReferenceToken, ReferenceStorage};
pub use self::refresh::{NewRefreshToken, Redeemed, Redemption, RefreshStorage};
pub use self::signing_keys::{Addition, KeyWatch, NewSigningKey, SigningKeyStorage};

/// A handle on the replicated state; clones share it.
#[derive(Clone)]
pub struct TokenStore {
    backend: Arc<Backend>,
}

/// Where the state lives, as seen from this node.
enum Backend {
    Core(ReplicatedState),
    Edge(EdgeState),
    Memory(StateDb),
}

/// What readiness reports about this node's place in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeStatus {
    /// A Raft member: the leader it has heard from within the election timeout, and
    /// whether a write can be committed now (a leader is alive and, as far as this
    /// node can tell, has its quorum).
    Core {
        leader: Option<NodeId>,
        writable: bool,
    },
    /// An edge, and whether the leader vouches for the hot cache (else its reads go
    /// to the cores).
    Edge { cache_watermark: Option<Watermark> },
    /// A single process without Raft.
    Memory,
}

/// A core node's Raft view and what it applied, read at each scrape.
#[derive(Debug, Clone)]
pub struct CoreView {
    pub raft: crate::node::NodeMetrics,
    /// Revocation commands applied on this node since it started.
    pub revocations_applied: u64,
}

impl TokenStore {
    /// A core node: a member of the Raft cluster.
    pub fn core(state: ReplicatedState) -> Self {
        Self::with(Backend::Core(state))
    }

    /// An edge node: no log, the hot cache and the cores.
    pub fn edge(state: EdgeState) -> Self {
        Self::with(Backend::Edge(state))
    }

    /// The state machine in this process alone, without Raft or a hot cache: for
    /// tests of what uses the state, and tools.
    pub fn in_memory() -> Self {
        Self::with(Backend::Memory(StateDb::in_memory()))
    }

    fn with(backend: Backend) -> Self {
        Self {
            backend: Arc::new(backend),
        }
    }

    pub fn refresh(&self) -> RefreshStorage<'_> {
        RefreshStorage::new(self)
    }

    pub fn reference(&self) -> ReferenceStorage<'_> {
        ReferenceStorage::new(self)
    }

    pub fn deny(&self) -> DenyStorage<'_> {
        DenyStorage::new(self)
    }

    pub fn signing_keys(&self) -> SigningKeyStorage<'_> {
        SigningKeyStorage::new(self)
    }

    pub fn codes(&self) -> CodeStorage<'_> {
        CodeStorage::new(self)
    }

    pub fn consents(&self) -> ConsentStorage<'_> {
        ConsentStorage::new(self)
    }

    /// What is known of the opaque token with this digest at `now` (a reference
    /// access token or a refresh token), seeing every write acknowledged before the
    /// call, wherever in the cluster it was made.
    pub async fn lookup(&self, digest: TokenDigest, now: u64) -> Result<TokenFacts, Unavailable> {
        Ok(match &*self.backend {
            Backend::Core(core) => core.lookup(&digest, now).await?,
            Backend::Edge(edge) => edge.lookup(&digest, now).await?,
            Backend::Memory(state) => state.read(|state| state.lookup(&digest, now))?,
        })
    }

    pub async fn status(&self) -> NodeStatus {
        match &*self.backend {
            Backend::Core(core) => {
                let metrics = core.node().metrics();
                NodeStatus::Core {
                    leader: metrics.leader,
                    writable: metrics.writable,
                }
            }
            Backend::Edge(edge) => NodeStatus::Edge {
                cache_watermark: edge.cache().watermark().await,
            },
            Backend::Memory(_) => NodeStatus::Memory,
        }
    }

    /// Reports the fingerprint of the client configuration the server serves, for
    /// `cluster status` (only cores answer it).
    pub fn report_configuration(&self, fingerprint: &str) {
        if let Backend::Core(core) = &*self.backend {
            core.node().report_configuration(fingerprint.to_owned());
        }
    }

    /// What a core node's dashboards show; `None` on other nodes.
    pub fn core_view(&self) -> Option<CoreView> {
        match &*self.backend {
            Backend::Core(core) => {
                let node = core.node();
                Some(CoreView {
                    raft: node.metrics(),
                    revocations_applied: node.revocations_applied(),
                })
            }
            Backend::Edge(_) | Backend::Memory(_) => None,
        }
    }

    /// The hot cache this node reads or writes through, if any.
    pub fn hot_cache(&self) -> Option<&HotCache> {
        match &*self.backend {
            Backend::Core(core) => core.node().cache(),
            Backend::Edge(edge) => Some(edge.cache()),
            Backend::Memory(_) => None,
        }
    }

    /// Stops Raft on a core and closes its state database; nothing to do elsewhere.
    pub async fn shutdown(&self) -> Result<(), crate::node::StateNodeError> {
        match &*self.backend {
            Backend::Core(core) => core.node().shutdown().await,
            Backend::Edge(_) | Backend::Memory(_) => Ok(()),
        }
    }

    /// Appends `command` to the log (at the leader) and returns its outcome once
    /// applied. Every command is safe to propose again after `Unavailable`.
    async fn propose(&self, command: StateCommand) -> Result<StateResponse, Unavailable> {
        match &*self.backend {
            Backend::Core(core) => core.propose(command).await,
            Backend::Edge(edge) => edge.propose(command).await,
            Backend::Memory(state) => Ok(state.apply(&command, &mut CacheWrites::ignoring())?),
        }
    }

    /// Whether `denial` is in force at `now`, seeing every acknowledged write.
    async fn is_denied(&self, denial: &Denial, now: u64) -> Result<bool, Unavailable> {
        self.is_any_denied(std::slice::from_ref(denial), now).await
    }

    /// Whether any of `denials` is in force at `now`, seeing every acknowledged write.
    async fn is_any_denied(&self, denials: &[Denial], now: u64) -> Result<bool, Unavailable> {
        let any = |state: &StateView| -> Result<bool, StoreError> {
            for denial in denials {
                if state.is_denied(denial, now)? {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        match &*self.backend {
            Backend::Core(core) => {
                core.catch_up().await?;
                Ok(core.read(any)?)
            }
            Backend::Edge(edge) => {
                for denial in denials {
                    if edge.is_denied(denial, now).await? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Backend::Memory(state) => Ok(state.read(any)?),
        }
    }

    /// Called once a revocation is committed, before it is answered: makes it
    /// visible to every node that reads through the hot cache.
    async fn publish_denials(&self, denials: Vec<(Denial, u64)>) {
        match &*self.backend {
            Backend::Core(core) => core.publish_denials(denials).await,
            Backend::Edge(edge) => edge.publish_denials(denials).await,
            Backend::Memory(_) => {}
        }
    }

    /// The refresh token with this digest as known here, possibly stale.
    async fn peek_refresh(&self, digest: TokenDigest, now: u64) -> Option<RefreshTokenRecord> {
        match &*self.backend {
            Backend::Core(core) => core
                .read(|state| state.refresh_tokens().get(&digest))
                .ok()?,
            // Nothing on an edge is cheaper than a lookup; it is usually a cache hit.
            Backend::Edge(edge) => edge.lookup(&digest, now).await.ok()?.refresh,
            Backend::Memory(state) => state
                .read(|state| state.refresh_tokens().get(&digest))
                .ok()?,
        }
    }

    /// The authorization code with this digest if not expired at `now`, seeing
    /// every acknowledged write.
    async fn authorization_code(
        &self,
        digest: TokenDigest,
        now: u64,
    ) -> Result<Option<AuthorizationCodeRecord>, Unavailable> {
        let get = |state: &StateView| state.authorization_codes().get(&digest, now);
        let ask = StateRead::AuthorizationCode { digest, now };
        self.read_caught_up(get, ask, |answer| match answer {
            StateAnswer::AuthorizationCode(code) => Some(code.map(|code| *code)),
            _ => None,
        })
        .await
    }

    /// The scopes `subject` allowed `client_id` at `now`, seeing every acknowledged
    /// write.
    async fn consent(
        &self,
        subject: &str,
        client_id: &str,
        now: u64,
    ) -> Result<Option<Vec<String>>, Unavailable> {
        let get = |state: &StateView| {
            Ok(state
                .consents()
                .granted(subject, client_id, now)?
                .map(|consent| consent.scopes))
        };
        let ask = StateRead::Consent {
            subject: subject.to_owned(),
            client_id: client_id.to_owned(),
            now,
        };
        self.read_caught_up(get, ask, |answer| match answer {
            StateAnswer::Consent(scopes) => Some(scopes),
            _ => None,
        })
        .await
    }

    /// A read of what the hot cache does not hold, seeing every acknowledged write:
    /// `read` after catching up on a core, `ask` at a core from an edge (its answer
    /// taken apart by `unpack`, `None` for another kind of answer).
    async fn read_caught_up<T>(
        &self,
        read: impl FnOnce(&StateView) -> Result<T, StoreError>,
        ask: StateRead,
        unpack: impl FnOnce(StateAnswer) -> Option<T>,
    ) -> Result<T, Unavailable> {
        match &*self.backend {
            Backend::Core(core) => {
                core.catch_up().await?;
                Ok(core.read(read)?)
            }
            Backend::Edge(edge) => edge.ask(&ask, unpack).await,
            Backend::Memory(state) => Ok(state.read(read)?),
        }
    }

    /// The sealed signing keys in the order they were added, seeing every
    /// acknowledged write.
    async fn signing_key_records(&self) -> Result<Vec<SigningKeyRecord>, Unavailable> {
        let in_order = |state: &StateView| state.signing_keys().in_order();
        match &*self.backend {
            Backend::Core(core) => {
                core.catch_up().await?;
                Ok(core.read(in_order)?)
            }
            Backend::Edge(edge) => edge.signing_keys().await,
            Backend::Memory(state) => Ok(state.read(in_order)?),
        }
    }
}
