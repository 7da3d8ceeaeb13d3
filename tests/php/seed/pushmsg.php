<?php
// The article's push action (IndexController::pushMsg), outside ThinkPHP,
// with the article's PushEvent class unchanged: only its API address points
// at the test daemon's (?api=PORT).
//   GET pushmsg.php?uid=UID&api=PORT
namespace {
    // ThinkPHP's dump(), as the class calls it.
    function dump($value) { echo $value; }
}

namespace Test {
    require __DIR__ . '/PushEvent.class.php';

    class PushEvent extends \Lib\Event\PushEvent
    {
        public function __construct($port) { $this->push_api_url = "http://127.0.0.1:$port/"; }
    }

    $string = 'Man Always Remember Love Because Of Romance Only';
    $uid = isset($_GET['uid'])?$_GET['uid']:'';
    $push = new PushEvent((int) $_GET['api']);
    $push->setUser($uid)->setContent($string)->push();
}
