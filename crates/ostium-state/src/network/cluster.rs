//! The cluster API on the Raft listener, beside the Raft RPCs: writes forwarded by
//! nodes that are not the leader, and the operator's `ostium cluster …` commands
//! (status and membership). Signed with the cluster secret like every request on
//! that listener, under the operation's own name, so a tag for one operation cannot
//! be replayed as another.
//!
//! The serving side ([`ClusterService`]) is independent of any HTTP server: the
//! listener hands over the operation (the last path segment of `/cluster/{op}`), the
//! body and the auth header. [`ClusterClient`] is the calling side.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ostium_protocol::Causes;
use serde::{Deserialize, Serialize};

use super::auth::{AuthError, CLUSTER_AUTH_HEADER, ClusterSecret};
use super::fault;
use crate::command::{RevokeClient, RevokeSubject, StateCommand, StateResponse};
use crate::digest::TokenDigest;
use crate::node::{
    LEARNER_CATCH_UP, Leader, MembershipError, NodeMetrics, ProposeError, StateNode,
};
use crate::record::{AuthorizationCodeRecord, Denial, SigningKeyRecord, TokenFacts};
use crate::typ::NodeId;

/// How a forwarded or administrative request ended, as sent back over the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterReply<T> {
    Done(T),
    /// This node is not the leader; the leader's Raft address, when known.
    NotLeader(Option<String>),
    /// The request could not be carried out now; the reason, for the operator.
    Failed(String),
}

/// Adds a learner: the new node's id and Raft address.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddLearner {
    pub id: NodeId,
    pub raft_addr: String,
}

/// A read an edge asks a core for, answered after the core has caught up with every
/// acknowledged write (the edge's fallback when the hot cache cannot answer).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateRead {
    /// What is known of the opaque token with this digest at `now`.
    Lookup { digest: TokenDigest, now: u64 },
    /// Whether `denial` is in force at `now`.
    Denied { denial: Denial, now: u64 },
    /// The cluster's sealed signing keys, in the order they were added.
    SigningKeys,
    /// The authorization code with this digest, if not expired at `now`.
    AuthorizationCode { digest: TokenDigest, now: u64 },
    /// The scopes a user allowed a client, if in force at `now`.
    Consent {
        subject: String,
        client_id: String,
        now: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateAnswer {
    Facts(Box<TokenFacts>),
    Denied(bool),
    SigningKeys(Vec<SigningKeyRecord>),
    AuthorizationCode(Option<Box<AuthorizationCodeRecord>>),
    Consent(Option<Vec<String>>),
}

/// Whose refresh-token families an operator revokes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    Subject(String),
    Client(String),
}

/// Names one member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterServiceError {
    #[error("unknown cluster operation")]
    UnknownOperation,
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    #[error("malformed request: {0}")]
    Malformed(#[from] serde_json::Error),
}

impl ClusterServiceError {
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnknownOperation => 404,
            Self::Unauthenticated(_) => 401,
            Self::Malformed(_) => 400,
        }
    }
}

/// Serves the cluster API for one node.
#[derive(Clone)]
pub struct ClusterService {
    node: Arc<StateNode>,
    secret: ClusterSecret,
    /// Asks a new learner whether it has applied the log (`add-learner`).
    peers: ClusterClient,
    /// How long `add-learner` waits for the learner to catch up.
    learner_patience: Duration,
}

impl ClusterService {
    /// `peers` calls other nodes' cluster API: a learner being added is asked
    /// whether it has caught up.
    pub fn new(node: Arc<StateNode>, secret: ClusterSecret, peers: ClusterClient) -> Self {
        fault::warn_if_enabled();
        Self {
            node,
            secret,
            peers,
            learner_patience: LEARNER_CATCH_UP,
        }
    }

    /// How long `add-learner` waits for the learner to hold and apply the whole log
    /// ([`LEARNER_CATCH_UP`] unless set).
    pub fn with_learner_patience(mut self, patience: Duration) -> Self {
        self.learner_patience = patience;
        self
    }

