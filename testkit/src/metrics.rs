//! A daemon's Prometheus metrics, read from `/metrics` and parsed from the
//! text exposition format (every sample, with its labels and its family's
//! declared type).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use crate::http::http_get;

/// One scrape.
#[derive(Debug, Clone)]
pub struct Scrape {
    samples: Vec<Sample>,
    types: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Scrape {
    /// Scrapes `GET path` (`/metrics`, with `?key=` if needed) on `addr`.
    pub fn get(addr: SocketAddr, path: &str) -> Scrape {
        let (status, body) = http_get(addr, path);
        assert_eq!(status, 200, "{path}: {body}");
        Scrape::parse(&body)
    }

    /// Parses the text format; panics on a line that is not in it.
    pub fn parse(text: &str) -> Scrape {
        let mut types = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(declaration) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declaration.split_once(' ').expect("# TYPE name kind");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a value: {line}"));
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect("labels end with }"))),
            };
            samples.push(Sample { name: name.to_owned(), labels, value });
        }
        for sample in &samples {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| sample.name.strip_suffix(suffix).filter(|f| types.contains_key(*f)))
                .unwrap_or(&sample.name);
            assert!(types.contains_key(family), "{} has no # TYPE", sample.name);
        }
        Scrape { samples, types }
    }

    /// The value of the sample `name` with exactly `labels`; panics if absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
            .value
    }

    /// The value of `name` with `labels`, or 0 if it has not been counted yet
    /// (a labelled counter appears at its first increment).
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.iter().find(|s| s.name == name && s.labels == labels).map_or(0.0, |s| s.value)
    }

    /// The sum of every sample of `name`, whatever its labels.
    pub fn sum(&self, name: &str) -> f64 {
        self.samples.iter().filter(|s| s.name == name).map(|s| s.value).sum()
    }

    /// The declared type of family `name` (`counter`, `gauge`, `histogram`).
    pub fn kind(&self, name: &str) -> Option<&str> {
        self.types.get(name).map(String::as_str)
    }
}

/// `a="x",b="y"` (values may hold escaped quotes and backslashes).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("not a label: {rest}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => value.push(chars.next().map(|(_, c)| if c == 'n' { '\n' } else { c }).unwrap()),
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {rest}"),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}
