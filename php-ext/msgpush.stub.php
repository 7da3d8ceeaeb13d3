<?php

/**
 * The API of the msgpush extension, for IDEs and static analysers.
 * This file is documentation: the extension implements it natively, and a
 * test compares this file with what the loaded extension declares.
 */

namespace MsgPush;

/**
 * A message for browsers connected to msgpushd, sent over one persistent
 * Unix-socket connection per PHP process.
 *
 *     (new PushEvent)->setUser($uid)->setContent($text)->push();
 *
 * A message is sent with a random id, kept from its first push() or queue()
 * until a setter changes it: msgpushd delivers a message once per id (within
 * its --dedup-window-secs), so sending the same PushEvent again after a
 * TIMEOUT is safe. Call a setter, or make a new PushEvent, for a new message.
 *
 * Subclasses that define a constructor must call parent::__construct().
 */
class PushEvent
{
    /** A message to everyone, with event `new_msg` and empty content. */
    public function __construct() {}

    /**
     * Sets the recipients: one uid (a string, or an int taken as its decimal
     * string), an array of uids, or '' / null / no argument for every
     * connected browser. An empty array reaches no one.
     *
     * @param string|int|array<string|int>|null $uid
     * @return PushEvent this object, for chaining.
     * @throws PushException INVALID_INPUT if a uid is empty, longer than 256
     *         bytes, not valid UTF-8, or of another type.
     */
    public function setUser(mixed $uid = null): PushEvent {}

    /**
     * Sets the recipients to the browser tabs in a group, or in any of
     * several groups (a tab in two of them receives the message once). A tab
     * is in a group when its login token names it (Auth::token()) or when its
     * user is a member (Group::join()).
     *
     * @param string|array<string> $group one group name or several.
     * @return PushEvent this object, for chaining.
     * @throws PushException INVALID_INPUT if a name is empty, longer than 128
     *         bytes, not a string, or there are more than 1000 names; when
     *         pushed, also over msgpushd's --max-groups-per-request.
     */
    public function setGroup(mixed $group): PushEvent {}

    /**
     * Leaves out the tabs of these users, whoever the recipients are (users,
     * groups or everyone): typically the sender's own tabs. An empty array
     * leaves out no one.
     *
     * @param string|int|array<string|int> $uid one uid or several.
     * @return PushEvent this object, for chaining.
     * @throws PushException INVALID_INPUT for a bad uid, as for setUser().
     */
    public function except(mixed $uid): PushEvent {}

    /**
     * Sets the content, delivered as given (no HTML escaping): a string
     * (ints, floats and bools are converted as PHP converts them), or an
     * array, sent as JSON and received by the browser as an object or list.
     *
     * @param string|int|float|bool|array|null $content
     * @return PushEvent this object, for chaining.
     * @throws PushException INVALID_INPUT if a string is not valid UTF-8 or
     *         the value cannot be sent as JSON.
     */
    public function setContent(mixed $content = null): PushEvent {}

    /**
     * Sets the Socket.IO event name the browser listens to.
     *
     * @throws PushException INVALID_INPUT if it is empty, longer than 128
     *         bytes, or reserved by Socket.IO (connect, disconnect, ...).
     */
    public function setEvent(string $event = 'new_msg'): PushEvent {}

    /**
     * Whether the message is kept in its streams' history (the default), so
     * that a tab that reconnects within msgpushd's --history-size and
     * --history-ttl-secs still gets it; false for messages that are stale
     * at once (a typing indicator).
     *
     * @return PushEvent this object, for chaining.
     */
    public function setHistory(bool $keep = true): PushEvent {}

