<?php
// One long-lived PHP process driven from stdin, one command per line:
//   push UID TEXT   -> prints "pushed N" or "error CODE MESSAGE"
//   queue UID TEXT  -> prints "queued true|false"
//   again           -> push() the last message once more, unchanged: "pushed N" or "error ..."
//   flush MS        -> prints "flushed true|false"
//   info            -> prints the msgpush section of phpinfo on one line
//   fork UID TEXT   -> forks; the child pushes and exits; prints "child N"
//   forkqueue UID TEXT -> forks; the child queues, flushes and exits; prints "child N"
//   token UID       -> prints "token TOKEN" (MsgPush\Auth::token)
//   disconnect UIDS -> comma-separated uids; prints "disconnected N"
//   call JSON       -> {"fn": "Group::join", "args": [...]}: calls MsgPush\FN(...args);
//                      prints "result JSON" (its return value)
//   send JSON       -> {"user"|"group": ..., "except": ..., "content": ..., "history": bool,
//                      "keep": seconds, "receipts": bool, "ack_timeout": ms}: a PushEvent with
//                      those setters, pushed; prints "pushed N" (with "queue": true, queued and
//                      flushed instead; prints "queued true|false")
//   last            -> prints "last JSON": the last PushEvent's id(), positions(), kept(),
//                      reached() and ackedBy()
use MsgPush\Auth;
use MsgPush\PushEvent;
use MsgPush\PushException;

while (($line = fgets(STDIN)) !== false) {
    $parts = explode(' ', rtrim($line, "\n"), 3);
    $rest = substr(rtrim($line, "\n"), strlen($parts[0]) + 1);
    try {
        switch ($parts[0]) {
            case 'push':
                $last = (new PushEvent)->setUser($parts[1])->setContent($parts[2]);
                $sockets = $last->push();
                echo "pushed $sockets\n";
                break;
            case 'queue':
                $queued = (new PushEvent)->setUser($parts[1])->setContent($parts[2])->queue();
                echo 'queued ', var_export($queued, true), "\n";
                break;
            case 'again':
                $sockets = $last->push();
                echo "pushed $sockets\n";
                break;
            case 'flush':
                echo 'flushed ', var_export(PushEvent::flush((int) $parts[1]), true), "\n";
                break;
            case 'info':
                ob_start();
                (new ReflectionExtension('msgpush'))->info();
                echo 'info ', str_replace("\n", ' | ', trim(ob_get_clean())), "\n";
                break;
            case 'token':
                echo 'token ', Auth::token($parts[1]), "\n";
                break;
            case 'disconnect':
                echo 'disconnected ', Auth::disconnect(explode(',', $parts[1])), "\n";
                break;
            case 'call':
                $call = json_decode($rest, true, 512, JSON_THROW_ON_ERROR);
                $result = json_encode(('MsgPush\\' . $call['fn'])(...$call['args']));
                echo "result $result\n";
                break;
            case 'send':
                $send = json_decode($rest, true, 512, JSON_THROW_ON_ERROR);
                $event = new PushEvent;
                if (array_key_exists('user', $send)) $event->setUser($send['user']);
                if (array_key_exists('group', $send)) $event->setGroup($send['group']);
                if (array_key_exists('except', $send)) $event->except($send['except']);
                if (array_key_exists('history', $send)) $event->setHistory($send['history']);
                if (array_key_exists('keep', $send)) $event->keep($send['keep']);
                if (array_key_exists('receipts', $send)) $event->setReceipts($send['receipts']);
                if (array_key_exists('ack_timeout', $send)) $event->setAckTimeout($send['ack_timeout']);
                $event->setContent($send['content'] ?? '');
                $last = $event;
                if ($send['queue'] ?? false) {
                    $queued = $event->queue() && PushEvent::flush(5000);
                    echo 'queued ', var_export($queued, true), "\n";
                    break;
                }
                $sockets = $event->push();
                echo "pushed $sockets\n";
                break;
            case 'last':
                echo 'last ', json_encode([
                    'id' => $last->id(),
                    'positions' => $last->positions(),
                    'kept' => $last->kept(),
                    'reached' => $last->reached(),
                    'acked_by' => $last->ackedBy(),
                ]), "\n";
                break;
            case 'fork':
                $pid = pcntl_fork();
                if ($pid === 0) {
                    $n = (new PushEvent)->setUser($parts[1])->setContent($parts[2])->push();
                    exit($n === 1 ? 0 : 1);
                }
                pcntl_waitpid($pid, $status);
                echo 'child ', pcntl_wexitstatus($status), "\n";
                break;
            case 'forkqueue':
                $pid = pcntl_fork();
                if ($pid === 0) {
                    $queued = (new PushEvent)->setUser($parts[1])->setContent($parts[2])->queue();
                    exit($queued && PushEvent::flush(5000) ? 0 : 1);
                }
                pcntl_waitpid($pid, $status);
                echo 'child ', pcntl_wexitstatus($status), "\n";
                break;
        }
    } catch (PushException $e) {
        echo 'error ', $e->getCode(), ' ', $e->getMessage(), "\n";
    }
}
