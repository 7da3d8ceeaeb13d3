<?php
// Served by php-fpm: pushes to ?uid= and reports the worker and the result.
use MsgPush\PushEvent;
use MsgPush\PushException;

header('Content-Type: application/json');
try {
    $sockets = (new PushEvent)->setUser($_GET['uid'] ?? '')->setContent($_GET['text'] ?? '')->push();
    echo json_encode(['pid' => getmypid(), 'user' => posix_getpwuid(posix_geteuid())['name'] ?? '?', 'sockets' => $sockets]);
} catch (PushException $e) {
    echo json_encode(['pid' => getmypid(), 'error' => $e->getCode(), 'message' => $e->getMessage()]);
}
