//! Cluster tests: three `StateNode`s in one process, each with its own data directory
//! and a real loopback Raft listener. Split by topic; helpers in `support`.

mod support;

mod authentication;
mod codes;
mod failover;
mod formation;
mod purge;
mod reads;
mod redemption;
mod restart;

use ostium_state::command::{IssueRefreshToken, RedeemRefreshToken, RevokeToken};
use ostium_state::{FamilyId, StateCommand, TokenDigest, TokenExpiration, TokenUsage};

pub const T0: u64 = 1_800_000_000;

pub fn issue(family: &str, handle: &str) -> StateCommand {
    StateCommand::IssueRefreshToken(IssueRefreshToken {
        family: FamilyId(family.into()),
        digest: TokenDigest::of_handle(handle),
        client_id: "app".into(),
        subject: "alice".into(),
        scope: "openid offline_access".into(),
        audiences: vec!["api".into()],
        usage: TokenUsage::OneTimeOnly,
        expiration: TokenExpiration::Absolute,
        absolute_expires_at: T0 + 86_400,
        sliding_lifetime: None,
        at: T0,
        auth_time: None,
        amr: None,
    })
}

pub fn redeem(handle: &str, successor: &str, at: u64) -> StateCommand {
    StateCommand::RedeemRefreshToken(RedeemRefreshToken {
        digest: TokenDigest::of_handle(handle),
        client_id: "app".into(),
        successor: TokenDigest::of_handle(successor),
        grace_period: 5,
        at,
    })
}

pub fn revoke(token_id: &str) -> StateCommand {
    StateCommand::RevokeToken(RevokeToken {
        token_id: token_id.into(),
        expires_at: T0 + 3600,
        at: T0,
    })
}
