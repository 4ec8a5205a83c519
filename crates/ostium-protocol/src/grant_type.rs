//! Grant types, the presets clients are configured with, and the combinations a
//! client may never hold.
//!
//! IdentityServer's `GrantTypes` presets are kept, in snake_case, so that a client
//! definition carries over unchanged. Two rules make some combinations unsafe
//! (both are downgrade attacks from a code-based flow):
//! - implicit together with authorization code or hybrid;
//! - authorization code together with hybrid.

use std::fmt;

/// `grant_type` value of the device authorization grant (RFC 8628 §3.4).
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// One grant type a client may be allowed to use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    Implicit,
    AuthorizationCode,
    Hybrid,
    ClientCredentials,
    Password,
    DeviceCode,
    RefreshToken,
    /// An extension grant (RFC 6749 §4.5), by its `grant_type` name.
    Extension(String),
}

impl GrantType {
    /// Parses a grant type name as it appears in configuration. Any name that is not
    /// one of the built-in ones is an extension grant; names must be non-empty and
    /// printable ASCII without spaces.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "implicit" => Self::Implicit,
            "authorization_code" => Self::AuthorizationCode,
            "hybrid" => Self::Hybrid,
            "client_credentials" => Self::ClientCredentials,
            "password" => Self::Password,
            "refresh_token" => Self::RefreshToken,
            DEVICE_CODE | "device_code" => Self::DeviceCode,
            other if !other.is_empty() && other.bytes().all(|b| b.is_ascii_graphic()) => {
                Self::Extension(other.to_owned())
            }
            _ => return None,
        })
    }

    /// The name used in configuration and, for token-endpoint grants, as `grant_type`.
    pub fn name(&self) -> &str {
        match self {
            Self::Implicit => "implicit",
            Self::AuthorizationCode => "authorization_code",
            Self::Hybrid => "hybrid",
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
            Self::DeviceCode => DEVICE_CODE,
            Self::RefreshToken => "refresh_token",
            Self::Extension(name) => name,
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The presets, in snake_case, with the grant types each stands for.
pub const PRESETS: &[(&str, &[GrantType])] = &[
    ("implicit", &[GrantType::Implicit]),
    (
        "implicit_and_client_credentials",
        &[GrantType::Implicit, GrantType::ClientCredentials],
    ),
    ("code", &[GrantType::AuthorizationCode]),
    (
        "code_and_client_credentials",
        &[GrantType::AuthorizationCode, GrantType::ClientCredentials],
    ),
    ("hybrid", &[GrantType::Hybrid]),
    (
        "hybrid_and_client_credentials",
        &[GrantType::Hybrid, GrantType::ClientCredentials],
    ),
    ("client_credentials", &[GrantType::ClientCredentials]),
    ("resource_owner_password", &[GrantType::Password]),
    (
        "resource_owner_password_and_client_credentials",
        &[GrantType::Password, GrantType::ClientCredentials],
    ),
    ("device_flow", &[GrantType::DeviceCode]),
];

/// Why a set of grant types cannot be given to one client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantTypesError {
    #[error("unknown preset `{0}`; expected one of: {presets}", presets = preset_names())]
    UnknownPreset(String),
    #[error("`{0}` is not a valid grant type name")]
    InvalidName(String),
    #[error("`{0}` is listed more than once")]
    Duplicate(String),
    #[error("no grant types given")]
    Empty,
    #[error(
        "`{0}` cannot be combined with `{1}`: a client holding both could be downgraded \
         from the code-based flow to the weaker one"
    )]
    Forbidden(&'static str, &'static str),
}

fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The grant types one client may use; construction enforces the forbidden combinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedGrantTypes(Vec<GrantType>);

impl AllowedGrantTypes {
    /// One of the snake_case presets, such as `hybrid_and_client_credentials`.
    pub fn preset(name: &str) -> Result<Self, GrantTypesError> {
        PRESETS
            .iter()
            .find(|(preset, _)| *preset == name)
            .map(|(_, grants)| Self(grants.to_vec()))
            .ok_or_else(|| GrantTypesError::UnknownPreset(name.to_owned()))
    }

    /// An explicit list of grant type names; extension grant names are allowed.
    pub fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, GrantTypesError> {
        let mut grants: Vec<GrantType> = Vec::new();
        for name in names {
            let grant = GrantType::from_name(name)
                .ok_or_else(|| GrantTypesError::InvalidName(name.to_owned()))?;
            if grants.contains(&grant) {
                return Err(GrantTypesError::Duplicate(name.to_owned()));
            }
            grants.push(grant);
        }
        Self::new(grants)
    }

