//! Brute-force protection for password logins (RFC 6749 §4.3.2: "the authorization
//! server MUST protect the endpoint against brute force attacks").
//!
//! Before any password is checked:
//! - a username that failed `failures_per_username` times within `window` is
//!   refused until the window ends, and so is a client address that failed
//!   `failures_per_address` times; the counts are shared by every node through the
//!   hot cache when there is one (each node also counts for itself, which is what it
//!   goes by when Redis cannot answer);
//! - one client address (an IPv6 client: its /64) has at most
//!   `concurrent_per_address` checks running and `waiting_per_address` waiting;
//!   more is refused without waiting. A flood from one address then queues behind
//!   itself, never in front of other addresses' logins, and takes at most its share
//!   of the cores that run Argon2.
//!
//! A refused login gets the same answer as a wrong password, so throttling tells an
//! attacker nothing about the account, one second later ([`REFUSAL_DELAY`]), so
//! that a flood of refused guesses arrives no faster than the node answers it
//! cheaply. Failures and refusals are logged with the username and address, never
//! the password.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ostium_state::{HotCache, TokenDigest};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::requester::network_of;

/// How long a refused login waits before it is answered. A client that guesses from
/// many connections at once gets each refusal this late, so that the refusals it
/// draws cost the node little CPU; a real user refused because an attacker locked
/// their account waits a second longer to be told so.
pub const REFUSAL_DELAY: Duration = Duration::from_secs(1);

/// How many failed logins are tolerated, and how many checks may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub failures_per_username: u32,
    pub failures_per_address: u32,
    /// Counting starts at a key's first failure and lasts this long.
    pub window: Duration,
    pub concurrent_per_address: usize,
    pub waiting_per_address: usize,
}

impl Default for LoginLimits {
    /// Five failures per username and fifty per address in five minutes (ASP.NET
    /// Identity's lockout, IdentityServer's default store); half the cores for one
    /// address, so that another address's login always finds one free.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            failures_per_username: 5,
            failures_per_address: 50,
            window: Duration::from_secs(300),
            concurrent_per_address: (cores / 2).max(1),
            waiting_per_address: 32,
        }
    }
}

/// Why a login was refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    Username,
    Address,
    AddressBusy,
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Username => "too many failed logins for this username",
            Self::Address => "too many failed logins from this address",
            Self::AddressBusy => "too many logins in progress from this address",
        })
    }
}

/// Remembered failure counts on this node, by key; bounded, so a flood of made-up
/// usernames cannot grow it without end.
const LOCAL_KEYS: usize = 100_000;

pub struct LoginGuard {
    limits: LoginLimits,
    failures: quick_cache::sync::Cache<String, (Instant, u32)>,
    addresses: Mutex<HashMap<IpAddr, Arc<AddressQueue>>>,
}

