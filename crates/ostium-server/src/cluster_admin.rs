//! `ostium cluster …`: what an operator asks of a running cluster, through the nodes
//! that a configuration file names, over their Raft listeners and signed with the
//! cluster secret. Status asks every node for its own view; membership changes go
//! and revocations go to the first node that answers, and from there to the leader
//! (followed once if the node asked is not the leader). A node without `[cluster]` answers on the
//! loopback port it wrote into its data directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use ostium_protocol::Causes;
use ostium_state::ClusterSecret;
use ostium_state::StateCommand;
pub use ostium_state::network::cluster::Revocation;
use ostium_state::network::cluster::{AddLearner, ClusterCallError, StateAnswer, StateRead};
use ostium_state::network::{ClusterClient, ClusterReply, ClusterSecretError};
use ostium_state::node::{LEARNER_CATCH_UP, NodeMetrics};
use ostium_state::typ::NodeId;

use crate::cluster_status::{Answer, ClusterStatus};
use crate::config::{Config, NodeRole};
use crate::state_link::{StateLinkError, local_address_file, local_secret_file, read_secret};

/// How long one node may take to say how it sees the cluster: a node that takes
/// longer is reported as unreachable rather than holding up the others' answers.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a membership change may take: a new learner is waited for until it has
/// caught up (the leader gives up after [`LEARNER_CATCH_UP`] and says how far it got).
const MEMBERSHIP_TIMEOUT: Duration = LEARNER_CATCH_UP.saturating_add(Duration::from_secs(30));

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "the configuration has no [cluster] section: this node is a cluster of one, \
         whose members cannot change"
    )]
    NotClustered,
    #[error(
        "no running node found: {path} does not exist (a node without [cluster] writes it \
         when it starts)"
    )]
    NotRunning { path: String },
    #[error("cannot read {path}")]
    Address {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] StateLinkError),
    #[error("the cluster secret is refused")]
    SecretRefused(#[source] ClusterSecretError),
    #[error("could not build the cluster client")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Call(#[from] ClusterCallError),
    #[error("no node answered: {0}")]
    NoneAnswered(String),
    #[error("no leader is known to the node asked; retry once the cluster has elected one")]
    NoLeader,
    #[error("the cluster refused: {0}")]
    Refused(String),
}

/// A membership change.
#[derive(Debug, Clone)]
pub enum Change {
    AddLearner { id: u64, raft_addr: String },
    Promote { id: u64 },
    Remove { id: u64 },
}

/// Talks to the nodes a configuration names: the node it describes first (if it is
/// a core), then the other peers it lists, so that one node being down does not
/// leave the operator blind.
pub struct Admin {
    /// For membership changes, which wait until a learner has caught up.
    client: ClusterClient,
    /// For status, which must not wait long for a node that is down.
    status_client: ClusterClient,
    /// Who to ask (id and cluster API address), in order.
    targets: Vec<(NodeId, String)>,
    /// A node without `[cluster]`: a cluster of one on a loopback port.
    single: bool,
    /// Seals the signing keys `ostium keys` adds.
    pub(crate) sealer: ostium_tokens::KeySealer,
}

impl Admin {
    pub fn for_config(config: &Config) -> Result<Self, AdminError> {
        let (secret, targets, single) = match &config.cluster {
            Some(cluster) => {
                // A core is asked on its own listener first, as reachable from here.
                let own = match cluster.role {
                    NodeRole::Core { raft_listen } => Some(local_address(raft_listen)),
                    NodeRole::Edge => None,
                };
                let asked_first = own.as_ref().map(|_| cluster.node_id);
                let others = cluster
                    .peers
                    .iter()
                    .filter(|(id, _)| Some(**id) != asked_first)
                    .map(|(id, addr)| (*id, addr.clone()));
                let targets = own
                    .map(|addr| (cluster.node_id, addr))
                    .into_iter()
                    .chain(others)
                    .collect();
                (read_secret(&cluster.secret_file)?, targets, false)
            }
            None => {
                let data_dir = &config.server.data_dir;
                let addr = read_local_address(&local_address_file(data_dir))?;
                // The generated secret is raw bytes, read as they are.
                let path = local_secret_file(data_dir);
                let secret = std::fs::read(&path).map_err(|source| StateLinkError::Secret {
                    path: path.display().to_string(),
                    source,
                })?;
                (secret, vec![(1, addr)], true)
            }
        };
        let sealer = ostium_tokens::KeySealer::from_cluster_secret(&secret)
            .map_err(|e| AdminError::Refused(e.to_string()))?;
        let secret = ClusterSecret::new(&secret).map_err(AdminError::SecretRefused)?;
        let client = |timeout| ClusterClient::new(secret.clone(), timeout);
        Ok(Self {
            client: client(MEMBERSHIP_TIMEOUT).map_err(AdminError::Client)?,
            status_client: client(STATUS_TIMEOUT).map_err(AdminError::Client)?,
            targets,
            single,
            sealer,
        })
    }

