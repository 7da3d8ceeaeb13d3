<?php
// Front controller of the example site: the article's application without
// ThinkPHP. nginx sends every request that is not a file here.
//   /                         the page (logs in as ?uid=, 123 by default)
//   /legacy                   the same page as an existing web-msg-sender front end (socket.io-client 2.x)
//   /room?uid=&room=          a chat room with who is here (a group, by the page's token)
//   /room/say?uid=&room=&text= says something to the room (POST)
//   /notices?uid=&room=       notices and a room's chat with msgpush.js (token renewal, recovery, acknowledgements)
//   /token?uid=&room=&ttl=    a new login token for that page
//   /home/index/pushmsg?uid=  the push action of the article
//   /msgpush/events           msgpushd's webhook: users online and offline, pages' messages (POST)
require __DIR__ . '/app/IndexController.php';

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
$controller = new \Home\Controller\IndexController();
switch (rtrim(strtolower($path), '/')) {
    case '':
    case '/index.php':
        $controller->index();
        break;
    case '/legacy':
        $controller->legacy();
        break;
    case '/room':
        $controller->room();
        break;
    case '/room/say':
        $controller->say();
        break;
    case '/notices':
        $controller->notices();
        break;
    case '/token':
        $controller->newToken();
        break;
    case '/home/index/pushmsg':
        $controller->pushMsg();
        break;
    case '/msgpush/events':
        $controller->events();
        break;
    default:
        http_response_code(404);
        echo "not found\n";
}
