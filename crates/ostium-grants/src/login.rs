//! One password login, whoever asks for it: the password grant and the login page
//! both go through [`check_password`], so brute-force throttling, the bounded
//! Argon2 queue and what is logged are the same for both.

use std::net::IpAddr;

use crate::context::GrantContext;
use crate::login_guard::REFUSAL_DELAY;
use crate::password_validator::{ResourceOwnerPasswordValidator, ValidatedUser, ValidatorError};

/// Why a login did not identify a user.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefusal {
    #[error("invalid username or password")]
    WrongCredentials,
    /// Too many failures for the username or the address, refused before any
    /// password work (and answered `REFUSAL_DELAY` late).
    #[error("too many failed logins")]
    Throttled,
    /// The validator's queue is full.
    #[error("too many logins in progress")]
    Busy,
    #[error(transparent)]
    Internal(ValidatorError),
}

/// Checks `username` and `password` from `address` with `validator`, counting
/// failures in the context's login guard. `via` names who asked, for the log.
pub async fn check_password(
    context: &GrantContext,
    validator: &dyn ResourceOwnerPasswordValidator,
    username: String,
    password: String,
    address: Option<IpAddr>,
    via: &str,
) -> Result<ValidatedUser, LoginRefusal> {
    let cache = context.store.hot_cache();
    let logins = &context.logins;
    // Before any Argon2 work.
    let turn = match logins.admit(cache, &username, address).await {
        Ok(turn) => turn,
        Err(throttled) => {
            tracing::warn!(username = ?username, address = ?address, via, reason = %throttled, "password login refused before checking");
            // Held back without holding anything else: a flood of guesses is
            // answered no faster than this, so refusing it cannot take the CPU that
            // other addresses' logins need.
            tokio::time::sleep(REFUSAL_DELAY).await;
            return Err(LoginRefusal::Throttled);
        }
    };
    let checked = validator.validate(username.clone(), password).await;
    drop(turn);
    match checked {
        Ok(Some(user)) => {
            logins.succeeded(cache, &username).await;
            Ok(user)
        }
        Ok(None) => {
            logins.failed(cache, &username, address).await;
            tracing::info!(username = ?username, address = ?address, via, "password login failed");
            Err(LoginRefusal::WrongCredentials)
        }
        Err(ValidatorError::Busy) => Err(LoginRefusal::Busy),
        Err(internal @ ValidatorError::Internal(_)) => Err(LoginRefusal::Internal(internal)),
    }
}
