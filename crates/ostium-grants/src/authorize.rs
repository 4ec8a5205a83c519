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
    /// The user must consent to the requested scopes first, as `subject`.
    Consent { subject: String },
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
                return Ok(AuthorizeOutcome::Consent {
                    subject: session.subject,
                });
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
                redirect_uri: request.redirect_uri.to_string(),
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
