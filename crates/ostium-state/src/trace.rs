//! One trace from a request through the replicated state (docs/architecture.md §10):
//! a proposal forwarded to the leader carries the W3C `traceparent` of the caller's
//! span, and the leader continues that trace; the leader's write-through of what a
//! command changed is traced as a child of the proposal that made the change.
//!
//! The write-through runs in the state machine's apply, a task of openraft's with no
//! link to the caller. [`TraceLinks`] bridges the two on the leader: while a traced
//! proposal waits for its commit, its span context is kept under a fingerprint of
//! the command, which the apply looks up. Nothing of the trace enters the log, so
//! the log's format is unchanged and followers are not told about traces.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::command::StateCommand;

/// The W3C trace-context header.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current span, when it is part of an exported trace.
pub(crate) fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut carrier);
    });
    carrier.remove(TRACEPARENT)
}

/// Continues, in `span`, the trace a caller named in its `traceparent`.
pub(crate) fn continue_trace(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&carrier));
    let _ = span.set_parent(parent);
}

/// The span contexts of traced proposals waiting for their commit on this node.
#[derive(Default)]
pub struct TraceLinks {
    waiting: Mutex<HashMap<u64, (Context, usize)>>,
    /// How many proposals are registered: the apply fingerprints commands only
    /// while there is one, so an untraced node pays nothing.
    count: AtomicUsize,
}

/// Keeps a proposal's span context registered until dropped.
pub(crate) struct Registered<'a> {
    links: &'a TraceLinks,
    fingerprint: u64,
}

impl TraceLinks {
    /// Registers the current span's context for `command`, if it is traced.
    pub(crate) fn register(&self, command: &StateCommand) -> Option<Registered<'_>> {
        let context = tracing::Span::current().context();
        if !context.span().span_context().is_valid() {
            return None;
        }
        let fingerprint = fingerprint(command)?;
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        // The same command proposed twice at once (a retry) shares one entry.
        waiting.entry(fingerprint).or_insert((context, 0)).1 += 1;
        self.count.fetch_add(1, Ordering::SeqCst);
        Some(Registered {
            links: self,
            fingerprint,
        })
    }

    /// The span context of a traced proposal of `command` waiting here, if any.
    pub(crate) fn context_of(&self, command: &StateCommand) -> Option<Context> {
        if self.count.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let fingerprint = fingerprint(command)?;
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting
            .get(&fingerprint)
            .map(|(context, _)| context.clone())
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut waiting = self
            .links
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = waiting.get_mut(&self.fingerprint) {
            entry.1 -= 1;
            if entry.1 == 0 {
                waiting.remove(&self.fingerprint);
            }
        }
        self.links.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Commands are compared by their log form: the apply sees the command as it went
/// through the log, equal to the proposed one.
fn fingerprint(command: &StateCommand) -> Option<u64> {
    let bytes = serde_json::to_vec(command).ok()?;
    let mut hasher = DefaultHasher::new();
    hasher.write(&bytes);
    Some(hasher.finish())
}
