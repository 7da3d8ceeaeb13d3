//! The last minutes of pushes and dropped messages, sampled from the metrics
//! at a fixed interval, for the status page's chart.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::telemetry::metrics::METRICS;

/// Time between two samples.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Samples kept: ten minutes.
pub const SAMPLES: usize = 120;

/// What happened during one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Pushes handled.
    pub pushes: u64,
    /// Messages dropped for slow clients.
    pub dropped: u64,
}

/// The recent samples, oldest first.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    /// Samples the metrics every [`SAMPLE_INTERVAL`] until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Sample::default();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let now = Sample { pushes: METRICS.pushes_so_far(), dropped: METRICS.dropped_so_far() };
            self.record(Sample { pushes: now.pushes - last.pushes, dropped: now.dropped - last.dropped });
            last = now;
        }
    }

    fn record(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The samples kept, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_ten_minutes_are_kept() {
        let history = History::default();
        for pushes in 0..(SAMPLES as u64 + 5) {
            history.record(Sample { pushes, dropped: 0 });
        }
        let samples = history.samples();
        assert_eq!(samples.len(), SAMPLES);
        assert_eq!(samples[0].pushes, 5, "the oldest went first");
        assert_eq!(samples[SAMPLES - 1].pushes, SAMPLES as u64 + 4);
    }
}
