//! The status page (`GET /status`): one self-contained HTML page (no
//! script, no external asset) showing what a person checks first, redrawn
//! by the browser every few seconds.

use std::fmt::Write;
use std::time::Duration;

use crate::hub::Figures;
use crate::ops::rate_history::{Sample, SAMPLES, SAMPLE_INTERVAL};

/// Seconds between the page's reloads.
const REFRESH_SECS: u32 = 5;

/// The chart's drawing area, in SVG units.
const CHART_WIDTH: f64 = 600.0;
const CHART_HEIGHT: f64 = 120.0;

/// Everything the page shows.
#[derive(Debug)]
pub struct Status<'a> {
    /// How long the daemon has run.
    pub uptime: Duration,
    /// Sockets, users and the cluster, now.
    pub figures: &'a Figures,
    /// The recent pushes and drops, oldest first, one per [`SAMPLE_INTERVAL`].
    pub samples: &'a [Sample],
    /// Resident memory, in bytes (None: unknown).
    pub memory_bytes: Option<f64>,
    /// Open file descriptors (None: unknown).
    pub open_fds: Option<f64>,
}

/// The page.
pub fn render(status: &Status<'_>) -> String {
    let figures = status.figures;
    let count = |keep: &dyn Fn(&str, &str) -> bool| -> usize {
        figures.sockets.iter().filter(|(kind, _)| keep(kind.transport, kind.protocol)).map(|(_, n)| n).sum()
    };
    let sockets = count(&|_, _| true);
    let websocket = count(&|transport, _| transport == "websocket");
    let legacy = count(&|_, protocol| protocol == "4");
    let interval = SAMPLE_INTERVAL.as_secs_f64();
    let per_sec = status.samples.last().map_or(0.0, |s| s.pushes as f64 / interval);
    let pushes: u64 = status.samples.iter().map(|s| s.pushes).sum();
    let dropped: u64 = status.samples.iter().map(|s| s.dropped).sum();
    let minutes = (status.samples.len() as f64 * interval / 60.0).ceil();
    let memory = status.memory_bytes.map_or("?".into(), |b| format!("{:.1} MiB", b / 1_048_576.0));
    let fds = status.open_fds.map_or("?".into(), |n| format!("{n}"));

    let mut page = String::with_capacity(8192);
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>msgpushd status</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }}
header {{ background: #1d2330; color: #fff; padding: 14px 24px; display: flex; gap: 16px; align-items: baseline; }}
header h1 {{ font-size: 19px; margin: 0; }}
header span {{ opacity: .75; }}
main {{ padding: 20px 24px; max-width: 980px; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }}
.card {{ background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px #0002; }}
.card b {{ display: block; font-size: 28px; font-variant-numeric: tabular-nums; }}
.card small {{ color: #5b6475; }}
.bad b {{ color: #b3261e; }}
section {{ background: #fff; border-radius: 8px; padding: 12px 16px; margin-top: 16px; box-shadow: 0 1px 2px #0002; }}
h2 {{ font-size: 15px; margin: 0 0 8px; }}
svg {{ width: 100%; height: auto; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: 3px 14px 3px 0; text-align: left; font-variant-numeric: tabular-nums; }}
</style></head>
<body>
<header><h1>msgpushd</h1><span>version {version}</span><span>up <b id="uptime">{uptime}</b></span></header>
<main>
<div class="cards">
<div class="card"><small>Browser sockets</small><b id="sockets">{sockets}</b>
<small>{websocket} websocket, {polling} polling; {legacy} socket.io 2.x</small></div>
<div class="card"><small>Users online</small><b id="users">{users}</b><small>{tabs} logged-in sockets</small></div>
<div class="card"><small>Pushes per second</small><b id="pushes-per-sec">{per_sec}</b>
<small><span id="pushes">{pushes}</span> in the last {minutes} min</small></div>
<div class="card{slow_class}"><small>Slow clients</small><b id="dropped">{dropped}</b>
<small>messages dropped in the last {minutes} min (send buffer full)</small></div>
<div class="card"><small>Memory</small><b id="memory">{memory}</b><small>{fds} open files</small></div>
</div>
<section><h2>Pushes per second</h2>
{chart}</section>
"#,
        version = env!("CARGO_PKG_VERSION"),
        uptime = human_duration(status.uptime),
        polling = sockets - websocket,
        users = figures.logged_in.uids,
        tabs = figures.logged_in.sockets,
        per_sec = format_rate(per_sec),
        slow_class = if dropped > 0 { " bad" } else { "" },
        chart = chart(status.samples),
    );
    if let Some(cluster) = &figures.cluster {
        let (state, class) = if cluster.reachable { ("reachable", "") } else { ("UNREACHABLE", " class=\"bad\"") };
        let _ = write!(page, "<section id=\"cluster\"><h2>Cluster</h2><p{class}>Redis <b id=\"redis\">{state}</b>",);
        if let Some(counts) = cluster.counts {
            let _ = write!(
                page,
                "; <b id=\"cluster-users\">{}</b> users and {} logged-in sockets on <b id=\"cluster-nodes\">{}</b> nodes",
                counts.uids,
                counts.sockets,
                cluster.nodes.len()
            );
        }
        page.push_str("</p><table><tr><th>Node</th><th>Sockets</th><th></th></tr>\n");
        let mut nodes = cluster.nodes.clone();
        nodes.sort();
        for (node, sockets) in nodes {
            let this = if node == cluster.node { "this node" } else { "" };
            // Node ids are hex digits written by msgpushd nodes; anything else is not shown.
            let node = if node.bytes().all(|b| b.is_ascii_hexdigit()) { node } else { "?".into() };
            let _ = writeln!(page, "<tr><td><code>{node}</code></td><td>{sockets}</td><td>{this}</td></tr>");
        }
        page.push_str("</table></section>\n");
    }
    page.push_str("</main></body></html>\n");
    page
}

/// An SVG line of pushes per second over the whole history's span, one
/// point per sample, the newest at the right edge, with its scale.
fn chart(samples: &[Sample]) -> String {
    let interval = SAMPLE_INTERVAL.as_secs_f64();
    let rates: Vec<f64> = samples.iter().map(|s| s.pushes as f64 / interval).collect();
    let top = rates.iter().copied().fold(1.0, f64::max);
    let step = CHART_WIDTH / (SAMPLES - 1) as f64;
    let x = |i: usize| CHART_WIDTH - (samples.len() - 1 - i) as f64 * step;
    let points: Vec<String> = rates
        .iter()
        .enumerate()
        .map(|(i, rate)| format!("{:.1},{:.1}", x(i), CHART_HEIGHT - rate / top * CHART_HEIGHT))
        .collect();
    let drops: String = samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.dropped > 0)
        .map(|(i, _)| {
            let x = x(i);
            format!("<line x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{CHART_HEIGHT}\" stroke=\"#b3261e\" stroke-opacity=\".5\"/>")
        })
        .collect();
    format!(
        "<svg id=\"chart\" viewBox=\"-40 -10 {w} {h}\" role=\"img\" aria-label=\"pushes per second\">\
         <line x1=\"0\" y1=\"{CHART_HEIGHT}\" x2=\"{CHART_WIDTH}\" y2=\"{CHART_HEIGHT}\" stroke=\"#9aa1ad\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"{CHART_WIDTH}\" y2=\"0\" stroke=\"#e3e5e9\"/>\
         <text x=\"-6\" y=\"4\" text-anchor=\"end\" font-size=\"11\">{top}</text>\
         <text x=\"-6\" y=\"{CHART_HEIGHT}\" text-anchor=\"end\" font-size=\"11\">0</text>\
         <text x=\"0\" y=\"{label_y}\" font-size=\"11\">{span} min ago</text>\
         <text x=\"{CHART_WIDTH}\" y=\"{label_y}\" text-anchor=\"end\" font-size=\"11\">now</text>\
         {drops}<polyline fill=\"none\" stroke=\"#2d6cdf\" stroke-width=\"2\" points=\"{points}\"/></svg>\
         <small>Red marks: messages dropped for slow clients.</small>",
        w = CHART_WIDTH + 50.0,
        h = CHART_HEIGHT + 30.0,
        label_y = CHART_HEIGHT + 15.0,
        span = SAMPLES as u64 * SAMPLE_INTERVAL.as_secs() / 60,
        top = format_rate(top),
        points = points.join(" "),
    )
}

fn format_rate(rate: f64) -> String {
    if rate >= 10.0 || rate == rate.trunc() {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

/// `3 d 4 h`, `2 h 13 min`, `5 min 2 s`, `12 s`.
fn human_duration(duration: Duration) -> String {
    let s = duration.as_secs();
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::browser::emit::SocketKind;
    use crate::hub::ClusterFigures;
    use crate::state::presence::OnlineCounts;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(Duration::from_secs(12)), "12 s");
        assert_eq!(human_duration(Duration::from_secs(302)), "5 min 2 s");
        assert_eq!(human_duration(Duration::from_secs(2 * 3600 + 13 * 60)), "2 h 13 min");
        assert_eq!(human_duration(Duration::from_secs(3 * 86_400 + 4 * 3600 + 59)), "3 d 4 h");
    }

    #[test]
    fn the_page_shows_the_figures_and_the_cluster() {
        let mut sockets = BTreeMap::new();
        sockets.insert(SocketKind { transport: "websocket", protocol: "5" }, 3);
        sockets.insert(SocketKind { transport: "polling", protocol: "4" }, 1);
        let figures = Figures {
            sockets,
            logged_in: OnlineCounts { uids: 2, sockets: 3 },
            rooms: 2,
            cluster: Some(ClusterFigures {
                node: "ab12".into(),
                reachable: false,
                counts: None,
                nodes: vec![("ab12".into(), 4), ("<script>".into(), 1)],
                outbox_waiting: 0,
            }),
        };
        let samples = [Sample { pushes: 50, dropped: 0 }, Sample { pushes: 10, dropped: 2 }];
        let page = render(&Status {
            uptime: Duration::from_secs(75),
            figures: &figures,
            samples: &samples,
            memory_bytes: Some(10.0 * 1_048_576.0),
            open_fds: Some(17.0),
        });
        assert!(page.contains("<b id=\"sockets\">4</b>"), "{page}");
        assert!(page.contains("3 websocket, 1 polling; 1 socket.io 2.x"), "{page}");
        assert!(page.contains("<b id=\"users\">2</b>"), "{page}");
        assert!(page.contains("<b id=\"pushes-per-sec\">2</b>"), "10 pushes in the last 5 s: {page}");
        assert!(page.contains("<b id=\"dropped\">2</b>"), "{page}");
        assert!(page.contains("<b id=\"memory\">10.0 MiB</b><small>17 open files"), "{page}");
        assert!(page.contains("<b id=\"uptime\">1 min 15 s</b>"), "{page}");
        assert!(page.contains("Redis <b id=\"redis\">UNREACHABLE</b>"), "{page}");
        assert!(page.contains("<code>ab12</code></td><td>4</td><td>this node"), "{page}");
        assert!(!page.contains("<script>"), "only hex node ids are shown");
    }
}
