//! What the criterion benches share: the access token they sign and verify, shaped
//! like a client-credentials token for one API.

use ostium_tokens::AccessTokenGrant;

pub const ISSUER: &str = "https://id.example.com";

/// A client-credentials grant for the API resources `audiences`.
pub fn client_credentials_grant(audiences: &[String]) -> AccessTokenGrant<'_> {
    AccessTokenGrant {
        client_id: "billing-worker",
        subject: None,
        scope: "orders.read",
        audiences,
        issued_at: 1_795_686_957,
        lifetime: 3600,
        auth_time: None,
        amr: None,
        family: None,
    }
}
