//! Random identifiers: token ids (`jti`) and, later, opaque handles.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::TokenError;

/// `N` random bytes from the system CSPRNG, base64url-encoded without padding.
pub fn random_id<const N: usize>() -> Result<String, TokenError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TokenError::Crypto)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_sized() {
        let a = random_id::<16>().unwrap();
        let b = random_id::<16>().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
    }
}