/// The checks of one address: running (the semaphore) and waiting.
struct AddressQueue {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// A login's turn to have its password checked; the next one from its address may
/// start once it is dropped. It holds its address's queue too, so that the queue is
/// not forgotten (and a fresh one made for the address) while logins run.
pub struct LoginTurn {
    _running: Option<(OwnedSemaphorePermit, Arc<AddressQueue>)>,
}

impl LoginGuard {
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            failures: quick_cache::sync::Cache::new(LOCAL_KEYS),
            addresses: Mutex::default(),
        }
    }

    pub fn limits(&self) -> &LoginLimits {
        &self.limits
    }

    /// Admits a login for `username` from `address` to its password check, or
    /// refuses it. `cache` shares the failure counts with the other nodes.
    pub async fn admit(
        &self,
        cache: Option<&HotCache>,
        username: &str,
        address: Option<IpAddr>,
    ) -> Result<LoginTurn, Throttled> {
        let address = address.map(network_of);
        if self.failures(cache, &user_key(username)).await >= self.limits.failures_per_username {
            return Err(Throttled::Username);
        }
        let Some(address) = address else {
            return Ok(LoginTurn { _running: None });
        };
        if self.failures(cache, &address_key(address)).await >= self.limits.failures_per_address {
            return Err(Throttled::Address);
        }
        let queue = self.queue(address);
        let (running, waited) = match queue.running.clone().try_acquire_owned() {
            Ok(permit) => (permit, false),
            Err(_) => {
                if queue.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.waiting_per_address {
                    queue.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(Throttled::AddressBusy);
                }
                let running = queue.running.clone().acquire_owned().await;
                queue.waiting.fetch_sub(1, Ordering::SeqCst);
                // The semaphore is never closed, so a permit always comes.
                match running {
                    Ok(permit) => (permit, true),
                    Err(_) => return Err(Throttled::AddressBusy),
                }
            }
        };
        // Guesses that waited together passed the count together: ask again now that
        // this one's turn has come, so that parallel guesses cannot overrun the limit
        // by the length of the queue. A login that did not wait was counted just now.
        if waited
            && self.failures(cache, &user_key(username)).await >= self.limits.failures_per_username
        {
            return Err(Throttled::Username);
        }
        Ok(LoginTurn {
            _running: Some((running, queue)),
        })
    }

    /// Counts a wrong password (or unknown username).
    pub async fn failed(&self, cache: Option<&HotCache>, username: &str, address: Option<IpAddr>) {
        let address = address.map(network_of);
        let keys = std::iter::once(user_key(username)).chain(address.map(address_key));
        for key in keys {
            self.count(&key);
            if let Some(cache) = cache {
                cache.count(&key, self.limits.window).await;
            }
        }
    }

    /// A right password: the username's failures are forgiven (the address's are not).
    pub async fn succeeded(&self, cache: Option<&HotCache>, username: &str) {
        let key = user_key(username);
        self.failures.remove(&key);
        if let Some(cache) = cache {
            cache.reset_count(&key).await;
        }
    }

    /// The failures counted for `key` within the window: the cluster's count, or this
    /// node's when Redis cannot answer (whichever is higher).
    async fn failures(&self, cache: Option<&HotCache>, key: &str) -> u32 {
        let local = self.local(key);
        let shared = match cache {
            Some(cache) => cache.counted(key).await.unwrap_or_default(),
            None => 0,
        };
        local.max(u32::try_from(shared).unwrap_or(u32::MAX))
    }

    fn local(&self, key: &str) -> u32 {
        match self.failures.get(key) {
            Some((started, count)) if started.elapsed() < self.limits.window => count,
            _ => 0,
        }
    }

    fn count(&self, key: &str) {
        let now = Instant::now();
        let counted = match self.failures.get(key) {
            Some((started, count)) if now.duration_since(started) < self.limits.window => {
                (started, count.saturating_add(1))
            }
            _ => (now, 1),
        };
        self.failures.insert(key.to_owned(), counted);
    }

    fn queue(&self, address: IpAddr) -> Arc<AddressQueue> {
        let mut addresses = self
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Forget addresses with nothing running or waiting, so that the map holds only
        // the addresses logging in now.
        if addresses.len() > 1_000 {
            addresses.retain(|_, queue| Arc::strong_count(queue) > 1);
        }
        addresses
            .entry(address)
            .or_insert_with(|| {
                Arc::new(AddressQueue {
                    running: Arc::new(Semaphore::new(self.limits.concurrent_per_address.max(1))),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone()
    }
}

/// Usernames are kept as digests: the counters need no names, and Redis then holds
/// none.
fn user_key(username: &str) -> String {
    format!("login:user:{}", TokenDigest::of_handle(username).to_hex())
}

fn address_key(address: IpAddr) -> String {
    format!("login:addr:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginLimits {
        LoginLimits {
            failures_per_username: 3,
            failures_per_address: 5,
            window: Duration::from_secs(60),
            concurrent_per_address: 1,
            waiting_per_address: 2,
        }
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[tokio::test(start_paused = true)]
    async fn failures_lock_a_username_then_the_window_ends() {
        let guard = LoginGuard::new(limits());
        for _ in 0..3 {
            assert!(guard.admit(None, "alice", ip(1)).await.is_ok());
            guard.failed(None, "alice", ip(1)).await;
        }
        assert!(matches!(
            guard.admit(None, "alice", ip(2)).await,
            Err(Throttled::Username)
        ));
        // Another user from the same address is still let in.
        assert!(guard.admit(None, "bob", ip(1)).await.is_ok());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(guard.admit(None, "alice", ip(1)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_lock_an_address_whatever_the_usernames() {
        let guard = LoginGuard::new(limits());
        for n in 0..5 {
            guard.failed(None, &format!("user-{n}"), ip(1)).await;
        }
        assert!(matches!(
            guard.admit(None, "alice", ip(1)).await,
            Err(Throttled::Address)
        ));
        assert!(guard.admit(None, "alice", ip(2)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_ipv6_client_is_counted_by_its_slash_64() {
        let guard = LoginGuard::new(limits());
        let v6 = |host: u16| Some(IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, host]));
        for n in 0..5 {
            guard.failed(None, &format!("user-{n}"), v6(n + 1)).await;
        }
        assert!(matches!(
            guard.admit(None, "alice", v6(99)).await,
            Err(Throttled::Address)
        ));
        let next_network = Some(IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]));
        assert!(guard.admit(None, "alice", next_network).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_right_password_forgives_the_username() {
        let guard = LoginGuard::new(limits());
        for _ in 0..2 {
            guard.failed(None, "alice", ip(1)).await;
        }
        guard.succeeded(None, "alice").await;
        for _ in 0..2 {
            guard.failed(None, "alice", ip(1)).await;
        }
        assert!(guard.admit(None, "alice", ip(1)).await.is_ok());
    }

    #[tokio::test]
    async fn one_address_queues_behind_itself_and_no_further() {
        let guard = Arc::new(LoginGuard::new(limits()));
        let running = guard.admit(None, "a", ip(1)).await.unwrap();
        // One running; two may wait; the third waiter is refused at once.
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let guard = guard.clone();
                tokio::spawn(async move { guard.admit(None, "a", ip(1)).await.is_ok() })
            })
            .collect();
        tokio::task::yield_now().await;
        while guard.queue(ip(1).unwrap()).waiting.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            guard.admit(None, "a", ip(1)).await,
            Err(Throttled::AddressBusy)
        ));
        // Another address does not wait at all.
        assert!(guard.admit(None, "b", ip(2)).await.is_ok());
        drop(running);
        for waiter in waiting {
            assert!(waiter.await.unwrap());
        }
    }

    #[tokio::test]
    async fn no_waiting_room_still_admits_a_login_with_a_free_turn() {
        let guard = LoginGuard::new(LoginLimits {
            waiting_per_address: 0,
            ..limits()
        });
        let running = guard.admit(None, "a", ip(1)).await.unwrap();
        assert!(matches!(
            guard.admit(None, "a", ip(1)).await,
            Err(Throttled::AddressBusy)
        ));
        drop(running);
        assert!(guard.admit(None, "a", ip(1)).await.is_ok());
    }

    /// Guesses queued together were counted before any of them failed: each is
    /// asked again when its turn comes.
    #[tokio::test]
    async fn queued_guesses_cannot_overrun_the_username_limit() {
        let guard = Arc::new(LoginGuard::new(LoginLimits {
            failures_per_username: 1,
            ..limits()
        }));
        let running = guard.admit(None, "alice", ip(1)).await.unwrap();
        let waiter = {
            let guard = guard.clone();
            tokio::spawn(async move { guard.admit(None, "alice", ip(1)).await.err() })
        };
        while guard.queue(ip(1).unwrap()).waiting.load(Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        guard.failed(None, "alice", ip(1)).await;
        drop(running);
        assert_eq!(waiter.await.unwrap(), Some(Throttled::Username));
    }
}
