//! `[[users]]`: the accounts the password grant checks, with their claims.

use std::collections::BTreeMap;

use ostium_grants::User;
use serde::Deserialize;

use super::unique;

#[derive(Debug, Clone)]
pub struct UserSettings {
    pub user: User,
    pub claims: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserSection {
    subject: String,
    username: String,
    password_hash: String,
    #[serde(default)]
    claims: BTreeMap<String, toml::Value>,
}

pub(super) fn check(users: Vec<UserSection>) -> Result<Vec<UserSettings>, String> {
    unique("user subject", users.iter().map(|u| u.subject.as_str()))?;
    unique("username", users.iter().map(|u| u.username.as_str()))?;
    let users: Vec<UserSettings> = users
        .into_iter()
        .map(|u| UserSettings {
            user: User {
                subject: u.subject,
                username: u.username,
                password_hash: u.password_hash,
            },
            claims: u.claims,
        })
        .collect();
    // Parses every hash now, so that a bad one stops the server at start.
    ostium_grants::Argon2PasswordValidator::new(
        &users.iter().map(|u| u.user.clone()).collect::<Vec<_>>(),
        1,
        0,
    )
    .map_err(|e| e.to_string())?;
    Ok(users)
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{BASE, parse};

    #[test]
    fn users_need_argon2_hashes() {
        let text = format!(
            "{BASE}\n[[users]]\nsubject = \"1\"\nusername = \"alice\"\npassword_hash = \"plain\"\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("user `alice`: password_hash"), "{err}");
    }
}
