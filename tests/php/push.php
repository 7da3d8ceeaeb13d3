<?php
// Every shape of push(): prints {case: sockets reached} as JSON.
use MsgPush\PushEvent;

$r = [];
$r['int_uid'] = (new PushEvent)->setUser(123)->setContent('to 123')->push();
$r['string_uid'] = (new PushEvent())->setUser('456')->setContent('to 456')->push();
$r['array_uids'] = (new PushEvent)->setUser([123, '456', 'ghost'])->setContent('to both')->push();
$r['offline'] = (new PushEvent)->setUser('ghost')->setContent('nobody hears this')->push();
$r['empty_array'] = (new PushEvent)->setUser([])->setContent('nobody either')->push();
$r['json'] = (new PushEvent)->setUser(456)->setEvent('order_shipped')
    ->setContent(['order' => 42, 'items' => ['tea', 'cake'], 'paid' => true, 'total' => 9.5])->push();
$r['int_content'] = (new PushEvent)->setUser(456)->setContent(5)->push();
$r['html_untouched'] = (new PushEvent)->setUser(456)->setContent('<b>raw & "as given"</b>')->push();
$r['broadcast'] = (new PushEvent)->setContent('to all')->push();
$r['empty_string_is_everyone'] = (new PushEvent)->setUser('')->setContent('again all')->push();
$r['no_argument_is_everyone'] = (new PushEvent)->setUser()->setContent('third all')->push();
echo json_encode($r), "\n";
