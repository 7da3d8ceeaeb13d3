//! `update_online_count`: the online figures rendered into a message and
//! broadcast once a second, only when a figure changed (as web-msg-sender does).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::presence::OnlineCounts;
use crate::publisher::sockets_missed;

/// The event name web-msg-sender pages listen for.
pub const EVENT: &str = "update_online_count";

/// How often the figures are compared with the last broadcast.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The message template and the last message broadcast.
#[derive(Debug)]
pub struct OnlineCount {
    template: String,
    last: Mutex<(OnlineCounts, Arc<str>)>,
}

impl OnlineCount {
    /// Starts from zero figures, like web-msg-sender.
    pub fn new(template: String) -> Self {
        let zero = OnlineCounts::default();
        let message = render(&template, zero).into();
        OnlineCount { template, last: Mutex::new((zero, message)) }
    }

    /// The last message broadcast, sent to a socket right after it logs in.
    pub fn last_message(&self) -> Arc<str> {
        self.lock().1.clone()
    }

    /// Records `counts`; returns the new message if a figure changed.
    fn update(&self, counts: OnlineCounts) -> Option<Arc<str>> {
        let mut last = self.lock();
        if last.0 == counts {
            return None;
        }
        let message: Arc<str> = render(&self.template, counts).into();
        *last = (counts, message.clone());
        Some(message)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (OnlineCounts, Arc<str>)> {
        self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn render(template: &str, counts: OnlineCounts) -> String {
    template.replace("{uids}", &counts.uids.to_string()).replace("{sockets}", &counts.sockets.to_string())
}

/// Broadcasts the figures to every socket whenever they changed, until shutdown.
pub async fn broadcast_changes(hub: Arc<Hub>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Some(message) = hub.online.update(hub.presence.counts()) {
            let sent = hub.io.emit(EVENT, &*message).await;
            if let Err(e) = sockets_missed(sent, EVENT) {
                tracing::warn!("online count broadcast failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_ONLINE_COUNT_TEMPLATE;

    #[test]
    fn default_message_is_web_msg_senders() {
        let online = OnlineCount::new(DEFAULT_ONLINE_COUNT_TEMPLATE.into());
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