    /**
     * Keeps the message for each of its users (a push to groups: their
     * members and the users with a tab in them; to everyone: the users
     * online) until one of the user's tabs acknowledges it, for at most
     * $seconds: a user offline now gets it at their next login, one online
     * gets it now. A page acknowledges with Socket.IO's acknowledgement, the
     * last argument of its handler:
     *
     *     socket.on('new_msg', (content, meta, ack) => { show(content); ack(); });
     *
     * A page that never acknowledges gets the message again at each login
     * until it expires.
     *
     * @param int $seconds 1 to msgpushd's --inbox-max-keep-secs (30 days); 0: not kept.
     * @return PushEvent this object, for chaining.
     * @throws PushException INVALID_INPUT for a negative or too long time;
     *         push() throws INVALID_INPUT over --inbox-max-keep-secs, or for
     *         a kept message that would reach more than 10,000 users.
     */
    public function keep(int $seconds): PushEvent {}

    /**
     * Asks each tab the message reaches to acknowledge it (Socket.IO's
     * acknowledgement, the last argument of the page's handler) and records
     * which users did, for Receipt::of($event->id()), without making push()
     * wait. Pages whose handlers take one argument never acknowledge, and
     * are not slowed down.
     *
     * @param bool $on default true.
     * @return PushEvent this object, for chaining.
     */
    public function setReceipts(bool $on = true): PushEvent {}

    /**
     * Makes push() wait up to $ms milliseconds for the tabs it reached to
     * acknowledge the message, and return how many did; a tab that answers
     * later is not counted (but still recorded in the receipts). push()
     * returns as soon as every tab reached has answered. Its deadline is
     * msgpush.timeout_ms plus $ms. Implies setReceipts(); queue() sends the
     * message with receipts and does not wait.
     *
     *     $event->setAckTimeout(3000);
     *     if ($event->push() === 0) { sendSms($uid); }   // nobody saw it in 3 s
     *
     * @param int $ms 1 to msgpushd's --max-ack-timeout-ms (10,000; at most
     *        60,000); 0: do not wait.
     * @return PushEvent this object, for chaining.
     * @throws PushException INVALID_INPUT for a negative or too long time;
     *         push() throws INVALID_INPUT over --max-ack-timeout-ms, and
     *         BUSY when --max-waiting-pushes pushes wait already.
     */
    public function setAckTimeout(int $ms): PushEvent {}

    /**
     * Sends the message and waits for msgpushd's answer (at most
     * msgpush.timeout_ms, plus the ack timeout if one is set).
     *
     * @return int the browser tabs (sockets) reached; 0 means offline. With
     *         setAckTimeout(): the tabs that acknowledged within it.
     * @throws PushException UNREACHABLE, TIMEOUT, REFUSED, INVALID_INPUT
     *         (over msgpush.max_message_bytes), BUSY or CONNECTION_LOST.
     *         After TIMEOUT or CONNECTION_LOST the outcome is unknown: push()
     *         again (the same object) delivers the message once in all (a
     *         copy is answered with the first one's reach, and waits for no
     *         acknowledgement).
     */
    public function push(): int {}

    /**
     * @return int the browser tabs the last push() reached (wrote the
     *         message to), whether it waited for acknowledgements or not.
     */
    public function reached(): int {}

    /**
     * @return string[] the users whose tabs acknowledged the last push()
     *         within its ack timeout, each once however many tabs, in byte
     *         order; empty without setAckTimeout().
     */
    public function ackedBy(): array {}

    /**
     * The message's id, as pages see it (meta.id): 32 hex digits, drawn at
     * the first push() or queue() and kept until a setter changes the
     * message; null before.
     */
    public function id(): ?string {}

    /**
     * Where the last push() kept the message: its position in each of its
     * streams, for the application to store beside it.
     *
     * @return array<string, array{epoch: string, position: int}> by stream:
     *         'user:UID', 'group:NAME' or 'all'; empty after queue(), for a
     *         message kept in no history, and for a copy of a message
     *         already delivered.
     */
    public function positions(): array {}

    /**
     * @return int the users the last push() kept the message for (keep()).
     */
    public function kept(): int {}

