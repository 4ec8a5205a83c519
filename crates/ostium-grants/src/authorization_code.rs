//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): a client trades
//! the code the authorization endpoint gave the browser for tokens, once. The code's
//! record in the replicated state says whom it was for, where it was sent and which
//! PKCE challenge protects it; redeeming it is one compare-and-set, so two
//! redemptions at two nodes cannot both win, and a second one revokes what the
//! first was given (invariant 3, docs/architecture.md §4).

use ostium_protocol::grant::AuthorizationCodeRequest;
use ostium_protocol::grant::authorization_code::IssuedCode;
use ostium_protocol::pkce::CodeChallengeMethod;
use ostium_protocol::scope::OFFLINE_ACCESS;
use ostium_protocol::{Form, GrantType, OAuthError, TokenResponse};
use ostium_state::token_store::{CodeRedeemed, CodeRedemption};
use ostium_state::{FamilyId, TokenDigest};
use ostium_tokens::AccessTokenGrant;

use crate::context::{GrantContext, state_failed, users_failed};
use crate::grant::TokenGrant;
use crate::identity::{IdTokenParts, SignIn, id_token};
use crate::refresh::{first_of_family, new_family, within_family};
use crate::requester::Requester;

/// `grant_type=authorization_code`, run by the `authorization_code` actor.
pub struct AuthorizationCodeGrant;

/// The actor that redeems codes on each worker.
pub type AuthorizationCodeActor = crate::actor::GrantActor<AuthorizationCodeGrant>;

fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is not valid")
}

impl TokenGrant for AuthorizationCodeGrant {
    type Request = AuthorizationCodeRequest;

    fn grant_type(&self) -> &GrantType {
        &GrantType::AuthorizationCode
    }

    fn parse(&self, form: &Form) -> Result<Self::Request, OAuthError> {
        AuthorizationCodeRequest::parse(form)
    }

    async fn issue(
        &self,
        context: &GrantContext,
        requester: &Requester,
        request: Self::Request,
    ) -> Result<TokenResponse, OAuthError> {
        let client = &*requester.client;
        let now = context.clock.now();
        let digest = TokenDigest::of_handle(&request.code);
        // A read that sees every code acknowledged anywhere: the browser may have
        // been sent here by another node a moment ago.
        let code = context
            .store
            .codes()
            .lookup(digest, now)
            .await
            .map_err(state_failed)?
            .ok_or_else(invalid_code)?;
        let method = match code.code_challenge_method.as_deref() {
            Some(name) => Some(CodeChallengeMethod::parse(name).ok_or_else(invalid_code)?),
            None => None,
        };
        request.validate(
            client,
            &IssuedCode {
                client_id: &code.client_id,
                redirect_uri: &code.redirect_uri,
                code_challenge: code.code_challenge.as_deref(),
                code_challenge_method: method,
            },
        )?;
        let active = context
            .users
            .is_active(&code.subject)
            .await
            .map_err(users_failed)?;
        if !active {
            return Err(invalid_code().with_hint("the user no longer exists"));
        }
        let scopes: Vec<String> = code.scope.split(' ').map(str::to_owned).collect();
        let offline = client.refresh_tokens.allow_offline_access
            && scopes.iter().any(|scope| scope == OFFLINE_ACCESS);
        let family = new_family()?;
        let absolute_expiry = now + u64::from(client.refresh_tokens.absolute_lifetime);
        let lifetime = match offline {
            true => within_family(client.access_token_lifetime, absolute_expiry, now),
            false => client.access_token_lifetime,
        };
        // Every token minted from the code names its family, so that a replay of
        // the code, which denies the family, switches them all off.
        let grant = AccessTokenGrant {
            client_id: &client.client_id,
            subject: Some(&code.subject),
            scope: &code.scope,
            audiences: &code.audiences,
            issued_at: now,
            lifetime,
            auth_time: Some(code.auth_time),
            amr: Some(&code.amr),
            family: Some(&family),
        };
        let (refresh_token, refresh) = match offline {
            true => {
                let (handle, token) = first_of_family(client, &family, &grant)?;
                (Some(handle), Some(token))
            }
            false => (None, None),
        };
        let redemption = CodeRedemption {
            digest,
            client_id: client.client_id.clone(),
            family: FamilyId(family.clone()),
            tokens_expire_at: now + u64::from(lifetime.max(client.identity_token_lifetime)),
            refresh,
            at: now,
        };
        let redeemed = context
            .store
            .codes()
            .redeem(redemption)
            .await
            .map_err(state_failed)?;
        let code = match redeemed {
            CodeRedeemed::Redeemed(code) => code,
            CodeRedeemed::Replayed => {
                tracing::warn!(client_id = %client.client_id, "an authorization code was presented again; the tokens issued with it are revoked");
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used",
                ));
            }
            CodeRedeemed::Invalid => return Err(invalid_code()),
        };
        let access_token = context.mint(client, &grant).await?;
        let id_token = match scopes.iter().any(|scope| scope == "openid") {
            true => Some(
                id_token(
                    context,
                    client,
                    &requester.catalog,
                    SignIn {
                        subject: &code.subject,
                        auth_time: code.auth_time,
                        amr: &code.amr,
                        session_id: &code.session_id,
                    },
                    &scopes,
                    IdTokenParts {
                        nonce: code.nonce.as_deref(),
                        access_token: Some(&access_token),
                        ..IdTokenParts::default()
                    },
                )
                .await?,
            ),
            false => None,
        };
        Ok(TokenResponse {
            refresh_token,
            id_token,
            ..TokenResponse::bearer(access_token, lifetime, code.scope)
        })
    }
}
