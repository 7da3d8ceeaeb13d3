//! The Markdown report (`docs/BENCHMARKS.md`).

use std::fmt::Write;

/// One scenario's part of the report.
#[derive(Debug, Clone)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// What was measured and how.
    pub intro: String,
    /// Column names.
    pub header: Vec<String>,
    /// One row per measurement.
    pub rows: Vec<Vec<String>>,
    /// Remarks under the table.
    pub notes: Vec<String>,
}

impl Section {
    /// A section for a scenario that could not run, saying why.
    pub fn skipped(title: &str, why: &str) -> Section {
        Section { title: title.into(), intro: format!("Not run: {why}."), header: vec![], rows: vec![], notes: vec![] }
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "## {}\n\n{}\n", self.title, self.intro);
        if !self.header.is_empty() {
            let _ = writeln!(out, "| {} |", self.header.join(" | "));
            let _ = writeln!(out, "|{}", " --- |".repeat(self.header.len()));
            for row in &self.rows {
                let _ = writeln!(out, "| {} |", row.join(" | "));
            }
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "{note}\n");
        }
    }
}

/// Renders the whole report.
pub fn render(preamble: &str, sections: &[Section]) -> String {
    let mut out = String::from(preamble);
    for section in sections {
        section.render(&mut out);
    }
    out
}
