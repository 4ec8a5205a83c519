//! One node of the replicated state: its stores in the data directory, its Raft
//! instance and network, and the operations the rest of Ostium needs — propose a
//! command, read locally or linearizably, and manage membership.
//!
//! Raft runs on the current tokio multi-thread runtime (never on actix's
//! single-threaded workers, docs/architecture.md §4, where it runs). The node does not listen by
//! itself: serve [`StateNode::raft_service`] on the Raft listener at `raft_addr`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::errors::LinearizableReadError;
use openraft::{ChangeMembers, Config, ReadPolicy, SnapshotPolicy};
use redb::Database;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::cache::{CacheWriter, HotCache};
use crate::command::{StateCommand, StateResponse};
use crate::error::AttemptError;
use crate::leader_contact::LeaderContact;
use crate::network::incoming_snapshot::IncomingSnapshots;
use crate::network::{ClusterSecret, RaftNetwork, RaftService};
use crate::patience::Patience;
use crate::record::Denial;
use crate::snapshot_schedule;
use crate::state::{StateView, StoreError};
use crate::store::{self, LogStore, StateMachineStore, StateReader};
use crate::typ::{
    ClientWriteError, Fatal, ForwardToLeader, InitializeError, NodeId, QuorumNotEnough, Raft,
    RaftError, RaftMetrics, RaftNode, RaftServerMetrics, ServerState,
};

/// How often a leader sends heartbeats by default: see [`ELECTION_TIMEOUT`].
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(50);

/// The range a follower draws its election timeout from by default, suited to a LAN.
/// A follower stands for election once it has heard nothing from the leader for the
/// longest election timeout (openraft's leader lease: until then the other followers
/// refuse to vote for anyone else) plus the timeout it drew, so the survivors of a
/// killed leader elect another 0.9 to 1.2 s after its last heartbeat.
pub const ELECTION_TIMEOUT: (Duration, Duration) =
    (Duration::from_millis(300), Duration::from_millis(600));

/// How long `add_learner` waits for the new learner to hold and apply the whole log
/// by default.
pub const LEARNER_CATCH_UP: Duration = Duration::from_secs(120);

/// How a node is started.
#[derive(Debug, Clone)]
pub struct StateNodeConfig {
    pub node_id: NodeId,
    /// The address other nodes reach this node's Raft listener at (`host:port`).
    pub raft_addr: String,
    pub data_dir: PathBuf,
    pub secret: ClusterSecret,
    pub heartbeat_interval: Duration,
    pub election_timeout: (Duration, Duration),
    /// A snapshot is taken every this many log entries (more as the state grows), at
    /// indexes offset per node (`snapshot_schedule`), and the log compacted.
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot, so that a slightly lagging follower
    /// catches up from the log rather than by a full snapshot.
    pub log_kept_behind_snapshot: u64,
    /// How long a follower's linearizable read may wait for the leader and then for
    /// its own state machine to catch up.
    pub read_timeout: Duration,
    /// The hot cache every applied command is written through to, if any.
    pub cache: Option<HotCache>,
    /// The page cache of the state's records (`[state] cache_mb`): the memory they
    /// take, however many there are.
    pub state_cache_bytes: usize,
}

impl StateNodeConfig {
    pub fn new(
        node_id: NodeId,
        raft_addr: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        secret: ClusterSecret,
    ) -> Self {
        Self {
            node_id,
            raft_addr: raft_addr.into(),
            data_dir: data_dir.into(),
            secret,
            heartbeat_interval: HEARTBEAT_INTERVAL,
            election_timeout: ELECTION_TIMEOUT,
            snapshot_every: 100_000,
            log_kept_behind_snapshot: 1_000,
            read_timeout: Duration::from_secs(5),
            cache: None,
            state_cache_bytes: 64 * 1024 * 1024,
        }
    }

