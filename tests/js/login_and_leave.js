// Sockets that log in and close at once, many times over, so that in the
// daemon each one's login races its own disconnect.
//   node login_and_leave.js ws://127.0.0.1:PORT COUNT
// Prints one JSON line when every socket is done.
'use strict';
const WebSocket = require('ws');

const [url, count] = [process.argv[2], Number(process.argv[3])];
const BATCH = 50;

function loginAndLeave(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url + '/socket.io/?EIO=4&transport=websocket');
    ws.on('message', (data) => {
      const packet = String(data);
      if (packet.startsWith('0')) ws.send('40');
      if (packet.startsWith('40')) {
        ws.send('42["login","race-' + i + '"]');
        ws.close();
      }
    });
    ws.on('close', resolve);
    ws.on('error', resolve);
  });
}

(async () => {
  for (let start = 0; start < count; start += BATCH) {
    const batch = [];
    for (let i = start; i < Math.min(start + BATCH, count); i++) batch.push(loginAndLeave(i));
    await Promise.all(batch);
  }
  process.stdout.write(JSON.stringify({ done: count }) + '\n');
})();
