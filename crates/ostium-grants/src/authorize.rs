//! The authorization endpoint's decision (OpenID Connect Core §3, RFC 6749 §4.1,
//! §4.2): given a checked request and the browser's login session, whether the user
//! must sign in or consent first, or what goes back to the client: a code stored in
//! the replicated state, an access token, an ID token, as the response type asks.
//! Run by the `authorize` actor ([`AuthorizeActor`]); the server turns the outcome
//! into a page or a redirect, and an error into a redirect to the client.

use ostium_protocol::authorize::Prompt;
use ostium_protocol::{AuthorizeRequest, ErrorCode, OAuthError};
use ostium_state::TokenDigest;
use ostium_state::token_store::{NewAuthorizationCode, NewConsent};
use ostium_tokens::handle::new_handle;
use ostium_tokens::{AccessTokenGrant, LoginSession};

use crate::actor::{Flow, GrantActor};
use crate::context::{GrantContext, state_failed, unexpected, users_failed};
use crate::identity::{IdTokenParts, SignIn, id_token};
use crate::requester::Requester;

/// The actor that runs the authorization endpoint on each worker.
pub type AuthorizeActor = GrantActor<AuthorizeFlow>;

/// The authorization endpoint as a [`Flow`].
pub struct AuthorizeFlow;

/// One authorization request on its way through the endpoint.
#[derive(Debug)]
pub struct Authorization {
    pub request: AuthorizeRequest,
    /// The browser's login session, if it has a valid one.
    pub session: Option<LoginSession>,
    /// The user's answer on the consent page, when this request comes from there.
    pub consent: Option<ConsentAnswer>,
}

/// What the user said on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentAnswer {
    pub allowed: bool,
    /// Remember the consent for this client and these scopes.
    pub remember: bool,
}

/// What the endpoint does next.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// The user must sign in first (again, for `prompt=login` or `max_age`).
    Login,
    /// The user must consent to the requested scopes first.
    Consent,
    /// Send the browser back to the client with these parameters (the server adds
    /// `state` and `iss`).
    Respond(Vec<(&'static str, String)>),
}

impl Flow for AuthorizeFlow {
    type Request = Authorization;
    type Response = AuthorizeOutcome;

    fn name(&self) -> &str {
        "authorize"
    }

    async fn run(
        &self,
        context: &GrantContext,
        requester: &Requester,
        authorization: Authorization,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        let Authorization {
            request,
            session,
            consent,
        } = authorization;
        let now = context.clock.now();
        let Some(session) = signed_in(context, &request, session, now).await? else {
            if request.prompt.contains(Prompt::None) {
                return Err(OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the user is not signed in",
                ));
            }
            return Ok(AuthorizeOutcome::Login);
        };
        let client = &*requester.client;
        match consent {
            Some(answer) => record_answer(context, client, &request, &session, answer, now).await?,
            None if client.require_consent
                && !consented_before(context, &request, &session, now).await? =>
            {
                if request.prompt.contains(Prompt::None) {
                    return Err(OAuthError::new(
                        ErrorCode::ConsentRequired,
                        "the user has not consented to these scopes",
                    ));
                }
                return Ok(AuthorizeOutcome::Consent);
            }
            None => {}
        }
        respond(context, requester, &request, &session, now)
            .await
            .map(AuthorizeOutcome::Respond)
    }
}

/// The session the request may use: none when there is none, when the request
/// asks for a fresh login (`prompt=login`, or `max_age` past), or when its user is
/// no longer active.
async fn signed_in(
    context: &GrantContext,
    request: &AuthorizeRequest,
    session: Option<LoginSession>,
    now: u64,
) -> Result<Option<LoginSession>, OAuthError> {
    let Some(session) = session else {
        return Ok(None);
    };
    if request.prompt.contains(Prompt::Login) || request.prompt.contains(Prompt::SelectAccount) {
        return Ok(None);
    }
    if request
        .max_age
        .is_some_and(|max_age| now.saturating_sub(session.auth_time) > max_age)
    {
        return Ok(None);
    }
    let active = context
        .users
        .is_active(&session.subject)
        .await
        .map_err(users_failed)?;
    Ok(active.then_some(session))
}

