//! A minimal Socket.IO client over WebSocket, enough to hold many logged-in
//! browsers cheaply: Engine.IO 4 (socket.io 3/4, msgpushd) or Engine.IO 3
//! (socket.io 2, web-msg-sender), the default namespace, `login`, and events
//! with one string argument, acknowledged at once when they ask for it (as
//! a page does that calls the acknowledgement when it has shown a message).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use msgpush_protocol::defaults::events;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::stamped::Stamped;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// The Socket.IO server.
    pub addr: SocketAddr,
    /// Engine.IO protocol: 4 (socket.io 3/4) or 3 (socket.io 2).
    pub eio: u8,
}

/// A connected, logged-in client.
pub struct Client {
    ws: WebSocketStream<Stamped>,
    eio: u8,
    ping_interval: Duration,
}

/// A client-side failure, as text: benchmarks count failures, they do not
/// recover from them.
pub type Error = String;

impl Client {
    /// Connects from `source` (any loopback address, to spread ephemeral
    /// ports), joins the default namespace and emits `login(login)`: a
    /// login token for msgpushd, a uid for servers of web-msg-sender's
    /// protocol, or a JSON object (`{"token": …, "positions": …}`), sent as
    /// that object.
    pub async fn connect(target: &Target, source: Option<IpAddr>, login: &str) -> Result<Client, Error> {
        let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind {ip}: {e}"))?;
        }
        let tcp = socket.connect(target.addr).await.map_err(|e| format!("connect: {e}"))?;
        let tcp = Stamped::new(tcp).map_err(|e| format!("SO_TIMESTAMPNS: {e}"))?;
        let url = format!("ws://{}/socket.io/?EIO={}&transport=websocket", target.addr, target.eio);
        // Small buffers (tungstenite's default is 128 KiB each way): a browser
        // receives short messages, and the generator holds many clients.
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let mut client = Client { ws, eio: target.eio, ping_interval: Duration::from_secs(25) };
        let open = client.next_text().await?;
        let handshake: serde_json::Value =
            serde_json::from_str(open.strip_prefix('0').ok_or("no Engine.IO open packet")?)
                .map_err(|e| e.to_string())?;
        if let Some(ms) = handshake["pingInterval"].as_u64() {
            client.ping_interval = Duration::from_millis(ms);
        }
        if client.eio == 4 {
            client.send("40").await?;
        }
        // Engine.IO 3 servers join the default namespace on their own.
        while !client.next_text().await?.starts_with("40") {}
        let login = match login.starts_with('{') {
            true => serde_json::from_str(login).map_err(|e| format!("a login object: {e}"))?,
            false => serde_json::Value::String(login.to_owned()),
        };
        client.send(&format!("42{}", serde_json::json!([events::LOGIN, login]))).await?;
        Ok(client)
    }

    async fn send(&mut self, text: &str) -> Result<(), Error> {
        self.ws.send(Message::text(text)).await.map_err(|e| e.to_string())
    }

    /// The next text frame, answering Engine.IO 4 pings on the way.
    async fn next_text(&mut self) -> Result<String, Error> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" && self.eio == 4 => self.send("3").await?,
                Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed".into()),
            }
        }
    }

    /// When the kernel received the data of the latest read (so of the
    /// latest event), in ns since the Unix epoch.
    pub fn received_ns(&self) -> u64 {
        self.ws.get_ref().received_ns()
    }

    /// Waits for the next event and returns its name and first argument
    /// (events whose argument is not a string come back with an empty one),
    /// acknowledging it if it asks for that. Engine.IO 3 clients ping the
    /// server themselves; that happens here too.
    pub async fn next_event(&mut self) -> Result<(String, String), Error> {
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + self.ping_interval, self.ping_interval);
        loop {
            let text = tokio::select! {
                text = self.next_text() => text?,
                _ = ping.tick(), if self.eio == 3 => {
                    self.send("2").await?;
                    continue;
                }
            };
            if let Some((ack, name, argument)) = parse_event(&text) {
                if let Some(ack) = ack {
                    self.send(&format!("43{ack}[]")).await?;
                }
                return Ok((name, argument));
            }
        }
    }
}

impl Client {
    /// Emits `event` with `data` asking for an acknowledgement (id `id`),
    /// and returns the acknowledgement's first argument, ignoring the
    /// events that come meanwhile.
    pub async fn ask(&mut self, id: u64, event: &str, data: &serde_json::Value) -> Result<serde_json::Value, Error> {
        self.send(&format!("42{id}{}", serde_json::json!([event, data]))).await?;
        let answer = format!("43{id}");
        loop {
            let text = self.next_text().await?;
            if let Some(array) = text.strip_prefix(&answer) {
                let array: serde_json::Value = serde_json::from_str(array).map_err(|e| e.to_string())?;
                return Ok(array[0].clone());
            }
        }
    }
}

/// Parses `42["name","argument",...]`, or `42ID[...]` for an event asking
/// for acknowledgement `ID`.
pub fn parse_event(text: &str) -> Option<(Option<u64>, String, String)> {
    let packet = text.strip_prefix("42")?;
    let digits = packet.bytes().take_while(u8::is_ascii_digit).count();
    let ack = packet[..digits].parse().ok();
    let array: serde_json::Value = serde_json::from_str(&packet[digits..]).ok()?;
    let name = array.get(0)?.as_str()?.to_owned();
    let argument = array.get(1).and_then(|a| a.as_str()).unwrap_or_default().to_owned();
    Some((ack, name, argument))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed() {
        assert_eq!(parse_event(r#"42["new_msg","7 123"]"#), Some((None, "new_msg".into(), "7 123".into())));
        assert_eq!(
            parse_event(r#"42["update_online_count",{"a":1}]"#),
            Some((None, "update_online_count".into(), String::new()))
        );
        assert_eq!(parse_event(r#"4212["new_msg","x",{}]"#), Some((Some(12), "new_msg".into(), "x".into())));
        assert_eq!(parse_event("3"), None);
    }
}
