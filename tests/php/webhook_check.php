<?php
// Webhook::events() against requests msgpushd did not sign as they are:
// argv[1] is the webhook secret's file (to sign as msgpushd would), argv[2]
// a body. Prints one JSON object: for each case, the number of events or
// the exception's code.
use MsgPush\PushException;
use MsgPush\Webhook;

$secret = rtrim(file_get_contents($argv[1]), "\n");
$body = $argv[2];
$sign = fn(string $ts, string $body, string $secret) => 'v1=' . hash_hmac('sha256', "$ts.$body", $secret);
$now = (string) time();
$cases = [
    'signed' => [$body, $now, $sign($now, $body, $secret)],
    'forged' => [$body, $now, $sign($now, $body, 'not the secret, but long enough to be one')],
    'altered' => [str_replace('"uid":"7"', '"uid":"8"', $body), $now, $sign($now, $body, $secret)],
    'replayed' => [$body, (string) (time() - 600), $sign((string) (time() - 600), $body, $secret)],
    'unsigned' => [$body, '', ''],
];
$out = [];
foreach ($cases as $name => [$b, $ts, $sig]) {
    try {
        $out[$name] = count(Webhook::events($b, $ts, $sig));
    } catch (PushException $e) {
        $out[$name] = $e->getCode() === PushException::REFUSED ? 'REFUSED' : "code {$e->getCode()}: {$e->getMessage()}";
    }
}
echo json_encode($out), "\n";
