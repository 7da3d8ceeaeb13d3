<?php
// Cost of one push from PHP, one way at a time; prints microseconds per call.
//   php push_cost.php MODE N HTTP_URL UID
// MODE: push (PushEvent->push()), queue (PushEvent->queue(), then flush()),
//       queue_call (PushEvent->queue() alone: flushed after the clock stops),
//       curl_new (the article's code: a curl handle per push),
//       curl_reuse (one curl handle, kept alive, for all pushes),
//       token (Auth::token(), a login token for a page).
[$script, $mode, $n, $url, $uid] = $argv;
$n = (int) $n;

function post($ch, $url, $uid, $i) {
    curl_setopt($ch, CURLOPT_URL, $url);
    curl_setopt($ch, CURLOPT_POST, 1);
    curl_setopt($ch, CURLOPT_HEADER, 0);
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, 1);
    curl_setopt($ch, CURLOPT_POSTFIELDS, ['type' => 'publish', 'content' => "php $i", 'to' => $uid]);
    curl_setopt($ch, CURLOPT_HTTPHEADER, array('Expect:'));
    $res = curl_exec($ch);
    if ($res !== 'ok') { fwrite(STDERR, "push $i: " . var_export($res, true) . "\n"); exit(1); }
}

$start = hrtime(true);
switch ($mode) {
    case 'push':
        for ($i = 0; $i < $n; $i++) {
            if ((new MsgPush\PushEvent)->setUser($uid)->setContent("php $i")->push() !== 1) { exit(1); }
        }
        break;
    case 'queue':
        for ($i = 0; $i < $n; $i++) {
            if (!(new MsgPush\PushEvent)->setUser($uid)->setContent("php $i")->queue()) { exit(1); }
        }
        if (!MsgPush\PushEvent::flush(60000)) { exit(1); }
        break;
    case 'queue_call':
        for ($i = 0; $i < $n; $i++) {
            if (!(new MsgPush\PushEvent)->setUser($uid)->setContent("php $i")->queue()) { exit(1); }
        }
        $took = hrtime(true) - $start;
        if (!MsgPush\PushEvent::flush(60000)) { exit(1); }
        printf("%.3f\n", $took / 1000 / $n);
        exit(0);
    case 'token':
        for ($i = 0; $i < $n; $i++) {
            if (strlen(MsgPush\Auth::token($uid)) < 100) { exit(1); }
        }
        break;
    case 'curl_new':
        for ($i = 0; $i < $n; $i++) {
            $ch = curl_init();
            post($ch, $url, $uid, $i);
            curl_close($ch);
        }
        break;
    case 'curl_reuse':
        $ch = curl_init();
        for ($i = 0; $i < $n; $i++) { post($ch, $url, $uid, $i); }
        curl_close($ch);
        break;
}
printf("%.3f\n", (hrtime(true) - $start) / 1000 / $n);
