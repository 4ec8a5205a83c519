//! `ostium cluster …`: what an operator asks of a running cluster, through the node
//! that a configuration file describes, over its Raft listener and signed with the
//! cluster secret. Membership changes go to the leader (followed once if the node
//! asked is not the leader).

use std::net::SocketAddr;
use std::time::Duration;

use ostium_state::ClusterSecret;
use ostium_state::network::cluster::{AddLearner, ClusterCallError};
use ostium_state::network::{ClusterClient, ClusterReply, ClusterSecretError};
use ostium_state::node::NodeMetrics;

use crate::config::{Config, NodeRole};
use crate::state_link::{StateLinkError, read_secret};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the configuration has no [cluster] section: this node is a cluster of one")]
    NotClustered,
    #[error("this file describes an edge node, which holds no Raft state; give a core node's file")]
    EdgeNode,
    #[error(transparent)]
    Secret(#[from] StateLinkError),
    #[error("the cluster secret is refused")]
    SecretRefused(#[source] ClusterSecretError),
    #[error("could not build the cluster client")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Call(#[from] ClusterCallError),
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

/// Talks to the node a configuration describes.
pub struct Admin {
    client: ClusterClient,
    addr: String,
}

impl Admin {
    pub fn for_config(config: &Config) -> Result<Self, AdminError> {
        let cluster = config.cluster.as_ref().ok_or(AdminError::NotClustered)?;
        let secret = read_secret(&cluster.secret_file)?;
        let secret = ClusterSecret::new(&secret).map_err(AdminError::SecretRefused)?;
        let client =
            ClusterClient::new(secret, Duration::from_secs(30)).map_err(AdminError::Client)?;
        let NodeRole::Core { raft_listen } = cluster.role else {
            return Err(AdminError::EdgeNode);
        };
        Ok(Self {
            client,
            addr: local_address(raft_listen),
        })
    }

    pub async fn status(&self) -> Result<NodeMetrics, AdminError> {
        match self.client.status(&self.addr).await {
            Ok(ClusterReply::Done(metrics)) => Ok(metrics),
            Ok(other) => Err(AdminError::Refused(format!("{other:?}"))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn change(&self, change: &Change) -> Result<(), AdminError> {
        let mut addr = self.addr.clone();
        // The node asked, then the leader it names.
        for _ in 0..2 {
            let reply = match change {
                Change::AddLearner { id, raft_addr } => {
                    let request = AddLearner {
                        id: *id,
                        raft_addr: raft_addr.clone(),
                    };
                    self.client.add_learner(&addr, &request).await
                }
                Change::Promote { id } => self.client.promote(&addr, *id).await,
                Change::Remove { id } => self.client.remove(&addr, *id).await,
            };
            match reply? {
                ClusterReply::Done(()) => return Ok(()),
                ClusterReply::NotLeader(Some(leader)) => addr = leader,
                ClusterReply::NotLeader(None) => return Err(AdminError::NoLeader),
                ClusterReply::Failed(reason) => return Err(AdminError::Refused(reason)),
            }
        }
        Err(AdminError::NoLeader)
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