    /**
     * Queues the message for this process's background writer and returns at
     * once, without waiting for msgpushd. Queued messages are sent in order;
     * while msgpushd is down they wait in the queue; one whose answer was lost
     * is sent again and still delivered once. The end of each request waits
     * up to msgpush.flush_timeout_ms for them.
     *
     * A full queue (msgpush.queue_size) is waited on for room up to
     * msgpush.queue_wait_ms: by default 5 s under the CLI, so that a bulk job
     * slows down to msgpushd's pace instead of dropping, and not at all under
     * php-fpm and other web SAPIs. After a wait ran out, later calls do not
     * wait again until the writer has made progress.
     *
     * @return bool true if queued; false if the queue stayed full, in which
     *         case the message is dropped (counted in php --ri msgpush).
     * @throws PushException INVALID_INPUT as for push().
     */
    public function queue(): bool {}

    /**
     * Waits until msgpushd has answered every message queued so far.
     *
     * @param int|null $timeout_ms at most this long (default
     *        msgpush.flush_timeout_ms).
     * @return bool true if all were answered in time.
     */
    public static function flush(?int $timeout_ms = null): bool {}
}

/**
 * Login tokens and logging users out. A page logs in with a token its back
 * end rendered into it, so no page can read another user's messages:
 *
 *     $token = Auth::token($uid);   // in the controller that renders the page
 *     // in the page: io(url, {auth: {token}}), or socket.emit('login', token)
 *
 * msgpushd signs the tokens with its secret; PHP never holds it.
 */
class Auth
{
    /** Not for use: every method is static (throws). */
    public function __construct() {}

    /**
     * A login token for one user: a JWT (HS256) with `sub` = the uid, signed
     * by msgpushd. Hand it to the page; a browser that presents it is logged
     * in as that user until the token expires.
     *
     * The groups, if any, go into the token's `grp` claim: the tab that logs
     * in with it is in those groups for its life, reconnects included (a page
     * rendered for order 42 gets a token with 'order-42', and only that tab
     * receives the order's messages). The page cannot change them.
     *
     * @param string|int $uid the user (an int is taken as its decimal string).
     * @param int $ttl seconds until it expires, 1 to 2592000 (30 days).
     * @param array<string>|null $groups group names (1 to 128 bytes each); at
     *        most msgpushd's --max-token-groups (32 by default).
     * @throws PushException INVALID_INPUT for a bad uid, ttl or group name,
     *         or more groups than --max-token-groups; UNREACHABLE, TIMEOUT,
     *         REFUSED or CONNECTION_LOST as for PushEvent::push().
     */
    public static function token(mixed $uid, int $ttl = 86400, ?array $groups = null): string {}

    /**
     * Disconnects every browser tab of these users (logout everywhere, a
     * blocked account). A page still holding a valid token can log in again:
     * stop handing it new ones, and keep token lifetimes short where it matters.
     *
     * @param string|int|array<string|int> $uid one uid or several.
     * @return int the sockets (browser tabs) disconnected.
     * @throws PushException as for token().
     */
    public static function disconnect(mixed $uid): int {}
}

/**
 * Memberships of groups, kept by msgpushd per user: a member's tabs open now
 * and every tab the user opens later, on any node, are in the group until
 * Group::leave(). msgpushd keeps a user's memberships while the user has a
 * tab open and --group-membership-days (30) after the last one closed, at
 * most --max-groups-per-user (256) per user and --max-memberships
 * (1,000,000) in all; a single daemon keeps them in its store, a cluster
 * in Redis: a restart keeps them.
 *
 *     Group::join('team-7', $uid);                        // in the controller
 *     (new PushEvent)->setGroup('team-7')->setContent($text)->push();
 *
 * Group::members() and Group::count() count every tab in the group: those of
 * members and those whose token names it.
 */
class Group
{
    /** Not for use: every method is static (throws). */
    public function __construct() {}

