//! `[[api_scopes]]`, `[[api_resources]]` and `[[identity_resources]]`: the scopes
//! clients may ask for, gathered in the `ResourceCatalog`, and the APIs that own
//! them.

use ostium_protocol::scope::{ApiResource, OFFLINE_ACCESS};
use ostium_protocol::{ResourceCatalog, SecretDigest};
use std::path::PathBuf;

use serde::Deserialize;

use super::{Checker, secret_files, unique};

#[derive(Debug, Clone)]
pub struct ApiResourceSettings {
    pub name: String,
    pub scopes: Vec<String>,
    pub api_secrets: Vec<SecretDigest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiScopeSection {
    name: String,
    #[allow(dead_code)]
    display_name: Option<String>,
    #[allow(dead_code)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiResourceSection {
    name: String,
    #[allow(dead_code)]
    display_name: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    api_secrets: Vec<String>,
    /// More secrets, from a file outside the configuration (`secret_files.rs`).
    api_secrets_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IdentityResourceSection {
    name: String,
    #[allow(dead_code)]
    display_name: Option<String>,
    /// The user claims the scope releases; OpenID Connect's standard scopes
    /// release their standard claims when this is left out.
    #[serde(default)]
    user_claims: Vec<String>,
}

impl Checker {
    /// The catalog of every scope, and each API resource with its secrets.
    pub(super) fn check_resources(
        &mut self,
        api_scopes: &[ApiScopeSection],
        api_resources: &[ApiResourceSection],
        identity_resources: &[IdentityResourceSection],
    ) -> Result<(ResourceCatalog, Vec<ApiResourceSettings>), String> {
        let catalog = catalog(api_scopes, api_resources, identity_resources)?;
        let settings = api_resources
            .iter()
            .map(|r| {
                let mut api_secrets = self
                    .secrets(&format!("api resource `{}`", r.name), &r.api_secrets)
                    .map_err(|e| format!("api resource `{}`: api_secrets: {e}", r.name))?;
                if let Some(path) = &r.api_secrets_file {
                    api_secrets.extend(secret_files::read_secrets(path).map_err(|e| {
                        format!("api resource `{}`: api_secrets_file: {e}", r.name)
                    })?);
                }
                Ok(ApiResourceSettings {
                    name: r.name.clone(),
                    scopes: r.scopes.clone(),
                    api_secrets,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok((catalog, settings))
    }
}

/// Every scope, under one name each: identity and API scopes never share a name,
/// and an API resource lists only API scopes.
fn catalog(
    api_scopes: &[ApiScopeSection],
    api_resources: &[ApiResourceSection],
    identity_resources: &[IdentityResourceSection],
) -> Result<ResourceCatalog, String> {
    unique("api scope", api_scopes.iter().map(|s| s.name.as_str()))?;
    unique(
        "api resource",
        api_resources.iter().map(|r| r.name.as_str()),
    )?;
    unique(
        "identity resource",
        identity_resources.iter().map(|r| r.name.as_str()),
    )?;
    let mut catalog = ResourceCatalog::new();
    for resource in identity_resources {
        check_scope_name("identity resource", &resource.name)?;
        catalog.add_identity_resource(&resource.name, resource.user_claims.clone());
    }
    for scope in api_scopes {
        if scope.name == OFFLINE_ACCESS || catalog.is_identity_resource(&scope.name) {
            return Err(format!(
                "api scope `{}`: name is already used by an identity scope",
                scope.name
            ));
        }
        check_scope_name("api scope", &scope.name)?;
        catalog.add_api_scope(&scope.name);
    }
    for resource in api_resources {
        if let Some(unknown) = resource.scopes.iter().find(|s| !catalog.is_api_scope(s)) {
            return Err(format!(
                "api resource `{}`: scopes: `{unknown}` is not a configured [[api_scopes]] name",
                resource.name
            ));
        }
        catalog.add_api_resource(ApiResource {
            name: resource.name.clone(),
            scopes: resource.scopes.clone(),
        });
    }
    Ok(catalog)
}

/// A scope name must be a single RFC 6749 §3.3 scope token.
fn check_scope_name(kind: &str, name: &str) -> Result<(), String> {
    let single_token = ostium_protocol::ScopeSet::parse(name)
        .is_ok_and(|set| set.iter().eq(std::iter::once(name)));
    if single_token {
        Ok(())
    } else {
        Err(format!(
            "{kind} `{name}`: name must be one scope token (printable ASCII, no spaces, \
             quotes or backslashes)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{BASE, parse};

    #[test]
    fn api_resources_name_configured_scopes() {
        let text = BASE.replace("scopes = [\"orders.read\"]", "scopes = [\"nope\"]");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("api resource `urn:orders`: scopes: `nope`"),
            "{err}"
        );
    }

    #[test]
    fn scope_names_are_single_tokens() {
        let text = format!("{BASE}\n[[identity_resources]]\nname = \"has space\"\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("identity resource `has space`"), "{err}");
        let err = parse(&BASE.replace("name = \"orders.read\"", "name = \"a\\\\b\"")).unwrap_err();
        assert!(err.to_string().contains("api scope"), "{err}");
    }
}
