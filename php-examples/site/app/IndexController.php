<?php
// The article's controller, on the msgpush extension. The page is rendered
// with a login token for its user, so that it can receive only that user's
// messages. In a real application the uid comes from the session, never from
// the query string.
namespace Home\Controller;

use MsgPush\Auth;
use MsgPush\Group;
use MsgPush\PushEvent;
use MsgPush\PushException;
use MsgPush\Webhook;

class IndexController
{
    /** The page: connects to msgpushd, logs in, shows messages and the online count. */
    public function index()
    {
        $uid = $this->uid();
        $token = $this->token($uid);
        $server = (string) ($_GET['server'] ?? ''); // '' = this site's origin (nginx proxies /socket.io/)
        require __DIR__ . '/page.php';
    }

    /** The same page as an existing web-msg-sender front end (socket.io-client 2.x). */
    public function legacy()
    {
        $uid = $this->uid();
        $token = $this->token($uid);
        $server = (string) ($_GET['server'] ?? '');
        require __DIR__ . '/legacy.php';
    }

    /** A chat room with who is here: GET /room?uid=123&room=7. */
    public function room()
    {
        $uid = $this->uid();
        $room = (string) ($_GET['room'] ?? '1');
        $group = "room-$room";
        // The token puts this tab in the room's group, for its life: no call at run time.
        $token = $this->token($uid, [$group]);
        $server = (string) ($_GET['server'] ?? '');
        require __DIR__ . '/room.php';
    }

    /**
     * GET /notices?uid=123&room=7: notices and a room's chat with msgpush.js:
     * the page renews its token from /token, recovers what it missed across
     * reloads, acknowledges each notice once shown, and chats through the
     * webhook (events()) instead of an AJAX route.
     */
    public function notices()
    {
        $uid = $this->uid();
        $room = (string) ($_GET['room'] ?? '1');
        $ttl = $this->ttl();
        $token = $this->token($uid, ["room-$room"], $ttl);
        $server = (string) ($_GET['server'] ?? '');
        require __DIR__ . '/notices.php';
    }

    /** GET /token?uid=123&room=7&ttl=3600: a new login token, for msgpush.js's getToken(). */
    public function newToken()
    {
        $token = $this->token($this->uid(), ['room-' . (string) ($_GET['room'] ?? '1')], $this->ttl());
        if ($token === null) {
            http_response_code(503);
            return;
        }
        header('Content-Type: text/plain');
        header('Cache-Control: no-store');
        echo $token;
    }

    /** POST /room/say?uid=123&room=7&text=...: to every tab in the room but the sender's. */
    public function say()
    {
        $uid = $this->uid();
        $room = (string) ($_GET['room'] ?? '1');
        header('Content-Type: application/json');
        try {
            $sockets = (new PushEvent())
                ->setGroup("room-$room")
                ->except($uid)
                ->setEvent('room_msg')
                ->setContent(['from' => $uid, 'text' => (string) ($_GET['text'] ?? '')])
                ->push();
            echo json_encode(['sockets' => $sockets, 'here' => Group::count("room-$room")]);
        } catch (PushException $e) {
            http_response_code(503);
            echo json_encode(['error' => $e->getMessage()]);
        }
    }

    /** GET /home/index/pushmsg?uid=123[&text=...]: pushes to uid ('' = everyone). */
    public function pushMsg()
    {
        $string = $_GET['text'] ?? 'Man Always Remember Love Because Of Romance Only';
        $uid = isset($_GET['uid']) ? $_GET['uid'] : '';
        header('Content-Type: application/json');
        try {
            $push = new PushEvent();
            $sockets = $push->setUser($uid)->setContent($string)->push();
            echo json_encode(['uid' => $uid, 'sockets' => $sockets]);
        } catch (PushException $e) {
            http_response_code(503);
            echo json_encode(['uid' => $uid, 'error' => $e->getMessage()]);
        }
    }

    /**
     * POST /msgpush/events: msgpushd's webhook (msgpushd --webhook-url
     * http://127.0.0.1/msgpush/events --page-messages chat). Checks the
     * request, records every event once in data/events.log, keeps each
     * user's "last seen" in data/last-seen/, and answers a page's chat
     * message (socket.emit('msgpush:send', {name: 'chat', data: {room, text}}, answer))
     * by pushing it to the room: the page gets {answer: {sent: n}}.
     */
    public function events()
    {
        header('Content-Type: application/json');
        try {
            $events = Webhook::events();
        } catch (PushException $e) {
            // A forged, altered or replayed request: refused, and nothing is done.
            http_response_code($e->getCode() === PushException::REFUSED ? 403 : 503);
            echo json_encode(['error' => $e->getMessage()]);
            return;
        }
        $data = dirname(__DIR__) . '/data';
        $answer = ['ok' => true];
        foreach ($events as $event) {
            // A request retried after a failed answer may bring an event again:
            // handled once by its id (in an application, a unique key in the database).
            if (!@mkdir("$data/seen/{$event['id']}", 0700, true)) {
                continue;
            }
            file_put_contents("$data/events.log", json_encode($event) . "\n", FILE_APPEND | LOCK_EX);
            $uid = (string) $event['data']['uid'];
            switch ($event['type']) {
                case 'user_offline':
                    @mkdir("$data/last-seen", 0700);
                    file_put_contents("$data/last-seen/" . rawurlencode($uid), (string) $event['time']);
                    break;
                case 'page_message':
                    $answer = $this->pageMessage($uid, $event['data']['name'], $event['data']['data']);
                    break;
            }
        }
        echo json_encode($answer);
    }

    /** A page's message: the uid is the one its tab logged in as, never one the page names. */
    private function pageMessage(string $uid, string $name, $data): array
    {
        if ($name !== 'chat' || !is_array($data)) {
            return ['error' => 'not a message this site takes'];
        }
        $room = (string) ($data['room'] ?? '');
        // Only to a room the user's tab is in (its token named the room's group).
        if (!in_array($uid, Group::members("room-$room"), true)) {
            return ['error' => 'not in that room'];
        }
        $sent = (new PushEvent())
            ->setGroup("room-$room")
            ->except($uid)
            ->setEvent('room_msg')
            ->setContent(['from' => $uid, 'text' => (string) ($data['text'] ?? '')])
            ->push();
        return ['sent' => $sent];
    }

    private function uid(): string
    {
        return (string) ($_GET['uid'] ?? '123');
    }

    /** Seconds a page's token lasts (?ttl=, for trying renewal out; a day by default). */
    private function ttl(): int
    {
        return max(1, min(86400, (int) ($_GET['ttl'] ?? 86400)));
    }

    /** A login token for the page; null (the page works, without live messages) if msgpushd is down. */
    private function token(string $uid, array $groups = [], int $ttl = 86400): ?string
    {
        try {
            return Auth::token($uid, $ttl, $groups);
        } catch (PushException $e) {
            error_log('msgpush: no login token: ' . $e->getMessage());
            return null;
        }
    }
}
