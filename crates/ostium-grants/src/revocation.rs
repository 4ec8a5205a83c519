//! Token revocation (RFC 7009), served by the `revocation` actor: a client revokes
//! its own access or refresh tokens; revoking a refresh token revokes every token of
//! its family.
//!
//! The answer is the same whether the token existed, belonged to someone else or was
//! already revoked (RFC 7009 §2.2): the caller learns nothing, and only the holder's
//! own tokens are touched. Success is answered only once the revocation is committed
//! to the replicated state and every node, edges included, refuses the token.

use ostium_protocol::OAuthError;
use ostium_protocol::token_management::TokenQuery;

use crate::actor::Flow;
use crate::context::{GrantContext, state_failed};
use crate::requester::Requester;
use crate::token_lookup::{KnownToken, identify};

pub struct Revocation;

impl Flow for Revocation {
    type Request = TokenQuery;
    type Response = ();

    fn name(&self) -> &str {
        "revocation"
    }

    async fn run(
        &self,
        context: &GrantContext,
        requester: &Requester,
        query: TokenQuery,
    ) -> Result<(), OAuthError> {
        let client = &requester.client;
        let at = context.clock.now();
        // A token issued through another node a moment ago is found here too.
        let Some(token) = identify(context, &query.token, at).await? else {
            return Ok(());
        };
        if token.client_id() != client.client_id {
            tracing::info!(client_id = ?client.client_id, "revocation of another client's token ignored");
            return Ok(());
        }
        let store = &context.store;
        // From here until every node refuses the token: the commit, and the denial
        // published to the hot cache for edges.
        let started = std::time::Instant::now();
        let revoked = match token {
            KnownToken::Refresh { record, .. } => store.refresh().revoke_family(&record, at).await,
            KnownToken::Reference(record) => store.reference().revoke(&record, at).await,
            KnownToken::Jwt(claims) if claims.exp > at => {
                store.deny().token(&claims.jti, claims.exp, at).await
            }
            // An expired JWT can no longer be used; there is nothing to deny.
            KnownToken::Jwt(_) => return Ok(()),
        };
        revoked.map_err(state_failed)?;
        context.metrics.revocation_in_force(started.elapsed());
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    use ostium_protocol::{AccessTokenType, Client, Form, TokenResponse};

    use super::*;
    use crate::client_credentials::ClientCredentialsGrant;
    use crate::grant::TokenGrant;
    use crate::introspection::{Caller, introspect};
    use crate::refresh::RefreshTokenGrant;
    use crate::testing::{ISSUER, client, fixture, form, from, login, offline};

    fn query(token: &str) -> TokenQuery {
        TokenQuery::parse(&form(&format!("token={token}"))).unwrap()
    }

    async fn machine_token(context: &GrantContext, machine: &Client) -> String {
        let request = ClientCredentialsGrant.parse(&Form::default()).unwrap();
        let issued: TokenResponse = ClientCredentialsGrant
            .issue(context, &from(machine), request)
            .await
            .unwrap();
        issued.access_token
    }

    async fn active(context: &GrantContext, caller: &Caller, token: &str) -> bool {
        introspect(context, ISSUER, caller, &query(token))
            .await
            .unwrap()
            .active
    }

    #[tokio::test]
    async fn a_revoked_access_token_is_inactive_jwt_or_reference() {
        let f = fixture();
        let machine = client("machine", "client_credentials");
        let reference = Client {
            access_token_type: AccessTokenType::Reference,
            ..client("reference", "client_credentials")
        };
        for owner in [&machine, &reference] {
            let token = machine_token(&f.context, owner).await;
            let caller = Caller::Client(owner.client_id.clone());
            assert!(active(&f.context, &caller, &token).await);
            Revocation
                .run(&f.context, &from(owner), query(&token))
                .await
                .unwrap();
            assert!(
                !active(&f.context, &caller, &token).await,
                "{}",
                owner.client_id
            );
            // Revoking again answers the same.
            Revocation
                .run(&f.context, &from(owner), query(&token))
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn revoking_a_refresh_token_revokes_its_family_and_its_access_tokens() {
        let f = fixture();
        for access_token_type in [AccessTokenType::Jwt, AccessTokenType::Reference] {
            let app = Client {
                access_token_type,
                ..offline(client("app", "resource_owner_password"))
            };
            let login = login(&f.context, &app, "orders.read offline_access").await;
            let handle = login.refresh_token.unwrap();
            let caller = Caller::Client("app".into());
            assert!(active(&f.context, &caller, &login.access_token).await);
            Revocation
                .run(&f.context, &from(&app), query(&handle))
                .await
                .unwrap();
            let request = RefreshTokenGrant
                .parse(&form(&format!("refresh_token={handle}")))
                .unwrap();
            let redeemed = RefreshTokenGrant
                .issue(&f.context, &from(&app), request)
                .await;
            assert_eq!(
                redeemed.unwrap_err(),
                OAuthError::invalid_grant("the refresh token is not valid")
            );
            assert!(!active(&f.context, &caller, &handle).await);
            // RFC 7009 §2.1: the access tokens of the grant go with it.
            assert!(
                !active(&f.context, &caller, &login.access_token).await,
                "{access_token_type:?}"
            );
        }
    }

    #[tokio::test]
    async fn another_clients_token_and_unknown_tokens_are_left_alone() {
        let f = fixture();
        let machine = client("machine", "client_credentials");
        let token = machine_token(&f.context, &machine).await;
        let other = client("other", "client_credentials");
        Revocation
            .run(&f.context, &from(&other), query(&token))
            .await
            .unwrap();
        Revocation
            .run(&f.context, &from(&other), query("no-such-token"))
            .await
            .unwrap();
        assert!(active(&f.context, &Caller::Client("machine".into()), &token).await);
    }
}
