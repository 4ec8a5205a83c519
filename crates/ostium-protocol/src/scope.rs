//! Scopes (RFC 6749 §3.3) and the resource catalog they refer to.
//!
//! A scope is either an API scope, which grants access to one or more API resources
//! (those become the access token's `aud`), or an identity resource such as `openid`
//! or `profile`, which is about a user and so needs one. [`ResourceCatalog::grant`]
//! decides what a request gets: the requested scopes, each of which the client must
//! be allowed, or by default every API scope the client is allowed. Each identity
//! resource names the user claims it releases ([`ResourceCatalog::user_claims`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::OAuthError;

/// The standard scopes of OpenID Connect Core 1.0 §5.4 with the claims each
/// releases; a configured identity resource of one of these names with no claims of
/// its own releases these.
pub const STANDARD_IDENTITY_CLAIMS: &[(&str, &[&str])] = &[
    ("openid", &["sub"]),
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// Identity resources that exist without being configured, with the claims they
/// release: the first three standard scopes (`address` and `phone` must be
/// configured, since few user stores hold them).
pub const BUILT_IN_IDENTITY_RESOURCES: &[(&str, &[&str])] = STANDARD_IDENTITY_CLAIMS.split_at(3).0;

/// The scope that asks for a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

const MAX_SCOPES: usize = 64;

/// A parsed `scope` parameter: distinct scope tokens in the order first sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Parses a space-delimited scope string. Characters outside RFC 6749 §3.3's
    /// `scope-token` set are `invalid_scope`; repeated tokens count once.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let mut scopes: Vec<String> = Vec::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(is_scope_char) {
                return Err(OAuthError::invalid_scope(
                    "scope contains a character that RFC 6749 §3.3 does not allow",
                ));
            }
            if !scopes.iter().any(|s| s == token) {
                if scopes.len() == MAX_SCOPES {
                    return Err(OAuthError::invalid_scope("too many scopes requested"));
                }
                scopes.push(token.to_owned());
            }
        }
        Ok(Self(scopes))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// Whom a token will be about; identity scopes need a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Client,
    User,
}

/// An API resource: an audience and the API scopes that grant access to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    pub name: String,
    pub scopes: Vec<String>,
}

/// Every scope and resource the server knows.
#[derive(Debug, Clone, Default)]
pub struct ResourceCatalog {
    api_scopes: BTreeSet<String>,
    api_resources: Vec<ApiResource>,
    /// Each identity resource with the user claims it releases.
    identity_resources: BTreeMap<String, Vec<String>>,
}

/// What a validated request was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedScopes {
    /// Granted scopes, in the order requested (or configured, when defaulted).
    pub scopes: Vec<String>,
    /// The API resources those scopes give access to, sorted: the token's `aud`.
    pub audiences: Vec<String>,
    /// Whether `offline_access` was granted, i.e. a refresh token is wanted.
    pub offline_access: bool,
}

impl GrantedScopes {
    /// The scopes as one space-delimited string, as the `scope` claim and response member.
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }
}

impl ResourceCatalog {
    /// A catalog with the built-in identity resources and nothing else.
    pub fn new() -> Self {
        Self {
            identity_resources: BUILT_IN_IDENTITY_RESOURCES
                .iter()
                .map(|(name, claims)| {
                    let claims = claims.iter().map(|c| (*c).to_owned()).collect();
                    ((*name).to_owned(), claims)
                })
                .collect(),
            ..Self::default()
        }
    }

    pub fn add_api_scope(&mut self, name: &str) {
        self.api_scopes.insert(name.to_owned());
    }

    /// Adds (or replaces) an identity resource releasing `claims`. An empty list for
    /// one of OpenID Connect's standard scopes means its standard claims
    /// ([`STANDARD_IDENTITY_CLAIMS`]), so a configuration need not spell them out.
    pub fn add_identity_resource(&mut self, name: &str, claims: Vec<String>) {
        let claims = match STANDARD_IDENTITY_CLAIMS.iter().find(|(n, _)| *n == name) {
            Some((_, standard)) if claims.is_empty() => {
                standard.iter().map(|c| (*c).to_owned()).collect()
            }
            _ => claims,
        };
        self.identity_resources.insert(name.to_owned(), claims);
    }

