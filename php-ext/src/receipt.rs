//! `MsgPush\Receipt`: who acknowledged, and read, a message sent with
//! receipts (`PushEvent->setReceipts()` or `->setAckTimeout()`). Its API is
//! stated in `php-ext/msgpush.stub.php`.

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::ZendHashTable;
use msgpush_protocol::{Command, MsgId, ReceiptQuery, Reply};

use crate::client;
use crate::error::PushError;

/// Static functions only.
#[php_class]
#[php(name = "MsgPush\\Receipt")]
#[derive(Debug)]
pub struct Receipt;

#[php_impl]
impl Receipt {
    /// The receipts of message `msgId` (`$event->id()`), first acknowledged
    /// first: `[['uid' => '42', 'acked_ms' => …, 'read_ms' => …|null], …]`.
    pub fn of(msg_id: String) -> PhpResult<ZBox<ZendHashTable>> {
        let msg_id = serde_json::from_value::<MsgId>(serde_json::Value::String(msg_id.clone()))
            .map_err(|_| PushError::Invalid(format!("a message id is 32 hex digits, not {msg_id:?}")))?;
        let receipts = match client::call(Command::Receipts(ReceiptQuery { msg_id }), "the question")? {
            Reply::Receipts { receipts } => receipts,
            other => return Err(client::unexpected(other).into()),
        };
        let mut list = ZendHashTable::new();
        for receipt in receipts {
            let mut row = ZendHashTable::new();
            row.insert("uid", receipt.uid)?;
            row.insert("acked_ms", client::count(receipt.acked_ms))?;
            match receipt.read_ms {
                Some(read_ms) => row.insert("read_ms", client::count(read_ms))?,
                None => row.insert("read_ms", ())?,
            }
            list.push(row)?;
        }
        Ok(list)
    }
}
