//! Checks of the cache's API that several tests repeat (before and after an outage,
//! in two namespaces, from two runtimes).

use ostium_state::cache::CacheWrite;
use ostium_state::{Denial, FamilyId, HotCache, Watermark};

use crate::{d, live_refresh, now, promptly, reference};

pub const MARK: Watermark = Watermark {
    applied_index: 7,
    at_millis: 1,
};

/// Writes a record of each kind and a denial under `tag`, vouches for the cache, and
/// reads them back as an edge would.
pub async fn works(cache: &HotCache, tag: &str) {
    let exp = now() + 600;
    let rt = live_refresh(&format!("{tag}-rt"), exp);
    let rf = reference(&format!("{tag}-ref"), exp);
    cache
        .write(&[
            CacheWrite::Refresh(rt.clone()),
            CacheWrite::Reference(rf.clone()),
            CacheWrite::Deny {
                denial: Denial::Token(tag.into()),
                until: exp,
            },
        ])
        .await
        .unwrap();
    cache.create_watermark(MARK).await.unwrap();
    let facts = cache
        .facts(&rt.digest, now())
        .await
        .expect("a cached refresh token");
    assert_eq!(facts.refresh, Some(rt));
    assert!(facts.refresh_live);
    let facts = cache
        .facts(&rf.digest, now())
        .await
        .expect("a cached reference token");
    assert_eq!(facts.reference, Some(rf));
    assert_eq!(
        cache.is_denied(&Denial::Token(tag.into())).await,
        Some(true)
    );
    assert_eq!(
        cache
            .is_denied(&Denial::Family(FamilyId(format!("{tag}-no-such-family"))))
            .await,
        Some(false)
    );
    assert_eq!(cache.watermark().await, Some(MARK));
}

/// What an edge may conclude, with and without the watermark.
pub async fn answers_only_under_the_watermark(cache: &HotCache) {
    let exp = now() + 600;
    let rt = live_refresh("rt", exp);
    cache
        .write(&[CacheWrite::Refresh(rt.clone())])
        .await
        .unwrap();
    // No watermark: a denial that is present is still an answer, an absent one is not,
    // and records are not trusted at all.
    cache
        .write(&[CacheWrite::Deny {
            denial: Denial::Token("revoked".into()),
            until: exp,
        }])
        .await
        .unwrap();
    assert_eq!(
        cache.is_denied(&Denial::Token("revoked".into())).await,
        Some(true)
    );
    assert_eq!(cache.is_denied(&Denial::Token("other".into())).await, None);
    assert_eq!(cache.facts(&rt.digest, now()).await, None);

    cache.create_watermark(MARK).await.unwrap();
    assert_eq!(
        cache.is_denied(&Denial::Token("other".into())).await,
        Some(false)
    );
    assert!(cache.facts(&rt.digest, now()).await.unwrap().refresh_live);
    // A miss is not an answer even under the watermark: the edge asks a core.
    assert_eq!(cache.facts(&d("never-cached"), now()).await, None);

    // A spent token and a revoked family are not live, whatever the record says.
    cache
        .write(&[CacheWrite::Deny {
            denial: Denial::Spent(rt.digest),
            until: exp,
        }])
        .await
        .unwrap();
    let facts = cache.facts(&rt.digest, now()).await.unwrap();
    assert!(!facts.refresh_live);
    let other = live_refresh("rt-2", exp);
    cache
        .write(&[
            CacheWrite::Refresh(other.clone()),
            CacheWrite::Deny {
                denial: Denial::Family(other.family.clone()),
                until: exp,
            },
        ])
        .await
        .unwrap();
    assert!(
        !cache
            .facts(&other.digest, now())
            .await
            .unwrap()
            .refresh_live
    );
    // An expired token is not live either.
    assert!(
        !cache
            .facts(&other.digest, exp + 1)
            .await
            .unwrap()
            .refresh_live
    );

    // A revoked reference token is forgotten and denied.
    let rf = reference("ref", exp);
    cache
        .write(&[CacheWrite::Reference(rf.clone())])
        .await
        .unwrap();
    assert_eq!(
        cache.facts(&rf.digest, now()).await.unwrap().reference,
        Some(rf.clone())
    );
    cache
        .write(&[
            CacheWrite::ForgetReference(rf.digest),
            CacheWrite::Deny {
                denial: Denial::Reference(rf.digest),
                until: exp,
            },
        ])
        .await
        .unwrap();
    assert_eq!(cache.facts(&rf.digest, now()).await, None);
    // Even if a stale copy of the record comes back (a late fill), the denial wins.
    cache
        .fill(&CacheWrite::Reference(rf.clone()))
        .await
        .unwrap();
    assert_eq!(
        cache.facts(&rf.digest, now()).await.unwrap().reference,
        None
    );
}

/// With Redis unreachable, an edge is told "unknown" (ask a core) and the leader
/// cannot vouch for the cache; each call gives up instead of hanging.
pub async fn cannot_answer(cache: &HotCache) {
    assert_eq!(
        promptly("facts", cache.facts(&d("up-rt"), now())).await,
        None
    );
    assert_eq!(
        promptly("is_denied", cache.is_denied(&Denial::Token("up".into()))).await,
        None
    );
    assert!(
        promptly("renew", cache.renew_watermark(MARK))
            .await
            .is_err()
    );
}

/// Records and denials that have expired are not written at all.
pub async fn expired_entries_are_not_written(cache: &HotCache) {
    let past = now() - 1;
    cache
        .write(&[
            CacheWrite::Refresh(live_refresh("old-rt", past)),
            CacheWrite::Reference(reference("old-ref", past)),
            CacheWrite::Deny {
                denial: Denial::Token("old".into()),
                until: past,
            },
        ])
        .await
        .unwrap();
    assert_eq!(cache.stats().writes, 0);
}
