//! Why the replicated state could not do what was asked, with the cause kept: the
//! grants turn [`Unavailable`] into `temporarily_unavailable` (the client retries) and
//! log the whole chain of causes for the operator.

use std::time::Duration;

use crate::command::StateResponse;
use crate::network::cluster::ClusterCallError;
use crate::node::{ProposeError, ReadError};

/// The state could not take a command or answer a read now: no leader (an election
/// is under way, or this node is cut off), no core answered an edge, or the node is
/// stopping. Whether a command that failed this way was applied is unknown; every
/// command is safe to propose again.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Every attempt failed for as long as the caller was willing to wait; the last
    /// attempt's failure is the cause.
    #[error("no leader answered within {patience:?}")]
    GaveUp {
        patience: Duration,
        #[source]
        last: Box<AttemptError>,
    },
    /// The leader refused the command outright (not for want of a quorum).
    #[error("the leader refused the command")]
    Refused(#[source] Box<AttemptError>),
    /// Raft has stopped on this node: it is shutting down.
    #[error("the replicated state has stopped on this node")]
    Stopped(#[source] Box<AttemptError>),
    #[error("no core nodes are configured")]
    NoCores,
    /// This node's records could not be read: its disk. Another node may answer.
    #[error("the state's records could not be read")]
    Storage(#[from] crate::state::StoreError),
}

impl Unavailable {
    pub(crate) fn gave_up(patience: Duration, last: AttemptError) -> Self {
        Self::GaveUp {
            patience,
            last: Box::new(last),
        }
    }

    pub(crate) fn stopped(why: impl Into<AttemptError>) -> Self {
        Self::Stopped(Box::new(why.into()))
    }

    pub(crate) fn refused(why: impl Into<AttemptError>) -> Self {
        Self::Refused(Box::new(why.into()))
    }
}

/// Why one attempt to reach the leader, or a core, failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error(transparent)]
    Propose(#[from] ProposeError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Call(#[from] ClusterCallError),
    #[error("{0} is not the leader and knows of none")]
    NoLeaderKnown(String),
    #[error("{0} is no longer the leader")]
    NoLongerLeader(String),
    #[error("{0} was replaced as leader while it was asked")]
    Replaced(String),
    #[error("{0} did not answer in time")]
    NoAnswer(String),
    #[error("{addr} could not serve it: {reason}")]
    Refused { addr: String, reason: String },
    #[error("the leader accepted the command but could not commit it in time")]
    CommitTimeout,
    #[error("no leader is known yet")]
    NoLeaderYet,
    #[error("{0} answered another question")]
    WrongAnswer(String),
    #[error("the state database is still in use")]
    StillInUse,
    #[error("Redis did not answer")]
    Cache(#[source] crate::cache::CacheError),
    /// A whole wait for a leader that ended without one, retried by a caller with
    /// more patience (a node waiting for its cluster at start).
    #[error(transparent)]
    Unavailable(Box<Unavailable>),
}

impl From<Unavailable> for AttemptError {
    fn from(e: Unavailable) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// What a storage call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The state machine answered something `command` cannot answer: a bug, never
    /// the client's doing.
    #[error("the state answered {response:?} to {command}")]
    Unexpected {
        command: &'static str,
        response: Box<StateResponse>,
    },
}

impl StateError {
    pub(crate) fn unexpected(command: &'static str, response: StateResponse) -> Self {
        Self::Unexpected {
            command,
            response: Box::new(response),
        }
    }
}
