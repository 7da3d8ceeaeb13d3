<?php /** @var string $uid @var ?string $token @var string $server @var string $room @var int $ttl */ ?>
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>msgpush notices</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; color: #222; }
  ul { list-style: none; padding: 0; } li { border-bottom: 1px solid #eee; padding: .3rem 0; }
  .muted { color: #777; }
</style>
</head>
<body>
<h1>Notices for user <?= htmlspecialchars($uid) ?></h1>
<p id="status" class="muted" data-state="connecting">connecting…</p>
<p id="gap" class="muted"></p>
<ul id="notices"></ul>
<h2>Room <?= htmlspecialchars($room) ?></h2>
<ul id="members"></ul>
<ul id="chat"></ul>
<form id="say"><input name="text" autocomplete="off"> <button>Say</button> <span id="said" class="muted"></span></form>
<!-- The socket.io client and msgpush.js, both served by msgpushd. -->
<script src="<?= htmlspecialchars($server) ?>/socket.io/socket.io.js"></script>
<script src="<?= htmlspecialchars($server) ?>/msgpush.js"></script>
<script>
  const uid = <?= json_encode($uid) ?>, room = <?= json_encode($room) ?>;
  const show = (list, text) => {
    const li = document.createElement('li');
    li.textContent = text; // as text: never markup
    document.getElementById(list).append(li);
  };
  const client = MsgPush.connect(<?= json_encode($server ?: null) ?> || undefined, {
    token: <?= json_encode($token) ?>,
    // A new token from the application when this one is about to expire.
    getToken: () => fetch(`/token?uid=${encodeURIComponent(uid)}&room=${room}&ttl=<?= $ttl ?>`).then((r) => r.text()),
  });
  window.client = client;
  const status = document.getElementById('status');
  client.on('state', (state) => { status.dataset.state = state; status.textContent = state; });
  client.on('gap', () => { document.getElementById('gap').textContent = 'some notices were missed: reload'; });
  // Shown once per notice; acknowledged (out of the inbox) once shown.
  client.on('new_msg', (content, meta) => {
    show('notices', typeof content === 'string' ? content : JSON.stringify(content));
    if (meta.id) client.read(meta.id); // shown on screen: read
  });
  const members = document.getElementById('members');
  const render = (uids) => {
    members.replaceChildren();
    uids.sort().forEach((u) => show('members', u === uid ? `${u} (you)` : u));
  };
  const here = client.group(`room-${room}`, {
    here: render,
    joining: () => render(here.members()),
    leaving: () => render(here.members()),
  });
  client.on('room_msg', (m) => show('chat', `${m.from}: ${m.text}`));
  document.getElementById('say').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = e.target.text.value;
    // To the application's webhook route, which pushes it to the room.
    client.send('chat', { room, text }).then(
      (answer) => { show('chat', `${uid}: ${text}`); document.getElementById('said').textContent = JSON.stringify(answer); },
      (error) => { document.getElementById('said').textContent = error.message; },
    );
  });
</script>
</body>
</html>