    pub async fn handle(
        &self,
        operation: &str,
        body: &[u8],
        auth: Option<&str>,
    ) -> Result<Vec<u8>, ClusterServiceError> {
        let known = matches!(
            operation,
            "propose" | "read" | "status" | "add-learner" | "promote" | "remove" | "revoke"
        ) || (fault::ENABLED && operation == fault::OPERATION);
        if !known {
            return Err(ClusterServiceError::UnknownOperation);
        }
        if let Err(refused) = self.secret.verify(operation, body, auth) {
            tracing::warn!(operation, reason = %refused, "refused a cluster request: wrong or missing cluster authentication");
            return Err(refused.into());
        }
        if operation == fault::OPERATION
            && let Some(served) = fault::serve(body)
        {
            served?;
            return Ok(encode(&ClusterReply::Done(())));
        }
        let node = &self.node;
        let reply = match operation {
            "propose" => {
                let command: StateCommand = serde_json::from_slice(body)?;
                encode(&match node.propose(command).await {
                    Ok(response) => ClusterReply::Done(response),
                    Err(ProposeError::ForwardToLeader(leader)) => {
                        ClusterReply::NotLeader(leader.raft_addr)
                    }
                    Err(other) => ClusterReply::Failed(Causes(&other).to_string()),
                })
            }
            "read" => {
                let read: StateRead = serde_json::from_slice(body)?;
                let answer = node
                    .linearizable_read(|state| {
                        Ok(match read {
                            StateRead::Lookup { digest, now } => {
                                StateAnswer::Facts(Box::new(state.lookup(&digest, now)?))
                            }
                            StateRead::Denied { denial, now } => {
                                StateAnswer::Denied(state.is_denied(&denial, now)?)
                            }
                            StateRead::SigningKeys => {
                                StateAnswer::SigningKeys(state.signing_keys().in_order()?)
                            }
                            StateRead::AuthorizationCode { digest, now } => {
                                StateAnswer::AuthorizationCode(
                                    state.authorization_codes().get(&digest, now)?.map(Box::new),
                                )
                            }
                            StateRead::Consent {
                                subject,
                                client_id,
                                now,
                            } => StateAnswer::Consent(
                                state
                                    .consents()
                                    .granted(&subject, &client_id, now)?
                                    .map(|consent| consent.scopes),
                            ),
                        })
                    })
                    .await;
                encode(&match answer {
                    Ok(answer) => ClusterReply::Done(answer),
                    Err(e) => ClusterReply::Failed(Causes(&e).to_string()),
                })
            }
            "status" => encode(&ClusterReply::Done(node.metrics())),
            "revoke" => {
                let revocation: Revocation = serde_json::from_slice(body)?;
                encode(&revoke(node, revocation).await)
            }
            "add-learner" => {
                let request: AddLearner = serde_json::from_slice(body)?;
                membership(self.add_learner(request).await)
            }
            "promote" => {
                let Member { id } = serde_json::from_slice(body)?;
                let mut voters = node.metrics().voters;
                voters.insert(id);
                membership(node.change_membership(voters).await)
            }
            _ => {
                let Member { id } = serde_json::from_slice(body)?;
                let voters: BTreeSet<NodeId> = node
                    .metrics()
                    .voters
                    .into_iter()
                    .filter(|v| *v != id)
                    .collect();
                match node.change_membership(voters).await {
                    Ok(()) => membership(node.remove_nodes(BTreeSet::from([id])).await),
                    failed => membership(failed),
                }
            }
        };
        Ok(reply)
    }
}

