//! The hot cache's counters on `/metrics` (hits, misses, writes, errors: the cache
//! hit ratio operators watch). Read from the cache's own atomics at each scrape, so
//! the request path counts nothing twice.

use ostium_state::HotCache;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

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
            (
                "ostium_cache_errors",
                "Hot-cache calls that failed (Redis down or slow, or an unreadable entry)",
                stats.errors,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}
