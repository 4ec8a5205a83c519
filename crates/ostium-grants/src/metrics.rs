//! Grant metrics, exported through the server's Prometheus registry.
//!
//! Counters are cheap atomic increments; label sets are bounded by the configured
//! clients, the registered grant types and the error codes. Every series a dashboard
//! reads is made at start ([`GrantMetrics::prepare`]), at zero, so that a fresh
//! node shows 0 rather than "no data" (docs/architecture.md §10).

use std::fmt::Write;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label value made once (a grant type's name, say) and shared by every series
/// that carries it, so that labelling a request allocates nothing for it.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Label(Arc<str>);

impl Label {
    pub fn new(value: &str) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl EncodeLabelValue for Label {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(&self.0)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuedLabels {
    grant_type: Label,
    client_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    grant_type: Label,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    actor: Label,
}

/// Handles on the grant metrics; clones share the same series.
#[derive(Clone, Debug)]
pub struct GrantMetrics {
    tokens_issued: Family<IssuedLabels, Counter>,
    grant_failures: Family<FailureLabels, Counter>,
    actor_restarts: Family<ActorLabels, Counter>,
    mailbox_depth: Family<ActorLabels, Gauge>,
    revocations: Histogram,
}

impl Default for GrantMetrics {
    fn default() -> Self {
        Self {
            tokens_issued: Family::default(),
            grant_failures: Family::default(),
            actor_restarts: Family::default(),
            mailbox_depth: Family::default(),
            // 1 ms to about 16 s: a commit takes milliseconds; a Redis that is down
            // makes the answering node wait out the watermark (seconds).
            revocations: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        }
    }
}

/// The error codes the token endpoint answers with (docs/architecture.md §9).
pub const TOKEN_ERROR_CODES: [&str; 8] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
];

/// The grant-type labels of requests that name no registered grant type.
pub const UNREGISTERED_GRANT_LABELS: [&str; 2] = ["other", "unknown"];

impl GrantMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ostium_tokens_issued",
            "Access tokens issued, by grant type and client",
            self.tokens_issued.clone(),
        );
        registry.register(
            "ostium_token_errors",
            "Token requests refused, by grant type and OAuth error code",
            self.grant_failures.clone(),
        );
        registry.register(
            "ostium_actor_restarts",
            "Grant actors restarted by their supervisor",
            self.actor_restarts.clone(),
        );
        registry.register(
            "ostium_actor_mailbox_depth",
            "Messages waiting in grant actors' mailboxes, by actor (summed over workers)",
            self.mailbox_depth.clone(),
        );
        registry.register(
            "ostium_revocation_propagation_seconds",
            "Time from a revocation's proposal until every node refuses the token (committed, \
             and published to the hot cache for edges)",
            self.revocations.clone(),
        );
    }

    /// A revocation is in force on every node, `elapsed` after it was proposed.
    pub fn revocation_in_force(&self, elapsed: std::time::Duration) {
        self.revocations.observe(elapsed.as_secs_f64());
    }

    /// Makes, at zero, every series a dashboard reads: tokens issued for each
    /// `(grant type, client)` the client is allowed, refusals for each grant-type
    /// label and token-endpoint error code, restarts and mailbox depth of each actor.
    pub fn prepare<'a>(
        &self,
        grant_types: &[&str],
        allowed: impl IntoIterator<Item = (&'a str, &'a str)>,
        actors: &[&str],
    ) {
        for (grant_type, client_id) in allowed {
            let _ = self.tokens_issued.get_or_create(&IssuedLabels {
                grant_type: Label::new(grant_type),
                client_id: client_id.to_owned(),
            });
        }
        for grant_type in grant_types.iter().chain(&UNREGISTERED_GRANT_LABELS) {
            for error in TOKEN_ERROR_CODES {
                let _ = self.grant_failures.get_or_create(&FailureLabels {
                    grant_type: Label::new(grant_type),
                    error,
                });
            }
        }
        for actor in actors {
            let _ = self.actor_restarts.get_or_create(&ActorLabels {
                actor: Label::new(actor),
            });
            self.mailbox(actor);
        }
    }

    /// The mailbox depth gauge of one actor kind (shared by its actors on every
    /// worker).
    pub fn mailbox(&self, actor: &str) -> Gauge {
        self.mailbox_depth
            .get_or_create(&ActorLabels {
                actor: Label::new(actor),
            })
            .clone()
    }

    pub fn token_issued(&self, grant_type: &Label, client_id: &str) {
        self.tokens_issued
            .get_or_create(&IssuedLabels {
                grant_type: grant_type.clone(),
                client_id: client_id.to_owned(),
            })
            .inc();
    }

    /// A refused token request, labelled as [`crate::GrantSupervisor::label`] says.
    pub fn request_refused(&self, grant_type: &Label, error: &'static str) {
        self.grant_failures
            .get_or_create(&FailureLabels {
                grant_type: grant_type.clone(),
                error,
            })
            .inc();
    }

    pub fn actor_restarted(&self, actor: &str) {
        self.actor_restarts
            .get_or_create(&ActorLabels {
                actor: Label::new(actor),
            })
            .inc();
    }

    /// The restart count of one actor kind, for tests and health reporting.
    pub fn restarts(&self, actor: &str) -> u64 {
        self.actor_restarts
            .get_or_create(&ActorLabels {
                actor: Label::new(actor),
            })
            .get()
    }

    /// Tokens issued so far for one grant type and client.
    pub fn issued(&self, grant_type: &str, client_id: &str) -> u64 {
        self.tokens_issued
            .get_or_create(&IssuedLabels {
                grant_type: Label::new(grant_type),
                client_id: client_id.to_owned(),
            })
            .get()
    }

    /// Refusals so far for one grant type (label) and error code.
    pub fn refused(&self, grant_type: &str, error: &'static str) -> u64 {
        self.grant_failures
            .get_or_create(&FailureLabels {
                grant_type: Label::new(grant_type),
                error,
            })
            .get()
    }
}
