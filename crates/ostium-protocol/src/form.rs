//! Form-encoded request parameters (`application/x-www-form-urlencoded`).
//!
//! RFC 6749 §3.2 says parameters sent without a value are treated as omitted and
//! that request parameters must not be included more than once. [`Form`] applies
//! both rules while parsing (a parameter sent twice is refused even when one copy is
//! empty), so a grant never has to ask which of two `scope` values the client meant.
//! The encoding is UTF-8 (RFC 6749 Appendix B): bytes that do not decode as UTF-8
//! are refused, never replaced, so two different secrets cannot read as one.

use std::borrow::Cow;

use crate::error::OAuthError;

/// The largest number of parameters a request may carry; more is hostile, not useful.
const MAX_PARAMS: usize = 64;

/// Parsed parameters, in the order they were sent, each name at most once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form {
    /// Empty values are kept, so that a repeated parameter is noticed, but never
    /// returned.
    params: Vec<(String, String)>,
}

impl Form {
    /// Parses a form body. A repeated parameter is `invalid_request` naming it, and so
    /// is a name or value that is not UTF-8 once percent-decoded.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in body.split(|b| *b == b'&').filter(|pair| !pair.is_empty()) {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            if params.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{}` was sent more than once",
                    printable(&name)
                )));
            }
            if params.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            params.push((name, decode(value)?));
        }
        Ok(Self { params })
    }

    /// The value of `name`, if it was sent with a non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or `invalid_request` saying it is missing.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{name}`")))
    }

    /// The same parameters less `name`: an authorization request sent on from the
    /// login page without the `prompt` it has answered.
    pub fn without(&self, name: &str) -> Self {
        Self {
            params: self
                .params
                .iter()
                .filter(|(n, _)| n != name)
                .cloned()
                .collect(),
        }
    }

    /// The parameters with a value, form-encoded again: parsing the result gives
    /// the same form.
    pub fn encode(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.params.iter().filter(|(_, v)| !v.is_empty()))
            .finish()
    }
}

/// Decodes one name or value: `+` is a space, `%XX` a byte, and the bytes must be
/// UTF-8. A `%` not followed by two hex digits stays as it is, as browsers send it.
pub(crate) fn decode(component: &[u8]) -> Result<String, OAuthError> {
    let plus_as_space: Cow<'_, [u8]> = if component.contains(&b'+') {
        Cow::Owned(
            component
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(component)
    };
    let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode(&plus_as_space).into();
    String::from_utf8(bytes.into_owned())
        .map_err(|_| OAuthError::invalid_request("the request is not UTF-8 once percent-decoded"))
}

/// A parameter name made safe to echo back: at most 40 visible ASCII characters.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn parses_and_decodes() {
        let form = Form::parse(b"grant_type=client_credentials&scope=a%20b+c").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("a b c"));
        assert_eq!(form.get("missing"), None);
        let utf8 = Form::parse("name=%C3%A9t%C3%A9&raw=été".as_bytes()).unwrap();
        assert_eq!(utf8.get("name"), Some("été"));
        assert_eq!(utf8.get("raw"), Some("été"));
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let form = Form::parse(b"scope=&grant_type=password&flag").unwrap();
        assert_eq!(form.get("scope"), None);
        assert_eq!(form.get("flag"), None);
        assert_eq!(form.get("grant_type"), Some("password"));
    }

    #[test]
    fn repeated_parameter_is_invalid_request_even_when_a_copy_is_empty() {
        for body in [
            &b"scope=a&scope=b"[..],
            b"grant_type=&grant_type=client_credentials",
            b"scope=a&scope=",
            b"scope&scope=a",
        ] {
            let err = Form::parse(body).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest);
            assert!(err.description.contains("sent more than once"), "{err:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_not_replaced() {
        for body in [
            &b"client_secret=a%FFb"[..],
            b"client_secret=a%FEb",
            b"client_secret=a%80b",
            b"client_secret=a\xffb",
            b"na%FFme=x",
        ] {
            let err = Form::parse(body).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{body:?}");
        }
    }

    #[test]
    fn too_many_parameters_is_invalid_request() {
        let body: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=v&")).collect();
        assert_eq!(
            Form::parse(body.as_bytes()).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn require_names_the_missing_parameter() {
        let err = Form::default().require("grant_type").unwrap_err();
        assert_eq!(err.description, "missing parameter `grant_type`");
    }

    proptest! {
        #[test]
        fn no_body_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Form::parse(&body);
        }

        #[test]
        fn parse_encode_parse_is_stable(
            pairs in proptest::collection::vec(("[a-z_]{1,12}", "\\PC{0,24}"), 0..12)
        ) {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish();
            if let Ok(form) = Form::parse(body.as_bytes()) {
                let again = Form::parse(form.encode().as_bytes()).unwrap();
                prop_assert_eq!(again.encode(), form.encode());
                for (name, value) in &pairs {
                    if !value.is_empty() {
                        prop_assert_eq!(form.get(name), Some(value.as_str()));
                    }
                }
            }
        }
    }
}
