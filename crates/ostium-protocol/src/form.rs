//! Form-encoded request parameters (`application/x-www-form-urlencoded`).
//!
//! RFC 6749 §3.2 says parameters sent without a value are treated as omitted and
//! that request parameters must not be included more than once. [`Form`] applies
//! both rules while parsing, so a grant never has to ask which of two `scope`
//! values the client meant.

use crate::error::OAuthError;

/// The largest number of parameters a request may carry; more is hostile, not useful.
const MAX_PARAMS: usize = 64;

/// Parsed parameters, in the order they were sent, each name at most once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    /// Parses a form body. A repeated parameter is `invalid_request` naming it.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if params.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{}` was sent more than once",
                    printable(&name)
                )));
            }
            if params.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            params.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self { params })
    }

    /// The value of `name`, if it was sent with a non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or `invalid_request` saying it is missing.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{name}`")))
    }
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
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn parses_and_decodes() {
        let form = Form::parse(b"grant_type=client_credentials&scope=a%20b+c").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("a b c"));
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let form = Form::parse(b"scope=&grant_type=password&scope=x").unwrap();
        assert_eq!(form.get("scope"), Some("x"));
    }

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let err = Form::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert!(err.description.contains("scope"));
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
}
