//! A browser as the server sees one, over plain HTTP: it keeps the cookies the
//! server sets, follows nothing by itself (each redirect is the test's to look
//! at), and fills in the login and consent forms the way a person's browser posts
//! them. For the negative and cluster tests; the pages themselves are driven by a
//! real Chromium in `tests/js/browser.test.mjs`.

use std::collections::BTreeMap;

use reqwest::blocking::{Client, Response};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

/// One browser: its cookies, sent to every node alike (they share an issuer's
/// cookies, as nodes behind one load balancer do).
pub struct Browser {
    http: Client,
    cookies: BTreeMap<String, String>,
}

/// A page or redirect the browser got.
pub struct Visit {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self::with(Client::builder())
    }

    /// A browser whose connections come from `address` (a loopback address other
    /// than 127.0.0.1 is another client to the node's per-address limits).
    pub fn from_address(address: std::net::IpAddr) -> Self {
        Self::with(Client::builder().local_address(address))
    }

    fn with(builder: reqwest::blocking::ClientBuilder) -> Self {
        Self {
            http: builder
                .redirect(Policy::none())
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            cookies: BTreeMap::new(),
        }
    }

    pub fn get(&mut self, url: &str) -> Visit {
        let request = self.http.get(url);
        self.send(request)
    }

    pub fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Visit {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        self.send(request)
    }

    fn send(&mut self, request: reqwest::blocking::RequestBuilder) -> Visit {
        let cookie = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = match cookie.is_empty() {
            true => request,
            false => request.header(COOKIE, cookie),
        };
        self.take(request.send().expect("the node answers"))
    }

    fn take(&mut self, response: Response) -> Visit {
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().expect("an ASCII Set-Cookie");
            let pair = set.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            if set.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().expect("an ASCII Location").to_owned());
        Visit {
            status,
            location,
            headers: response.headers().clone(),
            body: response.text().unwrap_or_default(),
        }
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }

    /// Forgets every cookie, as a fresh browser profile.
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    /// Follows same-server redirects from `url` (relative ones against `origin`)
    /// until one leaves for another host, or a page is shown.
    pub fn follow(&mut self, origin: &str, url: &str) -> Visit {
        let mut visit = self.get(url);
        while let Some(next) = visit.location.clone() {
            if next.starts_with('/') {
                visit = self.get(&format!("{origin}{next}"));
            } else if next.starts_with(origin) {
                visit = self.get(&next);
            } else {
                break;
            }
        }
        visit
    }

    /// Starts the authorization request `url` at `origin` and signs in on the login
    /// page it leads to; answers the consent page with `allow` if one is shown.
    /// Returns the redirect to the client (its `Location`).
    pub fn sign_in(
        &mut self,
        origin: &str,
        url: &str,
        username: &str,
        password: &str,
        allow: bool,
    ) -> String {
        let page = self.follow(origin, url);
        assert_eq!(page.status, 200, "the login page: {}", page.body);
        let signed_in = self.submit(
            origin,
            "/account/login",
            &page.body,
            &[("username", username), ("password", password)],
        );
        let location = signed_in
            .location
            .unwrap_or_else(|| panic!("signed in: {}", signed_in.body));
        let next = self.follow(origin, &format!("{origin}{location}"));
        match next.location {
            Some(client) => client,
            None => self.consent(origin, &next.body, allow),
        }
    }

    /// Answers the consent page `page`; returns the redirect to the client.
    pub fn consent(&mut self, origin: &str, page: &str, allow: bool) -> String {
        assert!(page.contains("Allow access?"), "the consent page: {page}");
        let decision = if allow { "allow" } else { "deny" };
        let answered = self.submit(origin, "/consent", page, &[("decision", decision)]);
        answered
            .location
            .unwrap_or_else(|| panic!("consent answered: {}", answered.body))
    }

    /// Posts the form on `page` to `action` with its hidden fields and `fields`.
    pub fn submit(
        &mut self,
        origin: &str,
        action: &str,
        page: &str,
        fields: &[(&str, &str)],
    ) -> Visit {
        let hidden = ["csrf", "return_url"].map(|name| hidden_field(page, name));
        let mut form: Vec<(&str, &str)> = vec![
            ("csrf", hidden[0].as_deref().unwrap_or_default()),
            ("return_url", hidden[1].as_deref().unwrap_or_default()),
        ];
        form.extend_from_slice(fields);
        self.post(&format!("{origin}{action}"), &form)
    }
}

/// The value of the hidden input `name` on `page`, HTML entities decoded.
pub fn hidden_field(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = start + page[start..].find('"')?;
    Some(unescape(&page[start..end]))
}

/// Undoes askama's HTML escaping of an attribute value.
fn unescape(value: &str) -> String {
    value
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
}

/// The query (or fragment) parameter `name` of a URL the server sent a browser to.
pub fn parameter(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).expect("an absolute URL");
    let query = url.query().unwrap_or_default().to_owned();
    let fragment = url.fragment().unwrap_or_default().to_owned();
    form_urlencoded::parse(query.as_bytes())
        .chain(form_urlencoded::parse(fragment.as_bytes()))
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// A PKCE pair (RFC 7636): a verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    use aws_lc_rs::{digest, rand};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes: [u8; 32] = rand::generate(&rand::SystemRandom::new())
        .expect("random bytes")
        .expose();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    (verifier, challenge)
}
