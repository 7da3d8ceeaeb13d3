<?php
// The article's controller, on the msgpush extension. The page is rendered
// with a login token for its user, so that it can receive only that user's
// messages. In a real application the uid comes from the session, never from
// the query string.
namespace Home\Controller;

use MsgPush\Auth;
use MsgPush\PushEvent;
use MsgPush\PushException;

class IndexController
{
    /** The page: connects to msgpushd, logs in, shows messages and the online count. */
    public function index()
    {
        $uid = $this->uid();
        $token = $this->token($uid);
        $server = (string) ($_GET['server'] ?? ''); // '' = this site's origin (nginx proxies /socket.io/)
        require __DIR__ . '/page.php';
    }

    /** The same page as an existing web-msg-sender front end (socket.io-client 2.x). */
    public function legacy()
    {
        $uid = $this->uid();
        $token = $this->token($uid);
        $server = (string) ($_GET['server'] ?? '');
        require __DIR__ . '/legacy.php';
    }

    /** GET /home/index/pushmsg?uid=123[&text=...]: pushes to uid ('' = everyone). */
    public function pushMsg()
    {
        $string = $_GET['text'] ?? 'Man Always Remember Love Because Of Romance Only';
        $uid = isset($_GET['uid']) ? $_GET['uid'] : '';
        header('Content-Type: application/json');
        try {
            $push = new PushEvent();
            $sockets = $push->setUser($uid)->setContent($string)->push();
            echo json_encode(['uid' => $uid, 'sockets' => $sockets]);
        } catch (PushException $e) {
            http_response_code(503);
            echo json_encode(['uid' => $uid, 'error' => $e->getMessage()]);
        }
    }

    private function uid(): string
    {
        return (string) ($_GET['uid'] ?? '123');
    }

    /** A login token for the page; null (the page works, without live messages) if msgpushd is down. */
    private function token(string $uid): ?string
    {
        try {
            return Auth::token($uid);
        } catch (PushException $e) {
            error_log('msgpush: no login token: ' . $e->getMessage());
            return null;
        }
    }
}
