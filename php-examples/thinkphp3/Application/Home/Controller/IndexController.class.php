<?php
// The article's ThinkPHP 3.2 controller, converted to the msgpush extension:
// the `use` lines changed, and the page is rendered with a login token for
// the signed-in user. (Code that keeps `use Lib\Event\PushEvent;` works too,
// through the one-line shim in Application/Lib/Event.)
//
// In the page's template, log in with the token instead of the uid:
//     socket.emit('login', '{$token}');
namespace Home\Controller;
use Think\Controller;
use MsgPush\Auth;
use MsgPush\PushEvent;
class IndexController extends Controller {
    public function index(){
        // A token only for this user: no page can log in as anyone else.
        $this->assign('token', Auth::token(session('uid')));
        $this->display();
    }
    public function pushMsg(){
        $string = 'Man Always Remember Love Because Of Romance Only';
        $uid = isset($_GET['uid'])?$_GET['uid']:'';
        $push = new PushEvent();
        $sockets = $push->setUser($uid)->setContent($string)->push();
        // push() returns the browser tabs reached: 0 means the user is offline.
        $this->ajaxReturn(['sockets' => $sockets]);
    }
}