/// The user's answer on the consent page: a refusal ends the request with
/// `access_denied`; an allowance is remembered when the user asked and the client
/// lets consents be remembered.
async fn record_answer(
    context: &GrantContext,
    client: &ostium_protocol::Client,
    request: &AuthorizeRequest,
    session: &LoginSession,
    answer: ConsentAnswer,
    now: u64,
) -> Result<(), OAuthError> {
    if !answer.allowed {
        return Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the user did not consent",
        ));
    }
    if answer.remember && client.allow_remember_consent {
        let consent = NewConsent {
            subject: session.subject.clone(),
            client_id: client.client_id.clone(),
            scopes: request.scopes.scopes.clone(),
            expires_at: None,
            at: now,
        };
        context
            .store
            .consents()
            .remember(consent)
            .await
            .map_err(state_failed)?;
    }
    Ok(())
}

/// Whether the user consented to every requested scope for this client before, and
/// the request does not ask to be asked again.
async fn consented_before(
    context: &GrantContext,
    request: &AuthorizeRequest,
    session: &LoginSession,
    now: u64,
) -> Result<bool, OAuthError> {
    if request.prompt.contains(Prompt::Consent) {
        return Ok(false);
    }
    let remembered = context
        .store
        .consents()
        .granted(&session.subject, &request.client_id, now)
        .await
        .map_err(state_failed)?;
    Ok(remembered.is_some_and(|granted| {
        request
            .scopes
            .scopes
            .iter()
            .all(|scope| granted.contains(scope))
    }))
}

