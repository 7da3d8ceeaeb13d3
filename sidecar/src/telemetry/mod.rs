//! What every part counts into and logs with: the Prometheus metrics (one
//! set per process), the log set-up, and logging refusals once per interval
//! instead of once per attempt. The lowest layer: it imports no other folder.

pub mod accept_errors;
pub mod logging;
pub mod metrics;
