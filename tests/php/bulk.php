<?php
// Fire-and-forget: queues argv[2] messages to uid argv[1], numbered from 1,
// then waits for them; prints {"queued": n, "flushed": bool}.
use MsgPush\PushEvent;

$queued = 0;
for ($i = 1; $i <= (int) $argv[2]; $i++) {
    $queued += (new PushEvent)->setUser($argv[1])->setContent("bulk $i")->queue() ? 1 : 0;
}
echo json_encode(['queued' => $queued, 'flushed' => PushEvent::flush(10000)]), "\n";