    /**
     * Makes the users members of the groups.
     *
     * @param string|array<string> $group one group name or several.
     * @param string|int|array<string|int> $uid one uid or several (at most 10,000).
     * @return int the users' tabs open now (each tab once, whether it was in the groups already or not).
     * @throws PushException INVALID_INPUT for a bad name or uid, or over
     *         --max-groups-per-request, --max-groups-per-user or
     *         --max-memberships (nothing is joined then); UNREACHABLE,
     *         TIMEOUT, REFUSED or CONNECTION_LOST as for PushEvent::push().
     */
    public static function join(mixed $group, mixed $uid): int {}

    /**
     * Ends the users' memberships of the groups. Tabs whose token names a
     * group stay in it.
     *
     * @param string|array<string> $group one group name or several.
     * @param string|int|array<string|int> $uid one uid or several.
     * @return int the users' tabs that left a group.
     * @throws PushException as for join().
     */
    public static function leave(mixed $group, mixed $uid): int {}

    /**
     * The uids with a tab in the group now, in byte order, each once.
     *
     * @throws PushException INVALID_INPUT for a bad name; UNREACHABLE,
     *         TIMEOUT, REFUSED or CONNECTION_LOST as for PushEvent::push().
     */
    public static function members(mixed $group): array {}

    /**
     * @return array{users: int, tabs: int} the users with a tab in the group,
     *         and those tabs.
     * @throws PushException as for members().
     */
    public static function count(mixed $group): array {}
}

/**
 * Who is online: a user is online while at least one of their browser tabs
 * is logged in. In a cluster every answer covers all nodes (a node that died
 * is dropped after --cluster-node-ttl-secs).
 */
class Presence
{
    /** Not for use: every method is static (throws). */
    public function __construct() {}

    /**
     * @param string|int $uid
     * @return bool whether the user has a tab open.
     * @throws PushException INVALID_INPUT for a bad uid; UNREACHABLE,
     *         TIMEOUT, REFUSED or CONNECTION_LOST as for PushEvent::push().
     */
    public static function isOnline(mixed $uid): bool {}

    /**
     * @param string|int $uid
     * @return int how many tabs the user has open.
     * @throws PushException as for isOnline().
     */
    public static function tabs(mixed $uid): int {}

    /**
     * Which of these users are online, in one round trip (a green dot next
     * to each contact).
     *
     * @param array<string|int> $uids at most 10,000.
     * @return array<string> those online, each once, in the order given.
     * @throws PushException as for isOnline().
     */
    public static function online(array $uids): array {}

    /**
     * @return array{users: int, tabs: int} the users online, and their tabs.
     * @throws PushException UNREACHABLE, TIMEOUT, REFUSED or CONNECTION_LOST.
     */
    public static function count(): array {}

    /**
     * One page of the uids online, in byte order: pass the cursor it returns
     * to get the next page, until it returns a null cursor. A user who comes
     * or goes while the pages are read may be in them or not; no uid is in
     * two pages.
     *
     * @param string|null $cursor null for the first page.
     * @param int $limit at most this many uids, 1 to 10,000.
     * @return array{users: array<string>, cursor: ?string}
     * @throws PushException INVALID_INPUT for a bad limit; as for count().
     */
    public static function users(?string $cursor = null, int $limit = 1000): array {}
}

/**
 * The messages kept for a user by PushEvent->keep() that no tab of theirs
 * has acknowledged yet.
 */
class Inbox
{
    /** Not for use: every method is static (throws). */
    public function __construct() {}

    /**
     * @param string|int $uid
     * @return int the kept messages waiting for the user.
     * @throws PushException INVALID_INPUT for a bad uid; UNREACHABLE,
     *         TIMEOUT, REFUSED or CONNECTION_LOST as for PushEvent::push().
     */
    public static function count(mixed $uid): int {}

    /**
     * Forgets the messages kept for the user (for example once the
     * application showed them some other way).
     *
     * @param string|int $uid
     * @return int how many were forgotten.
     * @throws PushException as for count().
     */
    public static function clear(mixed $uid): int {}
}

