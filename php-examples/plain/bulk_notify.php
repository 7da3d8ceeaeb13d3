<?php
// A bulk job: notify many users without waiting for each push. queue() hands
// the message to a background writer and returns at once; when its queue is
// full it waits for room (msgpush.queue_wait_ms: 5 s by default under the
// CLI), so the loop goes at msgpushd's pace. flush() waits until msgpushd has
// answered them all.
//   php bulk_notify.php FIRST_UID LAST_UID "message"
use MsgPush\PushEvent;

[$script, $first, $last, $text] = $argv + [null, 1, 1000, 'Scheduled maintenance at 02:00'];
$queued = $dropped = 0;
for ($uid = (int) $first; $uid <= (int) $last; $uid++) {
    // false: the queue (msgpush.queue_size) stayed full, the message was dropped.
    (new PushEvent)->setUser($uid)->setContent($text)->queue() ? $queued++ : $dropped++;
}
$all = PushEvent::flush(30000);
echo "queued $queued, dropped $dropped, " . ($all ? "all answered" : "some still pending") . "\n";
exit($all && $dropped === 0 ? 0 : 1);
