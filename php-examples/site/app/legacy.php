<?php /** @var string $uid @var ?string $token @var string $server */ ?>
<!doctype html>
<html>
<head><meta charset="utf-8"><title>web-msg-sender page</title></head>
<body>
<!-- The article's page as existing sites have it (jQuery removed): socket.io-client 2.x,
     a direct connection to the push server, and messages appended as HTML, which
     web-msg-sender's HTTP API escapes. The one change for msgpush: it logs in with
     the token the controller rendered instead of the bare uid. -->
<strong id="count"></strong><h1 id="target"></h1>
<script src="/vendor/socket.io-2.js"></script>
<script>
  var socket = io(<?= json_encode($server !== '' ? $server : null) ?> || undefined);
  var token = <?= json_encode($token) ?>;
  socket.on('connect', function () {
    socket.emit('login', token);
  });
  socket.on('new_msg', function (msg) {
    document.getElementById('target').insertAdjacentHTML('beforeend', msg + '<br>');
  });
  socket.on('update_online_count', function (online_stat) {
    document.getElementById('count').innerHTML = online_stat;
    document.body.dataset.online = '1';
  });
</script>
</body>
</html>
