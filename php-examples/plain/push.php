<?php
// Plain PHP: push a message to a user, or to everyone.
//   php push.php UID "message"      (UID '' for everyone)
use MsgPush\PushEvent;
use MsgPush\PushException;

[$script, $uid, $text] = $argv + [null, '', 'Hello from PHP'];
try {
    $tabs = (new PushEvent)->setUser($uid)->setContent($text)->push();
    echo $uid === '' ? "sent to $tabs tab(s)\n" : ($tabs > 0 ? "user $uid got it in $tabs tab(s)\n" : "user $uid is offline\n");
} catch (PushException $e) {
    fwrite(STDERR, "push failed: {$e->getMessage()}\n");
    exit(1);
}