    fn raft_config(&self) -> Result<Config, StateNodeError> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Config {
            cluster_name: "ostium".into(),
            heartbeat_interval: millis(self.heartbeat_interval),
            election_timeout_min: millis(self.election_timeout.0),
            election_timeout_max: millis(self.election_timeout.1),
            // Taken on this node's own schedule (`snapshot_schedule`), not at the
            // same index as every other node.
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: self.log_kept_behind_snapshot,
            // A node back from a partition must not unseat a healthy leader (the
            // network implements the pre-vote RPC).
            enable_pre_vote: Some(true),
            // Each chunk of a snapshot is one request, and the last one waits for the
            // receiver to load every record: a million families take seconds, far
            // past openraft's default of 200 ms.
            install_snapshot_timeout: 120_000,
            ..Config::default()
        }
        .validate()
        .map_err(StateNodeError::Config)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateNodeError {
    #[error("invalid Raft configuration")]
    Config(#[source] openraft::ConfigError),
    #[error("could not open the state store in the data directory")]
    Store(#[from] std::io::Error),
    #[error("could not build the Raft network client")]
    Network(#[from] reqwest::Error),
    #[error("Raft stopped")]
    Raft(#[from] Fatal),
    #[error("Raft did not stop cleanly")]
    Shutdown(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the state store was still in use {SHUTDOWN_GRACE:?} after Raft stopped")]
    StillOpen,
}

/// How long `shutdown` waits for the database to close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Where a request that only the leader can serve should go instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub id: Option<NodeId>,
    /// The leader's Raft address, when known.
    pub raft_addr: Option<String>,
}

impl From<ForwardToLeader> for Leader {
    fn from(forward: ForwardToLeader) -> Self {
        Self {
            id: forward.leader_id,
            raft_addr: forward.leader_node.map(|node| node.addr),
        }
    }
}

/// Which leader this node's Raft names, in which term: a later view that differs
/// means leadership has changed in between (an election began or ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderView {
    term: u64,
    leader: Option<NodeId>,
}

impl LeaderView {
    fn of(metrics: &RaftServerMetrics) -> Self {
        Self {
            term: metrics.vote.leader_id.term,
            leader: metrics.current_leader,
        }
    }

    /// The leader named, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// This node is not the leader: forward the command to `Leader`.
    #[error("not the leader; forward to {0:?}")]
    ForwardToLeader(Leader),
    /// Leadership changed after the command entered this node's log: it may or may not
    /// be committed. Commands are written so that proposing the same one again is safe
    /// (a redemption retried with the same successor answers `AlreadyRotated`).
    #[error("leadership changed; the command may or may not have been applied; forward to {0:?}")]
    OutcomeUnknown(Leader),
    #[error("proposal refused")]
    Refused(#[source] Box<ClientWriteError>),
    #[error("Raft stopped")]
    Stopped(#[source] Fatal),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No leader is known, or leadership moved during the read: retry, or forward.
    #[error("no usable leader; forward to {0:?}")]
    ForwardToLeader(Leader),
    #[error("leadership could not be confirmed by a quorum")]
    NoQuorum(#[source] QuorumNotEnough),
    #[error("the leader could not be asked")]
    LeaderUnreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("not applied in time")]
    Timeout(#[source] openraft::metrics::WaitError),
    #[error("Raft stopped")]
    Stopped(#[source] Fatal),
    /// The state's records could not be read: the disk.
    #[error("the state could not be read")]
    Storage(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("not the leader; forward to {0:?}")]
    ForwardToLeader(Leader),
    #[error("membership change refused")]
    Refused(#[source] Box<ClientWriteError>),
    #[error("the cluster could not be formed")]
    Initialize(#[source] Box<InitializeError>),
    /// The learner was added but did not hold and apply the whole log in time: it
    /// keeps receiving it, and the call may be repeated.
    #[error(
        "node {id} was added as a learner but had not caught up after {waited:?}: it holds \
         the log up to {held:?} and has applied up to {applied:?} of {target} (is it running, \
         reachable at its Raft address and given the cluster's secret?)"
    )]
    LearnerBehind {
        id: NodeId,
        target: u64,
        held: Option<u64>,
        applied: Option<u64>,
        waited: Duration,
    },
    #[error("node {id} is started at {started_at} but the members list it at {listed:?}")]
    NotListed {
        id: NodeId,
        started_at: String,
        listed: Option<String>,
    },
    #[error("Raft stopped")]
    Stopped(#[source] Fatal),
}

/// A node's view of the cluster, as the cluster API's `status` sends it to
/// `ostium cluster status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeMetrics {
    pub id: NodeId,
    pub state: ServerState,
    /// The leader this node has heard from within the election timeout: for a
    /// follower or learner, the leader whose last AppendEntries it accepted that
    /// recently; for the leader itself, when a quorum acknowledged it that recently
    /// (or it is the only voter). `None` otherwise, even while Raft still remembers
    /// a leader that has gone silent.
    pub leader: Option<NodeId>,
    /// Whether a write sent to this node now can be committed: it has a leader as
    /// above. A follower cannot see the leader's quorum, only that the leader is
    /// alive; in a cluster of three that is the same thing.
    #[serde(default)]
    pub writable: bool,
    /// How long ago (milliseconds) this node last heard from the leader Raft names
    /// (a follower), or a quorum acknowledged it (the leader), whether or not that
    /// is within the election timeout; `None` if never.
    #[serde(default)]
    pub leader_contact_millis: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    /// The log is compacted up to here: a follower behind it catches up by snapshot.
    pub purged_index: Option<u64>,
    pub voters: BTreeSet<NodeId>,
    /// Every member, voter or learner, with its Raft address.
    pub nodes: BTreeMap<NodeId, String>,
    /// The fingerprint of the client configuration this node serves, once the
    /// server has reported one.
    #[serde(default)]
    pub configuration: Option<String>,
}

pub struct StateNode {
    id: NodeId,
    raft_addr: String,
    raft: Raft,
    /// Held so that shutdown can be the one to close the database: see `shutdown`.
    /// `None` once shut down.
    db: Mutex<Option<Arc<Database>>>,
    reader: StateReader,
    service: RaftService,
    network: RaftNetwork,
    /// When this node last accepted an AppendEntries from a leader.
    contact: LeaderContact,
    /// How long a leader may stay silent before this node stops naming it: the
    /// longest election timeout, after which a follower would stand for election.
    leader_timeout: Duration,
    read_timeout: Duration,
    cache: Option<Arc<CacheWriter>>,
    /// How long after a quorum last acknowledged this node as leader a read may be
    /// served from its own state without a round through the Raft core: see
    /// `lease_covers_read`.
    read_lease: Duration,
    /// The fingerprint of the server's client configuration, which the state does
    /// not read: it is only passed on in [`NodeMetrics`], so that `cluster status`
    /// shows whether the nodes serve the same clients.
    configuration: Mutex<Option<String>>,
}

impl StateNode {
    /// Opens the stores in `data_dir` (starting from the last snapshot and log there)
    /// and starts Raft. A node restarted with its data rejoins its cluster by itself.
    pub async fn start(config: StateNodeConfig) -> Result<Self, StateNodeError> {
        let raft_config = Arc::new(config.raft_config()?);
        let db = store::open(&config.data_dir)?;
        let cache = config
            .cache
            .clone()
            .map(|cache| Arc::new(CacheWriter::new(cache)));
        let state_machine = StateMachineStore::open(
            db.clone(),
            &config.data_dir,
            config.state_cache_bytes,
            cache.clone(),
        )
        .await?;
        let reader = state_machine.reader();
        let network = RaftNetwork::new(config.secret.clone())?;
        let raft = Raft::new(
            config.node_id,
            raft_config,
            network.clone(),
            LogStore::new(db.clone()),
            state_machine,
        )
        .await?;
        snapshot_schedule::spawn(
            raft.clone(),
            config.node_id,
            config.snapshot_every,
            store::state_machine::current_snapshot(&config.data_dir),
        );
        let contact = LeaderContact::default();
        let incoming =
            IncomingSnapshots::new(config.data_dir.join(store::state_machine::SNAPSHOT_DIR));
        let service = RaftService::new(raft.clone(), config.secret, contact.clone(), incoming);
        Ok(Self {
            id: config.node_id,
            raft_addr: config.raft_addr,
            db: Mutex::new(Some(db.clone())),
            raft,
            reader,
            service,
            network,
            contact,
            leader_timeout: config.election_timeout.1,
            read_timeout: config.read_timeout,
            cache,
            // At most half of openraft's own lease (the longest election timeout): a
            // follower votes for no one else for that long after it last heard from
            // this leader, and the margin covers clock drift and metrics that trail
            // the Raft core.
            read_lease: config.election_timeout.0.min(config.election_timeout.1 / 2),
            configuration: Mutex::new(None),
        })
    }

    /// Reports `fingerprint` as this node's client configuration in its metrics.
    pub fn report_configuration(&self, fingerprint: String) {
        *self
            .configuration
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(fingerprint);
    }

    /// Revocation commands applied on this node since it started.
    pub fn revocations_applied(&self) -> u64 {
        self.reader.revocations_applied()
    }

    /// Ticks each time the signing keys may have changed here.
    pub fn keys_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reader.keys_changed()
    }

    /// The hot cache this node writes through to, if any.
    pub fn cache(&self) -> Option<&HotCache> {
        self.cache.as_deref().map(CacheWriter::cache)
    }

    /// Keeps the hot cache's watermark while this node leads (see
    /// [`CacheWriter::spawn_keeper`]) until `stop` is cancelled; `None` without a hot
    /// cache.
    pub fn spawn_cache_keeper(
        self: &Arc<Self>,
        every: Duration,
        stop: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let writer = self.cache.clone()?;
        Some(writer.spawn_keeper(self.clone(), every, stop))
    }

    /// After a revocation is committed: makes sure edges reading the hot cache see it
    /// (see [`HotCache::publish_denial`]). Nothing to do without a hot cache.
    pub async fn publish_denials(&self, denials: Vec<(Denial, u64)>) {
        if let Some(cache) = self.cache() {
            cache.publish_denials(denials).await;
        }
    }

    /// The index of the last log entry applied here.
    pub fn applied_index(&self) -> u64 {
        self.reader.last_applied_index()
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address the other nodes reach this node's Raft listener at.
    pub fn raft_addr(&self) -> &str {
        &self.raft_addr
    }

    /// The server side of this node's Raft network, to mount on the Raft listener.
    pub fn raft_service(&self) -> RaftService {
        self.service.clone()
    }

    /// The longest election timeout: how long a leader may stay silent before the
    /// followers replace it, and so about as long as a request to it should take.
    pub fn election_timeout(&self) -> Duration {
        self.leader_timeout
    }

    /// The leader Raft names now, and the term: see [`StateNode::leader_changed`].
    pub fn leader_view(&self) -> LeaderView {
        LeaderView::of(&self.raft.server_metrics().borrow_watched())
    }

    /// Resolves once Raft names another leader (or none) or another term than in
    /// `seen`, at once if it already does; also once Raft has stopped, which the
    /// next attempt then reports. A proposal that found no usable leader waits for
    /// this rather than for a fixed pause, so that it is retried as soon as an
    /// election ends. Raft publishes these metrics only when its vote, state or
    /// membership changes, not on every applied entry.
    pub async fn leader_changed(&self, seen: LeaderView) {
        let mut server = self.raft.server_metrics();
        loop {
            let now = LeaderView::of(&server.borrow_and_update());
            if now != seen || server.changed().await.is_err() {
                return;
            }
        }
    }

    /// Appends `command` to the log and waits until it is committed and applied here.
    /// Only the leader accepts proposals; others answer `ForwardToLeader`.
    pub async fn propose(&self, command: StateCommand) -> Result<StateResponse, ProposeError> {
        let span = tracing::info_span!(
            "raft client_write",
            command = command.kind(),
            raft.node_id = self.id,
        );
        self.client_write(command).instrument(span).await
    }

    async fn client_write(&self, command: StateCommand) -> Result<StateResponse, ProposeError> {
        // Held until the command is applied here, so that its write-through joins
        // the caller's trace (crate::trace).
        let _traced = self
            .cache
            .as_ref()
            .and_then(|cache| cache.links().register(&command));
        match self.raft.client_write(command).await {
            Ok(written) => Ok(written.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(ProposeError::ForwardToLeader(forward.into()))
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(forward))) => {
                Err(ProposeError::OutcomeUnknown(forward.into()))
            }
            Err(RaftError::APIError(refused)) => Err(ProposeError::Refused(Box::new(refused))),
            Err(RaftError::Fatal(fatal)) => Err(ProposeError::Stopped(fatal)),
        }
    }

    /// Reads the state as applied on this node, which may lag the leader.
    /// The state's records as they stand, for reads that walk them (a cache refill).
    pub fn records(&self) -> Arc<crate::store::StateDb> {
        self.reader.records()
    }

    pub fn read<T>(
        &self,
        read: impl FnOnce(&StateView) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.reader.read(read)
    }

    /// Reads the state with every write acknowledged before the call applied. A leader
    /// within its lease reads at once (`lease_covers_read`); otherwise the leader
    /// confirms that it still leads (from its lease in the Raft core, or with a quorum:
    /// Raft's ReadIndex) and names the log index the read must wait for; a follower
    /// asks the leader for that index over the Raft network and reads once it has
    /// applied that far. This is the read an invariant needs ("once a revocation has
    /// returned, no node accepts the token").
    pub async fn linearizable_read<T>(
        &self,
        read: impl FnOnce(&StateView) -> Result<T, StoreError>,
    ) -> Result<T, ReadError> {
        if self.lease_covers_read() {
            return Ok(self.reader.read(read)?);
        }
        // A leader whose lease is current answers without a round to its followers;
        // an expired lease falls back to confirming leadership with a quorum.
        let confirmed = match self.raft.ensure_linearizable(ReadPolicy::LeaseRead).await {
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {
                self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await
            }
            other => other,
        };
        let forward = match confirmed {
            Ok(_) => return Ok(self.reader.read(read)?),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => forward,
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(e))) => {
                return Err(ReadError::NoQuorum(e));
            }
            Err(RaftError::Fatal(fatal)) => return Err(ReadError::Stopped(fatal)),
        };
        let leader = Leader::from(forward);
        let (Some(id), Some(addr)) = (leader.id, leader.raft_addr.clone()) else {
            return Err(ReadError::ForwardToLeader(leader));
        };
        let index = match self
            .network
            .peer(id, addr)
            .read_index(self.read_timeout)
            .await
        {
            Ok(Ok(read_log_id)) => read_log_id.index(),
            // Leadership moved on between the two steps: the caller may retry.
            Ok(Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(_)))) => {
                return Err(ReadError::ForwardToLeader(leader));
            }
            Ok(Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(e)))) => {
                return Err(ReadError::NoQuorum(e));
            }
            Ok(Err(RaftError::Fatal(fatal))) => {
                return Err(ReadError::LeaderUnreachable(Box::new(fatal)));
            }
            Err(unreachable) => return Err(ReadError::LeaderUnreachable(Box::new(unreachable))),
        };
        self.wait_applied(index, self.read_timeout).await?;
        Ok(self.reader.read(read)?)
    }

    /// Whether a read of this node's state, now, sees every write acknowledged
    /// anywhere before now, judged from what the Raft core last published (its
    /// metrics) and the applied state, without a message to the core. This is
    /// openraft's lease read done on the caller's thread: the core's own check takes
    /// a hand-off to the Raft runtime and back for every read.
    ///
    /// It holds when all of these do:
    /// - this node is the leader of the current term, by a committed vote;
    /// - its state machine has applied an entry of this term (its first entry, the
    ///   blank one a new leader appends, comes before all others): so everything
    ///   committed by earlier leaders is applied here;
    /// - a quorum acknowledged it less than `read_lease` ago (or it is the only
    ///   voter): the voters of that quorum refuse to elect anyone else for an
    ///   election timeout after they last heard from it, so no other leader can have
    ///   acknowledged a write since.
    ///
    /// Writes this leader acknowledged are applied here before they are acknowledged
    /// (`client_write` answers once applied). A leader whose core stepped down an
    /// instant ago may still look like one in the metrics; the lease covers that
    /// instant too, since no other leader can exist before it runs out. Anything
    /// else answers `false`, and the read goes through the Raft core.
    pub(crate) fn lease_covers_read(&self) -> bool {
        // The clock openraft stamps its acknowledgements with.
        let now = <openraft::TokioInstant as openraft::Instant>::now();
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let vote = &metrics.vote.leader_id;
        let leading = metrics.state == ServerState::Leader
            && metrics.current_leader == Some(self.id)
            && metrics.vote.committed
            && vote.node_id == self.id
            && vote.term == metrics.current_term;
        if !leading {
            return false;
        }
        let caught_up = self
            .reader
            .last_applied()
            .is_some_and(|applied| applied.leader_id == *vote);
        if !caught_up {
            return false;
        }
        let membership = metrics.membership_config.membership();
        let sole_voter = membership.voter_ids().all(|id| id == self.id)
            && membership.voter_ids().any(|id| id == self.id);
        sole_voter
            || metrics
                .last_quorum_acked
                .as_ref()
                .is_some_and(|acked| now < **acked + self.read_lease)
    }

    /// Whether this node has been part of a cluster before (it has a log or a vote):
    /// a restarted node must not form a new one.
    pub async fn is_initialized(&self) -> Result<bool, StateNodeError> {
        Ok(self.raft.is_initialized().await?)
    }

    /// Forms a new cluster of `members` (id → Raft address). Call it once, on one node
    /// with an empty log; a node that already has a log refuses. This node must be a
    /// member under the address it was started with, or the others could not reach it.
    pub async fn initialize(
        &self,
        members: BTreeMap<NodeId, String>,
    ) -> Result<(), MembershipError> {
        match members.get(&self.id) {
            Some(addr) if *addr == self.raft_addr => {}
            listed => {
                return Err(MembershipError::NotListed {
                    id: self.id,
                    started_at: self.raft_addr.clone(),
                    listed: listed.cloned(),
                });
            }
        }
        let members: BTreeMap<NodeId, RaftNode> = members
            .into_iter()
            .map(|(id, addr)| (id, RaftNode::new(addr)))
            .collect();
        self.raft.initialize(members).await.map_err(|e| match e {
            RaftError::APIError(refused) => MembershipError::Initialize(Box::new(refused)),
            RaftError::Fatal(fatal) => MembershipError::Stopped(fatal),
        })
    }

    /// Adds a non-voting member and waits, at most `patience`, until it holds every
    /// entry of the log as it was when the call was made (from a snapshot if the log
    /// was compacted); returns that last index. openraft's own blocking
    /// `add_learner` returns while the learner is still up to
    /// `replication_lag_threshold` entries behind, so this waits itself. Whether the
    /// learner has also applied them is only known to the learner: see
    /// [`crate::network::ClusterService`], which asks it.
    pub async fn add_learner(
        &self,
        id: NodeId,
        raft_addr: String,
        patience: Duration,
    ) -> Result<u64, MembershipError> {
        let added = self
            .raft
            .add_learner(id, RaftNode::new(raft_addr), false)
            .await
            .map_err(membership_error)?;
        // The membership entry comes after every entry the leader had when called.
        let target = added.log_id.index;
        let held = |metrics: &RaftMetrics| {
            metrics
                .replication
                .as_ref()
                .and_then(|replication| replication.get(&id).cloned().flatten())
                .map(|matched| matched.index)
        };
        let waited = self
            .raft
            .wait(Some(patience))
            .metrics(
                |metrics| held(metrics).is_some_and(|index| index >= target),
                "the learner holds the whole log",
            )
            .await;
        match waited {
            Ok(_) => Ok(target),
            Err(openraft::metrics::WaitError::ShuttingDown) => {
                Err(MembershipError::Stopped(Fatal::Stopped))
            }
            Err(_) => Err(MembershipError::LearnerBehind {
                id,
                target,
                held: held(&self.raft.metrics().borrow_watched()),
                applied: None,
                waited: patience,
            }),
        }
    }

    /// Makes `voters` the voting members (joint consensus); members left out become
    /// learners, which `remove_nodes` then drops.
    pub async fn change_membership(&self, voters: BTreeSet<NodeId>) -> Result<(), MembershipError> {
        let changed = self.raft.change_membership(voters, true).await;
        changed.map(|_| ()).map_err(membership_error)
    }

    /// Drops learners from the cluster.
    pub async fn remove_nodes(&self, ids: BTreeSet<NodeId>) -> Result<(), MembershipError> {
        let changed = self
            .raft
            .change_membership(ChangeMembers::RemoveNodes(ids), false)
            .await;
        changed.map(|_| ()).map_err(membership_error)
    }

    pub fn metrics(&self) -> NodeMetrics {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let contact = self.leader_contact(&metrics);
        let leader = match (metrics.current_leader, contact) {
            (Some(leader), Some(since)) if since <= self.leader_timeout => Some(leader),
            _ => None,
        };
        let membership = metrics.membership_config.membership();
        NodeMetrics {
            id: metrics.id,
            state: metrics.state,
            leader,
            writable: leader.is_some(),
            leader_contact_millis: contact
                .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX)),
            term: metrics.current_term,
            last_log_index: metrics.last_log_index,
            committed_index: metrics.local_committed.map(|id| id.index),
            applied_index: metrics.last_applied.map(|id| id.index),
            snapshot_index: metrics.snapshot.map(|id| id.index),
            purged_index: metrics.purged.map(|id| id.index),
            voters: membership.voter_ids().collect(),
            nodes: membership
                .nodes()
                .map(|(id, node)| (*id, node.addr.clone()))
                .collect(),
            configuration: self
                .configuration
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// How long ago the leader Raft names was last heard from: by this node's Raft
    /// service (a follower or learner), or, on the leader itself, by a quorum (no
    /// time at all for the only voter, which is its own quorum).
    fn leader_contact(&self, metrics: &RaftMetrics) -> Option<Duration> {
        let leader = metrics.current_leader?;
        if leader != self.id {
            return self.contact.since(leader);
        }
        if metrics.state != ServerState::Leader {
            return None;
        }
        let membership = metrics.membership_config.membership();
        if membership.voter_ids().all(|id| id == self.id) {
            return Some(Duration::ZERO);
        }
        let acked = metrics.last_quorum_acked.as_ref()?;
        Some(openraft::Instant::elapsed(&**acked))
    }

    /// Waits until this node has applied the log up to `index`, or `timeout` passes.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<(), ReadError> {
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "wait_applied")
            .await
            .map(|_| ())
            .map_err(ReadError::Timeout)
    }

    /// Stops Raft and closes the database in the data directory, so that a node can be
    /// started on it again at once. Takes `&self` so that a node shared by many
    /// handlers can be stopped; afterwards every operation answers `Stopped`.
    pub async fn shutdown(&self) -> Result<(), StateNodeError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| StateNodeError::Shutdown(Box::new(e)))?;
        self.reader.stop_applying();
        let db = self
            .db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(db) = db else {
            return Ok(());
        };
        // Raft's tasks and blocking store calls let go of their handles on the database
        // as they wind down, after `shutdown` has returned. Wait until ours is the last,
        // then drop it here: redb releases its file lock only when `Database::drop` has
        // finished, which is after the last handle's count reaches zero.
        let closing = Patience {
            total: SHUTDOWN_GRACE,
            pause: Duration::from_millis(20),
        };
        let last_handle = closing.retry(async |_| match Arc::strong_count(&db) {
            1 => ControlFlow::Break(Ok(())),
            _ => ControlFlow::Continue(AttemptError::StillInUse),
        });
        if last_handle.await.is_err() {
            return Err(StateNodeError::StillOpen);
        }
        tokio::task::spawn_blocking(move || drop(db))
            .await
            .map_err(|e| StateNodeError::Shutdown(Box::new(e)))
    }
}

fn membership_error(e: RaftError<ClientWriteError>) -> MembershipError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            MembershipError::ForwardToLeader(forward.into())
        }
        RaftError::APIError(refused) => MembershipError::Refused(Box::new(refused)),
        RaftError::Fatal(fatal) => MembershipError::Stopped(fatal),
    }
}
