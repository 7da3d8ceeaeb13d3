<?php
// Runs the article's curl PushEvent against msgpushd's HTTP API.
//   php seed_curl.php http://127.0.0.1:PORT/ UID
namespace {
    // ThinkPHP's dump(), as the class calls it.
    function dump($value) { echo $value, "\n"; }
}

namespace Test {
    require __DIR__ . '/seed/PushEvent.class.php';

    /** Points the unchanged class at the test daemon's port. */
    class PushEvent extends \Lib\Event\PushEvent
    {
        public function __construct($url) { $this->push_api_url = $url; }
    }

    $string = 'Man Always Remember Love Because Of Romance Only';
    (new PushEvent($argv[1]))->setUser($argv[2])->setContent($string)->push();
}
