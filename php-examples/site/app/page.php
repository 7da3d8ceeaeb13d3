<?php /** @var string $uid @var ?string $token @var string $server */ ?>
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>msgpush example</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; color: #222; }
  #messages { list-style: none; padding: 0; } #messages li { border-bottom: 1px solid #eee; padding: .3rem 0; }
  .muted { color: #777; }
</style>
</head>
<body>
<h1>Hello, user <?= htmlspecialchars($uid) ?></h1>
<p id="status" class="muted" data-state="connecting">connecting…</p>
<p id="count"></p>
<p id="login-error" class="muted"></p>
<ul id="messages"></ul>
<!-- msgpushd serves the socket.io client; through the site's nginx it is same-origin. -->
<script src="<?= htmlspecialchars($server) ?>/socket.io/socket.io.js"></script>
<script>
  const uid = <?= json_encode($uid) ?>;
  const server = <?= json_encode($server) ?>;
  // The login token the controller minted for this page's user (MsgPush\Auth::token).
  const socket = io(server || undefined, { auth: { token: <?= json_encode($token) ?> } });
  const status = document.getElementById('status');
  const setStatus = (state, text) => { status.dataset.state = state; status.textContent = text; };

  socket.on('connect', () => setStatus('connected', 'connected, logging in as ' + uid));
  socket.on('connect_error', (err) => setStatus('refused', 'not connected: ' + err.message));
  socket.on('login_error', (why) => { document.getElementById('login-error').textContent = 'login refused: ' + why; });
  socket.on('disconnect', () => setStatus('disconnected', 'disconnected, reconnecting…'));
  socket.on('new_msg', (msg) => {
    const li = document.createElement('li');
    li.textContent = typeof msg === 'string' ? msg : JSON.stringify(msg); // as text: never markup
    document.getElementById('messages').append(li);
  });
  // msgpushd answers a login with the online count: proof that the login landed.
  socket.on('update_online_count', (html) => {
    document.getElementById('count').innerHTML = html; // msgpushd's own template
    if (status.dataset.state === 'connected') setStatus('online', 'logged in as ' + uid);
  });
</script>
</body>
</html>
