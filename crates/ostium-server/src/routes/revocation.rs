//! `POST /connect/revocation` (RFC 7009): a client revokes one of its tokens.
//!
//! 200 with an empty body for every authenticated, well-formed request, whether the
//! token existed, was already revoked or belongs to someone else (§2.2); only after
//! the revocation is committed.

use actix_web::{HttpRequest, HttpResponse, web};
use ostium_grants::GrantSupervisor;
use ostium_protocol::token_management::TokenQuery;

use super::back_channel::{FormBody, Refusal, authenticate, no_store};
use crate::state::Shared;

pub(crate) async fn revocation(
    request: HttpRequest,
    FormBody(form): FormBody,
    shared: web::Data<Shared>,
    grants: web::Data<GrantSupervisor>,
) -> Result<HttpResponse, Refusal> {
    let requester = authenticate(&request, &form, &shared)?;
    let query = TokenQuery::parse(&form)?;
    grants.revoke(requester, query).await?;
    Ok(no_store(HttpResponse::Ok()).finish())
}
