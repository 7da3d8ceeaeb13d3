<?php
// Served by php-fpm: queues ?n= messages (msgpushd may be down) and reports
// how many queue() took, with the queue's line of phpinfo().
use MsgPush\PushEvent;

header('Content-Type: application/json');
$queued = 0;
for ($i = 1; $i <= (int) ($_GET['n'] ?? 1); $i++) {
    $queued += (new PushEvent)->setUser('fpm')->setContent("queued $i")->queue() ? 1 : 0;
}
ob_start();
phpinfo(INFO_MODULES);
$info = strip_tags(ob_get_clean());
preg_match('/\d+ queued, [^\n<]*waited for room/', $info, $line);
echo json_encode(['queued' => $queued, 'queue' => $line[0] ?? $info]);
