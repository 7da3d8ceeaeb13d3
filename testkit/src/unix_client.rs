//! A blocking client of the daemon's Unix socket, speaking the protocol
//! crate's frames.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use msgpush_protocol::defaults::events;
use msgpush_protocol::limits::MAX_REPLY_BYTES;
use msgpush_protocol::{frame, Command, Content, Membership, Publish, Reply, Request, Response, Target, TokenRequest};

use crate::wait::PATIENCE;

/// The sockets a `delivered` reply counts; panics on another reply.
pub fn sockets_delivered(reply: &Reply) -> u64 {
    match reply {
        Reply::Delivered { sockets, .. } => *sockets,
        other => panic!("expected a delivered reply, got {other:?}"),
    }
}

/// A blocking client of the daemon's Unix socket.
#[derive(Debug)]
pub struct UnixClient {
    stream: UnixStream,
    next_id: u64,
    buf: Vec<u8>,
}

impl UnixClient {
    /// Connects to `path`.
    pub fn connect(path: &Path) -> UnixClient {
        let stream = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        UnixClient { stream, next_id: 1, buf: Vec::new() }
    }

    /// The connection itself, for a test that writes without reading.
    pub fn into_stream(self) -> UnixStream {
        self.stream
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one response frame.
    pub fn read_response(&mut self) -> Response {
        frame::read(&mut self.stream, &mut self.buf, MAX_REPLY_BYTES).expect("a response frame")
    }

    /// Whether the daemon closed the connection: reads EOF (or a reset)
    /// within [`PATIENCE`]. A connection still open after it is not closed.
    pub fn is_closed_by_peer(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(n) => n == 0,
            Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        }
    }

    /// Sends one request and returns its reply.
    pub fn request(&mut self, cmd: Command) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        let mut out = Vec::new();
        frame::encode(&Request { id, cmd }, &mut out);
        self.send_raw(&out);
        let response = self.read_response();
        assert_eq!(response.id, id);
        response.reply
    }

    /// Publishes and returns the reply.
    pub fn publish(&mut self, to: Target, event: &str, content: Content) -> Reply {
        self.request(Command::Publish(Publish::new(to, event, content)))
    }

    /// A login token for `uid` valid for `ttl` seconds.
    pub fn token(&mut self, uid: &str, ttl: u64) -> String {
        self.token_in_groups(uid, ttl, &[])
    }

    /// A login token for `uid` valid for `ttl` seconds that puts its tab in `groups`.
    pub fn token_in_groups(&mut self, uid: &str, ttl: u64, groups: &[&str]) -> String {
        let groups = groups.iter().map(|group| group.to_string()).collect();
        match self.request(Command::Token(TokenRequest { uid: uid.into(), ttl, groups })) {
            Reply::Token { token, .. } => token,
            other => panic!("token request failed: {other:?}"),
        }
    }

    /// Writes, without waiting between them, for each `n` of `rooms` a join
    /// of `uid` to `room{n}` and a push of `r{n}` to that room (request ids
    /// from `first_id` on), then checks each answer: the join found the one
    /// tab of `uid`, and so did the push right behind it.
    pub fn join_and_push_pipelined(&mut self, uid: &str, rooms: std::ops::RangeInclusive<u64>, first_id: u64) {
        let mut burst = Vec::new();
        let mut id = first_id;
        for n in rooms {
            let join = Membership { groups: vec![format!("room{n}")], uids: vec![uid.into()] };
            frame::encode(&Request { id, cmd: Command::GroupJoin(join) }, &mut burst);
            let to = Target::Groups(vec![format!("room{n}")]);
            let publish = Publish::new(to, events::NEW_MSG, Content::Text(format!("r{n}")));
            frame::encode(&Request { id: id + 1, cmd: Command::Publish(publish) }, &mut burst);
            id += 2;
        }
        self.send_raw(&burst);
        for expected in first_id..id {
            let response = self.read_response();
            assert_eq!(response.id, expected);
            match &response.reply {
                Reply::Joined { sockets } if (expected - first_id).is_multiple_of(2) => assert_eq!(*sockets, 1),
                reply if !(expected - first_id).is_multiple_of(2) => {
                    assert_eq!(sockets_delivered(reply), 1, "a push finds the tab that joined before it")
                }
                reply => panic!("request {expected} answered {reply:?}"),
            }
        }
    }

    /// Publishes `text` as `new_msg` to `uid`; returns the sockets reached.
    pub fn push_text(&mut self, uid: &str, text: &str) -> u64 {
        match self.publish(Target::Users(vec![uid.into()]), events::NEW_MSG, Content::Text(text.into())) {
            Reply::Delivered { sockets, .. } => sockets,
            other => panic!("push failed: {other:?}"),
        }
    }
}
