<?php
// A ThinkPHP 6/8 team chat: membership from PHP, who is here, messages to the team.
// GatewayWorker's equivalents, for a team moving from think-worker:
//   Gateway::joinGroup / leaveGroup  -> Group::join($group, $uid) / Group::leave(...)
//   Gateway::sendToGroup($g, $m, $excludeClientIds) -> (new PushEvent)->setGroup($g)->except($uids)->push()
//   Gateway::getUidListByGroup / getUidCountByGroup -> Group::members($g) / Group::count($g)['users']
//   Gateway::isUidOnline($uid)       -> Presence::isOnline($uid)
declare(strict_types=1);

namespace app\controller;

use MsgPush\Group;
use MsgPush\Presence;
use MsgPush\PushEvent;
use MsgPush\PushException;
use think\facade\Log;
use think\facade\Session;
use think\Request;
use think\response\Json;

class Team
{
    /**
     * POST /team/:team/members?uid=: adds a user to a team. The user's tabs
     * open now, and every tab they open later, get the team's messages. The
     * page learns who is in the group with
     *     socket.emit('msgpush:members', 'team-7', ({ uids }) => show(uids));
     * and who arrives or leaves from 'msgpush:joined' and 'msgpush:left'.
     */
    public function addMember(int $team, Request $request): Json
    {
        $uid = (string) $request->param('uid');
        $tabs = Group::join("team-$team", $uid);
        (new PushEvent())
            ->setUser($uid)
            ->setContent("You were added to team $team")
            ->push();
        return json(['tabs' => $tabs]);
    }

    /** DELETE /team/:team/members?uid= */
    public function removeMember(int $team, Request $request): Json
    {
        return json(['tabs' => Group::leave("team-$team", (string) $request->param('uid'))]);
    }

    /** POST /team/:team/say?text=: to the team, but not to the sender's own tabs. */
    public function say(int $team, Request $request): Json
    {
        $uid = Session::get('uid');
        try {
            $queued = (new PushEvent())
                ->setGroup("team-$team")
                ->except($uid)
                ->setEvent('team_msg')
                ->setContent(['from' => $uid, 'text' => (string) $request->param('text')])
                ->queue(); // the reply does not wait for msgpushd
            return json(['queued' => $queued, 'here' => Group::count("team-$team")['users']]);
        } catch (PushException $e) {
            Log::warning('team message failed: ' . $e->getMessage());
            return json(['error' => $e->getMessage()], 503);
        }
    }

    /** GET /contacts/online?uids[]=1&uids[]=2: the green dots of a contact list, in one call. */
    public function online(Request $request): Json
    {
        return json(['online' => Presence::online((array) $request->param('uids'))]);
    }
}