    pub fn add_api_resource(&mut self, resource: ApiResource) {
        self.api_resources.push(resource);
    }

    pub fn is_api_scope(&self, name: &str) -> bool {
        self.api_scopes.contains(name)
    }

    pub fn is_identity_resource(&self, name: &str) -> bool {
        self.identity_resources.contains_key(name)
    }

    pub fn is_known(&self, name: &str) -> bool {
        self.is_api_scope(name) || self.is_identity_resource(name)
    }

    /// Every scope a client could be granted, for discovery's `scopes_supported`.
    pub fn all_scopes(&self) -> impl Iterator<Item = &str> {
        self.identity_resources
            .keys()
            .chain(self.api_scopes.iter())
            .map(String::as_str)
    }

    /// The user claims released by the identity scopes among `scopes`; API scopes
    /// and unknown names release none.
    pub fn user_claims<'a>(
        &'a self,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> BTreeSet<&'a str> {
        scopes
            .into_iter()
            .filter_map(|scope| self.identity_resources.get(scope))
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// Every claim an identity resource releases, for discovery's `claims_supported`.
    pub fn claims_supported(&self) -> BTreeSet<&str> {
        self.identity_resources
            .values()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// Decides the scopes and audiences of a request.
    ///
    /// `requested` is the parsed `scope` parameter, if any; `allowed` the client's
    /// allowed scopes. Without a `scope` parameter every allowed API scope is granted.
    pub fn grant(
        &self,
        requested: Option<&ScopeSet>,
        allowed: &[String],
        subject: Subject,
    ) -> Result<GrantedScopes, OAuthError> {
        let scopes: Vec<String> = match requested {
            Some(requested) if !requested.is_empty() => {
                for scope in requested.iter() {
                    if !allowed.iter().any(|a| a == scope) {
                        return Err(OAuthError::invalid_scope(format!(
                            "scope `{scope}` is not allowed for this client"
                        )));
                    }
                    if subject == Subject::Client && !self.is_api_scope(scope) {
                        return Err(OAuthError::invalid_scope(format!(
                            "scope `{scope}` is about a user and cannot be granted to a client \
                             acting on its own behalf"
                        )));
                    }
                }
                requested.iter().map(str::to_owned).collect()
            }
            _ => allowed
                .iter()
                .filter(|s| self.is_api_scope(s))
                .cloned()
                .collect(),
        };
        if scopes.is_empty() {
            return Err(OAuthError::invalid_scope(
                "no scope requested and the client has no API scope to grant by default",
            ));
        }
        Ok(GrantedScopes {
            offline_access: scopes.iter().any(|s| s == OFFLINE_ACCESS),
            audiences: self.audiences(&scopes),
            scopes,
        })
    }

    /// The API resources that own any of `scopes`, sorted: a token's `aud`.
    pub fn audiences(&self, scopes: &[String]) -> Vec<String> {
        let audiences: BTreeSet<&str> = self
            .api_resources
            .iter()
            .filter(|r| r.scopes.iter().any(|s| scopes.contains(s)))
            .map(|r| r.name.as_str())
            .collect();
        audiences.into_iter().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn catalog() -> ResourceCatalog {
        let mut c = ResourceCatalog::new();
        for s in ["orders.read", "orders.write", "audit"] {
            c.add_api_scope(s);
        }
        c.add_api_resource(ApiResource {
            name: "urn:orders".into(),
            scopes: vec!["orders.read".into(), "orders.write".into()],
        });
        c.add_api_resource(ApiResource {
            name: "urn:audit".into(),
            scopes: vec!["audit".into(), "orders.write".into()],
        });
        c
    }

    fn allowed(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_splits_dedups_and_checks_characters() {
        let set = ScopeSet::parse("a  b a").unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), ["a", "b"]);
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "a\tb"] {
            assert_eq!(
                ScopeSet::parse(bad).unwrap_err().code,
                ErrorCode::InvalidScope,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn requested_scopes_must_be_allowed() {
        let err = catalog()
            .grant(
                Some(&ScopeSet::parse("orders.read audit").unwrap()),
                &allowed(&["orders.read"]),
                Subject::Client,
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
        assert!(err.description.contains("audit"));
    }

    #[test]
    fn audiences_follow_the_granted_scopes() {
        let c = catalog();
        let all = allowed(&["orders.read", "orders.write", "audit"]);
        let granted = c
            .grant(
                Some(&ScopeSet::parse("orders.read").unwrap()),
                &all,
                Subject::Client,
            )
            .unwrap();
        assert_eq!(granted.audiences, ["urn:orders"]);
        let granted = c
            .grant(
                Some(&ScopeSet::parse("orders.write").unwrap()),
                &all,
                Subject::Client,
            )
            .unwrap();
        assert_eq!(granted.audiences, ["urn:audit", "urn:orders"]);
    }

    #[test]
    fn no_scope_grants_allowed_api_scopes_only() {
        let granted = catalog()
            .grant(
                None,
                &allowed(&["openid", "orders.read", "audit"]),
                Subject::User,
            )
            .unwrap();
        assert_eq!(granted.scopes, ["orders.read", "audit"]);
        assert_eq!(granted.scope_string(), "orders.read audit");
    }

    #[test]
    fn identity_scopes_need_a_user() {
        let c = catalog();
        let all = allowed(&["openid", "profile", "orders.read"]);
        let requested = ScopeSet::parse("openid orders.read").unwrap();
        assert_eq!(
            c.grant(Some(&requested), &all, Subject::Client)
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
        let granted = c.grant(Some(&requested), &all, Subject::User).unwrap();
        assert_eq!(granted.scopes, ["openid", "orders.read"]);
    }

    #[test]
    fn identity_scopes_release_their_claims() {
        let mut c = catalog();
        let claims = c.user_claims(["openid", "email", "orders.read", "unknown"]);
        assert_eq!(
            claims.into_iter().collect::<Vec<_>>(),
            ["email", "email_verified", "sub"]
        );
        assert!(c.user_claims(["address"]).is_empty());
        c.add_identity_resource("address", Vec::new());
        c.add_identity_resource("phone", Vec::new());
        c.add_identity_resource("employee", vec!["employee_id".into(), "department".into()]);
        c.add_identity_resource("empty", Vec::new());
        assert!(c.is_identity_resource("empty"));
        assert_eq!(
            c.user_claims(["phone", "employee", "empty"])
                .into_iter()
                .collect::<Vec<_>>(),
            [
                "department",
                "employee_id",
                "phone_number",
                "phone_number_verified"
            ]
        );
        assert_eq!(
            c.user_claims(["address"]).into_iter().collect::<Vec<_>>(),
            ["address"]
        );
        // A configured standard scope with its own claims releases those only.
        c.add_identity_resource("profile", vec!["name".into()]);
        assert_eq!(
            c.user_claims(["profile"]).into_iter().collect::<Vec<_>>(),
            ["name"]
        );
    }

    #[test]
    fn claims_supported_is_every_released_claim() {
        let mut c = catalog();
        let built_in = c.claims_supported();
        assert!(built_in.contains("sub") && built_in.contains("updated_at"));
        assert!(built_in.contains("email_verified"));
        assert!(!built_in.contains("phone_number"));
        assert_eq!(built_in.len(), 1 + 14 + 2);
        c.add_identity_resource("phone", Vec::new());
        assert!(c.claims_supported().contains("phone_number_verified"));
    }

    #[test]
    fn nothing_to_grant_is_invalid_scope() {
        assert_eq!(
            catalog()
                .grant(None, &allowed(&["openid"]), Subject::User)
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
    }
}
