//! The verifier alone: checking one RFC 9068 access token this server signed
//! (signature, `typ`, claims, issuer), which every introspection of a JWT does the
//! first time it meets the token. It is the ceiling of the introspection endpoint on
//! one core for tokens seen once, as the signer is of the token endpoint. A token
//! seen before is remembered as verified; that path is measured beside it.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ostium_tokens::{AccessTokenStrategy, JwtAccessTokens, KeyRing, SigningAlgorithm, SigningKey};

mod common;
use common::{ISSUER, client_credentials_grant};

fn verifier(c: &mut Criterion) {
    let mut group = c.benchmark_group("verifier");
    let audiences = vec!["urn:orders".to_owned()];
    for algorithm in SigningAlgorithm::ALL {
        let (key, _) = SigningKey::generate(algorithm).expect("generate a key");
        let ring = Arc::new(KeyRing::new(key, vec![]));
        let tokens = JwtAccessTokens::new(ISSUER, ring.clone());
        let token = tokens
            .issue(&client_credentials_grant(&audiences))
            .expect("issue");
        assert!(tokens.decode(&token).is_some(), "the token verifies");
        // A verifier that has not seen the token yet, for every iteration.
        group.bench_function(format!("{}_access_token", algorithm.name()), |b| {
            b.iter_batched(
                || JwtAccessTokens::new(ISSUER, ring.clone()),
                |fresh| fresh.decode(black_box(&token)).expect("verify"),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(
            format!("{}_access_token_seen_before", algorithm.name()),
            |b| b.iter(|| tokens.decode(black_box(&token)).expect("verify")),
        );
    }
    group.finish();
}

criterion_group!(benches, verifier);
criterion_main!(benches);
