//! Each command of the protocol, answered: what the Unix socket and the
//! HTTP API's JSON endpoint both run, so that every command means the same
//! on either.

use msgpush_protocol::{Command, InboxUser, ReceiptQuery, Reply};

use crate::hub::Hub;
use crate::state::turn::Turn;
use crate::telemetry::metrics::Ingress;

impl Hub {
    /// The reply to `command`, which came in through `ingress`. `turn` is
    /// passed once a later request of the same connection can no longer
    /// overtake this one: a push, a disconnect or a membership change once
    /// placed, anything else once answered.
    pub async fn answer(&self, command: Command, ingress: Ingress, mut turn: Turn) -> Reply {
        let answered = match command {
            Command::Publish(publish) => self.publish(publish, ingress, turn).await.map(|delivered| Reply::Delivered {
                sockets: delivered.sockets,
                positions: delivered.positions.into_iter().collect(),
                kept: delivered.kept,
                acked: delivered.acked,
            }),
            Command::Ping => Ok(Reply::Pong { version: env!("CARGO_PKG_VERSION").to_owned() }),
            Command::Token(request) => {
                self.mint_token(&request).map(|(token, expires)| Reply::Token { token, expires })
            }
            Command::Disconnect(disconnect) => {
                self.disconnect(disconnect, &mut turn).await.map(|sockets| Reply::Disconnected { sockets })
            }
            Command::GroupJoin(membership) => {
                self.group_join(membership, &mut turn).await.map(|sockets| Reply::Joined { sockets })
            }
            Command::GroupLeave(membership) => {
                self.group_leave(membership, &mut turn).await.map(|sockets| Reply::Left { sockets })
            }
            Command::Presence(query) => self.presence(query).await.map(Reply::Presence),
            Command::InboxCount(InboxUser { uid }) => {
                self.inbox_count(&uid).await.map(|messages| Reply::Inbox { messages })
            }
            Command::InboxClear(InboxUser { uid }) => {
                self.inbox_clear(&uid).await.map(|messages| Reply::Cleared { messages })
            }
            Command::Receipts(ReceiptQuery { msg_id }) => {
                self.receipts(msg_id).await.map(|receipts| Reply::Receipts { receipts })
            }
            Command::WebhookCheck(check) => self.webhook_check(&check).map(|events| Reply::Webhook { events }),
        };
        answered.unwrap_or_else(|e| Reply::Error { code: e.code(), message: e.to_string() })
    }
}
