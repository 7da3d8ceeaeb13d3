<?php
// A ThinkPHP 6/8 controller: render a page that receives the signed-in
// user's messages, notify a user, several users, or everyone, and log a user
// out everywhere.
declare(strict_types=1);

namespace app\controller;

use MsgPush\Auth;
use MsgPush\Inbox;
use MsgPush\PushEvent;
use MsgPush\PushException;
use think\facade\Log;
use think\facade\Session;
use think\facade\View;
use think\Request;
use think\Response;
use think\response\Json;

class Notify
{
    /**
     * GET /notify/page: the page, rendered with a login token for the
     * signed-in user. In its template (view/notify/page.html), with
     * msgpush.js, which msgpushd serves next to the socket.io client:
     *     <script src="https://push.example.com/socket.io/socket.io.js"></script>
     *     <script src="https://push.example.com/msgpush.js"></script>
     *     const client = MsgPush.connect('https://push.example.com', {
     *       token: '{$token}',
     *       getToken: () => fetch('/notify/token').then((r) => r.text()),
     *     });
     *     client.on('new_msg', (content, meta) => { show(content); client.read(meta.id); });
     */
    public function page(): string
    {
        return View::fetch('page', ['token' => Auth::token(Session::get('uid'), 3600)]);
    }

    /** GET /notify/token: a new login token for msgpush.js's getToken(), before the page's expires. */
    public function token(): Response
    {
        return response(Auth::token(Session::get('uid'), 3600))->contentType('text/plain')
            ->header(['Cache-Control' => 'no-store']);
    }

    /** POST /notify/logout-everywhere: closes every tab of the signed-in user. */
    public function logoutEverywhere(): Json
    {
        return json(['tabs_closed' => Auth::disconnect(Session::get('uid'))]);
    }

    /** POST /notify/user?uid=123&text=... */
    public function user(Request $request): Json
    {
        try {
            $sockets = (new PushEvent())
                ->setUser($request->param('uid'))
                ->setContent(htmlspecialchars((string) $request->param('text'))) // pages insert it as HTML
                ->push();
            return json(['online' => $sockets > 0, 'tabs' => $sockets]);
        } catch (PushException $e) {
            // The push failed; the request itself need not.
            Log::warning('push failed: ' . $e->getMessage());
            return json(['online' => null, 'error' => $e->getMessage()], 503);
        }
    }

    /**
     * A notification that must not be lost ("站内消息"): kept for the user
     * until one of their tabs acknowledged it, for a week. In the page:
     *     socket.on('notice', (notice, meta, ack) => { show(notice); ack(); });
     */
    public function notice(int $uid, string $title): Json
    {
        $event = (new PushEvent())
            ->setUser($uid)
            ->setEvent('notice')
            ->setContent(['title' => $title])
            ->keep(7 * 86400);
        $tabs = $event->push();   // 0 if offline: given at the next login
        // The id the page sees in meta.id, to store beside the notice.
        return json(['tabs' => $tabs, 'id' => $event->id(), 'waiting' => Inbox::count($uid)]);
    }

    /** An order event with structured data, to a custom event name. */
    public function orderShipped(int $orderId, array $buyerIds): Json
    {
        $sockets = (new PushEvent())
            ->setUser($buyerIds)
            ->setEvent('order_shipped')
            ->setContent(['order' => $orderId, 'status' => 'shipped']) // arrives as an object
            ->push();
        return json(['tabs' => $sockets]);
    }
}
