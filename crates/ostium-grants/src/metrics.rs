//! Grant metrics, exported through the server's Prometheus registry.
//!
//! Counters are cheap atomic increments; label sets are bounded by the configured
//! clients, the registered grant types and the error codes.

use std::fmt::Write;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
