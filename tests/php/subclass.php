<?php
// The one-line shim that keeps `use Lib\Event\PushEvent;` working.
namespace Lib\Event {
    class PushEvent extends \MsgPush\PushEvent {}
}

namespace App {
    use Lib\Event\PushEvent;

    $event = new PushEvent();
    $chained = $event->setUser($argv[1])->setContent('from the subclass');
    echo json_encode(['class' => get_class($chained), 'same' => $chained === $event, 'sockets' => $chained->push()]), "\n";
}
