//! The browser's login session and the anti-forgery tokens of its forms, as values
//! the server signs and later checks, so that any node accepts any node's cookies
//! without a shared session store: both keys derive from the cluster secret.
//!
//! A session cookie is `base64url(json) "." base64url(HMAC-SHA256)`. It names the
//! user, when and how they signed in and until when the session holds; it carries
//! no secret, only the signature makes it trustworthy. A CSRF token is an HMAC of a
//! random per-browser value kept in its own cookie (the signed double-submit
//! pattern): a page on another site can make the browser send the cookie, but
//! cannot read it to compute the token.

use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::TokenError;
use crate::handle::random_id;

/// A signed-in user, as the session cookie holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSession {
    /// The session's id, `sid` in ID tokens.
    pub sid: String,
    pub subject: String,
    /// When the user authenticated, seconds since the Unix epoch.
    pub auth_time: u64,
    /// How (RFC 8176, `pwd`).
    pub amr: String,
    /// The cookie is refused after this; a sliding session is re-signed with a
    /// later one as it is used.
    pub expires_at: u64,
}

impl LoginSession {
    /// A session for a login that just happened.
    pub fn start(subject: &str, amr: &str, now: u64, lifetime: u64) -> Result<Self, TokenError> {
        Ok(Self {
            sid: random_id::<16>()?,
            subject: subject.to_owned(),
            auth_time: now,
            amr: amr.to_owned(),
            expires_at: now + lifetime,
        })
    }
}

/// Signs and checks session cookies and CSRF tokens.
pub struct BrowserSessions {
    session_key: hmac::Key,
    csrf_key: hmac::Key,
}

/// Longest cookie value looked at; ours are a few hundred bytes.
const MAX_COOKIE: usize = 4096;

impl BrowserSessions {
    pub fn from_cluster_secret(secret: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derive =
            |label: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&root, label).as_ref());
        Self {
            session_key: derive(b"ostium browser session key v1"),
            csrf_key: derive(b"ostium form csrf key v1"),
        }
    }

    /// The session cookie's value.
    pub fn seal(&self, session: &LoginSession) -> Result<String, TokenError> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session)?);
        let tag = hmac::sign(&self.session_key, payload.as_bytes());
        Ok(format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    /// The session a cookie value holds, if this cluster signed it and it has not
    /// expired at `now`.
    pub fn open(&self, cookie: &str, now: u64) -> Option<LoginSession> {
        if cookie.len() > MAX_COOKIE {
            return None;
        }
        let (payload, tag) = cookie.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.session_key, payload.as_bytes(), &tag).ok()?;
        let session: LoginSession =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (now < session.expires_at).then_some(session)
    }

    /// A fresh value for the browser's CSRF cookie.
    pub fn new_csrf_cookie() -> Result<String, TokenError> {
        random_id::<32>()
    }

    /// The token the forms carry for a browser with this CSRF cookie.
    pub fn csrf_token(&self, cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.csrf_key, cookie.as_bytes()).as_ref())
    }

    /// Whether a form's token belongs with the browser's CSRF cookie.
    pub fn csrf_matches(&self, cookie: &str, token: &str) -> bool {
        let expected = self.csrf_token(cookie);
        !cookie.is_empty()
            && constant_time::verify_slices_are_equal(expected.as_bytes(), token.as_bytes()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> LoginSession {
        LoginSession::start("alice-1", "pwd", 1_000, 600).unwrap()
    }

    #[test]
    fn a_sealed_session_opens_on_every_node_of_the_cluster_until_it_expires() {
        let here = BrowserSessions::from_cluster_secret(b"cluster secret");
        let there = BrowserSessions::from_cluster_secret(b"cluster secret");
        let cookie = here.seal(&session()).unwrap();
        let opened = there.open(&cookie, 1_599).unwrap();
        assert_eq!(opened.subject, "alice-1");
        assert_eq!(opened.sid.len(), 22);
        assert!(there.open(&cookie, 1_600).is_none(), "expired");
    }

    #[test]
    fn a_forged_or_foreign_session_is_refused() {
        let ours = BrowserSessions::from_cluster_secret(b"cluster secret");
        let theirs = BrowserSessions::from_cluster_secret(b"another secret");
        assert!(
            ours.open(&theirs.seal(&session()).unwrap(), 1_100)
                .is_none()
        );
        let cookie = ours.seal(&session()).unwrap();
        let (_, tag) = cookie.split_once('.').unwrap();
        let mut forged = session();
        forged.subject = "admin".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert!(ours.open(&format!("{payload}.{tag}"), 1_100).is_none());
        for garbage in ["", ".", "a.b", "no-dot", &"x".repeat(5000)] {
            assert!(ours.open(garbage, 1_100).is_none(), "{garbage:.10}");
        }
    }

    #[test]
    fn a_csrf_token_matches_only_its_own_cookie() {
        let sessions = BrowserSessions::from_cluster_secret(b"cluster secret");
        let cookie = BrowserSessions::new_csrf_cookie().unwrap();
        let token = sessions.csrf_token(&cookie);
        assert!(sessions.csrf_matches(&cookie, &token));
        let other = BrowserSessions::new_csrf_cookie().unwrap();
        assert!(!sessions.csrf_matches(&other, &token));
        assert!(!sessions.csrf_matches(&cookie, ""));
        assert!(!sessions.csrf_matches("", &sessions.csrf_token("")));
    }
}
