<?php /** @var string $uid @var string $room @var string $group @var ?string $token @var string $server */ ?>
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>msgpush room <?= htmlspecialchars($room) ?></title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; color: #222; }
  ul { list-style: none; padding: 0; } #messages li { border-bottom: 1px solid #eee; padding: .3rem 0; }
  #members li::before { content: "● "; color: #2a2; } .muted { color: #777; }
</style>
</head>
<body>
<h1>Room <?= htmlspecialchars($room) ?>, as user <?= htmlspecialchars($uid) ?></h1>
<p id="status" class="muted" data-state="connecting">connecting…</p>
<h2>Here now</h2>
<ul id="members"></ul>
<h2>Messages</h2>
<ul id="messages"></ul>
<form id="say"><input name="text" autocomplete="off" required> <button>Send</button></form>
<script src="<?= htmlspecialchars($server) ?>/socket.io/socket.io.js"></script>
<script>
  const uid = <?= json_encode($uid) ?>;
  const room = <?= json_encode($room) ?>;
  // The group this page's token puts it in (MsgPush\Auth::token($uid, $ttl, [$group])):
  // it receives the room's messages and presence, and no other room's.
  const group = <?= json_encode($group) ?>;
  const server = <?= json_encode($server) ?>;
  const socket = io(server || undefined, { auth: { token: <?= json_encode($token) ?> } });
  const status = document.getElementById('status');
  const setStatus = (state, text) => { status.dataset.state = state; status.textContent = text; };
  const members = new Set();
  const showMembers = () => {
    const items = [...members].sort().map((member) => {
      const li = document.createElement('li');
      li.textContent = member === uid ? member + ' (you)' : member;
      return li;
    });
    document.getElementById('members').replaceChildren(...items);
  };
  const show = (from, text) => {
    const li = document.createElement('li');
    li.textContent = from + ': ' + text; // as text: never markup
    document.getElementById('messages').append(li);
  };

  let askedWhoIsHere = false;
  socket.on('connect', () => { askedWhoIsHere = false; setStatus('connected', 'connected, logging in'); });
  socket.on('disconnect', () => setStatus('disconnected', 'disconnected, reconnecting…'));
  socket.on('connect_error', (err) => setStatus('refused', 'not connected: ' + err.message));
  // The first online count after a connect says the login landed: then ask who is here.
  socket.on('update_online_count', () => {
    if (askedWhoIsHere) return;
    askedWhoIsHere = true;
    socket.emit('msgpush:members', group, (answer) => {
      if (!answer.uids) return setStatus('refused', answer.error);
      members.clear();
      answer.uids.forEach((member) => members.add(member));
      showMembers();
      setStatus('online', 'in room ' + room);
    });
  });
  // Arrivals and departures: once per user (a reload is neither).
  socket.on('msgpush:joined', (who) => { if (who.group === group) { members.add(who.uid); showMembers(); } });
  socket.on('msgpush:left', (who) => { if (who.group === group) { members.delete(who.uid); showMembers(); } });
  socket.on('room_msg', (msg) => show(msg.from, msg.text));

  document.getElementById('say').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = event.target.elements.text;
    const query = new URLSearchParams({ uid, room, text: input.value });
    const res = await fetch('/room/say?' + query, { method: 'POST' });
    if (res.ok) show(uid, input.value); // the others got it from msgpushd; this page shows its own
    input.value = '';
  });
</script>
</body>
</html>