/**
 * Who acknowledged, and read, a message sent with receipts
 * (PushEvent->setReceipts() or ->setAckTimeout()), on any node of a
 * cluster. A page reports that its user read a message with
 * socket.emit('msgpush:read', meta.id); a read counts once the user's tab
 * acknowledged the message.
 */
class Receipt
{
    /** Not for use: every method is static (throws). */
    public function __construct() {}

    /**
     * The receipts of a message, for msgpushd's --receipt-ttl-secs (a day)
     * from its first acknowledgement, first acknowledged first; at most
     * --max-receipts-per-message users.
     *
     * @param string $msgId the message's id (PushEvent->id()).
     * @return array<int, array{uid: string, acked_ms: int, read_ms: ?int}>
     *         times in milliseconds since the Unix epoch; read_ms null until
     *         the user read it.
     * @throws PushException INVALID_INPUT for an id that is not 32 hex
     *         digits; UNREACHABLE, TIMEOUT, REFUSED or CONNECTION_LOST as for
     *         PushEvent::push().
     */
    public static function of(string $msgId): array {}
}

/**
 * The events msgpushd POSTs to the application's route (--webhook-url):
 * users online and offline, groups joined and left, receipts, and the
 * pages' messages (socket.emit('msgpush:send', {name, data}, answer)).
 * Each request is signed with the webhook secret; the extension never holds
 * it, it asks msgpushd to check the signature. A page's message is answered
 * by what the route prints (JSON), which goes back to the page.
 */
class Webhook
{
    /** Not for use: every method is static (throws). */
    public function __construct() {}

    /**
     * The events of the current request, once msgpushd confirmed that it
     * signed them less than 5 minutes ago.
     *
     *     foreach (Webhook::events() as $event) {
     *         // ['id' => '…32 hex…', 'type' => 'user_offline', 'time' => 1764640000123,
     *         //  'data' => ['uid' => '42']]
     *     }
     *
     * Types: user_online, user_offline (data: uid), group_joined,
     * group_left (uid, group), message_acked, message_read (uid, msg_id),
     * page_message (uid: the tab's logged-in user, name, data). Ids are
     * unique: a request retried after the application failed to answer may
     * bring events it has seen.
     *
     * @param ?string $body the request's body; null: php://input.
     * @param ?string $timestamp its X-MsgPush-Timestamp header; null: $_SERVER.
     * @param ?string $signature its X-MsgPush-Signature header; null: $_SERVER.
     * @return array<int, array{id: string, type: string, time: int, data: array}>
     * @throws PushException REFUSED for a request msgpushd did not sign:
     *         forged, altered, signed with another secret, older than 5
     *         minutes (a replay), or without the headers; UNREACHABLE,
     *         TIMEOUT or CONNECTION_LOST as for PushEvent::push().
     */
    public static function events(?string $body = null, ?string $timestamp = null, ?string $signature = null): array {}
}

/** Thrown when a push or a request of Auth fails; getCode() tells why. */
class PushException extends \RuntimeException
{
    /** msgpushd's socket cannot be connected to (down, wrong path, permissions). */
    public const UNREACHABLE = 1;
    /** msgpushd did not answer within msgpush.timeout_ms. */
    public const TIMEOUT = 2;
    /** msgpushd answered with an error (other than a rule the input breaks). */
    public const REFUSED = 3;
    /** The input or a setting breaks a rule (the extension's or msgpushd's); nothing was done. */
    public const INVALID_INPUT = 4;
    /** The connection broke before the answer, or the answer was unreadable. */
    public const CONNECTION_LOST = 5;
    /** The extension could not do its own part (start the queue's writer thread); nothing was sent. */
    public const INTERNAL = 6;
    /** msgpushd is at one of its bounds (--max-waiting-pushes); nothing was sent: try later. */
    public const BUSY = 7;
}