    /// Checks the combination rules.
    pub fn new(grants: Vec<GrantType>) -> Result<Self, GrantTypesError> {
        use GrantType::*;
        if grants.is_empty() {
            return Err(GrantTypesError::Empty);
        }
        let has = |g: &GrantType| grants.contains(g);
        if has(&Implicit) && has(&AuthorizationCode) {
            return Err(GrantTypesError::Forbidden("implicit", "authorization_code"));
        }
        if has(&Implicit) && has(&Hybrid) {
            return Err(GrantTypesError::Forbidden("implicit", "hybrid"));
        }
        if has(&AuthorizationCode) && has(&Hybrid) {
            return Err(GrantTypesError::Forbidden("authorization_code", "hybrid"));
        }
        Ok(Self(grants))
    }

    pub fn allows(&self, grant: &GrantType) -> bool {
        self.0.contains(grant)
    }

    pub fn iter(&self) -> impl Iterator<Item = &GrantType> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GrantType::*;

    #[test]
    fn every_preset_resolves_to_its_grants() {
        let expected: &[(&str, &[GrantType])] = &[
            ("implicit", &[Implicit]),
            (
                "implicit_and_client_credentials",
                &[Implicit, ClientCredentials],
            ),
            ("code", &[AuthorizationCode]),
            (
                "code_and_client_credentials",
                &[AuthorizationCode, ClientCredentials],
            ),
            ("hybrid", &[Hybrid]),
            (
                "hybrid_and_client_credentials",
                &[Hybrid, ClientCredentials],
            ),
            ("client_credentials", &[ClientCredentials]),
            ("resource_owner_password", &[Password]),
            (
                "resource_owner_password_and_client_credentials",
                &[Password, ClientCredentials],
            ),
            ("device_flow", &[DeviceCode]),
        ];
        assert_eq!(expected.len(), PRESETS.len());
        for (name, grants) in expected {
            let allowed = AllowedGrantTypes::preset(name).unwrap();
            assert_eq!(
                allowed.iter().cloned().collect::<Vec<_>>(),
                grants.to_vec(),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_preset_lists_the_valid_ones() {
        let err = AllowedGrantTypes::preset("hybrid_and_password").unwrap_err();
        assert!(
            err.to_string().contains("hybrid_and_client_credentials"),
            "{err}"
        );
    }

    #[test]
    fn forbidden_combinations_are_refused() {
        for (names, rule) in [
            (
                vec!["implicit", "authorization_code"],
                ("implicit", "authorization_code"),
            ),
            (
                vec!["authorization_code", "implicit"],
                ("implicit", "authorization_code"),
            ),
            (vec!["implicit", "hybrid"], ("implicit", "hybrid")),
            (
                vec!["hybrid", "authorization_code"],
                ("authorization_code", "hybrid"),
            ),
            (
                vec!["client_credentials", "hybrid", "implicit", "password"],
                ("implicit", "hybrid"),
            ),
        ] {
            assert_eq!(
                AllowedGrantTypes::list(names.iter().copied()),
                Err(GrantTypesError::Forbidden(rule.0, rule.1)),
                "{names:?}"
            );
        }
    }

    #[test]
    fn allowed_combinations_and_extension_grants() {
        let allowed = AllowedGrantTypes::list([
            "hybrid",
            "client_credentials",
            "password",
            "refresh_token",
            "urn:example:delegation",
        ])
        .unwrap();
        assert!(allowed.allows(&Hybrid));
        assert!(allowed.allows(&Extension("urn:example:delegation".into())));
        assert!(!allowed.allows(&AuthorizationCode));
    }

    #[test]
    fn list_refuses_empty_duplicates_and_bad_names() {
        assert_eq!(AllowedGrantTypes::list([]), Err(GrantTypesError::Empty));
        assert_eq!(
            AllowedGrantTypes::list(["password", "password"]),
            Err(GrantTypesError::Duplicate("password".into()))
        );
        assert_eq!(
            AllowedGrantTypes::list(["has space"]),
            Err(GrantTypesError::InvalidName("has space".into()))
        );
    }

    #[test]
    fn device_code_accepts_both_names() {
        assert_eq!(GrantType::from_name("device_code"), Some(DeviceCode));
        assert_eq!(GrantType::from_name(DEVICE_CODE), Some(DeviceCode));
        assert_eq!(DeviceCode.name(), DEVICE_CODE);
    }
}
