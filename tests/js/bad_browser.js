// Browser-side abuse over raw websockets: a text frame of invalid UTF-8, a
// message over the daemon's payload limit, malformed Socket.IO packets, and a
// flood of messages.
// Prints one JSON line: how each connection ended.
//   node bad_browser.js ws://127.0.0.1:PORT
'use strict';
const WebSocket = require('ws');

function attack(name, send) {
  return new Promise((resolve) => {
    const ws = new WebSocket(process.argv[2] + '/socket.io/?EIO=4&transport=websocket');
    const timer = setTimeout(() => { ws.terminate(); resolve([name, 'still open']); }, 3000);
    ws.on('message', (data) => {
      if (String(data).startsWith('0')) ws.send('40');
      if (String(data).startsWith('40')) send(ws);
      // The server's namespace disconnect: the socket was thrown out.
      if (String(data) === '41') { clearTimeout(timer); ws.terminate(); resolve([name, 'disconnected']); }
    });
    ws.on('close', (code) => { clearTimeout(timer); resolve([name, 'closed ' + code]); });
    ws.on('error', () => {});
  });
}

Promise.all([
  attack('invalid_utf8', (ws) => ws.send(Buffer.from([0x34, 0x32, 0xff, 0xfe]), { binary: false })),
  attack('oversized', (ws) => ws.send('42["login","' + 'x'.repeat(200000) + '"]')),
  attack('malformed', (ws) => { ws.send('42[not json'); ws.send('9'); ws.send('42["login"'); }),
  attack('flood', (ws) => { for (let i = 0; i < 1000; i++) ws.send('42["spam",' + i + ']'); }),
]).then((results) => process.stdout.write(JSON.stringify(Object.fromEntries(results)) + '\n'));