    /// Asks every node for its view at once: those the file lists, then members
    /// they know of that the file does not list. Fails only if no node answers.
    pub async fn status(&self) -> Result<ClusterStatus, AdminError> {
        let mut answers = self.ask(self.targets.clone()).await;
        let unasked = ClusterStatus::unasked_members(&answers);
        if !self.single && !unasked.is_empty() {
            answers.extend(self.ask(unasked.into_iter().collect()).await);
        }
        let status = ClusterStatus::from_answers(&answers);
        if !status.any_reachable() {
            let reasons: Vec<String> = answers
                .iter()
                .filter_map(|(id, answer)| {
                    let error = answer.view.as_ref().err()?;
                    Some(format!("node {id} at {}: {error}", answer.addr))
                })
                .collect();
            return Err(AdminError::NoneAnswered(reasons.join("; ")));
        }
        Ok(status)
    }

    /// Node `id`'s own view, if the file names it and it answers in time.
    pub async fn view_of(&self, id: NodeId) -> Option<NodeMetrics> {
        let (_, addr) = self.targets.iter().find(|(target, _)| *target == id)?;
        match self.status_client.status(addr).await {
            Ok(ClusterReply::Done(view)) => Some(view),
            _ => None,
        }
    }

    async fn ask(&self, targets: Vec<(NodeId, String)>) -> BTreeMap<NodeId, Answer> {
        let asks = targets.into_iter().map(|(id, addr)| async move {
            let view = match self.status_client.status(&addr).await {
                Ok(ClusterReply::Done(view)) => Ok(view),
                Ok(other) => Err(format!("{other:?}")),
                Err(e) => Err(Causes(&e).to_string()),
            };
            (id, Answer { addr, view })
        });
        join_all(asks).await.into_iter().collect()
    }

    /// Sends `change` to the first node that answers, which passes it to the leader
    /// it names.
    pub async fn change(&self, change: &Change) -> Result<(), AdminError> {
        if self.single {
            return Err(AdminError::NotClustered);
        }
        self.at_leader(|addr| async move {
            match change {
                Change::AddLearner { id, raft_addr } => {
                    let request = AddLearner {
                        id: *id,
                        raft_addr: raft_addr.clone(),
                    };
                    self.client.add_learner(&addr, &request).await
                }
                Change::Promote { id } => self.client.promote(&addr, *id).await,
                Change::Remove { id } => self.client.remove(&addr, *id).await,
            }
        })
        .await
    }

    /// Revokes every refresh-token family of a user or a client, at the leader;
    /// answers how many there were. A node without `[cluster]` is its own leader.
    pub async fn revoke(&self, revocation: &Revocation) -> Result<usize, AdminError> {
        self.at_leader(|addr| async move { self.client.revoke(&addr, revocation).await })
            .await
    }

    /// The signing keys, read at the first node that answers (after it caught up
    /// with the leader).
    pub async fn signing_keys(&self) -> Result<Vec<ostium_state::SigningKeyRecord>, AdminError> {
        let read = &StateRead::SigningKeys;
        let answer = self
            .at_leader(|addr| async move { self.client.read(&addr, read).await })
            .await?;
        match answer {
            StateAnswer::SigningKeys(keys) => Ok(keys),
            other => Err(AdminError::Refused(format!("unexpected answer {other:?}"))),
        }
    }

    /// Has the leader apply a signing-key command (see `ostium_state::token_store::
    /// signing_keys`); whether it took effect.
    pub async fn propose_key_change(&self, command: StateCommand) -> Result<bool, AdminError> {
        let command = &command;
        let response = self
            .at_leader(|addr| async move { self.client.propose(&addr, command).await })
            .await?;
        ostium_state::token_store::signing_keys::outcome(response)
            .map_err(|e| AdminError::Refused(Causes(&e).to_string()))
    }

    /// Makes `call` at the first node that answers, then once more at the leader it
    /// names if it is not the leader itself.
    async fn at_leader<T, F, Fut>(&self, call: F) -> Result<T, AdminError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<ClusterReply<T>, ClusterCallError>>,
    {
        let mut unreachable = Vec::new();
        for (id, addr) in &self.targets {
            let reply = match call(addr.clone()).await {
                Ok(reply) => reply,
                Err(e) => {
                    unreachable.push(format!("node {id}: {}", Causes(&e)));
                    continue;
                }
            };
            let reply = match reply {
                ClusterReply::NotLeader(Some(leader)) => call(leader).await?,
                reply => reply,
            };
            return match reply {
                ClusterReply::Done(done) => Ok(done),
                ClusterReply::NotLeader(_) => Err(AdminError::NoLeader),
                ClusterReply::Failed(reason) => Err(AdminError::Refused(reason)),
            };
        }
        Err(AdminError::NoneAnswered(unreachable.join("; ")))
    }
}

/// The loopback address a running node without `[cluster]` wrote at start.
fn read_local_address(path: &std::path::Path) -> Result<String, AdminError> {
    match std::fs::read_to_string(path) {
        Ok(addr) => Ok(addr.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(AdminError::NotRunning {
            path: path.display().to_string(),
        }),
        Err(source) => Err(AdminError::Address {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The Raft listener of this node, as reachable from this machine: an unspecified
/// bind address (`0.0.0.0`, `::`) is reached on loopback.
fn local_address(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if listen.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(loopback, listen.port()).to_string()
    } else {
        listen.to_string()
    }
}
