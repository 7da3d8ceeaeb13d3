<?php
// Cost of one call of groups and presence from PHP; prints microseconds per call.
//   php presence_cost.php MODE N UID
// UID is a user with one tab open; users PREFIX0.. are online (see the scenario).
// MODE: is_online (Presence::isOnline(UID)), online_100 (Presence::online() of 100
//       uids, half of them online), count (Presence::count()), users_1000 (a page of
//       1,000 of Presence::users()), group_count (Group::count()), join_leave
//       (Group::join() then Group::leave() of UID's tab: two calls, each counted).
[$script, $mode, $n, $uid] = $argv;
$n = (int) $n;
$hundred = [];
for ($i = 0; $i < 100; $i++) { $hundred[] = $i % 2 ? "offline$i" : "g$i"; }

$calls = $n;
$start = hrtime(true);
switch ($mode) {
    case 'is_online':
        for ($i = 0; $i < $n; $i++) { if (!MsgPush\Presence::isOnline($uid)) { exit(1); } }
        break;
    case 'online_100':
        for ($i = 0; $i < $n; $i++) { if (count(MsgPush\Presence::online($hundred)) !== 50) { exit(1); } }
        break;
    case 'count':
        for ($i = 0; $i < $n; $i++) { if (MsgPush\Presence::count()['users'] < 1) { exit(1); } }
        break;
    case 'users_1000':
        for ($i = 0; $i < $n; $i++) { if (count(MsgPush\Presence::users(null, 1000)['users']) !== 1000) { exit(1); } }
        break;
    case 'group_count':
        for ($i = 0; $i < $n; $i++) { if (MsgPush\Group::count('g')['tabs'] < 1) { exit(1); } }
        break;
    case 'join_leave':
        for ($i = 0; $i < $n; $i++) {
            if (MsgPush\Group::join('bench', $uid) !== 1 || MsgPush\Group::leave('bench', $uid) !== 1) { exit(1); }
        }
        $calls = 2 * $n;
        break;
}
printf("%.3f\n", (hrtime(true) - $start) / 1000 / $calls);
