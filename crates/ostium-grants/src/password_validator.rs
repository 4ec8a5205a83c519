//! Checking a user's name and password: the `ResourceOwnerPasswordValidator`
//! extension point and the built-in validator over configured users.
//!
//! Argon2id takes tens of milliseconds of CPU by design, so the built-in validator
//! runs it on the blocking pool and lets only as many checks run at once as there
//! are cores; a bounded queue waits behind them, and past that a login is refused
//! with `temporarily_unavailable` rather than piling up. Token requests that need
//! no password never wait behind logins. An unknown username costs the same work
//! as a wrong password, so response times do not reveal which users exist.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use futures_util::future::BoxFuture;
use ostium_state::TokenDigest;
use tokio::sync::Semaphore;

/// The user a password check identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedUser {
    pub subject: String,
}

/// Why a password could not be checked (as opposed to being wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorError {
    #[error("too many password checks are waiting")]
    Busy,
    #[error("password validation failed: {0}")]
    Internal(String),
}

/// The extension point for password logins, as IdentityServer's
/// `IResourceOwnerPasswordValidator`: `Ok(None)` means the credentials are wrong.
pub trait ResourceOwnerPasswordValidator: Send + Sync + 'static {
    fn validate(
        &self,
        username: String,
        password: String,
    ) -> BoxFuture<'static, Result<Option<ValidatedUser>, ValidatorError>>;
}

/// A configured user.
#[derive(Debug, Clone)]
pub struct User {
    pub subject: String,
    pub username: String,
    /// An Argon2 PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
    /// What the profile service releases about the user (`[users.claims]`): ID
    /// tokens and userinfo carry those the granted identity scopes name.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// Why a configured user was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user `{0}`: password_hash is not an Argon2 PHC string (see `ostium hash-password`)")]
    InvalidHash(String),
    #[error("username `{0}` is configured twice")]
    DuplicateUsername(String),
}

