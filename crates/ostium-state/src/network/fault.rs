//! Fault injection, **for tests only**: cuts this node off from the rest of its
//! cluster, and heals it again, so that end-to-end tests can partition a real
//! `ostium` process without root privileges or network namespaces.
//!
//! It exists only with the `fault-injection` cargo feature, which is off by default
//! and which no build that serves real traffic should enable. Without it the
//! `fault` operation is unknown (404) and every check below is a constant `false`,
//! so the rest of the network code calls them unconditionally.
//!
//! With it, the cluster API gains one operation, `POST /cluster/fault` with
//! `{"isolated": true|false}`, signed with the cluster secret like every other
//! operation. While the node is isolated:
//! - every Raft RPC and cluster call it sends fails before anything is sent, as a
//!   connection to an unreachable peer would ([`outgoing`]);
//! - its Raft listener refuses every incoming Raft RPC and cluster call with 503,
//!   except the fault operation itself, so that the test can heal it ([`refuses`]).
//!
//! The switch is one flag for the whole process: a node is one process, and the
//! in-process cluster tests of this crate do not use it.

use serde::{Deserialize, Serialize};

/// The cluster-API operation that isolates or heals this node.
pub const OPERATION: &str = "fault";

/// Whether this build carries the fault operation.
pub const ENABLED: bool = cfg!(feature = "fault-injection");

/// The body of the fault operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// `true` cuts the node off, `false` heals it.
    pub isolated: bool,
}

/// A call this node did not send because it is cut off.
#[derive(Debug, thiserror::Error)]
#[error("this node is cut off from its cluster (fault injection); {target} not called")]
pub struct CutOff {
    pub target: String,
}

#[cfg(feature = "fault-injection")]
static ISOLATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this node is cut off. Always `false` without the feature.
#[inline]
pub fn isolated() -> bool {
    #[cfg(feature = "fault-injection")]
    {
        ISOLATED.load(std::sync::atomic::Ordering::SeqCst)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        false
    }
}

/// Fails a call to `target` (a URL) while this node is cut off.
#[inline]
pub fn outgoing(target: &str) -> Result<(), CutOff> {
    if isolated() {
        return Err(CutOff {
            target: target.to_owned(),
        });
    }
    Ok(())
}

/// Whether the Raft listener must refuse a request to `path` (`/raft/…` or
/// `/cluster/…`): all of them while cut off, except the fault operation.
#[inline]
pub fn refuses(path: &str) -> bool {
    isolated() && path.strip_prefix("/cluster/") != Some(OPERATION)
}

/// Serves the (already authenticated) fault operation; `None` without the feature,
/// where the operation does not exist.
pub fn serve(body: &[u8]) -> Option<Result<(), serde_json::Error>> {
    if !ENABLED {
        return None;
    }
    Some(serde_json::from_slice::<Fault>(body).map(|fault| set(fault.isolated)))
}

fn set(isolated: bool) {
    #[cfg(feature = "fault-injection")]
    {
        ISOLATED.store(isolated, std::sync::atomic::Ordering::SeqCst);
        if isolated {
            tracing::warn!("fault injection: this node is now cut off from its cluster");
        } else {
            tracing::warn!("fault injection: this node is reconnected to its cluster");
        }
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = isolated;
}

/// Logs, once per node start, that this build can be cut off by the fault operation.
pub fn warn_if_enabled() {
    if ENABLED {
        tracing::warn!(
            "this build has the test-only fault-injection feature: the cluster API can cut this node off"
        );
    }
}