impl ClusterService {
    /// Adds a learner and answers once it holds and has applied every entry the
    /// leader had when asked, so that the learner serves what was written before it
    /// joined as soon as the operator is told it has joined. The leader sees what the
    /// learner holds; only the learner knows what it has applied, so it is asked.
    async fn add_learner(&self, request: AddLearner) -> Result<(), MembershipError> {
        let started = tokio::time::Instant::now();
        let AddLearner { id, raft_addr } = request;
        let target = self
            .node
            .add_learner(id, raft_addr.clone(), self.learner_patience)
            .await?;
        // A plain loop rather than `Patience::retry`: its async closure would make
        // this future, served on a spawned connection, not provably `Send`.
        let deadline = started + self.learner_patience;
        let mut applied = None;
        loop {
            match self.peers.status(&raft_addr).await {
                Ok(ClusterReply::Done(view)) if view.applied_index >= Some(target) => {
                    return Ok(());
                }
                Ok(ClusterReply::Done(view)) => applied = view.applied_index,
                Ok(_) | Err(_) => {}
            }
            if tokio::time::Instant::now() + LEARNER_POLL >= deadline {
                return Err(MembershipError::LearnerBehind {
                    id,
                    target,
                    held: Some(target),
                    applied,
                    waited: self.learner_patience,
                });
            }
            tokio::time::sleep(LEARNER_POLL).await;
        }
    }
}

/// How often `add-learner` asks the learner how far it has applied.
const LEARNER_POLL: Duration = Duration::from_millis(20);

/// An operator revokes every refresh-token family of a user or a client, at the
/// leader (a follower names it); answered once every node refuses them.
async fn revoke(node: &StateNode, revocation: Revocation) -> ClusterReply<usize> {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let command = match revocation {
        Revocation::Subject(subject) => StateCommand::RevokeSubject(RevokeSubject { subject, at }),
        Revocation::Client(client_id) => StateCommand::RevokeClient(RevokeClient { client_id, at }),
    };
    let families = match node.propose(command).await {
        Ok(StateResponse::FamiliesRevoked { families }) => families,
        Ok(other) => return ClusterReply::Failed(format!("the state answered {other:?}")),
        Err(ProposeError::ForwardToLeader(leader)) => {
            return ClusterReply::NotLeader(leader.raft_addr);
        }
        Err(other) => return ClusterReply::Failed(Causes(&other).to_string()),
    };
    let count = families.len();
    node.publish_denials(Denial::of_families(families)).await;
    ClusterReply::Done(count)
}

fn membership(result: Result<(), MembershipError>) -> Vec<u8> {
    encode(&match result {
        Ok(()) => ClusterReply::Done(()),
        Err(MembershipError::ForwardToLeader(Leader { raft_addr, .. })) => {
            ClusterReply::NotLeader(raft_addr)
        }
        Err(other) => ClusterReply::Failed(Causes(&other).to_string()),
    })
}

fn encode<T: Serialize>(reply: &ClusterReply<T>) -> Vec<u8> {
    // Serializing these plain types cannot fail; an empty body would fail loudly on
    // the other side rather than here.
    serde_json::to_vec(reply).unwrap_or_default()
}

/// Why a call to another node's cluster API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterCallError {
    #[error("could not reach {addr}: {source}")]
    Transport {
        addr: String,
        source: reqwest::Error,
    },
    #[error("{addr} answered HTTP {status}")]
    Status { addr: String, status: u16 },
    #[error("{addr} sent a reply that could not be read: {source}")]
    Decode {
        addr: String,
        source: serde_json::Error,
    },
    /// Only the test-only fault injection ([`fault`]) produces this.
    #[error(transparent)]
    CutOff(#[from] fault::CutOff),
}

/// The longest a connection to another node may take to open: a node that does not
/// answer at all (a host that is down drops the SYN rather than refusing it) must not
/// hold a call for a TCP timeout. Cluster addresses are on one network.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Calls the cluster API of other nodes. Clones share one pool of kept-alive
/// connections, so that a forwarded write costs one round trip, not a handshake too.
#[derive(Clone)]
pub struct ClusterClient {
    http: reqwest::Client,
    secret: ClusterSecret,
    /// The time limit of one forwarded proposal, when shorter than the client's.
    propose_timeout: Option<Duration>,
}

