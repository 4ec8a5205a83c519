//! Who the users are, as grants need to know it after the login: whether a subject
//! still exists and may be issued tokens (IdentityServer's profile service,
//! `IsActive`). A refresh token outlives the login it came from; it must not outlive
//! its user. The configuration's `[[users]]` are the built-in store; an embedding
//! server plugs in its own (a directory, a database) with
//! `ServerBuilder::with_user_store`.

use std::collections::HashSet;

use futures_util::future::BoxFuture;

use crate::password_validator::User;

/// Why a user store could not answer (as opposed to answering "no such user").
#[derive(Debug, thiserror::Error)]
#[error("the user store could not answer")]
pub struct UserStoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

pub trait UserStore: Send + Sync + 'static {
    /// Whether the user with this subject exists and may still be issued tokens.
    fn is_active(&self, subject: &str) -> BoxFuture<'static, Result<bool, UserStoreError>>;
}

/// The users of the configuration file: active while they are in it.
#[derive(Debug, Default)]
pub struct ConfiguredUsers {
    subjects: HashSet<String>,
}

impl ConfiguredUsers {
    pub fn new(users: &[User]) -> Self {
        Self {
            subjects: users.iter().map(|user| user.subject.clone()).collect(),
        }
    }
}

impl UserStore for ConfiguredUsers {
    fn is_active(&self, subject: &str) -> BoxFuture<'static, Result<bool, UserStoreError>> {
        Box::pin(std::future::ready(Ok(self.subjects.contains(subject))))
    }
}
