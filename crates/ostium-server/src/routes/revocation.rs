//! `POST /connect/revocation` (RFC 7009): a client revokes one of its tokens.
//!
//! 200 with an empty body for every authenticated, well-formed request, whether the
//! token existed, was already revoked or belongs to someone else (§2.2); only after
//! the revocation is committed.

use actix_web::{HttpRequest, HttpResponse, web};
use ostium_grants::GrantSupervisor;
use ostium_protocol::OAuthError;
use ostium_protocol::token_management::TokenQuery;

use super::back_channel::{authenticate, credentials, error_response, no_store, read_form};
use crate::state::Shared;

pub(crate) async fn revocation(
    request: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> HttpResponse {
    match revoke(&request, payload, &shared, &grants).await {
        Ok(()) => no_store(HttpResponse::Ok()).finish(),
        Err(refused) => error_response(&refused),
    }
}

async fn revoke(
    request: &HttpRequest,
    payload: web::Payload,
    shared: &Shared,
    grants: &GrantSupervisor,
) -> Result<(), OAuthError> {
    let form = read_form(request, payload, shared.max_body_bytes).await?;
    let client = authenticate(shared, &credentials(request, &form)?)?;
    let query = TokenQuery::parse(&form)?;
    grants.revoke(client, query).await
}
