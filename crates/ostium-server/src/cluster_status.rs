//! What `ostium cluster status` prints: every node's own view of the cluster side by
//! side, and what the nodes that answered agree on.
//!
//! Each node reports what it sees ([`NodeMetrics`]); none of them is taken as the
//! truth about the others, so an operator sees a node that is down (unreachable), a
//! node that lags (its applied index behind the most advanced commit index any node
//! reported) and a node that has lost its leader, each where it is. The cluster-wide
//! lines come from the nodes with the highest term, since a higher term deposes every
//! leader of a lower one.

use std::collections::{BTreeMap, BTreeSet};

use ostium_state::node::NodeMetrics;
use ostium_state::typ::{NodeId, ServerState};
use serde::Serialize;

/// What a node answered when asked for its view, or why it did not.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Where it was asked.
    pub addr: String,
    pub view: Result<NodeMetrics, String>,
}

/// The cluster as the nodes that answered see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// The leader named by a node of the highest term that has heard from one within
    /// its election timeout; `null` when no node that answered has.
    pub leader: Option<NodeId>,
    /// The highest term any node that answered is in.
    pub term: Option<u64>,
    /// Whether a node of that term can have a write committed now.
    pub writable: bool,
    /// The voting members, as the most up-to-date node that answered knows them.
    pub voters: BTreeSet<NodeId>,
    /// The fingerprint of the client configuration (clients, scopes, resources,
    /// users) that most nodes that answered serve; the leader's on a tie.
    pub configuration: Option<String>,
    /// Whether every node that answered serves that configuration. When not, the
    /// nodes that differ have `configuration_agrees: false`: reload them.
    pub configurations_agree: bool,
    /// Every node asked: those in the configuration file, and members the file does
    /// not list.
    pub nodes: BTreeMap<NodeId, NodeView>,
}

/// One node's view. Every key is present for every node (`null` when the node did
/// not answer), so that a script reads them all the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    pub addr: String,
    pub reachable: bool,
    /// Why the node did not answer.
    pub error: Option<String>,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: Option<&'static str>,
    /// Whether the membership the cluster-wide lines come from counts it as a voter.
    pub voter: Option<bool>,
    pub term: Option<u64>,
    /// The leader this node has heard from within its election timeout.
    pub leader: Option<NodeId>,
    pub writable: Option<bool>,
    /// How long ago this node last heard from its leader (on the leader: since a
    /// quorum acknowledged it), in milliseconds.
    pub leader_contact_millis: Option<u64>,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// How many committed entries this node has yet to apply: the highest commit
    /// index any node reported, less this node's applied index.
    pub lag: Option<u64>,
    /// The last entry this node's latest snapshot holds, and the last entry it has
    /// dropped from its log since (compaction keeps a little behind the snapshot).
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// The fingerprint of the client configuration this node serves.
    pub configuration: Option<String>,
    /// Whether it is the cluster's `configuration`.
    pub configuration_agrees: Option<bool>,
}

impl ClusterStatus {
    /// Puts the answers together; `answers` holds one entry per node asked.
    pub fn from_answers(answers: &BTreeMap<NodeId, Answer>) -> Self {
        let views: Vec<&NodeMetrics> = answers
            .values()
            .filter_map(|answer| answer.view.as_ref().ok())
            .collect();
        let term = views.iter().map(|view| view.term).max();
        let current: Vec<&&NodeMetrics> = views.iter().filter(|v| Some(v.term) == term).collect();
        let leader = current.iter().find_map(|view| view.leader);
        let writable = current.iter().any(|view| view.writable);
        let voters = reference(&views).map(|view| view.voters.clone());
        let committed = views.iter().filter_map(|view| view.committed_index).max();
        let configuration = most_served(&views, leader);
        let nodes: BTreeMap<NodeId, NodeView> = answers
            .iter()
            .map(|(id, answer)| {
                let voter = voters.as_ref().map(|voters| voters.contains(id));
                let mut view = NodeView::new(answer, voter, committed);
                // A node that reports none (an older release) is not flagged.
                view.configuration_agrees = view
                    .configuration
                    .as_ref()
                    .map(|own| Some(own) == configuration.as_ref());
                (*id, view)
            })
            .collect();
        Self {
            leader,
            term,
            writable,
            voters: voters.unwrap_or_default(),
            configurations_agree: nodes
                .values()
                .all(|node| node.configuration_agrees != Some(false)),
            configuration,
            nodes,
        }
    }

    /// Whether any node answered at all.
    pub fn any_reachable(&self) -> bool {
        self.nodes.values().any(|node| node.reachable)
    }

