//! Receipts: what a `push()` that waits for its tabs' acknowledgements
//! costs beside a plain one, and waiting pushes to 1,000 and 10,000 tabs
//! that all acknowledge at once, on one daemon and on three nodes.

use crate::groups::Setup;
use crate::report::Section;
use crate::stats::{cpu_ns, Spread};
use crate::Options;

/// Pushes per run: to one tab, and to many.
const TO_ONE: usize = 2_000;
const TO_GROUP: usize = 20;
const TO_ALL: usize = 5;

/// µs per push of `mode` (of `bench/php/receipts_cost.php`), and the
/// servers' CPU per push in ms.
fn cost(setup: &Setup, options: &Options, mode: &str, n: usize) -> (Spread, f64) {
    let pids = setup.server_pids();
    let before: u64 = pids.iter().map(|&pid| cpu_ns(pid)).sum();
    let spread = setup.php_cost(options, "receipts_cost.php", mode, n);
    let after: u64 = pids.iter().map(|&pid| cpu_ns(pid)).sum();
    let cpu_ms = after.saturating_sub(before) as f64 / 1e6 / (n * options.runs) as f64;
    (spread, cpu_ms)
}

/// `spread` of µs per push as pushes per second.
fn per_second(spread: &Spread) -> String {
    let rate = |us: f64| 1e6 / us;
    format!("{:.0} ({:.0}–{:.0})", rate(spread.median), rate(spread.max), rate(spread.min))
}

/// The section.
pub async fn receipts(options: &Options) -> Section {
    let mut rows = Vec::new();
    for (what, nodes) in [("one daemon", 1), ("three nodes on Redis", 3)] {
        let setup = Setup::start(options, nodes).await;
        let (plain, _) = cost(&setup, options, "plain", TO_ONE);
        let (waiting, _) = cost(&setup, options, "ack", TO_ONE);
        let (group, group_cpu) = cost(&setup, options, "ack_group", TO_GROUP);
        let (all, all_cpu) = cost(&setup, options, "ack_all", TO_ALL);
        rows.push(vec![
            what.to_owned(),
            plain.to_string(),
            waiting.to_string(),
            format!("{:.2}", waiting.median / plain.median),
            format!("{} ({group_cpu:.1} ms CPU)", per_second(&group)),
            format!("{} ({all_cpu:.1} ms CPU)", per_second(&all)),
        ]);
    }
    Section {
        title: "Receipts".into(),
        intro: "The clients of the groups scenario (10,000 logged in, 1,000 of them in group `g`), each \
                acknowledging every message that asks for it as soon as it reads it. From one PHP CLI loop \
                through the first node (timed with `hrtime()`): a plain `push()` to one user's tab, the same \
                with `setAckTimeout(5000)` (it returns once the tab acknowledged), and waiting pushes, one \
                after the other, to the group's 1,000 tabs and to all 10,000, each returning once every tab \
                acknowledged; with the servers' CPU (nodes and Redis) per push. In the cluster the user's \
                tab is on another node than PHP's."
            .into(),
        header: [
            "setup",
            "plain push() µs",
            "push() waiting for 1 tab µs",
            "ratio",
            "waiting pushes/s to 1,000 tabs",
            "waiting pushes/s to 10,000 tabs",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        notes: vec![],
    }
}
