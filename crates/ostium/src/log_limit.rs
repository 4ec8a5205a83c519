//! Repeated warnings, held back: the same warning or error (the same place in the
//! code, with the same message and fields) is written at most once a minute, and
//! how many were held back meanwhile is written once the minute is over.
//!
//! A library that warns about the same condition on every attempt (openraft, about
//! each heartbeat to a follower that is down: about seven a second) otherwise fills
//! the log with one line. Its message names the peer, so each peer still gets its
//! line. Ostium's own account of such conditions is one line per change (a peer
//! unreachable, a peer back), so the repeats add nothing an operator needs but
//! their number. Events below `warn` are not limited: they are filtered by level
//! instead.

use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

/// How long after a warning the same warning is held back.
const WINDOW: Duration = Duration::from_secs(60);

/// The summaries' own target, never held back.
const SUMMARY_TARGET: &str = "ostium::log_limit";

/// Different warnings remembered at most: messages that never repeat (they carry
/// a changing value) must not grow the memory without bound. Past it, warnings
/// are written without being counted.
const MAX_REMEMBERED: usize = 1_000;

/// A per-layer filter (`Layer::with_filter`); clones share their counts.
#[derive(Clone)]
pub struct RepeatLimit {
    /// By callsite and a hash of the event's fields (its message among them).
    seen: Arc<Mutex<HashMap<(Identifier, u64), Seen>>>,
    window: Duration,
}

struct Seen {
    /// When this warning was last written.
    written: Instant,
    /// How many were held back since.
    held_back: u64,
    metadata: &'static Metadata<'static>,
}

impl RepeatLimit {
    /// A limit whose summaries are written by a thread of its own, every minute.
    pub fn start() -> std::io::Result<Self> {
        let limit = Self::with_window(WINDOW);
        let summaries = limit.clone();
        std::thread::Builder::new()
            .name("ostium-log-limit".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(summaries.window);
                    summaries.summarize();
                }
            })?;
        Ok(limit)
    }

    fn with_window(window: Duration) -> Self {
        Self {
            seen: Arc::default(),
            window,
        }
    }

    /// Whether an event from `metadata`'s callsite whose fields hash to `fields` may
    /// be written now; counts it if not.
    fn admit(&self, metadata: &'static Metadata<'static>, fields: u64, now: Instant) -> bool {
        if *metadata.level() > Level::WARN || metadata.target() == SUMMARY_TARGET {
            return true;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_REMEMBERED {
            let window = self.window;
            seen.retain(|_, s| s.held_back > 0 || now.duration_since(s.written) < window);
        }
        let remembered = seen.len();
        match seen.entry((metadata.callsite(), fields)) {
            Entry::Vacant(_) if remembered >= MAX_REMEMBERED => true,
            Entry::Vacant(first) => {
                first.insert(Seen {
                    written: now,
                    held_back: 0,
                    metadata,
                });
                true
            }
            Entry::Occupied(mut again) => {
                let again = again.get_mut();
                if now.duration_since(again.written) >= self.window {
                    again.written = now;
                    true
                } else {
                    again.held_back += 1;
                    false
                }
            }
        }
    }

    /// Takes the counts of warnings held back so far, resetting them.
    fn take_held_back(&self) -> Vec<(&'static Metadata<'static>, u64)> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.values_mut()
            .filter(|entry| entry.held_back > 0)
            .map(|entry| (entry.metadata, std::mem::take(&mut entry.held_back)))
            .collect()
    }

    /// Writes one line per warning that was held back, outside any event's dispatch.
    fn summarize(&self) {
        for (metadata, held_back) in self.take_held_back() {
            tracing::warn!(
                target: "ostium::log_limit",
                held_back,
                of = metadata.target(),
                at = metadata.name(),
                "repeats of an earlier warning were not written (at most one a minute)"
            );
        }
    }
}

