<?php
// Each failure case of PushEvent and Auth: prints {case: {class, code, message, line}}.
// argv[1]: a socket path where nothing listens; argv[2]: a server that never
// answers; argv[3]: a server that answers every request with an error.
use MsgPush\Auth;
use MsgPush\PushEvent;
use MsgPush\PushException;

$cases = [
    'daemon_down' => function () use ($argv) {
        ini_set('msgpush.socket', $argv[1]);
        (new PushEvent)->setUser(1)->setContent('x')->push();
    },
    'timeout' => function () use ($argv) {
        ini_set('msgpush.socket', $argv[2]);
        ini_set('msgpush.timeout_ms', '300');
        (new PushEvent)->setUser(1)->setContent('x')->push();
    },
    'refused' => function () use ($argv) {
        ini_set('msgpush.socket', $argv[3]);
        (new PushEvent)->setUser(1)->setContent('x')->push();
    },
    'too_large' => function () {
        ini_set('msgpush.max_message_bytes', '1000');
        (new PushEvent)->setUser(1)->setContent(str_repeat('x', 2000))->push();
    },
    'uid_too_long' => function () { (new PushEvent)->setUser(str_repeat('u', 257)); },
    'uid_in_array_too_long' => function () { (new PushEvent)->setUser(['ok', str_repeat('u', 300)]); },
    'uid_float' => function () { (new PushEvent)->setUser(1.5); },
    'invalid_utf8_content' => function () { (new PushEvent)->setContent("caf\xe9"); },
    'invalid_utf8_in_array' => function () { (new PushEvent)->setContent(['name' => "caf\xe9"]); },
    'invalid_utf8_uid' => function () { (new PushEvent)->setUser("\xff"); },
    'object_content' => function () { (new PushEvent)->setContent(new stdClass); },
    'empty_event' => function () { (new PushEvent)->setEvent(''); },
    'reserved_event' => function () { (new PushEvent)->setEvent('disconnect'); },
    'token_daemon_down' => function () use ($argv) {
        ini_set('msgpush.socket', $argv[1]);
        Auth::token(1);
    },
    'token_timeout' => function () use ($argv) {
        ini_set('msgpush.socket', $argv[2]);
        ini_set('msgpush.timeout_ms', '300');
        Auth::token(1);
    },
    'token_refused' => function () use ($argv) {
        ini_set('msgpush.socket', $argv[3]);
        Auth::token(1);
    },
    'token_empty_uid' => function () { Auth::token(''); },
    'token_uid_too_long' => function () { Auth::token(str_repeat('u', 257)); },
    'token_uid_array' => function () { Auth::token([1, 2]); },
    'token_ttl_zero' => function () { Auth::token(1, 0); },
    'token_ttl_negative' => function () { Auth::token(1, -5); },
    'token_ttl_too_long' => function () { Auth::token(1, 2592001); },
    'disconnect_empty_uid' => function () { Auth::disconnect(''); },
    'disconnect_refused' => function () use ($argv) {
        ini_set('msgpush.socket', $argv[3]);
        Auth::disconnect([1, 2]);
    },
    'bad_setting' => function () {
        ini_set('msgpush.timeout_ms', 'soon');
        (new PushEvent)->push();
    },
];

$out = [];
foreach ($cases as $name => $case) {
    ini_restore('msgpush.socket');
    ini_restore('msgpush.timeout_ms');
    ini_restore('msgpush.max_message_bytes');
    try {
        $case();
        $out[$name] = 'no exception';
    } catch (PushException $e) {
        $out[$name] = [
            'class' => get_class($e),
            'runtime' => $e instanceof RuntimeException,
            'code' => $e->getCode(),
            'message' => $e->getMessage(),
            'line' => $e->getLine(),
            'file' => basename($e->getFile()),
        ];
    }
}
$out['codes'] = [PushException::UNREACHABLE, PushException::TIMEOUT, PushException::REFUSED,
    PushException::INVALID_INPUT, PushException::CONNECTION_LOST, PushException::INTERNAL];
echo json_encode($out, JSON_INVALID_UTF8_SUBSTITUTE), "\n";