    /// Members of the cluster (id and Raft address) that were not asked yet, as the
    /// most up-to-date node that answered knows them.
    pub fn unasked_members(answers: &BTreeMap<NodeId, Answer>) -> BTreeMap<NodeId, String> {
        let views: Vec<&NodeMetrics> = answers
            .values()
            .filter_map(|answer| answer.view.as_ref().ok())
            .collect();
        reference(&views)
            .map(|view| {
                view.nodes
                    .iter()
                    .filter(|(id, _)| !answers.contains_key(id))
                    .map(|(id, addr)| (*id, addr.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The configuration fingerprint most `views` report; on a tie, the leader's (else
/// the smallest, so that every run names the same).
fn most_served(views: &[&NodeMetrics], leader: Option<NodeId>) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for view in views {
        if let Some(fingerprint) = &view.configuration {
            *counts.entry(fingerprint).or_default() += 1;
        }
    }
    let most = counts.values().copied().max()?;
    let leaders = views
        .iter()
        .find(|view| Some(view.id) == leader)
        .and_then(|view| view.configuration.as_deref())
        .filter(|fingerprint| counts.get(fingerprint) == Some(&most));
    leaders
        .or_else(|| {
            counts
                .iter()
                .find(|(_, count)| **count == most)
                .map(|(fingerprint, _)| *fingerprint)
        })
        .map(str::to_owned)
}

/// The view whose membership is the most up to date: the leader's own, else the one
/// with the highest term and longest log.
fn reference<'a>(views: &[&'a NodeMetrics]) -> Option<&'a NodeMetrics> {
    views
        .iter()
        .find(|view| view.state == ServerState::Leader && view.leader == Some(view.id))
        .or_else(|| {
            views
                .iter()
                .max_by_key(|view| (view.term, view.last_log_index))
        })
        .copied()
}

impl NodeView {
    fn new(answer: &Answer, voter: Option<bool>, committed: Option<u64>) -> Self {
        let unreachable = |error: &str| Self {
            addr: answer.addr.clone(),
            reachable: false,
            error: Some(error.to_owned()),
            role: None,
            voter,
            term: None,
            leader: None,
            writable: None,
            leader_contact_millis: None,
            last_log_index: None,
            committed_index: None,
            applied_index: None,
            lag: None,
            snapshot_index: None,
            purged_index: None,
            configuration: None,
            configuration_agrees: None,
        };
        let view = match &answer.view {
            Ok(view) => view,
            Err(error) => return unreachable(error),
        };
        Self {
            addr: answer.addr.clone(),
            reachable: true,
            error: None,
            role: Some(role(view.state)),
            voter,
            term: Some(view.term),
            leader: view.leader,
            writable: Some(view.writable),
            leader_contact_millis: view.leader_contact_millis,
            last_log_index: view.last_log_index,
            committed_index: view.committed_index,
            applied_index: view.applied_index,
            lag: committed.map(|c| c.saturating_sub(view.applied_index.unwrap_or(0))),
            snapshot_index: view.snapshot_index,
            purged_index: view.purged_index,
            configuration: view.configuration.clone(),
            configuration_agrees: None,
        }
    }
}

fn role(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: NodeId, state: ServerState, term: u64, leader: Option<NodeId>) -> NodeMetrics {
        NodeMetrics {
            id,
            state,
            leader,
            writable: leader.is_some(),
            leader_contact_millis: Some(10),
            term,
            last_log_index: Some(20),
            committed_index: Some(20),
            applied_index: Some(20),
            snapshot_index: None,
            purged_index: None,
            voters: BTreeSet::from([1, 2, 3]),
            nodes: BTreeMap::from([(1, "a:1".into()), (2, "b:1".into()), (3, "c:1".into())]),
            configuration: Some("c0ffee".into()),
        }
    }

    fn answers(views: Vec<(NodeId, Result<NodeMetrics, String>)>) -> BTreeMap<NodeId, Answer> {
        views
            .into_iter()
            .map(|(id, view)| {
                let addr = format!("node{id}:9080");
                (id, Answer { addr, view })
            })
            .collect()
    }

    #[test]
    fn a_node_that_is_down_is_shown_unreachable_beside_the_others() {
        let mut lagging = view(3, ServerState::Follower, 4, Some(2));
        lagging.applied_index = Some(15);
        (lagging.snapshot_index, lagging.purged_index) = (Some(12), Some(7));
        let answers = answers(vec![
            (1, Err("could not reach node1:9080".into())),
            (2, Ok(view(2, ServerState::Leader, 4, Some(2)))),
            (3, Ok(lagging)),
        ]);
        let status = ClusterStatus::from_answers(&answers);
        assert_eq!(status.leader, Some(2));
        assert_eq!(status.term, Some(4));
        assert!(status.writable);
        assert_eq!(status.voters, BTreeSet::from([1, 2, 3]));
        let down = &status.nodes[&1];
        assert!(!down.reachable);
        assert_eq!(down.error.as_deref(), Some("could not reach node1:9080"));
        assert_eq!((down.role, down.voter, down.lag), (None, Some(true), None));
        assert_eq!(status.nodes[&2].role, Some("leader"));
        assert_eq!(status.nodes[&2].lag, Some(0));
        assert_eq!(
            status.nodes[&3].lag,
            Some(5),
            "five committed entries to apply"
        );
        let lagging = &status.nodes[&3];
        assert_eq!(
            (lagging.snapshot_index, lagging.purged_index),
            (Some(12), Some(7))
        );
        assert_eq!((down.snapshot_index, down.purged_index), (None, None));
        assert!(status.any_reachable());
    }

    #[test]
    fn a_node_left_behind_by_a_reload_is_flagged() {
        let mut behind = view(3, ServerState::Follower, 4, Some(2));
        behind.configuration = Some("old".into());
        let one_behind = answers(vec![
            (1, Err("down".into())),
            (2, Ok(view(2, ServerState::Leader, 4, Some(2)))),
            (3, Ok(behind.clone())),
        ]);
        let status = ClusterStatus::from_answers(&one_behind);
        // One against one: the leader's is the cluster's.
        assert_eq!(status.configuration.as_deref(), Some("c0ffee"));
        assert!(!status.configurations_agree);
        assert_eq!(status.nodes[&3].configuration_agrees, Some(false));
        assert_eq!(status.nodes[&2].configuration_agrees, Some(true));
        assert_eq!(status.nodes[&1].configuration_agrees, None);

        let mut reloaded = view(1, ServerState::Follower, 4, Some(2));
        reloaded.configuration = Some("old".into());
        let leader_behind = answers(vec![
            (1, Ok(reloaded)),
            (2, Ok(view(2, ServerState::Leader, 4, Some(2)))),
            (3, Ok(behind)),
        ]);
        let status = ClusterStatus::from_answers(&leader_behind);
        assert_eq!(
            status.configuration.as_deref(),
            Some("old"),
            "two against one"
        );
        assert_eq!(status.nodes[&2].configuration_agrees, Some(false));

        let agreeing = answers(vec![(2, Ok(view(2, ServerState::Leader, 4, Some(2))))]);
        assert!(ClusterStatus::from_answers(&agreeing).configurations_agree);
    }

    #[test]
    fn no_leader_and_not_writable_when_no_node_has_heard_from_one() {
        let answers = answers(vec![
            (1, Ok(view(1, ServerState::Follower, 4, None))),
            (2, Err("refused".into())),
            (3, Err("refused".into())),
        ]);
        let status = ClusterStatus::from_answers(&answers);
        assert_eq!((status.leader, status.writable), (None, false));
    }

    #[test]
    fn a_leader_of_an_older_term_is_not_the_clusters() {
        // Node 1 still follows the leader of term 3; nodes 2 and 3 have moved on.
        let answers = answers(vec![
            (1, Ok(view(1, ServerState::Follower, 3, Some(1)))),
            (2, Ok(view(2, ServerState::Candidate, 5, None))),
            (3, Ok(view(3, ServerState::Follower, 5, None))),
        ]);
        let status = ClusterStatus::from_answers(&answers);
        assert_eq!((status.leader, status.term), (None, Some(5)));
        assert!(!status.writable);
    }

    #[test]
    fn nobody_answering_is_told_apart_and_members_not_asked_are_found() {
        let silent = answers(vec![(1, Err("down".into()))]);
        assert!(!ClusterStatus::from_answers(&silent).any_reachable());
        assert!(ClusterStatus::unasked_members(&silent).is_empty());

        let mut leader = view(1, ServerState::Leader, 2, Some(1));
        leader.nodes.insert(4, "d:1".into());
        let answers = answers(vec![(1, Ok(leader))]);
        let unasked = ClusterStatus::unasked_members(&answers);
        assert_eq!(
            unasked,
            BTreeMap::from([
                (2, "b:1".to_owned()),
                (3, "c:1".to_owned()),
                (4, "d:1".to_owned())
            ])
        );
    }
}