impl<S> Filter<S> for RepeatLimit {
    fn enabled(&self, _metadata: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        // Warnings are decided one by one; everything else always passes here.
        if metadata.is_event() && *metadata.level() <= Level::WARN {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if *metadata.level() > Level::WARN {
            return true;
        }
        let mut fields = FieldHash(DefaultHasher::new());
        event.record(&mut fields);
        self.admit(metadata, fields.0.finish(), Instant::now())
    }
}

/// Hashes an event's fields, names and values, without building a string.
struct FieldHash(DefaultHasher);

impl tracing::field::Visit for FieldHash {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        field.name().hash(&mut self.0);
        let _ = write!(HashWriter(&mut self.0), "{value:?}");
    }
}

struct HashWriter<'a>(&'a mut DefaultHasher);

impl std::fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Counts the events its filter lets through, by message.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Written {
        fn on_event(&self, event: &Event<'_>, _cx: tracing_subscriber::layer::Context<'_, S>) {
            struct Message(String);
            impl tracing::field::Visit for Message {
                fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    if field.name() == "message" {
                        self.0 = format!("{v:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
    }

    fn heartbeat_failed(peer: u64) {
        tracing::warn!(peer, "failed to send a heartbeat");
    }

    #[test]
    fn a_repeated_warning_is_written_once_then_counted() {
        let written = Written::default();
        // Long enough that the test never reaches its end.
        let limit = RepeatLimit::with_window(Duration::from_secs(3600));
        let subscriber =
            tracing_subscriber::registry().with(written.clone().with_filter(limit.clone()));
        tracing::subscriber::with_default(subscriber, || {
            for peer in [2, 3, 2, 3, 2] {
                heartbeat_failed(peer);
            }
            for client in ["a", "b"] {
                tracing::warn!("client {client}: a secret in plain text");
            }
            tracing::warn!("another warning");
            for _ in 0..3 {
                tracing::info!("info is not limited");
            }
            limit.summarize();
        });
        // Peer 2's heartbeat twice held back, peer 3's once: one summary each.
        let written = written.0.lock().unwrap().clone();
        assert_eq!(
            written,
            [
                "failed to send a heartbeat",
                "failed to send a heartbeat",
                "client a: a secret in plain text",
                "client b: a secret in plain text",
                "another warning",
                "info is not limited",
                "info is not limited",
                "info is not limited",
                "repeats of an earlier warning were not written (at most one a minute)",
                "repeats of an earlier warning were not written (at most one a minute)",
            ]
        );
        assert!(
            limit.take_held_back().is_empty(),
            "the summary resets the count"
        );
    }

    #[test]
    fn a_warning_is_written_again_once_its_window_is_over() {
        // The callsite's metadata, captured from a real event.
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Option<&'static Metadata<'static>>>>);
        impl<S: tracing::Subscriber> Layer<S> for Capture {
            fn on_event(&self, e: &Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
                *self.0.lock().unwrap() = Some(e.metadata());
            }
        }
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        tracing::subscriber::with_default(subscriber, || heartbeat_failed(2));
        let metadata = capture.0.lock().unwrap().expect("an event");

        let limit = RepeatLimit::with_window(Duration::from_secs(60));
        let start = Instant::now();
        assert!(limit.admit(metadata, 7, start));
        assert!(
            limit.admit(metadata, 8, start + Duration::from_secs(1)),
            "another message from the same place is another warning"
        );
        assert!(!limit.admit(metadata, 7, start + Duration::from_secs(59)));
        assert!(limit.admit(metadata, 7, start + Duration::from_secs(60)));
        let counts: Vec<u64> = limit.take_held_back().into_iter().map(|(_, n)| n).collect();
        assert_eq!(counts, [1]);

        // Warnings that never repeat are written, and not remembered without bound.
        for fields in 0..(MAX_REMEMBERED as u64 * 2) {
            assert!(limit.admit(metadata, 1_000 + fields, start + Duration::from_secs(61)));
        }
        assert!(limit.seen.lock().unwrap().len() <= MAX_REMEMBERED);
    }
}
