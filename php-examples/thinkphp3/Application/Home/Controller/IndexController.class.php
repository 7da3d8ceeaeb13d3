<?php
// The article's ThinkPHP 3.2 controller, converted to the msgpush extension:
// only the `use` line changed. (Code that keeps `use Lib\Event\PushEvent;`
// works too, through the one-line shim in Application/Lib/Event.)
namespace Home\Controller;
use Think\Controller;
use MsgPush\PushEvent;
class IndexController extends Controller {
    public function index(){
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
