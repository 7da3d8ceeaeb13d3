//! Memory per connection by owner, from heap profiles: `bench/heap-profile.sh`
//! runs msgpushd under heaptrack with idle clients and writes the call
//! stacks live at the peak (heaptrack_print's flamegraph format, one
//! `frame;frame;... BYTES` line per stack); this sorts each stack's bytes
//! into the part of the daemon that holds them, per client.

use std::path::Path;

use crate::report::Section;

/// Owners, each with the frames (function and file, as heaptrack prints
/// them) that mark a stack as its: the first owner one of whose markers a
/// stack contains takes its bytes.
const OWNERS: &[(&str, &[&str])] = &[
    ("hyper's read buffer, kept by the request head", &["poll_read_from_io"]),
    ("Engine.IO packet channel (first block of 32 slots)", &["(block.rs)"]),
    ("Engine.IO channels and notifiers", &["(chan.rs)", "(watch.rs)", "(cancellation_token.rs)"]),
    ("Engine.IO socket", &["create_session"]),
    ("tasks (reader, writer, heartbeat, Socket.IO's)", &["bind_new_task"]),
    ("request head (URI, headers)", &["parse_headers", "kept_request", "clone (request.rs)", "(role.rs)"]),
    ("websocket stream and read buffer", &["(handshake.rs)", "(bilock.rs)", "(compat.rs)", "(split.rs)", "(lib.rs)"]),
    ("tokio I/O registration", &["(registration_set.rs)"]),
    (
        "msgpushd: login (presence, rooms), session caps",
        &["(browser.rs)", "(presence.rs)", "(sessions.rs)", "msgpushd::browser::", "msgpushd::state::"],
    ),
    ("Socket.IO socket and handlers", &["(client.rs)", "(ns.rs)", "(socket.rs)"]),
];

/// Bytes by owner (in [`OWNERS`]' order, then everything else) in `stacks`.
fn by_owner(stacks: &str) -> Vec<u64> {
    let mut bytes = vec![0; OWNERS.len() + 1];
    for line in stacks.lines() {
        let Some((stack, n)) = line.rsplit_once(' ') else { continue };
        let Ok(n) = n.parse::<u64>() else { continue };
        let owner =
            OWNERS.iter().position(|(_, markers)| markers.iter().any(|m| stack.contains(m))).unwrap_or(OWNERS.len());
        bytes[owner] += n;
    }
    bytes
}

/// A Markdown table of bytes per client by owner, a column per profile
/// (`(title, stacks file)`), each of `clients` idle clients.
pub fn table(profiles: &[(String, &Path)], clients: usize) -> String {
    let columns: Vec<Vec<u64>> = profiles
        .iter()
        .map(|(_, path)| by_owner(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))))
        .collect();
    let per_client = |bytes: u64| format!("{}", bytes / clients as u64);
    let mut out = format!(
        "| owner | {} |\n|---|{}\n",
        profiles.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(" | "),
        "---|".repeat(profiles.len())
    );
    let names = OWNERS.iter().map(|(name, _)| *name).chain(["everything else"]);
    for (i, name) in names.enumerate() {
        let cells: Vec<String> = columns.iter().map(|c| per_client(c[i])).collect();
        out += &format!("| {name} | {} |\n", cells.join(" | "));
    }
    let totals: Vec<String> = columns.iter().map(|c| format!("**{}**", per_client(c.iter().sum()))).collect();
    out += &format!("| **total, bytes per client** | {} |\n", totals.join(" | "));
    out
}

/// The report's section for the table `bench/heap-profile.sh` last wrote
/// to `path`, if it did: profiling needs its own builds, so `make bench`
/// shows the latest profile rather than making one.
pub fn section(path: &Path) -> Option<Section> {
    let text = std::fs::read_to_string(path).ok()?;
    let body: Vec<&str> = text.lines().filter(|l| !l.starts_with("<!--")).collect();
    Some(Section {
        title: "Memory per connection, where it goes".into(),
        intro: format!("From `{}`:\n\n{}", path.display(), body.join("\n")),
        header: vec![],
        rows: vec![],
        notes: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_go_to_the_first_owner_that_marks_them() {
        let stacks = "main;run;poll_read_from_io<> (io.rs);alloc 8000\n\
                      main;create_session<> (engine.rs);new (block.rs) 1500\n\
                      main;create_session<> (engine.rs) 600\n\
                      main;somewhere (else.rs) 10\n";
        let bytes = by_owner(stacks);
        assert_eq!(bytes[0], 8000);
        assert_eq!(bytes[1], 1500);
        assert_eq!(bytes[3], 600);
        assert_eq!(bytes.iter().sum::<u64>(), 10_110);
        assert_eq!(bytes[OWNERS.len()], 10);
    }
}