/// Checks passwords against configured users with Argon2.
pub struct Argon2PasswordValidator {
    /// Swapped whole when the configuration is reloaded.
    users: ArcSwap<UserTable>,
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// The configured users by username, with the decoys for unknown ones.
struct UserTable {
    users: HashMap<String, (String, PasswordHash)>,
    /// Verified against when the username is unknown, to take the same time as a
    /// wrong password: one hash per set of Argon2 parameters in use (a costlier hash
    /// takes longer), and a username always meets the same one. Empty when there are
    /// no users to protect.
    decoys: Vec<PasswordHash>,
}

impl Argon2PasswordValidator {
    /// `parallelism` checks run at once; `max_waiting` more may queue.
    pub fn new(users: &[User], parallelism: usize, max_waiting: usize) -> Result<Self, UserError> {
        Ok(Self {
            users: ArcSwap::from_pointee(UserTable::new(users)?),
            running: Arc::new(Semaphore::new(parallelism.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
        })
    }

    /// Checks `users` from now on, or changes nothing if one of them is refused.
    /// Checks already running finish against the users they started with.
    pub fn replace_users(&self, users: &[User]) -> Result<(), UserError> {
        self.users.store(Arc::new(UserTable::new(users)?));
        Ok(())
    }
}

impl UserTable {
    fn new(users: &[User]) -> Result<Self, UserError> {
        let mut by_name = HashMap::new();
        for user in users {
            let hash = PasswordHash::new(&user.password_hash)
                .ok()
                .filter(|h| h.algorithm.as_str().starts_with("argon2"))
                .ok_or_else(|| UserError::InvalidHash(user.username.clone()))?;
            if by_name
                .insert(user.username.clone(), (user.subject.clone(), hash))
                .is_some()
            {
                return Err(UserError::DuplicateUsername(user.username.clone()));
            }
        }
        let mut decoys: Vec<PasswordHash> = Vec::new();
        for (_, hash) in by_name.values() {
            let same_cost = |decoy: &PasswordHash| {
                decoy.algorithm == hash.algorithm
                    && decoy.version == hash.version
                    && decoy.params == hash.params
            };
            if !decoys.iter().any(same_cost) {
                decoys.push(hash.clone());
            }
        }
        // In a fixed order, so that a username meets the same decoy on every node.
        decoys.sort_by_key(|hash| hash.params.to_string());
        Ok(Self {
            users: by_name,
            decoys,
        })
    }

    /// The decoy an unknown `username` is checked against: picked by a digest of the
    /// name, so that asking again takes the same time, as it would for a real user.
    fn decoy_for(&self, username: &str) -> Option<&PasswordHash> {
        let first = TokenDigest::of_handle(username).as_bytes()[0];
        self.decoys
            .get(usize::from(first) % self.decoys.len().max(1))
    }
}

/// Counts a check as waiting until it starts (or is abandoned).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ResourceOwnerPasswordValidator for Argon2PasswordValidator {
    fn validate(
        &self,
        username: String,
        password: String,
    ) -> BoxFuture<'static, Result<Option<ValidatedUser>, ValidatorError>> {
        let table = self.users.load();
        let (subject, hash) = match (table.users.get(&username), table.decoy_for(&username)) {
            (Some((subject, hash)), _) => (Some(subject.clone()), hash.clone()),
            (None, Some(decoy)) => (None, decoy.clone()),
            (None, None) => return Box::pin(std::future::ready(Ok(None))),
        };
        let running = self.running.clone();
        let waiting = Waiting(self.waiting.clone());
        let queued = waiting.0.fetch_add(1, Ordering::Relaxed);
        let max_waiting = self.max_waiting;
        Box::pin(async move {
            if queued >= max_waiting {
                return Err(ValidatorError::Busy);
            }
            let permit = running
                .acquire_owned()
                .await
                .map_err(|e| ValidatorError::Internal(e.to_string()))?;
            drop(waiting);
            let matches = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .await
            .map_err(|e| ValidatorError::Internal(e.to_string()))?;
            Ok(subject
                .filter(|_| matches)
                .map(|subject| ValidatedUser { subject }))
        })
    }
}

/// Hashes a password with Argon2id and default parameters, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, ValidatorError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ValidatorError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<User> {
        vec![User {
            subject: "8f1c".into(),
            username: "alice".into(),
            password_hash: hash_password("correct horse").unwrap(),
            claims: Default::default(),
        }]
    }

    #[tokio::test]
    async fn right_wrong_and_unknown() {
        let validator = Argon2PasswordValidator::new(&users(), 2, 8).unwrap();
        assert_eq!(
            validator
                .validate("alice".into(), "correct horse".into())
                .await,
            Ok(Some(ValidatedUser {
                subject: "8f1c".into()
            }))
        );
        assert_eq!(
            validator.validate("alice".into(), "wrong".into()).await,
            Ok(None)
        );
        assert_eq!(
            validator
                .validate("mallory".into(), "correct horse".into())
                .await,
            Ok(None)
        );
    }

    #[test]
    fn hashes_must_be_argon2_phc_strings() {
        for bad in ["plain", "$2b$12$abcdefghijklmnopqrstuv", ""] {
            let user = User {
                password_hash: bad.into(),
                ..users()[0].clone()
            };
            assert_eq!(
                Argon2PasswordValidator::new(&[user], 1, 1).err(),
                Some(UserError::InvalidHash("alice".into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn duplicate_usernames_are_refused() {
        let twice = [users(), users()].concat();
        assert!(matches!(
            Argon2PasswordValidator::new(&twice, 1, 1),
            Err(UserError::DuplicateUsername(_))
        ));
    }

    #[test]
    fn an_unknown_username_costs_as_much_as_a_user_of_some_cost_and_always_the_same() {
        let cheap = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8, 1, 1, None).unwrap(),
        );
        let bob = User {
            subject: "b".into(),
            username: "bob".into(),
            password_hash: cheap.hash_password(b"pw").unwrap().to_string(),
            claims: Default::default(),
        };
        let users = [
            users(),
            vec![
                bob.clone(),
                User {
                    username: "carol".into(),
                    subject: "c".into(),
                    ..bob
                },
            ],
        ]
        .concat();
        let validator = UserTable::new(&users).unwrap();
        // Two costs in use: two decoys, one of each.
        assert_eq!(validator.decoys.len(), 2);
        let costs: Vec<String> = validator
            .decoys
            .iter()
            .map(|h| h.params.to_string())
            .collect();
        assert!(costs.contains(&"m=8,t=1,p=1".to_owned()), "{costs:?}");
        let mut seen = std::collections::HashSet::new();
        for name in (0..64).map(|n| format!("nobody-{n}")) {
            let decoy = validator.decoy_for(&name).unwrap().params.to_string();
            assert_eq!(
                validator.decoy_for(&name).unwrap().params.to_string(),
                decoy
            );
            seen.insert(decoy);
        }
        assert_eq!(seen.len(), 2, "unknown usernames meet every cost");
    }

    #[tokio::test]
    async fn replaced_users_are_checked_from_then_on_and_bad_ones_change_nothing() {
        let validator = Argon2PasswordValidator::new(&users(), 1, 4).unwrap();
        let bob = User {
            subject: "b".into(),
            username: "bob".into(),
            password_hash: hash_password("pw").unwrap(),
            claims: Default::default(),
        };
        let broken = User {
            password_hash: "not a hash".into(),
            ..bob.clone()
        };
        assert!(validator.replace_users(&[bob.clone(), broken]).is_err());
        let alice = validator.validate("alice".into(), "correct horse".into());
        assert!(
            alice.await.unwrap().is_some(),
            "a refused table changed the users"
        );
        validator.replace_users(&[bob]).unwrap();
        let alice = validator.validate("alice".into(), "correct horse".into());
        assert_eq!(alice.await, Ok(None));
        let bob = validator.validate("bob".into(), "pw".into()).await;
        assert_eq!(bob.unwrap().unwrap().subject, "b");
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy() {
        let validator = Arc::new(Argon2PasswordValidator::new(&users(), 1, 1).unwrap());
        let checks: Vec<_> = (0..4)
            .map(|_| validator.validate("alice".into(), "correct horse".into()))
            .collect();
        let results = futures_join_all(checks).await;
        assert!(results.contains(&Err(ValidatorError::Busy)), "{results:?}");
        assert!(results.iter().any(|r| matches!(r, Ok(Some(_)))));
    }

    async fn futures_join_all<T: Send + 'static>(futures: Vec<BoxFuture<'static, T>>) -> Vec<T> {
        let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }
}
