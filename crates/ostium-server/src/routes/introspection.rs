//! `POST /connect/introspect` (RFC 7662): is this token active, and what does it
//! stand for? Asked by an API resource (with one of its `api_secrets`) or by a client.

use actix_web::{HttpRequest, HttpResponse, web};
use ostium_grants::GrantSupervisor;
use ostium_grants::introspection::{Caller, introspect};
use ostium_protocol::token_management::TokenQuery;
use ostium_protocol::{ClientAuthMethod, ClientCredentials, OAuthError};

use super::back_channel::{FormBody, Refusal, authenticate_credentials, credentials, json};
use crate::state::Shared;

pub(crate) async fn introspection(
    request: HttpRequest,
    FormBody(form): FormBody,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> Result<HttpResponse, Refusal> {
    let caller = caller(&shared, &credentials(&request, &form)?)?;
    let query = TokenQuery::parse(&form)?;
    let answer = introspect(grants.context(), &shared.issuer, &caller, &query).await?;
    Ok(json(&answer))
}

/// An API resource if the id names one, otherwise a client.
fn caller(shared: &Shared, credentials: &ClientCredentials) -> Result<Caller, OAuthError> {
    match shared
        .directory
        .load()
        .api_resources
        .get(&credentials.client_id)
    {
        Some(secrets) => {
            if credentials.matches_any(secrets) {
                Ok(Caller::Resource(credentials.client_id.clone()))
            } else {
                tracing::info!(resource = ?credentials.client_id, "API resource authentication failed");
                Err(OAuthError::invalid_client("client authentication failed"))
            }
        }
        // A public client proves nothing by naming itself, so it may not ask.
        None if credentials.method == ClientAuthMethod::None => Err(OAuthError::invalid_client(
            "introspection needs a client secret or an API resource secret",
        )),
        None => Ok(Caller::Client(
            authenticate_credentials(credentials, shared)?
                .client_id
                .clone(),
        )),
    }
}
