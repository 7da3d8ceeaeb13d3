<?php
// Plain PHP: a page that receives its user's messages. The login token is
// minted here, on the server, for the signed-in user only; the browser
// presents it and msgpushd logs the socket in as that user.
use MsgPush\Auth;
use MsgPush\PushException;

session_start();
$uid = $_SESSION['uid'] ?? null;
if ($uid === null) {
    http_response_code(403);
    exit("sign in first\n");
}
try {
    $token = Auth::token($uid, 3600); // valid for an hour
} catch (PushException $e) {
    $token = null; // msgpushd is down: the page works, without live messages
    error_log('msgpush: ' . $e->getMessage());
}
?>
<!doctype html>
<meta charset="utf-8">
<ul id="messages"></ul>
<script src="https://push.example.com/socket.io/socket.io.js"></script>
<script>
  const socket = io('https://push.example.com', { auth: { token: <?= json_encode($token) ?> } });
  socket.on('new_msg', (msg) => {
    const li = document.createElement('li');
    li.textContent = msg; // as text: never markup
    document.getElementById('messages').append(li);
  });
  socket.on('connect_error', (err) => console.warn('msgpush:', err.message));
</script>
