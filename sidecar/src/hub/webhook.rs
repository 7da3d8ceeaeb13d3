//! A webhook request checked for the application (`MsgPush\Webhook::events()`):
//! PHP never holds the webhook secret, the daemon checks the signature.

use msgpush_protocol::WebhookCheck;
use serde_json::Value;

use crate::hub::{Hub, RequestError};

impl Hub {
    /// The events of `check`'s body, if msgpushd signed it recently.
    pub fn webhook_check(&self, check: &WebhookCheck) -> Result<Vec<Value>, RequestError> {
        self.webhooks.check(check).map_err(RequestError::Forged)
    }
}
