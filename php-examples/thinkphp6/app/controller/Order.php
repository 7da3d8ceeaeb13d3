<?php
// A ThinkPHP 6/8 order page that follows one order live: its tab is in the
// order's group by its login token, so only the pages showing order 42 get
// order 42's messages, with no membership to keep. Its confirmation waits
// for the user's tab to acknowledge it, and texts them when none did.
declare(strict_types=1);

namespace app\controller;

use MsgPush\Auth;
use MsgPush\PushEvent;
use MsgPush\Receipt;
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

    /**
     * Called when the order is confirmed: the user's open tabs have 3 s to
     * acknowledge it (in the page: socket.on('order_confirmed', (o, meta, ack)
     * => { show(o); ack(); })); when none did, the user gets a text instead.
     */
    public function confirmed(int $id): Json
    {
        $uid = Session::get('uid');
        $event = (new PushEvent())
            ->setUser($uid)
            ->setEvent('order_confirmed')
            ->setContent(['order' => $id])
            ->setAckTimeout(3000);
        $acked = $event->push();
        if ($acked === 0) {
            // (Send the SMS here, e.g. with the application's SMS service.)
        }
        // Kept with the order, so that its receipts can be asked for later.
        Session::set("order-$id-push", $event->id());
        return json(['reached' => $event->reached(), 'acknowledged' => $event->ackedBy()]);
    }

    /** GET /order/:id/seen: who acknowledged the confirmation, and who read it. */
    public function seen(int $id): Json
    {
        return json(Receipt::of((string) Session::get("order-$id-push")));
    }
}