impl ClusterClient {
    /// `timeout` limits every call.
    pub fn new(secret: ClusterSecret, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(CONNECT_TIMEOUT))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            secret,
            propose_timeout: None,
        })
    }

    /// Limits each forwarded proposal to `timeout`. A leader that has not answered
    /// within about an election timeout has either been replaced or is stuck; either
    /// way the proposal is better tried again (every command is safe to apply twice)
    /// than waited on for the client's whole patience.
    pub fn with_propose_timeout(mut self, timeout: Duration) -> Self {
        self.propose_timeout = Some(timeout);
        self
    }

    /// Asks the node at `addr` to propose `command`.
    pub async fn propose(
        &self,
        addr: &str,
        command: &StateCommand,
    ) -> Result<ClusterReply<StateResponse>, ClusterCallError> {
        self.call_within(addr, "propose", command, self.propose_timeout)
            .await
    }

    /// Asks the core at `addr` for a read that sees every acknowledged write.
    pub async fn read(
        &self,
        addr: &str,
        read: &StateRead,
    ) -> Result<ClusterReply<StateAnswer>, ClusterCallError> {
        self.call(addr, "read", read).await
    }

    pub async fn status(&self, addr: &str) -> Result<ClusterReply<NodeMetrics>, ClusterCallError> {
        self.call(addr, "status", &()).await
    }

    pub async fn add_learner(
        &self,
        addr: &str,
        request: &AddLearner,
    ) -> Result<ClusterReply<()>, ClusterCallError> {
        self.call(addr, "add-learner", request).await
    }

    pub async fn promote(
        &self,
        addr: &str,
        id: NodeId,
    ) -> Result<ClusterReply<()>, ClusterCallError> {
        self.call(addr, "promote", &Member { id }).await
    }

    pub async fn remove(
        &self,
        addr: &str,
        id: NodeId,
    ) -> Result<ClusterReply<()>, ClusterCallError> {
        self.call(addr, "remove", &Member { id }).await
    }

    /// Asks the leader at `addr` to revoke every family of a user or client;
    /// answers how many there were.
    pub async fn revoke(
        &self,
        addr: &str,
        revocation: &Revocation,
    ) -> Result<ClusterReply<usize>, ClusterCallError> {
        self.call(addr, "revoke", revocation).await
    }

    async fn call<Request: Serialize, Reply: for<'de> Deserialize<'de>>(
        &self,
        addr: &str,
        operation: &str,
        request: &Request,
    ) -> Result<ClusterReply<Reply>, ClusterCallError> {
        self.call_within(addr, operation, request, None).await
    }

    /// A call limited to `timeout` if given, else to the client's time limit.
    async fn call_within<Request: Serialize, Reply: for<'de> Deserialize<'de>>(
        &self,
        addr: &str,
        operation: &str,
        request: &Request,
        timeout: Option<Duration>,
    ) -> Result<ClusterReply<Reply>, ClusterCallError> {
        let url = format!("http://{addr}/cluster/{operation}");
        fault::outgoing(&url)?;
        let body = serde_json::to_vec(request).map_err(|source| ClusterCallError::Decode {
            addr: addr.to_owned(),
            source,
        })?;
        let mut request = self
            .http
            .post(url)
            .header(CLUSTER_AUTH_HEADER, self.secret.sign(operation, &body))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        // The node that serves the call continues the caller's trace (a forwarded
        // write: the request, the actor, then the leader's commit).
        if let Some(traceparent) = crate::trace::current_traceparent() {
            request = request.header(crate::trace::TRACEPARENT, traceparent);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response =
            request
                .body(body)
                .send()
                .await
                .map_err(|source| ClusterCallError::Transport {
                    addr: addr.to_owned(),
                    source,
                })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClusterCallError::Status {
                addr: addr.to_owned(),
                status: status.as_u16(),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|source| ClusterCallError::Transport {
                addr: addr.to_owned(),
                source,
            })?;
        serde_json::from_slice(&bytes).map_err(|source| ClusterCallError::Decode {
            addr: addr.to_owned(),
            source,
        })
    }
}
