//! The signer alone: one JWS signature per algorithm over a typical access-token
//! signing input, and a whole RFC 9068 access token (claims, encoding, signature).
//! `bench/run-token-bench.sh` reads the medians of group `signer` and compares the
//! token endpoint against them.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ostium_tokens::{AccessTokenStrategy, JwtAccessTokens, KeyRing, SigningAlgorithm, SigningKey};

mod common;
use common::{ISSUER, client_credentials_grant};

/// About the size of a client-credentials token's `header.payload`.
const SIGNING_INPUT: &[u8] = b"eyJhbGciOiJFUzI1NiIsImtpZCI6IjBmcTV6c2RRaXJLakppc2ZNM0RiS0RVNlc5d2tyalRpRGlFZU1kQm5vSEUiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAiLCJleHAiOjE3OTU2OTA1NTcsImF1ZCI6InVybjpkZW1vIiwic3ViIjoiZGVtby1tYWNoaW5lIiwiY2xpZW50X2lkIjoiZGVtby1tYWNoaW5lIiwiaWF0IjoxNzk1Njg2OTU3LCJuYmYiOjE3OTU2ODY5NTcsImp0aSI6InZhcjMzV29MY1lWWkNZYll3eDBKU2ciLCJzY29wZSI6ImRlbW8uYXBpIn0";

fn signer(c: &mut Criterion) {
    let mut group = c.benchmark_group("signer");
    for algorithm in SigningAlgorithm::ALL {
        let (key, _) = SigningKey::generate(algorithm).expect("generate a key");
        group.bench_function(algorithm.name(), |b| {
            b.iter(|| key.sign(black_box(SIGNING_INPUT)).expect("sign"))
        });
    }

    let (key, _) = SigningKey::generate(SigningAlgorithm::ES256).expect("generate a key");
    let tokens = JwtAccessTokens::new(ISSUER, Arc::new(KeyRing::new(key, vec![])));
    let audiences = vec!["urn:orders".to_owned()];
    group.bench_function("ES256_access_token", |b| {
        b.iter(|| {
            tokens
                .issue(black_box(&client_credentials_grant(&audiences)))
                .expect("issue")
        })
    });
    group.finish();
}

criterion_group!(benches, signer);
criterion_main!(benches);
