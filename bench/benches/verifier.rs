//! The verifier alone: checking one RFC 9068 access token this server signed
//! (signature, `typ`, claims, issuer), which every introspection of a JWT does. It
//! is the ceiling of the introspection endpoint on one core, as the signer is of the
//! token endpoint.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ostium_tokens::{
    AccessTokenGrant, AccessTokenStrategy, JwtAccessTokens, KeyRing, SigningAlgorithm, SigningKey,
};

fn verifier(c: &mut Criterion) {
    let mut group = c.benchmark_group("verifier");
    let audiences = vec!["urn:orders".to_owned()];
    for algorithm in SigningAlgorithm::ALL {
        let (key, _) = SigningKey::generate(algorithm).expect("generate a key");
        let tokens = JwtAccessTokens::new(
            "https://id.example.com",
            Arc::new(KeyRing::new(key, vec![])),
        );
        let token = tokens
            .issue(&AccessTokenGrant {
                client_id: "billing-worker",
                subject: None,
                scope: "orders.read",
                audiences: &audiences,
                issued_at: 1_795_686_957,
                lifetime: 3600,
                auth_time: None,
                amr: None,
            })
            .expect("issue");
        assert!(tokens.decode(&token).is_some(), "the token verifies");
        group.bench_function(format!("{}_access_token", algorithm.name()), |b| {
            b.iter(|| tokens.decode(black_box(&token)).expect("verify"))
        });
    }
    group.finish();
}

criterion_group!(benches, verifier);
criterion_main!(benches);
