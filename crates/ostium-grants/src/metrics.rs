//! Grant metrics, exported through the server's Prometheus registry.
//!
//! Counters are cheap atomic increments; label sets are bounded by the configured
//! clients and the fixed set of grant types and error codes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuedLabels {
    grant_type: &'static str,
    client_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    grant_type: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    actor: &'static str,
}

/// Handles on the grant metrics; clones share the same series.
#[derive(Clone, Debug, Default)]
pub struct GrantMetrics {
    tokens_issued: Family<IssuedLabels, Counter>,
    grant_failures: Family<FailureLabels, Counter>,
    actor_restarts: Family<ActorLabels, Counter>,
}

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
    }

    pub fn token_issued(&self, grant_type: &'static str, client_id: &str) {
        self.tokens_issued
            .get_or_create(&IssuedLabels {
                grant_type,
                client_id: client_id.to_owned(),
            })
            .inc();
    }

    /// A refused token request; `grant_type` is `unknown` when the request was refused
    /// before its grant type could be read.
    pub fn request_refused(&self, grant_type: &'static str, error: &'static str) {
        self.grant_failures
            .get_or_create(&FailureLabels { grant_type, error })
            .inc();
    }

    pub fn actor_restarted(&self, actor: &'static str) {
        self.actor_restarts
            .get_or_create(&ActorLabels { actor })
            .inc();
    }

    /// The restart count of one actor kind, for tests and health reporting.
    pub fn restarts(&self, actor: &'static str) -> u64 {
        self.actor_restarts
            .get_or_create(&ActorLabels { actor })
            .get()
    }

    /// Tokens issued so far for one grant type and client.
    pub fn issued(&self, grant_type: &'static str, client_id: &str) -> u64 {
        self.tokens_issued
            .get_or_create(&IssuedLabels {
                grant_type,
                client_id: client_id.to_owned(),
            })
            .get()
    }
}
