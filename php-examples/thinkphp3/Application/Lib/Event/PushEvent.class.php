<?php
// Drop-in replacement for the curl-based Lib\Event\PushEvent: controllers that
// `use Lib\Event\PushEvent;` keep working unchanged, now over the extension.
namespace Lib\Event;
class PushEvent extends \MsgPush\PushEvent {}
