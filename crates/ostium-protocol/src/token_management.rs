//! Requests about an existing token: revocation (RFC 7009) and introspection
//! (RFC 7662). Both name a token and may hint at its type.

use std::fmt;

use crate::error::OAuthError;
use crate::form::Form;

/// Longest token accepted for revocation or introspection; far above any we issue.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// RFC 7009 §2.1 / RFC 7662 §2.1 `token_type_hint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

/// A revocation or introspection request.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenQuery {
    pub token: String,
    /// Only a hint: the server looks further when the token is not of this type.
    pub hint: Option<TokenTypeHint>,
}

/// The token must never reach a log through `{:?}`.
impl fmt::Debug for TokenQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenQuery")
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

impl TokenQuery {
    /// Parses `token` and `token_type_hint`. An unknown hint is ignored, as both
    /// RFCs allow, so that a client using an extension hint is still served.
    pub fn parse(form: &Form) -> Result<Self, OAuthError> {
        let token = form.require("token")?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(OAuthError::invalid_request("token is too long"));
        }
        let hint = match form.get("token_type_hint") {
            Some("access_token") => Some(TokenTypeHint::AccessToken),
            Some("refresh_token") => Some(TokenTypeHint::RefreshToken),
            _ => None,
        };
        Ok(Self {
            token: token.to_owned(),
            hint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn parse(body: &str) -> Result<TokenQuery, OAuthError> {
        TokenQuery::parse(&Form::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn token_is_required() {
        assert_eq!(
            parse("token_type_hint=access_token").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn hints_are_read_and_unknown_ones_ignored() {
        assert_eq!(
            parse("token=a&token_type_hint=refresh_token").unwrap().hint,
            Some(TokenTypeHint::RefreshToken)
        );
        assert_eq!(
            parse("token=a&token_type_hint=access_token").unwrap().hint,
            Some(TokenTypeHint::AccessToken)
        );
        assert_eq!(
            parse("token=a&token_type_hint=device_secret").unwrap().hint,
            None
        );
    }

    #[test]
    fn the_token_is_never_printed() {
        assert!(!format!("{:?}", parse("token=s3cret").unwrap()).contains("s3cret"));
    }

    proptest::proptest! {
        #[test]
        fn no_query_panics_and_the_token_comes_back_as_sent(token in "\\PC{1,200}", hint in "\\PC{0,20}") {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("token", &token)
                .append_pair("token_type_hint", &hint)
                .finish();
            let query = TokenQuery::parse(&Form::parse(body.as_bytes()).unwrap()).unwrap();
            proptest::prop_assert_eq!(query.token, token);
        }
    }
}
