//! The hot cache's counters on `/metrics` (hits, misses, writes, and errors by kind
//! of operation: the cache hit ratio and Redis errors operators watch). Read from the
//! cache's own atomics at each scrape, so the request path counts nothing twice; every
//! series exists from the start.

use ostium_state::{CacheOp, HotCache};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;

#[derive(Debug)]
pub(crate) struct CacheMetrics(pub HotCache);

impl Collector for CacheMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let counters = [
            (
                "ostium_cache_hits",
                "Hot-cache reads that answered (a record, or a denial under the watermark)",
                stats.hits,
            ),
            (
                "ostium_cache_misses",
                "Hot-cache reads that could not answer and went to the replicated state",
                stats.misses,
            ),
            (
                "ostium_cache_writes",
                "Entries written to the hot cache",
                stats.writes,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        // A family made afresh at each scrape: the values live in the cache's atomics.
        let errors: Family<[(&'static str, &'static str); 1], Counter> = Family::default();
        for (op, count) in CacheOp::ALL.iter().zip(stats.errors_by_operation) {
            errors
                .get_or_create(&[("operation", op.as_str())])
                .inc_by(count);
        }
        let metric = encoder.encode_descriptor(
            "ostium_cache_errors",
            "Hot-cache calls that failed (Redis down or slow, or an unreadable entry), by \
             kind of operation",
            None,
            errors.metric_type(),
        )?;
        errors.encode(metric)
    }
}
