<?php
// Cost of one push() that waits for acknowledgements, beside a plain push();
// prints microseconds per push.
//   php receipts_cost.php MODE N UID
// UID is a user with one tab open that acknowledges at once; group g has
// 1,000 tabs and everyone 10,000, all acknowledging (see the scenario).
// MODE: plain (push() to UID), ack (push() to UID with setAckTimeout(5000)),
//       ack_group (to group g, waiting for its 1,000 tabs), ack_all (to
//       everyone, waiting for 10,000).
[$script, $mode, $n, $uid] = $argv;
$n = (int) $n;
[$event, $expected] = match ($mode) {
    'plain' => [(new MsgPush\PushEvent)->setUser($uid), 1],
    'ack' => [(new MsgPush\PushEvent)->setUser($uid)->setAckTimeout(5000), 1],
    'ack_group' => [(new MsgPush\PushEvent)->setGroup('g')->setAckTimeout(10000), 1000],
    'ack_all' => [(new MsgPush\PushEvent)->setAckTimeout(10000), 10000],
};
$start = hrtime(true);
for ($i = 0; $i < $n; $i++) {
    // A new message each time (a setter draws a new id), as an application sends them.
    $event->setContent("r$i");
    if ($event->push() < $expected) { fwrite(STDERR, "push $i: fewer acknowledged than $expected\n"); exit(1); }
}
printf("%.3f\n", (hrtime(true) - $start) / 1000 / $n);
