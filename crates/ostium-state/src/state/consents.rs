//! Consents: what a user allowed a client, remembered so that the authorization
//! endpoint asks only for scopes not allowed yet (OpenID Connect Core §3.1.2.4). One
//! consent per user and client; a new one replaces it. Not in the hot cache: it is
//! read once per authorization request, with a read that sees every acknowledged
//! write, so a withdrawn consent is never taken as given.

use super::expiry::{Due, Expiry, Kind};
use super::tables::{self, Result, Table, Writable, composite};
use crate::command::{ForgetConsent, RememberConsent, StateResponse};
use crate::record::ConsentRecord;

pub struct Consents<T> {
    /// composite(subject, client) → what the subject allowed the client. By subject
    /// first, so that a user's consents go together when the user does.
    consents: Table<T, [u8], ConsentRecord>,
}

fn key(subject: &str, client_id: &str) -> Vec<u8> {
    composite(&[subject.as_bytes(), client_id.as_bytes()])
}

impl<T> Consents<T> {
    pub(super) fn new(consents: T) -> Self {
        Self {
            consents: Table::new(consents, tables::CONSENTS),
        }
    }
}

impl Consents<Writable<'_>> {
    pub(super) fn remember(
        &mut self,
        c: &RememberConsent,
        expiry_index: &mut Expiry<Writable<'_>>,
    ) -> Result<StateResponse> {
        let consent = ConsentRecord {
            scopes: c.scopes.clone(),
            granted_at: c.at,
            expires_at: c.expires_at,
        };
        let key = key(&c.subject, &c.client_id);
        // One that expired already still replaces the earlier consent: the user's
        // last answer is what counts.
        if consent.is_live(c.at) {
            if let Some(expires_at) = consent.expires_at {
                expiry_index.add(expires_at, Kind::Consent, &key)?;
            }
            self.consents.insert(&key, &consent)?;
        } else {
            self.consents.remove(&key)?;
        }
        Ok(StateResponse::Issued)
    }

    pub(super) fn forget(&mut self, c: &ForgetConsent) -> Result<StateResponse> {
        self.consents.remove(&key(&c.subject, &c.client_id))?;
        Ok(StateResponse::Revoked)
    }

    /// Forgets every consent `subject` gave.
    pub(super) fn forget_subject(&mut self, subject: &str) -> Result<()> {
        self.consents
            .remove_prefix(&composite(&[subject.as_bytes()]))
            .map(drop)
    }

    /// Forgets every consent given to `client_id`. Walks every consent: a client is
    /// removed rarely, and an index by client would cost every consent a second key.
    pub(super) fn forget_client(&mut self, client_id: &str) -> Result<()> {
        let mut keys = Vec::new();
        self.consents.scan(|key, _| {
            if let [_, client] = tables::parts(key)[..]
                && client == client_id.as_bytes()
            {
                keys.push(key.to_vec());
            }
            Ok(true)
        })?;
        for key in keys {
            self.consents.remove(&key)?;
        }
        Ok(())
    }

    /// Drops the consent `due` names if it has expired by `at`; whether it went.
    pub(super) fn purge(&mut self, due: &Due, at: u64) -> Result<bool> {
        match self.consents.get(&due.key)? {
            Some(consent) if !consent.is_live(at) => self.consents.remove(&due.key),
            _ => Ok(false),
        }
    }
}

impl<T: redb::ReadableTable<&'static [u8], &'static [u8]>> Consents<T> {
    /// What `subject` allowed `client_id`, if that is still in force at `now`.
    pub fn granted(
        &self,
        subject: &str,
        client_id: &str,
        now: u64,
    ) -> Result<Option<ConsentRecord>> {
        Ok(self
            .consents
            .get(&key(subject, client_id))?
            .filter(|consent| consent.is_live(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Purge, RevokeClient, RevokeSubject, StateCommand};
    use crate::state::TestState;

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

    fn scopes(state: &TestState, subject: &str, client: &str, now: u64) -> Option<Vec<String>> {
        state
            .read(|s| s.consents().granted(subject, client, now))
            .map(|consent| consent.scopes)
    }

    #[test]
    fn a_consent_is_remembered_replaced_and_forgotten() {
        let mut state = TestState::default();
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
        assert!(state.holds_nothing());
    }

    #[test]
    fn an_expired_answer_replaces_the_earlier_consent_too() {
        let mut state = TestState::default();
        state.apply(&remember("alice", "app", &["openid"], None));
        state.apply(&remember("alice", "app", &["openid"], Some(T0)));
        assert!(state.holds_nothing());
    }

    #[test]
    fn consents_go_at_their_expiry_and_with_their_user_or_client() {
        let mut state = TestState::default();
        state.apply(&remember("alice", "app", &["a"], Some(T0 + 10)));
        state.apply(&remember("alice", "other", &["b"], None));
        state.apply(&remember("bob", "app", &["c"], None));
        assert_eq!(
            state.apply(&StateCommand::Purge(Purge {
                at: T0 + 10,
                limit: None
            })),
            StateResponse::Purged { removed: 1 }
        );
        assert_eq!(
            scopes(&state, "alice", "other", T0 + 10),
            Some(vec!["b".to_owned()])
        );

        let before = state.through_snapshot();
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
        let mut state = TestState::default();
        state.apply(&remember("alice", "app", &["openid"], Some(T0 + 10)));
        state.apply(&remember("bob", "app", &["openid", "email"], None));
        let restored = state.through_snapshot();
        assert_eq!(restored.dump(), state.dump());
        assert_eq!(
            scopes(&restored, "bob", "app", T0 + 11),
            Some(vec!["openid".to_owned(), "email".to_owned()])
        );
    }
}
