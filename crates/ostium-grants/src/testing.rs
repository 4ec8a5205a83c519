//! What the grants' tests share: a context over the in-memory state, with a clock the
//! test moves instead of sleeping, and clients to ask with.

use std::sync::Arc;

use ostium_protocol::scope::ApiResource;
use ostium_protocol::{AllowedGrantTypes, Client, Form, ResourceCatalog};
use ostium_state::TokenStore;
use ostium_tokens::handle::RefreshHandles;
use ostium_tokens::{JwtAccessTokens, KeyRing, SigningAlgorithm, SigningKey};

use crate::clock::ManualClock;
use crate::context::GrantContext;
use crate::metrics::GrantMetrics;

pub(crate) const ISSUER: &str = "https://id.example.com";
pub(crate) const T0: u64 = 1_800_000_000;

pub(crate) struct Fixture {
    pub context: Arc<GrantContext>,
    pub clock: Arc<ManualClock>,
}

/// API scopes `orders.read` and `orders.write` of the API `urn:orders`, the identity
/// scope `openid`, an ES256 key, the state in memory, and the clock at [`T0`].
pub(crate) fn fixture() -> Fixture {
    let mut catalog = ResourceCatalog::new();
    catalog.add_identity_resource("openid");
    catalog.add_api_scope("orders.read");
    catalog.add_api_scope("orders.write");
    catalog.add_api_resource(ApiResource {
        name: "urn:orders".into(),
        scopes: vec!["orders.read".into(), "orders.write".into()],
    });
    let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
    let clock = Arc::new(ManualClock::at(T0));
    let context = Arc::new(GrantContext {
        catalog,
        access_tokens: JwtAccessTokens::new(ISSUER, Arc::new(KeyRing::new(key, vec![]))),
        store: TokenStore::in_memory(),
        refresh_handles: RefreshHandles::new(&[7; 32]),
        metrics: GrantMetrics::default(),
        clock: clock.clone(),
    });
    Fixture { context, clock }
}

/// A confidential client with `grants` (a preset or a comma-separated list) and every
/// scope of the fixture's catalog.
pub(crate) fn client(client_id: &str, grants: &str) -> Client {
    let allowed_grant_types = AllowedGrantTypes::preset(grants)
        .or_else(|_| AllowedGrantTypes::list(grants.split(',')))
        .unwrap();
    Client {
        allowed_scopes: vec!["openid".into(), "orders.read".into(), "orders.write".into()],
        ..Client::new(client_id, allowed_grant_types)
    }
}

/// `client`, allowed `offline_access` and so refresh tokens.
pub(crate) fn offline(mut client: Client) -> Client {
    client.refresh_tokens.allow_offline_access = true;
    client.allowed_scopes.push("offline_access".into());
    client
}

pub(crate) fn form(body: &str) -> Form {
    Form::parse(body.as_bytes()).unwrap()
}
