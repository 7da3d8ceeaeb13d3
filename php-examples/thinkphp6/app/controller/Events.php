<?php
// A ThinkPHP 6/8 route for msgpushd's events (msgpushd --webhook-url
// https://your.site/msgpush/events --page-messages chat):
//   route/app.php:  Route::post('msgpush/events', 'Events/receive');
// Exempt it from CSRF checks (the signature is its proof, checked by
// Webhook::events()), and keep it fast: msgpushd waits --webhook-timeout-ms
// for the answer, and retries a request that failed, with the same ids.
declare(strict_types=1);

namespace app\controller;

use MsgPush\Group;
use MsgPush\PushEvent;
use MsgPush\PushException;
use MsgPush\Webhook;
use think\facade\Db;
use think\facade\Log;
use think\Request;
use think\response\Json;

class Events
{
    /** POST /msgpush/events */
    public function receive(Request $request): Json
    {
        try {
            $events = Webhook::events(
                $request->getContent(),
                (string) $request->header('x-msgpush-timestamp'),
                (string) $request->header('x-msgpush-signature')
            );
        } catch (PushException $e) {
            Log::warning('msgpush webhook refused: ' . $e->getMessage());
            return json(['error' => 'refused'], $e->getCode() === PushException::REFUSED ? 403 : 503);
        }
        $answer = ['ok' => true];
        foreach ($events as $event) {
            // Each event once: msgpush_events has a unique key on id.
            if (Db::name('msgpush_events')->insertGetId(['id' => $event['id']], false, 'ignore') === 0) {
                continue;
            }
            $uid = (string) $event['data']['uid'];
            switch ($event['type']) {
                case 'user_online':
                    Db::name('user')->where('id', $uid)->update(['online' => 1]);
                    break;
                case 'user_offline':
                    // After --offline-grace-secs: a page reload is neither online nor offline.
                    Db::name('user')->where('id', $uid)->update([
                        'online' => 0,
                        'last_seen' => intdiv($event['time'], 1000),
                    ]);
                    break;
                case 'message_read':
                    Db::name('notice')->where('msg_id', $event['data']['msg_id'])->update(['read_at' => time()]);
                    break;
                case 'page_message':
                    // socket.emit('msgpush:send', {name: 'chat', data: {room, text}}, ({answer, error}) => ...)
                    $answer = $this->chat($uid, $event['data']['name'], $event['data']['data']);
                    break;
            }
        }
        return json($answer);
    }

    /** A chat line from a page, to the room's tabs but the sender's; the uid is the tab's logged-in user. */
    private function chat(string $uid, string $name, $data): array
    {
        if ($name !== 'chat' || !is_array($data)) {
            return ['error' => 'unknown message'];
        }
        $room = (string) ($data['room'] ?? '');
        if (!Db::name('room_member')->where(['room' => $room, 'uid' => $uid])->find()) {
            return ['error' => 'not in that room'];
        }
        $text = mb_substr((string) ($data['text'] ?? ''), 0, 500);
        Db::name('chat')->insert(['room' => $room, 'uid' => $uid, 'text' => $text, 'at' => time()]);
        $sent = (new PushEvent())
            ->setGroup("room-$room")
            ->except($uid)
            ->setEvent('room_msg')
            ->setContent(['from' => $uid, 'text' => $text])
            ->push();
        return ['sent' => $sent, 'here' => Group::count("room-$room")['users']];
    }
}
