<?php
// A ThinkPHP 6/8 order page that follows one order live: its tab is in the
// order's group by its login token, so only the pages showing order 42 get
// order 42's messages, with no membership to keep.
declare(strict_types=1);

namespace app\controller;

use MsgPush\Auth;
use MsgPush\PushEvent;
use think\facade\Session;
use think\facade\View;
use think\response\Json;

class Order
{
    /**
     * GET /order/:id: the order page. In its template:
     *     const socket = io('https://push.example.com', { auth: { token: '{$token}' } });
     *     socket.on('order_status', (o) => showStatus(o.status));
     */
    public function read(int $id): string
    {
        // (Check here that the signed-in user may see this order.)
        $token = Auth::token(Session::get('uid'), 86400, ["order-$id"]);
        return View::fetch('order', ['id' => $id, 'token' => $token]);
    }

    /** Called by the job that ships the order: every page open on it, whoever's. */
    public function shipped(int $id): Json
    {
        $tabs = (new PushEvent())
            ->setGroup("order-$id")
            ->setEvent('order_status')
            ->setContent(['order' => $id, 'status' => 'shipped'])
            ->push();
        return json(['tabs' => $tabs]);
    }
}
