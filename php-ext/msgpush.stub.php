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
     * Sends the message and waits for msgpushd's answer (at most
     * msgpush.timeout_ms).
     *
     * @return int the browser tabs (sockets) reached; 0 means offline.
     * @throws PushException UNREACHABLE, TIMEOUT, REFUSED, INVALID_INPUT
     *         (over msgpush.max_message_bytes) or CONNECTION_LOST. After
     *         TIMEOUT or CONNECTION_LOST the outcome is unknown: push() again
     *         (the same object) delivers the message once in all.
     */
    public function push(): int {}

    /**
     * Queues the message for this process's background writer and returns at
     * once, without waiting for msgpushd. Queued messages are sent in order;
     * while msgpushd is down they wait in the queue; one whose answer was lost
     * is sent again and still delivered once. The end of each request waits
     * up to msgpush.flush_timeout_ms for them.
     *
     * @return bool true if queued; false if the queue (msgpush.queue_size) is
     *         full, in which case the message is dropped.
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
     * @param string|int $uid the user (an int is taken as its decimal string).
     * @param int $ttl seconds until it expires, 1 to 2592000 (30 days).
     * @throws PushException INVALID_INPUT for a bad uid or ttl; UNREACHABLE,
     *         TIMEOUT, REFUSED or CONNECTION_LOST as for PushEvent::push().
     */
    public static function token(mixed $uid, int $ttl = 86400): string {}

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

/** Thrown when a push or a request of Auth fails; getCode() tells why. */
class PushException extends \RuntimeException
{
    /** msgpushd's socket cannot be connected to (down, wrong path, permissions). */
    public const UNREACHABLE = 1;
    /** msgpushd did not answer within msgpush.timeout_ms. */
    public const TIMEOUT = 2;
    /** msgpushd answered with an error. */
    public const REFUSED = 3;
    /** The input or a setting breaks a rule; nothing was sent. */
    public const INVALID_INPUT = 4;
    /** The connection broke before the answer, or the answer was unreadable. */
    public const CONNECTION_LOST = 5;
    /** The extension could not do its own part (start the queue's writer thread); nothing was sent. */
    public const INTERNAL = 6;
}
