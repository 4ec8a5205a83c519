//! Who the users are, as grants need to know it after the login: whether a subject
//! still exists and may be issued tokens, and what may be said about them in ID
//! tokens and at userinfo (IdentityServer's profile service: `IsActive` and
//! `GetProfileData`). A refresh token outlives the login it came from; it must not outlive
//! its user. The configuration's `[[users]]` are the built-in store; an embedding
//! server plugs in its own (a directory, a database) with
//! `ServerBuilder::with_user_store`.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::password_validator::User;

/// Why a user store could not answer (as opposed to answering "no such user").
#[derive(Debug, thiserror::Error)]
#[error("the user store could not answer")]
pub struct UserStoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

pub trait UserStore: Send + Sync + 'static {
    /// Whether the user with this subject exists and may still be issued tokens.
    fn is_active(&self, subject: &str) -> BoxFuture<'static, Result<bool, UserStoreError>>;

    /// Every claim the store holds about an active user, `None` for a subject that is
    /// not (or no longer) one. Callers release only those the granted identity
    /// scopes name. A store that keeps no claims answers an empty map.
    fn claims(&self, subject: &str) -> BoxFuture<'static, Result<Option<Claims>, UserStoreError>>;

    /// Whether [`UserStore::is_active`] never fails (it answers from memory). A
    /// store that may fail is asked before a refresh token is spent, whatever that
    /// costs, so that its failure never leaves a client with a spent token.
    fn always_answers(&self) -> bool {
        false
    }
}

/// A user's claims by name, shared rather than copied per request.
pub type Claims = Arc<Map<String, Value>>;

/// The users of the configuration file: active while they are in it, which a
/// configuration reload changes, with their `[users.claims]`.
#[derive(Debug, Default)]
pub struct ConfiguredUsers {
    claims: ArcSwap<HashMap<String, Claims>>,
}

impl ConfiguredUsers {
    pub fn new(users: &[User]) -> Self {
        let configured = Self::default();
        configured.replace(users);
        configured
    }

    /// `users` are the configured ones from now on; returns the subjects of the
    /// users that were and are no longer, sorted.
    pub fn replace(&self, users: &[User]) -> Vec<String> {
        let next: HashMap<String, Claims> = users
            .iter()
            .map(|u| (u.subject.clone(), Arc::new(u.claims.clone())))
            .collect();
        let next = Arc::new(next);
        let previous = self.claims.swap(next.clone());
        let mut gone: Vec<String> = previous
            .keys()
            .filter(|subject| !next.contains_key(*subject))
            .cloned()
            .collect();
        gone.sort();
        gone
    }
}

impl UserStore for ConfiguredUsers {
    fn is_active(&self, subject: &str) -> BoxFuture<'static, Result<bool, UserStoreError>> {
        let active = self.claims.load().contains_key(subject);
        Box::pin(std::future::ready(Ok(active)))
    }

    fn claims(&self, subject: &str) -> BoxFuture<'static, Result<Option<Claims>, UserStoreError>> {
        let claims = self.claims.load().get(subject).cloned();
        Box::pin(std::future::ready(Ok(claims)))
    }

    fn always_answers(&self) -> bool {
        true
    }
}
