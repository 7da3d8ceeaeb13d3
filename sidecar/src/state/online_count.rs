//! The `update_online_count` message: the online figures rendered into the
//! template, and the last message sent, so that it is broadcast only when a
//! figure changed (as web-msg-sender does).

use std::sync::{Arc, Mutex};

use crate::state::presence::OnlineCounts;

/// The message template and the last message broadcast.
#[derive(Debug)]
pub struct OnlineCount(Mutex<Last>);

#[derive(Debug)]
struct Last {
    template: String,
    /// The figures of `message`; None once the template changed, so that
    /// the next update is broadcast whatever the figures.
    counts: Option<OnlineCounts>,
    message: Arc<str>,
}

impl OnlineCount {
    /// Starts from zero figures, like web-msg-sender.
    pub fn new(template: String) -> Self {
        let zero = OnlineCounts::default();
        let message = render(&template, zero).into();
        OnlineCount(Mutex::new(Last { template, counts: Some(zero), message }))
    }

    /// The last message broadcast, sent to a socket right after it logs in.
    pub fn last_message(&self) -> Arc<str> {
        self.lock().message.clone()
    }

    /// Records `counts`; returns the new message if a figure (or the
    /// template) changed.
    pub fn update(&self, counts: OnlineCounts) -> Option<Arc<str>> {
        let mut last = self.lock();
        if last.counts == Some(counts) {
            return None;
        }
        let message: Arc<str> = render(&last.template, counts).into();
        last.counts = Some(counts);
        last.message = message.clone();
        Some(message)
    }

    /// Renders the figures with `template` from now on (at a reload).
    pub fn set_template(&self, template: String) {
        let mut last = self.lock();
        last.template = template;
        last.counts = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Last> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn render(template: &str, counts: OnlineCounts) -> String {
    template.replace("{uids}", &counts.uids.to_string()).replace("{sockets}", &counts.sockets.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::flags::DEFAULT_TEMPLATE;

    #[test]
    fn a_new_template_is_broadcast_at_the_next_update() {
        let online = OnlineCount::new("{uids}/{sockets}".into());
        let counts = OnlineCounts { uids: 1, sockets: 2 };
        assert_eq!(online.update(counts).as_deref(), Some("1/2"));
        assert_eq!(online.update(counts), None);
        online.set_template("{uids} users".into());
        assert_eq!(online.update(counts).as_deref(), Some("1 users"));
        assert_eq!(&*online.last_message(), "1 users");
    }

    #[test]
    fn default_message_is_web_msg_senders() {
        let online = OnlineCount::new(DEFAULT_TEMPLATE.into());
        assert_eq!(&*online.last_message(), "当前<b>0</b>人在线，共打开<b>0</b>个页面");
        let msg = online.update(OnlineCounts { uids: 2, sockets: 3 }).unwrap();
        assert_eq!(&*msg, "当前<b>2</b>人在线，共打开<b>3</b>个页面");
        assert_eq!(online.last_message(), msg);
    }

    #[test]
    fn unchanged_figures_are_not_broadcast_again() {
        let online = OnlineCount::new("{uids}/{sockets}".into());
        assert!(online.update(OnlineCounts::default()).is_none());
        assert!(online.update(OnlineCounts { uids: 1, sockets: 1 }).is_some());
        assert!(online.update(OnlineCounts { uids: 1, sockets: 1 }).is_none());
    }
}