/// The authorization response's parameters: a code, an access token and an ID
/// token, as many as the response type names.
async fn respond(
    context: &GrantContext,
    requester: &Requester,
    request: &AuthorizeRequest,
    session: &LoginSession,
    now: u64,
) -> Result<Vec<(&'static str, String)>, OAuthError> {
    let client = &*requester.client;
    let scopes = &request.scopes;
    let scope = scopes.scope_string();
    let mut params = Vec::new();
    let code = match request.response_type.code {
        true => {
            let code = new_handle().map_err(unexpected)?;
            let challenge = request.code_challenge.as_ref();
            let stored = NewAuthorizationCode {
                digest: TokenDigest::of_handle(&code),
                client_id: client.client_id.clone(),
                subject: session.subject.clone(),
                redirect_uri: request.redirect_uri_as_sent.clone(),
                scope: scope.clone(),
                audiences: scopes.audiences.clone(),
                nonce: request.nonce.clone(),
                code_challenge: challenge.map(|c| c.challenge.clone()),
                code_challenge_method: challenge.map(|c| c.method.as_str().to_owned()),
                session_id: session.sid.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                expires_at: now + u64::from(client.authorization_code_lifetime),
                at: now,
            };
            context
                .store
                .codes()
                .store(stored)
                .await
                .map_err(state_failed)?;
            params.push(("code", code.clone()));
            Some(code)
        }
        false => None,
    };
    let access_token = match request.response_type.token {
        true => {
            // Without a family: nothing refreshes a token handed to the browser.
            let grant = AccessTokenGrant {
                client_id: &client.client_id,
                subject: Some(&session.subject),
                scope: &scope,
                audiences: &scopes.audiences,
                issued_at: now,
                lifetime: client.access_token_lifetime,
                auth_time: Some(session.auth_time),
                amr: Some(&session.amr),
                family: None,
            };
            let token = context.mint(client, &grant).await?;
            params.push(("access_token", token.clone()));
            params.push(("token_type", "Bearer".to_owned()));
            params.push(("expires_in", client.access_token_lifetime.to_string()));
            Some(token)
        }
        false => None,
    };
    if request.response_type.id_token {
        let sign_in = SignIn {
            subject: &session.subject,
            auth_time: session.auth_time,
            amr: &session.amr,
            session_id: &session.sid,
        };
        let parts = IdTokenParts {
            nonce: request.nonce.as_deref(),
            access_token: access_token.as_deref(),
            code: code.as_deref(),
            state: request.state.as_deref(),
            // OpenID Connect Core §5.4: with no access token to ask userinfo with,
            // the claims go into the ID token.
            with_user_claims: access_token.is_none() && code.is_none(),
        };
        let token = id_token(
            context,
            client,
            &requester.catalog,
            sign_in,
            &scopes.scopes,
            parts,
        )
        .await?;
        params.push(("id_token", token));
    }
    if access_token.is_some() {
        params.push(("scope", scope));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use ostium_protocol::grant::AuthorizationCodeRequest;
    use ostium_protocol::pkce;

    use super::*;
    use crate::authorization_code::AuthorizationCodeGrant;
    use crate::grant::TokenGrant;
    use crate::testing::{T0, catalog, client, fixture, form, from};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CALLBACK: &str = "https://app.example.com/callback";

    fn web() -> ostium_protocol::Client {
        let mut web = client("web", "code");
        web.redirect_uris = vec![CALLBACK.into()];
        web.allowed_scopes.push("email".into());
        web
    }

    fn request(web: &ostium_protocol::Client, extra: &str) -> AuthorizeRequest {
        let body = format!(
            "client_id=web&response_type=code&scope=openid%20email%20orders.read&\
             redirect_uri={CALLBACK}&state=s&nonce=n&code_challenge={}&\
             code_challenge_method=S256{extra}",
            pkce::s256(VERIFIER)
        );
        AuthorizeRequest::parse(&form(&body), web, &catalog()).unwrap()
    }

    fn session(auth_time: u64) -> LoginSession {
        LoginSession {
            sid: "sid-1".into(),
            subject: "alice".into(),
            auth_time,
            amr: "pwd".into(),
            expires_at: T0 + 3600,
        }
    }

    async fn run(
        context: &GrantContext,
        web: &ostium_protocol::Client,
        request: AuthorizeRequest,
        session: Option<LoginSession>,
        consent: Option<ConsentAnswer>,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        let authorization = Authorization {
            request,
            session,
            consent,
        };
        AuthorizeFlow.run(context, &from(web), authorization).await
    }

    fn param<'a>(params: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn without_a_fresh_enough_session_the_user_signs_in_unless_prompt_is_none() {
        let f = fixture();
        let web = web();
        let outcome = run(&f.context, &web, request(&web, ""), None, None).await;
        assert_eq!(outcome, Ok(AuthorizeOutcome::Login));
        for extra in ["&prompt=login", "&max_age=60"] {
            let outcome = run(
                &f.context,
                &web,
                request(&web, extra),
                Some(session(T0 - 120)),
                None,
            );
            assert_eq!(outcome.await, Ok(AuthorizeOutcome::Login), "{extra}");
        }
        let refused = run(&f.context, &web, request(&web, "&prompt=none"), None, None)
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::LoginRequired);
        // A user who is gone is no longer signed in.
        f.users.remove("alice");
        let outcome = run(&f.context, &web, request(&web, ""), Some(session(T0)), None).await;
        assert_eq!(outcome, Ok(AuthorizeOutcome::Login));
    }

    #[tokio::test]
    async fn consent_is_asked_remembered_and_asked_again_for_prompt_consent() {
        let f = fixture();
        let web = ostium_protocol::Client {
            require_consent: true,
            ..web()
        };
        let signed_in = Some(session(T0));
        let asked = run(&f.context, &web, request(&web, ""), signed_in.clone(), None).await;
        assert_eq!(asked, Ok(AuthorizeOutcome::Consent));
        let refused = run(
            &f.context,
            &web,
            request(&web, "&prompt=none"),
            signed_in.clone(),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::ConsentRequired);
        let denied = ConsentAnswer {
            allowed: false,
            remember: true,
        };
        let refused = run(
            &f.context,
            &web,
            request(&web, ""),
            signed_in.clone(),
            Some(denied),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::AccessDenied);
        let allowed = ConsentAnswer {
            allowed: true,
            remember: true,
        };
        let answered = run(
            &f.context,
            &web,
            request(&web, ""),
            signed_in.clone(),
            Some(allowed),
        );
        assert!(matches!(answered.await, Ok(AuthorizeOutcome::Respond(_))));
        // Remembered: not asked again, unless the request says so.
        let again = run(&f.context, &web, request(&web, ""), signed_in.clone(), None).await;
        assert!(
            matches!(again, Ok(AuthorizeOutcome::Respond(_))),
            "{again:?}"
        );
        let forced = run(
            &f.context,
            &web,
            request(&web, "&prompt=consent"),
            signed_in,
            None,
        );
        assert_eq!(forced.await, Ok(AuthorizeOutcome::Consent));
    }

    #[tokio::test]
    async fn a_code_is_exchanged_once_with_its_verifier_and_a_replay_revokes_the_tokens() {
        let f = fixture();
        let web = web();
        let Ok(AuthorizeOutcome::Respond(params)) = run(
            &f.context,
            &web,
            request(&web, ""),
            Some(session(T0 - 5)),
            None,
        )
        .await
        else {
            panic!("no response");
        };
        assert!(param(&params, "access_token").is_none(), "{params:?}");
        let code = param(&params, "code").expect("a code").to_owned();
        let exchange = |verifier: &str| {
            format!(
                "grant_type=authorization_code&code={code}&redirect_uri={CALLBACK}&\
                 code_verifier={verifier}"
            )
        };
        let grant = AuthorizationCodeGrant;
        let wrong = grant.parse(&form(&exchange(&"x".repeat(43)))).unwrap();
        let refused = grant
            .issue(&f.context, &from(&web), wrong)
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidGrant);
        // The wrong verifier spent nothing.
        let right: AuthorizationCodeRequest = grant.parse(&form(&exchange(VERIFIER))).unwrap();
        let tokens = grant
            .issue(&f.context, &from(&web), right.clone())
            .await
            .unwrap();
        let claims = f
            .context
            .access_tokens
            .decode(&tokens.access_token)
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.auth_time),
            ("alice", Some(T0 - 5))
        );
        let id_token = tokens.id_token.expect("an ID token for openid");
        let hint = f.context.id_tokens.decode_hint(&id_token).unwrap();
        assert_eq!(
            (hint.sub.as_str(), hint.sid.as_deref()),
            ("alice", Some("sid-1"))
        );
        let fam = claims.fam.expect("the token names its family");
        let denied = ostium_state::Denial::Family(ostium_state::FamilyId(fam));
        assert!(!f.context.store.deny().is_denied(&denied, T0).await.unwrap());

        let replayed = grant
            .issue(&f.context, &from(&web), right)
            .await
            .unwrap_err();
        assert_eq!(replayed.code, ErrorCode::InvalidGrant);
        assert!(f.context.store.deny().is_denied(&denied, T0).await.unwrap());
    }

    #[tokio::test]
    async fn an_id_token_alone_carries_the_users_claims_and_binds_the_state() {
        let f = fixture();
        let web = ostium_protocol::Client {
            allow_access_tokens_via_browser: true,
            ..client("web", "implicit")
        };
        let web = ostium_protocol::Client {
            redirect_uris: vec![CALLBACK.into()],
            allowed_scopes: vec!["openid".into(), "email".into()],
            ..web
        };
        let body = format!(
            "client_id=web&response_type=id_token&scope=openid%20email&redirect_uri={CALLBACK}\
             &state=s-1&nonce=n-1"
        );
        let request = AuthorizeRequest::parse(&form(&body), &web, &catalog()).unwrap();
        let Ok(AuthorizeOutcome::Respond(params)) =
            run(&f.context, &web, request, Some(session(T0)), None).await
        else {
            panic!("no response");
        };
        let id_token = param(&params, "id_token").unwrap();
        let payload = id_token.split('.').nth(1).unwrap();
        use base64::Engine;
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(
            claims["s_hash"],
            ostium_tokens::id_token::half_hash(ostium_tokens::SigningAlgorithm::ES256, "s-1")
        );
        assert!(param(&params, "access_token").is_none());
    }
}
