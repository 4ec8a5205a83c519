//! `[[users]]`: the accounts the password grant checks, with their claims.

use std::collections::BTreeMap;

use ostium_grants::User;
use serde::Deserialize;

use super::unique;

#[derive(Debug, Clone)]
pub struct UserSettings {
    /// With its claims, as tokens carry them.
    pub user: User,
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
                claims: u.claims.iter().map(|(k, v)| (k.clone(), json(v))).collect(),
            },
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

/// A claim as it goes into tokens: TOML's own types as their JSON counterparts, a
/// date or time as the RFC 3339 text TOML wrote it in.
fn json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(json).collect()),
        toml::Value::Table(table) => {
            Value::Object(table.iter().map(|(k, v)| (k.clone(), json(v))).collect())
        }
    }
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

    #[test]
    fn claims_become_json_as_tokens_carry_them() {
        let hash = ostium_grants::password_validator::hash_password("pw").unwrap();
        let text = format!(
            "{BASE}\n[[users]]\nsubject = \"1\"\nusername = \"alice\"\npassword_hash = \"{hash}\"\n\
             [users.claims]\nemail = \"alice@example.com\"\nemail_verified = true\n\
             updated_at = 1700000000\nbirthdate = 1990-02-03\naddress = {{ country = \"NZ\" }}\n"
        );
        let config = parse(&text).unwrap();
        let claims = &config.users[0].user.claims;
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["updated_at"], 1_700_000_000);
        assert_eq!(claims["birthdate"], "1990-02-03");
        assert_eq!(claims["address"]["country"], "NZ");
    }
}
