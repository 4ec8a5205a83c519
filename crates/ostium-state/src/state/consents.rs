//! Consents: what a user allowed a client, remembered so that the authorization
//! endpoint asks only for scopes not allowed yet (OpenID Connect Core §3.1.2.4). One
//! consent per user and client; a new one replaces it. Not in the hot cache: it is
//! read once per authorization request, with a read that sees every acknowledged
//! write, so a withdrawn consent is never taken as given.

use std::collections::BTreeMap;

use crate::command::{ForgetConsent, RememberConsent, StateResponse};
use crate::record::ConsentRecord;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consents {
    /// Subject → client → what the subject allowed it. By subject first, so that a
    /// user's consents go together when the user does.
    pub(super) consents: BTreeMap<String, BTreeMap<String, ConsentRecord>>,
}

impl Consents {
    pub(super) fn remember(&mut self, c: &RememberConsent) -> StateResponse {
        let consent = ConsentRecord {
            scopes: c.scopes.clone(),
            granted_at: c.at,
            expires_at: c.expires_at,
        };
        // One that expired already still replaces the earlier consent: the user's
        // last answer is what counts.
        if consent.is_live(c.at) {
            self.consents
                .entry(c.subject.clone())
                .or_default()
                .insert(c.client_id.clone(), consent);
        } else {
            self.remove(&c.subject, &c.client_id);
        }
        StateResponse::Issued
    }

    pub(super) fn forget(&mut self, c: &ForgetConsent) -> StateResponse {
        self.remove(&c.subject, &c.client_id);
        StateResponse::Revoked
    }

    fn remove(&mut self, subject: &str, client_id: &str) {
        if let Some(clients) = self.consents.get_mut(subject) {
            clients.remove(client_id);
            if clients.is_empty() {
                self.consents.remove(subject);
            }
        }
    }

    /// Forgets every consent `subject` gave.
    pub(super) fn forget_subject(&mut self, subject: &str) {
        self.consents.remove(subject);
    }

    /// Forgets every consent given to `client_id`.
    pub(super) fn forget_client(&mut self, client_id: &str) {
        self.consents.retain(|_, clients| {
            clients.remove(client_id);
            !clients.is_empty()
        });
    }

    /// Drops what expired by `at`; returns how many entries went.
    pub(super) fn purge(&mut self, at: u64) -> usize {
        let before = self.len();
        self.consents.retain(|_, clients| {
            clients.retain(|_, consent| consent.is_live(at));
            !clients.is_empty()
        });
        before - self.len()
    }

    pub(super) fn len(&self) -> usize {
        self.consents.values().map(BTreeMap::len).sum()
    }

    /// What `subject` allowed `client_id`, if that is still in force at `now`.
    pub fn granted(&self, subject: &str, client_id: &str, now: u64) -> Option<&ConsentRecord> {
        self.consents
            .get(subject)?
            .get(client_id)
            .filter(|consent| consent.is_live(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Purge, RevokeClient, RevokeSubject, StateCommand};
    use crate::state::State;

    const T0: u64 = 1_800_000_000;

    fn remember(
        subject: &str,
        client: &str,
        scopes: &[&str],
        expires_at: Option<u64>,
    ) -> StateCommand {
        StateCommand::RememberConsent(RememberConsent {
            subject: subject.into(),
            client_id: client.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expires_at,
            at: T0,
        })
    }

    fn scopes(state: &State, subject: &str, client: &str, now: u64) -> Option<Vec<String>> {
        state
            .consents()
            .granted(subject, client, now)
            .map(|consent| consent.scopes.clone())
    }

    #[test]
    fn a_consent_is_remembered_replaced_and_forgotten() {
        let mut state = State::default();
        assert_eq!(scopes(&state, "alice", "app", T0), None);
        assert_eq!(
            state.apply(&remember("alice", "app", &["openid"], None)),
            StateResponse::Issued
        );
        assert_eq!(
            scopes(&state, "alice", "app", T0 + 1),
            Some(vec!["openid".to_owned()])
        );
        // A new answer replaces the earlier one, narrower or wider.
        state.apply(&remember(
            "alice",
            "app",
            &["openid", "email"],
            Some(T0 + 100),
        ));
        assert_eq!(
            scopes(&state, "alice", "app", T0 + 99),
            Some(vec!["openid".to_owned(), "email".to_owned()])
        );
        assert_eq!(scopes(&state, "alice", "app", T0 + 100), None);
        assert_eq!(scopes(&state, "alice", "other", T0), None);
        assert_eq!(scopes(&state, "bob", "app", T0), None);

        let forget = StateCommand::ForgetConsent(ForgetConsent {
            subject: "alice".into(),
            client_id: "app".into(),
            at: T0 + 2,
        });
        assert_eq!(state.apply(&forget), StateResponse::Revoked);
        assert_eq!(scopes(&state, "alice", "app", T0 + 3), None);
        assert_eq!(state.apply(&forget), StateResponse::Revoked);
        assert_eq!(state, State::default());
    }

    #[test]
    fn an_expired_answer_replaces_the_earlier_consent_too() {
        let mut state = State::default();
        state.apply(&remember("alice", "app", &["openid"], None));
        state.apply(&remember("alice", "app", &["openid"], Some(T0)));
        assert_eq!(state, State::default());
    }

    #[test]
    fn consents_go_at_their_expiry_and_with_their_user_or_client() {
        let mut state = State::default();
        state.apply(&remember("alice", "app", &["a"], Some(T0 + 10)));
        state.apply(&remember("alice", "other", &["b"], None));
        state.apply(&remember("bob", "app", &["c"], None));
        assert_eq!(
            state.apply(&StateCommand::Purge(Purge { at: T0 + 10 })),
            StateResponse::Purged { removed: 1 }
        );
        assert_eq!(
            scopes(&state, "alice", "other", T0 + 10),
            Some(vec!["b".to_owned()])
        );

        let before = state.clone();
        state.apply(&StateCommand::RevokeSubject(RevokeSubject {
            subject: "alice".into(),
            at: T0 + 11,
        }));
        assert_eq!(scopes(&state, "alice", "other", T0 + 11), None);
        assert_eq!(
            scopes(&state, "bob", "app", T0 + 11),
            Some(vec!["c".to_owned()])
        );

        let mut state = before;
        state.apply(&StateCommand::RevokeClient(RevokeClient {
            client_id: "app".into(),
            at: T0 + 11,
        }));
        assert_eq!(scopes(&state, "bob", "app", T0 + 11), None);
        assert_eq!(
            scopes(&state, "alice", "other", T0 + 11),
            Some(vec!["b".to_owned()])
        );
    }

    #[test]
    fn consents_survive_a_snapshot() {
        let mut state = State::default();
        state.apply(&remember("alice", "app", &["openid"], Some(T0 + 10)));
        state.apply(&remember("bob", "app", &["openid", "email"], None));
        let bytes = serde_json::to_vec(&state).unwrap();
        let restored: State = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(restored, state);
    }
}
