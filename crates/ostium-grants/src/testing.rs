//! What the grants' tests share: a context over the in-memory state, with a clock the
//! test moves instead of sleeping, and clients to ask with.

use std::sync::{Arc, OnceLock};

use ostium_protocol::scope::ApiResource;
use ostium_protocol::{AllowedGrantTypes, Client, Form, ResourceCatalog, TokenResponse};
use ostium_state::TokenStore;
use ostium_tokens::handle::RefreshHandles;
use ostium_tokens::{IdTokens, JwtAccessTokens, KeyRing, SigningAlgorithm, SigningKey};

use crate::clock::ManualClock;
use crate::context::GrantContext;
use crate::grant::TokenGrant;
use crate::login_guard::{LoginGuard, LoginLimits};
use crate::metrics::GrantMetrics;
use crate::password::PasswordGrant;
use crate::password_validator::{Argon2PasswordValidator, User, hash_password};
use crate::requester::Requester;
use crate::users::{Claims, UserStore, UserStoreError};
use futures_util::future::BoxFuture;

pub(crate) const ISSUER: &str = "https://id.example.com";
pub(crate) const T0: u64 = 1_800_000_000;

pub(crate) struct Fixture {
    pub context: Arc<GrantContext>,
    pub clock: Arc<ManualClock>,
    /// Who the context's user store says is gone.
    pub users: Arc<TestUsers>,
}

/// Every user is active until the test removes them; the store answers until the
/// test makes it fail.
#[derive(Default)]
pub(crate) struct TestUsers {
    gone: std::sync::Mutex<Vec<String>>,
    failing: std::sync::atomic::AtomicBool,
    /// Whether it claims to answer always, as the configured users do.
    always: std::sync::atomic::AtomicBool,
}

impl TestUsers {
    pub fn remove(&self, subject: &str) {
        self.gone.lock().unwrap().push(subject.to_owned());
    }

    pub fn fail(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn answer_always(&self, always: bool) {
        self.always
            .store(always, std::sync::atomic::Ordering::Relaxed);
    }
}

impl UserStore for TestUsers {
    fn is_active(&self, subject: &str) -> BoxFuture<'static, Result<bool, UserStoreError>> {
        if self.failing.load(std::sync::atomic::Ordering::Relaxed) {
            let down = std::io::Error::other("the directory is down");
            return Box::pin(std::future::ready(Err(UserStoreError(Box::new(down)))));
        }
        let gone = self.gone.lock().unwrap().iter().any(|s| s == subject);
        Box::pin(std::future::ready(Ok(!gone)))
    }

    /// Every active user has an email address made of their subject.
    fn claims(&self, subject: &str) -> BoxFuture<'static, Result<Option<Claims>, UserStoreError>> {
        let active = self.is_active(subject);
        let email = format!("{subject}@example.com");
        Box::pin(async move {
            Ok(active.await?.then(|| {
                let mut claims = serde_json::Map::new();
                claims.insert("email".into(), email.into());
                std::sync::Arc::new(claims)
            }))
        })
    }

    fn always_answers(&self) -> bool {
        self.always.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// API scopes `orders.read` and `orders.write` of the API `urn:orders`, and the
/// identity scope `openid`: what [`from`] gives a requester.
pub(crate) fn catalog() -> ResourceCatalog {
    let mut catalog = ResourceCatalog::new();
    catalog.add_identity_resource("openid", Vec::new());
    catalog.add_identity_resource("email", Vec::new());
    catalog.add_api_scope("orders.read");
    catalog.add_api_scope("orders.write");
    catalog.add_api_resource(ApiResource {
        name: "urn:orders".into(),
        scopes: vec!["orders.read".into(), "orders.write".into()],
    });
    catalog
}

/// An ES256 key, the state in memory, and the clock at [`T0`].
pub(crate) fn fixture() -> Fixture {
    let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).unwrap();
    let clock = Arc::new(ManualClock::at(T0));
    let users = Arc::new(TestUsers::default());
    let keys = Arc::new(KeyRing::new(key, vec![]));
    let context = Arc::new(GrantContext {
        access_tokens: JwtAccessTokens::new(ISSUER, keys.clone()),
        id_tokens: IdTokens::new(ISSUER, keys),
        store: TokenStore::in_memory(),
        refresh_handles: RefreshHandles::new(&[7; 32]),
        metrics: GrantMetrics::default(),
        clock: clock.clone(),
        users: users.clone(),
        logins: LoginGuard::new(LoginLimits::default()),
    });
    Fixture {
        context,
        clock,
        users,
    }
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

/// `client`, sending from no particular address.
pub(crate) fn from(client: &Client) -> Requester {
    Requester::new(Arc::new(client.clone()), Arc::new(catalog()), None)
}

pub(crate) fn form(body: &str) -> Form {
    Form::parse(body.as_bytes()).unwrap()
}

/// The password grant over one user, `alice` (subject `alice`) with password `pw`.
pub(crate) fn password_grant() -> PasswordGrant {
    // One hash for every test: Argon2 is slow on purpose.
    static HASH: OnceLock<String> = OnceLock::new();
    let hash = HASH.get_or_init(|| hash_password("pw").unwrap());
    let alice = User {
        subject: "alice".into(),
        username: "alice".into(),
        password_hash: hash.clone(),
        claims: Default::default(),
    };
    PasswordGrant::new(Arc::new(
        Argon2PasswordValidator::new(&[alice], 1, 8).unwrap(),
    ))
}

/// Alice logs in through `client` with `scope`.
pub(crate) async fn login(context: &GrantContext, client: &Client, scope: &str) -> TokenResponse {
    let grant = password_grant();
    let body = format!("grant_type=password&username=alice&password=pw&scope={scope}");
    let request = grant.parse(&form(&body)).unwrap();
    grant.issue(context, &from(client), request).await.unwrap()
}
