//! The OAuth 2.0 / OpenID Connect rules Ostium follows, with no I/O.
//!
//! This crate turns what a client sent (form parameters, credentials) into typed
//! requests and decides whether they are allowed: which grant types a client may use
//! and which combinations are forbidden, which scopes it may ask for and which
//! audiences they grant, how client secrets are checked, and which RFC 6749 error a
//! refusal is. It knows nothing of HTTP servers, actors, storage or clocks, so every
//! rule here is tested in microseconds and the other crates only wire it up.
//!
//! Layout:
//! - [`error`]: [`OAuthError`], the error every refusal becomes, as a JSON body
//!   (RFC 6749 §5.2) or a redirect to the client (§4.1.2.1).
//! - [`form`]: form-encoded parameters with duplicate detection (RFC 6749 §3.2).
//! - [`grant_type`]: grant types, IdentityServer's presets, forbidden combinations.
//! - [`scope`]: scope syntax (RFC 6749 §3.3) and the resource catalog scopes map to.
//! - [`secret`]: client secret digests and constant-time verification.
//! - [`client`]: the client model and client authentication (RFC 6749 §2.3).
//! - [`grant`]: one module per grant: parse the request, validate it for a client.
//! - [`pkce`]: PKCE challenges and their verification (RFC 7636).
//! - [`authorize`]: the authorization endpoint's request (OIDC Core §3, RFC 6749
//!   §4.1-4.2), where its errors are shown, and its response.
//! - [`end_session`]: the logout request (OpenID Connect RP-Initiated Logout 1.0).
//! - [`response`]: the successful token response (RFC 6749 §5.1).
//! - [`token_management`]: revocation (RFC 7009) and introspection (RFC 7662) requests.

pub mod authorize;
pub mod client;
pub mod end_session;
pub mod error;
pub mod form;
pub mod grant;
pub mod grant_type;
pub mod pkce;
pub mod response;
pub mod scope;
pub mod secret;
pub mod token_management;

pub use authorize::{AuthorizeError, AuthorizeRequest, Prompt, Prompts, ResponseType};
pub use client::{
    AccessTokenType, Client, ClientAuthMethod, ClientCredentials, RefreshTokenExpiration,
    RefreshTokenPolicy, RefreshTokenUsage,
};
pub use end_session::EndSessionRequest;
pub use error::{Causes, ErrorCode, OAuthError, Redirect, ResponseMode};
pub use form::Form;
pub use grant::authorization_code::{AuthorizationCodeRequest, IssuedCode};
pub use grant_type::{AllowedGrantTypes, GrantType};
pub use pkce::{CodeChallenge, CodeChallengeMethod};
pub use response::TokenResponse;
pub use scope::{GrantedScopes, ResourceCatalog, ScopeSet};
pub use secret::SecretDigest;
