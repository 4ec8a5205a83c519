//! The JWS algorithms Ostium signs with (RFC 7518 §3, RFC 8037 for EdDSA).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A signing algorithm, named as in the JWS `alg` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA on P-256 with SHA-256: small, fast, the default.
    #[default]
    ES256,
    /// Ed25519.
    EdDSA,
    /// RSASSA-PSS with SHA-256, 2048-bit keys.
    PS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys; for verifiers that know nothing else.
    RS256,
}

impl SigningAlgorithm {
    pub const ALL: [Self; 4] = [Self::ES256, Self::EdDSA, Self::PS256, Self::RS256];

    pub fn name(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::PS256 => "PS256",
            Self::RS256 => "RS256",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
